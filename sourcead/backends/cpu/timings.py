"""Where the first call's time goes: a breakdown per stage of every derivative compiled.

With ``SOURCEAD_TIMINGS=1`` in the environment, sourcead times each stage of making a
derivative and Numba's phases of compiling it, and when the outermost compile of a
generated function ends, the logger ``sourcead`` writes one table (to stderr unless the
program configured logging itself). The stages:

========================  =====================================================================
``frontend``              reading the source (``inspect.getsource``, ``gast.parse``, its
                          globals), array syntax, the subset check, normalisation
``type inference``        the type of every name, per argument types
``passes``                the mode's passes on the typed tree: solver and jvp calls, fusion,
                          lowering (``pipeline/passes.py``)
``generation``            the adjoint or tangent generator, and the module's source
``loading``               executing the generated module, wrapping its functions in ``njit``
``numba init``            Numba's typing and lowering registries, loaded once per process at
                          the first compile or cache lookup (their imports, SciPy for BLAS):
                          the contexts' ``refresh``, timed by wrapping it while enabled
``numba typing``          Numba's type inference (pass ``nopython_type_inference``)
``numba lowering``        Numba's lowering to LLVM IR (``native_lowering``,
                          ``nopython_backend``), less the time in LLVM itself
``llvm``                  the time Numba holds the LLVM lock (event ``numba:llvm_lock``):
                          parsing the IR, optimisation, machine code, linking
``numba other``           Numba's other passes (bytecode, IR rewrites, inlining, parfors) and
                          its work between passes
========================  =====================================================================

Stages nest (a callee's adjoint is generated while its caller's is; a function the
generated code calls is compiled while Numba types the caller; LLVM runs inside lowering):
each moment counts once, for the innermost stage running then, so the stages add up. The
table also gives the wall time from the derivative's first stage (usually ``grad()``) to
the end of the compile; what is not in a stage (cache keys and files, imports, your own code
between ``grad()`` and the first call) is the difference. Numba's passes and LLVM outside
any compile event (loading machine code from Numba's cache, ``numba.pycc``) count while a
derivative's stages are pending; what no compile's end reported is reported at exit.

Unset, nothing is installed: ``stage()`` returns one shared do-nothing context and no
listener receives Numba's events.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

from numba.core import event

from . import progress

logger = progress.logger

#: sourcead's stages, then Numba's, in the order of the table.
SOURCEAD_STAGES = ("frontend", "type inference", "passes", "generation", "loading")
NUMBA_STAGES = ("numba init", "numba typing", "numba lowering", "llvm", "numba other")
STAGES = SOURCEAD_STAGES + NUMBA_STAGES

#: What each stage covers, for the table.
SUMMARIES = {
    "frontend": "read the source, check the subset, normalise",
    "type inference": "types of every name, per argument types",
    "passes": "solver and jvp calls, fusion, lowering",
    "generation": "adjoint/tangent generator, module source",
    "loading": "execute the module, wrap functions in njit",
    "numba init": "Numba's registries, loaded at its first compile",
    "numba typing": "nopython_type_inference",
    "numba lowering": "native_lowering, nopython_backend (less LLVM)",
    "llvm": "LLVM lock held: IR parsing, optimisation, machine code",
    "numba other": "bytecode, IR rewrites, inlining, between passes",
}

#: Numba pass names (``numba:run_pass`` events) with a stage of their own; the others are
#: ``numba other``.
NUMBA_PASSES = {
    "nopython_type_inference": "numba typing",
    "partial_type_inference": "numba typing",
    "native_lowering": "numba lowering",
    "native_parfor_lowering": "numba lowering",
    "nopython_backend": "numba lowering",
}


@dataclass
class Breakdown:
    """The time of each stage (seconds, exclusive of the stages nested in it) for one
    derivative, and the wall time from its first stage to the end of its compile."""

    what: str
    seconds: dict = field(default_factory=dict)
    wall: float = 0.0

    @property
    def total(self) -> float:
        """The sum of the stages."""
        return sum(self.seconds.values())

    def table(self) -> str:
        """The breakdown as aligned text, one stage a line."""
        lines = [f"first call of {self.what}: {self.wall:.3f} s from its first stage to compiled"]
        share = max(self.wall, 1e-12)
        for name in STAGES:
            value = self.seconds.get(name, 0.0)
            group = "sourcead" if name in SOURCEAD_STAGES else "numba"
            lines.append(
                f"  {group:<8} {name:<15} {value:8.3f} s {value / share:6.1%}  {SUMMARIES[name]}"
            )
        rest = self.wall - self.total
        lines.append(
            f"  {'':<8} {'sum of stages':<15} {self.total:8.3f} s {self.total / share:6.1%}"
        )
        lines.append(
            f"  {'':<8} {'not in a stage':<15} {rest:8.3f} s {rest / share:6.1%}  "
            "cache keys and files, imports, your code between grad() and the call"
        )
        return "\n".join(lines)


_enabled = False
_NOTHING = contextlib.nullcontext()
_LOCK = threading.Lock()
_REPORTS: list[Breakdown] = []  # every breakdown of this process, while enabled
_SINKS: list = []  # callables given each finished Breakdown (collecting())


class _State(threading.local):
    """Per thread: the stages running now (innermost last) and the times not yet reported."""

    def __init__(self):
        self.stack: list[list] = []  # [stage, start of its current slice]
        self.pending: dict[str, float] = {}
        self.started: float | None = None  # the first stage since the last report
        self.depth = 0  # Numba compiles running (nested ones included)
        self.ours = False  # whether the outermost compile running is of generated code
        self.loose: list[bool] = []  # events outside compiles running: whether each counts
        self.what = ""


_state = _State()


def enabled() -> bool:
    """Whether stages are timed (``SOURCEAD_TIMINGS=1``, or ``enable()`` called)."""
    return _enabled


def stage(name: str):
    """A context timing ``name`` (one of ``SOURCEAD_STAGES``); does nothing unless enabled."""
    return _Stage(name) if _enabled else _NOTHING


class _Stage:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        _push(self.name)

    def __exit__(self, *exc_info):
        _pop()


def _push(name: str) -> None:
    state, now = _state, time.perf_counter()
    if state.stack:
        top = state.stack[-1]
        state.pending[top[0]] = state.pending.get(top[0], 0.0) + now - top[1]
    elif state.started is None:
        state.started = now
    state.stack.append([name, now])


def _pop() -> None:
    state, now = _state, time.perf_counter()
    if not state.stack:
        return
    name, start = state.stack.pop()
    state.pending[name] = state.pending.get(name, 0.0) + now - start
    if state.stack:
        state.stack[-1][1] = now


def finish(what: str) -> Breakdown | None:
    """Close the pending breakdown (the stages since the last one) as ``what``'s and report
    it; None when nothing was timed. Called at the end of the outermost compile of generated
    code, and by the loader for modules run uncompiled."""
    state = _state
    if not _enabled or state.started is None or state.stack:
        return None
    breakdown = Breakdown(what, state.pending, time.perf_counter() - state.started)
    state.pending, state.started = {}, None
    with _LOCK:
        _REPORTS.append(breakdown)
        sinks = list(_SINKS)
    for sink in sinks or [_log]:
        sink(breakdown)
    return breakdown


def _log(breakdown: Breakdown) -> None:
    logger.info("%s", breakdown.table())


def reports() -> list[Breakdown]:
    """Every breakdown reported in this process so far."""
    with _LOCK:
        return list(_REPORTS)


def totals() -> dict[str, float]:
    """Each stage's seconds summed over every breakdown so far, with ``"wall"`` (the sum of
    their wall times): what ``benchmarks/startup.py`` reads from its child processes."""
    summed = dict.fromkeys(STAGES, 0.0)
    summed["wall"] = 0.0
    for breakdown in reports():
        for name, seconds in breakdown.seconds.items():
            summed[name] = summed.get(name, 0.0) + seconds
        summed["wall"] += breakdown.wall
    return summed


@contextlib.contextmanager
def collecting():
    """Enable timings and give the breakdowns finished meanwhile to the list yielded,
    instead of the log (``sourcead show --timings`` prints them itself)."""
    found: list[Breakdown] = []
    enable(log=False)
    with _LOCK:
        _SINKS.append(found.append)
    try:
        yield found
    finally:
        with _LOCK:
            _SINKS.remove(found.append)


def _on_numba_event(event) -> None:
    """Numba's compile, pass and LLVM-lock events, turned into stages while a generated
    function (and what it calls) compiles; the events of other compiles are ignored.

    Passes and LLVM outside any compile event count too while a derivative is pending
    (stages timed, not yet reported): loading machine code from Numba's cache, which comes
    before the compile event, and ``numba.pycc``'s compiles (``sourcead build --native``),
    which send none."""
    state = _state
    kind = event.kind
    if kind == "numba:compile":
        if event.is_start:
            state.depth += 1
            if state.depth == 1:
                function = getattr(event.data["dispatcher"], "py_func", None)
                state.ours = progress.generated(function)
                if state.ours:
                    state.what = progress.description(function)
            if state.ours:
                _push("numba other")
        else:
            if state.ours:
                _pop()
            state.depth -= 1
            if state.depth == 0 and state.ours:
                state.ours = False
                finish(state.what)
        return
    if state.depth:
        counted = state.ours  # inside a compile: ours, or another program's
    elif event.is_start:
        counted = state.started is not None  # outside compiles: while a derivative is pending
        state.loose.append(counted)
    else:
        counted = state.loose.pop() if state.loose else False
    if not counted:
        return
    if not event.is_start:
        _pop()
    elif kind == "numba:llvm_lock":
        _push("llvm")
    else:
        _push(NUMBA_PASSES.get(event.data["name"].split(" [", 1)[0], "numba other"))


def enable(log: bool = True) -> None:
    """Time the stages from now on (idempotent); ``log``: make sure the log's lines reach
    stderr (as ``SOURCEAD_TIMINGS=1`` does)."""
    global _enabled
    if log:
        progress.ensure_handler()
    if _enabled:
        return

    class Listener(event.Listener):
        def on_start(self, ev) -> None:
            _on_numba_event(ev)

        on_end = on_start

        def notify(self, ev) -> None:  # one call less per event (the LLVM lock's are many)
            _on_numba_event(ev)

    listener = Listener()
    for kind in ("numba:compile", "numba:run_pass", "numba:llvm_lock"):
        event.register(kind, listener)
    _time_numba_initialisation()
    atexit.register(_flush_at_exit)
    _enabled = True


def _time_numba_initialisation() -> None:
    """Time Numba's typing and target contexts' ``refresh`` as ``numba init``: the first one
    in a process loads every registry of Numba's implementations (about a third of a second),
    before the compile event when the machine code is looked up in a cache, so no event of
    Numba's covers it. Numba sends no event for it; the wrapper is installed only here."""
    from numba.core import base
    from numba.core.typing import context

    def timed(refresh):
        def timed_refresh(self):
            state = _state
            if state.depth and not state.ours:  # another program's compile
                return refresh(self)
            with _Stage("numba init"):
                return refresh(self)

        return timed_refresh

    for cls in (base.BaseContext, context.BaseContext):
        cls.refresh = timed(cls.refresh)


def _flush_at_exit() -> None:
    """Report what was timed and no compile's end reported (machine code from Numba's
    cache, ``numba.pycc``'s compiles, ``compile=False``), so that no stage goes unreported."""
    state = _state
    state.stack.clear()
    finish("derivatives no call compiled (Numba's cached machine code, numba.pycc, compile=False)")


if os.environ.get("SOURCEAD_TIMINGS", "").strip() not in ("", "0"):
    enable()
