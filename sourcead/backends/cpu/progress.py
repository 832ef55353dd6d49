"""One line on stderr when Numba compiles a derivative for long, and its time when done.

Numba compiles generated code at the first call with new argument types, which can take
tens of seconds for array programs. A listener of Numba's ``"numba:compile"`` events starts
a timer when the outermost compile of generated code begins; if it is still compiling
after ``DELAY`` seconds, the logger ``sourcead`` says what (``compiling the adjoint of loss
(model.py:12) ...``), and at the end how long it took. Calls cost nothing: Numba sends the
events only while it compiles.

The lines go to stderr unless the program configured logging itself (then they propagate to
its handlers, at level INFO); ``SOURCEAD_QUIET=1`` or ``logging.getLogger("sourcead")
.setLevel(logging.WARNING)`` silences them.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from numba.core import event

logger = logging.getLogger("sourcead")

#: Seconds of compiling before the first line is written.
DELAY = 2.0

#: Generated entry functions -> what they compute, for the message.
_DESCRIPTIONS: dict[str, str] = {}

_GENERATED_MODULES = ("sourcead_generated", "sourcead_cache_")


def describe(entry: str, what: str, parsed) -> None:
    """Name the generated function ``entry`` for the progress line: ``what`` (``"the
    adjoint"``) of the user's function ``parsed``, with its file and line."""
    where = f"{os.path.basename(parsed.filename)}:{parsed.node.lineno}"
    _DESCRIPTIONS[entry] = f"{what} of {parsed.name} ({where})"


class _DefaultStderr(logging.StreamHandler):
    """stderr, for programs that configured no logging of their own."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


class _CompileListener(event.Listener):
    """Times the outermost compile of generated code (nested compiles of the functions it
    calls belong to it)."""

    def __init__(self):
        self.local = threading.local()

    def on_start(self, ev: event.Event) -> None:
        state = self.local
        state.depth = getattr(state, "depth", 0) + 1
        if state.depth != 1:
            return
        function = getattr(ev.data["dispatcher"], "py_func", None)
        module = getattr(function, "__module__", "") or ""
        if not module.startswith(_GENERATED_MODULES):
            state.timer = None
            return
        what = _DESCRIPTIONS.get(function.__name__, f"{function.__name__} (generated code)")
        state.what, state.started = what, time.perf_counter()
        state.timer = threading.Timer(DELAY, logger.info, ("compiling %s ...", what))
        state.timer.daemon = True
        state.timer.start()

    def on_end(self, ev: event.Event) -> None:
        state = self.local
        state.depth -= 1
        if state.depth != 0 or getattr(state, "timer", None) is None:
            return
        state.timer.cancel()
        state.timer = None
        seconds = time.perf_counter() - state.started
        if seconds >= DELAY:
            logger.info("compiled %s in %.1f s", state.what, seconds)


def _install() -> None:
    if os.environ.get("SOURCEAD_QUIET", "").strip() not in ("", "0"):
        return
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not any(isinstance(h, _DefaultStderr) for h in logger.handlers):
        handler = _DefaultStderr()
        handler.setFormatter(logging.Formatter("sourcead: %(message)s"))
        logger.addHandler(handler)
    event.register("numba:compile", _CompileListener())


_install()
