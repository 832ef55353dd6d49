"""Norms, weighted averages, traces and differences: the helpers of ``np.linalg.norm``,
``np.average``, ``np.trace`` and ``np.diff`` that Numba lacks.

Each helper is a plain NumPy function (what ``compile=False`` runs) with a Numba
implementation (``numba.extending.overload``) made for the call's number of dimensions and
constant axes, as ``reductions.py`` and ``shaping.py`` do:

* ``norm_along``: the 2-norm (Frobenius norm) over axes; ``norm_share_along`` its
  derivative, ``conj(x) / norm``, 0 where the norm is 0, and ``norm_share_along_tangent``
  the tangent of that (forward mode over an adjoint);
* ``norm_operand``: a vector as a one-column matrix, and the check that an array has the
  dimensions a norm without ``axis=`` takes;
* ``weights_along``: ``np.average``'s weights shaped to broadcast against the array;
* ``trace_along``, ``diff_along``: ``np.trace`` and ``np.diff`` with every option but
  ``np.diff``'s ``prepend``/``append``; ``trace_adjoint`` and ``diff_adjoint`` the transposes
  of these linear maps.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .exports import EXPORTS
from .overloads import constant_value as _constant
from .overloads import implementation
from .reductions import normalized_axes, sum_along

__all__ = list(EXPORTS["summaries"])  # (the names: exports.py)

#: The forms ``norm_operand`` takes: how many dimensions, and what a vector becomes.
NORM_FORMS = ("column", "matrix", "vector")


# --- plain NumPy (compile=False) -------------------------------------------------------------


def norm_along(x, axis=None, keepdims=False):
    """The 2-norm of ``x`` over ``axis`` (None: every axis; a tuple: the Frobenius norm over
    them): ``np.linalg.norm`` with any axes, a real result."""
    x = np.asarray(x)
    axes = normalized_axes(axis, x.ndim)
    return np.sqrt(np.sum(np.real(np.conj(x) * x), axis=axes, keepdims=keepdims))


def _safe(norm):
    """The norm with its zeros replaced by ones (the divisor of the shares)."""
    return np.where(norm == 0, 1.0, norm)


def norm_share_along(x, axis):
    """The derivative of ``norm_along(x, axis)`` with respect to each element: ``conj(x)``
    over the norm of its group, 0 where that norm is 0 (as ``np.abs``'s derivative at 0)."""
    x = np.asarray(x)
    return np.conj(x) / _safe(norm_along(x, axis, True))


def norm_share_along_tangent(x, dx, axis):
    """The tangent of ``norm_share_along(x, axis)`` along ``dx``: ``conj(dx) / n - conj(x)
    dn / n**2`` with ``dn = Re(sum(conj(x) dx)) / n`` (n: 1 where the norm is 0)."""
    x, dx = np.asarray(x), np.asarray(dx)
    axes = normalized_axes(axis, x.ndim)
    safe = _safe(norm_along(x, axis, True))
    dnorm = np.sum(np.real(np.conj(x) * dx), axis=axes, keepdims=True) / safe
    return np.conj(dx) / safe - np.conj(x) * dnorm / (safe * safe)


def norm_operand(x, form):
    """``x`` as the matrix a norm without ``axis=`` reads: ``"column"``, a vector as one
    column (its 1-, 2- and inf-norms are those of the column), a matrix as it is;
    ``"matrix"``, a matrix; ``"vector"``, a vector. ValueError for other dimensions."""
    x = np.asarray(x)
    if form == "column" and x.ndim == 1:
        return x.reshape(x.shape[0], 1)
    wanted = {"column": 2, "matrix": 2, "vector": 1}[form]
    if x.ndim != wanted:
        raise ValueError(f"np.linalg.norm: this ord= takes {form}s, not {x.ndim}-d arrays")
    return x.copy()


def _weight_axes(axis, ndim: int) -> tuple[int, ...]:
    """The axes ``axis`` names, in the order given (not sorted)."""
    named = tuple(axis) if isinstance(axis, tuple | list) else (axis,)
    normalized_axes(named, ndim)  # (range and repeats)
    return tuple(a % ndim for a in named)


def weights_along(w, x, axis=None):
    """``np.average``'s weights ``w`` shaped to broadcast against ``x``: ``w`` itself where
    the shapes agree, else (``axis`` given) ``w`` along ``x``'s axes ``axis`` with length-1
    axes elsewhere; ValueError or TypeError where NumPy raises."""
    w, x = np.asarray(w), np.asarray(x)
    if w.shape == x.shape:
        return w.copy()
    if axis is None:
        raise TypeError("Axis must be specified when shapes of a and weights differ.")
    axes = _weight_axes(axis, x.ndim)
    if w.shape != tuple(x.shape[a] for a in axes):
        raise ValueError(
            "Shape of weights must be consistent with shape of a along specified axis."
        )
    w = np.transpose(w, np.argsort(axes))
    return w.reshape(tuple(n if a in axes else 1 for a, n in enumerate(x.shape))).copy()


def trace_along(x, offset=0, axis1=0, axis2=1):
    """``np.trace(x, offset, axis1, axis2)``: the sums of the diagonals, a number of a
    matrix, an array of the other axes otherwise."""
    return np.trace(x, offset, axis1, axis2)


def trace_adjoint(g, shape, offset=0, axis1=0, axis2=1):
    """The adjoint of ``trace_along`` of an array of ``shape``: ``g`` on the diagonals,
    zero elsewhere."""
    g = np.asarray(g)
    ndim = len(shape)
    first, second = axis1 % ndim, axis2 % ndim
    kept = [a for a in range(ndim) if a not in (first, second)]
    rows, columns = shape[first], shape[second]
    moved = np.zeros((*(shape[a] for a in kept), rows, columns), dtype=g.dtype)
    k = np.arange(max(0, -offset), min(rows, columns - offset))
    moved[..., k, k + offset] = g[..., None]
    order = [*kept, first, second]
    return np.ascontiguousarray(np.transpose(moved, np.argsort(order)))


def diff_along(x, n=1, axis=-1):
    """``np.diff(x, n, axis)``: the ``n``-th differences along ``axis``."""
    return np.diff(x, n=n, axis=axis)


def diff_adjoint(g, shape, n=1, axis=-1):
    """The adjoint of ``diff_along`` of an array of ``shape``: each difference's adjoint
    added to its later element and taken from its earlier one, ``n`` times."""
    g = np.moveaxis(np.asarray(g), axis, -1)
    length = shape[axis]
    for _ in range(g.shape[-1], length):
        padded = np.pad(g, [(0, 0)] * (g.ndim - 1) + [(1, 1)])
        g = padded[..., :-1] - padded[..., 1:]
    return np.ascontiguousarray(np.moveaxis(g, -1, axis))


# --- Numba implementations -------------------------------------------------------------------


def _implementation(signature: str, body: list[str], **scope):
    return implementation(signature, body, sum_along=sum_along, norm_along=norm_along, **scope)


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _product(items) -> str:
    return " * ".join(items) or "1"


def _axes(axis, ndim: int, what: str) -> tuple[int, ...]:
    try:
        return normalized_axes(_constant(axis, what), ndim)
    except ValueError as error:
        raise TypingError(f"sourcead_runtime: {error}") from None


def _floating(*dtypes) -> np.dtype:
    dtype = np.result_type(*(as_dtype(d) for d in dtypes))
    return dtype if dtype.kind in "fc" else np.dtype("float64")


@overload(norm_along, prefer_literal=True)
def _norm_along_numba(x, axis=None, keepdims=False):
    if not isinstance(x, types.Array):
        return None
    _axes(axis, x.ndim, "the axis")
    return _implementation(
        "x, axis=None, keepdims=False",
        ["return np.sqrt(sum_along(np.real(np.conj(x) * x), axis, keepdims))"],
    )


@overload(norm_share_along, prefer_literal=True)
def _norm_share_along_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    _axes(axis, x.ndim, "the axis")
    body = [
        "norm = norm_along(x, axis, True)",
        "return np.conj(x) / np.where(norm == 0, 1.0, norm)",
    ]
    return _implementation("x, axis", body)


@overload(norm_share_along_tangent, prefer_literal=True)
def _norm_share_along_tangent_numba(x, dx, axis):
    if not (isinstance(x, types.Array) and isinstance(dx, types.Array)):
        return None
    _axes(axis, x.ndim, "the axis")
    body = [
        "norm = norm_along(x, axis, True)",
        "safe = np.where(norm == 0, 1.0, norm)",
        "dnorm = sum_along(np.real(np.conj(x) * dx), axis, True) / safe",
        "return np.conj(dx) / safe - np.conj(x) * dnorm / (safe * safe)",
    ]
    return _implementation("x, dx, axis", body)


@overload(norm_operand, prefer_literal=True)
def _norm_operand_numba(x, form):
    if not isinstance(x, types.Array):
        return None
    kind = _constant(form, "the form")
    if kind == "column" and x.ndim == 1:
        return _implementation(
            "x, form", ["return np.ascontiguousarray(x).reshape((x.shape[0], 1))"]
        )
    if x.ndim != {"column": 2, "matrix": 2, "vector": 1}[kind]:
        raise TypingError(f"sourcead_runtime: np.linalg.norm of a {x.ndim}-d array ({kind})")
    return _implementation("x, form", ["return x.copy()"])


@overload(weights_along, prefer_literal=True)
def _weights_along_numba(w, x, axis=None):
    if not (isinstance(w, types.Array) and isinstance(x, types.Array)):
        return None
    named = _constant(axis, "the axis")
    mismatch = "    raise ValueError('Shape of weights must be consistent with shape of a')"
    if w.ndim == x.ndim:
        body = ["if w.shape != x.shape:", mismatch, "return w.copy()"]
        return _implementation("w, x, axis=None", body)
    try:
        axes = _weight_axes(named, x.ndim)
    except ValueError as error:
        raise TypingError(f"sourcead_runtime: {error}") from None
    if len(axes) != w.ndim or list(axes) != sorted(axes):
        raise TypingError("sourcead_runtime: np.average's weights do not fit the axes")
    checks = " or ".join(f"w.shape[{k}] != x.shape[{a}]" for k, a in enumerate(axes))
    shape = _tuple(f"w.shape[{axes.index(a)}]" if a in axes else "1" for a in range(x.ndim))
    body = [f"if {checks}:", mismatch, f"return np.ascontiguousarray(w).reshape({shape})"]
    return _implementation("w, x, axis=None", body)


def _trace_layout(ndim: int, axis1, axis2):
    """(kept axes, the two axes) of a trace over ``axis1``, ``axis2`` of ``ndim`` dims."""
    first, second = _constant(axis1, "axis1"), _constant(axis2, "axis2")
    first = 0 if first is None else first
    second = 1 if second is None else second
    if not (-ndim <= first < ndim and -ndim <= second < ndim):
        raise TypingError("sourcead_runtime: np.trace's axes are out of range")
    first, second = first % ndim, second % ndim
    if first == second:
        raise TypingError("sourcead_runtime: np.trace's axis1 and axis2 must differ")
    return tuple(a for a in range(ndim) if a not in (first, second)), (first, second)


def _trace_dtype(dtype) -> np.dtype:
    return np.trace(np.ones((1, 1), as_dtype(dtype))).dtype


@overload(trace_along, prefer_literal=True)
def _trace_along_numba(x, offset=0, axis1=0, axis2=1):
    if not isinstance(x, types.Array) or x.ndim < 2:
        return None
    kept, (first, second) = _trace_layout(x.ndim, axis1, axis2)
    outer = _product(f"x.shape[{a}]" for a in kept)
    body = [
        f"moved = np.ascontiguousarray(np.transpose(x, {kept + (first, second)}))",
        f"rows, columns = x.shape[{first}], x.shape[{second}]",
        f"cube = moved.reshape(({outer}, rows, columns))",
        "out = np.zeros(cube.shape[0], dtype=DTYPE)",
        "for i in range(cube.shape[0]):",
        "    for k in range(rows):",
        "        if 0 <= k + offset < columns:",
        "            out[i] += cube[i, k, k + offset]",
        "return out[0]"
        if not kept
        else f"return out.reshape({_tuple(f'x.shape[{a}]' for a in kept)})",
    ]
    return _implementation("x, offset=0, axis1=0, axis2=1", body, DTYPE=_trace_dtype(x.dtype).type)


@overload(trace_adjoint, prefer_literal=True)
def _trace_adjoint_numba(g, shape, offset=0, axis1=0, axis2=1):
    if not isinstance(shape, types.BaseTuple):
        return None
    ndim = len(shape)
    kept, (first, second) = _trace_layout(ndim, axis1, axis2)
    dtype = g.dtype if isinstance(g, types.Array) else g
    order = kept + (first, second)
    inverse = tuple(order.index(a) for a in range(ndim))
    values = "np.ascontiguousarray(g).reshape(out.shape[0])" if kept else "np.full(1, g)"
    moved_shape = _tuple([f"shape[{a}]" for a in order])
    body = [
        f"rows, columns = shape[{first}], shape[{second}]",
        f"out = np.zeros(({_product(f'shape[{a}]' for a in kept)}, rows, columns), dtype=DTYPE)",
        f"values = {values}",
        "for i in range(out.shape[0]):",
        "    for k in range(rows):",
        "        if 0 <= k + offset < columns:",
        "            out[i, k, k + offset] = values[i]",
        f"return np.ascontiguousarray(np.transpose(out.reshape({moved_shape}), {inverse}))",
    ]
    return _implementation(
        "g, shape, offset=0, axis1=0, axis2=1", body, DTYPE=_floating(dtype).type
    )


def _diff_axis(axis, ndim: int) -> int:
    value = _constant(axis, "the axis")
    (a,) = _axes(-1 if value is None else value, ndim, "the axis")
    return a


@overload(diff_along, prefer_literal=True)
def _diff_along_numba(x, n=1, axis=-1):
    if not isinstance(x, types.Array):
        return None
    a = _diff_axis(axis, x.ndim)
    others = [f"moved.shape[{d}]" for d in range(x.ndim - 1)]
    body = [
        "if n < 0:",
        "    raise ValueError('order must be non-negative')",
        f"moved = np.ascontiguousarray(np.moveaxis(x, {a}, -1))",
        f"length = x.shape[{a}]",
        "kept = max(length - n, 0)",
        f"rows = moved.reshape(({_product(others)}, length))",
        "out = np.empty((rows.shape[0], kept), dtype=DTYPE)",
        "work = np.empty(length, dtype=DTYPE)",
        "for i in range(rows.shape[0]):",
        "    for j in range(length):",
        "        work[j] = rows[i, j]",
        "    for m in range(length - 1, kept - 1, -1):",  # one difference: m + 1 -> m values
        "        for j in range(m):",
        "            work[j] = work[j + 1] - work[j]",
        "    for j in range(kept):",
        "        out[i, j] = work[j]",
        f"return np.ascontiguousarray(np.moveaxis(out.reshape({_tuple([*others, 'kept'])}), -1, {a}))",
    ]
    return _implementation("x, n=1, axis=-1", body, DTYPE=as_dtype(x.dtype).type)


@overload(diff_adjoint, prefer_literal=True)
def _diff_adjoint_numba(g, shape, n=1, axis=-1):
    if not (isinstance(g, types.Array) and isinstance(shape, types.BaseTuple)):
        return None
    a = _diff_axis(axis, g.ndim)
    others = [f"moved.shape[{d}]" for d in range(g.ndim - 1)]
    body = [
        f"moved = np.ascontiguousarray(np.moveaxis(g, {a}, -1))",
        f"length, kept = shape[{a}], g.shape[{a}]",
        f"rows = moved.reshape(({_product(others)}, kept))",
        "out = np.zeros((rows.shape[0], length), dtype=DTYPE)",
        "for i in range(rows.shape[0]):",
        "    for j in range(kept):",
        "        out[i, j] = rows[i, j]",
        "    for m in range(kept, length):",  # m values -> m + 1: b[j - 1] - b[j]
        "        for j in range(m, -1, -1):",
        "            out[i, j] = (out[i, j - 1] if j > 0 else 0) - out[i, j]",
        f"return np.ascontiguousarray(np.moveaxis(out.reshape({_tuple([*others, 'length'])}), -1, {a}))",
    ]
    return _implementation("g, shape, n=1, axis=-1", body, DTYPE=_floating(g.dtype).type)
