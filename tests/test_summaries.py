"""Norms, weighted averages, traces and differences (``rules/summaries.py``).

``np.linalg.norm`` with ``ord=``, ``axis=`` and ``keepdims=`` (vectors and matrices),
``np.average`` with weights, ``np.trace`` with ``offset=`` and axes, ``np.diff``: reverse mode,
forward mode and second order against central finite differences as plain Python (quick
group), one compiled program per function (slow group); complex norms; the conventions at
kinks (a zero norm, ties of inf-norms); refusals at the user's line.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import numerical_grad

import sourcead
from sourcead.errors import SourceADError

rng = np.random.default_rng(20240917)
slow = pytest.mark.slow


def matrix(shape=(3, 4)):
    return rng.normal(size=shape)


def spread_matrix(shape=(3, 4), generator=rng):
    """Entries apart and away from zero: no ties of |x|, no kinks of sums of |x|."""
    n = int(np.prod(shape))
    values = (generator.permutation(n) + 1.0) * 0.37 * generator.choice([-1.0, 1.0], n)
    return values.reshape(shape)


def square():  # distinct singular values (2-norm, -2-norm, nuclear norm)
    return np.diag([3.0, 2.0, 1.0]) + 0.2 * rng.normal(size=(3, 3))


# --- programs: one option each --------------------------------------------------------------------


def norm_rows(x):
    return np.sum(np.linalg.norm(x, axis=1) ** 3)


def norm_columns_keepdims(x):
    return np.sum(x / np.linalg.norm(x, axis=0, keepdims=True))


def norm_one_along(x):
    return np.sum(np.linalg.norm(x, ord=1, axis=-1) ** 2)


def norm_inf_along(x):
    return np.sum(np.linalg.norm(x, ord=np.inf, axis=0) ** 2)


def norm_minus_inf_along(x):
    return np.sum(np.linalg.norm(x, ord=-np.inf, axis=1) ** 2)


def norm_p_along(x):
    return np.sum(np.linalg.norm(x, ord=3, axis=1, keepdims=True) ** 2)


def norm_harmonic_along(x):
    return np.sum(np.linalg.norm(x, -1, 1))


def norm_fro(x):
    kept = np.linalg.norm(x, ord="fro", keepdims=True)
    return np.linalg.norm(x, "fro") ** 2 + kept[0, 0]


def norm_fro_axes(x):  # 3-d: the Frobenius norms of the matrices along axes (0, 2)
    return np.sum(np.linalg.norm(x, axis=(2, 0)) ** 3)


def norm_matrix_one(x):
    return np.linalg.norm(x, ord=1) ** 2


def norm_matrix_inf(x):
    return np.linalg.norm(x, np.inf) + np.linalg.norm(x, ord=-np.inf)


def norm_matrix_one_axes(x):  # 3-d: the 1-norms of the matrices along axes (2, 1), kept
    return np.sum(np.linalg.norm(x, ord=-1, axis=(2, 1), keepdims=True) ** 2)


def norm_matrix_inf_axes(x):
    return np.sum(np.linalg.norm(x, ord=np.inf, axis=(0, 2)) ** 2)


def norm_spectral(x):
    return np.linalg.norm(x, 2) ** 2 + np.linalg.norm(x, ord=-2, axis=(1, 0))


def norm_nuclear(x):
    return np.linalg.norm(x, "nuc") ** 2


def norm_vector_ords(v):  # without axis=: a vector's meaning of ord
    return (
        np.linalg.norm(v, 1) ** 2
        + np.linalg.norm(v, 2) ** 3
        + np.linalg.norm(v, np.inf) ** 2
        + np.linalg.norm(v, -np.inf) ** 2
        + np.linalg.norm(v, 3)
        + np.linalg.norm(v, 0.5)
    )


def average_plain(x):
    return np.average(x) ** 2 + np.sum(np.average(x, axis=1) ** 2)


def average_weighted(x, w):  # weights of x's shape
    return np.average(x, weights=w) ** 2 + np.sum(np.average(x, axis=0, weights=w) ** 2)


def average_along(x, w):  # 1-d weights along axis 1, kept
    return np.sum(np.average(x**2, axis=1, weights=w, keepdims=True) ** 2)


def average_axes(x, w):  # 3-d, weights over axes (0, 2)
    return np.sum(np.average(x, axis=(0, 2), weights=w) ** 2)


def trace_offset(x):
    return np.trace(x, offset=1) ** 2 + np.trace(x, -1) ** 2


def trace_axes(x):  # 3-d: a vector of traces
    return np.sum(np.trace(x, axis1=1, axis2=2) ** 2) + np.sum(np.trace(x, 1, 0, 2) ** 2)


def diff_last(x):
    return np.sum(np.diff(x) ** 2)


def diff_second(x):
    return np.sum(np.diff(x, n=2, axis=0) ** 3)


def diff_vector(x):
    return np.sum(np.diff(x[0], 3) ** 2) + np.sum(np.diff(x, 0) ** 2)


PROGRAMS = [
    pytest.param(norm_rows, (matrix(),), id="norm-rows"),
    pytest.param(norm_columns_keepdims, (matrix(),), id="norm-columns-keepdims"),
    pytest.param(norm_one_along, (spread_matrix(),), id="norm-1-along"),
    pytest.param(norm_inf_along, (spread_matrix(),), id="norm-inf-along"),
    pytest.param(norm_minus_inf_along, (spread_matrix(),), id="norm-minus-inf-along"),
    pytest.param(norm_p_along, (spread_matrix(),), id="norm-p-along"),
    pytest.param(norm_harmonic_along, (spread_matrix(),), id="norm-harmonic-along"),
    pytest.param(norm_fro, (matrix(),), id="norm-fro"),
    pytest.param(norm_fro_axes, (matrix((2, 3, 4)),), id="norm-fro-axes"),
    pytest.param(norm_matrix_one, (spread_matrix(),), id="norm-matrix-1"),
    pytest.param(norm_matrix_inf, (spread_matrix(),), id="norm-matrix-inf"),
    pytest.param(norm_matrix_one_axes, (spread_matrix((2, 3, 4)),), id="norm-matrix-1-axes"),
    pytest.param(norm_matrix_inf_axes, (spread_matrix((2, 3, 4)),), id="norm-matrix-inf-axes"),
    pytest.param(norm_spectral, (square(),), id="norm-spectral"),
    pytest.param(norm_nuclear, (square(),), id="norm-nuclear"),
    pytest.param(norm_vector_ords, (spread_matrix((5,)),), id="norm-vector-ords"),
    pytest.param(average_plain, (matrix(),), id="average"),
    pytest.param(average_weighted, (matrix(), rng.uniform(0.5, 1.5, (3, 4))), id="average-w"),
    pytest.param(average_along, (matrix(), rng.uniform(0.5, 1.5, 4)), id="average-along"),
    pytest.param(
        average_axes, (matrix((2, 3, 4)), rng.uniform(0.5, 1.5, (2, 4))), id="average-axes"
    ),
    pytest.param(trace_offset, (matrix((3, 4)),), id="trace-offset"),
    pytest.param(trace_axes, (matrix((3, 4, 4)),), id="trace-axes"),
    pytest.param(diff_last, (matrix((3, 5)),), id="diff"),
    pytest.param(diff_second, (matrix((4, 3)),), id="diff-second"),
    pytest.param(diff_vector, (matrix((2, 5)),), id="diff-vector"),
]


def _directions(args):
    return tuple(rng.normal(size=np.shape(a)) for a in args)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_gradient_matches_finite_differences(f, args):
    for k in range(len(args)):
        gradient = sourcead.grad(f, wrt=k, compile=False)(*args)
        np.testing.assert_allclose(gradient, numerical_grad(f, args, k), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_tangent_matches_finite_differences(f, args):
    v = _directions(args)
    value, tangent = sourcead.jvp(f, args, v, compile=False)
    h = 1e-6
    plus = f(*(a + h * d for a, d in zip(args, v, strict=True)))
    minus = f(*(a - h * d for a, d in zip(args, v, strict=True)))
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    np.testing.assert_allclose(tangent, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("f, args", PROGRAMS)
def test_hessian_vector_product_matches_finite_differences(f, args):
    v = rng.normal(size=np.shape(args[0]))
    product = sourcead.hvp(f, args, (v,) + (None,) * (len(args) - 1), compile=False)
    gradient = sourcead.grad(f, compile=False)
    h = 1e-5
    difference = (gradient(args[0] + h * v, *args[1:]) - gradient(args[0] - h * v, *args[1:])) / (
        2 * h
    )
    np.testing.assert_allclose(product, difference, rtol=1e-6, atol=1e-6)


def test_values_are_numpy_values():
    x, t = spread_matrix(), matrix((3, 4, 4))
    for f, args in ((norm_vector_ords, (x[0],)), (norm_matrix_one_axes, (t,)), (trace_axes, (t,))):
        assert sourcead.grad(f, compile=False)(*args).shape == args[0].shape
    assert np.allclose(
        np.linalg.norm(x, ord=-1, axis=(1, 0), keepdims=True),
        np.min(np.sum(np.abs(x), axis=1, keepdims=True), axis=(1, 0), keepdims=True),
    )


# --- complex norms: real results, JAX's convention (dL/dx - i dL/dy) --------------------------------


def complex_norms(z):
    return (
        np.sum(np.linalg.norm(z, axis=0) ** 2)
        + np.linalg.norm(z, ord=1)
        + np.sum(np.linalg.norm(z, ord=np.inf, axis=1))
        + np.linalg.norm(z, "fro")
    )


def test_norms_of_complex_arrays():
    # moduli apart (two independent spread matrices can tie: |3 + 4i| = |4 + 3i|), and a
    # generator of its own: the inputs do not depend on what ran before in this process (a
    # draw with two column sums of moduli nearly equal put the 1-norm at a kink)
    own = np.random.default_rng(11)
    x = spread_matrix(generator=own)
    y = 0.3 * x + 0.01 * np.arange(1.0, 13.0).reshape(3, 4)
    z = x + 1j * y
    gradient = sourcead.grad(complex_norms, compile=False)(z)
    assert gradient.dtype == np.complex128

    def real_parts(x, y):
        return complex_norms(x + 1j * y)

    expected = numerical_grad(real_parts, (x, y), 0) - 1j * numerical_grad(real_parts, (x, y), 1)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-8)
    v = own.normal(size=z.shape) + 1j * own.normal(size=z.shape)
    _, tangent = sourcead.jvp(complex_norms, (z,), (v,), compile=False)
    np.testing.assert_allclose(tangent, np.real(np.sum(gradient * v)), rtol=1e-10)


# --- kinks ------------------------------------------------------------------------------------------


def norm_of_rows(x):
    return np.sum(np.linalg.norm(x, axis=1))


def whole_norm(x):
    return np.linalg.norm(x)


def inf_norm(v):
    return np.linalg.norm(v, np.inf)


def test_gradient_of_a_zero_norm_is_zero():
    """As np.abs's at 0: a row of zeros gets a zero gradient, the others x / |x|."""
    x = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])
    gradient = sourcead.grad(norm_of_rows, compile=False)(x)
    np.testing.assert_allclose(gradient, [[0.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    np.testing.assert_array_equal(sourcead.grad(whole_norm, compile=False)(np.zeros(3)), 0.0)
    _, tangent = sourcead.jvp(norm_of_rows, (x,), (np.ones_like(x),), compile=False)
    assert tangent == pytest.approx(1.4)


def test_ties_of_an_inf_norm_share_its_gradient():
    v = np.array([-2.0, 1.0, 2.0])
    np.testing.assert_allclose(sourcead.grad(inf_norm, compile=False)(v), [-0.5, 0.0, 0.5])


# --- compiled (slow): one program per function ------------------------------------------------------


def compiled_norms(x):
    return (
        np.sum(np.linalg.norm(x, axis=1) ** 3)
        + np.linalg.norm(x, ord=1)
        + np.linalg.norm(x, 2)
        + np.sum(np.linalg.norm(x, ord=3, axis=0))
    )


def compiled_average(x, w):
    return np.sum(np.average(x, axis=1, weights=w) ** 2) + np.average(x) ** 2


def compiled_trace(t):
    return np.sum(np.trace(t, axis1=1, axis2=2) ** 2) + np.trace(t[0], offset=1) ** 2


def compiled_diff(x):
    return np.sum(np.diff(x, axis=0) ** 2) + np.sum(np.diff(x, n=2) ** 3)


# compiled: every function's gradient, and the forward mode and second order of one (the
# plain-Python tests above check those of all; compiling them is what takes the time)
COMPILED = [
    pytest.param(compiled_norms, (square(),), False, id="norm"),
    pytest.param(compiled_average, (matrix(), rng.uniform(0.5, 1.5, 4)), False, id="average"),
    pytest.param(compiled_trace, (matrix((3, 4, 4)),), False, id="trace"),
    pytest.param(compiled_diff, (matrix((3, 5)),), True, id="diff"),
]


@slow
@pytest.mark.parametrize("f, args, forward", COMPILED)
def test_compiled_derivatives_are_those_of_plain_python(f, args, forward):
    v = (rng.normal(size=np.shape(args[0])),) + (None,) * (len(args) - 1)
    gradient = sourcead.grad(f)(*args)
    np.testing.assert_allclose(gradient, numerical_grad(f, args, 0), rtol=1e-6, atol=1e-8)
    if not forward:
        return
    _, tangent = sourcead.jvp(f, args, v)
    np.testing.assert_allclose(tangent, np.sum(gradient * v[0]), rtol=1e-10, atol=1e-12)
    product = sourcead.hvp(f, args, v)
    expected = sourcead.hvp(f, args, v, compile=False)
    np.testing.assert_allclose(product, expected, rtol=1e-10, atol=1e-12)


# --- refusals ------------------------------------------------------------------------------------------


def norm_zero_order(x):
    return np.linalg.norm(x, 0)


def norm_fro_along(x):
    return np.sum(np.linalg.norm(x, "fro", axis=0))


def norm_computed_order(x, p):
    return np.linalg.norm(x, p)


def norm_harmonic_without_axis(x):
    return np.linalg.norm(x, -1)


def norm_spectral_of_stacks(x):
    return np.sum(np.linalg.norm(x, 2, axis=(1, 2)))


def norm_three_axes(x):
    return np.linalg.norm(x, axis=(0, 1, 2))


def norm_computed_axis(x, k):
    return np.sum(np.linalg.norm(x, axis=k))


def norm_fro_of_a_vector(x):
    return np.linalg.norm(x[0], "fro")


def norm_ord_of_3d(x):
    return np.linalg.norm(x, 1)


def average_returned(x, w):
    avg, total = np.average(x, weights=w, returned=True)
    return avg


def average_bad_weights(x, w):
    return np.average(x, weights=w)


def trace_computed_axes(x, k):
    return np.trace(x, axis1=k, axis2=0)


def trace_of_3d(x):
    return np.sum(np.trace(x))


def trace_dtype(x):
    return np.trace(x, dtype=np.float32)


def diff_prepend(x):
    return np.sum(np.diff(x, prepend=0.0))


def diff_axis_out_of_range(x):
    return np.sum(np.diff(x, axis=2))


REFUSED = [
    (norm_zero_order, (matrix(),), "ord=0"),
    (norm_fro_along, (matrix(),), "ord='fro'"),
    (norm_computed_order, (matrix(), 2.0), "ord=p"),
    (norm_harmonic_without_axis, (matrix(),), "ord=-1"),
    (norm_spectral_of_stacks, (matrix((2, 3, 3)),), "stacks"),
    (norm_three_axes, (matrix((2, 3, 3)),), "3 axes"),
    (norm_computed_axis, (matrix(), 1), "axis=k"),
    (norm_fro_of_a_vector, (matrix(),), "1-d array"),
    (norm_ord_of_3d, (matrix((2, 3, 3)),), "3-d array"),
    (average_returned, (matrix(), matrix()), "returned=True"),
    (average_bad_weights, (matrix(), rng.normal(size=4)), "1-d weights"),
    (trace_computed_axes, (matrix(), 1), "axis1=k"),
    (trace_of_3d, (matrix((2, 3, 3)),), "axis1=, axis2="),
    (trace_dtype, (matrix(),), "dtype="),
    (diff_prepend, (matrix(),), "prepend="),
    (diff_axis_out_of_range, (matrix(),), "axis=2"),
]


@pytest.mark.parametrize("f, args, match", REFUSED, ids=[f.__name__ for f, _, _ in REFUSED])
def test_refusals_name_the_function_the_option_and_the_line(f, args, match):
    with pytest.raises(SourceADError) as raised:
        sourcead.grad(f, compile=False)(*args)
    message = str(raised.value)
    assert match in message, message
    assert "test_summaries.py" in message, message
