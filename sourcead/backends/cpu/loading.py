"""Turning a generated module's source into callables: plain Python or Numba-compiled."""

from __future__ import annotations

import builtins
import linecache
import types

import numba
import sourcead_runtime

from . import timings
from .njit_options import NJIT_OPTIONS


def load_module(source: str, namespace: dict, module_name: str, compile: bool) -> dict:
    """Execute the generated ``source``; with ``compile``, wrap its functions in numba.njit.

    The source is registered with ``linecache`` so tracebacks, pdb and Numba's error messages
    show the generated lines.
    """
    with timings.stage("loading"):
        return _load(source, namespace, module_name, compile)


def _load(source: str, namespace: dict, module_name: str, compile: bool) -> dict:
    filename = f"<sourcead {module_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = dict(namespace)
    scope["__name__"] = module_name
    scope["sourcead_runtime"] = sourcead_runtime
    exec(builtins.compile(source, filename, "exec"), scope)
    functions = [
        n
        for n, v in scope.items()
        if isinstance(v, types.FunctionType) and v.__module__ == module_name
    ]
    if compile:
        for name in functions:
            scope[name] = numba.njit(**NJIT_OPTIONS)(scope[name])
    else:
        for name in sourcead_runtime.__all__:
            helper = getattr(sourcead_runtime, name)
            scope[name] = getattr(helper, "py_func", helper)
    return scope
