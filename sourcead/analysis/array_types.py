"""Types of whole-array expressions: arithmetic, slicing and NumPy functions of arrays.

Used by ``TypeInference`` for expressions that involve arrays. Only the number of dimensions
and the dtype are tracked (shapes are known at run time only); that is what the adjoint
generator needs to tell arrays from scalars and to choose tapes and zeros.
"""

from __future__ import annotations

import operator
import types

import gast
import numpy as np
from sourcead_runtime import scratch, sized, zeroed

from .types import BOOL, FLOAT, INT, Array, Scalar, TupleType


class ArrayTypeProblem(Exception):
    """An array expression sourcead cannot handle (message for the user)."""


def _dtype(t) -> str:
    return t.dtype if isinstance(t, Array | Scalar) and t.dtype else "float64"


def result_dtype(types: list, floating: bool = False) -> str:
    """NumPy's result dtype for an element-wise operation on values of ``types``.

    Python scalars do not widen arrays (``float32_array * 2.0`` stays float32).
    """
    arrays = [np.dtype(_dtype(t)) for t in types if isinstance(t, Array)]
    scalars = [t for t in types if isinstance(t, Scalar)]
    dtype = np.result_type(*arrays) if arrays else np.dtype("float64")
    if any(s.kind == "complex" for s in scalars) and dtype.kind != "c":
        dtype = np.result_type(dtype, np.complex64 if dtype == np.float32 else np.complex128)
    elif any(s.kind == "float" for s in scalars) and dtype.kind in "biu":
        dtype = np.dtype("float64")
    if floating and dtype.kind in "biu":
        dtype = np.dtype("float64")
    return dtype.name


def elementwise(types: list, floating: bool = False) -> Array:
    ndim = max(t.ndim for t in types if isinstance(t, Array))
    return Array(result_dtype(types, floating), ndim)


def binop_type(left, right, op) -> Array | Scalar:
    if isinstance(op, gast.MatMult):
        return matmul_type(left, right)
    return elementwise([left, right], floating=isinstance(op, gast.Div))


def matmul_type(left, right):
    if not (isinstance(left, Array) and isinstance(right, Array)):
        raise ArrayTypeProblem("@ and np.dot need two arrays")
    if left.ndim > 2 or right.ndim > 2:
        raise ArrayTypeProblem("matrix products of arrays with more than 2 dimensions")
    dtype = result_dtype([left, right])
    ndim = left.ndim + right.ndim - 2
    return Array(dtype, ndim) if ndim else Scalar(Array(dtype, 0).kind, dtype)


def subscript_type(base: Array, index: gast.expr, expr_type) -> Array | Scalar:
    """The type of ``base[index]`` for integer, slice and None (new axis) indices."""
    elements = index.elts if isinstance(index, gast.Tuple) else [index]
    kept, used = 0, 0
    for element in elements:
        if isinstance(element, gast.Slice):
            for part in (element.lower, element.upper, element.step):
                if part is not None:
                    expr_type(part)
            kept += 1
            used += 1
        elif isinstance(element, gast.Constant) and element.value is None:
            kept += 1
        else:
            t = expr_type(element)
            if isinstance(t, Array):
                raise ArrayTypeProblem("indexing with an array (only integers and slices)")
            used += 1
    if used > base.ndim:
        raise ArrayTypeProblem(f"too many indices for a {base.ndim}-d array")
    ndim = kept + base.ndim - used
    if ndim == 0:
        return Scalar(base.kind, base.dtype)
    return Array(base.dtype, ndim)


def _keyword(node: gast.Call, name: str):
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _axis_reduced(x: Array, node: gast.Call, dtype: str | None = None):
    dtype = dtype or x.dtype
    axis = _keyword(node, "axis")
    if axis is None and len(node.args) > 1:
        axis = node.args[1]
    if axis is None or (isinstance(axis, gast.Constant) and axis.value is None):
        return Scalar(Array(dtype, 0).kind, dtype)
    if x.ndim == 1:
        return Scalar(Array(dtype, 0).kind, dtype)
    return Array(dtype, x.ndim - 1)


_ELEMENTWISE_FUNCTIONS = {
    np.exp, np.log, np.log1p, np.expm1, np.sqrt, np.sin, np.cos, np.tan, np.arcsin,
    np.arccos, np.arctan, np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh,
    np.log2, np.log10, np.square, np.sign, np.floor, np.ceil, np.trunc,
    np.conj, np.arctan2, np.hypot, np.power, np.maximum, np.minimum, np.clip,
}  # fmt: skip

_FLOATING = {
    np.exp, np.log, np.log1p, np.expm1, np.sqrt, np.sin, np.cos, np.tan, np.arcsin,
    np.arccos, np.arctan, np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh,
    np.log2, np.log10, np.arctan2, np.hypot,
}  # fmt: skip


# arrays of the type of their first argument: compiled, and as plain Python
_LIKE_FIRST = {f for g in (scratch, sized, zeroed) for f in (g, getattr(g, "py_func", g))}


def call_type(target, node: gast.Call, args: list):
    """The result type of ``target(*args)`` when an argument is an array; None otherwise.

    Also types the NumPy functions that make arrays from scalars (``np.eye``, ``np.arange``,
    ``np.linspace``). Raises ArrayTypeProblem for uses sourcead cannot differentiate.
    """
    arrays = [a for a in args if isinstance(a, Array)]
    if target in _LIKE_FIRST:  # an adjoint array reset, a buffer reused: that array
        return args[0]
    if target is np.eye:
        return Array("float64", 2)
    if target is np.arange:
        kinds = [a.kind for a in args if isinstance(a, Scalar)]
        return Array("float64" if "float" in kinds else "int64", 1)
    if target is np.linspace:
        return Array("float64", 1)
    if target in (np.concatenate, np.stack):
        items = args[0].items if args and isinstance(args[0], TupleType) else ()
        if not items or not all(isinstance(i, Array) for i in items):
            raise ArrayTypeProblem(f"np.{target.__name__} of a tuple of arrays")
        joined = elementwise(list(items))
        return Array(joined.dtype, joined.ndim + (target is np.stack))
    if not arrays:
        return None
    x = args[0] if args else None
    if target in _ELEMENTWISE_FUNCTIONS:
        return elementwise(args, floating=target in _FLOATING)
    if target is np.where:
        return elementwise(args[1:])
    if target in (np.real, np.imag, np.abs, np.fabs, abs, operator.abs):
        base = elementwise(args)
        return Array(np.empty(0, base.dtype).real.dtype.name, base.ndim)
    if target is np.sum:
        return _axis_reduced(x, node)
    if target in (np.mean, np.prod, np.max, np.min):
        if node.keywords or len(node.args) > 1:
            raise ArrayTypeProblem(
                f"np.{target.__name__} with an axis (Numba supports the axis of np.sum only)"
            )
        dtype = result_dtype([x], floating=target is np.mean)
        return Scalar(Array(dtype, 0).kind, dtype)
    if target is np.cumsum:
        if node.keywords or len(node.args) > 1:
            raise ArrayTypeProblem("np.cumsum with an axis (Numba supports it flattened only)")
        return Array(x.dtype, 1)
    if target is np.linalg.norm:
        if node.keywords or len(node.args) > 1:
            raise ArrayTypeProblem("np.linalg.norm with ord or axis (only the 2-norm)")
        dtype = np.empty(0, x.dtype).real.dtype.name
        return Scalar("float", dtype)
    if target is np.trace:
        return Scalar(x.kind, x.dtype)
    if target in (np.dot, np.matmul):
        return matmul_type(args[0], args[1])
    if target is np.outer:
        return Array(result_dtype(args), 2)
    if target is np.diag:
        return Array(x.dtype, 1 if x.ndim == 2 else 2)
    if target in (np.transpose, np.ascontiguousarray, np.tril, np.triu):
        return x
    if target is np.ravel:
        return Array(x.dtype, 1)
    if target is np.reshape:
        shape = args[1]
        return Array(x.dtype, len(shape.items) if isinstance(shape, TupleType) else 1)
    if target in (np.linalg.solve,):
        return Array(result_dtype(args), args[1].ndim)
    if target in (np.linalg.inv, np.linalg.cholesky):
        return x
    if target is np.linalg.det:
        return Scalar(x.kind, x.dtype)
    if target is np.linalg.slogdet:
        return TupleType(
            (
                Scalar(x.kind, x.dtype),
                FLOAT
                if x.dtype == "float64"
                else Scalar("float", np.empty(0, x.dtype).real.dtype.name),
            )
        )
    if target is np.linalg.eigh:
        real = np.empty(0, x.dtype).real.dtype.name
        return TupleType((Array(real, 1), x))
    if target is np.linalg.svd:
        real = np.empty(0, x.dtype).real.dtype.name
        return TupleType((x, Array(real, 1), x))
    if target is np.linalg.qr:
        return TupleType((x, x))
    if target in (len, np.shape):
        return INT
    if target in (np.isnan, np.isinf, np.isfinite):
        return Array("bool", x.ndim)
    if target is float:
        raise ArrayTypeProblem("float() of an array")
    if isinstance(getattr(target, "py_func", target), types.FunctionType):
        return FLOAT  # a @sourcead.primitive of arrays returns a float
    return NotImplemented


def helper_type(target, args: list) -> Array:
    """The result of a helper of generated adjoints (``primitives.FORWARD_ONLY``), which
    forward mode meets in ``hvp`` and ``hessian``: arrays of the dtype of the adjoint they
    take first, of the rank of the shape they are given or of an operand's."""
    name = getattr(target, "__name__", "")
    first = args[0]
    dtype = first.dtype if isinstance(first, Array | Scalar) else "float64"
    if name in ("expand_reduced", "unbroadcast", "reverse_cumsum"):
        shape = args[1]
        return Array(dtype, len(shape.items) if isinstance(shape, TupleType) else 1)
    if name == "matmul_adjoint_left":  # the shape of a in a @ b
        return Array(result_dtype([first, args[2]]), args[1].ndim)
    if name == "matmul_adjoint_right":  # the shape of b
        return Array(result_dtype([first, args[1]]), args[2].ndim)
    if name == "prod_others":  # products of the other elements, shaped like them
        return Array(first.dtype, first.ndim)
    if name == "prod_others_tangent":
        return Array(result_dtype([first, args[1]]), first.ndim)
    if name == "popped":  # an array of the rank of its third argument, from a tape
        return Array(first.dtype, args[2].ndim)
    raise ArrayTypeProblem(f"{name} of these arguments")


def compare_type(operands: list) -> Array | Scalar:
    arrays = [o for o in operands if isinstance(o, Array)]
    if not arrays:
        return BOOL
    return Array("bool", max(a.ndim for a in arrays))


__all__ = [
    "ArrayTypeProblem",
    "binop_type",
    "call_type",
    "compare_type",
    "helper_type",
    "subscript_type",
    "INT",
]
