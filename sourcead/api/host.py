"""Gradients of host code that launches kernels: ``host_grad`` and ``differentiable``.

Host code (plain Python that allocates device arrays and launches kernels, e.g. a
time-stepping loop) is differentiated by recording its launches: while ``host_grad``
runs the function, each launch of a ``differentiable`` kernel is recorded, after saving a
device copy of every array the kernel is about to overwrite. The backward sweep then
walks the launches in reverse: it launches each kernel's adjoint (``kernel_vjp``) with the
same grid and the shadow arrays, and restores the arrays that launch overwrote, so the
next adjoint sees its inputs as they were. Memory: one copy of each written array per
launch.

A loop over ``sourcead.checkpointed(range(n), snapshots=s)`` in the host code bounds that
memory: its iterations are recorded in ``s`` segments of ``ceil(n / s)`` iterations, and
a segment copies each array its launches overwrite once, at the first write (the
segment's snapshot). The backward sweep takes the segments from last to first: it
restores the snapshot, launches the segment's kernels again, recording them one by one
as above, and reverses them. Memory: ``s`` snapshots and one segment's launch copies;
time: each launch in the loop runs twice.

Each launch is a primitive whose adjoint is the adjoint kernel; the host code between
launches (loops, swaps of array names) is Python that runs once and is not
differentiated: it must not compute with the arrays' values on the host.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable

import gast
import numpy as np

from ..backends.cuda.device import device_copy, device_zeros, import_cuda, is_device_array
from ..backends.cuda.kernels import KernelAdjoint, array_accesses, first_access
from ..cache import references
from ..errors import SourceADError
from ..frontend.source import load_function, wrt_names
from ..rules.forms import HOST_RECORDING, checkpointed
from ..trees.functions import unwrap
from .arguments import Argnums, Wrt, resolve_wrt, with_keywords

_RECORDING = threading.local()


def differentiable(kernel: Callable) -> DifferentiableKernel:
    """A kernel (numba.cuda style, see ``kernel_vjp``) whose launches ``host_grad`` records.

    Args:
        kernel: a plain Python function written as a kernel, or a ``@cuda.jit`` kernel.

    Returns:
        The kernel to launch as usual, ``k[blocks, threads](*args)``; outside ``host_grad``
        it is just the kernel. Usable as a decorator instead of ``@cuda.jit``. It pickles by
        reference (its module-level name, or ``differentiable`` of the kernel's).
    """
    return DifferentiableKernel(kernel)


class DifferentiableKernel:
    """What ``differentiable`` returns."""

    def __init__(self, kernel):
        self.kernel = unwrap(kernel)
        self.py_func = self.kernel  # kernel_vjp and grad see the Python function
        parsed = load_function(self.kernel)  # SourceADError now for unreadable sources
        self.params = parsed.params
        written, read = array_accesses(parsed.node, set(self.params))
        for p in sorted(written & read):
            raise parsed.error(
                f"the kernel reads and writes the array {p}; another thread may write the "
                "element this thread reads, which a kernel adjoint cannot order: read inputs "
                "and write outputs in separate arrays",
                first_access(parsed.node, p),
            )
        self.written = [p for p in self.params if p in written]
        self._primal = None
        self._adjoints: dict = {}
        functools.update_wrapper(self, self.kernel)

    def __reduce__(self):
        return references.reduce(self, "differentiable", self.kernel, {})

    def __repr__(self) -> str:
        return f"<sourcead differentiable kernel {self.kernel.__qualname__}>"

    def __getitem__(self, configuration):
        return lambda *args: self._launch(configuration, args)

    def _launch(self, configuration, args) -> None:
        tape = getattr(_RECORDING, "tape", None)
        if tape is not None:
            tape.record(self, configuration, args)
        self.launch_primal(configuration, args)

    def launch_primal(self, configuration, args) -> None:
        """Launch the kernel itself (unrecorded)."""
        if self._primal is None:
            self._primal = import_cuda().jit(self.kernel)
        self._primal[configuration](*args)

    def written_arrays(self, args) -> list:
        """The arrays among ``args`` that the kernel writes."""
        return [args[self.params.index(p)] for p in self.written]

    def adjoint(self, args) -> tuple[KernelAdjoint, list]:
        """The adjoint kernel with respect to every float array argument, and those arrays."""
        wrt = tuple(
            p
            for p, a in zip(self.params, args, strict=True)
            if is_device_array(a) and np.dtype(a.dtype).kind == "f"
        )
        if wrt not in self._adjoints:
            self._adjoints[wrt] = KernelAdjoint(self.kernel, wrt)
        return self._adjoints[wrt], [args[self.params.index(p)] for p in wrt]


class _Launch:
    """One recorded launch, with copies of the arrays it overwrote (taken just before it)."""

    def __init__(self, kernel: DifferentiableKernel, configuration, args):
        self.kernel, self.configuration, self.args = kernel, configuration, args
        self.saved = [(array, device_copy(array)) for array in kernel.written_arrays(args)]

    def reverse(self, shadow) -> None:
        adjoint, arrays = self.kernel.adjoint(self.args)
        adjoint[self.configuration](*self.args, *[shadow(a) for a in arrays])
        for array, copy in self.saved:
            array.copy_to_device(copy)  # the values the earlier launches saw


class _Segment:
    """Launches of consecutive iterations of a checkpointed loop. Each array they overwrite
    is copied once, at its first write: the state the segment starts from."""

    def __init__(self):
        self.launches: list = []
        self.snapshot: dict = {}  # id(array) -> (array, copy)

    def record(self, kernel: DifferentiableKernel, configuration, args) -> None:
        for array in kernel.written_arrays(args):
            if id(array) not in self.snapshot:
                self.snapshot[id(array)] = (array, device_copy(array))
        self.launches.append((kernel, configuration, args))

    def reverse(self, shadow) -> None:
        for array, copy in self.snapshot.values():
            array.copy_to_device(copy)
        self.snapshot = {}
        recorded = []
        for kernel, configuration, args in self.launches:  # run again, recording each
            recorded.append(_Launch(kernel, configuration, args))
            kernel.launch_primal(configuration, args)
        for launch in reversed(recorded):
            launch.reverse(shadow)


class _Tape:
    """The launches of one run of the host function, in order (``_Launch`` and
    ``_Segment`` entries)."""

    def __init__(self):
        self.entries: list = []
        self.segment: _Segment | None = None  # where launches go inside a checkpointed loop

    def record(self, kernel: DifferentiableKernel, configuration, args) -> None:
        if len(args) != len(kernel.params):
            raise TypeError(
                f"{kernel.__name__} takes {len(kernel.params)} arguments, got {len(args)}"
            )
        for p, a in zip(kernel.params, args, strict=True):
            if isinstance(a, np.ndarray):
                raise TypeError(
                    f"host_grad: {kernel.__name__} is launched with a NumPy array for {p}; "
                    "pass device arrays (cuda.to_device) so that launches share them"
                )
        if self.segment is not None:
            self.segment.record(kernel, configuration, args)
        else:
            self.entries.append(_Launch(kernel, configuration, args))

    def checkpointed(self, steps: range, snapshots: int | None, memory: int | None):
        """The steps of a ``checkpointed`` loop, starting a segment every ``ceil(n / s)``."""
        if self.segment is not None:  # nested through a called function
            raise SourceADError(
                "host_grad: a checkpointed loop runs inside another checkpointed loop; mark "
                "one of them"
            )
        return self._segments(steps, snapshots, memory)

    def _segments(self, steps: range, snapshots: int | None, memory: int | None):
        per_segment = math.ceil(len(steps) / snapshots) if snapshots is not None else None
        try:
            for k, step in enumerate(steps):
                if k == 1 and per_segment is None:
                    per_segment = _steps_per_segment(self.segment, len(steps), memory)
                if k == 0 or k % per_segment == 0:
                    self.segment = _Segment()
                    self.entries.append(self.segment)
                yield step
        finally:
            self.segment = None


def _steps_per_segment(first: _Segment, steps: int, memory: int) -> int:
    """Segment length for ``memory=``: as many snapshots as fit, each counted as every
    device array the loop's first iteration passed to its launches."""
    seen = {
        id(a): a.nbytes
        for _, _, args in first.launches
        for a in args
        if is_device_array(a) and hasattr(a, "nbytes")
    }
    snapshots = max(1, memory // max(sum(seen.values()), 1))
    return max(1, math.ceil(steps / snapshots))


def host_grad(
    fun: Callable,
    wrt: Wrt | None = None,
    *,
    argnums: Argnums | None = None,
    preserve_result: bool = False,
) -> HostGradient:
    """The gradient of host code that launches ``differentiable`` kernels.

    The returned function runs ``fun`` once, recording its launches, then the adjoint
    launches in reverse, and returns the gradients as device arrays. Arrays that the
    launches overwrote, the arguments included, hold their original values again afterwards.

    Args:
        fun: host code returning a one-element device array (its value is the function's
            value, e.g. a loss that a kernel wrote).
        wrt: the device-array argument(s) to differentiate with respect to: an index or a
            name, or a tuple of them (then a tuple of gradients). The first argument when
            neither ``wrt`` nor ``argnums`` is given.
        argnums: JAX's name for ``wrt``; give one of the two.
        preserve_result: return ``(value, gradients)`` instead of the gradients alone.

    Returns:
        A function taking the same arguments as ``fun``. It pickles by reference, as
        ``host_grad`` of ``fun`` (found by module and qualified name) with the same options.
    """
    return HostGradient(fun, resolve_wrt("host_grad", wrt, argnums), preserve_result)


class HostGradient:
    """What ``host_grad`` returns: call it like the host function to get the gradients."""

    def __init__(self, fun, wrt, preserve_result: bool):
        self.fun = unwrap(fun)
        self.parsed = load_function(self.fun)
        names = wrt_names(
            wrt if isinstance(wrt, tuple) else (wrt,), self.parsed.params, self.parsed
        )
        self.indices = [self.parsed.params.index(n) for n in names]
        _check_host_code(self.parsed)
        self.wrt = wrt
        self.preserve_result = preserve_result
        functools.update_wrapper(self, self.fun)

    def __call__(self, *args, **keywords):
        args = with_keywords(self.fun, args, keywords, "host_grad")
        parsed = self.parsed
        missing = [parsed.params[i] for i in self.indices if i >= len(args)]
        if missing:
            raise TypeError(
                f"host_grad of {parsed.name}: pass {', '.join(missing)}, the device array(s) "
                "it differentiates with respect to"
            )
        for i in self.indices:
            if not is_device_array(args[i]):
                raise TypeError(
                    f"host_grad of {parsed.name}: {parsed.params[i]} must be a device array"
                )
        tape = _Tape()
        previous = getattr(_RECORDING, "tape", None), getattr(HOST_RECORDING, "recorder", None)
        _RECORDING.tape = HOST_RECORDING.recorder = tape
        try:
            result = self.fun(*args)
        finally:
            _RECORDING.tape, HOST_RECORDING.recorder = previous
        if not (is_device_array(result) and result.size == 1):
            raise SourceADError(
                f"host_grad needs {parsed.name} to return a one-element device array (the "
                "value to differentiate, written by a kernel)",
                parsed.filename,
                parsed.node.lineno,
            )
        value = float(result.copy_to_host().reshape(-1)[0])
        shadows: dict = {}

        def shadow(array):
            if id(array) not in shadows:
                shadows[id(array)] = (array, device_zeros(array.shape, array.dtype))
            return shadows[id(array)][1]

        shadow(result).copy_to_device(np.ones(result.shape, dtype=result.dtype))
        for entry in reversed(tape.entries):
            entry.reverse(shadow)
        grads = tuple(shadow(args[i]) for i in self.indices)
        grads = grads if isinstance(self.wrt, tuple) else grads[0]
        return (value, grads) if self.preserve_result else grads

    def __reduce__(self):
        options = {"wrt": self.wrt, "preserve_result": self.preserve_result}
        return references.reduce(self, "host_grad", self.fun, options)

    def __repr__(self) -> str:
        return f"<sourcead host gradient of {self.parsed.name} wrt {self.wrt!r}>"


#: Device-array methods host code must not call: what the recording would miss.
_UNRECORDED_COPIES = {
    "copy_to_host": "host code that copies device values to the host computes outside the "
    "recorded launches, where no derivative flows; compute with kernels",
    "copy_to_device": "host code that copies into a device array overwrites it outside the "
    "recorded launches, which the backward sweep would not undo; copy with a "
    "differentiable kernel",
}


def _check_host_code(parsed) -> None:
    """Refuse what would make the recorded gradient silently wrong: launches of kernels
    that are not ``differentiable`` (unrecorded) and device values read on the host."""
    for node in gast.walk(parsed.node):
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Subscript):
            launched = node.func.value
            if isinstance(launched, gast.Name):
                try:
                    target = parsed.lookup(launched.id)
                except (KeyError, AttributeError):
                    continue
                if not isinstance(target, DifferentiableKernel):
                    raise parsed.error(
                        f"{launched.id} is launched but is not sourcead.differentiable, so "
                        "its launches would not be recorded; decorate it with "
                        "@sourcead.differentiable",
                        node,
                    )
        if (
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Attribute)
            and node.func.attr in _UNRECORDED_COPIES
        ):
            raise parsed.error(_UNRECORDED_COPIES[node.func.attr], node)
        if isinstance(node, gast.For) and _is_checkpointed(node, parsed):
            for inner in gast.walk(node):
                if inner is not node and isinstance(inner, gast.For):
                    if _is_checkpointed(inner, parsed):
                        raise parsed.error(
                            "a checkpointed loop inside another one: mark one of them", inner
                        )


def _is_checkpointed(loop, parsed) -> bool:
    """Whether ``loop`` iterates over a ``sourcead.checkpointed(...)`` call."""
    if not isinstance(loop.iter, gast.Call):
        return False
    try:
        return parsed.resolve(loop.iter.func) is checkpointed
    except (KeyError, AttributeError):
        return False
