"""``compile="background"``, the default: the first calls run as NumPy while Numba compiles.

The first call of a compiled derivative waits for Numba, which takes seconds to minutes for
array programs (docs/performance.md). The same generated code runs as plain Python at once
(``compile=False``), and whole-array code runs fast that way: NumPy does the work. With
``compile="background"`` (the default: ``compile=None``, resolved by ``resolve_compile``,
``SOURCEAD_COMPILE`` where set) the first call with new argument types starts compiling the
Numba version (with a copy of the call's arguments) and answers with the Python version;
calls run as Python until the compiled version is ready and compiled from then on. Both run
the same generated code, so their results agree to rounding; the Python version's results
are converted to what compiled code returns, without NumPy's floating-point warnings.

Every entry point that takes ``compile=`` resolves it here: ``grad``, ``value_and_grad``,
``vjp`` (``api.gradients``), ``jvp``, ``jacobian``, ``hessian``, ``hvp`` and ``grad`` of a
gradient (``api.forward``: the tangent and second-derivative modules) and ``vmap``
(``api.batched``: the batched loop).

A module stored in the persistent cache is compiled in a child process
(``cache.compile_process``), which does not take turns with the caller's Python calls at the
interpreter's lock and finishes even when the caller ends first; a thread waits for it and
then loads the machine code from Numba's cache. Other modules (the cache off) are compiled
by the thread itself, after the first Python call.

So that a program whose Python version is slow (long element loops) never waits longer than
for the compiler, a call made while a child process compiles races the two (``_PythonCall``):
the Python version runs on a thread of its own, and when the child is done first, the Python
call is stopped and the compiled version answers. A call whose Python version raises (Python's
float division by zero, where compiled code gives inf) waits for the compiled version's
answer. One ``BackgroundCompiled`` serves each compiled function in a process (``called``),
so that derivatives made again (a ``vjp`` per step) and threads share one compile.

The Python version calls the runtime's helpers as Python all the way down
(``python_helpers``), so it never waits for Numba's compiler, whose lock every compile
shares; the compile covers the helpers with the rest.
"""

from __future__ import annotations

import contextvars
import ctypes
import os
import threading
import types
from pathlib import Path

import numpy as np

#: The value of ``compile=`` that asks for it.
BACKGROUND = "background"

#: What every ``compile=`` takes (``None``: the default, ``resolve_compile``).
COMPILE_VALUES = (True, False, BACKGROUND)

#: The environment variable that sets what ``compile=None`` (the default) means.
DEFAULT_VARIABLE = "SOURCEAD_COMPILE"

#: Its values (lower case) -> the ``compile=`` they stand for.
_DEFAULT_VALUES = {
    "background": BACKGROUND,
    "1": True,
    "true": True,
    "0": False,
    "false": False,
}


def resolve_compile(compile) -> bool | str:
    """``compile`` checked (ValueError unless ``True``, ``False``, ``"background"`` or
    ``None``), ``None`` replaced by the default: ``SOURCEAD_COMPILE`` (``background``,
    ``true``/``1`` or ``false``/``0``) where it is set, else ``"background"`` (``True`` under
    ``SOURCEAD_TIMINGS=1``, whose breakdown is of compiles at the call). Every entry point
    resolves its ``compile=`` with this, before anything is generated. (This module is
    imported with ``sourcead``: the compiler and Numba only when a derivative is made.)"""
    if compile is None:
        value = os.environ.get(DEFAULT_VARIABLE, "").strip().lower()
        if not value:
            timed = os.environ.get("SOURCEAD_TIMINGS", "").strip() not in ("", "0")
            return True if timed else BACKGROUND
        if value not in _DEFAULT_VALUES:
            raise ValueError(
                f"{DEFAULT_VARIABLE}={value!r}: it takes background, true (1) or false (0)"
            )
        return _DEFAULT_VALUES[value]
    if compile not in COMPILE_VALUES:
        raise ValueError(f"compile= takes True, False or {BACKGROUND!r}, not {compile!r}")
    return compile


class _Overtaken(BaseException):
    """Raised in a thread running a Python call whose result nobody waits for any more: the
    compiled version answered the call first."""


class _PythonCall:
    """One call of the Python version on a thread of its own, which its caller waits for
    (``done``) unless the compiled version becomes ready first (``done`` is set by either)."""

    def __init__(self, function, args: tuple):
        self.done = threading.Event()
        self.finished = False
        self.result = None
        self.error: BaseException | None = None
        context = contextvars.copy_context()  # the caller's NumPy error settings, among others
        self.thread = threading.Thread(
            target=self._run, args=(context, function, args), name=PYTHON_CALL_THREAD, daemon=True
        )

    def _run(self, context, function, args) -> None:
        try:  # (an _Overtaken may arrive anywhere in here)
            try:
                self.result = context.run(_python_call, function, args)
            except _Overtaken:
                return
            except BaseException as exc:  # raised again in the caller's thread
                self.error = exc
            self.finished = True
            self.done.set()
        except _Overtaken:
            pass

    def outcome(self):
        """The call's result, or its exception raised."""
        if self.error is not None:
            raise self.error
        return self.result

    def stop(self) -> None:
        """Stop the thread at its next Python line (a NumPy call under way ends first)."""
        if not self.finished and self.thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread.ident), ctypes.py_object(_Overtaken)
            )


#: The name of the threads that run a raced Python call.
PYTHON_CALL_THREAD = "sourcead-python-call"


class BackgroundCompiled:
    """Calls ``python(*args)`` until ``compiled`` has compiled in the background, then
    ``compiled``.

    ``what`` names the derivative for the log. A compile that fails leaves the Python version
    in use and logs a warning (the results stay right; only the speed is lost). One object
    serves every derivative of the same compiled function (``called``), so that each module
    is compiled once however many derivatives, calls and threads ask for it.
    """

    def __init__(self, python, compiled, what: str):
        self.python = python
        self.compiled = compiled
        self.what = what
        self.ready = False
        self.failed: BaseException | None = None
        self._reset()

    def _reset(self) -> None:
        """No compile started (a new object, or a process forked from its owner's)."""
        self._pid = os.getpid()
        self._started = False  # a first call has taken on starting the compile
        self._launched = threading.Event()  # ... and has started its thread
        self._thread: threading.Thread | None = None
        self._racing = False  # compiled in a child process: calls race it (``_race``)
        self._lock = threading.Lock()
        self._waiting: set[threading.Event] = set()  # raced calls' ``done``: set when ready

    def __call__(self, *args):
        if self.ready:
            return self.compiled(*args)  # (loaded from Numba's cache at its first call)
        if self._pid != os.getpid():  # forked while compiling: the thread stayed behind
            self._reset()
        with self._lock:
            starter, self._started = not self._started, True
        copies = None
        if starter:  # the first call: the compile starts
            # copies: the caller may change its arrays while the compile calls with them
            copies = tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)
            compiling = self._child(copies)
            self._racing = compiling is not None
            if self._racing:  # the child runs beside the Python call
                self._start(copies, compiling)
        try:
            if self._racing and self.failed is None:
                return self._race(args)
            return _python_call(self.python, args)
        except Exception as exc:
            error = exc
        finally:
            if starter and self._thread is None:  # the cache off: a thread compiles, after
                self._start(copies, None)  # the Python call (the two would take turns)
        # The Python version raised: Python's float division by zero or math.log(0.0),
        # where the compiled code gives inf or nan as NumPy does, or an error of the
        # arguments. The compiled version answers, as it would have at once (compile=True).
        if self.wait():
            return self.compiled(*args)
        raise error

    def _child(self, copies: tuple):
        """A child process compiling the module for ``copies`` (``compile_process.start``),
        where the persistent cache holds the module; else None."""
        cached = _cached_module(self.compiled)
        if cached is None:
            return None
        from ..cache import compile_process

        try:
            return compile_process.start(*cached, copies)
        except OSError:  # (no temporary file): compiled in a thread instead
            return None

    def _start(self, copies: tuple, compiling) -> None:
        from ..backends.cpu import progress

        self._thread = threading.Thread(
            target=self._compile,
            args=(copies, compiling),
            name=progress.BACKGROUND_THREAD,
            daemon=True,
        )
        self._thread.start()
        self._launched.set()

    def _race(self, args: tuple):
        """The Python version's result, or the compiled version's where that is ready first:
        a long Python call (element loops) waits no longer than the compiler. Ready means
        that the child process is done: the Python call is stopped then, before the machine
        code is loaded (a Python thread beside it slowed loading down fivefold, taking the
        interpreter's lock at every turn)."""
        call = _PythonCall(self.python, args)
        with self._lock:
            ready = self.ready
            if not ready:
                self._waiting.add(call.done)
        if ready:
            return self.compiled(*args)
        call.thread.start()
        try:
            call.done.wait()
        except BaseException:  # (an interrupt): the Python call is not left running
            call.stop()
            raise
        finally:
            with self._lock:
                self._waiting.discard(call.done)
        if call.finished:
            return call.outcome()
        call.stop()
        return self.compiled(*args)

    def _compile(self, args: tuple, compiling) -> None:
        """Wait for the child process ``compiling`` (None: none) and load its machine code,
        or compile here."""
        from ..backends.cpu import progress

        started = progress.background_started(self.what)
        try:
            if compiling is not None and compiling.wait():  # loaded from Numba's cache below
                self._wake()  # calls from now on load it themselves (or wait for this thread)
            try:
                self.compiled(*args)  # compiles for these types (Numba caches it), runs once
            except Exception:
                if not getattr(self.compiled, "signatures", None):
                    raise  # not compiled
                # compiled; these arguments make it raise (so they do the caller's call)
        except BaseException as exc:  # reported, never raised in a thread nobody joins
            self.failed = exc
            self.ready = False
            progress.background_ended(started)
            from .compiled_calls import reason

            progress.logger.warning(
                "compiling %s failed (%s: %s); its calls keep running as Python",
                self.what,
                type(exc).__name__,
                reason(exc),
            )
        else:
            self._wake()
            progress.background_ended(started, self.what)

    def _wake(self) -> None:
        """The compiled version answers from now on (its machine code in Numba's cache, or
        loaded); the raced calls waiting take it."""
        with self._lock:
            self.ready = True
            for done in self._waiting:
                done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the compile started by the first call; True when the compiled version is
        in use (False: no call yet, still compiling after ``timeout``, or failed)."""
        if self._started and self._pid == os.getpid():
            self._launched.wait(timeout)
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)
        return self.ready

    def beside(self, name: str, compiled):
        """The function ``name`` of the same generated module: as Python (the Python
        version's own) until this one is compiled, then ``compiled``, the compiled module's."""
        python = self.python.__globals__[name]

        def call(*args):
            return compiled(*args) if self.ready else _python_call(python, args)

        return call


def _python_call(python, args: tuple):
    """``python(*args)`` with what compiled code gives: no NumPy warnings of floating point
    (Numba's code computes inf and nan silently), and Python's numbers where NumPy's scalars
    come back (Numba returns float, not ``np.float64``)."""
    with np.errstate(all="ignore"):
        return _as_compiled_returns(python(*args))


def _as_compiled_returns(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_as_compiled_returns(v) for v in value)
    return value


def _cached_module(compiled) -> tuple[Path, str, str] | None:
    """(file, module name, function name) of ``compiled`` when it is a function of a module
    of the persistent cache whose machine code Numba caches beside it, else None."""
    from ..cache.modules import cache_dir

    function = getattr(compiled, "py_func", None)
    if function is None or getattr(compiled, "_cache", None) is None:
        return None
    path = Path(function.__code__.co_filename)
    try:
        inside = path.is_file() and path.resolve().parent == cache_dir().resolve()
    except OSError:
        return None
    if not inside or not isinstance(function.__module__, str):
        return None
    return path, function.__module__, function.__name__


def _has_machine_code(compiled) -> bool:
    """Whether Numba's cache holds machine code of ``compiled`` (an index file beside its
    module; True where that cannot be told)."""
    cache_file = getattr(getattr(compiled, "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    return index is None or Path(index).exists()


def called(compile, made_now: bool, source: str, compiled, entry: str, module_name: str):
    """The function a derivative calls: ``compiled``; for ``compile="background"`` (the
    default) and a module ``made_now`` (not found in the persistent cache, whose machine code
    is cached beside it) or found without machine code (made by ``compile=False``), a
    ``BackgroundCompiled`` of the ``source``'s Python version and ``compiled``: the one
    already made for ``compiled`` in this process, if any."""
    if compile != BACKGROUND:
        return compiled
    with _REGISTRY_LOCK:
        found = _COMPILING.get(id(compiled))
        if found is not None and found.compiled is compiled:  # another derivative's
            return compiled if found.ready else found
        if not (made_now or not _has_machine_code(compiled)):
            return compiled
        from ..backends.cpu import progress
        from ..backends.cpu.loading import load_module

        python = load_module(source, {}, module_name, False)
        python.update(python_helpers(python))
        found = BackgroundCompiled(python[entry], compiled, progress.description(compiled))
        _COMPILING[id(compiled)] = found
        return found


#: Compiled functions (by id) -> their ``BackgroundCompiled``: one per function and process.
_COMPILING: dict[int, BackgroundCompiled] = {}
_REGISTRY_LOCK = threading.Lock()


def python_helpers(namespace: dict) -> dict:
    """The runtime's helpers that ``namespace`` (a module loaded as Python) calls, as Python
    all the way down.

    ``compile=False`` calls a helper's Python function, but what that calls in turn (the
    runtime's private Numba functions: ``svd_tangent_u`` calls ``_svd_left_tangent``) is
    still compiled, at the call, on the thread that calls it: the first call of a TRG
    tangent waited 18 s for them. Here each helper is a copy of its Python function whose
    globals hold such copies of the Numba functions it calls (the same code, run by NumPy),
    so the first call waits for no compile; the thread compiles them with the rest. (The
    runtime's other functions get copies too, so that what they call is copied in turn.)
    """
    import sourcead_runtime
    from numba.core.dispatcher import Dispatcher

    modules: dict[int, dict] = {}  # a runtime module's globals -> their copy
    copies: dict[int, types.FunctionType] = {}

    def python(function: types.FunctionType) -> types.FunctionType:
        if id(function) in copies:
            return copies[id(function)]
        owner = function.__globals__
        if id(owner) not in modules:
            modules[id(owner)] = dict(owner)
        scope = modules[id(owner)]
        copy = types.FunctionType(
            function.__code__, scope, function.__name__, function.__defaults__, function.__closure__
        )
        copy.__kwdefaults__ = function.__kwdefaults__
        copy.py_func = copy  # (the runtime's Python paths call ``helper.py_func``)
        copies[id(function)] = copy
        for name, value in owner.items():  # (each module's names replaced once)
            if scope[name] is not value:
                continue
            if isinstance(value, Dispatcher):
                scope[name] = python(value.py_func)
            elif runtime_function(value):  # its globals are copied too
                scope[name] = python(value)
        return copy

    def runtime_function(value) -> bool:
        return isinstance(value, types.FunctionType) and (value.__module__ or "").startswith(
            "sourcead_runtime"
        )

    return {
        name: python(namespace[name])
        for name in sourcead_runtime.__all__
        if runtime_function(namespace.get(name))
    }
