"""Native builds: a built module compiled ahead of time into a Python extension.

``sourcead build --native`` compiles the entry of a built module (``loss_adjoint.py``) with
Numba's ahead-of-time compiler (``numba.pycc``) into an extension module
(``_loss_adjoint_native.<platform suffix>``), and writes beside it a small generated Python
module (``loss_adjoint_native.py``) that checks the arguments and calls it. Importing that
module needs NumPy only: no Numba, no compiler, no cache.

The extension reads its arguments as the types it was compiled for and checks nothing (an
integer array passed for a float one gives garbage, a list crashes the process), so the
checks are in the Python module, and the extension is not meant to be imported directly.

This is the one module of sourcead that imports ``numba.pycc`` (``pycc_compiler``), which
Numba marks as pending deprecation: where a Numba without it is installed, native builds
stop with one clear error, and everything else (built modules, the cache) works as before.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import io
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

from ..analysis.types import Array, Scalar, TupleType
from ..cache import modules as cache
from ..errors import SourceADError
from .module_text import entry_parameters, format_type, read_module

# the Python module's name for each kind of scalar argument (see _SCALAR_HELPER below)
_SCALAR_KINDS = {"float": "real", "int": "integer", "bool": "bool", "complex": "complex"}


def extension_suffix() -> str:
    """The file-name ending of an extension module for this interpreter (``.cpython-...so``)."""
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def extension_name(module_path: Path) -> str:
    return f"_{module_path.stem}_native"


def wrapper_path(module_path: Path) -> Path:
    return module_path.with_name(f"{module_path.stem}_native.py")


def extension_path(module_path: Path) -> Path:
    return module_path.with_name(extension_name(module_path) + extension_suffix())


def entry_types(target, header: dict) -> list:
    """The sourcead types of the entry function's parameters, in order.

    The entry takes the function's arguments, then by mode: reverse, the seeds of the result
    (``b_result``); forward, one tangent per differentiated argument; hessian (vector forward
    mode over reverse), the seeds and then the tangents, each with a trailing axis of
    directions.
    """
    result = cache.decode_type(header["result"])
    seeds = list(result.items) if isinstance(result, TupleType) else [result]
    params = target.params
    tangents = [target.types[params.index(name)] for name in target.wrt]
    if target.mode == "hessian":  # vector mode: the directions along a trailing axis
        tangents = [Array(t.dtype, t.ndim + 1 if isinstance(t, Array) else 1) for t in tangents]
    extra = {"reverse": seeds, "forward": tangents, "hessian": seeds + tangents}[target.mode]
    return [*target.types, *extra]


def numba_type(t):
    """The Numba type of a sourcead argument type (arrays C-contiguous)."""
    import numba

    if isinstance(t, Array):
        return numba.types.Array(numba.from_dtype(np.dtype(t.dtype)), t.ndim, "C")
    return numba.from_dtype(np.dtype(t.dtype))


def numba_message(exc: Exception) -> str:
    """The first lines of a Numba error, on one line and without colour codes."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return " ".join(line.strip() for line in text[:3])


def compile_extension(module_path: Path, target, header: dict, target_cpu: str = "") -> Path:
    """Compile the entry of the built module at ``module_path`` into an extension beside it.

    ``target_cpu``: ``""`` for the architecture's generic CPU (the extension runs on any
    machine of that architecture), ``"host"`` for this machine's CPU, or an LLVM CPU name.
    Returns the extension's path.
    """
    import numba

    CC = pycc_compiler()
    _needs_c_compiler()
    module = _import_built(module_path)
    entry = getattr(module, header["entry"])
    params = _entry_params(module_path, header["entry"])
    types = entry_types(target, header)
    if len(params) != len(types):
        raise SourceADError(
            f"cannot compile {module_path.name} natively: its entry takes {len(params)} "
            f"arguments, expected {len(types)}; rebuild it with this sourcead version"
        )
    argument_types = tuple(numba_type(t) for t in types)
    try:
        entry.compile(argument_types)
    except numba.core.errors.NumbaError as exc:
        raise SourceADError(
            f"Numba cannot compile {header['entry']}{_shown(types)}: {numba_message(exc)} "
            "(are the argument types right? give them with --types)"
        ) from None
    signature = entry.overloads[argument_types].signature
    compiler = CC(extension_name(module_path), source_module=module)
    compiler.output_dir = str(module_path.parent)
    final = extension_path(module_path)
    compiler.output_file = f".{final.name}.{os.getpid()}.tmp"  # renamed when complete
    compiler.target_cpu = target_cpu
    compiler.export(header["entry"], signature)(entry.py_func)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            compiler.compile()
    except Exception as exc:  # the C toolchain's errors come in many types
        raise SourceADError(
            f"building the extension {extension_name(module_path)} failed: "
            f"{type(exc).__name__}: {exc}\n{log.getvalue()[-2000:]}"
        ) from None
    os.replace(module_path.parent / compiler.output_file, final)
    return final


def check_toolchain() -> None:
    """A SourceADError when no native build can be made here: the installed Numba has no
    ``numba.pycc``, or setuptools or a C compiler is missing (checked before anything is
    written)."""
    pycc_compiler()
    _needs_c_compiler()


def pycc_compiler():
    """``numba.pycc.CC``, Numba's ahead-of-time compiler, or a SourceADError that says the
    installed Numba has none (Numba marks ``numba.pycc`` as pending deprecation, and plans a
    replacement). Every use of ``numba.pycc`` in sourcead goes through here."""
    import numba

    with warnings.catch_warnings():  # numba.pycc is pending deprecation upstream
        warnings.simplefilter("ignore", numba.core.errors.NumbaPendingDeprecationWarning)
        try:
            from numba.pycc import CC
        except ImportError as exc:
            if exc.name == "setuptools":  # numba.pycc builds with setuptools
                raise SourceADError(_SETUPTOOLS_MISSING) from None
            if exc.name is not None and not exc.name.startswith("numba"):
                raise SourceADError(f"numba.pycc cannot be imported: {exc}") from None
            raise SourceADError(
                f"the installed Numba ({numba.__version__}) has no numba.pycc, the "
                "ahead-of-time compiler that native builds use (Numba deprecated it), so "
                "nothing can be compiled into an extension here; modules built without "
                "--native, and grad() with its cache, run under Numba as before"
            ) from None
    return CC


_SETUPTOOLS_MISSING = "--native needs setuptools (numba.pycc links with it): pip install setuptools"


def wrapper_source(module_path: Path, target, header: dict, header_lines: list[str]) -> str:
    """The Python module that checks the arguments and calls the extension."""
    entry = header["entry"]
    params = _entry_params(module_path, entry, with_defaults=True)
    types = entry_types(target, header)
    name = extension_name(module_path)
    converted = ",\n".join(
        f"        {_conversion(param.split('=')[0], t)}"
        for param, t in zip(params, types, strict=True)
    )
    helpers = [_ARRAY_HELPER if isinstance(t, Array) else _SCALAR_HELPER for t in types]
    return f'''{chr(10).join(header_lines)}
"""{entry}, compiled ahead of time; importing this module needs NumPy only.

Generated by sourcead. The readable code is in {module_path.name}; its machine code is in
the extension module {name}, compiled by Numba's ahead-of-time compiler.
The extension reads its arguments as the types it was compiled for without checking them,
so call it through this module, which checks and converts them."""
{"" if _SCALAR_HELPER not in helpers else chr(10) + "import numbers" + chr(10)}
import numpy as np

try:
    from . import {name} as _compiled
except ImportError:  # not inside a package
    import {name} as _compiled


def {entry}({", ".join(params)}):
    """As {entry} in {module_path.name}, for arguments {_shown(types)}."""
    return _compiled.{entry}(
{converted},
    )
{"".join(dict.fromkeys(helpers))}'''


_SCALAR_HELPER = '''

_SCALARS = {  # kind: (accepted types, conversion, what the error calls it)
    "real": (numbers.Real, float, "a real number"),
    "integer": (numbers.Integral, int, "an integer"),
    "bool": ((bool, np.bool_), bool, "a bool"),
    "complex": (numbers.Complex, complex, "a complex number"),
}


def _scalar(value, name, kind):
    """``value`` as a Python scalar of ``kind``, or a TypeError naming the argument."""
    accepted, convert, expected = _SCALARS[kind]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, accepted) or (kind != "bool" and isinstance(value, (bool, np.bool_))):
        raise TypeError(f"{name} must be {expected}, not {type(value).__name__}")
    return convert(value)
'''

_ARRAY_HELPER = '''

def _array(value, name, dtype, ndim):
    """``value`` as a C-contiguous array of ``dtype`` with ``ndim`` axes (copied only when it
    is not one already), or a TypeError naming the argument."""
    array = np.asarray(value)
    if array.ndim != ndim:
        raise TypeError(f"{name} must have {ndim} dimension(s), not {array.ndim}")
    if array.dtype != dtype:
        if not np.can_cast(array.dtype, dtype, "same_kind"):
            raise TypeError(f"{name} must be an array of {dtype}, not of {array.dtype}")
        array = array.astype(dtype)
    return np.ascontiguousarray(array)
'''


def remove_native(module_path: Path) -> None:
    """Remove a native build of an earlier version of the module at ``module_path``."""
    for built in (wrapper_path(module_path), extension_path(module_path)):
        built.unlink(missing_ok=True)


# --- helpers --------------------------------------------------------------------------------
def _conversion(param: str, t) -> str:
    if isinstance(t, Array):
        return f'_array({param}, "{param}", "{np.dtype(t.dtype).name}", {t.ndim})'
    if isinstance(t, Scalar):
        return f'_scalar({param}, "{param}", "{_SCALAR_KINDS[t.kind]}")'
    raise SourceADError(f"--native cannot pass an argument of type {t} ({param})")


def _shown(types: list) -> str:
    return "(" + ", ".join(format_type(t) for t in types) + ")"


def _entry_params(module_path: Path, entry: str, with_defaults: bool = False) -> list[str]:
    """The entry's parameters as written in the built module."""
    built = read_module(module_path.read_text(encoding="utf-8"))
    params = entry_parameters(built, entry, with_defaults)
    if params is None:
        raise SourceADError(f"{module_path} has no function {entry}; rebuild it")
    return params


def _import_built(module_path: Path):
    """The built module, imported from its file under a private name (its Numba functions
    compile with cache=True, beside it, as in any later import)."""
    name = f"_sourcead_native_build_{module_path.stem}"
    spec = importlib.util.spec_from_file_location(name, module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba.pycc looks the source module up by name
    spec.loader.exec_module(module)
    return module


def _needs_c_compiler() -> None:
    import sysconfig

    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise SourceADError(
            f"--native needs a C compiler to link the extension, and {compiler!r} was not "
            "found (install one, or set CC)"
        )
    try:
        import setuptools  # noqa: F401  (numba.pycc's toolchain)
    except ImportError:
        raise SourceADError(_SETUPTOOLS_MISSING) from None
