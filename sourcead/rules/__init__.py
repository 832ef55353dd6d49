"""Derivative rules: one small template per primitive, registered in one place.

A rule is a plain Python function whose first parameter is the adjoint of the primitive's
result and whose other parameters are the primitive's arguments. It returns the adjoint
contribution for each argument (a tuple for several, ``None`` for an argument that has no
derivative). The compiler never calls a rule: it reads the rule's source and substitutes
the names, so the contribution is written into the generated code, where Numba compiles it:

    @adjoint(math.sin)
    def sin(b_out, x):
        return b_out * math.cos(x)

Rules may use ``math`` and ``np`` (NumPy); generated modules import both under those names.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass

import gast

from ..errors import SourceADError


@dataclass(frozen=True)
class Rule:
    """A parsed adjoint rule: parameter names and one contribution template per argument."""

    name: str
    adjoint_param: str
    params: tuple[str, ...]
    contributions: tuple[gast.expr | None, ...]


ADJOINT_RULES: dict[object, Rule] = {}


def adjoint(primitive):
    """Register the decorated function as the reverse rule (adjoint) of ``primitive``."""

    def register(rule_function):
        ADJOINT_RULES[primitive] = parse_rule(rule_function)
        return rule_function

    return register


def parse_rule(rule_function) -> Rule:
    """Read a rule's source into a Rule; SourceADError if it is not of the rule form."""
    source = textwrap.dedent(inspect.getsource(rule_function))
    node = gast.parse(source).body[0]
    where = (inspect.getsourcefile(rule_function), inspect.getsourcelines(rule_function)[1])
    body = [stmt for stmt in node.body if not _is_docstring(stmt)]
    if len(body) != 1 or not isinstance(body[0], gast.Return) or body[0].value is None:
        raise SourceADError("a rule's body must be a single return statement", *where)
    names = [arg.id for arg in node.args.args]
    if not names:
        raise SourceADError("a rule takes the result's adjoint, then the arguments", *where)
    value = body[0].value
    params = tuple(names[1:])
    if len(params) == 1:
        contributions = (value,)
    elif isinstance(value, gast.Tuple) and len(value.elts) == len(params):
        contributions = tuple(value.elts)
    else:
        raise SourceADError(
            f"a rule of {len(params)} arguments must return a tuple of {len(params)} "
            "contributions (None for an argument without derivative)",
            *where,
        )
    contributions = tuple(
        None if isinstance(c, gast.Constant) and c.value is None else c for c in contributions
    )
    return Rule(node.name, names[0], params, contributions)


def _is_docstring(stmt: gast.stmt) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Constant)
        and isinstance(stmt.value.value, str)
    )


def load_builtin_rules() -> None:
    """Import the built-in rule files (they register themselves)."""
    from . import operators, scalar  # noqa: F401
