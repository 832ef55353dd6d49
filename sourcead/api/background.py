"""``compile="background"``: the first calls run as NumPy while Numba compiles in a thread.

The first call of a compiled derivative waits for Numba, which takes seconds to minutes for
array programs (docs/performance.md). The same generated code runs as plain Python at once
(``compile=False``), and whole-array code runs fast that way: NumPy does the work. With
``compile="background"`` the first call runs the Python version and then starts a thread
that compiles the Numba version (with a copy of the call's arguments); calls run as Python
until it is ready and compiled from then on. Both run the same generated code, so their
results agree to rounding.

Numba's compiler takes a lock that every compile shares, so the Python version runs once
before the thread starts: the runtime's helpers it calls are compiled or loaded by then, and
later Python calls of the same types do not wait for the thread. Element loops run at
Python's speed in the Python version: this mode suits whole-array programs.
"""

from __future__ import annotations

import threading

import numpy as np

from ..backends.cpu import progress
from ..backends.cpu.loading import load_module

#: The value of ``compile=`` that asks for it.
BACKGROUND = "background"


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
            self._thread = threading.Thread(
                target=self._compile, args=(copies,), name="sourcead-compile", daemon=True
            )
            self._thread.start()
        return result

    def _compile(self, args) -> None:
        try:
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


def called(compile, made_now: bool, source: str, compiled, entry: str, module_name: str):
    """The function a derivative calls: ``compiled``; for ``compile="background"`` and a module
    ``made_now`` (not found in the persistent cache, whose machine code is cached beside it),
    a ``BackgroundCompiled`` of the ``source``'s Python version and ``compiled``."""
    if compile != BACKGROUND or not made_now:
        return compiled
    python = load_module(source, {}, module_name, False)
    return BackgroundCompiled(python[entry], compiled, progress.description(compiled))
