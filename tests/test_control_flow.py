"""Assignments, branches, conditional expressions, boolean conditions, early returns."""

import math

import pytest
from helpers import case, run_case

import sourcead

# ---------------------------------------------------------------- assignment


def reassign_args(x, y):
    x = x * y
    y = x + y
    x = math.sin(x) * y
    return x + y


def tuple_pack_unpack(x, y):
    a, b = x * y, x + y
    c, d = b, a
    (e, f) = (c * d, c - d)
    g, h = e, f
    return g + h * h


def unpacks_tuple_variable(x, y):
    t = x * y, x - y
    g, h = t  # refused: tuple-valued variables
    return g + h


def swap_scalars(x, y):
    x, y = y, x
    x = x * 2.0
    a, b = x, y
    a, b = b, a * b
    return a * x + b


def augmented_assign(x, y):
    z = x
    z += y
    z -= 0.5 * x
    z *= y
    z /= x
    z **= 2
    w = 1.5
    w **= x
    x += 1.0
    x *= x
    return z + w + x


def chained_assign(x):
    a = b = 0.0
    a = a + x
    b = b + x * x
    c = d = x * 3.0
    c = c * d
    return a + b + c


def int_and_bool_locals(x, n):
    k = n + 1
    flag = x > 0.5
    m = 0
    if flag:
        m = k * 2
    return x * m + x * k


def overwrite_with_constant(x):
    y = x * x
    y = 2.0
    return y * x


ASSIGN_CASES = [
    case(reassign_args, 0.6, 1.3, wrt=(0, 1)),
    case(tuple_pack_unpack, 0.6, 1.3, wrt=(0, 1)),
    case(
        swap_scalars,
        0.6,
        1.3,
        wrt=(0, 1),
        # after the swaps: a = x, x' = 2y, b = 2xy, so f = 4xy
        expected=lambda x, y: (4.0 * y, 4.0 * x),
    ),
    case(augmented_assign, 0.6, 1.3, wrt=(0, 1)),
    case(chained_assign, 0.7, expected=lambda x: 1.0 + 2.0 * x + 18.0 * x),
    case(int_and_bool_locals, 0.7, 2, expected=9.0),
    case(overwrite_with_constant, 0.7, expected=2.0),
]


@pytest.mark.parametrize("f, args, wrt, opts", ASSIGN_CASES)
def test_assignment(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


# ------------------------------------------------------------------ branches


def if_else(x):
    if x > 1.0:
        y = x * x
    else:
        y = 3.0 * x
    return y + x


def if_elif_else(x, y):
    if x > 2.0:
        z = x * y
    elif x > 0.0:
        z = math.sin(x) * y
    else:
        z = x - y * y
    return z


def if_without_else(x, y):
    z = x
    if y > x:
        z = z * y
    return z * x


def nested_if(x, y):
    r = 0.0
    if x > 0.0:
        if y > 0.0:
            r = x * y
        else:
            r = x - y
    else:
        r = x * x * y
    return r + 1.0


def conditional_expression(x, y):
    z = x * y if x > y else x + y * y
    return z * 2.0 + (x if z > 1.0 else y)


def bool_operators(x, y, n):
    r = x
    if x > 0.0 and y < 1.0:
        r = r * y
    if not (x > y) or n == 3:
        r = r + x * x
    if x < 0.0 or (y > 0.5 and not n > 4):
        r = r * 2.0
    return r


def bool_argument(x, flag):
    if flag:
        return x * x
    return -x


def branch_on_int(x, n):
    if n % 2 == 0:
        s = x * n
    else:
        s = x * x * n
    return s


def early_return(x):
    if x > 1.0:
        return x * x * x
    y = x * 2.0
    if y < 0.0:
        return -y * x
    return y + 1.0


def return_in_both_branches(x, y):
    if x * y > 1.0:
        return math.log(x * y)
    else:
        return x * y - 1.0


def variable_defined_in_branches(x):
    if x > 0.0:
        a = math.exp(x)
        b = x
    else:
        a = x * x
        b = -x
    return a * b


BRANCH_CASES = [
    case(if_else, 2.0, expected=5.0, id="if_else-then"),
    case(if_else, 0.5, expected=4.0, id="if_else-else"),
    case(if_elif_else, 3.0, 0.7, wrt=(0, 1), expected=(0.7, 3.0), id="if_elif_else-if"),
    case(if_elif_else, 1.0, 0.7, wrt=(0, 1), id="if_elif_else-elif"),
    case(if_elif_else, -1.0, 0.7, wrt=(0, 1), expected=(1.0, -1.4), id="if_elif_else-else"),
    case(if_without_else, 0.5, 1.5, wrt=(0, 1), expected=(1.5, 0.25), id="if_without_else-taken"),
    case(if_without_else, 1.5, 0.5, wrt=(0, 1), expected=(3.0, 0.0), id="if_without_else-skip"),
    case(nested_if, 0.5, 1.5, wrt=(0, 1), id="nested_if-a"),
    case(nested_if, -0.5, 1.5, wrt=(0, 1), id="nested_if-c"),
    case(conditional_expression, 1.5, 0.9, wrt=(0, 1), id="ifexp-a"),
    case(conditional_expression, 0.2, 0.5, wrt=(0, 1), id="ifexp-b"),
    case(bool_operators, 0.4, 0.8, 3, wrt=(0, 1), id="boolops-a"),
    case(bool_operators, -0.5, 0.7, 5, wrt=(0, 1), id="boolops-b"),
    case(bool_argument, 1.5, True, expected=3.0, id="bool_argument-true"),
    case(bool_argument, 1.5, False, expected=-1.0, id="bool_argument-false"),
    case(branch_on_int, 1.5, 3, expected=9.0),
    case(early_return, 2.0, expected=12.0, id="early_return-first"),
    case(early_return, -0.5, expected=2.0, id="early_return-second"),
    case(early_return, 0.3, expected=2.0, id="early_return-fallthrough"),
    case(return_in_both_branches, 2.0, 1.5, wrt=(0, 1), id="two_returns-a"),
    case(variable_defined_in_branches, -0.7, expected=lambda x: -3.0 * x * x),
]


@pytest.mark.parametrize("f, args, wrt, opts", BRANCH_CASES)
def test_branches(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


def test_tuple_valued_variable_is_refused_at_its_line():
    """Unpacking a tuple held in a variable is outside the subset: refused, not mis-differentiated."""
    import inspect

    with pytest.raises(sourcead.SourceADError) as info:
        sourcead.grad(unpacks_tuple_variable)
    lines, first = inspect.getsourcelines(unpacks_tuple_variable)
    offending = next(i for i, line in enumerate(lines) if "refused" in line)
    assert info.value.lineno == first + offending
