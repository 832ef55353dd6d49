"""Counted loops reversed in segments on the GPU: snapshots, and each segment run again.

A generated adjoint that records every step of a long loop writes its tapes to device
memory in the forward sweep and reads them back in the backward sweep; on a GPU that
traffic, not the arithmetic, sets the speed of such an adjoint. With
``vmap(..., target="cuda", checkpoint_every=K)`` the adjoint of a counted loop at the top
of a function (no ``break``, bounds the loop does not change, no array writes) instead:

* in the forward sweep, runs the loop recording nothing, and takes a snapshot of the loop
  state at the first step of every segment of K steps;
* in the backward sweep, for each segment from the last, restores its snapshot, runs its
  K steps again recording them on tapes one segment long, and reverses them.

The snapshots hold only what a segment needs to be run again: the values the steps read
before assigning them that the recorded values and the backward sweep depend on. A
segment's tape that each step pushes to at places outside inner loops is a local array
(``cuda.local.array`` of K times those places), so recording and reversing a segment
stays on chip; the others are columns of device memory. The price is running the loop's
steps a second time. Memory per thread: ``ceil(n / K)`` snapshots of that state in device
memory, plus K steps of tape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast

from ..analysis.types import is_array_type, tape_dtype
from ..trees.codegen import Block, build, is_comment, src
from ..trees.queries import stored_names


@dataclass
class DeviceTapeNotes:
    """What one pass of a device adjoint notes about its tapes, for the target that
    declares them and makes the host size them."""

    #: tape key -> length, of the tapes kept in local arrays (``cuda.local.array``)
    local: dict = field(default_factory=dict)
    #: a segment tape's top -> the name holding the count of its longest segment
    most: dict[str, str] = field(default_factory=dict)
    #: per segmented loop, the name counting the segments it ran
    counts: list[str] = field(default_factory=list)


class SegmentedLoop:
    """The forward and backward sweeps of one counted loop reversed in segments.

    Args:
        generator: the ``AdjointGenerator`` generating the function.
        notes: the device target's notes on the tapes of this pass.
        stmt: the loop (``for var in range(...)``).
        start, step: the range's start and step (gast expressions).
        trips: source of the loop's trip count.
        body_tapes: keys of the tapes the loop's body pushes to (used by no other code).
        steps: K, the steps of a segment.
    """

    def __init__(
        self,
        generator,
        notes: DeviceTapeNotes,
        stmt: gast.For,
        start,
        step,
        trips: str,
        body_tapes,
        steps,
        limit=None,
    ):
        self.generator = generator
        self.notes = notes
        self.stmt = stmt
        self.var = stmt.target.id
        self.start, self.step = src(start), src(step)
        self.trips = trips
        self.body_tapes = list(body_tapes)
        fresh = generator.names.fresh
        # a loop marked checkpointed(range(...), snapshots=s or memory=m): as many steps per
        # segment as keep the snapshots within s (or m bytes), computed when the loop starts
        self.limit = limit
        self.steps = fresh("segment_steps") if limit is not None else str(int(steps))
        self.trip_name = fresh("trips")
        self.segment, self.segments = fresh("segment"), fresh("segments")
        self.first, self.last = fresh("first"), fresh("last")
        self.k = fresh("k")

    # --- what a segment needs to run again ----------------------------------------------------
    def state(self, body_f: list, body_b: list) -> tuple[list[str], list[str]]:
        """(snapshot, saved once): the names a snapshot holds, and those kept from the loop's
        entry to its end.

        A snapshot holds the names the body reads before it assigns them (their values
        enter the step from the step before) that the backward sweep or what the steps
        record depend on. The other names the body assigns and the backward sweep reads are
        set anew by every step before they are read, so only their values from before the
        loop matter, to the code before it: they are kept once.
        """

        types = self.generator.types
        assigned = stored_names(self.stmt.body) - {self.var}
        needed = self.needed = _needed(body_f, body_b)
        entering = _read_before_assigned(self.stmt.body)
        snapshot = sorted(n for n in assigned & needed & entering if n in types)
        kept = sorted(n for n in assigned & needed - entering if n in types)
        return snapshot, kept

    # --- the sweeps ----------------------------------------------------------------------------
    def sweeps(self, body_f: list, body_b: list) -> tuple[list, list] | None:
        """(forward, backward) lines, or None where a snapshot would need an array."""

        g = self.generator
        snapshot, kept = self.state(body_f, body_b)
        if any(is_array_type(g.types[n]) for n in snapshot + kept):
            return None
        g.pushed.update(snapshot + kept)  # declared before the forward sweep
        # what the steps read must hold its value at the loop when a segment runs again:
        # later statements that overwrite it record it (no loop of theirs shares a reader)
        after_loop = (g.clock + 0.5, ())
        for node in gast.walk(gast.Module(body=self.stmt.body, type_ignores=[])):
            if isinstance(node, gast.Name) and node.id in g.types and node.id != self.var:
                g.readers.setdefault(node.id, set()).add(after_loop)
        snapshots = {}
        for n in snapshot:
            key = ("snapshot", n, id(self.stmt))
            if key not in g.tapes:
                tape = g.names.fresh(f"{n}_snapshots")
                g.tapes[key] = (tape, self.segments, tape_dtype(g.types[n]))
            snapshots[n] = g.tapes[key][0]
        tops = [g.tapes[key][1] for key in self.body_tapes]
        stores = {push_guard(tape, top) for tape, top, _ in map(g.tapes.get, self.body_tapes)}
        self._keep_tapes_local(body_f)
        most = {
            g.tapes[key][1]: g.names.fresh(f"{g.tapes[key][1]}_most")
            for key in self.body_tapes
            if key not in self.notes.local
        }
        self.notes.most.update(most)
        self.notes.counts.append(self.segments)
        kept_names = {n: g.names.fresh(f"{n}_before_loop") for n in kept}
        # the forward sweep counts only what tapes in device memory will need
        local_counts = {
            f"{g.tapes[key][1]} += 1" for key in self.body_tapes if key in self.notes.local
        }
        counting = _counting(body_f, stores, local_counts)
        return (
            self._forward(counting, snapshots, most, kept_names),
            self._backward(body_f, body_b, snapshots, tops, kept_names),
        )

    def _keep_tapes_local(self, body_f: list) -> None:
        """Tapes of a segment of a known number of steps, each step pushing to them at a
        known number of places outside inner loops, are local arrays of that length
        (``cuda.local.array``): on chip, not device memory (``DeviceTapeNotes.local``)."""
        if self.limit is not None:  # steps per segment computed at run time
            return
        for key in self.body_tapes:
            tape, top, _ = self.generator.tapes[key]
            sites = push_sites(body_f, push_guard(tape, top))
            if sites is not None:
                self.notes.local[key] = int(self.steps) * sites

    def _steps(self, first: str, stop: str, body: list, backwards: bool = False) -> Block:
        """The loop over steps ``first`` to ``stop`` (exclusive) running ``body``."""
        order = f"{stop} - 1, {first} - 1, -1" if backwards else f"{first}, {stop}"
        if self.start == "0" and self.step == "1":
            return Block(f"for {self.var} in range({order}):", body)
        value = f"{self.start} + {self.k} * {self.step}"
        return Block(f"for {self.k} in range({order}):", [f"{self.var} = {value}", *body])

    def _forward(self, counting, snapshots, most, kept_names) -> list:
        """``counting``: the step without the stores of its pushes; ``most``: the top of
        each tape in device memory -> the name of its longest segment's count."""
        tops = list(most)
        k_steps = self.steps
        take = [f"{tape}[{self.segments}] = {n}" for n, tape in snapshots.items()]
        room = " and ".join(f"{self.segments} < len({tape})" for tape in snapshots.values())
        segment_body: list = []
        if take:
            segment_body.append(Block(f"if {room}:", take))
        segment_body += [f"{self.segments} += 1", *(f"{top} = 0" for top in tops)]
        stop = f"min({self.first} + {k_steps}, {self.trip_name})"
        segment_body.append(self._steps(self.first, stop, counting))
        segment_body += [f"{m} = max({m}, {top})" for top, m in most.items()]
        return [
            f"{self.trip_name} = {self.trips}",
            *self._segment_length(snapshots),
            *(f"{saved} = {n}" for n, saved in kept_names.items()),
            f"# in segments of {k_steps} steps: a snapshot of the state at each segment's first",
            "# step; the backward sweep runs the segment again, recording it"
            + ("; the steps count what" if tops else ""),
            *(["# it will record"] if tops else []),
            Block(f"for {self.first} in range(0, {self.trip_name}, {k_steps}):", segment_body),
        ]

    def _segment_length(self, snapshots: dict) -> list[str]:
        """Lines that compute the steps per segment of a checkpointed loop (none else)."""
        if self.limit is None:
            return []
        if "snapshots" in self.limit:
            count = src(self.limit["snapshots"])
        else:  # memory=: the snapshots of 8-byte values that fit
            count = f"{src(self.limit['memory'])} // {8 * max(len(snapshots), 1)}"
        trips = self.trip_name
        return [f"{self.steps} = max(1, ({trips} + max(1, {count}) - 1) // max(1, {count}))"]

    def _backward(self, body_f, body_b, snapshots, tops, kept_names) -> list:
        run_again = [
            *(f"{n} = {tape}[{self.segment}]" for n, tape in snapshots.items()),
            *(f"{top} = 0" for top in tops),
            self._steps(self.first, self.last, _pruned(body_f, self.needed)),
        ]
        segment_body = [
            f"{self.first} = {self.segment} * {self.steps}",
            f"{self.last} = min({self.first} + {self.steps}, {self.trip_name})",
            "# run the segment again from its snapshot, recording it, then reverse it",
            *run_again,
            self._steps(self.first, self.last, body_b, backwards=True),
        ]
        return [
            Block(f"for {self.segment} in range({self.segments} - 1, -1, -1):", segment_body),
            *(f"{n} = {saved}" for n, saved in kept_names.items()),
        ]


# --- analyses of the loop's body ------------------------------------------------------------
def _loads(node) -> set[str]:
    return {
        n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    }


def _read_before_assigned(body: list) -> set[str]:
    """Names that ``body`` may read before assigning them: their values enter a step."""

    entering: set[str] = set()

    def visit(block: list, assigned: set[str]) -> set[str]:
        for stmt in block:
            if isinstance(stmt, gast.If):
                entering.update(_loads(stmt.test) - assigned)
                assigned = visit(stmt.body, set(assigned)) & visit(stmt.orelse, set(assigned))
            elif isinstance(stmt, gast.For):
                entering.update(_loads(stmt.iter) - assigned)
                visit(stmt.body, assigned | {stmt.target.id})
            elif isinstance(stmt, gast.While):
                entering.update(_loads(stmt.test) - assigned)
                visit(stmt.body, set(assigned))
            else:
                entering.update(_loads(stmt) - assigned)
                assigned = assigned | stored_names([stmt])
        return assigned

    visit(body, set())
    return entering


_PURE_MODULES = ("math", "np", "numpy", "cmath")


def _reads_memory(value) -> bool:
    """Whether an expression indexes an array or calls anything but a math function: run
    with a wrong input, it could read outside an array."""
    for node in gast.walk(value):
        if isinstance(node, gast.Subscript):
            return True
        if isinstance(node, gast.Call):
            func = node.func
            pure = (
                isinstance(func, gast.Attribute)
                and isinstance(func.value, gast.Name)
                and func.value.id in _PURE_MODULES
            ) or (isinstance(func, gast.Name) and func.id in ("min", "max", "abs", "float", "int"))
            if not pure:
                return True
    return False


def push_guard(tape: str, top: str) -> str:
    """The header of the block that stores a push to a device tape, while it has room."""
    return f"if {top} < len({tape}):"


def push_sites(body: list, store: str, in_loop: bool = False) -> int | None:
    """How many times a step may push to the tape whose store is ``store`` (its
    ``push_guard``): the places in ``body``, branches counted both, or None when a place
    is inside an inner loop."""
    sites = 0
    for line in body:
        if not isinstance(line, Block):
            continue
        if line.header == store:
            if in_loop:
                return None
            sites += 1
            continue
        loop = line.header.startswith(("for ", "while "))
        inner = push_sites(line.body, store, in_loop or loop)
        if inner is None:
            return None
        sites += inner
    return sites


def _counting(body: list, stores: set[str], uncounted: set[str]) -> list:
    """``body`` without the stores of its pushes (``if top < len(tape): ...``) and the
    ``uncounted`` lines (the counts of local tapes): it counts what each tape in device
    memory needs and records nothing."""
    return [
        Block(line.header, _counting(line.body, stores, uncounted))
        if isinstance(line, Block)
        else line
        for line in body
        if not (line.header in stores if isinstance(line, Block) else line in uncounted)
    ]


def _pruned(body: list, needed: set[str]) -> list:
    """``body`` without the assignments of names nothing needed depends on: run again, a
    segment computes only what its backward sweep and its tapes use."""
    kept = []
    for line in body:
        if isinstance(line, Block):
            kept.append(Block(line.header, _pruned(line.body, needed)))
            continue
        if not is_comment(line):
            (stmt,) = build([line])
            if isinstance(stmt, gast.Assign | gast.AugAssign):
                targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
                if (
                    len(targets) == 1
                    and isinstance(targets[0], gast.Name)
                    and targets[0].id not in needed
                    and not _reads_memory(stmt.value)
                ):
                    continue
        kept.append(line)
    return kept


def _needed(body_f: list, body_b: list) -> set[str]:
    """Names whose values the backward sweep of a step, or what the recording step stores,
    tests or indexes, depend on (through the step's assignments)."""
    forward = gast.Module(body=build(body_f), type_ignores=[])
    needed = _loads(gast.Module(body=build(body_b), type_ignores=[]))
    assignments = []
    for node in gast.walk(forward):
        if isinstance(node, gast.Assign | gast.AugAssign):
            targets = node.targets if isinstance(node, gast.Assign) else [node.target]
            if (
                len(targets) == 1
                and isinstance(targets[0], gast.Name)
                and not _reads_memory(node.value)
            ):
                assignments.append((targets[0].id, node))
            else:
                needed |= _loads(node)
        elif isinstance(node, gast.If | gast.While):
            needed |= _loads(node.test)
        elif isinstance(node, gast.For):
            needed |= _loads(node.iter)
        elif isinstance(node, gast.stmt) and not isinstance(node, gast.Module):
            needed |= _loads(node)
    changed = True
    while changed:
        changed = False
        for target, node in assignments:
            if target in needed:
                new = _loads(node) - needed  # an AugAssign loads its target too
                if new:
                    needed |= new
                    changed = True
    return needed
