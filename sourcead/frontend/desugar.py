"""Python forms rewritten into the subset before it is checked.

Runs on a parsed function's tree, in place, before the subset check:

* module-level tuples and lists of numbers (``TARGET = (30.0, 0.0)``), and NumPy arrays of
  up to ``MAX_CONSTANT_ARRAY`` numbers, are constants:
  ``TARGET[0]`` and ``len(TARGET)`` become numbers, ``tx, ty = TARGET`` a tuple of numbers,
  and any other use a local array filled with the values at the top of the function;
* ``for row in x``, ``for i, v in enumerate(x)``, ``for a, b in zip(x, y)`` become loops
  over ``range(...)`` that index the arrays;
* ``np.array([f(k) for k in ...])`` becomes a loop that fills an array, ``sum(...)`` of a
  comprehension (or a generator) a loop that adds, ``min``/``max`` of one ``np.min``/``np.max``
  of the array.

The loops written are the ones a person would write, so the generators differentiate them as
any other loop and the generated code stays readable.
"""

from __future__ import annotations

import copy
import numbers
import types

import gast
import numpy as np
from sourcead_runtime import unpacked_rows

from ..trees.codegen import dotted_name, src
from ..trees.names import NameGenerator
from ..trees.queries import array_writes
from .source import ParsedFunction

_SEQUENCE_FORMS = "for loops over range(...), an array, enumerate(...) or zip(...)"


def desugar(parsed: ParsedFunction) -> ParsedFunction:
    """``parsed`` with the forms above rewritten in its tree (in place)."""
    if getattr(parsed, "generated_code", False):  # an adjoint differentiated again
        return parsed
    rewriter = _Desugarer(parsed)
    rewriter.run()
    if rewriter.changed:
        # the generated module's copy of the function is written from the rewritten tree:
        # it reads no module-level tuple and has no comprehension
        parsed.source_text = src(parsed.node)
    return parsed


def _name(identifier: str, store: bool = False) -> gast.Name:
    ctx = gast.Store() if store else gast.Load()
    return gast.Name(id=identifier, ctx=ctx, annotation=None, type_comment=None)


def _constant(value) -> gast.Constant:
    return gast.Constant(value=value, kind=None)


def _at(node, like):
    """``node`` and its children without a line given ``like``'s line."""
    for child in gast.walk(node):
        if "lineno" in child._attributes and getattr(child, "lineno", None) is None:
            child.lineno = child.end_lineno = like.lineno
            child.col_offset = child.end_col_offset = 0
    return node


def _assign(target, value, like) -> gast.Assign:
    if isinstance(target, str):
        target = _name(target, store=True)
    return _at(gast.Assign(targets=[target], value=value, type_comment=None), like)


def _subscript(value: gast.expr, index: gast.expr) -> gast.Subscript:
    return gast.Subscript(value=value, slice=index, ctx=gast.Load())


def _call(func: gast.expr, args: list, keywords: list | None = None) -> gast.Call:
    return gast.Call(func=func, args=args, keywords=keywords or [])


def _np(attribute: str) -> gast.Attribute:
    """``np.<attribute>``, already resolved (the user's module need not name NumPy ``np``)."""
    node = gast.Attribute(value=_name("np"), attr=attribute, ctx=gast.Load())
    node.global_value = getattr(np, attribute)
    return node


def _builtin(name: str) -> gast.Name:
    import builtins

    node = _name(name)
    node.global_value = getattr(builtins, name)
    return node


def _runtime(helper) -> gast.Name:
    """A helper of ``sourcead_runtime`` by its name, resolved (generated modules import them)."""
    node = _name(helper.__name__)
    node.global_value = helper
    return node


def _shape0(value: gast.expr) -> gast.Subscript:
    """``value.shape[0]``: the length of an array."""
    shape = gast.Attribute(value=copy.deepcopy(value), attr="shape", ctx=gast.Load())
    return _subscript(shape, _constant(0))


#: The most numbers of a module-level NumPy array written into generated code as constants.
MAX_CONSTANT_ARRAY = 1024


def _table(value) -> tuple[list, tuple[int, ...]] | None:
    """The numbers of a (nested) tuple or list of numbers, flattened, and its shape; None
    when ``value`` is no such thing. ValueError when the rows differ in length."""
    if not isinstance(value, tuple | list):
        return None
    if all(_is_number(v) for v in value):
        return list(value), (len(value),)
    rows = [_table(v) for v in value]
    if not value or any(row is None for row in rows):
        return None
    shapes = {shape for _, shape in rows}
    if len(shapes) != 1:
        raise ValueError("rows of different lengths")
    (shape,) = shapes
    return [number for numbers_, _ in rows for number in numbers_], (len(value), *shape)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, np.ndarray)


class _Desugarer:
    def __init__(self, parsed: ParsedFunction):
        self.fn = parsed
        self.names = NameGenerator(parsed.node)
        self.locals = set(parsed.params) | {
            n.id
            for n in gast.walk(parsed.node)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
        }
        self.changed = False
        self.tables: dict[str, str] = {}  # a module-level tuple's name -> its local array
        self.prelude: list = []  # the local arrays of module-level tuples

    def run(self) -> None:
        node = self.fn.node
        self._fold_constants(node)
        node.body = self.block(node.body)
        self._copy_unobserved_aliases(node)
        if self.prelude:
            first = 1 if node.body and _is_docstring(node.body[0]) else 0
            node.body[first:first] = self.prelude

    # --- u = new ----------------------------------------------------------------------------
    def _copy_unobserved_aliases(self, tree) -> None:
        """``u = new`` where ``new`` gets a fresh array before it is written again (Jacobi
        and SCF updates) becomes ``u = new.copy()``: no write is seen through the other name,
        so the copy is what Python computes, and the generators see two arrays."""
        writes = array_writes(tree)
        written = {identifier for identifier, _ in writes}
        blocks = [(tree.body, None)] + [
            (loop.body, loop) for loop in gast.walk(tree) if isinstance(loop, gast.For | gast.While)
        ]
        for body, loop in blocks:
            for index, stmt in enumerate(body):
                for alias, value, replace in _name_bindings(stmt):
                    source = value.id
                    if source not in self.locals or source == alias:
                        continue
                    if alias in written or source not in written:
                        continue  # writes through the new name, or no writes to see
                    if loop is None:
                        later = body[index + 1 :]
                        if any(_mentions_write(s, source) for s in later):
                            continue
                    elif not self._fresh_before_written(body, index, source, loop, writes):
                        continue
                    copied = gast.Attribute(value=value, attr="copy", ctx=gast.Load())
                    replace(gast.copy_location(_call(copied, []), value))
                    self.changed = True

    def _fresh_before_written(self, body, index, source, loop, writes) -> bool:
        """In the loop body ``body``, ``source`` is first mentioned by its rebinding to a new
        array, not mentioned after ``body[index]``, and written nowhere else."""
        inside = {id(n) for n in gast.walk(loop)}
        if any(id(w) not in inside for identifier, w in writes if identifier == source):
            return False
        if any(_mentions(s, source) for s in body[index + 1 :]):
            return False
        for stmt in body[:index]:
            if not _mentions(stmt, source):
                continue
            return (
                isinstance(stmt, gast.Assign)
                and isinstance(stmt.targets[0], gast.Name)
                and stmt.targets[0].id == source
                and isinstance(stmt.value, gast.Call)
                and not _mentions(stmt.value, source)
                and (
                    self._resolves_to(stmt.value.func, _NEW_ARRAYS)
                    or isinstance(stmt.value.func, gast.Attribute)
                    and stmt.value.func.attr == "copy"
                )
            )
        return False

    # --- module-level tuples ------------------------------------------------------------
    def _constant_table(self, node) -> tuple[list, tuple[int, ...], object] | None:
        """The values, shape and object of the module-level tuple ``node`` names, or None."""
        if not (isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load)):
            return None
        if node.id in self.locals:
            return None
        try:
            value = self.fn.namespace[node.id]
        except KeyError:
            return None
        if isinstance(value, np.ndarray):
            table = self._array_table(node, value)
            if table is None:
                return None
            # a copy: the array may be changed in place, which is_current must see
            self.fn.reads[node.id] = self.fn.constants[node.id] = value.copy()
            return (*table, value)
        if not isinstance(value, tuple | list):
            return None
        try:
            table = _table(value)
        except ValueError:
            raise self.fn.error(
                f"the global {node.id} is a table whose rows differ in length; sourcead reads "
                "module-level tuples of numbers, and tuples of rows of one length",
                node,
            ) from None
        if table is None:
            return None
        self.fn.lookup(node.id)  # noted in reads: a rebinding parses the function again
        self.fn.constants[node.id] = value
        return (*table, value)

    def _array_table(self, node: gast.Name, value: np.ndarray):
        """The numbers and shape of the module-level NumPy array ``node`` names, or None when
        it holds no numbers; refused when it is too large to write into the code."""
        if value.dtype.kind not in "biufc" or value.ndim == 0:
            return None
        if value.size > MAX_CONSTANT_ARRAY:
            raise self.fn.error(
                f"the global {node.id} is an array of {value.size} numbers: sourcead writes "
                f"module-level arrays of up to {MAX_CONSTANT_ARRAY} numbers into the generated "
                "code as constants; pass a larger one as an argument",
                node,
            )
        if value.size == 0:
            raise self.fn.error(f"the global {node.id} is an empty array", node)
        return value.ravel().tolist(), value.shape

    def _fold_constants(self, tree) -> None:
        desugarer = self

        class Folder(gast.NodeTransformer):
            def visit_Subscript(self, node):
                if isinstance(node.ctx, gast.Store):
                    desugarer._refuse_write(node)
                folded = desugarer._folded_index(node)
                if folded is not None:
                    return folded
                return self.generic_visit(node)

            def visit_Call(self, node):
                if (
                    desugarer._resolves_to(node.func, _ARRAY_OF)
                    and len(node.args) == 1
                    and not node.keywords
                ):
                    table = desugarer._constant_table(node.args[0])
                    if table is not None:  # np.array(WEIGHTS): a copy of the local array
                        local = _name(desugarer._local_table(node.args[0], table))
                        copied = gast.Attribute(value=local, attr="copy", ctx=gast.Load())
                        return gast.copy_location(_call(copied, []), node)
                if (
                    isinstance(node.func, gast.Name)
                    and node.func.id == "len"
                    and node.func.id not in desugarer.locals
                    and len(node.args) == 1
                    and not node.keywords
                ):
                    table = desugarer._constant_table(node.args[0])
                    if table is not None:
                        desugarer.changed = True
                        return gast.copy_location(_constant(table[1][0]), node)
                return self.generic_visit(node)

            def visit_Assign(self, node):
                # tx, ty = TARGET: a tuple of the numbers (or rows)
                target, value = node.targets[0], node.value
                table = desugarer._constant_table(value) if len(node.targets) == 1 else None
                if isinstance(target, gast.Tuple) and table is not None:
                    node.value = gast.Tuple(
                        elts=[desugarer._element(value, table, (k,)) for k in range(table[1][0])],
                        ctx=gast.Load(),
                    )
                    _at(node.value, node)
                    desugarer.changed = True
                    for t in node.targets:
                        self.visit(t)
                    return node
                return self.generic_visit(node)

            def visit_Attribute(self, node):
                number = desugarer._attribute_number(node)
                if number is None:
                    return self.generic_visit(node)
                desugarer.changed = True
                return gast.copy_location(_constant(number), node)

            def visit_Name(self, node):
                table = desugarer._constant_table(node)
                if table is None:
                    return node
                return gast.copy_location(_name(desugarer._local_table(node, table)), node)

        Folder().visit(tree)

    def _attribute_number(self, node: gast.Attribute):
        """The number ``Config.scale`` (a class's or an object's attribute, read as a global)
        holds, for the generated code to hold as a constant (it cannot read the class);
        None for anything else (``np.pi`` and ``consts.C`` of modules are imported)."""
        dotted = dotted_name(node)
        if dotted is None or not isinstance(node.ctx, gast.Load):
            return None
        root = dotted.split(".")[0]
        if root in self.locals:
            return None
        if isinstance(self.fn.namespace.get(root), types.ModuleType):
            return None  # np.pi, consts.C: the generated module imports the module
        try:
            value = self.fn.lookup_dotted(dotted)  # noted in the function's reads
        except (KeyError, AttributeError):
            return None
        return value if isinstance(value, bool | numbers.Number) else None

    def _refuse_write(self, node: gast.Subscript) -> None:
        """A write into a module-level table (``K[0] = x``): NumPy would change the global,
        which the generated code, holding a copy of its numbers, would not."""
        base = node.value
        while isinstance(base, gast.Subscript):
            base = base.value
        if self._constant_table(base) is not None:
            raise self.fn.error(
                f"a write into the module-level {base.id}, whose numbers sourcead reads as "
                f"constants: copy it into a local first ({base.id.lower()} = {base.id}.copy())",
                node,
            )

    def _folded_index(self, node: gast.Subscript) -> gast.expr | None:
        """``T[1]``, ``T[1][0]``, ``T[-1]`` of a module-level tuple ``T``: the number (or a
        row of the local array); None when ``node`` is no such index."""
        indices = []
        base = node
        while isinstance(base, gast.Subscript):
            index = base.slice
            if isinstance(index, gast.UnaryOp) and isinstance(index.op, gast.USub):
                index = index.operand
                sign = -1
            else:
                sign = 1
            if not (
                isinstance(index, gast.Constant)
                and isinstance(index.value, int)
                and not isinstance(index.value, bool)
            ):
                return None
            indices.insert(0, sign * index.value)
            base = base.value
        table = self._constant_table(base)
        if table is None:
            return None
        values, shape, _ = table
        if len(indices) > len(shape):
            raise self.fn.error(f"{src(node)} indexes {base.id} with too many indices", node)
        for index, size in zip(indices, shape, strict=False):
            if not -size <= index < size:
                raise self.fn.error(f"{src(node)} is out of range ({base.id} has {size})", node)
        self.changed = True
        return gast.copy_location(self._element(base, table, tuple(indices)), node)

    def _element(self, base: gast.Name, table, indices: tuple[int, ...]) -> gast.expr:
        """The number at ``indices`` of a module-level tuple, or its row of the local array."""
        values, shape, _ = table
        if len(indices) < len(shape):
            row = _subscript(_name(self._local_table(base, table)), _index_tuple(indices))
            return _at(row, base)
        flat = 0
        for index, size in zip(indices, shape, strict=True):
            flat = flat * size + index % size
        number = values[flat]
        return _at(_constant(number.item() if isinstance(number, np.generic) else number), base)

    def _local_table(self, node: gast.Name, table) -> str:
        """The local array holding the module-level tuple ``node`` names, written at the top
        of the function the first time it is needed."""
        if node.id in self.tables:
            return self.tables[node.id]
        values, shape, _ = table
        local = self.names.fresh(node.id.lower() + "_values")
        self.tables[node.id] = local
        self.changed = True
        keywords = []
        if isinstance(table[2], np.ndarray):  # its own dtype
            if table[2].dtype != np.float64:
                dtype = "bool_" if table[2].dtype == np.bool_ else table[2].dtype.name
                keywords = [gast.keyword(arg="dtype", value=_np(dtype))]
        elif values and all(isinstance(v, int | bool | np.integer) for v in values):
            keywords = [gast.keyword(arg="dtype", value=_np("int64"))]
        elif any(isinstance(v, complex | np.complexfloating) for v in values):
            keywords = [gast.keyword(arg="dtype", value=_np("complex128"))]
        size = (
            _constant(shape[0])
            if len(shape) == 1
            else gast.Tuple(elts=[_constant(s) for s in shape], ctx=gast.Load())
        )
        self.prelude.append(_assign(local, _call(_np("empty"), [size], keywords), node))
        for flat, value in enumerate(values):
            indices = np.unravel_index(flat, shape)
            element = gast.Subscript(
                value=_name(local), slice=_index_tuple(tuple(indices)), ctx=gast.Store()
            )
            number = value.item() if isinstance(value, np.generic) else value
            self.prelude.append(_assign(element, _constant(number), node))
        return local

    # --- statements ---------------------------------------------------------------------
    def block(self, body: list) -> list:
        out = []
        for stmt in body:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt) -> list:
        pre: list = []
        if isinstance(stmt, gast.AnnAssign) and stmt.value is not None and stmt.simple:
            # t: float = x * 2.0: the annotation says nothing the types do not
            self.changed = True
            stmt = _assign(stmt.target, stmt.value, stmt)
        if isinstance(stmt, gast.If):
            stmt.test = self.lift(stmt.test, pre, stmt)
            stmt.body = self.block(stmt.body)
            stmt.orelse = self.block(stmt.orelse)
        elif isinstance(stmt, gast.While):
            stmt.test = self.lift(stmt.test, pre, stmt)
            if pre:
                raise self.fn.error(
                    "a comprehension in a while condition: compute it into a variable before "
                    "the loop and at the end of its body",
                    stmt,
                )
            stmt.body = self.block(stmt.body)
        elif isinstance(stmt, gast.For):
            stmt.iter = self.lift(stmt.iter, pre, stmt)
            stmt.body = self.block(stmt.body)
            stmt.orelse = self.block(stmt.orelse)
            return pre + self.for_loop(stmt)
        elif isinstance(stmt, gast.Assign) and self._fills_name(stmt):
            # v = np.array([... for ...]): the loop fills v itself (no second name for it)
            self.changed = True
            self.comprehension(stmt.value, "array", pre, stmt, into=stmt.targets[0].id)
            return pre
        elif isinstance(stmt, gast.Assign | gast.AugAssign | gast.Return | gast.Expr):
            if stmt.value is not None:
                stmt.value = self.lift(stmt.value, pre, stmt)
        return [*pre, stmt]

    def _fills_name(self, stmt: gast.Assign) -> bool:
        """``v = np.array([elt for ...])`` where the comprehension does not read ``v``."""
        if not (len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)):
            return False
        if not isinstance(stmt.value, gast.Call) or self._consumer(stmt.value) != "array":
            return False
        target = stmt.targets[0].id
        return not any(isinstance(n, gast.Name) and n.id == target for n in gast.walk(stmt.value))

    # --- for loops over sequences -------------------------------------------------------
    def for_loop(self, stmt: gast.For) -> list:
        if isinstance(stmt.iter, gast.Call) and not _is_zip_or_enumerate(stmt.iter, self):
            return [stmt]  # range(...), sourcead.checkpointed(...): the subset check decides
        assigned = {
            n.id
            for s in stmt.body
            for n in gast.walk(s)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
        }
        setup: list = []
        if isinstance(stmt.target, gast.Name) and not _is_zip_or_enumerate(stmt.iter, self):
            index = self.names.fresh("i")
        elif (
            _is_call_of(stmt.iter, "enumerate", self)
            and isinstance(stmt.target, gast.Tuple)
            and len(stmt.target.elts) == 2
            and isinstance(stmt.target.elts[0], gast.Name)
            and len(stmt.iter.args) == 1
            and stmt.target.elts[0].id not in assigned
        ):
            index = stmt.target.elts[0].id  # for i, v in enumerate(x): i is the position
        else:
            index = self.names.fresh("i")
        length, bindings = self.elements(stmt.iter, stmt.target, index, setup, stmt, assigned)
        bindings = [b for b in bindings if not _binds_itself(b, index)]
        self._refuse_writes_into_rows(stmt, bindings)
        self.changed = True
        loop = gast.For(
            target=_name(index, store=True),
            iter=_call(_builtin("range"), [length]),
            body=bindings + stmt.body,
            orelse=stmt.orelse,
            type_comment=None,
        )
        return [*setup, _at(gast.copy_location(loop, stmt), stmt)]

    def _refuse_writes_into_rows(self, stmt: gast.For, bindings: list) -> None:
        """``row[0] = 1.0`` in ``for row in m`` writes into ``m`` in Python (a view); the
        desugared loop's ``row = m[i]`` would not say so: refused."""
        rows = {
            b.targets[0].id
            for b in bindings
            if isinstance(b.targets[0], gast.Name) and isinstance(b.value, gast.Subscript)
        }
        for s in stmt.body:
            for n in gast.walk(s):
                if (
                    isinstance(n, gast.Subscript)
                    and isinstance(n.ctx, gast.Store)
                    and isinstance(n.value, gast.Name)
                    and n.value.id in rows
                ):
                    raise self.fn.error(
                        f"writing into {n.value.id}, a row of the array the loop iterates over "
                        "(a view in NumPy): index the array instead, m[i, j] = ...",
                        n,
                    )

    def elements(self, iterator, target, position: str, setup: list, like, assigned=frozenset()):
        """How many elements ``iterator`` has, and the assignments binding ``target`` to the
        element at ``position`` (a name counting from 0)."""
        fn = self.fn
        if _is_call_of(iterator, "enumerate", self):
            if iterator.keywords or not 1 <= len(iterator.args) <= 2:
                raise fn.error("enumerate(...) with other than a sequence and a start", like)
            if not (isinstance(target, gast.Tuple) and len(target.elts) == 2):
                raise fn.error("enumerate(...) must be unpacked into two names (i, v)", like)
            counter, element = target.elts
            start = iterator.args[1] if len(iterator.args) == 2 else None
            value = _name(position)
            if start is not None:
                value = gast.BinOp(left=value, op=gast.Add(), right=start)
            length, bindings = self.elements(
                iterator.args[0], element, position, setup, like, assigned
            )
            return length, [_assign(_as_store(counter), value, like), *bindings]
        if _is_call_of(iterator, "zip", self):
            if iterator.keywords or len(iterator.args) < 1:
                raise fn.error("zip(...) with keyword arguments", like)
            if not (isinstance(target, gast.Tuple) and len(target.elts) == len(iterator.args)):
                raise fn.error(
                    f"zip(...) of {len(iterator.args)} sequences must be unpacked into "
                    f"{len(iterator.args)} names",
                    like,
                )
            lengths, bindings = [], []
            for sequence, element in zip(iterator.args, target.elts, strict=True):
                length, more = self.elements(sequence, element, position, setup, like, assigned)
                lengths.append(length)
                bindings.extend(more)
            length = lengths[0]
            if len(lengths) > 1:
                length = _call(_builtin("min"), lengths)
            return length, bindings
        if _is_range(iterator, self):
            return self._range_elements(iterator, target, position, like)
        if isinstance(iterator, gast.Call) and _is_call_of(iterator, "reversed", self):
            raise fn.error(
                f"reversed(...) in a for loop: sourcead supports {_SEQUENCE_FORMS}", like
            )
        unpacked = isinstance(target, gast.Tuple)
        if unpacked and not all(isinstance(e, gast.Name) for e in target.elts):
            raise fn.error("nested unpacking of the rows of an array in a for loop", like)
        if not (unpacked or isinstance(target, gast.Name)):
            raise fn.error("for loops must have a single name as target", like)
        if isinstance(iterator, gast.Name) and iterator.id not in assigned:
            sequence = iterator
        elif isinstance(iterator, gast.Name | gast.Subscript | gast.Call | gast.BinOp):
            temp = self.names.fresh(_hint(iterator) + "_items")
            setup.append(_assign(temp, iterator, like))
            sequence = _name(temp)
        else:
            raise fn.error(f"sourcead supports {_SEQUENCE_FORMS}", like)
        if unpacked:  # for i, j in bonds: the row's items, from a matrix of as many columns
            bindings = [
                _assign(
                    _as_store(name),
                    _subscript(
                        copy.deepcopy(sequence),
                        gast.Tuple(elts=[_name(position), _constant(k)], ctx=gast.Load()),
                    ),
                    like,
                )
                for k, name in enumerate(target.elts)
            ]
            shape = gast.Attribute(value=copy.deepcopy(sequence), attr="shape", ctx=gast.Load())
            columns = _subscript(shape, _constant(1))
            count = _constant(len(bindings))
            rows = _call(_runtime(unpacked_rows), [_shape0(sequence), columns, count])
            return rows, bindings
        element = _subscript(copy.deepcopy(sequence), _name(position))
        return _shape0(sequence), [_assign(_as_store(target), element, like)]

    def _range_elements(self, iterator: gast.Call, target, position: str, like):
        """``range(...)``'s length and the binding of ``target`` to its element at
        ``position`` (inside zip or enumerate, or a comprehension)."""
        if not isinstance(target, gast.Name):
            raise self.fn.error("the elements of range(...) are numbers: bind one name", like)
        args = iterator.args
        if iterator.keywords or not 1 <= len(args) <= 3:
            raise self.fn.error("range(...) takes one to three arguments", like)
        if len(args) == 1:
            return args[0], [_assign(_as_store(target), _name(position), like)]
        start, stop = args[0], args[1]
        step = args[2] if len(args) == 3 else _constant(1)
        step_value = _literal_int(step)
        if step_value is None or step_value == 0:
            raise self.fn.error(
                "a range(...) with a step that is not a nonzero integer written in the call, "
                "inside zip, enumerate or a comprehension",
                like,
            )
        if step_value == 1:
            length = gast.BinOp(left=stop, op=gast.Sub(), right=start)
            value = gast.BinOp(left=_name(position), op=gast.Add(), right=copy.deepcopy(start))
        else:
            size = abs(step_value)
            first, last = (start, stop) if step_value > 0 else (stop, start)
            span = gast.BinOp(left=last, op=gast.Sub(), right=copy.deepcopy(first))
            length = gast.BinOp(
                left=gast.BinOp(left=span, op=gast.Add(), right=_constant(size - 1)),
                op=gast.FloorDiv(),
                right=_constant(size),
            )
            offset = gast.BinOp(left=_name(position), op=gast.Mult(), right=step)
            value = gast.BinOp(left=copy.deepcopy(start), op=gast.Add(), right=offset)
        length = _call(_builtin("max"), [length, _constant(0)])
        return length, [_assign(_as_store(target), value, like)]

    # --- comprehensions -----------------------------------------------------------------
    def lift(self, expr, pre: list, like):
        """``expr`` with its comprehensions replaced by names, whose loops go to ``pre``."""
        desugarer = self

        class Lifter(gast.NodeTransformer):
            def visit_Call(self, node):
                added = desugarer._builtin_written_out(node)
                if added is not None:
                    return self.visit(added)
                kind = desugarer._consumer(node)
                if kind is None:
                    return self.generic_visit(node)
                desugarer.changed = True
                return desugarer.comprehension(node, kind, pre, like)

            def visit_IfExp(self, node):
                desugarer._no_comprehension(node, "a conditional expression (a if c else b)")
                return node

            def visit_BoolOp(self, node):
                desugarer._no_comprehension(node, "'and'/'or'")
                return node

        return Lifter().visit(expr)

    def _no_comprehension(self, node, where: str) -> None:
        for child in gast.walk(node):
            if isinstance(child, gast.ListComp | gast.GeneratorExp):
                raise self.fn.error(
                    f"a comprehension inside {where}: compute it into a variable first", child
                )

    def _resolves_to(self, func, targets: tuple) -> bool:
        """Whether ``func`` (not a local name) refers to one of ``targets``."""
        if hasattr(func, "global_value"):
            return any(func.global_value is t for t in targets)
        if _root(func) is None or _root(func) in self.locals:
            return False
        try:
            value = self.fn.resolve(func)
        except (KeyError, AttributeError):
            return False
        return any(value is t for t in targets)

    def _builtin_written_out(self, node: gast.Call) -> gast.expr | None:
        """Builtins as the operations they are: ``pow(x, y)`` as ``x ** y``; ``sum([a, b,
        c])`` (a list or tuple written out) as ``a + b + c``, the additions Python does (after
        ``0 +``, which changes no number but a negative zero); ``min`` and ``max`` of one as
        ``min(min(a, b), c)``, which keeps the first of equal values as Python's does."""
        if _is_call_of(node, "pow", self) and len(node.args) == 2 and not node.keywords:
            self.changed = True  # pow(x, y) is x ** y
            power = gast.BinOp(left=node.args[0], op=gast.Pow(), right=node.args[1])
            return _at(gast.copy_location(power, node), node)
        builtin = next((b for b in ("sum", "min", "max") if _is_call_of(node, b, self)), None)
        if builtin is None or len(node.args) != 1 or node.keywords:
            return None
        items = node.args[0]
        if not isinstance(items, gast.List | gast.Tuple) or not items.elts:
            return None
        self.changed = True
        total = items.elts[0]
        for item in items.elts[1:]:
            if builtin == "sum":
                total = gast.BinOp(left=total, op=gast.Add(), right=item)
            else:
                total = _call(_builtin(builtin), [total, item])
        return _at(gast.copy_location(total, node), node)

    def _consumer(self, node: gast.Call) -> str | None:
        """``array``, ``sum``, ``min`` or ``max`` when ``node`` applies one to a comprehension."""
        if not (
            len(node.args) >= 1 and isinstance(node.args[0], gast.ListComp | gast.GeneratorExp)
        ):
            return None
        func = node.func
        if isinstance(func, gast.Name) and func.id not in self.locals:
            if func.id in ("sum", "min", "max") and _is_call_of(node, func.id, self):
                return func.id
        if self._resolves_to(func, _ARRAY_OF):
            return "array"
        return None

    def comprehension(
        self, call: gast.Call, kind: str, pre: list, like, into: str | None = None
    ) -> gast.expr:
        fn = self.fn
        comp = call.args[0]
        if len(comp.generators) != 1:
            raise fn.error(
                "a comprehension with more than one for clause: nest one comprehension in "
                "another, or write the loops",
                comp,
            )
        (generator,) = comp.generators
        if generator.ifs:
            raise fn.error(
                "a comprehension with an if clause: write the loop, with the if in its body",
                comp,
            )
        if isinstance(comp, gast.GeneratorExp) and kind == "array":
            raise fn.error("np.array of a generator: use a list comprehension [...]", comp)
        self._rename_comprehension_names(comp)
        if isinstance(comp.elt, gast.ListComp):  # [[... for j] for i]: rows are arrays
            comp.elt = gast.copy_location(_call(_np("array"), [comp.elt]), comp.elt)
        if kind == "array":
            extra = [k for k in call.keywords if k.arg != "dtype"]
            if len(call.args) != 1 or extra:
                raise fn.error(
                    "np.array of a comprehension takes no argument but the list and dtype=",
                    call,
                )
            return self._array(comp, generator, call.keywords, pre, like, into)
        if call.keywords:
            raise fn.error(f"{kind}(...) of a comprehension with keyword arguments", call)
        if kind in ("min", "max"):
            if len(call.args) != 1:
                raise fn.error(f"{kind}(...) of a comprehension and other values", call)
            array = self._array(comp, generator, [], pre, like)
            return _call(_np(kind), [array])
        if len(call.args) > 2:
            raise fn.error("sum(...) takes a sequence and a start", call)
        start = self.lift(call.args[1], pre, like) if len(call.args) == 2 else _constant(0.0)
        return self._sum(comp, generator, start, pre, like)

    def _rename_comprehension_names(self, comp) -> None:
        """A comprehension's variables are its own (Python 3): renamed when the function
        uses the same names elsewhere, as the desugared loop binds them in its scope."""
        inside = {id(n) for n in gast.walk(comp)}
        targets = {n.id for n in gast.walk(comp.generators[0].target) if isinstance(n, gast.Name)}
        elsewhere = {
            n.id
            for n in gast.walk(self.fn.node)
            if isinstance(n, gast.Name) and id(n) not in inside
        }
        for old in targets & elsewhere:
            new = self.names.fresh(old)
            for n in gast.walk(comp):
                if isinstance(n, gast.Name) and n.id == old:
                    n.id = new
            self.locals.add(new)

    def _loop(self, generator, like, pre: list) -> tuple[gast.expr, str, list]:
        """The length of a comprehension's sequence, the position counter of its loop, and
        the assignments of its variables at that position."""
        target, iterator = generator.target, self.lift(generator.iter, pre, like)
        if (
            _is_range(iterator, self)
            and isinstance(target, gast.Name)
            and len(iterator.args) == 1
            and not iterator.keywords
        ):
            return iterator.args[0], target.id, []  # [f(k) for k in range(n)]: k counts
        position = self.names.fresh("i")
        length, bindings = self.elements(iterator, target, position, pre, like)
        if not isinstance(length, gast.Name | gast.Constant):
            count = self.names.fresh("count")
            pre.append(_assign(count, length, like))
            length = _name(count)
        return length, position, bindings

    def _array(self, comp, generator, keywords: list, pre: list, like, into=None) -> gast.Name:
        """``np.array([elt for ...])`` as an array filled by a loop (``into``: named so); its
        name."""
        length, position, bindings = self._loop(generator, like, pre)
        result = into or self.names.fresh("values")
        first = self.names.fresh(f"{result}_first")
        # the first element, for the shape of the others (NumPy stacks arrays)
        pre.append(_assign(position, _constant(0), like))
        pre.extend(copy.deepcopy(bindings))
        element = copy.deepcopy(comp.elt)
        if isinstance(element, gast.Call) and self._consumer(element) == "array":
            self.comprehension(element, "array", pre, like, into=first)  # a row: filled in place
        else:
            element = self.lift(element, pre, like)
            pre.append(_assign(first, _element_value(element, self), like))
        shape = gast.BinOp(
            left=gast.Tuple(elts=[copy.deepcopy(length)], ctx=gast.Load()),
            op=gast.Add(),
            right=_call(_np("shape"), [_name(first)]),
        )
        pre.append(_assign(result, _call(_np("empty"), [shape], keywords), like))
        body = copy.deepcopy(bindings)
        element = self.lift(comp.elt, body, like)
        written = gast.Subscript(value=_name(result), slice=_name(position), ctx=gast.Store())
        body.append(_assign(written, _element_value(element, self), like))
        pre.append(_at(_range_loop(position, length, body), like))
        return _name(result)

    def _sum(self, comp, generator, start, pre: list, like) -> gast.Name:
        """``sum(elt for ...)`` as a loop that adds; its name."""
        length, position, bindings = self._loop(generator, like, pre)
        total = self.names.fresh("total")
        pre.append(_assign(total, start, like))
        body = copy.deepcopy(bindings)
        element = self.lift(comp.elt, body, like)
        added = _assign(total, gast.BinOp(left=_name(total), op=gast.Add(), right=element), like)
        added.refusal = (
            "sum(...) of a comprehension adds numbers; for arrays use "
            "np.sum(np.array([...]), axis=0)"
        )
        body.append(added)
        pre.append(_at(_range_loop(position, length, body), like))
        return _name(total)


#: The calls that make an array of a sequence (the array syntax pass spells np.array np.copy).
_ARRAY_OF = (np.array, np.asarray, np.copy)

#: Calls that make a new array: ``new = np.empty_like(u)`` at the top of a loop body.
_NEW_ARRAYS = (
    np.empty, np.empty_like, np.zeros, np.zeros_like, np.ones, np.ones_like, np.full,
    np.full_like, np.array, np.copy,
)  # fmt: skip


def _name_bindings(stmt) -> list:
    """(target, value, replace) for each name ``stmt`` binds to another name: ``u = new``,
    and each pair of ``u_prev, u = u, new`` whose value is not also a target (a swap);
    ``replace(expr)`` puts ``expr`` in the value's place."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1):
        return []
    target, value = stmt.targets[0], stmt.value
    if isinstance(target, gast.Name) and isinstance(value, gast.Name):

        def replace_value(expr):
            stmt.value = expr

        return [(target.id, value, replace_value)]
    if not (
        isinstance(target, gast.Tuple)
        and isinstance(value, gast.Tuple)
        and len(target.elts) == len(value.elts)
        and all(isinstance(t, gast.Name) for t in target.elts)
    ):
        return []
    targets = {t.id for t in target.elts}
    bindings = []
    for k, (t, v) in enumerate(zip(target.elts, value.elts, strict=True)):
        if isinstance(v, gast.Name) and v.id not in targets:

            def replace_element(expr, k=k):
                value.elts[k] = expr

            bindings.append((t.id, v, replace_element))
    return bindings


def _mentions(node, identifier: str) -> bool:
    return any(isinstance(n, gast.Name) and n.id == identifier for n in gast.walk(node))


def _mentions_write(node, identifier: str) -> bool:
    return any(written == identifier for written, _ in array_writes(node))


def _element_value(element, desugarer: _Desugarer) -> gast.expr:
    """A nested list comprehension element is an array: np.array([...]) was lifted already."""
    if isinstance(element, gast.List):
        raise desugarer.fn.error(
            "a list of values as an element of a comprehension: np.array([...]) it", element
        )
    return element


def _index_tuple(indices: tuple[int, ...]) -> gast.expr:
    if len(indices) == 1:
        return _constant(int(indices[0]))
    return gast.Tuple(elts=[_constant(int(i)) for i in indices], ctx=gast.Load())


def _as_store(target):
    target = copy.deepcopy(target)
    for n in gast.walk(target):
        if hasattr(n, "ctx") and isinstance(n, gast.Name | gast.Tuple):
            n.ctx = gast.Store()
    return target


def _binds_itself(stmt, index: str) -> bool:
    """``i = i``: the binding of a counter the loop already names."""
    return (
        isinstance(stmt.targets[0], gast.Name)
        and stmt.targets[0].id == index
        and isinstance(stmt.value, gast.Name)
        and stmt.value.id == index
    )


def _literal_int(node) -> int | None:
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = _literal_int(node.operand)
        return None if inner is None else -inner
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    return None


def _root(func) -> str | None:
    while isinstance(func, gast.Attribute):
        func = func.value
    return func.id if isinstance(func, gast.Name) else None


def _range_loop(position: str, length, body: list) -> gast.For:
    """``for position in range(length): body``."""
    return gast.For(
        target=_name(position, store=True),
        iter=_call(_builtin("range"), [copy.deepcopy(length)]),
        body=body,
        orelse=[],
        type_comment=None,
    )


def _is_call_of(node, builtin: str, desugarer: _Desugarer) -> bool:
    """Whether ``node`` calls the builtin ``builtin``."""
    if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Name)):
        return False
    if node.func.id != builtin or node.func.id in desugarer.locals:
        return False
    import builtins

    return desugarer.fn.namespace.get(builtin, getattr(builtins, builtin)) is getattr(
        builtins, builtin
    )


def _is_range(node, desugarer: _Desugarer) -> bool:
    return _is_call_of(node, "range", desugarer)


def _is_zip_or_enumerate(node, desugarer: _Desugarer) -> bool:
    return _is_call_of(node, "zip", desugarer) or _is_call_of(node, "enumerate", desugarer)


def _hint(node) -> str:
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Subscript):
        return _hint(node.value)
    if isinstance(node, gast.Call):
        return _hint(node.func)
    if isinstance(node, gast.Attribute):
        return node.attr
    return "sequence"


def _is_docstring(stmt) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Constant)
        and isinstance(stmt.value.value, str)
    )


__all__ = ["desugar"]
