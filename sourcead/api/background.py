"""``compile="background"``: the first calls run as NumPy while Numba compiles in a thread.

The first call of a compiled derivative waits for Numba, which takes seconds to minutes for
array programs (docs/performance.md). The same generated code runs as plain Python at once
(``compile=False``), and whole-array code runs fast that way: NumPy does the work. With
``compile="background"`` the first call runs the Python version and then starts a thread
that compiles the Numba version (with a copy of the call's arguments); calls run as Python
until it is ready and compiled from then on. Both run the same generated code, so their
results agree to rounding.

Every entry point that takes ``compile=`` takes it: ``grad``, ``value_and_grad``, ``vjp``
(``api.gradients``), ``jvp``, ``jacobian``, ``hessian``, ``hvp`` and ``grad`` of a gradient
(``api.forward``: the tangent and second-derivative modules) and ``vmap`` (``api.batched``:
the batched loop). Each checks the value with ``check_compile``.

The Python version calls the runtime's helpers as Python all the way down
(``python_helpers``), so it never waits for Numba's compiler, whose lock every compile
shares; the thread compiles the helpers with the rest. Element loops run at Python's speed
in the Python version: this mode suits whole-array programs.

A module stored in the persistent cache is compiled in a child process
(``cache.compile_process``), which does not take turns with the caller's Python calls at the
interpreter's lock; the thread waits for it and then loads the machine code from Numba's
cache. Other modules (the cache off) are compiled by the thread itself.
"""

from __future__ import annotations

import atexit
import functools
import threading
import types
from pathlib import Path

import numpy as np

#: The value of ``compile=`` that asks for it.
BACKGROUND = "background"

#: What every ``compile=`` takes.
COMPILE_VALUES = (True, False, BACKGROUND)


def check_compile(compile) -> None:
    """ValueError unless ``compile`` is ``True``, ``False`` or ``"background"``: every entry
    point checks its ``compile=`` with this, before anything is generated. (This module is
    imported with ``sourcead``: the compiler and Numba only when a derivative is made.)"""
    if compile not in COMPILE_VALUES:
        raise ValueError(f"compile= takes True, False or {BACKGROUND!r}, not {compile!r}")


class BackgroundCompiled:
    """Calls ``python(*args)`` until ``compiled`` has compiled in a thread, then ``compiled``.

    ``what`` names the derivative for the log. A compile that fails leaves the Python version
    in use and logs a warning (the results stay right; only the speed is lost).
    """

    def __init__(self, python, compiled, what: str):
        self.python = python
        self.compiled = compiled
        self.what = what
        self.ready = False
        self.failed: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __call__(self, *args):
        if self.ready:
            return self.compiled(*args)
        result = self.python(*args)
        if self._thread is None:
            # copies: the caller may change its arrays while the thread calls with them
            copies = tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)
            from ..backends.cpu import progress

            self._thread = threading.Thread(
                target=self._compile, args=(copies,), name=progress.BACKGROUND_THREAD, daemon=True
            )
            self._thread.start()
        return result

    def _compile(self, args) -> None:
        from ..backends.cpu import progress

        try:
            cached = _cached_module(self.compiled)
            if cached is not None:  # compiled in a child process, loaded from Numba's cache below
                from ..cache.compile_process import compile_in_a_process

                compile_in_a_process(*cached, args)
            self.compiled(*args)  # compiles for these types (Numba caches it), then runs once
        except BaseException as exc:  # reported, never raised in a thread nobody joins
            self.failed = exc
            progress.logger.warning(
                "compiling %s failed (%s: %s); its calls keep running as Python",
                self.what,
                type(exc).__name__,
                exc,
            )
        else:
            self.ready = True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the compile started by the first call; True when the compiled version is
        in use (False: no call yet, still compiling after ``timeout``, or failed)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.ready

    def beside(self, name: str, compiled):
        """The function ``name`` of the same generated module: as Python (the Python
        version's own) until this one is compiled, then ``compiled``, the compiled module's."""
        python = self.python.__globals__[name]

        def call(*args):
            return compiled(*args) if self.ready else python(*args)

        return call


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
    _end_children_at_exit()
    return path, function.__module__, function.__name__


def _has_machine_code(compiled) -> bool:
    """Whether Numba's cache holds machine code of ``compiled`` (an index file beside its
    module; True where that cannot be told)."""
    cache_file = getattr(getattr(compiled, "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    return index is None or Path(index).exists()


@functools.cache
def _end_children_at_exit() -> None:
    from ..cache.compile_process import end_children

    atexit.register(end_children)


def called(compile, made_now: bool, source: str, compiled, entry: str, module_name: str):
    """The function a derivative calls: ``compiled``; for ``compile="background"`` and a module
    ``made_now`` (not found in the persistent cache, whose machine code is cached beside it)
    or found without machine code (made by ``compile=False``), a ``BackgroundCompiled`` of the
    ``source``'s Python version and ``compiled``."""
    if compile != BACKGROUND or not (made_now or not _has_machine_code(compiled)):
        return compiled
    from ..backends.cpu import progress
    from ..backends.cpu.loading import load_module

    python = load_module(source, {}, module_name, False)
    python.update(python_helpers(python))
    return BackgroundCompiled(python[entry], compiled, progress.description(compiled))


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
