"""Instantiating rule templates: substituting expressions for a rule's parameter names."""

from __future__ import annotations

import copy

import gast

from .registry import Rule


class _Substitute(gast.NodeTransformer):
    def __init__(self, replacements: dict[str, gast.expr]):
        self.replacements = replacements

    def visit_Name(self, node):
        if node.id in self.replacements and isinstance(node.ctx, gast.Load):
            return copy.deepcopy(self.replacements[node.id])
        return node


def substituted(expr: gast.expr, replacements: dict[str, gast.expr]) -> gast.expr:
    """A copy of ``expr`` with the names read in it replaced by (copies of) expressions."""
    return _Substitute(replacements).visit(copy.deepcopy(expr))


def instantiate(rule: Rule, adjoint: gast.expr, args: list[gast.expr]) -> list[gast.expr | None]:
    """The rule's contribution for each argument, with names replaced by expressions."""
    replacements = {rule.adjoint_param: adjoint, **dict(zip(rule.params, args, strict=True))}
    return [
        None
        if template is None
        else simplify(_Substitute(replacements).visit(copy.deepcopy(template)))
        for template in rule.contributions
    ]


def _number(node) -> bool:
    return (
        isinstance(node, gast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    )


class _Simplifier(gast.NodeTransformer):
    """Folds the arithmetic that substitution leaves behind: ``x ** (2 - 1)`` becomes ``x``."""

    def visit_BinOp(self, node):
        node = self.generic_visit(node)
        left, right = node.left, node.right
        if (
            _number(left)
            and _number(right)
            and isinstance(node.op, gast.Add | gast.Sub | gast.Mult)
        ):
            value = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b,
                     gast.Mult: lambda a, b: a * b}[type(node.op)](left.value, right.value)  # fmt: skip
            return gast.Constant(value=value, kind=None)
        if isinstance(node.op, gast.Div) and _number(left) and _number(right) and right.value:
            return gast.Constant(value=left.value / right.value, kind=None)
        if isinstance(node.op, gast.Pow) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, gast.Mult) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, gast.Mult) and _number(left) and left.value == 1:
            return right
        return node


def simplify(node: gast.expr) -> gast.expr:
    return _Simplifier().visit(node)


class _Rename(gast.NodeTransformer):
    def __init__(self, renames: dict[str, str]):
        self.renames = renames

    def visit_Name(self, node):
        if node.id in self.renames:
            return gast.Name(
                id=self.renames[node.id], ctx=node.ctx, annotation=None, type_comment=None
            )
        return node


def instantiate_body(
    rule: Rule, adjoint: gast.expr, args: dict[str, gast.expr], fresh
) -> tuple[list[gast.stmt], list[gast.expr | None]]:
    """A multi-statement rule's statements and contributions, with names replaced.

    ``args`` maps each rule parameter to the expression it stands for; ``fresh(base)`` gives
    an unused name for each local name the rule's body assigns.
    """
    local_names = sorted(
        {
            node.id
            for stmt in rule.body
            for node in gast.walk(stmt)
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store)
        }
    )
    renames = {n: fresh(n) for n in local_names}
    replacements = {rule.adjoint_param: adjoint, **args}

    def rewrite(node):
        node = _Rename(renames).visit(copy.deepcopy(node))
        return simplify(_Substitute(replacements).visit(node))

    statements = [rewrite(stmt) for stmt in rule.body]
    contributions = [None if c is None else rewrite(c) for c in rule.contributions]
    return statements, contributions
