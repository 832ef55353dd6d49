"""sourcead: source-transformation automatic differentiation for numeric Python.

import sourcead
dloss = sourcead.grad(loss, wrt=(0, 1))   # the adjoint is generated here
dloss(2.0, 3.0)                           # compiled with Numba at the first call
print(dloss.source)                       # the generated Python

Importing sourcead is cheap: the compiler (gast, Numba) is imported when a derivative is
first made, and not at all when ``grad`` finds its derivative compiled in the native tier of
the persistent cache (see ``sourcead.cache.records``).
"""

import importlib

from .api.entry import grad, value_and_grad
from .errors import SourceADError
from .version import __version__  # noqa: F401  (sourcead.__version__)

# public name -> the module defining it, imported at first use
_LAZY = {
    "show": "api.gradients",
    "vjp": "api.gradients",
    "checkpointed": "rules.forms",
    "hessian": "api.forward",
    "hvp": "api.forward",
    "jacobian": "api.forward",
    "jacfwd": "api.forward",
    "jacrev": "api.forward",
    "jvp": "api.forward",
    "tangent_source": "api.forward",
    "differentiable": "api.host",
    "host_grad": "api.host",
    "kernel_vjp": "backends.cuda.kernels",
    "adjoint": "rules",
    "primitive": "rules",
    "tangent": "rules",
    "fixed_point": "api.solvers",
    "odeint": "api.solvers",
    "root": "api.solvers",
    "vmap": "api.vmap",
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
