"""Indexed values as names: ``r = np.linalg.qr(a)[1]`` -> ``q, r2 = np.linalg.qr(a)`` then
``r = r2``; ``y = np.sort(x)[::-1]`` -> ``sort_x = np.sort(x)`` then ``y = sort_x[::-1]``.

Runs on the typed tree, at the start of the ``indexed`` pass (every mode): whether a subscript
takes an item of a tuple, and how many items the tuple has, is known from the types only.
The generators follow derivatives through names, not through a tuple's items, and index
names only, so

* a constant item of the tuple a call returns (``np.linalg.slogdet(a)[1]``, also negative:
  ``np.linalg.svd(a)[-1]``) becomes a name the call is unpacked into, in a statement of its
  own just before the one that reads it;
* a name bound to a tuple (``qr = np.linalg.qr(a)``) and only ever read through constant
  items (``qr[1]``) becomes one name per item, each binding an unpacking
  (``qr_0, qr_1 = np.linalg.qr(a)``);
* a subscript of an item taken with integers (``x[i][j]``, ``x[i][1:]``) becomes the one
  subscript it is (``x[i, j]``, ``x[i, 1:]``);
* any other array-valued expression that is indexed (``np.sort(x)[::-1]``, ``(a @ b)[0, 1]``,
  ``x[0][idx]``, ``q[:, 0]`` of ``np.linalg.qr(a)[0][:, 0]``) is assigned to a fresh name,
  derived from the expression (``sort_x``, ``product``, ``x_0``), just before the statement
  that reads it; the subscript then indexes the name, which the rest of the ``indexed`` pass
  (``indexing.py``) and the generators handle.

Everything else stays refused, at the user's line: a tuple item or an indexed expression read
inside ``a if c else b``, after the first operand of ``and``/``or`` or of a chained comparison,
or in a ``while`` condition (a statement before it would evaluate the expression where Python
does not, or only once), a tuple name also used whole or bound otherwise than by a call.
Tuples of integers (shapes: ``x.shape[0]``) keep their subscripts, which Numba compiles.
"""

from __future__ import annotations

import copy

import gast

from ..analysis.inference import TypeProblem, expression_type
from ..analysis.types import Array, Scalar, TupleType
from ..rules.registry import entry_for
from ..rules.shapes import literal_int


def unpack_tuple_items(tree: gast.FunctionDef, types: dict, names) -> gast.FunctionDef:
    """``tree`` with every constant item of a tuple, and every indexed array expression other
    than a name, read through a name of its own (a copy where anything changes); ``types``
    gains the new names. TypeProblem (SourceADError at the line) for a tuple item or an
    expression that cannot be named."""
    tuples = _indexed_tuple_names(tree, types)
    if not tuples and not any(
        _call_item(n, types) or _indexed_expression(n, types) for n in gast.walk(tree)
    ):
        return tree
    tree = copy.deepcopy(tree)
    _check_bindings(tree, tuples)
    items = {}
    for name in sorted(tuples):
        kinds = types[name].items
        items[name] = [names.fresh(f"{name}_{k}") for k in range(len(kinds))]
        types.update(zip(items[name], kinds, strict=True))
    tree.body = _Unpacker(types, names, items).block(tree.body)
    return tree


def _is_tuple(value_type) -> bool:
    """A tuple whose items the generators cannot follow (not a shape: a tuple of ints)."""
    return isinstance(value_type, TupleType) and not all(
        isinstance(t, Scalar) and t.kind == "int" for t in value_type.items
    )


def _item(node) -> int | None:
    """The constant index of a subscript read (``t[1]``, ``t[-1]``), or None."""
    if isinstance(node, gast.Subscript) and isinstance(node.ctx, gast.Load):
        return literal_int(node.slice)
    return None


def _call_item(node, types: dict) -> bool:
    """Whether ``node`` reads a constant item of the tuple a call returns."""
    return (
        _item(node) is not None
        and isinstance(node.value, gast.Call)
        and isinstance(expression_type(node.value, types, unknown=None), TupleType)
    )


def _indexed_expression(node, types: dict) -> bool:
    """Whether ``node`` reads a subscript of an array computed by an expression (not a name)."""
    return (
        isinstance(node, gast.Subscript)
        and isinstance(node.ctx, gast.Load)
        and not isinstance(node.value, gast.Name)
        and isinstance(expression_type(node.value, types, unknown=None), Array)
    )


def _elements(index) -> list:
    return list(index.elts) if isinstance(index, gast.Tuple) else [index]


def _integers(index, types: dict, slices: bool = False) -> bool:
    """Whether each element of ``index`` is an integer (or, with ``slices``, a slice): no
    array and no new axis."""
    return all(
        (slices and isinstance(e, gast.Slice))
        or (
            not isinstance(e, gast.Slice)
            and isinstance(expression_type(e, types, unknown=None), Scalar)
            and expression_type(e, types, unknown=None).kind == "int"
        )
        for e in _elements(index)
    )


def _elements_of_elements(node: gast.Subscript, types: dict) -> bool:
    """Whether ``node`` slices an array's item taken with integers (``x[i][j]``,
    ``x[i][1:]``: the same values as ``x[i, j]``, ``x[i, 1:]``, which need no name of their
    own)."""
    inner = node.value
    return (
        isinstance(node.ctx, gast.Load)
        and isinstance(inner, gast.Subscript)
        and isinstance(inner.value, gast.Name)
        and isinstance(types.get(inner.value.id), Array)
        and _integers(inner.slice, types)
        and _integers(node.slice, types, slices=True)
    )


def _indexed_tuple_names(tree, types: dict) -> set[str]:
    """The names of tuples read through a constant item somewhere in ``tree``."""
    return {
        node.value.id
        for node in gast.walk(tree)
        if _item(node) is not None
        and isinstance(node.value, gast.Name)
        and _is_tuple(types.get(node.value.id))
    }


def _refused(node, name: str, why: str, instead: str = "") -> TypeProblem:
    instead = instead or "unpack the call that makes it instead (a, b = g(x))"
    return TypeProblem(
        node, f"indexing a tuple of values ({name}[...]) whose name is {why}: {instead}"
    )


def _check_bindings(tree: gast.FunctionDef, tuples: set[str]) -> None:
    """TypeProblem unless each of ``tuples`` is bound only by ``name = call(...)`` and read
    only through constant items."""
    if not tuples:
        return
    parameters = {a.id for a in tree.args.args} | {a.id for a in tree.args.kwonlyargs}
    for node in gast.walk(tree):
        if _item(node) is not None and getattr(node.value, "id", None) in parameters & tuples:
            raise _refused(node, node.value.id, "a parameter", "pass its items as arguments")
    items = set()
    bindings = set()
    for node in gast.walk(tree):
        if _item(node) is not None and isinstance(node.value, gast.Name):
            items.add(id(node.value))
        elif isinstance(node, gast.Assign) and _single_name(node) in tuples:
            if not isinstance(node.value, gast.Call):
                raise _refused(node, node.targets[0].id, "bound to something other than a call")
            bindings.add(id(node.targets[0]))
    for node in gast.walk(tree):
        if not (isinstance(node, gast.Name) and node.id in tuples):
            continue
        if isinstance(node.ctx, gast.Load) and id(node) not in items:
            raise _refused(node, node.id, "also used whole")
        if not isinstance(node.ctx, gast.Load) and id(node) not in bindings:
            raise _refused(node, node.id, "bound otherwise than by name = g(x)")


def _single_name(stmt: gast.Assign) -> str | None:
    targets = stmt.targets
    if len(targets) == 1 and isinstance(targets[0], gast.Name):
        return targets[0].id
    return None


def _names(ids: list[str], ctx, like) -> list[gast.Name]:
    return [
        gast.copy_location(gast.Name(id=i, ctx=ctx, annotation=None, type_comment=None), like)
        for i in ids
    ]


def _unpacking(ids: list[str], call: gast.Call, like) -> gast.Assign:
    """``ids[0], ids[1], ... = call``."""
    target = gast.copy_location(
        gast.Tuple(elts=_names(ids, gast.Store(), like), ctx=gast.Store()), like
    )
    return gast.copy_location(gast.Assign(targets=[target], value=call, type_comment=None), like)


class _Unpacker:
    def __init__(self, types: dict, names, items: dict[str, list[str]]):
        self.types, self.names, self.items = types, names, items

    def block(self, body: list) -> list:
        out = []
        for stmt in body:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt) -> list:
        for field in ("body", "orelse"):
            if isinstance(stmt, gast.If | gast.For | gast.While):
                setattr(stmt, field, self.block(getattr(stmt, field)))
        before: list = []
        if isinstance(stmt, gast.While):
            stmt.test = self.reads(stmt.test, None, "a while condition")
        else:
            for field in ("test", "iter", "value", "targets"):
                value = getattr(stmt, field, None)
                if isinstance(value, list):
                    setattr(stmt, field, [self.reads(v, before) for v in value])
                elif isinstance(value, gast.AST):
                    setattr(stmt, field, self.reads(value, before))
        name = _single_name(stmt) if isinstance(stmt, gast.Assign) else None
        if name in self.items:  # qr = np.linalg.qr(a) -> qr_0, qr_1 = np.linalg.qr(a)
            stmt = _unpacking(self.items[name], stmt.value, stmt)
        return [*before, stmt]

    def reads(self, expr, before: list | None, where: str = ""):
        """``expr`` with its tuple items and indexed expressions read through names; their
        assignments appended to ``before`` (None: there is no statement before, ``where``
        says why)."""
        unpacker = self

        class Reads(gast.NodeTransformer):
            conditional = 0  # inside a if c else b: the branch not taken is not evaluated

            def visit_IfExp(self, node):
                node.test = self.visit(node.test)
                self.conditional += 1
                node.body, node.orelse = self.visit(node.body), self.visit(node.orelse)
                self.conditional -= 1
                return node

            def visit_BoolOp(self, node):
                # a and b: b is evaluated only where a holds
                node.values[0] = self.visit(node.values[0])
                self.conditional += 1
                node.values[1:] = [self.visit(v) for v in node.values[1:]]
                self.conditional -= 1
                return node

            def visit_Compare(self, node):
                # a < b < c: c is evaluated only where a < b holds
                node.left = self.visit(node.left)
                node.comparators[0] = self.visit(node.comparators[0])
                self.conditional += 1
                node.comparators[1:] = [self.visit(c) for c in node.comparators[1:]]
                self.conditional -= 1
                return node

            def refuse_here(self, node, what: str, instead: str) -> None:
                if before is None or self.conditional:
                    place = where or (
                        "a conditional expression (a if c else b, and, or, a < b < c)"
                    )
                    raise TypeProblem(node, f"{what} inside {place}: {instead}")

            def visit_Subscript(self, node):
                node = self.generic_visit(node)
                k = _item(node)
                if k is not None and isinstance(node.value, gast.Name):
                    if node.value.id in unpacker.items:
                        ids = unpacker.items[node.value.id]
                        return _names([ids[k]], gast.Load(), node)[0]
                if k is not None and _call_item(node, unpacker.types):
                    self.refuse_here(
                        node,
                        "indexing the tuple a call returns",
                        "unpack the call in a statement of its own first (a, b = g(x))",
                    )
                    return unpacker.unpacked(node.value, k, before)
                if _elements_of_elements(node, unpacker.types):  # x[i][j] -> x[i, j]
                    inner = node.value
                    index = gast.Tuple(
                        elts=_elements(inner.slice) + _elements(node.slice), ctx=gast.Load()
                    )
                    node.value, node.slice = inner.value, gast.copy_location(index, node)
                if _indexed_expression(node, unpacker.types):
                    self.refuse_here(
                        node,
                        "indexing the result of an expression (g(x)[0])",
                        "assign the result to a name in a statement of its own first",
                    )
                    node.value = unpacker.hoisted(node.value, before)
                return node

        return Reads().visit(expr)

    def unpacked(self, call: gast.Call, k: int, before: list) -> gast.Name:
        """The name of item ``k`` of ``call``'s tuple, ``call`` unpacked into ``before``."""
        kinds = expression_type(call, self.types, unknown=None).items
        ids = [self.names.fresh(base) for base in _item_names(call, len(kinds))]
        self.types.update(zip(ids, kinds, strict=True))
        before.append(_unpacking(ids, call, call))
        return _names([ids[k]], gast.Load(), call)[0]

    def hoisted(self, expr, before: list) -> gast.Name:
        """A fresh name for the array ``expr``, assigned ``expr`` in ``before``."""
        name = self.names.fresh(_expression_name(expr))
        self.types[name] = expression_type(expr, self.types, unknown=None)
        store = _names([name], gast.Store(), expr)[0]
        before.append(
            gast.copy_location(gast.Assign(targets=[store], value=expr, type_comment=None), expr)
        )
        return _names([name], gast.Load(), expr)[0]


#: Names of temporaries for the results of operators (``(a @ b)[0, 1]``: ``product``).
_OPERATOR_NAMES = {gast.MatMult: "product", gast.Mult: "product", gast.Add: "total"}


def _expression_name(expr) -> str:
    """A readable name for the value of ``expr``: ``sort_x`` for ``np.sort(x)``, ``x_0`` for
    ``x[0]``, ``product`` for ``a @ b``."""
    if isinstance(expr, gast.Call):
        func = expr.func
        base = func.attr if isinstance(func, gast.Attribute) else getattr(func, "id", "value")
        spelled = getattr(expr, "spelled", None)  # np.sort for its helper sort_along
        if spelled is not None and spelled.strip(".()").split(".")[-1].isidentifier():
            base = spelled.strip(".()").split(".")[-1]
        first = expr.args[0] if expr.args else None
        return f"{base}_{first.id}" if isinstance(first, gast.Name) else base
    if isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name):
        k = literal_int(expr.slice)
        return f"{expr.value.id}_{k}" if k is not None and k >= 0 else f"{expr.value.id}_part"
    if isinstance(expr, gast.BinOp):
        return _OPERATOR_NAMES.get(type(expr.op), "value")
    return "value"


def _item_names(call: gast.Call, count: int) -> list[str]:
    """Readable names of a call's items: the results' names of the primitive's tangent rule
    (``q``, ``r`` for ``np.linalg.qr``), else the function's name and the position."""
    callee = getattr(call, "callee", None)
    entry = entry_for(callee.target) if callee is not None else None
    rule = entry.tangent_rule(arrays=True) if entry is not None else None
    if rule is not None and len(rule.results) == count:
        return list(rule.results)
    func = call.func
    base = func.attr if isinstance(func, gast.Attribute) else getattr(func, "id", "item")
    return [f"{base}_{k}" for k in range(count)]
