"""Reductions along axes: ``np.sum``, ``np.max``, ``np.var`` … with ``axis=`` and ``keepdims=``.

Numba compiles ``np.sum(x, axis=k)`` for one constant integer ``k`` and no other reduction
along axes, so generated code calls these helpers instead (``max_along(z, axis=1,
keepdims=True)`` for ``np.max(z, axis=1, keepdims=True)``). Each is a plain NumPy function,
what ``compile=False`` runs, with a Numba implementation (``numba.extending.overload``)
made for the call's number of dimensions, axes and ``keepdims``, which are constants of
the call: the implementation moves the reduced axes last, so that the array is a matrix
with one row per element of the result (its *rows*), reduces or transforms each row, and
puts the axes back.

The adjoint helpers give the derivative of each reduction with respect to its array:
``expand_along`` repeats a reduction's adjoint along the reduced axes (the adjoint of a
sum), ``max_share_along`` says how a maximum's adjoint is shared among the elements that
reach it (equally among ties), ``centered_along`` and ``std_share_along`` are the derivatives
of the variance and the standard deviation, ``prod_others_along`` and the ``reverse_cum*``
helpers those of products and cumulative sums and products. The ``*_tangent`` helpers are
their tangents, which forward mode over an adjoint (``hvp``) calls.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .exports import EXPORTS
from .overloads import implementation as _implementation

__all__ = list(EXPORTS["reductions"])  # (the names: exports.py)


# --- axes ----------------------------------------------------------------------------------------


def normalized_axes(axis, ndim: int) -> tuple[int, ...]:
    """The axes ``axis`` names (an integer, a tuple of them, or None for every axis) of an
    array of ``ndim`` dimensions, non-negative and sorted; ValueError where NumPy raises."""
    if axis is None:
        return tuple(range(ndim))
    named = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    axes = []
    for a in named:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        axes.append(a % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError("an axis is repeated")
    return tuple(sorted(axes))


def _constant(value_type, what: str):
    """The value of an argument that must be a constant of the call (an axis, keepdims), as
    Numba types it: a literal, a tuple of literals, or an omitted argument's default."""
    if value_type is None or isinstance(value_type, types.NoneType):
        return None
    if isinstance(value_type, bool | int | tuple):  # an omitted argument's default
        return value_type
    if isinstance(value_type, types.Omitted):
        return value_type.value
    if isinstance(value_type, types.BooleanLiteral | types.IntegerLiteral):
        return value_type.literal_value
    if isinstance(value_type, types.BaseTuple) and all(
        isinstance(t, types.IntegerLiteral) for t in value_type.types
    ):
        return tuple(t.literal_value for t in value_type.types)
    raise TypingError(f"sourcead_runtime: {what} must be a constant (integers, True or False)")


def _constant_axes(axis, ndim: int) -> tuple[int, ...]:
    try:
        return normalized_axes(_constant(axis, "axis"), ndim)
    except ValueError as error:
        raise TypingError(f"sourcead_runtime: {error}") from None


# --- the rows of an array ------------------------------------------------------------------------


def _tuple_source(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


class _Layout:
    """An array of ``ndim`` dimensions reduced over ``axes``, seen as a matrix: the kept axes
    first, then the reduced ones, one row per element of the result. Gives the source of
    the Numba implementations' conversions (shapes are read from a tuple named at each)."""

    def __init__(self, ndim: int, axes: tuple[int, ...]):
        self.ndim, self.axes = ndim, axes
        self.kept = tuple(a for a in range(ndim) if a not in axes)
        self.order = self.kept + axes
        self.moved = self.order != tuple(range(ndim))  # else the reduced axes are last already

    def size(self, shape: str, axes) -> str:
        return " * ".join(f"{shape}[{a}]" for a in axes) or "1"

    def rows(self, array: str) -> str:
        """The C-contiguous matrix of ``array``'s rows."""
        moved = f"np.transpose({array}, {self.order})" if self.moved else array
        shape = f"{array}.shape"
        outer, inner = self.size(shape, self.kept), self.size(shape, self.axes)
        return f"np.ascontiguousarray({moved}).reshape(({outer}, {inner}))"

    def back(self, rows: str, shape: str) -> str:
        """A matrix of rows put back in an array of ``shape``."""
        if not self.moved:
            return f"{rows}.reshape({shape})"
        moved_shape = _tuple_source(f"{shape}[{a}]" for a in self.order)
        inverse = tuple(self.order.index(a) for a in range(self.ndim))
        return f"np.ascontiguousarray(np.transpose({rows}.reshape({moved_shape}), {inverse}))"

    def result(self, values: str, shape: str, keepdims: bool) -> str:
        """The reduction's result from its vector of one value per row."""
        if keepdims:
            dims = ["1" if a in self.axes else f"{shape}[{a}]" for a in range(self.ndim)]
        elif not self.kept:
            return f"{values}[0]"  # every axis reduced: a number
        else:
            dims = [f"{shape}[{a}]" for a in self.kept]
        return f"{values}.reshape({_tuple_source(dims)})"


def _reduced(signature, x, axis, keepdims, kernel, dtype, arguments=""):
    """The implementation of a reduction: ``kernel(row{arguments})`` for each row of ``x``."""
    layout = _Layout(x.ndim, _constant_axes(axis, x.ndim))
    body = [
        f"rows = {layout.rows('x')}",
        "out = np.empty(rows.shape[0], dtype=DTYPE)",
        "for i in range(rows.shape[0]):",
        f"    out[i] = kernel(rows[i]{arguments})",
        f"return {layout.result('out', 'x.shape', _constant(keepdims, 'keepdims'))}",
    ]
    return _implementation(signature, body, kernel=kernel, DTYPE=np.dtype(dtype).type)


def _mapped(signature, arrays, axis, kernel, dtype, arguments=""):
    """The implementation of a transformation of rows: ``kernel(rows…, out{arguments})``
    writes each row of the result, shaped like the first of ``arrays`` (argument names)."""
    first = arrays[0]
    ndim = first[1].ndim
    layout = _Layout(ndim, _constant_axes(axis, ndim))
    body = [f"{name}_rows = {layout.rows(name)}" for name, _ in arrays]
    rows = ", ".join(f"{name}_rows[i]" for name, _ in arrays)
    body += [
        f"out = np.empty({first[0]}_rows.shape, dtype=DTYPE)",
        "for i in range(out.shape[0]):",
        f"    kernel({rows}, out[i]{arguments})",
        f"return {layout.back('out', first[0] + '.shape')}",
    ]
    return _implementation(signature, body, kernel=kernel, DTYPE=np.dtype(dtype).type)


def _rowwise(function, arrays, axis, dtype):
    """Plain NumPy: ``function`` (of vectors, returning a vector) applied to the rows of
    ``arrays`` (of one shape) along ``axis``, in an array of that shape."""
    arrays = [np.asarray(a) for a in arrays]
    shape = arrays[0].shape
    axes = normalized_axes(axis, len(shape))
    kept = tuple(a for a in range(len(shape)) if a not in axes)
    moved = [np.transpose(a, kept + axes) for a in arrays]
    inner = math.prod(shape[a] for a in axes)
    outer = math.prod(shape[a] for a in kept)
    rows = [np.ascontiguousarray(m).reshape(outer, inner) for m in moved]
    out = np.empty((outer, inner), dtype)
    for i in range(outer):
        out[i] = function(*(r[i] for r in rows))
    return np.ascontiguousarray(np.transpose(out.reshape(moved[0].shape), np.argsort(kept + axes)))


def _result_dtype(reduction, *dtypes) -> np.dtype:
    """NumPy's dtype of ``reduction`` of arrays of ``dtypes`` (``np.mean`` of integers: float64)."""
    return np.asarray(reduction(*(np.ones(2, as_dtype(d)) for d in dtypes))).dtype


def _floating(*dtypes) -> np.dtype:
    """The dtype of derivatives of arrays of ``dtypes``: theirs, floats for integers."""
    dtype = np.result_type(*(as_dtype(d) if not isinstance(d, np.dtype) else d for d in dtypes))
    return dtype if dtype.kind in "fc" else np.dtype("float64")


def _arrays(*values) -> bool:
    return all(isinstance(v, types.Array) for v in values)


# --- the reductions -------------------------------------------------------------------------------


def sum_along(x, axis=None, keepdims=False):
    """``np.sum(x, axis=axis, keepdims=keepdims)``, with any axes."""
    return np.sum(x, axis=axis, keepdims=keepdims)


def mean_along(x, axis=None, keepdims=False):
    """``np.mean(x, axis=axis, keepdims=keepdims)``, with any axes."""
    return np.mean(x, axis=axis, keepdims=keepdims)


def prod_along(x, axis=None, keepdims=False):
    """``np.prod(x, axis=axis, keepdims=keepdims)``, with any axes."""
    return np.prod(x, axis=axis, keepdims=keepdims)


def max_along(x, axis=None, keepdims=False):
    """``np.max(x, axis=axis, keepdims=keepdims)``, with any axes."""
    return np.max(x, axis=axis, keepdims=keepdims)


def min_along(x, axis=None, keepdims=False):
    """``np.min(x, axis=axis, keepdims=keepdims)``, with any axes."""
    return np.min(x, axis=axis, keepdims=keepdims)


def ptp_along(x, axis=None, keepdims=False):
    """``np.ptp(x, axis=axis, keepdims=keepdims)``: the maximum less the minimum."""
    return np.ptp(x, axis=axis, keepdims=keepdims)


def median_along(x, axis=None, keepdims=False):
    """``np.median(x, axis=axis, keepdims=keepdims)``, with any axes."""
    return np.median(x, axis=axis, keepdims=keepdims)


def var_along(x, axis=None, ddof=0, keepdims=False):
    """``np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)``, with any axes."""
    return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


def std_along(x, axis=None, ddof=0, keepdims=False):
    """``np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)``, with any axes."""
    return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)


def argmax_along(x, axis=None, keepdims=False):
    """``np.argmax(x, axis=axis, keepdims=keepdims)`` (Numba has no ``keepdims``)."""
    return np.argmax(x, axis=axis, keepdims=keepdims)


def argmin_along(x, axis=None, keepdims=False):
    """``np.argmin(x, axis=axis, keepdims=keepdims)`` (Numba has no ``keepdims``)."""
    return np.argmin(x, axis=axis, keepdims=keepdims)


def argsort_along(x, axis=-1):
    """``np.argsort(x, axis=axis)``, stable: tied elements keep their order, compiled or not
    (Numba sorts vectors only)."""
    return np.argsort(x, axis=axis, kind="stable")


def cumsum_along(x, axis):
    """``np.cumsum(x, axis=axis)`` along one axis."""
    return np.cumsum(x, axis=axis)


def cumprod_along(x, axis):
    """``np.cumprod(x, axis=axis)`` along one axis."""
    return np.cumprod(x, axis=axis)


@numba.njit(cache=True)
def _row_sum(row):
    return np.sum(row)


@numba.njit(cache=True)
def _row_mean(row):
    return np.sum(row) / row.size


@numba.njit(cache=True)
def _row_prod(row):
    return np.prod(row)


@numba.njit(cache=True)
def _row_max(row):
    return np.max(row)


@numba.njit(cache=True)
def _row_min(row):
    return np.min(row)


@numba.njit(cache=True)
def _row_ptp(row):
    return np.max(row) - np.min(row)


@numba.njit(cache=True)
def _row_argmax(row):
    return np.argmax(row)


@numba.njit(cache=True)
def _row_argmin(row):
    return np.argmin(row)


@numba.njit(cache=True)
def _row_median(row):
    return np.median(row)


@numba.njit(cache=True)
def _row_var(row, ddof):
    """The variance with ``ddof`` (NumPy's: the divisor is at least 0; nothing over 0 is nan)."""
    mean = np.sum(row) / row.size
    total = 0.0
    for v in row:
        total += (v - mean) * (v - mean)
    count = max(row.size - ddof, 0)
    if count == 0:  # as NumPy's division by zero, without Numba's ZeroDivisionError
        return np.inf if total > 0 else np.nan
    return total / count


@numba.njit(cache=True)
def _row_std(row, ddof):
    return np.sqrt(_row_var(row, ddof))


def _reduction(function, kernel):
    """Register the Numba implementation of the reduction ``function`` (x, axis, keepdims)."""

    @overload(function, prefer_literal=True)
    def implementation(x, axis=None, keepdims=False):
        if not isinstance(x, types.Array):
            return None
        dtype = _result_dtype(_NUMPY[function], x.dtype)
        signature = "x, axis=None, keepdims=False"
        if function in (sum_along, mean_along):
            summed = _summed(signature, x, axis, keepdims, dtype, mean=function is mean_along)
            if summed is not None:
                return summed
        return _reduced(signature, x, axis, keepdims, kernel, dtype)


def _run(ndim: int, axes: tuple[int, ...]) -> tuple[str, str, str] | None:
    """For reduced ``axes`` that are consecutive, the sources of the sizes of the array seen
    as a block (outer, reduced, inner): the axes before the run, the run, the axes after it;
    None for other axes."""
    if not axes or list(axes) != list(range(axes[0], axes[-1] + 1)):
        return None

    def size(span) -> str:
        return " * ".join(f"shape[{a}]" for a in span) or "1"

    return size(range(axes[0])), size(axes), size(range(axes[-1] + 1, ndim))


def _summed(signature, x, axis, keepdims, dtype, mean: bool):
    """The implementation of a sum (a mean) over consecutive axes, without moving axes: the
    array as a block (outer, reduced, inner), each reduced slice added to the result's row,
    element by element along the inner axes (a loop LLVM vectorises), or into one number
    per row where the reduced axes are the last. None for other axes."""
    axes = _constant_axes(axis, x.ndim)
    run = _run(x.ndim, axes)
    if run is None:
        return None
    outer, reduced, inner = run
    layout = _Layout(x.ndim, axes)
    # float32 sums add in float64, as NumPy's pairwise sums keep their accuracy
    total = np.result_type(dtype, np.float64) if np.dtype(dtype).kind == "f" else dtype
    body = [
        "shape = x.shape",
        f"block = np.ascontiguousarray(x).reshape(({outer}, {reduced}, {inner}))",
        "out = np.empty((block.shape[0], block.shape[2]), dtype=DTYPE)",
    ]
    scale = f" / ({reduced})" if mean else ""
    if axes[-1] == x.ndim - 1:  # the reduced axes are the last: one number per row
        body += [
            "for i in range(block.shape[0]):",
            "    total = ZERO",
            "    for j in range(block.shape[1]):",
            "        total += block[i, j, 0]",
            f"    out[i, 0] = total{scale}",
        ]
    else:
        body += [
            "sums = np.zeros((block.shape[0], block.shape[2]), dtype=TOTAL)",
            "for i in range(block.shape[0]):",
            "    for j in range(block.shape[1]):",
            "        for k in range(block.shape[2]):",
            "            sums[i, k] += block[i, j, k]",
            "for i in range(block.shape[0]):",
            "    for k in range(block.shape[2]):",
            f"        out[i, k] = sums[i, k]{scale}",
        ]
    body += [
        "values = out.reshape(out.size)",
        f"return {layout.result('values', 'shape', _constant(keepdims, 'keepdims'))}",
    ]
    total_type = np.dtype(total).type
    return _implementation(
        signature, body, DTYPE=np.dtype(dtype).type, TOTAL=total_type, ZERO=total_type(0)
    )


def _reduction_with_ddof(function, kernel):
    """Register the Numba implementation of ``var_along`` or ``std_along`` (with ``ddof``)."""

    @overload(function, prefer_literal=True)
    def implementation(x, axis=None, ddof=0, keepdims=False):
        if not isinstance(x, types.Array):
            return None
        dtype = _result_dtype(_NUMPY[function], x.dtype)
        signature = "x, axis=None, ddof=0, keepdims=False"
        return _reduced(signature, x, axis, keepdims, kernel, dtype, ", ddof")


#: The NumPy function of each reduction (for its result's dtype).
_NUMPY = {
    sum_along: np.sum,
    mean_along: np.mean,
    prod_along: np.prod,
    max_along: np.max,
    min_along: np.min,
    ptp_along: np.ptp,
    median_along: np.median,
    argmax_along: np.argmax,
    argmin_along: np.argmin,
    var_along: np.var,
    std_along: np.std,
}
_reduction(sum_along, _row_sum)
_reduction(mean_along, _row_mean)
_reduction(prod_along, _row_prod)
_reduction(max_along, _row_max)
_reduction(min_along, _row_min)
_reduction(ptp_along, _row_ptp)
_reduction(median_along, _row_median)
_reduction(argmax_along, _row_argmax)
_reduction(argmin_along, _row_argmin)
_reduction_with_ddof(var_along, _row_var)
_reduction_with_ddof(std_along, _row_std)


@numba.njit(cache=True)
def _argsort_row(x, out):
    order = np.argsort(x, kind="mergesort")  # stable, as argsort_along's plain version
    for j in range(x.size):
        out[j] = order[j]


@overload(argsort_along, prefer_literal=True)
def _argsort_along_numba(x, axis=-1):
    if not isinstance(x, types.Array):
        return None
    return _mapped("x, axis=-1", [("x", x)], axis, _argsort_row, np.intp)


@numba.njit(cache=True)
def _cumsum_row(x, out):
    total = 0
    for j in range(x.size):
        total += x[j]
        out[j] = total


@numba.njit(cache=True)
def _cumprod_row(x, out):
    p = 1
    for j in range(x.size):
        p = p * x[j]
        out[j] = p


@overload(cumsum_along, prefer_literal=True)
def _cumsum_along_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    dtype = _result_dtype(np.cumsum, x.dtype)
    return _mapped("x, axis", [("x", x)], axis, _cumsum_row, dtype)


@overload(cumprod_along, prefer_literal=True)
def _cumprod_along_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    dtype = _result_dtype(np.cumprod, x.dtype)
    return _mapped("x, axis", [("x", x)], axis, _cumprod_row, dtype)


# --- adjoints: a reduction's adjoint repeated along the reduced axes ------------------------------


def expand_along(g, shape, axis):
    """``g``, the adjoint of a reduction over ``axis`` (None: every axis) of an array of
    ``shape``, repeated along the reduced axes: the adjoint of ``sum_along``. ``g`` has the
    reduction's shape, with or without the reduced axes (``keepdims``)."""
    axes = normalized_axes(axis, len(shape))
    kept = tuple(1 if a in axes else n for a, n in enumerate(shape))
    return np.broadcast_to(np.reshape(g, kept), tuple(shape)).copy()


def expand_mean_along(g, shape, axis):
    """``expand_along(g, shape, axis)`` divided by the number of elements each element of
    ``g`` averages: the adjoint of ``mean_along``."""
    count = math.prod(shape[a] for a in normalized_axes(axis, len(shape)))
    return expand_along(g, shape, axis) / count


def _expansion(mean: bool):
    def implementation(g, shape, axis):
        layout = _Layout(len(shape), _constant_axes(axis, len(shape)))
        inner = layout.size("shape", layout.axes)
        if not isinstance(g, types.Array):  # a reduction of every axis to a number
            return _implementation(
                "g, shape, axis", [f"return np.full(shape, g{f' / ({inner})' if mean else ''})"]
            )
        dtype = _floating(g.dtype) if mean else as_dtype(g.dtype)
        run = _run(len(shape), layout.axes)
        if run is not None:  # consecutive axes: g's rows repeated in place, no axes moved
            outer, reduced, after = run
            value = f"rows[i, k] / ({reduced})" if mean else "rows[i, k]"
            body = [
                f"rows = np.ascontiguousarray(g).reshape(({outer}, {after}))",
                f"block = np.empty(({outer}, {reduced}, {after}), dtype=DTYPE)",
                "for i in range(block.shape[0]):",
                "    for j in range(block.shape[1]):",
                "        for k in range(block.shape[2]):",
                f"            block[i, j, k] = {value}",
                "return block.reshape(shape)",
            ]
            return _implementation("g, shape, axis", body, DTYPE=dtype.type)
        value = f"values[i] / ({inner})" if mean else "values[i]"
        body = [
            "values = np.ascontiguousarray(g).reshape(g.size)",
            f"rows = np.empty((g.size, {inner}), dtype=DTYPE)",
            "for i in range(g.size):",
            f"    for j in range({inner}):",  # a loop: slice stores compile an error path
            f"        rows[i, j] = {value}",
            f"return {layout.back('rows', 'shape')}",
        ]
        return _implementation("g, shape, axis", body, DTYPE=dtype.type)

    return implementation


overload(expand_along, prefer_literal=True)(_expansion(mean=False))
overload(expand_mean_along, prefer_literal=True)(_expansion(mean=True))


# --- adjoints: products of the other elements -----------------------------------------------------


def prod_others_along(x, axis):
    """For each element of ``x``, the product of the other elements of its group along
    ``axis``: the adjoint of ``prod_along`` (products before and after each element, not
    the product over ``x``: exact where elements are zero)."""
    return _rowwise(_prod_others_vector, [x], axis, np.asarray(x).dtype)


def prod_others_along_tangent(x, dx, axis):
    """The tangent of ``prod_others_along(x, axis)`` along ``dx`` (exact at zeros)."""
    dtype = np.result_type(np.asarray(x), np.asarray(dx))
    return _rowwise(_prod_others_tangent_vector, [x, dx], axis, dtype)


def _prod_others_vector(x):
    out = np.empty_like(x)
    _prod_others_row.py_func(x, out)
    return out


def _prod_others_tangent_vector(x, dx):
    out = np.empty(x.size, np.result_type(x, dx))
    _prod_others_tangent_row.py_func(x, dx, out)
    return out


@numba.njit(cache=True)
def _prod_others_row(x, out):
    # (running products start from the integer 1, which Numba widens to the elements' type)
    p = 1
    for j in range(x.size):
        out[j] = p
        p = p * x[j]
    q = 1
    for j in range(x.size - 1, -1, -1):
        out[j] = out[j] * q
        q = q * x[j]


@numba.njit(cache=True)
def _prod_others_tangent_row(x, dx, out):
    # the products before each element with their tangents, then those after it
    before = np.empty(x.size, dtype=out.dtype)
    p, dp = 1, 0
    for j in range(x.size):
        before[j] = p
        out[j] = dp
        dp = dp * x[j] + p * dx[j]
        p = p * x[j]
    q, dq = 1, 0
    for j in range(x.size - 1, -1, -1):
        out[j] = out[j] * q + before[j] * dq
        dq = dq * x[j] + q * dx[j]
        q = q * x[j]


@overload(prod_others_along, prefer_literal=True)
def _prod_others_along_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    return _mapped("x, axis", [("x", x)], axis, _prod_others_row, as_dtype(x.dtype))


@overload(prod_others_along_tangent, prefer_literal=True)
def _prod_others_along_tangent_numba(x, dx, axis):
    if not _arrays(x, dx):
        return None
    dtype = np.result_type(as_dtype(x.dtype), as_dtype(dx.dtype))
    arrays = [("x", x), ("dx", dx)]
    return _mapped("x, dx, axis", arrays, axis, _prod_others_tangent_row, dtype)


# --- adjoints: maxima and minima -----------------------------------------------------------------
# A maximum's adjoint goes to the elements equal to it, shared equally among tied ones (as
# JAX's): the gradient of max(a, a) is (1/2, 1/2). Where a group holds NaN, its maximum is
# NaN and the adjoint goes to its NaN elements.


def max_share_along(x, axis):
    """For each element of ``x``, its share of its group's maximum along ``axis``: 1/k for
    the k elements equal to it, 0 for the others (the adjoint of ``max_along``)."""
    return _extreme_share(x, axis, np.max)


def min_share_along(x, axis):
    """For each element of ``x``, its share of its group's minimum along ``axis``: 1/k for
    the k elements equal to it, 0 for the others (the adjoint of ``min_along``)."""
    return _extreme_share(x, axis, np.min)


def _extreme_share(x, axis, reduction):
    x = np.asarray(x)
    axes = normalized_axes(axis, x.ndim)
    extreme = reduction(x, axis=axes, keepdims=True)
    hits = (x == extreme) | ((x != x) & (extreme != extreme))  # NaN: x != x
    return (hits / np.sum(hits, axis=axes, keepdims=True)).astype(_floating(x.dtype))


@numba.njit(cache=True)
def _extreme_share_row(x, out, largest):
    extreme = np.max(x) if largest else np.min(x)
    nan = extreme != extreme
    count = 0
    for j in range(x.size):
        count += x[j] == extreme or (nan and x[j] != x[j])
    for j in range(x.size):
        hit = x[j] == extreme or (nan and x[j] != x[j])
        out[j] = 1.0 / count if hit else 0.0


def _share_implementation(largest: bool):
    def implementation(x, axis):
        if not isinstance(x, types.Array):
            return None
        flag = ", True" if largest else ", False"
        dtype = _floating(x.dtype)
        return _mapped("x, axis", [("x", x)], axis, _extreme_share_row, dtype, flag)

    return implementation


overload(max_share_along, prefer_literal=True)(_share_implementation(largest=True))
overload(min_share_along, prefer_literal=True)(_share_implementation(largest=False))


# --- adjoints: medians -------------------------------------------------------------------------
# A median is the middle element of its sorted group, or the mean of the two middle ones for
# an even count: its adjoint goes to them (1, or 1/2 each), found by a stable sort (ties keep
# their order, as the sorts' derivatives take them).


def median_share_along(x, axis):
    """For each element of ``x``, its weight in its group's median along ``axis``: 1 for the
    middle element of an odd count, 1/2 for each of the two middle ones of an even count
    (the adjoint of ``median_along``), 0 for the others."""
    x = np.asarray(x)
    return _rowwise(_median_weights, [x], axis, _floating(x.dtype))


def _median_weights(row):
    order = np.argsort(row, kind="stable")
    weights = np.zeros(row.size)
    weights[order[(row.size - 1) // 2]] += 0.5
    weights[order[row.size // 2]] += 0.5
    return weights


@numba.njit(cache=True)
def _median_share_row(x, out):
    order = np.argsort(x, kind="mergesort")  # stable, as the plain version's
    for j in range(x.size):
        out[j] = 0.0
    out[order[(x.size - 1) // 2]] += 0.5
    out[order[x.size // 2]] += 0.5


@overload(median_share_along, prefer_literal=True)
def _median_share_along_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    return _mapped("x, axis", [("x", x)], axis, _median_share_row, _floating(x.dtype))


# --- adjoints: variances and standard deviations --------------------------------------------------
# With c = (x - mean) / (n - ddof) along the axes (n elements to a group): the derivative of
# the variance is 2 c, that of the standard deviation s is c / s, and the tangent of c / s
# along dx is c(dx) / s - c(x) ds / s**2 with ds = sum(c(x) dx) / s.


def centered_along(x, axis, ddof):
    """``(x - mean) / (n - ddof)`` with the mean of each group of ``n`` elements along
    ``axis``: half the derivative of ``var_along`` (linear in ``x``)."""
    x = np.asarray(x)
    axes = normalized_axes(axis, x.ndim)
    count = max(math.prod(x.shape[a] for a in axes) - ddof, 0)
    with np.errstate(divide="ignore", invalid="ignore"):  # NumPy's var warns there already
        centered = (x - np.mean(x, axis=axes, keepdims=True)) * (1.0 / count if count else np.inf)
    return centered.astype(_floating(x.dtype), copy=False)


def std_share_along(x, axis, ddof):
    """The derivative of ``std_along(x, axis, ddof)`` with respect to each element:
    ``centered_along(x, axis, ddof)`` over the group's standard deviation (nan where that
    is zero: the standard deviation has no derivative there)."""
    x = np.asarray(x)
    std = np.std(x, axis=normalized_axes(axis, x.ndim), ddof=ddof, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = centered_along(x, axis, ddof) / std
    return share.astype(_floating(x.dtype), copy=False)


def std_share_along_tangent(x, dx, axis, ddof):
    """The tangent of ``std_share_along(x, axis, ddof)`` along ``dx``."""
    x, dx = np.asarray(x), np.asarray(dx)
    axes = normalized_axes(axis, x.ndim)
    c, dc = centered_along(x, axis, ddof), centered_along(dx, axis, ddof)
    std = np.std(x, axis=axes, ddof=ddof, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        dstd = np.sum(c * dx, axis=axes, keepdims=True) / std
        tangent = dc / std - c * dstd / (std * std)
    return tangent.astype(_floating(x.dtype, dx.dtype), copy=False)


@numba.njit(cache=True)
def _divisor(n, ddof):
    """1 / max(n - ddof, 0), inf for a divisor of zero (as NumPy divides)."""
    count = max(n - ddof, 0)
    return 1.0 / count if count > 0 else np.inf


@numba.njit(cache=True)
def _centered_row(x, out, ddof):
    mean = np.sum(x) / x.size
    scale = _divisor(x.size, ddof)
    for j in range(x.size):
        out[j] = (x[j] - mean) * scale


@numba.njit(cache=True)
def _std_share_row(x, out, ddof):
    _centered_row(x, out, ddof)
    mean = np.sum(x) / x.size
    total = 0.0
    for v in x:
        total += (v - mean) * (v - mean)
    std = np.sqrt(total * _divisor(x.size, ddof))
    for j in range(x.size):
        out[j] = out[j] / std if std != 0 else np.nan


@numba.njit(cache=True)
def _std_share_tangent_row(x, dx, out, ddof):
    scale = _divisor(x.size, ddof)
    mean, dmean = np.sum(x) / x.size, np.sum(dx) / dx.size
    total, dtotal = 0.0, 0.0
    for j in range(x.size):
        total += (x[j] - mean) * (x[j] - mean)
        dtotal += (x[j] - mean) * scale * dx[j]
    std = np.sqrt(total * scale)
    if std == 0:
        for j in range(x.size):
            out[j] = np.nan
        return
    dstd = dtotal / std
    for j in range(x.size):
        out[j] = (dx[j] - dmean) * scale / std - (x[j] - mean) * scale * dstd / (std * std)


@overload(centered_along, prefer_literal=True)
def _centered_along_numba(x, axis, ddof):
    if not isinstance(x, types.Array):
        return None
    dtype = _floating(x.dtype)
    return _mapped("x, axis, ddof", [("x", x)], axis, _centered_row, dtype, ", ddof")


@overload(std_share_along, prefer_literal=True)
def _std_share_along_numba(x, axis, ddof):
    if not isinstance(x, types.Array):
        return None
    dtype = _floating(x.dtype)
    return _mapped("x, axis, ddof", [("x", x)], axis, _std_share_row, dtype, ", ddof")


@overload(std_share_along_tangent, prefer_literal=True)
def _std_share_along_tangent_numba(x, dx, axis, ddof):
    if not _arrays(x, dx):
        return None
    dtype = _floating(x.dtype, dx.dtype)
    arrays = [("x", x), ("dx", dx)]
    return _mapped("x, dx, axis, ddof", arrays, axis, _std_share_tangent_row, dtype, ", ddof")


# --- adjoints: cumulative sums and products along an axis -----------------------------------------
# With y = cumprod(x) along a row, P[i] = x[0] ... x[i] (P[-1] = 1) and the adjoint b of y:
# the adjoint of x[i] is P[i-1] * S[i], S[i] = b[i] + x[i+1] * S[i+1] (S[n-1] = b[n-1]).
# Recurrences, not divisions by x: exact where elements are zero.


def reverse_cumsum_along(g, axis):
    """The adjoint of ``cumsum_along(x, axis)`` given its adjoint ``g``: sums of ``g`` from
    each element to the end of its row."""
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def reverse_cumprod_along(b, x, axis):
    """The adjoint of ``cumprod_along(x, axis)`` given its adjoint ``b`` (exact at zeros)."""
    dtype = np.result_type(np.asarray(b), np.asarray(x))
    return _rowwise(_vector_of(_reverse_cumprod_row, dtype), [b, x], axis, dtype)


def reverse_cumprod_along_tangent(b, x, dx, axis):
    """The tangent of ``reverse_cumprod_along(b, x, axis)`` along ``dx``, ``b`` fixed."""
    dtype = np.result_type(np.asarray(b), np.asarray(x), np.asarray(dx))
    return _rowwise(_vector_of(_reverse_cumprod_tangent_row, dtype), [b, x, dx], axis, dtype)


def cumprod_along_tangent(x, dx, axis):
    """The tangent of ``cumprod_along(x, axis)`` along ``dx`` (exact at zeros)."""
    dtype = np.result_type(np.asarray(x), np.asarray(dx))
    return _rowwise(_vector_of(_cumprod_tangent_row, dtype), [x, dx], axis, dtype)


def _vector_of(kernel, dtype):
    """A plain function of vectors returning the vector ``kernel`` writes."""

    def vector(*rows):
        out = np.empty(rows[0].size, dtype)
        kernel.py_func(*rows, out)
        return out

    return vector


@numba.njit(cache=True)
def _reverse_cumsum_row(g, out):
    total = 0
    for j in range(g.size - 1, -1, -1):
        total += g[j]
        out[j] = total


@numba.njit(cache=True)
def _reverse_cumprod_row(b, x, out):
    s = 0
    for j in range(x.size - 1, -1, -1):
        s = s + b[j]
        out[j] = s
        s = s * x[j]
    p = 1
    for j in range(x.size):
        out[j] = out[j] * p
        p = p * x[j]


@numba.njit(cache=True)
def _reverse_cumprod_tangent_row(b, x, dx, out):
    suffix = np.empty(x.size, dtype=out.dtype)
    dsuffix = np.empty(x.size, dtype=out.dtype)
    s, ds = 0, 0
    for j in range(x.size - 1, -1, -1):
        s = s + b[j]
        suffix[j] = s
        dsuffix[j] = ds
        ds = ds * x[j] + s * dx[j]
        s = s * x[j]
    p, dp = 1, 0
    for j in range(x.size):
        out[j] = dp * suffix[j] + p * dsuffix[j]
        dp = dp * x[j] + p * dx[j]
        p = p * x[j]


@numba.njit(cache=True)
def _cumprod_tangent_row(x, dx, out):
    p, t = 1, 0
    for j in range(x.size):
        t = t * x[j] + p * dx[j]
        out[j] = t
        p = p * x[j]


@overload(reverse_cumsum_along, prefer_literal=True)
def _reverse_cumsum_along_numba(g, axis):
    if not isinstance(g, types.Array):
        return None
    return _mapped("g, axis", [("g", g)], axis, _reverse_cumsum_row, as_dtype(g.dtype))


@overload(reverse_cumprod_along, prefer_literal=True)
def _reverse_cumprod_along_numba(b, x, axis):
    if not _arrays(b, x):
        return None
    dtype = np.result_type(as_dtype(b.dtype), as_dtype(x.dtype))
    return _mapped("b, x, axis", [("b", b), ("x", x)], axis, _reverse_cumprod_row, dtype)


@overload(reverse_cumprod_along_tangent, prefer_literal=True)
def _reverse_cumprod_along_tangent_numba(b, x, dx, axis):
    if not _arrays(b, x, dx):
        return None
    dtype = np.result_type(as_dtype(b.dtype), as_dtype(x.dtype), as_dtype(dx.dtype))
    arrays = [("b", b), ("x", x), ("dx", dx)]
    return _mapped("b, x, dx, axis", arrays, axis, _reverse_cumprod_tangent_row, dtype)


@overload(cumprod_along_tangent, prefer_literal=True)
def _cumprod_along_tangent_numba(x, dx, axis):
    if not _arrays(x, dx):
        return None
    dtype = np.result_type(as_dtype(x.dtype), as_dtype(dx.dtype))
    arrays = [("x", x), ("dx", dx)]
    return _mapped("x, dx, axis", arrays, axis, _cumprod_tangent_row, dtype)
