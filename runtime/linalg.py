"""Linear-algebra helpers of generated code: what Numba lacks (``expm``, ``solve_triangular``,
the singular values alone, the R of a QR), and the tangents of the factorisations.

Complex matrices follow the conventions of ``docs/arrays.md``: tangents are plain
perturbations, and the Hermitian (conjugate) transposes appear where the factorisation has
them (``a = v diag(w) v^H``, ``a = u diag(s) v^H``, ``a = q r``).
"""

from __future__ import annotations

import numba
import numpy as np

from .exports import EXPORTS

__all__ = list(EXPORTS["linalg"])  # (the names: exports.py)

# Padé 13 of scaling and squaring (Higham 2005, "The scaling and squaring method for the
# matrix exponential revisited"; scipy.linalg.expm's degree for all but small norms)
_PADE13 = (
    64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
    129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
    40840800.0, 960960.0, 16380.0, 182.0, 1.0,
)  # fmt: skip
_THETA13 = 5.371920351148152


@numba.njit(cache=True)
def _identity_like(a):
    ident = np.zeros_like(a)
    for i in range(a.shape[0]):
        ident[i, i] = 1.0
    return ident


@numba.njit(cache=True)
def linalg_expm(a):
    """``scipy.linalg.expm(a)``: scaling and squaring with the Padé approximant of degree 13."""
    a = np.ascontiguousarray(a)
    norm = np.max(np.sum(np.abs(a), axis=0)) if a.size else 0.0
    s = 0
    if norm > _THETA13:
        s = int(np.ceil(np.log2(norm / _THETA13)))
    a = a / 2.0**s
    b = _PADE13
    ident = _identity_like(a)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (
        a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
        + b[7] * a6
        + b[5] * a4
        + b[3] * a2
        + b[1] * ident
    )
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2
    v = v + b[0] * ident
    r = np.ascontiguousarray(np.linalg.solve(v - u, v + u))
    for _ in range(s):
        r = r @ r
    return r


@numba.njit(cache=True)
def _block(m, e):
    """The block matrix [[m, e], [0, m]], of the dtype of m and e together."""
    n = m.shape[0]
    # a zero of both dtypes (np.sum of an empty slice is a zero too)
    zero = np.sum(m.ravel()[:1]) * 0.0 + np.sum(e.ravel()[:1]) * 0.0
    big = np.full((2 * n, 2 * n), zero)
    big[:n, :n] = m
    big[:n, n:] = e
    big[n:, n:] = m
    return big


@numba.njit(cache=True)
def expm_frechet(m, e):
    """The Fréchet derivative of expm at ``m`` in the direction ``e``: the upper right block
    of expm([[m, e], [0, m]]) (Higham, Functions of Matrices, 3.2)."""
    n = m.shape[0]
    big = _block(m, e)
    if n == 0:
        return np.ascontiguousarray(big[:n, n:])
    return np.ascontiguousarray(linalg_expm(big)[:n, n:])


@numba.njit(cache=True)
def expm_frechet_along_m(m, e, dm):
    """The tangent of ``expm_frechet(m, e)`` along ``dm`` (it is linear in ``e``): the Fréchet
    derivative at the block matrix [[m, e], [0, m]] along [[dm, 0], [0, dm]], its upper right
    block."""
    n = m.shape[0]
    return np.ascontiguousarray(expm_frechet(_block(m, e), _block(dm, 0.0 * e))[:n, n:])


@numba.njit(cache=True)
def linalg_svd_values(a, compute_uv=False):
    """``np.linalg.svd(a, compute_uv=False)``: the singular values, largest first."""
    return np.linalg.svd(np.ascontiguousarray(a), full_matrices=False)[1]


@numba.njit(cache=True)
def svd_adjoint_columns(b_u, b_s, b_vh, k):
    """How many leading singular triples of an SVD its factors' adjoints reach: 1 + the last
    ``j < k`` with a nonzero in ``b_u[:, j]``, ``b_s[j]`` or ``b_vh[j]`` (0 when all are zero),
    and ``k`` when the adjoints of a full SVD's complement (``b_u[:, k:]``, ``b_vh[k:]``) are
    not zero. A truncation ``u[:, :chi]`` leaves the other triples' adjoints zero, and the
    SVD's adjoint then multiplies matrices of ``chi`` columns instead of ``k``."""
    for i in range(b_u.shape[0]):
        for j in range(k, b_u.shape[1]):
            if b_u[i, j] != 0:
                return k
    for i in range(k, b_vh.shape[0]):
        for j in range(b_vh.shape[1]):
            if b_vh[i, j] != 0:
                return k
    for j in range(k - 1, -1, -1):
        if b_s[j] != 0:
            return j + 1
        for i in range(b_u.shape[0]):
            if b_u[i, j] != 0:
                return j + 1
        for i in range(b_vh.shape[1]):
            if b_vh[j, i] != 0:
                return j + 1
    return 0


@numba.njit(cache=True)
def linalg_qr_r(a, mode="r"):
    """``np.linalg.qr(a, mode="r")``: the reduced R factor."""
    return np.linalg.qr(np.ascontiguousarray(a))[1]


@numba.njit(cache=True)
def triangular_part(a, lower=False, unit_diagonal=False):
    """The lower (or upper) triangle of ``a``, without its diagonal where ``unit_diagonal``
    (a projection: its own adjoint)."""
    k = -1 if unit_diagonal else 0
    if lower:
        return np.tril(a, k)
    return np.triu(a, -k)


@numba.njit(cache=True)
def apply_trans(a, trans=0):
    """``a`` (``trans`` 0), its transpose (1) or its conjugate transpose (2): each its own
    adjoint under the pairing Re(sum(x * y)) of JAX's convention."""
    if trans == 1:
        return np.ascontiguousarray(a.T)
    if trans == 2:
        return np.ascontiguousarray(np.conj(a).T)
    return np.ascontiguousarray(a)


@numba.njit(cache=True)
def linalg_solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False):
    """``scipy.linalg.solve_triangular(a, b, trans, lower, unit_diagonal)``: only the triangle
    of ``a`` is read (and not its diagonal where ``unit_diagonal``)."""
    t = triangular_part(a, lower, unit_diagonal)
    if unit_diagonal:
        t = t + _identity_like(t)
    # np.linalg.solve takes operands of one dtype: a real one made complex by the other's zero
    zero = (a[0, 0] * 0.0 if a.size else 0.0) + (b.ravel()[0] * 0.0 if b.size else 0.0)
    return np.linalg.solve(apply_trans(t, trans) + zero, np.ascontiguousarray(b) + zero)


@numba.njit(cache=True)
def triangular_matrix(a, trans=0, lower=False, unit_diagonal=False):
    """The matrix ``solve_triangular`` solves with: the triangle of ``a`` (with ones on its
    diagonal where ``unit_diagonal``), transposed as ``trans`` says."""
    t = triangular_part(a, lower, unit_diagonal)
    if unit_diagonal:
        t = t + _identity_like(t)
    return apply_trans(t, trans)


@numba.njit(cache=True)
def linalg_eigvals(a):
    """``np.linalg.eigvals(a)`` in complex arithmetic."""
    return np.linalg.eigvals(np.ascontiguousarray(a) + 0j)


@numba.njit(cache=True)
def eig_complex(a):
    """``np.linalg.eig(a)`` in complex arithmetic (Numba's eig of a real matrix refuses
    complex eigenvalues)."""
    return np.linalg.eig(np.ascontiguousarray(a) + 0j)


# --- tangents of the factorisations (tangent rules call them: never differentiated again) ---
# Computed in double precision (Numba widens float32 arrays times Python floats to float64,
# and then refuses products of the two) and returned in the factor's dtype.


@numba.njit(cache=True)
def _wide(x):
    """``x`` as a contiguous float64 (complex128) array."""
    return np.ascontiguousarray(x) + 0.0


@numba.njit(cache=True)
def _gap_inverse(w):
    """F[i, j] = 1 / (w[j] - w[i]), 0 where w[j] == w[i] to 1e-12 of the largest |w| (the
    diagonal, degenerate pairs, whose values differ by rounding only)."""
    n = w.shape[0]
    zero = w[0] * 0.0 if n else 0.0
    f = np.full((n, n), zero)
    tolerance = 1e-12 * np.max(np.abs(w)) if n else 0.0
    for i in range(n):
        for j in range(n):
            if abs(w[j] - w[i]) > tolerance:
                f[i, j] = 1.0 / (w[j] - w[i])
    return f


@numba.njit(cache=True)
def _hermitian_transpose(a):
    return np.ascontiguousarray(np.conj(a).T)


@numba.njit(cache=True)
def _eigh_tangent_w(da, w, v):
    """The eigenvalues' tangent of ``eigh``: Re diag(v^H sym(da) v), sym: the Hermitian part."""
    vh = _hermitian_transpose(v)
    p = vh @ np.ascontiguousarray(0.5 * (da + _hermitian_transpose(da))) @ v
    return np.ascontiguousarray(np.real(np.diag(p)))


@numba.njit(cache=True)
def _eigh_tangent_v(da, w, v):
    """The eigenvectors' tangent of ``eigh``: v (F * (v^H sym(da) v)), F as ``_gap_inverse``
    (zero diagonal: the phases' gauge; zero for equal eigenvalues)."""
    vh = _hermitian_transpose(v)
    p = vh @ np.ascontiguousarray(0.5 * (da + _hermitian_transpose(da))) @ v
    return v @ (_gap_inverse(w) * p)


@numba.njit(cache=True)
def _svd_coupling(da, u, s, vh):
    """p = u^H da v and the coupling matrices of the thin SVD's tangent."""
    p = _hermitian_transpose(u) @ np.ascontiguousarray(da) @ _hermitian_transpose(vh)
    f = _gap_inverse(s * s)
    ph = _hermitian_transpose(p)
    return p, ph, f


@numba.njit(cache=True)
def _nonzero_inverse(s):
    """1 / s where s is not zero, 0 where it is: the singular vectors of a zero singular
    value have no derivative; a program that truncates the SVD (``u[:, :k]``) never reads
    them, and their terms must not be NaN."""
    nonzero = s != 0.0
    return nonzero / (s + ~nonzero)


@numba.njit(cache=True)
def _svd_left_tangent(da, u, s, vh, phase):
    """du of a = u diag(s) v^H (thin or full): u_k (F * (p S + S p^H)) + (I - u_k u_k^H) da
    v_k / s, with ``phase`` the pairs' common phase i Im(p_jj) / s_j on u; for the full u,
    the complement's -u_k du_k^H u_perp (its gauge u_perp^H du_perp = 0)."""
    k = s.shape[0]
    uk = np.ascontiguousarray(u[:, :k])
    vk = _hermitian_transpose(np.ascontiguousarray(vh[:k]))
    p, ph, f = _svd_coupling(da, uk, s, vh[:k])
    da = np.ascontiguousarray(da)
    duk = uk @ (f * (p * s.reshape(1, k) + s.reshape(k, 1) * ph))
    inverse = _nonzero_inverse(s)
    duk = duk + (da @ vk - uk @ (_hermitian_transpose(uk) @ da @ vk)) * inverse.reshape(1, k)
    if phase:
        duk = duk + uk * ((np.diag(p) - np.real(np.diag(p))) * inverse).reshape(1, k)
    if u.shape[1] == k:
        return duk
    rest = np.ascontiguousarray(u[:, k:])
    du = np.zeros_like(u)
    du[:, :k] = duk
    du[:, k:] = -uk @ (_hermitian_transpose(duk) @ rest)
    return du


@numba.njit(cache=True)
def svd_tangent_u(da, u, s, vh):
    """du of a = u diag(s) v^H, thin or full (``_svd_left_tangent``); the common phase of each
    pair u_j, v_j moves with u_j (zero for real matrices)."""
    return _svd_left_tangent(_wide(da), _wide(u), _wide(s), _wide(vh), True).astype(u.dtype)


@numba.njit(cache=True)
def svd_tangent_vh(da, u, s, vh):
    """dvh of a = u diag(s) v^H: the tangent of v for a^H (whose SVD is v diag(s) u^H),
    conjugate transposed."""
    ah = _hermitian_transpose(_wide(da))
    v = _hermitian_transpose(_wide(vh))
    ut = _hermitian_transpose(_wide(u))
    return _hermitian_transpose(_svd_left_tangent(ah, v, _wide(s), ut, False)).astype(vh.dtype)


@numba.njit(cache=True)
def _qr_m(da, q, r):
    """m = q^H da r^-1 and its skew-Hermitian lower part o (dq = da r^-1 - q (m - o))."""
    rinv = np.linalg.inv(np.ascontiguousarray(r))
    m = _hermitian_transpose(q) @ np.ascontiguousarray(da) @ rinv
    low = np.tril(m, -1)
    o = low - _hermitian_transpose(low)
    return m, o, rinv


@numba.njit(cache=True)
def _qr_tangent_q(da, q, r):
    """dq of the reduced QR of a tall or square a."""
    m, o, rinv = _qr_m(da, q, r)
    n = m.shape[0]
    d = np.zeros_like(m)
    for i in range(n):
        d[i, i] = m[i, i] - np.real(m[i, i])  # i Im(m_ii): keeps diag(r) real
    return np.ascontiguousarray(da) @ rinv - q @ (m - o - d)


@numba.njit(cache=True)
def _qr_tangent_r(da, q, r):
    """dr of the reduced QR: (m - o - i Im diag(m)) r, upper triangular with a real diagonal."""
    m, o, rinv = _qr_m(da, q, r)
    n = m.shape[0]
    d = np.zeros_like(m)
    for i in range(n):
        d[i, i] = m[i, i] - np.real(m[i, i])
    return (m - o - d) @ np.ascontiguousarray(r)


@numba.njit(cache=True)
def eig_tangent_w(da, w, v):
    """The eigenvalues' tangent of ``eig``: diag(v^-1 da v)."""
    p = np.linalg.solve(v, np.ascontiguousarray(da) + 0j) @ v
    return np.ascontiguousarray(np.diag(p))


@numba.njit(cache=True)
def eig_tangent_v(da, w, v):
    """The eigenvectors' tangent of ``eig`` in the gauge diag(v^-1 dv) = 0: v (F * (v^-1 da
    v)); right for a loss invariant under the eigenvectors' scaling."""
    p = np.linalg.solve(v, np.ascontiguousarray(da) + 0j) @ v
    return v @ (_gap_inverse(w) * p)


@numba.njit(cache=True)
def tangent_eigvals(da, a):
    """The tangent of ``eigvals``: diag(v^-1 da v)."""
    w, v = eig_complex(a)
    return eig_tangent_w(da, w, v)


@numba.njit(cache=True)
def tangent_eigvalsh(da, a):
    """The tangent of ``eigvalsh``: Re diag(v^H sym(da) v)."""
    w, v = np.linalg.eigh(np.ascontiguousarray(a))
    return eigh_tangent_w(da, w, v)


@numba.njit(cache=True)
def _svd_tangent_s(da, u, s, vh):
    """The singular values' tangent: Re diag(u_k^H da v_k)."""
    k = s.shape[0]
    uk = np.ascontiguousarray(u[:, :k])
    vk = _hermitian_transpose(np.ascontiguousarray(vh[:k]))
    return np.ascontiguousarray(
        np.real(np.diag(_hermitian_transpose(uk) @ np.ascontiguousarray(da) @ vk))
    )


@numba.njit(cache=True)
def tangent_svd_values(da, a):
    """The tangent of the singular values alone (``da`` may be the number 0.0: lstsq's
    singular values in vector mode, where only ``b`` has tangents)."""
    da = np.zeros(a.shape, a.dtype) + da
    u, s, vh = np.linalg.svd(np.ascontiguousarray(a), full_matrices=False)
    return svd_tangent_s(da, u, s, vh)


@numba.njit(cache=True)
def tangent_qr_r(da, a):
    """The tangent of the R factor alone."""
    q, r = np.linalg.qr(np.ascontiguousarray(a))
    return qr_tangent_r(da, q, r)


@numba.njit(cache=True)
def tangent_pinv(da, a):
    """The tangent of pinv(a) = p at constant rank (Golub and Pereyra 1973):
    -p da p + p p^T da^T (I - a p) + (I - p a) da^T p^T p."""
    a = np.ascontiguousarray(a)
    da = np.ascontiguousarray(da)
    p = np.ascontiguousarray(np.linalg.pinv(a))
    pt = np.ascontiguousarray(p.T)
    dat = np.ascontiguousarray(da.T)
    left = dat - (dat @ a) @ p
    right = dat - p @ (a @ dat)
    return -(p @ da @ p) + p @ (pt @ left) + right @ (pt @ p)


@numba.njit(cache=True)
def residual_share(r, b_residuals):
    """2 r times the adjoint of the residuals (one per column of r), or zeros where lstsq
    returned no residuals (a rank below the columns, or no more rows than columns)."""
    if b_residuals.size == 0:
        return np.zeros_like(r)
    return 2.0 * r * b_residuals


@numba.njit(cache=True)
def lstsq_tangent_x(da, db, a, b):
    """The solution's tangent of lstsq: x = pinv(a) b at constant rank. A tangent may be the
    number 0.0 (an argument without one: the other's alone, in vector mode)."""
    da = np.zeros(a.shape) + da
    db = np.zeros(b.shape) + db
    p = np.ascontiguousarray(np.linalg.pinv(np.ascontiguousarray(a)))
    return tangent_pinv(da, a) @ np.ascontiguousarray(b) + p @ np.ascontiguousarray(db)


@numba.njit(cache=True)
def lstsq_tangent_residuals(da, db, a, b, residuals):
    """The residuals' tangent of lstsq (stationary in x): 2 sum(r (db - da x)) per column
    (a tangent may be the number 0.0, as in ``lstsq_tangent_x``)."""
    da = np.zeros(a.shape) + da
    db = np.zeros(b.shape) + db
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    x = np.linalg.pinv(a) @ b
    r = b - a @ x
    change = 2.0 * r * (np.ascontiguousarray(db) - np.ascontiguousarray(da) @ x)
    if residuals.size == 0:
        return np.zeros_like(residuals)
    # one residual per column of b (one for a vector b)
    return np.sum(change.reshape(change.shape[0], -1), axis=0)


@numba.njit(cache=True)
def eigh_tangent_w(da, w, v):
    """``_eigh_tangent_w`` in double precision, returned in the factor's dtype."""
    return _eigh_tangent_w(_wide(da), _wide(w), _wide(v)).astype(w.dtype)


@numba.njit(cache=True)
def eigh_tangent_v(da, w, v):
    """``_eigh_tangent_v`` in double precision, returned in the factor's dtype."""
    return _eigh_tangent_v(_wide(da), _wide(w), _wide(v)).astype(v.dtype)


@numba.njit(cache=True)
def svd_tangent_s(da, u, s, vh):
    """``_svd_tangent_s`` in double precision, returned in the factor's dtype."""
    return _svd_tangent_s(_wide(da), _wide(u), _wide(s), _wide(vh)).astype(s.dtype)


@numba.njit(cache=True)
def qr_tangent_q(da, q, r):
    """``_qr_tangent_q`` in double precision, returned in the factor's dtype."""
    return _qr_tangent_q(_wide(da), _wide(q), _wide(r)).astype(q.dtype)


@numba.njit(cache=True)
def qr_tangent_r(da, q, r):
    """``_qr_tangent_r`` in double precision, returned in the factor's dtype."""
    return _qr_tangent_r(_wide(da), _wide(q), _wide(r)).astype(q.dtype)


# --- Cholesky: scipy.linalg's cholesky, cho_factor and cho_solve ------------------------------
# a = L L^H (L^H = L^T for real matrices); SciPy's factor is L (lower=True) or U = L^H.


@numba.njit(cache=True)
def cholesky_form(m, lower=False):
    """``m`` where ``lower``, else its conjugate transpose: the lower factor L as the factor
    SciPy returns (L, or U = L^H), and back (its own inverse, and its own adjoint under JAX's
    pairing)."""
    if lower:
        return np.ascontiguousarray(m)
    return np.conj(np.ascontiguousarray(m.T))


@numba.njit(cache=True)
def linalg_cholesky(a, lower=False):
    """``scipy.linalg.cholesky(a, lower)``: L (lower) or U = L^H with a = L L^H, read from the
    triangle of ``a`` that ``lower`` names (as SciPy's); the other triangle is zero."""
    a = np.ascontiguousarray(a)
    if lower:
        return np.linalg.cholesky(a)
    # the upper triangle of a is the lower one of a^T = conj(a), whose factor is conj(L):
    # U = L^H is that factor transposed
    return np.ascontiguousarray(np.linalg.cholesky(np.ascontiguousarray(a.T)).T)


@numba.njit(cache=True)
def linalg_cho_factor(a, lower=False):
    """``scipy.linalg.cho_factor(a, lower)``: the factor and the flag; the factor's other
    triangle is zero (SciPy leaves arbitrary values there)."""
    return linalg_cholesky(a, lower), lower


@numba.njit(cache=True)
def _cho_lower(c, lower):
    """The lower factor L that ``c`` holds in the triangle ``lower`` names."""
    return cholesky_form(triangular_part(c, lower, False), lower)


@numba.njit(cache=True)
def linalg_cho_solve(c, b, lower=False):
    """``scipy.linalg.cho_solve((c, lower), b)``: x with L L^H x = b, L from the triangle of
    ``c`` that ``lower`` names (the other is not read)."""
    low = _cho_lower(c, lower)
    # np.linalg.solve takes operands of one dtype
    zero = (c[0, 0] * 0.0 if c.size else 0.0) + (b.ravel()[0] * 0.0 if b.size else 0.0)
    y = np.linalg.solve(low + zero, np.ascontiguousarray(b) + zero)
    return np.linalg.solve(np.conj(np.ascontiguousarray(low.T)) + zero, y)


@numba.njit(cache=True)
def cholesky_tangent(da, c, lower=False):
    """The tangent of the factor ``c`` (L or L^H as ``lower`` says) of a = L L^H along the
    Hermitian part of ``da``: dL = L phi(L^-1 herm(da) L^-H), phi: the lower triangle with the
    diagonal halved."""
    low = _wide(cholesky_form(c, lower))
    low_inv = np.linalg.inv(low)
    d = _wide(da)
    herm = np.ascontiguousarray(0.5 * (d + np.conj(d.T)))
    m = low_inv @ herm @ np.conj(np.ascontiguousarray(low_inv.T))
    phi = np.tril(m) - 0.5 * np.diag(np.diag(m))
    return cholesky_form(low @ phi, lower).astype(c.dtype)


@numba.njit(cache=True)
def cho_gram_tangent(dc, c, lower=False):
    """The tangent of a = L L^H along the factor's tangent ``dc`` (both read in the triangle
    ``lower`` names): dL L^H + L dL^H."""
    low = _wide(_cho_lower(c, lower))
    d_low = _wide(_cho_lower(dc, lower))
    product = d_low @ np.conj(np.ascontiguousarray(low.T))
    return (product + np.conj(np.ascontiguousarray(product.T))).astype(dc.dtype)
