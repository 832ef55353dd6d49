"""Checkpointed loops: reverse long time-stepping loops in bounded memory.

A user marks a loop::

    for t in sourcead.checkpointed(range(n_steps), snapshots=20):
        ...

Run as plain Python (or by the forward sweep of anything but an adjoint) the loop is just
``range(n_steps)``. In an adjoint, the loop's steps are reversed with Griewank's binomial
checkpointing (the Revolve schedule, see ``sourcead_runtime.checkpoint``): at most
``snapshots`` copies of the loop-carried state are kept, the steps between them are run
again when needed, and only one step at a time records values for its adjoint. With
``memory=bytes`` instead of ``snapshots``, the number of snapshots is the most that fit in
that many bytes, computed from the loop state's size when the loop starts.
"""

from __future__ import annotations

import copy

import gast
from sourcead_runtime import scratch

from ..analysis.types import is_array_type, tape_dtype
from ..trees.codegen import Block, src
from ..trees.queries import element_written, stored_names


class CheckpointedLoop:
    """Source of the forward and backward sweeps of one checkpointed loop.

    The forward sweep follows the schedule until its first recorded step, which is the
    loop's last step: it runs that step with recording (``body_forward``), so the code after
    the loop sees the final state. The backward sweep runs that step's adjoint, then the rest
    of the schedule: restoring snapshots, advancing, and recording and reversing each earlier
    step in turn.
    """

    def __init__(self, generator, stmt: gast.For, start: str, step: str, trips: str):
        self.generator = generator
        self.stmt = stmt
        self.var = stmt.target.id
        fresh = generator.names.fresh
        self.plan = fresh("plan")
        self.action, self.restore, self.first, self.last, self.slot = (
            fresh("action"),
            fresh("restore"),
            fresh("first"),
            fresh("last"),
            fresh("slot"),
        )
        self.start, self.step, self.trips = start, step, trips
        self.state = self._state()
        self.snapshots = {n: fresh(f"{n}_snapshots") for n in self.state}

    def _state(self) -> list[str]:
        """The loop-carried values a snapshot holds: what the body assigns."""

        g = self.generator
        body = self.stmt.body
        names = (stored_names(body) | element_written(body)) - {self.var}
        yours = {n.id for n in gast.walk(g.fn.node) if isinstance(n, gast.Name)}
        state = []
        for n in sorted(names):
            value_type = g.types.get(n)
            if value_type is None or (n not in yours and _made_in_each_step(n, body)):
                continue
            if is_array_type(value_type):
                g.check_snapshot_array(n, self.stmt)
            state.append(n)
        return state

    # --- pieces of code -------------------------------------------------------------------
    def _set_variable(self, index: str) -> str:
        if self.start == "0" and self.step == "1":
            return f"{self.var} = {index}"
        return f"{self.var} = {self.start} + {index} * {self.step}"

    def _snapshot_lines(self, take: bool) -> list[str]:

        lines = []
        for n in self.state:
            saved = f"{self.snapshots[n]}[{self.slot if take else self.restore}]"
            is_array = is_array_type(self.generator.types[n])
            if take:
                lines.append(f"{saved} = {n}")
            elif is_array:
                lines.append(f"{n}[...] = {saved}")
            else:
                lines.append(f"{n} = {saved}")
        return lines

    def _advance(self) -> Block:
        plain = copy.deepcopy(self.stmt.body)  # the loop's own statements, run forwards
        k = self.generator.names.fresh("k")
        if self.start == "0" and self.step == "1":
            return Block(f"for {self.var} in range({self.first}, {self.last}):", plain)
        return Block(
            f"for {k} in range({self.first}, {self.last}):", [self._set_variable(k), *plain]
        )

    def _next(self) -> str:
        names = f"{self.action}, {self.restore}, {self.first}, {self.last}, {self.slot}"
        return f"{names} = revolve_next({self.plan})"

    def _recorded_step(self, body: list) -> list:
        """Step ``last`` run by ``body`` (recording, or recording and reversing)."""
        return [self._set_variable(self.last), *body]

    def _action(self, recorded_and_reversed: list) -> list:
        """Carry out one action of the schedule (see ``sourcead_runtime.checkpoint``)."""
        return [
            Block(f"if {self.restore} >= 0:", self._snapshot_lines(take=False)),
            self._advance(),
            Block(f"if {self.action} == TAKE_SNAPSHOT:", self._snapshot_lines(take=True)),
            Block(
                "else:  # RECORD_STEP: record this step, then reverse it",
                self._recorded_step(recorded_and_reversed),
            ),
        ]

    def allocation(self, snapshots: str) -> list:
        """Lines that make the schedule and the snapshot buffers."""

        slots = self.generator.names.fresh("slots")
        lines = [
            f"{self.plan} = revolve_plan({self.trips}, {snapshots})",
            f"{slots} = revolve_slots({self.trips}, {snapshots})",
        ]
        for n in self.state:
            value_type = self.generator.types[n]
            if is_array_type(value_type):
                shape = f"({slots},) + {n}.shape"
                lines.append(f"{self.snapshots[n]} = np.empty({shape}, dtype={n}.dtype)")
            else:
                lines.append(
                    f"{self.snapshots[n]} = np.empty({slots}, dtype={tape_dtype(value_type)})"
                )
        return lines

    def snapshot_count(self, options: dict) -> tuple[list, str]:
        """Lines computing the number of snapshots, and the expression holding it."""

        if "snapshots" in options:
            return [], src(options["snapshots"])
        sizes = [
            f"{n}.nbytes" if is_array_type(self.generator.types[n]) else "8" for n in self.state
        ]
        count = self.generator.names.fresh("snapshots")
        budget = src(options["memory"])
        state_bytes = " + ".join(sizes) or "8"
        return [f"{count} = max(1, {budget} // ({state_bytes}))"], count

    def forward(self, options: dict, body_forward: list) -> list:
        # Up to the first recorded step the schedule only advances and takes snapshots: it
        # never restores one before the loop's last step has been reversed.
        size_lines, snapshots = self.snapshot_count(options)
        return [
            *size_lines,
            *self.allocation(snapshots),
            self._next(),
            Block(
                f"while {self.action} == TAKE_SNAPSHOT:",
                [self._advance(), *self._snapshot_lines(take=True), self._next()],
            ),
            Block(
                f"if {self.action} == RECORD_STEP:",
                [
                    self._advance(),
                    "# then the last step, recorded",
                    *self._recorded_step(body_forward),
                ],
            ),
        ]

    def backward(self, body_forward: list, body_backward: list) -> list:
        return [
            Block(
                f"if {self.action} == RECORD_STEP:  # the last step, reversed",
                [
                    *self._recorded_step(body_backward),
                    self._next(),
                    Block(
                        f"while {self.action} != DONE:",
                        [*self._action([*body_forward, *body_backward]), self._next()],
                    ),
                ],
            )
        ]


def _made_in_each_step(name: str, body: list) -> bool:
    """Whether ``name`` is the buffer of a fused statement (lowering/fusion.py) that the
    first statement of the loop body mentioning it takes again (``fused = scratch(fused,
    n)``) before writing every element it reads: no loop-carried state."""
    for stmt in body:
        if not any(isinstance(n, gast.Name) and n.id == name for n in gast.walk(stmt)):
            continue
        return (
            isinstance(stmt, gast.Assign)
            and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id == name
            and isinstance(stmt.value, gast.Call)
            and getattr(stmt.value.func, "id", None) == scratch.__name__
        )
    return False
