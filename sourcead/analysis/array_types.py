"""Types of whole-array expressions: arithmetic, slicing and functions of arrays.

Used by ``TypeInference`` for expressions that involve arrays. Only the number of dimensions
and the dtype are tracked (shapes are known at run time only); that is what the adjoint
generator needs to tell arrays from scalars and to choose tapes and zeros.
"""

from __future__ import annotations

import types

import gast
import numpy as np
from sourcead_runtime import scratch, sized, zeroed

from ..rules.callees import JOINING
from ..rules.indexing import index_plan
from ..rules.registry import entry_for, spelling
from ..rules.shapes import ArrayTypeProblem, elementwise_of, matrix_product
from ..rules.shaping import joined_type
from .types import BOOL, FLOAT, INT, Array, Scalar


def binop_type(left, right, op) -> Array | Scalar:
    if isinstance(op, gast.MatMult):
        return matrix_product(left, right, stacks=True)
    return elementwise_of([left, right], floating=isinstance(op, gast.Div))


def subscript_type(base: Array, index: gast.expr, expr_type) -> Array | Scalar:
    """The type of ``base[index]`` for integer, slice and None (new axis) indices, and for
    arrays of integers and masks (``rules/indexing.py``)."""
    elements = index.elts if isinstance(index, gast.Tuple) else [index]
    element_types = [_index_type(e, expr_type) for e in elements]
    plan = index_plan(base, elements, element_types)  # (ArrayTypeProblem where refused)
    if plan is not None:
        return plan.result
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


def _index_type(element, expr_type):
    """The type of one element of an index (None for a slice or a new axis)."""
    if isinstance(element, gast.Slice) or (
        isinstance(element, gast.Constant) and element.value is None
    ):
        return None
    return expr_type(element)


#: Functions without derivative that map arrays element by element.
_ELEMENTWISE_NONDIFFERENTIABLE = {
    np.sign,
    np.floor,
    np.ceil,
    np.trunc,
    np.rint,
    np.round,
    np.around,
}

# arrays of the type of their first argument: compiled, and as plain Python
_LIKE_FIRST = {f for g in (scratch, sized, zeroed) for f in (g, getattr(g, "py_func", g))}


#: NumPy's logical functions: booleans (or masks) of numbers (or arrays).
LOGICAL_FUNCTIONS = (np.logical_and, np.logical_or, np.logical_xor, np.logical_not)


def call_type(target, node: gast.Call, args: list):
    """The result type of ``target(*args)`` when an argument is an array; None otherwise.

    A primitive's type comes from its registry entry (``result``); this types the other
    functions of arrays, and the NumPy functions that make arrays from scalars (``np.eye``,
    ``np.arange``). Raises ArrayTypeProblem for uses sourcead cannot differentiate;
    NotImplemented for a function of arrays it does not know.
    """
    arrays = [a for a in args if isinstance(a, Array)]
    if target in _LIKE_FIRST:  # an adjoint array reset, a buffer reused: that array
        return args[0]
    if target is np.eye:
        return Array("float64", 2)
    if target is np.arange:
        kinds = [a.kind for a in args if isinstance(a, Scalar)]
        return Array("float64" if "float" in kinds else "int64", 1)
    if target in JOINING:  # np.stack((a, b), axis=1), np.array([[a, b], [c, d]]) …
        return joined_type(target, args)
    if arrays and spelling(target).startswith("math."):
        raise ArrayTypeProblem(
            f"{spelling(target)} of an array (it takes numbers; np.{target.__name__} takes arrays)"
        )
    if target is float and arrays:
        raise ArrayTypeProblem("float() of an array")
    if target is abs and arrays:  # Numba has no builtin abs of arrays
        raise ArrayTypeProblem("abs() of an array (use np.abs)")
    entry = entry_for(target)
    if entry is not None and not entry.complex and any(a.kind == "complex" for a in arrays):
        spelled = getattr(node, "spelled", None) or spelling(target)  # as the user wrote it
        raise ArrayTypeProblem(
            f"{spelled} of a complex array (its rules are those of real matrices)"
        )
    if entry is not None and entry.result is not None:
        result = entry.result(args, node)
        if result is not None:
            return result
    if not arrays:
        return None
    if target in _ELEMENTWISE_NONDIFFERENTIABLE:
        return elementwise_of(args)
    if target in (len, np.shape):
        return INT
    if target in (np.isnan, np.isinf, np.isfinite):
        return Array("bool", args[0].ndim)
    if target in LOGICAL_FUNCTIONS:  # masks combined
        return Array("bool", max(a.ndim for a in arrays))
    if isinstance(getattr(target, "py_func", target), types.FunctionType):
        return FLOAT  # a @sourcead.primitive of arrays returns a float
    return NotImplemented


def helper_type(target, args: list, node: gast.Call) -> Array:
    """The result of a helper of generated adjoints (``callees.FORWARD_ONLY``), which
    forward mode meets in ``hvp`` and ``hessian``: from its registry entry."""
    entry = entry_for(target)
    if entry is None or entry.result is None:
        raise ArrayTypeProblem(f"{getattr(target, '__name__', target)} of these arguments")
    return entry.result(args, node)


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
