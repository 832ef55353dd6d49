"""Derivative rules: the registry (``registry``) and one entry per primitive.

Importing this package registers every built-in entry (``elementwise``, ``operators``,
``numpy``, ``reductions``, ``sorting``, ``special``, ``linalg``, ``factorizations``, ``tensor``,
``runtime``), so the stages that look rules up import it rather than the rule files one by one.
"""

from . import (  # noqa: F401  (they register)
    elementwise,
    factorizations,
    fft,
    indexing,
    linalg,
    numpy,
    operators,
    reductions,
    runtime,
    shaping,
    sorting,
    special,
    summaries,
    tensor,
)
from .registry import (
    PRIMITIVES,
    Primitive,
    adjoint,
    array_adjoint,
    array_tangent,
    custom_rules_registered,
    entries,
    entry_for,
    primitive,
    register,
    rule_for,
    tangent,
    tangent_rule_for,
)

__all__ = [
    "PRIMITIVES",
    "Primitive",
    "adjoint",
    "array_adjoint",
    "array_tangent",
    "custom_rules_registered",
    "entries",
    "entry_for",
    "primitive",
    "register",
    "rule_for",
    "tangent",
    "tangent_rule_for",
]
