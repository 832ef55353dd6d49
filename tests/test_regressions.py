"""Regression tests: small programs, shrunk by the random-program tests (tests/fuzz), that
once gave a wrong derivative or an internal error. Each is checked against finite
differences like every other gradient test."""

import math

import numpy as np
import pytest
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


# ------------------------- linear algebra of a value made in the same loop, found by probing


def solve_in_a_loop(u0, a):
    u = u0
    for _ in range(2):
        u = np.linalg.solve(a, 2.0 * u)
    return np.sum(u**2)


def inverse_in_a_loop(s, a):
    for _ in range(2):
        s = s + np.sum(np.linalg.inv(a * s))
    return s


def cholesky_in_a_loop(s, a):
    for _ in range(2):
        s = s + np.sum(np.linalg.cholesky(a * s))
    return s


def newton_steps(p):
    x = np.array([1.0, 1.0])
    for _ in range(4):
        f = np.array([x[0] ** 2 + x[1] - p[0], x[0] - x[1] ** 3 - p[1]])
        jacobian = np.array([[2 * x[0], 1.0], [1.0, -3 * x[1] ** 2]])
        x = x - np.linalg.solve(jacobian, f)
    return np.sum(x**2)


_A = np.array([[2.0, 0.5], [0.3, 1.5]])
_SPD = np.array([[2.0, 0.5], [0.5, 1.5]])


@pytest.mark.parametrize(
    "f, args",
    [
        (solve_in_a_loop, (np.array([1.0, 2.0]), _A)),
        (inverse_in_a_loop, (0.9, _A)),
        (cholesky_in_a_loop, (0.9, _SPD)),
        (newton_steps, (np.array([2.0, 0.5]),)),
    ],
    ids=["solve", "inv", "cholesky", "newton"],
)
def test_a_decomposition_of_a_value_made_in_the_same_loop(f, args, compile_mode):
    # the adjoint made twice for a result read again (inv(a) in inv's adjoint) kept the
    # first one's assignment: the temporary's adjoint was not reset between iterations
    check_grad(f, args, 0, compile_mode)
    v = np.full(np.shape(args[0]), 0.7) if np.ndim(args[0]) else 0.7
    rest = (None,) * (len(args) - 1)
    product = sourcead.hvp(f, args, (v, *rest), compile=False)
    gradient = sourcead.grad(f, compile=False)
    h = 1e-5
    expected = (gradient(args[0] + h * v, *args[1:]) - gradient(args[0] - h * v, *args[1:])) / (
        2 * h
    )
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-8)


# ------------------------------------------ names that are Python's builtins or the runtime's


def largest_in_a_loop(s, a):
    for _ in range(2):
        s = s + np.sum(np.sin(np.max(a * s, axis=0)))  # a temporary named for np.max
    return s


def local_named_len(s, a):
    for _ in range(2):
        len = np.sin(a * s)  # noqa: A001 (the name is the point)
        s = s + np.sum(len * s)
    return s


def local_named_reserve(s, a):
    for _ in range(2):
        reserve = np.sin(a * s)  # the runtime's helper that grows tapes
        s = s + np.sum(reserve * s)
    return s


@pytest.mark.parametrize("f", [largest_in_a_loop, local_named_len, local_named_reserve])
def test_names_of_builtins_and_helpers_are_not_hidden(f):
    args = (0.7, _A)
    check_grad(f, args, 0, compile=False)
    product = sourcead.hvp(f, args, (1.0, None), compile=False)
    gradient = sourcead.grad(f, compile=False)
    expected = (gradient(0.7 + 1e-5, _A) - gradient(0.7 - 1e-5, _A)) / 2e-5
    assert product == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------- rounding has no derivative


def snapped_to_a_grid(x):
    k = np.rint(x * 2.0)
    m = np.round(x[0] * 3.0)
    return np.sum((x - 0.5 * k) ** 2) + m * x[1] + np.sum(np.around(x, 1) * x)


def test_rounding_functions_carry_no_derivative(compile_mode):
    check_grad(snapped_to_a_grid, (np.array([0.3, 1.7, -0.42]),), 0, compile_mode)


# ------------------------------- two names for one array, one of which adds to it in place


def matrix_added_to_through_another_name(x):
    u = x * 2.0
    w = u
    w += 1.0  # changes u too, in NumPy; once written w = w + 1.0 it would not
    return np.sum(w * u)


def test_an_alias_changed_in_place_is_refused():
    # it was accepted for matrices (not fused into element loops) and differentiated as if
    # w were a copy: a wrong gradient
    with pytest.raises(sourcead.SourceADError, match="two names for one array") as error:
        sourcead.grad(matrix_added_to_through_another_name, compile=False)(np.ones((2, 2)))
    assert error.value.lineno == matrix_added_to_through_another_name.__code__.co_firstlineno + 2


# ---------------------------------------------- np.cross of 2-vectors, np.array of a number


def cross_squared(a, b):
    return np.sum(np.cross(a, b) ** 2)


@pytest.mark.parametrize("compile", [False, True], ids=["python", "compiled"])
def test_the_cross_product_of_2_vectors_is_refused_at_the_call(compile):
    # NumPy 2.0 deprecated it (the product is a number): the adjoint read a 0-d result as
    # a vector and failed with NumPy's own message, "At least one array has zero dimension"
    with pytest.raises(ValueError, match="3-vectors along the last axis"):
        sourcead.grad(cross_squared, compile=compile)(np.ones(2), np.ones(2))
    check_grad(cross_squared, (np.array([1.0, 2.0, 0.5]), np.array([0.3, -1.0, 2.0])), 1, compile)


def array_of_a_number(x):
    return np.sum(np.array(3.0) * x)


def test_an_array_of_a_number_is_refused_with_what_to_write():
    with pytest.raises(sourcead.SourceADError, match="no 0-d arrays .*use the number itself"):
        sourcead.grad(array_of_a_number, compile=False)(np.ones(2))


# ------------------------------------------- linear algebra of stacks of matrices (3-d arrays)


def det_of_stack(x, w):
    return np.sum(np.linalg.det(x) * w)


def inv_of_stack(x, w):
    return np.sum(np.linalg.inv(x)[:, 0, 0] * w)


def solve_of_stack(x, w):
    return np.sum(np.linalg.solve(x, x)[:, 0, 0] * w)


def slogdet_of_stack(x, w):
    return np.sum(np.linalg.slogdet(x)[1] * w)


def eigh_of_stack(x, w):
    return np.sum(np.linalg.eigh(x + np.swapaxes(x, 1, 2))[0][:, 0] * w)


def qr_of_stack(x, w):
    return np.sum(np.linalg.qr(x)[1][:, 0, 0] * w)


@pytest.mark.parametrize(
    "f, what",
    [
        (det_of_stack, "np.linalg.det"),  # was differentiated as one matrix: wrong
        (inv_of_stack, "np.linalg.inv"),
        (solve_of_stack, "np.linalg.solve"),
        (slogdet_of_stack, "np.linalg.slogdet"),
        (eigh_of_stack, "np.linalg.eigh"),
        (qr_of_stack, "np.linalg.qr"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_linear_algebra_of_a_stack_of_matrices_is_refused(f, what):
    args = (np.eye(3) + np.zeros((2, 3, 3)), np.ones(2))
    for derivative in (
        lambda: sourcead.grad(f, compile=False)(*args),
        lambda: sourcead.jvp(f, args, (np.ones((2, 3, 3)), None), compile=False),
    ):
        with pytest.raises(sourcead.SourceADError, match=f"{what} of a 3-d array") as error:
            derivative()
        assert error.value.lineno == f.__code__.co_firstlineno + 1


# ------------------------------------- an alias written through, in forward mode too


def written_through_an_alias(v):
    w = v
    w[0] = 2.0 * w[0]  # changes v, the caller's array, in NumPy
    return np.sum(v * w)


def test_an_alias_written_through_is_refused_in_forward_mode():
    # jvp accepted it, and its generated code wrote into the caller's array
    v = np.array([0.7, -0.3, 0.4])
    with pytest.raises(sourcead.SourceADError, match="two names for one array") as error:
        sourcead.jvp(written_through_an_alias, (v,), (np.ones(3),), compile=False)
    assert error.value.lineno == written_through_an_alias.__code__.co_firstlineno + 1
    np.testing.assert_array_equal(v, [0.7, -0.3, 0.4])


# ------------------------------- a function of yours named as a helper of generated code


def mean_along(x, axis):  # the name of the runtime's helper that x.mean(axis=1) calls
    return np.sum(x[1:-1], axis=0) / (x.shape[0] - 2)


def calls_a_helper_named_as_the_runtimes(u):
    return np.sum(mean_along(u, 0) ** 2) + np.sum(u.mean(axis=1) ** 2)


def test_a_function_named_as_a_runtime_helper_is_refused():
    # it replaced the helper in the generated module: a wrong value and gradient
    with pytest.raises(sourcead.SourceADError, match="sourcead_runtime.mean_along") as error:
        sourcead.grad(calls_a_helper_named_as_the_runtimes, compile=False)(np.ones((3, 4)))
    assert error.value.lineno == mean_along.__code__.co_firstlineno
