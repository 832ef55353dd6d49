"""Programs that gave wrong derivatives or internal errors when tried as a new user would and
with test functions of other AD projects' suites. Each is checked in reverse mode against
finite differences (compiled and as Python), in forward mode against the gradient, and
through second derivatives against differences of the gradient."""

import importlib
import math
import sys
import textwrap

import numpy as np
import pytest
from helpers import check_grad, copy_args, directional_difference

import sourcead


def check_every_mode(f, args, compile_mode):
    """grad against finite differences, jvp against grad, hvp against differences of grad."""
    gradient = check_grad(f, args, 0, compile_mode)
    x = args[0]
    rng = np.random.default_rng(0)
    v = rng.uniform(-1.0, 1.0, np.shape(x)) if isinstance(x, np.ndarray) else 0.7
    w = rng.uniform(-1.0, 1.0, np.shape(x)) if isinstance(x, np.ndarray) else -0.4
    rest = tuple(None for _ in args[1:])
    _, slope = sourcead.jvp(f, copy_args(args), (v, *rest), compile=compile_mode)
    assert np.isclose(slope, np.sum(gradient * v), rtol=1e-10, atol=1e-12)
    product = sourcead.hvp(f, copy_args(args), (v, *rest), compile=compile_mode)
    python_grad = sourcead.grad(f, compile=False)

    def along(delta):
        shifted = (x + delta * v, *copy_args(args[1:]))
        return float(np.sum(python_grad(*shifted) * w))

    assert np.isclose(np.sum(product * w), directional_difference(along), rtol=1e-6, atol=1e-8)


# --- rows of local arrays ------------------------------------------------------------------


def row_reads_another_row(x):
    h = np.zeros((3, 2))
    h[1] = x[0] * 2.0
    h[2] = x[1] + h[1]
    return np.sum(h)


def recurrence_over_rows(x):
    h = np.zeros((3, 2))
    for t in range(2):
        h[t + 1] = x[t] + h[t]
    return np.sum(h * h)


def nonlinear_recurrence_overwriting_rows(x):
    h = np.ones((3, 2))
    for t in range(2):
        h[t + 1] = np.tanh(x[t] + h[t]) * h[t] + x[t]
    for t in range(2):
        h[t + 1] = np.sin(h[t + 1]) * h[t]  # overwrites rows the first loop's adjoint reads
    return np.sum(h * h)


def scalar_broadcast_into_rows(x):
    h = np.zeros((len(x), 3))
    for t in range(len(h)):
        h[t] = x[t]
    return np.sum(h * h)


_MATRIX = np.array([[0.3, -0.6], [0.9, 1.2]])


@pytest.mark.parametrize(
    "f, args",
    [
        (row_reads_another_row, (_MATRIX,)),
        (recurrence_over_rows, (_MATRIX,)),
        (nonlinear_recurrence_overwriting_rows, (_MATRIX,)),
        (scalar_broadcast_into_rows, (np.array([0.5, -1.5]),)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_rows_of_local_arrays(f, args, compile_mode):
    check_every_mode(f, args, compile_mode)


def test_row_assignment_gradient_is_the_known_one(compile_mode):
    # sum(h) = 4 x[0] + sum(x[1]) for the rows as written
    g = sourcead.grad(row_reads_another_row, compile=compile_mode)(_MATRIX)
    np.testing.assert_array_equal(g, [[4.0, 4.0], [1.0, 1.0]])


# --- products at zeros ---------------------------------------------------------------------


def product(x):
    return np.prod(x)


def product_of_squares(x):
    return np.prod(x * x) + np.sum(x)


@pytest.mark.parametrize(
    "x", [np.array([0.0, 2.0, 3.0]), np.array([[1.0, 0.0], [0.0, 4.0]]), np.array([1.5, -2.0])]
)
def test_prod_is_exact_at_zeros(x, compile_mode):
    gradient = sourcead.grad(product, compile=compile_mode)(x)
    others = np.array([np.prod(np.delete(x.ravel(), i)) for i in range(x.size)])
    np.testing.assert_allclose(gradient.ravel(), others, rtol=1e-14)
    v = np.linspace(0.5, 1.5, x.size).reshape(x.shape)
    _, slope = sourcead.jvp(product, (x,), (v,), compile=compile_mode)
    assert np.isclose(slope, np.sum(others * v.ravel()))
    hessian = sourcead.hessian(product_of_squares, compile=compile_mode)(x)
    assert np.all(np.isfinite(hessian))
    if x.ndim == 1 and x.size == 3:  # d2/dx0^2 of x0^2 x1^2 x2^2 at x0 = 0: 2 x1^2 x2^2
        assert hessian[0, 0] == pytest.approx(2.0 * 4.0 * 9.0)


def test_prod_away_from_zeros_in_every_mode(compile_mode):
    check_every_mode(product_of_squares, (np.array([0.7, -1.3, 0.9]),), compile_mode)


# --- reductions of numbers and parts of real numbers ---------------------------------------


def sum_of_a_sum_times_weights(x, w):
    return np.sum(np.sum(x) * w)


def real_part_of_reals(x):
    return np.sum(np.real(x) ** 2 + np.imag(x) * x)


@pytest.mark.parametrize("w", [np.array([1.0, -2.0, 0.5]), np.ones((2, 2)), 2.5])
def test_reduction_of_a_number(w, compile_mode):
    check_grad(sum_of_a_sum_times_weights, (_MATRIX, w), 0, compile_mode)


def test_real_and_imag_of_real_arrays(compile_mode):
    check_every_mode(real_part_of_reals, (np.array([0.4, -1.1]),), compile_mode)


# --- globals, helpers and other modules' constants -----------------------------------------


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """Two modules of the user's: constants, and functions reading them."""
    (tmp_path / "user_constants.py").write_text("C = 2.5\n")
    (tmp_path / "user_model.py").write_text(
        textwrap.dedent(
            """
            import user_constants

            K = 2.0


            def helper(x):
                return x * x


            def cube(x):
                return x * x * x


            def f(x):
                return K * helper(x)


            def scaled(x):
                return x * user_constants.C
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("user_constants", "user_model"):
        sys.modules.pop(name, None)
    yield importlib.import_module("user_model"), importlib.import_module("user_constants")
    for name in ("user_constants", "user_model"):
        sys.modules.pop(name, None)


def test_a_new_grad_sees_rebound_globals_and_helpers(user_modules, compile_mode):
    model, _ = user_modules
    assert sourcead.grad(model.f, compile=compile_mode)(1.0) == 4.0
    model.K = 3.0
    assert sourcead.grad(model.f, compile=compile_mode)(1.0) == 6.0
    model.helper = model.cube
    assert sourcead.grad(model.f, compile=compile_mode)(1.0) == 9.0
    assert sourcead.jvp(model.f, (1.0,), (1.0,), compile=compile_mode)[1] == 9.0
    assert sourcead.hvp(model.f, (1.0,), (1.0,), compile=compile_mode) == 18.0


def test_a_derivative_keeps_what_its_first_call_read(user_modules, compile_mode):
    """As Numba reads globals when it compiles a signature: the first call with given
    argument types reads them, later calls with those types keep them."""
    model, _ = user_modules
    gradient = sourcead.grad(model.f, compile=compile_mode)
    model.K = 3.0  # before the first call: read by it
    assert gradient(1.0) == 6.0
    model.K = 5.0  # after it: the compiled signature keeps K = 3
    assert gradient(1.0) == 6.0
    assert sourcead.grad(model.f, compile=compile_mode)(1.0) == 10.0


def test_constants_of_another_module(user_modules, compile_mode):
    model, constants = user_modules
    assert sourcead.grad(model.scaled, compile=compile_mode)(1.0) == 2.5
    constants.C = 4.0
    assert sourcead.grad(model.scaled, compile=compile_mode)(1.0) == 4.0
    assert sourcead.jvp(model.scaled, (1.0,), (1.0,), compile=compile_mode)[1] == 4.0


# --- a tensor renormalisation loop: truncated SVD factors, shapes changing across steps ----


def split_by_svd(m, d, chi):
    """``m`` (d*d, d*d) split by SVD into factors (d, d, k) and (k, d, d), k <= chi."""
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    k = min(chi, s.shape[0])
    root = np.sqrt(s[:k])
    left = (u[:, :k] * root).reshape((d, d, k))
    right = (root[:, None] * vh[:k, :]).reshape((k, d, d))
    return left, right


def ising_log_z(beta, chi, steps):
    """log Z per site of the 2-D Ising model by tensor renormalisation (Levin and Nave),
    written with element loops; the bond dimension grows from 2 to ``chi``."""
    c, s = math.cosh(beta), math.sinh(beta)
    w = np.zeros((2, 2))
    w[0, 0] = math.sqrt(c)
    w[0, 1] = math.sqrt(s)
    w[1, 0] = math.sqrt(c)
    w[1, 1] = -math.sqrt(s)
    t = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            for k in range(2):
                for m in range(2):
                    for q in range(2):
                        t[i, j, k, m] += w[q, i] * w[q, j] * w[q, k] * w[q, m]
    total = 0.0
    for step in range(steps):
        d = t.shape[0]
        m1 = np.zeros((d * d, d * d))
        m2 = np.zeros((d * d, d * d))
        for i in range(d):
            for j in range(d):
                for k in range(d):
                    for m in range(d):
                        m1[i * d + j, k * d + m] = t[i, j, k, m]
                        m2[j * d + k, m * d + i] = t[i, j, k, m]
        s1, s3 = split_by_svd(m1, d, chi)
        s2, s4 = split_by_svd(m2, d, chi)
        n = s1.shape[2]
        coarse = np.zeros((n, n, n, n))
        for a in range(n):
            for b in range(n):
                for e in range(n):
                    for f in range(n):
                        acc = 0.0
                        for p in range(d):
                            for q in range(d):
                                for r in range(d):
                                    for v in range(d):
                                        acc += s3[a, p, q] * s4[b, q, r] * s1[r, v, e] * s2[v, p, f]
                        coarse[a, b, e, f] = acc
        norm = np.max(np.abs(coarse))
        t = coarse / norm
        total += math.log(norm) / 2.0 ** (step + 1)
    return total


@pytest.mark.parametrize(
    "compile_mode",
    [pytest.param(True, id="compiled", marks=pytest.mark.slow), pytest.param(False, id="python")],
)
def test_tensor_renormalisation_gradient(compile_mode):
    # two steps: the bond dimension goes from 2 to 3, so the factors change shape
    check_grad(ising_log_z, (0.4, 3, 2), 0, compile_mode, rtol=1e-6)
    g = sourcead.grad(ising_log_z, compile=compile_mode)(0.4, 3, 2)
    # (the tangent as plain Python: compiling it too doubled this test's minutes)
    _, slope = sourcead.jvp(ising_log_z, (0.4, 3, 2), (1.0, None, None), compile=False)
    assert slope == pytest.approx(g, rel=1e-10)


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_vmap_of_a_row_recurrence():
    batch = np.random.default_rng(1).uniform(-1.0, 1.0, (3, 2, 2))
    gradient = sourcead.grad(nonlinear_recurrence_overwriting_rows)
    expected = np.array([gradient(x) for x in batch])
    np.testing.assert_allclose(sourcead.vmap(gradient)(batch), expected, rtol=1e-12)


# --- a long straight-line function -----------------------------------------------------------


def _straight_line_module(tmp_path, lines: int):
    body = "\n".join("    a = math.sin(a) * y + x" for _ in range(lines))
    (tmp_path / f"straight_{lines}.py").write_text(
        f"import math\n\n\ndef f(x, y):\n    a = x\n{body}\n    return a\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(f"straight_{lines}")
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize(
    "compile_mode",
    [pytest.param(True, id="compiled", marks=pytest.mark.slow), pytest.param(False, id="python")],
)
def test_a_long_straight_line_function(tmp_path, compile_mode):
    """1,000 overwrites of one name: each old value kept in a local, not on a tape whose
    growth check made one branch per line (Numba then took minutes, or ran out of stack)."""
    module = _straight_line_module(tmp_path, 1000 if compile_mode else 500)
    gradient = sourcead.grad(module.f, wrt=(0, 1), compile=compile_mode)
    check_grad(module.f, (0.3, 0.5), (0, 1), compile_mode)
    assert "tape" not in gradient.source


# --- array attributes of subscripts ----------------------------------------------------------


def sizes_of_slices(x, a):
    return np.mean(a[:2]) * x + np.sum(a[1:] ** 2) / a[1:].size + a[0:2].shape[0]


def test_sizes_of_slices_in_every_mode(compile_mode):
    """``a[1:].size`` in user code, and np.mean of a slice under second derivatives (its
    adjoint reads ``a[:2].size``)."""
    args = (0.3, np.array([0.3, 0.5, 0.7]))
    check_grad(sizes_of_slices, args, (0, 1), compile_mode)
    products = sourcead.hvp(sizes_of_slices, args, (1.0, np.ones(3)), compile=compile_mode)
    assert products[0] == pytest.approx(1.0)
    np.testing.assert_allclose(products[1], [0.5, 1.5, 1.0])


# --- second derivatives through the adjoint's shape check ------------------------------------


def rebound_from_itself(x, b):
    m = b * x
    for _ in range(3):
        m = m - b * x * x  # m's old value is not kept: its shape is checked instead
    return np.sum(m * m)


def broadcast_from_itself(x, b, c):
    m = b * x
    for _ in range(1):
        m = m - c * x  # (1, 3) - (2, 3): in a loop, the new binding has another shape
    return np.sum(m * m)


def test_second_derivatives_through_a_shape_check(compile_mode):
    b = np.array([[0.3, -0.5, 0.7]])  # two axes: not fused into an element loop
    gradient = sourcead.grad(rebound_from_itself, compile=False)
    product = sourcead.hvp(rebound_from_itself, (0.4, b), (1.0, None), compile=compile_mode)
    assert product == pytest.approx(
        directional_difference(lambda d: gradient(0.4 + d, b)), rel=1e-7
    )
    assert "raise ValueError" in gradient.source  # the check forward mode met as a call
    c = np.ones((2, 3))
    with pytest.raises(ValueError, match="changes shape"):
        sourcead.grad(broadcast_from_itself, compile=compile_mode)(0.4, b, c)
    with pytest.raises(ValueError, match="changes shape"):
        sourcead.hvp(broadcast_from_itself, (0.4, b, c), (1.0, None, None), compile=compile_mode)
