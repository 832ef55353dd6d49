"""Forward mode through fixed_point, root and odeint: jvp and forward-mode Jacobians.

Tangents are checked against the gradients of reverse mode (themselves checked against
finite differences in test_solvers.py and test_odeint.py) and against finite differences
along the direction; forward-mode Jacobians (one vector-mode sweep) against reverse-mode
ones.
"""

import math

import numpy as np
import pytest
from helpers import assert_args_unchanged, copy_args, directional_difference
from test_odeint import (
    OSC_ARGS,
    TIMES,
    decay_loss,
    decay_loss_discrete,
    forced_decay,
    loss_at_times_scaled_by,
    osc_continuous_dopri5,
    osc_continuous_rk4,
    oscillator,
)
from test_solvers import (
    FIELD,
    cosine_step,
    cubic,
    equilibrium,
    equilibrium_energy,
    fixed_scalar,
    magnetisation,
    magnetisation_direct,
    mean_field_step,
    root_scalar,
)

import sourcead

K = np.array([1.0, 2.0, 1.5])

# (function, arguments, tangents: None where the argument is not differentiated)
JVP_CASES = [
    (fixed_scalar, (0.3,), (1.0,)),
    (magnetisation, (0.25, FIELD), (0.7, np.array([1.0, -0.5, 0.3, 0.2]))),
    (magnetisation_direct, (0.25, FIELD), (None, np.array([0.1, 0.4, -0.3, 1.0]))),
    (root_scalar, (1.5, 2.0), (1.0, -0.4)),
    (equilibrium_energy, (K,), (np.array([0.3, -1.0, 0.5]),)),
    (decay_loss, (0.5, 0.8, TIMES), (1.0, -0.6, None)),
    (decay_loss_discrete, (0.5, 0.8, TIMES), (None, 1.0, None)),
    (osc_continuous_rk4, OSC_ARGS, (np.array([0.2, -1.0]), np.array([0.5, 0.3]), 0.4, None)),
    (osc_continuous_dopri5, OSC_ARGS, (np.array([1.0, 0.0]), np.array([0.0, 1.0]), -0.3, None)),
]


def _ids(cases):
    return [c[0].__name__ for c in cases]


@pytest.mark.parametrize("fun, args, tangents", JVP_CASES, ids=_ids(JVP_CASES))
def test_jvp_through_solvers(fun, args, tangents):
    before = copy_args(args)
    value, slope = sourcead.jvp(fun, copy_args(args), tangents, compile=False)
    assert value == fun(*copy_args(args))
    indices = [i for i, t in enumerate(tangents) if t is not None]
    gradients = sourcead.grad(fun, wrt=tuple(indices), compile=False)(*copy_args(args))
    gradients = gradients if len(indices) > 1 else (gradients,)
    along = sum(
        float(np.sum(g * np.asarray(tangents[i]))) for g, i in zip(gradients, indices, strict=True)
    )

    def moved(delta):
        shifted = [
            a if t is None else a + delta * np.asarray(t) if np.ndim(a) else a + delta * t
            for a, t in zip(copy_args(args), tangents, strict=True)
        ]
        return fun(*shifted)

    # reverse mode solves its own adjoint equations: agreement to the solvers' tolerances
    np.testing.assert_allclose(slope, along, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(slope, directional_difference(moved), rtol=1e-6, atol=1e-8)
    assert_args_unchanged(before, args)


def fixed_point_compiled(a, b):
    x = sourcead.fixed_point(cosine_step, 0.0, a * b, tol=1e-14)
    y = sourcead.root(cubic, 1.0, a, x, tol=1e-14)
    ys = sourcead.odeint(forced_decay, y, np.linspace(0.0, 1.5, 3), b, substeps=20)
    return x * y + ys[2]


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_jvp_through_solvers_compiled():
    args, tangents = (1.3, 0.4), (0.6, -1.0)
    compiled = sourcead.jvp(fixed_point_compiled, args, tangents)
    plain = sourcead.jvp(fixed_point_compiled, args, tangents, compile=False)
    np.testing.assert_allclose(compiled, plain, rtol=1e-12)

    def moved(delta):
        return fixed_point_compiled(args[0] + delta * tangents[0], args[1] + delta * tangents[1])

    np.testing.assert_allclose(compiled[1], directional_difference(moved), rtol=1e-7)


def mean_field(coupling, field):
    return sourcead.fixed_point(mean_field_step, np.zeros(field.shape[0]), coupling, field)


def mean_field_direct(coupling, field):
    m0 = np.zeros(field.shape[0])
    return sourcead.fixed_point(mean_field_step, m0, coupling, field, adjoint="direct")


def springs(k):
    x0 = np.zeros(2)
    x0[0] = 0.5
    x0[1] = 1.0
    return sourcead.root(equilibrium, x0, k, tol=1e-13)


def scalar_fixed_points(a, b):
    x = sourcead.fixed_point(cosine_step, 0.0, a, tol=1e-14)
    y = sourcead.root(cubic, 1.0, a, b, tol=1e-14)
    out = np.empty(3)
    out[0] = x * b
    out[1] = x + y
    out[2] = math.sin(y)
    return out


def oscillator_states(y0, w, damping):
    t = np.linspace(0.0, 1.5, 3)
    return sourcead.odeint(oscillator, y0, t, w, damping, substeps=30, adjoint="discrete")


def decay_states(y0, k):
    t = np.linspace(0.0, 1.5, 3)
    return sourcead.odeint(forced_decay, y0, t, k, substeps=30, adjoint="discrete")


# (function, arguments, wrt, tolerance of forward against reverse)
JACOBIAN_CASES = [
    (mean_field, (0.25, FIELD), (0, 1), 1e-8),
    (mean_field_direct, (0.25, FIELD), 1, 1e-8),
    (springs, (K,), 0, 1e-10),
    (scalar_fixed_points, (0.3, 2.0), (0, 1), 1e-10),
    # the discrete adjoint and the sensitivity equations are both exact for the RK4 steps
    (oscillator_states, OSC_ARGS[:3], (0, 1, 2), 1e-10),
    (decay_states, (0.5, 0.8), (0, 1), 1e-10),
]


@pytest.mark.parametrize("fun, args, wrt, rtol", JACOBIAN_CASES, ids=_ids(JACOBIAN_CASES))
def test_forward_jacobian_through_solvers_equals_reverse(fun, args, wrt, rtol):
    forward = sourcead.jacfwd(fun, wrt=wrt, compile=False)(*copy_args(args))
    reverse = sourcead.jacrev(fun, wrt=wrt, compile=False)(*copy_args(args))
    forward = forward if isinstance(forward, tuple) else (forward,)
    reverse = reverse if isinstance(reverse, tuple) else (reverse,)
    assert len(forward) == len(reverse)
    for f, r in zip(forward, reverse, strict=True):
        assert np.shape(f) == np.shape(r)
        np.testing.assert_allclose(f, r, rtol=rtol, atol=1e-12)


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_forward_jacobian_through_odeint_compiled():
    args = OSC_ARGS[:3]
    compiled = sourcead.jacfwd(oscillator_states, wrt=(0, 1))(*args)
    plain = sourcead.jacfwd(oscillator_states, wrt=(0, 1), compile=False)(*args)
    for c, p in zip(compiled, plain, strict=True):
        assert c.shape == (3, 2, 2)
        np.testing.assert_allclose(c, p, rtol=1e-12, atol=1e-14)


def test_forward_mode_refuses_tangents_of_the_times():
    with pytest.raises(sourcead.SourceADError, match="times t") as refusal:
        sourcead.jvp(loss_at_times_scaled_by, (0.5, TIMES), (1.0, None), compile=False)
    assert refusal.value.lineno == loss_at_times_scaled_by.__code__.co_firstlineno + 4


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_vmap_of_jvp_through_a_solver_on_the_cpu():
    a = np.array([0.2, 0.3, 0.5])
    b = np.array([1.5, 2.0, 2.5])
    da = np.array([1.0, -0.5, 0.25])
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, (0, 0), (0, None)))
    values, slopes = mapped(root_scalar, (a, b), (da, None))
    for k in range(3):
        value, slope = sourcead.jvp(root_scalar, (a[k], b[k]), (da[k], None))
        np.testing.assert_allclose((values[k], slopes[k]), (value, slope), rtol=1e-13)


def test_what_vmap_cannot_map_through_a_solver_is_refused_at_the_call():
    solver_call = fixed_scalar.__code__.co_firstlineno + 1
    for make in (
        lambda: sourcead.vmap(fixed_scalar),  # the solvers run inside derivatives only
        lambda: sourcead.vmap(sourcead.grad(fixed_scalar), target="cuda"),
    ):
        with pytest.raises(sourcead.SourceADError, match="fixed_point") as refusal:
            make()
        assert refusal.value.lineno == solver_call
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    with pytest.raises(sourcead.SourceADError, match="cannot run on the GPU"):
        mapped(fixed_scalar, (np.ones(2),), (np.ones(2),))
