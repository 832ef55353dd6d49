"""``np.linalg``: solve, inv, det, slogdet, cholesky, eigh, svd, qr.

These rules have several statements: they recompute the factorisation in the backward sweep
and combine it with the adjoints of the results (for a function returning a tuple, such as
``eigh``, the rule's first parameters are the adjoints of the tuple's items).

Symmetric inputs (``cholesky``, ``eigh``): NumPy reads only the lower triangle; the rules
return the symmetric adjoint, the right one for a symmetric matrix that is perturbed
symmetrically. ``eigh`` with repeated eigenvalues: the terms that couple eigenvectors of
equal eigenvalues (1 / (w_j - w_i) with w_i == w_j) are left out. That is exact for a loss
that depends on the eigenvalues and on the eigenspaces (projectors, densities summed over a
degenerate level), not on the arbitrary basis NumPy picks inside a degenerate eigenspace.
``svd`` and ``qr`` need distinct, nonzero singular values and a matrix with at least as many
rows as columns respectively.

``eigh``, ``svd`` and ``qr`` take complex matrices (Hermitian for ``eigh``): written with
Hermitian transposes, their adjoints conjugated (JAX's convention, ``docs/arrays.md``).
``svd`` with full matrices moves the adjoint of the complement's columns onto the first
``min(m, n)`` (the complement's basis is a gauge). The tangents follow the adjoints'
conventions (``eigh``: the Hermitian part of the tangent) and call helpers of the runtime
(``runtime/linalg.py``): tangents are never differentiated again. ``factorizations.py`` has
the options of ``svd`` and ``qr``, ``eigvalsh``, ``eig``, ``pinv``, ``lstsq``, ``expm`` and
``solve_triangular``.
"""

import functools

import numpy as np
from sourcead_runtime import (
    cholesky_tangent,
    eigh_tangent_v,
    eigh_tangent_w,
    matmul_adjoint_left,
    qr_tangent_q,
    qr_tangent_r,
    svd_adjoint_columns,
    svd_tangent_s,
    svd_tangent_u,
    svd_tangent_vh,
)

from ..analysis.types import Array
from . import shapes
from .registry import register


def _of_one_matrix(what: str, result):
    """``result`` where the first argument is a matrix: NumPy takes stacks of matrices (3-d
    arrays and more) too, which these rules, written with 2-d transposes, are not."""

    @functools.wraps(result)
    def checked(args: list, node):
        first = args[0] if args else None
        if isinstance(first, Array) and first.ndim != 2:
            stack = " (a stack of matrices: loop over it)" if first.ndim > 2 else ""
            raise shapes.ArrayTypeProblem(
                f"{what} of a {first.ndim}-d array{stack}; sourcead takes one matrix"
            )
        if what == "np.linalg.solve" and len(args) > 1:
            b = args[1]
            if isinstance(b, Array) and b.ndim > 2:
                raise shapes.ArrayTypeProblem(
                    f"{what} with a {b.ndim}-d right-hand side; sourcead takes a vector or a matrix"
                )
        return result(args, node)

    return checked


@register(np.linalg.solve, device=False, result=_of_one_matrix("np.linalg.solve", shapes.solved))
class Solve:
    def array_adjoint(b_out, a, b):
        x = np.linalg.solve(a, b)
        b_b = np.linalg.solve(np.ascontiguousarray(a.T), b_out)
        return -matmul_adjoint_left(b_b, a, x), b_b

    def array_tangent(da, db, a, b):
        return np.linalg.solve(a, db - da @ np.linalg.solve(a, b))


@register(np.linalg.inv, device=False, result=_of_one_matrix("np.linalg.inv", shapes.like_first))
class Inv:
    def array_adjoint(b_out, a):
        y = np.ascontiguousarray(np.linalg.inv(a).T)
        return -(y @ b_out @ y)

    def array_tangent(da, a):
        return -(np.linalg.inv(a) @ da @ np.linalg.inv(a))


@register(
    np.linalg.det, device=False, result=_of_one_matrix("np.linalg.det", shapes.scalar_like_first)
)
class Det:
    def array_adjoint(b_out, a):
        return b_out * np.linalg.det(a) * np.ascontiguousarray(np.linalg.inv(a).T)

    def array_tangent(da, a):
        return np.linalg.det(a) * np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)


@register(
    np.linalg.slogdet,
    device=False,
    result=_of_one_matrix("np.linalg.slogdet", shapes.sign_and_log),
    outputs=2,
)
class Slogdet:
    # with l = log det a (holomorphic, dl = tr(inv(a) da)): logdet = Re l, sign = exp(i Im l),
    # so dsign = sign i Im dl, and the adjoint of l is b_logdet + i Im(b_sign sign) (JAX's
    # convention). i Im z is written z - Re z, which is a real zero for a real matrix, whose
    # sign has no derivative.
    def array_adjoint(b_sign, b_logdet, a):
        sign, logdet = np.linalg.slogdet(a)
        q = b_sign * sign
        return (b_logdet + (q - np.real(q))) * np.ascontiguousarray(np.linalg.inv(a).T)

    def array_tangent(da, a, *, sign, logdet):
        # dl = tr(inv(a) da); i Im dl written dl - Re dl, a real zero for a real matrix
        return (
            sign
            * (
                np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)
                - np.real(np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da))
            ),
            np.real(np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)),
        )


@register(
    np.linalg.cholesky, device=False, result=_of_one_matrix("np.linalg.cholesky", shapes.like_first)
)
class Cholesky:
    # a = L L^H (L^T for real a), perturbed Hermitian: the adjoint p = tril(L^T g) with its
    # diagonal halved, herm(L^-T p conj(L^-1)) (JAX's convention for complex values: the
    # tangent's transpose under the pairing sum(x * y))
    def array_adjoint(b_out, a):
        low = np.linalg.cholesky(a)
        p = np.tril(np.ascontiguousarray(low.T) @ b_out)
        p = p - 0.5 * np.diag(np.diag(p))
        low_inv = np.linalg.inv(low)
        s = np.ascontiguousarray(low_inv.T) @ p @ np.conj(low_inv)
        return 0.5 * (s + np.conj(np.ascontiguousarray(s.T)))

    def array_tangent(da, a):
        # dL = L phi(L^-1 herm(da) L^-H), phi: the lower triangle with the diagonal halved
        return cholesky_tangent(da, np.linalg.cholesky(a), True)


@register(
    np.linalg.eigh, device=False, result=_of_one_matrix("np.linalg.eigh", shapes.eigen), outputs=2
)
class Eigh:
    # a = v diag(w) v^H perturbed Hermitian; with the adjoints conjugated (JAX's convention
    # for complex values), v^H conj(b_v) is conj(v^T b_v): the adjoint is conj(v) (diag(b_w)
    # + F * (v^T b_v)) v^T, made Hermitian; F = 1 / (w_j - w_i), 0 for equal eigenvalues
    def array_adjoint(b_w, b_v, a):
        w, v = np.linalg.eigh(a)
        gaps = w.reshape(1, w.size) - w.reshape(w.size, 1)
        # equal eigenvalues: equal to 1e-12 of the largest (degenerate ones differ by rounding)
        same = np.abs(gaps) <= 1e-12 * np.max(np.abs(w))
        f = (np.ones_like(gaps) - same) / (gaps + same)  # in w's precision (1.0 - same: float64)
        vt = np.ascontiguousarray(v.T)
        inner = np.diag(b_w) + f * (vt @ b_v)
        g = np.conj(v) @ inner @ vt
        return 0.5 * (g + np.conj(np.ascontiguousarray(g.T)))

    def array_tangent(da, a, *, w, v):
        # F = v^H sym(dA) v; dw = Re diag(F); dv = v (F / (w_j - w_i)) off the diagonal
        return eigh_tangent_w(da, w, v), eigh_tangent_v(da, w, v)


@register(
    np.linalg.svd, device=False, result=_of_one_matrix("np.linalg.svd", shapes.singular), outputs=3
)
class Svd:
    # a = u diag(s) v^H. The adjoints conjugated (JAX's convention), in the Hermitian form:
    # g_u, g_v those of the first k = min(m, n) columns of u and v (for full matrices, the
    # complement's adjoints moved onto them: -u_perp g_perp^H u_k, the complement's gauge
    # u_perp^H du_perp = 0); then the thin SVD's adjoint, whose i Im diag(u^H g_u) / s term is
    # the pairs' common phase (zero for real matrices)
    def array_adjoint(b_u, b_s, b_vh, a, full_matrices=True):
        u_all, s, vh_all = np.linalg.svd(a, full_matrices=full_matrices)
        k = s.size
        # the adjoints reach the first r triples only (a truncation u[:, :chi] leaves the
        # others' zero), so the products below have r columns where the whole SVD has k
        r = svd_adjoint_columns(b_u, b_s, b_vh, k)
        u = np.ascontiguousarray(u_all[:, :k])
        vh = np.ascontiguousarray(vh_all[:k])
        v = np.conj(np.ascontiguousarray(vh.T))
        u_r = np.ascontiguousarray(u[:, :r])
        vh_r = np.ascontiguousarray(vh[:r])
        v_r = np.conj(np.ascontiguousarray(vh_r.T))
        u_rest = np.ascontiguousarray(u_all[:, k:])
        v_rest = np.conj(np.ascontiguousarray(vh_all[k:].T))
        g_u = np.conj(b_u[:, :r]) - u_rest @ (np.ascontiguousarray(b_u[:, k:].T) @ u_r)
        g_v = np.ascontiguousarray(b_vh[:r].T) - v_rest @ (np.conj(b_vh[k:]) @ v_r)
        # the first r columns of u^H g_u and v^H g_v (the others are zero)
        uh_g = np.conj(np.ascontiguousarray(u.T)) @ g_u
        vh_g = np.conj(np.ascontiguousarray(v.T)) @ g_v
        s2 = s * s
        gaps = s2.reshape(1, k) - s2.reshape(k, 1)
        # equal singular values: their squares equal to 1e-12 of the largest square
        same = np.abs(gaps) <= 1e-12 * np.max(s2)
        f = (np.ones_like(gaps) - same) / (gaps + same)  # in s's precision (1.0 - same: float64)
        # 1 / s, and 0 for a zero singular value: its vectors have no derivative, and a
        # truncated SVD (u[:, :k]) leaves their adjoints zero
        inverse = (s != 0.0) / (s + (s == 0.0))
        s_r = s[:r]
        s_rest = s[r:]
        inverse_r = inverse[:r].reshape(1, r)
        # core = f * (uh_g - uh_g^H) s + diag(b_s + phase) + s f * (vh_g - vh_g^H), by blocks
        # (its block of rows and columns from r on is zero); the i Im diag(u^H g_u) / s
        # term is the pairs' common phase (zero for real matrices)
        x = uh_g[:r]
        y = vh_g[:r]
        phase = np.diag(x - np.real(x)) * inverse[:r]
        j = f[:r, :r] * (x - np.conj(np.ascontiguousarray(x.T)))
        m = f[:r, :r] * (y - np.conj(np.ascontiguousarray(y.T)))
        core = j * s_r.reshape(1, r) + np.diag(b_s[:r] + phase) + s_r.reshape(r, 1) * m
        # its blocks right of that (rows before r) and below it (columns before r)
        x_rest = np.conj(np.ascontiguousarray(uh_g[r:].T))
        y_rest = np.conj(np.ascontiguousarray(vh_g[r:].T))
        right = -f[:r, r:] * (x_rest * s_rest.reshape(1, k - r) + s_r.reshape(r, 1) * y_rest)
        below = f[r:, :r] * (uh_g[r:] * s_r.reshape(1, r) + s_rest.reshape(k - r, 1) * vh_g[r:])
        top = core @ vh_r + right @ np.ascontiguousarray(vh[r:])
        left = np.ascontiguousarray(u[:, r:]) @ below + (g_u - u @ uh_g) * inverse_r
        g = u_r @ top + left @ vh_r
        g = g + u_r @ np.conj(np.ascontiguousarray(((g_v - v @ vh_g) * inverse_r).T))
        return np.conj(g), None

    def array_tangent(da, a, *, u, s, vh, **keywords):
        # svd_tangent_u: du = u_k (F * (p S + S p^H) + i Im diag(p) / s) + (I - u_k u_k^H)
        # da v_k / s, p = u_k^H da v_k, F = 1 / (s_j^2 - s_i^2), and for the full u the
        # complement's -u_k du_k^H u_perp; ds = Re diag(p); dvh likewise from a^H
        return (
            svd_tangent_u(da, u, s, vh),
            svd_tangent_s(da, u, s, vh),
            svd_tangent_vh(da, u, s, vh),
        )


@register(
    np.linalg.qr, device=False, result=_of_one_matrix("np.linalg.qr", shapes.factors), outputs=2
)
class Qr:
    # the reduced QR of a tall or square a (r with a real diagonal): with the adjoints
    # conjugated (JAX's convention), (g_q + q copyltu(r g_r^H - g_q^H q)) r^-H, copyltu(m) =
    # tril(m, -1) + tril(m, -1)^H + Re diag(m)
    def array_adjoint(b_q, b_r, a):
        q, r = np.linalg.qr(a)
        m = r @ np.ascontiguousarray(b_r.T) - np.ascontiguousarray(b_q.T) @ q
        low = np.tril(m, -1)
        copied = low + np.conj(np.ascontiguousarray(low.T)) + np.diag(np.real(np.diag(m)))
        rhs = b_q + np.conj(q @ copied)
        # rhs @ inv(r).T, as a solve with r
        return np.ascontiguousarray(np.linalg.solve(r, np.ascontiguousarray(rhs.T)).T)

    def array_tangent(da, a, *, q, r):
        # with m = q^H da r^-1 and the skew-Hermitian o = tril(m, -1) - tril(m, -1)^H + i Im
        # diag(m): dr = (m - o) r, dq = da r^-1 - q (m - o)
        return qr_tangent_q(da, q, r), qr_tangent_r(da, q, r)
