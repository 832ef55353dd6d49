"""Questions every stage asks of a function's statements, answered once.

The statements are those of a normalised function: assignments have one target, loops are
``for`` over ``range`` or ``while``, and branches are ``if``/``else``.
"""

from __future__ import annotations

import gast
from sourcead_runtime import add_at


def is_docstring(stmt: gast.stmt) -> bool:
    """Whether ``stmt`` is a string on its own (a docstring where it comes first)."""
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Constant)
        and isinstance(stmt.value.value, str)
    )


def walk_statements(body: list):
    """Every statement of ``body``, nested ones (in loops and branches) included, in order."""
    for stmt in body:
        yield stmt
        for part in ("body", "orelse"):
            yield from walk_statements(getattr(stmt, part, []) or [])


def stored_names(body: list) -> set[str]:
    """Names that statements in ``body`` bind (assignment targets and loop variables)."""
    return {
        node.id
        for stmt in walk_statements(body)
        if isinstance(stmt, gast.Assign | gast.For)
        for target in (stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target])
        for node in gast.walk(target)
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store)
    }


def element_written(body: list) -> set[str]:
    """Arrays that ``body`` writes element by element (``x[i] = ...``)."""
    return {
        stmt.targets[0].value.id
        for stmt in walk_statements(body)
        if isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Subscript)
        and isinstance(stmt.targets[0].value, gast.Name)
    }


def array_writes(node) -> list[tuple[str, gast.AST]]:
    """(name, node) for each write into a named array in ``node`` (a tree, or a list of
    statements): element and slice stores (``v[i] = ...``, the node the ``Subscript``) and
    ufuncs' ``at`` (``np.add.at(v, idx, values)``, lowered to ``v = add_at(v, idx, values)``,
    which adds in place; the node the ``Call``)."""
    writes = []
    for root in node if isinstance(node, list) else [node]:
        for n in gast.walk(root):
            if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store):
                if isinstance(n.value, gast.Name):
                    writes.append((n.value.id, n))
            elif isinstance(n, gast.Call) and n.args and isinstance(n.args[0], gast.Name):
                at = isinstance(n.func, gast.Attribute) and n.func.attr == "at"
                if at or getattr(n.func, "global_value", None) is add_at:
                    writes.append((n.args[0].id, n))
    return writes


def changed_names(body: list) -> set[str]:
    """Names whose value ``body`` changes: those it binds and the arrays it writes into."""
    return stored_names(body) | element_written(body)


def has_break(body: list) -> bool:
    """Whether ``body`` (nested statements included) has a ``break``."""
    return any(isinstance(s, gast.Break) for s in walk_statements(body))


def breaks_out(body: list) -> bool:
    """Whether ``body``, a loop's, has a ``break`` that leaves that loop (in its branches;
    a ``break`` inside a loop nested in it leaves the nested one)."""
    for stmt in body:
        if isinstance(stmt, gast.Break):
            return True
        if isinstance(stmt, gast.If) and (breaks_out(stmt.body) or breaks_out(stmt.orelse)):
            return True
    return False


def read_names(expr: gast.AST) -> set[str]:
    """The names an expression mentions."""
    return {n.id for n in gast.walk(expr) if isinstance(n, gast.Name)}


def parse_expression(text: str) -> gast.expr:
    """The tree of one expression's source."""
    return gast.parse(text).body[0].value


def names_read(trees: list[gast.AST]) -> set[str]:
    """The names that ``trees`` (generated functions) mention, to import what they call."""
    return {n.id for tree in trees for n in gast.walk(tree) if isinstance(n, gast.Name)}


def written_in_place(statements: list[gast.stmt]) -> set[str]:
    """Arrays that ``statements`` write into without rebinding them: element and slice
    stores (``a[k] = ...``, ``a[k] += ...``), ``np.add.at`` (``array_writes``), augmented
    assignments (``a += ...``) and ``a.fill(...)``."""
    written = {name for name, _ in array_writes(statements)}
    for node in (n for stmt in statements for n in gast.walk(stmt)):
        if isinstance(node, gast.AugAssign):
            target = node.target
        elif (
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Attribute)
            and node.func.attr == "fill"
        ):
            target = node.func.value
        else:
            continue
        if isinstance(target, gast.Name):
            written.add(target.id)
    return written
