"""Tangents of ``np.linalg``: solve, inv, det, slogdet, cholesky, eigh, svd, qr.

``eigh`` follows the adjoint's convention: the matrix is symmetric and perturbed
symmetrically (the symmetric part of the tangent is used). ``svd`` is the thin SVD (a square
matrix, or ``full_matrices=False``) and ``qr`` the reduced QR of a tall or square matrix,
with distinct singular values and a full-rank matrix as in the adjoint rules.
"""

import numpy as np

from .tangents import array_tangent


@array_tangent(np.linalg.solve)
def solve(da, db, a, b):
    return np.linalg.solve(a, db - da @ np.linalg.solve(a, b))


@array_tangent(np.linalg.inv)
def inv(da, a):
    return -(np.linalg.inv(a) @ da @ np.linalg.inv(a))


@array_tangent(np.linalg.det)
def det(da, a):
    return np.linalg.det(a) * np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)


@array_tangent(np.linalg.cholesky)
def cholesky(da, a):
    # dL = L phi(L^-1 dA L^-T), phi: the lower triangle with the diagonal halved
    return np.linalg.cholesky(a) @ (
        np.tril(np.linalg.inv(np.linalg.cholesky(a)) @ da @ np.linalg.inv(np.linalg.cholesky(a)).T)
        - 0.5
        * np.diag(
            np.diag(
                np.linalg.inv(np.linalg.cholesky(a)) @ da @ np.linalg.inv(np.linalg.cholesky(a)).T
            )
        )
    )


@array_tangent(np.linalg.slogdet)
def slogdet(da, a, *, sign, logdet):
    return None, np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)


@array_tangent(np.linalg.eigh)
def eigh(da, a, *, w, v):
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


@array_tangent(np.linalg.svd)
def svd(da, a, *, u, s, vh, **keywords):
    # the thin SVD a = u diag(s) vh (square, or full_matrices=False); with p = u.T da v:
    # ds = diag(p); du = u (F * (p S + S p.T)) + (I - u u.T) da v / s;
    # dvh = (v (F * (S p + p.T S)) + (I - v v.T) da.T u / s).T, F = 1 / (s_j^2 - s_i^2)
    return (
        u
        @ (
            (
                (np.ascontiguousarray(u.T) @ da @ np.ascontiguousarray(vh.T)) * s.reshape(1, s.size)
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


@array_tangent(np.linalg.qr)
def qr(da, a, *, q, r):
    # the reduced QR of a tall or square a; with m = q.T da r^-1 and the skew-symmetric
    # o = tril(m, -1) - tril(m, -1).T: dr = (m - o) r, dq = da r^-1 - q (m - o)
    return (
        da @ np.linalg.inv(r)
        - q
        @ (
            np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r)
            - np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1)
            + np.ascontiguousarray(np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1).T)
        ),
        (
            np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r)
            - np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1)
            + np.ascontiguousarray(np.tril(np.ascontiguousarray(q.T) @ da @ np.linalg.inv(r), -1).T)
        )
        @ r,
    )
