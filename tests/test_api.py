"""Public API: grad options and decorator forms, value_and_grad, vjp, .source, show, caching."""

import ast
import importlib
import math

import numpy as np
import pytest
from helpers import (
    assert_args_unchanged,
    assert_close,
    assert_gradient_like,
    copy_args,
    numerical_grad,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import sourcead

X, Y = 1.3, 0.7


def f_xy(x, y):
    return x * x * y + math.sin(y)


def df_dx(x, y):
    return 2.0 * x * y


def df_dy(x, y):
    return x * x + math.cos(y)


def f_array(a, c):
    s = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            s = s + math.sin(a[i, j] * c) * (i + 1.0) + a[i, j] * a[i, j]
    return s


def f_vec(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i] * x[i] * (i + 1.0)
    return s


A34 = np.linspace(-1.0, 1.2, 12).reshape(3, 4)


# ----------------------------------------------------------------- wrt


def test_default_wrt_is_first_argument(compile_mode):
    g = sourcead.grad(f_xy, compile=compile_mode)(X, Y)
    assert_gradient_like(g, X)
    assert_close(g, df_dx(X, Y))


def test_wrt_by_name(compile_mode):
    g = sourcead.grad(f_xy, wrt="y", compile=compile_mode)(X, Y)
    assert_gradient_like(g, Y)
    assert_close(g, df_dy(X, Y))


@pytest.mark.parametrize(
    "wrt, expected",
    [
        ((0, 1), (df_dx(X, Y), df_dy(X, Y))),
        ((1, 0), (df_dy(X, Y), df_dx(X, Y))),
        (("y", "x"), (df_dy(X, Y), df_dx(X, Y))),
        (("x", 1), (df_dx(X, Y), df_dy(X, Y))),
        ((1,), (df_dy(X, Y),)),
    ],
    ids=["01", "10", "names", "mixed", "one-tuple"],
)
def test_wrt_tuple_returns_tuple_in_order(wrt, expected, compile_mode):
    g = sourcead.grad(f_xy, wrt=wrt, compile=compile_mode)(X, Y)
    assert isinstance(g, tuple)
    assert len(g) == len(expected)
    assert_close(g, expected)


def test_wrt_array_and_scalar(compile_mode):
    args = (A34.copy(), 0.8)
    ga, gc = sourcead.grad(f_array, wrt=(0, "c"), compile=compile_mode)(*args)
    assert_args_unchanged((A34, 0.8), args)
    assert_gradient_like(ga, A34)
    assert_gradient_like(gc, 0.8)
    assert_close((ga, gc), numerical_grad(f_array, args, (0, 1)))


# ----------------------------------------------- preserve_result, value_and_grad


def test_preserve_result(compile_mode):
    value, g = sourcead.grad(f_xy, preserve_result=True, compile=compile_mode)(X, Y)
    assert_close(value, f_xy(X, Y), rtol=1e-12)
    assert_close(g, df_dx(X, Y))


def test_preserve_result_tuple_wrt(compile_mode):
    value, g = sourcead.grad(f_xy, wrt=(1, 0), preserve_result=True, compile=compile_mode)(X, Y)
    assert_close(value, f_xy(X, Y), rtol=1e-12)
    assert_close(g, (df_dy(X, Y), df_dx(X, Y)))


def test_value_and_grad(compile_mode):
    value, g = sourcead.value_and_grad(f_xy, compile=compile_mode)(X, Y)
    assert_close(value, f_xy(X, Y), rtol=1e-12)
    assert_close(g, df_dx(X, Y))


def test_value_and_grad_tuple_wrt_array(compile_mode):
    args = (A34.copy(), 0.8)
    value, (ga, gc) = sourcead.value_and_grad(f_array, wrt=(0, 1), compile=compile_mode)(*args)
    assert_args_unchanged((A34, 0.8), args)
    assert_close(value, f_array(A34, 0.8), rtol=1e-12)
    assert_close((ga, gc), numerical_grad(f_array, args, (0, 1)))


# ------------------------------------------------------------ decorators


def test_decorator_forms():
    mod = importlib.import_module("decorated_programs")
    assert_close(mod.d_square(1.5), 4.5)
    gx, gy = mod.d_product(2.0, 0.5)
    assert_close((gx, gy), (math.sin(0.5), 2.0 * math.cos(0.5)))
    value, gy = mod.d_named(1.5, 2.0)
    assert_close(value, 6.0)
    assert_close(gy, 6.0)
    assert_close(mod.d_python(0.5, 4), 1.0 + 2 * 0.5 + 3 * 0.25)


# ------------------------------------------------------------------- vjp


def vec_out(x, c):
    n = len(x)
    y = np.zeros(n)
    for i in range(n):
        y[i] = math.sin(x[i]) * c + x[(i + 1) % n] ** 2
    return y


def tuple_out(x, c):
    n = len(x)
    y = np.zeros(n)
    s = 0.0
    for i in range(n):
        y[i] = x[i] * c
        s = s + x[i] * x[i]
    return s * c, y


X4 = np.array([0.3, -0.7, 1.1, 0.5])
COT4 = np.array([1.0, -2.0, 0.5, 3.0])


def test_vjp_scalar_output():
    value, pullback = sourcead.vjp(f_xy, X, Y)
    assert_close(value, f_xy(X, Y), rtol=1e-12)
    assert_close(pullback(1.0), df_dx(X, Y))
    assert_close(pullback(2.5), 2.5 * df_dx(X, Y))


def test_vjp_scalar_output_tuple_wrt():
    value, pullback = sourcead.vjp(f_xy, X, Y, wrt=(1, "x"))
    assert_close(value, f_xy(X, Y), rtol=1e-12)
    g = pullback(-2.0)
    assert isinstance(g, tuple)
    assert_close(g, (-2.0 * df_dy(X, Y), -2.0 * df_dx(X, Y)))


def test_vjp_array_output():
    args = (X4.copy(), 0.7)
    value, pullback = sourcead.vjp(vec_out, *args, wrt=(0, 1))
    assert_close(value, vec_out(X4, 0.7), rtol=1e-12)
    gx, gc = pullback(COT4.copy())
    assert_args_unchanged((X4, 0.7), args)
    assert_gradient_like(gx, X4)
    assert_gradient_like(gc, 0.7)
    expected = numerical_grad(vec_out, (X4, 0.7), (0, 1), output=lambda y: np.dot(COT4, y))
    assert_close((gx, gc), expected)
    # The pullback is linear and can be called again.
    gx2 = pullback(2.0 * COT4)[0]
    assert_close(gx2, 2.0 * expected[0])


def test_vjp_tuple_output():
    args = (X4.copy(), 0.7)
    value, pullback = sourcead.vjp(tuple_out, *args)
    expected_value = tuple_out(X4, 0.7)
    assert isinstance(value, tuple) and len(value) == 2
    assert_close(value[0], expected_value[0], rtol=1e-12)
    assert_close(value[1], expected_value[1], rtol=1e-12)
    gx = pullback((1.5, COT4.copy()))
    assert_args_unchanged((X4, 0.7), args)
    assert_gradient_like(gx, X4)
    expected = numerical_grad(
        tuple_out, (X4, 0.7), 0, output=lambda out: 1.5 * out[0] + np.dot(COT4, out[1])
    )
    assert_close(gx, expected)


# ------------------------------------------------------------ source, show


@pytest.mark.parametrize(
    "make",
    [
        lambda c: sourcead.grad(f_xy, compile=c),
        lambda c: sourcead.grad(f_xy, wrt=(0, 1), preserve_result=True, compile=c),
        lambda c: sourcead.value_and_grad(f_array, wrt=(0, 1), compile=c),
    ],
    ids=["grad", "grad-tuple-preserve", "value_and_grad"],
)
def test_source_is_valid_python(make, compile_mode):
    g = make(compile_mode)
    src = g.source
    assert isinstance(src, str)
    assert "def " in src
    tree = ast.parse(src)
    assert any(isinstance(node, ast.FunctionDef) for node in ast.walk(tree))


def test_source_same_for_compiled_and_python():
    assert sourcead.grad(f_xy).source == sourcead.grad(f_xy, compile=False).source


def test_show_prints_source(capsys):
    g = sourcead.grad(f_vec, compile=False)
    sourcead.show(g)
    out = capsys.readouterr().out
    assert g.source.strip() in out


# ------------------------------------------------------- arrays and caching


def test_array_gradient_shape_dtype_and_no_aliasing(compile_mode):
    a = A34.copy()
    g = sourcead.grad(f_array, compile=compile_mode)(a, 0.8)
    assert_args_unchanged((A34,), (a,))
    assert isinstance(g, np.ndarray)
    assert g.shape == (3, 4)
    assert g.dtype == np.float64
    assert not np.shares_memory(g, a)
    assert_close(g, numerical_grad(f_array, (A34, 0.8), 0))


def test_repeated_calls_use_cache_and_stay_correct(compile_mode):
    g = sourcead.grad(f_vec, compile=compile_mode)
    x = np.array([0.5, -1.0, 2.0])
    r1 = g(x)
    r1_copy = r1.copy()
    r2 = g(x)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(r1, r1_copy)  # the first result was not overwritten
    assert_close(r1, 2.0 * x * np.arange(1.0, 4.0))
    # Different values and a different length: still correct, results independent.
    x2 = np.array([1.5, 0.25, -0.5, 3.0, 1.0])
    r3 = g(x2)
    assert_close(r3, 2.0 * x2 * np.arange(1.0, 6.0))
    np.testing.assert_array_equal(r1, r1_copy)


def test_compiled_and_python_agree():
    args = (A34.copy(), 0.8)
    gc = sourcead.grad(f_array, wrt=(0, 1), compile=True)(*copy_args(args))
    gp = sourcead.grad(f_array, wrt=(0, 1), compile=False)(*copy_args(args))
    assert_close(gc, gp, rtol=1e-12, atol=1e-14)


def test_error_class():
    assert issubclass(sourcead.SourceADError, Exception)


# ------------------------------------------------------------ properties


def horner(c, x):
    s = 0.0
    for i in range(len(c)):
        s = s * x + c[i]
    return s


def piecewise(x, y):
    s = 0.0
    for i in range(4):
        if x * y > 0.5:
            s = s + math.log(x * y) * y
        elif x > y:
            s = s - x * x
        else:
            s = s + math.sin(x + i)
        x, y = y, x * 0.9 + 0.3
    return s


_GRADS = {}


def _cached_grad(f, wrt, compile):
    key = (f.__name__, wrt, compile)
    if key not in _GRADS:
        _GRADS[key] = sourcead.grad(f, wrt=wrt, compile=compile)
    return _GRADS[key]


_floats = st.floats(min_value=-1.5, max_value=1.5, allow_nan=False)


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(coeffs=st.lists(_floats, min_size=1, max_size=6), x=_floats)
def test_property_horner_matches_analytic(coeffs, x):
    c = np.array(coeffs)
    n = len(c)
    gc, gx = _cached_grad(horner, (0, 1), True)(c, x)
    expected_c = np.array([x ** (n - 1 - i) for i in range(n)])
    expected_x = sum(c[i] * (n - 1 - i) * x ** (n - 2 - i) for i in range(n - 1))
    assert_close(gc, expected_c, rtol=1e-9, atol=1e-12)
    assert_close(gx, expected_x, rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(x=st.floats(min_value=0.1, max_value=2.0), y=st.floats(min_value=0.1, max_value=2.0))
def test_property_compiled_equals_python(x, y):
    compiled = _cached_grad(piecewise, (0, 1), True)(x, y)
    python = _cached_grad(piecewise, (0, 1), False)(x, y)
    assert_close(compiled, python, rtol=1e-12, atol=1e-12)


def doubled_sines(x):
    return np.sin(x) * 2.0


def sines_and_sum(x, k):
    return np.sin(x) * k, np.sum(x) * k


@pytest.mark.parametrize(
    "f, args, cotangent, message",
    [
        (
            doubled_sines,
            (np.array([0.1, 0.2, 0.3]),),
            np.ones(2),
            r"shape \(2,\) for a value of shape \(3,\)",
        ),
        (doubled_sines, (np.array([0.1, 0.2, 0.3]),), np.ones(5), r"shape \(5,\)"),
        (
            doubled_sines,
            (np.array([0.1, 0.2, 0.3]),),
            1.0,
            r"shape \(\) for a value of shape \(3,\)",
        ),
        (doubled_sines, (np.array([0.1, 0.2, 0.3]),), np.ones((3, 1)), r"shape \(3, 1\)"),
        (sines_and_sum, (np.array([0.1, 0.2]), 0.5), np.ones(2), "a tuple of 2 cotangents"),
        (sines_and_sum, (np.array([0.1, 0.2]), 0.5), (1.0, np.ones(2)), r"item 1 of"),
    ],
)
def test_a_pullback_refuses_a_cotangent_that_does_not_fit(f, args, cotangent, message):
    # a shorter cotangent was read past its end when compiled, a longer one cut
    _, pullback = sourcead.vjp(f, *args, compile=False)
    with pytest.raises(ValueError, match=message):
        pullback(cotangent)


def test_a_pullback_takes_lists_and_numbers_of_any_kind():
    x = np.array([0.1, 0.2, 0.3])
    _, pullback = sourcead.vjp(doubled_sines, x, compile=False)
    assert_close(pullback([1, 1, 1]), 2.0 * np.cos(x))
    _, pullback = sourcead.vjp(sines_and_sum, x, 0.5, wrt=(0, 1), compile=False)
    gx, gk = pullback((np.ones(3), 2))
    assert_close(gx, 0.5 * np.cos(x) + 1.0)
    assert_close(gk, np.sum(np.sin(x)) + 2.0 * np.sum(x))


def scaled_product(x, y, scale=2.0):
    return np.sum(x * y) * scale


def test_derivatives_take_arguments_by_keyword():
    # as the function does: grad(f)(x, y=y) was "__call__() got an unexpected keyword"
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    np.testing.assert_allclose(sourcead.grad(scaled_product, compile=False)(x, y=y), 2.0 * y)
    np.testing.assert_allclose(
        sourcead.grad(scaled_product, compile=False)(x, y, scale=3.0), 3.0 * y
    )
    value, gradient = sourcead.value_and_grad(scaled_product, compile=False)(y=y, x=x)
    assert value == pytest.approx(scaled_product(x, y))
    np.testing.assert_allclose(sourcead.jacobian(scaled_product, compile=False)(x, y=y), 2.0 * y)
    np.testing.assert_allclose(sourcead.hessian(scaled_product, compile=False)(x, y=y), 0.0)
    with pytest.raises(TypeError, match="grad of scaled_product"):
        sourcead.grad(scaled_product, compile=False)(x, y, y=y)
    batched = sourcead.vmap(sourcead.grad(scaled_product, compile=False), in_axes=(0, None, None))
    rows = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(batched(rows, y=y, scale=3.0), [3.0 * y, 3.0 * y])
