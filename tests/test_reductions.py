"""Reductions along axes in whole programs: log-sum-exp, softmax cross-entropy, standardisation.

The rule table (``test_rule_table.py``) checks each reduction alone; here they meet
broadcasting, slicing and each other, as in the programs that need them, in reverse mode,
forward mode and second order, compiled (slow group) and as plain Python. Also the rule of
ties (a maximum's adjoint shared equally among the elements equal to it), products with
zeros, indices that index, vmap of a gradient, and the refusals of options sourcead does
not take, at the user's line.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from helpers import check_grad, copy_args, numerical_grad
from sourcead_runtime import expand_along, expand_mean_along, max_along, mean_along, sum_along

import sourcead
from sourcead.rules import entry_for

rng = np.random.default_rng(20240611)


# --- the programs -------------------------------------------------------------------------------


def log_sum_exp(z):
    m = np.max(z, axis=1, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(z - m), axis=1)) + m[:, 0])


def softmax_cross_entropy(z, labels):
    shifted = z - z.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return -np.mean(np.sum(labels * log_p, axis=-1))


def softmax(z, w):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return np.sum(w * (e / e.sum(axis=1, keepdims=True)))


def standardised(x, w):
    return np.sum(w * ((x - x.mean(0)) / x.std(0)))


def spread(x):  # ptp and var along a tuple of axes, with keepdims and ddof
    r = np.ptp(x, axis=(0, 2), keepdims=True)
    v = np.var(x, axis=(0, 2), ddof=1, keepdims=True)
    return np.sum(r * v) + np.sum(np.prod(x, axis=-1) ** 2)


def logits(batch: int = 4, classes: int = 5):
    return rng.normal(size=(batch, classes)) * 3.0


def one_hot(batch: int = 4, classes: int = 5):
    return np.eye(classes)[rng.integers(0, classes, batch)]


PROGRAMS = [
    pytest.param(log_sum_exp, (logits(),), id="log-sum-exp"),
    pytest.param(softmax_cross_entropy, (logits(), one_hot()), id="softmax-cross-entropy"),
    pytest.param(softmax, (logits(), rng.normal(size=(4, 5))), id="softmax"),
    pytest.param(
        standardised, (rng.normal(size=(6, 3)), rng.normal(size=(6, 3))), id="standardised"
    ),
    pytest.param(spread, (0.5 + 0.05 * rng.permutation(24).reshape(3, 2, 4),), id="spread"),
]

slow = pytest.mark.slow


@pytest.mark.parametrize("f, args", PROGRAMS)
@pytest.mark.parametrize(
    "compile", [pytest.param(True, marks=slow), False], ids=["compiled", "python"]
)
def test_gradient_matches_finite_differences(f, args, compile):
    check_grad(f, args, wrt=0, compile=compile)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_tangent_matches_the_gradient(f, args):
    """jvp along a direction is the gradient's inner product with it."""
    v = rng.normal(size=args[0].shape)
    value, tangent = sourcead.jvp(f, args, (v,) + (None,) * (len(args) - 1), compile=False)
    gradient = sourcead.grad(f, compile=False)(*args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    np.testing.assert_allclose(tangent, np.sum(gradient * v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_hessian_vector_product_matches_finite_differences(f, args):
    v = rng.normal(size=args[0].shape)
    tangents = (v,) + (None,) * (len(args) - 1)
    product = sourcead.hvp(f, args, tangents, compile=False)
    gradient = sourcead.grad(f, compile=False)
    h = 1e-5
    difference = (gradient(args[0] + h * v, *args[1:]) - gradient(args[0] - h * v, *args[1:])) / (
        2 * h
    )
    np.testing.assert_allclose(product, difference, rtol=1e-6, atol=1e-6)


def test_hessian_of_log_sum_exp_is_that_of_the_softmax():
    """Vector-mode forward over reverse (one direction per element): for each row p of
    softmaxes, the Hessian's block is diag(p) - p p^T."""
    z = logits(2, 3)
    hessian = sourcead.hessian(log_sum_exp, compile=False)(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    expected = np.zeros((2, 3, 2, 3))
    for i in range(2):
        expected[i, :, i, :] = np.diag(p[i]) - np.outer(p[i], p[i])
    np.testing.assert_allclose(hessian.reshape(2, 3, 2, 3), expected, rtol=1e-12, atol=1e-14)


@slow
def test_compiled_tangent_and_hessian_vector_product_of_log_sum_exp():
    z = logits()
    v = rng.normal(size=z.shape)
    _, tangent = sourcead.jvp(log_sum_exp, (z,), (v,))
    gradient = sourcead.grad(log_sum_exp, compile=False)(z)
    np.testing.assert_allclose(tangent, np.sum(gradient * v), rtol=1e-10)
    product = sourcead.hvp(log_sum_exp, (z,), (v,))
    expected = sourcead.hvp(log_sum_exp, (z,), (v,), compile=False)
    np.testing.assert_allclose(product, expected, rtol=1e-10, atol=1e-12)
    hessian = sourcead.hessian(log_sum_exp)(z)  # vector mode: strided directions
    expected = sourcead.hessian(log_sum_exp, compile=False)(z)
    np.testing.assert_allclose(hessian, expected, rtol=1e-10, atol=1e-12)


def test_log_sum_exp_gradient_is_the_softmax():
    z = logits()
    gradient = sourcead.grad(log_sum_exp, compile=False)(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(gradient, e / e.sum(axis=1, keepdims=True), rtol=1e-12)


def test_generated_code_calls_the_helpers():
    gradient = sourcead.grad(log_sum_exp, compile=False)
    gradient(logits())
    source = gradient.source
    assert "m = max_along(z, axis=1, keepdims=True)" in source
    assert "sum_along(exp, axis=1)" in source  # (Numba's np.sum along the last axis is slow)
    assert "expand_along(b_m, b_z.shape, 1) * max_share_along(z, 1)" in source


#: (axis, keepdims): the last axis, a middle one, consecutive and other axes, every axis
_AXES = [(-1, False), (1, True), ((1, 2), False), ((0, 2), True), (None, False)]


@slow
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_compiled_sums_and_means_along_axes_are_numpys(dtype):
    # consecutive axes are summed in place (runtime/reductions.py), others by moving axes
    x = (rng.normal(size=(2, 3, 4)) * 5).astype(dtype)
    if dtype is np.complex128:
        x = x + 1j * rng.normal(size=x.shape)
    for helper, numpy_function in ((sum_along, np.sum), (mean_along, np.mean)):
        for axis, keepdims in _AXES:
            operands = (x, x[:, ::-1, 1:]) if dtype is np.float64 else (x,)  # strided too
            for operand in operands:
                compiled = _compiled_reduction(helper, axis, keepdims)(operand)
                expected = numpy_function(operand, axis=axis, keepdims=keepdims)
                assert np.shape(compiled) == np.shape(expected)
                np.testing.assert_allclose(compiled, expected, rtol=1e-5)
                if np.ndim(expected):
                    assert compiled.dtype == expected.dtype


@slow
def test_compiled_expansions_along_axes_are_numpys():
    shape = (2, 3, 4)
    for axis, _ in _AXES[:-1]:
        axes = (axis % 3,) if isinstance(axis, int) else axis
        kept = tuple(1 if a in axes else n for a, n in enumerate(shape))
        g = rng.normal(size=kept)
        for helper in (expand_along, expand_mean_along):
            compiled = _compiled_expansion(helper, axis)(g, shape)
            np.testing.assert_allclose(compiled, helper(g, shape, axis), rtol=1e-14)


def _compiled_reduction(helper, axis, keepdims):
    # the axes and keepdims are constants of the call, as in generated code
    return numba.njit(lambda x: helper(x, axis=axis, keepdims=keepdims))


def _compiled_expansion(helper, axis):
    return numba.njit(lambda g, shape: helper(g, shape, axis))


def row_log_sum_exp(z):
    m = np.max(z, axis=1, keepdims=True)
    return np.log(np.sum(np.exp(z - m), axis=1)) + m[:, 0]


def weighted_by_a_constant_part(w, c):
    scaled = w[:, None] * c
    return np.sum(w * row_log_sum_exp(c)) + np.sum(row_log_sum_exp(scaled))


@pytest.mark.parametrize(
    "compile", [pytest.param(True, marks=slow), False], ids=["compiled", "python"]
)
def test_a_function_of_yours_with_reductions_called_with_and_without_derivatives(compile):
    """row_log_sum_exp(c) needs no derivative: the generated module calls its copy of the
    function, which must call the helper too (NumPy's np.max with axis= does not compile)."""
    w, c = np.array([0.5, 1.5]), rng.normal(size=(2, 3))
    check_grad(weighted_by_a_constant_part, (w, c), wrt=0, compile=compile)


# --- ties, zeros and indices ----------------------------------------------------------------------


def row_maxima(x):
    m = np.max(x, axis=1)
    return m[0] + 2.0 * m[1]


def column_minima(x):
    return np.sum(x.min(axis=0, keepdims=True))


def whole_maximum(x):
    return np.max(x)


def ranges(x):
    return np.sum(np.ptp(x, axis=1))


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])


@pytest.mark.parametrize(
    "compile", [pytest.param(True, marks=slow), False], ids=["compiled", "python"]
)
def test_ties_share_the_adjoint_equally(compile):
    """The documented rule (docs/arrays.md): a maximum's or minimum's adjoint is split equally
    among the elements equal to it, as JAX splits it."""
    g = sourcead.grad(row_maxima, compile=compile)(TIES)
    np.testing.assert_allclose(g, [[0.0, 0.5, 0.5], [1.0, 0.0, 1.0]], rtol=0, atol=0)
    g = sourcead.grad(column_minima, compile=compile)(np.array([[1.0, 0.0, 2.0], [1.0, 4.0, 2.0]]))
    np.testing.assert_allclose(g, [[0.5, 1.0, 0.5], [0.5, 0.0, 0.5]], rtol=0, atol=0)


def test_ties_share_alike_in_every_mode():
    """Whole arrays and ptp share as well; the tangent averages the tied directions, and the
    gradient is what jvp gives along each basis direction."""
    x = np.array([[2.0, 2.0], [1.0, 2.0]])
    np.testing.assert_allclose(
        sourcead.grad(whole_maximum, compile=False)(x), [[1 / 3, 1 / 3], [0.0, 1 / 3]]
    )
    g = sourcead.grad(ranges, compile=False)(TIES)
    np.testing.assert_allclose(g, [[-1.0, 0.5, 0.5], [0.5, -1.0, 0.5]])
    for f, point in ((row_maxima, TIES), (ranges, TIES), (whole_maximum, x)):
        g = sourcead.grad(f, compile=False)(point)
        for index in np.ndindex(point.shape):
            e = np.zeros_like(point)
            e[index] = 1.0
            _, tangent = sourcead.jvp(f, (point,), (e,), compile=False)
            assert tangent == pytest.approx(g[index], abs=1e-15)


def row_products(x):
    p = np.prod(x, axis=1)
    return p[0] + 10.0 * p[1] + 100.0 * p[2]


@pytest.mark.parametrize(
    "compile", [pytest.param(True, marks=slow), False], ids=["compiled", "python"]
)
def test_products_are_exact_where_elements_are_zero(compile):
    """The gradient of a product with one zero is the product of the others at the zero and
    zero elsewhere; with two zeros it is zero: no nan from dividing by zero."""
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    g = sourcead.grad(row_products, compile=compile)(x)
    expected = [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [600.0, 300.0, 200.0]]
    np.testing.assert_array_equal(g, expected)


def pick_largest(x, y):
    return y[np.argmax(x)] * np.sum(x)


def weigh_by_order(x, y):
    return np.sum(y * np.argsort(x, axis=1)) + np.sum(y * x.argmin(axis=0, keepdims=True))


def test_indices_index_arrays_and_have_no_derivative():
    x, y = np.array([0.5, 3.0, -1.0]), np.array([2.0, 5.0, 7.0])
    gx, gy = sourcead.grad(pick_largest, wrt=(0, 1), compile=False)(x, y)
    np.testing.assert_allclose(gx, np.full(3, 5.0))
    np.testing.assert_allclose(gy, [0.0, 2.5, 0.0])
    x, y = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    check_grad(weigh_by_order, (x, y), wrt=(0, 1), compile=False)
    gy = sourcead.grad(weigh_by_order, wrt=1, compile=False)(x, y)
    np.testing.assert_allclose(gy, np.argsort(x, axis=1) + x.argmin(axis=0, keepdims=True))


def sorted_with_ties(x, y):
    return np.sum(y * np.argsort(x))


@pytest.mark.parametrize(
    "compile", [pytest.param(True, marks=slow), False], ids=["compiled", "python"]
)
def test_argsort_is_stable_compiled_or_not(compile):
    """Tied elements keep their order (NumPy's default sort does not promise it)."""
    x, y = np.array([1.0, 0.0, 1.0, 0.0, 1.0]), np.arange(5.0)
    gy = sourcead.grad(sorted_with_ties, wrt=1, compile=compile)(x, y)
    np.testing.assert_array_equal(gy, [1, 3, 0, 2, 4])


# --- vmap, float32, inputs ------------------------------------------------------------------------


@slow
def test_vmap_of_the_gradient_of_a_reduction():
    batch = rng.normal(size=(3, 4, 5))
    gradients = sourcead.vmap(sourcead.grad(log_sum_exp), in_axes=0)(batch)
    for k in range(3):
        np.testing.assert_allclose(
            gradients[k], numerical_grad(log_sum_exp, (batch[k],)), rtol=1e-6
        )


def test_float32_stays_float32():
    z = logits().astype(np.float32)
    gradient = sourcead.grad(log_sum_exp, compile=False)(z)
    assert gradient.dtype == np.float32
    reference = sourcead.grad(log_sum_exp, compile=False)(z.astype(np.float64))
    np.testing.assert_allclose(gradient, reference, rtol=1e-5)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    w = np.ones((6, 3), np.float32)
    assert sourcead.grad(standardised, compile=False)(x, w).dtype == np.float32


def test_inputs_are_not_modified():
    args = (rng.uniform(0.5, 1.5, (3, 2, 4)),)
    before = copy_args(args)
    sourcead.grad(spread, compile=False)(*args)
    sourcead.hvp(spread, args, (np.ones((3, 2, 4)),), compile=False)
    np.testing.assert_array_equal(args[0], before[0])


def test_device_code_refuses_them():
    """Reductions along axes allocate: CUDA device code refuses them (registry's device)."""
    assert entry_for(max_along).device is False
    assert entry_for(np.var).device is False


# --- refusals at the user's line --------------------------------------------------------------------


def with_out(z, o):
    return np.sum(np.max(z, axis=1, out=o))


def with_where(z):
    return np.sum(z.sum(axis=0, where=z > 0))


def with_initial(z):
    return np.sum(np.max(z, axis=0, initial=0.0))


def with_dtype(z):
    return np.mean(z, axis=0, dtype=np.float32)


def with_a_computed_axis(z):
    k = 1
    return np.sum(np.max(z, axis=k))


def with_computed_keepdims(z):
    keep = True
    return np.sum(np.var(z, axis=0, keepdims=keep))


def with_positional_options(z):
    return np.sum(np.sum(z, 0, None))


def with_flattened_argsort(z):
    return np.sum(z * np.argsort(z, axis=None))


def with_a_tuple_of_axes_for_cumsum(z):
    return np.sum(np.cumsum(z, axis=(0, 1)))


def with_an_axis_out_of_range(z):
    return np.sum(np.mean(z, axis=2))


def with_a_repeated_axis(z):
    return np.sum(np.mean(z, axis=(1, -1)))


def with_ptp_of_complex(z):
    return np.real(np.sum(np.ptp(z, axis=0)))


REFUSED = [
    (with_out, "np.max with out="),
    (with_where, ".sum() with where="),
    (with_initial, "np.max with initial="),
    (with_dtype, "np.mean with dtype="),
    (with_a_computed_axis, "np.max with axis=k: sourcead takes an integer or a tuple"),
    (with_computed_keepdims, "np.var with keepdims=keep: write True or False"),
    (with_positional_options, "np.sum with options by position"),
    (with_flattened_argsort, "np.argsort with axis=None"),
    (with_a_tuple_of_axes_for_cumsum, "np.cumsum with axis=(0, 1): sourcead takes one integer"),
]


@pytest.mark.parametrize("f, message", REFUSED, ids=[f.__name__ for f, _ in REFUSED])
def test_unsupported_options_are_refused_at_grad_time(f, message):
    """Refused when grad() is called, before any argument, naming the function, the option
    and the line."""
    with pytest.raises(sourcead.SourceADError) as refusal:
        sourcead.grad(f)
    assert message in refusal.value.message
    assert refusal.value.filename == __file__
    line = f.__code__.co_firstlineno + (
        2 if f in (with_a_computed_axis, with_computed_keepdims) else 1
    )
    assert refusal.value.lineno == line


@pytest.mark.parametrize(
    "f, message",
    [
        (with_an_axis_out_of_range, "np.mean with axis=2 of a 2-d array"),
        (with_a_repeated_axis, "np.mean with an axis named twice"),
        (with_ptp_of_complex, "of a complex array"),
    ],
)
def test_axes_that_do_not_fit_the_array_are_refused_at_the_first_call(f, message):
    z = rng.normal(size=(2, 3)) + (0.5j if f is with_ptp_of_complex else 0.0)
    with pytest.raises(sourcead.SourceADError, match=message) as refusal:
        sourcead.grad(f, compile=False)(z)
    assert refusal.value.lineno == f.__code__.co_firstlineno + 1
