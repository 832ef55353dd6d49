"""``sourcead.grad`` and ``sourcead.value_and_grad``: the cache's records first, then the compiler.

A gradient recorded in the persistent cache (see ``sourcead.native_cache``) is called without
importing the compiler: its extension when ``sourcead cache native`` compiled it (then
without Numba too), else the cached module under Numba. Any other is generated and compiled
by ``sourcead.api.gradients``.
"""

from __future__ import annotations

from ..cache import records as native_cache


def grad(fun=None, wrt=0, *, preserve_result: bool = False, compile: bool = True):
    """The gradient of a scalar-valued function, generated as source and compiled with Numba.

    Args:
        fun: the function to differentiate (a plain Python function or a Numba dispatcher).
        wrt: the argument(s) to differentiate with respect to: an index or a name, or a tuple
            of them, in which case a tuple of gradients is returned in the same order.
        preserve_result: return ``(value, gradient)`` instead of the gradient alone.
        compile: compile the generated code with Numba (``False`` runs it as plain Python).

    Returns:
        A function taking the same arguments as ``fun``. Its ``.source`` holds the generated
        module. Unsupported code raises ``SourceADError`` here, before any call.

    Used as a decorator too: ``@grad`` or ``@grad(wrt=(0, 1))``.
    """
    if fun is None:
        return lambda f: grad(f, wrt, preserve_result=preserve_result, compile=compile)
    if compile:
        recorded = native_cache.lookup(fun, wrt)
        if recorded is not None:
            return native_cache.CachedGradient(recorded, wrt, preserve_result, _compiled_gradient)
    # the compiler and Numba: imported when a derivative is first made, not with sourcead
    from . import forward, gradients

    fun = native_cache.compiled_derivative(fun)
    if isinstance(fun, gradients.GradientFunction):  # grad(grad(f)): forward over reverse
        return forward.grad_of_gradient(fun, wrt, preserve_result, compile)
    return gradients.grad(fun, wrt, preserve_result=preserve_result, compile=compile)


def _compiled_gradient(function, wrt, preserve_result: bool):
    """The gradient the compiler makes, behind a gradient found in the cache's records."""
    from .gradients import GradientFunction

    return GradientFunction(function, wrt, preserve_result, True)


def value_and_grad(fun=None, wrt=0, *, compile: bool = True):
    """Like ``grad(fun, wrt, preserve_result=True)``: the function returns ``(value, gradient)``."""
    return grad(fun, wrt, preserve_result=True, compile=compile)
