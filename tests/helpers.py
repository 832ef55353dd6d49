"""Shared helpers for the sourcead test suite.

The central piece is a high-order central finite-difference gradient (6th-order
stencil evaluated at two step sizes and combined by Richardson extrapolation)
that is used as the reference for every reverse-mode gradient.  The two step
sizes also act as a guard: if the estimates disagree, the test point sits too
close to a kink or a change of control flow (a *test* bug), and the checker says
so instead of blaming the compiler.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import sourcead

# Central 6th-order stencil: f'(x) ~ sum_k c_k (f(x+kh) - f(x-kh)) / (60 h)
_STENCIL = ((1, 45.0), (2, -9.0), (3, 1.0))
_REL_STEP = 1e-3

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-8


class FiniteDifferenceUnreliable(AssertionError):
    """The finite-difference reference is not trustworthy at this point (test bug)."""


# --------------------------------------------------------------------------- args


def copy_args(args):
    """Deep-enough copy of an argument tuple: arrays are copied, scalars kept."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(a.copy())
        elif isinstance(a, tuple):
            out.append(copy_args(a))
        else:
            out.append(a)
    return tuple(out)


def assert_args_unchanged(before, after):
    """Assert that every argument is bit-for-bit what it was before the call."""
    assert len(before) == len(after)
    for k, (b, a) in enumerate(zip(before, after, strict=True)):
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray), f"argument {k} changed type"
            assert a.dtype == b.dtype and a.shape == b.shape, f"argument {k} changed dtype/shape"
            assert np.array_equal(a, b, equal_nan=True), f"input array argument {k} was modified"
        elif isinstance(b, tuple):
            assert_args_unchanged(b, a)
        else:
            assert type(a) is type(b) and (a == b or (a != a and b != b)), f"argument {k} changed"


def param_names(f):
    func = getattr(f, "py_func", f)
    return list(inspect.signature(func).parameters)


def wrt_indices(f, wrt):
    """Resolve ``wrt`` (index, name or tuple of them) to ``(indices, single)``."""
    names = param_names(f)
    single = not isinstance(wrt, tuple)
    items = (wrt,) if single else wrt
    indices = []
    for w in items:
        indices.append(names.index(w) if isinstance(w, str) else int(w))
    return indices, single


# ------------------------------------------------------------ finite differences


def _stencil(phi, h):
    return sum(c * (phi(k * h) - phi(-k * h)) for k, c in _STENCIL) / (60.0 * h)


def _partial(phi, x0, rtol, atol):
    """Derivative of the scalar function ``phi(delta)`` at delta = 0."""
    h = _REL_STEP * max(1.0, abs(float(x0)))
    d1 = _stencil(phi, h)
    d2 = _stencil(phi, h / 2.0)
    if not (math.isfinite(d1) and math.isfinite(d2)):
        raise FiniteDifferenceUnreliable(f"non-finite finite difference ({d1}, {d2}) at {x0}")
    # Richardson extrapolation of the O(h^6) error term.
    d = d2 + (d2 - d1) / 63.0
    if abs(d1 - d2) > 0.05 * (rtol * abs(d) + atol):
        raise FiniteDifferenceUnreliable(
            f"finite differences disagree ({d1!r} vs {d2!r}) at x = {x0!r}: "
            "the test point is too close to a kink or a control-flow change (test bug)"
        )
    return d


def directional_difference(phi, *, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL):
    """Finite-difference derivative of the scalar function ``phi(delta)`` at delta = 0."""
    return _partial(phi, 1.0, rtol, atol)


def _scalar_value(v):
    v = np.asarray(v)
    assert v.shape == (), f"function value is not a scalar: shape {v.shape}"
    return float(v)


def numerical_grad(f, args, wrt=0, *, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, output=None):
    """Finite-difference gradient of ``f(*args)`` wrt ``wrt``.

    ``output`` optionally maps the function result to a scalar (used for vjp
    checks); by default the result itself must be a scalar.  The result has the
    same structure ``sourcead.grad`` returns: a single gradient or a tuple.
    """
    indices, single = wrt_indices(f, wrt)
    base = copy_args(args)
    reduce = output if output is not None else _scalar_value

    def evaluate(i, index, delta):
        new = list(copy_args(base))
        if index is None:
            new[i] = float(base[i]) + delta
        else:
            new[i][index] = base[i][index] + delta
        return float(reduce(f(*new)))

    grads = []
    for i in indices:
        a = base[i]
        if isinstance(a, np.ndarray):
            g = np.zeros(a.shape, dtype=np.float64)
            for index in np.ndindex(a.shape):
                g[index] = _partial(
                    lambda d, i=i, ix=index: evaluate(i, ix, d), a[index], rtol, atol
                )
        else:
            assert isinstance(a, float), f"cannot differentiate wrt non-float argument {a!r}"
            g = _partial(lambda d, i=i: evaluate(i, None, d), a, rtol, atol)
        grads.append(g)
    return grads[0] if single else tuple(grads)


# ------------------------------------------------------------------- checking


def assert_gradient_like(g, arg, what="gradient"):
    """A gradient has the structure of its argument: same-shape float64 array or a float."""
    if isinstance(arg, np.ndarray):
        assert isinstance(g, np.ndarray), f"{what} wrt an array must be an array, got {type(g)}"
        assert g.shape == arg.shape, f"{what} has shape {g.shape}, argument has {arg.shape}"
        assert g.dtype == np.float64, f"{what} has dtype {g.dtype}, expected float64"
    else:
        assert isinstance(g, (float, np.floating)), (
            f"{what} wrt a float must be a float, got {type(g).__name__}: {g!r}"
        )


def assert_close(actual, desired, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, what="gradient"):
    if isinstance(desired, tuple):
        assert isinstance(actual, tuple), f"expected a tuple for {what}, got {type(actual)}"
        assert len(actual) == len(desired)
        for k, (a, d) in enumerate(zip(actual, desired, strict=True)):
            assert_close(a, d, rtol, atol, what=f"{what}[{k}]")
        return
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(desired, dtype=np.float64),
        rtol=rtol,
        atol=atol,
        err_msg=what,
    )


def check_grad(
    f, args, wrt=0, compile=True, *, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, expected=None
):
    """Compare ``sourcead.grad(f, wrt=wrt, compile=compile)(*args)`` with finite differences.

    Also checks the structure of the result (tuple for tuple ``wrt``, arrays of
    the argument's shape and dtype float64), that the inputs were not mutated,
    and, when given, an analytic ``expected`` gradient (a value, a tuple of
    values, or a callable taking ``*args``).
    """
    args = copy_args(args)
    before = copy_args(args)
    indices, single = wrt_indices(f, wrt)

    gfun = sourcead.grad(f, wrt=wrt, compile=compile)
    result = gfun(*args)

    assert_args_unchanged(before, args)
    if single:
        results = (result,)
    else:
        assert isinstance(result, tuple), f"tuple wrt must give a tuple, got {type(result)}"
        assert len(result) == len(indices)
        results = result
    for r, i in zip(results, indices, strict=True):
        assert_gradient_like(r, before[i], what=f"gradient wrt argument {i}")

    reference = numerical_grad(f, before, wrt, rtol=rtol, atol=atol)
    assert_close(result, reference, rtol, atol, what="gradient vs finite differences")

    if expected is not None:
        exp = expected(*before) if callable(expected) else expected
        assert_close(result, exp, rtol, atol, what="gradient vs analytic derivative")
    return result


# ------------------------------------------------------------------ case tables


def case(f, *args, wrt=0, expected=None, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, id=None, marks=()):
    """One gradient test case for ``pytest.mark.parametrize("f, args, wrt, opts", ...)``."""
    opts = {"expected": expected, "rtol": rtol, "atol": atol}
    return pytest.param(f, tuple(args), wrt, opts, id=id or f.__name__, marks=marks)


def run_case(f, args, wrt, opts, compile_mode):
    return check_grad(f, args, wrt, compile_mode, **opts)
