"""The adjoint of an SVD whose factors are truncated multiplies matrices of the kept columns.

``svd_adjoint_columns`` finds how many leading singular triples the factors' adjoints reach
(a truncation ``u[:, :chi]`` leaves the others' zero), and the adjoint's matrix products
have that many columns instead of all of them. The gradients must not change: they are
checked against finite differences for square, tall and wide matrices, thin and full
factors, real and complex, with the truncation reaching none, some or all of the triples
(and the complement of a full ``u``). Forward mode over the adjoint (``hvp``) takes every
column: an adjoint's tangent may be nonzero where the adjoint is zero.
"""

import numpy as np
import pytest
from helpers import check_grad, numerical_grad
from sourcead_runtime import svd_adjoint_columns

import sourcead

RNG = np.random.default_rng(11)


def low_rank(a, w):
    """The rank-2 approximation's overlap with w (invariant under the vectors' signs)."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    b = (u[:, :2] * s[:2]) @ vh[:2]
    return np.sum(w * b) ** 2


def low_rank_full(a, w):
    u, s, vh = np.linalg.svd(a)
    b = (u[:, :3] * s[:3]) @ vh[:3]
    return np.sum(w * b * b)


def projector_complement(a, w):
    """The projector on u's complement (a full SVD's last columns): every column counts."""
    u, s, vh = np.linalg.svd(a)
    rest = u[:, s.size :]
    return np.sum((rest @ rest.T) @ (w * w)) + np.sum(s[:1])


def top_values(a, w):
    """Only singular values, the first two: the vectors' adjoints are zero."""
    s = np.linalg.svd(a, full_matrices=False)[1]
    return np.sum(s[:2] * w[0, :2]) + s[0] ** 2


def all_triples(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(w * ((u * s) @ vh) ** 2)


def _tall(shape):
    return RNG.normal(size=shape) + 2.0 * np.eye(*shape)


SQUARE = _tall((6, 6))
TALL = _tall((7, 4))
WIDE = _tall((4, 7))

CASES = [
    pytest.param(low_rank, SQUARE, id="square-rank-2"),
    pytest.param(low_rank, TALL, id="tall-rank-2"),
    pytest.param(low_rank, WIDE, id="wide-rank-2"),
    pytest.param(low_rank_full, TALL, id="tall-full-rank-3"),
    pytest.param(low_rank_full, WIDE, id="wide-full-rank-3"),
    pytest.param(projector_complement, TALL, id="tall-complement"),
    pytest.param(top_values, SQUARE, id="values-only"),
    pytest.param(all_triples, TALL, id="every-triple"),
]


@pytest.mark.parametrize("f, a", CASES)
def test_gradient_of_truncated_factors(f, a):
    w = RNG.normal(size=a.shape)
    check_grad(f, (a, w), wrt=0, compile=False, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("f, a", [CASES[0], CASES[3], CASES[5]])
def test_gradient_of_truncated_factors_compiled(f, a):
    w = RNG.normal(size=a.shape)
    check_grad(f, (a, w), wrt=0, rtol=1e-6, atol=1e-8)


def complex_low_rank(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    b = (u[:, :2] * s[:2]) @ vh[:2]
    return np.sum(np.real(w * b)) ** 2


def test_complex_truncated_factors_follow_jax_convention():
    a = _tall((5, 4)) + 0.4j * RNG.normal(size=(5, 4))
    w = RNG.normal(size=(5, 4)) + 1j * RNG.normal(size=(5, 4))
    gradient = sourcead.grad(complex_low_rank, compile=False)(a, w)
    real = numerical_grad(lambda x: complex_low_rank(x + 1j * a.imag, w), (a.real,))
    imag = numerical_grad(lambda y: complex_low_rank(a.real + 1j * y, w), (a.imag,))
    np.testing.assert_allclose(gradient, real - 1j * imag, rtol=1e-6, atol=1e-8)


def scaled_low_rank(a, c):
    """c times a rank-2 overlap: at c = 0 every adjoint of the SVD is zero, but not its
    tangent along c."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    b = (u[:, :2] * s[:2]) @ vh[:2]
    return c * np.sum(b * b * b) + np.sum(a * a)


def test_hvp_where_the_adjoint_is_zero_but_its_tangent_is_not():
    # (as Python: compiled forward over reverse through svd is the rule table's svd row)
    a = _tall((5, 4))
    c, vc = 0.0, 1.0
    va = RNG.normal(size=a.shape)
    products = sourcead.hvp(scaled_low_rank, (a, c), (va, vc), compile=False)
    gradient = sourcead.grad(scaled_low_rank, wrt=(0, 1), compile=False)
    step = 1e-5
    plus = gradient(a + step * va, c + step * vc)
    minus = gradient(a - step * va, c - step * vc)
    for product, p, m in zip(products, plus, minus, strict=True):
        np.testing.assert_allclose(product, (p - m) / (2 * step), rtol=1e-5, atol=1e-7)
    assert "svd_adjoint_columns(" in gradient.source  # the first-order adjoint skips the zeros


def _columns_cases():
    k = 4
    b_u, b_s, b_vh = np.zeros((6, 6)), np.zeros(k), np.zeros((k, 5))
    yield (b_u, b_s, b_vh, k), 0
    b = b_u.copy()
    b[2, 1] = 1.0
    yield (b, b_s, b_vh, k), 2
    s = b_s.copy()
    s[2] = -3.0
    yield (b, s, b_vh, k), 3
    vh = b_vh.copy()
    vh[3, 4] = np.nan  # a NaN counts as reached: it must reach the gradient
    yield (b, s, vh, k), 4
    rest = b_u.copy()
    rest[0, 5] = 1e-300  # the complement of a full u: every column
    yield (rest, b_s, b_vh, k), k
    complex_u = np.zeros((6, k), dtype=complex)
    complex_u[1, 0] = 1j
    yield (complex_u, b_s, b_vh.astype(complex), k), 1


@pytest.mark.parametrize("compiled", [False, True])
def test_svd_adjoint_columns_counts_the_triples_reached(compiled):
    function = svd_adjoint_columns if compiled else svd_adjoint_columns.py_func
    for args, expected in _columns_cases():
        assert function(*args) == expected
