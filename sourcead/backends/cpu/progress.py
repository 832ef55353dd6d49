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

The same listener hides Numba's performance warnings (``NumbaPerformanceWarning``) while it
compiles generated code and sourcead's runtime helpers: they point at generated lines the
user cannot change. ``SOURCEAD_DEBUG=1`` shows them. A function of the user's compiled
meanwhile (one the generated code calls) keeps Python's default for them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings

from numba.core import event
from numba.core.errors import NumbaPerformanceWarning

from . import optimisation

logger = logging.getLogger("sourcead")

#: Seconds of compiling before the first line is written.
DELAY = 2.0

#: Seconds of a compile after which its last line points to ``compile="background"``, once
#: per process: a user who chose to wait (``compile=True``) learns that first calls need not.
HINT_AFTER = 10.0
HINT = '; the default, compile="background", runs the first calls as NumPy while Numba compiles'
_hint = {"given": False}

#: Whether compiles are announced (not under ``SOURCEAD_QUIET``).
_announcing = {"on": True}

#: The name of the thread in which ``compile="background"`` compiles (no hint there).
BACKGROUND_THREAD = "sourcead-compile"

#: Generated entry functions -> what they compute, for the message.
_DESCRIPTIONS: dict[str, str] = {}

#: Module names of generated code: in memory, from the persistent cache, `show --compile-check`.
GENERATED_MODULES = ("sourcead_generated", "sourcead_cache_", "sourcead_check")
#: Where a performance warning is not the user's to act on: generated code and the runtime.
_OWN_MODULES = (*GENERATED_MODULES, "sourcead_runtime")

#: ``SOURCEAD_DEBUG=1``: Numba's performance warnings about generated code are shown.
DEBUG = os.environ.get("SOURCEAD_DEBUG", "").strip() not in ("", "0")


def describe(entry: str, what: str, parsed) -> None:
    """Name the generated function ``entry`` for the progress line: ``what`` (``"the
    adjoint"``) of the user's function ``parsed``, with its file and line."""
    where = f"{os.path.basename(parsed.filename)}:{parsed.node.lineno}"
    _DESCRIPTIONS[entry] = f"{what} of {parsed.name} ({where})"


def _module_of(function) -> str:
    return getattr(function, "__module__", "") or ""


def generated(function) -> bool:
    """Whether ``function`` (a dispatcher's ``py_func``) is generated code."""
    return _module_of(function).startswith(GENERATED_MODULES)


def description(function) -> str:
    """What the generated ``function`` computes, for messages: ``describe``'s words, or its
    name."""
    name = getattr(function, "__name__", "?")
    return _DESCRIPTIONS.get(name, f"{name} (generated code)")


def _hint_for(seconds: float) -> str:
    """``HINT`` for the first compile of the process that took ``HINT_AFTER`` seconds or more,
    else nothing."""
    if seconds < HINT_AFTER or _hint["given"]:
        return ""
    _hint["given"] = True
    return HINT


def background_started(what: str) -> tuple[threading.Timer | None, float]:
    """For a compile of ``what`` in the background (``api.background``): a timer that says,
    after ``DELAY`` seconds, that it compiles while its calls run as NumPy; with the start
    time, for ``background_ended``. (That thread's Numba compiles announce nothing
    themselves.)"""
    timer = None
    if _announcing["on"]:
        timer = threading.Timer(
            DELAY,
            logger.info,
            ("compiling %s in the background; its calls run as NumPy until it is ready", what),
        )
        timer.daemon = True
        timer.start()
    return timer, time.perf_counter()


def background_ended(started: tuple[threading.Timer | None, float], what: str = "") -> None:
    """The end of a compile ``background_started`` began: its time, when it was announced
    and ``what`` compiled (a failure is the caller's to report)."""
    timer, start = started
    if timer is None:
        return
    timer.cancel()
    seconds = time.perf_counter() - start
    if what and seconds >= DELAY:
        logger.info("compiled %s in %.1f s; its calls are compiled from now on", what, seconds)


class _DefaultStderr(logging.StreamHandler):
    """stderr, for programs that configured no logging of their own."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


class _CompileListener(event.Listener):
    """Times the outermost compile of generated code (nested compiles of the functions it
    calls belong to it), and scopes the filter of performance warnings to the compiles of
    generated code."""

    def __init__(self, announce: bool):
        self.announce = announce  # False under SOURCEAD_QUIET: the warnings' filter only
        self.local = threading.local()

    def on_start(self, ev: event.Event) -> None:
        state = self.local
        state.depth = getattr(state, "depth", 0) + 1
        function = getattr(ev.data["dispatcher"], "py_func", None)
        self._filter_warnings(state, function)
        if state.depth != 1:
            return
        background = threading.current_thread().name == BACKGROUND_THREAD  # (said there)
        if not (self.announce and generated(function)) or background:
            state.timer = None
            return
        what = description(function)
        state.what, state.started = what, time.perf_counter()
        state.timer = threading.Timer(DELAY, logger.info, ("compiling %s ...", what))
        state.timer.daemon = True
        state.timer.start()

    def on_end(self, ev: event.Event) -> None:
        state = self.local
        state.depth = getattr(state, "depth", 1) - 1
        contexts = state.__dict__.get("contexts")
        context = contexts.pop() if contexts else None  # none: installed during a compile
        if context is not None:
            context.__exit__(None, None, None)
        if state.depth != 0 or getattr(state, "timer", None) is None:
            return
        state.timer.cancel()
        state.timer = None
        seconds = time.perf_counter() - state.started
        if seconds >= DELAY:
            logger.info("compiled %s in %.1f s%s", state.what, seconds, _hint_for(seconds))

    @staticmethod
    def _filter_warnings(state, function) -> None:
        """While generated code (or the runtime) compiles, ignore performance warnings; in a
        user's function compiled inside such a compile, Python's default again. Compiles
        outside generated code are left alone."""
        contexts = state.__dict__.setdefault("contexts", [])
        own = _module_of(function).startswith(_OWN_MODULES)
        inside = any(c is not None for c in contexts)
        if DEBUG or not (own or inside):
            contexts.append(None)
            return
        context = warnings.catch_warnings()
        context.__enter__()
        warnings.simplefilter("ignore" if own else "default", NumbaPerformanceWarning)
        contexts.append(context)


def ensure_handler() -> None:
    """The log's lines at level INFO reach stderr, unless the program configured logging."""
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not any(isinstance(h, _DefaultStderr) for h in logger.handlers):
        handler = _DefaultStderr()
        handler.setFormatter(logging.Formatter("sourcead: %(message)s"))
        logger.addHandler(handler)


def _install() -> None:
    quiet = os.environ.get("SOURCEAD_QUIET", "").strip() not in ("", "0")
    _announcing["on"] = not quiet
    if not quiet:
        ensure_handler()
    event.register("numba:compile", _CompileListener(announce=not quiet))
    optimisation.install(generated)  # generated code's LLVM level, the same events


_install()
