"""Activity: which names carry derivatives.

A name is *varied* when it depends on a differentiated input through differentiable
operations, *useful* when the output depends on it that way, and *active* when it is both
and holds floats or complex numbers. Only active names get adjoints. The analysis is
flow-insensitive (per name, not per statement): it may keep an adjoint that is zero, never
drop one that is not.
"""

from __future__ import annotations

import gast

from .types import Array

#: Operators of integers and booleans: their results carry no derivative.
BIT_OPERATORS = (gast.BitAnd, gast.BitOr, gast.BitXor, gast.LShift, gast.RShift)


def differentiable_reads(expr: gast.expr) -> set[str]:
    """Names whose values ``expr`` depends on differentiably (not through indices or tests)."""
    if isinstance(expr, gast.Name):
        return {expr.id}
    if isinstance(expr, gast.BinOp):
        if isinstance(expr.op, (gast.FloorDiv, *BIT_OPERATORS)):
            return set()
        return differentiable_reads(expr.left) | differentiable_reads(expr.right)
    if isinstance(expr, gast.UnaryOp):
        if isinstance(expr.op, gast.Not | gast.Invert):
            return set()
        return differentiable_reads(expr.operand)
    if isinstance(expr, gast.Subscript):
        return differentiable_reads(expr.value) if isinstance(expr.value, gast.Name) else set()
    if isinstance(expr, gast.Tuple):
        return set().union(*(differentiable_reads(e) for e in expr.elts))
    if isinstance(expr, gast.Call):
        kind = expr.callee.kind
        if kind == "copy":
            return {expr.func.value.id}
        if kind in ("rule", "user", "forward_only"):
            return set().union(*(differentiable_reads(a) for a in expr.args))
        return set()
    return set()


def assignments(body: list):
    """Yield (target names, value reads) for every statement that defines values."""
    for stmt in body:
        if isinstance(stmt, gast.Assign):
            target = stmt.targets[0]
            reads = differentiable_reads(stmt.value)
            if isinstance(target, gast.Name):
                yield [target.id], reads
            elif isinstance(target, gast.Subscript):
                yield [target.value.id], reads
            elif isinstance(stmt.value, gast.Tuple):  # a permutation a, b = b, a
                for t, v in zip(target.elts, stmt.value.elts, strict=True):
                    yield [t.id], {v.id}
            else:  # a, b = user_call(...)
                yield [t.id for t in target.elts], reads
        elif isinstance(stmt, gast.If):
            yield from assignments(stmt.body)
            yield from assignments(stmt.orelse)
        elif isinstance(stmt, gast.For | gast.While):
            yield from assignments(stmt.body)


def active_names(body: list, inputs: set[str], outputs: set[str], types: dict) -> set[str]:
    """The active names of a normalised function body."""
    edges = list(assignments(body))
    varied = set(inputs)
    changed = True
    while changed:
        changed = False
        for targets, reads in edges:
            if reads & varied and not set(targets) <= varied:
                varied |= set(targets)
                changed = True
    useful = set(outputs)
    changed = True
    while changed:
        changed = False
        for targets, reads in edges:
            if set(targets) & useful and not reads <= useful:
                useful |= reads
                changed = True
    return {n for n in varied & useful if n in types and getattr(types[n], "differentiable", False)}


def is_array(name: str, types: dict) -> bool:
    return isinstance(types.get(name), Array)
