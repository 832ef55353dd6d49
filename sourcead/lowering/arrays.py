"""Whole-array code in reverse mode: syntax rewriting, lowering, and the adjoints of array ops.

Three steps, each small:

* ``rewrite_array_syntax`` (before the subset check): array methods and attributes become
  the NumPy functions they stand for (``x.sum(axis=0)`` -> ``np.sum(x, axis=0)``, ``m.T``
  -> ``np.transpose(m)``), reductions with options Numba does not compile become calls of
  the runtime helpers that take them (``np.max(z, axis=1, keepdims=True)`` ->
  ``max_along(z, axis=1, keepdims=True)``, ``rules/reductions.py``), and list literals in
  calls become tuples, so that every later pass sees one form.
* ``lower_arrays`` (after type inference): an array-valued operand that is itself an
  operation gets an assignment of its own (``u + dt * np.sin(u)`` -> ``t = np.sin(u)``,
  ``t2 = dt * t``, ``u + t2``), so each operation's adjoint can be summed back to the
  shape of named operands (broadcasting) and intermediate arrays are computed once.
* ``ArrayAdjoints`` (used by ``AdjointGenerator``): the adjoint of one operation on arrays
  from the rules (``rules/numpy.py``, ``rules/linalg.py``, user rules), with broadcasting
  undone by ``unbroadcast``; primitives returning tuples; tapes of whole arrays for arrays
  that a loop rebinds or overwrites with slices while the backward sweep needs old values.
"""

from __future__ import annotations

import copy
import functools
import inspect
import operator
import textwrap
import types

import gast
import numpy as np

from ..analysis.inference import expression_type
from ..analysis.types import INT, Array, Scalar, TupleType
from ..rules.callees import COPY_METHODS, JOINING, Callee
from ..rules.forms import checkpointed
from ..rules.library import is_library_call, library_call
from ..rules.operators import OPERATOR_FUNCTIONS
from ..rules.reductions import OPTIONS as REDUCTION_OPTIONS
from ..rules.registry import (
    attribute_functions,
    entries,
    entry_for,
    method_functions,
    rule_for,
)
from ..rules.shapes import literal_int
from ..rules.shaping import METHODS as SHAPING_METHODS
from ..rules.shaping import is_shaping_call, shaping_call
from ..rules.shaping import method_call as shaping_method_call
from ..rules.templates import instantiate_body
from ..trees.codegen import Block, parse_statements, src
from ..trees.names import RESERVED_NAMES
from ..trees.queries import names_read, read_names
from .einsum import is_tensor_call, tensor_call
from .indexing import (
    add_at_statement,
    lists_as_index_arrays,
    numpy_array_of,
    without_new_axes,
)

# --- rewriting methods and attributes ----------------------------------------------------------

# array methods and attributes that spell a primitive (the registry's methods= and
# attributes=): x.sum() is np.sum(x), x.T is np.transpose(x)
_METHODS = method_functions()
_ATTRIBUTES = attribute_functions()


def numpy_function(function, like) -> gast.Attribute:
    base = gast.Name(id="np", ctx=gast.Load(), annotation=None, type_comment=None)
    node = gast.Attribute(value=base, attr=function.__name__, ctx=gast.Load())
    node.global_value = function
    for n in (base, node):
        gast.copy_location(n, like)
    return node


def rewrite_array_syntax(parsed) -> None:
    """Rewrite array methods/attributes of local names as NumPy calls, and reductions with
    options Numba does not compile as calls of their runtime helpers, in place."""
    local = set(parsed.params) | {
        n.id
        for n in gast.walk(parsed.node)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
    }

    def is_local(node) -> bool:
        """A local name, or an expression that computes an array or number (never a
        module): ``(a @ b).T``, ``x[1:].sum()``."""
        if isinstance(node, gast.Name):
            return node.id in local
        return isinstance(node, gast.Subscript | gast.Call | gast.BinOp | gast.UnaryOp)

    helpers_called = []  # the runtime helpers that calls of reductions became

    class Rewriter(gast.NodeTransformer):
        def reduction(self, call, function, spelled: str):
            call = _reduction_call(parsed, call, function, spelled)
            if isinstance(call.func, gast.Name):  # a helper: max_along(z, axis=1)
                helpers_called.append(call.func.global_value)
            return call

        def tensor(self, call, function, spelled: str):
            # np.einsum, np.tensordot …: calls Numba compiles (lowering/einsum.py)
            helpers_called.append(function)  # (the function's copy is written rewritten)
            return tensor_call(parsed, call, function, spelled)

        def shaping(self, expr, function):
            # np.array([...]), np.pad, x.astype(...): rules/shaping.py; the function's copy is
            # written rewritten (Numba compiles neither lists of arrays nor np.pad)
            helpers_called.append(function)
            return expr

        def visit_Call(self, node):
            reduced = _called(parsed, node.func, local)
            if (
                _is_reduction(reduced)
                and node.args
                and isinstance(node.args[0], gast.List | gast.Tuple)
            ):
                # np.sum((a, b)), np.max([y, 0.1]): of the array NumPy makes of them, rewritten
                # below as np.array([...]) is
                node.args[0] = numpy_array_of(node.args[0])
            node = self.generic_visit(node)
            func = node.func
            if (
                isinstance(func, gast.Attribute)
                and is_local(func.value)
                and func.attr in SHAPING_METHODS
            ):
                call = shaping_method_call(parsed, node, func.attr, func.value)
                return self.shaping(call, SHAPING_METHODS[func.attr])
            if (
                isinstance(func, gast.Attribute)
                and func.attr in COPY_METHODS
                and isinstance(func.value, gast.Subscript | gast.Call | gast.BinOp)
                and not (node.args or node.keywords)
            ):  # m[k, :].copy(): a named array's copy stays a method (frontend/subset.py)
                call = gast.Call(func=numpy_function(np.copy, func), args=[func.value], keywords=[])
                return gast.copy_location(call, node)
            if isinstance(func, gast.Attribute) and is_local(func.value) and func.attr in _METHODS:
                args = list(node.args)
                if func.attr == "reshape" and len(args) > 1:
                    args = [gast.Tuple(elts=args, ctx=gast.Load())]
                function = _METHODS[func.attr]
                call = gast.Call(
                    func=numpy_function(function, func),
                    args=[func.value, *args],
                    keywords=node.keywords,
                )
                call = gast.copy_location(call, node)
                if func.attr == "flatten":  # a copy in NumPy, where np.ravel may be a view
                    copied = gast.Call(func=numpy_function(np.copy, func), args=[call], keywords=[])
                    return gast.copy_location(copied, node)
                if _is_reduction(function):
                    return self.reduction(call, function, f".{func.attr}()")
                if is_tensor_call(function):
                    return self.tensor(call, function, f".{func.attr}()")
                return call
            function = _called(parsed, func, local)
            if is_shaping_call(function):
                return self.shaping(shaping_call(parsed, node, function, _dotted(func)), function)
            if is_tensor_call(function):
                return self.tensor(node, function, _dotted(func))
            if _is_reduction(function):
                return self.reduction(node, function, _dotted(func))
            if is_library_call(function):  # np.sort, scipy.special.expit …: rules/library.py
                node = library_call(parsed, node, function, _dotted(func))
                if node.func is not func:  # a helper in its place: special_expit(x)
                    helpers_called.append(node.func.global_value)
            if _resolves_to(parsed, func, np.matmul) and len(node.args) == 2 and not node.keywords:
                # Numba has the @ operator, not np.matmul
                product = gast.BinOp(left=node.args[0], op=gast.MatMult(), right=node.args[1])
                return gast.copy_location(product, node)
            node.args = [
                gast.copy_location(gast.Tuple(elts=a.elts, ctx=gast.Load()), a)
                if isinstance(a, gast.List)
                else a
                for a in node.args
            ]
            return node

        def visit_Subscript(self, node):
            node.slice = lists_as_index_arrays(node.slice)  # x[[0, 2]]: np.array, rewritten below
            node = self.generic_visit(node)
            node.slice = without_new_axes(parsed, node.slice)  # x[:, np.newaxis]
            return node

        def visit_Expr(self, node):
            node = self.generic_visit(node)
            assign = add_at_statement(parsed, node)  # np.add.at(y, idx, v): lowering/indexing.py
            if assign is None:
                return node
            helpers_called.append(assign.value.func.global_value)
            return assign

        def visit_Attribute(self, node):
            node = self.generic_visit(node)
            if (
                is_local(node.value)
                and node.attr in _ATTRIBUTES
                and isinstance(node.ctx, gast.Load)
            ):
                call = gast.Call(
                    func=numpy_function(_ATTRIBUTES[node.attr], node),
                    args=[node.value],
                    keywords=[],
                )
                return gast.copy_location(call, node)
            return node

    Rewriter().visit(parsed.node)
    if helpers_called and not any(
        isinstance(loop, gast.For)
        and isinstance(loop.iter, gast.Call)
        and _called(parsed, loop.iter.func, local) is checkpointed
        for loop in gast.walk(parsed.node)
    ):
        # The generated module's copy of this function (called where no derivative is
        # needed) is written from the rewritten tree: NumPy's call with these options does
        # not compile. (With checkpointed loops the module writes the checked tree anyway.)
        parsed.source_text = src(parsed.node)


def _resolves_to(parsed, node, target) -> bool:
    try:
        return parsed.resolve(node) is target
    except (KeyError, AttributeError):
        return False


def _called(parsed, func, local: set):
    """The object a call's function refers to (None for a local name or an expression)."""
    if hasattr(func, "global_value"):
        return func.global_value
    if isinstance(func, gast.Name) and func.id in local:
        return None
    if not isinstance(func, gast.Name | gast.Attribute):
        return None
    try:
        return parsed.resolve(func)
    except (KeyError, AttributeError):
        return None


def _is_reduction(function) -> bool:
    try:
        return function in REDUCTION_OPTIONS
    except TypeError:  # unhashable: no reduction
        return False


def _dotted(node) -> str:
    """``np.max`` for the node of that name (what error messages call the function)."""
    if isinstance(node, gast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return getattr(node, "id", "this function")


# --- the options of reductions (rules/reductions.py) -----------------------------------------------


def _reduction_call(parsed, call: gast.Call, function, spelled: str) -> gast.Call:
    """``call`` of the NumPy reduction ``function`` with its options checked: NumPy's call
    where Numba compiles it with them, else a call of the runtime helper that takes them
    (``np.max(z, axis=1, keepdims=True)`` -> ``max_along(z, axis=1, keepdims=True)``).

    Options are keywords afterwards (``axis`` may be given by position), those that say
    what NumPy does without them are dropped (``keepdims=False``). An option sourcead does
    not take (``out=``, ``where=``, ``dtype=`` …) or an axis that is not written in the call
    is refused here, at the call's line, with ``spelled`` naming the function.
    """
    options = REDUCTION_OPTIONS[function]
    takes = ", ".join(f"{name}=" for name in options.names)
    if len(call.args) > 2:
        raise parsed.error(f"{spelled} with options by position (pass {takes} by keyword)", call)
    if not call.args:
        raise parsed.error(f"{spelled} without the array it reduces", call)
    given = {"axis": call.args[1]} if len(call.args) == 2 else {}
    for keyword in call.keywords:
        if keyword.arg is None or keyword.arg not in options.names:
            option = "**options" if keyword.arg is None else f"{keyword.arg}="
            raise parsed.error(f"{spelled} with {option} (sourcead takes {takes})", call)
        given[keyword.arg] = keyword.value
    if isinstance(given.get("axis"), gast.List):  # axis=[0, 1]
        given["axis"] = gast.copy_location(
            gast.Tuple(elts=given["axis"].elts, ctx=gast.Load()), call
        )
    _check_options(parsed, call, given, options, spelled)
    given = {
        name: value
        for name, value in given.items()
        if not _writes(value, options.defaults.get(name, _NO_DEFAULT))
    }
    if not options.always and set(given) <= options.numba:
        if literal_int(given.get("axis", gast.Constant(value=0, kind=None))) is not None:
            call.args = call.args[:1]  # NumPy's call, which Numba compiles: axis by keyword
            call.keywords = [_keyword(name, value) for name, value in given.items()]
            return call
    helper = options.along
    func = gast.copy_location(
        gast.Name(id=helper.__name__, ctx=gast.Load(), annotation=None, type_comment=None),
        call.func,
    )
    func.global_value = helper
    keywords = [_keyword(name, given[name]) for name in options.names if name in given]
    return gast.copy_location(gast.Call(func=func, args=call.args[:1], keywords=keywords), call)


_NO_DEFAULT = object()


def _check_options(parsed, call, given: dict, options, spelled: str) -> None:
    """Refuse options whose values sourcead cannot take: axes and keepdims must be written
    in the call (the result's number of dimensions depends on them)."""
    axis = given.get("axis")
    if _writes(axis, None) and options.defaults.get("axis") is not None:
        raise parsed.error(f"{spelled} with axis=None (flattened): flatten the array first", call)
    if axis is not None and not _writes(axis, None):
        axes = [axis] if options.single_axis or not isinstance(axis, gast.Tuple) else axis.elts
        if any(literal_int(a) is None for a in axes):
            kind = "one integer" if options.single_axis else "an integer or a tuple of integers"
            raise parsed.error(
                f"{spelled} with axis={src(axis)}: sourcead takes {kind} written in the call",
                call,
            )
    keepdims = given.get("keepdims")
    if keepdims is not None and not (
        isinstance(keepdims, gast.Constant) and isinstance(keepdims.value, bool)
    ):
        raise parsed.error(f"{spelled} with keepdims={src(keepdims)}: write True or False", call)
    ddof = given.get("ddof")
    if isinstance(ddof, gast.Constant) and not isinstance(ddof.value, int | float):
        raise parsed.error(f"{spelled} with ddof={src(ddof)}: ddof is a number", call)


def _writes(node, value) -> bool:
    """Whether the expression ``node`` is the constant ``value`` (``None``, ``False``, ``0``)."""
    if value is None:
        return isinstance(node, gast.Constant) and node.value is None
    if isinstance(value, bool):
        return isinstance(node, gast.Constant) and node.value is value
    return isinstance(value, int) and literal_int(node) == value


def _keyword(name: str, value) -> gast.keyword:
    return gast.keyword(arg=name, value=value)


# --- lowering -------------------------------------------------------------------------------------


def _atomic(node) -> bool:
    if isinstance(node, gast.Name | gast.Constant | gast.Attribute):
        return True
    return isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name)


def lower_arrays(node: gast.FunctionDef, types: dict, names) -> tuple[gast.FunctionDef, dict]:
    """Give every array-valued operation nested in another operation its own assignment."""
    types = dict(types)
    if not any(isinstance(t, Array) for t in types.values()):
        return node, types
    node = copy.deepcopy(node)

    def lower_expr(expr, pre: list, like, whole: bool):
        if isinstance(expr, gast.BinOp | gast.UnaryOp | gast.Call | gast.Compare | gast.Tuple):
            for field in ("left", "right", "operand"):
                if hasattr(expr, field):
                    setattr(expr, field, lower_expr(getattr(expr, field), pre, like, False))
            if isinstance(expr, gast.Call):
                expr.args = [lower_expr(a, pre, like, False) for a in expr.args]
            if isinstance(expr, gast.Tuple):
                expr.elts = [lower_expr(e, pre, like, False) for e in expr.elts]
        if whole or _atomic(expr) or isinstance(expr, gast.Tuple | gast.Compare):
            return expr
        if isinstance(expr, gast.Call) and getattr(expr, "callee", None) is not None:
            if expr.callee.kind not in ("rule",):
                return expr
        value_type = expression_type(expr, types, unknown=None)
        if not isinstance(value_type, Array):
            return expr
        temp = names.fresh(_temp_name(expr))
        types[temp] = value_type
        target = gast.Name(id=temp, ctx=gast.Store(), annotation=None, type_comment=None)
        pre.append(
            gast.copy_location(gast.Assign(targets=[target], value=expr, type_comment=None), like)
        )
        return gast.Name(id=temp, ctx=gast.Load(), annotation=None, type_comment=None)

    def lower_block(body: list) -> list:
        out = []
        for stmt in body:
            if isinstance(stmt, gast.Assign):
                pre: list = []
                stmt.value = lower_expr(stmt.value, pre, stmt, True)
                out.extend(pre)
            for field in ("body", "orelse"):
                if isinstance(stmt, gast.If | gast.For | gast.While):
                    setattr(stmt, field, lower_block(getattr(stmt, field)))
            out.append(stmt)
        return out

    node.body = lower_block(node.body)
    return node, types


#: Names of temporaries that would be Python's builtins (which generated code calls).
_INSTEAD_OF_BUILTINS = {"sum": "summed", "max": "largest", "min": "smallest", "abs": "magnitude"}


def _temp_name(expr) -> str:
    if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Attribute):
        base = expr.func.attr
    elif isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name):
        base = expr.func.id.removesuffix("_along")  # max_along(z, axis=1): max
    elif isinstance(expr, gast.BinOp):
        base = {gast.Add: "total", gast.Sub: "difference", gast.Mult: "product",
                gast.Div: "quotient", gast.Pow: "power", gast.MatMult: "matmul",
                }.get(type(expr.op), "value")  # fmt: skip
    else:
        base = "value"
    if base in RESERVED_NAMES:
        return _INSTEAD_OF_BUILTINS.get(base, f"{base}_value")
    return base


# --- adjoints of operations on arrays ----------------------------------------------------------


class ArrayAdjoints:
    """The array part of one ``AdjointGenerator`` pass."""

    def __init__(self, generator):
        self.gen = generator
        self.tapes: dict[str, tuple[str, str, object]] = {}  # name -> (tape, top, type)
        self.current_operands: list = []
        self._counter_name: str | None = None  # of the written-out vector pushes
        self._size_name: str | None = None

    # types
    def type_of(self, expr):
        if isinstance(expr, gast.Constant):
            return None
        return expression_type(expr, self.gen.types, unknown=None)

    def is_array(self, expr) -> bool:
        return isinstance(self.type_of(expr), Array)

    # which operations this module handles
    def handles(self, expr) -> bool:
        if isinstance(expr, gast.BinOp | gast.UnaryOp):
            operands = [expr.left, expr.right] if isinstance(expr, gast.BinOp) else [expr.operand]
            return isinstance(expr.op, gast.MatMult) or any(self.is_array(o) for o in operands)
        if isinstance(expr, gast.Call) and expr.callee.kind == "rule":
            if expr.callee.target in JOINING:
                return True
            rule = rule_for(expr.callee.target, arrays=True)
            return (
                any(self.is_array(a) for a in expr.args)
                or bool(rule.body or rule.defaults or rule.outputs)
                or isinstance(self.type_of(expr), Array)
                or any(isinstance(a, gast.Tuple) for a in expr.args)
            )
        return False

    def propagate(self, expr, g, contributions: list, lines: list) -> None:
        """Like ``AdjointGenerator.propagate`` for an operation on arrays."""
        gen = self.gen
        if isinstance(expr, gast.Call):
            target = expr.callee.target
            if target in JOINING:
                return self.joined(expr, g, contributions, lines)
            args = list(expr.args)
            if target in _SCALAR_IDENTITIES and len(args) == 1 and not expr.keywords:
                if isinstance(self.type_of(args[0]), Scalar):  # np.sum(s) of a number is s
                    return gen.propagate(args[0], g, contributions, lines)
        else:
            target = OPERATOR_FUNCTIONS.get(type(expr.op))
            if isinstance(expr.op, gast.MatMult):
                target = operator.matmul
            args = [expr.left, expr.right] if isinstance(expr, gast.BinOp) else [expr.operand]
        arrays = any(self.is_array(a) for a in args)
        rule = rule_for(target, arrays=arrays)
        if rule is None:
            return
        keywords = {k.arg: k.value for k in getattr(expr, "keywords", [])}
        positional = rule.positional
        if len(args) > len(rule.params) or len(args) < len(positional):
            raise gen.fn.error(
                f"{src(expr.func)} is differentiable with {len(positional)} argument(s), "
                f"called with {len(args)}",
                expr,
            )
        bindings = dict(zip(rule.params, args, strict=False))
        for pname, default in rule.defaults:
            if pname not in bindings:
                bindings[pname] = keywords.get(pname, default)
        active = [a for a in args if gen.has_active(a)]
        if not active:
            return
        if not isinstance(g, gast.Name | gast.Constant):
            temp = gen.partial()
            lines.append(f"{temp} = {src(g)}")
            g = _name(temp)
        statements, contribs = instantiate_body(
            rule, g, {k: v for k, v in bindings.items()}, gen.names.fresh
        )
        if statements:
            statements = [gen.shapes_from_adjoints(stmt) for stmt in statements]
            for stmt in statements:
                gen.reads(stmt)
            lines.extend(src(s) for s in statements)
        result_type = self.type_of(expr)
        self.current_operands = args
        for arg, contribution in zip(args, contribs, strict=False):
            if contribution is None or not gen.has_active(arg):
                continue
            contribution = gen.shapes_from_adjoints(contribution)
            gen.reads(contribution)
            reduced = self.reduce(contribution, arg, result_type, len(args) > 1)
            gen.propagate(arg, reduced, contributions, lines)

    def reduce(self, contribution, arg, result_type, several: bool):
        """``contribution`` summed back to the shape of ``arg`` where broadcasting stretched it."""
        arg_type = self.type_of(arg)
        if isinstance(arg_type, Scalar) and isinstance(result_type, Array):
            total = f"np.sum({src(contribution)})"
            if arg_type.kind == "float" and arg_type.dtype == "float64":
                return _parse(total)
            return _parse(total)
        if (
            isinstance(arg_type, Array)
            and isinstance(result_type, Array)
            and several
            and not self.same_shape(arg, result_type)
        ):
            # Only the operand's shape is read, and arrays keep their shapes: the operand is
            # not taped for this (unbroadcast raises if the shapes do not fit after all).
            if isinstance(arg, gast.Subscript):
                self.gen.reads(arg.slice)
            elif not _atomic(arg):
                self.gen.reads(arg)
            operand = src(arg) if _atomic(arg) else f"({src(arg)})"
            shape = self.gen.shapes_from_adjoints(_parse(f"{operand}.shape"))
            if isinstance(contribution, gast.UnaryOp) and isinstance(contribution.op, gast.USub):
                # negated after the sum: on the operand's elements, not the result's
                return _parse(f"-unbroadcast({src(contribution.operand)}, {src(shape)})")
            return _parse(f"unbroadcast({src(contribution)}, {src(shape)})")
        return contribution

    def slice_adjoint(self, g, value, target_type):
        """The adjoint of the value assigned to a slice, from the slice's adjoint ``g``."""
        value_type = self.type_of(value)
        if isinstance(value_type, Array) and value_type.ndim == getattr(target_type, "ndim", 0):
            return g
        self.current_operands = []
        return self.reduce(g, value, target_type, True)

    def check_index(self, index, stmt) -> None:
        """Refuse an assignment through an array of indices or a mask (fancy indexing)."""
        elements = index.elts if isinstance(index, gast.Tuple) else [index]
        for element in elements:
            if not isinstance(element, gast.Slice) and self.is_array(element):
                raise self.gen.fn.error(
                    "indexing with an array (only integers and slices are supported)", stmt
                )

    def accumulate_slice(self, adjoint: str, array: str, index, contribution) -> str:
        """``b_a[index] += contribution`` for a basic index; new axes (None) are dropped."""
        elements = index.elts if isinstance(index, gast.Tuple) else [index]
        kept = [e for e in elements if not (isinstance(e, gast.Constant) and e.value is None)]
        if not kept:  # x[None], x[None, None]: the whole array (Numba takes no x[...] here)
            return f"{adjoint} += np.ascontiguousarray({src(contribution)}).reshape({array}.shape)"
        text = ", ".join(src(e) for e in kept)
        if len(kept) == len(elements):
            return f"{adjoint}[{text}] += {src(contribution)}"
        self.gen.reads(index)
        return (
            f"{adjoint}[{text}] += np.ascontiguousarray({src(contribution)})"
            f".reshape({array}[{text}].shape)"
        )

    def same_shape(self, arg, result_type) -> bool:
        """Whether ``arg`` surely has the result's shape: every array operand is ``arg``."""
        return bool(self.current_operands) and all(
            src(o) == src(arg) for o in self.current_operands if self.is_array(o)
        )

    def joined(self, expr, g, contributions, lines) -> None:
        """The adjoint of a tuple joined into an array (``callees.JOINING``: ``np.concatenate``,
        ``np.stack``, ``np.vstack``, ``np.hstack``, ``np.column_stack`` along any axis, and
        ``np.array`` of nested lists, ``array_of``): each item's part of the result's adjoint,
        a slice of it, goes to the item."""
        gen = self.gen
        target = expr.callee.target
        items = expr.args[0].elts if isinstance(expr.args[0], gast.Tuple) else None
        if items is None or len(expr.args) > 2 or expr.keywords:
            raise gen.fn.error(f"{src(expr.func)} of a tuple (a, b, ...) written out only", expr)
        result = self.type_of(expr)
        ndim = result.ndim if isinstance(result, Array) else 0
        # (an adjoint that is an expression, b * hits / np.sum(hits), is indexed whole)
        whole = src(g) if isinstance(g, gast.Name | gast.Subscript | gast.Call) else f"({src(g)})"
        for item, index in self._joined_parts(expr, target, items, ndim):
            if gen.has_active(item):
                gen.propagate(item, _parse(f"{whole}[{index}]"), contributions, lines)

    def _joined_parts(self, expr, target, items, ndim: int):
        """(item, the index of its part of the result) for each item of a joining call."""
        if target.__name__ == "array_of":  # nested: the item at (i, j) is out[i, j]

            def nested(elts, path):
                for k, item in enumerate(elts):
                    if isinstance(item, gast.Tuple):
                        yield from nested(item.elts, (*path, str(k)))
                    else:
                        yield item, ", ".join((*path, str(k)))

            yield from nested(items, ())
            return
        axis = 0
        if len(expr.args) == 2:  # np.stack(items, axis) (rules/shaping.py writes it so)
            value = literal_int(expr.args[1])
            if value is None:
                raise self.gen.fn.error(f"{src(expr.func)} with an axis not written", expr)
            axis = value % ndim
        item_ndims = [getattr(self.type_of(item), "ndim", 0) for item in items]
        stacked = target is np.stack or (target is np.vstack and item_ndims[0] == 1)
        if target is np.hstack:
            axis = 0 if item_ndims[0] == 1 else 1
        elif target is np.column_stack:
            axis = 1
        lead = ":, " * axis
        offset = "0"
        for k, (item, item_ndim) in enumerate(zip(items, item_ndims, strict=True)):
            if stacked:
                yield item, f"{lead}{k}"
                continue
            if target is np.column_stack and item_ndim == 1:  # a column
                end = f"{offset} + 1"
                yield item, f"{lead}{offset}"
            else:
                self.gen.reads(item)
                size = f"{src(item)}.shape[{axis}]"
                end = size if offset == "0" else f"{offset} + {size}"
                yield item, f"{lead}{offset}:{end}"
            offset = end

    # primitives that return tuples: w, v = np.linalg.eigh(a)
    def tuple_assign(self, stmt) -> tuple[list, list]:
        gen = self.gen
        call = stmt.value
        targets = [e.id for e in stmt.targets[0].elts]
        rule = rule_for(call.callee.target, arrays=True)
        forward, restore, restored = [], [], set()
        for t in targets:
            if gen._records_name(t):
                forward.extend(gen.push(t, gen.types[t], t))
                restore[:0] = gen.pop(t, gen.types[t], t)
                restored.add(t)
            elif isinstance(gen.types.get(t), Array) and self.records(t):
                f, b = self.push_array(t)
                forward.extend(f)
                restore[:0] = b
                restored.add(t)
        active_targets = [t for t in targets if t in gen.active]
        shape_pushes, shape_pops, resets = gen.reset_rebound(active_targets, stmt, restored)
        forward.extend(shape_pushes)
        forward.append(src(stmt))
        lines: list = []
        if active_targets and any(gen.has_active(a) for a in call.args):
            if len(rule.outputs) != len(targets):
                raise gen.fn.error(
                    f"{src(call.func)} returns {len(targets)} values but its rule takes "
                    f"{len(rule.outputs)} adjoints",
                    stmt,
                )
            seeds = {}
            for out_name, t in zip(rule.outputs, targets, strict=False):
                if t in gen.active:
                    seeds[out_name] = _name(gen.adj(t))
                else:  # a zero adjoint, shaped like the value this statement made
                    zero = gen.names.fresh(f"b_{t}_zero")
                    lines.append(f"{zero} = {_zero_source(gen.types[t], t)}")
                    seeds[out_name] = _name(zero)
            bindings = dict(zip(rule.params, call.args, strict=False))
            keywords = {k.arg: k.value for k in call.keywords}
            for pname, default in rule.defaults:
                bindings.setdefault(pname, keywords.get(pname, default))
            bindings.update(seeds)
            statements, contribs = instantiate_body(
                rule, seeds[rule.adjoint_param], bindings, gen.names.fresh
            )
            statements = self._reusing_results(statements, stmt, targets, dict(rule.defaults))
            for s in statements:
                gen.reads(s)
            lines.extend(src(s) for s in statements)
            contributions = []
            for arg, c in zip(call.args, contribs, strict=False):
                if c is not None and gen.has_active(arg):
                    gen.reads(c)
                    gen.propagate(arg, c, contributions, lines)
            lines.extend(gen.accumulate(k, c) for k, c in contributions)
        # the rule recomputes from the arguments: the old values are restored afterwards,
        # then the adjoints take the old bindings' shapes
        backward = lines + restore + shape_pops + resets
        return forward, ([gen.comment(stmt)] + backward if backward else [])

    def _reusing_results(self, statements: list, stmt, targets: list, defaults: dict) -> list:
        """The rule's statements, where one of them calls the factorisation again as the
        statement ``stmt`` did (``u_all, s, vh_all = np.linalg.svd(a, ...)``), reading the
        statement's results instead (``= u, s, vh``): the adjoint runs before the old values
        are restored, so the targets hold them (``AdjointGenerator.keeps_results`` says when
        that costs no tape)."""
        gen = self.gen
        if set(targets) & read_names(stmt.value) or not gen.keeps_results(targets, stmt.value):
            return statements
        reused = []
        for s in statements:
            if (
                isinstance(s, gast.Assign)
                and isinstance(s.targets[0], gast.Tuple)
                and len(s.targets[0].elts) == len(targets)
                and _same_call(s.value, stmt.value, defaults)
            ):
                unpacked = ", ".join(src(e) for e in s.targets[0].elts)
                (s,) = parse_statements(f"{unpacked} = {', '.join(targets)}")
                gen.reads(stmt.targets[0])
            reused.append(s)
        return reused

    # tapes of whole arrays
    def records(self, array: str) -> bool:
        return self.gen.must_record({array} | self.gen.permutation_partners.get(array, set()))

    def tape(self, array: str):
        if array not in self.tapes:
            self.tapes[array] = (
                self.gen.names.fresh(f"{array}_tape"),
                self.gen.names.fresh(f"{array}_top"),
                self.gen.types[array],
            )
        return self.tapes[array]

    def push_array(self, array: str) -> tuple[list, list]:
        """Lines that save the whole array ``array`` before it is overwritten, and restore it.

        Vectors of numbers are pushed element by element by lines written out here, their
        lengths on a tape of integers: a call of ``push_array`` returning ``(tape, top)``
        costs a reference count update of the tape per push, which was a fifth of an
        LSTM's gradient. Other arrays go on their tape with their shape after them.
        """
        tape, top, value_type = self.tape(array)
        if value_type.ndim != 1 or np.dtype(value_type.dtype).kind not in "fc":
            forward = [f"{tape}, {top} = push_array({tape}, {top}, {array})"]
            left = self.gen.iterations_left(len(self.gen.frames))
            if left:  # room for this loop's pushes at once, not a dozen doublings
                length = f"pushed_length({array})"
                forward.insert(
                    0,
                    f"{tape} = reserve({tape}, {top} + {length}, "
                    f"{top} + {length} * {' * '.join(left)})",
                )
            backward = [f"{array}, {top} = pop_array({tape}, {top}, {array})"]
            return forward, backward
        k, size = self._counter(), self._size()
        length = f"{array}.shape[0]"
        forward = [
            f"{tape} = reserve({tape}, {top} + {length})",
            Block(f"for {k} in range({length}):", [f"{tape}[{top} + {k}] = {array}[{k}]"]),
            f"{top} += {length}",
            *self.gen.push(f"{array}_length", INT, length),
        ]
        backward = [
            *self.gen.pop(f"{array}_length", INT, size),
            f"{top} -= {size}",
            f"{array} = {tape}[{top} : {top} + {size}]",
        ]
        return forward, backward

    def push_row(self, array: str, row: str) -> tuple[list, list]:
        """Lines that save the row ``row`` of ``array`` (``h[t]``) before it is overwritten."""
        tape, top, _ = self.tape(array)
        forward = [f"{tape}, {top} = push_array({tape}, {top}, {row})"]
        left = self.gen.iterations_left(len(self.gen.frames))
        if left:  # room for this loop's pushes at once
            length = f"pushed_length({row})"
            forward.insert(
                0,
                f"{tape} = reserve({tape}, {top} + {length}, {top} + {length} * {' * '.join(left)})",
            )
        backward = [f"{row}, {top} = pop_array({tape}, {top}, {row})"]
        return forward, backward

    def _counter(self) -> str:
        """The loop counter of written-out vector pushes (one name for all of them)."""
        if self._counter_name is None:
            self._counter_name = self.gen.names.fresh("q")
        return self._counter_name

    def _size(self) -> str:
        """The popped length of written-out vector pops (one name for all of them)."""
        if self._size_name is None:
            self._size_name = self.gen.names.fresh("size")
        return self._size_name

    def declare_tapes(self) -> list:
        """Tapes, and placeholders for arrays first bound inside a loop (pushed before that)."""
        lines = []
        for array, (tape, top, value_type) in self.tapes.items():
            # a mask's tape holds integers: the shapes pushed after the values must fit
            dtype = "int64" if value_type.dtype == "bool" else value_type.dtype
            lines.append(f"{tape} = np.empty(0, dtype=np.{dtype})")
            lines.append(f"{top} = 0")
            defined_first = {n for n, _ in self.gen.first_definitions.values()}
            if array not in defined_first and array not in self.gen.params:
                lines.append(placeholder(array, value_type, "a placeholder for its tape"))
        return lines


#: Reductions whose value, for a single number, is that number.
_SCALAR_IDENTITIES = (np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin)


def shape_tuple(sizes: list[str]) -> str:
    """Source of the shape tuple of these sizes: ``(n,)``, ``(n, m)``."""
    return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"


def placeholder(array: str, value_type, why: str) -> str:
    """An empty array of ``array``'s type, bound before a loop that first binds ``array``."""
    empty = shape_tuple(["0"] * value_type.ndim)
    return f"{array} = np.zeros({empty}, dtype=np.{value_type.dtype})  # {why}"


def _same_call(rule_call, call, defaults: dict) -> bool:
    """Whether ``rule_call`` (in an instantiated rule) calls what ``call`` (the user's) does:
    the same function and arguments, and the same options, an option the user left out
    being the rule's default for it (``np.linalg.svd(a)`` is ``np.linalg.svd(a,
    full_matrices=True)``)."""
    if not isinstance(rule_call, gast.Call) or src(rule_call.func) != src(call.func):
        return False
    if [src(a) for a in rule_call.args] != [src(a) for a in call.args]:
        return False
    given = {k.arg: src(k.value) for k in call.keywords}
    options = {k.arg: src(k.value) for k in rule_call.keywords}
    if not set(given) <= set(options):
        return False
    for name, value in options.items():
        default = src(defaults[name]) if name in defaults else None
        if given.get(name, default) != value:
            return False
    return True


def _name(identifier: str) -> gast.Name:
    return gast.Name(id=identifier, ctx=gast.Load(), annotation=None, type_comment=None)


def _parse(text: str) -> gast.expr:
    return gast.parse(text).body[0].value


def _zero_of(value_type, like: str) -> gast.expr:
    return _parse(_zero_source(value_type, like))


def _zero_source(value_type, like: str) -> str:
    if isinstance(value_type, Array):
        return f"np.zeros_like({like})"
    if isinstance(value_type, Scalar) and value_type.kind == "complex":
        return "0j"
    return "0.0"


@functools.cache
def _array_runtime() -> tuple[str, ...]:
    """Runtime helpers that generated code of arrays may call: those of array tapes, fusion
    and adjoint resets, and those the rules call (the registry's ``helpers``). Computed at
    the first use: it reads every rule, which are parsed when first read."""
    return tuple(
        dict.fromkeys(
            ["pop_array", "push_array", "fused_length", "slice_length", "slice_start", "scratch",
             "sized", "zeroed", "pushed_length", "shape_changed",
             "add_product",  # an operand's adjoint in a product (AdjointGenerator.accumulate)
             "popped_top",  # forward over reverse (pipeline/forward_over_reverse.py)
             "array_of",  # np.array of a list, a joining call (rules/callees.py)
             "unpacked_rows"]  # for i, j in bonds (frontend/desugar.py)
            + sorted({h for e in entries() for h in e.helpers})
            + sorted({f.__name__ for e in entries() if e.forward_only for f in e.functions})
            # primitives that passes after type inference call (lowering/indexing.py: put_along)
            + sorted({f.__name__ for e in entries() for f in e.functions
                      if (getattr(f, "__module__", None) or "").startswith("sourcead_runtime")})
        )
    )  # fmt: skip


def user_primitive_definition(value) -> gast.FunctionDef | None:
    """The definition of a user function that has a rule (a primitive), for the generated
    module, without its decorators and with its comments.

    Generated code calls it from compiled code, so the module holds its definition (and
    Numba compiles it with the rest); None for anything else.
    """
    function = getattr(value, "py_func", value)
    if not isinstance(function, types.FunctionType):
        return None
    entry = entry_for(function)
    if entry is None or entry.rule(arrays=True) is None:
        return None
    if function.__module__.startswith("sourcead_runtime"):  # (max_along): imported instead
        return None
    definition = parse_statements(textwrap.dedent(inspect.getsource(function)))[0]
    definition.decorator_list = []
    return definition


def array_runtime_imports(functions: list[gast.FunctionDef]) -> list[str]:
    """The import line for the array helpers that the generated functions use, if any."""
    mentioned = names_read(functions)
    used = [n for n in _array_runtime() if n in mentioned]
    return [f"from sourcead_runtime import {', '.join(used)}"] if used else []


__all__ = [
    "ArrayAdjoints",
    "Callee",
    "TupleType",
    "array_runtime_imports",
    "lower_arrays",
    "rewrite_array_syntax",
]
