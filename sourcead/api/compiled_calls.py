"""Calls of compiled derivatives: Numba's refusal to compile generated code, told at your
function.

Generated code is meant to compile whenever sourcead accepts a function; where Numba still
refuses it for some argument types (a dtype its functions do not take together, say), its
``TypingError`` points into generated code that you cannot change. ``call`` turns it into a
``SourceADError`` at the function's ``def`` with Numba's reason and the way around it.
"""

from __future__ import annotations

import re

import numpy as np
from numba.core.errors import LoweringError, TypingError, UnsupportedError

#: Numba's errors of compiling, as opposed to those that code raises when it runs.
_COMPILE_ERRORS = (TypingError, LoweringError, UnsupportedError)


def call(function, args: tuple, parsed, what: str):
    """``function(*args)``; a failed compile of generated code is a SourceADError at
    ``parsed``'s function (``what``: ``"gradient"``, ``"tangent"``, ...)."""
    try:
        return function(*args)
    except _COMPILE_ERRORS as error:
        raise parsed.error(
            f"Numba cannot compile the {what} of {parsed.name} for these arguments "
            f"({reason(error)}); compile=False computes it as NumPy does",
            parsed.node,
        ) from None


#: The lines of Numba's (long) messages that say what did not fit, most telling first.
_TELLING = (
    r"Int value is too large[^\n]*",
    r"Cannot unify[^\n]*",
    r"\S+ arguments must[^\n]*",
    r"Unknown attribute[^\n]*",
    r"Invalid use of[^\n]*",
)


def single_scalar(value, value_type):
    """``value`` as NumPy gives it where the type says a float32 or complex64 number:
    compiled code returns Python's float and complex for them."""
    dtype = getattr(value_type, "dtype", None)
    if dtype in ("float32", "complex64") and isinstance(value, float | complex):
        return np.dtype(dtype).type(value)
    return value


def reason(error: BaseException) -> str:
    """Numba's reason, in one line without its terminal colours."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    for pattern in _TELLING:
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip()[:200]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.startswith(("Failed in nopython mode", "During:", "File ", "<source", "^"))
    ]
    return (useful or lines or ["unknown"])[0][:200]
