"""Reversed element loops run forwards, split by the adjoint element they update.

The adjoint of a stencil loop such as ::

    for k in range(n):
        fused[k] = u[k + 1] + c[k + 1] * (u[k] - 2.0 * u[k + 1] + u[k + 2])

updates ``b_u[k]``, ``b_u[k + 1]`` and ``b_u[k + 2]`` in every iteration, so each iteration
adds to elements the iteration before it updated, and the loop runs one element at a time.
Split into one loop per updated element (the loop distribution a person would do by hand),
the iterations of each loop are independent and LLVM vectorises them::

    for k in range(n):
        b_u[k + 1] += b_fused[k] - 2.0 * (b_fused[k] * c[k + 1])
        b_c[k + 1] += b_fused[k] * (u[k] - 2.0 * u[k + 1] + u[k + 2])
    for k in range(n):
        b_u[k] += b_fused[k] * c[k + 1]
    for k in range(n):
        b_u[k + 2] += b_fused[k] * c[k + 1]
        b_fused[k] = 0.0

Only loops whose body is straight-line code of four kinds are reordered: partial adjoints
(``b_part = ...``, local to one iteration), additions into adjoint elements that the loop
never reads, resets ``b_x[k] = 0.0`` of adjoint elements that are read only at that
element, one element per iteration, and elements restored from a tape (``u_top -= 1;
u[k + 1] = u_tape[u_top]``), one per iteration, of arrays the loop does not read. Then the
iterations commute (only the rounding of the sums changes), every split loop computes the
same partials, and the resets come last, after every read. Run forwards, the loop pops each
tape from the bottom of what the loop pushed (``u_top -= n`` first, then
``u[k + 1] = u_tape[u_top + k]``), in a loop of its own before the others: a plain copy
that LLVM vectorises, where beside the adjoint's lines the loop touched too many arrays for
LLVM to check them for overlaps (the heat gradient's restore loop took a third less time).
Such a loop runs forwards even where it is not split: Numba compiles a ``range`` with a
negative step into a loop that LLVM does not vectorise.
"""

from __future__ import annotations

from dataclasses import dataclass

import gast

from ..trees.codegen import Block, is_comment, src
from ..trees.queries import read_names


@dataclass
class CountedLoop:
    """A ``range`` loop of the forward sweep, as its reversal needs it."""

    reversed_header: str  # for i in range(n - 1, -1, -1):
    header: str  # for i in range(n):
    var: str
    trips: str  # the source of its trip count
    start: str | None  # the source of its first value, when its step is 1


class _NotDistributable(Exception):
    """The loop body is not of the kinds of statement this module reorders."""


@dataclass
class _Restore:
    """``u_top -= 1; u[i + 1] = u_tape[u_top]``: an element restored from its tape."""

    top: str
    tape: str
    target: gast.Subscript


def distributed(loop: CountedLoop, body: list, partials: set[str]) -> list:
    """The reversed loop over ``body``: as it is, run forwards, or run forwards and split
    (see the module's docstring).

    ``partials`` are the names of partial adjoints, each assigned once per iteration and
    read only in it.
    """
    try:
        return _reordered(loop, body, partials)
    except _NotDistributable:
        return [Block(loop.reversed_header, body)]


def _reordered(loop: CountedLoop, body: list, partials: set[str]) -> list:
    definitions: dict[str, tuple[str, gast.AST]] = {}  # partial -> (line, value)
    additions: list[tuple[str, str, str, gast.AST]] = []  # (array, index, line, value)
    resets: dict[str, tuple[str, str]] = {}  # array -> (index, line)
    restores: list[_Restore] = []
    popping: str | None = None  # a tape's top just lowered: its restore comes next
    for line in body:
        if isinstance(line, Block):
            raise _NotDistributable
        if is_comment(line):
            continue
        if not isinstance(line, str):  # a statement built already (a result reused)
            raise _NotDistributable
        stmt = gast.parse(line).body[0]
        if (read_names(stmt) & partials) - set(definitions) - _assigned_partial(stmt, partials):
            raise _NotDistributable  # a partial read before it is set: the last iteration's
        if popping is not None:
            restores.append(_restore(stmt, popping))
            popping = None
        elif _is_pop(stmt):
            popping = stmt.target.id
        elif _is_partial_definition(stmt, partials):
            if stmt.targets[0].id in definitions:
                raise _NotDistributable
            definitions[stmt.targets[0].id] = (line, stmt.value)
        elif isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add):
            array, index = _element(stmt.target)
            additions.append((array, index, line, stmt.value))
        elif _is_reset(stmt):
            array, index = _element(stmt.targets[0])
            if array in resets or not _one_element_per_iteration(stmt.targets[0].slice, loop.var):
                raise _NotDistributable
            resets[array] = (index, line)
        else:
            raise _NotDistributable
    if popping is not None:
        raise _NotDistributable
    added = {array for array, _, _, _ in additions}
    if added & set(resets):
        raise _NotDistributable
    reads = [value for _, value in definitions.values()] + [v for _, _, _, v in additions]
    reads += [gast.parse(index).body[0].value for _, index, _, _ in additions]
    for expr in reads:
        _check_reads(expr, added, resets)
    lowered, restored = _restores_forwards(loop, restores, reads, added, resets)
    # The restores get a loop of their own, a plain copy that LLVM vectorises; beside the
    # adjoint's lines they made a loop of too many arrays for it to check for overlaps.
    restoring = [Block(loop.header, restored)] if restored else []
    body = [_forwards(line, restores, restored) for line in body]
    body = [line for line in body if line is not None and line not in restored]
    comments = [line for line in body if is_comment(line)]
    if not _updates_neighbours(additions):
        lines = [line for line in body if line not in comments]
        return [*comments, *lowered, *restoring] + ([Block(loop.header, lines)] if lines else [])
    groups = _groups(additions, loop.var)
    groups[-1].extend(line for _, line in resets.values())  # after every read of them
    loops = [Block(loop.header, _with_definitions(lines, definitions)) for lines in groups]
    return [*comments, *lowered, *restoring, *loops]


def _assigned_partial(stmt, partials: set[str]) -> set[str]:
    """The partial ``stmt`` sets, if it sets one and does not read it."""
    if not _is_partial_definition(stmt, partials):
        return set()
    target = stmt.targets[0].id
    return set() if target in read_names(stmt.value) else {target}


def _is_pop(stmt) -> bool:
    return (
        isinstance(stmt, gast.AugAssign)
        and isinstance(stmt.op, gast.Sub)
        and isinstance(stmt.target, gast.Name)
        and isinstance(stmt.value, gast.Constant)
        and stmt.value.value == 1
    )


def _restore(stmt, top: str) -> _Restore:
    """The statement after ``top -= 1``: ``element = tape[top]``, or not reorderable."""
    if not (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Subscript)
        and isinstance(stmt.targets[0].value, gast.Name)
        and isinstance(stmt.value, gast.Subscript)
        and isinstance(stmt.value.value, gast.Name)
        and isinstance(stmt.value.slice, gast.Name)
        and stmt.value.slice.id == top
    ):
        raise _NotDistributable
    return _Restore(top=top, tape=stmt.value.value.id, target=stmt.targets[0])


def _restores_forwards(loop, restores, reads, added, resets) -> tuple[list, list]:
    """The lines lowering each tape's top by the loop's pops, and the restores reading
    ``tape[top + iteration]`` (iterations run forwards pop the tape from its bottom)."""
    if not restores:
        return [], []
    if loop.start is None:
        raise _NotDistributable
    tops = [r.top for r in restores]
    if len(set(tops)) != len(tops):
        raise _NotDistributable
    restored_arrays = set()
    for r in restores:
        array = r.target.value.id
        if array in restored_arrays or array in added or array in resets:
            raise _NotDistributable
        if not _one_element_per_iteration(r.target.slice, loop.var):
            raise _NotDistributable
        restored_arrays.add(array)
    # the restored arrays must not be read in the loop: each element is then restored once,
    # from its own place on the tape, in any order
    tapes = {r.top for r in restores} | {r.tape for r in restores}
    for expr in reads + [gast.parse(index).body[0].value for index, _ in resets.values()]:
        if read_names(expr) & (restored_arrays | tapes):
            raise _NotDistributable
    for r in restores:
        if read_names(r.target.slice) & (restored_arrays | added | set(resets)):
            raise _NotDistributable
    iteration = loop.var if loop.start == "0" else f"{loop.var} - {_atom(loop.start)}"
    lowered = [f"{r.top} -= {loop.trips}" for r in restores]
    restored = [f"{src(r.target)} = {r.tape}[{r.top} + {iteration}]" for r in restores]
    return lowered, restored


def _forwards(line, restores, restored):
    """``line`` of the body as the forward loop has it: pops replaced by their restores."""
    if not isinstance(line, str) or is_comment(line):
        return line
    stmt = gast.parse(line).body[0]
    if _is_pop(stmt) and any(r.top == stmt.target.id for r in restores):
        return None
    for r, text in zip(restores, restored, strict=True):
        if isinstance(stmt, gast.Assign) and src(stmt.targets[0]) == src(r.target):
            return text
    return line


def _atom(text: str) -> str:
    return text if text.isidentifier() or text.isdigit() else f"({text})"


def _is_partial_definition(stmt, partials: set[str]) -> bool:
    return (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and stmt.targets[0].id in partials
    )


def _is_reset(stmt) -> bool:
    return (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Subscript)
        and isinstance(stmt.value, gast.Constant)
        and stmt.value.value == 0.0
    )


def _element(target) -> tuple[str, str]:
    """``(array, index source)`` of ``b_x[k + 1]``; anything else is not distributable."""
    if not (isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name)):
        raise _NotDistributable
    if any(isinstance(n, gast.Slice) for n in gast.walk(target.slice)):
        raise _NotDistributable
    return target.value.id, src(target.slice)


def _one_element_per_iteration(index, var: str) -> bool:
    """The index is ``var``, ``var ± constant``, or a tuple of one such and others that do
    not read ``var``: no two iterations reset the same element."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    moving = [p for p in parts if var in read_names(p)]
    return len(moving) == 1 and _shifted(moving[0], var)


def _shifted(expr, var: str) -> bool:
    if isinstance(expr, gast.Name):
        return expr.id == var
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Add | gast.Sub):
        left, right = expr.left, expr.right
        if isinstance(right, gast.Constant):
            return _shifted(left, var)
        return (
            isinstance(expr.op, gast.Add)
            and isinstance(left, gast.Constant)
            and (_shifted(right, var))
        )
    return False


def _updates_neighbours(additions: list) -> bool:
    """Worth splitting: some adjoint array is updated at two elements in one iteration."""
    indices: dict[str, set[str]] = {}
    for array, index, _, _ in additions:
        indices.setdefault(array, set()).add(index)
    return any(len(found) > 1 for found in indices.values())


def _check_reads(expr, added: set[str], resets: dict) -> None:
    """No value read in the loop may change in it, except reset elements read at the
    element the same iteration resets (and before it does)."""
    at_reset = {
        id(node.value)
        for node in gast.walk(expr)
        if isinstance(node, gast.Subscript)
        and isinstance(node.value, gast.Name)
        and node.value.id in resets
        and src(node.slice) == resets[node.value.id][0]
    }
    for node in gast.walk(expr):
        if isinstance(node, gast.Name) and node.id in resets and id(node) not in at_reset:
            raise _NotDistributable  # another element, or the whole array
        if isinstance(node, gast.Name) and node.id in added:
            raise _NotDistributable
        if isinstance(node, gast.Call) and not _pure_function(node.func):
            raise _NotDistributable


def _pure_function(func) -> bool:
    """``math.exp``, ``np.sqrt``, ``abs``…: calls the adjoint's element expressions use."""
    if isinstance(func, gast.Name):
        return func.id in ("abs", "min", "max", "float")
    return (
        isinstance(func, gast.Attribute)
        and isinstance(func.value, gast.Name)
        and func.value.id in ("math", "np")
    )


def _groups(additions: list, var: str) -> list[list[str]]:
    """One group per element of an array updated at several; arrays updated at one element
    join the first group when that element moves with the loop (each iteration its own),
    and a group of their own when it does not (a sum into one element)."""
    indices: dict[str, set[str]] = {}
    for array, index, _, _ in additions:
        indices.setdefault(array, set()).add(index)
    groups: dict[tuple, list[str]] = {}
    moving: list[str] = []
    for array, index, line, _ in additions:
        if len(indices[array]) > 1:
            groups.setdefault((array, index), []).append(line)
        elif _one_element_per_iteration(gast.parse(index).body[0].value, var):
            moving.append(line)
        else:
            groups.setdefault(("fixed elements",), []).append(line)
    result = list(groups.values())
    result[0][:0] = moving
    return result


def _with_definitions(lines: list[str], definitions: dict) -> list[str]:
    """``lines`` preceded by the partials they read, directly or through other partials."""
    needed: set[str] = set()
    pending = [gast.parse(line).body[0] for line in lines]
    while pending:
        for n in read_names(pending.pop()):
            if n in definitions and n not in needed:
                needed.add(n)
                pending.append(definitions[n][1])
    return [line for n, (line, _) in definitions.items() if n in needed] + lines
