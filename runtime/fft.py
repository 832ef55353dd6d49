"""Fast Fourier transforms for generated code, and their adjoints.

Generated code calls these helpers in place of ``np.fft``'s (and ``scipy.fft``'s) functions:
``np.fft.fft(x, axis=0, norm="ortho")`` is ``fft_along(x, axis=0, norm="ortho")`` there, and
``np.fft.fft(x, 16)`` (a length ``n``) is ``fft_sized(x, 16)``. Each is a plain NumPy function,
which ``compile=False`` runs, registered with ``numba.extending.register_jitable`` so that
compiled code compiles the same body: Numba compiles ``np.fft`` through rocket-fft (a
dependency, registered with Numba when it starts), which gives NumPy's results and dtypes
(float32 and complex64 stay single precision).

Every transform is linear, so its tangent is the transform of the tangent; its adjoint
follows JAX's convention for complex numbers (the gradient of a real loss with respect to
z = x + iy is dL/dx - i dL/dy): it is the transpose, not the conjugate transpose. The DFT
matrix is symmetric, so the transpose of ``fft`` (of ``ifft``, ``fftn`` …) is ``fft`` itself
with the same ``norm``, cut or padded back to the input's length where ``n`` changed it,
and its real part for a real input. ``rfft`` keeps the first ``n // 2 + 1`` bins of ``fft``:
its adjoint pads the adjoint with zeros to ``n`` bins first. ``irfft`` reads each bin of its
half spectrum once but counts the bins 1 to ``(n - 1) // 2`` twice (each stands for itself
and its mirror image), and only the real parts of bin 0 and, for even ``n``, of bin
``n // 2``: its adjoint is ``ifft`` of the adjoint (same ``norm``) on those bins, weighted
by 2 where they are doubled.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.extending import overload, register_jitable

from .exports import EXPORTS

__all__ = list(EXPORTS["fft"])  # (the names: exports.py)


# --- the transforms ---------------------------------------------------------------------------


@register_jitable
def fft_along(a, axis=-1, norm=None):
    """``np.fft.fft(a, axis=axis, norm=norm)``."""
    return np.fft.fft(a, None, axis, norm)


@register_jitable
def fft_sized(a, n, axis=-1, norm=None):
    """``np.fft.fft(a, n, axis=axis, norm=norm)``: ``a`` cut or padded with zeros to ``n``."""
    return np.fft.fft(a, n, axis, norm)


@register_jitable
def ifft_along(a, axis=-1, norm=None):
    """``np.fft.ifft(a, axis=axis, norm=norm)``."""
    return np.fft.ifft(a, None, axis, norm)


@register_jitable
def ifft_sized(a, n, axis=-1, norm=None):
    """``np.fft.ifft(a, n, axis=axis, norm=norm)``."""
    return np.fft.ifft(a, n, axis, norm)


@register_jitable
def rfft_along(a, axis=-1, norm=None):
    """``np.fft.rfft(a, axis=axis, norm=norm)`` of a real ``a``."""
    return np.fft.rfft(a, None, axis, norm)


@register_jitable
def rfft_sized(a, n, axis=-1, norm=None):
    """``np.fft.rfft(a, n, axis=axis, norm=norm)`` of a real ``a``."""
    return np.fft.rfft(a, n, axis, norm)


@register_jitable
def irfft_along(a, axis=-1, norm=None):
    """``np.fft.irfft(a, axis=axis, norm=norm)``: ``2 * (m - 1)`` values of ``m`` bins."""
    return np.fft.irfft(a, None, axis, norm)


@register_jitable
def irfft_sized(a, n, axis=-1, norm=None):
    """``np.fft.irfft(a, n, axis=axis, norm=norm)``: ``n`` values."""
    return np.fft.irfft(a, n, axis, norm)


@register_jitable
def fftn_along(a, axes=None, norm=None):
    """``np.fft.fftn(a, axes=axes, norm=norm)`` (None: every axis)."""
    return np.fft.fftn(a, None, axes, norm)


@register_jitable
def ifftn_along(a, axes=None, norm=None):
    """``np.fft.ifftn(a, axes=axes, norm=norm)`` (None: every axis)."""
    return np.fft.ifftn(a, None, axes, norm)


@register_jitable
def fft2_along(a, axes=(-2, -1), norm=None):
    """``np.fft.fft2(a, axes=axes, norm=norm)``."""
    return np.fft.fftn(a, None, axes, norm)


@register_jitable
def ifft2_along(a, axes=(-2, -1), norm=None):
    """``np.fft.ifft2(a, axes=axes, norm=norm)``."""
    return np.fft.ifftn(a, None, axes, norm)


@register_jitable
def fftshift_along(x, axes=None):
    """``np.fft.fftshift(x, axes)``: the zero frequency moved to the middle."""
    return np.fft.fftshift(x, axes)


@register_jitable
def ifftshift_along(x, axes=None):
    """``np.fft.ifftshift(x, axes)``: the inverse permutation of ``fftshift_along``."""
    return np.fft.ifftshift(x, axes)


# --- the adjoints ---------------------------------------------------------------------------------


def real_like(value, x):
    """``value``, or a copy of its real part where ``x`` is real: the adjoint of a real
    input of a transform whose adjoint is complex (JAX's convention)."""
    return value if np.iscomplexobj(x) else np.ascontiguousarray(value.real)


@overload(real_like)
def _real_like_numba(value, x):
    if isinstance(x, types.Array) and isinstance(x.dtype, types.Complex):
        return lambda value, x: value
    return lambda value, x: np.ascontiguousarray(value.real)


def _resized(a, axis, m):
    """A copy of ``a`` with ``m`` elements along ``axis``: cut, or padded with zeros."""
    ax = axis % a.ndim
    out = np.zeros(a.shape[:ax] + (m,) + a.shape[ax + 1 :], dtype=a.dtype)
    kept = (slice(None),) * ax + (slice(0, min(m, a.shape[ax])),)
    out[kept] = a[kept]
    return out


def _folded(s, axis, m):
    """The adjoint of ``irfft``'s half spectrum from ``s``, ``ifft`` of the result's adjoint
    (``n`` values along ``axis``): its first ``m`` bins, twice those from 1 to ``(n - 1) // 2``
    (each stands for its mirror image too), zero past ``n // 2`` (not read)."""
    ax = axis % s.ndim
    n = s.shape[ax]
    half = n // 2 + 1
    weights = np.zeros(m)
    weights[: min(m, half)] = 2.0
    weights[0] = 1.0
    if n % 2 == 0 and half <= m:
        weights[half - 1] = 1.0
    weights = weights.reshape((m,) + (1,) * (s.ndim - ax - 1))
    return _resized(s, axis, m) * weights.astype(s.real.dtype)


# Numba: loops over the array seen as (before the axis, along it, after it). Numba's
# swapaxes and slices of a computed number of dimensions take tens of seconds to compile.


@register_jitable
def _sizes(a, ax):
    outer = 1
    for d in range(ax):
        outer *= a.shape[d]
    inner = 1
    for d in range(ax + 1, a.ndim):
        inner *= a.shape[d]
    return outer, a.shape[ax], inner


@overload(_resized)
def _resized_numba(a, axis, m):
    def implementation(a, axis, m):
        ax = axis % a.ndim
        outer, n, inner = _sizes(a, ax)
        rows = np.ascontiguousarray(a).reshape((outer, n, inner))
        out = np.zeros((outer, m, inner), dtype=a.dtype)
        for i in range(outer):
            for j in range(min(m, n)):
                for k in range(inner):
                    out[i, j, k] = rows[i, j, k]
        return out.reshape(tuple_setitem(a.shape, ax, m))

    return implementation


@overload(_folded)
def _folded_numba(s, axis, m):
    def implementation(s, axis, m):
        ax = axis % s.ndim
        outer, n, inner = _sizes(s, ax)
        rows = np.ascontiguousarray(s).reshape((outer, n, inner))
        out = np.zeros((outer, m, inner), dtype=s.dtype)
        half = n // 2 + 1
        for i in range(outer):
            for j in range(min(m, half)):
                weight = 1.0 if j == 0 or 2 * j == n else 2.0
                for k in range(inner):
                    out[i, j, k] = weight * rows[i, j, k]
        return out.reshape(tuple_setitem(s.shape, ax, m))

    return implementation


@register_jitable
def fft_adjoint(g, x, n, axis, norm):
    """The adjoint of ``x`` in ``fft_sized(x, n, axis, norm)`` (``n`` None: ``fft_along``) for
    the result's adjoint ``g``: the transform of ``g``, cut or padded to ``x``'s length."""
    if n is None:
        return real_like(np.fft.fft(g, None, axis, norm), x)
    return real_like(_resized(np.fft.fft(g, None, axis, norm), axis, x.shape[axis % x.ndim]), x)


@register_jitable
def ifft_adjoint(g, x, n, axis, norm):
    """The adjoint of ``x`` in ``ifft_sized`` or ``ifft_along`` (as ``fft_adjoint``)."""
    if n is None:
        return real_like(np.fft.ifft(g, None, axis, norm), x)
    return real_like(_resized(np.fft.ifft(g, None, axis, norm), axis, x.shape[axis % x.ndim]), x)


@register_jitable
def rfft_adjoint(g, x, n, axis, norm):
    """The adjoint of the real ``x`` in ``rfft_sized(x, n, axis, norm)`` (``n`` None:
    ``rfft_along``): the real part of the transform of ``g`` padded with zeros to ``n``
    bins, cut or padded to ``x``'s length."""
    m = x.shape[axis % x.ndim]
    if n is None:
        full = np.fft.fft(_resized(g, axis, m), None, axis, norm)
        return np.ascontiguousarray(full.real)
    full = np.fft.fft(_resized(g, axis, n), None, axis, norm)
    return _resized(np.ascontiguousarray(full.real), axis, m)


@register_jitable
def irfft_adjoint(g, h, axis, norm):
    """The adjoint of the half spectrum ``h`` in ``irfft_along(h, axis, norm)`` or
    ``irfft_sized(h, n, axis, norm)``, for the adjoint ``g`` of its real result: ``ifft`` of
    ``g`` on the bins read, twice where a bin stands for its mirror image too, zero on the
    bins past ``n // 2`` (not read)."""
    return real_like(_folded(np.fft.ifft(g, None, axis, norm), axis, h.shape[axis % h.ndim]), h)


@register_jitable
def fftn_adjoint(g, x, axes, norm):
    """The adjoint of ``x`` in ``fftn_along(x, axes, norm)`` and ``fft2_along``."""
    return real_like(np.fft.fftn(g, None, axes, norm), x)


@register_jitable
def ifftn_adjoint(g, x, axes, norm):
    """The adjoint of ``x`` in ``ifftn_along(x, axes, norm)`` and ``ifft2_along``."""
    return real_like(np.fft.ifftn(g, None, axes, norm), x)


@register_jitable
def fftshift_adjoint(g, axes):
    """The adjoint of ``fftshift_along(x, axes)``: the inverse permutation."""
    return np.fft.ifftshift(g, axes)


@register_jitable
def ifftshift_adjoint(g, axes):
    """The adjoint of ``ifftshift_along(x, axes)``: the inverse permutation."""
    return np.fft.fftshift(g, axes)
