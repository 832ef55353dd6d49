"""JAX's spellings: ``argnums=`` for ``wrt=``, ``has_aux=True``, and ``value_and_grad`` as
``scipy.optimize.minimize(..., jac=True)`` wants it (with the L-BFGS-B example)."""

import importlib.util
import inspect
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_close, copy_args, numerical_grad
from pickled_functions import energy, polar, rosen
from scipy.optimize import minimize

import sourcead
from sourcead import SourceADError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lbfgs_fit.py"


# --- functions returning (value, aux) ----------------------------------------------------------
def fit(w, t, y):
    """A least-squares loss; aux: the residuals (an array computed from active values)."""
    r = w[0] * np.exp(-w[1] * t) + w[2] - y
    return np.sum(r * r), r


def fit_value(w, t, y):
    return fit(w, t, y)[0]


def counted(x, y):
    """aux: an int computed in a loop, next to an active float."""
    s = 0.0
    k = 0
    for _ in range(4):
        s = s * x + y
        if s > 1.0:
            k += 1
    return s * s, k


def counted_value(x, y):
    return counted(x, y)[0]


def nested(x, y):
    """aux: a tuple of floats, one of them the value itself."""
    v = x * math.exp(y)
    return v, (v, x + y)


def nested_value(x, y):
    return nested(x, y)[0]


def singular_aux(u):
    """aux's derivative is infinite at u = 0; the value's gradient is 2u there too."""
    r = np.sqrt(u)
    return np.sum(u * u), r


def singular_value(u):
    return np.sum(u * u)


def early_returns(x):
    if x > 0.0:
        return x * x, 1
    return -x, 2


def early_value(x):
    if x > 0.0:
        return x * x
    return -x


def curve_aux(w, t):
    p = w[0] * np.exp(-w[1] * t) + w[2]
    return p, np.sqrt(np.abs(p))


def curve_value(w, t):
    return w[0] * np.exp(-w[1] * t) + w[2]


def single(x):
    return x * x


def triple(x):
    return x, 2.0 * x, 3.0 * x


def named_pair(x):
    pair = (x * x, x)
    return pair


def two_singles(x):
    if x > 0.0:
        return x * x
    return -x


def array_value(u):
    return u * 2.0, 1.0


def tuple_value(x):
    return (x, 2.0 * x), 1.0


T = np.linspace(0.0, 2.0, 6)
W = np.array([1.5, 0.7, 0.2])
Y = np.array([1.6, 1.2, 0.9, 0.7, 0.6, 0.5])
U = np.array([0.5, 1.2, -0.3, 0.8])


# --- argnums ----------------------------------------------------------------------------------
@pytest.mark.parametrize("argnums", [0, 1, (1, 0), (0, 1), -1])
def test_argnums_is_wrt(argnums):
    args = (2.0, 0.7)
    for make in (sourcead.grad, sourcead.value_and_grad):
        by_argnums = make(energy, argnums=argnums, compile=False)(*args)
        assert_close(by_argnums, make(energy, wrt=argnums, compile=False)(*args), 0, 0)
    gradient = sourcead.grad(energy, argnums=argnums, compile=False)(*args)
    assert_close(gradient, numerical_grad(energy, args, argnums))
    value, pullback = sourcead.vjp(polar, *args, argnums=argnums, compile=False)
    expected = sourcead.vjp(polar, *args, wrt=argnums, compile=False)[1]((1.0, 0.5))
    assert_close(pullback((1.0, 0.5)), expected, 0, 0)
    assert_close(pullback((1.0, 0.0)), numerical_grad(polar, args, argnums, output=lambda v: v[0]))
    for make in (sourcead.jacobian, sourcead.jacfwd, sourcead.jacrev):
        jacobian = make(polar, argnums=argnums, compile=False)(*args)
        assert_close(jacobian, make(polar, wrt=argnums, compile=False)(*args), 0, 0)
    hessian = sourcead.hessian(energy, argnums=argnums, compile=False)(*args)
    assert_close(hessian, sourcead.hessian(energy, wrt=argnums, compile=False)(*args), 0, 0)


def test_argnums_in_the_decorator_form():
    gradient = sourcead.grad(argnums=(0, 1), compile=False)(energy)
    assert_close(gradient(2.0, 0.7), numerical_grad(energy, (2.0, 0.7), (0, 1)))


def test_no_wrt_nor_argnums_is_the_first_argument():
    assert_close(sourcead.grad(energy, compile=False)(2.0, 0.7), numerical_grad(energy, (2.0, 0.7)))


PUBLIC = [
    lambda **kw: sourcead.grad(energy, compile=False, **kw),
    lambda **kw: sourcead.value_and_grad(energy, compile=False, **kw),
    lambda **kw: sourcead.vjp(energy, 2.0, 0.7, compile=False, **kw),
    lambda **kw: sourcead.jacobian(polar, compile=False, **kw),
    lambda **kw: sourcead.jacfwd(polar, compile=False, **kw),
    lambda **kw: sourcead.jacrev(polar, compile=False, **kw),
    lambda **kw: sourcead.hessian(energy, compile=False, **kw),
    lambda **kw: sourcead.grad(compile=False, **kw),
]


@pytest.mark.parametrize("make", PUBLIC)
def test_wrt_and_argnums_together_are_refused(make):
    with pytest.raises(TypeError, match="both wrt=0 and argnums=1; argnums is JAX's name"):
        make(wrt=0, argnums=1)


def test_host_grad_refuses_wrt_and_argnums_together():
    pytest.importorskip("numba.cuda")
    with pytest.raises(TypeError, match="both wrt"):
        sourcead.host_grad(energy, wrt=0, argnums=0)


@pytest.mark.parametrize("argnums", ["x", 1.0, True, [0, 1], (0, "y")])
def test_argnums_takes_ints(argnums):
    with pytest.raises(TypeError, match="argnums must be an int or a tuple of ints"):
        sourcead.grad(energy, argnums=argnums, compile=False)


def test_empty_and_out_of_range_argnums():
    with pytest.raises(ValueError, match="argnums is empty"):
        sourcead.jacobian(polar, argnums=())
    with pytest.raises(SourceADError, match="out of range"):
        sourcead.grad(energy, argnums=2, compile=False)


# --- has_aux ----------------------------------------------------------------------------------
AUX_CASES = [
    pytest.param(fit, fit_value, (W, T, Y), 0, id="array aux"),
    pytest.param(fit, fit_value, (W, T, Y), (0, 2), id="array aux, tuple wrt"),
    pytest.param(counted, counted_value, (0.9, 0.6), (0, 1), id="int aux"),
    pytest.param(nested, nested_value, (0.4, 0.3), 1, id="tuple aux"),
    pytest.param(early_returns, early_value, (1.5,), 0, id="early returns"),
    pytest.param(early_returns, early_value, (-1.5,), 0, id="early returns, other branch"),
]


def assert_same_aux(actual, expected):
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same_aux(a, e)
    else:
        assert np.asarray(actual).dtype.kind == np.asarray(expected).dtype.kind  # ints stay ints
        np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("fun, value_only, args, wrt", AUX_CASES)
def test_grad_has_aux(fun, value_only, args, wrt, compile_mode):
    before = copy_args(args)
    gradient, aux = sourcead.grad(fun, wrt, has_aux=True, compile=compile_mode)(*args)
    for a, b in zip(args, before, strict=True):
        np.testing.assert_array_equal(a, b)  # inputs are never mutated
    assert_close(gradient, numerical_grad(value_only, before, wrt))
    assert_same_aux(aux, fun(*before)[1])


@pytest.mark.parametrize("fun, value_only, args, wrt", AUX_CASES)
def test_value_and_grad_has_aux(fun, value_only, args, wrt, compile_mode):
    (value, aux), gradient = sourcead.value_and_grad(
        fun, argnums=wrt, has_aux=True, compile=compile_mode
    )(*args)
    expected_value, expected_aux = fun(*copy_args(args))
    np.testing.assert_allclose(value, expected_value, rtol=1e-13)
    assert_same_aux(aux, expected_aux)
    assert_close(gradient, numerical_grad(value_only, copy_args(args), wrt))
    preserved = sourcead.grad(fun, wrt, has_aux=True, preserve_result=True, compile=compile_mode)
    (value_2, _), gradient_2 = preserved(*args)
    assert value_2 == value
    assert_close(gradient_2, gradient, 0, 0)


def test_aux_never_reaches_the_gradient(compile_mode):
    """aux = sqrt(u) has an infinite derivative at 0: it must not take part in the backward
    sweep (zero times infinity would make the gradient NaN)."""
    u = np.array([0.0, 1.0, 4.0])
    gradient, aux = sourcead.grad(singular_aux, has_aux=True, compile=compile_mode)(u)
    np.testing.assert_allclose(gradient, numerical_grad(singular_value, (u,)), atol=1e-9)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_array_equal(aux, np.sqrt(u))


def test_aux_has_no_adjoint_in_the_generated_code():
    with_aux = sourcead.grad(singular_aux, has_aux=True, compile=False)
    with_aux(U * U)
    full = sourcead.vjp(singular_aux, U * U, compile=False)[1]  # every output differentiated
    assert "np.sqrt" in full.source.split("# backward sweep")[1]
    assert "np.sqrt" not in with_aux.source.split("# backward sweep")[1]
    assert "passed through" in with_aux.source


JACOBIANS = [sourcead.jacobian, sourcead.jacfwd, sourcead.jacrev]


@pytest.mark.parametrize("make", JACOBIANS, ids=["jacobian", "jacfwd", "jacrev"])
def test_jacobian_has_aux(make, compile_mode):
    jacobian, aux = make(curve_aux, has_aux=True, compile=compile_mode)(W, T)
    expected = make(curve_value, compile=compile_mode)(W, T)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-13, atol=1e-15)
    for k in range(T.shape[0]):  # row k: the gradient of the k-th prediction
        reference = numerical_grad(curve_value, (W.copy(), T), 0, output=lambda p, k=k: p[k])
        assert_close(jacobian[k], reference)
    np.testing.assert_allclose(aux, curve_aux(W, T)[1], rtol=1e-13)
    scalar, aux = make(fit, argnums=(0, 2), has_aux=True, compile=compile_mode)(W, T, Y)
    assert_close(scalar, numerical_grad(fit_value, (W, T, Y), (0, 2)))
    np.testing.assert_allclose(aux, fit(W, T, Y)[1], rtol=1e-13)


def test_jacobian_auto_mode_counts_the_value_only():
    jacobian = sourcead.jacobian(curve_aux, has_aux=True, compile=False)
    jacobian(W, np.linspace(0.0, 1.0, 2))  # 2 outputs, 3 inputs: reverse mode
    assert jacobian.last_mode == "reverse"
    jacobian(W, np.linspace(0.0, 1.0, 8))  # 8 outputs (the aux's 8 not counted)
    assert jacobian.last_mode == "forward"


@pytest.mark.parametrize(
    "fun, where", [(single, "return x * x"), (triple, "return x, 2.0 * x"),
                   (named_pair, "return pair"), (two_singles, "return x * x")],
)  # fmt: skip
def test_has_aux_needs_a_pair_at_each_return(fun, where):
    lines, first = inspect.getsourcelines(fun)
    line = first + next(k for k, text in enumerate(lines) if where in text)
    for make in (sourcead.grad, sourcead.value_and_grad, sourcead.jacfwd, sourcead.jacrev):
        with pytest.raises(SourceADError, match=r"has_aux=True needs \w+ to return a pair") as e:
            make(fun, has_aux=True, compile=False)
        assert (e.value.filename, e.value.lineno) == (__file__, line)


def test_has_aux_value_must_be_a_real_scalar_for_grad():
    with pytest.raises(ValueError, match="real scalar result; array_value returns as its value"):
        sourcead.grad(array_value, has_aux=True, compile=False)(U)
    with pytest.raises(ValueError, match="returns a tuple"):  # the pair without has_aux
        sourcead.grad(fit, compile=False)(W, T, Y)


def test_has_aux_jacobian_value_must_be_a_float_or_an_array():
    for mode in ("forward", "reverse"):
        with pytest.raises(ValueError, match="a float or an array as its value"):
            sourcead.jacobian(tuple_value, mode=mode, has_aux=True, compile=False)(1.5)


def test_has_aux_is_refused_where_it_has_no_meaning():
    aux_gradient = sourcead.grad(early_returns, has_aux=True, compile=False)
    with pytest.raises(ValueError, match="has_aux"):
        sourcead.grad(aux_gradient)
    with pytest.raises(ValueError, match="has_aux"):
        sourcead.grad(sourcead.grad(early_value, compile=False), has_aux=True)
    with pytest.raises(ValueError, match="vmap of a derivative with has_aux=True"):
        sourcead.vmap(aux_gradient)
    with pytest.raises(ValueError, match="vmap of a derivative with has_aux=True"):
        sourcead.vmap(sourcead.jacobian(curve_aux, has_aux=True, compile=False))


# --- value_and_grad for scipy.optimize.minimize -----------------------------------------------
def test_value_and_grad_is_what_minimize_wants(compile_mode):
    loss_and_grad = sourcead.value_and_grad(rosen, compile=compile_mode)
    x0 = np.array([-1.2, 1.0, 0.8])  # (in 3 dimensions rosen has no other local minimum)
    value, gradient = loss_and_grad(x0)
    assert isinstance(value, float) and isinstance(gradient, np.ndarray)
    assert gradient.shape == x0.shape and gradient.dtype == np.float64
    result = minimize(loss_and_grad, x0, jac=True, method="L-BFGS-B", options={"gtol": 1e-10})
    assert result.success, result.message
    # rosen's minimum is at ones, where its value and gradient vanish
    np.testing.assert_allclose(result.x, np.ones_like(x0), atol=1e-5)
    without_gradient = minimize(rosen, x0, method="L-BFGS-B")  # finite differences by scipy
    assert result.nfev < without_gradient.nfev


def _example():
    spec = importlib.util.spec_from_file_location("lbfgs_fit_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_fit(example, result, observed):
    assert result.success, result.message
    # the fit is the least-squares optimum: at least as good as the true parameters, and
    # within a few noise-sized steps of them
    assert result.fun <= example.loss(example.TRUE, observed)
    np.testing.assert_allclose(result.x, example.TRUE, rtol=0.05, atol=0.005)


def test_the_lbfgs_example_fit():
    """The example's loss and data, with its gradient run as Python (fast); the slow test
    below runs the script's main as it is (compiled, with the plot)."""
    example = _example()
    observed = example.observations()
    result = minimize(
        sourcead.value_and_grad(example.loss, compile=False),
        np.array([8.0, 8.0, 0.0]),
        args=(observed,),
        jac=True,
        method="L-BFGS-B",
        bounds=[(None, None), (None, None), (0.0, None)],
    )
    _check_fit(example, result, observed)


@pytest.mark.slow
def test_the_lbfgs_example_runs(tmp_path):
    pytest.importorskip("matplotlib")
    example = _example()
    plot = tmp_path / "fit.png"
    result, observed = example.main(plot)
    _check_fit(example, result, observed)
    assert plot.stat().st_size > 10_000
