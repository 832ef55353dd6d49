"""sourcead: source-transformation automatic differentiation for numeric Python.

import sourcead
dloss = sourcead.grad(loss, wrt=(0, 1))   # the adjoint is generated here
dloss(2.0, 3.0)                           # compiled with Numba at the first call
print(dloss.source)                       # the generated Python

Importing sourcead is cheap: the compiler (gast, Numba) is imported when a derivative is
first made, and not at all when ``grad`` finds its derivative compiled in the native tier of
the persistent cache (see ``sourcead.native_cache``).
"""

import importlib

from .errors import SourceADError
from .front import grad, value_and_grad

__version__ = "0.1.0"

# public name -> the module defining it, imported at first use
_LAZY = {
    "show": "api",
    "vjp": "api",
    "checkpointed": "checkpoint",
    "hessian": "forward_api",
    "hvp": "forward_api",
    "jacobian": "forward_api",
    "jacfwd": "forward_api",
    "jacrev": "forward_api",
    "jvp": "forward_api",
    "tangent_source": "forward_api",
    "differentiable": "host",
    "host_grad": "host",
    "kernel_vjp": "kernels",
    "adjoint": "rules",
    "primitive": "rules",
    "tangent": "rules.tangents",
    "fixed_point": "solvers",
    "odeint": "solvers",
    "root": "solvers",
    "vmap": "batch",
}

__all__ = ["SourceADError", "grad", "value_and_grad", *_LAZY]


def __getattr__(name: str):
    """The lazily imported public functions, and submodules as attributes (``sourcead.api``)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name.startswith("__"):
        raise AttributeError(name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
