"""Unsupported constructs and API misuse must give clear errors, never internal ones.

Each unsupported construct is marked with an ``# ERR`` comment on the exact line
where the error must be reported; the expected line number is computed from the
function's source position, so editing this file does not break the tests.
"""

import importlib
import inspect
import linecache
import math
import os
import time

import numpy as np
import pytest

import sourcead
from sourcead import SourceADError

_COUNTER = 0
MARKER = "# ERR"


def uses_try(x):
    y = x * 2.0
    try:  # ERR
        y = y * x
    except ValueError:
        y = x
    return y


def uses_with(x):
    y = x * 2.0
    with open(os.devnull) as fh:  # ERR
        y = y + len(fh.name)
    return y


def uses_yield(x):
    y = x * 2.0
    yield y  # ERR


def uses_yield_from(x):
    yield from range(3)  # ERR


def returns_and_yields(x):
    y = x * 2.0
    if y > 0.0:
        return  # a bare return, refused too, but in a generator the yield is the reason
    yield y  # ERR


async def is_async(x):  # ERR
    return x * x


async def awaits(x):  # ERR
    y = await x
    return y * 2.0


def nests_an_async_function(x):
    y = x * 2.0

    async def inner(t):  # ERR
        return t * y

    return y


class Scaler:
    factor = 2.0

    def scaled(self, x):  # ERR
        return self.factor * x


squared = lambda x: x * x  # ERR


def takes_star_args(*xs):  # ERR
    return xs[0] * 2.0


def takes_keyword_arguments(x, **options):  # ERR
    return x * 2.0


def takes_keyword_only(x, *, scale):  # ERR
    return x * scale


def calls_with_a_star(x):
    pair = (x, x * 2.0)
    return math.hypot(*pair)  # ERR


def unpacks_into_a_star(x):
    a, *rest = (x, x * 2.0, x * 3.0)  # ERR
    return a * rest[0]


def uses_walrus(x):
    (y := x * 2.0)  # ERR
    return y


def uses_an_f_string(x):
    label = f"x = {x}"  # ERR
    return x * len(label)


def uses_match(x, n):
    match n:  # ERR
        case 0:
            return x
    return x * 2.0


def prints(x):
    y = x * 2.0
    print(y)  # ERR
    return y


def assigns_an_attribute(x):
    x.scale = 2.0  # ERR
    return x


def calls_a_method_of_a_string(x):
    return x * len("ab".upper())  # ERR


def uses_global(x):
    global _COUNTER  # ERR
    _COUNTER = _COUNTER + 1
    return x * x


def uses_list_comprehension(x):
    y = x + 1.0
    ys = [y * i for i in range(3)]  # ERR
    return ys[0] + x


def uses_set_comprehension(x):
    y = x + 1.0
    ys = {y * i for i in range(3)}  # ERR
    return len(ys) * x


def uses_dict_comprehension(x):
    y = x + 1.0
    ys = {i: y * i for i in range(3)}  # ERR
    return ys[1] * x


def uses_generator_expression(x):
    y = x + 1.0
    gen = (y * i for i in range(3))  # ERR
    return next(gen) + x


def uses_lambda(x):
    y = x + 1.0
    h = lambda t: t * y  # ERR
    return h(x)


def uses_del(x):
    y = x * x
    z = y + x
    del y  # ERR
    return z


def defines_class(x):
    y = x * x

    class Local:  # ERR
        pass

    return y


def defines_nested_function(x):
    y = x * x

    def inner(t):  # ERR
        return t * y

    return inner(x)


def calls_unknown_function(x):
    y = x * x
    t = time.perf_counter()  # ERR
    return y + t


def unsupported_deep_inside(x, n):
    s = 0.0
    for _ in range(n):
        if x > 0.0:
            while s < 10.0:
                s = s + x
                try:  # ERR
                    s = s * 2.0
                finally:
                    s = s + 1.0
    return s


def _square(p):
    return p * p


def calls_a_function_in_a_condition(x):
    if _square(x) < x:  # ERR
        return x
    return 2.0 * x


def branches_in_a_while_condition(x):
    k = 0
    while k < 2 and x < (1.0 if x < 0.0 else 2.0):  # ERR
        k += 1
        x = x * 0.5
    return x


def callee_with_lambda(x):
    h = lambda t: t * t  # ERR
    return h(x)


def calls_bad_callee(x):
    y = math.sin(x)
    return callee_with_lambda(y) * x


def reads_before_the_loop_assigns(x, n):
    c = float(i) * x  # noqa: F821  # ERR
    for i in range(n):
        c = c * x + 0.0 * i
    return c


def reads_what_a_later_line_assigns(x, n):
    y = x
    for i in range(n):
        if i > 0:
            y = y + t  # noqa: F821  # ERR
        t = x * 0.5  # noqa: F841 (read by the next iteration)
    return y


def adds_to_an_unassigned_name(x):
    s += x  # noqa: F821  # ERR
    return s


def reads_after_assigning(x, n):
    if x > 0.0:
        y = x
    else:
        y = 2.0 * x
    for i in range(n):
        if i == 0:
            t = x
        else:
            t = t * 0.5
        y += t * i
    return y


def test_names_read_above_their_assignments_are_refused():
    for f in (
        reads_before_the_loop_assigns,
        reads_what_a_later_line_assigns,
        adds_to_an_unassigned_name,
    ):
        with pytest.raises(SourceADError, match="read above every line that assigns it") as info:
            sourcead.grad(f)
        assert info.value.lineno == marked_line(f)
    # assigned above on some path, or in the same iteration: accepted
    g = sourcead.grad(reads_after_assigning)(0.5, 4)
    h = 1e-6
    fd = (reads_after_assigning(0.5 + h, 4) - reads_after_assigning(0.5 - h, 4)) / (2 * h)
    assert g == pytest.approx(fd, rel=1e-7)


def _pair(p, q):
    return p * q, p + q


def indexes_a_tuple_of_values(x, y):
    v = _pair(x, y)
    a = 0.0
    for k in range(2):
        a = a + v[k]  # ERR
    return a * 1.0 + x


def test_indexing_a_tuple_of_values_is_refused_at_its_line():
    """It was typed as an int, so its derivatives were dropped: (1.0, 0.0) for (1.7, 0.3).
    (A constant index, v[0], is unpacked: tests/test_linalg_more.py.)"""
    for derivative in (
        lambda: sourcead.grad(indexes_a_tuple_of_values, wrt=(0, 1))(0.3, 0.7),
        lambda: sourcead.jvp(indexes_a_tuple_of_values, (0.3, 0.7), (1.0, 0.0)),
    ):
        with pytest.raises(SourceADError, match="indexing a tuple of values") as info:
            derivative()
        assert info.value.lineno == marked_line(indexes_a_tuple_of_values)


def marked_line(f):
    """Absolute line number (in this file) of the line of ``f`` carrying MARKER."""
    lines, start = inspect.getsourcelines(f)
    hits = [start + k for k, line in enumerate(lines) if line.rstrip().endswith(MARKER)]
    assert len(hits) == 1, f"test bug: {f.__name__} must have exactly one {MARKER} marker"
    return hits[0]


# Each function, and what its message must name.
UNSUPPORTED = [
    (uses_try, "try statements are not supported"),
    (uses_with, "with statements are not supported"),
    (uses_yield, "generators (yield) are not supported"),
    (uses_yield_from, "generators (yield from) are not supported"),
    (returns_and_yields, "generators (yield) are not supported"),
    (is_async, "async functions are not supported"),
    (awaits, "async functions are not supported"),
    (nests_an_async_function, "async functions (a nested async def) are not supported"),
    (Scaler().scaled, "bound methods are not supported by sourcead (Scaler.scaled)"),
    (squared, "lambda functions are not supported"),
    (uses_global, "global statements are not supported"),
    (uses_list_comprehension, "list comprehensions are not supported"),
    (uses_set_comprehension, "set comprehensions are not supported"),
    (uses_dict_comprehension, "dict comprehensions are not supported"),
    (uses_generator_expression, "generator expressions are not supported"),
    (uses_lambda, "lambda expressions are not supported"),
    (uses_del, "del statements are not supported"),
    (defines_class, "class definitions are not supported"),
    (defines_nested_function, "nested function definitions are not supported"),
    (takes_star_args, "*args parameters are not supported"),
    (takes_keyword_arguments, "**kwargs parameters are not supported"),
    (takes_keyword_only, "keyword-only parameters are not supported"),
    (calls_with_a_star, "starred expressions are not supported"),
    (unpacks_into_a_star, "starred assignment targets (a, *b = ...) are not supported"),
    (uses_walrus, "assignment expressions (:=) are not supported"),
    (uses_an_f_string, "f-strings are not supported"),
    (uses_match, "match statements are not supported"),
    (prints, "print(...) is not supported"),
    (assigns_an_attribute, "assignment to an attribute (.scale = ...) is not supported"),
    (calls_a_method_of_a_string, "calls of something other than a named function"),
    (calls_unknown_function, "no derivative rule for time.perf_counter"),
    (unsupported_deep_inside, "try statements are not supported"),
    (calls_a_function_in_a_condition, "a call of your own function inside a condition"),
    (branches_in_a_while_condition, "a while condition with a conditional expression"),
]


@pytest.mark.parametrize(
    "f, message", UNSUPPORTED, ids=[f.__name__.strip("<>") for f, _ in UNSUPPORTED]
)
def test_unsupported_construct_reported_at_grad_time(f, message):
    expected_line = marked_line(f)
    with pytest.raises(SourceADError) as info:
        sourcead.grad(f)  # must fail here, before any call
    err = info.value
    assert message in err.message
    assert err.lineno == expected_line, f"reported line {err.lineno}, expected {expected_line}"
    assert str(err.filename).endswith("test_errors.py")
    message = str(err)
    assert "test_errors.py" in message
    assert str(expected_line) in message


def test_unsupported_construct_in_callee_points_into_callee(compile_mode):
    expected_line = marked_line(callee_with_lambda)
    with pytest.raises(SourceADError) as info:
        g = sourcead.grad(calls_bad_callee, compile=compile_mode)
        g(0.5)  # accepted here too, see the next test for the stricter requirement
    assert info.value.lineno == expected_line
    assert str(info.value.filename).endswith("test_errors.py")


def test_unsupported_construct_in_callee_reported_at_grad_time():
    with pytest.raises(SourceADError):
        sourcead.grad(calls_bad_callee)


@pytest.mark.parametrize("api", ["value_and_grad", "vjp"])
def test_unsupported_construct_other_entry_points(api):
    expected_line = marked_line(uses_try)
    with pytest.raises(SourceADError) as info:
        if api == "value_and_grad":
            sourcead.value_and_grad(uses_try)
        else:
            sourcead.vjp(uses_try, 1.5)
    assert info.value.lineno == expected_line


# ---------------------------------------------------------- unreadable source


def test_function_defined_with_exec(compile_mode):
    namespace = {}
    exec("def from_exec(x):\n    return x * x\n", namespace)
    with pytest.raises(SourceADError):
        sourcead.grad(namespace["from_exec"], compile=compile_mode)


@pytest.mark.parametrize("builtin", [math.sin, abs], ids=["math.sin", "abs"])
def test_builtin_function(builtin):
    with pytest.raises(SourceADError):
        sourcead.grad(builtin)


# ------------------------------------------------------------------- wrt misuse


def ok(x, y, n):
    return x * y * n


@pytest.mark.parametrize("wrt", ["z", 3, 7, ("x", "nope"), (0, 5)], ids=str)
def test_wrt_missing_argument_fails_at_grad_time(wrt):
    with pytest.raises(SourceADError):
        sourcead.grad(ok, wrt=wrt)


@pytest.mark.parametrize("wrt", [2, "n", (0, 2)], ids=str)
def test_wrt_int_argument_fails_cleanly(wrt, compile_mode):
    with pytest.raises((TypeError, ValueError, SourceADError)):
        g = sourcead.grad(ok, wrt=wrt, compile=compile_mode)
        g(1.5, 0.5, 3)


# -------------------------------------------------------------- non-scalar result


def returns_array(x):
    y = np.zeros(len(x))
    for i in range(len(x)):
        y[i] = x[i] * x[i]
    return y


def returns_tuple(x):
    return x * x, x + 1.0


@pytest.mark.parametrize(
    "f, args",
    [(returns_array, (np.array([1.0, 2.0]),)), (returns_tuple, (1.5,))],
    ids=["array", "tuple"],
)
def test_non_scalar_result_points_to_vjp(f, args, compile_mode):
    with pytest.raises((TypeError, ValueError)) as info:
        g = sourcead.grad(f, compile=compile_mode)  # may already refuse here...
        g(*args)  # ...but at the latest at call time
    assert "vjp" in str(info.value)


def test_a_source_file_edited_after_import_is_refused(tmp_path, monkeypatch):
    # sourcead reads a function's lines again from its file: after an edit (a notebook's
    # autoreload) they may hold another function, which was differentiated instead
    text = "import numpy as np\n\n\ndef first(x):\n    return np.sum(x * x)\n\n\n"
    text += "def second(x):\n    return np.sum(np.sin(x))\n"
    module = tmp_path / "edited_after_import.py"
    module.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = importlib.import_module("edited_after_import")
    module.write_text("\n\n\n\n" + text.replace("def first", "def earlier"))  # 4 lines on top
    linecache.checkcache(str(module))
    with pytest.raises(SourceADError, match="changed since it was loaded: its line now defines"):
        sourcead.grad(imported.second, compile=False)(np.array([0.1, 0.2]))


def assigned_in_one_branch(y):
    if y > 100.0:
        t = 1.0
    return y + t  # Python: UnboundLocalError for y <= 100


def assigned_in_every_path(y):
    if y > 100.0:
        return y
    else:
        t = 2.0
    if y < 0.0:
        u = y * y
    else:
        u = y
    return y * t + u


def test_a_name_assigned_in_one_branch_only_is_refused():
    # compiled, the derivative read whatever Numba left in the name
    with pytest.raises(SourceADError, match="t may be unbound here") as error:
        sourcead.grad(assigned_in_one_branch, compile=False)(0.7)
    assert error.value.lineno == assigned_in_one_branch.__code__.co_firstlineno + 3
    assert sourcead.grad(assigned_in_every_path, compile=False)(0.7) == pytest.approx(3.0)


def scaled_by(x, np):  # a parameter named like the module generated code calls
    return x * np


def grown_to(x, len):
    return x * len


@pytest.mark.parametrize("f", [scaled_by, grown_to])
def test_a_parameter_named_like_a_module_or_a_called_builtin_is_refused(f):
    # hessian's code called np.zeros on the argument: AttributeError from generated code
    with pytest.raises(SourceADError, match="has the name of") as error:
        sourcead.hessian(f, wrt=(0, 1), compile=False)(0.7, 1.3)
    assert error.value.lineno == f.__code__.co_firstlineno


def set_boundaries(w):
    w[0] = 0.0
    w[-1] = 0.0


def uses_a_helper_that_writes(u):
    w = u * u
    set_boundaries(w)
    return np.sum(w**2)


def test_a_helper_writing_into_its_argument_without_a_return_is_explained():
    with pytest.raises(SourceADError, match="set_boundaries writes into its argument w") as error:
        sourcead.grad(uses_a_helper_that_writes, compile=False)(np.ones(5))
    assert error.value.lineno == set_boundaries.__code__.co_firstlineno


def sorted_by_a_local_table(x):
    b = x.copy()
    pairs = ((0, 1), (2, 3), (0, 2), (1, 3), (1, 2))
    for p in range(5):
        i = pairs[p][0]
        if b[i] > b[i + 1]:
            b[i] = b[i + 1]
    return np.sum(b)


def test_a_local_tuple_of_numbers_indexed_with_a_variable_says_what_to_write():
    with pytest.raises(SourceADError, match="make it an array") as error:
        sourcead.grad(sorted_by_a_local_table, compile=False)(np.ones(4))
    assert error.value.lineno == sorted_by_a_local_table.__code__.co_firstlineno + 4
