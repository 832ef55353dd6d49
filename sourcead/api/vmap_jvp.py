"""``vmap(jvp)``: Jacobian-vector products of a batch, as JAX's ``vmap(jvp, in_axes=(None, 0, 0))``.

``sourcead.vmap(sourcead.jvp, target=...)`` returns a function of ``(fun, primals,
tangents)``, like ``jvp`` itself, whose primals and tangents carry a leading batch axis
(or are passed whole to every element, where their ``in_axes`` entry is ``None``). The
tangent function sourcead generates for one element (``forward_api``) is ordinary Python
in its subset, so it is mapped like any plain function (``batch.BatchedFunction``): a
compiled loop, a ``prange`` loop over the cores, or a CUDA kernel with one thread per
element.
"""

from __future__ import annotations

import numba
import numpy as np
from sourcead_runtime.batching import batch_size
from sourcead_runtime.cuda_launch import is_device_array

from ..analysis.types import Array, Scalar, describe
from ..backends.cpu.loading import load_module
from ..backends.cpu.njit_options import NJIT_OPTIONS
from ..cache import references
from ..errors import SourceADError
from ..lowering import solver_calls
from ..pipeline import loading
from ..trees.functions import unwrap
from . import forward as forward_api
from .batched import DEFAULT_CHECKPOINT_EVERY, BatchedFunction, element_type, normalized_in_axes


class BatchedJvp:
    """What ``vmap(jvp, ...)`` returns: ``f(fun, primals, tangents) -> (values, tangents)``."""

    def __init__(
        self,
        in_axes,
        target: str,
        tape_memory: int | None = None,
        checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
    ):
        if in_axes == 0:
            in_axes = (None, 0, 0)
        if not isinstance(in_axes, tuple | list) or len(in_axes) != 3 or in_axes[0] is not None:
            raise ValueError(
                "vmap(jvp) takes in_axes=(None, primal_axes, tangent_axes): the function is "
                f"not batched; got {in_axes!r}"
            )
        self.primal_axes, self.tangent_axes = in_axes[1], in_axes[2]
        self.options = (target, tape_memory, checkpoint_every)
        BatchedFunction._check_options(target, checkpoint_every)
        self._mapped: dict = {}
        self._last: BatchedFunction | _ElementLoop | None = None

    def __repr__(self) -> str:
        return f"<sourcead vmap ({self.options[0]}) of jvp>"

    def __reduce__(self):
        # vmap(jvp, ...) again: jvp is found by its name like any function
        target, tape_memory, checkpoint_every = self.options
        options = {
            "in_axes": (None, self.primal_axes, self.tangent_axes),
            "target": target,
            "tape_memory": tape_memory,
            "checkpoint_every": checkpoint_every,
        }
        return references.reduce(self, "vmap", forward_api.jvp, options)

    @property
    def source(self) -> str:
        """The generated module of the last call: the tangent function and its batched loop."""
        if self._last is None:
            raise ValueError(
                "vmap(jvp) generates code for the function it is called with: call it first"
            )
        return self._last.source

    def __call__(self, fun, primals, tangents):
        primals = tuple(primals) if isinstance(primals, tuple | list) else (primals,)
        tangents = tuple(tangents) if isinstance(tangents, tuple | list) else (tangents,)
        fn = unwrap(fun)
        loaded = loading.load(fn)  # SourceADError for unsupported code, before anything runs
        name, params = loaded.parsed.name, loaded.parsed.params
        solver_calls.refuse_in_batches(loaded, f"vmap(jvp) of {name}", self.options[0], False)
        if len(primals) != len(params):
            raise TypeError(f"{name}() takes {len(params)} arguments, got {len(primals)} primals")
        if len(tangents) != len(primals):
            raise ValueError(
                f"vmap(jvp) needs one tangent per argument of {name} ({len(params)}), got "
                f"{len(tangents)} (use None for arguments that are not differentiated)"
            )
        indices = [i for i, t in enumerate(tangents) if t is not None]
        if not indices:
            raise ValueError("vmap(jvp) needs at least one tangent that is not None")
        primal_axes = normalized_in_axes(self.primal_axes, len(primals))
        tangent_axes = normalized_in_axes(self.tangent_axes, len(tangents))
        primals = tuple(
            np.asarray(a) if isinstance(a, list | tuple) and axis == 0 else a
            for a, axis in zip(primals, primal_axes, strict=True)
        )
        batched = {
            p: a for p, a, axis in zip(params, primals, primal_axes, strict=True) if axis == 0
        }
        batched.update(
            (f"the tangent of {params[i]}", tangents[i]) for i in indices if tangent_axes[i] == 0
        )
        batch_size(f"vmap(jvp) of {name}", batched)  # the batch axes agree
        types = [
            element_type(name, p, a, axis)
            for p, a, axis in zip(params, primals, primal_axes, strict=True)
        ]
        directions = []
        for i in indices:
            if not getattr(types[i], "differentiable", False):
                raise TypeError(
                    f"cannot differentiate {name} with respect to {params[i]}: it is "
                    f"{describe(types[i])}, not a float or float array"
                )
            direction = _as_float(tangents[i])
            expected = _element_shape(primals[i], primal_axes[i])
            if _element_shape(direction, tangent_axes[i]) != expected:
                raise ValueError(
                    f"the tangent of {params[i]} has shape {np.shape(direction)}; each element's "
                    f"must have the shape of its primal, {expected} (vmap(jvp) takes one "
                    "direction per element)"
                )
            directions.append(direction)
        wrt = [params[i] for i in indices]
        source, tangent_function, result = forward_api.tangent_function(fn, types, wrt, False, True)
        if not isinstance(result, Scalar | Array):
            raise ValueError(
                f"vmap(jvp) needs a function returning a float or an array; {name} returns "
                f"{describe(result)}"
            )
        axes = primal_axes + tuple(tangent_axes[i] for i in indices)
        key = (fn, tuple(types), tuple(wrt), axes)
        try:
            if key not in self._mapped:
                if self.options[0] == "cuda":  # a kernel: scalar element code only, as vmap(f)
                    self._mapped[key] = BatchedFunction(tangent_function, axes, *self.options)
                else:
                    parallel = self.options[0] == "parallel"
                    self._mapped[key] = _ElementLoop(source, tangent_function, axes, parallel)
            self._last = self._mapped[key]
            return self._last(*primals, *directions)
        except SourceADError as error:  # about the generated tangent code: point at fn
            parsed = loading.load(fn).parsed
            if error.filename in (None, parsed.filename) or self.options[0] != "cuda":
                raise
            raise parsed.error(
                f"vmap(jvp) of {name} on the GPU: {error.message} (in the tangent code "
                f"sourcead generated for {name}: {error.filename}, line {error.lineno})",
                parsed.node,
            ) from None


class _ElementLoop:
    """A compiled loop (``range``, or ``numba.prange`` with ``parallel``) that calls the
    compiled tangent function of one element for each element of the batch.

    On the CPU the tangent function may hold arrays, which its generated code fills with
    whole-array statements that are not in the subset a batched plain function must be
    in; so the loop calls it as it is compiled.
    """

    def __init__(self, tangent_source: str, tangent_function, axes: tuple, parallel: bool):
        name = unwrap(tangent_function).__name__
        params = [f"arg_{k}" for k in range(len(axes))]
        args = ", ".join(
            f"{p}[i]" if axis == 0 else p for p, axis in zip(params, axes, strict=True)
        )
        wrapper = f"{name}_batched"
        self.wrapper_source = "\n".join(
            [
                f"def {wrapper}({', '.join(params)}, values, tangents):",
                f'    """Runs {name} for each batch element i; values, tangents[i] receive its outputs."""',
                f"    for i in {'numba.prange' if parallel else 'range'}(values.shape[0]):",
                f"        value, tangent = {name}({args})",
                "        values[i] = value",
                "        tangents[i] = tangent",
            ]
        )
        scope = load_module(
            self.wrapper_source, {"numba": numba, name: tangent_function}, wrapper, False
        )
        self.run = numba.njit(parallel=parallel, **NJIT_OPTIONS)(scope[wrapper])
        self.function = tangent_function
        self.axes = axes
        self.source = tangent_source + "\n\n" + self.wrapper_source + "\n"

    def __call__(self, *args):
        if any(is_device_array(a) for a in args):
            raise TypeError("device arrays need target='cuda'; copy them to the host first")
        batch = next(np.shape(a)[0] for a, axis in zip(args, self.axes, strict=True) if axis == 0)
        if batch == 0:
            return np.empty(0), np.empty(0)
        first = tuple(a[0] if axis == 0 else a for a, axis in zip(args, self.axes, strict=True))
        value, tangent = self.function(*first)  # the shapes and dtypes of one element's outputs
        values = np.empty((batch, *np.shape(value)), dtype=np.asarray(value).dtype)
        tangents = np.empty((batch, *np.shape(tangent)), dtype=np.asarray(tangent).dtype)
        self.run(*args, values, tangents)
        return values, tangents


def _element_shape(value, axis) -> tuple:
    shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    return shape[1:] if axis == 0 else shape


def _as_float(tangent):
    """A tangent as floats: NumPy values converted, device arrays as they are."""
    if is_device_array(tangent):
        return tangent
    array = np.asarray(tangent)
    if array.dtype.kind not in "fc":
        array = array.astype(np.float64)
    return array.item() if array.ndim == 0 else array
