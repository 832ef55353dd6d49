"""Reading rule templates: adjoint rules into ``Rule``, tangent rules into ``TangentRule``.

An adjoint rule is a plain Python function whose first parameter is the adjoint of the
primitive's result and whose other parameters are the primitive's arguments. It returns the
adjoint contribution for each argument (a tuple for several, ``None`` for an argument that
has no derivative). A rule whose contributions need intermediate values (the linear-algebra
rules) may have a body of several statements ending in the ``return``; its local names get
fresh names each time it is instantiated. Parameters after the arguments may have defaults:
they stand for keyword arguments of the primitive (``axis=None``)::

    def adjoint(b_out, y, x):          # of atan2(y, x)
        return b_out * (x / (x * x + y * y)), b_out * (-y / (x * x + y * y))

A tangent rule takes the arguments' tangents, then the arguments, and returns the result's
tangent, linear in the tangents. When an argument carries no derivative its tangent
parameter is replaced by a zero and the expression is folded (``0 * e``, ``e + 0`` …). A rule
returns ``None`` for a result without derivative. It may end its parameters with
``**keywords`` and pass them on: the keyword arguments of the call go there, which is how
linear primitives say that their tangent is themselves applied to the tangent. A primitive
with several results (``w, v = np.linalg.eigh(a)``) has a tangent rule that names the results
as keyword-only parameters, which it may read, and returns one tangent per result::

    def tangent(dy, dx, y, x):         # of atan2(y, x)
        return (x * dy - y * dx) / (x * x + y * y)

    def tangent(dx, x, **keywords):    # of np.sum
        return np.sum(dx, **keywords)

The compiler never calls a rule: it reads the rule's source and substitutes the names, so
the rule is written into the generated code, where Numba compiles it. Rules may use
``math`` and ``np``; generated modules import both under those names.
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
