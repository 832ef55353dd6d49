"""sourcead: source-transformation automatic differentiation for numeric Python.

import sourcead
dloss = sourcead.grad(loss, wrt=(0, 1))   # the adjoint is generated here
dloss(2.0, 3.0)                           # compiled with Numba at the first call
print(dloss.source)                       # the generated Python
"""

from .api import grad, show, value_and_grad, vjp
from .errors import SourceADError

__version__ = "0.1.0"
__all__ = ["SourceADError", "grad", "show", "value_and_grad", "vjp"]
