"""The np.linalg rules on well-conditioned random matrices, against finite differences."""

import numpy as np
import pytest
from helpers import case, check_grad

rng = np.random.default_rng(3)
N = 4
A = rng.random((N, N)) + N * np.eye(N)  # well conditioned
B = rng.random(N)
M = rng.random((N, N))
TALL = rng.random((5, 3)) + np.eye(5, 3)


def solve(a, b):
    return np.sum(np.linalg.solve(a, b) ** 2)


def solve_matrix(a, c):
    return np.sum(np.linalg.solve(a, c) ** 2)


def inv(a):
    return np.sum(np.linalg.inv(a) * a[0])


def det(a):
    return np.linalg.det(a)


def slogdet(a):
    sign, logdet = np.linalg.slogdet(a)
    return logdet * 2.0


def cholesky(m):
    # a symmetric positive definite matrix of free parameters m (the rule is symmetric)
    s = m @ m.T + 4.0 * np.eye(4)
    low = np.linalg.cholesky(s)
    return np.sum(low * low[0])


def eigh(m):
    s = m + m.T
    w, v = np.linalg.eigh(s)
    return np.sum(w * w) + np.sum(v[:, 0] ** 4)


def eigh_values(m):
    w, v = np.linalg.eigh(m + m.T)
    return np.sum(w[1:] * np.arange(1.0, 4.0))


def svd(m):
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    return np.sum(s**3) + np.sum(u[:, 0] ** 4) + np.sum(vh[0] ** 4)


def qr(m):
    q, r = np.linalg.qr(m)
    return np.sum(r**3) + np.sum(q[0] ** 3)


CASES = [
    case(solve, A, B, wrt=(0, 1)),
    case(solve_matrix, A, M, wrt=(0, 1)),
    case(inv, A),
    case(det, A, rtol=1e-6),
    case(slogdet, A),
    case(cholesky, M),
    case(eigh, M),
    case(eigh_values, M),
    case(svd, TALL),
    case(qr, TALL),
]


@pytest.mark.parametrize("f, args, wrt, opts", CASES)
def test_linalg_rule(f, args, wrt, opts):
    check_grad(f, args, wrt, compile=False, **opts)


@pytest.mark.slow  # compiled runs of the case table: CI runs them (-m slow)
@pytest.mark.parametrize("f, args, wrt, opts", [c for c in CASES if c.id in {"eigh", "solve"}])
def test_linalg_rule_compiled(f, args, wrt, opts):
    check_grad(f, args, wrt, compile=True, **opts)


def test_eigh_with_degenerate_eigenvalues_is_finite_for_invariant_losses():
    # the trace of a function of the matrix does not depend on the basis of a degenerate space
    def f(m):
        w, v = np.linalg.eigh(m)
        return np.sum(w**2)

    g = __import__("sourcead").grad(f, compile=False)(np.eye(3))
    np.testing.assert_allclose(g, 2.0 * np.eye(3), atol=1e-12)
