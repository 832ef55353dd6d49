"""Subscripts with arrays as calls of the runtime's gathers and scatters (``rules/indexing.py``).

Runs on the typed tree, first in every mode: an index holding an array of integers or a
mask is known from the types only. Reads become calls (``x[idx]`` -> ``take_along(x, idx,
0)``, ``m[idx, j]`` -> ``taken = take_along(m, idx, 0)`` then ``taken[:, j]``), writes
rebind the array to a written copy (``y[idx] = v`` -> ``y = put_along(y, idx, v, 0)``), so
that both generators meet primitives with rules, never a subscript with an array. Constant
items of tuples become names first (``np.linalg.qr(a)[1]``: ``tuple_items.py``).

Before the subset check (``rewrite_array_syntax``), two spellings are made plain:
``np.newaxis`` in an index becomes ``None``, and the statement ``np.add.at(y, idx, v)``
becomes ``y = add_at(y, idx, v)``.
"""

from __future__ import annotations

import copy

import gast
import numpy as np
from sourcead_runtime import (
    add_at,
    masked,
    put_along,
    put_masked,
    take_along,
    take_pairs,
    true_indices,
)

from ..analysis.inference import TypeProblem, expression_type
from ..analysis.types import Array
from ..rules.callees import Callee
from ..rules.indexing import IndexPlan, index_plan, write_plan
from ..rules.shapes import ArrayTypeProblem
from ..trees.resolved import resolved_call
from .tuple_items import unpack_tuple_items

# --- before the subset check ----------------------------------------------------------------------


def is_new_axis(parsed, node) -> bool:
    """Whether ``node`` names ``np.newaxis`` (``numpy.newaxis``, ``newaxis`` imported)."""
    if not isinstance(node, gast.Attribute | gast.Name):
        return False
    spelled = node.attr if isinstance(node, gast.Attribute) else node.id
    if spelled != "newaxis":
        return False
    try:
        return parsed.resolve(node) is None
    except (KeyError, AttributeError):
        return False


def numpy_array_of(items: gast.expr) -> gast.Call:
    """``np.array(items)``, resolved (the array-syntax rewrite makes it ``array_of``)."""
    return resolved_call(np.array, [items], items, "np.array")


def lists_as_index_arrays(index: gast.expr) -> gast.expr:
    """``index`` with each list in it an index array, as NumPy reads it: ``x[[0, 2, 2]]`` is
    ``x[np.array([0, 2, 2])]``, ``m[[1, 0], :]`` ``m[np.array([1, 0]), :]``."""

    def as_array(element):
        return numpy_array_of(element) if isinstance(element, gast.List) else element

    if isinstance(index, gast.Tuple):
        index.elts = [as_array(e) for e in index.elts]
        return index
    return as_array(index)


def without_new_axes(parsed, index: gast.expr) -> gast.expr:
    """``index`` with ``np.newaxis`` written ``None``."""

    def plain(element):
        if is_new_axis(parsed, element):
            return gast.copy_location(gast.Constant(value=None, kind=None), element)
        return element

    if isinstance(index, gast.Tuple):
        index.elts = [plain(e) for e in index.elts]
        return index
    return plain(index)


def _is_add_at(parsed, func) -> bool:
    if not (isinstance(func, gast.Attribute) and func.attr == "at"):
        return False
    try:
        ufunc = parsed.resolve(func.value)
    except (KeyError, AttributeError):
        return False
    return ufunc is np.add


def add_at_statement(parsed, stmt: gast.Expr) -> gast.Assign | None:
    """``y = add_at(y, idx, v)`` for the statement ``np.add.at(y, idx, v)`` (None for any
    other statement); SourceADError at its line for a form sourcead does not take."""
    call = stmt.value
    if not (isinstance(call, gast.Call) and _is_add_at(parsed, call.func)):
        return None
    if len(call.args) != 3 or call.keywords:
        raise parsed.error(
            "np.add.at with other than its three arguments (y, indices, values)", call
        )
    target = call.args[0]
    if not isinstance(target, gast.Name):
        raise parsed.error("np.add.at into something other than a named array", call)
    func = gast.Name(id="add_at", ctx=gast.Load(), annotation=None, type_comment=None)
    func.global_value = add_at
    value = gast.Call(func=func, args=list(call.args), keywords=[])
    store = gast.Name(id=target.id, ctx=gast.Store(), annotation=None, type_comment=None)
    assign = gast.Assign(targets=[store], value=value, type_comment=None)
    for node in (func, value, store, assign):
        gast.copy_location(node, stmt)
    return assign


# --- after type inference -------------------------------------------------------------------------


def rewrite_indexing(tree: gast.FunctionDef, types: dict, names) -> gast.FunctionDef:
    """``tree`` with every subscript holding an array made a call of a runtime helper
    (reads) or a rebinding to one (writes); ``types`` gains the gathered temporaries'.

    TypeProblem (SourceADError at the line) for a form ``rules/indexing.py`` refuses, and
    for a gather that needs a name of its own outside an assignment.
    """
    tree = unpack_tuple_items(tree, types, names)  # np.linalg.qr(a)[1]: tuple_items.py
    for node in gast.walk(tree):
        if isinstance(node, gast.Call) and getattr(node.func, "global_value", None) in _WRITES:
            # np.add.at, spelled add_at before the subset check (which calls it a helper)
            node.callee = Callee("rule", node.func.global_value)
    if not any(_fancy(n, types) for n in gast.walk(tree) if isinstance(n, gast.Subscript)):
        return tree
    tree = copy.deepcopy(tree)
    tree.body = _Rewriter(types, names).block(tree.body)
    return tree


#: The writes: helpers to the registry (you do not call them), rules where the pass writes them.
_WRITES = (add_at, put_along, put_masked)


def _elements(index) -> list:
    return list(index.elts) if isinstance(index, gast.Tuple) else [index]


def _element_types(elements: list, types: dict) -> list:
    return [
        None
        if isinstance(e, gast.Slice) or (isinstance(e, gast.Constant) and e.value is None)
        else expression_type(e, types, unknown=None)
        for e in elements
    ]


def _fancy(node: gast.Subscript, types: dict) -> bool:
    base = expression_type(node.value, types, unknown=None)
    if not isinstance(base, Array):
        return False
    elements = _elements(node.slice)
    return any(isinstance(t, Array) for t in _element_types(elements, types))


class _Rewriter:
    def __init__(self, types: dict, names):
        self.types, self.names = types, names

    def block(self, body: list) -> list:
        out = []
        for stmt in body:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt) -> list:
        for field in ("body", "orelse"):
            if isinstance(stmt, gast.If | gast.For | gast.While):
                setattr(stmt, field, self.block(getattr(stmt, field)))
        if not isinstance(stmt, gast.Assign):
            for field in ("test", "iter", "value"):
                if getattr(stmt, field, None) is not None:
                    setattr(stmt, field, self.reads(getattr(stmt, field), None))
            return [stmt]
        before: list = []
        stmt.value = self.reads(stmt.value, before)
        target = stmt.targets[0]
        if isinstance(target, gast.Subscript):
            target.slice = self.reads(target.slice, before)
            if _fancy(target, self.types):
                stmt = self.write(stmt, target)
        return [*before, stmt]

    # reads
    def reads(self, expr, before: list | None):
        rewriter = self

        class Reads(gast.NodeTransformer):
            def visit_Subscript(self, node):
                node = self.generic_visit(node)
                if isinstance(node.ctx, gast.Load) and _fancy(node, rewriter.types):
                    return rewriter.read(node, before)
                return node

        return Reads().visit(expr)

    def plan(self, node: gast.Subscript, write: bool = False) -> IndexPlan:
        base = expression_type(node.value, self.types, unknown=None)
        elements = _elements(node.slice)
        element_types = _element_types(elements, self.types)
        try:
            return (write_plan if write else index_plan)(base, elements, element_types)
        except ArrayTypeProblem as problem:
            raise TypeProblem(node, str(problem)) from None

    def read(self, node: gast.Subscript, before: list | None):
        plan = self.plan(node)
        elements = _elements(node.slice)
        if plan.kind == "mask":
            return _call(masked, [node.value, elements[0]], node)
        if plan.kind == "pairs":
            return _call(take_pairs, [node.value, *elements], node)
        indices = self.indices(node.value, elements[plan.position], plan, node)
        taken = _call(take_along, [node.value, indices, _constant(plan.axis, node)], node)
        if not plan.rest:
            return taken
        if before is None:
            raise TypeProblem(
                node,
                "indexing with an array and other indices outside an assignment: assign the "
                "indexed array to a name first",
            )
        temp = self.names.fresh("taken")
        self.types[temp] = self.types_of(taken)
        store = gast.Name(id=temp, ctx=gast.Store(), annotation=None, type_comment=None)
        before.append(
            gast.copy_location(gast.Assign(targets=[store], value=taken, type_comment=None), node)
        )
        rest = list(elements)
        rest[plan.position] = gast.Slice(lower=None, upper=None, step=None)
        index = rest[0] if len(rest) == 1 else gast.Tuple(elts=rest, ctx=gast.Load())
        load = gast.Name(id=temp, ctx=gast.Load(), annotation=None, type_comment=None)
        result = gast.Subscript(value=load, slice=index, ctx=gast.Load())
        for n in (load, index, result):
            gast.copy_location(n, node)
        return result

    def indices(self, base, element, plan: IndexPlan, like):
        """The vector of integers the plan's array index stands for (a 1-d mask's
        positions through ``true_indices``)."""
        if not plan.boolean:
            return element
        shape = gast.Attribute(value=copy.deepcopy(base), attr="shape", ctx=gast.Load())
        length = gast.Subscript(value=shape, slice=_constant(plan.axis, like), ctx=gast.Load())
        for n in (shape, length):
            gast.copy_location(n, like)
        return _call(true_indices, [element, length], like)

    def types_of(self, expr):
        return expression_type(expr, self.types, unknown=None)

    # writes
    def write(self, stmt: gast.Assign, target: gast.Subscript) -> gast.Assign:
        plan = self.plan(target, write=True)
        array = target.value
        elements = _elements(target.slice)
        load = gast.copy_location(
            gast.Name(id=array.id, ctx=gast.Load(), annotation=None, type_comment=None), target
        )
        if plan.kind == "mask":
            value = _call(put_masked, [load, elements[0], stmt.value], stmt)
        else:
            indices = self.indices(array, elements[plan.position], plan, target)
            axis = _constant(plan.axis, target)
            value = _call(put_along, [load, indices, stmt.value, axis], stmt)
        store = gast.copy_location(
            gast.Name(id=array.id, ctx=gast.Store(), annotation=None, type_comment=None), target
        )
        return gast.copy_location(
            gast.Assign(targets=[store], value=value, type_comment=None), stmt
        )


def _constant(value: int, like) -> gast.Constant:
    return gast.copy_location(gast.Constant(value=value, kind=None), like)


def _call(helper, args: list, like) -> gast.Call:
    """A call of the runtime helper ``helper`` (the primitive of an entry), annotated as the
    subset check annotates calls."""
    func = gast.Name(id=helper.__name__, ctx=gast.Load(), annotation=None, type_comment=None)
    func.global_value = helper
    call = gast.Call(func=func, args=args, keywords=[])
    call.callee = Callee("rule", helper)
    for n in (func, call):
        gast.copy_location(n, like)
    return call


__all__ = ["add_at_statement", "rewrite_indexing", "without_new_axes"]
