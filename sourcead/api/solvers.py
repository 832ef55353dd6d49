"""Solvers whose derivatives need no per-iteration storage: fixed points, roots, ODEs.

``fixed_point``, ``root`` and ``odeint`` can be called directly (they then just solve, in
plain Python) or inside a function given to ``sourcead.grad``/``vjp``, where sourcead
generates compiled code for the solve and differentiates it implicitly: the backward sweep
solves an adjoint equation at the solution (implicit function theorem) or integrates the
adjoint ODE, using vector-Jacobian products of your function that sourcead generates.
``solver_calls.py`` holds the code generation; ``sourcead_runtime`` the numerical kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sourcead_runtime import ode, solvers

from ..rules.forms import FIXED_POINT, ODEINT, ROOT
from .gradients import Derivative

METHOD_CODES = {"rk4": ode.RK4, "dopri5": ode.DOPRI5}


def _state(x0, what: str):
    """(flat float64 state, whether it is a scalar) of an initial value."""
    if isinstance(x0, bool) or not isinstance(x0, int | float | np.floating | np.ndarray):
        raise TypeError(f"{what} must be a float or a 1-d float array, not {type(x0).__name__}")
    if isinstance(x0, np.ndarray):
        if x0.ndim != 1 or not np.issubdtype(x0.dtype, np.floating):
            raise TypeError(
                f"{what} must be a float or a 1-d float array, not {x0.dtype} {x0.shape}"
            )
        return np.array(x0, dtype=np.float64), False
    return np.array([float(x0)]), True


def _flat(value, scalar: bool, what: str) -> np.ndarray:
    out = np.array([float(value)]) if scalar else np.asarray(value, dtype=np.float64)
    if not scalar and out.ndim != 1:
        raise TypeError(f"{what} must return a value shaped like the state")
    return out


def fixed_point(
    step: Callable,
    x0: float | np.ndarray,
    *params: object,
    tol: float = 1e-10,
    max_iter: int = 1000,
    adjoint: str = "iterative",
) -> float | np.ndarray:
    """The fixed point ``x = step(x, *params)``, iterating from ``x0``.

    Stops when an iteration changes ``x`` by at most ``tol * (1 + max|x|)`` (max-norm);
    raises RuntimeError after ``max_iter`` iterations without convergence. ``x0`` is a float
    or a 1-d float array and ``step`` returns the same kind of value.

    Inside a function differentiated by sourcead, the gradient comes from the implicit
    function theorem at the solution (nothing is stored per iteration): the backward sweep
    solves ``w = b_x + (∂step/∂x)^T w`` by iteration (``adjoint="iterative"``, converging
    like the forward iteration) or by a dense linear solve (``adjoint="direct"``, for small
    states), then gives the parameters ``(∂step/∂params)^T w``. The gradient with respect to
    ``x0`` is zero.
    """
    FIXED_POINT.options({"tol": tol, "max_iter": max_iter, "adjoint": adjoint})
    x, scalar = _state(x0, "x0")

    def flat_step(state, p):
        return _flat(step(state[0] if scalar else state, *p), scalar, "step")

    solution = solvers.fixed_point_solve(flat_step, x, params, tol, max_iter)
    return float(solution[0]) if scalar else solution


def root(
    residual: Callable,
    x0: float | np.ndarray,
    *params: object,
    tol: float = 1e-10,
    max_iter: int = 50,
) -> float | np.ndarray:
    """A root of ``residual(x, *params) = 0`` by Newton's method from ``x0``.

    Stops when ``max|residual| <= tol`` or a Newton step is at most ``tol * (1 + max|x|)``.
    The Jacobian comes from sourcead's own derivative of ``residual``. Inside a differentiated
    function the gradient comes from the implicit function theorem:
    ``(∂r/∂x)^T w = b_x``, gradient ``-(∂r/∂params)^T w``.
    """
    ROOT.options({"tol": tol, "max_iter": max_iter})
    x, scalar = _state(x0, "x0")
    derivative = Derivative(residual, 0, False, "vjp")

    def flat_residual(state, p):
        return _flat(residual(state[0] if scalar else state, *p), scalar, "residual")

    def flat_vjp(state, p, w):
        args = (float(state[0]) if scalar else state, *p)
        value, (b_x,) = derivative.run(args, seeds=(float(w[0]) if scalar else w,))
        return _flat(value, scalar, "residual"), _flat(b_x, scalar, "residual"), np.empty(0)

    def jacobian_t_of(state, p):
        return solvers.transposed_jacobian(flat_vjp, state, p)

    solution = solvers.newton_solve(flat_residual, jacobian_t_of, x, params, tol, max_iter)
    return float(solution[0]) if scalar else solution


def odeint(
    rhs: Callable,
    y0: float | np.ndarray,
    t: np.ndarray,
    *params: object,
    method: str = "rk4",
    adjoint: str = "continuous",
    substeps: int = 1,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 100_000,
) -> np.ndarray:
    """The solution of ``dy/dt = rhs(y, t, *params)``, ``y(t[0]) = y0``, at the times ``t``.

    Returns an array with one row per time (a 1-d array when ``y0`` is a float), like
    ``scipy.integrate.odeint``. ``method="rk4"`` takes ``substeps`` equal RK4 steps per
    interval of ``t``; ``"dopri5"`` is adaptive (Dormand–Prince 5(4), ``rtol``, ``atol``, at
    most ``max_steps`` steps per interval).

    Inside a differentiated function: ``adjoint="continuous"`` integrates the adjoint ODE
    backwards in time alongside the state (memory independent of the number of steps);
    ``adjoint="discrete"`` gives the exact gradient of the computed steps, storing the state
    at each step. Gradients with respect to ``y0`` and the parameters; not ``t``.
    """
    options = ODEINT.options(
        {
            "method": method,
            "adjoint": adjoint,
            "substeps": substeps,
            "rtol": rtol,
            "atol": atol,
            "max_steps": max_steps,
        }
    )
    y, scalar = _state(y0, "y0")
    times = np.asarray(t, dtype=np.float64)
    if times.ndim != 1 or times.shape[0] < 1:
        raise ValueError("odeint: t must be a 1-d array of times")
    if not (isinstance(substeps, int) and substeps >= 1):
        raise ValueError("odeint: substeps must be a positive int")

    def flat_rhs(state, tau, p):
        return _flat(rhs(state[0] if scalar else state, tau, *p), scalar, "rhs")

    ys = ode.odeint_forward(
        flat_rhs,
        y,
        times,
        params,
        METHOD_CODES[options["method"]],
        substeps,
        rtol,
        atol,
        max_steps,
    )
    return ys[:, 0].copy() if scalar else ys


# how the compiler recognises them in a function it differentiates (frontend.forms)
fixed_point.__sourcead_solver__ = FIXED_POINT
root.__sourcead_solver__ = ROOT
odeint.__sourcead_solver__ = ODEINT

__all__ = ["fixed_point", "odeint", "root"]
