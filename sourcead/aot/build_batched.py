"""Batched builds: ``sourcead build --vmap cpu|parallel|cuda`` writes what ``vmap`` compiles.

The module holds the generated adjoint, the batched wrapper ``vmap`` generates around it
(a ``range`` loop, a ``numba.prange`` loop for ``parallel``, a kernel with one thread per
element for ``cuda``), and an entry in plain Python that checks the batch sizes and runs
it::

    values, (d_vx, d_vy) = loss_batched(vx_batch, vy_batch, c)

as ``sourcead.vmap(sourcead.value_and_grad(loss, wrt=(0, 1)), in_axes=(0, 0, None))``
returns them. On the CPU the entry allocates the outputs and calls the compiled loop; on
the GPU it launches the kernel through ``sourcead_runtime.cuda_launch``, as ``vmap`` does
(device tapes sized by a first launch, batches split to fit the tape memory).
"""

from __future__ import annotations

import re

import numpy as np

from ..analysis.types import Array
from ..api import gradients as api
from ..api.batched import BatchedFunction
from ..cache import modules as cache

BUILD_TARGETS = ("cpu", "parallel", "cuda")


def parse_in_axes(text: str | None, count: int) -> tuple:
    """``"0,0,None"`` (or ``None`` for all 0) -> ``(0, 0, None)``."""
    if not text:
        return (0,) * count
    axes = []
    for item in text.split(","):
        item = item.strip()
        if item not in ("0", "None", "none"):
            raise ValueError(f"--in-axes entries are 0 or None, not {item!r}")
        axes.append(0 if item == "0" else None)
    if len(axes) != count:
        raise ValueError(f"--in-axes has {len(axes)} entries for {count} arguments")
    return tuple(axes)


def parse_checkpoint_every(text: str) -> int | None:
    """``--checkpoint-every``: a positive number of steps, or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        steps = int(text)
    except ValueError:
        steps = 0
    if steps < 1:
        raise ValueError(
            f"--checkpoint-every takes a positive number of steps or none, not {text!r}"
        )
    return steps


def generate(target) -> tuple[str, dict, dict]:
    """(source, namespace, header) of ``target``'s batched module.

    The header names the entry, the batched loop (``parallel``: compiled with
    ``numba.njit(parallel=True)``) and the entry as a function left uncompiled.
    """
    if target.vmap not in BUILD_TARGETS:
        raise ValueError(f"--vmap takes one of {', '.join(BUILD_TARGETS)}, not {target.vmap!r}")
    if target.mode != "reverse":
        raise ValueError("--vmap builds --mode reverse (each element's value and gradient)")
    derivative = api.value_and_grad(target.function, wrt=tuple(target.wrt))
    batched = BatchedFunction(
        derivative, target.in_axes, target.vmap, None, target.checkpoint_every
    )
    if batched.by_shape:
        raise ValueError(
            f"--vmap cuda cannot build {batched.name}: a local array takes an argument's "
            "shape (np.zeros_like(x), x.copy(), or the copy its derivative makes of an "
            "argument it writes into), which vmap compiles per element shape when it is "
            "called; give the array a constant shape (np.zeros(K)) to build it"
        )
    source, namespace, plan = batched._generate(list(target.types))
    entry = f"{batched.name}_batched"
    cuda = target.vmap == "cuda"
    make_entry = _device_entry_source if cuda else _entry_source
    entry_text = make_entry(entry, plan, batched, list(target.types))
    header = {
        "entry": entry,
        "result": cache.encode_type(plan.result),
        "plain": [entry],
        "parallel": [plan.wrapper] if target.vmap == "parallel" else [],
    }
    if cuda:
        header["kernels"] = [plan.wrapper]
    source = with_import(source, "from sourcead_runtime.batching import batch_size")
    if cuda:
        source = source.replace(
            "Its functions are compiled with numba.cuda: the last one\nas a kernel, the others "
            "as device functions.",
            f"Its functions are compiled with numba.cuda: {plan.wrapper}\nas a kernel, "
            f"the others as device functions, except the entry {entry}\n(plain Python, which "
            "launches the kernel).",
        )
        source = with_import(
            source, "from sourcead_runtime.cuda_launch import DeviceTapes, run_batched"
        )
        source = with_device_helpers(source)
    return source.rstrip("\n") + "\n\n\n" + entry_text + "\n", namespace, header


def with_device_helpers(source: str) -> str:
    """A CUDA module's source with the runtime's ``trip_count``, which its device functions
    call, compiled as a device function (the runtime's is a CPU function)."""
    if "trip_count(" not in source:
        return source
    source = re.sub(
        r"^(from sourcead_runtime import .*)\btrip_count\b",
        r"\1trip_count as cpu_trip_count",
        source,
        count=1,
        flags=re.M,
    )
    return (
        source.rstrip("\n") + "\n\n\ntrip_count = cuda.jit(device=True)(cpu_trip_count.py_func)\n"
    )


def with_import(source: str, line: str) -> str:
    """``source`` with the import ``line`` after its sourcead_runtime imports (or in a group
    of its own after NumPy's)."""
    lines = source.splitlines()
    runtime = [i for i, text in enumerate(lines) if text.startswith("from sourcead_runtime")]
    if runtime:
        lines.insert(runtime[-1] + 1, line)
    else:
        after = lines.index("import numpy as np") + 1
        lines[after:after] = ["", line]
    return "\n".join(lines) + "\n"


def _entry_source(entry: str, plan: dict, batched, types: list) -> str:
    """The plain-Python entry: batch size, output arrays, the compiled loop, the results."""
    params = batched.params
    lines = [
        f"def {entry}({', '.join(params)}):",
        f'    """Value and gradient of {batched.name} wrt {", ".join(batched.wrt_names)} for each '
        "batch element.",
        "",
        f"    in_axes {_axes_text(batched.in_axes)}. Plain Python: finds the batch size, allocates "
        "the",
        f"    outputs and runs the compiled loop {plan.wrapper}; every output has a leading",
        '    batch axis."""',
        f'    batch = batch_size("{entry}", {_batched_args(batched)})',
    ]
    outs = [f"out_{k}" for k in range(len(plan.outputs))]
    for out, (shape, dtype) in zip(outs, _element_outputs(plan, batched, types), strict=True):
        size = "batch" if shape == "()" else f"(batch, *{shape})"
        lines.append(f"    {out} = np.empty({size}, dtype={dtype})")
    lines.append(f"    {plan.wrapper}({', '.join([*params, *outs])})")
    grads = outs[1:]
    lines.append(f"    return {outs[0]}, ({', '.join(grads)}{',' if len(grads) == 1 else ''})")
    return "\n".join(lines)


def _device_entry_source(entry: str, plan: dict, batched, types: list) -> str:
    """The plain-Python entry of a CUDA build: checks, then the launches (run_batched)."""
    params = batched.params
    shapes = [f"({shape}, {dtype})" for shape, dtype in _element_outputs(plan, batched, types)]
    tapes = ", ".join(f'"{d}"' for d in plan.tapes)
    count = len(plan.outputs)
    grads = ", ".join(f"outs[{k}]" for k in range(1, count)) + ("," if count == 2 else "")
    lines = [
        f"_TAPES = DeviceTapes([{tapes}])  # tape lengths learnt by the launches, kept",
        "",
        "",
        f"def {entry}({', '.join(params)}, tape_memory=None):",
        f'    """Value and gradient of {batched.name} wrt {", ".join(batched.wrt_names)} for each '
        "batch element, on the GPU.",
        "",
        f"    in_axes {_axes_text(batched.in_axes)}. Plain Python: launches the kernel "
        f"{plan.wrapper}, one",
        "    thread per element. NumPy arguments are copied to the device and the results back;",
        "    with a device array among the arguments the results stay on the device.",
        "    tape_memory: the most bytes the tapes of one launch may take (default: half the",
        '    free device memory); larger batches run in parts."""',
        f'    batch_size("{entry}", {_batched_args(batched)})  # checks the batch axes',
        f"    shapes = [{', '.join(shapes)}]",
        "    outs = run_batched(",
        f"        {plan.wrapper},",
        f"        ({', '.join(params)}{',' if len(params) == 1 else ''}),",
        f"        {_axes_text(batched.in_axes)},",
        "        shapes,",
        "        _TAPES,",
        "        tape_memory,",
        f'        "{entry} on the GPU",',
        "    )",
        f"    return outs[0], ({grads})",
    ]
    return "\n".join(lines)


def _batched_args(batched) -> str:
    """``{"x": x, ...}``: the arguments with a batch axis, as batch_size takes them."""
    pairs = [f'"{p}": {p}' for p, a in zip(batched.params, batched.in_axes, strict=True) if a == 0]
    return "{" + ", ".join(pairs) + "}"


def _element_outputs(plan: dict, batched, types: list) -> list[tuple[str, str]]:
    """(shape, dtype) of each output of one batch element, as expressions of the entry."""
    outputs = []
    for kind, info in plan.outputs:
        if kind == "value":
            outputs.append(("()", f"np.{np.dtype(info).name}"))
            continue
        index = batched.params.index(info)
        t = types[index]
        dtype = f"np.{np.dtype(t.dtype).name}"
        if not isinstance(t, Array):
            outputs.append(("()", dtype))
        elif batched.in_axes[index] == 0:
            outputs.append((f"np.shape({info})[1:]", dtype))
        else:
            outputs.append((f"np.shape({info})", dtype))
    return outputs


def _axes_text(axes: tuple) -> str:
    return "(" + ", ".join(str(a) for a in axes) + ("," if len(axes) == 1 else "") + ")"
