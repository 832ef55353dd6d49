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
A rule whose contributions need intermediate values (the linear-algebra rules) may have a
body of several statements ending in the ``return``; its local names get fresh names each
time it is instantiated. Parameters after the arguments may have defaults: they stand for
keyword arguments of the primitive (``axis=None``). ``array_adjoint`` registers the rule
used when an argument is a whole array (where the scalar rule would not apply).

Forward mode reads *tangent* rules, registered with ``tangent`` (``tangents.py`` holds the
format and the registry; ``*_tangents.py`` the built-in rules, one file per family). A
tangent rule takes the arguments' tangents, then the arguments, and returns the result's
tangent, linear in the tangents:

    @tangent(math.atan2)
    def atan2(dy, dx, y, x):
        return (x * dy - y * dx) / (x * x + y * y)
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass

import gast

from ..errors import SourceADError
from ..trees.functions import source_lines
from ..trees.queries import is_docstring


@dataclass(frozen=True)
class Rule:
    """A parsed adjoint rule: parameter names and one contribution template per argument."""

    name: str
    adjoint_param: str
    params: tuple[str, ...]
    contributions: tuple[gast.expr | None, ...]
    body: tuple[gast.stmt, ...] = ()  # statements before the return (multi-statement rules)
    defaults: tuple = ()  # (name, default expression) of the keyword parameters
    namespace: dict | None = None  # the rule's globals (for names other than math and np)
    outputs: tuple[str, ...] = ()  # for a primitive returning a tuple: one adjoint per item

    @property
    def positional(self) -> tuple[str, ...]:
        """The parameters that stand for positional arguments (those without defaults)."""
        return self.params[: len(self.params) - len(self.defaults)]


ADJOINT_RULES: dict[object, Rule] = {}
ARRAY_RULES: dict[object, Rule] = {}
_CUSTOM_RULES: list[str] = []  # rules registered from outside sourcead (their functions' names)


def note_registration(rule_function) -> None:
    """Remember a rule registered by the user's code (the native tier of the cache checks)."""
    if not rule_function.__module__.startswith("sourcead."):
        _CUSTOM_RULES.append(f"{rule_function.__module__}.{rule_function.__qualname__}")


def custom_rules_registered() -> bool:
    """Whether any derivative rule (adjoint or tangent) came from outside sourcead."""
    return bool(_CUSTOM_RULES)


def adjoint(primitive):
    """Register the decorated function as the reverse rule (adjoint) of ``primitive``.

    ``primitive`` is a NumPy or ``math`` function or one of your own (see ``primitive``).
    The rule's first parameter is the adjoint of the primitive's result, the others are the
    primitive's arguments; it returns one contribution per argument (a tuple when there are
    several, ``None`` for an argument without derivative). Its body is copied into the
    generated code, so it must be plain Python and NumPy that Numba compiles::

        @sourcead.adjoint(softplus)
        def softplus_adjoint(b_out, x):
            return b_out / (1.0 + np.exp(-x))
    """

    def register(rule_function):
        key = _unwrap(primitive)
        ADJOINT_RULES[key] = parse_rule(rule_function)
        note_registration(rule_function)
        if not rule_function.__module__.startswith("sourcead.rules."):
            ARRAY_RULES.pop(key, None)  # your rule replaces the built-in array rule too
        return rule_function

    return register


def array_adjoint(primitive, outputs: int = 1):
    """Register the rule of ``primitive`` used when one of its arguments is an array.

    For a primitive that returns a tuple of ``outputs`` values, the rule's first ``outputs``
    parameters are the adjoints of those values.
    """

    def register(rule_function):
        ARRAY_RULES[_unwrap(primitive)] = parse_rule(rule_function, outputs)
        note_registration(rule_function)
        return rule_function

    return register


def rule_for(primitive, arrays: bool) -> Rule | None:
    """The rule of ``primitive``: its array rule when ``arrays`` and it has one."""
    key = _unwrap(primitive)
    if arrays and key in ARRAY_RULES:
        return ARRAY_RULES[key]
    return ADJOINT_RULES.get(key, ARRAY_RULES.get(key))


def primitive(fn):
    """Mark your own function as opaque: sourcead calls it as it is and does not look inside.

    Its derivative comes from a rule registered with ``sourcead.adjoint(fn)``. The function
    itself must compile with Numba (generated code calls it from compiled code).
    """
    fn.__sourcead_primitive__ = True
    return fn


def _unwrap(fn):
    py_func = getattr(fn, "py_func", None)
    return py_func if py_func is not None else fn


def rule_tree(rule_function) -> tuple[gast.FunctionDef, tuple[str, int]]:
    """The parsed definition of a rule function and where it is (file, line);
    SourceADError when its source cannot be read."""
    code = rule_function.__code__
    lines, first_line = source_lines(rule_function, "the rule ")
    where = (inspect.getsourcefile(rule_function) or code.co_filename, first_line)
    return gast.parse(textwrap.dedent("".join(lines))).body[0], where


def parse_rule(rule_function, outputs: int = 1) -> Rule:
    """Read a rule's source into a Rule; SourceADError if it is not of the rule form."""
    node, where = rule_tree(rule_function)
    body = [stmt for stmt in node.body if not is_docstring(stmt)]
    if not body or not isinstance(body[-1], gast.Return) or body[-1].value is None:
        raise SourceADError("a rule's body must end in a return statement", *where)
    if any(isinstance(n, gast.Return) for stmt in body[:-1] for n in gast.walk(stmt)):
        raise SourceADError("a rule may return only at its end", *where)
    names = [arg.id for arg in node.args.args]
    if not names:
        raise SourceADError("a rule takes the result's adjoint, then the arguments", *where)
    value = body[-1].value
    if len(names) <= outputs:
        raise SourceADError(f"a rule takes {outputs} adjoint(s), then the arguments", *where)
    output_adjoints = tuple(names[:outputs]) if outputs > 1 else ()
    names = names[outputs - 1 :]
    params = tuple(names[1:])
    defaults = tuple(
        zip(params[len(params) - len(node.args.defaults) :], node.args.defaults, strict=True)
    )
    params_without_defaults = len(params) - len(defaults)
    if params_without_defaults == 1 and not (
        isinstance(value, gast.Tuple) and len(value.elts) == len(params)
    ):
        contributions = (value,) + (None,) * len(defaults)
    elif isinstance(value, gast.Tuple) and len(value.elts) == params_without_defaults:
        contributions = tuple(value.elts) + (None,) * len(defaults)
    elif isinstance(value, gast.Tuple) and len(value.elts) == len(params):
        contributions = tuple(value.elts)
    else:
        raise SourceADError(
            f"a rule of {params_without_defaults} arguments must return a tuple of "
            f"{params_without_defaults} contributions (None for an argument without derivative)",
            *where,
        )
    contributions = tuple(
        None if isinstance(c, gast.Constant) and c.value is None else c for c in contributions
    )
    return Rule(
        node.name,
        names[0],
        params,
        contributions,
        tuple(body[:-1]),
        defaults,
        getattr(rule_function, "__globals__", None),
        output_adjoints,
    )
