"""fixed_point and root: direct solves, and gradients by implicit differentiation.

Every gradient is checked against finite differences and against sourcead's gradient of the
same iteration written out as a loop (differentiating through the unrolled iteration).
"""

import math

import numpy as np
import pytest
from helpers import assert_close, numerical_grad

import sourcead

# Numba compilation of a solver's generated module takes seconds: the compiled mode is
# tested once per solver (compile_mode), other cases run the same generated code uncompiled.
PLAIN = {"compile": False}

# ------------------------------------------------------------------ scalar fixed point


def cosine_step(x, a):
    return 0.5 * math.cos(x) + a


def fixed_scalar(a):
    x = sourcead.fixed_point(cosine_step, 0.0, a, tol=1e-14)
    return x * x + math.sin(x)


def fixed_scalar_unrolled(a):
    x = 0.0
    for _ in range(200):
        x = cosine_step(x, a)
    return x * x + math.sin(x)


def test_fixed_point_scalar(compile_mode):
    a = 0.3
    g = sourcead.grad(fixed_scalar, compile=compile_mode)(a)
    assert_close(g, sourcead.grad(fixed_scalar_unrolled, **PLAIN)(a), rtol=1e-10)
    assert_close(g, numerical_grad(fixed_scalar, (a,)), rtol=1e-7)


def babylonian_step(x, a, relaxation=0.5):
    return relaxation * (x + a / x) + (0.5 - relaxation) * x


def square_root_by_iteration(a):
    return sourcead.fixed_point(babylonian_step, 1.0, a, tol=1e-14)


def square_residual(x, a, power=2):
    return x**power - a


def square_root_by_root(a):
    return sourcead.root(square_residual, 1.0, a, tol=1e-14)


@pytest.mark.parametrize("fun", [square_root_by_iteration, square_root_by_root])
def test_a_parameter_left_at_its_default(fun):
    # the solver passes the state and the arguments given; the rest take their defaults
    assert_close(sourcead.grad(fun, **PLAIN)(2.0), 0.5 / math.sqrt(2.0), rtol=1e-9)
    tangent = sourcead.jvp(fun, (2.0,), (1.0,), **PLAIN)[1]
    assert_close(tangent, 0.5 / math.sqrt(2.0), rtol=1e-9)


def test_fixed_point_direct_call_solves():
    x = sourcead.fixed_point(cosine_step, 0.0, 0.3, tol=1e-14)
    assert abs(x - cosine_step(x, 0.3)) < 1e-13
    assert isinstance(x, float)


# ------------------------------------------- array state, scalar and array parameters


def mean_field_step(m, coupling, field):
    """A small self-consistent field: m_i = tanh(coupling * (neighbours) + field_i)."""
    n = m.shape[0]
    out = np.zeros(n)
    for i in range(n):
        left = m[i - 1] if i > 0 else 0.0
        right = m[i + 1] if i < n - 1 else 0.0
        out[i] = math.tanh(coupling * (left + right) + field[i])
    return out


def magnetisation(coupling, field):
    m0 = np.zeros(field.shape[0])
    m = sourcead.fixed_point(mean_field_step, m0, coupling, field, tol=1e-13)
    s = 0.0
    for i in range(m.shape[0]):
        s += (i + 1.0) * m[i]
    return s


def magnetisation_direct(coupling, field):
    m0 = np.zeros(field.shape[0])
    m = sourcead.fixed_point(mean_field_step, m0, coupling, field, tol=1e-13, adjoint="direct")
    s = 0.0
    for i in range(m.shape[0]):
        s += (i + 1.0) * m[i]
    return s


def magnetisation_unrolled(coupling, field):
    m = np.zeros(field.shape[0])
    for _ in range(120):
        m = mean_field_step(m, coupling, field)
    s = 0.0
    for i in range(m.shape[0]):
        s += (i + 1.0) * m[i]
    return s


FIELD = np.array([0.3, -0.2, 0.5, 0.1])


@pytest.mark.parametrize("fun", [magnetisation, magnetisation_direct])
def test_fixed_point_array_state(fun):
    args = (0.25, FIELD.copy())
    grads = sourcead.grad(fun, wrt=(0, 1), **PLAIN)(*args)
    unrolled = sourcead.grad(magnetisation_unrolled, wrt=(0, 1), **PLAIN)(*args)
    assert_close(grads, unrolled, rtol=1e-9, atol=1e-12)
    assert_close(grads, numerical_grad(fun, args, (0, 1)), rtol=1e-7)
    assert np.array_equal(args[1], FIELD)  # the input is not modified


def test_fixed_point_vjp_of_array_result():
    def solve(coupling, field):
        m0 = np.zeros(field.shape[0])
        return sourcead.fixed_point(mean_field_step, m0, coupling, field, tol=1e-13)

    value, pullback = sourcead.vjp(solve, 0.25, FIELD.copy(), wrt=1, **PLAIN)
    direct = sourcead.fixed_point(mean_field_step, np.zeros(4), 0.25, FIELD, tol=1e-13)
    assert_close(value, direct, rtol=1e-12)
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    assert_close(
        pullback(weights),
        sourcead.grad(magnetisation, wrt=1, **PLAIN)(0.25, FIELD.copy()),
        rtol=1e-10,
    )


def test_fixed_point_not_converging_raises():
    def diverging(x, a):
        return 2.0 * x + a

    def f(a):
        return sourcead.fixed_point(diverging, 1.0, a, max_iter=20)

    with pytest.raises(RuntimeError, match="did not converge"):
        sourcead.grad(f, **PLAIN)(1.0)
    with pytest.raises(RuntimeError, match="did not converge"):
        sourcead.fixed_point(diverging, 1.0, 1.0, max_iter=20)


# ----------------------------------------------------------------------------- root


def cubic(x, a, b):
    return x * x * x + a * x - b


def root_scalar(a, b):
    x = sourcead.root(cubic, 1.0, a, b, tol=1e-14)
    return math.exp(x)


def root_scalar_unrolled(a, b):
    x = 1.0
    for _ in range(30):
        x = x - cubic(x, a, b) / (3.0 * x * x + a)
    return math.exp(x)


def test_root_scalar(compile_mode):
    args = (1.5, 2.0)
    g = sourcead.grad(root_scalar, wrt=(0, 1), compile=compile_mode)(*args)
    unrolled = sourcead.grad(root_scalar_unrolled, wrt=(0, 1), **PLAIN)(*args)
    assert_close(g, unrolled, rtol=1e-10)
    assert_close(g, numerical_grad(root_scalar, args, (0, 1)), rtol=1e-7)


def equilibrium(x, k):
    """Springs between fixed walls: force balance on two masses (nonlinear springs)."""
    r = np.zeros(2)
    r[0] = k[0] * x[0] + x[0] ** 3 - k[1] * (x[1] - x[0]) - 1.0
    r[1] = k[1] * (x[1] - x[0]) + (x[1] - x[0]) ** 3 - k[2] * (2.0 - x[1])
    return r


def equilibrium_energy(k):
    x0 = np.zeros(2)
    x0[0] = 0.5
    x0[1] = 1.0
    x = sourcead.root(equilibrium, x0, k, tol=1e-13)
    return x[0] * x[0] + 3.0 * x[1]


def test_root_array_state():
    k = np.array([1.0, 2.0, 1.5])
    g = sourcead.grad(equilibrium_energy, **PLAIN)(k)
    assert_close(g, numerical_grad(equilibrium_energy, (k,)), rtol=1e-7)
    x = sourcead.root(equilibrium, np.array([0.5, 1.0]), k, tol=1e-13)
    assert np.max(np.abs(equilibrium(x, k))) < 1e-12


# ------------------------------------------------------------------------ refusals


def scalar_fixed_points_in_a_loop(a, n):
    s = 0.0
    for i in range(n):
        s += sourcead.fixed_point(cosine_step, 0.0, a + 0.1 * i, tol=1e-14) ** 2
    return s


def test_fixed_point_inside_a_loop_and_a_branch():
    args = (0.3, 3)
    g = sourcead.grad(scalar_fixed_points_in_a_loop, **PLAIN)(*args)
    assert_close(g, numerical_grad(scalar_fixed_points_in_a_loop, args, 0), rtol=1e-8)

    def branch(a):
        if a > 0.0:
            x = 2.0 * sourcead.root(cubic, 1.0, a, 2.0, tol=1e-14)
        else:
            x = a
        return x

    assert_close(sourcead.grad(branch, **PLAIN)(0.4), numerical_grad(branch, (0.4,), 0), rtol=1e-8)


def test_solver_call_refusals():
    def not_a_user_function(a):
        return sourcead.fixed_point(math.cos, 0.0, a)

    with pytest.raises(sourcead.SourceADError, match="function of yours"):
        sourcead.grad(not_a_user_function)

    def bad_option(a):
        return sourcead.fixed_point(cosine_step, 0.0, a, adjoint="magic")

    with pytest.raises(sourcead.SourceADError, match="adjoint= must be"):
        sourcead.grad(bad_option)

    def wrong_result(x, a):
        return np.zeros(3)

    def wrong(a):
        return sourcead.fixed_point(wrong_result, 0.0, a)

    with pytest.raises(sourcead.SourceADError, match="state's type"):
        sourcead.grad(wrong, **PLAIN)(1.0)

    def array_result_in_loop(c, field, n):
        s = 0.0
        for i in range(n):
            m = sourcead.fixed_point(mean_field_step, np.zeros(4), c, field)
            s += m[i]
        return s

    with pytest.raises(sourcead.SourceADError, match="inside a loop"):
        sourcead.grad(array_result_in_loop, **PLAIN)(0.25, FIELD.copy(), 3)

    def calls_a_solver(a):
        return sourcead.fixed_point(cosine_step, 0.0, a)

    def caller(a):
        return calls_a_solver(a) * 2.0

    with pytest.raises(sourcead.SourceADError, match="not in the functions it calls"):
        sourcead.grad(caller)
