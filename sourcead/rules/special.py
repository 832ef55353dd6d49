"""``scipy.special``: the entries of the runtime helpers that generated code calls for it.

Numba compiles none of SciPy's special functions (without numba-scipy), so generated code
calls a helper of ``sourcead_runtime`` (``runtime/special.py``) in place of each:
``scipy.special.expit(x)``, ``special.expit(x)`` and ``expit(x)`` (imported from
``scipy.special``) all become ``special_expit(x)`` (``calls`` below; ``library.py`` rewrites
the call). The entries are those of the helpers, whose rules call helpers too
(``special_polygamma(1, x)``, the derivative of the digamma function), each with a tangent
rule of its own, so that second derivatives (``hvp``) differentiate the adjoints again.

The functions along axes (``logsumexp``, ``softmax``, ``log_softmax``) take ``axis=`` as
NumPy's reductions do (None, an integer or a tuple of integers written in the call);
``logsumexp`` also takes ``keepdims=`` and an array of weights ``b=`` (a call with ``b=``
calls ``special_logsumexp_weighted``), and refuses ``return_sign=True``.
"""

import math

import numpy as np
import scipy.special
from sourcead_runtime import (
    expand_along,
    softmax_share,
    special_digamma,
    special_erf,
    special_erfc,
    special_expit,
    special_gammaln,
    special_log_softmax,
    special_logit,
    special_logsumexp,
    special_logsumexp_share,
    special_logsumexp_weighted,
    special_polygamma,
    special_softmax,
    special_xdivy,
    special_xlog1py,
    special_xlogy,
    sum_along,
    sum_keepdims,
    unbroadcast,
)

from ..analysis.types import FLOAT, Array, Scalar
from . import shapes
from .library import Option, calls
from .registry import register

# --- what generated code calls ----------------------------------------------------------------

for _function, _helper in (
    (scipy.special.expit, special_expit),
    (scipy.special.logit, special_logit),
    (scipy.special.erf, special_erf),
    (scipy.special.erfc, special_erfc),
    (scipy.special.gammaln, special_gammaln),
    (scipy.special.digamma, special_digamma),  # (scipy.special.psi is digamma)
):
    calls(_function, signature=("x",), helper=_helper)
del _function, _helper
calls(scipy.special.polygamma, signature=("n", "x"), arguments=2, helper=special_polygamma)
calls(scipy.special.xlogy, signature=("x", "y"), arguments=2, helper=special_xlogy)
calls(scipy.special.xlog1py, signature=("x", "y"), arguments=2, helper=special_xlog1py)
calls(
    scipy.special.logsumexp,
    signature=("a", "axis", "b", "keepdims", "return_sign"),
    options={
        "axis": Option(None, "axes"),
        "b": Option(None, "value"),
        "keepdims": Option(False, "flag"),
        "return_sign": Option(False, "default"),
    },
    helper=special_logsumexp,
    variants={"b": special_logsumexp_weighted},
)
calls(
    scipy.special.softmax,
    signature=("x", "axis"),
    options={"axis": Option(None, "axes")},
    helper=special_softmax,
)
calls(
    scipy.special.log_softmax,
    signature=("x", "axis"),
    options={"axis": Option(None, "axes")},
    helper=special_log_softmax,
)


# --- result types ---------------------------------------------------------------------------------


def _keyword(node, name: str):
    """The call's keyword argument ``name`` (the rewrite passes options by keyword), or None."""
    return next((k.value for k in node.keywords if k.arg == name), None)


def _array_of(args: list, what: str) -> Array:
    if not args or not isinstance(args[0], Array):
        raise shapes.ArrayTypeProblem(f"{what} of a number (it takes an array)")
    return args[0]


def _shaped_like(what: str):
    """The result rule of a function along axes whose result is shaped like its array."""

    def result(args: list, node):
        x = _array_of(args, what)
        shapes.reduced_axes(_keyword(node, "axis"), x.ndim, what)  # refuses an axis out of range
        return Array(shapes.result_dtype([x], floating=True), x.ndim)

    result.__name__ = f"{what.rpartition('.')[2]}_result"
    return result


def _floating_or_number(args: list, node):
    """Element by element, integers made floats; a float for numbers (a helper of adjoints,
    which forward mode types whatever its arguments)."""
    return shapes.floating_elementwise(args, node) or FLOAT


def _polygamma_result(args: list, node):
    """``polygamma(n, x)``: of ``x``'s shape; the order ``n`` one integer."""
    if not (args and isinstance(args[0], Scalar) and args[0].kind == "int"):
        raise shapes.ArrayTypeProblem(
            "scipy.special.polygamma with an order n other than one integer"
        )
    return shapes.floating_elementwise(args[1:], node)  # (None for a number: a float)


def _logsumexp_result(args: list, node):
    """``logsumexp``: the reduced axes dropped (or kept as length 1); with ``b=``, an array of
    weights."""
    what = "scipy.special.logsumexp"
    a = _array_of(args, what)
    if len(args) > 1 and not isinstance(args[1], Array):
        raise shapes.ArrayTypeProblem(f"{what} with b= a number (pass an array of weights)")
    axes = shapes.reduced_axes(_keyword(node, "axis"), a.ndim, what)
    keepdims = _keyword(node, "keepdims")
    ndim = a.ndim if getattr(keepdims, "value", False) is True else a.ndim - len(axes)
    dtype = shapes.result_dtype([a], floating=True)
    return Array(dtype, ndim) if ndim else shapes.scalar_of(dtype)


# --- element-wise ---------------------------------------------------------------------------------


@register(special_expit, result=shapes.floating_elementwise, complex=False, device=False)
class Expit:
    # expit(x) expit(-x), not expit(x) (1 - expit(x)): exact in both tails
    def adjoint(b_out, x):
        return b_out * (special_expit(x) * special_expit(-x))

    def tangent(dx, x):
        return special_expit(x) * special_expit(-x) * dx


@register(special_logit, result=shapes.floating_elementwise, complex=False, device=False)
class Logit:
    def adjoint(b_out, x):
        return b_out * (1.0 / (x * (1.0 - x)))

    def tangent(dx, x):
        return dx / (x * (1.0 - x))


@register(special_erf, result=shapes.floating_elementwise, complex=False, device=False)
class SpecialErf:
    def adjoint(b_out, x):
        return b_out * (2.0 / np.sqrt(np.pi) * np.exp(-x * x))

    def tangent(dx, x):
        return 2.0 / np.sqrt(np.pi) * np.exp(-x * x) * dx


@register(special_erfc, result=shapes.floating_elementwise, complex=False, device=False)
class SpecialErfc:
    def adjoint(b_out, x):
        return b_out * (-2.0 / np.sqrt(np.pi) * np.exp(-x * x))

    def tangent(dx, x):
        return -2.0 / np.sqrt(np.pi) * np.exp(-x * x) * dx


@register(special_gammaln, result=shapes.floating_elementwise, complex=False, device=False)
class Gammaln:
    # the derivative of log |Gamma(x)| is the digamma function, for negative x too
    def adjoint(b_out, x):
        return b_out * special_digamma(x)

    def tangent(dx, x):
        return special_digamma(x) * dx


@register(math.lgamma, device=False)
class Lgamma:
    # math.lgamma is log |Gamma(x)|, as gammaln: its derivative is the digamma function
    def adjoint(b_out, x):
        return b_out * special_digamma(x)

    def tangent(dx, x):
        return special_digamma(x) * dx


@register(special_digamma, result=shapes.floating_elementwise, complex=False, device=False)
class Digamma:
    def adjoint(b_out, x):
        return b_out * special_polygamma(1, x)

    def tangent(dx, x):
        return special_polygamma(1, x) * dx


@register(special_polygamma, result=_polygamma_result, complex=False, device=False)
class Polygamma:
    # the order n is an integer: no derivative
    def adjoint(b_out, n, x):
        return None, b_out * special_polygamma(n + 1, x)

    def tangent(dn, dx, n, x):
        return special_polygamma(n + 1, x) * dx


# x log(y) and x log(1 + y) are 0 for every y where x is 0: their derivatives with respect to
# y are x / y and x / (1 + y) but 0 there (special_xdivy), also where y is 0 or -1
@register(special_xlogy, result=shapes.floating_elementwise, complex=False, device=False)
class Xlogy:
    def adjoint(b_out, x, y):
        return b_out * np.log(y), b_out * special_xdivy(x, y)

    def tangent(dx, dy, x, y):
        return np.log(y) * dx + special_xdivy(x, y) * dy


@register(special_xlog1py, result=shapes.floating_elementwise, complex=False, device=False)
class Xlog1py:
    def adjoint(b_out, x, y):
        return b_out * np.log1p(y), b_out * special_xdivy(x, 1.0 + y)

    def tangent(dx, dy, x, y):
        return np.log1p(y) * dx + special_xdivy(x, 1.0 + y) * dy


@register(special_xdivy, result=_floating_or_number, forward_only=True)
class Xdivy:
    # where x is 0, x / y is 0 for every y: its derivative along y is 0 there, along x 1 / y
    def tangent(dx, dy, x, y):
        return dx / y - special_xdivy(x, y) / y * dy


# --- along axes -------------------------------------------------------------------------------------
# Adjoints read the axis as a positional argument of helpers of their own (softmax_share,
# sum_keepdims, special_logsumexp_share, expand_along): forward mode over an adjoint (hvp) reads
# None (every axis) only so.


@register(
    special_softmax,
    result=_shaped_like("scipy.special.softmax"),
    complex=False,
    device=False,
    new_array=True,
)
class Softmax:
    # its Jacobian diag(s) - s s^T (along each group of the axes) is symmetric
    def adjoint(b_out, x, axis=None):
        return softmax_share(x, axis) * (b_out - sum_keepdims(b_out * softmax_share(x, axis), axis))

    def tangent(dx, x, axis=None):
        return special_softmax(x, axis=axis) * (
            dx - sum_along(special_softmax(x, axis=axis) * dx, axis=axis, keepdims=True)
        )


@register(
    special_log_softmax,
    result=_shaped_like("scipy.special.log_softmax"),
    complex=False,
    device=False,
    new_array=True,
)
class LogSoftmax:
    def adjoint(b_out, x, axis=None):
        return b_out - softmax_share(x, axis) * sum_keepdims(b_out, axis)

    def tangent(dx, x, axis=None):
        return dx - sum_along(special_softmax(x, axis=axis) * dx, axis=axis, keepdims=True)


@register(special_logsumexp, result=_logsumexp_result, complex=False, device=False)
class Logsumexp:
    # the derivative along a is the softmax of a (over the same axes)
    def adjoint(b_out, a, axis=None, keepdims=False):
        return expand_along(b_out, a.shape, axis) * softmax_share(a, axis)

    def tangent(da, a, axis=None, keepdims=False):
        return sum_along(special_softmax(a, axis=axis) * da, axis=axis, keepdims=keepdims)


@register(special_logsumexp_weighted, result=_logsumexp_result, complex=False, device=False)
class LogsumexpWeighted:
    # log(sum(b exp(a))): along a, b exp(a - logsumexp); along b, exp(a - logsumexp)
    # (special_logsumexp_share), summed back to the shape of b where it was broadcast
    def adjoint(b_out, a, b, axis=None, keepdims=False):
        g = expand_along(b_out, a.shape, axis) * special_logsumexp_share(a, b, axis)
        return g * b, unbroadcast(g, b.shape)

    def tangent(da, db, a, b, axis=None, keepdims=False):
        return sum_along(
            special_logsumexp_share(a, b, axis) * (b * da + db), axis=axis, keepdims=keepdims
        )


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) ---------------------


@register(softmax_share, result=shapes.floating_like_first, forward_only=True, new_array=True)
class SoftmaxShare:
    def tangent(dx, daxis, x, axis):
        return softmax_share(x, axis) * (
            dx - sum_along(softmax_share(x, axis) * dx, axis=axis, keepdims=True)
        )


@register(sum_keepdims, result=shapes.like_first_array, linear_in=(0,), forward_only=True)
class SumKeepdims:
    def tangent(dg, daxis, g, axis):
        return sum_keepdims(dg, axis)


@register(
    special_logsumexp_share,
    result=shapes.floating_like_first,
    forward_only=True,
    new_array=True,
)
class LogsumexpShare:
    def tangent(da, db, daxis, a, b, axis):
        return special_logsumexp_share(a, b, axis) * (
            da
            - sum_along(
                special_logsumexp_share(a, b, axis) * (b * da + db), axis=axis, keepdims=True
            )
        )
