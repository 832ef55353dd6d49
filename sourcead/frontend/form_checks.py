"""The subset check of the calls the compiler handles itself: solvers and ``jvp``.

``subset.check_subset`` calls these for a call of ``fixed_point``, ``root``, ``odeint``
(``lowering.solver_calls`` rewrites them) or ``sourcead.jvp`` (``lowering.jvp_calls``).
"""

from __future__ import annotations

import inspect
import numbers

import gast

from ..rules.callees import classify
from ..rules.forms import solver_spec
from .source import unwrap


def check_solver_call(checker, node: gast.Call) -> None:
    """Check a solver call for ``subset.check_subset``; note its user function on the node."""
    fn = checker.fn
    spec = solver_spec(node.callee.target)
    leading = 2 + len(spec.fixed)
    if len(node.args) < leading:
        names = ", ".join(("function", "initial value", *spec.fixed))
        raise fn.error(f"{spec.name}() needs at least {leading} arguments ({names})", node)
    function = node.args[0]
    if not isinstance(function, gast.Name | gast.Attribute) or (
        isinstance(function, gast.Name) and function.id in checker.locals
    ):
        raise fn.error(f"the first argument of {spec.name}() must name a function of yours", node)
    target = checker.global_value(function)
    callee = classify(target)
    if callee is None or callee.kind != "user":
        raise fn.error(
            f"the first argument of {spec.name}() must be a Python function of yours "
            "(sourcead generates its derivative)",
            node,
        )
    node.solver_function = unwrap(target)
    for arg in node.args[1:]:
        checker.expression(arg)
    _pass_defaults(fn, node, spec.name)
    numeric = {k for k, _ in spec.numeric}
    choices = dict(spec.choices)
    for keyword in node.keywords:
        if keyword.arg in choices:
            value = keyword.value
            if not (isinstance(value, gast.Constant) and value.value in choices[keyword.arg]):
                allowed = " or ".join(repr(c) for c in choices[keyword.arg])
                raise fn.error(f"{spec.name}(): {keyword.arg}= must be {allowed}", keyword.value)
        elif keyword.arg in numeric:
            checker.expression(keyword.value)
        else:
            raise fn.error(f"{spec.name}() has no option {keyword.arg}=", node)
    # The call is replaced by generated code: the module must not import sourcead itself.
    if hasattr(node.func, "global_value"):
        del node.func.global_value


def _pass_defaults(fn, node: gast.Call, solver: str) -> None:
    """The defaults of the user function's parameters the solver call leaves out, appended to
    its arguments (numbers, True and False), as a plain call of the function uses them."""
    function = node.solver_function
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return  # no signature to read: the number of arguments is checked with the types
    passed = len(node.args) - 1  # the state, odeint's times and the parameters
    for p in parameters[passed:]:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is p.empty:
            return  # refused with the number of arguments the function takes
        if not isinstance(p.default, bool | numbers.Number):
            raise fn.error(
                f"{solver}() leaves out {function.__name__}()'s parameter {p.name}, whose "
                f"default is not a number ({p.default!r}): pass it to {solver}()",
                node,
            )
        node.args.append(gast.copy_location(gast.Constant(value=p.default, kind=None), node))


def check_jvp_call(checker, node: gast.Call) -> None:
    """Check a ``jvp`` call for ``subset.check_subset``; note its function on the node."""
    fn = checker.fn
    if node.keywords or len(node.args) != 3:
        raise fn.error(
            "jvp() inside a differentiated function takes (function, primals, tangents), "
            "without keyword arguments",
            node,
        )
    function, primals, tangents = node.args
    if not isinstance(function, gast.Name | gast.Attribute) or (
        isinstance(function, gast.Name) and function.id in checker.locals
    ):
        raise fn.error("the first argument of jvp() must name a function of yours", node)
    callee = classify(checker.global_value(function))
    if callee is None or callee.kind != "user":
        raise fn.error(
            "the first argument of jvp() must be a Python function of yours (sourcead "
            "generates its tangent)",
            node,
        )
    if not (
        isinstance(primals, gast.Tuple)
        and isinstance(tangents, gast.Tuple)
        and len(primals.elts) == len(tangents.elts)
    ):
        raise fn.error(
            "jvp() inside a differentiated function takes its primals and tangents as tuples "
            "written out, of the same length: jvp(f, (x, y), (dx, None))",
            node,
        )
    if all(_is_none(t) for t in tangents.elts):
        raise fn.error("jvp() needs at least one tangent that is not None", node)
    for value in primals.elts + [t for t in tangents.elts if not _is_none(t)]:
        checker.expression(value)
    node.jvp_function = callee.target
    # the call is replaced by generated code: the module must not import sourcead itself
    if hasattr(node.func, "global_value"):
        del node.func.global_value


def _is_none(node) -> bool:
    return isinstance(node, gast.Constant) and node.value is None
