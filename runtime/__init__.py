"""What generated derivative code imports at run time: tapes and small helpers.

This package depends on NumPy and Numba only, never on the sourcead compiler, so modules
generated ahead of time run where the compiler is not installed. Every helper is a Numba
function that also runs as plain Python (``compile=False`` runs generated code uncompiled).

It is a distribution of its own, ``sourcead-runtime`` (``runtime/pyproject.toml``), to install
where built modules run, and it is shipped inside sourcead too; both carry the same version
(``version.py``), which every built module checks when imported.
"""

from __future__ import annotations

import sys
import types

import numba
import numpy as np

from .version import __version__  # noqa: F401  (sourcead's own; built modules check it)

# what this file defines; ``__all__``, every exported name, is completed below from exports.py
_OWN = ["grow", "new_tape", "pop", "push", "reserve", "trip_count", "zeros_like_adjoint"]

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

# The other helpers live in submodules (arrays.py, reductions.py, linalg.py …), loaded when one
# of their names is first read: importing all of them took about 0.1 s, which the first call of a
# derivative found in the persistent cache paid although it imports only what it calls (most
# programs of scalars: ``new_tape`` and ``reserve``). exports.py says where each name lives.
from .exports import EXPORTS as _EXPORTS  # noqa: E402
from .exports import SOLVER_HELPERS  # noqa: E402, F401  (sourcead copies their templates)

_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = [*_OWN, *_HOME]


def _load(module: str) -> types.ModuleType:
    """Import the submodule ``module`` and bind the names it exports here, so that later reads
    are plain attribute reads (and an exported function named like a submodule is not hidden
    by the submodule, which the import binds here too). Bound once the import has finished:
    another thread sees each name either missing (and loads it the same way) or complete."""
    # (``__import__``, not ``importlib.import_module``, so that ``python -X importtime`` shows it)
    __import__(f"{__name__}.{module}")
    loaded = sys.modules[f"{__name__}.{module}"]
    globals().update({name: getattr(loaded, name) for name in _EXPORTS[module]})
    return loaded


def __getattr__(name: str):
    """A name of a submodule not loaded yet: load the submodule (PEP 562)."""
    if name in _HOME:
        _load(_HOME[name])
    elif name in _EXPORTS:  # ``sourcead_runtime.linalg`` without importing it first
        return _load(name)
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """What the package defines and every name it exports, loaded or not."""
    return sorted({*globals(), *_HOME, *_EXPORTS})
