"""Launching generated CUDA kernels: tapes in device memory, device arrays, batches.

Used by ``sourcead.vmap(..., target="cuda")``, ``kernel_vjp`` and ``host_grad``, and by
batched modules built ahead of time (``sourcead build --vmap cuda``), which import it
without the compiler. ``numba.cuda`` is imported only when a launch needs it.

A CUDA device function can allocate nothing, so every tape of a generated device function
is a column of a 2-D device array ``tape[capacity, threads]`` that the host allocates
(``DeviceTapes``). The first launch of a new function runs with empty columns and so
counts what each thread needs; the host repeats the launch with columns that long
(see ``sourcead.device`` for the generated side).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np

from .device_pool import pool

__all__ = [
    "DEFAULT_TAPE_BYTES",
    "DeviceTapes",
    "KernelAdjointLaunch",
    "check_shadows",
    "device_arrays",
    "device_copy",
    "device_zeros",
    "fill_zero",
    "import_cuda",
    "is_device_array",
    "run_batched",
    "simulated",
    "tape_memory_limit",
    "to_device",
]

THREADS_PER_BLOCK = 128

#: Default limit on tape memory per launch when the device cannot say how much is free.
DEFAULT_TAPE_BYTES = 2 << 30


def import_cuda():
    """``numba.cuda`` (from the numba-cuda package); a clear error when it is missing."""
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "target='cuda' needs numba-cuda: pip install numba-cuda (or sourcead's cuda extra)"
        ) from exc
    return cuda


def simulated() -> bool:
    """Whether numba.cuda runs on its simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def is_device_array(value) -> bool:
    """Device arrays of numba-cuda, CuPy, PyTorch...: anything with __cuda_array_interface__."""
    return hasattr(value, "__cuda_array_interface__") or type(value).__name__ == "FakeCUDAArray"


def tape_memory_limit(limit: int | None) -> int:
    """Bytes that the tapes of one launch may take: ``limit``, else half the free memory."""
    if limit is not None:
        return int(limit)
    if simulated():
        return DEFAULT_TAPE_BYTES
    try:
        free, _ = import_cuda().current_context().get_memory_info()
        return int(free) // 2
    except Exception:  # pragma: no cover - only without a working device
        return DEFAULT_TAPE_BYTES


class DeviceTapes:
    """The tapes of one generated device function: dtypes and the column length in use."""

    def __init__(self, dtypes: list[str]):
        self.dtypes = [np.dtype(d) for d in dtypes]
        self.capacity = np.zeros(len(dtypes), dtype=np.int64)
        self._arrays: tuple = ((), None, None)  # (key, tapes, need) kept for the next launch

    def __bool__(self) -> bool:
        return bool(self.dtypes)

    def bytes_per_thread(self, capacity=None) -> int:
        capacity = self.capacity if capacity is None else capacity
        return int(sum(int(c) * d.itemsize for c, d in zip(capacity, self.dtypes, strict=True)))

    def allocate(self, threads: int) -> tuple[list, object]:
        """Device arrays ``tape[capacity, threads]`` and a zeroed ``tape_need``.

        The arrays of the previous launch are reused when they have the same shape (launches
        on the default stream run one after the other), saving a large allocation per call.
        """
        cuda = import_cuda()
        key = (tuple(int(c) for c in self.capacity), threads)
        previous, tapes, need = self._arrays
        if previous != key:
            tapes = [
                cuda.device_array((int(c), threads), dtype=d)
                for c, d in zip(self.capacity, self.dtypes, strict=True)
            ]
            need = cuda.device_array(len(self.dtypes), dtype=np.int64)
            self._arrays = (key, tapes, need)
        need.copy_to_device(np.zeros(len(self.dtypes), dtype=np.int64))
        return tapes, need

    def update(self, need, threads: int, limit: int, where: str) -> bool:
        """Take the lengths a launch reported; True when the launch must be repeated."""
        need = np.asarray(need)
        if (need <= self.capacity).all():
            return False
        capacity = np.maximum(self.capacity, need)
        per_thread = self.bytes_per_thread(capacity)
        if per_thread > limit:
            raise MemoryError(
                f"{where}: each thread's tapes need {per_thread} bytes ({_lengths(capacity)}), "
                f"more than the {limit} bytes of tape memory allowed; raise tape_memory=, or "
                "shorten the loops that overwrite values in each thread"
            )
        self.capacity = capacity
        return True


_ZERO_KERNEL: list = []


def device_arrays(specs: list[tuple[tuple, object]]) -> list:
    """Uninitialised device arrays of these ``(shape, dtype)``, carved from one block.

    On a GPU an allocation with its later free costs more than a kernel launch (about
    0.1 ms each on an H100, more for large blocks), so the results of a call share one
    block, taken from the pool of blocks that earlier calls' results no longer use
    (``device_pool``); the block lives as long as any of its arrays.
    """
    cuda = import_cuda()
    specs = [(tuple(int(n) for n in shape), np.dtype(dtype)) for shape, dtype in specs]
    sizes = [math.prod(shape) * dtype.itemsize for shape, dtype in specs]
    if simulated() or 0 in sizes:
        return [cuda.device_array(shape, dtype=dtype) for shape, dtype in specs]
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += -(-size // _ALIGNMENT) * _ALIGNMENT
    block = pool().take(total)
    arrays = []
    for (shape, dtype), offset, size in zip(specs, offsets, sizes, strict=True):
        strides = tuple(int(math.prod(shape[k + 1 :])) * dtype.itemsize for k in range(len(shape)))
        memory = block.view(offset, offset + size)
        arrays.append(cuda.devicearray.DeviceNDArray(shape, strides, dtype, gpu_data=memory))
    return arrays


def device_copy(array):
    """A copy of a host or device array, on the device (from the pool on a GPU)."""
    (copy,) = device_arrays([(array.shape, array.dtype)])
    copy.copy_to_device(array)
    return copy


_ALIGNMENT = 256  # bytes: each array starts where a fresh allocation would


def device_zeros(shape: tuple, dtype):
    """A zeroed device array, filled on the device (no host-to-device copy)."""
    cuda = import_cuda()
    array = cuda.device_array(shape, dtype=dtype)
    if array.size:
        fill_zero(array)
    return array


def _zero(flat):
    i = cuda.grid(1)  # noqa: F821 - the module global is bound by fill_zero
    if i < flat.shape[0]:
        flat[i] = 0


def fill_zero(array) -> None:
    """Set a contiguous device array to zero with a small kernel."""
    if not _ZERO_KERNEL:
        # a module global, so that numba-cuda's simulator can swap in its own module
        globals()["cuda"] = import_cuda()
        _ZERO_KERNEL.append(globals()["cuda"].jit(_zero))
    flat = array.reshape(array.size)
    _ZERO_KERNEL[0][(array.size + 255) // 256, 256](flat)


def _lengths(capacity) -> str:
    return "tape lengths " + ", ".join(str(int(c)) for c in capacity)


def to_device(cuda, value):
    """``value`` on the device: NumPy arrays copied, device arrays as they are."""
    if isinstance(value, np.ndarray):
        return device_copy(np.ascontiguousarray(value))
    if getattr(value, "__cuda_ndarray__", False):  # numba-cuda's own: no view to make
        return value
    if hasattr(value, "__cuda_array_interface__") and hasattr(cuda, "as_cuda_array"):
        return cuda.as_cuda_array(value)
    return value


def in_one_context(function):
    """``function`` run with the CUDA context looked up once for the whole call.

    numba-cuda asks the driver for the current context at every allocation, copy and
    launch that is not already inside such a call: a few microseconds each natively, and
    tens where driver calls are slow (virtual machines), which added up to over a
    millisecond per batched call.
    """

    @functools.wraps(function)
    def run(*args, **kwargs):
        if simulated():
            return function(*args, **kwargs)
        from numba.cuda.cudadrv.devices import require_context

        return require_context(function)(*args, **kwargs)

    return run


@in_one_context
def run_batched(
    kernel, args, in_axes, shapes, tapes: DeviceTapes, tape_memory, where: str, written=()
) -> list:
    """Launch a batched kernel (one thread per element) and return its outputs.

    ``args`` are the batched function's arguments (NumPy arrays are copied to the device;
    device arrays among those at the indices ``written``, which the kernel writes into,
    are copied on the device, so that no input changes),
    ``in_axes`` 0 or None per argument, ``shapes`` the ``(shape, dtype)`` of each output of
    one element. The batch is split into launches whose tapes fit ``tape_memory`` bytes
    (default: half the free device memory). The outputs gain the batch axis; they stay on
    the device when an argument was a device array, else they are copied to the host.
    """
    cuda = import_cuda()
    on_device = any(is_device_array(a) for a in args)
    device_args = [
        to_device(cuda, a) if isinstance(a, np.ndarray) or is_device_array(a) else a for a in args
    ]
    for k in written:
        if is_device_array(args[k]):
            device_args[k] = device_copy(device_args[k])
    batch = next(a.shape[0] for a, axis in zip(device_args, in_axes, strict=True) if axis == 0)
    # every output row is written (or zeroed and added to) by its thread
    results = device_arrays([((batch, *shape), dtype) for shape, dtype in shapes])
    limit = tape_memory_limit(tape_memory) if tapes else 0
    start = 0
    while start < batch:
        per_thread = tapes.bytes_per_thread()
        stop = batch if per_thread == 0 else min(batch, start + max(limit // per_thread, 1))
        count = stop - start
        if count == batch:  # the whole batch in one launch: no views to make
            sliced, outs = device_args, results
        else:
            sliced = [
                a[start:stop] if axis == 0 else a
                for a, axis in zip(device_args, in_axes, strict=True)
            ]
            outs = [r[start:stop] for r in results]
        extra: list = []
        need = None
        if tapes:
            tape_arrays, need = tapes.allocate(count)
            extra = [*tape_arrays, need]
        blocks = math.ceil(count / THREADS_PER_BLOCK)
        kernel[blocks, THREADS_PER_BLOCK](*sliced, *outs, *extra)
        if need is not None and tapes.update(need.copy_to_host(), count, limit, where):
            continue  # again with longer tapes (the rows are zeroed again in the launch)
        start = stop
    if on_device:
        return results
    return [r.copy_to_host() for r in results]


class KernelAdjointLaunch:
    """Launches of a generated adjoint kernel: ``launch[blocks, threads](*args, *shadows)``.

    ``args`` are the primal kernel's arguments, ``shadows`` one array per differentiated
    array (``wrt``, in order): output shadows hold the cotangents, input shadows accumulate
    the gradients. Where the adjoint keeps tapes, the first launch counts them and the
    launch is repeated with the shadows as they came. ``consume=False`` leaves the output
    shadows as they came (copied and put back, unless a separate ``consume_kernel`` is what
    would use them up).

    ``arguments`` (name, dtype, ndim) per primal argument, where given, are checked at each
    launch: a module built ahead of time was generated for those types.
    """

    def __init__(
        self,
        kernel,
        consume_kernel,
        tapes: DeviceTapes,
        *,
        name: str,
        params: tuple,
        wrt: tuple,
        outputs: tuple,
        consume: bool = True,
        tape_memory: int | None = None,
        arguments: tuple | None = None,
    ):
        self.kernel = kernel
        self.consume_kernel = consume_kernel
        self.tapes = tapes
        self.name = name
        self.params = tuple(params)
        self.wrt = tuple(wrt)
        self.outputs = tuple(outputs)
        self.consume = consume
        self.tape_memory = tape_memory
        self.arguments = arguments

    def __getitem__(self, configuration):
        if not (isinstance(configuration, tuple) and len(configuration) == 2):
            raise TypeError("launch with adjoint[blocks, threads_per_block](...)")
        blocks, threads = configuration
        return lambda *args: self.launch(blocks, threads, args)

    def check(self, args) -> None:
        """The number of arguments, the shadows' shapes and (where known) the types."""
        check_shadows(self.name, self.params, self.wrt, args)
        for name, dtype, ndim in self.arguments or ():
            value = args[self.params.index(name)]
            if ndim == 0:
                if getattr(value, "ndim", 0) != 0 or isinstance(value, str):
                    raise TypeError(
                        f"argument {name} of {self.name} must be a number (the type it was "
                        "built for; rebuild with --types for another)"
                    )
            elif getattr(value, "ndim", None) != ndim or np.dtype(value.dtype) != dtype:
                got = f"{getattr(value, 'dtype', type(value).__name__)}, {getattr(value, 'ndim', 0)}-d"
                raise TypeError(
                    f"argument {name} of {self.name} must be a {ndim}-d array of {dtype} "
                    f"(the types it was built for), not {got}"
                )

    @in_one_context
    def launch(self, blocks, threads, args) -> None:
        self.check(args)
        if self.consume or self.consume_kernel is not None:
            self._launch(blocks, threads, args)
            return
        # the adjoint consumes the output shadows as it goes: keep them and put them back
        n = len(self.params)
        outputs = [args[n + self.wrt.index(o)] for o in self.outputs]
        kept = [_copy(o) for o in outputs]
        self._launch(blocks, threads, args)
        for shadow, copy in zip(outputs, kept, strict=True):
            if isinstance(shadow, np.ndarray):
                shadow[...] = copy
            else:
                _as_numba(shadow).copy_to_device(copy)

    def _launch(self, blocks, threads, args) -> None:
        cuda = import_cuda()
        if not self.tapes:
            self.kernel[blocks, threads](*args)
            if self.consume_kernel is not None and self.consume:  # gathered reads: used up after
                self.consume_kernel[blocks, threads](*args)
            return
        count = _size(blocks) * _size(threads)
        host = [a if isinstance(a, np.ndarray) else None for a in args]
        device_args = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
        shadows = device_args[len(self.params) :]
        saved = [device_copy(s) for s in shadows]
        limit = tape_memory_limit(self.tape_memory)
        where = f"the adjoint of the kernel {self.name}"
        for _ in range(3):
            tape_arrays, need = self.tapes.allocate(count)
            self.kernel[blocks, threads](*device_args, *tape_arrays, need)
            if not self.tapes.update(need.copy_to_host(), count, limit, where):
                break
            for shadow, copy in zip(shadows, saved, strict=True):
                shadow.copy_to_device(copy)  # start again from the shadows as they came
        else:  # pragma: no cover - the repeated launch runs the same code on the same data
            raise RuntimeError(f"{where}: the tapes kept growing between launches")
        for original, device in zip(host[len(self.params) :], shadows, strict=True):
            if original is not None:  # the primal arrays are unchanged: only shadows go back
                device.copy_to_host(original)


def check_shadows(name: str, params, wrt, args) -> None:
    """An adjoint kernel's arguments: the primal ones, then one shadow per ``wrt`` array, of
    that array's shape."""
    n = len(params)
    if len(args) != n + len(wrt):
        raise TypeError(
            f"the adjoint of {name} takes its {n} arguments and {len(wrt)} shadow array(s) "
            f"({', '.join(wrt)}); got {len(args)}"
        )
    for p, shadow in zip(wrt, args[n:], strict=True):
        primal = args[list(params).index(p)]
        if tuple(getattr(shadow, "shape", ())) != tuple(getattr(primal, "shape", ())):
            raise ValueError(
                f"the shadow of {p} has shape {tuple(getattr(shadow, 'shape', ()))}, {p} has "
                f"{tuple(getattr(primal, 'shape', ()))}"
            )


def _size(dims) -> int:
    return math.prod(dims) if isinstance(dims, tuple | list) else int(dims)


def _copy(array):
    """A copy of a host or device array, on the same side."""
    if isinstance(array, np.ndarray):
        return array.copy()
    return device_copy(_as_numba(array))


def _as_numba(array):
    """numba-cuda's view of a device array (CuPy's, PyTorch's...), for its copy methods."""
    if hasattr(array, "copy_to_device"):
        return array
    return import_cuda().as_cuda_array(array)
