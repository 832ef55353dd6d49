"""Kernel builds: ``sourcead build --kernel-vjp`` writes what ``kernel_vjp`` compiles.

The module holds the adjoint kernel(s) of a numba.cuda-style kernel, compiled with
``numba.cuda`` when first launched (``cache=True``), and a launch object from
``sourcead_runtime.cuda_launch`` used as ``kernel_vjp``'s result is::

    heat_vjp[blocks, threads](u, k, out, b_u, b_k, b_out)

It checks the arguments against the types the module was generated for, sizes the
per-thread tapes by a first launch where the adjoint keeps any, and consumes (or keeps,
``--keep-cotangents``) the output cotangents as ``kernel_vjp(..., consume=...)`` does.
"""

from __future__ import annotations

import gast
import numpy as np

from ..analysis.types import FLOAT, Array
from ..backends.cuda.kernels import KernelAdjoint, ndim_used
from ..cache import modules as cache
from ..pipeline import loading
from ..trees.functions import unwrap
from .build_batched import with_device_helpers, with_import
from .targets import Target


def target(label: str, value, wrt: str | None, mode: str, consume: bool):
    """The build target of the adjoint of the kernel ``value`` (checked now)."""

    if mode != "reverse":
        raise ValueError("--kernel-vjp builds the adjoint kernel (--mode reverse)")
    if not wrt:
        raise ValueError(
            "--kernel-vjp needs --wrt: the arrays the kernel writes and those it reads to "
            "differentiate, e.g. --wrt u,out"
        )
    names = tuple(w.strip() for w in wrt.split(",") if w.strip())
    items = tuple(int(n) if n.lstrip("-").isdigit() else n for n in names)
    adjoint = KernelAdjoint(unwrap(value), items, None, consume)
    loaded = {**loading.LOADED, adjoint.kernel: adjoint.loaded}
    adjoint.loaded.load_callees(loaded, (adjoint.kernel,))
    files = []  # the kernel's file and those of the functions it calls, for the header
    for function in cache.dependencies(adjoint.kernel, loaded):
        if loaded[function].parsed.filename not in files:
            files.append(loaded[function].parsed.filename)
    node = adjoint.loaded.parsed.node
    indexed = {n.value.id for n in _subscripts(node)}
    types = [
        Array("float64", ndim_used(node, p)) if p in indexed else FLOAT for p in adjoint.params
    ]
    return Target(
        label,
        adjoint.kernel,
        tuple(adjoint.wrt),
        types,
        mode,
        kernel=True,
        consume=consume,
        kernel_params=list(adjoint.params),
        kernel_files=files,
    )


def generate(target) -> tuple[str, dict, dict]:
    """(source, namespace, header) of the kernel adjoint's module."""
    adjoint = KernelAdjoint(target.function, target.wrt, None, target.consume)
    source, plan = adjoint._generate(list(target.types))
    kernels = [plan.wrapper, *([plan.consume] if plan.consume else [])]
    entry = _free_name(f"{adjoint.name}_vjp", source)
    shadows = ", ".join(f"b_{p}" for p in target.wrt)
    launch_args = ", ".join([*adjoint.params, shadows])
    source = source.replace(
        "Its functions are compiled with numba.cuda: the last one\nas a kernel, the others "
        "as device functions.",
        f"Its functions are compiled with numba.cuda, as kernels: {', '.join(kernels)};\n"
        f"the others as device functions. {entry} launches them.",
    )
    text = with_import(
        source, "from sourcead_runtime.cuda_launch import DeviceTapes, KernelAdjointLaunch"
    )
    text = with_device_helpers(text).rstrip("\n")
    text += "\n\n\n" + _launch_source(entry, plan, adjoint, target) + "\n"
    header = {
        "entry": entry,
        "result": cache.encode_type(FLOAT),
        "plain": [],
        "kernels": kernels,
        "signature": f"{entry}[blocks, threads]({launch_args})",
    }
    return text, {}, header


def _launch_source(entry: str, plan, adjoint, target) -> str:
    tapes = ", ".join(f'"{d}"' for d in plan.tapes)
    arguments = ", ".join(
        f'("{p}", "{np.dtype(t.dtype).name}", {t.ndim if isinstance(t, Array) else 0})'
        for p, t in zip(adjoint.params, target.types, strict=True)
    ) + ("," if len(adjoint.params) == 1 else "")
    return "\n".join(
        [
            f"# {entry}[blocks, threads](*arguments, *shadows): launch with the grid of "
            f"{adjoint.name};",
            "# output shadows hold the cotangents, input shadows accumulate the gradients.",
            f"{entry} = KernelAdjointLaunch(",
            f"    {plan.wrapper},",
            f"    {plan.consume or 'None'},",
            f"    DeviceTapes([{tapes}]),",
            f'    name="{adjoint.name}",',
            f"    params={_tuple(adjoint.params)},",
            f"    wrt={_tuple(adjoint.wrt)},",
            f"    outputs={_tuple(adjoint.loaded.outputs)},",
            f"    consume={target.consume},",
            f"    arguments=({arguments}),",
            ")",
        ]
    )


def _tuple(names) -> str:
    return "(" + ", ".join(f'"{n}"' for n in names) + ("," if len(names) == 1 else "") + ")"


def _free_name(name: str, source: str) -> str:
    """``name``, or ``name_2``... where the generated module already uses it."""
    candidate, k = name, 1
    while f"{candidate}(" in source or f"{candidate} =" in source:
        k += 1
        candidate = f"{name}_{k}"
    return candidate


def _subscripts(node):
    return [
        n
        for n in gast.walk(node)
        if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name)
    ]
