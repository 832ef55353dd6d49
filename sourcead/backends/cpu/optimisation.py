"""The LLVM optimisation level of generated code: 2 unless ``SOURCEAD_OPT`` says otherwise.

Numba optimises everything at LLVM's ``-O3`` (``NUMBA_OPT``, read once when Numba is
imported). For generated derivatives that is the slowest part of a first call: the whole-array
statements of an adjoint become loop nests that ``-O3`` versions and unrolls for seconds each
(the adjoint of ``np.sum(w * (x * y))`` on matrices: 2.8 s of CPU at ``-O3``, 1.2 s at
``-O2``; a tensor network's gradient: minutes at ``-O3``, 25 s at ``-O2``), while the code
runs about as fast (see docs/performance.md, "Optimisation level").

Numba reads ``numba.core.config.OPT`` each time it builds its pass managers, so a listener of
Numba's ``"numba:compile"`` events sets it for the outermost compile of generated code (the
functions it calls, the runtime's helpers and your own jitted functions among them, are
compiled at the same level) and puts the previous value back when that compile ends.
Compiles of anything else keep Numba's level. ``SOURCEAD_OPT=3`` (or ``max``) gives
generated code Numba's default optimisation; ``0``-``3`` are LLVM's levels.
"""

from __future__ import annotations

import os
import threading

from numba.core import config, event

#: The level generated code is optimised at, from ``SOURCEAD_OPT`` (default 2).
_LEVELS = ("0", "1", "2", "3", "max")


def level() -> config._OptLevel:
    """The optimisation level of generated code: ``SOURCEAD_OPT``, or 2."""
    chosen = os.environ.get("SOURCEAD_OPT", "").strip().lower() or "2"
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
        if self.generated(function) and _is_cpu(ev.data["dispatcher"]):
            state.previous = config.OPT
            config.OPT = level()

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
