"""Generated code as nested lists of lines, rendered with indentation."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import gast


def src(node: gast.AST) -> str:
    """Python source of a gast node, with only the parentheses it needs."""
    return ast.unparse(gast.gast_to_ast(node))


def index_source(index: gast.expr) -> str:
    """Source of a subscript's index: ``i, j`` and ``:, :k`` without the tuple's parentheses
    (``a[(:, :k)]`` is no Python)."""
    if isinstance(index, gast.Tuple):
        return ", ".join(src(e) for e in index.elts)
    return src(index)


def dotted_name(node) -> str | None:
    """``np.linalg.norm`` for that expression's node (gast or ast), None for other nodes."""
    kind = type(node).__name__
    if kind == "Name":
        return node.id
    if kind == "Attribute":
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


@dataclass
class Block:
    """A compound statement: its header line (``for i in range(n):``) and its body."""

    header: str
    body: list = field(default_factory=list)


def render(lines: list, indent: int = 0) -> str:
    out = []
    for item in lines:
        if isinstance(item, Block):
            out.append("    " * indent + item.header)
            out.append(render(item.body or ["pass"], indent + 1))
        else:
            out.append("    " * indent + item)
    return "\n".join(out)
