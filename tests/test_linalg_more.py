"""Linear algebra beyond tests/test_rule_table.py's rows: truncated SVDs, the options of svd,
qr and scipy.linalg.solve_triangular, eig's eigenvectors, lstsq's outputs, expm's values,
degenerate eigenvalues and the refusals, against finite differences in reverse mode, forward
mode and second order (hvp), as plain Python (the rule table compiles the entries).

The losses are invariant under the factors' gauges (the eigenvectors' phases and scaling, the
singular vectors' common phases), where derivatives exist. Complex gradients follow JAX's
convention (dL/dx - i dL/dy); hvp of complex inputs is refused, so complex cases are checked
to first order. The quick group runs the cases the rule table has no row for (truncations,
full matrices, eigenvectors of eig, lstsq's residuals, the options); the others are slow.
"""

import numpy as np
import pytest
import scipy.linalg
import sourcead_runtime as runtime
from scipy.linalg import expm, solve_triangular

import sourcead
from sourcead.errors import SourceADError

RNG = np.random.default_rng(11)
# cases that repeat a row of tests/test_rule_table.py or another case's code paths
SLOW = pytest.mark.slow


def _tall(shape, rng=RNG):
    return rng.normal(size=shape) + 2.0 * np.eye(*shape)


def _complex(a, rng=RNG):
    return a + 0.4j * rng.normal(size=a.shape)


# --- the differentiated functions ------------------------------------------------------------


def svd_truncated(x, w):
    # the rank-2 approximation: invariant under the singular vectors' common phases
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    b = u[:, :2] @ np.diag(s[:2]) @ vh[:2]
    return np.sum(np.real(w * b)) ** 2


def svd_truncated_parts(x, w):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    left = u[:, :2]
    right = vh[:2]
    return (
        np.sum(np.real(w[:, :2] * left * np.conj(left)))
        + np.sum(s[:2] ** 3)
        + np.sum(np.real(right * np.conj(right)))
    )


def svd_full_projectors(x, w):
    u, s, vh = np.linalg.svd(x)
    pu = u[:, :3] @ np.conj(u[:, :3].T)
    rest = u[:, 3:] @ np.conj(u[:, 3:].T)
    return np.sum(np.real(w * pu)) + np.sum(np.real(w * rest * rest)) + np.sum(s)


def qr_reduced(x, w):
    q, r = np.linalg.qr(x, mode="reduced")
    return np.sum(np.real(w * q)) + np.sum(np.real(r * np.conj(r)))


def qr_r_sum(x, w):
    return np.sum(np.real(w * np.linalg.qr(x, mode="r") ** 2))


def eigh_phases(x, w):
    e, v = np.linalg.eigh(0.5 * (x + np.conj(x.T)))
    return np.sum(w * np.real(v * np.conj(v))) + np.sum(e * e)


def eigvalsh_squares(x, w):
    e = np.linalg.eigvalsh(0.5 * (x + np.conj(x.T)))
    return np.sum(w * e * e)


def eig_vectors(x, w):
    # ratios of each eigenvector's elements: invariant under its scaling
    e, v = np.linalg.eig(x)
    ratio = v[0] / v[1]
    return np.sum(np.real(e) * w) + np.sum(np.real(ratio * np.conj(ratio)))


def eig_magnitudes(x, w):
    return np.sum(np.abs(np.linalg.eigvals(x)) ** 2) + np.sum(w * np.imag(np.linalg.eigvals(x)))


def pinv_weighted(x, w):
    return np.sum(w * np.linalg.pinv(x) ** 2)


def lstsq_all(x, b, w):
    solution, residuals, rank, s = np.linalg.lstsq(x, b)
    return np.sum(w * solution) + np.sum(residuals) + np.sum(s * s)


def lstsq_columns(x, b, w):
    solution, residuals, rank, s = np.linalg.lstsq(x, b)
    return np.sum(w * solution) + np.sum(residuals * residuals)


def lstsq_square(x, b, w):
    # no residuals (no more rows than columns): their adjoint is empty
    solution, residuals, rank, s = np.linalg.lstsq(x, b)
    return np.sum(w * solution) + np.sum(residuals)


def expm_weighted(x, w):
    return np.sum(np.real(w * scipy.linalg.expm(x)))


def expm_unitary(x, w):
    # the unitary exp(i H) of a Hermitian H
    return np.sum(np.real(w * expm(1j * (x + np.conj(x.T)))))


def triangular_lower(x, b, w):
    return np.sum(np.real(w * solve_triangular(x, b, lower=True)))


def triangular_transposed(x, b, w):
    return np.sum(np.real(w * scipy.linalg.solve_triangular(x, b, trans=1)))


def triangular_conjugate(x, b, w):
    return np.sum(np.real(w * solve_triangular(x, b, trans=2, lower=True, unit_diagonal=True)))


# --- finite differences ------------------------------------------------------------------------


def _fd_gradient(f, args, k, step=1e-6):
    x = args[k]
    g = np.zeros(x.shape, dtype=x.dtype)

    def along(e):
        plus, minus = list(args), list(args)
        plus[k], minus[k] = x + step * e, x - step * e
        return (f(*plus) - f(*minus)) / (2 * step)

    for index in np.ndindex(x.shape):
        e = np.zeros(x.shape, dtype=x.dtype)
        e[index] = 1.0
        g[index] = along(e)
        if x.dtype.kind == "c":
            g[index] -= 1j * along(1j * e)
    return g


def _near(actual, desired, what, rtol=1e-6):
    desired = np.asarray(desired)
    scale = max(1.0, float(np.max(np.abs(desired))))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=what)


def _moved(args, tangents, step):
    return [a if t is None else a + step * t for a, t in zip(args, tangents, strict=True)]


def _check(f, args, diff, modes=("reverse", "forward", "second")):
    """grad, jvp and hvp (real inputs) of f with respect to args[diff], as plain Python."""
    several = len(diff) > 1
    wrt = diff if several else diff[0]
    rng = np.random.default_rng(5)
    tangents = [
        None
        if k not in diff
        else rng.normal(size=a.shape)
        + (1j * rng.normal(size=a.shape) if a.dtype.kind == "c" else 0)
        for k, a in enumerate(args)
    ]
    if "reverse" in modes:
        grads = sourcead.grad(f, wrt=wrt, compile=False)(*args)
        for k, g in zip(diff, grads if several else (grads,), strict=True):
            assert g.shape == args[k].shape and g.dtype == args[k].dtype
            _near(g, _fd_gradient(f, args, k), f"gradient wrt argument {k}")
    if "forward" in modes:
        value, tangent = sourcead.jvp(f, args, tangents, compile=False)
        _near(value, f(*args), "value")
        step = 1e-6
        fd = (f(*_moved(args, tangents, step)) - f(*_moved(args, tangents, -step))) / (2 * step)
        _near(tangent, fd, "tangent")
    if "second" in modes and all(args[k].dtype.kind != "c" for k in diff):
        products = sourcead.hvp(f, args, tangents, compile=False)
        gradient = sourcead.grad(f, wrt=wrt, compile=False)
        step = 1e-5
        plus = gradient(*_moved(args, tangents, step))
        minus = gradient(*_moved(args, tangents, -step))
        if not several:
            products, plus, minus = (products,), (plus,), (minus,)
        for product, p, m in zip(products, plus, minus, strict=True):
            _near(product, (p - m) / (2 * step), "hvp", rtol=1e-5)


def _separated(rng):
    """A real matrix whose eigenvalues are apart and eigenvectors' second elements away from 0."""
    while True:
        a = rng.normal(size=(3, 3))
        w, v = np.linalg.eig(a)
        gaps = np.abs(w[:, None] - w[None, :]) + np.eye(3)
        if np.min(gaps) > 0.3 and np.min(np.abs(v[1])) > 0.2:
            return a


REAL = [
    pytest.param(svd_truncated, (_tall((4, 3)), RNG.normal(size=(4, 3))), id="svd-truncated"),
    pytest.param(
        svd_truncated_parts,
        (_tall((4, 3)), RNG.normal(size=(4, 2))),
        id="svd-truncated-parts",
        marks=SLOW,
    ),
    pytest.param(
        svd_truncated, (_tall((3, 4)), RNG.normal(size=(3, 4))), id="svd-truncated-wide", marks=SLOW
    ),
    pytest.param(svd_full_projectors, (_tall((4, 3)), RNG.normal(size=(4, 4))), id="svd-full"),
    pytest.param(qr_reduced, (_tall((4, 3)), RNG.normal(size=(4, 3))), id="qr-reduced"),
    pytest.param(qr_r_sum, (_tall((4, 3)), RNG.normal(size=(3, 3))), id="qr-r", marks=SLOW),
    pytest.param(eigvalsh_squares, (_tall((3, 3)), RNG.normal(size=3)), id="eigvalsh", marks=SLOW),
    pytest.param(eig_vectors, (_separated(RNG), RNG.normal(size=3)), id="eig-vectors"),
    pytest.param(eig_magnitudes, (_separated(RNG), RNG.normal(size=3)), id="eigvals", marks=SLOW),
    pytest.param(pinv_weighted, (_tall((4, 3)), RNG.normal(size=(3, 4))), id="pinv", marks=SLOW),
    pytest.param(pinv_weighted, (_tall((3, 4)), RNG.normal(size=(4, 3))), id="pinv-wide"),
    pytest.param(
        expm_weighted, (RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))), id="expm", marks=SLOW
    ),
    pytest.param(
        expm_weighted, (4.0 * RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))), id="expm-scaled"
    ),
    pytest.param(
        expm_unitary, (RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))), id="expm-i-h", marks=SLOW
    ),
]
REAL_TWO = [
    pytest.param(
        lstsq_all, (_tall((4, 3)), RNG.normal(size=4), RNG.normal(size=3)), id="lstsq", marks=SLOW
    ),
    pytest.param(
        lstsq_columns,
        (_tall((4, 3)), RNG.normal(size=(4, 2)), RNG.normal(size=(3, 2))),
        id="lstsq-columns",
    ),
    pytest.param(
        lstsq_square, (_tall((3, 3)), RNG.normal(size=3), RNG.normal(size=3)), id="lstsq-square"
    ),
    pytest.param(
        triangular_lower,
        (_tall((3, 3)), RNG.normal(size=3), RNG.normal(size=3)),
        id="tri-lower",
        marks=SLOW,
    ),
    pytest.param(
        triangular_transposed,
        (_tall((3, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))),
        id="tri-transposed",
    ),
    pytest.param(
        triangular_conjugate,
        (_tall((3, 3)), RNG.normal(size=3), RNG.normal(size=3)),
        id="tri-unit",
        marks=SLOW,
    ),
]
COMPLEX = [
    pytest.param(
        svd_truncated, (_complex(_tall((4, 3))), _complex(RNG.normal(size=(4, 3)))), id="svd-trunc"
    ),
    pytest.param(
        svd_truncated_parts,
        (_complex(_tall((4, 3))), RNG.normal(size=(4, 2))),
        id="svd-parts",
        marks=SLOW,
    ),
    pytest.param(svd_full_projectors, (_complex(_tall((4, 3))), RNG.normal(size=(4, 4))), id="svd"),
    pytest.param(
        qr_reduced,
        (_complex(_tall((4, 3))), _complex(RNG.normal(size=(4, 3)))),
        id="qr",
        marks=SLOW,
    ),
    pytest.param(
        qr_r_sum,
        (_complex(_tall((4, 3))), _complex(RNG.normal(size=(3, 3)))),
        id="qr-r",
        marks=SLOW,
    ),
    pytest.param(eigh_phases, (_complex(_tall((3, 3))), RNG.normal(size=(3, 3))), id="eigh"),
    pytest.param(
        eigvalsh_squares, (_complex(_tall((3, 3))), RNG.normal(size=3)), id="eigvalsh", marks=SLOW
    ),
    pytest.param(
        expm_weighted,
        (_complex(RNG.normal(size=(3, 3))), _complex(RNG.normal(size=(3, 3)))),
        id="expm",
        marks=SLOW,
    ),
    pytest.param(
        expm_unitary,
        (_complex(RNG.normal(size=(3, 3))), _complex(RNG.normal(size=(3, 3)))),
        id="expm-i-h",
    ),
]
COMPLEX_TWO = [
    pytest.param(
        triangular_conjugate,
        (_complex(_tall((3, 3))), _complex(RNG.normal(size=3)), _complex(RNG.normal(size=3))),
        id="tri-conjugate",
    ),
]


@pytest.mark.parametrize("f, args", REAL)
def test_real(f, args):
    _check(f, list(args), (0,))


@pytest.mark.parametrize("f, args", REAL_TWO)
def test_real_two_arguments(f, args):
    _check(f, list(args), (0, 1))


@pytest.mark.parametrize("f, args", COMPLEX)
def test_complex(f, args):
    _check(f, list(args), (0,), modes=("reverse", "forward"))


@pytest.mark.parametrize("f, args", COMPLEX_TWO)
def test_complex_two_arguments(f, args):
    _check(f, list(args), (0, 1), modes=("reverse", "forward"))


# --- values of the runtime's helpers -----------------------------------------------------------


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0])
def test_expm_matches_scipy(scale):
    rng = np.random.default_rng(2)
    for a in (scale * rng.normal(size=(4, 4)), scale * _complex(rng.normal(size=(4, 4)), rng)):
        expected = scipy.linalg.expm(a)
        np.testing.assert_allclose(
            runtime.linalg_expm(a), expected, rtol=1e-10, atol=1e-10 * np.max(np.abs(expected))
        )
        e = rng.normal(size=a.shape)
        frechet = scipy.linalg.expm_frechet(a, e, compute_expm=False)
        np.testing.assert_allclose(runtime.expm_frechet(a, e), frechet, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_matches_scipy(trans, lower, unit):
    rng = np.random.default_rng(3)
    a = _complex(_tall((3, 3), rng), rng)
    b = rng.normal(size=(3, 2))
    expected = scipy.linalg.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
    actual = runtime.linalg_solve_triangular(a, b, trans, lower, unit)
    np.testing.assert_allclose(actual, expected, rtol=1e-12)


# --- degenerate eigenvalues ----------------------------------------------------------------------


def eigh_degenerate_projector(x):
    # a doubly degenerate level of diag(1, 1, 3) + x: its projector is smooth there
    e, v = np.linalg.eigh(np.diag(np.array([1.0, 1.0, 3.0])) + 0.5 * (x + x.T))
    low = v[:, :2]
    return np.sum(low @ low.T * np.arange(9.0).reshape(3, 3)) + np.sum(e * e)


def test_eigh_degenerate_level_projector():
    """The coupling terms between equal eigenvalues are left out: exact for a loss that depends
    on the degenerate eigenspace as a whole (its projector)."""
    x = np.zeros((3, 3))
    g = sourcead.grad(eigh_degenerate_projector, compile=False)(x)
    _near(g, _fd_gradient(eigh_degenerate_projector, [x], 0), "gradient at a degenerate point")


# --- refusals ------------------------------------------------------------------------------------


def qr_complete(x):
    q, r = np.linalg.qr(x, mode="complete")
    return np.sum(q)


def svd_hermitian(x):
    return np.sum(np.linalg.svd(x, hermitian=True)[1])


def lstsq_rcond(x, b):
    solution, residuals, rank, s = np.linalg.lstsq(x, b, rcond=None)
    return np.sum(solution)


def triangular_letter(x, b):
    return np.sum(solve_triangular(x, b, trans="T"))


def eig_of_complex(x):
    return np.sum(np.real(np.linalg.eigvals(x)))


def pinv_of_complex(x):
    return np.sum(np.real(np.linalg.pinv(x)))


@pytest.mark.parametrize(
    "f, args, match",
    [
        (qr_complete, (_tall((4, 3)),), "mode='complete'"),
        (svd_hermitian, (_tall((3, 3)),), "hermitian"),
        (lstsq_rcond, (_tall((4, 3)), RNG.normal(size=4)), "rcond"),
        (triangular_letter, (_tall((3, 3)), RNG.normal(size=3)), "trans="),
        (eig_of_complex, (_complex(_tall((3, 3))),), "complex"),
        (pinv_of_complex, (_complex(_tall((3, 3))),), "complex"),
    ],
)
def test_refused_at_the_line(f, args, match):
    with pytest.raises(SourceADError, match=match) as caught:
        sourcead.grad(f, compile=False)(*args)
    assert "test_linalg_more.py" in str(caught.value)


# --- scipy.linalg.cholesky, cho_factor and cho_solve ---------------------------------------------
# The functions symmetrise their argument: SciPy reads one triangle of a, sourcead's adjoint is
# the symmetric one (right for a symmetric matrix perturbed symmetrically). cho_factor's other
# triangle holds arbitrary values in SciPy (zeros in sourcead): the losses read its triangle.


def _spd(n=3, rng=RNG):
    m = rng.normal(size=(n, n))
    return m @ m.T + n * np.eye(n)


def cholesky_upper(x, w):
    return np.sum(w * scipy.linalg.cholesky(0.5 * (x + x.T)) ** 2)


def cholesky_lower(x, w):
    low = scipy.linalg.cholesky(0.5 * (x + x.T), lower=True, check_finite=False)
    return np.sum(w * low) + np.sum(np.log(np.diag(low)))


def cho_pair(x, b):
    c, low = scipy.linalg.cho_factor(0.5 * (x + x.T))
    y = scipy.linalg.cho_solve((c, low), b)
    return np.sum(y * y) + np.sum(np.triu(c) ** 2)


def cho_named_lower(x, b):
    factored = scipy.linalg.cho_factor(0.5 * (x + x.T), lower=True)
    return np.sum(np.sin(scipy.linalg.cho_solve(factored, b=b)))


def cho_nested(x, b):
    y = scipy.linalg.cho_solve(scipy.linalg.cho_factor(0.5 * (x + x.T), True), b, False)
    return np.sum(y**3)


def cho_item_written_flag(x, b):
    c = scipy.linalg.cho_factor(0.5 * (x + x.T), lower=True)[0]
    y = scipy.linalg.cho_solve((c, True), b, check_finite=False)
    return np.sum(y * y) + np.sum(np.tril(c) ** 3)


def cho_flag_bound(x, b):
    # the flag as a name bound to a constant; the factor given directly (its upper triangle)
    low = False
    return np.sum(scipy.linalg.cho_solve((x, low), b) ** 2)


CHOLESKY = [
    pytest.param(cholesky_upper, (_spd(), RNG.normal(size=(3, 3))), (0,), id="cholesky"),
    pytest.param(cholesky_lower, (_spd(), RNG.normal(size=(3, 3))), (0,), id="cholesky-lower"),
    pytest.param(cho_pair, (_spd(), RNG.normal(size=3)), (0, 1), id="cho-pair"),
    pytest.param(cho_named_lower, (_spd(), RNG.normal(size=(3, 2))), (0, 1), id="cho-named"),
    pytest.param(cho_nested, (_spd(), RNG.normal(size=(3, 2))), (0, 1), id="cho-nested"),
    pytest.param(cho_item_written_flag, (_spd(), RNG.normal(size=3)), (0, 1), id="cho-item"),
    pytest.param(cho_flag_bound, (_tall((3, 3)), RNG.normal(size=3)), (0, 1), id="cho-factor"),
]


@pytest.mark.parametrize("f, args, diff", CHOLESKY)
def test_cholesky(f, args, diff):
    _check(f, list(args), diff)


# complex Hermitian matrices: L L^H, SciPy's U = L^H; losses of |L|^2 and of both parts
def cholesky_of_hermitian(x, w):
    return np.sum(w * np.abs(np.linalg.cholesky(x @ np.conj(x.T))) ** 2)


def scipy_cholesky_of_hermitian(x, w):
    a = x @ np.conj(x.T)
    upper = scipy.linalg.cholesky(a)
    return np.sum(w * np.abs(upper) ** 2) + np.real(np.sum(w * scipy.linalg.cholesky(a, True)))


def cho_solve_hermitian(x, b):
    y = scipy.linalg.cho_solve(scipy.linalg.cho_factor(x @ np.conj(x.T)), b)
    return np.sum(np.abs(y) ** 2) + np.real(np.sum(y))


def cho_solve_hermitian_lower(x, b):
    c, low = scipy.linalg.cho_factor(x @ np.conj(x.T), lower=True)
    y = scipy.linalg.cho_solve((c, low), b)
    return np.sum(np.abs(y) ** 2) + np.imag(np.sum(y)) + np.sum(np.abs(np.tril(c)) ** 2)


COMPLEX_CHOLESKY = [
    pytest.param(
        cholesky_of_hermitian, (_complex(_tall((3, 3))), RNG.normal(size=(3, 3))), (0,),
        id="numpy",
    ),
    pytest.param(
        scipy_cholesky_of_hermitian, (_complex(_tall((3, 3))), RNG.normal(size=(3, 3))), (0,),
        id="scipy",
    ),
    pytest.param(
        cho_solve_hermitian, (_complex(_tall((3, 3))), _complex(RNG.normal(size=3))), (0, 1),
        id="cho-solve",
    ),
    pytest.param(
        cho_solve_hermitian_lower, (_complex(_tall((3, 3))), RNG.normal(size=(3, 2))), (0, 1),
        id="cho-lower-real-b",
    ),
    pytest.param(
        cho_solve_hermitian_lower, (_tall((3, 3)), _complex(RNG.normal(size=(3, 2)))), (0, 1),
        id="cho-real-complex-b",
    ),
]  # fmt: skip


@pytest.mark.parametrize("f, args, diff", COMPLEX_CHOLESKY)
def test_cholesky_of_complex_matrices(f, args, diff):
    _check(f, list(args), diff, modes=("reverse", "forward"))


@SLOW
def test_cholesky_of_complex_matrices_compiled():
    args = [_complex(_tall((3, 3))), _complex(RNG.normal(size=3))]
    grads = sourcead.grad(cho_solve_hermitian, wrt=(0, 1))(*args)
    for k, g in enumerate(grads):
        _near(g, _fd_gradient(cho_solve_hermitian, args, k), f"gradient wrt argument {k}")
    tangents = [_complex(RNG.normal(size=(3, 3))), None]
    _, tangent = sourcead.jvp(cho_solve_hermitian, args, tangents)
    _, expected = sourcead.jvp(cho_solve_hermitian, args, tangents, compile=False)
    _near(tangent, expected, "tangent")


@SLOW
def test_cholesky_compiled():
    args = [_spd(), RNG.normal(size=3)]
    grads = sourcead.grad(cho_pair, wrt=(0, 1))(*args)
    for k, g in enumerate(grads):
        _near(g, _fd_gradient(cho_pair, args, k), f"gradient wrt argument {k}")


@pytest.mark.parametrize("lower", [False, True])
def test_cholesky_helpers_match_scipy(lower):
    rng = np.random.default_rng(4)
    a = _spd(3, rng)
    a_read = a + (np.tril if not lower else np.triu)(rng.normal(size=(3, 3)), 1 - 2 * lower)
    expected = scipy.linalg.cholesky(a_read, lower=lower)  # one triangle of a_read read
    np.testing.assert_allclose(runtime.linalg_cholesky(a_read, lower), expected, rtol=1e-12)
    c, flag = runtime.linalg_cho_factor(a_read, lower)
    assert flag is lower or flag == lower
    np.testing.assert_allclose(c, expected, rtol=1e-12)  # the other triangle zero
    # cho_solve reads only the factor's triangle
    garbage = c + (np.triu if lower else np.tril)(rng.normal(size=(3, 3)), 2 * lower - 1)
    for b in (rng.normal(size=3), rng.normal(size=(3, 2))):
        np.testing.assert_allclose(
            runtime.linalg_cho_solve(garbage, b, lower),
            scipy.linalg.cho_solve((garbage, lower), b),
            rtol=1e-10,
        )


def cholesky_flag_argument(x, flag):
    return np.sum(scipy.linalg.cho_factor(x, lower=flag)[0])


def cho_solve_flag_argument(x, b, flag):
    return np.sum(scipy.linalg.cho_solve((x, flag), b))


def cho_solve_flags_differ(x, b):
    c, low = scipy.linalg.cho_factor(x)
    if np.sum(x) > 0.0:
        c, low = scipy.linalg.cho_factor(x, lower=True)
    return np.sum(scipy.linalg.cho_solve((c, low), b))


def cho_solve_lower_keyword(x, b):
    return np.sum(scipy.linalg.cho_solve((x, True), b, lower=True))


def cho_solve_of_parameter(x, b):
    return np.sum(scipy.linalg.cho_solve(x, b))


def cho_solve_of_other(x, b):
    return np.sum(scipy.linalg.cho_solve(x + 0.0, b))


@pytest.mark.parametrize(
    "f, args, match",
    [
        (cholesky_flag_argument, (_spd(), True), "lower=flag: write True or False"),
        (cho_solve_flag_argument, (_spd(), RNG.normal(size=3), True), "not known ahead"),
        (cho_solve_flags_differ, (_spd(), RNG.normal(size=3)), "not known ahead"),
        (cho_solve_lower_keyword, (_spd(), RNG.normal(size=3)), "lower="),
        (cho_solve_of_parameter, (_spd(), RNG.normal(size=3)), "not known ahead"),
        (cho_solve_of_other, (_spd(), RNG.normal(size=3)), r"other than \(c, lower\)"),
    ],
)
def test_cholesky_refused_at_the_line(f, args, match):
    for differentiate in (_grad_of, _jvp_of):
        with pytest.raises(SourceADError, match=match) as caught:
            differentiate(f)(*args)
        assert "test_linalg_more.py" in str(caught.value)


def _grad_of(f):
    return sourcead.grad(f, compile=False)


def _jvp_of(f):
    def tangent(*args):
        tangents = [np.ones_like(args[0])] + [None] * (len(args) - 1)
        return sourcead.jvp(f, args, tangents, compile=False)

    return tangent


# --- constant items of the tuple a call returns ---------------------------------------------


def qr_item(x):
    r = np.linalg.qr(x)[1]
    return np.sum(r * r * r)


def qr_named_items(x, w):
    qr = np.linalg.qr(x)
    return np.sum(w * qr[0]) + np.sum(qr[-1] ** 3)


def eigh_item(x, w):
    return np.sum(w * np.linalg.eigh(0.5 * (x + x.T))[0] ** 2)


def svd_item(x):
    return np.sum(np.linalg.svd(x)[1] ** 3)


def slogdet_items(x):
    # one call unpacked per item read; inside a loop and a branch
    total = 0.0
    for k in range(2):
        total = total + np.linalg.slogdet(x + k * np.eye(3))[1]
        if np.linalg.slogdet(x)[-1] > -50.0:
            total = total * 1.5
    return total + (np.sum(x) if np.sum(x) > 100.0 else np.linalg.slogdet(x)[1])


def _pair(x):
    return x * x, np.sum(np.sin(x))


def user_items(x):
    t = _pair(x)
    return np.sum(_pair(x)[0] * t[0]) + t[1] * t[-1]


TUPLE_ITEMS = [
    pytest.param(qr_item, (_tall((4, 3)),), id="qr"),
    pytest.param(qr_named_items, (_tall((4, 3)), RNG.normal(size=(4, 3))), id="qr-named"),
    pytest.param(eigh_item, (_tall((3, 3)), RNG.normal(size=3)), id="eigh"),
    pytest.param(svd_item, (_tall((4, 3)),), id="svd"),
    pytest.param(slogdet_items, (_tall((3, 3)),), id="slogdet"),
]


@pytest.mark.parametrize("f, args", TUPLE_ITEMS)
def test_tuple_items(f, args):
    _check(f, list(args), (0,))


def test_tuple_items_of_a_function_of_yours():
    # (second derivatives of a function of yours returning a tuple are refused today)
    _check(user_items, [RNG.normal(size=3)], (0,), modes=("reverse", "forward"))


def test_tuple_items_unpack_the_call():
    gradient = sourcead.grad(qr_item, compile=False)
    gradient(_tall((4, 3)))
    assert "q, r2 = np.linalg.qr(x)" in gradient.source


@SLOW
def test_tuple_items_compiled():
    args = [_tall((4, 3))]
    _near(sourcead.grad(qr_item)(*args), _fd_gradient(qr_item, args, 0), "gradient")


def item_of_a_varying_index(x, i):
    return np.sum(np.linalg.qr(x)[i])


def named_item_of_a_varying_index(x, i):
    qr = np.linalg.qr(x)
    return np.sum(qr[i])


def tuple_used_whole(x):
    qr = np.linalg.qr(x)
    t = _pair(qr[1])
    return np.sum(qr[0]) + t[1] + np.sum(qr)


def item_in_a_while_condition(x):
    y = np.sum(x)
    while np.linalg.slogdet(x)[1] > y:
        y = y + 1.0
    return y


def item_out_of_range(x):
    return np.linalg.slogdet(x)[2]


@pytest.mark.parametrize(
    "f, args, match",
    [
        (item_of_a_varying_index, (_tall((4, 3)), 1), "indexing a tuple of values"),
        (named_item_of_a_varying_index, (_tall((4, 3)), 1), "indexing a tuple of values"),
        (tuple_used_whole, (_tall((4, 3)),), "used whole"),
        (item_in_a_while_condition, (_tall((3, 3)),), "while condition"),
        (item_out_of_range, (_tall((3, 3)),), "index 2 of a tuple of 2 values"),
    ],
)
def test_tuple_items_refused_at_the_line(f, args, match):
    for differentiate in (_grad_of, _jvp_of):
        with pytest.raises(SourceADError, match=match) as caught:
            differentiate(f)(*args)
        assert "test_linalg_more.py" in str(caught.value)


def eig_of_complex(a):
    w, v = np.linalg.eig(a)
    return np.sum(np.abs(w))


def test_a_refusal_names_the_function_as_written_not_its_helper():
    with pytest.raises(sourcead.SourceADError, match="np.linalg.eig of a complex array"):
        sourcead.grad(eig_of_complex, compile=False)(np.eye(3) * (1 + 1j))


def lstsq_solution(a, b):
    x, res, rk, sv = np.linalg.lstsq(a, b)
    return x


def lstsq_residuals(a, b):
    x, res, rk, sv = np.linalg.lstsq(a, b)
    return np.sum(res) + np.sum(sv) * b[0]


def test_lstsq_jacobians_in_vector_mode():
    # vector mode passes the number 0.0 for the argument without tangents, which the
    # tangent helpers multiplied as a matrix (a ValueError from inside them)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=5)
    h = 1e-6
    by_a = sourcead.jacfwd(lstsq_solution, wrt=0, compile=False)(a, b)
    by_b = sourcead.jacfwd(lstsq_solution, wrt=1, compile=False)(a, b)
    for i in range(5):
        e = np.zeros(5)
        e[i] = h
        column = (lstsq_solution(a, b + e) - lstsq_solution(a, b - e)) / (2 * h)
        np.testing.assert_allclose(by_b[:, i], column, atol=1e-7)
        for j in range(3):
            m = np.zeros((5, 3))
            m[i, j] = h
            column = (lstsq_solution(a + m, b) - lstsq_solution(a - m, b)) / (2 * h)
            np.testing.assert_allclose(by_a[:, i, j], column, atol=1e-7)
    hessian = sourcead.hessian(lstsq_residuals, wrt=1, compile=False)(a, b)
    gradient = sourcead.grad(lstsq_residuals, wrt=1, compile=False)
    rows = [(gradient(a, b + h * e) - gradient(a, b - h * e)) / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(hessian, np.array(rows), atol=1e-6)
