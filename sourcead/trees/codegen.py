"""Generated code as trees: statements from one-line templates, composed into gast nodes.

A generator writes each statement as a one-line template (``f"{b_x} += {g}"``), compound
statements as ``Block``s (a header line and a body), and comments as ``Comment``s. ``build``
parses each template once and composes the gast tree; comments travel on the statement
they precede (``node.comments``), a comment that quotes a user statement carries its line
(``node.user_line``), and an end-of-line comment is ``node.trailing_comment``. Source text
is made once, at the end, by ``trees.unparse``.
"""

from __future__ import annotations

import ast
import io
import tokenize
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


@dataclass(frozen=True)
class Comment:
    """A comment line of generated code; ``user_line``: the line of the user's statement it
    quotes (the adjoint of ``x = a * b  (line 12)``), which the statements after it carry."""

    text: str
    user_line: int | None = None

    def __str__(self) -> str:
        return f"# {self.text}  (line {self.user_line})" if self.user_line else f"# {self.text}"


def is_comment(line) -> bool:
    """Whether an item of a generated body is a comment line."""
    return isinstance(line, Comment) or (isinstance(line, str) and line.lstrip().startswith("#"))


def build(lines: list) -> list[gast.stmt]:
    """The statements of a body written as templates, ``Block``s, ``Comment``s and already
    built nodes (which pass through). ``else:`` blocks join the statement before them. The
    statements after a comment that quotes a user statement carry its line, up to the next
    such comment."""
    body: list[gast.stmt] = []
    pending: list[Comment] = []
    user_line = None
    for item in lines:
        if isinstance(item, str) and item.lstrip().startswith("#"):
            item = Comment(item.lstrip()[1:].strip())
        if isinstance(item, Comment):
            pending.append(item)
            user_line = item.user_line if item.user_line is not None else user_line
            continue
        if isinstance(item, Block) and item.header.split("#")[0].strip() == "else:":
            body[-1].orelse = build(pending + (item.body or ["pass"]))
            if "#" in item.header:  # ``else:  # why``
                body[-1].else_comment = item.header.split("#", 1)[1].strip()
            pending = []
            continue
        nodes = _statements(item)
        if pending:
            nodes[0].comments = getattr(nodes[0], "comments", []) + pending
            pending = []
        if user_line is not None:
            for node in nodes:
                _carry_user_line(node, user_line)
        body.extend(nodes)
    if pending:  # comments closing a body: kept after its last statement
        if not body:
            body.append(gast.Pass())
        body[-1].comments_after = getattr(body[-1], "comments_after", []) + pending
    return body


def function_tree(header: str, lines: list) -> gast.FunctionDef:
    """A function definition (``def name(params):``) with the body ``lines``."""
    return build([Block(header, lines)])[0]


def parse_statements(text: str) -> list[gast.stmt]:
    """The statements of ``text`` (a template, or a user function's source), with its
    comments on them: whole-line comments before a statement as ``comments``, an
    end-of-line comment as ``trailing_comment``."""
    module = gast.parse(text)
    if "#" not in text:  # most templates: no comment to place
        return module.body
    whole_line, end_of_line = _comments(text)
    statements = _statements_in_order(module.body)
    for stmt in statements:
        last = stmt.lineno if _is_compound(stmt) else getattr(stmt, "end_lineno", stmt.lineno)
        for line in range(stmt.lineno, last + 1):
            if line in end_of_line:
                stmt.trailing_comment = end_of_line.pop(line)
    taken = sorted(whole_line)
    for stmt in statements:
        before = [line for line in taken if line < stmt.lineno]
        if before:
            stmt.comments = [Comment(whole_line[line]) for line in before]
            taken = [line for line in taken if line >= stmt.lineno]
    if taken and module.body:
        last = module.body[-1]
        last.comments_after = [Comment(whole_line[line]) for line in taken]
    return module.body


def _statements(item) -> list[gast.stmt]:
    if isinstance(item, gast.stmt):
        return [item]
    if isinstance(item, Block):
        (node,) = parse_statements(item.header + "\n    pass")
        node.body = build(item.body or ["pass"])
        return [node]
    return parse_statements(item)


def _carry_user_line(node: gast.AST, line: int) -> None:
    for inner in gast.walk(node):
        if getattr(inner, "user_line", None) is None:
            inner.user_line = line


def _comments(text: str) -> tuple[dict[int, str], dict[int, str]]:
    """Line -> comment text, for whole-line comments and for end-of-line comments."""
    whole_line, end_of_line = {}, {}
    lines = text.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type != tokenize.COMMENT:
            continue
        line, column = token.start
        comment = token.string[1:].strip()
        if lines[line - 1][:column].strip():
            end_of_line[line] = comment
        else:
            whole_line[line] = comment
    return whole_line, end_of_line


_COMPOUND = (gast.FunctionDef, gast.For, gast.While, gast.If, gast.With, gast.Try)


def _is_compound(stmt: gast.stmt) -> bool:
    return isinstance(stmt, _COMPOUND)


def _statements_in_order(body: list) -> list[gast.stmt]:
    out = []
    for stmt in body:
        out.append(stmt)
        for field_name in ("body", "orelse", "finalbody"):
            out.extend(_statements_in_order(getattr(stmt, field_name, []) or []))
        for handler in getattr(stmt, "handlers", []) or []:
            out.extend(_statements_in_order(handler.body))
    return out
