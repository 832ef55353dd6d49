"""Norms, weighted averages, traces and differences: ``np.linalg.norm`` with ``ord=``,
``axis=`` and ``keepdims=``, ``np.average``, ``np.trace`` with ``offset=`` and axes, ``np.diff``.

The array-syntax rewrite (``lowering/arrays.py``, through ``library.py``'s ``rewrite``) writes
each call as calls of primitives that have rules, most of them others' (``rules/reductions.py``,
``rules/factorizations.py``), so that their rules differentiate it in every mode:

* ``np.linalg.norm(x, 1, axis=0)`` is ``sum_along(np.abs(x), axis=0)``, ``ord=np.inf``
  ``max_along(np.abs(x), ...)`` (ties shared, as the maximum's), ``ord=p``
  ``np.power(sum_along(np.abs(x) ** p, ...), 1 / p)``; a matrix's 1- and inf-norms over a
  pair of axes are a maximum of sums (``max_along(sum_along(np.abs(x), axis=a,
  keepdims=True), axis=(a, b))``), its 2-norm, -2-norm and nuclear norm the largest,
  smallest and sum of its singular values (``linalg_svd_values``, whose rules are the SVD's);
  the 2-norm and Frobenius norm over axes are ``norm_along``, whose derivative is 0 where the
  norm is 0. Without ``axis=``, NumPy's meaning of ``ord`` depends on the number of
  dimensions, which is not known before the types are: ``norm_operand(x, "column")`` makes a
  vector a one-column matrix, whose 1-, 2-, inf- and -inf-norms are the vector's.
* ``np.average(a, axis, weights)`` is ``sum(a * w, axis) / sum(w, axis)`` with the weights
  shaped to broadcast against ``a`` (``weights_along``); without weights, the mean.
* ``np.trace`` with options is ``trace_along`` and ``np.diff`` ``diff_along``: linear maps,
  whose adjoints are their transposes (``trace_adjoint``, ``diff_adjoint``).

Options sourcead does not take (``np.diff``'s ``prepend=``/``append=``, ``np.average``'s
``returned=True``, ``ord`` values NumPy refuses, axes not written in the call) are refused
at the line of the call, with the function and the option named.
"""

from __future__ import annotations

import copy
import math

import gast
import numpy as np
from sourcead_runtime import (
    diff_adjoint,
    diff_along,
    expand_along,
    linalg_svd_values,
    max_along,
    mean_along,
    min_along,
    norm_along,
    norm_operand,
    norm_share_along,
    norm_share_along_tangent,
    sum_along,
    trace_adjoint,
    trace_along,
    weights_along,
)

from ..analysis.types import Array, Scalar
from ..trees.codegen import src
from ..trees.resolved import located, resolved
from . import shapes
from .library import Option, calls
from .registry import register

# --- building the calls ---------------------------------------------------------------------


_SPELLED = {
    np.abs: "np.abs",
    np.sum: "np.sum",
    np.max: "np.max",
    np.min: "np.min",
    np.mean: "np.mean",
    np.power: "np.power",
    np.divide: "np.divide",
    np.linalg.norm: "np.linalg.norm",
    np.trace: "np.trace",
}


def _call(function, *args, **keywords) -> gast.Call:
    """A call of ``function`` (one of NumPy's in ``_SPELLED`` or a runtime helper)."""
    func = resolved(function, _SPELLED.get(function))
    return gast.Call(
        func=func,
        args=list(args),
        keywords=[gast.keyword(arg=k, value=v) for k, v in keywords.items()],
    )


def _constant(value) -> gast.expr:
    if isinstance(value, tuple):
        return gast.Tuple(elts=[_constant(v) for v in value], ctx=gast.Load())
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=-value, kind=None))
    return gast.Constant(value=value, kind=None)


def _options(parsed, call: gast.Call, spelled: str, names: tuple[str, ...]) -> dict:
    """The call's arguments by parameter name (``names`` in NumPy's order)."""
    if any(isinstance(a, gast.Starred) for a in call.args):
        raise parsed.error(f"{spelled} with *arguments", call)
    if len(call.args) > len(names):
        raise parsed.error(f"{spelled} with {len(call.args)} arguments", call)
    given = dict(zip(names, call.args, strict=False))
    for keyword in call.keywords:
        if keyword.arg is None or keyword.arg in given:
            raise parsed.error(f"{spelled} with **options or an option given twice", call)
        if keyword.arg not in names:
            taken = ", ".join(f"{n}=" for n in names[1:])
            raise parsed.error(f"{spelled} with {keyword.arg}= (sourcead takes {taken})", call)
        given[keyword.arg] = keyword.value
    if names[0] not in given:
        raise parsed.error(f"{spelled} without its argument {names[0]}", call)
    return {
        name: value
        for name, value in given.items()
        if not (isinstance(value, gast.Constant) and value.value is None)
    }


def _axes(parsed, call, spelled: str, node) -> tuple[int, ...] | None:
    """The integers ``axis=`` writes (None: not given), refused unless written in the call."""
    if node is None:
        return None
    elts = node.elts if isinstance(node, gast.Tuple | gast.List) else [node]
    values = [shapes.literal_int(e) for e in elts]
    if not elts or None in values:
        raise parsed.error(
            f"{spelled} with axis={src(node)}: sourcead takes an integer or a tuple of "
            "integers written in the call",
            call,
        )
    return tuple(values)


def _flag(parsed, call, spelled: str, name: str, node) -> bool:
    if node is None:
        return False
    if isinstance(node, gast.Constant) and isinstance(node.value, bool):
        return node.value
    raise parsed.error(f"{spelled} with {name}={src(node)}: write True or False", call)


def _finished(made: gast.Call, call: gast.Call, spelled: str) -> gast.Call:
    located(made, call)
    made.spelled = spelled
    return made


# --- np.linalg.norm ---------------------------------------------------------------------------


def _order(parsed, call, spelled: str, node):
    """The ``ord`` written in the call: None, "fro", "nuc" or a number (``np.inf`` too)."""
    if node is None:
        return None
    if isinstance(node, gast.Constant) and node.value in ("fro", "nuc"):
        return node.value
    sign, inner = 1.0, node
    while isinstance(inner, gast.UnaryOp) and isinstance(inner.op, gast.USub | gast.UAdd):
        sign *= -1.0 if isinstance(inner.op, gast.USub) else 1.0
        inner = inner.operand
    value = None
    if isinstance(inner, gast.Constant):
        value = inner.value
    elif isinstance(inner, gast.Name | gast.Attribute):
        try:
            value = parsed.resolve(inner)
        except (KeyError, AttributeError):
            value = None
    if isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value):
        return sign * float(value)
    raise parsed.error(
        f"{spelled} with ord={src(node)}: sourcead takes a number, np.inf, -np.inf, 'fro' or "
        "'nuc' written in the call",
        call,
    )


def _ord_text(order) -> str:
    if isinstance(order, str):
        return repr(order)
    if math.isinf(order):
        return "np.inf" if order > 0 else "-np.inf"
    return str(int(order)) if order == int(order) else str(order)


def _keep(keepdims: bool) -> dict:
    return {"keepdims": _constant(True)} if keepdims else {}


def _matrix_norm(x, order, rows: int, columns: int, keepdims: bool) -> gast.Call:
    """The 1-, -1-, inf- or -inf-norm of the matrices along ``rows`` and ``columns``: the
    largest (smallest) sum of absolute values down a column (1) or along a row (inf)."""
    summed = rows if abs(order) == 1 else columns
    sums = _call(sum_along, _call(np.abs, x), axis=_constant(summed), keepdims=_constant(True))
    extreme = max_along if order > 0 else min_along
    return _call(extreme, sums, axis=_constant((rows, columns)), **_keep(keepdims))


def _singular_values(x, order) -> gast.Call:
    """The 2-norm (the largest singular value), -2-norm (the smallest) or nuclear norm (their
    sum) of the matrix ``x``, through the SVD's rules."""
    values = _call(linalg_svd_values, x, _constant(False))
    return _call({2.0: np.max, -2.0: np.min, "nuc": np.sum}[order], values)


def _p_norm(x, order, axis, keepdims: bool) -> gast.Call:
    """``(sum |x| ** p) ** (1 / p)`` along ``axis`` (None: every axis)."""
    powers = gast.BinOp(left=_call(np.abs, x), op=gast.Pow(), right=_constant(order))
    where = {"axis": _constant(axis)} if axis is not None else {}
    total = _call(sum_along, powers, **where, **_keep(keepdims))
    return _call(np.power, total, _constant(1.0 / order))


def norm_call(parsed, call: gast.Call, spelled: str) -> gast.Call:
    """``np.linalg.norm(x, ord, axis, keepdims)`` as calls of primitives with rules."""
    given = _options(parsed, call, spelled, ("x", "ord", "axis", "keepdims"))
    x = given["x"]
    order = _order(parsed, call, spelled, given.get("ord"))
    axes = _axes(parsed, call, spelled, given.get("axis"))
    keepdims = _flag(parsed, call, spelled, "keepdims", given.get("keepdims"))
    written = f"{spelled} with ord={_ord_text(order)}" if order is not None else spelled

    def refused(why: str):
        return parsed.error(f"{written}: {why}", call)

    if order == 0:
        raise refused("the number of nonzero elements has no derivative (write np.sum(x != 0))")
    if axes is not None and len(axes) == 1:
        (axis,) = axes
        if isinstance(order, str):
            raise refused("NumPy takes it for matrices, not along one axis")
        if order is None or order == 2:
            made = _call(norm_along, x, axis=_constant(axis), **_keep(keepdims))
        elif abs(order) == 1 and order > 0:
            made = _call(sum_along, _call(np.abs, x), axis=_constant(axis), **_keep(keepdims))
        elif math.isinf(order):
            extreme = max_along if order > 0 else min_along
            made = _call(extreme, _call(np.abs, x), axis=_constant(axis), **_keep(keepdims))
        else:
            made = _p_norm(x, order, axis, keepdims)
        return _finished(made, call, spelled)
    if axes is not None:
        if len(axes) != 2:
            raise parsed.error(f"{spelled} with {len(axes)} axes (NumPy takes 1 or 2)", call)
        rows, columns = axes
        if order is None or order == "fro":
            made = _call(norm_along, x, axis=_constant(axes), **_keep(keepdims))
        elif order in (1.0, -1.0) or (not isinstance(order, str) and math.isinf(order)):
            made = _matrix_norm(x, order, rows, columns, keepdims)
        elif order in (2.0, -2.0, "nuc"):
            if keepdims:
                raise refused("keepdims=True through the singular values is not supported yet")
            if {rows % 2, columns % 2} != {0, 1} or not all(-2 <= a < 2 for a in axes):
                raise refused(
                    "sourcead takes the singular values of a matrix (axes (0, 1) of a 2-d "
                    "array), not of stacks of them"
                )
            made = _singular_values(_call(norm_operand, x, _constant("matrix")), order)
        else:
            raise refused("NumPy takes no such norm of matrices")
        return _finished(made, call, spelled)
    # no axis: a vector's or a matrix's norm, which only the number of dimensions tells
    if order is None:
        if keepdims:
            return _finished(_call(norm_along, x, keepdims=_constant(True)), call, spelled)
        return _finished(_call(np.linalg.norm, x), call, spelled)
    if order == "fro":
        matrix = _call(norm_operand, x, _constant("matrix"))
        if keepdims:
            return _finished(_call(norm_along, matrix, keepdims=_constant(True)), call, spelled)
        return _finished(_call(np.linalg.norm, matrix), call, spelled)
    if keepdims:
        raise refused("keepdims=True without axis= is not supported (write axis=)")
    if order == "nuc":
        made = _singular_values(_call(norm_operand, x, _constant("matrix")), order)
    elif order in (1.0, 2.0) or math.isinf(order):
        column = _call(norm_operand, x, _constant("column"))
        if order == 2.0:
            made = _singular_values(column, order)
        else:
            made = _matrix_norm(column, order, 0, 1, False)
    elif order in (-1.0, -2.0):
        raise refused(
            "without axis= it means a vector's or a matrix's norm by the number of "
            "dimensions, which sourcead does not know here (write axis=0 or axis=(0, 1))"
        )
    else:
        made = _p_norm(_call(norm_operand, x, _constant("vector")), order, None, False)
    return _finished(made, call, spelled)


calls(
    np.linalg.norm,
    signature=("x", "ord", "axis", "keepdims"),
    options={
        "ord": Option(None, "value"),
        "axis": Option(None, "axes"),
        "keepdims": Option(False, "flag"),
    },
    variants={"ord": norm_operand, "axis": norm_along},  # (the routes the table shows)
    rewrite=norm_call,
)


# --- np.average -------------------------------------------------------------------------------


def average_call(parsed, call: gast.Call, spelled: str) -> gast.Call:
    """``np.average(a, axis, weights, keepdims=)``: the mean, or ``sum(a * w, axis) /
    sum(w, axis)`` with ``w`` shaped to broadcast against ``a`` (``weights_along``)."""
    given = _options(parsed, call, spelled, ("a", "axis", "weights", "returned", "keepdims"))
    a = given["a"]
    axes = _axes(parsed, call, spelled, given.get("axis"))
    keepdims = _flag(parsed, call, spelled, "keepdims", given.get("keepdims"))
    if _flag(parsed, call, spelled, "returned", given.get("returned")):
        raise parsed.error(f"{spelled} with returned=True (divide by np.sum(weights))", call)
    axis = None if axes is None else (axes[0] if len(axes) == 1 else axes)
    where = {"axis": _constant(axis)} if axis is not None else {}
    weights = given.get("weights")
    if weights is None:
        if not where and not keepdims:
            return _finished(_call(np.mean, a), call, spelled)
        return _finished(_call(mean_along, a, **where, **_keep(keepdims)), call, spelled)

    def shaped():
        return _call(
            weights_along, copy.deepcopy(weights), copy.deepcopy(a), **copy.deepcopy(where)
        )

    product = gast.BinOp(left=copy.deepcopy(a), op=gast.Mult(), right=shaped())
    total = _call(sum_along, product, **where, **_keep(keepdims))
    scale = _call(sum_along, shaped(), **copy.deepcopy(where), **_keep(keepdims))
    return _finished(_call(np.divide, total, scale), call, spelled)


calls(
    np.average,
    signature=("a", "axis", "weights", "returned", "keepdims"),
    options={
        "axis": Option(None, "axes"),
        "weights": Option(None, "value"),
        "returned": Option(False, "default"),
        "keepdims": Option(False, "flag"),
    },
    helper=mean_along,
    variants={"weights": weights_along},
    rewrite=average_call,
)


# --- np.trace and np.diff ------------------------------------------------------------------------


def trace_call(parsed, call: gast.Call, spelled: str) -> gast.Call:
    """``np.trace(a)`` as it is (Numba's, of a matrix); with ``offset=``, ``axis1=`` or
    ``axis2=``, ``trace_along``."""
    given = _options(parsed, call, spelled, ("a", "offset", "axis1", "axis2", "dtype", "out"))
    for name in ("dtype", "out"):
        if name in given:
            raise parsed.error(
                f"{spelled} with {name}= (sourcead takes offset=, axis1=, axis2=)", call
            )
    options = {name: given[name] for name in ("offset", "axis1", "axis2") if name in given}
    if not options:
        return _finished(_call(np.trace, given["a"]), call, spelled)
    for name in ("axis1", "axis2"):
        if name in options and shapes.literal_int(options[name]) is None:
            raise parsed.error(
                f"{spelled} with {name}={src(options[name])}: write an integer in the call", call
            )
    return _finished(_call(trace_along, given["a"], **options), call, spelled)


calls(
    np.trace,
    signature=("a", "offset", "axis1", "axis2", "dtype", "out"),
    options={
        "offset": Option(0, "value"),
        "axis1": Option(0, "value"),
        "axis2": Option(1, "value"),
        "dtype": Option(None, "default"),
        "out": Option(None, "default"),
    },
    variants={"offset": trace_along, "axis1": trace_along, "axis2": trace_along},
    rewrite=trace_call,
)


def diff_call(parsed, call: gast.Call, spelled: str) -> gast.Call:
    """``np.diff(a, n, axis)`` as ``diff_along(a, n=n, axis=axis)``."""
    given = _options(parsed, call, spelled, ("a", "n", "axis", "prepend", "append"))
    for name in ("prepend", "append"):
        if name in given:
            raise parsed.error(
                f"{spelled} with {name}= (sourcead takes n=, axis=: join the values first, "
                "np.concatenate)",
                call,
            )
    axes = _axes(parsed, call, spelled, given.get("axis"))
    if axes is not None and len(axes) != 1:
        raise parsed.error(f"{spelled} with a tuple of axes (NumPy takes one)", call)
    options = {}
    if "n" in given:
        options["n"] = given["n"]
    if axes is not None:
        options["axis"] = _constant(axes[0])
    return _finished(_call(diff_along, given["a"], **options), call, spelled)


calls(
    np.diff,
    signature=("a", "n", "axis", "prepend", "append"),
    options={
        "n": Option(1, "value"),
        "axis": Option(-1, "axis"),
        "prepend": Option(None, "default"),
        "append": Option(None, "default"),
    },
    helper=diff_along,
    rewrite=diff_call,
)


# --- result types -----------------------------------------------------------------------------


def _array(args: list, what: str) -> Array:
    x = args[0] if args else None
    if not isinstance(x, Array):
        raise shapes.ArrayTypeProblem(f"{what} of a number (it takes arrays)")
    return x


def _keyword(node: gast.Call, name: str, position: int):
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return node.args[position] if len(node.args) > position else None


def _operand(args: list, node: gast.Call) -> Array:
    """``norm_operand(x, form)``: a matrix (``"column"``, ``"matrix"``) or a vector."""
    x = _array(args, "np.linalg.norm")
    form = node.args[1].value
    wanted = {"column": (1, 2), "matrix": (2,), "vector": (1,)}[form]
    if x.ndim not in wanted:
        kinds = {"column": "vectors and matrices", "matrix": "matrices", "vector": "vectors"}
        raise shapes.ArrayTypeProblem(
            f"np.linalg.norm of a {x.ndim}-d array with this ord= (sourcead takes "
            f"{kinds[form]} there; index the array down to one, or write axis= where the "
            "norm is of vectors)"
        )
    return Array(x.dtype, 1 if form == "vector" else 2)


def _weights(args: list, node: gast.Call) -> Array:
    """``weights_along(w, a, axis)``: ``w`` with ``a``'s number of dimensions."""
    if not (len(args) > 1 and isinstance(args[0], Array) and isinstance(args[1], Array)):
        raise shapes.ArrayTypeProblem("np.average with weights or an array that is a number")
    w, a = args[0], args[1]
    if w.ndim != a.ndim:
        axis = _keyword(node, "axis", 2)
        if axis is None:
            raise shapes.ArrayTypeProblem(
                f"np.average with {w.ndim}-d weights of a {a.ndim}-d array and no axis= "
                "(NumPy takes weights of another shape along the axes averaged over)"
            )
        named = axis.elts if isinstance(axis, gast.Tuple) else [axis]
        values = [shapes.literal_int(e) for e in named]
        if None in values or len(values) != w.ndim:
            raise shapes.ArrayTypeProblem(
                f"np.average with {w.ndim}-d weights of a {a.ndim}-d array (NumPy takes weights "
                "of the array's shape, or of the shape of the axes averaged over)"
            )
        axes = shapes.reduced_axes(axis, a.ndim, "np.average")
        if [v % a.ndim for v in values] != list(axes):
            raise shapes.ArrayTypeProblem(
                "np.average with weights along axes not in increasing order"
            )
    return Array(shapes.result_dtype([w]), a.ndim)


def _traced(args: list, node: gast.Call) -> Array | Scalar:
    """``trace_along(x, offset, axis1, axis2)``: the other axes, or a number of a matrix."""
    x = _array(args, "np.trace")
    if x.ndim < 2:
        raise shapes.ArrayTypeProblem(f"np.trace of a {x.ndim}-d array (it takes 2 or more)")
    pair = [_keyword(node, name, k) for k, name in ((2, "axis1"), (3, "axis2"))]
    pair = [p if p is not None else _constant(d) for p, d in zip(pair, (0, 1), strict=True)]
    shapes.reduced_axes(gast.Tuple(elts=pair, ctx=gast.Load()), x.ndim, "np.trace")
    dtype = np.trace(np.ones((1, 1), x.dtype)).dtype.name
    return Array(dtype, x.ndim - 2) if x.ndim > 2 else shapes.scalar_of(dtype)


def _differenced(args: list, node: gast.Call) -> Array:
    """``diff_along(x, n, axis)``: shaped like ``x`` (shorter along ``axis``)."""
    x = _array(args, "np.diff")
    axis = _keyword(node, "axis", 2)
    if axis is not None:
        shapes.reduced_axes(axis, x.ndim, "np.diff", single=True)
    return x


# --- the entries --------------------------------------------------------------------------------


@register(norm_along, result=shapes.along(norm_along, "np.linalg.norm"), device=False)
class NormAlong:
    def adjoint(b_out, x, axis=None, keepdims=False):
        # conj(x) / norm, 0 where the norm is 0 (as np.abs's derivative at 0)
        return expand_along(b_out, x.shape, axis) * norm_share_along(x, axis)

    def tangent(dx, x, axis=None, keepdims=False):
        return sum_along(np.real(norm_share_along(x, axis) * dx), axis=axis, keepdims=keepdims)


@register(norm_operand, result=_operand, linear_in=(0,), device=False)
class NormOperand:
    def adjoint(b_out, x, form):
        return np.ascontiguousarray(b_out).reshape(x.shape), None

    def tangent(dx, dform, x, form):
        return norm_operand(dx, form)


@register(weights_along, result=_weights, linear_in=(0,), device=False)
class WeightsAlong:
    def adjoint(b_out, w, x, axis=None):
        return np.ascontiguousarray(b_out).reshape(w.shape), None

    def tangent(dw, dx, w, x, axis=None):
        return weights_along(dw, x, axis=axis)


@register(trace_along, result=_traced, linear_in=(0,), device=False)
class TraceAlong:
    def adjoint(b_out, x, offset=0, axis1=0, axis2=1):
        return trace_adjoint(b_out, x.shape, offset, axis1, axis2)

    def tangent(dx, x, offset=0, axis1=0, axis2=1):
        return trace_along(dx, offset=offset, axis1=axis1, axis2=axis2)


@register(diff_along, result=_differenced, linear_in=(0,), device=False)
class DiffAlong:
    def adjoint(b_out, x, n=1, axis=-1):
        return diff_adjoint(b_out, x.shape, n, axis)

    def tangent(dx, x, n=1, axis=-1):
        return diff_along(dx, n=n, axis=axis)


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) -------------


@register(norm_share_along, result=shapes.floating_like_first, forward_only=True, new_array=True)
class NormShareAlong:
    def tangent(dx, daxis, x, axis):
        return norm_share_along_tangent(x, dx, axis)


# the tangent of a helper, in generated tangents only (third derivatives are not offered)
@register(
    norm_share_along_tangent,
    result=shapes.like_first_of_both,
    linear_in=(1,),
    forward_only=True,
    new_array=True,
)
class NormShareAlongTangent:
    pass


@register(
    trace_adjoint, result=shapes.shaped_by_second, linear_in=(0,), forward_only=True, new_array=True
)
class TraceAdjoint:
    def tangent(dg, dshape, doffset, daxis1, daxis2, g, shape, offset, axis1, axis2):
        return trace_adjoint(dg, shape, offset, axis1, axis2)


@register(
    diff_adjoint, result=shapes.shaped_by_second, linear_in=(0,), forward_only=True, new_array=True
)
class DiffAdjoint:
    def tangent(dg, dshape, dn, daxis, g, shape, n, axis):
        return diff_adjoint(dg, shape, n, axis)
