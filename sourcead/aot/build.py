"""Ahead-of-time builds: generated derivative modules written as standalone Python files.

A built module imports only ``math``, ``numpy``, ``numba`` and ``sourcead_runtime`` (never the
compiler, never ``gast``); every function carries ``@numba.njit(cache=True)``, so a process
that imports it compiles once and then reuses Numba's on-disk machine code. A header comment
records the source file and its hash, the sourcead version and the options; ``check`` rebuilds
in memory and compares, for continuous integration of projects that commit built modules.
Batched builds (``--vmap``) are made by ``build_batched``, kernel adjoints (``--kernel-vjp``)
by ``build_kernels``, native extensions (``--native``) by ``native``.

Used by the command line (``sourcead build``, ``sourcead show``); the functions here are
public for scripts too::

    targets = resolve_targets(["examples/angry_birds.py:miss"], wrt="vx,vy")
    text = build_source(targets[0])
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import itertools
import os
import re
import sys
from pathlib import Path

import numpy as np

from ..analysis.types import Array, Scalar
from ..api import forward as forward_api
from ..api import gradients as api
from ..cache import modules as cache
from ..cache import records as native_cache
from ..errors import SourceADError
from ..frontend.source import wrt_names
from ..pipeline import forward_over_reverse as higher
from ..pipeline import loading
from ..version import __version__
from . import build_batched, build_kernels, native
from .module_text import decorate, entry_signature, format_type
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
    if target.vmap:
        return build_batched.generate(target)
    if target.kernel:
        return build_kernels.generate(target)
    if target.mode != "reverse":
        return _generate_forward(target)
    derivative = api.Derivative(target.function, target.wrt, False, "grad")
    return derivative._generate(list(target.types))


def _generate_forward(target: Target):
    """The tangent module (forward) or the tangent of the adjoint (hessian, forward over
    reverse), as ``jvp`` and ``hessian`` generate them."""
    if target.mode == "forward":
        source, function, result = forward_api.tangent_function(
            target.function, list(target.types), list(target.wrt), False, False
        )
    else:
        built = higher.adjoint_tangent_function(
            target.function, list(target.types), list(target.wrt), True, False
        )
        if built.function is None:
            raise ValueError(
                f"--mode hessian needs a function with a real scalar result; {target.name} "
                "returns something else"
            )
        source, function, result = built.source, built.function, built.result_type
    return source, {}, {"entry": function.__name__, "result": cache.encode_type(result)}


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
    ``@numba.njit(cache=True)`` on every function."""
    return _built(target, outdir)[0]


def _built(target: Target, outdir: str | Path, native: bool = False) -> tuple[str, dict]:
    """(module text, generation header) of ``target``; ``native`` adds ``--native`` to the
    rebuild command."""
    source, _, header = generate(target)
    params = target.params
    lines = [
        f"# Generated by sourcead {__version__}; do not edit. Rebuild with:",
        f"#   sourcead build {target.spec} --wrt {','.join(target.wrt)} "
        f'--types "{_types_text(params, target.types)}"'
        + ("" if target.mode == "reverse" else f" --mode {target.mode}")
        + (f" --vmap {target.vmap} --in-axes {_axes(target.in_axes)}" if target.vmap else "")
        + (
            " --kernel-vjp" + ("" if target.consume else " --keep-cotangents")
            if target.kernel
            else ""
        )
        + (" --native" if native else "")
        + f" -o {outdir}",
        f"# function: {target.name}, {target.mode} mode with respect to {', '.join(target.wrt)}",
        f"# argument types: {_types_text(params, target.types)}",
        f"# entry: {header.get('signature') or entry_signature(source, header['entry'])}",
    ]
    if target.mode == "reverse" and not target.kernel:
        grads = ", ".join("d/d" + w for w in target.wrt) + ("," if len(target.wrt) == 1 else "")
        lines[-1] += f" -> (value, ({grads}))"
    if target.vmap:
        lines[-1] += f", each with a leading batch axis (vmap, target {target.vmap})"
    for filename, digest in source_hashes(target):
        lines.append(f"# source: {filename} sha256={digest}")
    text = decorate(
        source, header.get("plain", ()), header.get("parallel", ()), header.get("kernels")
    )
    return "\n".join(lines) + "\n" + text, header


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


_VOLATILE = ("# source: ", "#   sourcead build ")


def _code_part(text: str) -> str:
    """The text without the header's sha256 and command lines (a source edit that leaves the
    generated code unchanged does not make a built module stale, nor another spelling of -o)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(_VOLATILE))


def check(target: Target, outdir: Path) -> str | None:
    """None when the built module of ``target`` in ``outdir`` matches its source now, else why
    it does not."""
    path = output_path(outdir, target)
    if not path.is_file():
        return f"{path} is missing"
    built = path.read_text(encoding="utf-8")
    expected = build_source(target, outdir)
    if _code_part(built) == _code_part(expected):
        return None
    first_built = built.splitlines()[0] if built else ""
    if first_built != expected.splitlines()[0]:
        return f"{path} was built by another sourcead version ({first_built.lstrip('# ')})"
    return f"{path} no longer matches {target.spec} (its source or a function it calls changed)"


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

    text, header = _built(target, outdir, native=True)
    path = _write_text(output_path(outdir, target), text)
    native.remove_native(path)  # no stale build beside the new module if compiling fails
    extension = native.compile_extension(path, target, header, target_cpu)
    comments = list(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines()))
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
