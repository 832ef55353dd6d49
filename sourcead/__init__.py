"""sourcead: source-transformation automatic differentiation for numeric Python.

import sourcead
dloss = sourcead.grad(loss, wrt=(0, 1))   # the adjoint is generated here
dloss(2.0, 3.0)                           # compiled with Numba at the first call
print(dloss.source)                       # the generated Python
"""

from .api import grad, show, value_and_grad, vjp
from .checkpoint import checkpointed
from .errors import SourceADError
from .forward_api import hessian, hvp, jacobian, jvp, tangent_source
from .host import differentiable, host_grad
from .kernels import kernel_vjp
from .rules import adjoint, primitive
from .rules.tangents import tangent
from .solvers import fixed_point, odeint, root
from .vmap import vmap

__version__ = "0.1.0"
__all__ = ["hessian", "hvp", "jacobian", "jvp", "tangent", "tangent_source"]
__all__ += [
    "SourceADError",
    "differentiable",
    "grad",
    "host_grad",
    "kernel_vjp",
    "show",
    "value_and_grad",
    "vjp",
    "vmap",
]
__all__ += ["fixed_point", "odeint", "root"]
__all__ += ["adjoint", "primitive"]
__all__ += ["checkpointed"]
