"""Tangent (forward-mode) rules: the format, the registry and the loader of the built-in ones.

A tangent rule is a plain Python function whose parameters are the tangents of the
primitive's arguments, in order, followed by the arguments themselves. It returns the
tangent of the result: one expression, linear in the tangents. As with adjoint rules the
compiler never calls it; it substitutes names and writes the expression into the
generated code::

    @tangent(math.sin)
    def sin(dx, x):
        return math.cos(x) * dx

    @tangent(math.atan2)
    def atan2(dy, dx, y, x):
        return (x * dy - y * dx) / (x * x + y * y)

When an argument carries no derivative its tangent parameter is replaced by a zero and
the expression is folded (``0 * e``, ``e + 0``, ``0 / e`` …), so ``atan2`` of a constant
``x`` becomes ``x * dy / (x * x + y * y)``. A rule returns ``None`` for a result without
derivative (``floor division``). A rule may end its parameters with ``**keywords`` and
pass them on: the keyword arguments of the call being differentiated go there, which is how
linear primitives say that their tangent is themselves applied to the tangent::

    @tangent(np.sum)
    def sum_(dx, x, **keywords):
        return np.sum(dx, **keywords)

A primitive with several results (``w, v = np.linalg.eigh(a)``) has a rule that names the
results as keyword-only parameters, which it may read, and returns one tangent per result::

    @array_tangent(np.linalg.slogdet)
    def slogdet(da, a, *, sign, logdet):
        return None, np.sum(np.ascontiguousarray(np.linalg.inv(a).T) * da)

``array_tangent`` registers the rule used when an argument is a whole array, where the
scalar rule would not apply (``abs``: ``np.sign(x) * dx`` instead of a conditional
expression). Every primitive with an adjoint rule needs a tangent rule for forward mode;
``sourcead.tangent`` registers one for your own primitives (``sourcead.primitive``).
"""

from __future__ import annotations

from dataclasses import dataclass

import gast

from ..errors import SourceADError
from ..trees.queries import is_docstring
from .registry import note_registration, rule_tree


@dataclass(frozen=True)
class TangentRule:
    """A parsed tangent rule: tangent parameter names, argument names and the result's tangent."""

    name: str
    tangent_params: tuple[str, ...]
    params: tuple[str, ...]
    value: gast.expr | None  # None: the result has no derivative
    defaults: tuple = ()  # (name, default expression) of the keyword parameters
    keywords: str | None = None  # the name of a ``**keywords`` parameter
    results: tuple[str, ...] = ()  # names of the results, for a primitive with several


TANGENT_RULES: dict[object, TangentRule] = {}
ARRAY_TANGENT_RULES: dict[object, TangentRule] = {}


def tangent(primitive):
    """Register the decorated function as the forward rule (tangent) of ``primitive``.

    The rule takes the tangents of the primitive's arguments, then the arguments, and
    returns the tangent of the result::

        @sourcead.tangent(softplus)
        def softplus_tangent(dx, x):
            return dx / (1.0 + np.exp(-x))
    """

    def register(rule_function):
        TANGENT_RULES[_unwrap(primitive)] = parse_tangent_rule(rule_function)
        note_registration(rule_function)
        return rule_function

    return register


def array_tangent(primitive):
    """Register the tangent rule of ``primitive`` used when one of its arguments is an array."""

    def register(rule_function):
        ARRAY_TANGENT_RULES[_unwrap(primitive)] = parse_tangent_rule(rule_function)
        note_registration(rule_function)
        return rule_function

    return register


def tangent_rule_for(primitive, arrays: bool = False) -> TangentRule | None:
    """The tangent rule of ``primitive``: its array rule when ``arrays`` and it has one."""
    key = _unwrap(primitive)
    if arrays and key in ARRAY_TANGENT_RULES:
        return ARRAY_TANGENT_RULES[key]
    return TANGENT_RULES.get(key, ARRAY_TANGENT_RULES.get(key))


def parse_tangent_rule(rule_function) -> TangentRule:
    """Read a tangent rule's source; SourceADError if it is not of the rule form."""
    node, where = rule_tree(rule_function)
    body = [stmt for stmt in node.body if not is_docstring(stmt)]
    if len(body) != 1 or not isinstance(body[0], gast.Return) or body[0].value is None:
        raise SourceADError("a tangent rule's body must be a single return statement", *where)
    names = [arg.id for arg in node.args.args]
    defaults = node.args.defaults
    positional = names[: len(names) - len(defaults)]
    if not positional or len(positional) % 2:
        raise SourceADError(
            "a tangent rule takes one tangent per argument, then the arguments "
            "(def atan2(dy, dx, y, x))",
            *where,
        )
    half = len(positional) // 2
    value = body[0].value
    if isinstance(value, gast.Constant) and value.value is None:
        value = None
    results = tuple(arg.id for arg in node.args.kwonlyargs)
    if results and not (isinstance(value, gast.Tuple) and len(value.elts) == len(results)):
        raise SourceADError(
            f"a tangent rule of a primitive with {len(results)} results returns a tuple of "
            f"{len(results)} tangents",
            *where,
        )
    keyword = tuple(zip(names[len(positional) :], defaults, strict=True))
    keywords = node.args.kwarg.id if node.args.kwarg is not None else None
    return TangentRule(
        node.name,
        tuple(positional[:half]),
        tuple(positional[half:]),
        value,
        keyword,
        keywords,
        results,
    )


def _unwrap(fn):
    py_func = getattr(fn, "py_func", None)
    return py_func if py_func is not None else fn
