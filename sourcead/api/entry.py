"""``sourcead.grad`` and ``sourcead.value_and_grad``: the cache's records first, then the compiler.

A gradient recorded in the persistent cache (see ``sourcead.native_cache``) is called without
importing the compiler: its extension when ``sourcead cache native`` compiled it (then
without Numba too), else the cached module under Numba. Any other is generated and compiled
by ``sourcead.api.gradients``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..cache import records as native_cache
from .arguments import Argnums, Wrt, resolve_wrt
from .background import resolve_compile

if TYPE_CHECKING:  # for the annotations only: the compiler is imported when first needed
    from .forward import SecondDerivative
    from .gradients import GradientFunction

    Gradient = GradientFunction | SecondDerivative | native_cache.CachedGradient


def grad(
    fun: Callable | None = None,
    wrt: Wrt | None = None,
    *,
    argnums: Argnums | None = None,
    has_aux: bool = False,
    preserve_result: bool = False,
    compile: bool | str | None = None,
) -> Gradient | Callable[[Callable], Gradient]:
    """The gradient of a scalar-valued function, generated as source and compiled with Numba.

    Args:
        fun: the function to differentiate (a plain Python function or a Numba dispatcher).
        wrt: the argument(s) to differentiate with respect to: an index or a name, or a tuple
            of them, in which case a tuple of gradients is returned in the same order. The
            first argument when neither ``wrt`` nor ``argnums`` is given.
        argnums: JAX's name for ``wrt`` (an index or a tuple of indices); give one of the two.
        has_aux: ``fun`` returns a pair ``value, aux``: the gradient is that of ``value``,
            and ``aux`` is passed through as it is computed (not differentiated). The
            gradient function then returns ``(gradient, aux)``, or ``((value, aux),
            gradient)`` with ``preserve_result``.
        preserve_result: return ``(value, gradient)`` instead of the gradient alone.
        compile: ``"background"`` runs the first calls with new argument types as plain
            Python and NumPy while Numba compiles the generated code in another process, and
            compiled calls from then on (a call made meanwhile takes whichever answers first:
            the Python version or, once ready, the compiled one); ``True`` compiles with Numba
            at the first call and waits for it; ``False`` runs it as plain Python. ``None``
            (the default) is ``SOURCEAD_COMPILE`` where that is set (``background``,
            ``true`` or ``false``), else ``"background"``.

    Returns:
        A function taking the same arguments as ``fun``. Its ``.source`` holds the generated
        module. Unsupported code raises ``SourceADError`` here, before any call. It pickles
        by reference to ``fun`` (see the API documentation, "Derivatives in other
        processes").

    Raises:
        TypeError: both ``wrt`` and ``argnums`` are given, or ``argnums`` is not ints.
        SourceADError: ``fun`` is outside the subset sourcead differentiates, or ``has_aux``
            is set and a return statement of ``fun`` does not return a pair.

    Used as a decorator too: ``@grad`` or ``@grad(wrt=(0, 1))``.
    """
    wrt = resolve_wrt("grad", wrt, argnums)
    if fun is None:
        return lambda f: grad(
            f, wrt, has_aux=has_aux, preserve_result=preserve_result, compile=compile
        )
    compile = resolve_compile(compile)
    if compile and not has_aux:  # the records hold gradients of scalar functions only
        recorded = native_cache.lookup(fun, wrt)
        if recorded is not None:
            return native_cache.CachedGradient(recorded, wrt, preserve_result, _compiled_gradient)
    # the compiler and Numba: imported when a derivative is first made, not with sourcead
    from . import forward, gradients

    fun = native_cache.compiled_derivative(fun)
    if isinstance(fun, gradients.GradientFunction):  # grad(grad(f)): forward over reverse
        if has_aux:
            raise ValueError(
                "grad of a gradient takes no has_aux: the gradient returns no aux to pass "
                "through. Use sourcead.hessian, or grad(f, has_aux=True) of the function"
            )
        return forward.grad_of_gradient(fun, wrt, preserve_result, compile)
    return gradients.grad(
        fun, wrt, has_aux=has_aux, preserve_result=preserve_result, compile=compile
    )


def _compiled_gradient(function, wrt, preserve_result: bool):
    """The gradient the compiler makes, behind a gradient found in the cache's records."""
    from .gradients import GradientFunction

    return GradientFunction(function, wrt, preserve_result, True)


def value_and_grad(
    fun: Callable | None = None,
    wrt: Wrt | None = None,
    *,
    argnums: Argnums | None = None,
    has_aux: bool = False,
    compile: bool | str | None = None,
) -> Gradient | Callable[[Callable], Gradient]:
    """Like ``grad(fun, wrt, preserve_result=True)``: the function returns ``(value, gradient)``.

    That is the form ``scipy.optimize.minimize(fun, x0, jac=True)`` expects: pass
    ``value_and_grad(loss)`` as ``fun``.

    Args:
        fun: the function to differentiate (a plain Python function or a Numba dispatcher).
        wrt: the argument(s) to differentiate with respect to, as for ``grad``.
        argnums: JAX's name for ``wrt``; give one of the two.
        has_aux: ``fun`` returns a pair ``value, aux``; the function then returns
            ``((value, aux), gradient)``, ``aux`` passed through undifferentiated.
        compile: ``True``, ``False``, ``"background"`` or ``None`` (the default), as for
            ``grad``.

    Returns:
        A function taking the same arguments as ``fun`` and returning ``(value, gradient)``.
    """
    wrt = resolve_wrt("value_and_grad", wrt, argnums)
    return grad(fun, wrt, has_aux=has_aux, preserve_result=True, compile=compile)
