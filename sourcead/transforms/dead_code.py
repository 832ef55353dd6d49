"""Removing dead stores from a generated function, as Tangent's optimisation pass does.

The generators write some assignments whose values nothing reads: an adjoint reset at the
end of the backward sweep (``b_s = 0.0`` after the last statement that reads it), an
allocation overwritten at once (``b_x = np.zeros_like(x)`` before ``b_x = ...``), a seed
cleared after its use. A backward liveness analysis over the structured code (loops to a
fixed point) finds them; an assignment is removed only when its target is a plain name that
no later statement can read on any path and its value has no effect (constants, names,
arithmetic, and allocations such as ``np.zeros_like``). Loops and branches left empty by the
removals go too, when their header has no effect.
"""

from __future__ import annotations

import gast

from ..trees.codegen import src

#: Calls whose only effect is their value (they allocate or compute).
_PURE_CALLS = {
    "np.zeros",
    "np.zeros_like",
    "np.ones",
    "np.ones_like",
    "np.empty",
    "np.empty_like",
    "np.full",
    "np.full_like",
    "range",
    "len",
    "float",
    "int",
    "abs",
    "min",
    "max",
}


def without_dead_stores(function: gast.FunctionDef) -> gast.FunctionDef:
    """``function`` with its dead stores removed (in place; returned for convenience)."""
    function.body = _Liveness().block(function.body, set(), remove=True) or [gast.Pass()]
    return function


class _Liveness:
    def __init__(self):
        self.loop_heads: list[set[str]] = []  # live at the head of each enclosing loop
        self.loop_exits: list[set[str]] = []  # live after each enclosing loop

    def block(self, body: list, live: set[str], remove: bool) -> list:
        """``body`` with its dead stores removed (when ``remove``); ``live`` is updated
        from live after the block to live before it."""
        kept: list = []
        closing: list = []  # comments of removed statements that end the block
        for stmt in reversed(body):
            result = self.statement(stmt, live, remove)
            if result is not None:
                kept.insert(0, result)
                continue
            comments = [c for c in getattr(stmt, "comments", []) if c.user_line is None]
            if kept:
                _give_comments(kept[0], getattr(stmt, "comments", []))
            else:
                closing[:0] = comments
        if closing and kept:
            kept[-1].comments_after = list(getattr(kept[-1], "comments_after", [])) + closing
        return kept

    def statement(self, stmt, live: set[str], remove: bool):
        """``stmt`` (or None when it is removed); ``live`` updated across it."""
        if isinstance(stmt, gast.Assign) and _is_plain_store(stmt):
            name = stmt.targets[0].id
            if remove and name not in live and _has_no_effect(stmt.value):
                return None
            live.discard(name)
            live |= _reads(stmt.value)
            return stmt
        if isinstance(stmt, gast.For | gast.While):
            return self.loop(stmt, live, remove)
        if isinstance(stmt, gast.If):
            after = set(live)
            body_live, else_live = set(after), set(after)
            stmt.body = self.block(stmt.body, body_live, remove)
            stmt.orelse = self.block(stmt.orelse, else_live, remove)
            live.clear()
            live |= body_live | else_live | _reads(stmt.test)
            if remove and not stmt.body and not stmt.orelse and _has_no_effect(stmt.test):
                return None
            stmt.body = stmt.body or [gast.Pass()]
            return stmt
        if isinstance(stmt, gast.Return):
            live.clear()
            live |= _reads(stmt.value) if stmt.value is not None else set()
            return stmt
        if isinstance(stmt, gast.Break):
            live.clear()
            live |= self.loop_exits[-1] if self.loop_exits else set()
            return stmt
        if isinstance(stmt, gast.Continue):
            live.clear()
            live |= self.loop_heads[-1] if self.loop_heads else set()
            return stmt
        # anything else (element stores, augmented assignments, calls): kept; it reads
        # what it mentions, and its targets stay live
        live |= _reads(stmt)
        return stmt

    def loop(self, stmt, live: set[str], remove: bool):
        after = set(live) | set(_reads_orelse(stmt))
        header = _reads(stmt.iter) if isinstance(stmt, gast.For) else _reads(stmt.test)
        head = set(after) | header
        while True:  # live at the head: what follows the loop, and what one more step reads
            inside = set(head)
            self._enter(head, after)
            self.block(stmt.body, inside, remove=False)
            self._leave()
            grown = head | inside | header
            if grown == head:
                break
            head = grown
        self._enter(head, after)
        inside = set(head)
        stmt.body = self.block(stmt.body, inside, remove)
        self._leave()
        if stmt.orelse:
            stmt.orelse = self.block(stmt.orelse, set(live), remove) or [gast.Pass()]
        live.clear()
        live |= head
        if (
            remove
            and not stmt.body
            and not stmt.orelse
            and _has_no_effect(stmt.iter if isinstance(stmt, gast.For) else stmt.test)
        ):
            return None
        stmt.body = stmt.body or [gast.Pass()]
        return stmt

    def _enter(self, head: set[str], after: set[str]) -> None:
        self.loop_heads.append(head)
        self.loop_exits.append(after)

    def _leave(self) -> None:
        self.loop_heads.pop()
        self.loop_exits.pop()


def _reads_orelse(stmt) -> set[str]:
    return {n.id for s in stmt.orelse for n in gast.walk(s) if isinstance(n, gast.Name)}


def _is_plain_store(stmt: gast.Assign) -> bool:
    return len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name)


def _reads(node) -> set[str]:
    """Every name ``node`` mentions (stores too: an element store keeps its array live)."""
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _has_no_effect(expr) -> bool:
    """Whether evaluating ``expr`` does nothing but make its value."""
    for node in gast.walk(expr):
        if isinstance(node, gast.Call):
            name = src(node.func)
            if name not in _PURE_CALLS and not (
                isinstance(node.func, gast.Attribute) and node.func.attr == "copy"
            ):
                return False
        elif isinstance(node, gast.Subscript | gast.NamedExpr | gast.Yield | gast.Await):
            return False  # an index may be out of range: kept
    return True


def _give_comments(stmt, comments: list) -> None:
    """Comments of removed statements, kept on the statement after them, unless they quote
    a user statement that no remaining statement differentiates."""
    line = None if isinstance(stmt, gast.Return) else getattr(stmt, "user_line", None)
    kept = [c for c in comments if c.user_line is None or c.user_line == line]
    if kept:
        stmt.comments = kept + list(getattr(stmt, "comments", []))
