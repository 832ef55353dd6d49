"""Explicit Runge–Kutta integration of dy/dt = f(y, t, params) and its two adjoints.

Generated code calls these with the state as a flat float array and the parameters as a
tuple. ``f(y, t, params)`` returns dy/dt as a flat array; ``vjp(y, t, params, w)`` returns
``(f, w^T ∂f/∂y, w^T ∂f/∂params)``, the last one flattened into one array. sourcead
generates these small adapters around the user's right-hand side and its adjoint.

Methods: ``RK4`` (classic fourth order, ``substeps`` equal steps per output interval) and
``DOPRI5`` (Dormand–Prince 5(4), adaptive steps with the usual ``rtol``/``atol`` error
control, landing exactly on every output time).

Adjoints:

* ``odeint_continuous_adjoint`` integrates the adjoint system backwards in time together
  with the state (a = ∂L/∂y: da/dt = -a^T ∂f/∂y, dg/dt = -a^T ∂f/∂p), restarting the state
  from the stored output at each output time, as torchdiffeq's ``odeint_adjoint`` does.
  Memory: a few copies of the state, whatever the number of steps. The gradient is that of
  the exact solution, up to the integration error of both passes.
* ``odeint_discrete_adjoint`` is the exact adjoint of the computed steps (with the accepted
  step sizes held fixed): it runs the steps again storing the state at each step, then
  reverses them stage by stage. Memory: one state per step.

The three integrators are templates: sourcead copies one into the generated module with
``f`` and ``vjp`` bound to the generated adapters (``specialise`` in sourcead's
``solver_calls.py``), so that Numba compiles — and caches — it like the rest of the module,
without function arguments. Called directly, they run as plain Python.
"""

from __future__ import annotations

import numba
import numpy as np

RK4 = 0
DOPRI5 = 1

_RK4_A = np.array(
    [[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
)
_RK4_B = np.array([1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0])
_RK4_C = np.array([0.0, 0.5, 0.5, 1.0])
_RK4_E = np.zeros(4)

_DP_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0, 0.0, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0.0, 0.0],
        [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0],
    ]
)
_DP_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_DP_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
# fifth-order minus embedded fourth-order weights: the local error estimate
_DP_E = _DP_B - np.array(
    [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]
)


@numba.njit(cache=True)
def tableau(method):
    """(A, b, c, e, stages the solution uses) of a method."""
    if method == RK4:
        return _RK4_A, _RK4_B, _RK4_C, _RK4_E, 4
    return _DP_A, _DP_B, _DP_C, _DP_E, 6


@numba.njit(cache=True)
def error_ratio(err, old, new, rtol, atol):
    """RMS of the local error relative to atol + rtol·|y| (accept the step when <= 1)."""
    total = 0.0
    for i in range(err.shape[0]):
        scale = atol + rtol * max(abs(old[i]), abs(new[i]))
        total += (err[i] / scale) ** 2
    return np.sqrt(total / max(err.shape[0], 1))


@numba.njit(cache=True)
def next_step(h, ratio):
    """Step size after a step with error ratio ``ratio`` (the standard factor 0.9·ratio^-1/5)."""
    factor = 10.0 if ratio == 0.0 else 0.9 * ratio**-0.2
    return h * min(10.0, max(0.2, factor))


@numba.njit(cache=True)
def check_times(t):
    for i in range(t.shape[0] - 1):
        if not t[i + 1] > t[i]:
            raise ValueError("odeint: the times t must be strictly increasing")


@numba.njit(cache=True)
def combine_into(out, y, h, weights, k, stages):
    """out = y + h · sum_q weights[q] k[q] over the first ``stages`` rows of k; ``out`` may
    be ``y``. Written as loops: no temporary arrays in the inner loop of an integrator."""
    for j in range(y.shape[0]):
        total = 0.0
        for q in range(stages):
            if weights[q] != 0.0:
                total += weights[q] * k[q, j]
        out[j] = y[j] + h * total
    return out


@numba.njit(cache=True)
def combine(y, h, weights, k, stages):
    """y + h · sum_q weights[q] k[q] over the first ``stages`` rows of k (a new array)."""
    return combine_into(np.empty_like(y), y, h, weights, k, stages)


def odeint_forward(f, y0, t, params, method, substeps, rtol, atol, max_steps):
    """The solution at the times ``t`` (rows), starting from ``y0`` at ``t[0]``."""
    check_times(t)
    a, b, c, e, _ = tableau(method)
    stages = b.shape[0]
    n = y0.shape[0]
    ys = np.empty((t.shape[0], n))
    ys[0] = y0
    y = y0.copy()
    k = np.empty((stages, n))
    stage = np.empty(n)
    h_next = 0.0
    for i in range(t.shape[0] - 1):
        t0, t1 = t[i], t[i + 1]
        if method == RK4:
            h = (t1 - t0) / substeps
            for j in range(substeps):
                tau = t0 + j * h
                for s in range(stages):
                    k[s] = f(combine_into(stage, y, h, a[s], k, s), tau + c[s] * h, params)
                combine_into(y, y, h, b, k, stages)
        else:
            if h_next == 0.0:  # first step: 1% of the scale of y over that of dy/dt
                f0 = f(y, t0, params)
                d0 = np.sqrt(np.mean((y / (atol + rtol * np.abs(y))) ** 2))
                d1 = np.sqrt(np.mean((f0 / (atol + rtol * np.abs(y))) ** 2))
                h_next = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6 * (t1 - t0)
            tau = t0
            taken = 0
            while tau < t1:
                h = min(h_next, t1 - tau)
                for s in range(stages):
                    k[s] = f(combine_into(stage, y, h, a[s], k, s), tau + c[s] * h, params)
                y_new = combine(y, h, b, k, stages)
                ratio = error_ratio(combine(np.zeros(n), h, e, k, stages), y, y_new, rtol, atol)
                if ratio <= 1.0:
                    tau = t1 if h == t1 - tau else tau + h
                    y = y_new
                h_next = next_step(h, ratio)
                taken += 1
                if taken > max_steps:
                    raise RuntimeError("odeint: more than max_steps steps in one interval")
        ys[i + 1] = y
    return ys


def odeint_continuous_adjoint(vjp, ys, b_ys, t, params, method, substeps, rtol, atol, max_steps):
    """(∂L/∂y0, ∂L/∂params flat) by the continuous adjoint method.

    ``ys`` is the forward solution at ``t``, ``b_ys`` the adjoint ∂L/∂ys.
    """
    a_, b, c, e, _ = tableau(method)
    stages = b.shape[0]
    n = ys.shape[1]
    last = t.shape[0] - 1
    y = ys[last].copy()
    adj = b_ys[last].copy()
    g = np.zeros_like(vjp(y, t[last], params, np.zeros(n))[2])
    m = g.shape[0]
    ky = np.empty((stages, n))  # stages: dy/dt (y moves by -h), then those of adj and g
    ka = np.empty((stages, n))
    kg = np.empty((stages, m))
    stage_y = np.empty(n)
    stage_a = np.empty(n)
    h_next = 0.0
    for i in range(last, 0, -1):
        t1, t0 = t[i], t[i - 1]  # from t1 back to t0
        if method == RK4:
            steps, h = substeps, (t1 - t0) / substeps
        else:
            steps, h = max_steps + 1, 0.0
            if h_next == 0.0:
                h_next = 0.01 * (t1 - t0)
        tau = t1
        taken = 0
        while taken < steps and tau > t0:
            if method == RK4:
                tau = t1 - taken * h
            else:
                h = min(h_next, tau - t0)
            for s in range(stages):
                combine_into(stage_y, y, -h, a_[s], ky, s)
                combine_into(stage_a, adj, h, a_[s], ka, s)
                value, jy, jp = vjp(stage_y, tau - c[s] * h, params, stage_a)
                ky[s] = value
                ka[s] = jy
                kg[s] = jp
            if method == RK4:  # every step accepted: update in place
                combine_into(y, y, -h, b, ky, stages)
                combine_into(adj, adj, h, b, ka, stages)
                combine_into(g, g, h, b, kg, stages)
                taken += 1
                continue
            y_new = combine(y, -h, b, ky, stages)
            adj_new = combine(adj, h, b, ka, stages)
            g_new = combine(g, h, b, kg, stages)
            accept = True
            if method != RK4:
                err = np.concatenate(
                    (
                        combine(np.zeros(n), h, e, ky, stages),
                        combine(np.zeros(n), h, e, ka, stages),
                        combine(np.zeros(m), h, e, kg, stages),
                    )
                )
                old = np.concatenate((y, adj, g))
                new = np.concatenate((y_new, adj_new, g_new))
                ratio = error_ratio(err, old, new, rtol, atol)
                accept = ratio <= 1.0
                h_next = next_step(h, ratio)
            if accept:
                tau = t0 if (method != RK4 and h == tau - t0) else tau - h
                y, adj, g = y_new, adj_new, g_new
            taken += 1
        if method != RK4 and taken > max_steps:
            raise RuntimeError("odeint adjoint: more than max_steps steps in one interval")
        y = ys[i - 1].copy()  # restart from the forward solution, as torchdiffeq does
        adj += b_ys[i - 1]
    return adj, g


def odeint_discrete_adjoint(f, vjp, y0, b_ys, t, params, method, substeps, rtol, atol, max_steps):
    """(ys, ∂L/∂y0, ∂L/∂params flat): the exact adjoint of the Runge–Kutta steps.

    Runs the integration of ``odeint_forward`` again, storing the state, time and size of
    every accepted step, then reverses the steps one by one.
    """
    check_times(t)
    a, b, c, e, used = tableau(method)
    stages = b.shape[0]
    n = y0.shape[0]
    count = t.shape[0]
    ys = np.empty((count, n))
    ys[0] = y0
    y = y0.copy()
    k = np.empty((stages, n))
    stage = np.empty(n)
    saved_y = np.empty((64, n))
    saved_t = np.empty(64)
    saved_h = np.empty(64)
    ends = np.zeros(count, dtype=np.int64)  # steps taken up to each output time
    total = 0
    h_next = 0.0
    for i in range(count - 1):
        t0, t1 = t[i], t[i + 1]
        tau = t0
        taken = 0
        if method != RK4 and h_next == 0.0:
            f0 = f(y, t0, params)
            d0 = np.sqrt(np.mean((y / (atol + rtol * np.abs(y))) ** 2))
            d1 = np.sqrt(np.mean((f0 / (atol + rtol * np.abs(y))) ** 2))
            h_next = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6 * (t1 - t0)
        while (method == RK4 and taken < substeps) or (method != RK4 and tau < t1):
            if method == RK4:
                h = (t1 - t0) / substeps
                tau = t0 + taken * h
            else:
                h = min(h_next, t1 - tau)
            for s in range(stages):
                k[s] = f(combine_into(stage, y, h, a[s], k, s), tau + c[s] * h, params)
            y_new = combine(y, h, b, k, stages)
            accept = True
            if method != RK4:
                ratio = error_ratio(combine(np.zeros(n), h, e, k, stages), y, y_new, rtol, atol)
                accept = ratio <= 1.0
                h_next = next_step(h, ratio)
            if accept:
                if total == saved_h.shape[0]:
                    grown_y = np.empty((2 * total, n))
                    grown_y[:total] = saved_y
                    saved_y = grown_y
                    saved_t = np.concatenate((saved_t, np.empty(total)))
                    saved_h = np.concatenate((saved_h, np.empty(total)))
                saved_y[total] = y
                saved_t[total] = tau
                saved_h[total] = h
                total += 1
                if method != RK4:
                    tau = t1 if h == t1 - tau else tau + h
                y = y_new
            taken += 1
            if method != RK4 and taken > max_steps:
                raise RuntimeError("odeint: more than max_steps steps in one interval")
        ys[i + 1] = y
        ends[i + 1] = total

    lam = b_ys[count - 1].copy()
    g = np.zeros_like(vjp(y0, t[0], params, np.zeros(n))[2])
    stage_y = np.empty((stages, n))
    k_bar = np.empty((stages, n))
    for i in range(count - 2, -1, -1):
        for step in range(ends[i + 1] - 1, ends[i] - 1, -1):
            y, tau, h = saved_y[step], saved_t[step], saved_h[step]
            for s in range(used):
                combine_into(stage_y[s], y, h, a[s], k, s)
                k[s] = f(stage_y[s], tau + c[s] * h, params)
            for s in range(used):
                k_bar[s] = (h * b[s]) * lam
            y_bar = lam.copy()
            for s in range(used - 1, -1, -1):
                _, jy, jp = vjp(stage_y[s], tau + c[s] * h, params, k_bar[s])
                y_bar += jy
                g += jp
                for q in range(s):
                    if a[s, q] != 0.0:
                        k_bar[q] += (h * a[s, q]) * jy
            lam = y_bar
        lam += b_ys[i]
    return ys, lam, g
