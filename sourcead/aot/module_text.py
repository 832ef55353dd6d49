"""The text of a module that is shipped: Numba decorators, entry parameters, type names.

Used by ``sourcead build`` (``aot.build``), native extensions (``aot.native``) and the
native tier of the cache (``aot.native_tier``).
"""

from __future__ import annotations

import ast

from ..analysis.types import Array


def format_type(t) -> str:
    if isinstance(t, Array):
        return f"{t.dtype}[{', '.join(':' * t.ndim)}]"
    return t.dtype or t.kind


def entry_signature(source: str, entry: str) -> str:
    """``name(params...)`` of the entry function of a generated module."""
    params = entry_parameters(source, entry, with_defaults=True)
    return f"{entry}({', '.join(params)})" if params is not None else f"{entry}(...)"


def entry_parameters(source: str, entry: str, with_defaults: bool = False) -> list[str] | None:
    """The parameters of the function ``entry`` in ``source`` (``b_result=1.0`` with
    ``with_defaults``), or None when there is no such function."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            args = node.args.args
            defaults = [None] * (len(args) - len(node.args.defaults)) + node.args.defaults
            return [
                a.arg + (f"={ast.unparse(d)}" if with_defaults and d is not None else "")
                for a, d in zip(args, defaults, strict=True)
            ]
    return None


def decorate(source: str, plain=(), parallel=(), kernels=None) -> str:
    """Put ``@numba.njit(cache=True)`` on every top-level function of a generated module but
    those named in ``plain``; ``parallel=True`` too on those named in ``parallel``.

    ``kernels`` (a list) makes a CUDA module: ``@cuda.jit(cache=True)`` on the kernels named,
    ``@cuda.jit(device=True)`` on the other functions (compiled into the kernels, whose
    machine code is cached with them).
    """
    out = []
    for line in source.splitlines():
        if line.startswith("def "):
            name = line[len("def ") :].split("(")[0]
            if name in plain:
                pass
            elif kernels is not None:
                out.append("@cuda.jit(cache=True)" if name in kernels else "@cuda.jit(device=True)")
            elif name in parallel:
                out.append("@numba.njit(cache=True, parallel=True)")
            else:
                out.append("@numba.njit(cache=True)")
        out.append(line)
    text = "\n".join(out) + "\n"
    return text.replace(
        "Each function is compiled with numba.njit when\n"
        "the module is loaded by sourcead; run uncompiled, it is plain Python and NumPy.",
        "Built ahead of time: each function is compiled by Numba at\n"
        "its first call and the machine code is cached beside this file (cache=True).",
    )
