"""Names bound to views of arrays that change in place.

``row = a[0]``, ``left = u[:-2]`` and ``t = a.T`` bind a name to a NumPy view, which shows
every later write into ``a``'s elements. Both generators treat each name as an array of its
own; the reverse sweep even restores ``u``'s overwritten elements under a view of them. So:

* a view read after its array is written in place (``t = a[0]; a[0] = a[2]; a[2] = t``, and
  ``a[0], a[2] = a[2], a[0]`` of rows), or written through itself (``row[0] = 0.0``), is
  refused at its binding: NumPy's values are not those of the numbers it held when bound;
* a view read only before its array changes (a stencil's ``left = u[:-2]`` read by
  ``u[1:-1] = ...``) holds what a copy would hold, and becomes one (``np.copy(u[:-2])``),
  for the adjoint, so that restoring ``u`` does not change it.
"""

from __future__ import annotations

import copy

import gast
import numpy as np

from ..analysis.types import is_array_type
from ..rules.callees import classify
from ..trees.codegen import src
from ..trees.queries import array_writes, walk_statements

#: NumPy functions whose result may be a view of their first argument.
_VIEW_FUNCTIONS = frozenset(
    {
        "transpose", "reshape", "ravel", "squeeze", "expand_dims", "swapaxes", "moveaxis",
        "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "real", "imag", "asarray",
        "diagonal", "flip", "flipud", "fliplr", "rot90",
    }
)  # fmt: skip


def copied_views(fn, tree: gast.FunctionDef, types: dict, copy_them: bool) -> gast.FunctionDef:
    """``tree`` with the views read before their arrays change made copies (with
    ``copy_them``; a changed copy of ``tree``), after the refusal of those read after it
    (SourceADError at the binding, see the module docstring)."""
    if getattr(fn, "generated_code", False):
        return tree  # an adjoint differentiated again: its views (of tapes) are its own
    copied = _views_to_copy(fn, tree, types)
    if not (copy_them and copied):
        return tree
    tree = copy.deepcopy(tree)
    copying = classify(np.copy)
    for position, stmt in enumerate(walk_statements(tree.body)):
        if position in copied:  # (a deep copy's statements come in the same order)
            call = gast.Call(func=_np_copy(stmt.value), args=[stmt.value], keywords=[])
            call.callee = copying
            stmt.value = gast.copy_location(call, stmt.value)
    return tree


def _np_copy(like) -> gast.Attribute:
    base = gast.Name(id="np", ctx=gast.Load(), annotation=None, type_comment=None)
    func = gast.Attribute(value=base, attr="copy", ctx=gast.Load())
    func.global_value = np.copy
    for n in (base, func):
        gast.copy_location(n, like)
    return func


def _views_to_copy(fn, tree: gast.FunctionDef, types: dict) -> set[int]:
    """The positions (in ``walk_statements`` order) of the view bindings whose arrays change
    while they are bound, but which are not read after that; SourceADError for a view that
    is, or that is written into itself."""
    order = list(walk_statements(tree.body))
    position = {id(stmt): k for k, stmt in enumerate(order)}
    loops = [s for s in order if isinstance(s, gast.For | gast.While)]
    inside = {id(loop): {id(s) for s in walk_statements(loop.body)} for loop in loops}
    augmented = getattr(tree, "augmented_names", set())
    filled = {id(s.targets[0]) for s in order if getattr(s, "fills_new_array", False)}
    writes: dict[str, list[int]] = {}
    for k, stmt in enumerate(order):
        for name in _written_by(stmt, augmented, filled):
            writes.setdefault(name, []).append(k)
    roots: dict[str, set[str]] = {}
    copied = set()
    for p, stmt in enumerate(order):
        view = _view_binding(stmt, types)
        if view is None:
            continue
        name, base = view
        roots[name] = {base} | roots.get(base, set())
        rebound = next(
            (k for k in range(p + 1, len(order)) if name in _bound_by(order[k])), len(order)
        )
        through = [w for w in writes.get(name, []) if p < w < rebound]
        if through:
            _refuse_view(fn, stmt, name, base, order[through[0]], through_view=True)
        for root in roots[name]:
            for w in writes.get(root, []):
                if not p < w < rebound:
                    continue
                later = any(name in _read_by(order[r]) for r in range(w + 1, rebound))
                carried = any(
                    name in _read_by(order[r])
                    and id(order[r]) in inside[id(loop)]
                    and (r > p if id(stmt) not in inside[id(loop)] else r < p)
                    for loop in loops
                    if id(order[w]) in inside[id(loop)]
                    for r in range(position[id(loop)] + 1, w)
                )
                if later or carried:
                    _refuse_view(fn, stmt, name, root, order[w], through_view=False)
                copied.add(p)
    return copied


def _view_binding(stmt, types: dict) -> tuple[str, str] | None:
    """(name, base) for ``name = base[basic index]`` or ``name = np.transpose(base)`` (and the
    other functions of ``_VIEW_FUNCTIONS``) with an array result."""
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
        return None
    name, value = stmt.targets[0].id, stmt.value
    if not is_array_type(types.get(name)):
        return None
    if isinstance(value, gast.Subscript):
        base = value
        while isinstance(base, gast.Subscript):
            if _copies(base.slice, types):
                return None
            base = base.value
    elif isinstance(value, gast.Call) and value.args and _view_function(value.func):
        base = value.args[0]
    else:
        return None
    if not (isinstance(base, gast.Name) and is_array_type(types.get(base.id))):
        return None
    return name, base.id


def _copies(index, types: dict) -> bool:
    """Whether indexing with ``index`` makes a copy (an index array, a list or a mask)."""
    return any(
        isinstance(n, gast.List) or (isinstance(n, gast.Name) and is_array_type(types.get(n.id)))
        for n in gast.walk(index)
    )


def _view_function(func) -> bool:
    return (
        isinstance(func, gast.Attribute)
        and isinstance(func.value, gast.Name)
        and func.value.id in ("np", "numpy")
        and func.attr in _VIEW_FUNCTIONS
    )


def _own_parts(stmt) -> list:
    """The parts of ``stmt`` that are not statements nested in it."""
    if isinstance(stmt, gast.For):
        return [stmt.target, stmt.iter]
    if isinstance(stmt, gast.If | gast.While):
        return [stmt.test]
    return [stmt]


def _read_by(stmt) -> set[str]:
    return {
        n.id
        for part in _own_parts(stmt)
        for n in gast.walk(part)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    }


def _bound_by(stmt) -> set[str]:
    targets = stmt.targets if isinstance(stmt, gast.Assign) else []
    if isinstance(stmt, gast.For):
        targets = [stmt.target]
    return {
        n.id
        for t in targets
        for n in gast.walk(t)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
    }


def _written_by(stmt, augmented: set[str], filled: set[int]) -> set[str]:
    """Arrays ``stmt`` changes in place: element and slice writes, ``np.add.at``, and
    ``u += x`` (which normalising wrote ``u = u + x``); not the writes of a fused loop that
    fills a new array (``filled``)."""
    names = {
        name
        for part in _own_parts(stmt)
        for name, node in array_writes(part)
        if id(node) not in filled
    }
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
        if stmt.targets[0].id in augmented and stmt.targets[0].id in _read_by(stmt):
            names.add(stmt.targets[0].id)
    return names


def _refuse_view(fn, binding, name: str, base: str, write, through_view: bool) -> None:
    shown = src(binding.value)
    unpacked = getattr(binding, "unpacked", None)
    if unpacked is not None:  # a[0], a[2] = a[2], a[0] of rows or slices
        targets, values = unpacked.targets[0].elts, unpacked.value.elts
        written = f"{', '.join(map(src, targets))} = {', '.join(map(src, values))}"
        raise fn.error(
            f"{written} assigns views of {base} (rows or slices): NumPy writes the first "
            "before it reads the second, which the first changed. Swap with index arrays, "
            f"e.g. {base}[[0, 2]] = {base}[[2, 0]], or copy: t = {shown}.copy()",
            unpacked,
        )
    if through_view:
        what = f"{name} is written at line {write.lineno}, which changes {base}"
    else:
        what = f"{base} is written at line {write.lineno} before {name} is read again"
    raise fn.error(
        f"{name} = {shown} is a view of {base}'s elements, and {what}: NumPy's view would "
        f"show the change. Use {shown}.copy() (or index {base} where {name} is used)",
        binding,
    )
