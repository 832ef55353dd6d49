"""Scalar arithmetic, builtins and elementary functions (math.* and np.* on scalars)."""

import math

import numpy as np
import pytest
from helpers import case, run_case

# --------------------------------------------------------------- arithmetic


def add(x, y):
    return x + y + x


def sub(x, y):
    return x - y - y


def mul(x, y):
    return x * y * x


def div(x, y):
    return x / y / y


def div_const_numerator(x):
    return 2.0 / x


def neg(x, y):
    return -x * y + -(x * x)


def floordiv(x, y):
    q = x // y
    return q * x + y


def floordiv_int_const(x):
    return (x // 2) * x


def mod(x, y):
    return (x % y) * x + y


def pow_float(x, y):
    return x**y


def pow_const_float(x):
    return x**2.5


def pow_int_const_negative_base(x):
    return x**3


def pow_negative_int(x):
    return x**-2


def pow_zero(x):
    return x**0 + x


def pow_int_arg(x, n):
    return x**n


def pow_two_float_negative_base(x):
    return x**2.0


def pow_const_base(y):
    return 2.0**y


def abs_(x):
    return abs(x) * 3.0


def min_max(x, y):
    return min(x, y) * 2.0 + max(x, y)


def min_max_const(x):
    return max(x, 0.0) + min(x, 1.0) * x


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
    case(add, 1.3, 0.7, wrt=(0, 1), expected=(2.0, 1.0)),
    case(sub, 1.3, 0.7, wrt=(0, 1), expected=(1.0, -2.0)),
    case(mul, 1.3, 0.7, wrt=(0, 1), expected=lambda x, y: (2 * x * y, x * x)),
    case(div, 1.3, 0.7, wrt=(0, 1), expected=lambda x, y: (1 / y**2, -2 * x / y**3)),
    case(div_const_numerator, -1.7, expected=lambda x: -2.0 / x**2),
    case(neg, 1.3, 0.7, wrt=(0, 1), expected=lambda x, y: (-y - 2 * x, -x)),
    case(floordiv, 7.3, 2.1, wrt=(0, 1), expected=(3.0, 1.0)),
    case(floordiv_int_const, 5.3, expected=2.0),
    case(mod, 7.3, 2.1, wrt=(0, 1), expected=lambda x, y: (x % y + x, 1.0 - 3.0 * x)),
    case(mod, -7.3, 2.1, wrt=(0, 1), expected=lambda x, y: (x % y + x, 1.0 + 4.0 * x), id="mod-neg"),
    case(mod, 7.3, -2.1, wrt=(0, 1), id="mod-negdivisor"),
    case(
        pow_float,
        1.7,
        2.3,
        wrt=(0, 1),
        expected=lambda x, y: (y * x ** (y - 1), x**y * math.log(x)),
    ),
    case(pow_const_float, 1.7, expected=lambda x: 2.5 * x**1.5),
    case(pow_int_const_negative_base, -1.5, expected=3 * 1.5**2),
    case(pow_negative_int, -1.3, expected=lambda x: -2.0 * x**-3),
    case(pow_zero, -1.3, expected=1.0),
    case(pow_int_arg, -1.2, 3, expected=lambda x, n: n * x ** (n - 1)),
    case(pow_two_float_negative_base, -1.5, expected=-3.0),
    case(pow_const_base, 0.6, expected=lambda y: math.log(2.0) * 2.0**y),
    case(abs_, -1.3, expected=-3.0, id="abs-neg"),
    case(abs_, 1.3, expected=3.0, id="abs-pos"),
    case(min_max, 0.5, 1.5, wrt=(0, 1), expected=(2.0, 1.0), id="min_max-x<y"),
    case(min_max, 1.5, 0.5, wrt=(0, 1), expected=(1.0, 2.0), id="min_max-x>y"),
    case(min_max_const, 0.4, expected=1.8, id="min_max_const-pos"),
    case(min_max_const, -0.4, expected=-0.8, id="min_max_const-neg"),
    case(rational, 0.8, -1.1, wrt=(0, 1)),
    case(int_values, 1.3, 3, expected=lambda x, n: 7 + 2 * 2 * x + 0.75),
    case(unused_argument, 1.3, 0.7, wrt=(0, 1), expected=(0.0, 1.4)),
    case(constant_result, 1.3, expected=0.0),
]


@pytest.mark.parametrize("f, args, wrt, opts", ARITH_CASES)
def test_arithmetic(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------------------------ math.*
# Each function is scaled by 2.0 so that a rule ignoring the incoming adjoint fails.


def m_sin(x):
    return 2.0 * math.sin(x)


def m_cos(x):
    return 2.0 * math.cos(x)


def m_tan(x):
    return 2.0 * math.tan(x)


def m_asin(x):
    return 2.0 * math.asin(x)


def m_acos(x):
    return 2.0 * math.acos(x)


def m_atan(x):
    return 2.0 * math.atan(x)


def m_atan2(y, x):
    return 2.0 * math.atan2(y, x)


def m_sinh(x):
    return 2.0 * math.sinh(x)


def m_cosh(x):
    return 2.0 * math.cosh(x)


def m_tanh(x):
    return 2.0 * math.tanh(x)


def m_asinh(x):
    return 2.0 * math.asinh(x)


def m_acosh(x):
    return 2.0 * math.acosh(x)


def m_atanh(x):
    return 2.0 * math.atanh(x)


def m_exp(x):
    return 2.0 * math.exp(x)


def m_expm1(x):
    return 2.0 * math.expm1(x)


def m_log(x):
    return 2.0 * math.log(x)


def m_log1p(x):
    return 2.0 * math.log1p(x)


def m_log2(x):
    return 2.0 * math.log2(x)


def m_log10(x):
    return 2.0 * math.log10(x)


def m_sqrt(x):
    return 2.0 * math.sqrt(x)


def m_hypot(x, y):
    return 2.0 * math.hypot(x, y)


def m_erf(x):
    return 2.0 * math.erf(x)


def m_erfc(x):
    return 2.0 * math.erfc(x)


def m_pow(x, y):
    return 2.0 * math.pow(x, y)


def m_fabs(x):
    return 2.0 * math.fabs(x)


_SQRT_PI = math.sqrt(math.pi)

MATH_CASES = [
    case(m_sin, 0.7, expected=lambda x: 2 * math.cos(x)),
    case(m_cos, 0.7, expected=lambda x: -2 * math.sin(x)),
    case(m_tan, 0.4, expected=lambda x: 2 / math.cos(x) ** 2),
    case(m_asin, 0.3, expected=lambda x: 2 / math.sqrt(1 - x * x)),
    case(m_acos, 0.3, expected=lambda x: -2 / math.sqrt(1 - x * x)),
    case(m_atan, 0.8, expected=lambda x: 2 / (1 + x * x)),
    case(
        m_atan2,
        0.7,
        -1.2,
        wrt=(0, 1),
        expected=lambda y, x: (2 * x / (x * x + y * y), -2 * y / (x * x + y * y)),
    ),
    case(m_sinh, 0.9, expected=lambda x: 2 * math.cosh(x)),
    case(m_cosh, 0.9, expected=lambda x: 2 * math.sinh(x)),
    case(m_tanh, 0.6, expected=lambda x: 2 / math.cosh(x) ** 2),
    case(m_asinh, 1.3, expected=lambda x: 2 / math.sqrt(x * x + 1)),
    case(m_acosh, 1.7, expected=lambda x: 2 / math.sqrt(x * x - 1)),
    case(m_atanh, 0.4, expected=lambda x: 2 / (1 - x * x)),
    case(m_exp, 0.8, expected=lambda x: 2 * math.exp(x)),
    case(m_expm1, 0.3, expected=lambda x: 2 * math.exp(x)),
    case(m_log, 2.5, expected=lambda x: 2 / x),
    case(m_log1p, 0.5, expected=lambda x: 2 / (1 + x)),
    case(m_log2, 3.0, expected=lambda x: 2 / (x * math.log(2))),
    case(m_log10, 7.0, expected=lambda x: 2 / (x * math.log(10))),
    case(m_sqrt, 2.2, expected=lambda x: 1 / math.sqrt(x)),
    case(
        m_hypot,
        3.0,
        -4.0,
        wrt=(0, 1),
        expected=lambda x, y: (2 * x / math.hypot(x, y), 2 * y / math.hypot(x, y)),
    ),
    case(m_erf, 0.6, expected=lambda x: 4 / _SQRT_PI * math.exp(-x * x)),
    case(m_erfc, 0.6, expected=lambda x: -4 / _SQRT_PI * math.exp(-x * x)),
    case(
        m_pow,
        1.7,
        2.4,
        wrt=(0, 1),
        expected=lambda x, y: (2 * y * x ** (y - 1), 2 * x**y * math.log(x)),
    ),
    case(m_fabs, -1.3, expected=-2.0),
]


@pytest.mark.parametrize("f, args, wrt, opts", MATH_CASES)
def test_math_functions(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# -------------------------------------------------------- np.* on scalars


def np_trig(x):
    return np.sin(x) * np.cos(2.0 * x) + 2.0 * np.tan(0.5 * x)


def np_hyperbolic(x):
    return np.sinh(x) + np.cosh(0.5 * x) * np.tanh(x)


def np_exp_log(x):
    return np.exp(x) - 2.0 * np.expm1(0.5 * x) + np.log(x) * np.log1p(x)


def np_log_bases_sqrt(x):
    return np.log2(x) * np.log10(x) + 3.0 * np.sqrt(x)


def np_two_args(x, y):
    return np.hypot(x, y) + 2.0 * np.arctan2(y, x) + np.power(x, y)


def np_abs_fabs(x, y):
    return np.abs(x) * np.fabs(y) + np.abs(x * y)


NP_CASES = [
    case(
        np_trig,
        0.7,
        expected=lambda x: (
            math.cos(x) * math.cos(2 * x)
            - 2 * math.sin(x) * math.sin(2 * x)
            + 1 / math.cos(0.5 * x) ** 2
        ),
    ),
    case(np_hyperbolic, 0.9),
    case(np_exp_log, 1.4),
    case(np_log_bases_sqrt, 2.6),
    case(np_two_args, 1.3, 0.8, wrt=(0, 1)),
    case(np_abs_fabs, -1.3, 0.8, wrt=(0, 1), expected=(-1.6, 2.6)),
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


@pytest.mark.parametrize("point", [(0.4, 1.1), (1.2, -0.3)], ids=["p0", "p1"])
def test_composite_expression(point, compile_mode):
    run_case(composite, point, (0, 1), {}, compile_mode)
