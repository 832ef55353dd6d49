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

(a slice whose lower bound is a non-negative constant starts there whenever it is not
empty; other bounds go through ``slice_start``, e.g. ``w_start = slice_start(w.shape[0],
b, 2 * b)`` for ``w[b : 2 * b]``)

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

from .analysis.types import INT, Array, Scalar
from .codegen import src
from .primitives import Callee
from .reverse_arrays import _numpy_function, expression_type

#: NumPy functions applied element by element whose scalar form has an adjoint rule.
ELEMENTWISE = {
    np.exp, np.expm1, np.log, np.log1p, np.sqrt, np.sin, np.cos, np.tan, np.tanh, np.sinh,
    np.cosh, np.arctan, np.arcsinh,
}  # fmt: skip
_OPERATORS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)
_VECTOR = Array("float64", 1)


class _Unfusable(Exception):
    """The statement is not element-wise over vectors: leave it to the whole-array adjoint."""


def fuse_elementwise(node: gast.FunctionDef, types: dict, names) -> gast.FunctionDef:
    """``node`` with its element-wise vector statements as element loops; ``types`` updated."""
    if not any(t == _VECTOR for t in types.values()):
        return node
    node = copy.deepcopy(node)

    def block(body: list) -> list:
        out = []
        for stmt in body:
            for field in ("body", "orelse"):
                if isinstance(stmt, gast.If | gast.For | gast.While):
                    setattr(stmt, field, block(getattr(stmt, field)))
            try:
                out.extend(_Fusion(stmt, types, names).statements())
            except _Unfusable:
                out.append(stmt)
        return out

    node.body = block(node.body)
    return node


class _Fusion:
    """The element loop of one statement (raises _Unfusable when there is none)."""

    def __init__(self, stmt, types: dict, names):
        if not isinstance(stmt, gast.Assign) or len(stmt.targets) != 1:
            raise _Unfusable
        self.stmt, self.types, self.names = stmt, types, names
        self.k = names.fresh("k")
        self.lengths: list[str] = []
        self.setup: list[str] = []
        self.starts: dict[str, str] = {}  # source of a slice operand -> its start's name
        if not _is_operation(stmt.value) or not self._is_vector(stmt.value):
            raise _Unfusable
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            if target.id in _names_read(stmt.value) or types.get(target.id) != _VECTOR:
                raise _Unfusable
            self.target_element = None
        else:
            self.target_element = self._operand(target)  # raises unless a vector's slice
        self.element_value = self._element(copy.deepcopy(stmt.value))

    # --- checking and rewriting the value ---------------------------------------------------
    def _is_vector(self, expr) -> bool:
        try:
            return expression_type(expr, self.types) == _VECTOR
        except Exception:  # a type problem: the whole-array path reports it
            return False

    def _element(self, expr):
        """``expr`` with each vector operand replaced by its element k (or _Unfusable)."""
        value_type = self._type(expr)
        if isinstance(value_type, Scalar) and value_type.kind in ("int", "float"):
            return expr  # a scalar: the same for every element
        if value_type != _VECTOR:
            raise _Unfusable
        if isinstance(expr, gast.BinOp) and isinstance(expr.op, _OPERATORS):
            expr.left, expr.right = self._element(expr.left), self._element(expr.right)
            return expr
        if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub | gast.UAdd):
            expr.operand = self._element(expr.operand)
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
            expr.args = [self._element(expr.args[0])]
            return expr
        if isinstance(expr, gast.Name | gast.Subscript):
            return _parse(self._operand(expr), like=expr)
        raise _Unfusable

    def _type(self, expr):
        try:
            return expression_type(expr, self.types)
        except Exception:
            raise _Unfusable from None

    def _operand(self, expr) -> str:
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
            key = src(expr)
            size = f"{array}.shape[0]"
            bounds = f"{size}, {self._bound(index.lower, '0')}, {self._bound(index.upper, size)}"
            self.lengths.append(f"slice_length({bounds})")
            lower = index.lower
            if lower is None or _is_literal_index(lower):
                # a non-empty slice starts at its lower bound: a constant offset, as a
                # person writes it (and Numba sees that the operands share an index)
                start = 0 if lower is None else lower.value
                return f"{array}[{k} + {start}]" if start else f"{array}[{k}]"
            if key not in self.starts:
                self.starts[key] = self.names.fresh(f"{array}_start")
                self.setup.append(f"{self.starts[key]} = slice_start({bounds})")
            return f"{array}[{self.starts[key]} + {k}]"
        if array_type == Array("float64", 2) and _is_int(self._type(index)):
            if _reads_vectors(index, self.types):
                raise _Unfusable
            self.lengths.append(f"{array}.shape[1]")
            return f"{array}[{src(index)}, {k}]"
        raise _Unfusable

    def _bound(self, bound, default: str) -> str:
        if bound is None:
            return default
        if not _is_int(self._type(bound)) or _reads_vectors(bound, self.types):
            raise _Unfusable
        return src(bound)

    # --- the loop ---------------------------------------------------------------------------
    def statements(self) -> list:
        stmt, k = self.stmt, self.k
        n = self.names.fresh("n")
        for name in (n, k, *self.starts.values()):
            self.types[name] = INT
        lengths = ", ".join(dict.fromkeys(self.lengths))  # each different length once
        lines = [f"{n} = fused_length({lengths})", *self.setup]
        if self.target_element is None:  # a new array for the name
            new = stmt.targets[0].id
        else:  # a new array first, so that the value reads the target's old elements
            new = self.names.fresh("fused")
            self.types[new] = _VECTOR
        lines.append(f"{new} = np.empty({n})")
        statements = [gast.parse(line).body[0] for line in lines]
        fill = gast.parse(f"for {k} in range({n}):\n    {new}[{k}] = 0.0").body[0]
        fill.body[0].value = self.element_value
        # Every element of the new array is written once, by this loop, right after it is
        # made: the adjoint need not restore what was there before (reverse.py).
        fill.body[0].fills_new_array = True
        statements.append(fill)
        if self.target_element is not None:
            copy_back = f"for {k} in range({n}):\n    {self.target_element} = {new}[{k}]"
            statements.append(gast.parse(copy_back).body[0])
        for statement in statements:
            _annotate(statement, stmt)
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
                node.func = _numpy_function(np.empty, like)
                node.callee = Callee("constructor", np.empty)
            elif isinstance(func, gast.Name) and func.id == "range":
                func.global_value = range
                node.callee = Callee("nondiff", range)
            else:  # the runtime's slice_start, slice_length, fused_length
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
