"""``sourcead.grad`` and ``sourcead.value_and_grad``: the cache's records first, then the compiler.

A gradient recorded in the persistent cache (see ``sourcead.native_cache``) is called without
importing the compiler: its extension when ``sourcead cache native`` compiled it (then
without Numba too), else the cached module under Numba. Any other is generated and compiled
by ``sourcead.api``.
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
            return native_cache.CachedGradient(recorded, wrt, preserve_result)
    from .gradients import grad as generated_grad

    return generated_grad(fun, wrt, preserve_result=preserve_result, compile=compile)


def value_and_grad(fun=None, wrt=0, *, compile: bool = True):
    """Like ``grad(fun, wrt, preserve_result=True)``: the function returns ``(value, gradient)``."""
    return grad(fun, wrt, preserve_result=True, compile=compile)
