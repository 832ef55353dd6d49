"""Forward mode: the tangent of a normalised function, as Python source.

The generated function runs the user's statements unchanged and, just before each
statement that assigns an active value, a statement computing that value's tangent
(``dx`` beside ``x``) from the tangents of what it reads. Control flow is the user's own:
no tape, no second sweep. Tangents of expressions come from the tangent rules in
``rules/`` (``rules/parsing.py`` describes their format).

In *vector* mode one sweep carries ``ndir`` directions at once: the tangent of a scalar is
a length-``ndir`` array and the tangent of an array has an extra trailing axis. Each
tangent statement then becomes a short loop over the directions, ``for q in range(ndir):
ds[q] = ds[q] * x + s * dx[q]``, written into buffers allocated once, so the hot loop
allocates nothing.
"""

from __future__ import annotations

import copy
import operator

import gast

from ..analysis.activity import active_names, differentiable_reads
from ..analysis.inference import expression_type
from ..analysis.types import Array, Scalar
from ..frontend.normalize import is_permutation, name, permutation_partners
from ..rules.callees import JOINING
from ..rules.operators import OPERATOR_FUNCTIONS
from ..rules.registry import entries, spelling, tangent_rule_for
from ..rules.templates import simplify
from ..trees.codegen import Block, function_tree, index_source, src
from ..trees.names import NameGenerator
from ..trees.queries import element_written, stored_names
from .aliases import refuse_changed_aliases
from .dead_code import without_dead_stores

#: Every operator's function, whose tangent rule forward mode uses: those whose adjoints
#: reverse mode reads (``OPERATOR_FUNCTIONS``), and floor division and matrix products.
_OPERATORS = {
    **OPERATOR_FUNCTIONS,
    gast.FloorDiv: operator.floordiv,
    gast.MatMult: operator.matmul,
}

#: Placeholder for a tangent known to be zero; folded away, or written as ``0.0``.
_ZERO = "__sourcead_zero__"


def _zero() -> gast.Name:
    return name(_ZERO)


def is_zero(node) -> bool:
    return isinstance(node, gast.Name) and node.id == _ZERO


class TangentGenerator:
    """Generates one tangent function.

    Args:
        fn: the parsed user function (for error locations).
        node: its normalised tree.
        types: the type of every name (from ``TypeInference``).
        wrt: the parameters whose tangents the function takes (after all parameters).
        function_name: the name of the generated function.
        callee_tangent: ``(call_node, active_argument_mask) -> name`` of the tangent
            function generated for a call of a user function.
        vector: generate vector mode (``ndir`` directions per sweep).
        flat_results: a function returning a tuple returns its values and their tangents
            in one flat tuple, ``return x, s, dx, ds``, as the tangents of called functions
            do (their calls then unpack plain names, which keeps the generated code in the
            subset); else ``return (x, s), (dx, ds)``, as entry points do.
    """

    def __init__(
        self, fn, node, types, wrt, function_name, callee_tangent, vector=False, flat_results=False
    ):
        self.fn = fn
        self.types = types
        self.params = [a.id for a in node.args.args]
        self.wrt = list(wrt)
        self.function_name = function_name
        self.callee_tangent = callee_tangent
        self.vector = vector
        self.flat_results = flat_results
        returned = node.body[-1].value
        self.outputs = (
            [e.id for e in returned.elts] if isinstance(returned, gast.Tuple) else [returned.id]
        )
        self.body = node.body[:-1]
        if not getattr(fn, "generated_code", False):  # (adjoints alias their tapes, rightly)
            refuse_changed_aliases(fn, node, self.body, types, self.outputs)
        self.active = active_names(self.body, set(wrt), set(self.outputs), types)
        self.names = NameGenerator(node)
        self.tangent_names: dict[str, str] = {}
        for p in self.params:  # parameters' tangents get their names first: dx beside x
            if p in self.wrt:
                self.d(p)
        if vector:
            self.ndir = self.names.fresh("ndir")
            self.q = self.names.fresh("q")
        self.assigned = stored_names(self.body)

    # --- names and tangent references --------------------------------------------------
    def d(self, n: str) -> str:
        """The name of the tangent of ``n``."""
        if n not in self.tangent_names:
            self.tangent_names[n] = self.names.fresh(f"d{n}")
        return self.tangent_names[n]

    def is_array(self, n: str) -> bool:
        return isinstance(self.types.get(n), Array)

    def ref(self, n: str) -> gast.expr:
        """The tangent of the scalar ``n`` (its direction ``q`` in vector mode)."""
        node = name(self.d(n))
        if self.vector:
            return gast.Subscript(value=node, slice=name(self.q), ctx=gast.Load())
        return node

    def element(self, array: str, index: gast.expr) -> gast.expr:
        """The tangent of ``array[index]`` (an element, or a slice)."""
        index = copy.deepcopy(index)
        if self.vector:
            elts = index.elts if isinstance(index, gast.Tuple) else [index]
            full = len(elts) == getattr(self.types.get(array), "ndim", -1) and not any(
                isinstance(e, gast.Slice) for e in elts
            )
            if not full:  # the direction axis is the last one, after the sliced axes
                elts = [*elts, gast.Constant(value=Ellipsis, kind=None)]
            index = gast.Tuple(elts=[*elts, name(self.q)], ctx=gast.Load())
        return gast.Subscript(value=name(self.d(array)), slice=index, ctx=gast.Load())

    def whole(self, array: str) -> gast.expr:
        """The tangent of the whole array ``array`` (direction ``q`` in vector mode)."""
        if not self.vector:
            return name(self.d(array))
        index = [gast.Constant(value=Ellipsis, kind=None), name(self.q)]
        return gast.Subscript(
            value=name(self.d(array)),
            slice=gast.Tuple(elts=index, ctx=gast.Load()),
            ctx=gast.Load(),
        )

    def zeros_like(self, n: str) -> str:
        """Source of a zero tangent for the value held by ``n``."""
        if self.is_array(n):
            if self.vector:
                return f"np.zeros({n}.shape + ({self.ndir},){self.array_dtype(n, n)})"
            return f"np.zeros({n}.shape{self.array_dtype(n, n)})"
        return f"np.zeros({self.ndir}{self.complex_dtype(n)})" if self.vector else "0.0"

    def complex_dtype(self, n: str) -> str:
        """``, dtype=np.complex128`` where ``n`` holds complex values (their tangents are
        complex), ``, dtype=np.float32`` where it holds float32 ones (as JAX's tangents);
        float64 tangents keep NumPy's default dtype."""
        value_type = self.types.get(n)
        kind, dtype = getattr(value_type, "kind", None), getattr(value_type, "dtype", None)
        if kind == "complex" or (kind == "float" and dtype == "float32"):
            return f", dtype=np.{dtype}"
        return ""

    def array_dtype(self, n: str, array: str) -> str:
        """``, dtype=...`` of the tangent of the array ``array`` (typed as ``n``): the array's
        own dtype in an adjoint differentiated again, whose names the passes made (a
        float32 matrix's adjoint stays float32 there), else ``complex_dtype``'s."""
        if getattr(self.fn, "generated_code", False):
            return f", dtype={array}.dtype"
        return self.complex_dtype(n)

    def has_active(self, expr) -> bool:
        return bool(differentiable_reads(expr) & self.active)

    # --- expressions ----------------------------------------------------------------------
    def tangent(self, expr) -> gast.expr:
        """The tangent of a scalar expression (``_ZERO`` when it has none)."""
        if isinstance(expr, gast.Name):
            if expr.id not in self.active:
                return _zero()
            return self.whole(expr.id) if self.is_array(expr.id) else self.ref(expr.id)
        if isinstance(expr, gast.Subscript):
            if isinstance(expr.value, gast.Name) and expr.value.id in self.active:
                return self.element(expr.value.id, expr.slice)
            return _zero()
        if not self.has_active(expr):
            return _zero()
        keywords: list = []
        if isinstance(expr, gast.BinOp):
            primitive, args = _OPERATORS.get(type(expr.op)), [expr.left, expr.right]
        elif isinstance(expr, gast.UnaryOp):
            if isinstance(expr.op, gast.Not):
                return _zero()
            primitive, args = _OPERATORS.get(type(expr.op)), [expr.operand]
        elif isinstance(expr, gast.Call) and expr.callee.kind in (
            "rule",
            "primitive",
            "forward_only",
        ):
            primitive, args, keywords = expr.callee.target, list(expr.args), expr.keywords
            if primitive in JOINING:
                return self.joining(expr)
        elif isinstance(expr, gast.Call) and expr.callee.kind == "copy":
            return self.tangent(expr.func.value)
        elif isinstance(expr, gast.Compare | gast.BoolOp | gast.Constant) or (
            isinstance(expr, gast.Call) and expr.callee.kind in ("nondiff", "constructor")
        ):
            return _zero()
        else:
            raise self.fn.error("forward mode does not support this expression yet", expr)
        # the array rule for arrays, and for complex numbers (|z|: not the real rule's sign)
        rule = tangent_rule_for(
            primitive, any(self.is_array_expr(a) or self.is_complex_expr(a) for a in args)
        )
        if rule is None:
            raise self.fn.error(
                f"{src(expr.func) if isinstance(expr, gast.Call) else type(expr.op).__name__} "
                "has no tangent rule (register one with @sourcead.tangent)",
                expr,
            )
        # the options of a rule (np.tril(x, k=0)) may be given by position or by keyword
        options = [name for name, _ in rule.defaults]
        if not len(rule.params) <= len(args) <= len(rule.params) + len(options):
            raise self.fn.error(
                f"{src(expr.func)} is differentiable with {len(rule.params)} argument(s), "
                f"called with {len(args)}",
                expr,
            )
        if rule.value is None:
            return _zero()
        passed_on = [k for k in keywords if k.arg not in options]
        if passed_on and rule.keywords is None:
            raise self.fn.error(
                f"forward mode does not support keyword arguments of {src(expr.func)}", expr
            )
        differentiable = args[: len(rule.params)]
        replacements = dict(zip(rule.params, differentiable, strict=True))
        given = dict(zip(options, args[len(rule.params) :], strict=False))
        given.update((k.arg, k.value) for k in keywords if k.arg in options)
        for option, default in rule.defaults:
            replacements[option] = given.get(option, default)
        for tangent_param, arg in zip(rule.tangent_params, differentiable, strict=True):
            replacements[tangent_param] = self.tangent(arg)
        value = _Substitute(replacements, rule.keywords, passed_on).visit(copy.deepcopy(rule.value))
        return fold(simplify(value))

    def new_array_tangent(
        self, array: str, tangent_name: str, tangent, typed_as: str | None = None
    ) -> list:
        """Lines making ``tangent_name``, a new array holding the tangent of ``array`` (whose
        type is that of ``typed_as`` when given: a fresh name has none)."""
        extra = f" + ({self.ndir},)" if self.vector else ""
        dtype = self.array_dtype(typed_as or array, array)
        lines = [f"{tangent_name} = np.empty({array}.shape{extra}{dtype})"]
        if is_zero(tangent):
            lines.append(f"{tangent_name}[...] = 0.0")
        elif self.vector:
            lines.extend(self.direction_loop(f"{tangent_name}[..., {self.q}]", tangent))
        else:
            lines.append(f"{tangent_name}[...] = {src(_render_zeros(tangent))}")
        return lines

    def several_results(self, stmt) -> list:
        """``w, v = np.linalg.eigh(a)``: the statement first, then each result's tangent from
        a rule that may read the results."""
        targets = [e.id for e in stmt.targets[0].elts]
        call = stmt.value
        if call.callee.kind not in ("rule", "primitive"):
            raise self.fn.error("forward mode does not support this statement yet", stmt)
        active = [t for t in targets if t in self.active]
        if not active:
            return [src(stmt)]
        arrays = any(self.is_array_expr(a) for a in call.args)
        rule = tangent_rule_for(call.callee.target, arrays)
        if rule is None or len(rule.results) != len(targets):
            raise self.fn.error(
                f"forward mode has no tangent rule for {src(call.func)} with {len(targets)} "
                "results",
                stmt,
            )
        read = {n.id for n in gast.walk(call) if isinstance(n, gast.Name)}
        if read & set(targets):
            raise self.fn.error("the results overwrite the arguments (use new names)", stmt)
        replacements = dict(zip(rule.params, call.args, strict=True))
        for tangent_param, arg in zip(rule.tangent_params, call.args, strict=True):
            replacements[tangent_param] = self.tangent(arg)
        for result, target in zip(rule.results, targets, strict=True):
            replacements[result] = name(target)
        lines = [src(stmt)]
        for target, template in zip(targets, rule.value.elts, strict=True):
            if target not in active:
                continue
            if isinstance(template, gast.Constant) and template.value is None:
                tangent = _zero()
            else:
                substituted = _Substitute(replacements, rule.keywords, call.keywords).visit(
                    copy.deepcopy(template)
                )
                tangent = fold(simplify(substituted))
            if self.is_array(target):
                lines.extend(self.new_array_tangent(target, self.d(target), tangent))
            else:
                lines.extend(self.tangent_line(self.ref(target), tangent, self.d(target)))
        return lines

    def joining(self, call) -> gast.expr:
        """``np.concatenate((a, b))``: the tangents joined the same way (zeros for constants)."""
        parts = call.args[0]
        if not isinstance(parts, gast.Tuple):
            raise self.fn.error("forward mode joins tuples written out: (a, b)", call)

        def tangents(parts: gast.Tuple) -> gast.Tuple:  # nested in np.array([[a, b], [c, d]])
            elts = []
            for part in parts.elts:
                if isinstance(part, gast.Tuple):
                    elts.append(tangents(part))
                    continue
                t = self.tangent(part)
                if is_zero(t) and self.is_array_expr(part):
                    t = gast.Call(
                        func=_dotted("np.zeros_like"), args=[copy.deepcopy(part)], keywords=[]
                    )
                elts.append(gast.Constant(value=0.0, kind=None) if is_zero(t) else t)
            return gast.Tuple(elts=elts, ctx=gast.Load())

        joined = copy.deepcopy(call)
        joined.args = [tangents(parts), *joined.args[1:]]
        return joined

    def is_complex_expr(self, expr) -> bool:
        if isinstance(expr, gast.Constant):
            return isinstance(expr.value, complex)
        return getattr(expression_type(expr, self.types), "kind", None) == "complex"

    def is_array_expr(self, expr) -> bool:
        if isinstance(expr, gast.Name):
            return self.is_array(expr.id)
        if isinstance(expr, gast.Constant):
            return False

        return isinstance(expression_type(expr, self.types), Array)

    def tangent_line(self, target: gast.expr, value: gast.expr, whole: str | None = None):
        """Lines assigning the tangent ``value`` to ``target`` (a reference from ref/element).

        ``whole`` is the tangent name when the target is a scalar's whole tangent (for
        writing a zero into all its directions at once in vector mode).
        """
        if is_zero(value):
            if self.vector:
                if whole is not None:
                    return [f"{whole}[:] = 0.0"]
                return [f"{src(target.value)}[{_index_without_last(target)}] = 0.0"]
            return [f"{src(target)} = 0.0"]
        if src(target) == src(value):
            return []  # the tangent is unchanged (the value's other terms have none)
        if self.vector:
            return self.direction_loop(src(target), value)
        return [f"{src(target)} = {src(_render_zeros(value))}"]

    def direction_loop(self, target: str, value: gast.expr) -> list:
        """``for q in range(ndir): target = value``, with the NumPy calls that do not depend
        on the direction (``np.linalg.solve(a, b)``) computed once, before the loop."""
        lines: list = []
        q = self.q
        hoisted: dict[str, str] = {}  # source of a call -> its temporary

        class Hoist(gast.NodeTransformer):
            def visit_Call(hoist, node):
                if _is_numpy_call(node) and not any(
                    isinstance(n, gast.Name) and n.id == q for n in gast.walk(node)
                ):
                    text = src(node)
                    if text not in hoisted:
                        hoisted[text] = self.names.fresh("common")
                        lines.append(f"{hoisted[text]} = {text}")
                    return name(hoisted[text])
                return hoist.generic_visit(node)

        value = Hoist().visit(_render_zeros(value))
        lines.append(Block(f"for {q} in range({self.ndir}):", [f"{target} = {src(value)}"]))
        return lines

    # --- statements -----------------------------------------------------------------------
    def block(self, body: list) -> list:
        lines: list = []
        for stmt in body:
            lines.extend(self.statement(stmt))
        return lines

    def statement(self, stmt) -> list:
        if isinstance(stmt, gast.Assign):
            if is_permutation(stmt):
                return self.permutation(stmt)
            value = stmt.value
            if isinstance(value, gast.Call) and value.callee.kind == "user":
                return self.user_call(stmt)
            if isinstance(stmt.targets[0], gast.Tuple) and isinstance(value, gast.Call):
                return self.several_results(stmt)
            if isinstance(stmt.targets[0], gast.Subscript):
                return self.element_assign(stmt)
            return self.name_assign(stmt)
        if isinstance(stmt, gast.If):
            lines = [Block(f"if {src(stmt.test)}:", self.block(stmt.body))]
            orelse = self.block(stmt.orelse)
            if orelse:
                lines.append(Block("else:", orelse))
            return lines
        if isinstance(stmt, gast.For):
            return [Block(f"for {stmt.target.id} in {src(stmt.iter)}:", self.block(stmt.body))]
        if isinstance(stmt, gast.While):
            return [Block(f"while {src(stmt.test)}:", self.block(stmt.body))]
        if isinstance(stmt, gast.Break):
            return ["break"]
        if isinstance(stmt, gast.Pass):
            return []
        if isinstance(stmt, gast.Expr):
            raise self.fn.error("a call whose result is unused", stmt)
        raise self.fn.error(f"{type(stmt).__name__} statements are not supported", stmt)

    def name_assign(self, stmt) -> list:
        if not isinstance(stmt.targets[0], gast.Name):
            raise self.fn.error(
                "forward mode does not support functions with several results here yet", stmt
            )
        target, value = stmt.targets[0].id, stmt.value
        primal = src(stmt)
        if target not in self.active:
            return [primal]
        if not self.is_array(target):  # the tangent first: the statement may overwrite reads
            return [
                *self.tangent_line(self.ref(target), self.tangent(value), self.d(target)),
                primal,
            ]
        dt = self.d(target)
        if isinstance(value, gast.Name):  # a second name for the same array
            source = self.d(value.id) if value.id in self.active else self.zeros_like(target)
            return [primal, f"{dt} = {source}"]
        if isinstance(value, gast.Call) and value.callee.kind == "copy":
            base = value.func.value.id
            source = f"{self.d(base)}.copy()" if base in self.active else self.zeros_like(target)
            return [primal, f"{dt} = {source}"]
        if isinstance(value, gast.Call) and value.callee.kind == "constructor":
            return [primal, f"{dt} = {self.zeros_like(target)}"]
        if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
            base = value.value.id  # a view of another array: the tangent is the same view
            source = f"{self.d(base)}[{index_source(value.slice)}]"
            return [primal, f"{dt} = {source if base in self.active else self.zeros_like(target)}"]
        return self.array_assign(stmt, target, value)

    def array_assign(self, stmt, target: str, value) -> list:
        """``target = value`` computing a new array: its tangent goes into a new array too."""
        tangent = self.tangent(value)
        reads_itself = target in {n.id for n in gast.walk(value) if isinstance(n, gast.Name)}
        if reads_itself:  # the tangent reads the old value: compute the new one aside
            new, dnew = self.names.fresh(f"{target}_new"), self.names.fresh(f"d{target}_new")
            lines = [f"{new} = {src(value)}"]
        else:
            new, dnew = target, self.d(target)
            lines = [src(stmt)]
        lines.extend(self.new_array_tangent(new, dnew, tangent, typed_as=target))
        if reads_itself:
            lines += [f"{target} = {new}", f"{self.d(target)} = {dnew}"]
        return lines

    def element_assign(self, stmt) -> list:
        target = stmt.targets[0]
        array = target.value.id
        if array not in self.active:
            return [src(stmt)]
        element, tangent = self.element(array, target.slice), self.tangent(stmt.value)
        lines = self.tangent_line(element, tangent)
        shared = isinstance(stmt.value, gast.BinOp | gast.UnaryOp | gast.Call)
        scalar = isinstance(self._type_of(stmt.value), Scalar)
        if len(lines) == 1 and shared and scalar and not self.vector:
            # Both values first, then both stores: a store between them would make Numba
            # load the operands again (it cannot tell that the arrays do not overlap), so
            # the expression they share would be computed twice. (Vector mode writes its
            # tangent in a loop over the directions instead of one line.)
            tangent = src(_render_zeros(tangent))
            dvalue = self.names.fresh(f"d{array}_value")
            value = self.names.fresh(f"{array}_value")
            return [
                f"{dvalue} = {tangent}",
                f"{value} = {src(stmt.value)}",
                f"{src(element)} = {dvalue}",
                f"{src(target)} = {value}",
            ]
        return [*lines, src(stmt)]

    def permutation(self, stmt) -> list:
        targets = [e.id for e in stmt.targets[0].elts]
        values = [e.id for e in stmt.value.elts]
        active = [t for t in targets if t in self.active]
        lines = [src(stmt)]
        if active:
            if len(active) != len(targets):
                raise self.fn.error("swapping values with and without derivatives", stmt)
            lines.append(
                f"{', '.join(self.d(t) for t in targets)} = {', '.join(self.d(v) for v in values)}"
            )
        return lines

    def user_call(self, stmt) -> list:
        call = stmt.value
        target = stmt.targets[0]
        targets = [target.id] if isinstance(target, gast.Name) else [e.id for e in target.elts]
        mask = [
            self.has_active(arg) and getattr(self._type_of(arg), "differentiable", False)
            for arg in call.args
        ]
        active_targets = [t for t in targets if t in self.active]
        if not any(mask) or not active_targets:
            return [src(stmt)] + [f"{self.d(t)} = {self.zeros_like(t)}" for t in active_targets]
        callee = self.callee_tangent(call, mask)
        lines: list = []
        primal_args, tangent_args = [], []
        for arg, m in zip(call.args, mask, strict=True):
            if m:
                primal, tangent = self.argument_tangent(arg, lines)
                primal_args.append(primal)
                tangent_args.append(tangent)
            else:
                primal_args.append(src(arg))
        arguments = ", ".join(primal_args + tangent_args)
        # a called function's tangent returns its values, then their tangents, flat
        names = ", ".join(targets + [self.d(t) for t in targets])
        lines.append(f"{names} = {callee}({arguments})")
        return lines

    def argument_tangent(self, arg, lines: list) -> tuple[str, str]:
        """Sources of a call's argument ``arg`` and of the tangent passed for it (``lines``
        gets what computes them first)."""
        if isinstance(arg, gast.Name):
            return arg.id, self.d(arg.id)
        if not self.vector:
            return src(arg), src(_render_zeros(self.tangent(arg)))
        if isinstance(arg, gast.Subscript) and isinstance(arg.value, gast.Name):
            return src(arg), f"{self.d(arg.value.id)}[{index_source(arg.slice)}]"
        temp = self.names.fresh("darg")
        dtype = ", dtype=np.complex128" if self.is_complex_expr(arg) else ""
        value = _render_zeros(self.tangent(arg))
        if not self.is_array_expr(arg):
            lines.append(f"{temp} = np.empty({self.ndir}{dtype})")
            lines.append(
                Block(f"for {self.q} in range({self.ndir}):", [f"{temp}[{self.q}] = {src(value)}"])
            )
            return src(arg), temp
        # an array expression (row_sums(w[:, None] * c)): its tangent has its shape, and a
        # last axis of the directions
        primal = self.names.fresh("arg")
        lines.append(f"{primal} = {src(arg)}")
        lines.append(f"{temp} = np.empty({primal}.shape + ({self.ndir},){dtype})")
        lines.extend(self.direction_loop(f"{temp}[..., {self.q}]", value))
        return primal, temp

    def _zero_tangent(self, n: str) -> str:
        """Source of a zero tangent for the value of ``n``."""
        if self.is_array(n):
            if self.vector:
                return f"np.zeros({n}.shape + ({self.ndir},), dtype={n}.dtype)"
            return f"np.zeros_like({n})"
        return f"np.zeros({self.ndir}{self.complex_dtype(n)})" if self.vector else "0.0"

    def _type_of(self, expr):
        if isinstance(expr, gast.Name):
            return self.types.get(expr.id)
        if isinstance(expr, gast.Constant):
            return None
        return Scalar("float", "float64")

    # --- the function ----------------------------------------------------------------------
    def generate(self) -> gast.FunctionDef:
        body = self.block(self.body)
        lines: list = []
        written = self.assigned | element_written(self.body)
        elements_written = element_written(self.body)
        partners = permutation_partners(self.body)
        for p in self.params:
            # written through its own name, or through a name it swaps with (u, v = v, u)
            through = ({p} | partners.get(p, set())) & elements_written
            if through and self.is_array(p):
                lines.append(f"{p} = {p}.copy()  # the caller's array is never modified")
            if p in self.wrt and p in self.active and (p in written or through):
                if self.vector or self.is_array(p):
                    lines.append(f"{self.d(p)} = {self.d(p)}.copy()")
        if self.vector:
            first = self.d(self.wrt[0])
            lines.append(f"{self.ndir} = {first}.shape[-1]  # the number of directions")
            buffers = sorted(
                n
                for n in self.active
                if n not in self.params and not self.is_array(n) and n in self.types
            )
            for n in buffers:
                lines.append(f"{self.d(n)} = np.zeros({self.ndir}{self.complex_dtype(n)})")
        for p in self.params:
            # a parameter given no tangent that later holds values with one: zero until then
            if p in self.active and p not in self.wrt:
                lines.append(f"{self.d(p)} = {self._zero_tangent(p)}  # no tangent given")
        lines.extend(body)
        out_tangents = []
        for o in self.outputs:
            if o in self.active:
                out_tangents.append(self.d(o))
            else:
                out_tangents.append(self.zeros_like(o))
        if len(self.outputs) == 1:
            lines.append(f"return {self.outputs[0]}, {out_tangents[0]}")
        elif self.flat_results:
            lines.append(f"return {', '.join(self.outputs + out_tangents)}")
        else:
            lines.append(f"return ({', '.join(self.outputs)}), ({', '.join(out_tangents)})")
        params = self.params + [self.d(p) for p in self.wrt]
        return without_dead_stores(
            function_tree(f"def {self.function_name}({', '.join(params)}):", lines)
        )


# --- folding zeros ------------------------------------------------------------------------


class _Substitute(gast.NodeTransformer):
    def __init__(self, replacements: dict[str, gast.expr], keywords_param=None, keywords=()):
        self.replacements = replacements
        self.keywords_param = keywords_param
        self.keywords = keywords

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if self.keywords_param is not None:
            kept = []
            for keyword in node.keywords:
                if (
                    keyword.arg is None
                    and getattr(keyword.value, "id", None) == self.keywords_param
                ):
                    kept.extend(copy.deepcopy(k) for k in self.keywords)
                else:
                    kept.append(keyword)
            node.keywords = kept
        return node

    def visit_Name(self, node):
        if node.id in self.replacements and isinstance(node.ctx, gast.Load):
            return copy.deepcopy(self.replacements[node.id])
        return node


def _is_numpy_call(node: gast.Call) -> bool:
    func = node.func
    while isinstance(func, gast.Attribute):
        func = func.value
    return isinstance(func, gast.Name) and func.id == "np" and isinstance(node.func, gast.Attribute)


def _dotted(text: str) -> gast.expr:
    return gast.parse(text, mode="eval").body


def _literal_zero(node) -> bool:
    return (
        isinstance(node, gast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
        and node.value == 0
    )


#: Products, and helpers of generated adjoints (rules/runtime.py), as generated code calls
#: them, with the positions of the arguments each is linear in (the registry's
#: ``linear_in``): zero there, the call is zero.
_LINEAR_HELPERS = {spelling(f): e.linear_in for e in entries() if e.linear_in for f in e.functions}


class _FoldZeros(gast.NodeTransformer):
    """Removes the terms a zero tangent makes vanish: ``0 * e``, ``x @ 0``, ``e + 0``,
    ``0 / e``, ``-0``, and calls linear in a zero argument (``_LINEAR_HELPERS``)."""

    def visit_BinOp(self, node):
        node = self.generic_visit(node)
        left, right = is_zero(node.left), is_zero(node.right)
        op = node.op
        if isinstance(op, gast.Mult | gast.MatMult) and (
            left or right or _literal_zero(node.left) or _literal_zero(node.right)
        ):
            return _zero()  # (a matrix product with a zero is zero, and Numba has no x @ 0.0)
        if isinstance(op, gast.Div) and left:
            return _zero()
        if isinstance(op, gast.Add):
            if left:
                return node.right
            if right:
                return node.left
        if isinstance(op, gast.Sub):
            if right:
                return node.left
            if left:
                return gast.UnaryOp(op=gast.USub(), operand=node.right)
        return node

    def visit_UnaryOp(self, node):
        node = self.generic_visit(node)
        if is_zero(node.operand):
            return _zero()
        return node

    def visit_Call(self, node):
        node = self.generic_visit(node)
        positions = _LINEAR_HELPERS.get(src(node.func), ())
        if any(
            p < len(node.args) and (is_zero(node.args[p]) or _literal_zero(node.args[p]))
            for p in positions
        ):
            return _zero()  # a helper linear in that argument, given a zero tangent
        return node

    def visit_IfExp(self, node):
        node = self.generic_visit(node)
        if is_zero(node.body) and is_zero(node.orelse):
            return _zero()
        return node


def fold(node: gast.expr) -> gast.expr:
    return _FoldZeros().visit(node)


class _RenderZeros(gast.NodeTransformer):
    def visit_Name(self, node):
        if is_zero(node):
            return gast.Constant(value=0.0, kind=None)
        return node


class _ContiguousMatmul(gast.NodeTransformer):
    """``np.ascontiguousarray(dx[..., q]) @ y``: one direction of a vector-mode tangent is a
    strided view, which Numba's ``@`` would copy anyway, with a performance warning. The
    same for the runtime's matmul adjoints, which multiply their arguments."""

    def visit_BinOp(self, node):
        node = self.generic_visit(node)
        if isinstance(node.op, gast.MatMult):
            node.left, node.right = _contiguous(node.left), _contiguous(node.right)
        return node

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if isinstance(node.func, gast.Name) and node.func.id in _MATMUL_HELPERS:
            node.args = [_contiguous(a) for a in node.args]
        return node


_MATMUL_HELPERS = ("matmul_adjoint_left", "matmul_adjoint_right")


def _contiguous(operand: gast.expr) -> gast.expr:
    index = operand.slice if isinstance(operand, gast.Subscript) else None
    strided = isinstance(index, gast.Tuple) and any(
        isinstance(e, gast.Constant) and e.value is Ellipsis for e in index.elts
    )
    if not strided:
        return operand
    return gast.Call(
        func=gast.Attribute(value=name("np"), attr="ascontiguousarray", ctx=gast.Load()),
        args=[operand],
        keywords=[],
    )


def _render_zeros(node: gast.expr) -> gast.expr:
    """``node`` ready to be written out: zero placeholders as 0.0, the operands of ``@`` that
    are one direction of a vector-mode tangent made contiguous."""
    return _ContiguousMatmul().visit(_RenderZeros().visit(copy.deepcopy(node)))


def _index_without_last(target: gast.Subscript) -> str:
    elts = target.slice.elts[:-1]
    return ", ".join(src(e) for e in elts)


__all__ = ["TangentGenerator", "fold", "is_zero"]
