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
``svd`` (``full_matrices=False``) and ``qr`` need distinct, nonzero singular values and a
matrix with at least as many rows as columns respectively.

The tangents follow the adjoints' conventions: ``eigh``'s matrix is symmetric and perturbed
symmetrically (the symmetric part of the tangent is used); ``svd`` is the thin SVD (a square
matrix, or ``full_matrices=False``) and ``qr`` the reduced QR of a tall or square matrix.
"""

import numpy as np
from sourcead_runtime import matmul_adjoint_left

from . import shapes
from .registry import register


@register(np.linalg.solve, device=False, result=shapes.solved)
class Solve:
    def array_adjoint(b_out, a, b):
        x = np.linalg.solve(a, b)
        b_b = np.linalg.solve(np.ascontiguousarray(a.T), b_out)
        return -matmul_adjoint_left(b_b, a, x), b_b

    def array_tangent(da, db, a, b):
        return np.linalg.solve(a, db - da @ np.linalg.solve(a, b))


@register(np.linalg.inv, device=False, result=shapes.like_first)
class Inv:
    def array_adjoint(b_out, a):
        y = np.ascontiguousarray(np.linalg.inv(a).T)
        return -(y @ b_out @ y)

    def array_tangent(da, a):
        return -(np.linalg.inv(a) @ da @ np.linalg.inv(a))


@register(np.linalg.det, device=False, result=shapes.scalar_like_first)
class Det:
    def array_adjoint(b_out, a):
        return b_out * np.linalg.det(a) * np.ascontiguousarray(np.linalg.inv(a).T)

    def array_tangent(da, a):
        return np.linalg.det(a) * np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)


@register(np.linalg.slogdet, device=False, result=shapes.sign_and_log, outputs=2)
class Slogdet:
    def array_adjoint(b_sign, b_logdet, a):
        return b_logdet * np.ascontiguousarray(np.linalg.inv(a).T)

    def array_tangent(da, a, *, sign, logdet):
        # log|det a| is real: its tangent is the real part of tr(inv(a) da)
        return None, np.real(np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da))


@register(np.linalg.cholesky, device=False, complex=False, result=shapes.like_first)
class Cholesky:
    def array_adjoint(b_out, a):
        low = np.linalg.cholesky(a)
        p = np.tril(np.ascontiguousarray(low.T) @ b_out)
        p = p - 0.5 * np.diag(np.diag(p))
        low_inv = np.linalg.inv(low)
        s = np.ascontiguousarray(low_inv.T) @ p @ low_inv
        return 0.5 * (s + s.T)

    def array_tangent(da, a):
        # dL = L phi(L^-1 dA L^-T), phi: the lower triangle with the diagonal halved
        return np.linalg.cholesky(a) @ (
            np.tril(
                np.linalg.inv(np.linalg.cholesky(a)) @ da @ np.linalg.inv(np.linalg.cholesky(a)).T
            )
            - 0.5
            * np.diag(
                np.diag(
                    np.linalg.inv(np.linalg.cholesky(a))
                    @ da
                    @ np.linalg.inv(np.linalg.cholesky(a)).T
                )
            )
        )


@register(np.linalg.eigh, device=False, complex=False, result=shapes.eigen, outputs=2)
class Eigh:
    def array_adjoint(b_w, b_v, a):
        w, v = np.linalg.eigh(a)
        gaps = w.reshape(1, w.size) - w.reshape(w.size, 1)
        same = gaps == 0.0
        f = (1.0 - same) / (gaps + same)
        inner = np.diag(b_w) + f * (np.ascontiguousarray(v.T) @ b_v)
        g = v @ inner @ np.ascontiguousarray(v.T)
        return 0.5 * (g + g.T)

    def array_tangent(da, a, *, w, v):
        # F = v.T dA v; dw = diag(F); dv = v (F / (w_j - w_i)) off the diagonal
        return (
            np.diag(np.ascontiguousarray(v.T) @ (0.5 * (da + da.T)) @ v),
            v
            @ (
                (np.ascontiguousarray(v.T) @ (0.5 * (da + da.T)) @ v)
                * (1.0 - (w.reshape(1, w.size) - w.reshape(w.size, 1) == 0.0))
                / (
                    w.reshape(1, w.size)
                    - w.reshape(w.size, 1)
                    + (w.reshape(1, w.size) - w.reshape(w.size, 1) == 0.0)
                )
            ),
        )


@register(np.linalg.svd, device=False, complex=False, result=shapes.singular, outputs=3)
class Svd:
    def array_adjoint(b_u, b_s, b_vh, a, full_matrices=True):
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

    def array_tangent(da, a, *, u, s, vh, **keywords):
        # the thin SVD a = u diag(s) vh (square, or full_matrices=False); with p = u.T da v:
        # ds = diag(p); du = u (F * (p S + S p.T)) + (I - u u.T) da v / s;
        # dvh = (v (F * (S p + p.T S)) + (I - v v.T) da.T u / s).T, F = 1 / (s_j^2 - s_i^2)
        return (
            u
            @ (
                (
                    (np.ascontiguousarray(u.T) @ da @ np.ascontiguousarray(vh.T))
                    * s.reshape(1, s.size)
                    + s.reshape(s.size, 1)
                    * np.ascontiguousarray(
                        (np.ascontiguousarray(u.T) @ da @ np.ascontiguousarray(vh.T)).T
                    )
                )
                * (1.0 - (s.reshape(1, s.size) ** 2 - s.reshape(s.size, 1) ** 2 == 0.0))
                / (
                    s.reshape(1, s.size) ** 2
                    - s.reshape(s.size, 1) ** 2
                    + (s.reshape(1, s.size) ** 2 - s.reshape(s.size, 1) ** 2 == 0.0)
                )
            )
            + (da - u @ (np.ascontiguousarray(u.T) @ da))
            @ np.ascontiguousarray(vh.T)
            / s.reshape(1, s.size),
            np.diag(np.ascontiguousarray(u.T) @ da @ np.ascontiguousarray(vh.T)),
            np.ascontiguousarray(
                (
                    np.ascontiguousarray(vh.T)
                    @ (
                        (
                            s.reshape(s.size, 1)
                            * (np.ascontiguousarray(u.T) @ da @ np.ascontiguousarray(vh.T))
                            + np.ascontiguousarray(
                                (np.ascontiguousarray(u.T) @ da @ np.ascontiguousarray(vh.T)).T
                            )
                            * s.reshape(1, s.size)
                        )
                        * (1.0 - (s.reshape(1, s.size) ** 2 - s.reshape(s.size, 1) ** 2 == 0.0))
                        / (
                            s.reshape(1, s.size) ** 2
                            - s.reshape(s.size, 1) ** 2
                            + (s.reshape(1, s.size) ** 2 - s.reshape(s.size, 1) ** 2 == 0.0)
                        )
                    )
                    + (
                        np.ascontiguousarray(da.T)
                        - np.ascontiguousarray(vh.T) @ (vh @ np.ascontiguousarray(da.T))
                    )
                    @ u
                    / s.reshape(1, s.size)
                ).T
            ),
        )


@register(np.linalg.qr, device=False, complex=False, result=shapes.factors, outputs=2)
class Qr:
    def array_adjoint(b_q, b_r, a):
        q, r = np.linalg.qr(a)
        m = r @ np.ascontiguousarray(b_r.T) - np.ascontiguousarray(b_q.T) @ q
        copied = np.tril(m) + np.tril(m, -1).T
        rhs = b_q + q @ copied
        # rhs @ inv(r).T, as a solve with r
        return np.ascontiguousarray(np.linalg.solve(r, np.ascontiguousarray(rhs.T)).T)

    def array_tangent(da, a, *, q, r):
        # the reduced QR of a tall or square a; with m = q.T da r^-1 and the skew-symmetric
        # o = tril(m, -1) - tril(m, -1).T: dr = (m - o) r, dq = da r^-1 - q (m - o)
        return (
            da @ np.linalg.inv(r)
            - q
            @ (
                np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r)
                - np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1)
                + np.ascontiguousarray(
                    np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1).T
                )
            ),
            (
                np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r)
                - np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1)
                + np.ascontiguousarray(
                    np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1).T
                )
            )
            @ r,
        )
