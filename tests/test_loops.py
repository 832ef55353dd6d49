"""for/while loops, break/continue, returns inside loops, and their combinations."""

import math

import pytest
from helpers import case, run_case

# --------------------------------------------------------------------- for


def for_sum(x, n):
    s = 0.0
    for i in range(n):
        s += x * i + x * x
    return s


def for_range_args(x, start, stop, step):
    s = 1.0
    for i in range(start, stop, step):
        s = s * x + i * 0.5
    return s


def for_constant_ranges(x):
    s = x
    for i in range(2, 6):
        s = s * x + i
    for i in range(5, 0, -1):
        s = s * 0.5 + x * i
    for i in range(-1, -7, -3):
        s = s + x * i
    return s


def zero_trip_then_use(x, n):
    s = x * x
    for i in range(n):
        s = s * math.sin(x) + i
    for _ in range(3, 1):
        s = s * 100.0
    return s + x


def loop_var_after_loop(x, n):
    s = 0.0
    for i in range(n):  # noqa: B007 (i is used after the loop on purpose)
        s = s * x + 1.0
    return s * i + x * i


def loop_var_after_break(x):
    s = 1.0
    for i in range(10):  # noqa: B007 (i is used after the loop on purpose)
        s = s * x
        if s > 5.0:
            break
    return s + x * i


def logistic_map(x, r):
    for _ in range(6):
        x = r * x * (1.0 - x)
    return x


def newton_sqrt(a):
    r = a
    for _ in range(8):
        r = 0.5 * (r + a / r)
    return r


def nested_loops(x, n):
    s = 0.0
    for i in range(n):
        for j in range(i):
            s = s + x ** (i - j) * 0.5 + math.sin(s) * 0.1
    return s


def nested_negative_steps(x):
    s = 1.0
    for i in range(3, -1, -1):
        for j in range(i, 0, -2):
            s = s * math.cos(x * j) + i * x
    return s


def swap_in_loop(x, y, n):
    for _ in range(n):
        x, y = y, x * y + 0.1
    return x + 2.0 * y


def euler_oscillator(k, x0, n):
    x = x0
    v = 0.0
    dt = 0.1
    for _ in range(n):
        a = -k * x - 0.1 * v * abs(v)
        x = x + dt * v
        v = v + dt * a
    return x * x + v


def loop_bounds_from_locals(x, n):
    m = n * 2 - 1
    s = 0.0
    for i in range(m // 2, m):
        s = s + x**2 * i
    return s


FOR_CASES = [
    case(for_sum, 0.7, 4, expected=lambda x, n: 6.0 + 8.0 * x),
    case(for_sum, 0.7, 0, expected=0.0, id="for_sum-zero_trip"),
    case(for_constant_ranges, 0.8),
    case(for_range_args, 0.9, 1, 8, 3, id="range-pos_step"),
    case(for_range_args, 0.9, 8, 1, -2, id="range-neg_step"),
    case(for_range_args, 0.9, 3, 3, 1, expected=0.0, id="range-empty"),
    case(for_range_args, 0.9, 1, 5, -1, expected=0.0, id="range-empty_neg_step"),
    case(zero_trip_then_use, 0.6, 0, expected=2.2, id="zero_trip"),
    case(zero_trip_then_use, 0.6, 3, id="zero_trip-second_loop"),
    case(loop_var_after_loop, 0.8, 4),
    case(loop_var_after_break, 1.8),
    case(logistic_map, 0.3, 2.5, wrt=(0, 1)),
    case(newton_sqrt, 2.0, expected=lambda a: 0.5 / math.sqrt(a)),
    case(nested_loops, 0.9, 4),
    case(nested_negative_steps, 0.4),
    case(swap_in_loop, 0.9, 1.1, 4, wrt=(0, 1)),
    case(euler_oscillator, 1.3, 0.8, 6, wrt=(0, 1)),
    case(loop_bounds_from_locals, 0.7, 3, expected=lambda x, n: 2.0 * x * (2 + 3 + 4)),
]


@pytest.mark.parametrize("f, args, wrt, opts", FOR_CASES)
def test_for_loops(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------- while, break, continue


def while_data_dependent(x):
    k = 0
    while x < 10.0:
        x = x * x + 0.5
        k += 1
    return x + k


def while_true_break(x):
    s = x
    n = 0
    while True:
        s = math.sin(s) + x
        n += 1
        if n >= 5:
            break
    return s


def while_true_data_break(x):
    s = 1.0
    while True:
        s = s * x + 0.1
        if s > 3.0:
            break
    return s


def while_compound_condition(x, n):
    i = 0
    s = x
    while i < n and s < 100.0:
        s = s * s * 0.5 + x
        i += 1
    return s


def while_zero_trip(x):
    s = x
    while s > 10.0:
        s = s * 0.5
    return s * s


def for_continue(x, n):
    s = 0.0
    for i in range(n):
        if i % 2 == 1:
            continue
        s = s + x**i
        s = s * x
    return s


def for_break(x, n):
    s = 0.0
    for i in range(n):
        s = s + math.cos(x * i)
        if i == 2:
            break
    return s


def while_with_inner_for(x):
    s = x
    it = 0
    while s < 50.0:
        for j in range(3):
            if j == 1:
                continue
            s = s * 1.5 + j
        it += 1
    return s + it


def break_nested(x, n):
    s = 0.0
    for i in range(n):
        for j in range(n):
            if j > i:
                break
            s = s + x * math.sin(s + j)
    return s


def break_outer_via_flag(x):
    s = x
    done = False
    for i in range(5):  # noqa: B007 (i is used after the loop on purpose)
        for j in range(5):
            s = s * 1.2 + 0.1 * j
            if s > 4.0:
                done = True
                break
        if done:
            break
    return s * i


WHILE_CASES = [
    case(while_data_dependent, 1.3),
    case(while_true_break, 0.7),
    case(while_true_data_break, 1.5),
    case(while_compound_condition, 1.2, 3, id="while_compound-counter"),
    case(while_compound_condition, 3.0, 10, id="while_compound-data"),
    case(while_zero_trip, 3.0, expected=6.0),
    case(for_continue, 0.8, 5),
    case(for_break, 0.8, 6),
    case(while_with_inner_for, 1.1),
    case(break_nested, 0.8, 4),
    case(break_outer_via_flag, 1.1),
]


@pytest.mark.parametrize("f, args, wrt, opts", WHILE_CASES)
def test_while_break_continue(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------ combinations with returns


def return_in_loop(x, n):
    s = 1.0
    for i in range(n):
        s = s * x + 1.0
        if s > 10.0:
            return s * i
    return -s


def return_in_nested_loop(x):
    s = x
    for i in range(4):
        for j in range(3):
            s = s * 1.1 + x * j
            if s > 20.0:
                return s - i
    return s


def return_in_while(x):
    s = x
    while True:
        s = s * s + 0.25
        if s > 2.0:
            return math.log(s)


def branch_in_loop(x, n):
    s = x
    for i in range(n):
        if s > 2.0:
            s = s * 0.5 + x
        elif i % 2 == 0:
            s = s * s + 0.3
        else:
            s = s + math.sin(s)
    return s


def loop_in_branch(x, n):
    s = 1.0
    if x > 0.0:
        for i in range(n):
            s = s * x + i
    else:
        for i in range(n, 0, -1):
            s = s - x * i * s
    return s


def while_in_branch_in_for(x, n):
    s = 0.0
    for i in range(n):
        if i % 2 == 0:
            t = x + i
            while t < 5.0:
                t = t * 1.7
            s = s + t
        else:
            s = s * x
    return s


COMBINED_CASES = [
    case(return_in_loop, 2.0, 10, id="return_in_loop-early"),
    case(return_in_loop, 2.0, 2, expected=-5.0, id="return_in_loop-late"),
    case(return_in_nested_loop, 1.0),
    case(return_in_while, 0.9),
    case(branch_in_loop, 0.5, 6),
    case(loop_in_branch, 0.8, 4, id="loop_in_branch-pos"),
    case(loop_in_branch, -0.3, 4, id="loop_in_branch-neg"),
    case(while_in_branch_in_for, 0.9, 4),
]


@pytest.mark.parametrize("f, args, wrt, opts", COMBINED_CASES)
def test_loop_combinations(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------- long loops, odd loop variables


def long_loops(x, n):
    # thousands of iterations: every tape has to grow well past any initial size
    s = x
    k = 0
    while k < n:
        s = s + 0.001 * math.sin(s * x + k * 0.01)
        k += 1
    for i in range(n):
        if i % 3 == 0:
            s = s * 0.9999 + 0.0001 * x
        else:
            s = s + 0.0001 * math.cos(s)
    return s


def reassign_loop_variable(x, n):
    s = 0.0
    for i in range(n):
        i = i * 2  # noqa: PLW2901 (does not change the iteration)
        s = s + x**i
    return s + i


def float_accumulator_in_loop(x, n):
    t = 0.0
    s = 0.0
    for _ in range(n):
        t += 0.25
        s = s + math.sin(x * t) * t
    return s


def while_continue(x, n):
    k = 0
    s = x
    while k < n:
        k += 1
        if k % 2 == 0:
            continue
        s = s * x + math.sqrt(s)
    return s


LONG_CASES = [
    case(long_loops, 0.8, 3000),
    case(
        reassign_loop_variable,
        0.9,
        4,
        expected=lambda x, n: 2 * x + 4 * x**3 + 6 * x**5,
    ),
    case(float_accumulator_in_loop, 0.8, 6),
    case(while_continue, 1.1, 7),
]


@pytest.mark.parametrize("f, args, wrt, opts", LONG_CASES)
def test_long_loops_and_loop_variables(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)
