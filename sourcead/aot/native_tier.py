"""The native tier of the cache: recorded gradients compiled into extensions.

``sourcead cache native`` (or the background process that ``grad`` starts, see
``cache.records``) compiles each gradient the cache has recorded into a native extension
with ``numba.pycc`` (``aot.native``), so that a later process calls it without importing
Numba or the compiler.
"""

from __future__ import annotations

import os
import shutil
import time
import types
from pathlib import Path

from ..cache import modules as cache
from ..cache import records
from ..errors import SourceADError
from ..version import __version__
from . import native
from .module_text import decorate, read_module


def compile_recorded(target_cpu: str = "") -> list[tuple[str, str]]:
    """Compile every recorded gradient not yet in the native tier (``sourcead cache native``).

    Returns ``(what, outcome)`` per record: ``compiled``, ``up to date``, or why it was
    dropped (its cache entry is gone, or the function changed since). A record that fails
    to compile is kept uncompiled and reported. ``target_cpu`` as for ``build --native``.
    Where the installed Numba has no ``numba.pycc``, a SourceADError says so.
    """
    base = records.native_dir()
    refused = cache.untrusted_reason(base.parent) if base.is_dir() else None
    if refused is not None:  # it would import code others could have written
        return [(str(base.parent), f"not compiled: sourcead does not trust it: {refused}")]
    outcomes = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        described = records.read_json(folder / records.FUNCTION_RECORD)
        for path in sorted(folder.glob("sig-*.json")):
            record = records.read_json(path)
            what = _describe_record(described, record)
            if (
                record is None
                or described is None
                or record.get("function") != records.digest(described)
            ):
                path.unlink(missing_ok=True)
                outcomes.append((what, "dropped: the function changed since"))
                continue
            found = cache.read_entry(cache.cache_dir() / record["entry"], record.get("key"))
            if found is None:
                path.unlink(missing_ok=True)
                outcomes.append((what, "dropped: its cache entry is gone or damaged"))
                continue
            if record.get("native") and records.native_intact(folder, record):
                outcomes.append((what, "up to date"))
                continue
            native.pycc_compiler()  # one clear error, not one per record, without numba.pycc
            claim = path.with_suffix(".compiling")
            if not _claim(claim):
                outcomes.append((what, "being compiled by another process"))
                continue
            try:
                outcomes.append((what, _compile_record(folder, path, record, found, target_cpu)))
            finally:
                claim.unlink(missing_ok=True)
        _remove_unrecorded(folder)
    return outcomes


def _remove_unrecorded(folder: Path) -> None:
    """Delete the native builds in ``folder`` that no record names any more (those of
    dropped records, or of an earlier version of a function), and the folder when empty."""
    kept = set()
    for path in folder.glob("sig-*.json"):
        record = records.read_json(path)
        if record and record.get("entry"):
            kept.add(Path(record["entry"]).stem)
    if not kept:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in [*folder.glob("*"), *folder.glob("__pycache__/*")]:
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".json":
            if not any(stem in path.name for stem in kept):  # (a loaded extension stays valid)
                path.unlink(missing_ok=True)


def _claim(path: Path, stale_after: float = 600.0) -> bool:
    """Create ``path`` unless another process holds it (made less than ``stale_after``
    seconds ago), so that two ``cache native`` runs do not compile the same record."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        try:
            if time.time() - path.stat().st_mtime < stale_after:
                return False
        except OSError:
            pass
        path.unlink(missing_ok=True)  # left by a process that died while compiling
        return _claim(path, stale_after=float("inf"))
    except OSError:
        return False


def _describe_record(described: dict | None, record: dict | None) -> str:
    if not described or not record:
        return "a damaged record"
    first = described["functions"][0]
    return f"{first['module']}.{first['qualname']}({', '.join(record['signature'])})"


def _compile_record(folder: Path, path: Path, record: dict, found, target_cpu: str) -> str:
    """Compile one recorded gradient: the decorated module, its extension and the wrapper."""
    source, header = found
    module_path = folder / record["entry"]
    comments = [
        f"# Generated by sourcead {__version__}; do not edit. The native tier of the cache:",
        f"# compiled from the cache entry {record['entry']} by `sourcead cache native`",
    ]
    module = read_module(source)  # the cache keeps the text only
    decorate(module)
    module.header_lines = comments
    text = module.text()
    target = types.SimpleNamespace(
        params=record["params"],
        types=list(cache.decode_type(record["types"])),
        wrt=record["wrt"],
        mode="reverse",
    )
    try:
        cache.write_atomically(module_path, text)
        extension = native.compile_extension(module_path, target, header, target_cpu)
        comments.append(f"# extension: {extension.name}, target CPU: {target_cpu or 'generic'}")
        wrapper = native.wrapper_source(module_path, target, header, comments)
        cache.write_atomically(native.wrapper_path(module_path), wrapper)
    except (SourceADError, OSError) as exc:
        return f"not compiled: {exc}"
    built = [native.wrapper_path(module_path).name, extension.name]
    record = {
        **record,
        "native": native.wrapper_path(module_path).stem,
        "entry_function": header["entry"],
        "native_files": records.native_files(folder, built),  # checked before each import
    }
    records.write_json(path, record)
    return "compiled"
