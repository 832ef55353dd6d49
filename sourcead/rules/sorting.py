"""Sorting and tables: ``np.sort``, ``np.partition`` and ``np.interp``.

A sort's derivative follows the permutation that sorts: the adjoint of the sorted array goes
back to where each element came from (``unsort_along``), the tangent is sorted as the array
is (``sorted_like``). Numba sorts vectors only, so every ``np.sort`` call becomes a call of
``sort_along`` (``calls``, rewritten by ``library.py``), which sorts along any axis, compiled
or not. ``np.partition`` is computed as a whole sort, which partitions at every ``kth``
(NumPy leaves the order on either side of ``kth`` unspecified), so its derivative is the
sort's. Ties take the order of a stable sort (tied elements keep their order): the sort's
derivative does not exist there, and this is one of its one-sided values.

``np.interp(x, xp, fp)`` is linear on each segment of ``xp``: its derivative along ``x`` is
the segment's slope (that of the segment to the right at a knot, 0 outside ``xp``), along
``fp`` the weights of the segment's two knots, along ``xp`` minus the slope times them.
"""

import numpy as np
from sourcead_runtime import (
    interp_adjoint,
    interp_slope,
    interp_spread,
    partition_along,
    sort_along,
    sorted_like,
    unsort_along,
)

from ..analysis.types import Array, Scalar
from . import shapes
from .library import Option, calls
from .registry import register

# --- what generated code calls ----------------------------------------------------------------

calls(
    np.sort,
    signature=("a", "axis", "kind", "order", "stable"),
    options={
        "axis": Option(-1, "axis"),
        "kind": Option(None, "ignored"),  # every kind sorts to the same values
        "order": Option(None, "default"),
        "stable": Option(None, "ignored"),
    },
    helper=sort_along,
)
calls(
    np.partition,
    signature=("a", "kth", "axis", "kind", "order"),
    arguments=2,
    options={
        "axis": Option(-1, "axis"),
        "kind": Option("introselect", "default"),
        "order": Option(None, "default"),
    },
    helper=partition_along,
)
calls(
    np.interp,
    signature=("x", "xp", "fp", "left", "right", "period"),
    arguments=3,
    options={
        "left": Option(None, "default"),
        "right": Option(None, "default"),
        "period": Option(None, "default"),
    },
)


# --- result types ---------------------------------------------------------------------------------


def _sorted(what: str, kth: bool = False):
    """The result rule of a sort: shaped like the array (``axis=None`` sorts ``np.ravel(a)``,
    ``library.py``); with ``kth``, the second argument is one integer (``np.partition``)."""

    def result(args: list, node):
        x = args[0] if args else None
        if not isinstance(x, Array):
            raise shapes.ArrayTypeProblem(f"{what} of a number (it sorts arrays)")
        if kth and not (len(args) > 1 and isinstance(args[1], Scalar) and args[1].kind == "int"):
            raise shapes.ArrayTypeProblem(f"{what} with kth other than one integer")
        axis = next((k.value for k in node.keywords if k.arg == "axis"), None)
        if axis is not None:  # (else the default, -1)
            shapes.reduced_axes(axis, x.ndim, what, single=True)  # refuses one out of range
        return x

    result.__name__ = f"{what.rpartition('.')[2]}_result"
    return result


def _interpolated(args: list, node):
    """``np.interp(x, xp, fp)``: shaped like ``x``, float64 (as NumPy's); ``xp`` and ``fp``
    vectors."""
    x, xp, fp = (list(args) + [None] * 3)[:3]
    if not (isinstance(xp, Array) and xp.ndim == 1 and isinstance(fp, Array) and fp.ndim == 1):
        raise shapes.ArrayTypeProblem("np.interp of xp and fp other than vectors")
    if isinstance(x, Array):
        return Array("float64", x.ndim)
    return Scalar("float", "float64")


def _like_x(args: list, node):
    """``interp_slope(x, xp, fp)``: shaped like ``x``, float64."""
    x = args[0]
    return Array("float64", x.ndim) if isinstance(x, Array) else Scalar("float", "float64")


def _knots(args: list, node) -> Array:
    """``interp_adjoint(g, x, xp)``, ``interp_spread``: a float64 vector like ``xp``."""
    return Array("float64", 1)


def _sorted_tangent(args: list, node) -> Array:
    """``sorted_like(dx, x, axis)``: shaped like ``x``, a vector for ``axis`` None."""
    flattened = len(args) > 2 and args[2] is None  # (the type of the constant None)
    return Array(args[0].dtype, 1 if flattened else args[1].ndim)


# --- the entries ------------------------------------------------------------------------------------


@register(sort_along, result=_sorted("np.sort"), complex=False, device=False, new_array=True)
class Sort:
    def adjoint(b_out, x, axis=-1):
        return unsort_along(b_out, x, axis)

    def tangent(dx, x, axis=-1):
        return sorted_like(dx, x, axis)


@register(
    partition_along,
    result=_sorted("np.partition", kth=True),
    complex=False,
    device=False,
    new_array=True,
)
class Partition:
    # computed as a whole sort: the sort's derivative (kth, an integer, has none)
    def adjoint(b_out, x, kth, axis=-1):
        return unsort_along(b_out, x, axis), None

    def tangent(dx, dkth, x, kth, axis=-1):
        return sorted_like(dx, x, axis)


@register(np.interp, result=_interpolated, linear_in=(2,), complex=False, device=False)
class Interp:
    def adjoint(b_out, x, xp, fp):
        return (
            b_out * interp_slope(x, xp, fp),
            interp_adjoint(-b_out * interp_slope(x, xp, fp), x, xp),
            interp_adjoint(b_out, x, xp),
        )

    def tangent(dx, dxp, dfp, x, xp, fp):
        return interp_slope(x, xp, fp) * (dx - np.interp(x, xp, dxp)) + np.interp(x, xp, dfp)


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) ---------------------


@register(
    unsort_along,
    result=shapes.like_second_of_all,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class UnsortAlong:
    # the permutation is constant between ties: linear in the adjoint, constant in x
    def tangent(dg, dx, daxis, g, x, axis):
        return unsort_along(dg, x, axis)


# the tangent of a sort, in generated tangents only (third derivatives are not offered)
@register(sorted_like, result=_sorted_tangent, linear_in=(0,), forward_only=True)
class SortedLike:
    pass


@register(interp_slope, result=_like_x, linear_in=(2,), forward_only=True)
class InterpSlope:
    # (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i]): constant in x on each segment
    def tangent(dx, dxp, dfp, x, xp, fp):
        return interp_slope(x, xp, dfp) - interp_slope(x, xp, fp) * interp_slope(x, xp, dxp)


@register(
    interp_adjoint,
    result=_knots,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class InterpAdjoint:
    # the weight t = (x - xp[i]) / (xp[i + 1] - xp[i]) moves with x and xp
    def tangent(dg, dx, dxp, g, x, xp):
        return interp_adjoint(dg, x, xp) + interp_spread(g * (dx - np.interp(x, xp, dxp)), x, xp)


@register(interp_spread, result=_knots, linear_in=(0,), forward_only=True)
class InterpSpread:
    pass
