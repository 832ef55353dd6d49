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
from sourcead_runtime import squeeze_axes, transpose_axes

from ..analysis.inference import expression_type
from ..analysis.types import is_array_type
from ..rules.callees import classify
from ..trees.codegen import src
from ..trees.queries import array_writes, walk_statements
from .arrays import numpy_function

#: NumPy functions whose result may be a view of their first argument.
_VIEW_FUNCTIONS = frozenset(
    {
        "transpose", "reshape", "ravel", "squeeze", "expand_dims", "swapaxes", "moveaxis",
        "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "real", "imag", "asarray",
        "diagonal", "flip", "flipud", "fliplr", "rot90",
    }
)  # fmt: skip


#: The runtime's helpers that ``np.squeeze(x, axis=...)`` and ``np.transpose(x, axes)`` become.
_VIEW_HELPERS = (squeeze_axes, transpose_axes)


def copied_views(
    fn, tree: gast.FunctionDef, types: dict, copy_them: bool, program=None
) -> gast.FunctionDef:
    """``tree`` with the views read before their arrays change made copies (with
    ``copy_them``; a changed copy of ``tree``), after the refusal of those read after it
    (SourceADError at the binding, see the module docstring). ``program`` (a Program) tells
    which calls of your functions return views of their arguments (``return a[:, k]``)."""
    if getattr(fn, "generated_code", False):
        return tree  # an adjoint differentiated again: its views (of tapes) are its own
    viewed = _returned_views(program, types) if program is not None else (lambda call: ())
    copied = _views_to_copy(fn, tree, types, viewed)
    if not (copy_them and copied):
        return tree
    tree = copy.deepcopy(tree)
    copying = classify(np.copy)

    def copy_of(value):
        call = gast.Call(func=numpy_function(np.copy, value), args=[value], keywords=[])
        call.callee = copying
        return gast.copy_location(call, value)

    def copied_block(body: list) -> list:
        out = []
        for stmt in body:
            position = positions[id(stmt)]
            for part in ("body", "orelse"):
                if isinstance(getattr(stmt, part, None), list):
                    setattr(stmt, part, copied_block(getattr(stmt, part)))
            out.append(stmt)
            if position not in copied:
                continue
            if getattr(getattr(stmt.value, "callee", None), "kind", None) == "user":
                # a call of your function stays the whole value: the copy follows it
                name = stmt.targets[0].id
                again = gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None)
                target = gast.Name(id=name, ctx=gast.Store(), annotation=None, type_comment=None)
                out.append(gast.copy_location(gast.Assign([target], copy_of(again)), stmt))
            else:
                stmt.value = copy_of(stmt.value)
        return out

    # (a deep copy's statements come in the same order)
    positions = {id(stmt): k for k, stmt in enumerate(walk_statements(tree.body))}
    tree.body = copied_block(tree.body)
    return tree


def _returned_views(program, types: dict):
    """``viewed(call)``: the names among a call's arguments whose elements its result may
    view (``def col(a, k): return a[:, k]``, and a function returning its argument)."""

    def viewed(call: gast.Call) -> tuple[str, ...]:
        callee = getattr(call, "callee", None)
        if getattr(callee, "kind", None) != "user":
            return ()
        loaded = program.load(callee.target)
        arg_types = [expression_type(a, types, unknown=None) for a in call.args]
        if None in arg_types:
            return ()
        callee_types = program.infer(loaded, arg_types)
        params = loaded.parsed.params
        viewing = {p: {p} for p in params if is_array_type(callee_types.get(p))}
        for stmt in walk_statements(loaded.normalized.body):
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            target, value = stmt.targets[0].id, stmt.value
            view = _view_binding(stmt, callee_types)
            if view is not None:
                viewing[target] = viewing.get(target, set()) | viewing.get(view[1], set())
            elif isinstance(value, gast.Name) and value.id in viewing:
                viewing[target] = viewing.get(target, set()) | viewing[value.id]
        returned = loaded.normalized.body[-1].value
        if not isinstance(returned, gast.Name):
            return ()  # (several results: not followed)
        return tuple(
            call.args[params.index(p)].id
            for p in sorted(viewing.get(returned.id, set()))
            if isinstance(call.args[params.index(p)], gast.Name)
        )

    return viewed


def _views_to_copy(fn, tree: gast.FunctionDef, types: dict, viewed) -> set[int]:
    """The positions (in ``walk_statements`` order) of the view bindings whose arrays change
    while they are bound, but which are not read after that; SourceADError for a view that
    is, or that is written into itself.

    Each binding is followed along the statements as they run, every loop's body twice (a
    read in the next step comes after a write in this one) and both branches of an ``if``;
    a rebinding ends the view unless it is conditional (in a branch the binding is not in).
    """
    order = list(walk_statements(tree.body))
    position = {id(stmt): k for k, stmt in enumerate(order)}
    augmented = getattr(tree, "augmented_names", set())
    filled = {id(s.targets[0]) for s in order if getattr(s, "fills_new_array", False)}
    written = [_written_by(stmt, augmented, filled) for stmt in order]
    branches = _branches(order, position)
    trace = _trace(tree.body, position)
    loops_around = {
        position[id(inner)]: loop
        for loop in order
        if isinstance(loop, gast.For)
        for inner in walk_statements(loop.body)
    }  # (the innermost loop, as walk_statements visits outer loops first)
    roots: dict[str, set[str]] = {}
    copied = set()
    for p, stmt in enumerate(order):
        view = _view_binding(stmt, types, viewed)
        if view is None:
            continue
        name, base = view
        roots[name] = {base} | roots.get(base, set())
        for start in (i for i, q in enumerate(trace) if q == p):
            write = None  # the first statement that changed the array since the binding
            for q in trace[start + 1 :]:
                if name in _read_by(order[q]) and write is not None:
                    if not _exclusive(branches, write, q):
                        _refuse_view(fn, stmt, name, base, order[write], through_view=False)
                if name in written[q]:
                    _refuse_view(fn, stmt, name, base, order[q], through_view=True)
                if (
                    roots[name] & written[q]
                    and write is None
                    and not _other_rows(stmt, order[q], loops_around.get(q))
                ):
                    write = q
                    copied.add(p)
                if q == p or (
                    name in _bound_by(order[q])
                    and name not in written[q]  # (u += 1: a write, not a new binding)
                    and not _conditional(branches, q, p)
                ):
                    break
    return copied


def _other_rows(binding, write, loop) -> bool:
    """Whether ``write`` changes only other rows than the view ``binding`` names: the view
    ``pivot = b[k]`` and the write ``b[i] = ...`` (or ``b[i, j] = ...``) in ``loop``, ``for i in
    range(k + 1, n)`` or ``range(k)`` (Gaussian elimination's rows below its pivot)."""
    view = binding.value
    if not (
        isinstance(view, gast.Subscript)
        and isinstance(view.value, gast.Name)
        and isinstance(view.slice, gast.Name)
        and isinstance(loop, gast.For)
        and isinstance(loop.target, gast.Name)
    ):
        return False
    row = view.slice.id
    targets = [t for t in getattr(write, "targets", []) if isinstance(t, gast.Subscript)]
    if not targets or not all(_first_index(t) == loop.target.id for t in targets):
        return False
    bounds = loop.iter.args if isinstance(loop.iter, gast.Call) else []
    if not 1 <= len(bounds) <= 2 or getattr(loop.iter.func, "id", None) != "range":
        return False
    if len(bounds) == 2 and _is_name_plus_positive(bounds[0], row):
        return True  # range(k + 1, n): rows after k
    stop = bounds[-1]
    return isinstance(stop, gast.Name) and stop.id == row  # range(k) or range(0, k)


def _first_index(target: gast.Subscript) -> str | None:
    index = target.slice.elts[0] if isinstance(target.slice, gast.Tuple) else target.slice
    return index.id if isinstance(index, gast.Name) else None


def _is_name_plus_positive(node, name: str) -> bool:
    """``name + c`` (or ``c + name``) with an integer literal ``c`` of at least 1."""
    if not (isinstance(node, gast.BinOp) and isinstance(node.op, gast.Add)):
        return False
    for a, b in ((node.left, node.right), (node.right, node.left)):
        if (
            isinstance(a, gast.Name)
            and a.id == name
            and isinstance(b, gast.Constant)
            and isinstance(b.value, int)
            and b.value >= 1
        ):
            return True
    return False


def _trace(body: list, position: dict) -> list[int]:
    """Positions of ``body``'s statements as they may run: each loop's body twice, both
    branches of an ``if`` one after the other."""
    out = []
    for stmt in body:
        out.append(position[id(stmt)])
        if isinstance(stmt, gast.For | gast.While):
            inner = _trace(stmt.body, position)
            out += inner + inner
        elif isinstance(stmt, gast.If):
            out += _trace(stmt.body, position) + _trace(stmt.orelse, position)
    return out


def _branches(order: list, position: dict) -> list[tuple[set[int], set[int]]]:
    """The positions in the two branches of each ``if``."""
    return [
        (
            {position[id(s)] for s in walk_statements(stmt.body)},
            {position[id(s)] for s in walk_statements(stmt.orelse)},
        )
        for stmt in order
        if isinstance(stmt, gast.If)
    ]


def _exclusive(branches, a: int, b: int) -> bool:
    """Whether the statements at ``a`` and ``b`` are in the two branches of one ``if``."""
    return any((a in x and b in y) or (a in y and b in x) for x, y in branches)


def _conditional(branches, q: int, p: int) -> bool:
    """Whether the statement at ``q`` runs in a branch that the one at ``p`` is not in."""
    return any(
        (q in part and p not in part) for body, orelse in branches for part in (body, orelse)
    )


def _view_binding(stmt, types: dict, viewed=None) -> tuple[str, str] | None:
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
    elif isinstance(value, gast.Call) and viewed is not None and (bases := viewed(value)):
        base = gast.Name(id=bases[0], ctx=gast.Load(), annotation=None, type_comment=None)
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
    if getattr(func, "global_value", None) in _VIEW_HELPERS:
        return True
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
    if getattr(stmt, "augmented", False) and isinstance(stmt.targets[0], gast.Name):
        # u += x, now u2 = u + x where the name was renamed: a write into u's array
        left = stmt.value.left if isinstance(stmt.value, gast.BinOp) else None
        if isinstance(left, gast.Name):
            names.add(left.id)
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
    if isinstance(binding.value, gast.Subscript):  # as written: rewrites make calls
        bound, copied = f"{name} = {shown}", f"{shown}.copy()"
    else:
        bound, copied = name, "a .copy() of it"
    raise fn.error(
        f"{bound} is a view of {base}'s elements, and {what}: NumPy's view would show the "
        f"change. Use {copied} (or index {base} where {name} is used)",
        binding,
    )
