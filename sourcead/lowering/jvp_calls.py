"""Calls of ``sourcead.jvp`` inside a differentiated function: reverse (or forward) over forward.

``value, slope = sourcead.jvp(f, (x, y), (dx, None))`` inside a function given to ``grad``
is differentiated through the tangent function sourcead generates for ``f``
(``forward_api``), which is ordinary code in the subset. Three hooks, as for the solver
calls (``solver_calls``):

* ``check_call`` (subset): the first argument names a function of the user's, the primals
  and tangents are tuples written out, of the same length, with ``None`` for arguments not
  differentiated;
* ``result_type`` (type inference): ``(value, tangent)``, both of ``f``'s result type;
* ``rewrite_calls`` (before adjoint or tangent generation, once the types are known): each
  such call becomes a call of ``f``'s tangent function for those types,
  ``f_tangent(x, y, dx)``, which reverse and forward mode then differentiate like any
  function the user calls.
"""

from __future__ import annotations

import copy

import gast

from ..analysis.inference import TypeProblem, expression_type
from ..analysis.types import Scalar, TupleType
from ..rules.callees import Callee
from ..trees.codegen import src
from ..trees.functions import unwrap


def jvp_functions(tree: gast.AST) -> list:
    """The user functions whose ``jvp`` ``tree`` calls."""
    return [
        n.jvp_function
        for n in gast.walk(tree)
        if isinstance(n, gast.Call) and getattr(n, "jvp_function", None) is not None
    ]


def has_jvp_calls(tree: gast.AST) -> bool:
    return bool(jvp_functions(tree))


def _is_none(node) -> bool:
    return isinstance(node, gast.Constant) and node.value is None


def _primal_types(call: gast.Call, arg_types: list):
    primals = arg_types[1]
    if not isinstance(primals, TupleType) or any(t is None for t in primals.items):
        return None
    return list(primals.items)


def _wrt(program, call: gast.Call) -> list[str]:
    params = program.load(call.jvp_function).parsed.params
    tangents = call.args[2].elts
    if len(tangents) != len(params):
        raise TypeProblem(
            call, f"jvp(): {len(params)} primals and tangents needed, got {len(tangents)}"
        )
    return [p for p, t in zip(params, tangents, strict=True) if not _is_none(t)]


def result_type(program, call: gast.Call, arg_types: list):
    """``(value, tangent)``: both of the function's result type."""
    types = _primal_types(call, arg_types)
    if types is None:
        return None
    loaded = program.load(call.jvp_function)
    wrt = _wrt(program, call)
    program.infer(loaded, types)
    for p, t in zip(loaded.parsed.params, types, strict=True):
        if p in wrt and not getattr(t, "differentiable", False):
            raise TypeProblem(call, f"jvp(): {p} of {loaded.parsed.name} is not a float")
    result = program.result_types[(loaded.parsed.pyfunc, tuple(types))]
    if not isinstance(result, Scalar) or result.kind != "float":
        raise TypeProblem(
            call, "jvp() inside a differentiated function needs a function returning a float"
        )
    return TupleType((result, result))


def rewritten_primal(program, loaded, types: dict):
    """``loaded`` itself, or where it calls ``jvp`` a copy whose source calls the tangent
    functions instead: for a module that runs the function (``vmap`` of it)."""
    if not has_jvp_calls(loaded.normalized):
        return loaded
    tree = rewrite_calls(program, loaded, loaded.normalized, types)
    primal = copy.copy(loaded)
    primal.parsed = copy.copy(loaded.parsed)
    primal.parsed.source_text = src(tree)
    return primal


def rewrite_calls(program, loaded, tree, types: dict):
    """``tree`` with each ``jvp`` call replaced by a call of the tangent function."""
    if not has_jvp_calls(tree):
        return tree
    tree = copy.deepcopy(tree)
    for call in [n for n in gast.walk(tree) if getattr(n, "jvp_function", None) is not None]:
        primals = call.args[1].elts
        arg_types = [expression_type(p, types) for p in primals]
        if None in arg_types:
            raise loaded.parsed.error("cannot tell the types of the primals of jvp()", call)
        function = call.jvp_function
        wrt = _wrt(program, call)
        # the tangent maker travels with sourcead.jvp itself (api.forward)
        _, tangent, _ = call.callee.target.__sourcead_tangent__(
            function, arg_types, wrt, False, True
        )
        tangent = unwrap(tangent)
        tangent_loaded = program.load(tangent)
        if tangent_loaded not in program.primals:
            program.primals.append(tangent_loaded)
            program._add_primal(tangent_loaded)
        directions = [t for t in call.args[2].elts if not _is_none(t)]
        call.func = gast.Name(
            id=tangent.__name__, ctx=gast.Load(), annotation=None, type_comment=None
        )
        call.args = list(primals) + directions
        call.callee = Callee("user", tangent)
        del call.jvp_function
    return tree
