"""Instantiating rule templates: substituting expressions for a rule's parameter names."""

from __future__ import annotations

import copy

import gast

from .rules import Rule


class _Substitute(gast.NodeTransformer):
    def __init__(self, replacements: dict[str, gast.expr]):
        self.replacements = replacements

    def visit_Name(self, node):
        if node.id in self.replacements and isinstance(node.ctx, gast.Load):
            return copy.deepcopy(self.replacements[node.id])
        return node


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
        if isinstance(node.op, gast.Pow) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, gast.Mult) and _number(right) and right.value == 1:
            return left
        if isinstance(node.op, gast.Mult) and _number(left) and left.value == 1:
            return right
        return node


def simplify(node: gast.expr) -> gast.expr:
    return _Simplifier().visit(node)
