"""The LLVM optimisation level of generated code: Numba's unless ``SOURCEAD_OPT`` says otherwise.

Numba optimises everything at LLVM's ``-O3`` (``NUMBA_OPT``, read once when Numba is
imported). For generated derivatives of array programs that is the slowest part of a first
call: the whole-array statements of an adjoint, and the runtime's helpers for arrays of
several dimensions, become loop nests that ``-O3`` transforms for seconds each. At ``-O2``
they compile several times faster (a tensor network's gradient: 83 s of CPU at ``-O3``,
24 s at ``-O2``), but loops that ``-O3`` vectorises run slower (the heat equation's
adjoint: 1.27x a hand-written adjoint at ``-O3``, 2.98x at ``-O2``): see
docs/performance.md, "Optimisation level". So the level is a choice, ``SOURCEAD_OPT``:
``0``-``3`` or ``max`` for generated code, Numba's own level when unset.

Numba reads ``numba.core.config.OPT`` each time it builds its pass managers, so a listener of
Numba's ``"numba:compile"`` events sets it for the outermost compile of generated code (the
functions it calls, the runtime's helpers and your own jitted functions among them, are
compiled at the same level) and puts the previous value back when that compile ends.
Compiles of anything else keep Numba's level.
"""

from __future__ import annotations

import os
import threading

from numba.core import config, event

#: The levels ``SOURCEAD_OPT`` takes (LLVM's, as ``NUMBA_OPT``).
_LEVELS = ("0", "1", "2", "3", "max")


def level() -> config._OptLevel | None:
    """The optimisation level of generated code from ``SOURCEAD_OPT``; None when unset
    (Numba's level)."""
    chosen = os.environ.get("SOURCEAD_OPT", "").strip().lower()
    if not chosen:
        return None
    if chosen not in _LEVELS:
        raise ValueError(f"SOURCEAD_OPT must be one of {', '.join(_LEVELS)}, not {chosen!r}")
    return config._OptLevel(chosen)


class _LevelListener(event.Listener):
    """Sets ``config.OPT`` while generated code compiles (outermost compile only)."""

    def __init__(self, generated):
        self.generated = generated  # py_func -> whether it is generated code
        self.local = threading.local()

    def on_start(self, ev: event.Event) -> None:
        state = self.local
        state.depth = getattr(state, "depth", 0) + 1
        if state.depth != 1:
            return
        function = getattr(ev.data["dispatcher"], "py_func", None)
        state.previous = None
        chosen = level()
        if chosen is not None and self.generated(function) and _is_cpu(ev.data["dispatcher"]):
            state.previous = config.OPT
            config.OPT = chosen

    def on_end(self, ev: event.Event) -> None:
        state = self.local
        state.depth = getattr(state, "depth", 1) - 1
        if state.depth == 0 and getattr(state, "previous", None) is not None:
            config.OPT = state.previous
            state.previous = None


def _is_cpu(dispatcher) -> bool:
    from numba.core.registry import CPUDispatcher

    return isinstance(dispatcher, CPUDispatcher)


def install(generated) -> None:
    """Listen to Numba's compiles; ``generated(py_func)`` tells generated code."""
    level()  # a wrong SOURCEAD_OPT is an error at import, not in the middle of a compile
    event.register("numba:compile", _LevelListener(generated))
