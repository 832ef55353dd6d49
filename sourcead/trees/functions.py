"""A Python function's plain function and its source lines, where every stage reads them."""

from __future__ import annotations

import inspect
import types

from ..errors import SourceADError


def unwrap(fn):
    """The plain Python function behind ``fn`` (Numba dispatchers keep it as ``py_func``)."""
    py_func = getattr(fn, "py_func", None)
    if isinstance(py_func, types.FunctionType):
        return py_func
    return fn


def source_lines(fn: types.FunctionType, what: str = "") -> tuple[list[str], int]:
    """``inspect.getsourcelines(fn)``, or SourceADError when the source cannot be read.
    ``what`` names the function in the message (``"the rule "``)."""
    try:
        return inspect.getsourcelines(fn)
    except (OSError, TypeError) as exc:
        raise SourceADError(
            f"the source of {what}{fn.__qualname__} cannot be read ({exc}); sourcead needs "
            "functions defined in a file, not in an interactive session or through exec",
            fn.__code__.co_filename,
            fn.__code__.co_firstlineno,
        ) from None
