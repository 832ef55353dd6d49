"""Indexing with arrays: gathers, scatters and masks, and their adjoints.

Generated code calls these helpers where your code indexes with an array of integers or a
boolean mask (``rules/indexing.py`` says which helper each form becomes):

* ``take_along(x, idx, axis)``: ``x[..., idx, ...]``, ``idx`` a vector of integers (negative
  ones count from the end, repeated ones are allowed) along ``axis``; its adjoint
  ``scatter_along`` adds the adjoint of each taken element back where it came from, so
  repeated indices accumulate;
* ``take_pairs(m, rows, cols)``: ``m[rows, cols]`` of a matrix, and ``scatter_pairs``;
* ``masked(x, mask)``: ``x[mask]`` with a mask of ``x``'s shape (a vector), and
  ``unmasked``; ``true_indices(mask, n)`` is the vector of the positions a 1-d mask selects
  (``m[mask]`` takes rows through it);
* writes: ``put_along(y, idx, v, axis)`` is ``y[..., idx, ...] = v`` on a copy of ``y`` (a
  repeated index gets the last of its values, as NumPy's assignment does),
  ``put_masked(y, mask, v)`` is ``y[mask] = v``, ``add_at(y, idx, v)`` is
  ``np.add.at(y, idx, v)`` (repeated indices accumulate); the adjoints of writes are
  ``unput_along`` / ``unput_masked`` (the written elements' adjoint is zero) and
  ``put_share_along`` (each written value's adjoint, zero for a value a later repeated
  index overwrote); ``placed_along`` writes values into zeros (their tangents).

Each is a plain NumPy function, which ``compile=False`` runs, with a Numba implementation
(``numba.extending.overload``) made for the call's number of dimensions and axis, a constant
of the call: the array is seen as ``(before, n, after)`` around the indexed axis, and each
index moves one ``(before, after)`` block. Out-of-range indices raise ``IndexError``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload

from .exports import EXPORTS
from .overloads import implementation

__all__ = list(EXPORTS["indexing"])  # (the names: exports.py)


# --- plain NumPy ---------------------------------------------------------------------------------


def _axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def _blocks(shape, axis: int) -> tuple[int, int, int]:
    """The sizes before ``axis``, along it and after it."""
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])


def _indices(idx, n: int) -> np.ndarray:
    """``idx`` as non-negative integers below ``n``; IndexError where NumPy raises it."""
    idx = np.asarray(idx)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise IndexError("sourcead_runtime: the index must be a vector of integers")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index out of bounds for an axis of length {n}")
    return np.where(idx < 0, idx + n, idx).astype(np.int64)


def _selection(shape, axis: int, m: int) -> tuple:
    return tuple(shape[:axis]) + (m,) + tuple(shape[axis + 1 :])


def _dtype(*values) -> np.dtype:
    return np.result_type(*(np.asarray(v).dtype for v in values))


def take_along(x, idx, axis=None):
    """``x[..., idx, ...]``: the elements at ``idx`` (a vector of integers) along ``axis``
    (None: of the flattened array, as ``np.take``)."""
    x = np.asarray(x)
    if axis is None:
        x, axis = x.ravel(), 0
    k = _axis(axis, x.ndim)
    return np.take(x, _indices(idx, x.shape[k]), axis=k)


def scatter_along(g, idx, shape, axis=None):
    """An array of ``shape`` holding zeros and ``g`` (shaped like ``take_along``'s result,
    or broadcast to it) added at ``idx`` along ``axis`` (None: of the flattened array):
    repeated indices accumulate (the adjoint of ``take_along``)."""
    shape = tuple(shape)
    if axis is None:
        return scatter_along(g, idx, (math.prod(shape),), 0).reshape(shape)
    k = _axis(axis, len(shape))
    i = _indices(idx, shape[k])
    out = np.zeros(shape, dtype=_dtype(g))
    np.add.at(out, (slice(None),) * k + (i,), np.broadcast_to(g, _selection(shape, k, i.size)))
    return out


def _last(i: np.ndarray) -> np.ndarray:
    """Whether each position of ``i`` is the last with its value."""
    last = np.zeros(i.size, dtype=bool)
    seen = set()
    for j in range(i.size - 1, -1, -1):
        if i[j] not in seen:
            seen.add(i[j])
            last[j] = True
    return last


def put_along(y, idx, v, axis=0):
    """A copy of ``y`` with ``v`` (broadcast) written at ``idx`` along ``axis``; a repeated
    index gets the last of its values."""
    y = np.asarray(y)
    k = _axis(axis, y.ndim)
    i = _indices(idx, y.shape[k])
    out = y.copy()
    values = np.broadcast_to(v, _selection(y.shape, k, i.size))
    keep = np.nonzero(_last(i))[0]  # the values that stay
    out[(slice(None),) * k + (i[keep],)] = np.take(values, keep, axis=k)
    return out


def placed_along(v, idx, shape, axis=0):
    """``put_along`` of zeros of ``shape``: ``v`` placed at ``idx``, zeros elsewhere."""
    return put_along(np.zeros(tuple(shape), dtype=_dtype(v)), idx, v, axis)


def unput_along(g, idx, axis=0):
    """A copy of ``g`` with zeros at ``idx`` along ``axis`` (the adjoint of the array a
    ``put_along`` overwrote)."""
    g = np.asarray(g)
    k = _axis(axis, g.ndim)
    out = g.copy()
    out[(slice(None),) * k + (_indices(idx, g.shape[k]),)] = 0
    return out


def put_share_along(g, idx, axis=0):
    """``take_along(g, idx, axis)`` with zeros for the values a later repeated index
    overwrote (the adjoint of the values ``put_along`` wrote)."""
    g = np.asarray(g)
    k = _axis(axis, g.ndim)
    i = _indices(idx, g.shape[k])
    out = np.take(g, i, axis=k)
    out[(slice(None),) * k + (~_last(i),)] = 0
    return out


def add_at(y, idx, v):
    """``np.add.at(y, idx, v)`` on a copy of ``y`` (repeated indices accumulate)."""
    out = np.array(y, copy=True)
    np.add.at(out, _indices(idx, out.shape[0]), v)
    return out


def _pairs(rows, cols, shape) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = _indices(rows, shape[0]), _indices(cols, shape[1])
    if rows.size != cols.size and 1 not in (rows.size, cols.size):
        raise IndexError("shape mismatch: the row and column indices cannot be broadcast")
    return np.broadcast_arrays(rows, cols)


def take_pairs(m, rows, cols):
    """``m[rows, cols]`` of a matrix: the elements ``m[rows[j], cols[j]]``."""
    m = np.asarray(m)
    r, c = _pairs(rows, cols, m.shape)
    return m[r, c]


def scatter_pairs(g, rows, cols, shape):
    """Zeros of ``shape`` with ``g`` added at ``(rows[j], cols[j])`` (repeated pairs
    accumulate): the adjoint of ``take_pairs``."""
    r, c = _pairs(rows, cols, shape)
    out = np.zeros(tuple(shape), dtype=_dtype(g))
    np.add.at(out, (r, c), g)
    return out


def _mask(mask, shape) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != tuple(shape):
        raise IndexError(
            f"boolean index of shape {mask.shape} does not match the indexed array's {tuple(shape)}"
        )
    return mask


def masked(x, mask):
    """``x[mask]``: the elements where ``mask`` (of ``x``'s shape) is True, as a vector."""
    x = np.asarray(x)
    return x[_mask(mask, x.shape)]


def unmasked(g, mask):
    """Zeros of ``mask``'s shape with ``g`` (a vector, or a number) where ``mask`` is True."""
    mask = np.asarray(mask)
    out = np.zeros(mask.shape, dtype=_dtype(g))
    out[mask] = g
    return out


def put_masked(y, mask, v):
    """A copy of ``y`` with ``v`` (a vector or a number) written where ``mask`` is True."""
    y = np.asarray(y)
    out = y.copy()
    out[_mask(mask, y.shape)] = v
    return out


def unput_masked(g, mask):
    """A copy of ``g`` with zeros where ``mask`` is True."""
    g = np.asarray(g)
    out = g.copy()
    out[_mask(mask, g.shape)] = 0
    return out


def true_indices(mask, n):
    """The positions where the vector ``mask`` (of length ``n``) is True."""
    return np.flatnonzero(_mask(mask, (n,)))


# --- Numba implementations ------------------------------------------------------------------------


def _literal_axis(axis, ndim: int, flattened: bool = False) -> int | None:
    """The axis a call names, as Numba types it (a literal, or an omitted default); None
    (the flattened array) where ``flattened`` allows it."""
    if isinstance(axis, types.Omitted):
        axis = axis.value
    if flattened and (axis is None or isinstance(axis, types.NoneType)):
        return None
    if isinstance(axis, int):
        value = axis
    elif isinstance(axis, types.IntegerLiteral):
        value = axis.literal_value
    else:
        raise TypingError("sourcead_runtime: the axis must be a constant integer")
    if not -ndim <= value < ndim:
        raise TypingError(f"sourcead_runtime: axis {value} out of bounds for {ndim} dimensions")
    return value % ndim


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _product(shape: str, axes) -> str:
    return " * ".join(f"{shape}[{a}]" for a in axes) or "1"


def _around(shape: str, ndim: int, k: int, m: str) -> tuple[str, str, str]:
    """Sources of the size before ``k``, after it, and the shape with ``m`` along ``k``."""
    before, after = _product(shape, range(k)), _product(shape, range(k + 1, ndim))
    selection = _tuple(m if a == k else f"{shape}[{a}]" for a in range(ndim))
    return before, after, selection


def _implementation(signature: str, body: list[str], **scope):
    return implementation(signature, body, _index=_index, _last_flags=_last_flags, **scope)


@numba.njit(cache=True)
def _index(i, n):
    if i < -n or i >= n:
        raise IndexError("index out of bounds")
    return i + n if i < 0 else i


@numba.njit(cache=True)
def _last_flags(idx, n):
    """Whether each position of ``idx`` is the last with its (normalised) value."""
    seen = np.zeros(n, dtype=np.bool_)
    last = np.zeros(idx.shape[0], dtype=np.bool_)
    for j in range(idx.shape[0] - 1, -1, -1):
        i = _index(idx[j], n)
        if not seen[i]:
            seen[i] = True
            last[j] = True
    return last


def _values(v, selection: str, before: str, after: str, name: str = "v") -> list[str]:
    """Lines binding ``v3``, the values ``name`` (of type ``v``) broadcast to the selection,
    as 3 axes."""
    if isinstance(v, types.Number | types.Boolean):
        return [f"v3 = np.full(({before}, m, {after}), {name})"]
    broadcast = f"np.broadcast_to({name}, {selection})"
    return [f"v3 = np.ascontiguousarray({broadcast}).reshape(({before}, m, {after}))"]


def _dtype_of(*values):
    dtypes = [v.dtype if isinstance(v, types.Array) else v for v in values]
    return np.result_type(*(numba.np.numpy_support.as_dtype(d) for d in dtypes)).type


@overload(take_along, prefer_literal=True)
def _take_along_numba(x, idx, axis=None):
    if not isinstance(x, types.Array):
        return None
    k = _literal_axis(axis, x.ndim, flattened=True)
    if k is None:  # of the flattened array
        before, after, selection, n = "1", "1", "(m,)", "x.size"
    else:
        before, after, selection = _around("x.shape", x.ndim, k, "m")
        n = f"x.shape[{k}]"
    body = [
        f"n = {n}",
        "m = idx.shape[0]",
        f"x3 = np.ascontiguousarray(x).reshape(({before}, n, {after}))",
        "out = np.empty((x3.shape[0], m, x3.shape[2]), dtype=DTYPE)",
        "for j in range(m):",
        "    i = _index(idx[j], n)",
        "    for p in range(x3.shape[0]):",
        "        for q in range(x3.shape[2]):",
        "            out[p, j, q] = x3[p, i, q]",
        f"return out.reshape({selection})",
    ]
    return _implementation("x, idx, axis=None", body, DTYPE=_dtype_of(x))


@overload(scatter_along, prefer_literal=True)
def _scatter_along_numba(g, idx, shape, axis=None):
    ndim = len(shape)
    k = _literal_axis(axis, ndim, flattened=True)
    if k is None:  # of the flattened array
        before, after, selection = "1", "1", "(m,)"
        n = _product("shape", range(ndim))
    else:
        before, after, selection = _around("shape", ndim, k, "m")
        n = f"shape[{k}]"
    body = [
        f"n = {n}",
        "m = idx.shape[0]",
        *_values(g, selection, before, after, "g"),
        f"out = np.zeros(({before}, n, {after}), dtype=DTYPE)",
        "for j in range(m):",
        "    i = _index(idx[j], n)",
        "    for p in range(out.shape[0]):",
        "        for q in range(out.shape[2]):",
        "            out[p, i, q] += v3[p, j, q]",
        "return out.reshape(shape)",
    ]
    return _implementation("g, idx, shape, axis=None", body, DTYPE=_dtype_of(g))


def _put(y, v, axis, zeros: bool):
    """``put_along`` (``y`` an array) or ``placed_along`` (``y`` a shape, ``zeros``)."""
    ndim = len(y) if zeros else y.ndim
    shape = "shape" if zeros else "y.shape"
    k = _literal_axis(axis, ndim)
    before, after, selection = _around(shape, ndim, k, "m")
    start = (
        f"out = np.zeros(({before}, n, {after}), dtype=DTYPE)"
        if zeros
        else f"out = np.ascontiguousarray(y).reshape(({before}, n, {after})).copy()"
    )
    body = [
        f"n = {shape}[{k}]",
        "m = idx.shape[0]",
        *_values(v, selection, before, after),
        start,
        "last = _last_flags(idx, n)",
        "for j in range(m):",
        "    if last[j]:",
        "        i = _index(idx[j], n)",
        "        for p in range(out.shape[0]):",
        "            for q in range(out.shape[2]):",
        "                out[p, i, q] = v3[p, j, q]",
        f"return out.reshape({shape})",
    ]
    return body, _dtype_of(v) if zeros else _dtype_of(y)


@overload(put_along, prefer_literal=True)
def _put_along_numba(y, idx, v, axis=0):
    if not isinstance(y, types.Array):
        return None
    body, dtype = _put(y, v, axis, zeros=False)
    return _implementation("y, idx, v, axis=0", body, DTYPE=dtype)


@overload(placed_along, prefer_literal=True)
def _placed_along_numba(v, idx, shape, axis=0):
    body, dtype = _put(shape, v, axis, zeros=True)
    return _implementation("v, idx, shape, axis=0", body, DTYPE=dtype)


@overload(unput_along, prefer_literal=True)
def _unput_along_numba(g, idx, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = _literal_axis(axis, g.ndim)
    before, after, _ = _around("g.shape", g.ndim, k, "m")
    body = [
        f"n = g.shape[{k}]",
        f"out = np.ascontiguousarray(g).reshape(({before}, n, {after})).copy()",
        "for j in range(idx.shape[0]):",
        "    i = _index(idx[j], n)",
        "    for p in range(out.shape[0]):",
        "        for q in range(out.shape[2]):",
        "            out[p, i, q] = 0",
        "return out.reshape(g.shape)",
    ]
    return _implementation("g, idx, axis=0", body)


@overload(put_share_along, prefer_literal=True)
def _put_share_along_numba(g, idx, axis=0):
    if not isinstance(g, types.Array):
        return None
    k = _literal_axis(axis, g.ndim)
    before, after, selection = _around("g.shape", g.ndim, k, "m")
    body = [
        f"n = g.shape[{k}]",
        "m = idx.shape[0]",
        f"g3 = np.ascontiguousarray(g).reshape(({before}, n, {after}))",
        "out = np.zeros((g3.shape[0], m, g3.shape[2]), dtype=DTYPE)",
        "last = _last_flags(idx, n)",
        "for j in range(m):",
        "    if last[j]:",
        "        i = _index(idx[j], n)",
        "        for p in range(g3.shape[0]):",
        "            for q in range(g3.shape[2]):",
        "                out[p, j, q] = g3[p, i, q]",
        f"return out.reshape({selection})",
    ]
    return _implementation("g, idx, axis=0", body, DTYPE=_dtype_of(g))


@overload(add_at)
def _add_at_numba(y, idx, v):
    if not isinstance(y, types.Array):
        return None
    _, after, selection = _around("y.shape", y.ndim, 0, "m")
    body = [
        "n = y.shape[0]",
        "m = idx.shape[0]",
        *_values(v, selection, "1", after),
        f"out = np.ascontiguousarray(y).reshape((1, n, {after})).copy()",
        "for j in range(m):",
        "    i = _index(idx[j], n)",
        "    for q in range(out.shape[2]):",
        "        out[0, i, q] += v3[0, j, q]",
        "return out.reshape(y.shape)",
    ]
    return _implementation("y, idx, v", body)


@numba.njit(cache=True)
def _pair_count(rows, cols):
    if rows.shape[0] != cols.shape[0] and rows.shape[0] != 1 and cols.shape[0] != 1:
        raise IndexError("shape mismatch: the row and column indices cannot be broadcast")
    return max(rows.shape[0], cols.shape[0])


@numba.njit(cache=True)
def _pair(rows, cols, j, shape):
    r = rows[j if rows.shape[0] > 1 else 0]
    c = cols[j if cols.shape[0] > 1 else 0]
    return _index(r, shape[0]), _index(c, shape[1])


@overload(take_pairs)
def _take_pairs_numba(m, rows, cols):
    if not isinstance(m, types.Array):
        return None
    dtype = _dtype_of(m)

    def impl(m, rows, cols):
        count = _pair_count(rows, cols)
        out = np.empty(count, dtype=dtype)
        for j in range(count):
            r, c = _pair(rows, cols, j, m.shape)
            out[j] = m[r, c]
        return out

    return impl


@overload(scatter_pairs)
def _scatter_pairs_numba(g, rows, cols, shape):
    dtype = _dtype_of(g)

    def impl(g, rows, cols, shape):
        count = _pair_count(rows, cols)
        values = np.ascontiguousarray(np.broadcast_to(g, (count,)))
        out = np.zeros(shape, dtype=dtype)
        for j in range(count):
            r, c = _pair(rows, cols, j, shape)
            out[r, c] += values[j]
        return out

    return impl


@numba.njit(cache=True)
def _same_shape(a, b):
    if a != b:
        raise IndexError("the boolean index does not match the indexed array's shape")


@overload(masked)
def _masked_numba(x, mask):
    if not isinstance(x, types.Array):
        return None
    dtype = _dtype_of(x)

    def impl(x, mask):
        _same_shape(x.shape, mask.shape)
        flat, chosen = x.ravel(), mask.ravel()
        out = np.empty(np.count_nonzero(chosen), dtype=dtype)
        j = 0
        for i in range(flat.shape[0]):
            if chosen[i]:
                out[j] = flat[i]
                j += 1
        return out

    return impl


@overload(unmasked)
def _unmasked_numba(g, mask):
    dtype = _dtype_of(g)
    scalar = isinstance(g, types.Number)

    def impl(g, mask):
        chosen = mask.ravel()
        count = np.count_nonzero(chosen)
        values = np.full(count, g) if scalar else np.broadcast_to(g, (count,))
        out = np.zeros(chosen.shape[0], dtype=dtype)
        j = 0
        for i in range(chosen.shape[0]):
            if chosen[i]:
                out[i] = values[j]
                j += 1
        return out.reshape(mask.shape)

    return impl


@overload(put_masked)
def _put_masked_numba(y, mask, v):
    if not isinstance(y, types.Array):
        return None
    scalar = isinstance(v, types.Number)

    def impl(y, mask, v):
        _same_shape(y.shape, mask.shape)
        chosen = mask.ravel()
        count = np.count_nonzero(chosen)
        values = np.full(count, v) if scalar else np.broadcast_to(v, (count,))
        out = y.ravel().copy()
        j = 0
        for i in range(chosen.shape[0]):
            if chosen[i]:
                out[i] = values[j]
                j += 1
        return out.reshape(y.shape)

    return impl


@overload(unput_masked)
def _unput_masked_numba(g, mask):
    if not isinstance(g, types.Array):
        return None

    def impl(g, mask):
        _same_shape(g.shape, mask.shape)
        chosen = mask.ravel()
        out = g.ravel().copy()
        for i in range(chosen.shape[0]):
            if chosen[i]:
                out[i] = 0
        return out.reshape(g.shape)

    return impl


@overload(true_indices)
def _true_indices_numba(mask, n):
    def impl(mask, n):
        if mask.ndim != 1 or mask.shape[0] != n:
            raise IndexError("the boolean index does not match the indexed axis's length")
        return np.flatnonzero(mask)

    return impl
