"""Python forms physicists write, rewritten into loops sourcead differentiates.

Module-level tuples of numbers, names rebound to values of another type, ``u = new`` array
updates, list comprehensions and generators, and ``for`` loops over arrays, ``enumerate``
and ``zip``: each against finite differences in reverse mode, forward mode and second order,
with ``compile=False`` in the quick group and a few compiled programs in the slow group.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, check_grad, directional_difference

import sourcead
from sourcead import SourceADError

TARGET = (30.0, 0.5)
WEIGHTS = [1.0, -2.0, 0.5, 3.0]
TABLE = ((1.0, 2.0), (0.5, -1.0), (2.0, 0.25))
ORDERS = (0, 2, 1, 3)


# --- module-level tuples ----------------------------------------------------------------------
def tuple_index(x):
    return (x[0] - TARGET[0]) ** 2 + (x[1] - TARGET[-1]) ** 2 * TABLE[2][1]


def tuple_unpack(x):
    tx, ty = TARGET
    first, second, third = TABLE
    return (x[0] - tx) ** 2 * ty + np.sum(x[:2] * first) + np.sum(third * x[2:])


def tuple_iterated(x):
    s = 0.0
    for k in range(len(WEIGHTS)):
        s += WEIGHTS[k] * x[k] ** 2
    for w in WEIGHTS:
        s += w * x[0]
    for i, row in enumerate(TABLE):
        s += np.sum(row * x[i : i + 2]) ** 2
    for k in ORDERS:
        s += x[k] ** 3
    return s


def tuple_whole(x):
    return np.sum((x - np.array(WEIGHTS)) ** 2) + np.sum(np.sin(x) * WEIGHTS)


# --- names rebound to values of another type ------------------------------------------------------
def rebind_parameter(x):
    x = np.sum(x * x)
    return x * 2.0


def rebind_chain(x):
    y = x.reshape(2, 2)
    y = y @ y
    y = y[0]
    s = 0.5
    s = s * x
    s = np.sum(s * y[1])
    return s + np.sum(y**2)


def rebind_then_loop(x):
    a = x[0]
    a = x * a
    for i in range(3):
        a = a * x[i]
    return np.sum(a)


# --- u = new -------------------------------------------------------------------------------------
def jacobi_assign(x):
    u = x.copy()
    n = u.shape[0]
    for _sweep in range(3):
        new = np.empty_like(u)
        new[0] = u[0]
        new[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            new[i] = 0.5 * (u[i - 1] + u[i + 1]) + 0.1 * u[i] ** 2
        u = new
    return np.sum(u**2)


def jacobi_swap(x):
    u = x.copy()
    new = np.zeros_like(u)
    n = u.shape[0]
    for _sweep in range(3):
        new[0] = u[0]
        new[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            new[i] = 0.5 * (u[i - 1] + u[i + 1]) + 0.1 * u[i] ** 2
        u, new = new, u
    return np.sum(u**2)


def scatter_assign(x):
    u = x.copy()
    index = np.array([1, 0, 3, 3])
    for _sweep in range(2):
        new = np.zeros(4)
        np.add.at(new, index, np.sin(u))  # a fresh array filled by a scatter-add
        u = new
    return np.sum(u**2)


def leapfrog_rotation(x):
    u_prev = x * 0.5
    u = x * 1.0
    for _step in range(4):
        lap = np.zeros_like(u)
        lap[1:-1] = u[2:] - 2.0 * u[1:-1] + u[:-2]
        u_next = 2.0 * u - u_prev + 0.2 * lap * u
        u_prev, u = u, u_next  # two names for one array, which nothing changes in place
    return np.sum(u**2)


def chebyshev_recurrence(x):
    t0 = np.ones_like(x)
    t1 = x * 1.0
    s = np.sum(t1)
    for k in range(4):
        t2 = 2.0 * x * t1 - t0
        t0, t1 = t1, t2
        s = s + np.sum(t1 * t1) / (k + 1)
    return s


RING = ((0, 1), (1, 2), (2, 3), (3, 0))


def bonds_of_a_table(x):
    e = 0.0
    for i, j in RING:  # the rows of a module-level table, unpacked
        e += np.cos(x[i] - x[j]) * x[i]
    return e


def bonds_of_an_array(x, bonds):
    e = 0.0
    for k, (i, j) in enumerate(bonds):
        e += np.cos(x[i] - x[j]) * (k + 1)
    return e


# --- comprehensions ------------------------------------------------------------------------------
def helper(x, k):
    return x[k] * np.sin(x[k + 1]) + k


def comp_scalars(x):
    v = np.array([x[i] ** 2 for i in range(4)])
    w = np.array([helper(x, k) for k in range(3)])
    return np.sum(v * x) + np.sum(w**2)


def comp_sums(x):
    n = x.shape[0]
    a = sum([x[i] * WEIGHTS[i] for i in range(n)])
    b = sum(x[i] ** 3 for i in range(1, n))
    c = sum((xi * xi for xi in x), 1.0)
    return a * b + c + max(x[k] ** 2 for k in range(n)) - min([np.cos(v) for v in x])


def comp_arrays(x):
    rows = np.array([x * k for k in range(1, 4)])
    grid = np.array([[x[i] * x[j] for j in range(4)] for i in range(4)])
    return np.sum(rows @ x) + np.sum(grid * rows[0])


def comp_in_expression(x):
    i = 2.5  # the comprehension's i is its own
    return np.sum(np.array([x[i] for i in range(0, 4, 2)]) ** 2) * i + sum(
        [a * b for a, b in zip(x, x[1:])]  # noqa: B905
    )


# --- for loops over sequences ----------------------------------------------------------------------
def for_rows(x):
    s = 0.0
    for v in x:
        s += v**2
    for i, v in enumerate(x):
        s += i * v
    for a, b in zip(x, x[1:]):  # noqa: B905
        s += a * b
    for k, (a, b) in enumerate(zip(x, np.sin(x)), 1):  # noqa: B905
        s += k * a * b
    m = x.reshape(2, 2)
    for row in m:
        s += np.sum(row) ** 2
    for k in range(len(x)):
        s += x[k] ** 3
    return s


def for_break(x):
    s = 0.0
    for v in x:
        if v > 1.5:
            break
        s += np.exp(v)
    return s


# module-level NumPy arrays: constants, as tuples are
GRID = np.linspace(-2.0, 2.0, 40)
PAULI_X = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=complex)
PICKS = np.array([3, 0, 0, 2])
HALVES = np.array([0.5, 1.5, 2.5, 3.5], dtype=np.float32)
SIGNS = np.array([True, False, False, True])
STENCIL = np.array([1.0, -2.0, 1.0])


def array_grid(x):
    model = x[0] * np.exp(-((GRID - x[1]) ** 2) / (1.0 + x[2] ** 2)) + x[3] * GRID
    return np.sum((model - np.tanh(GRID)) ** 2) / GRID.shape[0]


def array_complex(x):
    h = x[0] * PAULI_X + x[1] * np.eye(2)
    psi = h @ np.array([x[2] + 0j, x[3] + 0j])
    return np.real(np.vdot(psi, psi))


def array_gather_mask(x):
    return np.sum(x[PICKS] ** 2 * HALVES) + np.sum(np.where(SIGNS, x, 0.0) ** 3)


def array_stencil_loop(x):
    s = 0.0
    for i in range(1, len(x) - 1):
        s += (STENCIL[0] * x[i - 1] + STENCIL[1] * x[i] + STENCIL[2] * x[i + 1]) ** 2
    return s + np.sum(STENCIL * x[:3])


QUICK = [
    array_grid,
    array_complex,
    array_gather_mask,
    array_stencil_loop,
    tuple_index,
    tuple_unpack,
    tuple_iterated,
    tuple_whole,
    rebind_parameter,
    rebind_chain,
    rebind_then_loop,
    jacobi_assign,
    jacobi_swap,
    scatter_assign,
    leapfrog_rotation,
    chebyshev_recurrence,
    bonds_of_a_table,
    comp_scalars,
    comp_sums,
    comp_arrays,
    comp_in_expression,
    for_rows,
    for_break,
]

X = np.array([0.3, 0.7, 1.1, 1.9])
DIRECTION = np.array([0.5, -1.0, 0.25, 2.0])


def _vector_difference(phi, h=1e-3):
    """The derivative of the vector function ``phi(t)`` at 0 (fourth-order central stencil)."""
    return (8.0 * (phi(h) - phi(-h)) - (phi(2 * h) - phi(-2 * h))) / (12.0 * h)


def _check_modes(f, compile: bool) -> None:
    x = X.copy()
    check_grad(f, (x,), compile=compile)
    value, tangent = sourcead.jvp(f, (x,), (DIRECTION,), compile=compile)
    assert_close(value, f(x), what="value")
    reference = directional_difference(lambda t: f(x + t * DIRECTION))
    assert_close(tangent, reference, what="tangent vs finite differences")
    hv = sourcead.hvp(f, (x,), (DIRECTION,), compile=compile)
    gradient = sourcead.grad(f, compile=False)
    reference = _vector_difference(lambda t: gradient(x + t * DIRECTION))
    assert_close(hv, reference, rtol=1e-5, atol=1e-7, what="hvp vs finite differences")
    assert np.array_equal(x, X)


@pytest.mark.parametrize("f", QUICK, ids=lambda f: f.__name__)
def test_forms_plain_python(f):
    _check_modes(f, compile=False)


def test_rows_of_an_integer_array_unpacked():
    bonds = np.array(RING)
    check_grad(bonds_of_an_array, (X.copy(), bonds), compile=False)
    with pytest.raises(ValueError, match="unpacks rows into a different number of names"):
        sourcead.grad(bonds_of_an_array, compile=False)(X.copy(), np.zeros((2, 3), np.int64))


@pytest.mark.slow
@pytest.mark.parametrize(
    "f",
    [
        tuple_iterated,
        rebind_chain,
        jacobi_assign,
        comp_sums,
        for_rows,
        bonds_of_a_table,
        array_grid,
        array_stencil_loop,
    ],
    ids=lambda f: f.__name__,
)
def test_forms_compiled(f):
    _check_modes(f, compile=True)


# --- what stays refused, at the user's line ---------------------------------------------------------
def comp_with_if(x):
    return sum([x[i] for i in range(4) if i > 1])


def comp_as_list(x):
    values = [x[i] for i in range(4)]
    return values[0]


def changes_type_in_loop(x):
    a = 0.0
    for _i in range(3):
        a = a * x
    return np.sum(a)


def writes_into_row(x):
    m = x.reshape(2, 2)
    s = 0.0
    for row in m:
        row[0] = 1.0
        s += np.sum(row)
    return s


def sum_of_arrays(x):
    return np.sum(sum(x * k for k in range(3)))


REFUSED = [
    (comp_with_if, "if clause"),
    (comp_as_list, "list comprehensions"),
    (changes_type_in_loop, "keeps one type"),
    (writes_into_row, "a row of the array"),
    (sum_of_arrays, "np.sum(np.array"),
]


def alias_then_added_in_place(x):
    u = x * 2.0
    w = u
    w += 1.0  # changes u too, in NumPy
    return np.sum(w * u)


def alias_then_written(x):
    u = x * 2.0
    w = u
    u[0] = 3.0  # changes w too
    return np.sum(w * u)


LARGE = np.zeros(5000)


def reads_a_large_array(x):
    return np.sum(x * LARGE[:4])


def writes_a_module_array(x):
    STENCIL[0] = x[0]
    return np.sum(x[:3] * STENCIL)


REFUSED += [
    (alias_then_added_in_place, "two names for one array"),
    (alias_then_written, "two names for one array"),
    (reads_a_large_array, "pass a larger one as an argument"),
    (writes_a_module_array, "copy it into a local first (stencil = STENCIL.copy())"),
]


@pytest.mark.parametrize("f, words", REFUSED, ids=lambda v: getattr(v, "__name__", ""))
def test_refused_at_the_line(f, words):
    with pytest.raises(SourceADError) as raised:
        sourcead.grad(f, compile=False)(X.copy())
    assert words in raised.value.message
    assert raised.value.filename == __file__
    lines = range(f.__code__.co_firstlineno, f.__code__.co_firstlineno + 8)
    assert raised.value.lineno in lines


RAGGED = ((1.0, 2.0), (3.0,))


def reads_ragged(x):
    return x[0] * RAGGED[1][0]


def test_ragged_table_refused():
    with pytest.raises(SourceADError, match="rows differ in length"):
        sourcead.grad(reads_ragged, compile=False)


# --- constants are read when the function is loaded; a rebinding loads it again ------------------
SCALE = (2.0, 3.0)


def scaled(x):
    return np.sum(x * x) * SCALE[0] + x[1] * SCALE[1]


def test_rebound_tuple_is_read_again():
    """As for numbers: a new derivative reads the tuple the name holds now."""
    global SCALE
    before = sourcead.grad(scaled, compile=False)(X.copy())
    try:
        SCALE = (5.0, -1.0)
        after = sourcead.grad(scaled, compile=False)(X.copy())
        assert_close(after, numerical_grad_of(scaled, X), what="gradient after the rebinding")
        tangent = sourcead.jvp(scaled, (X.copy(),), (DIRECTION,), compile=False)[1]
        assert_close(tangent, after @ DIRECTION, what="tangent after the rebinding")
    finally:
        SCALE = (2.0, 3.0)
    assert not np.allclose(before, after)


def test_changed_array_is_read_again():
    """A module-level array changed in place: a new derivative reads its numbers now."""
    before = sourcead.grad(array_stencil_loop, compile=False)(X.copy())
    try:
        STENCIL[:] = [0.5, 1.0, -3.0]
        after = sourcead.grad(array_stencil_loop, compile=False)(X.copy())
        expected = numerical_grad_of(array_stencil_loop, X)
        assert_close(after, expected, what="gradient after the change")
    finally:
        STENCIL[:] = [1.0, -2.0, 1.0]
    assert not np.allclose(before, after)


def numerical_grad_of(f, x):
    from helpers import numerical_grad

    return numerical_grad(f, (x.copy(),))


# --- the generated code reads like the loops a person writes -------------------------------------------
def test_generated_loops_are_readable():
    gradient = sourcead.grad(for_rows, compile=False)
    gradient(X.copy())
    text = gradient.source
    assert "for i in range(x.shape[0]):" in text
    assert "v = x[i]" in text
    gradient = sourcead.grad(comp_scalars, compile=False)
    gradient(X.copy())
    assert "v = np.empty((4,) + np.shape(v_first))" in gradient.source
    gradient = sourcead.grad(rebind_parameter, compile=False)
    gradient(X.copy())
    assert "x2 = " in gradient.source  # x = np.sum(x): the sum has a name of its own
