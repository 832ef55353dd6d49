"""Derivative rules: the registry (``registry``, ``tangents``) and the built-in rules.

Importing this package registers every built-in rule, so the stages that look rules up
(``callees``, the transformations) import it, not the rule files one by one.
"""

from . import (  # noqa: F401  (the built-in rule files register themselves)
    linalg,
    linalg_tangents,
    numpy,
    numpy_tangents,
    operator_tangents,
    operators,
    runtime_tangents,
    scalar,
    scalar_tangents,
)
from .registry import (
    ADJOINT_RULES,
    ARRAY_RULES,
    Rule,
    adjoint,
    array_adjoint,
    custom_rules_registered,
    primitive,
    rule_for,
)
from .tangents import tangent

__all__ = [
    "ADJOINT_RULES",
    "ARRAY_RULES",
    "Rule",
    "adjoint",
    "array_adjoint",
    "custom_rules_registered",
    "primitive",
    "rule_for",
    "tangent",
]
