"""Derivatives pickled by reference: the user's function by module and qualified name.

A derivative holds generated code, compiled functions and the parsed function, none of
which pickles. It pickles instead as what made it: a public function of sourcead
(``sourcead.grad``, ``sourcead.jacobian``, ``sourcead.vmap``, ...) applied to the user's
function and the options it was given. The user's function travels by module and
qualified name, as pickle saves functions; the process that loads the pickle imports it and
makes the derivative again through the public API, which finds the derivative in the
persistent cache when it is there (as a new process calling ``sourcead.grad`` would). A
derivative bound to a module-level name (``@sourcead.grad`` used as a decorator) pickles as
that name.

What cannot be found by name is refused with ``pickle.PicklingError`` when the pickle is
made: lambdas, functions defined inside other functions (closures), functions of an
interactive ``__main__`` (one without a file, which no other process can import), and names
bound to something other than the function. A pickle whose function cannot be found where it
is loaded raises ``pickle.UnpicklingError`` saying which function is missing.

This sits with the cache because it is the same question the cache's records ask (is the
function found by its name in a later process?), below the API, whose derivatives and
``CachedGradient`` both use it.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import types

#: The package whose public functions rebuild derivatives (``rebuild``).
PUBLIC_PACKAGE = "sourcead"

_HOW = (
    "derivatives pickle by reference (the function's module and qualified name, which the "
    "process loading the pickle imports), so the function must be importable by module and "
    "qualified name: define it with def at the top level of a module"
)


def python_function(fun) -> types.FunctionType | None:
    """The Python function behind ``fun`` (a Numba dispatcher's ``py_func``), or None.

    Read from the instance's own attributes, so that an object answering every attribute
    (a cached gradient) is not asked, which could start the compiler.
    """
    if isinstance(fun, types.FunctionType):
        return fun
    py_func = vars(fun).get("py_func") if hasattr(fun, "__dict__") else None
    return py_func if isinstance(py_func, types.FunctionType) else None


class FunctionName:
    """A function known by its module and qualified name; unpickled as the object found
    under that name (the function, or the Numba dispatcher bound to it)."""

    def __init__(self, module: str, qualname: str):
        self.module = module
        self.qualname = qualname

    def __reduce__(self):
        return (find, (self.module, self.qualname))

    def __repr__(self) -> str:
        return f"FunctionName({self.module!r}, {self.qualname!r})"


def find(module: str, qualname: str):
    """The object named ``qualname`` in the module ``module`` (imported when needed).

    Raises:
        pickle.UnpicklingError: the module cannot be imported or has no such name.
    """
    try:
        value = importlib.import_module(module)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise pickle.UnpicklingError(
            f"cannot rebuild a sourcead derivative of {module}.{qualname}: {exc}. "
            "Derivatives pickle by reference: the process loading the pickle must be able to "
            f"import {module} and find {qualname} in it"
        ) from None
    return value


def _lookup(module: str, qualname: str):
    """The object under ``qualname`` in the already imported module ``module``, or None."""
    value = sys.modules.get(module)
    for part in qualname.split("."):
        if value is None:
            return None
        value = getattr(value, part, None)
    return value


def user_function(fun, what: str):
    """What a derivative's pickle holds for the function ``fun`` it was made from.

    A function (or Numba dispatcher) becomes its ``FunctionName``, after checking that its
    name finds it; any other object (a derivative of it: ``grad`` of ``grad``, ``vmap`` of a
    gradient) is pickled as it pickles itself.

    Args:
        fun: the function the derivative was made from.
        what: the derivative, for messages (``"sourcead.grad of f"``).

    Raises:
        pickle.PicklingError: the function cannot be found by module and qualified name.
    """
    py = python_function(fun)
    if py is None:
        return fun
    module, qualname = py.__module__, py.__qualname__
    label = f"{module}.{qualname}"
    if "<lambda>" in qualname:
        reason = f"{label} is a lambda"
    elif "<locals>" in qualname:
        reason = f"{label} is defined inside another function (a closure or local function)"
    elif module == "__main__" and getattr(sys.modules.get("__main__"), "__file__", None) is None:
        reason = (
            f"{label} is defined in an interactive session (a __main__ without a file), which "
            "another process cannot import"
        )
    else:
        found = _lookup(module, qualname)
        if found is py or python_function(found) is py:
            return FunctionName(module, qualname)
        reason = f"{label} does not name this function (the name was rebound, or decorated)"
    raise pickle.PicklingError(f"cannot pickle {what}: {reason}; {_HOW}")


def global_name(derivative) -> str | None:
    """The qualified name under which ``derivative`` itself is bound in its module (a
    derivative made by a decorator, ``@sourcead.grad``), or None."""
    attributes = vars(derivative) if hasattr(derivative, "__dict__") else {}
    module, qualname = attributes.get("__module__"), attributes.get("__qualname__")
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    return qualname if _lookup(module, qualname) is derivative else None


def reduce(derivative, public_name: str, fun, options: dict):
    """``derivative.__reduce__()``: its module-level name when it has one, else
    ``sourcead.<public_name>(fun, **options)`` made again where the pickle is loaded.

    Args:
        derivative: the derivative being pickled.
        public_name: the public function of sourcead that makes it again.
        fun: the function (or the derivative) it was made from.
        options: the keyword arguments that make the same derivative.
    """
    name = global_name(derivative)
    if name is not None:
        return name
    label = getattr(python_function(fun), "__qualname__", None) or type(fun).__name__
    return (
        rebuild,
        (public_name, user_function(fun, f"sourcead.{public_name} of {label}"), options),
    )


#: The derivatives ``rebuild`` made in this process, by (public name, function, options).
_REBUILT: dict = {}


def rebuild(public_name: str, fun, options: dict):
    """``sourcead.<public_name>(fun, **options)``: a pickled derivative made again.

    The public function is looked up by its name in the package, as pickle looks names up,
    so that a pickle names only the public API (and this function). The same pickle loaded
    again in this process gives the derivative made the first time: a worker that receives
    the derivative with every task (Dask, ``multiprocessing``) compiles it once, not once
    per task. Options that do not hash make a new derivative each time.
    """
    try:
        key = (public_name, fun, tuple(sorted(options.items())))
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _REBUILT:
        return _REBUILT[key]
    derivative = getattr(importlib.import_module(PUBLIC_PACKAGE), public_name)(fun, **options)
    if key is not None:
        _REBUILT[key] = derivative
    return derivative
