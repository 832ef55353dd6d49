"""Scalar arithmetic, builtins and elementary functions (math.* and np.* on scalars)."""

import math

import numpy as np
import pytest
from helpers import case, run_case

# --------------------------------------------------------------- arithmetic


def add_sub(x, y):
    return x + y + x - (y - 2.0) - y


def mul_div(x, y):
    return x * y * x + x / y / y + 2.0 / x


def neg(x, y):
    return -x * y + -(x * x)


def floordiv(x, y):
    q = x // y
    return q * x + y + (x // 2) * y


def mod(x, y):
    return (x % y) * x + y


def pow_float_exponents(a, b, c, d):
    return a**b + c**2.5 + 2.0**d


def pow_int_exponents(a, b, c, d):
    # negative bases: a rule using log(base) would produce NaN here
    return a**3 + b**-2 + c**0 + d**2.0


def pow_int_arg(x, n):
    return x**n


def abs_(x, y):
    return abs(x) * 3.0 + abs(y)


def min_max(x, y):
    return min(x, y) * 2.0 + max(x, y)


def min_max_const(x, y):
    return max(x, 0.0) + min(y, 1.0) * y + min(x, -1.0) + max(y, 0.5) * x


def rational(x, y):
    return (x * x - 3.0 * x * y + y**3) / (1.0 + x * x)


def int_values(x, n):
    k = n * 2 + 1
    m = k // 2 - n % 2
    r = n / 4
    return x * k + m * x * x + r * x + n


def unused_argument(x, y):
    return y * y + 1.0


def constant_result(x):
    return 3.0


ARITH_CASES = [
    case(add_sub, 1.3, 0.7, wrt=(0, 1), expected=(2.0, -1.0)),
    case(
        mul_div,
        1.3,
        0.7,
        wrt=(0, 1),
        expected=lambda x, y: (2 * x * y + 1 / y**2 - 2 / x**2, x * x - 2 * x / y**3),
    ),
    case(neg, 1.3, 0.7, wrt=(0, 1), expected=lambda x, y: (-y - 2 * x, -x)),
    case(floordiv, 7.3, 2.1, wrt=(0, 1), expected=(3.0, 4.0)),
    case(mod, 7.3, 2.1, wrt=(0, 1), expected=lambda x, y: (x % y + x, 1.0 - 3.0 * x)),
    case(
        mod, -7.3, 2.1, wrt=(0, 1), expected=lambda x, y: (x % y + x, 1.0 + 4.0 * x), id="mod-neg"
    ),
    case(
        pow_float_exponents,
        1.7,
        2.3,
        1.4,
        0.6,
        wrt=(0, 1, 2, 3),
        expected=lambda a, b, c, d: (
            b * a ** (b - 1),
            a**b * math.log(a),
            2.5 * c**1.5,
            math.log(2.0) * 2.0**d,
        ),
    ),
    case(
        pow_int_exponents,
        -1.5,
        -1.3,
        -1.3,
        -1.5,
        wrt=(0, 1, 2, 3),
        expected=lambda a, b, c, d: (3 * a * a, -2 * b**-3, 0.0, 2 * d),
    ),
    case(pow_int_arg, -1.2, 3, expected=lambda x, n: n * x ** (n - 1)),
    case(abs_, -1.3, 0.4, wrt=(0, 1), expected=(-3.0, 1.0)),
    case(min_max, 0.5, 1.5, wrt=(0, 1), expected=(2.0, 1.0), id="min_max-x<y"),
    case(min_max, 1.5, 0.5, wrt=(0, 1), expected=(1.0, 2.0), id="min_max-x>y"),
    case(min_max_const, 0.4, -0.4, wrt=(0, 1), expected=(1.5, -0.8)),
    case(rational, 0.8, -1.1, wrt=(0, 1)),
    case(int_values, 1.3, 3, expected=lambda x, n: 7 + 2 * 2 * x + 0.75),
    case(unused_argument, 1.3, 0.7, wrt=(0, 1), expected=(0.0, 1.4)),
    case(constant_result, 1.3, expected=0.0),
]


@pytest.mark.parametrize("f, args, wrt, opts", ARITH_CASES)
def test_arithmetic(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------------------------ math.*
# Each function gets its own argument, so a wrong rule shows up as a wrong
# component of the gradient tuple (the assertion message names the index).
# Every term is scaled so that a rule ignoring the incoming adjoint fails.


def math_trig(a, b, c):
    return 2.0 * math.sin(a) + 3.0 * math.cos(b) - 0.5 * math.tan(c)


def math_inverse_trig(a, b, c):
    return 2.0 * math.asin(a) + 3.0 * math.acos(b) - 0.5 * math.atan(c)


def math_atan2(y, x):
    return 2.0 * math.atan2(y, x)


def math_hyperbolic(a, b, c):
    return 2.0 * math.sinh(a) + 3.0 * math.cosh(b) - 0.5 * math.tanh(c)


def math_inverse_hyperbolic(a, b, c):
    return 2.0 * math.asinh(a) + 3.0 * math.acosh(b) - 0.5 * math.atanh(c)


def math_exp_log(a, b, c, d):
    return 2.0 * math.exp(a) + 3.0 * math.expm1(b) - 0.5 * math.log(c) + 1.5 * math.log1p(d)


def math_log_bases_sqrt(a, b, c):
    return 2.0 * math.log2(a) + 3.0 * math.log10(b) - 0.5 * math.sqrt(c)


def math_hypot(x, y):
    return 2.0 * math.hypot(x, y)


def math_erf_fabs(a, b, c):
    return 2.0 * math.erf(a) + 3.0 * math.erfc(b) - 0.5 * math.fabs(c)


def math_pow(x, y):
    return 2.0 * math.pow(x, y)


_SQRT_PI = math.sqrt(math.pi)

MATH_CASES = [
    case(
        math_trig,
        0.7,
        0.7,
        0.4,
        wrt=(0, 1, 2),
        expected=lambda a, b, c: (2 * math.cos(a), -3 * math.sin(b), -0.5 / math.cos(c) ** 2),
    ),
    case(
        math_inverse_trig,
        0.3,
        -0.4,
        0.8,
        wrt=(0, 1, 2),
        expected=lambda a, b, c: (
            2 / math.sqrt(1 - a * a),
            -3 / math.sqrt(1 - b * b),
            -0.5 / (1 + c * c),
        ),
    ),
    case(
        math_atan2,
        0.7,
        -1.2,
        wrt=(0, 1),
        expected=lambda y, x: (2 * x / (x * x + y * y), -2 * y / (x * x + y * y)),
    ),
    case(
        math_hyperbolic,
        0.9,
        -0.8,
        0.6,
        wrt=(0, 1, 2),
        expected=lambda a, b, c: (2 * math.cosh(a), 3 * math.sinh(b), -0.5 / math.cosh(c) ** 2),
    ),
    case(
        math_inverse_hyperbolic,
        1.3,
        1.7,
        0.4,
        wrt=(0, 1, 2),
        expected=lambda a, b, c: (
            2 / math.sqrt(a * a + 1),
            3 / math.sqrt(b * b - 1),
            -0.5 / (1 - c * c),
        ),
    ),
    case(
        math_exp_log,
        0.8,
        0.3,
        2.5,
        0.5,
        wrt=(0, 1, 2, 3),
        expected=lambda a, b, c, d: (2 * math.exp(a), 3 * math.exp(b), -0.5 / c, 1.5 / (1 + d)),
    ),
    case(
        math_log_bases_sqrt,
        3.0,
        7.0,
        2.2,
        wrt=(0, 1, 2),
        expected=lambda a, b, c: (
            2 / (a * math.log(2)),
            3 / (b * math.log(10)),
            -0.25 / math.sqrt(c),
        ),
    ),
    case(
        math_hypot,
        3.0,
        -4.0,
        wrt=(0, 1),
        expected=lambda x, y: (2 * x / math.hypot(x, y), 2 * y / math.hypot(x, y)),
    ),
    case(
        math_erf_fabs,
        0.6,
        -0.3,
        -1.3,
        wrt=(0, 1, 2),
        expected=lambda a, b, c: (
            4 / _SQRT_PI * math.exp(-a * a),
            -6 / _SQRT_PI * math.exp(-b * b),
            0.5,
        ),
    ),
    case(
        math_pow,
        1.7,
        2.4,
        wrt=(0, 1),
        expected=lambda x, y: (2 * y * x ** (y - 1), 2 * x**y * math.log(x)),
    ),
]


@pytest.mark.parametrize("f, args, wrt, opts", MATH_CASES)
def test_math_functions(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# -------------------------------------------------------- np.* on scalars


def np_trig_hyperbolic(a, b, c, d, e, f):
    return (
        np.sin(a) + 2.0 * np.cos(b) + 3.0 * np.tan(c) + 4.0 * np.sinh(d) + 5.0 * np.cosh(e)
    ) - np.tanh(f)


def np_exp_log(a, b, c, d, e, f):
    return (
        np.exp(a)
        + 2.0 * np.expm1(b)
        + 3.0 * np.log(c)
        + 4.0 * np.log1p(d)
        + (5.0 * np.log2(e) - np.log10(f))
    )


def np_misc(a, b, c, d, e, f):
    return (np.sqrt(a) + 2.0 * np.hypot(b, c) + 3.0 * np.arctan2(c, b)) + (
        4.0 * np.abs(d) - np.fabs(e) + np.power(f, b)
    )


NP_CASES = [
    case(
        np_trig_hyperbolic,
        0.7,
        0.6,
        0.4,
        0.9,
        -0.8,
        0.6,
        wrt=(0, 1, 2, 3, 4, 5),
        expected=lambda a, b, c, d, e, f: (
            math.cos(a),
            -2 * math.sin(b),
            3 / math.cos(c) ** 2,
            4 * math.cosh(d),
            5 * math.sinh(e),
            -1 / math.cosh(f) ** 2,
        ),
    ),
    case(
        np_exp_log,
        0.8,
        0.3,
        2.5,
        0.5,
        3.0,
        7.0,
        wrt=(0, 1, 2, 3, 4, 5),
        expected=lambda a, b, c, d, e, f: (
            math.exp(a),
            2 * math.exp(b),
            3 / c,
            4 / (1 + d),
            5 / (e * math.log(2)),
            -1 / (f * math.log(10)),
        ),
    ),
    case(
        np_misc,
        2.2,
        1.3,
        -0.8,
        -1.1,
        -0.6,
        1.7,
        wrt=(0, 1, 2, 3, 4, 5),
        expected=lambda a, b, c, d, e, f: (
            0.5 / math.sqrt(a),
            2 * b / math.hypot(b, c) - 3 * c / (b * b + c * c) + f**b * math.log(f),
            2 * c / math.hypot(b, c) + 3 * b / (b * b + c * c),
            -4.0,
            1.0,
            b * f ** (b - 1),
        ),
    ),
]


@pytest.mark.parametrize("f, args, wrt, opts", NP_CASES)
def test_numpy_scalar_functions(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ----------------------------------------------------------- composition


def composite(x, y):
    a = math.exp(-x * x) * math.sin(3.0 * y)
    b = math.log(1.0 + x * x + y * y) / math.sqrt(2.0 + math.cos(x * y))
    c = abs(x - y) ** 1.5 + max(x, y) * min(x * y, 0.5)
    return a + b * c - math.tanh(a * b)


def test_composite_expression(compile_mode):
    run_case(composite, (1.2, -0.3), (0, 1), {}, compile_mode)
