"""Indexing with arrays (docs/arrays.md, "Indexing with arrays"): gathers with vectors of
integers (repeated and negative indices), ``m[rows, cols]``, masks, writes through them with
NumPy's semantics, ``np.add.at``, ``np.take``, steps and new axes.

Each program is checked against central finite differences in reverse mode (``grad``),
forward mode (``jvp``) and second order (``hvp``) as plain Python; a few are compiled (slow
group). Index arrays are arguments (inactive) or made by ``np.arange`` and comparisons.
"""

from __future__ import annotations

import numpy as np
import pytest
import sourcead_runtime as runtime
from helpers import check_grad, numerical_grad

import sourcead
from sourcead.errors import SourceADError

rng = np.random.default_rng(7)
X = rng.uniform(0.1, 1.0, 6)
M = rng.normal(size=(4, 5))


# --- the programs ---------------------------------------------------------------------------------


def gather_vector(x, idx):
    return np.sum(np.sin(x[idx]) * x[idx])


def gather_rows(m, idx):
    return np.sum(m[idx] ** 2 * m[0])


def gather_columns(m, idx):
    return np.sum(np.exp(m[:, idx]) * m[:, :3])


def gather_with_integers(m, idx, j):
    return np.sum(m[idx, j] ** 3) + np.sum(m[1, idx] ** 2)


def gather_pairs(m, rows, cols):
    return np.sum(m[rows, cols] ** 3)


def gather_arange(x):
    return np.sum(x[np.arange(3) * 2] ** 2) + np.sum(x[np.arange(4) % 2] * x[:4])


def gather_then_slice(m, idx):
    return np.sum(m[idx, 1:4] ** 2) + np.sum(m[None, idx] * m[0, 0])


def write(x, idx):
    y = np.cos(x)
    y[idx] = x[:3] ** 2  # repeated index: the last value stays
    return np.sum(y * y * x)


def write_add(x, idx):
    y = x**2
    y[idx] += np.sin(x[:3])  # as NumPy: y[idx] = y[idx] + v, no accumulation
    return np.sum(y**2)


def write_number(x, idx):
    y = x**2
    y[idx] = x[0] * x[1]
    return np.sum(y**2)


def write_columns(m, idx):
    y = m * m
    y[:, idx] = np.sin(m[:, :3])
    return np.sum(y * m)


def write_in_loop(x, idx):
    y = x * 1.0
    for i in range(3):
        y[idx] = y[idx] * x[i] + 0.1
    return np.sum(y**2)


def add_at_vector(x, idx):
    y = np.zeros(3)
    np.add.at(y, idx, x**2)
    return np.sum(y**2)


def add_at_rows(m, idx):
    y = m * 1.0
    np.add.at(y, idx, np.sin(m[0]))  # one row broadcast to every index
    return np.sum(y**3)


def mask_compare(x):
    return np.sum(x[x > 0.5] ** 2)


def mask_argument(x, mask):
    return np.sum(np.cos(x[mask]) * x[mask])


def mask_matrix(m):
    return np.sum(m[m > 0.0] ** 3)


def mask_rows(m, mask):
    return np.sum(m[mask] ** 2 * m[0]) + np.sum(m[:, m[0] > 0.0] ** 2)


def mask_write(x, mask):
    y = x**2
    y[x > 0.5] = np.sin(x[x > 0.5])
    y[mask] = x[0] * 3.0
    return np.sum(y**2)


def where_broadcast(m, x):
    return np.sum(np.where(m > 0.0, m**2, x) * np.where(x > 0.5, x, 0.0))


def take(m, idx):
    first = np.sum(np.take(m, idx, axis=1) ** 2) + np.sum(np.take(m, idx) ** 3)
    return first + np.sum(np.take(m, idx, axis=None) * m[0, 0])


def steps(x):
    return np.sum(x[::-2] * x[1::2] ** 2) + np.sum(x[::-1] * x)


def step_writes(x):
    y = x * 1.0
    y[::2] = x[1::2] ** 2
    y[::-2] = np.sin(y[::-2])
    return np.sum(y**2)


def new_axes(x):
    outer = x[:, np.newaxis] * x[np.newaxis, :] ** 2
    return np.sum(outer) + np.sum(x[:, None] * x[None, :] ** 3)


def whole_new_axes(x):
    # x[None]: its adjoint wrote b_x[...] += ..., which Numba does not compile
    return np.sum(x[None] * x[:, None]) + np.sum(np.exp(x)[None, None] ** 2)


def ellipses(x):
    m = x.reshape(2, 3)
    t = m[..., None] * m[None, ..., 0][..., None, None]
    y = np.zeros_like(m)
    y[..., 0] = m[..., 1] * 2.0  # ... written out as the slices it stands for, in stores too
    return np.sum(t[0, ...] ** 2) + np.sum(m[...] * y) + np.sum(m[1, ..., 1:] ** 3)


def list_indices(x):
    # a list in an index is an index array, as in NumPy (it was refused as a list literal)
    m = x.reshape(3, 2)
    y = x.copy()
    y[[0, 2]] = x[[1, 1]] ** 2
    return (
        np.sum(x[[0, 0, -1]] * np.array([1.0, 2.0, 3.0])) + np.sum(m[[2, 0], :] ** 2) + np.sum(y**2)
    )


def calls_a_gather(x, idx):
    return gather_vector(x, idx) * x[0]


PROGRAMS = [
    pytest.param(gather_vector, (X, np.array([1, 3, 3, 0, 5])), id="gather-vector"),
    pytest.param(gather_vector, (X, np.array([-1, 0, -2, -1])), id="gather-negative"),
    pytest.param(gather_rows, (M, np.array([3, 1, 3])), id="gather-rows"),
    pytest.param(gather_columns, (M, np.array([4, 1, 1])), id="gather-columns"),
    pytest.param(gather_with_integers, (M, np.array([0, 2, 2]), 3), id="gather-integers"),
    pytest.param(gather_pairs, (M, np.array([0, 3, 3, 1]), np.array([4, 2, 2, 0])), id="pairs"),
    pytest.param(gather_arange, (X,), id="gather-arange"),
    pytest.param(gather_then_slice, (M, np.array([2, 0, 2])), id="gather-then-slice"),
    pytest.param(write, (X, np.array([2, 0, 2])), id="write"),
    pytest.param(write_add, (X, np.array([2, 0, 2])), id="write-add"),
    pytest.param(write_number, (X, np.array([2, 0, 2])), id="write-number"),
    pytest.param(write_columns, (M, np.array([4, 1, 1])), id="write-columns"),
    pytest.param(write_in_loop, (X, np.array([2, 0, 2])), id="write-in-loop"),
    pytest.param(add_at_vector, (X, np.array([0, 1, 1, 2, 0, 2])), id="add-at"),
    pytest.param(add_at_rows, (M, np.array([1, 1, 3])), id="add-at-rows"),
    pytest.param(mask_compare, (X,), id="mask-compare"),
    pytest.param(mask_argument, (X, X > 0.4), id="mask-argument"),
    pytest.param(mask_matrix, (M,), id="mask-matrix"),
    pytest.param(mask_rows, (M, np.array([True, False, True, True])), id="mask-rows"),
    pytest.param(
        mask_write, (X, np.array([True, False, False, True, False, False])), id="mask-write"
    ),
    pytest.param(where_broadcast, (M, X[:5]), id="where-broadcast"),
    pytest.param(take, (M, np.array([4, 1, 1])), id="take"),
    pytest.param(steps, (X,), id="steps"),
    pytest.param(step_writes, (X,), id="step-writes"),
    pytest.param(new_axes, (X,), id="new-axes"),
    pytest.param(whole_new_axes, (X,), id="whole-new-axes"),
    pytest.param(ellipses, (X,), id="ellipses"),
    pytest.param(list_indices, (X,), id="list-indices"),
    pytest.param(calls_a_gather, (X, np.array([1, 3, 3])), id="calls-a-gather"),
]


def _direction(args):
    return rng.normal(size=args[0].shape)


def _check_tangent(f, args, compile):
    v = _direction(args)
    value, tangent = sourcead.jvp(f, args, (v,) + (None,) * (len(args) - 1), compile=compile)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)  # NumPy's semantics, repeats too
    np.testing.assert_allclose(tangent, np.sum(numerical_grad(f, args) * v), rtol=1e-6, atol=1e-8)


def _check_hvp(f, args, compile):
    v = _direction(args)
    product = sourcead.hvp(f, args, (v,) + (None,) * (len(args) - 1), compile=compile)
    gradient = sourcead.grad(f, compile=False)
    h = 1e-5
    plus = gradient(args[0] + h * v, *args[1:])
    minus = gradient(args[0] - h * v, *args[1:])
    np.testing.assert_allclose(product, (plus - minus) / (2 * h), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_gradient_matches_finite_differences(f, args):
    check_grad(f, args, wrt=0, compile=False)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_tangent_matches_finite_differences(f, args):
    _check_tangent(f, args, compile=False)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_hessian_vector_product_matches_finite_differences(f, args):
    _check_hvp(f, args, compile=False)


# compiled: every mode of one program of writes (the helpers of gathers, writes and their
# adjoints and tangents), the gradients of masks and gathers along axes (the rule table
# compiles the gradients of m[rows, cols], x[mask] and np.take too)
WRITES = next(p for p in PROGRAMS if p.id == "write-add")
MASKS = next(p for p in PROGRAMS if p.id == "mask-write")


NEW_AXES = next(p for p in PROGRAMS if p.id == "whole-new-axes")
ELLIPSES = next(p for p in PROGRAMS if p.id == "ellipses")


@pytest.mark.slow
@pytest.mark.parametrize("f, args", [WRITES, NEW_AXES, ELLIPSES])
def test_compiled_gradient_tangent_and_second_order(f, args):
    check_grad(f, args, wrt=0, compile=True)
    _check_tangent(f, args, compile=True)
    _check_hvp(f, args, compile=True)


@pytest.mark.slow
@pytest.mark.parametrize("f, args", [MASKS])
def test_compiled_gradient_of_masks(f, args):
    check_grad(f, args, wrt=0, compile=True)


def gathers(m, idx, mask):
    columns = np.sum(m[:, idx] ** 2) + np.sum(m[idx, 2] ** 3)
    return columns + np.sum(np.take(m, idx) ** 2) * np.sum(m[mask] ** 2)


@pytest.mark.slow
def test_compiled_gathers_along_axes_and_masks():
    check_grad(gathers, (M, np.array([3, 0, 3]), M > 0.2), wrt=0, compile=True)


# --- NumPy's semantics: repeated indices ----------------------------------------------------------


def test_repeated_indices_accumulate_in_the_adjoint_of_a_gather():
    """x[[1, 1]] reads x[1] twice: its gradient counts both reads."""

    def twice(x, idx):
        return np.sum(x[idx] * 3.0)

    g = sourcead.grad(twice, compile=False)(X, np.array([1, 1, 4]))
    np.testing.assert_allclose(g, [0.0, 6.0, 0.0, 0.0, 3.0, 0.0])


def test_a_repeated_write_keeps_the_last_value_and_its_derivative():
    """y[[0, 0]] = v leaves v[1] in y[0] (NumPy): v[0] has no derivative."""

    def last(v, idx):
        y = np.zeros(2)
        y[idx] = v * v
        return np.sum(y * 2.0)

    idx = np.array([0, 0])
    v = np.array([3.0, 5.0])
    g = sourcead.grad(last, compile=False)(v, idx)
    np.testing.assert_allclose(g, [0.0, 2.0 * 2 * 5.0])


def test_runtime_helpers_follow_numpy():
    y, idx, v = rng.normal(size=(4, 3)), np.array([2, 0, 2]), rng.normal(size=(3, 3))
    added = y.copy()
    np.add.at(added, idx, v)
    np.testing.assert_allclose(runtime.add_at(y, idx, v), added)
    written = y.copy()
    written[idx] = v
    np.testing.assert_allclose(runtime.put_along(y, idx, v, 0), written)
    np.testing.assert_allclose(runtime.take_along(y, idx - 3, -1), y[:, idx - 3])
    np.testing.assert_allclose(runtime.scatter_along(v, idx, y.shape, 0), added - y)


# --- refused ------------------------------------------------------------------------------------------


def broadcast_index_arrays(m, rows, cols):
    return np.sum(m[rows[:, None], cols[None, :]])


def mask_of_other_dimensions(t, mask):
    return np.sum(t[mask] ** 2)


def integers_apart_from_the_array(t, idx):
    return np.sum(t[0, :, idx])


def index_of_floats(x, w):
    return np.sum(x[w])


def write_through_pairs(m, rows, cols):
    y = m * 1.0
    y[rows, cols] = 1.0
    return np.sum(y)


def write_with_an_integer(m, idx):
    y = m * 1.0
    y[idx, 0] = 1.0
    return np.sum(y)


def add_at_with_pairs(m, rows, cols):
    y = m * 1.0
    np.add.at(y, (rows, cols), 1.0)
    return np.sum(y)


T = rng.normal(size=(2, 3, 4))
PAIR = np.array([0, 1])
REFUSED = [
    pytest.param(broadcast_index_arrays, (M, PAIR, PAIR), 1, "2-d array of integers", id="2d"),
    pytest.param(mask_of_other_dimensions, (T, M > 0), 1, "3-d array with a 2-d mask", id="mask"),
    pytest.param(integers_apart_from_the_array, (T, PAIR), 1, "separated by a slice", id="apart"),
    pytest.param(index_of_floats, (X, X), 1, "array of float64", id="floats"),
    pytest.param(write_through_pairs, (M, PAIR, PAIR), 2, "two index arrays", id="write-pairs"),
    pytest.param(write_with_an_integer, (M, PAIR), 2, "with integers", id="write-integer"),
    pytest.param(add_at_with_pairs, (M, PAIR, PAIR), 2, "np.add.at with an index", id="add-at"),
]


@pytest.mark.parametrize("f, args, offset, message", REFUSED)
def test_refused_at_the_line(f, args, offset, message):
    line = f.__code__.co_firstlineno + offset
    with pytest.raises(SourceADError, match=rf"test_indexing\.py, line {line}: .*{message}"):
        sourcead.grad(f, compile=False)(*args)


def test_a_mask_of_another_shape_is_an_index_error_at_run_time():
    """Shapes are known at run time only: NumPy's IndexError, not a wrong derivative."""

    def masked_sum(m, mask):
        return np.sum(m[mask])

    with pytest.raises(IndexError, match="boolean index"):
        sourcead.grad(masked_sum, compile=False)(M, np.ones((2, 2), dtype=bool))
