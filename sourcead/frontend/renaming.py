"""Names rebound in straight-line code get a new name per binding; local names that
generated code reads as builtins or helpers get names of their own.

``x = np.sum(x)``, ``y = y[0]``, ``a = a.reshape(2, 2)``: Python lets a name hold values of
different types one after the other; type inference gives each name one type. Each
assignment of the function's top level (outside loops and ifs) that binds a name already
bound (a parameter included) starts a new version of it, ``x2``, read by every later
statement. Inside loops and branches a name keeps one type, as its value may come from
another iteration or branch: there a change of type stays refused (``analysis.inference``).

A local name that is one of Python's builtins or the generated module's names (``len =
...``, ``reserve = ...``) would hide what generated code calls by that name (the code that
grows a tape calls ``len`` and ``max``): it is renamed throughout the function (``len2``).
"""

from __future__ import annotations

import gast

from ..rules.shapes import literal_int
from ..trees.names import RESERVED_NAMES, NameGenerator
from .normalize import is_permutation


def rename_rebindings(tree: gast.FunctionDef, params: list[str]) -> gast.FunctionDef:
    """``tree`` (normalised) with top-level rebindings given names of their own, in place."""
    names = NameGenerator(tree)
    _rename_reserved(tree, params, names)
    current: dict[str, str] = {}  # the user's name -> the name of its current version
    bound = set(params)
    counters: set[str] = set()  # names bound only as loop variables so far (integers)
    for position, stmt in enumerate(tree.body):
        if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
            # for x in range(3) after x = 1.5 (or a parameter x): the loop's integers are a
            # new version of x (its range reads the old one); loops reusing a counter share it.
            # Not when x is read after the loop, where a loop of no steps leaves the number
            # (the type inference refuses that).
            _rename(stmt.iter, current)
            original = _original(stmt.target.id, current)
            later = tree.body[position + 1 :]
            reads_after = _reads(later, original) and not _always_runs(stmt.iter)
            if original in bound and original not in counters and not reads_after:
                current[original] = names.fresh(original)
            elif original not in bound:
                counters.add(original)
            stmt.target.id = current.get(original, original)
            for part in (*stmt.body, *stmt.orelse):
                _rename(part, current)
        elif isinstance(stmt, gast.Assign) and not is_permutation(stmt):
            _rename(stmt.value, current)
            targets = stmt.targets[0].elts if isinstance(stmt.targets[0], gast.Tuple) else None
            for target in targets if targets is not None else stmt.targets:
                if not isinstance(target, gast.Name):
                    _rename(target, current)  # an element write: the array's current version
                    continue
                original = target.id
                counters.discard(original)
                if original in bound:
                    current[original] = names.fresh(original)
                    target.id = current[original]
                bound.add(original)
            continue
        else:
            _rename(stmt, current)
        for option in (getattr(stmt, "checkpoint", None) or {}).values():
            _rename(option, current)
        loop_targets = {id(n.target) for n in gast.walk(stmt) if isinstance(n, gast.For)}
        for node in gast.walk(stmt):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                original = _original(node.id, current)
                if id(node) in loop_targets:
                    if original not in bound:
                        counters.add(original)
                else:
                    counters.discard(original)
                bound.add(original)
    return tree


def _rename_reserved(tree: gast.FunctionDef, params: list[str], names: NameGenerator) -> None:
    """Local names that are reserved (``RESERVED_NAMES``) renamed everywhere in ``tree``: a
    name bound in a function is local to all of it, so every read is of the local."""
    stored = {
        node.id
        for node in gast.walk(tree)
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store)
    }
    renamed = {n: names.fresh(n) for n in sorted(stored & RESERVED_NAMES) if n not in params}
    _rename(tree, renamed)
    for loop in gast.walk(tree):  # a checkpointed loop keeps its options beside the tree
        for option in (getattr(loop, "checkpoint", None) or {}).values():
            _rename(option, renamed)


def _always_runs(iterator) -> bool:
    """Whether ``iterator`` is a ``range`` of number literals with at least one step (after
    it, its variable holds the last integer, whatever it held before)."""
    if not (
        isinstance(iterator, gast.Call)
        and isinstance(iterator.func, gast.Name)
        and iterator.func.id == "range"
        and not iterator.keywords
        and 1 <= len(iterator.args) <= 3
    ):
        return False
    bounds = [literal_int(a) for a in iterator.args]
    if None in bounds:
        return False
    return len(range(*bounds)) > 0


def _reads(body: list, name: str) -> bool:
    """Whether a statement of ``body`` reads ``name``."""
    return any(
        isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load)
        for stmt in body
        for n in gast.walk(stmt)
    )


def _rename(node, current: dict[str, str]) -> None:
    """Every name ``node`` reads or binds, as its current version."""
    if not current:
        return
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and child.id in current:
            child.id = current[child.id]


def _original(name: str, current: dict[str, str]) -> str:
    for original, version in current.items():
        if version == name:
            return original
    return name


__all__ = ["rename_rebindings"]
