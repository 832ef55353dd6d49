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


# ---------------------------------------------- operands of two dtypes in products and solves


def float64_matrix_times_float32(x):
    m = np.eye(x.shape[0]) + 0.1  # float64, as NumPy makes it
    return np.sum((m @ x) ** 2) + np.sum(np.dot(x, m) * x)


def complex128_solve_of_complex64(theta, h, psi):
    a = np.eye(h.shape[0]) + 0.05j * theta[0] * h  # complex128
    return np.sum(np.abs(np.linalg.solve(a, psi)) ** 2)


@pytest.mark.slow  # compiles: Numba's @ and solve refused the two dtypes
def test_operands_of_two_dtypes_are_promoted_compiled():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    gradient = sourcead.grad(float64_matrix_times_float32)(x)
    expected = sourcead.grad(float64_matrix_times_float32, compile=False)(x.astype(np.float64))
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)
    tangent = sourcead.jvp(float64_matrix_times_float32, (x,), (np.ones(3, np.float32),))[1]
    np.testing.assert_allclose(tangent, expected.sum(), rtol=1e-5)
    h = (np.eye(3) + 0.5).astype(np.complex64)
    psi = np.array([1.0, 0.5j, -0.25], np.complex64)
    theta = np.array([0.3], np.float32)
    compiled = sourcead.grad(complex128_solve_of_complex64)(theta, h, psi)
    python = sourcead.grad(complex128_solve_of_complex64, compile=False)(theta, h, psi)
    np.testing.assert_allclose(compiled, python, rtol=1e-5)


def test_a_product_of_two_dtypes_is_cast_in_the_generated_code():
    gradient = sourcead.grad(float64_matrix_times_float32, compile=False)
    gradient(np.ones(3, np.float32))
    assert "cast_as(x, 'float64')" in gradient.source


# ------------------------------------------------------------ forms NumPy users write


def numpy_forms(x, y):
    m = np.zeros((2, 2), dtype=complex)  # Python's complex as a dtype
    m[0, 1] = x[1] * 1j
    m[1, 0] = -x[1] * 1j
    m[0, 0] = x[0]
    clipped = np.clip(x, a_min=0.1, a_max=1.1)  # NumPy's keywords for positional parameters
    total = sum([x, y * 2.0, x * y])  # builtin sum of arrays written out
    return np.sum(np.abs(m @ np.ones(2)) ** 2) + np.sum(clipped**2) + np.sum(total**2)


def test_forms_numpy_users_write(compile_mode):
    args = (np.array([0.3, 0.7]), np.array([1.1, -0.4]))
    check_grad(numpy_forms, args, (0, 1), compile_mode)


def dict_argument(d):
    return d["i"] * 2.0


def test_a_string_index_is_refused_with_what_to_do():
    with pytest.raises(sourcead.SourceADError, match="indexing with the string 'i'"):
        sourcead.grad(dict_argument, compile=False)({"i": 1.0})


def tanh_of_array(x):
    return np.tanh(x)


def test_the_tangent_of_a_float32_array_is_float32(compile_mode):
    x = np.ones(3, np.float32)
    value, tangent = sourcead.jvp(tanh_of_array, (x,), (x,), compile=compile_mode)
    assert value.dtype == np.float32 and tangent.dtype == np.float32


# ------------------------------------------------ the sign of slogdet of a complex matrix


def phase_of_determinant(a):
    sign, logdet = np.linalg.slogdet(a)
    return np.real(sign) + 2.0 * np.imag(sign) + logdet


def test_the_sign_of_a_complex_slogdet_has_a_derivative(compile_mode):
    # sign = exp(i Im log det a) was given no derivative: right for real matrices only
    rng = np.random.default_rng(0)
    a = 2.0 * np.eye(3) + 0.3 * (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))
    v = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    h = 1e-6
    expected = (phase_of_determinant(a + h * v) - phase_of_determinant(a - h * v)) / (2 * h)
    gradient = sourcead.grad(phase_of_determinant, compile=compile_mode)(a)
    assert np.real(np.sum(gradient * v)) == pytest.approx(expected, rel=1e-6)
    tangent = sourcead.jvp(phase_of_determinant, (a,), (v,), compile=compile_mode)[1]
    assert tangent == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------- a range that reads its loop's variable


def range_from_its_variable(x):
    i = 9
    s = 0.0
    for i in range(i, 0, -3):  # noqa: B020 (i = 9, 6, 3)
        s = s + i * x
    return s


def range_to_its_variable(x):
    i = 3
    s = 0.0
    for i in range(0, i * 3):  # noqa: B020
        s = s + i * x * x
    return s


def range_from_an_earlier_loop(x):
    s = 0.0
    for i in range(4):  # noqa: B007 (read after the loop)
        s = s + x
    for i in range(i, 10):  # noqa: B020 (from 3, the earlier loop's last i)
        s = s + i * x
    return s


@pytest.mark.parametrize(
    "f", [range_from_its_variable, range_to_its_variable, range_from_an_earlier_loop]
)
def test_a_range_that_reads_its_loop_variable(f, compile_mode):
    # the backward sweep read the bounds again after the loop had changed the variable:
    # gradients 3, 717.6 and 13 instead of 18, 93.6 and 46
    check_grad(f, (1.3,), 0, compile_mode)


# -------------------------------------------------- a number's name reused as a loop counter


def parameter_reused_as_counter(x, a):
    s = x * x
    for x in range(3):  # the parameter's value is gone: x is 0, 1, 2
        s = s + a * x
    return s


def local_reused_as_counter(x, a):
    y = x * 1.0
    s = y * y
    for y in range(3):
        s = s + a * y
    return s + a


@pytest.mark.parametrize("f", [parameter_reused_as_counter, local_reused_as_counter])
def test_a_number_reused_as_a_loop_counter(f, compile_mode):
    # derivatives flowed through the integers into the parameter (grad 5.7 for 2.6)
    check_grad(f, (1.3, 0.7), (0, 1), compile_mode)


def counter_of_a_float_in_a_loop(x, a):
    s = 0.0
    for _k in range(2):
        x = x * 1.1
        for x in range(3):
            s = s + a * x
    return s


def counter_read_after_the_loop(x, n):
    s = x * x
    for x in range(n):
        s = s + x
    return s + x  # the parameter after a loop of no steps, its last integer otherwise


@pytest.mark.parametrize("f", [counter_of_a_float_in_a_loop, counter_read_after_the_loop])
def test_a_float_reused_as_a_counter_of_two_types_is_refused(f):
    with pytest.raises(sourcead.SourceADError, match="the loop variable x also holds"):
        sourcead.grad(f, compile=False)(1.3, 2)


# ------------------------------------ reductions and builtins of sequences written out


def reductions_of_written_out_numbers(y):
    total = np.sum((y, 2.0 * y)) + np.max([y, 0.1]) + np.mean((y, y * y))
    return total + np.max(np.array((y, 0.1))) * np.min((y, 3.0))


def builtins_of_written_out_numbers(y):
    t: float = min([y, 5.0]) * max((y, 0.1, -1.0))  # annotated, as a person may write it
    return t + pow(y, 3) + pow(2.0, y)


@pytest.mark.parametrize("f", [reductions_of_written_out_numbers, builtins_of_written_out_numbers])
def test_sequences_of_numbers_written_out(f, compile_mode):
    # np.sum((y, 2 * y)) had a zero gradient; min([y, 5.0]) a zero tangent; the adjoint of
    # np.max(np.array((y, 0.1))) indexed the last factor of an expression (IndexError)
    check_grad(f, (0.7,), 0, compile_mode)
    tangent = sourcead.jvp(f, (0.7,), (1.0,), compile=compile_mode)[1]
    assert tangent == pytest.approx(sourcead.grad(f, compile=False)(0.7), rel=1e-12)


def test_has_aux_takes_a_bool():
    with pytest.raises(TypeError, match="has_aux= takes True or False"):
        sourcead.grad(reductions_of_written_out_numbers, has_aux="yes")


# ------------------------------------ generated names that Numba's versions do not repeat


def log_determinants_in_a_loop(a, scales):
    s = 0.0
    for i in range(scales.shape[0]):
        sign, logdet = np.linalg.slogdet(a * scales[i] + np.eye(a.shape[0]) * 3.0)
        s += logdet
    return s


@pytest.mark.slow  # compiles
def test_names_of_temporaries_are_not_numbas_versions():
    # product and product_1 in one fused expression: Numba names a version of product
    # product.1 and writes it product_1 there: "AssertionError: 'product_1_1' not unique"
    a = np.random.default_rng(2).standard_normal((3, 3))
    check_grad(log_determinants_in_a_loop, (a, np.array([0.5, 1.0, 1.5])), 0, True)


# ------------------------------------ tuple assignments to array elements


def sorted_by_swaps(x):
    b = x * 1.0
    for _ in range(b.shape[0]):
        for i in range(b.shape[0] - 1):
            if b[i] > b[i + 1]:
                b[i], b[i + 1] = b[i + 1], b[i]
    return np.sum(b * np.arange(1.0, b.shape[0] + 1.0))


def index_assigned_before_its_element(x):
    b = x * 2.0
    i = 0
    i, b[i] = 2, b[1] * b[0]  # b[2] is written: Python assigns i first
    b[0], t = 3.0, b[2]
    return np.sum(b) * t


@pytest.mark.parametrize("f", [sorted_by_swaps, index_assigned_before_its_element])
def test_tuple_assignments_to_elements(f, compile_mode):
    x = np.array([3.0, 1.0, 2.5, 0.5])
    check_grad(f, (x,), 0, compile_mode)
    direction = np.array([0.3, -1.0, 0.5, 2.0])
    tangent = sourcead.jvp(f, (x,), (direction,), compile=compile_mode)[1]
    assert tangent == pytest.approx(sourcead.grad(f, compile=False)(x) @ direction, rel=1e-12)


def elements_unpacked_from_a_call(x):
    b = x * 1.0
    b[0], b[1] = np.linalg.slogdet(np.outer(x, x) + np.eye(2))
    return np.sum(b)


def test_elements_unpacked_from_a_call_are_refused_at_the_line():
    with pytest.raises(sourcead.SourceADError, match="with a tuple of values written out"):
        sourcead.grad(elements_unpacked_from_a_call, compile=False)(np.ones(2))


# ------------------------------------ views: names for some of an array's elements

SWAP_WEIGHTS = np.arange(12.0).reshape(4, 3)


def row_read_after_its_matrix_changes(m):
    a = m * 1.0
    t = a[0]  # a view: a[0] = a[2] below changes it
    a[0] = a[2]
    a[2] = t
    return np.sum(a * SWAP_WEIGHTS)


def slice_read_after_its_array_changes(x):
    b = x * 1.0
    t = b[0:2]
    b[0:2] = b[2:4]
    b[2:4] = t
    return np.sum(b * np.arange(4.0))


def transpose_read_after_a_write(m):
    a = m * 1.0
    t = a.T
    a[0, 1] = 5.0
    return np.sum(t * t)


def row_written_through(m):
    a = m * 1.0
    row = a[1]
    row[0] = 0.0  # changes a
    return np.sum(a * SWAP_WEIGHTS)


def rows_swapped_as_a_tuple(m):
    a = m * 1.0
    a[0], a[2] = a[2], a[0]  # NumPy: row 2 twice (the second value is a view of row 0)
    return np.sum(a * SWAP_WEIGHTS)


def row_changed_by_an_augmented_assignment(m):
    a = m * 1.0
    row = a[1]
    row -= 0.5 * a[0]  # NumPy changes a[1]
    return np.sum(a * SWAP_WEIGHTS)


def view_bound_before_the_loop_that_writes(m):
    w = m[0] * 1.0
    left = w[:-1]
    for _ in range(3):
        w[1:] = w[1:] + 0.1 * left  # the next step reads this step's write through left
    return np.sum(w * w)


def squeezed_view_read_after_a_write(m):
    b = m[None, :, :] * 1.0
    s = np.squeeze(b, axis=0)
    b[0, 0, 0] = 3.0
    return np.sum(s * s)


def first_row_of(a):
    return a[0]


def helper_view_read_after_a_write(m):
    b = m * 1.0
    r = first_row_of(b)
    b[0, 0] = 3.0
    return np.sum(r * m[1])


@pytest.mark.parametrize(
    "f, message",
    [
        (row_read_after_its_matrix_changes, "t = a\\[0\\] is a view of a's elements"),
        (slice_read_after_its_array_changes, "t = b\\[0:2\\] is a view of b's elements"),
        (transpose_read_after_a_write, "is a view of a's elements"),
        (row_written_through, "row is written at line"),
        (rows_swapped_as_a_tuple, "a\\[0\\], a\\[2\\] = a\\[2\\], a\\[0\\] assigns views of a"),
        (row_changed_by_an_augmented_assignment, "row is written at line"),
        (view_bound_before_the_loop_that_writes, "left = w\\[:-1\\] is a view of w's"),
        (squeezed_view_read_after_a_write, "s is a view of b's elements"),
        (helper_view_read_after_a_write, "r is a view of b's elements"),
    ],
)
def test_a_view_that_changes_under_its_name_is_refused(f, message):
    # the generators take the view for the numbers it held when bound: a silently wrong
    # gradient (a row swap through a view: 8 off)
    x = np.random.default_rng(3).normal(size=(4, 3))
    if f is slice_read_after_its_array_changes:
        x = np.array([0.3, -1.2, 0.8, 2.0])
    with pytest.raises(sourcead.SourceADError, match=message) as error:
        sourcead.grad(f, compile=False)(x)
    assert error.value.filename.endswith("test_regressions.py")
    with pytest.raises(sourcead.SourceADError, match=message):
        sourcead.jvp(f, (x,), (np.ones_like(x),), compile=False)


def stencil_of_views(u0, c):
    u = u0.copy()
    for _ in range(5):
        left = u[:-2]  # views read before the write, not after it
        right = u[2:]
        u[1:-1] = u[1:-1] + c * (left - 2.0 * u[1:-1] + right)
    return np.sum(u * u)


def rows_swapped_through_copies(m):
    a = m * 1.0
    t = a[0, :].copy()
    a[0, :] = a[2, :]
    a[2, :] = t
    a[1], a[3] = a[3].copy(), a[1].copy()
    return np.sum(a * SWAP_WEIGHTS)


def leapfrog_rotation(u0, c):
    u_prev = u0.copy()
    u = u0.copy()
    for _ in range(6):
        u_next = np.zeros_like(u)
        u_next[1:-1] = 2.0 * u[1:-1] - u_prev[1:-1] + c * (u[2:] - 2.0 * u[1:-1] + u[:-2])
        u_prev, u = u, u_next  # u_next is new each step: no write is seen through u
    return np.sum(u * u)


@pytest.mark.parametrize("f", [stencil_of_views, leapfrog_rotation])
def test_views_and_rotations_of_fresh_arrays(f, compile_mode):
    u0 = np.linspace(0.0, 1.0, 7) ** 2
    check_grad(f, (u0, 0.3), (0, 1), compile_mode)


def view_bound_in_a_branch(u):
    w = u.copy()
    if u[0] > 0.0:
        v = w[1:]
    else:
        v = w[:-1]
    s = np.sum(v**2)  # read before the write
    w[3] = 2.0
    return s + np.sum(w * u)


def column_of(a, k):
    return a[:, k]


def columns_of_a_helper_read_before_writes(m):
    b = m * 1.0
    s = 0.0
    for k in range(b.shape[1]):
        c = column_of(b, k)  # a view of b: read before b[:, k] changes
        s += np.sum(c**2)
        b[:, k] = c * 0.5
    return s + np.sum(b * b)


def flattened_copy(m):
    b = m * 1.0
    t = b.flatten()  # a copy in NumPy (np.ravel's view would not be)
    b[0, 0] = 3.0
    return np.sum(t * t) * np.sum(b)


@pytest.mark.parametrize(
    "f", [view_bound_in_a_branch, columns_of_a_helper_read_before_writes, flattened_copy]
)
def test_views_read_before_their_arrays_change(f):
    x = np.random.default_rng(5).uniform(0.5, 1.5, (3, 4))
    if f is view_bound_in_a_branch:
        x = np.array([1.0, 1.1, 1.2, 1.3, 1.4])
    check_grad(f, (x,), 0, False)


def swapped_with_a_work_array(u):
    v = np.zeros_like(u)
    for _ in range(3):
        v[0] = u[0]
        v[-1] = u[-1]
        v[1:-1] = 0.5 * (u[:-2] + u[2:]) * u[1:-1]
        u, v = v, u  # then v is the caller's array, and the next step writes into it
    return np.sum(u**2)


def test_jvp_through_a_swap_leaves_the_argument_alone():
    x = np.linspace(0.5, 1.5, 6)
    before = x.copy()
    _, tangent = sourcead.jvp(swapped_with_a_work_array, (x,), (np.ones(6),), compile=False)
    np.testing.assert_array_equal(x, before)
    gradient = sourcead.grad(swapped_with_a_work_array, compile=False)(x)
    assert tangent == pytest.approx(np.sum(gradient), rel=1e-12)


def test_copies_of_rows_swap_them(compile_mode):
    m = np.random.default_rng(4).normal(size=(4, 3))
    check_grad(rows_swapped_through_copies, (m,), 0, compile_mode)


# ------------------------------------ vector forward mode through calls


def summed_rows_squared(z):
    return np.sum(np.sum(z, axis=1) ** 2)


def called_with_an_array_expression(w, c):
    return summed_rows_squared(w[:, None] * c)


def test_vector_tangent_of_an_array_expression_passed_to_a_call():
    # the tangent of w[:, None] * c was made a vector of one number per direction
    # (ValueError: setting an array element with a sequence)
    w = np.array([0.3, -0.7, 1.1, 0.5])
    c = np.array([[0.5, 1.5], [2.0, -1.0], [0.3, 0.3], [1.0, 2.0]])
    forward = sourcead.jacobian(
        called_with_an_array_expression, wrt=(0, 1), mode="forward", compile=False
    )
    reverse = sourcead.grad(called_with_an_array_expression, wrt=(0, 1), compile=False)
    for by_columns, by_rows in zip(forward(w, c), reverse(w, c), strict=True):
        np.testing.assert_allclose(by_columns, by_rows, rtol=1e-12)


# ------------------------------------ operators of integers and booleans


def lennard_jones_inside_a_shell(x, rc):
    r = np.abs(x)
    inside = (r < rc) & (r > 0.1)  # masks combined
    outside = ~inside
    either = inside | (r > 10.0)
    energy = np.where(inside, 4.0 * (r**-12 - r**-6), 0.0)
    return (
        np.sum(energy)
        + np.sum(np.where(outside, r, 0.0))
        + np.sum(np.where(either ^ inside, r * r, 0.0))
    )


def spin_states_by_bits(x, n):
    total = 0.0
    for state in range(1 << n):  # the reversed loop runs range((1 << n) - 1, -1, -1)
        energy = 0.0
        for k in range(n):
            spin = 1.0 if (state >> k) & 1 else -1.0
            energy += spin * x[k]
        total += np.exp(-energy)
    return np.log(total)


@pytest.mark.parametrize("f", [lennard_jones_inside_a_shell, spin_states_by_bits])
def test_operators_of_integers_and_masks(f, compile_mode):
    x = np.array([0.9, 1.3, 2.5, 0.05, 12.0])
    other = 2.0 if f is lennard_jones_inside_a_shell else 5
    check_grad(f, (x, other), 0, compile_mode)
    direction = np.array([0.3, -1.0, 0.5, 2.0, 0.1])
    tangent = sourcead.jvp(f, (x, other), (direction, None), compile=compile_mode)[1]
    gradient = sourcead.grad(f, compile=False)(x, other)
    assert tangent == pytest.approx(gradient @ direction, rel=1e-10)


def bits_of_a_float(x):
    return x & 1


def test_operators_of_integers_refuse_floats():
    with pytest.raises(sourcead.SourceADError, match="the operator & of a float"):
        sourcead.grad(bits_of_a_float, compile=False)(1.5)


def float32_relaxation(x):
    y = x
    for _ in range(4):
        y = y * 0.9 + 0.1 * np.sin(y)  # Python numbers keep float32 (Numba's would not)
    return np.sum(y**2)


@pytest.mark.slow  # compiles
def test_float32_arrays_keep_their_dtype_with_python_numbers_compiled():
    x = np.linspace(-0.5, 0.5, 6).astype(np.float32)
    value, gradient = sourcead.value_and_grad(float32_relaxation)(x)
    expected = sourcead.grad(float32_relaxation, compile=False)(x)
    assert gradient.dtype == np.float32
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)


# ------------------------------------ calls as NumPy users write them


def amplitude_from_a_positional_dtype(theta):
    psi0 = np.ones(3, np.complex128) / np.sqrt(3.0)  # the dtype by position
    start = np.zeros(3, complex)
    start[0] = 1.0
    psi = np.exp(-1j * theta[0] * np.arange(3.0)) * (psi0 + start * theta[1])
    return np.abs(psi[2] + psi[0] * theta[1]) ** 2


def test_constructors_take_the_dtype_by_position():
    check_grad(amplitude_from_a_positional_dtype, (np.array([0.7, 0.3]),), 0, False)


def scaled_power(x, p=3.0, scale=2.0):
    return scale * np.sum(x**p)


def test_jvp_and_hvp_of_a_function_with_defaults_take_the_given_tangents():
    # as JAX's jvp: the tangents of the arguments given; the defaults have none
    x = np.array([0.5, 1.5, 2.0])
    v = np.array([1.0, -1.0, 0.5])
    _, tangent = sourcead.jvp(scaled_power, (x,), (v,), compile=False)
    assert tangent == pytest.approx(np.sum(6.0 * x**2 * v), rel=1e-12)
    product = sourcead.hvp(scaled_power, (x,), (v,), compile=False)
    np.testing.assert_allclose(product, 12.0 * x * v, rtol=1e-12)


def masks_of_logical_functions(x, rc):
    r = np.abs(x)
    inside = np.logical_and(r < rc, r > 0.1)
    energy = np.where(np.logical_not(inside), r, r * r)
    total = 0.0
    for i in range(x.shape[0]):
        if np.logical_or(x[i] > 1.0, x[i] < 0.0):
            total += x[i] ** 3
    return np.sum(energy) + total + np.sum(np.where(np.logical_xor(inside, r > 1.0), r, 0.0))


def test_logical_functions_make_masks(compile_mode):
    x = np.array([0.9, 1.3, -2.5, 0.05, 12.0])
    check_grad(masks_of_logical_functions, (x, 2.0), 0, compile_mode)


# ------------------------------------ masks kept in names inside loops


def masked_updates_in_a_loop(u0, c, n):
    u = u0.copy()
    for _ in range(n):
        m = (u > 0.0) & ~(u > 1.0)  # a mask rebound each step: pushed on a tape
        u = np.where(m, u * c, u + 0.1 * c)
    return np.sum(u * u)


def masked_writes_in_a_loop(u0, c, n):
    u = u0.copy()
    for _ in range(n):
        m = u > 0.0
        u[m] = u[m] * c
    return np.sum(u * u)


@pytest.mark.parametrize("f", [masked_updates_in_a_loop, masked_writes_in_a_loop])
def test_a_mask_rebound_in_a_loop(f, compile_mode):
    # its tape of booleans held the shapes pushed after it (5 read back as True): a wrong
    # gradient on the false branch, an IndexError through u[m], "Unknown attribute 'real'"
    u = np.array([-0.5, 0.3, 0.7, 1.4, 0.2])
    check_grad(f, (u, 0.9, 3), (0, 1), compile_mode)
    product = sourcead.hvp(f, (u, 0.9, 3), (np.ones(5), 0.0, None), compile=False)
    gradient = lambda v: sourcead.grad(f, wrt=0, compile=False)(v, 0.9, 3)  # noqa: E731
    h = 1e-6
    expected = (gradient(u + h) - gradient(u - h)) / (2.0 * h)
    np.testing.assert_allclose(product[0], expected, rtol=1e-6, atol=1e-6)


def lowest_level(potential):
    w, v = np.linalg.eigh(np.diag(potential) + np.eye(3, k=1) + np.eye(3, k=-1))
    return w[0] + np.sum(v[:, 0] ** 4)


def test_hvp_through_eigh():
    x = np.array([0.3, -0.4, 1.1])
    t = np.array([1.0, 0.5, -0.2])
    product = sourcead.hvp(lowest_level, (x,), (t,), compile=False)
    gradient = sourcead.grad(lowest_level, compile=False)
    h = 1e-6
    expected = (gradient(x + h * t) - gradient(x - h * t)) / (2.0 * h)
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-8)


def counter_of_a_constant_range_read_after(x, a):
    s = x * x
    for x in range(3):  # always runs: x is the counter's last value after it
        s = s + a * x
    return s + x


def test_a_counter_of_a_loop_that_always_runs_may_be_read_after_it(compile_mode):
    check_grad(counter_of_a_constant_range_read_after, (1.3, 0.7), (0, 1), compile_mode)


def eliminated_below_a_pivot_row(a):
    b = a.copy()
    n = b.shape[0]
    for k in range(n - 1):
        pivot = b[k]  # a view of row k; only the rows below it change
        for i in range(k + 1, n):
            b[i] = b[i] - (b[i, k] / pivot[k]) * pivot
    return np.sum(np.diag(b) ** 2)


def pivot_row_scaled_in_place(a):
    b = a.copy()
    pivot = b[0]
    for i in range(0, 2):  # writes row 0 itself: the view sees it
        b[i] = b[i] * 0.5
    return np.sum(pivot * a[1])


def test_a_view_of_a_row_other_rows_change(compile_mode):
    a = np.random.default_rng(4).uniform(-0.5, 0.5, (4, 4)) + 4.0 * np.eye(4)
    check_grad(eliminated_below_a_pivot_row, (a,), 0, compile_mode)
    with pytest.raises(sourcead.SourceADError, match="pivot = b\\[0\\] is a view of b's"):
        sourcead.grad(pivot_row_scaled_in_place, compile=False)(a)
