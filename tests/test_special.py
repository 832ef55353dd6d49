"""scipy.special's functions, np.sort and np.interp end to end, and the helpers behind them.

Generated code cannot call SciPy (Numba compiles none of its functions), so each call becomes a
call of a helper of ``sourcead_runtime`` (``runtime/special.py``): these tests check the helpers
against SciPy (the digamma function, written there, to 1e-12), that every spelling of a call
reaches them, a softmax cross-entropy through ``scipy.special.logsumexp`` against its gradient
and Hessian written out, and the refusals of options sourcead does not take, at the user's line.
The rule table (``test_rule_table.py``) checks each entry's derivatives against finite
differences.
"""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest
import scipy.special
import sourcead_runtime as runtime
from scipy import special
from scipy.special import log_softmax, logsumexp, softmax

import sourcead
from sourcead.errors import SourceADError

# --- the helpers against SciPy ------------------------------------------------------------------


def _points() -> np.ndarray:
    """Positive numbers from 1e-6 to 1e4, and negative ones away from the poles."""
    negative = -np.geomspace(1e-3, 60.0, 3000)
    negative = negative[np.abs(negative - np.round(negative)) > 1e-3]
    return np.concatenate([np.geomspace(1e-6, 1e4, 3000), np.linspace(0.01, 30.0, 3001), negative])


def test_digamma_matches_scipy_to_1e12():
    x = _points()
    reference = scipy.special.digamma(x)
    ours = runtime.special_digamma(x)
    # relative, but absolute near the roots of the digamma function (where it crosses 0)
    error = np.abs(ours - reference) / np.maximum(np.abs(reference), 1e-3)
    assert np.max(error) < 1e-12, x[np.argmax(error)]
    # at the roots nearest zero: the Taylor series there, not cancellation
    for root in (1.4616321449683622, -0.5040830082644554):
        near = root + np.linspace(-0.25, 0.25, 101)
        np.testing.assert_allclose(
            runtime.special_digamma(near), scipy.special.digamma(near), rtol=1e-12, atol=1e-16
        )


@pytest.mark.parametrize("n", [1, 2, 3])
def test_polygamma_matches_scipy(n):
    x = _points()
    reference = scipy.special.polygamma(n, x)
    error = np.abs(runtime.special_polygamma(n, x) - reference) / np.maximum(
        np.abs(reference), 1e-3
    )
    assert np.max(error) < 1e-10, x[np.argmax(error)]


def test_special_values_as_scipy():
    poles = np.array([0.0, -1.0, -2.0])
    np.testing.assert_array_equal(runtime.special_gammaln(poles), scipy.special.gammaln(poles))
    assert runtime.special_digamma(np.inf) == np.inf and math.isnan(runtime.special_digamma(-1.0))
    edges = np.array([0.0, 1.0, -0.5, 1.5, 0.3, 0.5, 0.7])
    np.testing.assert_allclose(runtime.special_logit(edges), scipy.special.logit(edges), rtol=1e-15)
    x = np.array([0.0, 0.0, 0.0, 1.5, -2.0, 1.0])
    y = np.array([0.0, -1.0, 2.0, 0.0, 3.0, -1.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(runtime.special_xlogy(x, y), scipy.special.xlogy(x, y))
        np.testing.assert_array_equal(runtime.special_xlog1py(x, y), scipy.special.xlog1py(x, y))
    big = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    np.testing.assert_allclose(runtime.special_expit(big), scipy.special.expit(big), rtol=1e-15)
    with np.errstate(divide="ignore"):
        empty = np.array([-np.inf, -np.inf])
        assert runtime.special_logsumexp(empty) == scipy.special.logsumexp(empty) == -np.inf


def test_remainders_and_heaviside_as_python_and_numpy():
    pairs = [(5.5, 2.0), (4.5, 2.0), (-7.5, 2.0), (7.0, -2.0), (1e300, 3.0), (3.0, 1e-300)]
    for x, y in pairs:
        assert runtime.math_remainder(x, y) == math.remainder(x, y)
        assert runtime.math_fmod(x, y) == math.fmod(x, y)
    x = np.array([-1.0, 0.0, 2.0, np.nan])
    np.testing.assert_array_equal(runtime.numpy_heaviside(x, 0.5), np.heaviside(x, 0.5))


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
def test_softmax_and_logsumexp_along_axes(axis):
    z = np.random.default_rng(1).normal(size=(3, 4, 5))
    w = np.random.default_rng(2).uniform(0.5, 1.5, size=(4, 5))
    np.testing.assert_allclose(runtime.special_softmax(z, axis), softmax(z, axis), rtol=1e-14)
    np.testing.assert_allclose(
        runtime.special_log_softmax(z, axis), log_softmax(z, axis), rtol=1e-14
    )
    for keepdims in (False, True):
        np.testing.assert_allclose(
            runtime.special_logsumexp(z, axis, keepdims),
            logsumexp(z, axis, keepdims=keepdims),
            rtol=1e-14,
        )
        np.testing.assert_allclose(
            runtime.special_logsumexp_weighted(z, w, axis, keepdims),
            logsumexp(z, axis, b=w, keepdims=keepdims),
            rtol=1e-14,
        )


@numba.njit
def _compiled_helpers(x, y, z):
    return (
        runtime.special_digamma(x),
        runtime.special_polygamma(2, x),
        runtime.special_gammaln(x),
        runtime.special_xlogy(x, y),
        runtime.special_expit(x),
        runtime.special_softmax(z, axis=1),
        runtime.special_logsumexp(z, axis=(0, 1), keepdims=True),
        runtime.sort_along(z, axis=0),
        runtime.sinc_derivative(x),
    )


@pytest.mark.slow  # compiles for tens of seconds
def test_compiled_helpers_agree_with_plain_ones():
    rng = np.random.default_rng(3)
    x, y, z = rng.uniform(-3.0, 3.0, 50), rng.uniform(0.1, 2.0, 50), rng.normal(size=(4, 6))
    compiled = _compiled_helpers(x, y, z)
    plain = (
        runtime.special_digamma(x),
        runtime.special_polygamma(2, x),
        runtime.special_gammaln(x),
        runtime.special_xlogy(x, y),
        runtime.special_expit(x),
        runtime.special_softmax(z, axis=1),
        runtime.special_logsumexp(z, axis=(0, 1), keepdims=True),
        runtime.sort_along(z, axis=0),
        runtime.sinc_derivative(x),
    )
    for c, p in zip(compiled, plain, strict=True):
        np.testing.assert_allclose(c, p, rtol=1e-14, atol=1e-300)


def test_sort_helpers_of_the_flattened_array_and_ties():
    x = np.array([[3.0, 1.0, 2.0], [1.0, 0.0, 3.0]])
    g = np.arange(6.0)
    np.testing.assert_array_equal(runtime.sort_along(x, None), np.sort(x, axis=None))
    back = runtime.unsort_along(g, x, None)  # each adjoint back where its element came from
    np.testing.assert_array_equal(runtime.sorted_like(back, x, None), g)
    # ties keep their order (a stable sort), compiled and not: the first 1.0 (x[0, 1]) is
    # sorted first
    assert back[0, 1] == 1.0 and back[1, 0] == 2.0
    compiled = numba.njit(lambda g, x: runtime.unsort_along(g, x, None))(g, x)
    np.testing.assert_array_equal(compiled, back)


# --- end to end -------------------------------------------------------------------------------------


def cross_entropy(z, y):
    """The softmax cross-entropy of logits z (one row per sample) and one-hot labels y."""
    return np.sum(scipy.special.logsumexp(z, axis=1) - np.sum(y * z, axis=1))


def cross_entropy_special(z, y):
    kept = special.logsumexp(z, axis=1, keepdims=True)
    return np.sum(kept[:, 0] - np.sum(y * z, axis=1))


def cross_entropy_imported(z, y):
    return -np.sum(y * log_softmax(z, axis=-1))


def _labels():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(5, 3))
    y = np.eye(3)[rng.integers(0, 3, 5)]
    return z, y


def _check_cross_entropy(f, compile: bool) -> None:
    z, y = _labels()
    probabilities = scipy.special.softmax(z, axis=1)
    gradient = sourcead.grad(f, compile=compile)(z, y)
    np.testing.assert_allclose(gradient, probabilities - y, rtol=1e-12, atol=1e-14)
    # the Hessian along v, row by row: diag(p) v - p (p . v)
    v = np.random.default_rng(5).normal(size=z.shape)
    expected = probabilities * v - probabilities * np.sum(probabilities * v, axis=1, keepdims=True)
    product = sourcead.hvp(f, (z, y), (v, None), compile=compile)
    np.testing.assert_allclose(product, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("f", [cross_entropy, cross_entropy_special, cross_entropy_imported])
def test_cross_entropy_through_each_spelling(f):
    _check_cross_entropy(f, compile=False)
    gradient = sourcead.grad(f, compile=False)
    gradient(*_labels())
    source = gradient.source  # (for the types of the last call)
    assert "import scipy" not in source and "from scipy" not in source  # (comments quote it)
    # the runtime's helper, imported with the others it uses
    assert re.search(r"^from sourcead_runtime import .*\bspecial_log", source, re.M), source


@pytest.mark.slow
def test_cross_entropy_compiled():
    _check_cross_entropy(cross_entropy, compile=True)


def sinc_sum(x):
    return np.sum(np.sinc(x))


@pytest.mark.parametrize("compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_sinc_at_zero_is_its_limit(compile):
    x = np.array([0.0, 1e-9, 0.5])
    gradient = sourcead.grad(sinc_sum, compile=compile)(x)
    assert gradient[0] == 0.0 and np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient[1], -(np.pi**2) / 3 * 1e-9, rtol=1e-12)
    v = np.array([1.0, 0.0, 0.0])
    curvature = sourcead.hvp(sinc_sum, (x,), (v,), compile=compile)
    np.testing.assert_allclose(curvature[0], -(np.pi**2) / 3, rtol=1e-14)


def digamma_sum(x):
    return np.sum(special.gammaln(x) + scipy.special.digamma(x))


def test_gammaln_and_digamma_derivatives():
    x = np.array([0.3, 1.4616, 2.5, 7.0, -1.5])
    gradient = sourcead.grad(digamma_sum, compile=False)(x)
    expected = scipy.special.digamma(x) + scipy.special.polygamma(1, x)
    np.testing.assert_allclose(gradient, expected, rtol=1e-12)


def sorted_weights(x, w):
    return np.sum(w * np.sort(x, axis=0))


def test_sort_gradient_follows_the_permutation():
    x = np.array([[0.3, -1.0], [-0.2, 2.0], [0.1, 0.5]])
    w = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    gradient = sourcead.grad(sorted_weights, compile=False)(x, w)
    order = np.argsort(x, axis=0)
    expected = np.empty_like(x)
    np.put_along_axis(expected, order, w, axis=0)
    np.testing.assert_array_equal(gradient, expected)


def interp_loss(x, xp, fp):
    return np.sum(np.interp(x, xp, fp))


def test_interp_derivatives_at_knots_and_outside():
    xp = np.array([0.0, 1.0, 3.0])
    fp = np.array([0.0, 2.0, 1.0])
    x = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0])  # left, knots (the right segment), right
    dx, dfp = sourcead.grad(interp_loss, wrt=(0, 2), compile=False)(x, xp, fp)
    np.testing.assert_allclose(dx, [0.0, 2.0, -0.5, -0.5, 0.0, 0.0])
    np.testing.assert_allclose(dfp, [2.0, 1.5, 2.5])  # x = -1, 0 / x = 1, 2 / x = 2, 3, 4


# --- refusals at the user's line ---------------------------------------------------------------------


def signed_logsumexp(z):
    return scipy.special.logsumexp(z, return_sign=True)[0]


def computed_axis(z):
    k = 1
    return np.sum(softmax(z, axis=k))


def sorted_records(x):
    return np.sum(np.sort(x, order="a"))


def interp_left(x, xp, fp):
    return np.sum(np.interp(x, xp, fp, left=0.0))


def in_place_nan_to_num(x):
    return np.sum(np.nan_to_num(x, copy=False))


def unknown_option(x):
    return np.sum(scipy.special.expit(x, out=x))


def binomial(x):
    return np.sum(scipy.special.comb(x, 2.0))


def scalar_weights(z):
    return logsumexp(z, b=2.0)


def fmod_of_arrays(x):
    return np.sum(math.fmod(x, 2.0))


def polygamma_of_float_order(x):
    return np.sum(scipy.special.polygamma(1.0, x))


def partition_of_two(x):
    return np.sum(np.partition(x, (1, 2)))


@pytest.mark.parametrize(
    "f, offset, message",
    [
        (signed_logsumexp, 1, r"scipy\.special\.logsumexp with return_sign=True"),
        (computed_axis, 2, r"softmax with axis=k: sourcead takes None or an integer"),
        (sorted_records, 1, r"np\.sort with order='a'"),
        (interp_left, 1, r"np\.interp with left=0\.0"),
        (in_place_nan_to_num, 1, r"np\.nan_to_num with copy=False"),
        (unknown_option, 1, r"scipy\.special\.expit with out= \(sourcead takes no options\)"),
        (binomial, 1, r"no derivative rule for scipy\.special\.comb"),  # (not read as yours)
    ],
)
def test_refused_options_name_function_option_and_line(f, offset, message):
    with pytest.raises(SourceADError, match=message) as info:
        sourcead.grad(f)  # refused before any call
    assert info.value.filename == __file__
    assert info.value.lineno == f.__code__.co_firstlineno + offset


@pytest.mark.parametrize(
    "f, args, message",
    [
        (scalar_weights, (np.ones(3),), r"logsumexp with b= a number"),
        (fmod_of_arrays, (np.ones(3),), r"math\.fmod of an array"),
        (partition_of_two, (np.ones(4),), r"np\.partition with kth other than one integer"),
        (polygamma_of_float_order, (np.ones(2),), r"polygamma with an order n other than one"),
    ],
)
def test_refused_types_at_the_line(f, args, message):
    with pytest.raises(SourceADError, match=message) as info:
        sourcead.grad(f, compile=False)(*args)
    assert info.value.filename == __file__
    assert info.value.lineno == f.__code__.co_firstlineno + 1
