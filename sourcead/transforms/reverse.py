"""Reverse mode: the adjoint of a normalised function, as Python source.

The generated function runs the forward sweep (the user's statements, plus pushes of the
values the backward sweep needs before they are overwritten) and then the backward sweep
(one adjoint block per statement, in reverse order, restoring overwritten values from the
tapes as it goes). Adjoints of expressions come from the rule templates in ``rules/``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import gast
import numpy as np

from ..analysis.activity import BIT_OPERATORS, active_names, differentiable_reads
from ..analysis.types import (
    INT,
    Array,
    Scalar,
    TupleType,
    is_array_type,
    tape_dtype,
    type_of_value,
)
from ..errors import SourceADError
from ..frontend.normalize import is_permutation, name, permutation_partners
from ..lowering.arrays import ArrayAdjoints, placeholder, shape_tuple
from ..rules.operators import OPERATOR_FUNCTIONS
from ..rules.registry import entries, rule_for, scalar_rule_for
from ..rules.templates import instantiate, substituted
from ..trees.codegen import Block, Comment, build, function_tree, index_source, src
from ..trees.names import NameGenerator
from ..trees.queries import (
    breaks_out,
    changed_names,
    element_written,
    has_break,
    parse_expression,
    read_names,
    stored_names,
    walk_statements,
    written_in_place,
)
from .aliases import refuse_changed_aliases
from .checkpoint import CheckpointedLoop
from .dead_code import without_dead_stores
from .distribute import CountedLoop, distributed
from .targets import CPU_TARGET, Target


def zero_literal(value_type) -> str:
    """Source of a zero of ``value_type`` (used to declare names and to reset adjoints)."""
    if isinstance(value_type, Scalar):
        if value_type.kind == "bool":
            return "False"
        if value_type.kind == "int":
            return "0"
        if value_type.dtype in ("float64", "complex128"):
            return "0.0" if value_type.kind == "float" else "0j"
        return f"np.{value_type.dtype}(0)"
    if isinstance(value_type, Array):
        return f"np.zeros({(0,) * value_type.ndim}, dtype=np.{value_type.dtype})"
    raise TypeError(value_type)


#: Passes over a function before its recording decisions must have settled (real functions
#: settle in a few passes: three at most in the test suite).
_MOST_PASSES = 50


@dataclass
class LoopFrame:
    """A loop enclosing the statement being generated.

    ``trips`` is the source of its trip count when that is known at loop entry (a ``range``
    loop without ``break``); pushes inside such loops are plain stores into a tape reserved
    before the loop (``reservations``: tape key -> counts), instead of checking for growth.
    """

    node_id: int  # id() of the loop statement: the same in every pass
    var: str | None  # a for loop's variable: the reversed loop sets it again
    trips: str | None
    bound_names: set[str]  # names its trip count reads
    assigned: set[str]  # names (and arrays written element-wise) the loop changes
    remaining: str | None = None  # its iterations left, counting the current one
    # (start, step, ids of the body's statements) of a top-level counted loop with a
    # constant step and no break: a value its body computes (at every iteration) from the
    # loop variable and unchanging names is restored by computing it for ``var - step``
    previous: tuple | None = None
    reservations: dict[str, list[str]] = field(default_factory=dict)
    expected: dict[str, list[str]] = field(default_factory=dict)  # with the outer loops' left


class AdjointGenerator:
    """Generates one adjoint function.

    Args:
        fn: the parsed user function (for error locations).
        node: its normalised tree.
        types: the type of every name (from ``TypeInference``).
        wrt: the parameters to differentiate with respect to.
        function_name: the name of the generated function.
        callee_adjoint: ``(call_node, active_argument_mask) -> name`` of the adjoint function
            generated for a call of a user function.
        target: the ``Target`` whose hooks decide where tapes live, which parameters the
            function takes and how adjoints accumulate (``targets.py``): the CPU's by default.
        differentiated_outputs: how many of the returned values, from the first, carry
            derivatives (``has_aux=True``: the value, not the aux); all by default. The
            others are returned as the forward sweep computed them, with no adjoint work.
    """

    #: False: a ``checkpointed`` loop is taped at every step like any other loop. Second
    #: derivatives ask for that: the tangent of an adjoint would have to carry Revolve's
    #: schedule and snapshots, and forward over the plain adjoint gives the same derivatives.
    checkpointing = True

    def __init__(
        self,
        fn,
        node,
        types,
        wrt,
        function_name,
        callee_adjoint,
        target: Target | None = None,
        differentiated_outputs: int | None = None,
    ):
        self.target = target if target is not None else CPU_TARGET
        self.fn = fn
        self.node = node
        self.types = types
        self.params = [a.id for a in node.args.args]
        self.wrt = list(wrt)
        self.function_name = function_name
        self.callee_adjoint = callee_adjoint
        returned = node.body[-1].value
        self.outputs = (
            [e.id for e in returned.elts] if isinstance(returned, gast.Tuple) else [returned.id]
        )
        self.body = node.body[:-1]
        differentiated = self.outputs[:differentiated_outputs]
        self.active = active_names(self.body, set(wrt), set(differentiated), types)
        self.sites, self.element_writes, self.in_loop_sites = _assignment_sites(self.body)
        self.first_definitions = _first_definitions(self.body, set(self.params))
        # parameters the function never assigns nor writes into
        self.unchanging = set(self.params) - stored_names(self.body) - self.element_writes
        # arrays whose adjoint the last statement reading them assigns whole (see
        # _assigned_adjoints): name -> id of that statement, and those read by one statement
        self.assigning_reader, self.single_reader = _assigned_adjoints(
            node, self.body, types, self.params, self.outputs
        )
        self._check_arrays()
        self._check_forward_only()
        self.written_params = (
            [
                p
                for p in self.params
                if ({p} | self.permutation_partners.get(p, set())) & self.element_writes
            ]
            if self.target.writes_parameters  # else the writes are not run, nor copies made
            else []
        )
        self.target.prepare(self)

    # --- the two passes: find what the backward sweep reads, then generate with the pushes --
    def generate(self) -> gast.FunctionDef:
        # Which overwritten values to record depends on where the backward sweep reads them,
        # and restoring a value can read more (an element's index): repeat until stable.
        self.prior_readers: dict[str, set] = {}
        self.prior_assigned: set[str] = set()
        source = self._pass()
        for _ in range(_MOST_PASSES):
            if self.readers == self.prior_readers and self.assigned == self.prior_assigned:
                break
            self.prior_readers = self.readers
            self.prior_assigned = self.assigned
            source = self._pass()
        else:  # never keep a pass whose recording decisions the next pass would change
            raise self.fn.error(
                f"sourcead could not settle which values the adjoint of {self.fn.name} must "
                f"record (after {_MOST_PASSES} passes); please report this function",
                self.node,
            )
        self._check_rebinding()
        header, lines = source  # built into a tree once, from the pass that settled
        return without_dead_stores(function_tree(header, lines))

    def _pass(self) -> tuple[str, list]:
        self.target.start_pass(self)
        self.names = NameGenerator(self.node)
        self.adjoint_names: dict[str, str] = {}
        self.tapes: dict[str, tuple[str, str, str]] = {}  # key -> (tape, top, dtype)
        self.saved: dict[tuple, str] = {}  # site key -> the local holding its one value
        self.saved_in_branches: dict[str, object] = {}  # such locals set in a branch -> type
        self.branches = 0  # how many if statements the current statement is in
        self.readers: dict[str, set] = {}  # name -> positions whose adjoint reads it
        self.pushed: set[str] = set()
        self.partials: set[str] = set()  # partial adjoints local to one statement
        self.shapes_pushed: set[str] = set()  # arrays whose shape is taped when rebound
        self.assigned: set[str] = set()  # arrays whose adjoint a reader assigned, this pass
        self.recomputed: set[str] = set()  # arrays restored by computing them again
        self.current_statement = None
        self.complex_statement = False  # whether the current statement reads complex values
        self.clock = 0
        self.position: tuple[int, tuple] = (0, ())
        self.frames: list[LoopFrame] = []
        self.defined_at_top = set(self.params)
        self.arrays = ArrayAdjoints(self)  # whole-array operations and tapes of arrays
        forward, backward = self.block(self.body, depth=0)
        return self._assemble(forward, backward)

    @property
    def needed(self) -> set[str]:
        """Names whose values the backward sweep reads."""
        return set(self.readers)

    def must_record(self, names) -> bool:
        """Whether a statement here that overwrites ``names`` must record their old values.

        It must when an adjoint reads one of them whose statement runs no later than this one
        in the forward sweep: this statement itself (its adjoint needs the old value), an
        earlier one, or any statement in a loop they share. Values read only by adjoints of
        later statements need no tape: the backward sweep reaches those adjoints first.
        """
        clock, loops = self.position
        for n in names:
            for reader_clock, reader_loops in self.prior_readers.get(n, ()):
                if reader_clock <= clock or set(reader_loops) & set(loops):
                    return True
        return False

    # --- assembling the function ---------------------------------------------------------
    def _assemble(self, forward: list, backward: list) -> tuple[str, list]:
        """The function's header and body lines, from the two sweeps' lines."""
        backward = backward + self.target.finish(self, forward, backward)
        seeds = [self.adj(o) for o in self.outputs]
        signature = ", ".join(self.params + self.extra_parameters() + [f"{s}=1.0" for s in seeds])
        lines: list = []
        for p in self.written_params:
            lines.append(f"{p} = {p}.copy()  # the caller's array is never modified")
        lines.extend(self.declare_tapes())
        defined_first = {n for n, _ in self.first_definitions.values()}
        for n in sorted(self.pushed - set(self.params) - defined_first):
            lines.append(f"{n} = {zero_literal(self.types[n])}  # declared for its tape")
        for n in sorted(
            self.shapes_pushed - set(self.params) - defined_first - set(self.arrays.tapes)
        ):
            lines.append(placeholder(n, self.types[n], "declared for its shape's tape"))
        for n in sorted(self.recomputed - self.shapes_pushed - set(self.params) - defined_first):
            lines.append(placeholder(n, self.types[n], "read after the loop that binds it"))
        for n in self.outputs:
            # a result set only on some paths (returns inside loops): Numba may prune the
            # others and then find it undefined
            if (
                n not in self.params
                and n not in defined_first
                and n not in self.pushed
                and isinstance(self.types.get(n), Scalar)
            ):
                lines.append(f"{n} = {zero_literal(self.types[n])}  # set on every path below")
        lines.append("# forward sweep")
        lines.extend(forward)
        lines.extend(self.end_of_forward())
        lines.append("# backward sweep")
        for n in sorted(self.active - set(self.outputs)):
            if self.types[n] is not None and n not in self.passed_adjoints:
                zero = (
                    f"np.zeros_like({n})"
                    if is_array_type(self.types[n])
                    else zero_literal(self.types[n])
                )
                if isinstance(self.types[n], Scalar) and self.types[n].kind == "int":
                    continue
                lines.append(f"{self.adj(n)} = {zero}")
        lines.extend(self.seeds_written_in_place(backward))
        lines.extend(backward)
        gradients = []
        for p in self.wrt:
            if p in self.active or p in self.passed_adjoints:
                gradients.append(self.adj(p))
            elif is_array_type(self.types.get(p)):
                gradients.append(f"np.zeros_like({p})")
            else:
                gradients.append("0.0")
        value = self.outputs[0] if len(self.outputs) == 1 else "(" + ", ".join(self.outputs) + ")"
        grads = "(" + ", ".join(gradients) + ("," if len(gradients) == 1 else "") + ")"
        lines.append(f"return {value}, {grads}")
        return f"def {self.function_name}({signature}):", lines

    def seeds_written_in_place(self, backward: list) -> list[str]:
        """Copies of the array seeds that the backward sweep writes into (``b_result[k] =
        0.0`` after an element write of the result): the seed is the caller's array."""
        if not self.copies_written_seeds:
            return []
        if not any(is_array_type(self.types.get(o)) for o in self.outputs):
            return []
        written = written_in_place(build(backward))
        lines = []
        for o in self.outputs:
            seed = self.adj(o)
            if is_array_type(self.types.get(o)) and seed in written:
                lines.append(f"{seed} = {seed}.copy()  # the seed is the caller's array")
        return lines

    # --- what the target decides (targets.py) ---------------------------------------------
    @property
    def copies_written_seeds(self) -> bool:
        """Whether array seeds the backward sweep writes into are copied first."""
        return self.target.copies_written_seeds

    @property
    def passed_adjoints(self) -> frozenset:
        """Parameters whose adjoint arrays the caller passes in (zeroed), instead of
        ``np.zeros_like``."""
        return self.target.passed_adjoints(self)

    def extra_parameters(self) -> list[str]:
        """Parameters after the user's and before the seeds."""
        return self.target.extra_parameters(self)

    def declare_tapes(self) -> list:
        """Lines before the forward sweep that create the tapes."""
        return self.target.declare_tapes(self)

    def declare_saved(self) -> list:
        """Locals that keep a value recorded in a branch (``a_saved``), set before the sweeps:
        Numba refuses a name that one path leaves unset."""
        return [f"{n} = {zero_literal(t)}" for n, t in self.saved_in_branches.items()]

    def end_of_forward(self) -> list:
        """Lines between the forward and the backward sweep."""
        return self.target.end_of_forward(self)

    # --- names ---------------------------------------------------------------------------
    def adj(self, n: str) -> str:
        if n not in self.adjoint_names:
            self.adjoint_names[n] = self.names.fresh(f"b_{n}")
        return self.adjoint_names[n]

    def tape(self, key, value_type) -> tuple[str, str]:
        """The tape (and its top) of ``key``: a name, or (name, statement) for one site."""
        if key not in self.tapes:
            base = (key[0] if isinstance(key, tuple) else key).replace(".", "_")
            self.tapes[key] = (
                self.names.fresh(f"{base}_tape"),
                self.names.fresh(f"{base}_top"),
                tape_dtype(value_type),
            )
        tape, top, _ = self.tapes[key]
        return tape, top

    def push(self, key: str, value_type, value: str) -> list:
        """Lines that record ``value`` for the backward sweep, at the current statement.

        Outside every loop a site runs once: a local keeps its value (on every target).
        Inside loops the target pushes it onto the site's tape (``Target.push``).
        """
        key = self.site_key(key)
        if not self.frames:
            saved = self.saved_name(key)
            if self.branches:  # declared before the sweeps, for Numba's typing
                self.saved_in_branches[saved] = value_type
            return [f"{saved} = {value}"]
        return self.target.push(self, key, value_type, value)

    def iterations_left(self, cover: int) -> list[str]:
        """The iterations left (the current one included) of the counted loops around loop
        ``cover`` (all the loops around, for ``len(self.frames)``), innermost first, up to
        the first loop that does not know them."""
        left = []
        for frame in reversed(self.frames[:cover]):
            if frame.remaining is None:
                break
            left.append(frame.remaining)
        return left

    def reserving_frame(self) -> int | None:
        """Index of the outermost loop whose entry can reserve room for a push here (None
        when the innermost loop's trip count is unknown at its entry)."""
        if not self.frames or self.frames[-1].trips is None:
            return None
        cover = len(self.frames) - 1
        while cover > 0:
            outer = self.frames[cover - 1]
            inner_bounds = set().union(*(f.bound_names for f in self.frames[cover:]))
            if (
                outer.trips is None
                or inner_bounds & outer.assigned
                or not inner_bounds <= self.defined_at_top
            ):
                break
            cover -= 1
        return cover

    def site_key(self, key: str) -> tuple:
        """The tape key of ``key`` pushed at the current statement.

        One tape per assignment site: a site's pushes and pops pair up last-in first-out by
        themselves, and the room reserved before a loop counts exactly its pushes.
        """
        return (key, self.position[0])

    def pop(self, key: str, value_type, target: str) -> list:
        key = self.site_key(key)
        if not self.frames:
            return [f"{target} = {self.saved_name(key)}"]
        tape, top = self.tape(key, value_type)
        return [f"{top} -= 1", f"{target} = {tape}[{top}]"]

    def saved_name(self, key: tuple) -> str:
        """The local that keeps the value a site outside every loop records (``a_saved``):
        no tape, and no branch to grow one, which made long straight-line functions slow to
        compile."""
        if key not in self.saved:
            self.saved[key] = self.names.fresh(f"{key[0].replace('.', '_')}_saved")
        return self.saved[key]

    def _records_name(self, n: str) -> bool:
        """Whether an assignment of the scalar ``n`` here pushes its old value."""
        if is_array_type(self.types.get(n)) or not self.must_record({n}):
            return False
        self.pushed.add(n)
        return True

    def reads(self, expr: gast.AST) -> None:
        """Note that the adjoint at the current position reads the names in ``expr``."""
        loop_vars = {f.var for f in self.frames if f.var is not None}
        for node in gast.walk(expr):
            if isinstance(node, gast.Name) and node.id in self.types:
                if node.id in loop_vars:
                    continue  # the reversed loop sets its variable itself
                self.readers.setdefault(node.id, set()).add(self.position)

    def comment(self, stmt) -> Comment:
        """The comment quoting a user statement above its adjoint, with its line."""
        return Comment(src(stmt).splitlines()[0], getattr(stmt, "lineno", None))

    def has_active(self, expr) -> bool:
        return bool(differentiable_reads(expr) & self.active)

    # --- statements ------------------------------------------------------------------------
    def block(self, body: list, depth: int) -> tuple[list, list]:
        forward, backward = [], []
        for stmt in body:
            f, b = self.statement(stmt, depth)
            forward.extend(f)
            backward[:0] = b
        return forward, backward

    def statement(self, stmt, depth: int) -> tuple[list, list]:
        self.clock += 1
        outer = self.position
        self.position = (self.clock, tuple(f.node_id for f in self.frames))
        enclosing, self.current_statement = self.current_statement, id(stmt)
        was_complex = self.complex_statement
        self.complex_statement = _reads_complex(stmt, self.types)
        try:
            return self._statement(stmt, depth)
        finally:
            self.position = outer
            self.current_statement = enclosing
            self.complex_statement = was_complex
            if depth == 0 and isinstance(stmt, gast.Assign):
                self.defined_at_top |= {
                    n.id for n in gast.walk(stmt.targets[0]) if isinstance(n, gast.Name)
                }

    def _statement(self, stmt, depth: int) -> tuple[list, list]:
        if isinstance(stmt, gast.Assign):
            if is_permutation(stmt):
                return self.permutation(stmt)
            value = stmt.value
            if isinstance(value, gast.Call) and value.callee.kind == "user":
                return self.user_call(stmt, depth)
            if isinstance(stmt.targets[0], gast.Tuple):  # w, v = np.linalg.eigh(a)
                return self.arrays.tuple_assign(stmt)
            if isinstance(stmt.targets[0], gast.Subscript):
                return self.element_assign(stmt)
            return self.name_assign(stmt)
        if isinstance(stmt, gast.If):
            return self.if_(stmt, depth)
        if isinstance(stmt, gast.For):
            return self.for_(stmt, depth)
        if isinstance(stmt, gast.While):
            return self.while_(stmt, depth)
        if isinstance(stmt, gast.Break):
            return ["break"], []
        if isinstance(stmt, gast.Pass):
            return [], []
        if isinstance(stmt, gast.Expr):
            raise self.fn.error("a call whose result is unused", stmt)
        raise self.fn.error(f"{type(stmt).__name__} statements are not supported", stmt)

    def name_assign(self, stmt) -> tuple[list, list]:
        target = stmt.targets[0].id
        forward, restore = [], []
        rebound = (
            is_array_type(self.types.get(target))
            and id(stmt) not in self.first_definitions
            and target in self.active
        )
        if self._records_name(target) and id(stmt) not in self.first_definitions:
            forward.extend(self.push(target, self.types[target], target))
            restore.extend(self.pop(target, self.types[target], target))
        elif (
            is_array_type(self.types.get(target))
            and id(stmt) not in self.first_definitions
            and self.arrays.records(target)
        ):  # an array rebound (u = u + dt * f(u)) whose old elements the gradient reads
            recomputed = self._recomputed_restore(stmt)
            if recomputed is not None:
                restore = recomputed
            else:
                forward, restore = self.arrays.push_array(target)
        old_shape, shape_pushes, shape_pops = None, [], []
        if rebound:  # the adjoint of the old binding has the old binding's shape
            old_shape, shape_pushes, shape_pops = self._old_shape(target, restored=bool(restore))
        assigned = set(self.assigned)
        adjoint = self._binding_adjoint(stmt, old_shape)
        reusing = self._reading_result(stmt, adjoint)
        if reusing is not None and rebound and restore:
            # the adjoint reads the result before the old value is restored, so the old
            # binding's shape cannot be read from it: taped instead (a few integers); the
            # adjoint is made again, its first assignments undone with the lines dropped
            old_shape, shape_pushes, shape_pops = self._old_shape(target, restored=False)
            self.assigned.intersection_update(assigned)
            adjoint = self._binding_adjoint(stmt, old_shape)
            reusing = self._reading_result(stmt, adjoint)
        forward.extend(shape_pushes)
        forward.append(src(stmt))
        if reusing is not None:  # the result is read before the old value is restored
            self.reads(stmt.targets[0])
            backward = shape_pops + reusing + restore
        else:
            backward = restore + shape_pops + adjoint
        return forward, ([self.comment(stmt)] + backward if backward else [])

    def _binding_adjoint(self, stmt, old_shape) -> list:
        """The adjoint lines of ``name = value`` (none for an inactive name)."""
        target = stmt.targets[0].id
        if target not in self.active:
            return []
        adjoint = self.assign_adjoint(target, stmt.value, old_shape, stmt)
        if id(stmt) in self.first_definitions and is_array_type(self.types.get(target)):
            reset = f"{self.adj(target)}.fill(0)"
            adjoint = [line for line in adjoint if line != reset]  # nothing before reads it
        return adjoint

    def _reading_result(self, stmt, adjoint: list) -> list | None:
        """``adjoint`` reading the name a call's result was bound to where it calls the same
        function again (``b * (1 - h ** 2)`` for ``h = np.tanh(s)``), when the target says
        results are kept and that changes a line; else None."""
        target = stmt.targets[0].id
        if not (
            adjoint
            and (self.target.reuses_results or self.keeps_results([target], stmt.value))
            and isinstance(stmt.value, gast.Call)
            and target not in read_names(stmt.value)
        ):
            return None
        reusing = _reusing_result(adjoint, stmt.value, target)
        if all(src(a) == src(b) for a, b in zip(reusing, build(adjoint), strict=True)):
            return None
        return reusing

    def keeps_results(self, targets: list, call: gast.Call) -> bool:
        """Whether the adjoint of ``call`` binding ``targets`` here reads their values where its
        rule calls the function again, on the CPU. One target must be an array: a whole-array
        function or a factorisation costs far more than reading its result. Outside loops the
        targets are bound once and need no tape; in a loop reading them tapes them (unless
        something else already does), which pays for factorisations (``np.linalg``,
        ``scipy.linalg``: cubic work against a tape of their results) but not for element-wise
        functions. (The GPU's target always reads results, ``Target.reuses_results``.)"""
        _, loops = self.position
        if not any(is_array_type(self.types.get(t)) for t in targets):
            return False
        return not loops or _factorises(call)

    def _locals(self, expr) -> set[str]:
        """The function's own names that ``expr`` reads (not modules and constants)."""
        return {n for n in read_names(expr) if n in self.types}

    def _recomputed_restore(self, stmt) -> list | None:
        """The restore of an array bound in a top-level counted loop from unchanging names
        and the loop variable only (``xc = x - means[k]``): computed again for the previous
        iteration (``if k != 0: xc = x - means[k - 1]``) instead of taped. It is the array's
        only binding, so nothing reads the value it had before the loop's first iteration.
        """
        target, value = stmt.targets[0].id, stmt.value
        if len(self.frames) != 1 or self.frames[0].previous is None:
            return None
        if self.sites.get(target) != 1 or target in self.element_writes:
            return None
        frame = self.frames[0]
        start, step, every_iteration = frame.previous
        if id(stmt) not in every_iteration:  # in a branch: the last binding may be older
            return None
        if not self._locals(value) <= self.unchanging | {frame.var} or any(
            isinstance(n, gast.Call) and n.callee.kind not in ("rule", "nondiff")
            for n in gast.walk(value)
        ):
            return None
        previous = substituted(value, {frame.var: parse_expression(f"({frame.var} - {src(step)})")})
        self.reads(value)
        self.recomputed.add(target)
        return [Block(f"if {frame.var} != {src(start)}:", [f"{target} = {src(previous)}"])]

    def _old_shape(self, array: str, restored: bool) -> tuple[str, list, list]:
        """The shape of ``array``'s binding before the current statement, in the backward
        sweep: its restored value's, or else taped (a few integers), as a rebinding may
        change it (``v = v[1:] * 2.0`` in a loop). Returns (shape, forward, backward) lines."""
        if restored:
            return f"{array}.shape", [], []
        self.shapes_pushed.add(array)
        ndim = self.types[array].ndim
        sizes = [self.names.fresh(f"{array}_shape_{k}") for k in range(ndim)]
        pushes, pops = [], []
        for k, size in enumerate(sizes):
            pushes.extend(self.push(f"{array}_shape_{k}", INT, f"{array}.shape[{k}]"))
            pops[:0] = self.pop(f"{array}_shape_{k}", INT, size)
        return shape_tuple(sizes), pushes, pops

    def reset_rebound(self, targets: list, stmt, restored: set) -> tuple[list, list, list]:
        """(forward, backward, resets): the lines that reset the adjoints of ``targets``, bound
        together by ``stmt`` (``u, s = f(m)``), to zeros shaped like the bindings before it,
        where the adjoints of earlier statements add into them; the shapes of old bindings
        not ``restored`` are taped, as a rebinding in a loop may change them."""
        forward, backward, resets = [], [], []
        for t in targets:
            adjoint = self.adj(t)
            if not is_array_type(self.types.get(t)):
                resets.append(f"{adjoint} = {zero_literal(self.types[t])}")
            elif id(stmt) in self.first_definitions:
                resets.append(f"{adjoint} = np.zeros_like({adjoint})")
            else:
                old_shape, pushes, pops = self._old_shape(t, restored=t in restored)
                forward.extend(pushes)
                backward.extend(pops)
                resets.append(f"{adjoint} = zeroed({adjoint}, {old_shape})")
        return forward, backward, resets

    def _fresh_adjoint(self, target: str, old_shape: str) -> str:
        dtype = self.types[target].dtype
        return f"{self.adj(target)} = np.zeros({old_shape}, dtype=np.{dtype})"

    def assign_adjoint(self, target: str, value, old_shape=None, stmt=None) -> list:
        lines: list = []
        contributions: list = []
        if old_shape is not None and any(
            isinstance(n, gast.Subscript)
            and isinstance(n.value, gast.Name)
            and n.value.id == target
            for n in gast.walk(value)
        ):  # v = v[1:] @ m: the new binding's adjoint is read while the old one's is formed,
            # in a fresh array of the old binding's shape (which may differ from the new one's:
            # every contribution to it is made for that shape)
            incoming = self.names.fresh(f"{self.adj(target)}_new")
            lines.append(f"{incoming} = {self.adj(target)}")
            lines.append(self._fresh_adjoint(target, old_shape))
            self.propagate(value, name(incoming), contributions, lines)
            lines.extend(self.accumulations(contributions))
            return lines
        self.propagate(value, name(self.adj(target)), contributions, lines)
        own = [c for key, c in contributions if key == ("name", target)]
        lines.extend(
            self.accumulations([(k, c) for k, c in contributions if k != ("name", target)])
        )
        if own:
            if old_shape is not None:
                lines[:0] = self._same_shape_check(target, old_shape, stmt)
            total = own[0]
            for c in own[1:]:
                total = gast.BinOp(left=total, op=gast.Add(), right=c)
            if src(total) != self.adj(target):
                lines.append(f"{self.adj(target)} = {src(total)}")
        elif is_array_type(self.types.get(target)) and target in self.outputs:
            # the seed is the caller's array: never modified
            lines.append(f"{self.adj(target)} = np.zeros_like({self.adj(target)})")
        elif target in self.prior_assigned:
            # the next adjoint to reach this name assigns it whole: no zeros needed, only
            # the old binding's shape (shapes_from_adjoints reads it)
            if old_shape is not None:
                lines.append(f"{self.adj(target)} = sized({self.adj(target)}, {old_shape})")
        elif is_array_type(self.types.get(target)) and old_shape is not None:
            # in place where the old binding has the new one's shape (adjoint arrays of the
            # function's own names are never aliased), else a new array
            lines.append(f"{self.adj(target)} = zeroed({self.adj(target)}, {old_shape})")
        elif is_array_type(self.types.get(target)):
            lines.append(f"{self.adj(target)}.fill(0)")
        else:
            lines.append(f"{self.adj(target)} = 0.0")
        return lines

    def _same_shape_check(self, target: str, old_shape: str, stmt) -> list:
        """Where the new binding is computed from the old one without restoring it, the
        adjoint assumes both have one shape; a program that changes it stops with an error."""
        if old_shape == f"{target}.shape":
            return []  # restored: the old binding itself is at hand
        where = f"{os.path.basename(self.fn.filename)}, line {getattr(stmt, 'lineno', '?')}"
        message = (
            f"sourcead: the array {target} ({where}) changes shape where its new value is "
            "computed from its old one; give the new array another name"
        )
        return [
            Block(
                f"if {self.adj(target)}.shape != {old_shape}:", [f"raise ValueError({message!r})"]
            )
        ]

    def shapes_from_adjoints(self, expr):
        """``expr`` reading ``b_x.shape`` for ``x.shape`` where ``x`` is an active array.

        At every point of the backward sweep an active array's adjoint has the shape of the
        array's binding there (``assign_adjoint`` resets it to the old binding's shape), so an
        array whose shape alone is read (``np.sum(p, axis=1)``'s adjoint) is not restored,
        and not taped, for that.
        """
        expr = copy.deepcopy(expr)
        for node in gast.walk(expr):
            if (
                isinstance(node, gast.Attribute)
                and node.attr == "shape"
                and isinstance(node.value, gast.Name)
                and node.value.id in self.active
                and is_array_type(self.types.get(node.value.id))
            ):
                node.value = name(self.adj(node.value.id))
        return expr

    def partial(self, base: str = "b_part") -> str:
        """A fresh name for a partial adjoint, assigned and read within one statement's
        adjoint (``distribute.py`` relies on that)."""
        temp = self.names.fresh(base)
        self.partials.add(temp)
        return temp

    def accumulations(self, contributions: list) -> list[str]:
        """The updates of the adjoints one statement contributes to.

        Contributions that read array elements are computed before the first update of an
        adjoint element: Numba cannot tell that the arrays do not overlap, so a load after
        a store is not reused from before it (a stencil's neighbours would be loaded
        twice). Every contribution reads primal values and the statement's own adjoint
        only, never the adjoints it updates, so the order does not change the result.
        """
        merged = _merged(contributions)
        whole_arrays = any(
            _has_slice(key[2]) if key[0] != "name" else is_array_type(self.types.get(key[1]))
            for key, _ in merged
        )
        if whole_arrays:
            return [self.accumulate(key, c) for key, c in merged]
        values, updates, stored = [], [], False
        for key, contribution in merged:
            if stored and any(isinstance(n, gast.Subscript) for n in gast.walk(contribution)):
                temp = self.partial()
                values.append(f"{temp} = {src(contribution)}")
                contribution = name(temp)
            updates.append(self.accumulate(key, contribution))
            stored = stored or key[0] != "name"
        return values + updates

    def accumulate(self, key, contribution) -> str:
        """The line that adds ``contribution`` to the adjoint ``key``: the target's, or by
        default an assignment, an in-place add, or the add of a slice."""
        line = self.target.accumulate(self, key, contribution)
        if line is not None:
            return line
        if key[0] == "name":
            reader = self.assigning_reader.get(key[1])
            if reader == self.current_statement and key[1] not in self.assigned:
                # the first contribution the backward sweep makes to this binding's adjoint
                self.assigned.add(key[1])
                value = src(contribution)
                if not (_makes_new_array(contribution) or self._may_share(key[1], contribution)):
                    # never an alias of an adjoint that is added to in place later
                    atomic = isinstance(contribution, gast.Name | gast.Call | gast.Subscript)
                    value = f"{value if atomic else _parenthesised(value)}.copy()"
                return f"{self.adj(key[1])} = {value}"
            product = _unbroadcast_product(contribution)
            if product is not None and is_array_type(self.types.get(key[1])):
                # summed into the adjoint in one pass, without the product's temporary
                left, right = (src(operand) for operand in product)
                return f"{self.adj(key[1])} = add_product({self.adj(key[1])}, {left}, {right})"
            return f"{self.adj(key[1])} += {src(contribution)}"
        _, array, index = key
        if _has_slice(index):  # a[1:-1], w[:, None] (reverse_arrays.py)
            return self.arrays.accumulate_slice(self.adj(array), array, index, contribution)
        return f"{self.adj(array)}[{index_source(index)}] += {src(contribution)}"

    def _may_share(self, array: str, contribution) -> bool:
        """Whether ``array``'s adjoint may be the very array ``contribution`` evaluates to.

        It may when ``contribution`` is (the ``unbroadcast`` of) the adjoint of a name that
        its own last reader assigns: that adjoint's array is only read once it reaches here
        (the binding's adjoint keeps it as it is, the next contribution assigns a new one),
        and ``array`` is read by this statement alone, so nothing adds to it in place.
        """
        if isinstance(contribution, gast.Call) and src(contribution.func) == "unbroadcast":
            contribution = contribution.args[0]
        if not isinstance(contribution, gast.Name):
            return False
        source = next(
            (n for n in self.prior_assigned if self.adjoint_names.get(n) == contribution.id), None
        )
        return source is not None and array in self.single_reader

    def element_assign(self, stmt) -> tuple[list, list]:
        target = stmt.targets[0]
        array, index = target.value.id, target.slice
        element = f"{array}[{index_source(index)}]"
        forward, backward = [], []
        self.arrays.check_index(index, stmt)  # integers and slices only
        # h[t] = ... with h of two or more axes writes a row: a slice write, not an element's
        row = not _has_slice(index) and self.arrays.is_array(target)
        sliced = _has_slice(index) or row
        if row and self.must_record({array} | self.permutation_partners.get(array, set())):
            forward, backward = self.arrays.push_row(array, element)
            self.reads(index)
        elif sliced and self.must_record({array} | self.permutation_partners.get(array, set())):
            # the whole array, before a slice write
            forward, backward = self.arrays.push_array(array)
            self.reads(index)
        elif not getattr(stmt, "fills_new_array", False) and self.must_record(
            {array} | self.permutation_partners.get(array, set())
        ):  # (the elements a fused loop fills were never set: nothing to restore)
            dtype = Scalar("float", self.types[array].dtype)
            forward.extend(self.push(array, dtype, element))
            backward.extend(self.pop(array, dtype, element))
            self.reads(index)
        if self.target.writes_parameters or array not in self.params:
            forward.append(src(stmt))
        if array in self.active:
            self.reads(index)
            group = {array} | self.permutation_partners.get(array, set())
            reads_itself = any(
                isinstance(n, gast.Name) and n.id in group for n in gast.walk(stmt.value)
            )
            adjoint_element = f"{self.adj(array)}[{index_source(index)}]"
            contributions: list = []
            lines: list = []
            if sliced:  # the adjoint of the slice, summed where the value was broadcast
                g = self.names.fresh(f"b_{array}_slice")
                lines.append(f"{g} = {adjoint_element}.copy()")
                lines.append(f"{adjoint_element} = 0.0")
                g_node = self.arrays.slice_adjoint(name(g), stmt.value, self.arrays.type_of(target))
                self.propagate(stmt.value, g_node, contributions, lines)
                lines.extend(self.accumulate(k, c) for k, c in contributions)
            elif reads_itself:
                g = self.partial(f"b_{array}_element")
                lines.append(f"{g} = {adjoint_element}")
                lines.append(f"{adjoint_element} = 0.0")
                self.propagate(stmt.value, name(g), contributions, lines)
                lines.extend(self.accumulations(contributions))
            else:
                g_node = gast.parse(adjoint_element).body[0].value
                self.propagate(stmt.value, g_node, contributions, lines)
                lines.extend(self.accumulations(contributions))
                lines.append(f"{adjoint_element} = 0.0")
            backward.extend(lines)
        return forward, ([self.comment(stmt)] + backward if backward else [])

    def permutation(self, stmt) -> tuple[list, list]:
        targets = [e.id for e in stmt.targets[0].elts]
        values = [e.id for e in stmt.value.elts]
        # Undoing the permutation reads the permuted scalars: a later overwrite of one of
        # them must record its old value, or the undone permutation restores a wrong value.
        for n in stmt.value.elts:
            if not is_array_type(self.types.get(n.id)):
                self.reads(n)
        backward = []
        backward.append(f"{', '.join(values)} = {', '.join(targets)}")
        # The adjoints move back the same way: each value's adjoint becomes that of the name
        # it went to (zero where that name has no derivative; a value without a derivative
        # needs none back).
        pairs = [(v, t) for v, t in zip(values, targets, strict=True) if v in self.active]
        if pairs:
            moved = []
            for v, t in pairs:
                if t in self.active:
                    moved.append(self.adj(t))
                elif is_array_type(self.types.get(v)):
                    moved.append(f"np.zeros_like({v})")
                else:
                    moved.append(zero_literal(self.types[v]))
            backward.append(f"{', '.join(self.adj(v) for v, _ in pairs)} = {', '.join(moved)}")
        return [src(stmt)], [self.comment(stmt)] + backward

    def user_call(self, stmt, depth: int) -> tuple[list, list]:
        call = stmt.value
        target = stmt.targets[0]
        targets = [target.id] if isinstance(target, gast.Name) else [e.id for e in target.elts]
        forward, restore, restored = [], [], set()
        for t in targets:
            if self._records_name(t):
                forward.extend(self.push(t, self.types[t], t))
                restore[:0] = self.pop(t, self.types[t], t)
                restored.add(t)
            elif (
                is_array_type(self.types.get(t))
                and id(stmt) not in self.first_definitions
                and self.arrays.records(t)
            ):  # an array result rebound (in a loop, say) whose old elements are read later
                saved, popped = self.arrays.push_array(t)
                forward.extend(saved)
                restore[:0] = popped
                restored.add(t)
        active_targets = [t for t in targets if t in self.active]
        shape_pushes, shape_pops, resets = self.reset_rebound(active_targets, stmt, restored)
        forward.extend(shape_pushes)
        restore.extend(shape_pops)
        forward.append(src(stmt))
        mask = [
            self.has_active(arg) and getattr(self.types_of(arg), "differentiable", False)
            for arg in call.args
        ]
        if not any(mask) or not active_targets:
            backward = restore + resets
            return forward, ([self.comment(stmt)] + backward if backward else [])
        callee = self.callee_adjoint(call, mask)
        for arg in call.args:
            self.reads(arg)
        seeds = [self.adj(t) if t in self.active else "0.0" for t in targets]
        gradient_names = [
            self.names.fresh(f"b_{_hint(arg)}_from_{call.callee.target.__name__}")
            for arg, m in zip(call.args, mask, strict=True)
            if m
        ]
        args = ", ".join([src(a) for a in call.args] + seeds)
        grads = ", ".join(gradient_names) + ("," if len(gradient_names) == 1 else "")
        lines = [f"_, ({grads}) = {callee}({args})", *resets]
        contributions: list = []
        active_args = [a for a, m in zip(call.args, mask, strict=True) if m]
        for arg, g in zip(active_args, gradient_names, strict=True):
            self.propagate(arg, name(g), contributions, lines)
        lines.extend(self.accumulations(contributions))
        return forward, [self.comment(stmt)] + restore + lines

    def types_of(self, expr):
        if isinstance(expr, gast.Name):
            return self.types.get(expr.id)
        if isinstance(expr, gast.Constant):
            return None
        return Scalar("float", "float64") if self.has_active(expr) else None

    # --- control flow --------------------------------------------------------------------------
    def record(
        self, key: str, value_type, value_name: str, depth: int, forward: list, backward: list
    ) -> None:
        """Keep ``value_name`` for the backward sweep: on a tape inside loops, else in place."""
        if depth > 0:
            forward.extend(self.push(key, value_type, value_name))
            backward[:0] = self.pop(key, value_type, value_name)

    def if_(self, stmt, depth: int) -> tuple[list, list]:
        self.branches += 1
        try:
            body_f, body_b = self.block(stmt.body, depth)
            else_f, else_b = self.block(stmt.orelse, depth)
        finally:
            self.branches -= 1
        if not body_b and not else_b:
            forward = [Block(f"if {src(stmt.test)}:", body_f)]
            if else_f:
                forward.append(Block("else:", else_f))
            return forward, []
        assigned = changed_names(stmt.body + stmt.orelse)
        test_names = {n.id for n in gast.walk(stmt.test) if isinstance(n, gast.Name)}
        forward, backward = [], []
        if test_names & assigned:
            branch = self.names.fresh("branch")
            forward.append(f"{branch} = {src(stmt.test)}")
            self.record(branch, Scalar("bool", "bool"), branch, depth, forward, backward)
            test = branch
        else:
            self.reads(stmt.test)
            test = src(stmt.test)
        forward.append(Block(f"if {test}:", body_f))
        if else_f:
            forward.append(Block("else:", else_f))
        if body_b:
            backward.append(Block(f"if {test}:", body_b))
            if else_b:
                backward.append(Block("else:", else_b))
        else:
            backward.append(Block(f"if not {_parenthesised(test)}:", else_b))
        return forward, backward

    def for_(self, stmt, depth: int) -> tuple[list, list]:
        var = stmt.target.id
        args = stmt.iter.args
        start, stop, step = (
            (gast.Constant(value=0, kind=None), args[0], gast.Constant(value=1, kind=None))
            if len(args) == 1
            else (
                args[0],
                args[1],
                args[2] if len(args) == 3 else gast.Constant(value=1, kind=None),
            )
        )
        if getattr(stmt, "checkpoint", None) is not None and self.checkpointing:
            return self.checkpointed_for(stmt, depth, start, stop, step)
        # the loop changes its variable too: range(i, 0, -3) read i before the loop, which the
        # backward sweep cannot read again after it
        assigned = changed_names(stmt.body) | {var}
        bound_names = {n.id for a in args for n in gast.walk(a) if isinstance(n, gast.Name)}
        exits_early = has_break(stmt.body)
        forward, backward = [], []
        record_var = self._records_name(var)
        if record_var:
            forward.extend(self.push(var, self.types[var], var))
        frame = LoopFrame(
            node_id=id(stmt),
            var=None if var in stored_names(stmt.body) else var,
            trips=None if exits_early else _trip_count_source(start, stop, step),
            bound_names=bound_names,
            assigned=assigned | {var} | element_written(stmt.body),
        )
        if frame.trips is not None and frame.var is not None and not bound_names & assigned:
            frame.remaining = f"trip_count({var}, {src(stop)}, {src(step)})"
        if (
            depth == 0
            and frame.var is not None
            and not exits_early
            and isinstance(step, gast.Constant)
            and self._locals(start) <= self.unchanging
        ):
            frame.previous = (start, step, {id(s) for s in stmt.body})
        self.frames.append(frame)
        tapes_before = set(self.tapes)
        try:
            body_f, body_b = self.block(stmt.body, depth + 1)
        finally:
            self.frames.pop()
        body_tapes = [key for key in self.tapes if key not in tapes_before]
        forward.extend(self.target.reservations(self, frame))
        header = f"for {var} in {src(stmt.iter)}:"
        if not body_b:
            forward.append(Block(header, body_f))
            if record_var:
                backward.extend(self.pop(var, self.types[var], var))
            return forward, backward
        if not exits_early and not (bound_names & assigned):
            for a in args:
                self.reads(a)
            segmented = self.target.reversed_in_segments(
                self, stmt, start, step, frame.trips, body_tapes, body_f, body_b
            )
            if segmented is not None:
                forward.extend(segmented[0])
                backward.extend(segmented[1])
                if record_var:
                    backward.extend(self.pop(var, self.types[var], var))
                return forward, backward
            forward.append(Block(header, body_f))
            loop = CountedLoop(
                reversed_header=f"for {var} in {_reversed_range(start, stop, step)}:",
                header=header,
                var=var,
                trips=frame.trips,
                start=src(start) if isinstance(step, gast.Constant) and step.value == 1 else None,
            )
            backward.extend(distributed(loop, body_b, self.partials))
        else:
            trips = self.names.fresh("trips")
            loop_start, loop_step = src(start), src(step)
            if bound_names & assigned:
                for label, expr in (("start", start), ("step", step)):
                    if not isinstance(expr, gast.Constant):
                        saved = self.names.fresh(f"loop_{label}")
                        forward.append(f"{saved} = {src(expr)}")
                        self.record(saved, Scalar("int", "int64"), saved, depth, forward, backward)
                        if label == "start":
                            loop_start = saved
                        else:
                            loop_step = saved
            else:
                self.reads(start)
                self.reads(step)
            forward.append(f"{trips} = 0")
            forward.append(Block(header, [f"{trips} += 1", *body_f]))
            after = []
            self.record(trips, Scalar("int", "int64"), trips, depth, after, backward)
            forward.extend(after)
            if loop_start == "0" and loop_step == "1":
                reverse_header = f"for {var} in range({trips} - 1, -1, -1):"
                backward.append(Block(reverse_header, body_b))
            else:
                k = self.names.fresh("k")
                backward.append(
                    Block(
                        f"for {k} in range({trips} - 1, -1, -1):",
                        [f"{var} = {loop_start} + {k} * {_parenthesised(loop_step)}", *body_b],
                    )
                )
        if record_var:
            backward.extend(self.pop(var, self.types[var], var))
        return forward, backward

    def checkpointed_for(self, stmt, depth: int, start, stop, step) -> tuple[list, list]:
        """A ``for t in checkpointed(range(...), ...)`` loop: at the top of the function and
        running all its steps, reversed as the target decides (``Target.checkpointed_loop``)."""
        if depth > 0:
            raise self.fn.error("a checkpointed loop must not be inside another loop", stmt)
        if breaks_out(stmt.body):  # (an inner loop may break: it leaves only itself)
            raise self.fn.error(
                "a checkpointed loop must run all its steps (no break or return inside it)", stmt
            )
        return self.target.checkpointed_loop(self, stmt, depth, start, stop, step)

    def revolve(self, stmt, depth: int, start, stop, step) -> tuple[list, list]:
        """A checkpointed loop reversed by binomial checkpointing (``checkpoint.py``)."""
        var = stmt.target.id
        forward, backward = [], []
        record_var = self._records_name(var)
        if record_var:
            forward.extend(self.push(var, self.types[var], var))
        bounds = []
        for label, expr in (("start", start), ("step", step)):
            if isinstance(expr, gast.Constant):
                bounds.append(src(expr))
            else:
                saved = self.names.fresh(f"loop_{label}")
                forward.append(f"{saved} = {src(expr)}")
                bounds.append(saved)
        trips = self.names.fresh("trips")
        forward.append(f"{trips} = trip_count({src(start)}, {src(stop)}, {src(step)})")
        loop = CheckpointedLoop(self, stmt, bounds[0], bounds[1], trips)
        self.pushed.update(n for n in loop.state if not is_array_type(self.types[n]))
        # one step at a time is recorded: its pushes are popped before the next is recorded
        frame = LoopFrame(node_id=id(stmt), var=None, trips=None, bound_names=set(), assigned=set())
        self.frames.append(frame)
        try:
            body_f, body_b = self.block(stmt.body, depth + 1)
        finally:
            self.frames.pop()
        # The schedule runs steps again during the backward sweep: what they read must then
        # hold its value at the loop, so later statements that overwrite it record it.
        after_body = (self.clock + 0.5, self.position[1])
        for statement in stmt.body:
            for node in gast.walk(statement):
                if isinstance(node, gast.Name) and node.id in self.types and node.id != var:
                    self.readers.setdefault(node.id, set()).add(after_body)
        forward.extend(loop.forward(stmt.checkpoint, body_f))
        backward.extend(loop.backward(body_f, body_b))
        if record_var:
            backward.extend(self.pop(var, self.types[var], var))
        return forward, backward

    def check_snapshot_array(self, array: str, loop) -> None:
        """A checkpointed loop's snapshots copy arrays in place: they must not be rebound."""
        for stmt in walk_statements(loop.body):
            if (
                isinstance(stmt, gast.Assign)
                and isinstance(stmt.targets[0], gast.Name)
                and stmt.targets[0].id == array
            ):
                yours = any(
                    isinstance(n, gast.Name) and n.id == array for n in gast.walk(self.fn.node)
                )
                if not yours:  # a part of a whole-array statement, named by the passes
                    raise self.fn.error(
                        "this statement makes new arrays inside a checkpointed loop (its "
                        f"whole-array form names one {array}); snapshots copy arrays in place: "
                        "write it as element loops (an element-wise statement of vectors is one)",
                        stmt,
                    )
                raise self.fn.error(
                    f"the array {array} is bound to a new array inside a checkpointed loop; "
                    "write into it element by element (snapshots copy arrays in place)",
                    stmt,
                )

    def while_(self, stmt, depth: int) -> tuple[list, list]:
        frame = LoopFrame(node_id=id(stmt), var=None, trips=None, bound_names=set(), assigned=set())
        self.frames.append(frame)
        try:
            body_f, body_b = self.block(stmt.body, depth + 1)
        finally:
            self.frames.pop()
        if not body_b:
            return [Block(f"while {src(stmt.test)}:", body_f)], []
        trips = self.names.fresh("trips")
        forward = [f"{trips} = 0", Block(f"while {src(stmt.test)}:", [f"{trips} += 1", *body_f])]
        backward: list = []
        after: list = []
        self.record(trips, Scalar("int", "int64"), trips, depth, after, backward)
        forward.extend(after)
        iteration = self.names.fresh("iteration")
        backward.append(Block(f"for {iteration} in range({trips}):", body_b))
        return forward, backward

    # --- expressions -----------------------------------------------------------------------------
    def propagate(self, expr, g, contributions: list, lines: list) -> None:
        """Append ``(key, contribution)`` pairs for the active names that ``expr`` reads."""
        if isinstance(expr, gast.Name):
            if expr.id in self.active:
                contributions.append((("name", expr.id), self.real_part(expr.id, g)))
            return
        if isinstance(expr, gast.Subscript):
            if isinstance(expr.value, gast.Name) and expr.value.id in self.active:
                self.reads(expr.slice)
                g = self.real_part(expr.value.id, g)
                contributions.append((("elem", expr.value.id, expr.slice), g))
            return
        if isinstance(expr, gast.Call) and expr.callee.kind == "copy":
            self.propagate(expr.func.value, g, contributions, lines)
            return
        if _part_of_real(expr, self.arrays.type_of):
            # np.real(x) of a real x is x, and np.imag(x) a constant zero: their complex
            # rules would add complex adjoints into a real one
            if expr.callee.target is np.real:
                self.propagate(expr.args[0], g, contributions, lines)
            return
        if self.arrays.handles(expr):  # operations on whole arrays (reverse_arrays.py)
            self.arrays.propagate(expr, g, contributions, lines)
            return
        if isinstance(expr, gast.BinOp):
            rule, args = (
                scalar_rule_for(OPERATOR_FUNCTIONS.get(type(expr.op))),
                [expr.left, expr.right],
            )
        elif isinstance(expr, gast.UnaryOp):
            rule, args = scalar_rule_for(OPERATOR_FUNCTIONS.get(type(expr.op))), [expr.operand]
        elif isinstance(expr, gast.Call) and expr.callee.kind == "rule":
            rule, args = scalar_rule_for(expr.callee.target), expr.args
            if self._complex_numbers(args):  # |z|: the general rule, not the real one's sign
                general = rule_for(expr.callee.target, arrays=True)
                rule = general if general is not None and not general.body else rule
            if len(args) != len(rule.params):
                raise self.fn.error(
                    f"{src(expr.func)} is differentiable with {len(rule.params)} argument(s), "
                    f"called with {len(args)}",
                    expr,
                )
        else:
            return  # constants, comparisons, non-differentiable calls
        if rule is None:
            return
        active_args = [a for a in args if self.has_active(a)]
        if not active_args:
            return
        if len(active_args) > 1 and not isinstance(g, gast.Name | gast.Constant):
            temp = self.partial()
            lines.append(f"{temp} = {src(g)}")
            g = name(temp)
        for arg, contribution in zip(args, instantiate(rule, g, list(args)), strict=True):
            if contribution is not None and self.has_active(arg):
                self.reads(contribution)
                self.propagate(arg, contribution, contributions, lines)

    def real_part(self, n: str, g):
        """``g``, an adjoint flowing into the real value ``n`` from a statement that reads
        complex values, as its real part: L's gradient with respect to a real x is dL/dx,
        the real part of the complex adjoint (JAX's convention; docs/arrays.md)."""
        if not self.complex_statement or getattr(self.types.get(n), "kind", None) != "float":
            return g
        return gast.Call(func=parse_expression("np.real"), args=[g], keywords=[])

    def _complex_numbers(self, args) -> bool:
        """Whether a scalar rule's arguments hold complex numbers (their rules are then the
        entry's general ones: ``np.abs`` of a complex number is not a sign)."""
        return any(getattr(self.arrays.type_of(a), "kind", None) == "complex" for a in args)

    # --- checks ------------------------------------------------------------------------------------
    def _check_arrays(self) -> None:
        """Refuse aliasing between array names; note which arrays swap names."""
        self.permutation_partners = permutation_partners(self.body)
        self.array_rebinds: dict[str, list] = {}
        self.statements_in_loops = {
            id(s)
            for loop in walk_statements(self.body)
            if isinstance(loop, gast.For | gast.While)
            for s in walk_statements(loop.body)
        }
        refuse_changed_aliases(self.fn, self.node, self.body, self.types, self.outputs)
        for stmt in walk_statements(self.body):
            if is_permutation(stmt):
                continue
            if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
                target = stmt.targets[0].id
                if not is_array_type(self.types.get(target)):
                    continue
                self.array_rebinds.setdefault(target, []).append(stmt)

    def _check_forward_only(self) -> None:
        """Refuse the helpers of generated adjoints that only forward mode differentiates."""
        for node in gast.walk(self.node):
            if isinstance(node, gast.Call) and getattr(node, "callee", None) is not None:
                if node.callee.kind == "forward_only":
                    raise self.fn.error(
                        f"{src(node.func)} belongs to generated adjoint code, which reverse mode "
                        "does not differentiate again (use sourcead.hessian or sourcead.hvp)",
                        node,
                    )

    def _check_rebinding(self) -> None:
        """Arrays rebound while the backward sweep needs their old elements are taped whole
        (``ArrayAdjoints.push_array``), so nothing is refused here any more."""


def _assigned_adjoints(node, body: list, types: dict, params: list, outputs: list) -> dict:
    """Arrays whose adjoint the backward sweep can assign instead of zeroing and adding to.

    An array ``t`` qualifies when one statement binds it (``t = ...``, no element writes) and
    every read of it is a whole-name read in a later statement of the same block, with no
    jump in between: each binding is then read by those statements exactly once. Their
    adjoints run in reverse order, so the last reader's is the first contribution after the
    binding's own adjoint (or after the start of the backward sweep): it assigns
    ``b_t = ...`` (a new array), the other readers add to it, and the binding's adjoint
    leaves ``b_t`` as it is instead of filling it with zeros. This saves two passes over
    the array, e.g. for the temporaries of ``np.sum(lx * lx, axis=1)``. Returns the map from
    ``t`` to the id of its last reader, and the set of those read by one statement; float64
    arrays only (other dtypes keep the in-place add's cast).
    """
    if any(getattr(t, "kind", None) == "complex" or getattr(t, "dtype", "").startswith("complex")
           for t in types.values() if t is not None):  # fmt: skip
        return {}, set()
    sites, element_writes, _ = _assignment_sites(body)
    loop_targets = {s.target.id for s in walk_statements(body) if isinstance(s, gast.For)}
    loads: dict[str, int] = {}
    partly_read = set()  # names read as t[...] or t.attr: their adjoint is updated in part
    for n in gast.walk(node):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            loads[n.id] = loads.get(n.id, 0) + 1
        if isinstance(n, gast.Subscript | gast.Attribute) and isinstance(n.value, gast.Name):
            partly_read.add(n.value.id)
    found: dict = {}
    single_reader: set = set()  # of those, the arrays read by one statement

    def visit(block: list) -> None:
        for position, stmt in enumerate(block):
            for part in ("body", "orelse"):
                visit(getattr(stmt, part, []) or [])
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            t = stmt.targets[0].id
            value_type = types.get(t)
            if (
                not isinstance(value_type, Array)
                or value_type.dtype != "float64"
                or sites.get(t) != 1
                or t in element_writes | partly_read | loop_targets | set(params) | set(outputs)
                or not loads.get(t)
            ):
                continue
            readers, seen = [], 0
            for later in block[position + 1 :]:
                if any(isinstance(n, gast.Break | gast.Continue | gast.Return)
                       for n in gast.walk(later)):  # fmt: skip
                    break
                count = sum(
                    isinstance(n, gast.Name) and n.id == t and isinstance(n.ctx, gast.Load)
                    for n in gast.walk(later)
                )
                if count:
                    readers.append(later)
                    seen += count
                if seen == loads[t]:
                    break
            if seen != loads[t] or not all(_plain_reader(r) for r in readers):
                continue
            found[t] = id(readers[-1])
            if len(readers) == 1:
                single_reader.add(t)

    visit(body)
    return found, single_reader


def _plain_reader(stmt) -> bool:
    """A statement whose adjoint adds its contributions through ``accumulate``."""
    return (
        isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Name | gast.Subscript)
        and not is_permutation(stmt)
        and not (isinstance(stmt.value, gast.Call) and stmt.value.callee.kind == "user")
    )


#: Helpers (sourcead_runtime) whose result is always a new array, by the name templates call.
_NEW_ARRAY_HELPERS = {f.__name__ for e in entries() if e.new_array for f in e.functions}


def _makes_new_array(expr) -> bool:
    """Whether ``expr`` surely evaluates to a new array (arithmetic does; ``unbroadcast`` may
    return its argument, and ``np.transpose`` a view)."""
    if isinstance(expr, gast.BinOp | gast.UnaryOp):
        return True
    if not (isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name)):
        return False
    if expr.func.id == "unbroadcast":  # its argument itself, or a new sum of it
        return _makes_new_array(expr.args[0])
    return expr.func.id in _NEW_ARRAY_HELPERS


def _unbroadcast_product(contribution) -> tuple | None:
    """The operands ``(g, w)`` of a contribution ``unbroadcast(g * w, shape)``, else None."""
    if not (
        isinstance(contribution, gast.Call)
        and isinstance(contribution.func, gast.Name)
        and contribution.func.id == "unbroadcast"
        and len(contribution.args) == 2
        and not contribution.keywords
    ):
        return None
    value = contribution.args[0]
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.Mult):
        return value.left, value.right
    return None


def _merged(contributions: list) -> list:
    """Contributions to the same adjoint (or adjoint element) summed into one update.

    ``b_u[i] += p`` and ``b_u[i] += q`` become ``b_u[i] += p + q``: one load and store of
    the element instead of two, which matters in stencil loops.
    """
    totals: dict = {}
    for key, contribution in contributions:
        merge_key = key if key[0] == "name" else (key[0], key[1], src(key[2]))
        if merge_key in totals:
            first_key, total = totals[merge_key]
            positive = _without_minus(contribution)
            total = (
                gast.BinOp(left=total, op=gast.Add(), right=contribution)
                if positive is None
                else gast.BinOp(left=total, op=gast.Sub(), right=positive)
            )
            totals[merge_key] = (first_key, total)
        else:
            totals[merge_key] = (key, contribution)
    return list(totals.values())


def _reads_complex(stmt, types: dict) -> bool:
    """Whether an assignment binds or reads complex values (names, constants, globals)."""
    if not isinstance(stmt, gast.Assign):
        return False
    for node in gast.walk(stmt):
        if isinstance(node, gast.Name):
            value_type = types.get(node.id)
            if value_type is None and hasattr(node, "global_value"):
                value_type = type_of_value(node.global_value)
            if getattr(value_type, "kind", None) == "complex":
                return True
        elif isinstance(node, gast.Constant) and isinstance(node.value, complex):
            return True
    return False


def _part_of_real(expr, type_of) -> bool:
    """Whether ``expr`` is ``np.real(x)``, ``np.imag(x)`` or ``np.angle(x)`` of a real (not
    complex) ``x`` (the phase of a real number is 0 or pi: a constant)."""
    if not (
        isinstance(expr, gast.Call)
        and getattr(expr, "callee", None) is not None
        and expr.callee.target in (np.real, np.imag, np.angle)
        and len(expr.args) == 1
    ):
        return False
    arg_type = type_of(expr.args[0])
    dtype = getattr(arg_type, "dtype", None)
    return dtype is not None and np.dtype(dtype).kind in "fiub"


def _has_slice(index) -> bool:
    elements = index.elts if isinstance(index, gast.Tuple) else [index]
    return any(
        isinstance(e, gast.Slice) or (isinstance(e, gast.Constant) and e.value is None)
        for e in elements
    )


def _without_minus(expr):
    """``a * b`` for ``-a * b`` (and ``a`` for ``-a``), so sums read ``p - a * b``; else None."""
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
        return expr.operand
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Mult | gast.Div):
        left = _without_minus(expr.left)
        return None if left is None else gast.BinOp(left=left, op=expr.op, right=expr.right)
    return None


def _hint(expr) -> str:
    return expr.id if isinstance(expr, gast.Name) else "arg"


def _parenthesised(text: str) -> str:
    return text if text.replace("_", "").isalnum() else f"({text})"


def _left_operand(node) -> str:
    """Source of ``node`` as the left operand of ``- 1``: in parentheses where its operator
    binds less tightly (``(1 << n) - 1``; ``x.shape[0] - 1`` stays as it is)."""
    text = src(node)
    looser = isinstance(node, gast.BoolOp | gast.Compare | gast.IfExp) or (
        isinstance(node, gast.BinOp) and isinstance(node.op, BIT_OPERATORS)
    )
    return f"({text})" if looser else text


#: Modules of the linear-algebra functions whose results a loop's adjoint reads back.
_FACTORISING_MODULES = ("numpy.linalg", "scipy.linalg", "sourcead_runtime.linalg")


def _factorises(call: gast.Call) -> bool:
    """Whether ``call`` is a linear-algebra function (a factorisation's cubic work)."""
    callee = getattr(call, "callee", None)
    module = getattr(getattr(callee, "target", None), "__module__", None) or ""
    return module.startswith(_FACTORISING_MODULES)


def _reusing_result(lines: list, call: gast.expr, target: str) -> list:
    """``lines`` built, with the call ``call`` (a statement's whole value) replaced by the
    name ``target``, which holds its result."""
    wanted = src(call)

    class Reusing(gast.NodeTransformer):
        def visit_Call(self, node):
            if src(node) == wanted:
                return gast.Name(id=target, ctx=gast.Load(), annotation=None, type_comment=None)
            return self.generic_visit(node)

    return [Reusing().visit(stmt) for stmt in build(lines)]


def _reversed_range(start, stop, step) -> str:
    """Source of the range that visits ``range(start, stop, step)`` backwards."""
    s0, s1 = src(start), src(stop)
    if isinstance(step, gast.Constant):
        c = step.value
        if c == 1:
            last = f"{_left_operand(stop)} - 1" if s0 == "0" else f"{_parenthesised(s1)} - 1"
            end = "-1" if s0 == "0" else f"{_parenthesised(s0)} - 1"
            return f"range({last}, {end}, -1)"
        if c > 0:
            last = f"{_parenthesised(s0)} + ({_parenthesised(s1)} - {_parenthesised(s0)} - 1) // {c} * {c}"
            return f"range({last}, {_parenthesised(s0)} - {c}, {-c})"
        last = (
            f"{_parenthesised(s0)} + ({_parenthesised(s1)} - {_parenthesised(s0)} + 1) // {c} * {c}"
        )
        return f"range({last}, {_parenthesised(s0)} - ({c}), {-c})"
    s2 = src(step)
    return (
        f"range({_parenthesised(s0)} + (trip_count({s0}, {s1}, {s2}) - 1) * {_parenthesised(s2)}, "
        f"{_parenthesised(s0)} - {_parenthesised(s2)}, -{_parenthesised(s2)})"
    )


def _trip_count_source(start, stop, step) -> str:
    """Source of the number of iterations of ``range(start, stop, step)``."""
    s0, s1 = src(start), src(stop)
    if isinstance(step, gast.Constant) and step.value == 1:
        if s0 == "0":
            return s1 if isinstance(stop, gast.Constant) else f"max({s1}, 0)"
        if isinstance(start, gast.Constant) and isinstance(stop, gast.Constant):
            return str(max(stop.value - start.value, 0))
        return f"max({_left_operand(stop)} - {_parenthesised(s0)}, 0)"
    return f"trip_count({s0}, {s1}, {src(step)})"


def _assignment_sites(body: list):
    """Per name: how many statements assign it; arrays written element-wise; names set in loops."""
    sites: dict[str, int] = {}
    element_writes: set[str] = set()
    in_loop: set[str] = set()

    def visit(block, depth):
        for stmt in block:
            names: list[str] = []
            if isinstance(stmt, gast.Assign):
                target = stmt.targets[0]
                if isinstance(target, gast.Name):
                    names = [target.id]
                elif isinstance(target, gast.Subscript):
                    element_writes.add(target.value.id)
                else:
                    names = [e.id for e in target.elts]
            elif isinstance(stmt, gast.For):
                names = [stmt.target.id]
            for n in names:
                sites[n] = sites.get(n, 0) + 1
                if depth > 0:
                    in_loop.add(n)
            if isinstance(stmt, gast.If):
                visit(stmt.body, depth)
                visit(stmt.orelse, depth)
            elif isinstance(stmt, gast.For | gast.While):
                visit(stmt.body, depth + 1)

    visit(body, 0)
    return sites, element_writes, in_loop


def _first_definitions(body: list, params: set[str]) -> dict:
    """Top-level, unconditional assignments that are the first of their name: no old value.

    Maps ``id(statement)`` to ``(name, statement)``.
    """
    seen = set(params)
    first = {}
    for stmt in body:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            target = stmt.targets[0].id
            if target not in seen:
                first[id(stmt)] = (target, stmt)
        for node in gast.walk(stmt):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                seen.add(node.id)
    return first


__all__ = ["AdjointGenerator", "SourceADError", "TupleType"]
