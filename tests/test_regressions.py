"""Regression tests: small programs, shrunk by the random-program tests (tests/fuzz), that
once gave a wrong derivative or an internal error. Each is checked against finite
differences like every other gradient test."""

import math

import numpy as np
from helpers import check_grad, copy_args

import sourcead

# --------------------------------------------------------------------- reverse mode


def zero_trip_while_with_return(x, n):
    k = 0
    while k < 0:
        k += 1
        if x > 1.0:
            return x * 2.0
    return x * x


def test_zero_trip_while_with_early_return(compile_mode):
    check_grad(zero_trip_while_with_return, (1.5, 2), 0, compile_mode)


def swap_after_untaped_overwrite(x, y):
    t = x
    for _ in range(2):
        t = math.sin(y)  # t's old value is not needed by this adjoint, but the swap's undo reads t
        t, y = y, t
    return y + 2.0 * t


def test_swap_after_untaped_overwrite(compile_mode):
    check_grad(swap_after_untaped_overwrite, (0.3, 0.7), (0, 1), compile_mode)


# --------------------------------------------------------------------- forward mode


def _jvp_matches_grad(f, args, wrt, direction):
    before = copy_args(args)
    tangents = [None] * len(args)
    for i, t in zip(wrt, direction, strict=True):
        tangents[i] = t
    value, derivative = sourcead.jvp(f, args, tuple(tangents), compile=False)
    grads = sourcead.grad(f, wrt=tuple(wrt), compile=False)(*before)
    expected = sum(float(np.sum(g * t)) for g, t in zip(grads, direction, strict=True))
    assert value == f(*before)
    assert math.isclose(derivative, expected, rel_tol=1e-12, abs_tol=1e-12)


def passes_argument_through(x, y, z):
    s = x
    return x + y + z + s


def test_jvp_tangent_passed_through_unchanged():
    _jvp_matches_grad(passes_argument_through, (0.3, 0.3, 0.3), (2,), (0.5,))


def reassigned_parameter_without_tangent(x, a):
    s = x
    x = a[0]
    return x + s


def test_jvp_parameter_without_tangent_becomes_active():
    _jvp_matches_grad(
        reassigned_parameter_without_tangent, (0.3, np.array([0.3, 0.5, 0.7])), (1,), (np.ones(3),)
    )


def writes_active_value_into_parameter(x, a):
    a[0] = x * 2.0
    return a[0] + a[1]


def test_jvp_array_parameter_without_tangent_written():
    _jvp_matches_grad(
        writes_active_value_into_parameter, (0.3, np.array([0.3, 0.5, 0.7])), (0,), (0.5,)
    )


def swap_with_inactive_name(x, y, z):
    s = z * x
    s, x = s, x
    x, y = y, x
    return x * y + s


def test_permutation_of_active_and_inactive_names(compile_mode):
    check_grad(swap_with_inactive_name, (0.3, 0.7, 1.1), 2, compile_mode)
    check_grad(swap_with_inactive_name, (0.3, 0.7, 1.1), (0, 1, 2), compile_mode)


# --------------------------------------------------------- found by the fuzzer, later


def overwritten_in_one_branch(x, y):
    if y > 0.0:
        x = math.sin(x) * y  # its old value kept in a local set on this path only
    else:
        x = x * x
    return x * y


def test_value_recorded_in_one_branch(compile_mode):
    check_grad(overwritten_in_one_branch, (0.3, 0.5), (0, 1), compile_mode)
    check_grad(overwritten_in_one_branch, (0.3, -0.5), (0, 1), compile_mode)


def calls_an_undefined_function(x):
    return x + undefined_function(x)  # noqa: F821


def test_an_undefined_function_is_refused_at_its_line():
    try:
        sourcead.grad(calls_an_undefined_function)
    except sourcead.SourceADError as error:
        assert error.filename == __file__
        assert error.lineno == calls_an_undefined_function.__code__.co_firstlineno + 1
        assert "undefined_function" in str(error)
    else:
        raise AssertionError("an undefined function was accepted")


# ------------------------------------- a user function named like a helper of the runtime


def cumprod(x):  # its tangent was named cumprod_tangent, the runtime's helper of np.cumprod
    return np.sum(np.cumprod(x) * x)


def calls_cumprod(x):
    return cumprod(x) * 2.0


def test_generated_names_do_not_shadow_the_runtimes_helpers():
    x, v = np.array([0.5, 1.5, 2.0]), np.array([1.0, -0.5, 0.25])
    product = sourcead.hvp(calls_cumprod, (x,), (v,), compile=False)
    gradient = sourcead.grad(calls_cumprod, compile=False)
    h = 1e-5
    expected = (gradient(x + h * v) - gradient(x - h * v)) / (2 * h)
    np.testing.assert_allclose(product, expected, rtol=1e-7, atol=1e-8)
