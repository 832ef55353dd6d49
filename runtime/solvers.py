"""Fixed points and roots, and their adjoints by the implicit function theorem.

Generated code calls these with the state as a flat float array and the parameters as a
tuple. ``step(x, params)`` and ``residual(x, params)`` return a flat array like ``x``;
``vjp(x, params, w)`` returns ``(value, w^T ∂value/∂x, w^T ∂value/∂params)``, the last one
flattened into one array; ``jacobian_t_of(x, params)`` returns ``(∂value/∂x)^T``
(``transposed_jacobian`` with ``vjp`` bound); ``jvp(x, params, dx, dparams)`` returns ``(value, ∂value/∂x dx +
∂value/∂params dparams)`` (``dx`` with a trailing axis of directions in vector mode).
sourcead generates these small adapters around the user's function, its adjoint and its
tangent.

Nothing is stored per iteration: the backward sweep and the tangent need only the solution.

The solvers are templates: sourcead copies one into the generated module with its
function arguments bound to the generated adapters (``specialise`` in sourcead's
``solver_calls.py``), so that Numba compiles — and caches — it like the rest of the module.
Called directly, they run as plain Python.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def small_change(change, value, tol):
    """Whether ``change`` is below ``tol`` relative to ``value`` (max-norm, plus one)."""
    return np.max(np.abs(change)) <= tol * (1.0 + np.max(np.abs(value)))


def fixed_point_solve(step, x0, params, tol, max_iter):
    """Iterate ``x = step(x, params)`` from ``x0`` until a step changes ``x`` by <= tol."""
    x = x0.copy()
    for _ in range(max_iter):
        x_next = step(x, params)
        if small_change(x_next - x, x_next, tol):
            return x_next
        x = x_next
    raise RuntimeError("fixed_point did not converge within max_iter iterations")


def transposed_jacobian(vjp, x, params):
    """``(∂value/∂x)^T`` at ``x``, one vector-Jacobian product per column."""
    n = x.shape[0]
    jacobian_t = np.empty((n, n))  # (∂value/∂x)^T, one vector-Jacobian product per column
    seed = np.zeros(n)
    for k in range(n):
        seed[k] = 1.0
        _, column, _ = vjp(x, params, seed)
        jacobian_t[:, k] = column
        seed[k] = 0.0
    return jacobian_t


def fixed_point_adjoint(vjp, jacobian_t_of, x, params, b_x, tol, max_iter, direct):
    """Gradient with respect to the flat parameters of ``b_x · x*`` at the fixed point ``x*``.

    Solves ``w = b_x + (∂step/∂x)^T w`` — by iteration (``direct=False``; it converges at the
    forward iteration's rate) or by one dense linear solve — and returns ``(∂step/∂p)^T w``.
    """
    if direct:
        w = np.linalg.solve(np.eye(x.shape[0]) - jacobian_t_of(x, params), b_x)
    else:
        w = b_x.copy()
        converged = False
        for _ in range(max_iter):
            _, jt_w, _ = vjp(x, params, w)
            w_next = b_x + jt_w
            if small_change(w_next - w, w_next, tol):
                w = w_next
                converged = True
                break
            w = w_next
        if not converged:
            raise RuntimeError("the adjoint of fixed_point did not converge within max_iter")
    _, _, b_params = vjp(x, params, w)
    return b_params


def newton_solve(residual, jacobian_t_of, x0, params, tol, max_iter):
    """Newton's method for ``residual(x, params) = 0`` from ``x0``.

    Stops when the residual's max-norm is <= tol, or a Newton step is <= tol relative to x.
    The Jacobian comes from ``jacobian_t_of`` (vector-Jacobian products with unit seeds).
    """
    x = x0.copy()
    for _ in range(max_iter):
        r = residual(x, params)
        if np.max(np.abs(r)) <= tol:
            return x
        dx = np.linalg.solve(np.ascontiguousarray(jacobian_t_of(x, params).T), r)
        x = x - dx
        if small_change(dx, x, tol):
            return x
    raise RuntimeError("root (Newton) did not converge within max_iter iterations")


def root_adjoint(vjp, jacobian_t_of, x, params, b_x):
    """Gradient with respect to the flat parameters of ``b_x · x*`` where ``residual(x*, p) = 0``.

    Implicit function theorem: solve ``(∂r/∂x)^T w = b_x``; the gradient is ``-(∂r/∂p)^T w``.
    """
    w = np.linalg.solve(jacobian_t_of(x, params), b_x)
    _, _, b_params = vjp(x, params, w)
    return -b_params


def fixed_point_tangent(jvp, x, params, dparams, dx0, tol, max_iter):
    """Tangent of the fixed point ``x*`` along the parameters' tangents ``dparams``.

    Solves ``dx = (∂step/∂x) dx + (∂step/∂p) dparams`` by iteration from ``dx0`` (zeros
    shaped like the tangent); it converges at the forward iteration's rate.
    """
    dx = dx0.copy()
    for _ in range(max_iter):
        _, dx_next = jvp(x, params, dx, dparams)
        if small_change(dx_next - dx, dx_next, tol):
            return dx_next
        dx = dx_next
    raise RuntimeError("the tangent of fixed_point did not converge within max_iter")


def root_tangent(jacobian_t_of, jvp, x, params, dparams, dx0):
    """Tangent of ``x*`` where ``residual(x*, p) = 0`` along the parameters' tangents.

    Implicit function theorem: solve ``(∂r/∂x) dx = -(∂r/∂p) dparams``. ``dx0``: zeros shaped
    like the tangent (a trailing axis of directions in vector mode).
    """
    _, r_p = jvp(x, params, dx0, dparams)  # (∂r/∂p) dparams, the state's tangent being zero
    return -np.linalg.solve(np.ascontiguousarray(jacobian_t_of(x, params).T), r_p)
