"""``vmap``: a function or its derivative mapped over a leading batch axis, like JAX's.

The batched function is generated as source like every derivative: a wrapper that calls
the generated (or the user's) function once per batch element, compiled

* ``target="cpu"``: a Numba loop;
* ``target="parallel"``: a ``numba.prange`` loop over the CPU's cores;
* ``target="cuda"``: a CUDA kernel, one thread per element, calling the generated adjoint
  compiled as a device function (tapes in device memory, see ``backends.cuda.device``).

``.source`` shows the generated module with its wrapper (``api.batched``, and
``api.vmap_jvp`` for ``vmap(jvp)``).
"""

from __future__ import annotations

from collections.abc import Callable

from .background import BACKGROUND, resolve_compile
from .batched import DEFAULT_CHECKPOINT_EVERY, BatchedFunction
from .forward import jvp
from .vmap_jvp import BatchedJvp


def vmap(
    fun: Callable,
    in_axes: int | None | tuple[int | None, ...] = 0,
    *,
    target: str = "cpu",
    tape_memory: int | None = None,
    checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
    compile: bool | str | None = None,
) -> BatchedFunction | BatchedJvp:
    """Map ``fun`` over a leading batch axis of its arguments, like JAX's ``vmap``.

    Args:
        fun: a function made by sourcead (``grad``, ``value_and_grad``, ``jacobian``), a
            plain function in sourcead's subset, or ``sourcead.jvp`` itself:
            ``vmap(jvp, in_axes=(None, 0, 0))(f, primals, tangents)`` gives the values and
            tangents of a batch (``in_axes`` then has an entry for the function, ``None``,
            and one for the primals and one for the tangents, each ``0``, ``None`` or a
            tuple with one per argument).
        in_axes: ``0`` (every argument is batched along its first axis), ``None`` (none
            is), or a tuple with ``0`` or ``None`` per argument; ``None`` arguments are
            passed whole to every element (broadcast).
        target: ``"cpu"`` (a compiled loop), ``"parallel"`` (``numba.prange`` over the
            cores) or ``"cuda"`` (a GPU kernel, one thread per element; numba-cuda needed).
        tape_memory: ``target="cuda"`` only: the most bytes the tapes of one launch may
            take (default: half of the free device memory); larger batches run in parts.
        checkpoint_every: ``target="cuda"`` only: the adjoint of a counted loop at the top
            of the function keeps a snapshot of the loop's state every this many steps and
            runs each segment again in the backward sweep, so that a thread's tapes hold one
            segment, not the whole loop (see docs/gpu.md); ``None`` records every step.
        compile: the CPU targets' batched module compiled with Numba (``True``), run as plain
            Python (``False``), or ``"background"``: the first call with new argument types
            runs the Python version, then a thread compiles the Numba version and calls are
            compiled once it is ready (as for ``grad``). ``None`` (the default) takes the
            mapped derivative's ``compile=`` (so ``vmap(grad(f, compile=True))`` and
            ``vmap(grad(f), compile=True)`` both compile at the first call), and ``grad``'s
            default for a plain function. ``target="cuda"`` compiles a kernel and takes ``None`` or
            ``True``; ``vmap(jvp)`` is compiled and takes ``None`` or ``True`` too.

    Returns:
        A function of the same arguments whose outputs gain a leading batch axis. With
        ``target="cuda"`` NumPy arguments are copied to the device and the results back;
        when an argument is a device array (numba-cuda, CuPy, PyTorch: anything with
        ``__cuda_array_interface__``) the results stay on the device. It pickles by
        reference, as ``vmap`` of what it maps with the same options.
    """
    if compile is not None:
        compile = resolve_compile(compile)
        if compile in (False, BACKGROUND) and (fun is jvp or target == "cuda"):
            what = "vmap(jvp)" if fun is jvp else "target='cuda'"
            raise ValueError(
                f"{what} is always compiled: it takes compile=None or True, not {compile!r}"
            )
    if fun is jvp:
        return BatchedJvp(in_axes, target, tape_memory, checkpoint_every)
    return BatchedFunction(fun, in_axes, target, tape_memory, checkpoint_every, compile)


__all__ = ["vmap"]
