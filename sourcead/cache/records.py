"""Records of cached gradients, checked without parsing, and their native tier.

A warm process that took its gradient from the persistent cache (``sourcead.cache``) imported
the compiler and parsed the function to compute the cache key, and imported Numba (about
0.5 s) to load the cached machine code. ``grad`` records each gradient it caches, with what
it depends on, so that a later process checks that record without parsing and loads the
cached module under Numba directly (no compiler). ``sourcead cache native`` goes further: it
compiles the recorded gradients into extension modules with Numba's ahead-of-time compiler
(as ``sourcead build --native`` does; see ``sourcead.native``), the *native tier*, which a
later ``sourcead.grad(f)`` calls with NumPy alone (no Numba either).

Layout, under ``<cache dir>/native/<function key>/``:

* ``function.json``: how to check, without parsing anything, that the function and every
  user function it calls are unchanged (module, qualified name, file, first line and a hash
  of each one's source; the description of every global their code reads; whether custom
  derivative rules were registered);
* ``sig-<hash>.json``: one per argument signature a gradient was cached for: the cache entry
  (``<cache dir>/<name>_<key>.py``) and its full key, the argument types, and once compiled
  the name of the native module;
* the native build of each: the decorated module, its extension and the checking wrapper.

The function key hashes what identifies the function (sourcead's compiler fingerprint, its
module, qualified name, file, first line and source, and ``wrt``). ``function.json`` then
covers everything else the full cache key hashes, so a record is used only where the
full key would be the same: any edit of the function or of a function it calls, of a global
it reads or of a custom rule sends the call to the compiler, as without this tier. Records are
written only when this light check reproduces, in the process that made the gradient, what
the full key saw (functions with closures, or callees that cannot be found by name, are not
eligible). Only ``grad``/``value_and_grad`` with scalar and array arguments (no tuples) are
recorded.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np

from . import modules as cache
from . import references

FUNCTION_RECORD = "function.json"
_NATIVE_MODULES: dict[str, types.ModuleType] = {}  # wrapper path -> module, per process


def native_dir() -> Path:
    """Where the records and the native tier live: ``<cache dir>/native``."""
    return cache.cache_dir() / "native"


# --- identifying a function without parsing it ------------------------------------------------
def plain_function(fun) -> types.FunctionType | None:
    """The Python function behind ``fun`` when its gradients can be recorded, else None."""
    fn = getattr(fun, "py_func", fun)
    if not isinstance(fn, types.FunctionType) or fn.__code__.co_freevars:
        return None  # closures: their cells are not described by the key
    return fn


def parameters(fn: types.FunctionType) -> list[str]:
    code = fn.__code__
    return list(code.co_varnames[: code.co_argcount])


def wrt_names(wrt, params: list[str]) -> list[str] | None:
    """``wrt`` as parameter names, or None where it is not valid (the compiler says why)."""
    names = []
    for item in wrt if isinstance(wrt, tuple) else (wrt,):
        if isinstance(item, bool) or not isinstance(item, int | str):
            return None
        if isinstance(item, int):
            if not -len(params) <= item < len(params):
                return None
            item = params[item]
        if item not in params:
            return None
        names.append(item)
    return names or None


def _source_file(fn: types.FunctionType) -> str:
    return inspect.getsourcefile(fn) or fn.__code__.co_filename  # as sourcead.frontend reads it


def _source_hash(fn: types.FunctionType) -> str | None:
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
    except (OSError, TypeError):
        return None


def _identity(fn: types.FunctionType) -> dict | None:
    """What identifies ``fn``'s parsed tree: name, file, first line and source."""
    digest = _source_hash(fn)
    if digest is None:
        return None
    return {
        "module": fn.__module__,
        "qualname": fn.__qualname__,
        "file": _source_file(fn),
        "line": fn.__code__.co_firstlineno,
        "source": digest,
    }


def function_key(fn: types.FunctionType, wrt: list[str]) -> str | None:
    """The key of the folder holding ``fn``'s recorded gradients with respect to ``wrt``."""
    identity = _identity(fn)
    if identity is None:
        return None
    # the extension is built for this interpreter and NumPy: another one misses, not crashes
    platform = [sys.implementation.cache_tag, sys.platform, np.__version__]
    text = json.dumps([cache.compiler_fingerprint(), platform, identity, wrt], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _find_function(module: str, qualname: str):
    """The function named ``qualname`` in the imported module ``module``, or None."""
    value = sys.modules.get(module)
    if value is None or "<locals>" in qualname:
        return None
    for part in qualname.split("."):
        value = getattr(value, part, None)
    value = getattr(value, "py_func", value)
    return value if isinstance(value, types.FunctionType) else None


def _global_described(fn: types.FunctionType, dotted: str) -> str | None:
    """``cache.describe_value`` of the global ``dotted`` as ``fn``'s code reads it now."""
    first, *rest = dotted.split(".")
    namespace = fn.__globals__
    if first in namespace:
        value = namespace[first]
    elif hasattr(builtins, first):
        value = getattr(builtins, first)
    else:
        return None
    try:
        for part in rest:
            value = getattr(value, part)
    except AttributeError:
        return None
    return cache.describe_value(value)


def _introduced_helper(node, fn: types.FunctionType) -> bool:
    """Whether a global in ``fn``'s tree is a runtime helper sourcead's rewrites put there,
    not a name of ``fn``'s module (the compiler's fingerprint covers the helpers)."""
    module = getattr(node.global_value, "__module__", None) or ""
    return module.startswith("sourcead_runtime") and cache.dotted_name(node) not in fn.__globals__


def _rules_state() -> dict:
    """Whether custom derivative rules are registered, and if so their fingerprint (without
    custom rules the built-in ones are part of the compiler fingerprint)."""
    rules = sys.modules.get("sourcead.rules")
    if rules is None or not rules.custom_rules_registered():
        return {"custom_rules": False, "rules": ""}
    return {"custom_rules": True, "rules": cache.rules_fingerprint()}


# --- argument signatures ---------------------------------------------------------------------
def value_signature(value) -> str | None:
    """A short text of the type sourcead gives an argument value (as ``type_of_value``), or
    None for values the native tier does not take (tuples, unsupported ones)."""
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int64"
    if isinstance(value, np.floating | np.complexfloating):
        return value.dtype.name
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return f"{value.dtype.name}[{value.ndim}]"
    return None


def type_signature(t) -> str | None:
    """The same text for a sourcead type (``Scalar`` or ``Array``)."""
    kind = type(t).__name__
    if kind == "Scalar":
        return t.dtype
    if kind == "Array":
        return f"{t.dtype}[{t.ndim}]"
    return None


def _signature_file(folder: Path, signature: list[str]) -> Path:
    digest = hashlib.sha256(",".join(signature).encode()).hexdigest()[:16]
    return folder / f"sig-{digest}.json"


# --- records ---------------------------------------------------------------------------------
def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict) -> None:
    cache.write_atomically(path, json.dumps(data, sort_keys=True, indent=1))


def digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def describe_dependencies(fn, loaded: dict) -> dict | None:
    """``function.json`` for ``fn`` (its LoadedFunctions in ``loaded``), or None when the
    light check could not reproduce what the full cache key hashes."""
    functions, identities, global_values = [], [], []
    for index, function in enumerate(cache.dependencies(fn, loaded)):
        pyfunc = loaded[function].parsed.pyfunc
        identity = _identity(pyfunc)
        if identity is None or pyfunc.__code__.co_freevars:
            return None
        if index and _find_function(identity["module"], identity["qualname"]) is not pyfunc:
            return None  # a callee a later process could not find by its name
        identities.append(identity)
        functions.append(pyfunc)
        for node in cache.walk_globals(loaded[function].parsed.node):
            dotted = cache.dotted_name(node)
            if _introduced_helper(node, pyfunc):
                continue  # sourcead wrote it (``max_along`` for ``np.max(x, axis=1)``)
            described = cache.describe_value(node.global_value)
            if described is None or _global_described(pyfunc, dotted) != described:
                return None
            global_values.append([index, dotted, described])
        # module-level tuples whose numbers were written into the tree (frontend.desugar)
        for dotted, value in getattr(loaded[function].parsed, "constants", {}).items():
            described = cache.describe_value(value)
            if described is None or _global_described(pyfunc, dotted) != described:
                return None
            global_values.append([index, dotted, described])
    return {"functions": identities, "globals": global_values, **_rules_state()}


def _dependencies_hold(fn: types.FunctionType, record: dict) -> bool:
    """Whether the functions, globals and rules ``record`` describes are unchanged."""
    try:
        functions = []
        for index, identity in enumerate(record["functions"]):
            found = fn if index == 0 else _find_function(identity["module"], identity["qualname"])
            if found is None or found.__code__.co_freevars or _identity(found) != identity:
                return False
            functions.append(found)
        for index, dotted, described in record["globals"]:
            if _global_described(functions[index], dotted) != described:
                return False
        state = _rules_state()
        return state == {"custom_rules": record["custom_rules"], "rules": record["rules"]}
    except (KeyError, TypeError, ValueError, IndexError):  # a damaged record: not used
        return False


def remember(derivative, args: tuple, arg_types: list, key: str, loaded: dict) -> None:
    """Record a gradient ``grad`` just computed from the cache entry of ``key``, so that
    ``sourcead cache native`` can compile it into the native tier. ``loaded``: the loaded
    functions (``pipeline.loading.LOADED``), to describe what the gradient depends on."""
    fn = plain_function(derivative.fun)
    if fn is None or not cache.enabled() or cache.untrusted_reason(cache.cache_dir()):
        return
    signature = [value_signature(a) for a in args]
    if None in signature or signature != [type_signature(t) for t in arg_types]:
        return
    entry = cache.entry_path(f"{derivative.loaded.parsed.name}_adjoint", key)
    folder_key = function_key(fn, list(derivative.wrt_names))
    if folder_key is None or not entry.is_file():
        return
    folder = native_dir() / folder_key
    path = _signature_file(folder, signature)
    previous = read_json(path)
    if previous is not None and previous.get("key") == key:
        described = read_json(folder / FUNCTION_RECORD)
        if described is not None and previous.get("function") == digest(described):
            return  # recorded already (the usual case in a warm process)
    described = describe_dependencies(derivative.fun, loaded)
    if described is None:
        return
    try:
        if read_json(folder / FUNCTION_RECORD) != described:
            write_json(folder / FUNCTION_RECORD, described)
        write_json(
            path,
            {
                "signature": signature,
                "key": key,
                "entry": entry.name,
                "params": list(derivative.params),
                "wrt": list(derivative.wrt_names),
                "types": cache.encode_type(tuple(arg_types)),
                "function": digest(described),
                "native": None,
            },
        )
    except OSError:
        return  # a read-only cache: grad goes on through the compiler
    if background_compilation():
        compile_in_background()


def background_compilation() -> bool:
    """Whether ``grad`` starts ``sourcead cache native`` itself when it records a gradient
    (``SOURCEAD_NATIVE_CACHE=background``; off by default)."""
    return os.environ.get("SOURCEAD_NATIVE_CACHE", "").strip().lower() == "background"


def compile_in_background() -> None:
    """Start ``python -m sourcead cache native`` as a detached, low-priority process: this
    process goes on with Numba's code, a later one finds the native build."""
    import subprocess

    command = [sys.executable, "-m", "sourcead", "cache", "native"]
    # the child imports this sourcead (and its runtime), even where they came off sys.path
    packages = [Path(__file__).resolve().parent.parent]  # sourcead/
    runtime = importlib.util.find_spec("sourcead_runtime")
    if runtime is not None and Path(runtime.origin).parent.name == "sourcead_runtime":
        packages.append(Path(runtime.origin).resolve().parent)
    paths = [str(package.parent) for package in packages]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]))
    options = {}
    if os.name == "posix":
        command = ["nice", "-n", "10", *command] if shutil.which("nice") else command
        options["start_new_session"] = True  # not killed with this process's terminal
    try:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            **options,
        )
    except OSError:
        pass  # the records go on working under Numba


# --- finding and calling recorded gradients ---------------------------------------------------
class RecordedGradients:
    """The recorded gradients of one function with respect to one ``wrt``, checked current."""

    def __init__(self, fn: types.FunctionType, folder: Path, function_digest: str):
        self.function = fn
        self.params = parameters(fn)
        self.folder = folder
        self.function_digest = function_digest
        self.entries: dict[Path, tuple | None] = {}  # record path -> (entry, record) or None

    def complete(self, args: tuple) -> tuple | None:
        """The arguments with defaults filled in, or None when their number is wrong."""
        missing = len(self.params) - len(args)
        defaults = self.function.__defaults__ or ()
        if missing < 0 or missing > len(defaults):
            return None
        return tuple(args) + tuple(defaults[len(defaults) - missing :]) if missing else args

    def still_holds(self) -> bool:
        """Whether what the recorded gradients depend on is as when they were looked up: a
        signature's first call reads the globals then, as a compiled one would."""
        record = read_json(self.folder / FUNCTION_RECORD)
        return (
            record is not None
            and digest(record) == self.function_digest
            and _dependencies_hold(self.function, record)
        )

    def entry_for(self, args: tuple) -> tuple[object, dict] | tuple[None, None]:
        """The entry function for these arguments' types, with its record: the native
        wrapper when the record is compiled, else the cache entry under Numba; (None, None)
        when there is no usable record (the compiler's gradient is used then)."""
        signature = [value_signature(a) for a in args]
        if None in signature:
            return None, None
        path = _signature_file(self.folder, signature)
        if path not in self.entries:
            record = read_json(path)
            usable = (
                record is not None
                and record.get("signature") == signature
                and record.get("function") == self.function_digest
                and self.still_holds()  # no global or helper rebound since grad() was called
            )
            self.entries[path] = (
                (_load_entry(self.folder, path, record), record) if usable else None
            )
        found = self.entries[path]
        return (None, None) if found is None or found[0] is None else found


def _load_entry(folder: Path, path: Path, record: dict):
    """The entry function of the usable record at ``path``: its native build, else its
    cache entry under Numba; None when neither loads (a file deleted meanwhile, or damaged:
    the compiler's gradient then makes the entry anew)."""
    if record.get("native"):
        function = _load_native(folder, path, record)
        if function is not None:
            return function
    try:
        entry = cache.cache_dir() / record["entry"]
        found = cache.read_entry(entry, record["key"])
        if found is None:
            return None
        module = cache.import_file(entry, f"sourcead_cache_{entry.stem}", True, found[0])
        return getattr(module, found[1]["entry"])
    except Exception:  # whatever a damaged file raises: the compiler's gradient is used
        return None


def _load_native(folder: Path, path: Path, record: dict):
    """The native build's entry function, or None when it fails its hashes or does not
    load; then (one warning) the record is marked uncompiled, for ``cache native`` to
    build again, and the cache entry under Numba is used meanwhile."""
    try:
        if not native_intact(folder, record):
            raise ValueError("its files do not match their hashes")
        module = _import_native(folder, record["native"])
        return getattr(module, record["entry_function"])
    except Exception as exc:  # whatever a damaged extension or wrapper raises
        what = f"the native build {record.get('native')} ({type(exc).__name__}: {exc})"
        cache.warn_damaged(cache.cache_dir(), what)
        try:
            write_json(path, {**record, "native": None, "native_files": None})
        except OSError:
            pass  # a read-only cache: `cache native` finds the hashes wrong again
        return None


def native_files(folder: Path, names: list[str]) -> dict[str, str]:
    """The SHA-256 of each named file of a native build."""
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


def native_intact(folder: Path, record: dict) -> bool:
    """Whether the record's native build is there and holds what ``cache native`` wrote."""
    expected = record.get("native_files")
    if not isinstance(expected, dict) or not expected:
        return False
    try:
        return native_files(folder, list(expected)) == expected
    except OSError:
        return False


def lookup(fun, wrt) -> RecordedGradients | None:
    """``fun``'s recorded gradients with respect to ``wrt`` when there are any and what they
    depend on is unchanged, else None (then ``grad`` goes to the compiler)."""
    try:
        return _lookup(fun, wrt)
    except OSError:  # an unreadable cache directory: the compiler's gradient is as good
        return None


def _lookup(fun, wrt) -> RecordedGradients | None:
    base = native_dir()
    if not cache.enabled() or not base.is_dir() or not cache.trusted_directory(base.parent):
        return None
    fn = plain_function(fun)
    if fn is None:
        return None
    names = wrt_names(wrt, parameters(fn))
    folder_key = function_key(fn, names) if names else None
    if folder_key is None:
        return None
    folder = base / folder_key
    record = read_json(folder / FUNCTION_RECORD)
    if record is None or not any(folder.glob("sig-*.json")):
        return None
    if not _dependencies_hold(fn, record):
        return None
    return RecordedGradients(fn, folder, digest(record))


def _import_native(folder: Path, module_name: str) -> types.ModuleType:
    """Import ``<folder>/<module_name>.py`` as a submodule of a package made for the folder
    (its ``from . import _extension`` then finds the extension beside it)."""
    path = str(folder / f"{module_name}.py")
    if path not in _NATIVE_MODULES:
        package = f"sourcead_native_{folder.name}"
        if package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [str(folder)]
            sys.modules[package] = module
        _NATIVE_MODULES[path] = importlib.import_module(f"{package}.{module_name}")
    return _NATIVE_MODULES[path]


class CachedGradient:
    """What ``grad`` returns when the cache has records of the function's gradient: called
    with arguments of a recorded signature, it runs the native extension (compiled by
    ``sourcead cache native``) or else the cached module under Numba, in both cases without
    the compiler; anything else goes to the gradient the compiler makes (``compiled()``),
    which also answers every other attribute. ``compiler(function, wrt, preserve_result)``
    makes that gradient (``api.gradients.GradientFunction``, imported only when needed).

    It pickles as the compiler's gradient does, by reference: ``sourcead.grad`` of the
    function (found by module and qualified name where it is loaded) with the same options,
    which finds the records again there."""

    def __init__(self, recorded: RecordedGradients, wrt, preserve_result: bool, compiler):
        self._recorded = recorded
        self._compiler = compiler
        self._wrt_given = wrt
        self._preserve_result = preserve_result
        self._compiled = None
        self._last_record: dict | None = None
        functools.update_wrapper(self, recorded.function)

    def __call__(self, *args):
        completed = self._recorded.complete(args)
        entry, record = (None, None) if completed is None else self._recorded.entry_for(completed)
        if entry is None:
            self._last_record = None
            return self.compiled()(*args)
        value, grads = entry(*completed, 1.0)  # the seed, passed as grad passes it (typed)
        self._last_record = record
        gradient = grads if isinstance(self._wrt_given, tuple) else grads[0]
        return (value, gradient) if self._preserve_result else gradient

    def compiled(self):
        """The same gradient made by the compiler (imports it, and Numba, at the first use)."""
        if self._compiled is None:
            self._compiled = self._compiler(
                self._recorded.function, self._wrt_given, self._preserve_result
            )
        return self._compiled

    @property
    def source(self) -> str:
        """The generated module: the cached one the last call ran, else as ``grad``'s."""
        if self._last_record is not None:
            record = self._last_record
            found = cache.read_entry(cache.cache_dir() / record["entry"], record["key"])
            if found is not None:
                return found[0]
        return self.compiled().source

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __reduce__(self):
        options = {"wrt": self._wrt_given, "preserve_result": self._preserve_result}
        return references.reduce(self, "grad", self._recorded.function, options)

    def __repr__(self) -> str:
        return f"<sourcead gradient of {self._recorded.function.__name__} (from the cache)>"


def compiled_derivative(fun):
    """``fun``, or the compiler's gradient behind a ``CachedGradient``."""
    return fun.compiled() if isinstance(fun, CachedGradient) else fun


def compiled_count() -> int:
    """How many gradients the native tier holds compiled."""
    base = native_dir()
    records = base.glob("*/sig-*.json") if base.is_dir() else []
    return sum(bool((read_json(path) or {}).get("native")) for path in records)
