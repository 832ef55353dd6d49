"""The supported subset: refuse everything else ahead of time, at the user's line.

``check_subset`` walks a parsed function once. It raises SourceADError for any construct
outside the subset and annotates every call node with ``node.callee`` (a Callee), so later
passes never look names up again.
"""

from __future__ import annotations

import inspect
import numbers
import types

import gast
import numpy as np
from sourcead_runtime import array_of, take_along

from ..rules.callees import COPY_METHODS, Callee, classify
from ..rules.forms import checkpoint_options, checkpointed
from ..rules.registry import rule_for
from ..rules.shapes import literal_int
from ..trees.codegen import dotted_name, src
from ..trees.functions import unwrap
from ..trees.queries import is_docstring, stored_names
from .form_checks import check_jvp_call, check_solver_call
from .source import ParsedFunction

_UNSUPPORTED_STATEMENTS = {
    gast.Try: "try statements",
    gast.TryStar: "try statements (except*)",
    gast.With: "with statements",
    gast.AsyncWith: "async functions (async with)",
    gast.AsyncFor: "async functions (async for)",
    gast.AsyncFunctionDef: "async functions (a nested async def)",
    gast.FunctionDef: "nested function definitions",
    gast.ClassDef: "class definitions",
    gast.Global: "global statements",
    gast.Nonlocal: "nonlocal statements",
    gast.Delete: "del statements",
    gast.Raise: "raise statements",
    gast.Assert: "assert statements",
    gast.Import: "import statements",
    gast.ImportFrom: "import statements",
    gast.Match: "match statements",
    gast.AnnAssign: "annotated assignments",
}

_UNSUPPORTED_EXPRESSIONS = {
    gast.ListComp: "list comprehensions",
    gast.SetComp: "set comprehensions",
    gast.DictComp: "dict comprehensions",
    gast.GeneratorExp: "generator expressions",
    gast.Lambda: "lambda expressions",
    gast.Yield: "generators (yield)",
    gast.YieldFrom: "generators (yield from)",
    gast.Await: "async functions (await)",
    gast.NamedExpr: "assignment expressions (:=)",
    gast.List: "list literals",
    gast.Set: "set literals",
    gast.Dict: "dict literals",
    gast.JoinedStr: "f-strings",
    gast.Starred: "starred expressions",
}

# Named as written: "the operator BitAnd" would send a reader to the ast module.
_OPERATOR_SYMBOLS = {
    gast.BitAnd: "&", gast.BitOr: "|", gast.BitXor: "^", gast.LShift: "<<", gast.RShift: ">>"
}  # fmt: skip

_OPERATORS = (
    gast.Add, gast.Sub, gast.Mult, gast.Div, gast.FloorDiv, gast.Mod, gast.Pow, gast.MatMult,
    # of integers and booleans (masks combined: (r < rc) & (r > 0)), without derivatives
    gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift,
)  # fmt: skip
_ARRAY_ATTRIBUTES = {"shape", "size", "ndim"}


def check_subset(fn: ParsedFunction) -> None:
    """Raise SourceADError at the first construct of ``fn`` outside the subset."""
    _SubsetChecker(fn).run()


class _SubsetChecker:
    def __init__(self, fn: ParsedFunction):
        self.fn = fn
        self.locals = set(fn.params)
        for node in gast.walk(fn.node):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                self.locals.add(node.id)
        self.loop_depth = 0
        self.rewritten = False  # whether the check rewrote a call (np.take's indices)

    def run(self) -> None:
        args = self.fn.node.args
        for present, what in (
            (args.vararg, "*args parameters"),
            (args.kwarg, "**kwargs parameters"),
            (args.kwonlyargs, "keyword-only parameters"),
            (args.posonlyargs, "positional-only parameters"),
        ):
            if present:
                raise self.fn.error(f"{what} are not supported by sourcead", self.fn.node)
        # before the body: a generator's first refusal would otherwise name a statement
        yield_ = _first_yield(self.fn.node)
        if yield_ is not None:
            self.expression(yield_)
        self.block(self.fn.node.body, top=True)
        _check_read_after_assignment(self.fn, self.locals)
        _check_assigned_on_every_branch(self.fn)
        if self.rewritten:  # the generated module's copy of the function: as rewritten
            self.fn.source_text = src(self.fn.node)

    # --- statements ------------------------------------------------------------------
    def block(self, body: list[gast.stmt], top: bool = False) -> None:
        for index, stmt in enumerate(body):
            if top and index == 0 and is_docstring(stmt):
                continue
            self.statement(stmt)

    def statement(self, stmt: gast.stmt) -> None:
        fn = self.fn
        for kind, what in _UNSUPPORTED_STATEMENTS.items():
            if isinstance(stmt, kind):
                raise fn.error(f"{what} are not supported by sourcead", stmt)
        if isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                self.target(target, stmt.value)
            self.expression(stmt.value)
            if any(isinstance(t, gast.Tuple) for t in stmt.targets) and not (
                isinstance(stmt.value, gast.Tuple | gast.Call) or _is_shape(stmt.value)
            ):
                raise fn.error("tuple unpacking of a value other than a tuple or a call", stmt)
        elif isinstance(stmt, gast.AugAssign):
            if not isinstance(stmt.op, _OPERATORS):
                raise fn.error(f"the operator {_symbol(stmt.op)}= is not supported", stmt)
            self.target(stmt.target)
            if not isinstance(stmt.target, gast.Name | gast.Subscript):
                raise fn.error("augmented assignment to a tuple", stmt)
            self.expression(stmt.value)
        elif isinstance(stmt, gast.If):
            self.expression(stmt.test, condition=True)
            self.block(stmt.body)
            self.block(stmt.orelse)
        elif isinstance(stmt, gast.For):
            self.for_loop(stmt)
        elif isinstance(stmt, gast.While):
            if stmt.orelse:
                raise fn.error("while ... else is not supported", stmt)
            self.expression(stmt.test, condition=True)
            self.loop_body(stmt.body)
        elif isinstance(stmt, gast.Break | gast.Continue):
            if self.loop_depth == 0:
                raise fn.error(f"'{type(stmt).__name__.lower()}' outside a loop", stmt)
        elif isinstance(stmt, gast.Return):
            if stmt.value is None:
                raise fn.error("a function to differentiate must return a value", stmt)
            self.expression(stmt.value)
        elif isinstance(stmt, gast.Expr):
            if isinstance(stmt.value, gast.Constant) and isinstance(stmt.value.value, str):
                return  # a string used as a comment
            if not isinstance(stmt.value, gast.Call):
                if isinstance(stmt.value, tuple(_UNSUPPORTED_EXPRESSIONS)):
                    self.expression(stmt.value)  # names it: a lambda, an f-string, :=...
                raise fn.error("an expression statement that is not a call", stmt)
            self.expression(stmt.value)
            if stmt.value.callee.kind != "user":
                raise fn.error(
                    "a call whose result is unused (only calls of your own functions, "
                    "which may write into arrays, may stand alone)",
                    stmt,
                )
        elif isinstance(stmt, gast.Pass):
            pass
        else:
            raise fn.error(f"{type(stmt).__name__} statements are not supported", stmt)

    def for_loop(self, stmt: gast.For) -> None:
        fn = self.fn
        if stmt.orelse:
            raise fn.error("for ... else is not supported", stmt)
        if not isinstance(stmt.target, gast.Name):
            raise fn.error("for loops must have a single name as target", stmt)
        iterator = stmt.iter
        if isinstance(iterator, gast.Call) and self._is_checkpointed(iterator.func):
            if self.loop_depth > 0:
                raise fn.error("a checkpointed loop must not be inside another loop", stmt)
            stmt.checkpoint = checkpoint_options(fn, stmt, iterator)
            for option in stmt.checkpoint.values():
                self.expression(option)
            if not iterator.args:
                raise fn.error("checkpointed() takes the loop's range(...) first", stmt)
            stmt.iter = iterator = iterator.args[0]
            fn.checkpointed_loops = True
        if not (
            isinstance(iterator, gast.Call)
            and isinstance(iterator.func, gast.Name)
            and iterator.func.id not in self.locals
            and fn.namespace.get(iterator.func.id, range) is range
            and 1 <= len(iterator.args) <= 3
            and not iterator.keywords
        ):
            raise fn.error("for loops must iterate over range(...)", stmt)
        self.expression(iterator)
        self.loop_body(stmt.body)

    def _is_checkpointed(self, func: gast.expr) -> bool:
        """Whether ``func`` names sourcead.checkpointed (loops marked for checkpointing)."""
        dotted = dotted_name(func)
        if dotted is None or dotted.split(".")[0] in self.locals:
            return False
        try:
            return self.fn.resolve(func) is checkpointed
        except (KeyError, AttributeError):
            return False

    def loop_body(self, body: list[gast.stmt]) -> None:
        self.loop_depth += 1
        self.block(body)
        self.loop_depth -= 1

    def target(self, target: gast.expr, value: gast.expr | None = None) -> None:
        """Check an assignment's target; ``value`` is what a tuple target unpacks."""
        if isinstance(target, gast.Name):
            return
        if isinstance(target, gast.Tuple):
            for element in target.elts:
                if isinstance(element, gast.Starred):
                    raise self.fn.error(
                        "starred assignment targets (a, *b = ...) are not supported by sourcead",
                        target,
                    )
                if isinstance(element, gast.Subscript) and isinstance(value, gast.Tuple):
                    self.target(element)  # b[i], b[j] = b[j], b[i]: normalize splits it
                elif not isinstance(element, gast.Name):
                    raise self.fn.error(
                        "tuple targets must be names, or elements (b[i], b[j] = b[j], b[i]) "
                        "with a tuple of values written out",
                        target,
                    )
            return
        if isinstance(target, gast.Subscript):
            if not isinstance(target.value, gast.Name):
                raise self.fn.error(
                    "element assignment must be to a named array (a write into the result of "
                    "an expression, g(x)[0] = v, is not supported: assign it to a name first)",
                    target,
                )
            self.index(target.slice)
            return
        if isinstance(target, gast.Attribute):
            raise self.fn.error(
                f"assignment to an attribute (.{target.attr} = ...) is not supported by sourcead",
                target,
            )
        raise self.fn.error(f"assignment to {type(target).__name__}", target)

    # --- expressions -----------------------------------------------------------------
    def expression(self, node: gast.expr, condition: bool = False) -> None:
        fn = self.fn
        if isinstance(node, gast.ListComp | gast.GeneratorExp):  # left by frontend.desugar
            what = _UNSUPPORTED_EXPRESSIONS[type(node)]
            raise fn.error(
                f"{what} are not supported by sourcead here: a comprehension is read as the "
                "argument of np.array, sum, min or max",
                node,
            )
        for kind, what in _UNSUPPORTED_EXPRESSIONS.items():
            if isinstance(node, kind):
                raise fn.error(f"{what} are not supported by sourcead", node)
        if isinstance(node, gast.Name):
            if node.id not in self.locals:
                self.global_value(node)
        elif isinstance(node, gast.Constant):
            if not isinstance(node.value, bool | int | float | complex):
                raise fn.error(f"the constant {node.value!r} is not a number", node)
        elif isinstance(node, gast.BinOp):
            if not isinstance(node.op, _OPERATORS):
                raise fn.error(f"the operator {_symbol(node.op)} is not supported", node)
            self.expression(node.left)
            self.expression(node.right)
        elif isinstance(node, gast.UnaryOp):
            self.expression(node.operand, condition)
        elif isinstance(node, gast.BoolOp):
            if not condition:
                raise fn.error(
                    "'and'/'or' are supported in conditions (if, while, a if c else b) only",
                    node,
                )
            for value in node.values:
                self.expression(value, condition=True)
        elif isinstance(node, gast.Compare):
            for op in node.ops:
                if isinstance(op, gast.In | gast.NotIn | gast.Is | gast.IsNot):
                    raise fn.error("'in' and 'is' comparisons are not supported", node)
            self.expression(node.left)
            for comparator in node.comparators:
                self.expression(comparator)
        elif isinstance(node, gast.IfExp):
            self.expression(node.test, condition=True)
            self.expression(node.body)
            self.expression(node.orelse)
        elif isinstance(node, gast.Call):
            self.call(node)
        elif isinstance(node, gast.Attribute):
            self.attribute(node)
        elif isinstance(node, gast.Subscript):
            # any value read: np.sort(x)[::-1], (a @ b)[0, 1], x[0][idx], np.linalg.qr(a)[1];
            # lowering/tuple_items.py names it (its type says how) before it is indexed
            if isinstance(node.value, gast.Tuple | gast.List):
                raise fn.error("indexing a tuple written out ((a, b)[0]): use its item", node)
            if isinstance(node.value, gast.Attribute) and node.value.attr != "shape":
                raise fn.error("indexing of an attribute other than .shape", node)
            self.expression(node.value)
            self.index(node.slice)
        elif isinstance(node, gast.Tuple):
            for element in node.elts:
                self.expression(element)
        else:
            raise fn.error(f"{type(node).__name__} expressions are not supported", node)

    def named_callee(self, node: gast.Call) -> None:
        """Refuse, as a call, a call of what is no dotted name ("a".upper()) or of a global
        function sourcead has no rule for (global_value says "the global print is not a
        number")."""
        func = node.func
        if dotted_name(func) is None:
            raise self.fn.error(
                "calls of something other than a named function (f(x), np.sin(x), a.copy()) "
                "are not supported by sourcead",
                node,
            )
        if not isinstance(func, gast.Name) or func.id in self.locals:
            return
        try:
            value = self.fn.lookup(func.id)
        except KeyError:
            return  # global_value says it is not defined
        if classify(value) is None and not isinstance(value, numbers.Number):
            raise self.no_rule(node)

    def call_by_name(self, node: gast.Call, target) -> None:
        """``helpers.sq(x)``, a function of yours called as a module's attribute, becomes
        ``sq(x)``: the generated module defines its copy of ``sq`` under that name."""
        name = getattr(unwrap(target), "__name__", None)
        known = self.fn.namespace.get(name, target) if name else None
        if name is None or name in self.locals or unwrap(known) is not unwrap(target):
            raise self.fn.error(
                f"{dotted_name(node.func)}(...) calls a function of yours whose name {name} "
                "means something else here: import it under its name (from module import "
                f"{name})",
                node,
            )
        called = gast.copy_location(
            gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None), node.func
        )
        called.global_value = target
        node.func = called
        self.fn.calls_rewritten = True  # its copy in the generated module is written anew

    def no_rule(self, node: gast.Call):
        """The refusal of a call of a function without a derivative rule."""
        dotted = dotted_name(node.func)
        if dotted == "print":
            return self.fn.error(
                "print(...) is not supported by sourcead; with compile=False the generated "
                "code runs as plain Python, where print and pdb work",
                node,
            )
        return self.fn.error(
            f"sourcead has no derivative rule for {dotted}; use one of the supported "
            f"functions, or register a rule with @sourcead.adjoint({dotted})",
            node,
        )

    def indices_written_out(self, call: gast.Call) -> None:
        """``np.take(x, [0, 2, 2])`` (``take_along`` after the array syntax pass) takes a
        vector of integers: the list or tuple of integers written out becomes one,
        ``array_of((0, 2, 2))`` as ``np.array([0, 2, 2])`` is written."""
        written = call.args[1]
        func = gast.Name(id=array_of.__name__, ctx=gast.Load(), annotation=None, type_comment=None)
        func.global_value = array_of
        items = gast.Tuple(elts=list(written.elts), ctx=gast.Load())
        vector = gast.Call(func=func, args=[items], keywords=[])
        for node in (func, items, vector):
            gast.copy_location(node, written)
        call.args[1] = vector
        self.rewritten = True

    def index(self, index: gast.expr) -> None:
        elements = index.elts if isinstance(index, gast.Tuple) else [index]
        ellipses = [e for e in elements if isinstance(e, gast.Constant) and e.value is Ellipsis]
        if len(ellipses) > 1:
            raise self.fn.error("an index with more than one ... (NumPy takes one)", index)
        for element in elements:
            if isinstance(element, gast.Constant) and element.value is Ellipsis:
                continue  # x[..., 0]: the type inference writes out the axes it stands for
            if isinstance(element, gast.Constant) and isinstance(element.value, str):
                raise self.fn.error(
                    f"indexing with the string {element.value!r}: sourcead takes numbers and "
                    "arrays (pass a dict's values as arguments of their own)",
                    element,
                )
            if isinstance(element, gast.Slice):  # basic slicing a[1:-1], a[::2]
                for part in (element.lower, element.upper, element.step):
                    if part is not None:
                        self.expression(part)
            elif not (isinstance(element, gast.Constant) and element.value is None):  # new axis
                self.expression(element)

    def attribute(self, node: gast.Attribute) -> None:
        if isinstance(node.value, gast.Name) and node.value.id in self.locals:
            if node.attr not in _ARRAY_ATTRIBUTES:
                raise self.fn.error(f"the attribute .{node.attr} is not supported", node)
            return
        if isinstance(node.value, gast.Subscript) and _subscripted_name(node.value) in self.locals:
            if node.attr not in _ARRAY_ATTRIBUTES:  # a[1:].size, m[0].shape
                raise self.fn.error(f"the attribute .{node.attr} is not supported", node)
            self.expression(node.value)
            return
        if dotted_name(node) is None and node.attr in _ARRAY_ATTRIBUTES:
            self.expression(node.value)  # np.sort(x).shape[0], (a @ b).T: of the value's type
            return
        value = self.global_value(node)
        if not isinstance(value, numbers.Number):
            raise self.fn.error(f"{dotted_name(node)} used as a value (not a number)", node)

    def global_value(self, node: gast.expr):
        """The object a free name or dotted name refers to."""
        if hasattr(node, "global_value"):  # resolved already (array methods as functions)
            return node.global_value
        dotted = dotted_name(node)
        if dotted is None:
            raise self.fn.error("this expression is not supported", node)
        try:
            value = self.fn.lookup_dotted(dotted)
        except (KeyError, AttributeError):
            raise self.fn.error(f"the name {dotted} is not defined", node) from None
        node.global_value = value
        if isinstance(node, gast.Name) and not isinstance(value, numbers.Number | types.ModuleType):
            if classify(value) is None:
                raise self.fn.error(f"the global {dotted} is not a number", node)
        return value

    def call(self, node: gast.Call) -> None:
        fn = self.fn
        func = node.func
        if (
            isinstance(func, gast.Attribute)
            and isinstance(func.value, gast.Name)
            and func.value.id in self.locals
        ):
            if func.attr not in COPY_METHODS or node.args or node.keywords:
                raise fn.error(f"the method .{func.attr}(...) is not supported", node)
            node.callee = Callee("copy", None)
            return
        self.named_callee(node)
        target = self.global_value(func)
        callee = classify(target)
        if callee is None:
            raise self.no_rule(node)
        node.callee = callee
        if target is take_along and len(node.args) > 1 and _integer_literal(node.args[1]):
            self.indices_written_out(node)
        if callee.kind == "solver":  # fixed_point, root, odeint
            check_solver_call(self, node)
            return
        if callee.kind == "jvp":  # sourcead.jvp(f, primals, tangents): reverse over forward
            check_jvp_call(self, node)
            return
        if callee.kind == "primitive":
            raise fn.error(
                f"{dotted_name(func)} is marked @sourcead.primitive but has no derivative rule; "
                f"register one with @sourcead.adjoint({dotted_name(func)})",
                node,
            )
        if callee.kind == "rule" and node.keywords:
            check_rule_keywords(fn, node, dotted_name(func))
        elif callee.kind == "user":
            _bind_arguments(fn, node, target, dotted_name(func))
            if isinstance(func, gast.Attribute):
                self.call_by_name(node, target)
        if callee.kind == "constructor":
            if len(node.args) == 2 and not any(k.arg == "dtype" for k in node.keywords):
                # np.zeros(n, np.complex128), np.ones_like(x, float): the dtype by position
                node.keywords.append(gast.keyword(arg="dtype", value=node.args.pop()))
            for keyword in node.keywords:
                if keyword.arg != "dtype":
                    raise fn.error(f"the keyword {keyword.arg}= is not supported here", node)
        for arg in node.args:
            if callee.kind == "forward_only" and _is_none(arg):
                continue  # expand_reduced(g, shape, None): a reduction over every axis
            if callee.kind in ("rule", "forward_only") and _is_string(arg):
                continue  # pad_of(x, 1, "edge", 0.0), cast_as(x, "float32"): rules/shaping.py
            self.expression(arg)
        if callee.kind == "rule":
            for keyword in node.keywords:
                if not _is_string(keyword.value):  # fft_along(x, norm="ortho"): rules/fft.py
                    self.expression(keyword.value)
        if callee.kind == "constructor":
            for keyword in node.keywords:
                keyword.value = self.dtype_value(keyword.value)

    def dtype_value(self, node: gast.expr) -> gast.expr:
        """A ``dtype=`` of a constructor: a NumPy type (``np.complex128``), or Python's
        ``float``, ``complex``, ``int`` or ``bool`` written as the NumPy type NumPy reads
        them as (Numba's ``np.zeros`` takes no ``dtype=complex``)."""
        if isinstance(node, gast.Name) and node.id not in self.locals:
            try:
                value = self.fn.lookup(node.id)
            except KeyError:
                value = None
            if value in _PYTHON_DTYPES:
                numpy_type = _PYTHON_DTYPES[value]
                spelled = gast.Attribute(
                    value=gast.Name(id="np", ctx=gast.Load(), annotation=None, type_comment=None),
                    attr=numpy_type.__name__,
                    ctx=gast.Load(),
                )
                spelled.global_value = numpy_type
                return gast.copy_location(spelled, node)
        self.global_value(node)
        return node


#: Python's types as dtypes, and the NumPy types NumPy reads them as.
_PYTHON_DTYPES = {float: np.float64, complex: np.complex128, int: np.int64, bool: np.bool_}


def _check_assigned_on_every_branch(fn: ParsedFunction) -> None:
    """Refuse a read, after a top-level ``if``, of a name that the ``if`` assigns in one
    branch only and nothing assigns before it (``if y > 100: t = 1.0`` then ``y + t``).

    Python raises UnboundLocalError there when the other branch runs; compiled, the
    derivative would read whatever Numba left in the name. A branch that ends in ``return``
    does not go on, so the other's names count. Loops are taken as assigning what they
    assign (Python's own check at run time stays theirs).
    """
    assigned = set(fn.params)  # on every path so far
    one_branch: set[str] = set()

    def returns(block: list) -> bool:
        return bool(block) and isinstance(block[-1], gast.Return)

    def check(node) -> None:
        name = _first_read(node, one_branch - assigned)
        if name is not None:
            raise fn.error(
                f"{name.id} may be unbound here: an if above assigns it in one branch only "
                "(Python raises UnboundLocalError when the other runs); assign it before the "
                "if, or in every branch",
                name,
            )

    for stmt in fn.node.body:
        if isinstance(stmt, gast.If):
            check(stmt.test)
            body, orelse = stored_names(stmt.body), stored_names(stmt.orelse)
            if returns(stmt.body):
                after = orelse
            elif returns(stmt.orelse):
                after = body
            else:
                after = body & orelse
            one_branch |= (body | orelse) - after
            assigned |= after
        elif isinstance(stmt, gast.For | gast.While):
            check(stmt.iter if isinstance(stmt, gast.For) else stmt.test)
            assigned |= stored_names([stmt])
        else:
            check(stmt)
            assigned |= stored_names([stmt])


def _first_read(node, names: set[str]) -> gast.Name | None:
    """The first read in ``node`` of one of ``names``, or None."""
    for name in gast.walk(node):
        if isinstance(name, gast.Name) and isinstance(name.ctx, gast.Load) and name.id in names:
            return name
    return None


def _check_read_after_assignment(fn: ParsedFunction, local_names: set[str]) -> None:
    """Refuse a local name read above every line that assigns it.

    Python raises UnboundLocalError at such a read, unless an earlier loop iteration has
    assigned the name; Numba, which compiles the generated code, refuses both. Statements
    are taken in the order of the source, each reading before it assigns.
    """
    assigned = set(fn.params)

    def read(node) -> None:
        name = _first_read(node, local_names - assigned)
        if name is not None:
            raise fn.error(
                f"{name.id} is read above every line that assigns it; assign it before "
                "this line (Python raises UnboundLocalError here unless an earlier loop "
                "iteration assigned it, and Numba, which compiles the derivative, refuses it)",
                name,
            )

    def assign(target) -> None:
        read(target)  # the indices of element writes
        assigned.update(
            n.id
            for n in gast.walk(target)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
        )

    def visit(block: list) -> None:
        for stmt in block:
            if isinstance(stmt, gast.If | gast.While):
                read(stmt.test)
            elif isinstance(stmt, gast.For):
                read(stmt.iter)
                assign(stmt.target)
            elif isinstance(stmt, gast.Assign | gast.AugAssign):
                read(stmt.value)
                targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(stmt, gast.AugAssign) and isinstance(target, gast.Name):
                        x = gast.Name(target.id, gast.Load(), None, None)  # x += 1 reads x
                        read(gast.copy_location(x, target))
                    assign(target)
            else:
                read(stmt)
            if isinstance(stmt, gast.If | gast.For | gast.While):
                visit(stmt.body)
                visit(stmt.orelse)

    visit(fn.node.body)


def _integer_literal(node) -> bool:
    """Whether ``node`` is a list or tuple of integers written out (``[0, 2, -1]``)."""
    return (
        isinstance(node, gast.List | gast.Tuple)
        and len(node.elts) > 0
        and all(literal_int(e) is not None for e in node.elts)
    )


def _is_string(node) -> bool:
    return isinstance(node, gast.Constant) and isinstance(node.value, str)


def check_rule_keywords(fn: ParsedFunction, node: gast.Call, dotted: str) -> None:
    """Keyword arguments of a primitive must be the keyword parameters of its rule."""
    rule = rule_for(node.callee.target, arrays=True)
    allowed = {name for name, _ in rule.defaults} if rule is not None else set()
    # a positional parameter given by keyword (np.clip(x, a_min=0.0, a_max=1.0)) moves to its
    # place when the arguments before it are given
    places = _positional_places(node.callee.target)
    positional = len(rule.positional) if rule is not None else 0
    moved = sorted(
        (places[k.arg], k) for k in node.keywords if k.arg not in allowed and k.arg in places
    )
    for place, keyword in moved:
        if place == len(node.args) and place < positional:
            node.args.append(keyword.value)
            node.keywords.remove(keyword)
    for keyword in node.keywords:
        if keyword.arg not in allowed:
            raise fn.error(f"the keyword {keyword.arg}= in calls to {dotted}", node)


def _positional_places(function) -> dict[str, int]:
    """The places of ``function``'s parameters that may be given by position or keyword
    (none where Python cannot tell its signature, as for ufuncs)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    return {p.name: k for k, p in enumerate(parameters) if p.kind in kinds}


def _symbol(op: gast.operator) -> str:
    """An operator as written in the source (``&``), else its AST name."""
    return _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)


def _first_yield(function: gast.FunctionDef) -> gast.expr | None:
    """The first ``yield`` (or ``yield from``) of ``function`` itself, not of a definition
    nested in it (refused as such), or None: whether it is a generator."""
    found = []

    def visit(node: gast.AST) -> None:
        for child in gast.iter_child_nodes(node):
            if isinstance(child, gast.Yield | gast.YieldFrom):
                found.append(child)
            elif not isinstance(
                child, gast.FunctionDef | gast.AsyncFunctionDef | gast.Lambda | gast.ClassDef
            ):
                visit(child)

    visit(function)
    return min(found, key=lambda node: (node.lineno, node.col_offset), default=None)


def _is_shape(node) -> bool:
    return isinstance(node, gast.Attribute) and node.attr == "shape"


def _is_none(node) -> bool:
    return isinstance(node, gast.Constant) and node.value is None


def _subscripted_name(node: gast.Subscript) -> str | None:
    """``a`` for ``a[1:]`` and ``a[0][1:]``; None when the subscripted value is no name."""
    while isinstance(node, gast.Subscript):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


def _bind_arguments(fn: ParsedFunction, node: gast.Call, target, spelled: str) -> None:
    """The call ``node`` of the user's function ``target`` with every argument by position:
    keywords put in their places, and the defaults of the parameters not given written in
    (numbers, True and False; the function reads them as constants)."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return  # no signature to read: the call is checked as it is written
    parameters = list(signature.parameters.values())
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return  # *args and **kwargs are refused where the function is read
    if any(k.arg is None for k in node.keywords) or any(
        isinstance(a, gast.Starred) for a in node.args
    ):
        raise fn.error(f"*args or **kwargs in a call of {spelled}", node)
    if len(node.args) > len(parameters):
        return  # too many arguments: refused with the number the function takes
    given = dict(zip((p.name for p in parameters), node.args, strict=False))
    for keyword in node.keywords:
        names = [p.name for p in parameters if p.kind != p.POSITIONAL_ONLY]
        if keyword.arg not in names:
            raise fn.error(f"{spelled}() has no parameter {keyword.arg}", node)
        if keyword.arg in given:
            raise fn.error(f"{spelled}() is given {keyword.arg} twice", node)
        given[keyword.arg] = keyword.value
    arguments = []
    for p in parameters:
        if p.name in given:
            arguments.append(given[p.name])
            continue
        default = p.default
        if default is p.empty:
            raise fn.error(f"{spelled}() is called without its argument {p.name}", node)
        if not isinstance(default, bool | numbers.Number):
            raise fn.error(
                f"{spelled}() is called without {p.name}, whose default is not a number "
                f"({default!r}): pass it in the call",
                node,
            )
        arguments.append(gast.copy_location(gast.Constant(value=default, kind=None), node))
    node.args, node.keywords = arguments, []
