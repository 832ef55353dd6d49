"""Source text of generated trees, with their comments; each statement learns its line.

``trees.codegen`` puts comments on the statements they precede (``comments``), after the
last statement of a body (``comments_after``) and at the end of a line
(``trailing_comment``). ``source`` writes them back, and sets ``lineno`` on every node to
the line where the text shows it, so that a later pass over the same tree (the tangent of
an adjoint) can name the generated line of a node without parsing the text again.
"""

from __future__ import annotations

import ast

import gast

_INDENT = "    "


def source(nodes: list[gast.stmt], first_line: int = 1) -> str:
    """The text of the statements ``nodes`` (function definitions, usually), whose first
    line will be line ``first_line`` of its module."""
    writer = _Writer(first_line)
    writer.body(nodes, 0)
    return "\n".join(writer.lines)


class _Writer:
    def __init__(self, first_line: int):
        self.lines: list[str] = []
        self.first_line = first_line

    @property
    def next_line(self) -> int:
        return self.first_line + len(self.lines)

    def emit(self, text: str, depth: int) -> None:
        self.lines.append(_INDENT * depth + text)

    def body(self, statements: list, depth: int, docstring: bool = False) -> None:
        for position, stmt in enumerate(statements):
            for comment in getattr(stmt, "comments", ()):
                self.emit(str(comment), depth)
            if docstring and position == 0 and _is_docstring(stmt):
                _place(stmt, self.next_line)
                # a docstring's later lines are part of the string, written as they are
                self.emit(f'"""{stmt.value.value}"""', depth)
                self.lines[-1:] = self.lines[-1].split("\n")
            else:
                self.statement(stmt, depth)
            for comment in getattr(stmt, "comments_after", ()):
                self.emit(str(comment), depth)

    def statement(self, stmt: gast.stmt, depth: int) -> None:
        if isinstance(stmt, gast.FunctionDef):
            for decorator in stmt.decorator_list:
                _place(decorator, self.next_line)
                self.emit(f"@{_text(decorator)}", depth)
            arguments = ast.unparse(gast.gast_to_ast(stmt.args))
            self.header(stmt, f"def {stmt.name}({arguments}):", (stmt.args,), depth)
            self.body(stmt.body, depth + 1, docstring=True)
        elif isinstance(stmt, gast.For):
            header = f"for {_text(stmt.target)} in {_text(stmt.iter)}:"
            self.header(stmt, header, (stmt.target, stmt.iter), depth)
            self.body(stmt.body, depth + 1)
            self.orelse(stmt, depth)
        elif isinstance(stmt, gast.While):
            self.header(stmt, f"while {_text(stmt.test)}:", (stmt.test,), depth)
            self.body(stmt.body, depth + 1)
            self.orelse(stmt, depth)
        elif isinstance(stmt, gast.If):
            self.if_(stmt, "if", depth)
        else:  # simple statements (and the rare compound ones no generator writes)
            _place(stmt, self.next_line)
            text = _simple_text(stmt)
            trailing = getattr(stmt, "trailing_comment", None)
            first, *rest = text.split("\n")
            self.emit(first + (f"  # {trailing}" if trailing and not rest else ""), depth)
            for line in rest:
                self.emit(line, depth)

    def if_(self, stmt: gast.If, keyword: str, depth: int) -> None:
        self.header(stmt, f"{keyword} {_text(stmt.test)}:", (stmt.test,), depth)
        self.body(stmt.body, depth + 1)
        orelse = stmt.orelse
        if (
            len(orelse) == 1
            and isinstance(orelse[0], gast.If)
            and not getattr(orelse[0], "comments", None)
            and not getattr(stmt, "else_comment", None)
        ):
            self.if_(orelse[0], "elif", depth)
        else:
            self.orelse(stmt, depth)

    def header(self, stmt: gast.stmt, text: str, parts: tuple, depth: int) -> None:
        stmt.lineno = stmt.end_lineno = self.next_line
        for part in parts:
            _place(part, self.next_line)
        trailing = getattr(stmt, "trailing_comment", None)
        self.emit(text + (f"  # {trailing}" if trailing else ""), depth)

    def orelse(self, stmt: gast.stmt, depth: int) -> None:
        if stmt.orelse:
            comment = getattr(stmt, "else_comment", None)
            self.emit("else:" + (f"  # {comment}" if comment else ""), depth)
            self.body(stmt.orelse, depth + 1)


def _simple_text(stmt: gast.stmt) -> str:
    """A simple statement's text; a tuple returned or assigned without parentheses
    (``return value, (b_x, b_y)``), as a person writes it."""
    value = getattr(stmt, "value", None)
    if isinstance(stmt, gast.Return | gast.Assign) and isinstance(value, gast.Tuple) and value.elts:
        if isinstance(stmt, gast.Return):
            return f"return {_items(value)}"
        targets = (
            _items(t) if isinstance(t, gast.Tuple) and t.elts else _text(t) for t in stmt.targets
        )
        return " = ".join([*targets, _items(value)])
    return _text(stmt)


def _items(node: gast.Tuple) -> str:
    """A tuple's items, comma-separated, without its parentheses."""
    return ", ".join(_text(e) for e in node.elts) + ("," if len(node.elts) == 1 else "")


def _text(node: gast.AST) -> str:
    return ast.unparse(gast.gast_to_ast(node))


def _place(node: gast.AST, line: int) -> None:
    for inner in gast.walk(node):
        if "lineno" in inner._attributes:
            inner.lineno = inner.end_lineno = line


def _is_docstring(stmt: gast.stmt) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Constant)
        and isinstance(stmt.value.value, str)
    )
