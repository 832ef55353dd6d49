"""The arguments the public functions share: ``wrt`` and its JAX spelling ``argnums``.

Light on purpose: ``sourcead.grad`` reads it before deciding whether the compiler is needed.
"""

from __future__ import annotations

from typing import TypeAlias

#: What ``wrt`` designates: an argument by index or name, or a tuple of them (then the
#: derivative is a tuple in the same order).
Wrt: TypeAlias = int | str | tuple[int | str, ...]

#: JAX's spelling: an argument index, or a tuple of them.
Argnums: TypeAlias = int | tuple[int, ...]


def resolve_wrt(what: str, wrt: Wrt | None, argnums: Argnums | None) -> Wrt:
    """The ``wrt`` a derivative is taken with respect to, from ``wrt`` or ``argnums``
    (neither given: the first argument).

    Args:
        what: the public function, for messages (``"grad"``).
        wrt: as given, or None.
        argnums: as given, or None.

    Raises:
        TypeError: both are given, or ``argnums`` is not an int or a tuple of ints.
        ValueError: ``argnums`` is an empty tuple.
    """
    if argnums is None:
        return 0 if wrt is None else wrt
    if wrt is not None:
        raise TypeError(
            f"{what}() got both wrt={wrt!r} and argnums={argnums!r}; argnums is JAX's name "
            "for wrt: give one of them"
        )
    items = argnums if isinstance(argnums, tuple) else (argnums,)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in items):
        raise TypeError(
            f"{what}(): argnums must be an int or a tuple of ints, not {argnums!r} (wrt= "
            "also takes argument names)"
        )
    if not items:
        raise ValueError(f"{what}(): argnums is empty: give at least one argument index")
    return argnums


def with_keywords(fun, args: tuple, keywords: dict, what: str) -> tuple:
    """``args`` with ``keywords`` placed at their parameters' positions, and the parameters
    before them that are left out at their defaults: a derivative calls ``fun(*args)``, and
    ``grad(f)(x, scale=2.0)`` is ``grad(f)(x, 2.0)``. TypeError where Python's call would
    fail (an unknown keyword, a parameter given twice)."""
    if not keywords:
        return args
    import inspect  # (only for calls with keywords)

    function = getattr(fun, "py_func", fun)
    try:
        bound = inspect.signature(function).bind(*args, **keywords)
    except (TypeError, ValueError) as error:
        name = getattr(function, "__name__", repr(function))
        raise TypeError(f"{what} of {name}: {error}") from None
    bound.apply_defaults()
    if bound.kwargs:  # keyword-only parameters: the derivative passes arguments by position
        raise TypeError(
            f"{what} passes arguments by position: {', '.join(bound.kwargs)} cannot be given"
        )
    return bound.args
