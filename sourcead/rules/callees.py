"""What a call in user code refers to: a rule-backed primitive, a user function, or neither."""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from enum import Enum

import numpy as np
from sourcead_runtime import (
    array_of,
    fused_length,
    popped_top,
    pushed_length,
    scratch,
    shape_changed,
    sized,
    slice_length,
    slice_start,
    svd_adjoint_columns,
    unpacked_rows,
    zeroed,
)

from ..trees.functions import unwrap
from .forms import solver_spec
from .registry import PRIMITIVES, entries, entry_for

#: Functions whose result does not depend differentiably on their arguments.
NONDIFFERENTIABLE = {
    len, int, bool, round, range,
    math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
    np.floor, np.ceil, np.trunc, np.sign, np.isnan, np.isinf, np.isfinite, np.rint, np.round,
    np.around,
    np.eye, np.arange, np.shape,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
}  # fmt: skip
# lengths, indices and reused buffers in generated code (fusion.py), compiled and as plain
# Python, and the reset or resizing of an adjoint array (reverse.py)
NONDIFFERENTIABLE |= {
    f
    for g in (
        fused_length,
        unpacked_rows,
        slice_length,
        slice_start,
        scratch,
        sized,
        zeroed,
        shape_changed,
        popped_top,
        pushed_length,
        svd_adjoint_columns,  # (forward over reverse replaces it: pipeline/forward_over_reverse)
    )
    for f in (g, getattr(g, "py_func", g))
}

#: Helpers of generated adjoints that forward mode differentiates (forward over reverse:
#: ``hvp``, ``hessian``) by their tangent rules (``rules/runtime.py``). Reverse mode refuses
#: them: nothing differentiates an adjoint of whole arrays in reverse.
FORWARD_ONLY = {
    f
    for e in entries()
    if e.forward_only
    for g in e.functions
    for f in (g, getattr(g, "py_func", g))
}

#: Functions that make a new array; the array's adjoint starts at zero.
ARRAY_CONSTRUCTORS = {np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like}

#: Functions of a tuple of arrays; reverse_arrays.py splits their adjoint into the parts.
JOINING = {np.concatenate, np.stack, np.vstack, np.hstack, np.column_stack, array_of}

#: Methods of arrays that make a copy.
COPY_METHODS = {"copy"}

#: Packages whose Python functions are never read as yours: a call of one without a rule is
#: refused at your line (those with rules: rules/special.py, rules/sorting.py).
_LIBRARIES = {"numpy", "scipy"}


class CalleeKind(str, Enum):
    """The kinds of things a call refers to (equal to their names as strings)."""

    RULE = "rule"  # a primitive with a derivative rule (the registry)
    NONDIFF = "nondiff"  # a function without derivative (len, np.floor, ...)
    CONSTRUCTOR = "constructor"  # a new array (np.zeros, ...): its adjoint starts at zero
    USER = "user"  # a function of yours: sourcead differentiates its source
    PRIMITIVE = "primitive"  # a @sourcead.primitive (opaque): its rule is registered apart
    SOLVER = "solver"  # fixed_point, root, odeint
    JVP = "jvp"  # sourcead.jvp
    FORWARD_ONLY = "forward_only"  # a helper of generated adjoints (see ``FORWARD_ONLY``)
    COPY = "copy"  # x.copy()


@dataclass(frozen=True)
class Callee:
    """What a call refers to: its kind and the object called."""

    kind: CalleeKind
    target: object

    def __post_init__(self):
        object.__setattr__(self, "kind", CalleeKind(self.kind))  # ValueError for a typo


def _has_adjoint(obj) -> bool:
    entry = entry_for(obj)
    return entry is not None and not entry.forward_only and entry.rule(arrays=True) is not None


def classify(obj) -> Callee | None:
    """Classify a called object, or None when sourcead does not know it."""
    if solver_spec(obj) is not None:  # fixed_point, root, odeint: they take a function of yours
        return Callee("solver", obj)
    try:
        if obj in JOINING or (obj in PRIMITIVES and _has_adjoint(obj)):
            return Callee("rule", obj)
        if _has_adjoint(unwrap(obj)):  # a Numba-compiled function with a rule
            return Callee("rule", unwrap(obj))
        if obj in NONDIFFERENTIABLE:
            return Callee("nondiff", obj)
        if obj in FORWARD_ONLY:
            return Callee("forward_only", obj)
        if obj in ARRAY_CONSTRUCTORS:
            return Callee("constructor", obj)
    except TypeError:  # unhashable objects are none of these
        pass
    if getattr(obj, "__sourcead_primitive__", False):
        return Callee("primitive", unwrap(obj))
    if callable(getattr(obj, "__sourcead_tangent__", None)):  # sourcead.jvp (api.forward)
        return Callee("jvp", obj)  # reverse over forward: see lowering.jvp_calls
    if (getattr(obj, "__module__", None) or "").startswith("sourcead."):
        return None  # sourcead's own API (grad …) is not differentiated through
    if isinstance(unwrap(obj), types.FunctionType):
        if (unwrap(obj).__module__ or "").partition(".")[0] in _LIBRARIES:
            return None  # SciPy's functions without a rule (scipy.special.comb): not yours
        return Callee("user", unwrap(obj))
    return None
