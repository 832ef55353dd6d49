"""A module of the persistent cache compiled by Numba in a process of its own.

``compile="background"`` (``api.background``) runs a derivative's first calls as Python while
Numba compiles it. Compiled in a thread of the caller's process, the compile and the caller's
Python calls take turns at the interpreter's lock: the GMM's gradient took 64 s to compile
beside a loop calling it, against 27 s alone. A module stored in the persistent cache is a
file that another process can import as this one does, and Numba caches the machine code it
compiles beside it: so it is compiled here, in a child process, on another core, and the
caller's thread then loads the machine code from Numba's cache.

Run as ``python -m sourcead.cache.compile_process MODULE_FILE MODULE_NAME ENTRY ARGUMENTS``:
imports the entry at ``MODULE_FILE`` (checked against its hash, as the caller's process
checks it) under the caller's ``MODULE_NAME`` (part of Numba's cache index), calls ``ENTRY``
once with the arguments pickled in the file ``ARGUMENTS`` (which it deletes once read), and
exits with status 0 when it compiled; otherwise it writes why to ``ARGUMENTS.error``.

A child outlives a caller that ends first: it finishes the compile, so that the caller's
next process (a script run again) finds the machine code in Numba's cache instead of
starting the compile over. It writes to no pipe of the caller's, and a failure's message
goes to a file.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import modules


@dataclass
class Compiling:
    """A child process compiling a module (``start``), to ``wait`` for."""

    child: subprocess.Popen
    entry: str
    arguments: Path  # the pickled arguments (the child deletes them once read)

    def wait(self) -> bool:
        """Wait for the child; True when it compiled the entry (else why is logged)."""
        error = Path(str(self.arguments) + ".error")
        try:
            self.child.wait()
            if self.child.returncode != 0:
                from ..backends.cpu import progress

                why = _read(error) or f"exit status {self.child.returncode}"
                progress.logger.info(
                    "compiling %s in a process failed (%s); compiling it in this one",
                    self.entry,
                    why,
                )
            return self.child.returncode == 0
        finally:
            self.arguments.unlink(missing_ok=True)
            error.unlink(missing_ok=True)


def start(module_file: Path, module_name: str, entry: str, args: tuple) -> Compiling | None:
    """Start compiling ``entry`` of the cached module ``module_file`` for ``args`` in a child
    process, which fills Numba's cache beside the module; None where no child could start.

    Called on the caller's thread, so that the child runs even when the caller ends at once
    (a thread of its could be stopped at exit before it started the child)."""
    handle, arguments = tempfile.mkstemp(prefix="sourcead-arguments-", suffix=".pickle")
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(args, file, protocol=pickle.HIGHEST_PROTOCOL)
        command = [sys.executable, "-m", __name__, str(module_file), module_name, entry, arguments]
        child = subprocess.Popen(
            command,
            env=_child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except Exception:  # no interpreter to start, arguments that do not pickle: no child
        Path(arguments).unlink(missing_ok=True)
        return None
    return Compiling(child, entry, Path(arguments))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _child_environment() -> dict:
    """The caller's environment, with the caller's import path (where it found sourcead, its
    runtime and NumPy, also when they were put on the path at run time)."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return environment


def main(argv: list[str]) -> int:
    module_file, module_name, entry, arguments = argv
    caller = os.getppid()
    try:
        with open(arguments, "rb") as file:
            args = pickle.load(file)
        Path(arguments).unlink(missing_ok=True)  # (the caller may have ended: nobody else will)
        path = Path(module_file)
        found = modules.verified_entry(path)
        if found is None:
            raise LookupError(f"{path.name}: no such entry")
        source, _ = found
        module = modules.import_file(path, module_name, True, source)
        getattr(module, entry)(*args)  # compiles for these types; Numba caches the machine code
    except Exception as exc:  # the caller reads why, if it still runs
        if os.getppid() == caller:  # (else nobody would read or delete the file)
            last = (str(exc).strip().splitlines() or [""])[-1]
            error = f"{type(exc).__name__}: {last}"
            Path(arguments + ".error").write_text(error, encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
