"""Where Numba's arithmetic differs from Python's, ``compile=True`` gives Numba's and
``compile=False`` Python's: the behaviour documented in docs/subset.md ("Numba's
semantics")."""

import math

import numpy as np
import pytest

import sourcead


def fifth_power(n, x):
    return x * float(n * n * n * n * n)


def as_int64(value: int) -> int:
    """``value`` wrapped into int64's range, as a 64-bit product overflows."""
    return (value + 2**63) % 2**64 - 2**63


def test_integer_products_wrap_like_int64_when_compiled():
    n = 10**4  # n**5 = 1e20 passes int64's 9.2e18
    wrapped = float(as_int64(n**5))
    assert wrapped == pytest.approx(7.766279631452242e18, rel=1e-15)
    assert sourcead.grad(fifth_power, wrt=1)(n, 1.0) == wrapped
    value, gradient = sourcead.value_and_grad(fifth_power, wrt=1)(n, 2.0)
    assert (value, gradient) == (2.0 * wrapped, wrapped)  # the value wraps too


def test_integer_products_are_exact_with_compile_false():
    n = 10**4
    assert sourcead.grad(fifth_power, wrt=1, compile=False)(n, 1.0) == 1e20
    value, gradient = sourcead.value_and_grad(fifth_power, wrt=1, compile=False)(n, 2.0)
    assert (value, gradient) == (fifth_power(n, 2.0), 1e20)


def test_below_the_int64_limit_both_agree():
    n = 6000  # n**5 = 7.8e18 < 2**63
    expected = float(n**5)
    assert sourcead.grad(fifth_power, wrt=1)(n, 1.0) == expected
    assert sourcead.grad(fifth_power, wrt=1, compile=False)(n, 1.0) == expected


def test_an_int_argument_past_int64_is_refused_when_compiled():
    # Numba's typing refuses it (told at the function); a gradient recorded in the cache, by
    # the conversion
    refused = (sourcead.SourceADError, OverflowError)
    with pytest.raises(refused, match="too large|too big"):
        sourcead.grad(fifth_power, wrt=1)(2**70, 1.0)
    assert sourcead.grad(fifth_power, wrt=1, compile=False)(2**70, 1.0) == float(2**350)


def square_root(x):
    return math.sqrt(x) + x


def root_of_sum(x):
    return np.sum(np.sqrt(x))


def test_division_by_zero_in_a_derivative_gives_inf_when_compiled():
    # the derivative of sqrt at 0 is infinite: inf as NumPy and JAX give, not Numba's
    # ZeroDivisionError (the function itself is defined there)
    assert sourcead.grad(square_root)(0.0) == math.inf
    gradient = sourcead.grad(root_of_sum)(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(gradient, [math.inf, 0.25])
    with np.errstate(divide="ignore"):
        as_python = sourcead.grad(root_of_sum, compile=False)(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(as_python, gradient)
    with pytest.raises(ZeroDivisionError):  # Python's float division, with compile=False
        sourcead.grad(square_root, compile=False)(0.0)


def sum_of_squares(x):
    return np.sum(x * x)


def test_byte_swapped_arrays_are_taken_in_native_order():
    # an array read from a big-endian file: Numba types native arrays only
    x = np.array([0.5, -1.0, 2.0]).astype(">f8")
    for compile in (False, True):
        gradient = sourcead.grad(sum_of_squares, compile=compile)(x)
        np.testing.assert_array_equal(gradient, 2.0 * x.astype(np.float64))
        value, tangent = sourcead.jvp(sum_of_squares, (x,), (x,), compile=compile)
        assert tangent == pytest.approx(2.0 * np.sum(x * x), rel=1e-14)
    assert x.dtype.byteorder == ">"  # the argument is left as it was


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_dtypes_numba_cannot_compile_are_refused_when_compiling(dtype):
    x = np.array([0.5, -1.0, 2.0], dtype=dtype)
    if np.dtype(dtype).name in ("float64",):  # long double is double on some platforms
        pytest.skip("long double is double here")
    with pytest.raises(TypeError, match="which Numba cannot compile"):
        sourcead.grad(sum_of_squares)(x)
    with pytest.raises(TypeError, match="which Numba cannot compile"):
        sourcead.jvp(sum_of_squares, (x,), (x,))
    gradient = sourcead.grad(sum_of_squares, compile=False)(x)  # NumPy computes them
    np.testing.assert_allclose(gradient.astype(np.float64), 2.0 * x.astype(np.float64))


def cholesky_squared(a):
    factor = np.linalg.cholesky(a)
    return np.sum(factor**2)


@pytest.mark.slow  # compiles
def test_a_compile_numba_refuses_is_told_at_the_function():
    # a float32 Cholesky adjoint mixes dtypes in @ (a known gap): Numba's TypingError pointed
    # into generated code; it is a SourceADError at the def, with the way around it
    a = np.random.default_rng(0).uniform(-1, 1, (3, 3))
    a = (a @ a.T + 3.0 * np.eye(3)).astype(np.float32)
    with pytest.raises(sourcead.SourceADError, match="Numba cannot compile the gradient") as error:
        sourcead.grad(cholesky_squared)(a)
    assert "compile=False" in str(error.value)
    assert error.value.lineno == cholesky_squared.__code__.co_firstlineno


def float32_energy(x):
    return np.sum(x**2)


def test_float32_numbers_come_back_as_numpys():
    # compiled code returns a Python float for a float32 number: NumPy (and compile=False)
    # give np.float32
    x = np.linspace(0.1, 0.6, 6).astype(np.float32)
    for compile in (False, True):
        value, gradient = sourcead.value_and_grad(float32_energy, compile=compile)(x)
        _, tangent = sourcead.jvp(float32_energy, (x,), (np.ones(6, np.float32),), compile=compile)
        assert type(value) is np.float32 and type(tangent) is np.float32
        assert gradient.dtype == np.float32
