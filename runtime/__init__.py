"""What generated derivative code imports at run time: tapes and small helpers.

This package depends on NumPy and Numba only, never on the sourcead compiler, so modules
generated ahead of time run where the compiler is not installed. Every helper is a Numba
function that also runs as plain Python (``compile=False`` runs generated code uncompiled).

It is a distribution of its own, ``sourcead-runtime`` (``runtime/pyproject.toml``), to install
where built modules run, and it is shipped inside sourcead too; both carry the same version
(``version.py``), which every built module checks when imported.
"""

from __future__ import annotations

import numba
import numpy as np

from .version import __version__  # noqa: F401  (sourcead's own; built modules check it)

__all__ = ["grow", "new_tape", "pop", "push", "reserve", "trip_count", "zeros_like_adjoint"]

_INITIAL_CAPACITY = 64
# how many times the room needed now ``reserve`` may make for what later steps will push:
# a loop of up to 128 steps that pushes an array at each gets its tape in one allocation
_AHEAD = 128


@numba.njit(cache=True)
def new_tape(dtype):
    """An empty tape for values of ``dtype``; ``push`` grows it as needed."""
    return np.empty(_INITIAL_CAPACITY, dtype=dtype)


@numba.njit(cache=True)
def _longer_copy(tape, size):
    """A new tape of ``size`` values starting with those of ``tape``.

    Copied by a loop, not by slice assignment: Numba compiles the slice form with its
    shape-mismatch error path (string formatting), which took two seconds of the first
    call of every gradient.
    """
    longer = np.empty(size, dtype=tape.dtype)
    for k in range(tape.shape[0]):
        longer[k] = tape[k]
    return longer


@numba.njit(cache=True)
def grow(tape):
    """A tape twice as long holding the same values (called when ``tape`` is full)."""
    return _longer_copy(tape, 2 * tape.shape[0])


@numba.njit(cache=True)
def reserve(tape, size, expected=0):
    """``tape``, or a longer copy of it, with room for ``size`` values.

    Called before a counted loop with the number of values the loop will push, so that the
    pushes inside it are plain stores. Inside an outer loop, ``expected`` is the length the
    tape reaches if every outer iteration left pushes as much as this one: the copy is made
    that long (at most ``_AHEAD`` times longer than needed now), so that a tape filled a step
    at a time is copied once or twice, not at every doubling. Each copy is a new allocation
    whose pages are faulted in as they are written (a tape of large arrays is always fresh
    memory from the system); pages reserved but never written cost nothing but addresses.
    """
    if size <= tape.shape[0]:
        return tape
    longer = max(size, 2 * tape.shape[0], min(expected, _AHEAD * max(size, tape.shape[0])))
    return _longer_copy(tape, longer)


@numba.njit(cache=True, inline="always")
def push(tape, top, value):
    """Store ``value`` at ``tape[top]``, doubling the tape when full; returns (tape, top + 1)."""
    if top == tape.shape[0]:
        tape = _longer_copy(tape, 2 * tape.shape[0])
    tape[top] = value
    return tape, top + 1


@numba.njit(cache=True, inline="always")
def pop(tape, top):
    """The value last pushed, and the new top: ``value, top = pop(tape, top)``."""
    return tape[top - 1], top - 1


@numba.njit(cache=True)
def trip_count(start, stop, step):
    """The number of iterations of ``range(start, stop, step)``."""
    if step > 0 and stop > start:
        return (stop - start + step - 1) // step
    if step < 0 and stop < start:
        return (start - stop - step - 1) // (-step)
    return 0


@numba.njit(cache=True)
def zeros_like_adjoint(value):
    """A zero adjoint for ``value``: an array of zeros, or 0.0 for a scalar."""
    return np.zeros_like(value)


from .allocator import keep_freed_memory  # noqa: E402

keep_freed_memory()

from . import arrays as _arrays  # noqa: E402
from .arrays import *  # noqa: E402,F403

__all__ += _arrays.__all__

# reductions along axes (np.max(x, axis=1, keepdims=True) …) and their adjoints
from . import reductions as _reductions  # noqa: E402
from .reductions import *  # noqa: E402,F403

__all__ += _reductions.__all__

# tensor algebra: np.einsum, np.tensordot, @ of stacks of matrices … and their adjoints
from . import tensor as _tensor  # noqa: E402
from .tensor import *  # noqa: E402,F403

__all__ += _tensor.__all__

# scipy.special's functions, and those of math and NumPy that Numba does not compile
from . import special as _special  # noqa: E402
from .special import *  # noqa: E402,F403

__all__ += _special.__all__

# building and reshaping arrays where Numba lacks NumPy's function or option (np.pad, np.tile …)
from . import shaping as _shaping  # noqa: E402
from .shaping import *  # noqa: E402,F403

__all__ += _shaping.__all__

# norms along axes, weighted averages, traces and differences (np.linalg.norm, np.diff …)
from . import summaries as _summaries  # noqa: E402
from .summaries import *  # noqa: E402,F403

__all__ += _summaries.__all__

# linear algebra Numba lacks (expm, solve_triangular …) and the factorisations' tangents
from . import linalg as _linalg  # noqa: E402
from .linalg import *  # noqa: E402,F403

__all__ += _linalg.__all__

# np.fft and scipy.fft (compiled through rocket-fft) and their adjoints
from . import fft as _fft  # noqa: E402
from .fft import *  # noqa: E402,F403

__all__ += _fft.__all__


# Helpers of the solver and integrator templates in solvers.py and ode.py, which sourcead
# copies into the code it generates for sourcead.fixed_point, sourcead.root and sourcead.odeint.
from .ode import (  # noqa: E402, F401  (exported through SOLVER_HELPERS)
    DOPRI5,
    RK4,
    check_times,
    combine,
    combine_into,
    error_ratio,
    next_step,
    tableau,
)
from .solvers import small_change  # noqa: E402, F401

SOLVER_HELPERS = [
    "DOPRI5",
    "RK4",
    "check_times",
    "combine",
    "combine_into",
    "error_ratio",
    "next_step",
    "small_change",
    "tableau",
]
__all__ += SOLVER_HELPERS

# indexing with arrays: gathers, scatters and masks (x[idx], np.add.at …) and their adjoints
from . import indexing as _indexing  # noqa: E402
from .indexing import *  # noqa: E402,F403

__all__ += _indexing.__all__

from . import checkpoint as _checkpoint  # noqa: E402
from .checkpoint import *  # noqa: E402,F403

__all__ += _checkpoint.__all__
