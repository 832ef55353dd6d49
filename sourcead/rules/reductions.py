"""Reductions along axes: ``axis=``, ``keepdims=`` and ``ddof=``; the indices of extrema and orders.

Numba compiles ``np.sum(x, axis=k)`` for one integer ``k`` and no other reduction along axes,
so the array-syntax rewrite (``lowering/arrays.py``) turns a call whose options Numba does
not compile into a call of the runtime helper that takes them (``OPTIONS`` says which):
``np.max(z, axis=1, keepdims=True)`` becomes ``max_along(z, axis=1, keepdims=True)``. The
axes and ``keepdims`` must be written in the call (integers, a tuple of them, True or False),
so that the result's number of dimensions is known before anything runs.

The helpers are the primitives of the entries here. ``np.sum``, ``np.mean``, ``np.prod``,
``np.max``, ``np.min``, ``np.cumsum`` and ``np.cumprod`` of whole arrays keep their entries in
``numpy.py``; ``np.ptp``, ``np.var``, ``np.std`` and the indices share one entry with their
helper (a call without options goes to NumPy's function, which Numba compiles).

A reduction's adjoint repeats the result's adjoint along the reduced axes
(``expand_along``), times the derivative of the result with respect to each element:
``prod_others_along`` (the product of the others, exact where elements are zero),
``max_share_along`` (a maximum's adjoint is shared equally among the elements equal to it,
as JAX shares it: ``max(a, a)`` has the gradient (1/2, 1/2)), ``centered_along`` and
``std_share_along`` (the variance's and the standard deviation's). Adjoints read only those
helpers, which forward mode differentiates again (``hvp``) by the tangent rules of their
entries below. Indices (``np.argmax``, ``np.argmin``, ``np.argsort``) have no derivative:
their rules return None and their integer results are never active; they index arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sourcead_runtime import (
    argmax_along,
    argmin_along,
    argsort_along,
    centered_along,
    cumprod_along,
    cumprod_along_tangent,
    cumsum_along,
    expand_along,
    expand_mean_along,
    max_along,
    max_share_along,
    mean_along,
    median_along,
    median_share_along,
    min_along,
    min_share_along,
    prod_along,
    prod_others_along,
    prod_others_along_tangent,
    ptp_along,
    reverse_cumprod_along,
    reverse_cumprod_along_tangent,
    reverse_cumsum_along,
    std_along,
    std_share_along,
    std_share_along_tangent,
    sum_along,
    var_along,
)

from . import shapes
from .registry import register

# --- the options of NumPy's reductions, and where calls with them go -------------------------


@dataclass(frozen=True)
class Options:
    """The options sourcead takes in calls of a NumPy reduction, and where such calls go."""

    along: object  # the runtime helper that takes them (np.max -> max_along)
    names: tuple[str, ...] = ("axis", "keepdims")  # in the helper's order
    single_axis: bool = False  # axis= is one integer, not a tuple
    numba: frozenset = frozenset()  # options Numba compiles in NumPy's call ("axis": one integer)
    always: bool = False  # calls without options go to the helper too
    defaults: dict = field(default_factory=lambda: {"axis": None, "keepdims": False, "ddof": 0})


_VARIANCE = ("axis", "ddof", "keepdims")

#: NumPy's functions whose options sourcead takes, each with its options.
OPTIONS = {
    np.sum: Options(sum_along),
    np.mean: Options(mean_along),
    np.prod: Options(prod_along),
    np.max: Options(max_along),
    np.amax: Options(max_along),
    np.min: Options(min_along),
    np.amin: Options(min_along),
    np.ptp: Options(ptp_along),
    np.median: Options(median_along),
    np.var: Options(var_along, _VARIANCE),
    np.std: Options(std_along, _VARIANCE),
    np.cumsum: Options(cumsum_along, ("axis",), single_axis=True),
    np.cumprod: Options(cumprod_along, ("axis",), single_axis=True),
    np.argmax: Options(argmax_along, single_axis=True, numba=frozenset({"axis"})),
    np.argmin: Options(argmin_along, single_axis=True, numba=frozenset({"axis"})),
    # every call: Numba sorts vectors only, and the helper's sort is stable, compiled or not
    np.argsort: Options(
        argsort_along, ("axis",), single_axis=True, always=True, defaults={"axis": -1}
    ),
}


# --- sums, means and products along axes -----------------------------------------------------


@register(sum_along, result=shapes.along(np.sum, "np.sum"), linear_in=(0,), device=False)
class SumAlong:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return expand_along(b_out, x.shape, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(dx, axis=axis, keepdims=keepdims)


@register(mean_along, result=shapes.along(np.mean, "np.mean"), linear_in=(0,), device=False)
class MeanAlong:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return expand_mean_along(b_out, x.shape, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return mean_along(dx, axis=axis, keepdims=keepdims)


@register(prod_along, result=shapes.along(np.prod, "np.prod"), device=False)
class ProdAlong:
    def adjoint(b_out, x, axis=None, keepdims=False):
        # the product of the others, not the product over x: exact where elements are zero
        return expand_along(b_out, x.shape, axis) * prod_others_along(x, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(dx * prod_others_along(x, axis), axis=axis, keepdims=keepdims)


# --- extrema: ties share the adjoint equally ---------------------------------------------------


@register(max_along, result=shapes.along(np.max, "np.max"), complex=False, device=False)
class MaxAlong:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return expand_along(b_out, x.shape, axis) * max_share_along(x, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(dx * max_share_along(x, axis), axis=axis, keepdims=keepdims)


@register(min_along, result=shapes.along(np.min, "np.min"), complex=False, device=False)
class MinAlong:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return expand_along(b_out, x.shape, axis) * min_share_along(x, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(dx * min_share_along(x, axis), axis=axis, keepdims=keepdims)


@register(np.ptp, ptp_along, result=shapes.along(np.ptp, "np.ptp"), complex=False, device=False)
class Ptp:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return expand_along(b_out, x.shape, axis) * (
            max_share_along(x, axis) - min_share_along(x, axis)
        )

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(
            dx * (max_share_along(x, axis) - min_share_along(x, axis)),
            axis=axis,
            keepdims=keepdims,
        )


@register(
    np.median,
    median_along,
    result=shapes.along(np.median, "np.median", keepdims_position=4),
    complex=False,
    device=False,
)
class Median:
    # the middle element of each sorted group, or the mean of the two middle ones
    def adjoint(b_out, x, axis=None, keepdims=False):
        return expand_along(b_out, x.shape, axis) * median_share_along(x, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(dx * median_share_along(x, axis), axis=axis, keepdims=keepdims)


# --- variances and standard deviations -------------------------------------------------------


@register(
    np.var,
    var_along,
    result=shapes.along(np.var, "np.var", keepdims_position=3),
    methods=("var",),
    complex=False,
    device=False,
)
class Var:
    def adjoint(b_out, x, axis=None, ddof=0, keepdims=False):
        return expand_along(b_out, x.shape, axis) * (2.0 * centered_along(x, axis, ddof))

    def tangent(dx, x, axis=None, ddof=0, keepdims=False):
        return 2.0 * sum_along(centered_along(x, axis, ddof) * dx, axis=axis, keepdims=keepdims)


@register(
    np.std,
    std_along,
    result=shapes.along(np.std, "np.std", keepdims_position=3),
    methods=("std",),
    complex=False,
    device=False,
)
class Std:
    def adjoint(b_out, x, axis=None, ddof=0, keepdims=False):
        # nan where the standard deviation is zero: it has no derivative there
        return expand_along(b_out, x.shape, axis) * std_share_along(x, axis, ddof)

    def tangent(dx, x, axis=None, ddof=0, keepdims=False):
        return sum_along(std_share_along(x, axis, ddof) * dx, axis=axis, keepdims=keepdims)


# --- cumulative sums and products along an axis ----------------------------------------------
# (axis is always given: np.cumsum(x) without it is numpy.py's flattened entry)


@register(
    cumsum_along,
    result=shapes.cumulative_along(np.cumsum, "np.cumsum"),
    linear_in=(0,),
    device=False,
)
class CumsumAlong:
    def adjoint(b_out, x, axis=None):
        return reverse_cumsum_along(b_out, axis)

    def tangent(dx, x, axis=None):
        return cumsum_along(dx, axis)


@register(cumprod_along, result=shapes.cumulative_along(np.cumprod, "np.cumprod"), device=False)
class CumprodAlong:
    def adjoint(b_out, x, axis=None):
        # recurrences, not divisions by x: exact where elements are zero
        return reverse_cumprod_along(b_out, x, axis)

    def tangent(dx, x, axis=None):
        return cumprod_along_tangent(x, dx, axis)


# --- indices: no derivative ---------------------------------------------------------------------


@register(
    np.argmax,
    argmax_along,
    result=shapes.along(np.argmax, "np.argmax"),
    methods=("argmax",),
    complex=False,
    device=False,
)
class Argmax:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return None

    def tangent(dx, x, axis=None, keepdims=False):
        return None


@register(
    np.argmin,
    argmin_along,
    result=shapes.along(np.argmin, "np.argmin"),
    methods=("argmin",),
    complex=False,
    device=False,
)
class Argmin:
    def adjoint(b_out, x, axis=None, keepdims=False):
        return None

    def tangent(dx, x, axis=None, keepdims=False):
        return None


@register(
    np.argsort,
    argsort_along,
    result=shapes.sorted_along,
    methods=("argsort",),
    complex=False,
    device=False,
)
class Argsort:
    def adjoint(b_out, x, axis=-1):
        return None

    def tangent(dx, x, axis=-1):
        return None


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) ---------------


@register(
    expand_along,
    result=shapes.shaped_by_second,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ExpandAlong:
    def tangent(dg, dshape, daxis, g, shape, axis):
        return expand_along(dg, shape, axis)


@register(
    expand_mean_along,
    result=shapes.shaped_by_second,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ExpandMeanAlong:
    def tangent(dg, dshape, daxis, g, shape, axis):
        return expand_mean_along(dg, shape, axis)


@register(prod_others_along, result=shapes.like_first_array, forward_only=True, new_array=True)
class ProdOthersAlong:
    def tangent(dx, daxis, x, axis):
        return prod_others_along_tangent(x, dx, axis)


# a share is constant between ties: its tangent is zero
@register(max_share_along, result=shapes.floating_like_first, forward_only=True, new_array=True)
class MaxShareAlong:
    def tangent(dx, daxis, x, axis):
        return None


@register(min_share_along, result=shapes.floating_like_first, forward_only=True, new_array=True)
class MinShareAlong:
    def tangent(dx, daxis, x, axis):
        return None


@register(median_share_along, result=shapes.floating_like_first, forward_only=True, new_array=True)
class MedianShareAlong:
    def tangent(dx, daxis, x, axis):
        return None


@register(
    centered_along,
    result=shapes.floating_like_first,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class CenteredAlong:
    def tangent(dx, daxis, dddof, x, axis, ddof):
        return centered_along(dx, axis, ddof)


@register(std_share_along, result=shapes.floating_like_first, forward_only=True, new_array=True)
class StdShareAlong:
    def tangent(dx, daxis, dddof, x, axis, ddof):
        return std_share_along_tangent(x, dx, axis, ddof)


@register(
    reverse_cumsum_along,
    result=shapes.like_first_array,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ReverseCumsumAlong:
    def tangent(dg, daxis, g, axis):
        return reverse_cumsum_along(dg, axis)


@register(
    reverse_cumprod_along,
    result=shapes.like_second_of_all,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ReverseCumprodAlong:
    def tangent(db, dx, daxis, b, x, axis):
        return reverse_cumprod_along(db, x, axis) + reverse_cumprod_along_tangent(b, x, dx, axis)


# The tangents of helpers, in generated tangents only: linear in the tangents they take (third
# derivatives are not offered, so they have no rules of their own).
@register(
    prod_others_along_tangent,
    result=shapes.like_first_of_both,
    linear_in=(1,),
    forward_only=True,
    new_array=True,
)
class ProdOthersAlongTangent:
    pass


@register(
    std_share_along_tangent,
    result=shapes.like_first_of_both,
    linear_in=(1,),
    forward_only=True,
    new_array=True,
)
class StdShareAlongTangent:
    pass


@register(
    reverse_cumprod_along_tangent,
    result=shapes.like_second_of_all,
    linear_in=(0, 2),
    forward_only=True,
    new_array=True,
)
class ReverseCumprodAlongTangent:
    pass


@register(
    cumprod_along_tangent,
    result=shapes.like_first_of_both,
    linear_in=(1,),
    forward_only=True,
    new_array=True,
)
class CumprodAlongTangent:
    pass
