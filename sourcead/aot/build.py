"""Ahead-of-time builds: generated derivative modules written as standalone Python files.

A built module imports only ``math``, ``numpy``, ``numba`` and ``sourcead_runtime`` (never the
compiler, never ``gast``); every function carries ``@numba.njit(cache=True, error_model='numpy')``, so a process
that imports it compiles once and then reuses Numba's on-disk machine code. It checks when
imported that the installed runtime has the version of the sourcead that wrote it. A header
comment records the source file and its hash, the sourcead version, the options and a
fingerprint of each part the module is made from (each function, each constant they read,
the derivative rules, sourcead itself); ``check`` rebuilds in memory, compares, and names
the parts that changed, for continuous integration of projects that commit built modules.
Batched builds (``--vmap``) are made by ``build_batched``, kernel adjoints (``--kernel-vjp``)
by ``build_kernels``, native extensions (``--native``) by ``native``.

Used by the command line (``sourcead build``, ``sourcead show``); the functions here are
public for scripts too::

    targets = resolve_targets(["examples/angry_birds.py:miss"], wrt="vx,vy")
    text = build_source(targets[0])
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import importlib.util
import itertools
import json
import os
import re
import sys
from pathlib import Path

import gast
import numpy as np

from ..analysis.types import Array, Scalar
from ..api import forward as forward_api
from ..api import gradients as api
from ..api.batched import DEFAULT_CHECKPOINT_EVERY
from ..cache import modules as cache
from ..cache import records as native_cache
from ..errors import SourceADError
from ..frontend.source import wrt_names
from ..pipeline import forward_over_reverse as higher
from ..pipeline import loading
from ..trees.module import GeneratedModule
from ..version import __version__
from . import build_batched, build_kernels, native
from .module_text import decorate, entry_signature, format_type, put_defaults
from .targets import Target

MODES = ("reverse", "forward", "hessian")
STANDALONE_IMPORTS = ("math", "numba", "numpy", "sourcead_runtime")
_SCALAR_NAMES = {
    "float": "float64",
    "int": "int64",
    "complex": "complex128",
    "bool": "bool",
}


# --- finding the functions ------------------------------------------------------------------
def import_user_module(name: str):
    """Import ``name``: a dotted module name (found from the current directory too) or a path
    to a ``.py`` file."""
    if name.endswith(".py") or os.sep in name or "/" in name:
        path = Path(name).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {name}")
        dotted = _dotted_in_package(path)
        if dotted is not None:  # mypkg/model.py: imported as mypkg.model, as its imports expect
            return import_user_module(dotted)
        module_name = path.stem
        if module_name in sys.modules:
            if getattr(sys.modules[module_name], "__file__", None) == str(path):
                return sys.modules[module_name]
            raise ValueError(
                f"a module named {module_name!r} is imported already (from elsewhere); "
                f"rename {name} or name it as a dotted module"
            )
        sys.path.insert(0, str(path.parent))  # its sibling modules import as when run
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # inspect.getsource and dataclasses need it
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(name)


def _dotted_in_package(path: Path) -> str | None:
    """``mypkg.model`` for ``.../mypkg/model.py`` in a package (folders with ``__init__.py``),
    whose root's parent goes on ``sys.path``; None for a module outside packages."""
    parts, folder = [path.stem], path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) == 1:
        return None
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return ".".join(parts)


def resolve_targets(
    specs: list[str],
    wrt: str | None = None,
    types: str | None = None,
    mode: str = "reverse",
    vmap: str | None = None,
    in_axes: str | None = None,
    kernel: bool = False,
    consume: bool = True,
    checkpoint_every: str | None = None,
) -> list[Target]:
    """The functions named by ``MODULE:FUNCTION[,FUNCTION...]`` specs.

    ``MODULE`` alone means every derivative made with ``sourcead.grad``/``value_and_grad`` at
    the module's top level (``dloss = sourcead.grad(loss, wrt=(0, 1))``), with its ``wrt``.
    A ``FUNCTION`` that names such a derivative object takes its function and ``wrt`` too;
    a plain function is differentiated with respect to ``wrt`` (default: its first argument).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    targets = []
    for spec in specs:
        module_name, _, names = spec.rpartition(":") if ":" in spec else (spec, "", "")
        if ":" in spec and (len(module_name) == 1 and module_name.isalpha()):  # C:\path
            module_name, names = spec, ""
        module = import_user_module(module_name)
        if names:
            objects = []
            for name in names.split(","):
                if not hasattr(module, name):
                    raise ValueError(f"{module_name} has no attribute {name!r}")
                objects.append((f"{module_name}:{name}", getattr(module, name)))
        else:
            objects = [
                (f"{module_name}:{name}", native_cache.compiled_derivative(value))
                for name, value in vars(module).items()
                if isinstance(native_cache.compiled_derivative(value), api.Derivative)
            ]
            if not objects:
                raise ValueError(
                    f"{module_name} defines no sourcead.grad(...) derivatives at its top level; "
                    f"name the function: {module_name}:FUNCTION"
                )
        for label, value in objects:
            if kernel:
                targets.append(build_kernels.target(label, value, wrt, mode, consume))
            else:
                targets.append(_target(label, value, wrt, mode))
    if types:
        _apply_types(targets, types)
    if in_axes and not vmap:
        raise ValueError("--in-axes goes with --vmap")
    if checkpoint_every is not None and vmap != "cuda":
        raise ValueError("--checkpoint-every goes with --vmap cuda")
    if vmap:
        for target in targets:
            target.vmap = vmap
            target.in_axes = build_batched.parse_in_axes(in_axes, len(target.types))
            if checkpoint_every is not None:
                target.checkpoint_every = build_batched.parse_checkpoint_every(checkpoint_every)
    return targets


def _target(label: str, value, wrt: str | None, mode: str) -> Target:
    value = native_cache.compiled_derivative(value)
    derivative = value if isinstance(value, api.Derivative) else None
    function = derivative.fun if derivative else value
    if not callable(function):
        raise ValueError(f"{label} is not a function")
    if getattr(derivative, "has_aux", False):
        raise ValueError(
            f"{label} is a derivative with has_aux=True, which sourcead build does not write "
            "yet: build the function that returns the value alone"
        )
    loaded = api.Derivative(function, 0, False, "grad")  # parses and checks the function now
    if wrt:
        names = tuple(w.strip() for w in wrt.split(",") if w.strip())
        items = tuple(int(n) if n.lstrip("-").isdigit() else n for n in names)
        chosen = tuple(wrt_names(items, loaded.params, loaded.loaded.parsed))
    elif derivative is not None:
        chosen = tuple(derivative.wrt_names)
    else:
        chosen = (loaded.params[0],)
    return Target(label, loaded.fun, chosen, loaded._assumed_types(), mode)


# --- argument types ------------------------------------------------------------------------
def parse_type(text: str):
    """``float64``, ``float``, ``int``, ``int32``, ``bool``, ``complex128``, ``float64[:]``,
    ``float32[:, :]`` ... -> a sourcead type."""
    text = text.strip()
    match = re.fullmatch(r"([a-z]+[0-9]*)\s*(\[[\s:,]*\])?", text)
    if match is None:
        raise ValueError(f"cannot read the type {text!r} (examples: float64, int, float64[:, :])")
    base, dims = match.group(1), match.group(2)
    try:
        dtype = np.dtype(_SCALAR_NAMES.get(base, base))
    except TypeError:
        raise ValueError(f"unknown dtype {base!r} in the type {text!r}") from None
    if dims:
        ndim = dims.count(":")
        if ndim == 0 or ndim != dims.count(",") + 1:
            raise ValueError(f"write one ':' per dimension, as in float64[:, :], not {text!r}")
        return Array(dtype.name, ndim)
    kind = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}.get(dtype.kind)
    if kind is None:
        raise ValueError(f"unsupported dtype {base!r}")
    return Scalar(kind, dtype.name)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in (parts + [current]) if p.strip()]


def _apply_types(targets: list[Target], text: str) -> None:
    """``name:type,name:type`` (arrays as ``float64[:]``) applied to the parameters so named."""
    used = set()
    for item in _split_top_level(text):
        name, sep, type_text = item.partition(":")
        if not sep:
            raise ValueError(f"--types items are name:type, not {item.strip()!r}")
        name, t = name.strip(), parse_type(type_text)
        for target in targets:
            params = target.params
            if name in params:
                target.types[params.index(name)] = t
                used.add(name)
        if name not in used:
            raise ValueError(f"--types names {name!r}, which no chosen function takes")


# --- generating ------------------------------------------------------------------------------
def generate(target: Target) -> tuple[str, dict, dict]:
    """(source, namespace, header) of ``target``'s derivative module, as ``grad`` makes it."""
    module, namespace, header = generate_module(target)
    return module.text(), namespace, header


def generate_module(target: Target) -> tuple[GeneratedModule, dict, dict]:
    """``generate``, with the module as parts and trees (``trees.module``), to be decorated
    before it is written."""
    if target.vmap:
        return build_batched.generate(target)
    if target.kernel:
        return build_kernels.generate(target)
    if target.mode != "reverse":
        return _generate_forward(target)
    derivative = api.Derivative(target.function, target.wrt, False, "grad")
    module, header = derivative.generated_module(list(target.types))
    return module, {}, header


def _generate_forward(target: Target) -> tuple[GeneratedModule, dict, dict]:
    """The tangent module (forward) or the tangent of the adjoint (hessian, forward over
    reverse), as ``jvp`` and ``hessian`` generate them."""
    if target.mode == "forward":
        module, header = forward_api.tangent_module(
            target.function, list(target.types), list(target.wrt), False
        )
        return module, {}, header
    built = higher.adjoint_tangent_function(
        target.function, list(target.types), list(target.wrt), True, False
    )
    if built.function is None:
        raise ValueError(
            f"--mode hessian needs a function with a real scalar result; {target.name} "
            "returns something else"
        )
    header = {"entry": built.function.__name__, "result": cache.encode_type(built.result_type)}
    # the module is kept with the function: a copy whose parts the build can change (its
    # trees are shared, and decorating them again puts the same decorators)
    parts = ("imports", "constants", "definitions", "aliases", "header_lines")
    module = dataclasses.replace(built.module, **{p: list(getattr(built.module, p)) for p in parts})
    return module, {}, header


def file_hash(path: str | Path) -> str:
    """The SHA-256 of a file, as the headers of built modules record it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_hashes(target: Target) -> list[tuple[str, str]]:
    """(file, sha256) of every file holding the function or a function it calls."""
    files = list(target.kernel_files)  # a kernel is not one of grad's loaded functions
    if not target.kernel:
        for function in cache.dependencies(target.function, loading.LOADED):
            filename = loading.LOADED[function].parsed.filename
            if filename not in files:
                files.append(filename)
    result = []
    for filename in files:
        result.append((_display_path(filename), file_hash(filename)))
    return result


def _display_path(filename: str) -> str:
    """Relative to the current directory when inside it, else absolute."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive
        return filename
    return filename if relative.startswith(os.pardir) else relative


def build_source(target: Target, outdir: str | Path = "OUTDIR") -> str:
    """The text of ``target``'s standalone module: header comment, then the generated code with
    ``@numba.njit(cache=True, error_model='numpy')`` on every function."""
    return _built(target, outdir)[0]


def _built(target: Target, outdir: str | Path, native: bool = False) -> tuple[str, dict]:
    """(module text, generation header) of ``target``; ``native`` adds ``--native`` to the
    rebuild command."""
    module, _, header = generate_module(target)
    if not target.kernel:
        put_defaults(module, header["entry"], target.function)
    params = target.params
    checkpoint = (
        f" --checkpoint-every {target.checkpoint_every or 'none'}"
        if target.vmap == "cuda" and target.checkpoint_every != DEFAULT_CHECKPOINT_EVERY
        else ""
    )
    lines = [
        f"# Generated by sourcead {__version__}; do not edit. Rebuild with:",
        f"#   sourcead build {target.spec} --wrt {','.join(target.wrt)} "
        f'--types "{_types_text(params, target.types)}"'
        + ("" if target.mode == "reverse" else f" --mode {target.mode}")
        + (f" --vmap {target.vmap} --in-axes {_axes(target.in_axes)}" if target.vmap else "")
        + checkpoint
        + (
            " --kernel-vjp" + ("" if target.consume else " --keep-cotangents")
            if target.kernel
            else ""
        )
        + (" --native" if native else "")
        + f" -o {outdir}",
        f"# function: {target.name}, {target.mode} mode with respect to {', '.join(target.wrt)}",
        f"# argument types: {_types_text(params, target.types)}",
        f"# entry: {header.get('signature') or entry_signature(module, header['entry'])}",
    ]
    if target.mode == "reverse" and not target.kernel:
        grads = ", ".join("d/d" + w for w in target.wrt) + ("," if len(target.wrt) == 1 else "")
        lines[-1] += f" -> (value, ({grads}))"
    if target.vmap:
        lines[-1] += f", each with a leading batch axis (vmap, target {target.vmap})"
    decorate(module, header.get("plain", ()), header.get("parallel", ()), header.get("kernels"))
    checked = _with_runtime_check(module)
    lines.append(
        f"# {RUNTIME_LINE}sourcead-runtime {__version__}, checked when imported "
        f"(pip install sourcead-runtime=={__version__})"
        if checked
        else f"# {RUNTIME_LINE}none (it imports nothing of sourcead_runtime)"
    )
    for filename, digest in source_hashes(target):
        lines.append(f"# source: {filename} sha256={digest}")
    lines.append(f"# {OPTIONS_LINE}{json.dumps(_options(target), sort_keys=True)}")
    lines += [f"# {FINGERPRINT_LINE}{' '.join(part)}" for part in fingerprints(target)]
    module.header_lines = lines
    return module.text(), header


# --- the runtime's version, checked by the built module ----------------------------------------
RUNTIME_LINE = "runtime: "

_RUNTIME_CHECK = """\
import sourcead_runtime

# the helpers of sourcead_runtime change between versions: use the one this module was made for
if getattr(sourcead_runtime, "__version__", None) != "{version}":
    raise ImportError(
        f"{{__name__}} was generated by sourcead {version} and needs sourcead-runtime {version}, "
        f"but sourcead_runtime {{getattr(sourcead_runtime, '__version__', '(unnumbered)')}} is "
        "installed: pip install sourcead-runtime=={version} (or pip install ./runtime from a "
        "sourcead {version} source tree), or build the module again with the sourcead installed"
    )

"""


def _with_runtime_check(module: GeneratedModule) -> bool:
    """Put a check of the installed runtime's version among the module's imports, before its
    first import of ``sourcead_runtime``; whether it has one (a module that imports nothing
    of the runtime needs none)."""
    for index, line in enumerate(module.imports):
        if line.startswith(("from sourcead_runtime", "import sourcead_runtime")):
            check = _RUNTIME_CHECK.format(version=__version__).rstrip("\n")
            module.imports[index:index] = [check, ""]  # a blank line before the import
            return True
    return False


# --- what the module is made of, part by part (for --check) ----------------------------------
OPTIONS_LINE = "options: "
FINGERPRINT_LINE = "fingerprint: "


def _options(target: Target) -> dict:
    """The build options that shape the generated code, as the header records them."""
    options = {
        "mode": target.mode,
        "wrt": ",".join(target.wrt),
        "types": _types_text(target.params, target.types),
    }
    if target.vmap:
        options.update(vmap=target.vmap, in_axes=_axes(target.in_axes))
        if target.vmap == "cuda":
            options["checkpoint_every"] = target.checkpoint_every
    if target.kernel:
        options["keep_cotangents"] = not target.consume
    return options


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprints(target: Target) -> list[tuple[str, ...]]:
    """The parts ``target``'s module is made of, each as ``(kind, name, digest[, where])``.

    Kinds: ``function`` (the differentiated function first, then those it calls; ``name``
    is ``module:qualname``, ``where`` its file and line), ``constant`` and ``global`` (a
    number or array, or another object, that a function reads; ``where`` names the
    function), ``rules`` (the derivative rules, custom ones included) and ``sourcead``
    (its version and the text of its modules and of the runtime). A function's digest is
    ``CODE-LINES``: one of its syntax tree (a comment changes nothing), one of the lines
    of its statements counted from its ``def`` (which the generated comments name).
    """
    loaded = target.loaded if target.kernel else loading.LOADED
    functions = cache.dependencies(target.function, loaded)
    pyfuncs = {loaded[f].parsed.pyfunc for f in functions}
    parts, seen = [], set()
    for function in functions:
        parsed = loaded[function].parsed
        module, qualname = parsed.pyfunc.__module__, parsed.pyfunc.__qualname__
        first = parsed.node.lineno
        lines = [n.lineno - first for n in gast.walk(parsed.node) if hasattr(n, "lineno")]
        digest = f"{_digest(gast.dump(parsed.node))}-{_digest(repr(lines))[:8]}"
        where = f"{_display_path(parsed.filename)}:{first}"
        parts.append(("function", f"{module}:{qualname}", digest, where))
    for function in functions:
        parsed = loaded[function].parsed
        module = parsed.pyfunc.__module__
        for node in cache.walk_globals(parsed.node):
            value, dotted = node.global_value, cache.dotted_name(node)
            described = cache.describe_value(value)
            if (
                described is None  # nothing stable to compare
                or described.startswith("module ")
                or getattr(value, "py_func", value) in pyfuncs  # a function of its own part
                or described.startswith("object builtins.")  # range, len, abs
                or (described.startswith(("object ", "ufunc ")) and "." in dotted)  # np.sin
                or (module, dotted) in seen
            ):
                continue
            seen.add((module, dotted))
            kind = (
                "global" if described.startswith(("function ", "object ", "ufunc ")) else "constant"
            )
            reader = parsed.pyfunc.__qualname__
            parts.append((kind, f"{module}:{dotted}", _digest(described), reader))
    parts.append(("rules", "registry", _digest(cache.rules_fingerprint())))
    parts.append(("sourcead", __version__, _digest(cache.compiler_fingerprint())))
    return parts


def _axes(axes: tuple) -> str:
    return ",".join(str(a) for a in axes)


def _types_text(params: list[str], types: list) -> str:
    return ",".join(f"{p}:{format_type(t)}" for p, t in zip(params, types, strict=True))


def foreign_imports(text: str) -> list[str]:
    """Modules a built module imports besides math, numpy, numba and sourcead_runtime."""
    found = []
    for node in ast.walk(ast.parse(text)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            if name.split(".")[0] not in STANDALONE_IMPORTS and name not in found:
                found.append(name)
    return found


def output_path(outdir: Path, target: Target) -> Path:
    if target.kernel:
        return Path(outdir) / f"{target.name}_kernel_adjoint.py"
    if target.vmap:
        return Path(outdir) / f"{target.name}_batched_{target.vmap}.py"
    return (
        Path(outdir) / f"{target.name}_{'adjoint' if target.mode == 'reverse' else target.mode}.py"
    )


_VOLATILE = ("# source: ", "#   sourcead build ", f"# {FINGERPRINT_LINE}")


def _code_part(text: str) -> str:
    """The text without the header's sha256 and command lines (a source edit that leaves the
    generated code unchanged does not make a built module stale, nor another spelling of -o)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(_VOLATILE))


def check(target: Target, outdir: Path) -> str | None:
    """None when the built module of ``target`` in ``outdir`` matches its source now, else
    why it does not: which parts changed (see ``fingerprints``)."""
    path = output_path(outdir, target)
    if not path.is_file():
        return f"{path} is missing"
    built = path.read_text(encoding="utf-8", errors="replace")
    expected = build_source(target, outdir)
    if _code_part(built) == _code_part(expected):
        return None
    return f"{path} no longer matches {target.spec}: {'; '.join(_changes(built, expected))}"


def _changes(built: str, expected: str) -> list[str]:
    """What differs between the header of a built module and that of the module sourcead
    generates now, in words; at least one entry."""
    version = re.match(r"# Generated by sourcead (\S+);", built)
    if version is None:
        return ["it was not written by sourcead build (its first line says nothing of it)"]
    changes = []
    if version.group(1) != __version__:
        changes.append(f"built by sourcead {version.group(1)}, this is {__version__}")
    old_options, new_options = _recorded_options(built), _recorded_options(expected)
    if old_options is not None and old_options != new_options:
        changed = [
            f"{name}: {old_options.get(name)} -> {new_options.get(name)}"
            for name in sorted(set(old_options) | set(new_options))
            if old_options.get(name) != new_options.get(name)
        ]
        changes.append(f"the options changed ({', '.join(changed)})")
    old_parts, new_parts = _recorded_parts(built), _recorded_parts(expected)
    if not old_parts:  # built by a sourcead that recorded no fingerprints
        return changes or ["its source or a function it calls changed"]
    root = next(iter(new_parts))
    for (kind, name), (digest, where) in new_parts.items():
        if kind == "function":
            changes += _function_changes(name, old_parts.get((kind, name)), (digest, where), root)
        elif kind in ("constant", "global") and (kind, name) in old_parts:
            if old_parts[(kind, name)][0] != digest:
                noun = "the constant" if kind == "constant" else "the global"
                changes.append(f"{noun} {name.partition(':')[2]} (read by {where}) changed")
    for kind, name in old_parts:
        if kind == "function" and (kind, name) not in new_parts:
            changes.append(f"it no longer calls {name.partition(':')[2]}")
    # sourcead's own parts: its rules (with the custom ones), then all of its text
    old_own = {k: d for (k, _), (d, _) in old_parts.items() if k in ("rules", "sourcead")}
    new_own = {k: d for (k, _), (d, _) in new_parts.items() if k in ("rules", "sourcead")}
    if old_own.get("rules") != new_own["rules"] and old_own.get("sourcead") == new_own["sourcead"]:
        changes.append("a custom derivative rule changed")
    elif not changes and old_own.get("sourcead") != new_own["sourcead"]:
        changes.append(f"sourcead's own code changed (both are version {__version__})")
    return changes or ["its text differs from what sourcead generates (edited by hand?)"]


def _function_changes(name: str, old: tuple | None, new: tuple, root: tuple) -> list[str]:
    """How the function ``name`` (``module:qualname``) changed between its recorded
    ``(digest, where)`` pairs; ``root``: the key of the differentiated function."""
    short = name.partition(":")[2]
    (digest, where), is_root = new, root == ("function", name)
    if old is None:
        return [
            f"the source of {short} ({where}) changed"
            if is_root
            else f"it now calls {short} ({where})"
        ]
    (old_digest, old_where) = old
    old_code, _, old_lines = old_digest.partition("-")
    code, _, lines = digest.partition("-")
    if old_code != code:
        change = "changed"
    elif old_lines != lines:  # the same code on other lines, which the generated comments name
        change = "has its statements on other lines (comments or blank lines)"
    elif old_where != where:
        moved = short if is_root else f"the function it calls, {short},"
        return [f"{moved} moved from {old_where} to {where}"]
    else:
        return []
    if is_root:
        return [f"the source of {short} ({where}) {change}"]
    return [f"the function it calls, {short} ({where}), {change}"]


def _recorded_options(text: str) -> dict | None:
    """The options a module's header records, or None (a header from before they were)."""
    found = re.search(rf"^# {OPTIONS_LINE}(.*)$", text, re.M)
    try:
        options = json.loads(found.group(1)) if found else None
    except ValueError:
        return None
    return options if isinstance(options, dict) else None


def _recorded_parts(text: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    """``(kind, name) -> (digest, where)`` of the fingerprints a module's header records, in
    their order (the differentiated function first)."""
    parts = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break  # the header ends at the first line that is not a comment
        if line.startswith(f"# {FINGERPRINT_LINE}"):
            fields = line[len(f"# {FINGERPRINT_LINE}") :].split(" ", 3)
            if len(fields) >= 3:
                parts[(fields[0], fields[1])] = (fields[2], fields[3] if len(fields) > 3 else None)
    return parts


def write(target: Target, outdir: Path) -> Path:
    """Write ``target``'s module into ``outdir`` (atomically); its path."""

    text, _ = _built(target, outdir)
    path = _write_text(output_path(outdir, target), text)
    native.remove_native(path)  # compiled from the module this one replaces
    return path


def write_native(target: Target, outdir: Path, target_cpu: str = "") -> tuple[Path, Path, Path]:
    """Write ``target``'s module, compile its entry into an extension module beside it, and
    write the Python module that calls the extension (see ``sourcead.native``).

    Returns the paths of the three: ``f_adjoint.py``, ``_f_adjoint_native.<suffix>`` and
    ``f_adjoint_native.py``.
    """

    native.check_toolchain()  # before writing anything
    text, header = _built(target, outdir, native=True)
    path = _write_text(output_path(outdir, target), text)
    native.remove_native(path)  # no stale build beside the new module if compiling fails
    extension = native.compile_extension(path, target, header, target_cpu)
    comments = [  # the wrapper needs NumPy only, and --check compares the module's parts
        line
        for line in itertools.takewhile(lambda line: line.startswith("#"), text.splitlines())
        if not line.startswith((f"# {RUNTIME_LINE}", f"# {FINGERPRINT_LINE}"))
    ]
    comments += [
        f"# compiled from: {path.name} sha256={file_hash(path)}",
        f"# extension: {extension.name} sha256={file_hash(extension)}, "
        f"target CPU: {target_cpu or 'generic'}",
    ]
    wrapper = native.wrapper_source(path, target, header, comments)
    return path, extension, _write_text(native.wrapper_path(path), wrapper)


def check_native(target: Target, outdir: Path) -> str | None:
    """As ``check``, and also that the native build beside the module was made from it."""

    problem = check(target, outdir)
    if problem is not None:
        return problem
    path = output_path(outdir, target)
    wrapper, extension = native.wrapper_path(path), native.extension_path(path)
    for built in (wrapper, extension):
        if not built.is_file():
            return f"{built} is missing"
    text = wrapper.read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^# (compiled from|extension): \S+ sha256=([0-9a-f]+)", text, re.M))
    if text.splitlines()[0] != build_source(target, outdir).splitlines()[0]:
        return f"{wrapper} was built by another sourcead version"
    if recorded.get("compiled from") != file_hash(path):
        return f"{wrapper} was compiled from another {path.name}"
    if recorded.get("extension") != file_hash(extension):
        return f"{extension} is not the extension {wrapper.name} was built with"
    return None


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename; ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


__all__ = [
    "MODES",
    "SourceADError",
    "Target",
    "build_source",
    "check",
    "check_native",
    "decorate",
    "foreign_imports",
    "generate",
    "import_user_module",
    "parse_type",
    "resolve_targets",
    "write",
    "write_native",
]
