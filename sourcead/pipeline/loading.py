"""Loading user functions once: parsed, checked and normalised, with every function they call.

Every derivative shares ``LOADED``, so a function called by several derivatives is read
once. A function is read again when a global, closure variable or helper that it (or a
function it calls) reads has been rebound since: a new ``numba.njit`` would read the
current ones too (docs/subset.md, "Globals, helpers and other modules' constants").
"""

from __future__ import annotations

import threading

from .program import LoadedFunction

LOADED: dict = {}  # user function -> LoadedFunction, shared by every derivative
_LOCK = threading.RLock()
#: How many times functions were parsed again because a name they read was rebound: part of
#: the keys of in-memory caches of generated code (api.forward, pipeline.forward_over_reverse).
_generation = 0


def load(fn) -> LoadedFunction:
    """``fn`` parsed, checked and normalised, with every function it calls.

    Parsed again when a global, closure variable or helper that it or a function it calls
    reads has been rebound since (``mod.K = 3.0``, ``mod.helper = other``), as a new
    ``numba.njit`` would read the current ones.
    """
    global _generation
    with _LOCK:
        if fn in LOADED and not drop_stale(fn, set()):
            _generation += 1
        if fn not in LOADED:
            loaded = LoadedFunction(fn)
            loaded.load_callees(LOADED, (fn,))
            LOADED[fn] = loaded
        return LOADED[fn]


def generation() -> int:
    """Changes whenever ``load`` parsed a function again because something it read changed."""
    return _generation


def drop_stale(fn, seen: set) -> bool:
    """Whether ``fn`` and everything it calls read what they read at parse time; the entries
    of ``LOADED`` that did not are dropped (all of them, not only the first found)."""
    loaded = LOADED.get(fn)
    if loaded is None:
        return False
    if fn in seen:
        return True
    seen.add(fn)
    callees_current = [drop_stale(callee, seen) for callee in loaded.callees]
    current = loaded.parsed.is_current() and all(callees_current)
    if not current:
        del LOADED[fn]
    return current
