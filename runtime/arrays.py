"""Run-time helpers for whole-array adjoints: broadcasting, reductions, matmul, array tapes.

Each helper is a plain NumPy function (what ``compile=False`` runs) with a Numba
implementation registered by ``numba.extending.overload`` (what compiled code runs); the
Numba versions pick an implementation from the argument types, e.g. the numbers of
dimensions, which Numba knows when it compiles.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .exports import EXPORTS
from .tensor import matmul_stack_adjoint, matmul_stack_adjoint_implementation

__all__ = list(EXPORTS["arrays"])  # (the names: exports.py)


# --- broadcasting -------------------------------------------------------------------------


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, to an array of ``shape``.

    The adjoint of an operand of shape ``shape`` in an element-wise operation whose result
    (and adjoint ``g``) has a broadcast shape.
    """
    g = np.asarray(g)
    if g.shape == tuple(shape):
        return g
    if np.broadcast_shapes(g.shape, tuple(shape)) != g.shape:
        raise ValueError("unbroadcast: the adjoint does not fit the operand's shape")
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    return g.sum(axis=stretched, keepdims=True).reshape(shape)


def _sum_into(g, shape):
    out = np.zeros(shape, dtype=g.dtype)
    flat = out.reshape(out.size)
    lead = g.ndim - len(shape)
    for index in np.ndindex(g.shape):
        offset = 0
        for k in range(len(shape)):
            i = index[lead + k]
            if shape[k] == 1:
                i = 0
            offset = offset * shape[k] + i
        flat[offset] += g[index]
    return out


@overload(unbroadcast)
def _unbroadcast_numba(g, shape):
    if not isinstance(g, types.Array):
        return lambda g, shape: g
    if g.ndim == 2 and len(shape) == 1:
        # a row vector broadcast down a matrix: the commonest case
        return lambda g, shape: _rows_summed(g, shape)
    if g.ndim == 2 and len(shape) == 2:

        def matrix(g, shape):
            if g.shape == shape:
                return g
            return _matrix_summed(g, shape)

        return matrix
    if g.ndim == len(shape):

        def same_rank(g, shape):
            if g.shape == shape:
                return g
            return _sum_into(g, shape)

        return same_rank
    return lambda g, shape: _sum_into(g, shape)


@numba.njit(cache=True)
def _rows_summed(g, shape):
    """``g`` (n × m) summed over its rows into a vector of ``shape`` ((m,) or (1,))."""
    n, m = g.shape
    if shape[0] != m and shape[0] != 1:
        raise ValueError("unbroadcast: the adjoint does not fit the operand's shape")
    out = np.zeros(shape, dtype=g.dtype)
    if shape[0] == m:
        for i in range(n):
            for j in range(m):
                out[j] += g[i, j]
    else:
        for i in range(n):
            for j in range(m):
                out[0] += g[i, j]
    return out


@numba.njit(cache=True)
def _matrix_summed(g, shape):
    """``g`` (n × m) summed over the axes that ``shape`` stretches from length 1."""
    n, m = g.shape
    if (shape[0] != n and shape[0] != 1) or (shape[1] != m and shape[1] != 1):
        raise ValueError("unbroadcast: the adjoint does not fit the operand's shape")
    out = np.zeros(shape, dtype=g.dtype)
    row_step = 1 if shape[0] == n else 0
    column_step = 1 if shape[1] == m else 0
    for i in range(n):
        for j in range(m):
            out[i * row_step, j * column_step] += g[i, j]
    return out


def add_product(out, a, b):
    """``out += unbroadcast(a * b, out.shape)``, returning ``out``: an operand's adjoint in a
    product accumulated. Compiled, one pass over the broadcast product without a temporary
    where the operands have at most two dimensions (the commonest adjoint of a whole-array
    statement: ``b_x += unbroadcast(b_y * w, b_x.shape)`` for ``y = x * w``)."""
    out += unbroadcast(a * b, out.shape)
    return out


def _matrix_view(t) -> bool:
    """Whether a Numba type is a number or an array of at most two dimensions."""
    return isinstance(t, types.Number) or (isinstance(t, types.Array) and t.ndim <= 2)


@overload(add_product)
def _add_product_numba(out, a, b):
    fits = (
        isinstance(out, types.Array)
        and out.ndim in (1, 2)
        and _matrix_view(a)
        and _matrix_view(b)
        and out.mutable
    )
    product = np.result_type(
        *(as_dtype(t.dtype if isinstance(t, types.Array) else t) for t in (a, b))
    )
    if not fits or np.result_type(product, as_dtype(out.dtype)) != as_dtype(out.dtype):
        # (more dimensions, or a product out's dtype does not hold: NumPy's way, which raises)
        def general(out, a, b):
            out += unbroadcast(a * b, out.shape)
            return out

        return general

    def fused(out, a, b):
        n = _broadcast_length(_rows(a), _rows(b))
        m = _broadcast_length(_columns(a), _columns(b))
        rows, columns = _rows(out), _columns(out)
        if (rows != n and rows != 1) or (columns != m and columns != 1):
            raise ValueError("unbroadcast: the adjoint does not fit the operand's shape")
        if _full(out, n, m) and _full(a, n, m) and _full(b, n, m):
            # nothing stretched from length 1 (vectors are rows): plain indices, which LLVM
            # vectorises (the common case: b_x += b_y * w for a matrix x and a row w)
            for i in range(n):
                for j in range(m):
                    _add_at(out, i, j, _plain_at(a, i, j) * _plain_at(b, i, j))
            return out
        for i in range(n):
            for j in range(m):
                _add_at(
                    out,
                    i if rows != 1 else 0,
                    j if columns != 1 else 0,
                    _at(a, i, j) * _at(b, i, j),
                )
        return out

    return fused


# add_product's compiled loop sees numbers, vectors and matrices alike as matrices: the
# Python names exist only for the overloads below
def _rows(x):
    pass


def _columns(x):
    pass


def _at(x, i, j):
    pass


def _add_at(x, i, j, value):
    pass


def _full(x, n, m):
    pass


def _plain_at(x, i, j):
    pass


@overload(_full)
def _full_numba(x, n, m):
    """Whether ``x`` is a number, a vector of ``m`` or an ``n`` × ``m`` matrix."""
    if not isinstance(x, types.Array):
        return lambda x, n, m: True
    if x.ndim == 1:
        return lambda x, n, m: x.shape[0] == m
    return lambda x, n, m: x.shape[0] == n and x.shape[1] == m


@overload(_plain_at)
def _plain_at_numba(x, i, j):
    """Element (i, j) of ``x`` seen as a matrix, where ``_full`` holds."""
    if not isinstance(x, types.Array):
        return lambda x, i, j: x
    if x.ndim == 1:
        return lambda x, i, j: x[j]
    return lambda x, i, j: x[i, j]


@overload(_rows)
def _rows_numba(x):
    if isinstance(x, types.Array) and x.ndim == 2:
        return lambda x: x.shape[0]
    return lambda x: 1


@overload(_columns)
def _columns_numba(x):
    if isinstance(x, types.Array):
        return lambda x: x.shape[x.ndim - 1]
    return lambda x: 1


@overload(_at)
def _at_numba(x, i, j):
    """Element (i, j) of ``x`` seen as a matrix broadcast along its axes of length 1."""
    if not isinstance(x, types.Array):
        return lambda x, i, j: x
    if x.ndim == 1:
        return lambda x, i, j: x[j if x.shape[0] != 1 else 0]
    return lambda x, i, j: x[i if x.shape[0] != 1 else 0, j if x.shape[1] != 1 else 0]


@overload(_add_at)
def _add_at_numba(x, i, j, value):
    if x.ndim == 1:

        def vector(x, i, j, value):
            x[j] += value

        return vector

    def matrix(x, i, j, value):
        x[i, j] += value

    return matrix


@numba.njit(cache=True)
def _broadcast_length(p, q):
    if p == q or q == 1:
        return p
    if p == 1:
        return q
    raise ValueError("operands could not be broadcast together")


@overload(_sum_into)
def _sum_into_overload(g, shape):
    def impl(g, shape):
        out = np.zeros(shape, dtype=g.dtype)
        flat = out.reshape(out.size)
        lead = g.ndim - len(shape)
        for k in range(len(shape)):
            if lead < 0 or (shape[k] != 1 and shape[k] != g.shape[lead + k]):
                raise ValueError("unbroadcast: the adjoint does not fit the operand's shape")
        for index in np.ndindex(g.shape):
            offset = 0
            for k in range(len(shape)):
                i = index[lead + k]
                if shape[k] == 1:
                    i = 0
                offset = offset * shape[k] + i
            flat[offset] += g[index]
        return out

    return impl


# --- reductions ---------------------------------------------------------------------------


def expand_reduced(g, shape, axis):
    """``g``, the adjoint of a reduction over ``axis`` (None: all axes), broadcast to ``shape``.

    The adjoint of ``np.sum(x, axis)`` for ``x`` of ``shape``.
    """
    if axis is None:
        return np.full(shape, g)
    return np.broadcast_to(np.expand_dims(g, axis), shape).copy()


@overload(expand_reduced)
def _expand_reduced_numba(g, shape, axis):
    if axis is None or isinstance(axis, types.NoneType | types.Omitted):

        def all_axes(g, shape, axis):
            return np.full(shape, g)

        return all_axes

    if len(shape) == 2:
        # a matrix: each row (axis 1) or each column (axis 0) takes one element of g
        def matrix(g, shape, axis):
            out = np.empty(shape, dtype=g.dtype)
            if axis == 1 or axis == -1:
                for i in range(shape[0]):
                    for j in range(shape[1]):
                        out[i, j] = g[i]
            else:
                for i in range(shape[0]):
                    for j in range(shape[1]):
                        out[i, j] = g[j]
            return out

        return matrix

    def one_axis(g, shape, axis):
        ndim = len(shape)
        a = axis + ndim if axis < 0 else axis
        outer, inner = 1, 1
        for k in range(a):
            outer *= shape[k]
        for k in range(a + 1, ndim):
            inner *= shape[k]
        n = shape[a]
        source = np.ascontiguousarray(g).reshape(g.size)
        out = np.empty(shape, dtype=g.dtype)
        flat = out.reshape(out.size)
        for i in range(outer):
            for j in range(n):
                base = (i * n + j) * inner
                for k in range(inner):
                    flat[base + k] = source[i * inner + k]
        return out

    return one_axis


def reverse_cumsum(g, shape):
    """The adjoint of ``np.cumsum(x)`` (flattened) for ``x`` of ``shape``."""
    return np.cumsum(g[::-1])[::-1].reshape(shape)


@overload(reverse_cumsum)
def _reverse_cumsum_numba(g, shape):
    def impl(g, shape):
        out = np.empty(g.size, dtype=g.dtype)
        total = g[0] * 0
        for i in range(g.size - 1, -1, -1):
            total += g[i]
            out[i] = total
        return out.reshape(shape)

    return impl


# --- products of the other elements ---------------------------------------------------------


def prod_others(x):
    """For each element of ``x``, the product of all the others: the adjoint of ``np.prod(x)``.

    Products of the elements before and after each one, not ``np.prod(x) / x``, so that it
    is exact where elements are zero (as JAX's rule, by exclusive cumulative products).
    """
    flat = np.ravel(x)
    before = np.ones_like(flat)
    after = np.ones_like(flat)
    if flat.size > 1:
        before[1:] = np.cumprod(flat[:-1])
        after[:-1] = np.cumprod(flat[:0:-1])[::-1]
    return (before * after).reshape(np.shape(x))


def prod_others_tangent(x, dx):
    """The tangent of ``prod_others(x)`` along ``dx``: products before and after each element
    carried with their tangents, so that it is exact where elements are zero."""
    flat, dflat = np.ravel(x), np.ravel(dx)
    dtype = np.result_type(flat, dflat)
    before, dbefore = np.empty_like(flat), np.empty(flat.size, dtype)
    out = np.empty(flat.size, dtype)
    p, dp = flat.dtype.type(1), dtype.type(0)
    for i in range(flat.size):
        before[i], dbefore[i] = p, dp
        p, dp = p * flat[i], dp * flat[i] + p * dflat[i]
    q, dq = flat.dtype.type(1), dflat.dtype.type(0)
    for i in range(flat.size - 1, -1, -1):
        out[i] = dbefore[i] * q + before[i] * dq
        q, dq = q * flat[i], dq * flat[i] + q * dflat[i]
    return out.reshape(np.shape(x))


@overload(prod_others)
def _prod_others_numba(x):
    one = as_dtype(x.dtype).type(1)  # a constant of the elements' type

    def impl(x):
        flat = np.ascontiguousarray(x).reshape(x.size)
        out = np.empty(x.size, dtype=x.dtype)
        p = one
        for i in range(x.size):
            out[i] = p
            p = p * flat[i]
        q = one
        for i in range(x.size - 1, -1, -1):
            out[i] = out[i] * q
            q = q * flat[i]
        return out.reshape(x.shape)

    return impl


@overload(prod_others_tangent)
def _prod_others_tangent_numba(x, dx):
    dtype = np.result_type(as_dtype(x.dtype), as_dtype(dx.dtype))
    one, zero = as_dtype(x.dtype).type(1), dtype.type(0)

    def impl(x, dx):
        flat = np.ascontiguousarray(x).reshape(x.size)
        dflat = np.ascontiguousarray(dx).reshape(dx.size)
        before = np.empty(x.size, dtype=x.dtype)
        dbefore = np.empty(x.size, dtype=dtype)
        out = np.empty(x.size, dtype=dtype)
        p, dp = one, zero
        for i in range(x.size):
            before[i] = p
            dbefore[i] = dp
            dp = dp * flat[i] + p * dflat[i]
            p = p * flat[i]
        q, dq = one, zero
        for i in range(x.size - 1, -1, -1):
            out[i] = dbefore[i] * q + before[i] * dq
            dq = dq * flat[i] + q * dflat[i]
            q = q * flat[i]
        return out.reshape(x.shape)

    return impl


# --- cumulative products ------------------------------------------------------------------
# With y = np.cumprod(x) (flattened), P[i] = x[0] ... x[i] (P[-1] = 1) and the adjoint b of y:
# the adjoint of x[i] is P[i-1] * S[i], S[i] = b[i] + x[i+1] * S[i+1] (S[n-1] = b[n-1]).
# Recurrences, not divisions by x: exact where elements are zero, and O(n).


def reverse_cumprod(b, x):
    """The adjoint of ``np.cumprod(x)`` (flattened) given the result's adjoint ``b``, shaped
    like ``x``: exact where elements of ``x`` are zero (no division)."""
    flat, g = np.ravel(x), np.ravel(b)
    dtype = np.result_type(flat, g)
    out = np.empty(flat.size, dtype)
    s = dtype.type(0)
    for i in range(flat.size - 1, -1, -1):
        s = s + g[i]
        out[i] = s
        s = s * flat[i]
    p = flat.dtype.type(1)
    for i in range(flat.size):
        out[i] = out[i] * p
        p = p * flat[i]
    return out.reshape(np.shape(x))


def reverse_cumprod_tangent(b, x, dx):
    """The tangent of ``reverse_cumprod(b, x)`` along ``dx`` with ``b`` fixed (linear in ``b``
    and in ``dx``); that of ``b`` is ``reverse_cumprod(db, x)``. Shaped like ``x``."""
    flat, g, dflat = np.ravel(x), np.ravel(b), np.ravel(dx)
    dtype = np.result_type(flat, g, dflat)
    suffix, dsuffix = np.empty(flat.size, dtype), np.empty(flat.size, dtype)
    out = np.empty(flat.size, dtype)
    s, ds = dtype.type(0), dtype.type(0)
    for i in range(flat.size - 1, -1, -1):
        s = s + g[i]
        suffix[i], dsuffix[i] = s, ds
        s, ds = s * flat[i], ds * flat[i] + s * dflat[i]
    p, dp = dtype.type(1), dtype.type(0)
    for i in range(flat.size):
        out[i] = dp * suffix[i] + p * dsuffix[i]
        p, dp = p * flat[i], dp * flat[i] + p * dflat[i]
    return out.reshape(np.shape(x))


def cumprod_tangent(x, dx):
    """The tangent of ``np.cumprod(x)`` (flattened) along ``dx``: T[j] = T[j-1] x[j] +
    P[j-1] dx[j], exact where elements are zero. A vector, like ``np.cumprod``."""
    flat, dflat = np.ravel(x), np.ravel(dx)
    dtype = np.result_type(flat, dflat)
    out = np.empty(flat.size, dtype)
    p, t = flat.dtype.type(1), dtype.type(0)
    for j in range(flat.size):
        t = t * flat[j] + p * dflat[j]
        out[j] = t
        p = p * flat[j]
    return out


@overload(reverse_cumprod)
def _reverse_cumprod_numba(b, x):
    dtype = np.result_type(as_dtype(b.dtype), as_dtype(x.dtype))
    zero, one = dtype.type(0), as_dtype(x.dtype).type(1)

    def impl(b, x):
        flat = np.ascontiguousarray(x).reshape(x.size)
        g = np.ascontiguousarray(b).reshape(b.size)
        out = np.empty(x.size, dtype=dtype)
        s = zero
        for i in range(x.size - 1, -1, -1):
            s = s + g[i]
            out[i] = s
            s = s * flat[i]
        p = one
        for i in range(x.size):
            out[i] = out[i] * p
            p = p * flat[i]
        return out.reshape(x.shape)

    return impl


@overload(reverse_cumprod_tangent)
def _reverse_cumprod_tangent_numba(b, x, dx):
    dtype = np.result_type(as_dtype(b.dtype), as_dtype(x.dtype), as_dtype(dx.dtype))
    zero, one = dtype.type(0), dtype.type(1)

    def impl(b, x, dx):
        flat = np.ascontiguousarray(x).reshape(x.size)
        g = np.ascontiguousarray(b).reshape(b.size)
        dflat = np.ascontiguousarray(dx).reshape(dx.size)
        suffix = np.empty(x.size, dtype=dtype)
        dsuffix = np.empty(x.size, dtype=dtype)
        out = np.empty(x.size, dtype=dtype)
        s, ds = zero, zero
        for i in range(x.size - 1, -1, -1):
            s = s + g[i]
            suffix[i] = s
            dsuffix[i] = ds
            ds = ds * flat[i] + s * dflat[i]
            s = s * flat[i]
        p, dp = one, zero
        for i in range(x.size):
            out[i] = dp * suffix[i] + p * dsuffix[i]
            dp = dp * flat[i] + p * dflat[i]
            p = p * flat[i]
        return out.reshape(x.shape)

    return impl


@overload(cumprod_tangent)
def _cumprod_tangent_numba(x, dx):
    dtype = np.result_type(as_dtype(x.dtype), as_dtype(dx.dtype))
    zero, one = dtype.type(0), as_dtype(x.dtype).type(1)

    def impl(x, dx):
        flat = np.ascontiguousarray(x).reshape(x.size)
        dflat = np.ascontiguousarray(dx).reshape(dx.size)
        out = np.empty(x.size, dtype=dtype)
        p, t = one, zero
        for j in range(x.size):
            t = t * flat[j] + p * dflat[j]
            out[j] = t
            p = p * flat[j]
        return out

    return impl


# --- matrix products ----------------------------------------------------------------------


def matmul_adjoint_left(g, a, b):
    """The adjoint of ``a`` in ``a @ b`` (vectors, matrices or stacks of matrices), given
    the result's adjoint."""
    if max(np.ndim(a), np.ndim(b)) > 2:  # stacks of matrices: tensor.py
        return matmul_stack_adjoint("x", g, a, b)
    if np.ndim(b) == 1:
        return np.outer(g, b) if np.ndim(a) == 2 else g * b
    return g @ b.T if np.ndim(a) == 2 else b @ g


def matmul_adjoint_right(g, a, b):
    """The adjoint of ``b`` in ``a @ b`` (vectors, matrices or stacks of matrices), given
    the result's adjoint."""
    if max(np.ndim(a), np.ndim(b)) > 2:
        return matmul_stack_adjoint("y", g, a, b)
    if np.ndim(a) == 1:
        return np.outer(a, g) if np.ndim(b) == 2 else g * a
    return a.T @ g


@overload(matmul_adjoint_left)
def _matmul_left_numba(g, a, b):
    stacks = matmul_stack_adjoint_implementation("x", g, a, b)
    if stacks is not None:
        return stacks
    if b.ndim == 1 and a.ndim == 2:
        return lambda g, a, b: np.outer(g, b)
    if b.ndim == 1:
        return lambda g, a, b: g * b
    if a.ndim == 2:
        return lambda g, a, b: g @ np.ascontiguousarray(b.T)
    return lambda g, a, b: b @ g


@overload(matmul_adjoint_right)
def _matmul_right_numba(g, a, b):
    stacks = matmul_stack_adjoint_implementation("y", g, a, b)
    if stacks is not None:
        return stacks
    if a.ndim == 1 and b.ndim == 2:
        return lambda g, a, b: np.outer(a, g)
    if a.ndim == 1:
        return lambda g, a, b: g * a
    if a.layout == "C":  # a.T is Fortran-ordered, which BLAS takes as it is
        return lambda g, a, b: a.T @ g
    return lambda g, a, b: np.ascontiguousarray(a.T) @ g


# --- tapes of whole arrays ----------------------------------------------------------------
# A whole array is pushed as its elements followed by its shape, on a flat tape of its dtype,
# so one tape holds arrays of any shape (a name first bound to a placeholder, then to
# arrays of one shape, as in a loop).


def push_array(tape, top, value):
    """Push the array ``value``; returns ``(tape, top)`` (the tape doubles when full)."""
    need = top + value.size + value.ndim
    if need > tape.shape[0]:
        grown = np.empty(max(2 * tape.shape[0], need, 64), dtype=tape.dtype)
        grown[:top] = tape[:top]
        tape = grown
    tape[top : top + value.size] = value.ravel()
    tape[top + value.size : need] = value.shape
    return tape, need


def pop_array(tape, top, like):
    """The array pushed last (its shape from the tape, its rank that of ``like``), and the top."""
    value = popped(tape, top, like, tape)
    return value, top - np.ndim(like) - value.size


@overload(push_array)
def _push_array_numba(tape, top, value):
    contiguous = value.layout == "C"

    def impl(tape, top, value):
        # element loops, not slice assignments: Numba compiles those with their
        # shape-mismatch error path (string formatting), seconds of every first call
        need = top + value.size + value.ndim
        if need > tape.shape[0]:
            grown = np.empty(max(2 * tape.shape[0], need, 64), dtype=tape.dtype)
            for k in range(top):
                grown[k] = tape[k]
            tape = grown
        if contiguous:  # no temporary copy
            flat = value.reshape(value.size)
            for k in range(value.size):
                tape[top + k] = flat[k]
        else:
            flat = value.ravel()
            for k in range(value.size):
                tape[top + k] = flat[k]
        for k in range(value.ndim):
            tape[top + value.size + k] = value.shape[k]
        return tape, need

    return impl


@overload(pop_array)
def _pop_array_numba(tape, top, like):
    # a view of the tape: what the backward sweep pops is not pushed over again
    def impl(tape, top, like):
        value = popped(tape, top, like, tape)
        return value, top - like.ndim - value.size

    return impl


# --- element loops fused from whole-array statements (sourcead/fusion.py) ---------------------


@numba.njit(cache=True)
def slice_start(size, lo, hi):
    """The first index of ``a[lo:hi]`` for an axis of ``size`` elements (Python's rules)."""
    if lo < 0:
        lo = max(lo + size, 0)
    return min(lo, size)


@numba.njit(cache=True)
def slice_length(size, lo, hi):
    """The number of elements of ``a[lo:hi]`` for an axis of ``size`` elements."""
    if hi < 0:
        hi = max(hi + size, 0)
    return max(min(hi, size) - slice_start(size, lo, hi), 0)


@numba.njit(cache=True)
def unpacked_rows(rows, columns, names):
    """The number of rows of a matrix of ``columns`` columns whose rows a for loop unpacks
    into ``names`` names (``for i, j in bonds``); ValueError, as Python's, if they differ."""
    if columns != names:
        raise ValueError("a for loop unpacks rows into a different number of names")
    return rows


@numba.njit(cache=True)
def fused_length(*lengths):
    """The common length of the operands of a fused statement; ValueError if they differ."""
    n = lengths[0]
    for m in lengths:
        if m != n:
            raise ValueError(
                "operands of different lengths in an element-wise statement (sourcead runs "
                "it as an element loop, which does not broadcast length-1 operands: write "
                "y[0] for a vector y of length 1)"
            )
    return n


@numba.njit(cache=True)
def scratch(vector, length):
    """``vector`` when it has ``length`` elements, else a new (unfilled) vector of that length:
    the buffer a fused statement inside a loop fills again at each iteration, allocated once
    instead of at every iteration."""
    if vector.shape[0] == length:
        return vector
    return np.empty(length, dtype=vector.dtype)


# --- adjoints of array names rebound to arrays of another shape (sourcead/reverse.py) ------------
@numba.njit(cache=True)
def zeroed(adjoint, shape):
    """``adjoint`` set to zero when it has ``shape``, else a new zero array of that shape:
    the adjoint of a name's previous binding, which may have had another shape."""
    if adjoint.shape == shape:
        adjoint.fill(0)
        return adjoint
    return np.zeros(shape, dtype=adjoint.dtype)


@numba.njit(cache=True)
def shape_changed():
    """Raise the error of a generated adjoint whose array changed shape where its new value is
    computed from its old one, as a call: forward mode over the adjoint (second derivatives)
    takes neither raise statements nor strings. The gradient names the array and line."""
    raise ValueError(
        "sourcead: an array changes shape where its new value is computed from its old one "
        "(the gradient of the same function names it); give the new array another name"
    )


@numba.njit(cache=True)
def sized(adjoint, shape):
    """``adjoint`` when it has ``shape``, else a new (unfilled) array of that shape: the
    adjoint of a name's previous binding where the next contribution assigns it whole."""
    if adjoint.shape == shape:
        return adjoint
    return np.empty(shape, dtype=adjoint.dtype)


# --- array tapes as forward mode over an adjoint sees them (sourcead/higher.py) ------------
# ``value, top = pop_array(tape, top, like)`` becomes ``value = popped(tape, top, like, tape)``
# then ``top = popped_top(top, value)``, and a push becomes element stores after
# ``reserve(tape, top + pushed_length(value))``: single results that forward mode takes
# (the tangent of ``popped`` is ``popped`` of the tangent tape).


def popped(tape, top, like, shapes):
    """The array of ``like``'s rank pushed last on ``tape`` below ``top`` (a view), its shape
    read from ``shapes`` (the tape itself, or the primal tape for a tangent tape, whose
    shape entries are zeros)."""
    ndim = np.ndim(like)
    shape = tuple(int(v.real) for v in shapes[top - ndim : top])
    start = top - ndim - int(np.prod(shape))
    value = tape[start : top - ndim].reshape(shape)
    if np.asarray(like).dtype == np.bool_ and value.dtype != np.bool_:
        return value.astype(np.bool_)  # a mask, from its tape of integers (which hold shapes)
    return value


def _popped_implementation(ndim: int, contiguous: bool, mask: bool = False):
    """``popped`` for arrays of ``ndim`` dimensions: the shape read without allocating; a
    view of a contiguous tape, a copy from a strided one (one direction of a vector-mode
    tangent tape); with ``mask``, booleans from a tape of integers."""
    shape = ", ".join(f"int(shapes[top - {ndim - k}].real)" for k in range(ndim))
    values = f"tape[top - {ndim} - size : top - {ndim}]"
    if not contiguous:
        values = f"np.ascontiguousarray({values})"
    if mask:
        values = f"{values}.astype(np.bool_)"
    source = (
        "def impl(tape, top, like, shapes):\n"
        f"    shape = ({shape},)\n"
        "    size = 1\n"
        "    for n in shape:\n"
        "        size *= n\n"
        f"    return {values}.reshape(shape)\n"
    )
    scope: dict = {"np": np}
    exec(source, scope)  # one small function per number of dimensions
    return scope["impl"]


@overload(popped)
def _popped_numba(tape, top, like, shapes):
    mask = isinstance(like.dtype, numba.types.Boolean) and not isinstance(
        tape.dtype, numba.types.Boolean
    )
    return _popped_implementation(like.ndim, tape.layout == "C", mask)


@numba.njit(cache=True)
def popped_top(top, value):
    """The top of a tape once ``value`` (pushed with its shape) is popped."""
    return top - value.size - value.ndim


@numba.njit(cache=True)
def pushed_length(value):
    """How many tape entries ``value`` takes: its elements, then its shape."""
    return value.size + value.ndim


# --- sorting and interpolation: np.sort, np.partition, np.interp ----------------------------------
# A sort's derivative follows the permutation that sorts: the adjoint of the sorted array goes
# back to where each element came from. Every helper finds that permutation by a stable sort
# (tied elements keep their order), compiled and not, so that all of them agree on it. Numba
# sorts vectors only: along an axis, the compiled helpers sort the rows of the array with that
# axis moved last (``axis`` must be a constant of the call, as generated code writes it).


def sort_along(x, axis=-1):
    """``np.sort(x, axis=axis)`` (``axis=None``: of the flattened array)."""
    return np.sort(x, axis=axis, kind="stable")


def partition_along(x, kth, axis=-1):
    """``np.partition(x, kth, axis=axis)`` as a whole sort, which partitions at every ``kth``
    (NumPy leaves the order on either side of ``kth`` unspecified); ``kth`` is checked as
    NumPy checks it."""
    n = np.size(x) if axis is None else np.shape(x)[axis]
    if not -n <= kth < n:
        raise ValueError(f"kth(={kth}) out of bounds ({n})")
    return np.sort(x, axis=axis, kind="stable")


def _order(x, axis):
    return np.argsort(x, axis=axis, kind="stable")


def unsort_along(g, x, axis=-1):
    """The adjoint of ``sort_along(x, axis)`` given the sorted array's adjoint ``g``: each
    element of ``g`` put back where the element it sorted came from (shaped like ``x``)."""
    g = np.asarray(g)
    if axis is None:
        out = np.empty(np.size(x), dtype=g.dtype)
        out[_order(x, None)] = g
        return out.reshape(np.shape(x))
    out = np.empty(np.shape(x), dtype=g.dtype)
    np.put_along_axis(out, _order(x, axis), g, axis)
    return out


def sorted_like(dx, x, axis=-1):
    """``dx`` in the order that sorts ``x`` along ``axis``: the tangent of ``sort_along``."""
    if axis is None:
        return np.ravel(dx)[_order(x, None)]
    return np.take_along_axis(np.asarray(dx), _order(x, axis), axis)


def _sort_axis(axis, ndim: int):
    """The axis a compiled sort helper sorts along (None: the flattened array), from its
    Numba type: a literal integer, None, or the default -1."""
    if axis is None or isinstance(axis, types.NoneType):
        return None
    if isinstance(axis, types.Omitted):
        value = axis.value
    elif isinstance(axis, types.IntegerLiteral):
        value = axis.literal_value
    elif isinstance(axis, int):
        value = axis
    else:
        raise numba.core.errors.TypingError("sourcead_runtime: the axis of a sort is a constant")
    if value is None:
        return None
    if not -ndim <= value < ndim:
        raise numba.core.errors.TypingError(f"sourcead_runtime: axis {value} of a {ndim}-d array")
    return value % ndim


def _sorting(ndim: int, axis):
    """(rows, back, like) for a compiled sort along ``axis`` of an array of ``ndim``
    dimensions: ``rows(a)`` is the C-contiguous matrix of ``a``'s vectors along the axis,
    ``back(m, a)`` puts such a matrix back as the sorted array (``axis`` None: a vector),
    ``like(m, a)`` in ``a``'s shape."""
    if axis is None:

        def rows(a):
            return np.ascontiguousarray(a).reshape((1, a.size))

        def back(m, a):
            return m.reshape(m.size)

        def like(m, a):
            return m.reshape(a.shape)

        return numba.njit(rows), numba.njit(back), numba.njit(like)
    order = tuple(k for k in range(ndim) if k != axis) + (axis,)
    inverse = tuple(order.index(k) for k in range(ndim))

    def rows(a):
        moved = np.ascontiguousarray(np.transpose(a, order))
        n = moved.shape[-1]
        return moved.reshape((moved.size // max(n, 1), n))

    def back(m, a):
        moved = np.transpose(a, order)
        return np.ascontiguousarray(np.transpose(m.reshape(moved.shape), inverse))

    return numba.njit(rows), numba.njit(back), numba.njit(back)


@overload(sort_along, prefer_literal=True)
def _sort_along_numba(x, axis=-1):
    if not isinstance(x, types.Array):
        return None
    rows, back, _ = _sorting(x.ndim, _sort_axis(axis, x.ndim))

    def impl(x, axis=-1):
        m = rows(x)
        out = np.empty(m.shape, dtype=x.dtype)
        for i in range(m.shape[0]):
            order = np.argsort(m[i], kind="mergesort")  # stable
            for j in range(m.shape[1]):
                out[i, j] = m[i, order[j]]
        return back(out, x)

    return impl


@overload(partition_along, prefer_literal=True)
def _partition_along_numba(x, kth, axis=-1):
    if not isinstance(x, types.Array) or not isinstance(kth, types.Integer):
        return None
    axis_value = _sort_axis(axis, x.ndim)

    def impl(x, kth, axis=-1):
        n = x.size if axis_value is None else x.shape[axis_value]
        if not -n <= kth < n:
            raise ValueError("kth out of bounds")
        return sort_along(x, axis)

    return impl


@overload(unsort_along, prefer_literal=True)
def _unsort_along_numba(g, x, axis=-1):
    if not (isinstance(g, types.Array) and isinstance(x, types.Array)):
        return None
    rows, _, like = _sorting(x.ndim, _sort_axis(axis, x.ndim))
    dtype = g.dtype

    def impl(g, x, axis=-1):
        m = rows(x)
        sorted_rows = rows(g)  # g is shaped like the sorted array
        out = np.empty(m.shape, dtype=dtype)
        for i in range(m.shape[0]):
            order = np.argsort(m[i], kind="mergesort")
            for j in range(m.shape[1]):
                out[i, order[j]] = sorted_rows[i, j]
        return like(out, x)

    return impl


@overload(sorted_like, prefer_literal=True)
def _sorted_like_numba(dx, x, axis=-1):
    if not (isinstance(dx, types.Array) and isinstance(x, types.Array)):
        return None
    rows, back, _ = _sorting(x.ndim, _sort_axis(axis, x.ndim))
    dtype = dx.dtype

    def impl(dx, x, axis=-1):
        m = rows(x)
        d = rows(dx)
        out = np.empty(m.shape, dtype=dtype)
        for i in range(m.shape[0]):
            order = np.argsort(m[i], kind="mergesort")
            for j in range(m.shape[1]):
                out[i, j] = d[i, order[j]]
        return back(out, x)

    return impl


# np.interp(x, xp, fp) = (1 - t) fp[i] + t fp[i + 1], t = (x - xp[i]) / (xp[i + 1] - xp[i]), on
# the segment [xp[i], xp[i + 1]) that holds x (the one to its right at a knot); fp[0] left of
# xp[0], fp[-1] from xp[-1] on. Its derivatives: along x the slope s of the segment (0
# outside), along fp the weights (1 - t, t), along xp -s (1 - t, t); each helper takes x as
# a number or an array of any shape (xp and fp are vectors).


@numba.njit(cache=True)
def _segment(v, xp):
    """The index i of the segment [xp[i], xp[i + 1]) holding v: -1 left of xp[0], and
    len(xp) - 1 from xp[-1] on (or for nan)."""
    lo, hi = 0, xp.shape[0]  # the first knot above v is in [lo, hi]
    if not v >= xp[0]:
        return -1 if v < xp[0] else xp.shape[0] - 1  # (nan: outside, slope 0)
    while lo < hi:
        mid = (lo + hi) // 2
        if xp[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


def _each(x):
    """The elements of ``x`` (a number or an array), in C order."""
    return np.ravel(np.asarray(x, dtype=np.float64))


def interp_slope(x, xp, fp):
    """The derivative of ``np.interp(x, xp, fp)`` along ``x``: the slope of the segment that
    holds each ``x`` (the one to its right at a knot; 0 outside [xp[0], xp[-1]))."""
    out = np.asarray(_interp_slopes(_each(x), np.asarray(xp), np.asarray(fp)))
    return float(out[0]) if np.ndim(x) == 0 else out.reshape(np.shape(x))


@numba.njit(cache=True)
def _interp_slopes(values, xp, fp):
    out = np.zeros(values.shape[0])
    for k in range(values.shape[0]):
        i = _segment(values[k], xp)
        if 0 <= i < xp.shape[0] - 1:
            out[k] = (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i])
    return out


def interp_adjoint(g, x, xp):
    """The adjoint of ``fp`` in ``np.interp(x, xp, fp)`` given the result's adjoint ``g``:
    ``g`` split between the two knots of each segment by the weights (1 - t, t)."""
    g = np.broadcast_to(np.asarray(g), np.shape(x))
    return _interp_adjoint(np.ravel(g), _each(x), np.asarray(xp))


@numba.njit(cache=True)
def _interp_adjoint(g, values, xp):
    n = xp.shape[0]
    out = np.zeros(n)
    for k in range(values.shape[0]):
        i = _segment(values[k], xp)
        if i < 0:
            out[0] += g[k]
        elif i >= n - 1:
            out[n - 1] += g[k]
        else:
            t = (values[k] - xp[i]) / (xp[i + 1] - xp[i])
            out[i] += (1.0 - t) * g[k]
            out[i + 1] += t * g[k]
    return out


def interp_spread(c, x, xp):
    """``c / h`` taken from the left knot and added to the right knot of the segment (of
    width h) that holds each ``x``, nothing outside: the tangent of ``interp_adjoint`` along
    ``x`` and ``xp`` (``c`` the adjoint times the change of ``x`` relative to the knots)."""
    c = np.broadcast_to(np.asarray(c), np.shape(x))
    return _interp_spread(np.ravel(c), _each(x), np.asarray(xp))


@numba.njit(cache=True)
def _interp_spread(c, values, xp):
    n = xp.shape[0]
    out = np.zeros(n)
    for k in range(values.shape[0]):
        i = _segment(values[k], xp)
        if 0 <= i < n - 1:
            step = c[k] / (xp[i + 1] - xp[i])
            out[i] -= step
            out[i + 1] += step
    return out


@overload(interp_slope)
def _interp_slope_numba(x, xp, fp):
    if isinstance(x, types.Number):
        return lambda x, xp, fp: _interp_slopes(np.array([float(x)]), xp, fp)[0]
    return lambda x, xp, fp: _interp_slopes(
        np.ascontiguousarray(x).astype(np.float64).reshape(x.size), xp, fp
    ).reshape(x.shape)


@overload(interp_adjoint)
def _interp_adjoint_numba(g, x, xp):
    if isinstance(x, types.Number):
        return lambda g, x, xp: _interp_adjoint(np.array([g]), np.array([float(x)]), xp)
    if isinstance(g, types.Number):
        return lambda g, x, xp: _interp_adjoint(
            np.full(x.size, g), np.ascontiguousarray(x).astype(np.float64).reshape(x.size), xp
        )
    return lambda g, x, xp: _interp_adjoint(
        np.ascontiguousarray(np.broadcast_to(g, x.shape)).reshape(x.size),
        np.ascontiguousarray(x).astype(np.float64).reshape(x.size),
        xp,
    )


@overload(interp_spread)
def _interp_spread_numba(c, x, xp):
    if isinstance(x, types.Number):
        return lambda c, x, xp: _interp_spread(np.array([c]), np.array([float(x)]), xp)
    if isinstance(c, types.Number):
        return lambda c, x, xp: _interp_spread(
            np.full(x.size, c), np.ascontiguousarray(x).astype(np.float64).reshape(x.size), xp
        )
    return lambda c, x, xp: _interp_spread(
        np.ascontiguousarray(np.broadcast_to(c, x.shape)).reshape(x.size),
        np.ascontiguousarray(x).astype(np.float64).reshape(x.size),
        xp,
    )
