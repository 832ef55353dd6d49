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
once with the arguments pickled in the file ``ARGUMENTS``, and exits with status 0 when it
compiled.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from . import modules

_RUNNING: set[subprocess.Popen] = set()  # children not yet done (ended when Python exits)
_LOCK = threading.Lock()


def compile_in_a_process(module_file: Path, module_name: str, entry: str, args: tuple) -> bool:
    """Compile ``entry`` of the cached module ``module_file`` for ``args`` in a child process,
    filling Numba's cache beside the module; True when the child compiled it."""
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
            stderr=subprocess.PIPE,
        )
        with _LOCK:
            _RUNNING.add(child)
        try:
            _, errors = child.communicate()
        finally:
            with _LOCK:
                _RUNNING.discard(child)
        if child.returncode != 0:
            from ..backends.cpu import progress

            last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            progress.logger.info(
                "compiling %s in a process failed (%s); compiling it in this one",
                entry,
                last[0],
            )
        return child.returncode == 0
    except OSError:  # no interpreter to start, no temporary file: compile in this process
        return False
    finally:
        Path(arguments).unlink(missing_ok=True)


def end_children() -> None:
    """End the compiles still running (at exit: a process does not outlive its caller)."""
    with _LOCK:
        children = list(_RUNNING)
    for child in children:
        child.kill()


def _child_environment() -> dict:
    """The caller's environment, with the caller's import path (where it found sourcead, its
    runtime and NumPy, also when they were put on the path at run time)."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    return environment


def main(argv: list[str]) -> int:
    module_file, module_name, entry, arguments = argv
    path = Path(module_file)
    found = modules.verified_entry(path)
    if found is None:
        print(f"{path.name}: no such entry", file=sys.stderr)
        return 1
    source, _ = found
    module = modules.import_file(path, module_name, True, source)
    with open(arguments, "rb") as file:
        args = pickle.load(file)
    getattr(module, entry)(*args)  # compiles for these types; Numba caches the machine code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
