"""What the runtime's ``@overload`` implementations share: constant arguments read from
Numba's types, and small functions written per call's constants.

The helpers for axes, shapes and offsets (``runtime/shaping.py``, ``summaries.py``,
``indexing.py``, ``reductions.py``) write one small function per number of dimensions and
per constant option, as source, so that Numba compiles straight-line code for each.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core.errors import TypingError


def constant_value(value_type, what: str):
    """The value of an argument that must be a constant of the call, as Numba types it: a
    literal, a tuple of them, or an omitted argument's default (None for None)."""
    if value_type is None or isinstance(value_type, types.NoneType):
        return None
    if isinstance(value_type, types.Omitted):
        return value_type.value
    if isinstance(value_type, types.Literal):
        return value_type.literal_value
    if isinstance(value_type, types.BaseTuple):
        return tuple(constant_value(t, what) for t in value_type.types)
    if isinstance(value_type, int | str | tuple):
        return value_type
    raise TypingError(f"sourcead_runtime: {what} must be a constant of the call ({value_type})")


def implementation(signature: str, body: list[str], **scope):
    """A function ``impl(signature)`` of the lines ``body``, reading ``np`` and the names in
    ``scope``."""
    source = f"def impl({signature}):\n" + "".join(f"    {line}\n" for line in body)
    namespace = {"np": np, **scope}
    exec(source, namespace)
    return namespace["impl"]
