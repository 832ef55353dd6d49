"""Two names for one array: refused where either name changes the array in place.

``w = u`` binds a second name to ``u``'s array. While neither name changes it in place, the
two read the same numbers, and both generators treat them as two arrays (the leapfrog's
``u_prev, u = u, u_next``). A write through one name (``w[0] = ...``, ``w += 1.0``,
``np.add.at(w, ...)``) changes what the other reads, which neither the adjoint nor the
tangent follows, and through a parameter it would change the caller's array: refused, in
reverse and forward mode alike, at the assignment.
"""

from __future__ import annotations

import gast

from ..analysis.types import is_array_type
from ..trees.queries import array_writes, walk_statements


def changed_in_place(body: list) -> set[str]:
    """Names of arrays whose elements change after the array is made: element and slice
    writes and ``np.add.at`` (``trees.queries.array_writes``), but the writes of a fused
    statement's loop, which fills a new array right after it is made (``fills_new_array``)."""
    filled = {
        id(stmt.targets[0])
        for stmt in walk_statements(body)
        if getattr(stmt, "fills_new_array", False)
    }
    return {name for name, node in array_writes(body) if id(node) not in filled}


def refuse_changed_aliases(fn, node, body: list, types: dict, outputs: list) -> None:
    """SourceADError at the first ``target = name`` of arrays where either name is changed
    in place (augmented assignments, which normalising wrote as ``u = u + x``, are noted on
    the tree as ``augmented_names``). A returned name may alias: the function's result is
    a new binding of the caller's."""
    in_place = changed_in_place(body) | getattr(node, "augmented_names", set())
    for stmt in walk_statements(body):
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
            continue
        target, value = stmt.targets[0].id, stmt.value
        if not isinstance(value, gast.Name) or target in outputs:
            continue
        if is_array_type(types.get(target)) and (target in in_place or value.id in in_place):
            raise fn.error(
                f"{target} = {value.id} makes two names for one array; use "
                f"{value.id}.copy(), or swap arrays with a, b = b, a",
                stmt,
            )
