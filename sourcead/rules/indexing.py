"""Indexing with arrays: integer arrays ("fancy" indexing), boolean masks, ``np.take`` and
``np.add.at``.

After type inference, the indexing pass (``lowering/indexing.py``) turns each subscript with
an array in it into a call of a runtime helper (``runtime/indexing.py``), which is the
primitive of an entry here: ``x[idx]`` becomes ``take_along(x, idx, 0)``, ``m[:, idx]``
``take_along(m, idx, 1)``, ``m[rows, cols]`` ``take_pairs(m, rows, cols)``, ``x[mask]``
``masked(x, mask)``; a write ``y[idx] = v`` becomes ``y = put_along(y, idx, v, 0)`` (on a
copy: names never alias arrays in sourcead, so nothing else sees ``y``'s old array), and
``np.add.at(y, idx, v)`` ``y = add_at(y, idx, v)``. Each is linear in its arrays: a gather's
adjoint is a scatter that adds (repeated indices accumulate), a write's adjoint zeroes the
elements it overwrote and takes the adjoints of the values it wrote (a value that a later
repeated index overwrote has none, as in NumPy's assignment, where the last value stays).

``index_plan`` reads a subscript's elements and their types: which helper it becomes, along
which axis, and its result's type, or ``shapes.ArrayTypeProblem`` for the forms sourcead
refuses (index arrays of more than one dimension, two index arrays other than
``m[rows, cols]`` of a matrix, integer and array indices separated by a slice, a mask of
another number of dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass

import gast
import numpy as np
from sourcead_runtime import (
    add_at,
    masked,
    placed_along,
    put_along,
    put_masked,
    put_share_along,
    scatter_along,
    scatter_pairs,
    take_along,
    take_pairs,
    true_indices,
    unmasked,
    unput_along,
    unput_masked,
)

from ..analysis.types import Array, Scalar, TupleType
from . import shapes
from .library import Option, calls
from .registry import register

# --- the forms of subscripts with arrays ----------------------------------------------------------


@dataclass(frozen=True)
class IndexPlan:
    """What a subscript with an array becomes.

    ``kind``: ``"take"`` (one vector of integers, or a 1-d mask through ``true_indices``, at
    ``position`` of the index, along ``axis`` of the array), ``"mask"`` (one mask of the
    array's shape), ``"pairs"`` (``m[rows, cols]`` of a matrix). ``rest``: for ``"take"``,
    whether other elements (integers, slices other than ``:``, new axes) remain to apply to
    the gathered array. ``result``: the subscript's type.
    """

    kind: str
    position: int
    axis: int
    boolean: bool
    rest: bool
    result: Array


def _is_full_slice(element) -> bool:
    return (
        isinstance(element, gast.Slice)
        and element.lower is None
        and element.upper is None
        and element.step is None
    )


def _is_new_axis(element) -> bool:
    return isinstance(element, gast.Constant) and element.value is None


def index_plan(base: Array, elements: list, element_types: list) -> IndexPlan | None:
    """The plan of ``base[elements]`` (None: no array in the index). ``element_types``: the
    type of each element (None for slices and new axes). ArrayTypeProblem where refused."""
    arrays = [k for k, t in enumerate(element_types) if isinstance(t, Array)]
    if not arrays:
        return None
    for k in arrays:
        t = element_types[k]
        if t.kind == "bool":
            continue
        if t.kind != "int":
            raise shapes.ArrayTypeProblem(
                f"indexing with an array of {t.dtype} (index arrays hold integers or booleans)"
            )
        if t.ndim != 1:
            raise shapes.ArrayTypeProblem(
                f"indexing with a {t.ndim}-d array of integers (sourcead takes vectors of indices)"
            )
    if len(arrays) == 2:
        pair = [element_types[k] for k in arrays]
        if len(elements) == 2 and base.ndim == 2 and all(t.kind == "int" for t in pair):
            return IndexPlan("pairs", 0, 0, False, False, Array(base.dtype, 1))
        raise shapes.ArrayTypeProblem(
            "indexing with two arrays (sourcead takes m[rows, cols] of a matrix, with vectors "
            "of integers; index one axis at a time)"
        )
    if len(arrays) > 2:
        raise shapes.ArrayTypeProblem("indexing with more than two arrays")
    (position,) = arrays
    index_type = element_types[position]
    if index_type.kind == "bool" and len(elements) == 1 and index_type.ndim == base.ndim:
        return IndexPlan("mask", 0, 0, True, False, Array(base.dtype, 1))
    if index_type.kind == "bool" and index_type.ndim != 1:
        raise shapes.ArrayTypeProblem(
            f"indexing a {base.ndim}-d array with a {index_type.ndim}-d mask (sourcead takes a "
            "mask of the array's shape, alone, or a 1-d mask along one axis)"
        )
    if any(isinstance(e, gast.Constant) and e.value is Ellipsis for e in elements):
        raise shapes.ArrayTypeProblem("indexing with ... and an array")
    integers = [
        k
        for k, t in enumerate(element_types)
        if isinstance(t, Scalar) and not isinstance(elements[k], gast.Slice)
    ]
    advanced = sorted([*integers, position])
    if advanced != list(range(advanced[0], advanced[-1] + 1)):
        raise shapes.ArrayTypeProblem(
            "indexing with an array and integers separated by a slice or a new axis (NumPy "
            "moves the result's axis first there): index in two steps"
        )
    used = sum(1 for e in elements if not _is_new_axis(e))
    if used > base.ndim:
        raise shapes.ArrayTypeProblem(f"too many indices for a {base.ndim}-d array")
    axis = sum(1 for e in elements[:position] if not _is_new_axis(e))
    new_axes = sum(1 for e in elements if _is_new_axis(e))
    rest = any(not _is_full_slice(e) for k, e in enumerate(elements) if k != position)
    ndim = base.ndim - len(integers) + new_axes
    return IndexPlan(
        "take", position, axis, index_type.kind == "bool", rest, Array(base.dtype, ndim)
    )


def write_plan(base: Array, elements: list, element_types: list) -> IndexPlan | None:
    """The plan of a write ``base[elements] = v`` (None: no array in the index); the array
    index must be alone, or with ``:`` for the other axes. ArrayTypeProblem where refused."""
    plan = index_plan(base, elements, element_types)
    if plan is None:
        return None
    if plan.kind == "pairs":
        raise shapes.ArrayTypeProblem(
            "writing through two index arrays (m[rows, cols] = v): write one axis at a time"
        )
    if plan.rest or any(_is_new_axis(e) for e in elements):
        raise shapes.ArrayTypeProblem(
            "writing through an array index with integers, slices other than : or new axes "
            "(write y[idx] = v, m[:, idx] = v or y[mask] = v)"
        )
    return plan


# --- what generated code calls ----------------------------------------------------------------------

calls(
    np.take,
    signature=("a", "indices", "axis", "out", "mode"),
    arguments=2,
    options={
        "axis": Option(None, "axis"),
        "out": Option(None, "default"),
        "mode": Option("raise", "default"),
    },
    helper=take_along,
)


# --- result types ---------------------------------------------------------------------------------


def _vector_of(kind: str, t, what: str) -> None:
    if not (isinstance(t, Array) and t.kind == kind and t.ndim == 1):
        wanted = "integers" if kind == "int" else "booleans"
        raise shapes.ArrayTypeProblem(f"{what} with an index other than a vector of {wanted}")


def _array_of(t, what: str) -> Array:
    if not isinstance(t, Array):
        raise shapes.ArrayTypeProblem(f"{what} of a number (it indexes arrays)")
    return t


def _taken(args: list, node) -> Array:
    """``take_along(x, idx, axis)``: like ``x`` (a vector without ``axis``: ``np.take`` of
    the flattened array); ``idx`` a vector of integers."""
    x = _array_of(args[0], "np.take")
    _vector_of("int", args[1] if len(args) > 1 else None, "np.take")
    axis = next((k.value for k in node.keywords if k.arg == "axis"), None)
    if axis is None and len(node.args) > 2:
        axis = node.args[2]
    if axis is None or (isinstance(axis, gast.Constant) and axis.value is None):
        return Array(x.dtype, 1)
    shapes.reduced_axes(axis, x.ndim, "np.take", single=True)  # refuses one out of range
    return Array(x.dtype, x.ndim)


def _like_first(args: list, node) -> Array:
    return Array(_array_of(args[0], "a write through an index").dtype, args[0].ndim)


def _added_at(args: list, node) -> Array:
    """``add_at(y, idx, v)`` (``np.add.at``): like ``y``; ``idx`` a vector of integers."""
    y = _array_of(args[0], "np.add.at")
    _vector_of("int", args[1], "np.add.at")
    return Array(y.dtype, y.ndim)


def _vector_of_first(args: list, node) -> Array:
    return Array(_array_of(args[0], "indexing").dtype, 1)


def _shaped_by_third(args: list, node) -> Array:
    """``scatter_along(g, idx, shape, axis)``: of ``g``'s dtype, ``shape``'s rank."""
    shape = args[2]
    ndim = len(shape.items) if isinstance(shape, TupleType) else 1
    return Array(args[0].dtype if isinstance(args[0], Array | Scalar) else "float64", ndim)


def _shaped_by_fourth(args: list, node) -> Array:
    """``scatter_pairs(g, rows, cols, shape)``: a matrix of ``g``'s dtype."""
    return Array(args[0].dtype if isinstance(args[0], Array | Scalar) else "float64", 2)


def _like_mask(args: list, node) -> Array:
    """``unmasked(g, mask)``: shaped like ``mask``, of ``g``'s dtype."""
    dtype = args[0].dtype if isinstance(args[0], Array | Scalar) else "float64"
    return Array(dtype, args[1].ndim)


def _indices(args: list, node) -> Array:
    _vector_of("bool", args[0], "true_indices")
    return Array("int64", 1)


# --- the entries: gathers and writes ----------------------------------------------------------------
# The writes (put_along, put_masked, add_at) are spelled by the indexing pass only, never
# by you, which annotates its calls as rules: their entries are helpers (forward_only), so
# that a call written in user code is refused, and tests/test_indexing.py checks them in
# every mode (the rule table's rows are expressions, and a write is a statement).


@register(take_along, result=_taken, linear_in=(0,), device=False, new_array=True)
class TakeAlong:
    # the adjoint adds each taken element's adjoint back: repeated indices accumulate
    def adjoint(b_out, x, idx, axis=None):
        return scatter_along(b_out, idx, x.shape, axis), None

    def tangent(dx, didx, x, idx, axis=None):
        return take_along(dx, idx, axis)


@register(take_pairs, result=_vector_of_first, linear_in=(0,), device=False, new_array=True)
class TakePairs:
    def adjoint(b_out, m, rows, cols):
        return scatter_pairs(b_out, rows, cols, m.shape), None, None

    def tangent(dm, drows, dcols, m, rows, cols):
        return take_pairs(dm, rows, cols)


@register(masked, result=_vector_of_first, linear_in=(0,), device=False, new_array=True)
class Masked:
    def adjoint(b_out, x, mask):
        return unmasked(b_out, mask), None

    def tangent(dx, dmask, x, mask):
        return masked(dx, mask)


@register(put_along, result=_like_first, device=False, forward_only=True, new_array=True)
class PutAlong:
    # y[idx] = v: the overwritten elements of y get no adjoint; a value a later repeated
    # index overwrote gets none either (the last value stays, as in NumPy's assignment)
    def adjoint(b_out, y, idx, v, axis=0):
        return unput_along(b_out, idx, axis), None, put_share_along(b_out, idx, axis)

    def tangent(dy, didx, dv, y, idx, v, axis=0):
        return unput_along(dy, idx, axis) + placed_along(dv, idx, y.shape, axis)


@register(put_masked, result=_like_first, device=False, forward_only=True, new_array=True)
class PutMasked:
    def adjoint(b_out, y, mask, v):
        return unput_masked(b_out, mask), None, masked(b_out, mask)

    def tangent(dy, dmask, dv, y, mask, v):
        return unput_masked(dy, mask) + unmasked(dv, mask)


@register(add_at, result=_added_at, device=False, forward_only=True, new_array=True)
class AddAt:
    # np.add.at(y, idx, v): y plus v scattered along the first axis (repeats accumulate)
    def adjoint(b_out, y, idx, v):
        return b_out, None, take_along(b_out, idx, 0)

    def tangent(dy, didx, dv, y, idx, v):
        return dy + scatter_along(dv, idx, y.shape, 0)


@register(true_indices, result=_indices, device=False, new_array=True)
class TrueIndices:
    # the positions a 1-d mask selects: integers, without derivative
    def adjoint(b_out, mask, n):
        return None, None

    def tangent(dmask, dn, mask, n):
        return None


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) ---------------------


@register(scatter_along, result=_shaped_by_third, linear_in=(0,), forward_only=True, new_array=True)
class ScatterAlong:
    def tangent(dg, didx, dshape, daxis, g, idx, shape, axis):
        return scatter_along(dg, idx, shape, axis)


@register(
    scatter_pairs, result=_shaped_by_fourth, linear_in=(0,), forward_only=True, new_array=True
)
class ScatterPairs:
    def tangent(dg, drows, dcols, dshape, g, rows, cols, shape):
        return scatter_pairs(dg, rows, cols, shape)


@register(unmasked, result=_like_mask, linear_in=(0,), forward_only=True, new_array=True)
class Unmasked:
    def tangent(dg, dmask, g, mask):
        return unmasked(dg, mask)


@register(unput_along, result=_like_first, linear_in=(0,), forward_only=True, new_array=True)
class UnputAlong:
    def tangent(dg, didx, daxis, g, idx, axis):
        return unput_along(dg, idx, axis)


@register(put_share_along, result=_like_first, linear_in=(0,), forward_only=True, new_array=True)
class PutShareAlong:
    def tangent(dg, didx, daxis, g, idx, axis):
        return put_share_along(dg, idx, axis)


@register(placed_along, result=_shaped_by_third, linear_in=(0,), forward_only=True, new_array=True)
class PlacedAlong:
    def tangent(dv, didx, dshape, daxis, v, idx, shape, axis):
        return placed_along(dv, idx, shape, axis)


@register(unput_masked, result=_like_first, linear_in=(0,), forward_only=True, new_array=True)
class UnputMasked:
    def tangent(dg, dmask, g, mask):
        return unput_masked(dg, mask)
