"""Calls to user-defined Python functions (recursively differentiated) and njit functions."""

import math

import callee_lib
import numba
import numpy as np
import pytest
from callee_lib import Settings, lib_poly, lib_softplus
from helpers import case, run_case

import sourcead

# ------------------------------------------------------------------ callees


def sq(x):
    return x * x


def poly_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s * x + (i + 1.0)
    return s


def polar(x, y):
    r = math.sqrt(x * x + y * y)
    t = math.atan2(y, x)
    return r, t


def scaled_polar(x, y):
    r, t = polar(sq(x), y)
    return 2.0 * r, t * r


def clipped(x):
    if x > 1.0:
        return 1.0 + math.log(x)
    return x


def reassigns_its_argument(x, k):
    x = x * k
    for _ in range(k):
        x = math.sin(x) + 0.5 * x
    return x


def dot(a, b):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


def smooth_energy(x):
    n = len(x)
    d = np.zeros(n - 1)
    for i in range(n - 1):
        d[i] = x[i + 1] - x[i]
    return dot(d, d)


@numba.njit
def nj_helper(x, y):
    return math.sin(x) * y + x * x


@numba.njit
def nj_loop(x, n):
    s = x
    for i in range(n):
        s = s * 0.5 + math.cos(s) * i
    return s


@numba.njit
def nj_dot(a, b):
    s = 0.0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


def first_above(x, t):
    s = 0.0
    for i in range(10):
        s = s + x * (i + 1)
        if s > t:
            return s * 0.5
    return s


# ------------------------------------------------------------------ callers


def call_simple(x):
    return sq(x) + sq(2.0 * x)


def call_twice_same_var(x, y):
    return sq(x * y) * sq(x)


def call_with_loop(x):
    return poly_loop(x, 4) * x


def call_tuple(x, y):
    r, t = polar(x, y)
    return r * math.cos(t) + r * r * t


def call_chain(x, y):
    a, b = scaled_polar(x, y)
    return a + b * sq(a)


def call_branchy(x, y):
    return clipped(x) * clipped(y) + clipped(x * y)


def call_reassigning_callee(x, y):
    return reassigns_its_argument(x, 3) * y + reassigns_its_argument(y, 2)


def call_in_loop(x, n):
    s = x
    for i in range(n):
        s = sq(s) * 0.5 + poly_loop(x, i)
    return s


def call_in_branch_in_loop(x, n):
    s = 0.0
    for i in range(n):
        if i % 2 == 0:
            r, t = polar(x + i, s + 1.0)
            s = s + r * t
        else:
            s = clipped(s)
    return s


def call_array_callee(x, w):
    return dot(x, x) * dot(x, w) + smooth_energy(x)


def call_njit(x, y):
    return nj_helper(x, y) * 2.0 + y


def call_njit_in_loop(x, n):
    s = 0.0
    for i in range(n):
        s = s + nj_loop(x * i, 3) + nj_helper(s, x)
    return s


def call_other_module(x):
    return lib_softplus(x) * lib_poly(x, 3) + lib_softplus(50.0 * x)


def call_through_the_module(x):
    # helpers called as the module's attributes, a number read as a class's attribute
    return callee_lib.lib_softplus(x) * callee_lib.lib_poly(x, 3) * Settings.scale


def call_njit_arrays(x, w):
    return nj_dot(x, w) * nj_dot(x, x)


def call_callee_returning_in_loop(x):
    return first_above(x, 3.0) + first_above(2.0 * x, 3.0) * x


def int_arguments_first(n, k, x, y):
    s = 0.0
    for i in range(n):
        s = s + poly_loop(x, k + i) * y
    return s


X4 = np.array([0.3, -0.7, 1.1, 0.5])
W4 = np.array([1.5, 0.2, -0.4, 0.9])

CALL_CASES = [
    case(call_simple, 0.7, expected=lambda x: 10.0 * x),
    case(
        call_twice_same_var,
        0.7,
        1.3,
        wrt=(0, 1),
        expected=lambda x, y: (4 * x**3 * y**2, 2 * x**4 * y),
    ),
    case(call_with_loop, 0.8, expected=lambda x: 4 * x**3 + 6 * x**2 + 6 * x + 4),
    case(call_tuple, 0.8, 1.2, wrt=(0, 1)),
    case(call_chain, 0.8, 1.2, wrt=(0, 1)),
    case(call_branchy, 2.0, 0.4, wrt=(0, 1)),
    case(call_reassigning_callee, 0.6, 0.9, wrt=(0, 1)),
    case(call_in_loop, 0.6, 4),
    case(call_through_the_module, 0.7),
    case(call_in_branch_in_loop, 0.6, 4),
    case(call_array_callee, X4, W4, wrt=(0, 1)),
    case(
        call_njit,
        0.7,
        1.3,
        wrt=(0, 1),
        expected=lambda x, y: (2 * (math.cos(x) * y + 2 * x), 2 * math.sin(x) + 1),
    ),
    case(call_njit_in_loop, 0.7, 3),
    case(
        call_other_module,
        0.5,
        expected=lambda x: (
            (1 / (1 + math.exp(-x))) * (x * x + 2 * x + 3)
            + math.log1p(math.exp(x)) * (2 * x + 2)
            + 50.0
        ),
    ),
]


def row_sums_squared(z):
    return np.sum(np.sum(z, axis=1) ** 2)


def call_with_an_array_expression(w, c):
    # the argument is an expression that lowering names: the callee's adjoint must be
    # specialised to its type (it was taken as inactive: a zero gradient)
    return row_sums_squared(w[:, None] * c) + sq(w[0] * c[0, 1])


CALL_CASES += [
    case(
        call_with_an_array_expression,
        X4,
        np.array([[0.5, 1.5], [2.0, -1.0], [0.3, 0.3], [1.0, 2.0]]),
        wrt=(0, 1),
    ),
    case(call_njit_arrays, X4, W4, wrt=(0, 1)),
    case(call_callee_returning_in_loop, 0.7, expected=lambda x: 3.0 + 6.0 * x),
    case(int_arguments_first, 3, 1, 0.7, 1.3, wrt=("y", 2)),
]


@pytest.mark.parametrize("f, args, wrt, opts", CALL_CASES)
def test_calls(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------------------------ keywords and defaults


def lennard_jones(r, eps=1.0, sigma=1.0):
    s6 = (sigma / r) ** 6
    return 4.0 * eps * (s6 * s6 - s6)


def pair_energy(x):
    e = 0.0
    for i in range(x.shape[0]):
        for j in range(i + 1, x.shape[0]):
            r = abs(x[i] - x[j])
            e += lennard_jones(r) + lennard_jones(r + 1.0, sigma=0.9)
            e += lennard_jones(eps=0.5, r=r + 2.0)
    return e


def scaled_norm(x, scale=2, square=True):
    return np.sum(x**2 * scale) if square else np.sum(x * scale)


def calls_with_defaults(x):
    return scaled_norm(x) + scaled_norm(x, square=False) + scaled_norm(x, 3)


@pytest.mark.parametrize("f", [pair_energy, calls_with_defaults], ids=["keywords", "flags"])
def test_calls_with_keywords_and_defaults(f, compile_mode):
    run_case(f, (np.array([0.0, 1.1, 2.3, 3.2]),), 0, {}, compile_mode)


def with_a_none_default(x, weights=None):
    return x * 2.0


def calls_a_none_default(x):
    return with_a_none_default(x)


def calls_an_unknown_keyword(x):
    return scaled_norm(x, power=3)


def calls_without_the_array(x):
    return scaled_norm(scale=3)


@pytest.mark.parametrize(
    "f, message",
    [
        (calls_a_none_default, "called without weights, whose default is not a number"),
        (calls_an_unknown_keyword, r"scaled_norm\(\) has no parameter power"),
        (calls_without_the_array, r"scaled_norm\(\) is called without its argument x"),
    ],
)
def test_defaults_that_are_not_numbers_and_unknown_keywords_are_refused(f, message):
    with pytest.raises(sourcead.SourceADError, match=message) as error:
        sourcead.grad(f, compile=False)(0.5 if f is calls_a_none_default else np.ones(2))
    assert error.value.filename == __file__


# ------------------------------------------------- second derivatives through array results


def damped(z):
    return np.tanh(z) * z


def twice_damped(x):
    return np.sum(damped(damped(x)) ** 2)


def halves(x):
    return x[:2] * 2.0, np.exp(x[1:3])


def product_of_halves(x):
    a, b = halves(x)
    return np.sum(a * b**2)


@pytest.mark.parametrize("f", [twice_damped, product_of_halves])
def test_hvp_through_functions_returning_arrays(f):
    # their adjoints copy the caller's seed before writing into it: not a write into an
    # argument, which forward mode over the adjoint refuses
    x, v = np.array([0.3, -0.2, 0.5, 0.9]), np.array([1.0, 0.5, -0.3, 0.2])
    product = sourcead.hvp(f, (x,), (v,), compile=False)
    gradient = sourcead.grad(f, compile=False)
    expected = (gradient(x + 1e-5 * v) - gradient(x - 1e-5 * v)) / 2e-5
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-9)
