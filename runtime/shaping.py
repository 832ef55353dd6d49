"""Building and reshaping arrays where Numba lacks NumPy's function or one of its options.

Each helper is a plain NumPy function (what ``compile=False`` runs) with a Numba
implementation (``numba.extending.overload``) made for the call's number of dimensions and
constant options, as ``reductions.py`` does: ``array_of`` (``np.array`` of a tuple, of numbers
or of arrays), ``cast_as`` (``x.astype(dtype)``, ``np.float32(v)``), ``squeeze_axes``,
``flip_along``, ``rot90_along``, ``repeat_along``, ``tile_of``, ``pad_of`` and ``at_least``.
The ``*_adjoint`` helpers are the transposes of the linear maps: ``repeat_adjoint`` sums the
repeats, ``tile_adjoint`` the tiles, ``pad_adjoint`` adds the padded elements back into the
elements they copy (``"edge"``, ``"wrap"``, ``"reflect"``) and drops the constant ones;
``cast_like`` casts an adjoint back to the dtype of the value cast; ``diag_adjoint`` is the
adjoint of ``np.diag(x, k)``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import overload, register_jitable

from .exports import EXPORTS
from .overloads import constant_value as _constant
from .overloads import implementation as _implementation
from .reductions import normalized_axes

__all__ = list(EXPORTS["shaping"])  # (the names: exports.py)

#: The padding modes ``pad_of`` takes, by their codes in the Numba implementations.
PAD_MODES = ("constant", "edge", "wrap", "reflect")


# --- plain NumPy (compile=False) -------------------------------------------------------------------


def array_of(items):
    """``np.array(items)`` of a tuple (nested or not) of numbers or of arrays."""
    return np.array(items)


def cast_as(x, dtype):
    """``x`` cast to ``dtype`` (a dtype's name): ``x.astype(dtype)``, or a number of it."""
    if isinstance(x, np.ndarray):
        return x.astype(dtype)
    return np.dtype(dtype).type(x)


def cast_like(g, x):
    """The adjoint ``g`` of a cast of ``x``, cast back to ``x``'s dtype (its real part where
    ``x`` is real)."""
    dtype = np.asarray(x).dtype
    if dtype.kind != "c":
        g = np.real(g)
    if isinstance(x, np.ndarray):
        return np.asarray(g).astype(dtype)
    return dtype.type(g) if isinstance(x, np.generic) else type(x)(g)


def squeeze_axes(x, axis):
    """``np.squeeze(x, axis)`` for an integer or a tuple of them."""
    return np.squeeze(x, axis)


def flip_along(x, axis):
    """``np.flip(x, axis)`` for an integer or a tuple of them."""
    return np.flip(x, axis)


def rot90_along(x, k, axes):
    """``np.rot90(x, k, axes)``."""
    return np.rot90(x, k, axes)


def repeat_along(x, repeats, axis):
    """``np.repeat(x, repeats, axis)`` for an integer number of repeats."""
    return np.repeat(x, repeats, axis)


def repeat_adjoint(g, x, repeats, axis):
    """The adjoint of ``np.repeat(x, repeats, axis)`` (``axis`` None: flattened): each
    element's repeats summed."""
    g = np.asarray(g)
    if axis is None:
        return g.reshape(x.size, repeats).sum(axis=1).reshape(x.shape)
    axis = normalized_axes(axis, x.ndim)[0]
    moved = np.moveaxis(g, axis, 0)
    n = x.shape[axis]
    summed = moved.reshape((n, repeats) + moved.shape[1:]).sum(axis=1)
    return np.ascontiguousarray(np.moveaxis(summed, 0, axis))


def _reps(reps) -> tuple:
    return tuple(reps) if isinstance(reps, tuple) else (reps,)


def tile_of(x, reps):
    """``np.tile(x, reps)`` for an integer or a tuple of them."""
    return np.tile(x, reps)


def tile_adjoint(g, x, reps):
    """The adjoint of ``np.tile(x, reps)``: the tiles summed, shaped like ``x``."""
    reps = _reps(reps)
    x = np.asarray(x)
    d = max(x.ndim, len(reps))
    reps = (1,) * (d - len(reps)) + reps
    shape = (1,) * (d - x.ndim) + x.shape
    split = tuple(v for pair in zip(reps, shape, strict=True) for v in pair)
    summed = np.asarray(g).reshape(split).sum(axis=tuple(range(0, 2 * d, 2)))
    return summed.reshape(x.shape)


def pad_of(x, widths, mode, value):
    """``np.pad(x, widths, mode)`` (``constant_values=value`` for ``"constant"``)."""
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=mode)


def _pairs(widths, ndim: int) -> list[tuple[int, int]]:
    return [(int(b), int(a)) for b, a in np.broadcast_to(np.asarray(widths), (ndim, 2))]


def pad_adjoint(g, x, widths, mode):
    """The adjoint of ``np.pad(x, widths, mode)`` with respect to ``x``."""
    g = np.asarray(g)
    code = PAD_MODES.index(mode)
    for axis, (before, _after) in reversed(list(enumerate(_pairs(widths, x.ndim)))):
        moved = np.moveaxis(g, axis, 0)
        rows = np.ascontiguousarray(moved).reshape(moved.shape[0], -1)
        folded = _unpad_rows(rows, x.shape[axis], before, code)
        g = np.moveaxis(folded.reshape((x.shape[axis],) + moved.shape[1:]), 0, axis)
    return np.ascontiguousarray(g)


def at_least(x, ndim):
    """``np.atleast_1d(x)`` (``ndim`` 1), ``np.atleast_2d`` or ``np.atleast_3d`` of ``x``."""
    return (np.atleast_1d, np.atleast_2d, np.atleast_3d)[ndim - 1](x)


# --- the rows of padded axes (jitted here, plain Python in pad_adjoint) ---------------------------


@register_jitable
def _source(i: int, n: int, before: int, code: int) -> int:
    """The row of the unpadded axis (of ``n`` rows) that padded row ``i`` copies; -1 for a
    constant row."""
    j = i - before
    if 0 <= j < n:
        return j
    if code == 0:
        return -1
    if code == 1:  # edge
        return 0 if j < 0 else n - 1
    if code == 2:  # wrap
        return j % n
    if n == 1:  # reflect
        return 0
    period = 2 * n - 2
    j = j % period
    return j if j < n else period - j


@register_jitable
def _pad_rows(rows, before: int, after: int, code: int, value):
    n = rows.shape[0]
    out = np.empty((before + n + after, rows.shape[1]), dtype=rows.dtype)
    for i in range(out.shape[0]):
        j = _source(i, n, before, code)
        if j < 0:
            out[i, :] = value
        else:
            out[i, :] = rows[j]
    return out


@register_jitable
def _unpad_rows(rows, n: int, before: int, code: int):
    out = np.zeros((n, rows.shape[1]), dtype=rows.dtype)
    for i in range(rows.shape[0]):
        j = _source(i, n, before, code)
        if j >= 0:
            out[j] += rows[i]
    return out


# --- Numba implementations -------------------------------------------------------------------------


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _checked_axes(axis, ndim: int) -> tuple[int, ...]:
    try:
        return normalized_axes(axis, ndim)
    except ValueError as error:
        raise TypingError(f"sourcead_runtime: {error}") from None


@overload(array_of)
def _array_of_numba(items):
    if isinstance(items, types.BaseTuple) and all(isinstance(t, types.Array) for t in items.types):
        return lambda items: np.stack(items)
    if isinstance(items, types.BaseTuple):
        return lambda items: np.array(items)
    return None


@overload(cast_as, prefer_literal=True)
def _cast_as_numba(x, dtype):
    target = np.dtype(_constant(dtype, "the dtype")).type
    if isinstance(x, types.Array):
        return _implementation("x, dtype", ["return x.astype(TARGET)"], TARGET=target)
    if isinstance(x, types.Number | types.Boolean):
        return _implementation("x, dtype", ["return TARGET(x)"], TARGET=target)
    return None


@overload(cast_like)
def _cast_like_numba(g, x):
    dtype = x.dtype if isinstance(x, types.Array) else x
    if not isinstance(dtype, types.Number):
        return None
    target = numba.np.numpy_support.as_dtype(dtype).type
    part = "g" if isinstance(dtype, types.Complex) else "np.real(g)"
    if isinstance(x, types.Array):
        return _implementation("g, x", [f"return np.asarray({part}).astype(TARGET)"], TARGET=target)
    return _implementation("g, x", [f"return TARGET({part})"], TARGET=target)


@overload(squeeze_axes, prefer_literal=True)
def _squeeze_axes_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    axes = _checked_axes(_constant(axis, "the axis"), x.ndim)
    kept = _tuple(f"x.shape[{a}]" for a in range(x.ndim) if a not in axes)
    check = " or ".join(f"x.shape[{a}] != 1" for a in axes)
    body = [
        f"if {check}:",
        "    raise ValueError('cannot select an axis to squeeze out which has size not equal to one')",
        f"return np.ascontiguousarray(x).reshape({kept})",
    ]
    return _implementation("x, axis", body)


def _slices(ndim: int, reversed_axes) -> str:
    return ", ".join("::-1" if a in reversed_axes else ":" for a in range(ndim))


@overload(flip_along, prefer_literal=True)
def _flip_along_numba(x, axis):
    if not isinstance(x, types.Array):
        return None
    axes = _checked_axes(_constant(axis, "the axis"), x.ndim)
    return _implementation("x, axis", [f"return x[{_slices(x.ndim, axes)}]"])


@overload(rot90_along, prefer_literal=True)
def _rot90_along_numba(x, k, axes):
    if not isinstance(x, types.Array):
        return None
    turns = _constant(k, "k") % 4
    first, second = _constant(axes, "the axes")
    if not (-x.ndim <= first < x.ndim and -x.ndim <= second < x.ndim):
        raise TypingError("sourcead_runtime: np.rot90's axes are out of range")
    first, second = first % x.ndim, second % x.ndim
    if first == second:
        raise TypingError("sourcead_runtime: np.rot90's axes must differ")
    perm = list(range(x.ndim))
    perm[first], perm[second] = perm[second], perm[first]
    if turns == 0:
        value = f"x[{_slices(x.ndim, ())}]"
    elif turns == 2:
        value = f"x[{_slices(x.ndim, (first, second))}]"
    elif turns == 1:
        value = f"np.transpose(x[{_slices(x.ndim, (second,))}], {tuple(perm)})"
    else:
        value = f"np.transpose(x, {tuple(perm)})[{_slices(x.ndim, (second,))}]"
    return _implementation("x, k, axes", [f"return {value}"])


def _moved_shape(ndim: int, axis: int, first: str) -> str:
    """The shape of an array of ``ndim`` dimensions moved to have ``axis`` first, as read
    from ``moved`` with the length of the first axis given by ``first``."""
    return _tuple([first] + [f"moved.shape[{a}]" for a in range(1, ndim)])


@overload(repeat_along, prefer_literal=True)
def _repeat_along_numba(x, repeats, axis):
    if not isinstance(x, types.Array):
        return None
    (a,) = _checked_axes(_constant(axis, "the axis"), x.ndim)
    split = _tuple(["n", "1"] + [f"moved.shape[{d}]" for d in range(1, x.ndim)])
    stretched = _tuple(["n", "repeats"] + [f"moved.shape[{d}]" for d in range(1, x.ndim)])
    body = [
        f"moved = np.moveaxis(x, {a}, 0)",
        "n = moved.shape[0]",
        f"parts = np.broadcast_to(np.ascontiguousarray(moved).reshape({split}), {stretched})",
        f"out = np.ascontiguousarray(parts).reshape({_moved_shape(x.ndim, a, 'n * repeats')})",
        f"return np.ascontiguousarray(np.moveaxis(out, 0, {a}))",
    ]
    return _implementation("x, repeats, axis", body)


@overload(repeat_adjoint, prefer_literal=True)
def _repeat_adjoint_numba(g, x, repeats, axis):
    if not isinstance(x, types.Array):
        return None
    value = _constant(axis, "the axis")
    if value is None:
        body = ["return np.ascontiguousarray(g).reshape((x.size, repeats)).sum(axis=1)"
                ".reshape(x.shape)"]  # fmt: skip
        return _implementation("g, x, repeats, axis", body)
    (a,) = _checked_axes(value, x.ndim)
    split = _tuple(["n", "repeats"] + [f"moved.shape[{d}]" for d in range(1, x.ndim)])
    body = [
        f"moved = np.moveaxis(g, {a}, 0)",
        f"n = x.shape[{a}]",
        f"summed = np.ascontiguousarray(moved).reshape({split}).sum(axis=1)",
        f"return np.ascontiguousarray(np.moveaxis(summed, 0, {a}))",
    ]
    return _implementation("g, x, repeats, axis", body)


def _tile_layout(ndim: int, reps_type) -> tuple[int, list[str], list[str]]:
    """(d, the repeats and the sizes of the tiled array's d axes, as source)."""
    count = len(reps_type.types) if isinstance(reps_type, types.BaseTuple) else 1
    d = max(ndim, count)
    if isinstance(reps_type, types.BaseTuple):
        reps = [f"reps[{k}]" for k in range(count)]
    else:
        reps = ["reps"]
    reps = ["1"] * (d - count) + reps
    sizes = ["1"] * (d - ndim) + [f"x.shape[{k}]" for k in range(ndim)]
    return d, reps, sizes


@overload(tile_of)
def _tile_of_numba(x, reps):
    if not isinstance(x, types.Array):
        return None
    d, reps, sizes = _tile_layout(x.ndim, reps)
    split = _tuple(v for k in range(d) for v in ("1", sizes[k]))
    stretched = _tuple(v for k in range(d) for v in (reps[k], sizes[k]))
    shape = _tuple(f"{reps[k]} * {sizes[k]}" for k in range(d))
    body = [
        f"parts = np.broadcast_to(np.ascontiguousarray(x).reshape({split}), {stretched})",
        f"return np.ascontiguousarray(parts).reshape({shape})",
    ]
    return _implementation("x, reps", body)


@overload(tile_adjoint)
def _tile_adjoint_numba(g, x, reps):
    if not isinstance(x, types.Array):
        return None
    d, reps, sizes = _tile_layout(x.ndim, reps)
    split = _tuple(v for k in range(d) for v in (reps[k], sizes[k]))
    body = [f"s = np.ascontiguousarray(g).reshape({split})"]
    for k in reversed(range(d)):  # the axes of repeats, from the last: 2k stays in place
        body.append(f"s = np.sum(s, axis={2 * k})")
    body.append("return np.ascontiguousarray(s).reshape(x.shape)")
    return _implementation("g, x, reps", body)


def _width_source(widths_type, ndim: int) -> list[tuple[str, str]]:
    """(before, after) of each axis as source reading ``widths`` (an integer, a pair, or a
    pair per axis)."""
    if isinstance(widths_type, types.Integer):
        return [("widths", "widths")] * ndim
    if (
        isinstance(widths_type, types.BaseTuple)
        and len(widths_type.types) == 2
        and all(isinstance(t, types.Integer) for t in widths_type.types)
    ):
        return [("widths[0]", "widths[1]")] * ndim
    if isinstance(widths_type, types.BaseTuple) and len(widths_type.types) == ndim:
        return [(f"widths[{a}][0]", f"widths[{a}][1]") for a in range(ndim)]
    raise TypingError("sourcead_runtime: np.pad's pad_width: an integer, a pair, or one per axis")


def _pad_body(ndim: int, widths_type, forward: bool) -> list[str]:
    pairs = _width_source(widths_type, ndim)
    body = ["code = _code(mode)", "v = g"]
    axes = range(ndim) if forward else reversed(range(ndim))
    for a in axes:
        before, after = pairs[a]
        rest = [f"moved.shape[{d}]" for d in range(1, ndim)]
        size = " * ".join(rest) or "1"
        if forward:
            rows = f"_pad_rows(rows, {before}, {after}, code, value)"
        else:
            rows = f"_unpad_rows(rows, x.shape[{a}], {before}, code)"
        body += [
            f"moved = np.moveaxis(v, {a}, 0)",
            f"rows = np.ascontiguousarray(moved).reshape((moved.shape[0], {size}))",
            f"done = {rows}",
            f"v = np.moveaxis(done.reshape({_tuple(['done.shape[0]', *rest])}), 0, {a})",
        ]
    return [*body, "return np.ascontiguousarray(v)"]


@register_jitable
def _code(mode) -> int:
    if mode == "constant":
        return 0
    if mode == "edge":
        return 1
    if mode == "wrap":
        return 2
    return 3


@overload(pad_of)
def _pad_of_numba(x, widths, mode, value):
    if not isinstance(x, types.Array):
        return None
    body = ["g = x", *_pad_body(x.ndim, widths, forward=True)]
    return _implementation("x, widths, mode, value", body, _pad_rows=_pad_rows, _code=_code)


@overload(pad_adjoint)
def _pad_adjoint_numba(g, x, widths, mode):
    if not isinstance(x, types.Array):
        return None
    body = _pad_body(x.ndim, widths, forward=False)
    return _implementation("g, x, widths, mode", body, _unpad_rows=_unpad_rows, _code=_code)


@overload(at_least, prefer_literal=True)
def _at_least_numba(x, ndim):
    n = _constant(ndim, "the number of dimensions")
    if isinstance(x, types.Number):
        return _implementation("x, ndim", [f"return np.full({_tuple(['1'] * n)}, x)"])
    if isinstance(x, types.Array):
        function = ("np.atleast_1d", "np.atleast_2d", "np.atleast_3d")[n - 1]
        return _implementation("x, ndim", [f"return {function}(x)"])
    return None


def diag_adjoint(g, x, k=0):
    """The adjoint of ``x`` in ``np.diag(x, k)`` given the result's adjoint ``g``: the ``k``-th
    diagonal of ``g`` for a vector ``x`` (whose matrix ``np.diag`` builds), else a matrix of
    ``x``'s shape, zero but for ``g`` on its ``k``-th diagonal (which ``np.diag`` reads)."""
    if np.ndim(x) == 1:
        return np.diag(g, k)
    out = np.zeros(np.shape(x), dtype=np.result_type(g))
    first_row, first_column = max(-k, 0), max(k, 0)
    for i in range(len(g)):
        out[first_row + i, first_column + i] = g[i]
    return out


@overload(diag_adjoint)
def _diag_adjoint_numba(g, x, k=0):
    if not isinstance(x, types.Array):
        return None
    if x.ndim == 1:
        return lambda g, x, k=0: np.diag(g, k)

    def matrix(g, x, k=0):
        out = np.zeros(x.shape, dtype=g.dtype)
        first_row, first_column = max(-k, 0), max(k, 0)
        for i in range(g.shape[0]):
            out[first_row + i, first_column + i] = g[i]
        return out

    return matrix
