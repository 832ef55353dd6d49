"""Adjoints of ``np.linalg``: solve, inv, det, slogdet, cholesky, eigh, svd, qr.

These rules have several statements: they recompute the factorisation in the backward sweep
and combine it with the adjoints of the results (for a function returning a tuple, such as
``eigh``, the rule's first parameters are the adjoints of the tuple's items).

Symmetric inputs (``cholesky``, ``eigh``): NumPy reads only the lower triangle; the rules
return the symmetric adjoint, the right one for a symmetric matrix that is perturbed
symmetrically. ``eigh`` with repeated eigenvalues: the terms that couple eigenvectors of
equal eigenvalues (1 / (w_j - w_i) with w_i == w_j) are left out. That is exact for a loss
that depends on the eigenvalues and on the eigenspaces (projectors, densities summed over a
degenerate level), not on the arbitrary basis NumPy picks inside a degenerate eigenspace.
``svd`` (``full_matrices=False``) and ``qr`` need distinct, nonzero singular values and a
matrix with at least as many rows as columns respectively.
"""

import numpy as np
from sourcead_runtime import matmul_adjoint_left

from .registry import array_adjoint


@array_adjoint(np.linalg.solve)
def solve(b_out, a, b):
    x = np.linalg.solve(a, b)
    b_b = np.linalg.solve(np.ascontiguousarray(a.T), b_out)
    return -matmul_adjoint_left(b_b, a, x), b_b


@array_adjoint(np.linalg.inv)
def inv(b_out, a):
    y = np.ascontiguousarray(np.linalg.inv(a).T)
    return -(y @ b_out @ y)


@array_adjoint(np.linalg.det)
def det(b_out, a):
    return b_out * np.linalg.det(a) * np.ascontiguousarray(np.linalg.inv(a).T)


@array_adjoint(np.linalg.slogdet, outputs=2)
def slogdet(b_sign, b_logdet, a):
    return b_logdet * np.ascontiguousarray(np.linalg.inv(a).T)


@array_adjoint(np.linalg.cholesky)
def cholesky(b_out, a):
    low = np.linalg.cholesky(a)
    p = np.tril(np.ascontiguousarray(low.T) @ b_out)
    p = p - 0.5 * np.diag(np.diag(p))
    low_inv = np.linalg.inv(low)
    s = np.ascontiguousarray(low_inv.T) @ p @ low_inv
    return 0.5 * (s + s.T)


@array_adjoint(np.linalg.eigh, outputs=2)
def eigh(b_w, b_v, a):
    w, v = np.linalg.eigh(a)
    gaps = w.reshape(1, w.size) - w.reshape(w.size, 1)
    same = gaps == 0.0
    f = (1.0 - same) / (gaps + same)
    inner = np.diag(b_w) + f * (np.ascontiguousarray(v.T) @ b_v)
    g = v @ inner @ np.ascontiguousarray(v.T)
    return 0.5 * (g + g.T)


@array_adjoint(np.linalg.svd, outputs=3)
def svd(b_u, b_s, b_vh, a, full_matrices=True):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    v = np.ascontiguousarray(vh.T)
    b_v = np.ascontiguousarray(b_vh.T)
    ut = np.ascontiguousarray(u.T)
    s2 = s * s
    gaps = s2.reshape(1, s.size) - s2.reshape(s.size, 1)
    same = gaps == 0.0
    f = (1.0 - same) / (gaps + same)
    ut_bu = ut @ b_u
    vt_bv = np.ascontiguousarray(v.T) @ b_v
    j = f * (ut_bu - ut_bu.T)
    k = f * (vt_bv - vt_bv.T)
    core = j * s.reshape(1, s.size) + np.diag(b_s) + s.reshape(s.size, 1) * k
    g = u @ core @ vh
    g = g + (b_u - u @ ut_bu) / s.reshape(1, s.size) @ vh
    g = g + u @ ((b_v - v @ vt_bv) / s.reshape(1, s.size)).T
    return g, None


@array_adjoint(np.linalg.qr, outputs=2)
def qr(b_q, b_r, a):
    q, r = np.linalg.qr(a)
    m = r @ np.ascontiguousarray(b_r.T) - np.ascontiguousarray(b_q.T) @ q
    copied = np.tril(m) + np.tril(m, -1).T
    rhs = b_q + q @ copied
    # rhs @ inv(r).T, as a solve with r
    return np.ascontiguousarray(np.linalg.solve(r, np.ascontiguousarray(rhs.T)).T)
