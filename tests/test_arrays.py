"""NumPy arrays at element level: reads, writes, overwrites, local arrays, swaps."""

import math

import numpy as np
import pytest
from helpers import case, run_case

X4 = np.array([0.3, -0.7, 1.1, 0.5])
X5 = np.array([0.9, 1.2, 0.8, 1.1, 0.7])
A23 = np.array([[0.5, -0.2, 0.9], [1.3, 0.4, -0.8]])
A32 = np.array([[0.5, -0.2], [0.9, 1.3], [0.4, -0.8]])
V2 = np.array([0.7, -1.1])


def sum_squares(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i]
    return s


def weighted_2d(a):
    s = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            s += a[i, j] * a[i, j] * (i + 1) - a[i, j] * j
    return s


def shape_unpack(a):
    n, m = a.shape
    s = 0.0
    for i in range(n):
        for j in range(m):
            s = s + math.sin(a[i, j]) * (i - j)
    return s


def matvec_quadratic(A, v):
    n = A.shape[0]
    m = A.shape[1]
    s = 0.0
    for i in range(n):
        t = 0.0
        for j in range(m):
            t += A[i, j] * v[j]
        s += t * t
    return s


def scalar_and_array(x, c):
    s = 0.0
    for i in range(len(x)):
        s = s + math.exp(c * x[i])
    return s * c


def negative_and_computed_index(x):
    n = len(x)
    s = x[-1] * x[0]
    for i in range(n):
        s = s + x[(i * 2) % n] * x[n - 1 - i]
    return s


def read_only_int_args(x, k):
    return x[k] * x[k + 1] + x[k] * k


READ_CASES = [
    case(sum_squares, X4, expected=lambda x: 2.0 * x),
    case(weighted_2d, A23, expected=lambda a: 2.0 * a * np.array([[1.0], [2.0]]) - np.arange(3.0)),
    case(shape_unpack, A23),
    case(
        matvec_quadratic,
        A32,
        V2,
        wrt=(0, 1),
        expected=lambda A, v: (2.0 * np.outer(A @ v, v), 2.0 * A.T @ (A @ v)),
    ),
    case(scalar_and_array, X4, 0.6, wrt=(0, 1)),
    case(negative_and_computed_index, X5),
    case(read_only_int_args, X5, 2, expected=np.array([0.0, 0.0, 1.1 + 2.0, 0.8, 0.0])),
]


@pytest.mark.parametrize("f, args, wrt, opts", READ_CASES)
def test_array_reads(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------------- local arrays, writes


def zeros_write_read(x):
    n = len(x)
    y = np.zeros(n)
    for i in range(n):
        y[i] = x[i] * x[i]
    s = 0.0
    for i in range(n):
        s += y[i] * x[n - 1 - i]
    return s


def ones_prefix_product(x):
    n = x.shape[0]
    p = np.ones(n)
    p[0] = x[0]
    for i in range(1, n):
        p[i] = p[i - 1] * x[i]
    return p[n - 1] + p[1]


def empty_fill(x):
    n = len(x)
    y = np.empty(n)
    for i in range(n):
        y[i] = math.exp(x[i])
    s = 0.0
    for i in range(n):
        s = s + y[i] * y[n - 1 - i]
    return s


def zeros_like_2d(a):
    b = np.zeros_like(a)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            b[i, j] = a[i, j] * (i - j + 0.5)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            b[i, j] += b[i, j] * a[i, j]
    s = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            s += b[i, j] * b[i, j]
    return s


def empty_like_cubes(x):
    y = np.empty_like(x)
    for i in range(len(x)):
        y[i] = x[i] ** 3
    return y[0] * y[1] + y[2]


def zeros_2d_local(x, n):
    m = len(x)
    g = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            g[i, j] = x[j] * (i + 1.0)
    s = 0.0
    for i in range(n):
        for j in range(m):
            s += g[i, j] * g[n - 1 - i, j]
    return s


def copy_then_modify(x):
    y = x.copy()
    y[0] = y[0] * y[1]
    y[1] = y[0] + y[1]
    y[0] = math.sin(y[0])
    y[0] = y[0] * y[1]
    return y[0] + y[1] + x[0]


def overwrite_many_times(x):
    acc = np.zeros(2)
    for i in range(len(x)):
        acc[0] = acc[0] * x[i] + math.sin(acc[0] + x[i])
        acc[1] = acc[1] + acc[0] * acc[0]
    return acc[0] + acc[1]


def overwrite_then_read_later(x):
    n = len(x)
    y = np.zeros(n)
    for i in range(n):
        y[i] = x[i]
    for _ in range(3):
        for i in range(n):
            y[i] = y[i] * y[(i + 1) % n] * 0.9 + x[i]
    return y[0] + 2.0 * y[n - 1]


def element_augmented_assign(x):
    n = len(x)
    y = np.ones(n)
    z = np.ones((2, n))
    for i in range(n):
        y[i] += x[i]
        y[i] *= x[i]
        y[i] -= 0.5 * x[i] * x[i]
        y[i] /= 1.0 + x[i] * x[i]
        z[i % 2, i] *= y[i]
        z[1, i] += x[i]
    s = 0.0
    for i in range(n):
        s = s + y[i] * z[0, i] + z[1, i] ** 2
    return s


def writes_in_branches(x):
    n = len(x)
    y = np.zeros(n)
    for i in range(n):
        if x[i] > 1.0:
            y[i] = x[i] * x[i]
        else:
            y[i] = -x[i]
        if i > 0 and y[i - 1] > 0.0:
            y[i] = y[i] + y[i - 1] * x[i]
    return y[n - 1] + y[0]


def array_swap_in_loop(u0, alpha, steps):
    n = len(u0)
    u = u0.copy()
    v = np.zeros_like(u0)
    for _ in range(steps):
        v[0] = u[0]
        v[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            v[i] = u[i] + alpha * (u[i - 1] - 2.0 * u[i] + u[i + 1]) + 0.1 * u[i] * u[i]
        u, v = v, u
    s = 0.0
    for i in range(n):
        s += u[i] * u[i] * (i + 1)
    return s


def rebind_array_names(x):
    a = np.zeros(len(x))
    b = x.copy()
    for i in range(len(x)):
        a[i] = b[i] * 2.0
    a, b = b, a  # a: copy of x, b: 2 x
    b[0] = b[0] * a[1]
    b, a = a, b  # a: 2 x with a[0] = 2 x0 x1, b: copy of x
    a[2] = a[2] * a[0] + b[3]
    return a[0] + a[2] + b[1]


def writes_input_argument(x):
    x[0] = x[0] * x[1]
    return x[0] + x[1]


WRITE_CASES = [
    case(zeros_write_read, X4),
    case(ones_prefix_product, X5),
    case(empty_fill, X4),
    case(zeros_like_2d, A23),
    case(
        empty_like_cubes,
        X4,
        expected=lambda x: np.array(
            [3 * x[0] ** 2 * x[1] ** 3, 3 * x[1] ** 2 * x[0] ** 3, 3 * x[2] ** 2, 0.0]
        ),
    ),
    case(zeros_2d_local, X4, 3),
    case(copy_then_modify, X4),
    case(overwrite_many_times, X4),
    case(overwrite_then_read_later, X4),
    case(element_augmented_assign, X5),
    case(writes_in_branches, X5),
    case(array_swap_in_loop, X5, 0.2, 3, wrt=(0, 1), id="array_swap_in_loop-odd"),
    case(array_swap_in_loop, X5, 0.2, 4, wrt=(0, 1), id="array_swap_in_loop-even"),
    case(
        rebind_array_names,
        X4,
        expected=lambda x: np.array(
            [
                2 * x[1] + 4 * x[1] * x[2],
                2 * x[0] + 4 * x[0] * x[2] + 1.0,
                4 * x[0] * x[1],
                1.0,
            ]
        ),
    ),
    case(writes_input_argument, X4, expected=np.array([X4[1], X4[0] + 1.0, 0.0, 0.0])),
]


@pytest.mark.parametrize("f, args, wrt, opts", WRITE_CASES)
def test_array_writes(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------------------ larger programs

U33 = np.array([[2.0, 0.5, -0.3], [0.0, 1.5, 0.7], [0.0, 0.0, -1.2]])
B3 = np.array([0.4, -1.1, 0.9])


def back_substitution(U, b):
    n = len(b)
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        acc = b[i]
        for j in range(i + 1, n):
            acc -= U[i, j] * x[j]
        x[i] = acc / U[i, i]
    s = 0.0
    for i in range(n):
        s += x[i] * x[i] * (i + 1)
    return s


def long_array_overwrite(x, n):
    m = len(x)
    y = x.copy()
    for k in range(n):
        i = k % m
        y[i] = y[i] * 0.999 + 0.001 * math.sin(y[(i + 1) % m])
    s = 0.0
    for i in range(m):
        s += y[i] * y[i]
    return s


def while_array_condition(x):
    y = x.copy()
    k = 0
    while y[0] < 5.0:
        y[0] = y[0] * 1.5 + y[1]
        k += 1
    return y[0] * k + y[1]


def np_functions_on_elements(x):
    s = 0.0
    for i in range(len(x)):
        s += np.sqrt(x[i] * x[i] + 1.0) * np.exp(-x[i]) + abs(x[i]) * max(x[i], 0.2)
    return s


PROGRAM_CASES = [
    case(back_substitution, U33, B3, wrt=(0, 1)),
    case(long_array_overwrite, X4, 2000),
    case(while_array_condition, np.array([0.6, 0.4])),
    case(np_functions_on_elements, X4),
]


@pytest.mark.parametrize("f, args, wrt, opts", PROGRAM_CASES)
def test_array_programs(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)
