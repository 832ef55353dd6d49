"""Targets: what the reverse generator asks of the machine an adjoint runs on.

The reverse generator (``reverse.py``) writes the same forward and backward sweeps for
every target. Where the values the forward sweep records are kept, which parameters the
generated function takes, how adjoint contributions are added and how loops are reversed
are decided by its target, a policy object whose hooks the generator calls: ``Target``
here for the CPU, ``DeviceTarget`` and ``KernelTarget`` in ``backends/cuda`` for CUDA
device functions and kernels.

Each hook takes the generator (``reverse.AdjointGenerator``, which imports this module),
whose state (``tapes``, ``frames``, ``names``, ``adj``, ...) it reads. A target with state of its own per generated function keeps it on itself,
reset by ``start_pass`` at each of the generator's passes: such a target serves one
generator, so make a new one for every generated function.
"""

from __future__ import annotations

from ..trees.codegen import Block


class Target:
    """The CPU: tapes in NumPy buffers the generated function allocates and grows.

    The parallel CPU (``vmap(..., target="parallel")``) generates the same adjoint: only
    the batched driver differs (a ``numba.prange`` loop over the elements, ``api/batched.py``),
    so it has no target of its own. This class is also the base of the other targets,
    which override the hooks they decide differently.
    """

    #: Whether array seeds the backward sweep writes into are copied first (device code
    #: gets its seeds from sourcead, not from the user).
    copies_written_seeds: bool = True

    #: Whether the adjoint of ``v = f(x)`` reads ``v`` where its rule calls ``f(x)`` again
    #: (``0.5 / v`` for a square root): worth it where float64 square roots, exponentials
    #: and divisions are what loops spend their time on (the GPU).
    reuses_results: bool = False

    #: Whether the forward sweep runs the function's writes into its array parameters (into
    #: copies made first: the caller's arrays are never modified). The adjoint of a kernel
    #: leaves the arrays it is given alone instead.
    writes_parameters: bool = True

    # --- the function and its passes ------------------------------------------------------
    def prepare(self, generator) -> None:
        """Adjust the generator's analyses of the function to the target, once, when the
        generator is made (nothing on the CPU)."""

    def start_pass(self, generator) -> None:
        """Reset the target's state for one function at the start of each of the
        generator's passes (none on the CPU)."""

    def finish(self, generator, forward: list, backward: list) -> list:
        """Lines to add at the end of the backward sweep, once both sweeps of a pass are
        generated (none on the CPU)."""
        return []

    # --- the calling convention -----------------------------------------------------------
    def passed_adjoints(self, generator) -> frozenset[str]:
        """Parameters whose adjoint arrays the caller passes in, zeroed, instead of the
        function making them (none on the CPU)."""
        return frozenset()

    def extra_parameters(self, generator) -> list[str]:
        """Parameters after the user's and before the seeds (none on the CPU)."""
        return []

    # --- tapes ----------------------------------------------------------------------------
    def declare_tapes(self, generator) -> list:
        """Lines before the forward sweep that create the tapes."""
        lines = []
        for tape, top, dtype in generator.tapes.values():
            lines.append(f"{tape} = new_tape({dtype})")
            lines.append(f"{top} = 0")
        lines.extend(generator.arrays.declare_tapes())
        return lines + generator.declare_saved()

    def push(self, generator, key: tuple, value_type, value: str) -> list:
        """Lines that push ``value`` onto the tape of the site ``key`` inside a loop (outside
        every loop the generator keeps a site's one value in a local).

        Written out, so Numba keeps the tape in registers. Inside counted loops the tape is
        reserved before the outermost loop whose trip counts are all known at its entry
        (``reservations``), so the push is a plain store; elsewhere (``while`` loops, loops
        with ``break``) it doubles the tape when full.
        """
        tape, top = generator.tape(key, value_type)
        store = [f"{tape}[{top}] = {value}", f"{top} += 1"]
        cover = generator.reserving_frame()
        if cover is None:
            return [Block(f"if {top} == len({tape}):", [f"{tape} = grow({tape})"]), *store]
        frames = generator.frames
        count = " * ".join(f.trips for f in frames[cover:])  # each is an atom
        frames[cover].reservations.setdefault(key, []).append(count)
        frames[cover].expected.setdefault(key, []).append(
            " * ".join([count, *generator.iterations_left(cover)])
        )
        return store

    def reservations(self, generator, frame) -> list[str]:
        """Lines before a loop that make room on its tapes for every push inside it."""
        lines = []
        for key, counts in frame.reservations.items():
            tape, top = generator.tapes[key][:2]
            size = f"{top} + {' + '.join(counts)}"
            expected = f"{top} + {' + '.join(frame.expected[key])}"
            extra = f", {expected}" if expected != size else ""
            lines.append(f"{tape} = reserve({tape}, {size}{extra})")
        return lines

    def end_of_forward(self, generator) -> list:
        """Lines between the forward and the backward sweep (none on the CPU)."""
        return []

    # --- adjoints -------------------------------------------------------------------------
    def accumulate(self, generator, key: tuple, contribution) -> str | None:
        """The line that adds ``contribution`` to the adjoint ``key`` (``("name", n)`` or
        ``("elem", array, index)``), or None for the generator's own update (on the CPU)."""
        return None

    # --- loops ----------------------------------------------------------------------------
    def reversed_in_segments(
        self,
        generator,
        stmt,
        start,
        step,
        trips: str | None,
        body_tapes: list,
        body_f: list,
        body_b: list,
    ) -> tuple[list, list] | None:
        """(forward, backward) lines of a counted loop (``stmt``, with ``start`` and
        ``step`` as trees, ``trips`` its trip count's source) reversed in segments, or None
        to record every step: always on the CPU (``segments.py`` has the GPU's).
        ``body_tapes`` are the keys of the tapes the loop's body pushes to, ``body_f`` and
        ``body_b`` the lines of one step's forward and backward sweep."""
        return None

    def checkpointed_loop(
        self, generator, stmt, depth: int, start, stop, step
    ) -> tuple[list, list]:
        """(forward, backward) lines of ``for t in checkpointed(range(start, stop, step))``
        (the generator has refused such loops inside other loops or with a ``break``), or
        a SourceADError for one the target cannot reverse. On the CPU: binomial
        checkpointing (``checkpoint.py``)."""
        return generator.revolve(stmt, depth, start, stop, step)


#: The CPU's target: it keeps no state, so every generator may share it.
CPU_TARGET = Target()


__all__ = ["CPU_TARGET", "Target"]
