"""Element-wise whole-array statements fused into element loops, for reverse mode.

A statement such as ::

    u[1:-1] = u[1:-1] + 0.2 * kappa[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:])

computes five temporary arrays when run as NumPy, and its whole-array adjoint allocates
and tapes as many. When every operand is a float64 vector (a 1-D array, a slice of one,
or a row of a matrix) combined by arithmetic and element-wise functions, the statement is
rewritten before differentiation into the element loop a person would write::

    n = fused_length(slice_length(u.shape[0], 1, -1), slice_length(kappa.shape[0], 1, -1), ...)
    fused = np.empty(n)
    for k in range(n):
        fused[k] = u[k + 1] + 0.2 * kappa[k + 1] * (u[k] - 2.0 * u[k + 1] + u[k + 2])
    for k in range(n):
        u[k + 1] = fused[k]

(inside a loop, ``fused = scratch(fused, n)`` instead of ``np.empty(n)``, with
``fused = np.empty(0)`` before the function's body: one allocation, reused while the length
stays the same; a slice whose lower bound is a non-negative constant starts there whenever
it is not empty; other bounds go through ``slice_start``, e.g.
``w_start = slice_start(w.shape[0], b, 2 * b)`` for ``w[b : 2 * b]``)

and the element-loop adjoint (a scalar loop, no temporaries) is generated from that. The
new values go into a fresh array first, so reads of the target at other offsets see the old
values, as in NumPy; a statement binding a name (``f = 1.0 / (1.0 + np.exp(-x))``) fills a
new array directly unless its value reads that name. Operands must have equal lengths
(``fused_length`` raises ValueError otherwise: length-1 operands are not broadcast);
anything else is left to the whole-array adjoint.
"""

from __future__ import annotations

import copy

import gast
import numpy as np

from ..analysis.inference import expression_type
from ..analysis.types import FLOAT, INT, Array, Scalar
from ..rules.callees import Callee
from ..trees.codegen import src
from .arrays import numpy_function

#: NumPy functions applied element by element whose scalar form has an adjoint rule.
ELEMENTWISE = {
    np.exp, np.expm1, np.log, np.log1p, np.sqrt, np.sin, np.cos, np.tan, np.tanh, np.sinh,
    np.cosh, np.arctan, np.arcsinh,
}  # fmt: skip
_OPERATORS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
ELEMENT = "_sourcead_element_"  # where a loop template takes the element expression
_VECTOR = Array("float64", 1)


class _Unfusable(Exception):
    """The statement is not element-wise over vectors: leave it to the whole-array adjoint."""


def fuse_elementwise(node: gast.FunctionDef, types: dict, names) -> gast.FunctionDef:
    """``node`` with its element-wise vector statements as element loops; ``types`` updated."""
    if not any(t == _VECTOR for t in types.values()):
        return node
    node = copy.deepcopy(node)
    # names that are also bound to other arrays (u = u0): reverse.py refuses element writes
    # into those, even into a new array the name is bound to later
    aliases = {
        stmt.targets[0].id
        for stmt in gast.walk(node)
        if isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, gast.Name)
    }

    # the vectors fused statements inside loops fill: allocated once, before the body, and
    # reused while their length stays the same (``scratch``)
    buffers: list[str] = []

    def block(body: list, in_loop: bool) -> list:
        out = []
        for stmt in body:
            for field in ("body", "orelse"):
                if isinstance(stmt, gast.If | gast.For | gast.While):
                    inner = in_loop or isinstance(stmt, gast.For | gast.While)
                    setattr(stmt, field, block(getattr(stmt, field), inner))
            if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
                out.extend(_fuse_sums(stmt, types, names))
                try:
                    reused = buffers if in_loop else None
                    out.extend(_fuse_assignment(stmt, types, names, aliases, reused))
                    continue
                except _Unfusable:
                    pass
            out.append(stmt)
        return out

    body = block(node.body, False)
    declarations = [gast.parse(f"{b} = np.empty(0)").body[0] for b in buffers]
    for declaration in declarations:
        _annotate(declaration, node.body[0])
    node.body = declarations + body
    return node


def _fuse_sums(stmt, types: dict, names) -> list:
    """Loops summing ``np.sum(v)`` of element-wise vector expressions ``v`` in ``stmt``'s
    value, innermost first; each sum in the value becomes the name of its total."""
    loops: list = []

    class Sums(gast.NodeTransformer):
        def visit_Call(self, call):
            self.generic_visit(call)
            callee = getattr(call, "callee", None)
            if callee is None or callee.target is not np.sum or len(call.args) != 1:
                return call
            if call.keywords:
                return call
            try:
                summed = _type(call.args[0], types)
                if isinstance(summed, Scalar) and summed.kind in ("int", "float"):
                    return call.args[0]  # the sum of a number is the number
                if summed != _VECTOR:
                    return call  # a matrix: the whole-array adjoint
                loop = _ElementLoop(types, names, stmt)
                element = loop.element(copy.deepcopy(call.args[0]))
            except _Unfusable:
                return call
            total = names.fresh("total")
            types[total] = FLOAT
            loops.extend(
                loop.statements(
                    lambda n: f"{total} = 0.0", lambda k: f"{total} = {total} + {ELEMENT}", element
                )
            )
            return _parse(total, like=call)

    stmt.value = Sums().visit(stmt.value)
    return loops


def _fuse_assignment(stmt, types: dict, names, aliases: set, buffers: list | None) -> list:
    """The element loop of ``stmt`` (raises _Unfusable when there is none). With
    ``buffers`` (inside a loop), the vector computed aside is one of them, reused."""
    value, target = stmt.value, stmt.targets[0]
    if not _is_operation(value):
        raise _Unfusable
    if _type(value, types) != _VECTOR:
        raise _Unfusable
    loop = _ElementLoop(types, names, stmt)
    if isinstance(target, gast.Name):
        if types.get(target.id) != _VECTOR or target.id in aliases:
            raise _Unfusable
        element = loop.element(copy.deepcopy(value))
        if target.id not in _names_read(value):  # fill a new array for the name
            return loop.statements(*_new_array(target.id), element)
        # the value reads the name's old elements: compute aside, then a new array for it
        fused = _fresh_vector(types, names)
        return [
            *loop.statements(*_aside(fused, buffers), element),
            *loop.statements(*_new_array(target.id), _parse(f"{fused}[{loop.k}]", like=stmt)),
        ]
    target_element = loop.operand(target)  # raises unless a slice of a vector
    element = loop.element(copy.deepcopy(value))
    # the new values go aside first: the value may read the target at other offsets
    fused = _fresh_vector(types, names)
    fill = loop.statements(*_aside(fused, buffers), element)
    copy_back = loop.statements(
        None, lambda k: f"{target_element} = {ELEMENT}", _parse(f"{fused}[{loop.k}]", like=stmt)
    )
    return [*fill, *copy_back]


def _new_array(name: str) -> tuple:
    """Templates of ``name = np.empty(n)`` filled by ``name[k] = <element>``."""
    return (lambda n: f"{name} = np.empty({n})", lambda k: f"{name}[{k}] = {ELEMENT}")


def _aside(name: str, buffers: list | None) -> tuple:
    """Like ``_new_array`` for a vector the statement computes aside: inside a loop, the
    buffer of an earlier iteration is reused when it has the length (``scratch``)."""
    allocate, fill = _new_array(name)
    if buffers is None:
        return allocate, fill
    buffers.append(name)
    return (lambda n: f"{name} = scratch({name}, {n})", fill)


def _fresh_vector(types: dict, names) -> str:
    fused = names.fresh("fused")
    types[fused] = _VECTOR
    return fused


def _type(expr, types: dict):
    try:
        return expression_type(expr, types, unknown=None)
    except Exception:  # a type problem: the whole-array adjoint reports it
        raise _Unfusable from None


class _ElementLoop:
    """One element loop: operands' elements, their common length, the loop's statements.

    ``element`` and ``operand`` raise _Unfusable for anything that is not element-wise over
    float64 vectors; ``statements`` writes ``n = fused_length(...)``, the slices' starts, an
    initialisation and ``for k in range(n): <body>`` with the element expression as the
    body's value (``n`` and ``k`` in the templates stand for the loop's fresh names).
    """

    def __init__(self, types: dict, names, like):
        self.types, self.names, self.like = types, names, like
        self.k = names.fresh("k")
        self.lengths: list[str] = []
        self.setup: list[str] = []
        self.starts: dict[str, str] = {}  # source of a slice operand -> its start's name
        self.n: str | None = None

    def element(self, expr):
        """``expr`` with each vector operand replaced by its element k."""
        value_type = _type(expr, self.types)
        if isinstance(value_type, Scalar) and value_type.kind in ("int", "float"):
            return expr  # a scalar: the same for every element
        if value_type != _VECTOR:
            raise _Unfusable
        if isinstance(expr, gast.BinOp) and isinstance(expr.op, _OPERATORS):
            expr.left, expr.right = self.element(expr.left), self.element(expr.right)
            return expr
        if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub | gast.UAdd):
            expr.operand = self.element(expr.operand)
            return expr
        if isinstance(expr, gast.Call):
            callee = getattr(expr, "callee", None)
            if (
                callee is None
                or callee.kind != "rule"
                or callee.target not in ELEMENTWISE
                or len(expr.args) != 1
                or expr.keywords
            ):
                raise _Unfusable
            expr.args = [self.element(expr.args[0])]
            return expr
        if isinstance(expr, gast.Name | gast.Subscript):
            return _parse(self.operand(expr), like=expr)
        raise _Unfusable

    def operand(self, expr) -> str:
        """Source of element k of the vector ``expr``; records its length."""
        k = self.k
        if isinstance(expr, gast.Name) and self.types.get(expr.id) == _VECTOR:
            self.lengths.append(f"{expr.id}.shape[0]")
            return f"{expr.id}[{k}]"
        if not (isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name)):
            raise _Unfusable
        array, index = expr.value.id, expr.slice
        array_type = self.types.get(array)
        if array_type == _VECTOR and isinstance(index, gast.Slice) and index.step is None:
            size = f"{array}.shape[0]"
            bounds = f"{size}, {self._bound(index.lower, '0')}, {self._bound(index.upper, size)}"
            self.lengths.append(f"slice_length({bounds})")
            lower = index.lower
            if lower is None or _is_literal_index(lower):
                # a non-empty slice starts at its lower bound: a constant offset, as a
                # person writes it (and Numba sees that the operands share an index)
                start = 0 if lower is None else lower.value
                return f"{array}[{k} + {start}]" if start else f"{array}[{k}]"
            key = src(expr)
            if key not in self.starts:
                self.starts[key] = self.names.fresh(f"{array}_start")
                self.setup.append(f"{self.starts[key]} = slice_start({bounds})")
            return f"{array}[{self.starts[key]} + {k}]"
        if array_type == Array("float64", 2) and _is_int(_type(index, self.types)):
            if _reads_vectors(index, self.types):
                raise _Unfusable
            self.lengths.append(f"{array}.shape[1]")
            return f"{array}[{src(index)}, {k}]"
        raise _Unfusable

    def _bound(self, bound, default: str) -> str:
        if bound is None:
            return default
        if not _is_int(_type(bound, self.types)) or _reads_vectors(bound, self.types):
            raise _Unfusable
        return src(bound)

    def statements(self, initialisation, body, element) -> list:
        """``n = ...`` and the starts (the first time), ``initialisation(n)`` (unless None),
        then ``for k in range(n): body(k)`` with ``element`` in place of ELEMENT."""
        lines = []
        if self.n is None:  # the length and starts once, for all loops over these operands
            self.n = self.names.fresh("n")
            for name in (self.n, self.k, *self.starts.values()):
                self.types[name] = INT
            lengths = list(dict.fromkeys(self.lengths))  # each different length once
            length = lengths[0] if len(lengths) == 1 else f"fused_length({', '.join(lengths)})"
            lines = [f"{self.n} = {length}", *self.setup]
        first = initialisation(self.n) if initialisation is not None else None
        if first is not None:
            lines.append(first)
        text = body(self.k)
        lines.append(f"for {self.k} in range({self.n}):\n    {text}")
        statements = [gast.parse(line).body[0] for line in lines]
        loop = statements[-1]

        class Element(gast.NodeTransformer):
            def visit_Name(inner, node):
                return element if node.id == ELEMENT else node

        loop.body[0] = Element().visit(loop.body[0])
        if first is not None and "np.empty(" in first:
            # Every element of the new array is written once, by this loop, right after it
            # is made: the adjoint need not restore what was there before (reverse.py).
            loop.body[0].fills_new_array = True
        for statement in statements:
            _annotate(statement, self.like)
        return statements


def _parse(text: str, like) -> gast.expr:
    node = gast.parse(text).body[0].value
    _annotate(node, like)
    return node


def _annotate(root, like) -> None:
    """Locations from ``like``; the call annotations that subset.py gives parsed code."""
    for node in gast.walk(root):
        if "lineno" in node._attributes:
            gast.copy_location(node, like)
        if isinstance(node, gast.Call) and not hasattr(node, "callee"):
            func = node.func
            if isinstance(func, gast.Attribute) and func.attr == "empty":
                node.func = numpy_function(np.empty, like)
                node.callee = Callee("constructor", np.empty)
            elif isinstance(func, gast.Name) and func.id == "range":
                func.global_value = range
                node.callee = Callee("nondiff", range)
            else:  # the runtime's slice_start, slice_length, fused_length, scratch
                node.callee = Callee("nondiff", None)


def _is_literal_index(node) -> bool:
    return isinstance(node, gast.Constant) and type(node.value) is int and node.value >= 0


def _is_int(value_type) -> bool:
    return isinstance(value_type, Scalar) and value_type.kind == "int"


def _is_operation(expr) -> bool:
    return isinstance(expr, gast.BinOp | gast.UnaryOp | gast.Call)


def _names_read(expr) -> set[str]:
    return {n.id for n in gast.walk(expr) if isinstance(n, gast.Name)}


def _reads_vectors(expr, types: dict) -> bool:
    return any(isinstance(types.get(name), Array) for name in _names_read(expr))
