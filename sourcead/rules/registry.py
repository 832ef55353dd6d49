"""The registry: one entry per primitive, holding everything sourcead knows about it.

An entry is declared once, in the rule file of its family, as a class whose methods are
the rule templates (``parsing`` describes their form)::

    @register(math.exp, np.exp)
    class Exp:
        def adjoint(b_out, x):
            return b_out * np.exp(x)

        def tangent(dx, x):
            return np.exp(x) * dx

The methods: ``adjoint`` (the reverse rule; for scalar arguments when there is also an
``array_adjoint``, used when an argument is a whole array) and ``tangent`` (the forward rule,
with ``array_tangent`` likewise). ``register``'s keywords give the other facts:

* ``result``: the result's type when an argument is an array (a function of ``shapes``);
* ``outputs``: how many results a primitive returning a tuple has (``np.linalg.eigh``);
* ``linear_in``: the arguments the primitive is linear in (a zero there makes the call zero,
  which forward mode folds away);
* ``methods`` and ``attributes``: array methods and attributes that spell the primitive
  (``x.sum()`` for ``np.sum``, ``x.T`` for ``np.transpose``);
* ``device``: whether CUDA device code may call it (scalar functions that Numba's CUDA
  target compiles);
* ``complex``: whether its rules hold for complex arguments (a call with a complex array
  is refused where they do not);
* ``forward_only`` and ``new_array``: for the helpers that generated adjoints call
  (``runtime``): forward mode differentiates them (``hvp``, ``hessian``), reverse mode
  refuses them; ``new_array``: each call returns a new array.

``adjoint``, ``array_adjoint``, ``tangent`` and ``array_tangent`` (the public
``sourcead.adjoint`` …) register rules of your own functions (``sourcead.primitive``) or
replace the built-in ones, as decorators of one rule function each.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
from collections.abc import Callable
from dataclasses import dataclass

import gast
import numpy as np
import sourcead_runtime

from ..trees.functions import unwrap
from .parsing import Rule, TangentRule, parse_rule, parse_tangent_rule


@dataclass(frozen=True)
class Unparsed:
    """A built-in rule template, parsed when first read: parsing all of them at import took
    about 0.2 s of every process that imports the compiler, most of which use a few."""

    parse: Callable  # parse_rule or parse_tangent_rule
    function: Callable  # the template
    arguments: tuple = ()  # parse_rule's ``outputs``

    def parsed(self) -> Rule | TangentRule:
        return self.parse(self.function, *self.arguments)

    def names(self) -> set[str]:
        """The global and attribute names the template's code reads, without parsing it."""
        found: set[str] = set()
        codes = [self.function.__code__]
        while codes:
            code = codes.pop()
            found.update(code.co_names)
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        return found


@dataclass(frozen=True)
class Primitive:
    """What sourcead knows about one primitive (see the module's docstring).

    A built-in entry's four rules may be held ``Unparsed`` until first read: reading one
    parses it and keeps the result, so every reader sees a ``Rule`` or ``TangentRule``.
    """

    name: str
    functions: tuple  # the callables this entry covers (math.exp and np.exp share one)
    adjoint: Rule | None = None
    array_adjoint: Rule | None = None
    tangent: TangentRule | None = None
    array_tangent: TangentRule | None = None
    result: Callable | None = None  # (argument types, call node) -> the result's type
    linear_in: tuple[int, ...] = ()
    methods: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    device: bool = True
    complex: bool = True  # whether its rules hold for complex arguments
    forward_only: bool = False
    new_array: bool = False
    builtin: bool = True  # registered by sourcead (False: a rule of yours replaced a part)

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if type(value) is Unparsed:
            value = value.parsed()
            object.__setattr__(self, name, value)  # (two threads may both parse: same result)
        return value

    def rule(self, arrays: bool) -> Rule | None:
        """The adjoint rule: the array rule when an argument is an array and there is one."""
        if arrays and self.array_adjoint is not None:
            return self.array_adjoint
        return self.adjoint or self.array_adjoint

    def tangent_rule(self, arrays: bool) -> TangentRule | None:
        """The tangent rule: the array rule when an argument is an array and there is one."""
        if arrays and self.array_tangent is not None:
            return self.array_tangent
        return self.tangent or self.array_tangent

    @property
    def helpers(self) -> tuple[str, ...]:
        """The runtime helpers (``sourcead_runtime``) its rules call, by name (of a template
        not parsed yet, the names its code reads: the same helpers, without parsing it)."""
        trees = []
        called = set()
        for kind in ("adjoint", "array_adjoint", "tangent", "array_tangent"):
            rule = object.__getattribute__(self, kind)
            if type(rule) is Unparsed:
                called |= rule.names()
            elif isinstance(rule, Rule):
                trees += [c for c in rule.contributions if c is not None] + list(rule.body)
            elif rule is not None and rule.value is not None:
                trees.append(rule.value)
        called |= {
            node.func.id
            for tree in trees
            for node in gast.walk(tree)
            if isinstance(node, gast.Call) and isinstance(node.func, gast.Name)
        }
        return tuple(sorted(called & set(sourcead_runtime.__all__)))


PRIMITIVES: dict[object, Primitive] = {}
_CUSTOM_RULES: list[str] = []  # rules registered from outside sourcead (their functions' names)


def register(
    *functions,
    result: Callable | None = None,
    outputs: int = 1,
    linear_in: tuple[int, ...] = (),
    methods: tuple[str, ...] = (),
    attributes: tuple[str, ...] = (),
    device: bool = True,
    complex: bool = True,
    forward_only: bool = False,
    new_array: bool = False,
):
    """Class decorator: the class's methods are the rules of ``functions`` (one entry)."""

    def define(namespace: type) -> Primitive:
        parts = vars(namespace)
        builtin = namespace.__module__.startswith("sourcead.")

        def read(parse: Callable, kind: str, *arguments):
            """The rule ``kind`` of the class: parsed when first used if built in, else now
            (a template of yours is checked where it is defined)."""
            if kind not in parts:
                return None
            unparsed = Unparsed(parse, parts[kind], arguments)
            return unparsed if builtin else unparsed.parsed()

        def adjoint_rule(kind: str, results: int = 1) -> Rule | None:
            return read(parse_rule, kind, results)

        def tangent_rule(kind: str) -> TangentRule | None:
            return read(parse_tangent_rule, kind)

        entry = Primitive(
            name=namespace.__name__,
            functions=tuple(unwrap(f) for f in functions),
            adjoint=adjoint_rule("adjoint"),
            array_adjoint=adjoint_rule("array_adjoint", outputs),
            tangent=tangent_rule("tangent"),
            array_tangent=tangent_rule("array_tangent"),
            result=result,
            linear_in=linear_in,
            methods=methods,
            attributes=attributes,
            device=device,
            complex=complex,
            forward_only=forward_only,
            new_array=new_array,
            builtin=builtin,
        )
        for function in entry.functions:
            PRIMITIVES[function] = entry
        return entry

    return define


def entry_for(function) -> Primitive | None:
    """The registry's entry of ``function`` (a Numba dispatcher counts as its Python
    function), or None."""
    try:
        return PRIMITIVES.get(unwrap(function))
    except TypeError:  # unhashable: no primitive
        return None


def rule_for(function, arrays: bool) -> Rule | None:
    """The adjoint rule of ``function``: its array rule when ``arrays`` and it has one."""
    entry = entry_for(function)
    rule = entry.rule(arrays) if entry is not None else None
    return _spelled_for(function, rule)


def scalar_rule_for(function) -> Rule | None:
    """The adjoint rule of ``function`` for scalar arguments only (None when it has none)."""
    entry = entry_for(function)
    return _spelled_for(function, entry.adjoint if entry is not None else None)


def tangent_rule_for(function, arrays: bool = False) -> TangentRule | None:
    """The tangent rule of ``function``: its array rule when ``arrays`` and it has one."""
    entry = entry_for(function)
    rule = entry.tangent_rule(arrays) if entry is not None else None
    return _spelled_for(function, rule)


#: NumPy's functions of scalars and their names in ``math``.
_MATH_NAMES = {
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos",
    "arctan": "atan", "arctan2": "atan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "exp": "exp", "expm1": "expm1",
    "exp2": "exp2", "log": "log", "log1p": "log1p", "log2": "log2", "log10": "log10",
    "sqrt": "sqrt", "hypot": "hypot", "power": "pow", "fabs": "fabs", "pi": "pi", "e": "e",
}  # fmt: skip
_MATH_SPELLED: dict[int, object] = {}


def _spelled_for(function, rule):
    """``rule`` as a call of ``function`` needs it: in ``math``'s spelling (``math.cos(x)``,
    not ``np.cos(x)``) where ``function`` is a ``math`` function, since one entry serves
    ``math.f`` and ``np.f`` and Numba's CUDA target compiles ``math`` but not NumPy's
    functions of scalars."""
    if rule is None or not spelling(function).startswith("math."):
        return rule
    if id(rule) not in _MATH_SPELLED:
        _MATH_SPELLED[id(rule)] = (rule, _in_math_spelling(rule))
    return _MATH_SPELLED[id(rule)][1]


class _ToMath(gast.NodeTransformer):
    def visit_Attribute(self, node):
        node = self.generic_visit(node)
        if (
            isinstance(node.value, gast.Name)
            and node.value.id == "np"
            and node.attr in _MATH_NAMES
            and hasattr(math, _MATH_NAMES[node.attr])
        ):
            node.value.id, node.attr = "math", _MATH_NAMES[node.attr]
        return node


def _in_math_spelling(rule):
    def converted(tree):
        return None if tree is None else _ToMath().visit(copy.deepcopy(tree))

    if isinstance(rule, Rule):
        return dataclasses.replace(
            rule,
            contributions=tuple(converted(c) for c in rule.contributions),
            body=tuple(converted(s) for s in rule.body),
        )
    return dataclasses.replace(rule, value=converted(rule.value))


def entries() -> list[Primitive]:
    """Every entry once (an entry covering several functions appears once)."""
    return list({id(e): e for e in PRIMITIVES.values()}.values())


def spelling(function) -> str:
    """How generated code calls ``function``: ``np.dot``, ``np.linalg.solve``, or its bare
    name (``math`` functions are ``math.f``; runtime helpers are imported by name)."""
    name = getattr(function, "__name__", "")
    for prefix, module in (("np.", np), ("np.linalg.", np.linalg), ("math.", math)):
        if getattr(module, name, None) is function:
            return prefix + name
    return name


def method_functions() -> dict[str, object]:
    """Array methods and the primitive each spells (``"sum"`` -> ``np.sum``)."""
    return {method: e.functions[0] for e in entries() for method in e.methods}


def attribute_functions() -> dict[str, object]:
    """Array attributes and the primitive each spells (``"T"`` -> ``np.transpose``)."""
    return {name: e.functions[0] for e in entries() for name in e.attributes}


# --- rules of your own -------------------------------------------------------------------------
def _updated(primitive, rule_function, **parts) -> None:
    key = unwrap(primitive)
    entry = PRIMITIVES.get(key) or Primitive(name=getattr(key, "__name__", "f"), functions=(key,))
    PRIMITIVES[key] = dataclasses.replace(entry, builtin=False, **parts)
    if not rule_function.__module__.startswith("sourcead."):
        _CUSTOM_RULES.append(f"{rule_function.__module__}.{rule_function.__qualname__}")


def custom_rules_registered() -> bool:
    """Whether any derivative rule (adjoint or tangent) came from outside sourcead."""
    return bool(_CUSTOM_RULES)


def adjoint(primitive: Callable) -> Callable[[Callable], Callable]:
    """Register the decorated function as the reverse rule (adjoint) of ``primitive``.

    ``primitive`` is a NumPy or ``math`` function or one of your own (see ``primitive``).
    The rule's first parameter is the adjoint of the primitive's result, the others are the
    primitive's arguments; it returns one contribution per argument (a tuple when there are
    several, ``None`` for an argument without derivative). Its body is copied into the
    generated code, so it must be plain Python and NumPy that Numba compiles::

        @sourcead.adjoint(softplus)
        def softplus_adjoint(b_out, x):
            return b_out / (1.0 + np.exp(-x))

    It replaces the built-in rules of ``primitive`` for scalars and for arrays.
    """

    def add(rule_function):
        _updated(primitive, rule_function, adjoint=parse_rule(rule_function), array_adjoint=None)
        return rule_function

    return add


def array_adjoint(primitive, outputs: int = 1):
    """Register the rule of ``primitive`` used when one of its arguments is an array.

    For a primitive that returns a tuple of ``outputs`` values, the rule's first ``outputs``
    parameters are the adjoints of those values.
    """

    def add(rule_function):
        _updated(primitive, rule_function, array_adjoint=parse_rule(rule_function, outputs))
        return rule_function

    return add


def tangent(primitive: Callable) -> Callable[[Callable], Callable]:
    """Register the decorated function as the forward rule (tangent) of ``primitive``.

    The rule takes the tangents of the primitive's arguments, then the arguments, and
    returns the tangent of the result::

        @sourcead.tangent(softplus)
        def softplus_tangent(dx, x):
            return dx / (1.0 + np.exp(-x))
    """

    def add(rule_function):
        _updated(primitive, rule_function, tangent=parse_tangent_rule(rule_function))
        return rule_function

    return add


def array_tangent(primitive):
    """Register the tangent rule of ``primitive`` used when one of its arguments is an array."""

    def add(rule_function):
        _updated(primitive, rule_function, array_tangent=parse_tangent_rule(rule_function))
        return rule_function

    return add


def primitive(fn: Callable) -> Callable:
    """Mark your own function as opaque: sourcead calls it as it is and does not look inside.

    Its derivative comes from a rule registered with ``sourcead.adjoint(fn)``. The function
    itself must compile with Numba (generated code calls it from compiled code).
    """
    fn.__sourcead_primitive__ = True
    return fn
