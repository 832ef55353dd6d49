"""The persistent cache: generated modules stored as files and imported from there.

A derivative's generated module depends on the differentiated function's source, on the
sources of every user function it calls, on the values of the globals they read, on the
derivative rules, on the argument types, on ``wrt`` and on the compiler itself. All of these
go into one key (a SHA-256 hash); the module is stored as ``<cache dir>/<name>_<key>.py``.

A new process that asks for the same derivative finds the file and imports it as a real
module, skipping the transformation; its functions are compiled with ``numba.njit(cache=True)``,
so Numba finds its machine code next to the file (in ``__pycache__``) and skips compilation
too. Editing any function in the call tree changes the key, so a stale module is never used
(Numba's own cache would miss a change in a called function; this key does not).

The cache directory is ``$SOURCEAD_CACHE_DIR`` when set, otherwise the platform's user cache
directory (``$XDG_CACHE_HOME/sourcead`` or ``~/.cache/sourcead`` on Linux,
``~/Library/Caches/sourcead`` on macOS, ``%LOCALAPPDATA%\\sourcead\\Cache`` on Windows).
``SOURCEAD_CACHE=0`` turns the cache off. Files are written to a temporary name and renamed
(``os.replace``), so concurrent processes filling the same cache never see half a file. The
cache keeps the newest ``$SOURCEAD_CACHE_MAX_ENTRIES`` (2000) modules.

Only what sourcead wrote runs: each entry's first line holds a hash of its key, header and
source, checked before that text (not the file read again) is executed. An entry that fails the check, does
not import or lacks its function, and a file of Numba's cache that raises when loaded, are
misses: made anew, with one warning. The directory is created with mode 0700, and code is
loaded only from one that belongs to this user and that no one else can write (otherwise,
as where the cache cannot be written, e.g. on a full disk, derivatives are made in memory,
with one warning).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import numbers
import os
import shutil
import stat
import sys
import tempfile
import types
import warnings
from pathlib import Path

import numpy as np

from ..backends.cpu.njit_options import NJIT_OPTIONS
from ..version import __version__

_MARKER = "# sourcead cache entry: "
_COMPILER_FINGERPRINT: str | None = None
_WARNED: set[tuple[str, str]] = set()  # (what, directory) warned about in this process
_RULES_MEMO: tuple = ((), "")


# --- where --------------------------------------------------------------------------------
def enabled() -> bool:
    """Whether the persistent cache is on (``SOURCEAD_CACHE=0`` turns it off)."""
    return os.environ.get("SOURCEAD_CACHE", "1").strip().lower() not in ("0", "off", "no", "false")


def cache_dir() -> Path:
    """The directory holding generated modules: ``$SOURCEAD_CACHE_DIR`` or the user cache dir."""
    configured = os.environ.get("SOURCEAD_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "sourcead" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "sourcead"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sourcead"


def entries() -> list[Path]:
    """The generated modules now in the cache."""
    directory = cache_dir()
    return sorted(directory.glob("*.py")) if directory.is_dir() else []


def max_entries() -> int:
    """How many generated modules the cache keeps (``$SOURCEAD_CACHE_MAX_ENTRIES``, 2000)."""
    try:
        return max(1, int(os.environ.get("SOURCEAD_CACHE_MAX_ENTRIES", "2000")))
    except ValueError:
        return 2000


def prune(keep: int | None = None) -> int:
    """Delete the oldest entries beyond ``keep`` (default ``max_entries()``), with Numba's
    machine code for them; how many were deleted. Entries are rewritten only when damaged,
    so the oldest are those made by old versions of your code or of sourcead."""
    keep = max_entries() if keep is None else keep
    found = entries()
    if len(found) <= keep:
        return 0
    found.sort(key=_age)
    doomed = found[: len(found) - keep]
    for path in doomed:
        path.unlink(missing_ok=True)
        _remove_machine_code(path)
    return len(doomed)


def _age(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted by another process meanwhile
        return 0.0


def clear() -> int:
    """Delete every cached module (with Numba's machine code beside it and the native tier);
    how many modules there were."""
    directory = cache_dir()
    removed = 0
    for path in entries():
        path.unlink(missing_ok=True)
        removed += 1
    shutil.rmtree(directory / "native", ignore_errors=True)  # see sourcead.native_cache
    pycache = directory / "__pycache__"
    if pycache.is_dir():
        for path in pycache.iterdir():
            if path.is_file():
                path.unlink(missing_ok=True)
    return removed


# --- the key ------------------------------------------------------------------------------
def compiler_fingerprint() -> str:
    """A hash of sourcead's version and of the source files of the compiler (which writes the
    code) and of ``sourcead_runtime`` (whose compiled helpers Numba links into it)."""
    global _COMPILER_FINGERPRINT
    if _COMPILER_FINGERPRINT is None:
        # found, not imported: importing sourcead_runtime imports Numba
        runtime = importlib.util.find_spec("sourcead_runtime").origin
        digest = hashlib.sha256(__version__.encode())
        for package in (Path(__file__).parent.parent, Path(runtime).parent):  # sourcead/, runtime
            package = package.resolve()
            for path in sorted(package.rglob("*.py")):
                digest.update(f"{package.name}/{path.relative_to(package)}".encode())
                digest.update(path.read_bytes())
        _COMPILER_FINGERPRINT = digest.hexdigest()
    return _COMPILER_FINGERPRINT


def dependencies(fn, loaded: dict) -> list:
    """``fn`` and every user function it calls, directly or not (``loaded``: LoadedFunctions)."""
    order, stack = [], [fn]
    while stack:
        current = stack.pop()
        if current in order:
            continue
        order.append(current)
        stack.extend(reversed(loaded[current].callees))
    return order


def derivative_key(fn, loaded: dict, arg_types, wrt, extra: str = "") -> str | None:
    """The cache key of ``fn``'s derivative, or None when something it reads has no stable
    description (then the derivative is generated in memory only)."""
    import gast

    digest = hashlib.sha256()
    digest.update(compiler_fingerprint().encode())
    digest.update(rules_fingerprint().encode())
    digest.update(repr((list(arg_types), list(wrt), extra)).encode())
    for function in dependencies(fn, loaded):
        parsed = loaded[function].parsed
        # the tree as parsed, line numbers included (they appear in the generated comments)
        tree = gast.dump(parsed.node, include_attributes=True)
        digest.update(f"\0{parsed.pyfunc.__module__}.{parsed.pyfunc.__qualname__}\0".encode())
        digest.update(f"{parsed.filename}\0{tree}".encode())
        for node in walk_globals(parsed.node):
            described = describe_value(node.global_value)
            if described is None:
                return None
            digest.update(f"{dotted_name(node)}={described}\0".encode())
    return digest.hexdigest()


def rules_fingerprint() -> str:
    """A hash of every registered derivative rule (so that editing a custom rule invalidates)."""
    global _RULES_MEMO
    from ..rules import registry  # the compiler's rules: imported only when hashed

    rules = tuple(registry.PRIMITIVES.items())
    memo_rules, digest = _RULES_MEMO
    if len(memo_rules) == len(rules) and all(
        a[0] is b[0] and a[1] is b[1] for a, b in zip(memo_rules, rules, strict=True)
    ):
        return digest
    hasher = hashlib.sha256()
    for primitive, rule in rules:
        # sourcead's own entries are its source, which compiler_fingerprint hashes: only
        # those registered or changed from outside it are described (reading every rule's
        # source took a third of a second at each process's first derivative)
        described = f"built-in {rule.name}" if rule.builtin else _describe_rule(rule)
        hasher.update(f"{_name_of(primitive)}={described}\0".encode())
    _RULES_MEMO = (rules, hasher.hexdigest())
    return _RULES_MEMO[1]


def _describe_rule(value) -> str:
    """The text of a parsed rule: its syntax trees dumped, its other fields by repr."""
    import dataclasses

    import gast

    if isinstance(value, gast.AST):
        return gast.dump(value)
    if isinstance(value, tuple | list):
        return "(" + ",".join(_describe_rule(v) for v in value) + ")"
    if dataclasses.is_dataclass(value):
        return (
            "{"
            + ",".join(
                f"{f.name}:{_describe_rule(getattr(value, f.name))}"
                for f in dataclasses.fields(value)
                if not isinstance(getattr(value, f.name), dict)  # a rule's globals: too big
            )
            + "}"
        )
    if isinstance(value, str | int | float | bool | type(None)):
        return repr(value)
    return _name_of(value)


def describe_value(value) -> str | None:
    """A text that changes whenever ``value`` would change the generated code, or None."""
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if isinstance(value, bool | numbers.Number):
        return f"{type(value).__name__} {value!r}"
    if isinstance(value, tuple | list):  # a module-level tuple of numbers, read as constants
        items = [describe_value(item) for item in value]
        return None if None in items else f"{type(value).__name__} ({', '.join(items)})"
    if isinstance(value, np.ndarray):
        data = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array {value.dtype} {value.shape} {data}"
    function = getattr(value, "py_func", value)  # Numba dispatchers
    if isinstance(function, types.FunctionType):
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            return None
        return f"function {_name_of(function)} {hashlib.sha256(source.encode()).hexdigest()}"
    if getattr(value, "__module__", None) and getattr(value, "__qualname__", None):
        return f"object {_name_of(value)}"  # builtins, ufuncs, classes: identified by name
    if isinstance(value, np.ufunc):
        return f"ufunc {value.__name__}"
    return None


def _name_of(value) -> str:
    module = getattr(value, "__module__", None) or ""
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or repr(value)
    return f"{module}.{name}"


def walk_globals(tree):
    """The nodes of ``tree`` that name a global (the frontend gave them ``global_value``)."""
    import gast

    for node in gast.walk(tree):
        if hasattr(node, "global_value"):
            yield node


def dotted_name(node) -> str:
    """``np.linalg.norm`` for the node of that expression."""
    import gast

    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute):
        return f"{dotted_name(node.value)}.{node.attr}"
    return "?"


# --- types in the entry's header ------------------------------------------------------------
def encode_type(t):
    """A JSON-able form of a type of ``sourcead.analysis`` (a frozen dataclass such as
    Scalar, Array or TupleType, possibly nested in tuples) or of None."""
    if isinstance(t, tuple):
        return {"tuple": [encode_type(item) for item in t]}
    if dataclasses.is_dataclass(t) and not isinstance(t, type):
        cls = type(t)
        return {
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "fields": {f.name: encode_type(getattr(t, f.name)) for f in dataclasses.fields(t)},
        }
    if t is None or isinstance(t, str | int | float | bool):
        return t
    raise TypeError(f"cannot store the type {t!r}")


def decode_type(data):
    """The inverse of ``encode_type``."""
    if not isinstance(data, dict):
        return data
    if "tuple" in data:
        return tuple(decode_type(item) for item in data["tuple"])
    module_name, _, qualname = data["class"].partition(":")
    if not module_name.startswith("sourcead."):
        raise ValueError(f"not a sourcead type: {data['class']}")
    cls = getattr(importlib.import_module(module_name), qualname)
    return cls(**{name: decode_type(value) for name, value in data["fields"].items()})


# --- storing and loading ---------------------------------------------------------------------
class DamagedEntry(Exception):
    """A cache entry that must not be used: its hash does not match its contents or its key,
    it is cut short or empty, or it does not import. It is made anew (a cache miss)."""


def entry_path(name: str, key: str) -> Path:
    return cache_dir() / f"{name}_{key[:24]}.py"


def entry_digest(key: str, header: dict, source: str) -> str:
    """The hash an entry carries: of the key it was made for, its header and its source."""
    text = f"{key}\0{json.dumps(header, sort_keys=True)}\0{source}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_entry(path: Path, key: str | None = None) -> tuple[str, dict] | None:
    """The source and header data of a cached module, or None when there is none or it is
    damaged (see ``verified_entry``)."""
    try:
        return verified_entry(path, key)
    except DamagedEntry:
        return None


def verified_entry(path: Path, key: str | None = None) -> tuple[str, dict] | None:
    """The source and header of the entry at ``path``, None when there is no such file.

    Raises ``DamagedEntry`` unless its first line holds the hash of what follows (and of
    ``key``, when given, else of the key it names): a truncated, empty or edited file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        raise DamagedEntry(f"{path.name} cannot be read ({exc})") from None
    first, _, source = text.partition("\n")
    if not first.startswith(_MARKER):
        raise DamagedEntry(f"{path.name} has no sourcead header (empty or cut short?)")
    try:
        stamp = json.loads(first[len(_MARKER) :])
        header, written_for, digest = stamp["header"], stamp["key"], stamp["sha256"]
        if not isinstance(header, dict) or not isinstance(written_for, str):
            raise TypeError("malformed header")
    except (ValueError, KeyError, TypeError):
        raise DamagedEntry(f"{path.name} has a damaged header") from None
    if key is not None and written_for != key:
        raise DamagedEntry(f"{path.name} was made for another key")
    if digest != entry_digest(written_for, header, source):
        raise DamagedEntry(f"{path.name} does not match its hash (cut short or edited)")
    return source, header


def write_entry(
    path: Path, source: str, header: dict, key: str = "", replace: bool = False
) -> bool:
    """Store a generated module atomically, with the hash of ``key``, ``header`` and
    ``source`` in its first line; ``replace``: overwrite a damaged entry (else a file there
    is another process's, kept with Numba's stamps). False (with one warning) when the
    cache cannot be written, e.g. on a read-only file system or a full disk."""
    stamp = {"header": header, "key": key, "sha256": entry_digest(key, header, source)}
    text = _MARKER + json.dumps(stamp, sort_keys=True) + "\n" + source
    try:
        make_private_dir(path.parent)
        make_private_dir(path.parent / "__pycache__")  # where Numba puts the machine code
        if path.exists() and not replace:
            return True
        write_atomically(path, text)
        if replace:
            _remove_machine_code(path)  # Numba's files of the damaged entry, maybe damaged too
        prune()
    except OSError as exc:
        warn_unwritable(path.parent, exc)
        return False
    return True


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it to ``path``, so that a
    concurrent reader sees the old file or the new one, never half of one."""
    make_private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def import_file(path: Path, module_name: str, compile: bool, source: str) -> types.ModuleType:
    """The generated module at ``path``, made by running ``source`` (its text as
    ``verified_entry`` checked it, not the file read again) in a fresh module object; with
    ``compile``, its functions become Numba dispatchers whose machine code is cached beside
    it (see ``cached_njit``)."""
    if compile and module_name in sys.modules:  # loaded already by another derivative
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # a blank line for the header keeps line numbers (tracebacks, Numba's cache file names)
    exec(builtins.compile("\n" + source, str(path), "exec"), vars(module))
    functions = [
        name
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType) and value.__module__ == module_name
    ]
    if compile:
        for name in functions:
            setattr(module, name, cached_njit(getattr(module, name), path.parent))
        sys.modules[module_name] = module  # Numba's cache finds the globals by module name
    else:
        # the helpers it imported, by their Python functions (not ``sourcead_runtime.__all__``,
        # whose reading imports every submodule of the runtime)
        for name, value in list(vars(module).items()):
            if (getattr(value, "__module__", None) or "").startswith("sourcead_runtime"):
                setattr(module, name, getattr(value, "py_func", value))
    return module


def load_or_generate(name: str, key: str | None, compile: bool, generate, load_in_memory):
    """The generated module for ``key``: imported from the cache when there, otherwise made by
    ``generate()`` -> (source, namespace, header) and stored first.

    Returns ``(source, module namespace, header)``. Without a key, with the cache off, or
    where the cache cannot be written or trusted, ``load_in_memory(source, namespace)``
    loads it the way uncached modules are loaded. A damaged entry is made anew (one
    warning); no error of the cache reaches the caller.
    """
    if key is None or not enabled():
        return _in_memory(generate, load_in_memory)
    path = entry_path(name, key)
    if not usable_directory(path.parent):
        return _in_memory(generate, load_in_memory)
    module_name = f"sourcead_cache_{path.stem}" + ("" if compile else "_python")
    damaged = False
    try:
        found = _load_entry(path, key, module_name, compile)
    except DamagedEntry as exc:
        warn_damaged(path.parent, str(exc))
        found, damaged = None, True
    if found is not None:
        return found
    source, namespace, header = generate()
    # a module that needs objects injected into its namespace cannot run from a file
    if namespace or not write_entry(path, source, header, key, replace=damaged):
        return source, load_in_memory(source, namespace), header
    return source, vars(import_file(path, module_name, compile, source)), header


def _in_memory(generate, load_in_memory):
    source, namespace, header = generate()
    return source, load_in_memory(source, namespace), header


def _load_entry(path: Path, key: str, module_name: str, compile: bool):
    """``(source, namespace, header)`` of the cached entry, None when there is none; raises
    ``DamagedEntry`` when it fails its hash, does not import or lacks its entry function."""
    found = verified_entry(path, key)
    if found is None:
        return None
    source, header = found
    try:
        module = import_file(path, module_name, compile, source)
    except Exception as exc:  # whatever the file's code raises
        sys.modules.pop(module_name, None)
        raise DamagedEntry(f"{path.name} does not import ({type(exc).__name__}: {exc})") from None
    entry = header.get("entry")
    if not isinstance(entry, str) or not callable(vars(module).get(entry)):
        sys.modules.pop(module_name, None)
        raise DamagedEntry(f"{path.name} lacks its function {entry!r}")
    return source, vars(module), header


# --- Numba's machine code --------------------------------------------------------------------
def cached_njit(function: types.FunctionType, directory: Path, **options):
    """``numba.njit(cache=True, **options)(function)``, except that a damaged file of Numba's cache
    (an index or data file that raises when loaded) is a miss, overwritten when the function
    is compiled again, and a failed save (a full disk) a warning: neither raises."""
    import numba

    dispatcher = numba.njit(**NJIT_OPTIONS, **options)(function)
    try:
        guarded = _guarded_cache_class()(function, directory)
    except Exception as exc:  # Numba found no writable place for machine code
        warn_unwritable(directory, exc)
        return dispatcher
    dispatcher._cache = guarded  # as Dispatcher.enable_caching does, with this class
    return dispatcher


def recompiled(dispatcher, **options):
    """``numba.njit(**options)`` of the function that ``dispatcher`` compiles (e.g. with
    ``parallel=True``); its machine code is cached beside the entry as ``cached_njit`` does
    where ``dispatcher`` came from a module of the cache, and not cached otherwise."""
    import numba

    function = getattr(dispatcher, "py_func", dispatcher)
    directory = getattr(getattr(dispatcher, "_cache", None), "directory", None)
    if directory is None:  # a module loaded in memory: no file for Numba's cache
        return numba.njit(**NJIT_OPTIONS, **options)(function)
    return cached_njit(function, directory, **options)


@functools.cache
def _guarded_cache_class():
    """The subclass of Numba's per-function cache that ``cached_njit`` installs (made at the
    first use: importing Numba is slow, and ``import sourcead`` does not)."""
    from numba.core.caching import FunctionCache

    class GuardedFunctionCache(FunctionCache):
        def __init__(self, py_func, directory: Path):
            super().__init__(py_func)
            self.directory = directory

        def load_overload(self, sig, target_context):
            try:
                return super().load_overload(sig, target_context)
            except Exception as exc:  # pickle's errors on a cut file come in many types
                warn_damaged(
                    self.directory,
                    f"Numba's cache of {self._py_func.__qualname__} in {self.cache_path} does "
                    f"not load ({type(exc).__name__}: {exc})",
                )
                self._reset()
                return None

        def save_overload(self, sig, data):
            try:
                super().save_overload(sig, data)
            except Exception as exc:  # OSError mostly: a full disk, a read-only directory
                warn_unwritable(self.directory, exc)
                self.disable()

        def _reset(self):
            """Replace the damaged index by an empty one (the save after compiling fills it
            in and overwrites the data file); stop using the cache where that fails."""
            try:
                self.flush()
            except Exception:
                self.disable()

    return GuardedFunctionCache


def _remove_machine_code(path: Path) -> None:
    """Delete Numba's cache files of the entry at ``path``."""
    for compiled in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        compiled.unlink(missing_ok=True)


# --- trust and warnings ----------------------------------------------------------------------
def make_private_dir(directory: Path) -> None:
    """Create ``directory`` and its missing parents with mode 0700 (as XDG asks of cache
    directories): code is loaded from it, so no one else may write there."""
    missing = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def untrusted_reason(directory: Path) -> str | None:
    """Why code must not be loaded from ``directory``, or None: like ssh with its keys, it
    must belong to this user and be writable by no one else. (Not checked on Windows.)"""
    if not hasattr(os, "getuid"):
        return None
    try:
        status = os.stat(directory)
    except FileNotFoundError:
        return None  # not there: it is created private
    except OSError as exc:
        return f"it cannot be examined ({exc})"
    if status.st_uid != os.getuid():
        return f"it belongs to user id {status.st_uid}, not to you (user id {os.getuid()})"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by others (mode {stat.S_IMODE(status.st_mode):o})"
    return None


def unusable_reason(directory: Path) -> str | None:
    """Why the cache cannot store modules in ``directory`` or load them from it, or None
    (for ``sourcead cache info``; nothing is created or warned about)."""
    if directory.exists() and not directory.is_dir():
        return "it is a file, not a directory"
    reason = untrusted_reason(directory)
    if reason is not None:
        return reason
    if directory.is_dir() and not os.access(directory, os.W_OK | os.X_OK):
        return "it is not writable"
    return None


def trusted_directory(directory: Path) -> bool:
    """Whether code may be loaded from ``directory`` (see ``untrusted_reason``); one warning
    per directory when not."""
    reason = untrusted_reason(directory)
    if reason is not None:
        _warn_once(
            "untrusted",
            directory,
            f"sourcead does not load code from its cache {directory}: {reason}; it runs "
            "uncached. Make the directory private (chmod 700) and yours, or set "
            "SOURCEAD_CACHE_DIR to another directory",
        )
    return reason is None


def usable_directory(directory: Path) -> bool:
    """Whether generated modules may be stored in ``directory`` and loaded from it: created
    private when missing, and trusted (see ``trusted_directory``)."""
    try:
        make_private_dir(directory)
    except OSError as exc:
        warn_unwritable(directory, exc)
        return False
    return trusted_directory(directory)


def warn_unwritable(directory: Path, exc: BaseException) -> None:
    """One warning per directory that a cache write failed (the caller runs uncached)."""
    _warn_once(
        "unwritable",
        directory,
        f"sourcead cannot write its cache in {directory} ({exc}); it runs uncached. Set "
        "SOURCEAD_CACHE_DIR to a writable directory or SOURCEAD_CACHE=0",
    )


def warn_damaged(directory: Path, what: str) -> None:
    """One warning per directory that a damaged cache file was found (it is made anew)."""
    _warn_once(
        "damaged",
        directory,
        f"sourcead found a damaged file in its cache {directory}: {what}; it made it anew. "
        "If this recurs, `sourcead cache clear` removes the cache",
    )


def _warn_once(kind: str, directory: Path, message: str) -> None:
    if (kind, str(directory)) in _WARNED:
        return
    _WARNED.add((kind, str(directory)))
    warnings.warn(message, RuntimeWarning, stacklevel=4)
