"""odeint: direct integration, and gradients by the continuous and the discrete adjoint.

Gradients are checked against finite differences of the same integration, and the two
adjoints against each other.
"""

import math

import numpy as np
import pytest
from helpers import assert_close, numerical_grad

import sourcead

TIMES = np.array([0.0, 0.7, 1.5])


def forced_decay(y, t, k):
    return -k * y + math.sin(t)


def decay_loss(y0, k, t):
    ys = sourcead.odeint(forced_decay, y0, t, k, substeps=40)
    return ys[ys.shape[0] - 1] ** 2 + ys[1]


def decay_loss_discrete(y0, k, t):
    ys = sourcead.odeint(forced_decay, y0, t, k, substeps=40, adjoint="discrete")
    return ys[ys.shape[0] - 1] ** 2 + ys[1]


def test_direct_call_matches_exact_solution():
    k, y0 = 0.8, 0.5
    ys = sourcead.odeint(forced_decay, y0, TIMES, k, substeps=200)

    def exact(t):  # y' = -k y + sin t
        particular = (k * math.sin(t) - math.cos(t)) / (1 + k * k)
        return (y0 + 1 / (1 + k * k)) * math.exp(-k * t) + particular

    assert ys.shape == (3,)
    assert_close(ys, [exact(t) for t in TIMES], rtol=1e-9)
    adaptive = sourcead.odeint(forced_decay, y0, TIMES, k, method="dopri5", rtol=1e-10, atol=1e-12)
    assert_close(adaptive, [exact(t) for t in TIMES], rtol=1e-8)


@pytest.mark.parametrize("fun", [decay_loss, decay_loss_discrete])
def test_scalar_state(fun, compile_mode):
    """Compiled and uncompiled (compiling takes seconds: the array cases run uncompiled)."""
    args = (0.5, 0.8, TIMES.copy())
    g = sourcead.grad(fun, wrt=(0, 1), compile=compile_mode)(*args)
    assert_close(g, numerical_grad(fun, args, (0, 1)), rtol=1e-7)


def oscillator(y, t, w, damping):
    d = np.zeros(2)
    d[0] = y[1]
    d[1] = -w[0] * w[0] * y[0] - damping * y[1] * y[1] * y[1] + w[1] * math.cos(t)
    return d


def osc_continuous_rk4(y0, w, damping, t):
    ys = sourcead.odeint(oscillator, y0, t, w, damping, substeps=200)
    return ys[2, 0] ** 2 + ys[1, 1]


def osc_discrete_rk4(y0, w, damping, t):
    ys = sourcead.odeint(oscillator, y0, t, w, damping, substeps=60, adjoint="discrete")
    return ys[2, 0] ** 2 + ys[1, 1]


def osc_continuous_dopri5(y0, w, damping, t):
    ys = sourcead.odeint(oscillator, y0, t, w, damping, method="dopri5", rtol=1e-10, atol=1e-12)
    return ys[2, 0] ** 2 + ys[1, 1]


def osc_discrete_dopri5(y0, w, damping, t):
    ys = sourcead.odeint(
        oscillator, y0, t, w, damping, method="dopri5", adjoint="discrete", rtol=1e-10, atol=1e-12
    )
    return ys[2, 0] ** 2 + ys[1, 1]


OSC_ARGS = (np.array([1.0, 0.2]), np.array([2.0, 0.5]), 0.3, TIMES)


@pytest.mark.parametrize(
    "fun", [osc_continuous_rk4, osc_discrete_rk4, osc_continuous_dopri5, osc_discrete_dopri5]
)
def test_array_state_vs_finite_differences(fun):
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in OSC_ARGS)
    g = sourcead.grad(fun, wrt=(0, 1, 2), compile=False)(*args)
    assert_close(g, numerical_grad(fun, args, (0, 1, 2)), rtol=1e-6, atol=1e-8)
    for a, b in zip(args, OSC_ARGS, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_array_state_compiled():
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in OSC_ARGS)
    compiled = sourcead.grad(osc_continuous_rk4, wrt=(0, 1, 2))(*args)
    plain = sourcead.grad(osc_continuous_rk4, wrt=(0, 1, 2), compile=False)(*args)
    assert_close(compiled, plain, rtol=1e-12)


def test_discrete_adjoint_is_exact_for_the_steps():
    """With few RK4 steps the discrete adjoint still matches finite differences of the steps
    to rounding, while the continuous adjoint differs by the discretisation error."""

    def coarse(y0, w, damping, t):
        ys = sourcead.odeint(oscillator, y0, t, w, damping, substeps=3, adjoint="discrete")
        return ys[2, 0] ** 2 + ys[1, 1]

    def coarse_continuous(y0, w, damping, t):
        ys = sourcead.odeint(oscillator, y0, t, w, damping, substeps=3)
        return ys[2, 0] ** 2 + ys[1, 1]

    discrete = sourcead.grad(coarse, wrt=1, compile=False)(*OSC_ARGS)
    reference = numerical_grad(coarse, OSC_ARGS, 1)
    assert_close(discrete, reference, rtol=1e-8)
    continuous = sourcead.grad(coarse_continuous, wrt=1, compile=False)(*OSC_ARGS)
    assert not np.allclose(continuous, reference, rtol=1e-8)  # the two methods differ
    assert_close(continuous, reference, rtol=5e-2)


def loss_at_times_scaled_by(y0, t):
    s = np.zeros(3)
    for i in range(3):
        s[i] = t[i] * y0
    ys = sourcead.odeint(forced_decay, 1.0, s, y0)
    return ys[2]


def test_no_gradient_with_respect_to_times():
    with pytest.raises(sourcead.SourceADError, match="times t"):
        sourcead.grad(loss_at_times_scaled_by, wrt=0, compile=False)(0.5, TIMES)


def test_bad_times_raise():
    with pytest.raises(ValueError, match="increasing"):
        sourcead.odeint(forced_decay, 1.0, np.array([0.0, 1.0, 0.5]), 0.3)
