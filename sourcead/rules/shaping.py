"""Building and reshaping arrays: ``np.array`` of lists, ``np.full``, casts, axes moved, arrays
flipped, rolled, repeated, tiled, padded and broadcast.

Every one of them is linear in the array it reshapes (and ``np.full`` in its value), so its
tangent is the same call of the tangent and its adjoint the transposed map: a flip flips
back, a roll rolls back, ``np.repeat``'s adjoint sums the repeats (``repeat_adjoint``),
``np.tile``'s the tiles, ``np.pad``'s adds the padded elements into those they copy
(``pad_adjoint``), ``np.broadcast_to``'s sums over the broadcast axes (``unbroadcast``).

The array-syntax rewrite (``lowering/arrays.py``) calls ``shaping_call`` for the NumPy
functions here: it checks their options at the user's line and writes the calls Numba
compiles, a helper of ``sourcead_runtime.shaping`` where Numba lacks the function or an
option (``np.pad`` -> ``pad_of``, ``np.flip(x, axis=1)`` -> ``flip_along(x, 1)``). ``np.array``
of a list literal becomes ``array_of`` of nested tuples, which the generators split like
``np.stack`` (``callees.JOINING``); ``x.astype(np.float32)``, ``np.float32(v)`` and ``dtype=``
become ``cast_as(x, "float32")``, whose adjoint casts back (``cast_like``). Axes, the
number of quarter turns of ``np.rot90`` and the mode of ``np.pad`` must be written in the
call: the result's number of dimensions and the adjoint's form depend on them.
"""

from __future__ import annotations

import gast
import numpy as np
from sourcead_runtime import (
    array_of,
    at_least,
    cast_as,
    cast_like,
    diag_adjoint,
    flip_along,
    pad_adjoint,
    pad_of,
    repeat_adjoint,
    repeat_along,
    rot90_along,
    squeeze_axes,
    tile_adjoint,
    tile_of,
    unbroadcast,
)

from ..analysis.types import Array, Scalar, TupleType
from ..trees.codegen import src
from ..trees.resolved import located, resolved, resolved_call
from .registry import register
from .shapes import ArrayTypeProblem, literal_int, result_dtype, scalar_of

# --- result types ---------------------------------------------------------------------------------


def _array(x, what: str) -> Array:
    if not isinstance(x, Array):
        raise ArrayTypeProblem(f"{what} of a number (it takes an array)")
    return x


def _axis_in(node, ndim: int, what: str) -> int:
    value = literal_int(node)
    if value is None:
        raise ArrayTypeProblem(f"{what} with an axis that is not an integer written in the call")
    if not -ndim <= value < ndim:
        raise ArrayTypeProblem(f"{what} with axis={value} of a {ndim}-d array")
    return value % ndim


def _axes_in(node, ndim: int, what: str) -> tuple[int, ...]:
    named = node.elts if isinstance(node, gast.Tuple) else [node]
    axes = tuple(_axis_in(a, ndim, what) for a in named)
    if len(set(axes)) != len(axes):
        raise ArrayTypeProblem(f"{what} with an axis named twice")
    return axes


def _argument(node: gast.Call, position: int, name: str):
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return node.args[position] if len(node.args) > position else None


def _shape_rank(shape, what: str) -> int:
    if isinstance(shape, TupleType):
        return len(shape.items)
    if isinstance(shape, Scalar) and shape.kind == "int":
        return 1
    raise ArrayTypeProblem(f"{what} with a shape that is not an integer or a tuple of them")


def _filled(args: list, node: gast.Call) -> Array:
    """``np.full(shape, value)``: the value's dtype, as many axes as the shape has."""
    value = args[1]
    if not isinstance(value, Scalar):
        raise ArrayTypeProblem("np.full with a value that is not a number")
    dtype = {"bool": "bool", "int": "int64"}.get(value.kind, value.dtype or "float64")
    return Array(dtype, _shape_rank(args[0], "np.full"))


def _filled_like(args: list, node: gast.Call) -> Array:
    return _array(args[0], "np.full_like")


def _swapped(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.swapaxes")
    for k, name in ((1, "axis1"), (2, "axis2")):
        _axis_in(_argument(node, k, name), x.ndim, "np.swapaxes")
    return x


def _moved(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.moveaxis")
    for k, name in ((1, "source"), (2, "destination")):
        _axis_in(_argument(node, k, name), x.ndim, "np.moveaxis")
    return x


def _expanded(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.expand_dims")
    _axis_in(_argument(node, 1, "axis"), x.ndim + 1, "np.expand_dims")
    return Array(x.dtype, x.ndim + 1)


def _squeezed(args: list, node: gast.Call) -> Array | Scalar:
    x = _array(args[0], "np.squeeze")
    ndim = x.ndim - len(_axes_in(node.args[1], x.ndim, "np.squeeze"))
    return Array(x.dtype, ndim) if ndim else scalar_of(x.dtype)


def _like_array(what: str, axis_position: int | None = None):
    def result(args: list, node: gast.Call) -> Array:
        x = _array(args[0], what)
        if axis_position is not None:
            axis = _argument(node, axis_position, "axis")
            if axis is not None and not (isinstance(axis, gast.Constant) and axis.value is None):
                _axes_in(axis, x.ndim, what)
        return x

    result.__name__ = f"like_{what.rpartition('.')[2]}"
    return result


def _at_least_two(what: str):
    def result(args: list, node: gast.Call) -> Array:
        x = _array(args[0], what)
        if x.ndim < 2:
            raise ArrayTypeProblem(f"{what} of a {x.ndim}-d array (it takes 2 or more)")
        return x

    result.__name__ = f"like_{what.rpartition('.')[2]}"
    return result


def _rotated(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.rot90")
    if x.ndim < 2:
        raise ArrayTypeProblem(f"np.rot90 of a {x.ndim}-d array (it takes 2 or more)")
    axes = _axes_in(node.args[2], x.ndim, "np.rot90")
    if len(axes) != 2:
        raise ArrayTypeProblem("np.rot90 with axes other than two different axes")
    return x


def _integer(t, what: str) -> None:
    if not (isinstance(t, Scalar) and t.kind in ("int", "bool")):
        raise ArrayTypeProblem(f"{what} that is not an integer")


def _rolled(args: list, node: gast.Call) -> Array:
    x = _like_array("np.roll", 2)(args, node)
    _integer(args[1], "np.roll with a shift")
    return x


def _repeated(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.repeat")
    _integer(args[1], "np.repeat with a number of repeats")
    if len(node.args) > 2:
        _axis_in(node.args[2], x.ndim, "np.repeat")
        return x
    return Array(x.dtype, 1)


def _tiled(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.tile")
    reps = args[1]
    items = reps.items if isinstance(reps, TupleType) else (reps,)
    for item in items:
        _integer(item, "np.tile with repeats")
    return Array(x.dtype, max(x.ndim, len(items)))


def _padded(args: list, node: gast.Call) -> Array:
    x = _array(args[0], "np.pad")
    widths = args[1]

    def integers(t) -> bool:
        return isinstance(t, Scalar) and t.kind == "int"

    pair = isinstance(widths, TupleType) and len(widths.items) == 2
    if not (
        integers(widths)
        or (pair and all(integers(t) for t in widths.items))
        or (
            isinstance(widths, TupleType)
            and len(widths.items) == x.ndim
            and all(
                isinstance(t, TupleType) and len(t.items) == 2 and all(integers(i) for i in t.items)
                for t in widths.items
            )
        )
    ):
        raise ArrayTypeProblem(
            "np.pad with pad_width other than an integer, a pair (before, after) or one pair "
            "per axis"
        )
    return Array(result_dtype([x, args[3]]) if isinstance(args[3], Array) else x.dtype, x.ndim)


def _broadcast(args: list, node: gast.Call) -> Array:
    x = args[0]
    if not isinstance(x, Array | Scalar):
        raise ArrayTypeProblem("np.broadcast_to of something other than an array or a number")
    ndim = _shape_rank(args[1], "np.broadcast_to")
    if isinstance(x, Array) and x.ndim > ndim:
        raise ArrayTypeProblem(f"np.broadcast_to of a {x.ndim}-d array to {ndim} dimensions")
    return Array(x.dtype if isinstance(x, Array) else scalar_dtype(x), ndim)


def scalar_dtype(x: Scalar) -> str:
    return {"bool": "bool", "int": "int64"}.get(x.kind, x.dtype or "float64")


def _at_least(args: list, node: gast.Call) -> Array:
    x = args[0]
    ndim = literal_int(node.args[1])
    if isinstance(x, Array):
        return Array(x.dtype, max(x.ndim, ndim))
    if isinstance(x, Scalar):
        return Array(scalar_dtype(x), ndim)
    raise ArrayTypeProblem("np.atleast_1d of something other than an array or a number")


def _cast(args: list, node: gast.Call) -> Array | Scalar:
    x, dtype = args[0], node.args[1].value
    if isinstance(x, Array):
        return Array(dtype, x.ndim)
    if isinstance(x, Scalar):
        return scalar_of(dtype)
    raise ArrayTypeProblem(f"a cast to {dtype} of something other than an array or a number")


def _like_argument(position: int):
    def result(args: list, node: gast.Call):
        return args[position]

    result.__name__ = f"like_argument_{position}"
    return result


def array_of_type(args: list) -> Array:
    """``array_of(items)``: the items' dtype, one axis per level of nesting plus the items'."""

    def leaves(t, depth: int) -> tuple[list, int]:
        if isinstance(t, TupleType):
            if not t.items:
                raise ArrayTypeProblem("np.array of an empty list")
            found = [leaves(item, depth + 1) for item in t.items]
            if len({d for _, d in found}) != 1:
                raise ArrayTypeProblem("np.array of nested lists of different depths")
            return [leaf for part, _ in found for leaf in part], found[0][1]
        if isinstance(t, Array):
            return [t], depth + t.ndim
        if isinstance(t, Scalar):
            return [t], depth
        raise ArrayTypeProblem("np.array of a list of something other than numbers and arrays")

    items = args[0] if args else None
    if not isinstance(items, TupleType):
        raise ArrayTypeProblem("np.array of something other than a list written out")
    found, ndim = leaves(items, 0)
    kinds = [t for t in found if isinstance(t, Array)]
    if kinds and len(kinds) != len(found):
        raise ArrayTypeProblem("np.array of a list mixing numbers and arrays")
    if kinds:
        return Array(result_dtype(kinds), ndim)
    widest = max((t.kind for t in found), key=("bool", "int", "float", "complex").index)
    return Array(
        {"bool": "bool", "int": "int64", "float": "float64"}.get(widest, "complex128"), ndim
    )


# --- entries --------------------------------------------------------------------------------------


@register(np.full, result=_filled, linear_in=(1,), device=False)
class Full:
    def adjoint(b_out, shape, value):
        return None, np.sum(b_out)

    def tangent(dshape, dvalue, shape, value):
        return np.full(shape, dvalue)


@register(np.full_like, result=_filled_like, linear_in=(1,), device=False)
class FullLike:
    def adjoint(b_out, x, value):
        return None, np.sum(b_out)

    def tangent(dx, dvalue, x, value):
        return np.full_like(x, dvalue)


def _copied(args: list, node: gast.Call) -> Array:
    """``np.copy(x)``, and ``np.array(x)`` of one array: an array like ``x``."""
    if not isinstance(args[0], Array):
        raise ArrayTypeProblem(
            "np.array or np.copy of a number: sourcead has no 0-d arrays (use the number "
            "itself, or np.array([x]) for a vector of one)"
        )
    return args[0]


@register(np.copy, result=_copied, linear_in=(0,), device=False)
class Copy:
    def adjoint(b_out, x):
        return b_out

    def tangent(dx, x):
        return np.copy(dx)


@register(np.swapaxes, result=_swapped, linear_in=(0,), methods=("swapaxes",), device=False)
class Swapaxes:
    def adjoint(b_out, x, axis1, axis2):
        return np.swapaxes(b_out, axis1, axis2), None, None

    def tangent(dx, daxis1, daxis2, x, axis1, axis2):
        return np.swapaxes(dx, axis1, axis2)


@register(np.moveaxis, result=_moved, linear_in=(0,), device=False)
class Moveaxis:
    def adjoint(b_out, x, source, destination):
        return np.moveaxis(b_out, destination, source), None, None

    def tangent(dx, dsource, ddestination, x, source, destination):
        return np.moveaxis(dx, source, destination)


@register(np.expand_dims, result=_expanded, linear_in=(0,), device=False)
class ExpandDims:
    def adjoint(b_out, x, axis):
        return np.ascontiguousarray(b_out).reshape(x.shape), None

    def tangent(dx, daxis, x, axis):
        return np.expand_dims(dx, axis)


@register(squeeze_axes, result=_squeezed, linear_in=(0,), device=False)
class SqueezeAxes:
    def adjoint(b_out, x, axis):
        return np.ascontiguousarray(b_out).reshape(x.shape), None

    def tangent(dx, daxis, x, axis):
        return squeeze_axes(dx, axis)


@register(np.flip, result=_like_array("np.flip"), linear_in=(0,), device=False)
class Flip:
    def adjoint(b_out, x):
        return np.flip(b_out)

    def tangent(dx, x):
        return np.flip(dx)


@register(flip_along, result=_like_array("np.flip", 1), linear_in=(0,), device=False)
class FlipAlong:
    def adjoint(b_out, x, axis):
        return flip_along(b_out, axis), None

    def tangent(dx, daxis, x, axis):
        return flip_along(dx, axis)


@register(np.flipud, result=_like_array("np.flipud"), linear_in=(0,), device=False)
class Flipud:
    def adjoint(b_out, x):
        return np.flipud(b_out)

    def tangent(dx, x):
        return np.flipud(dx)


@register(np.fliplr, result=_at_least_two("np.fliplr"), linear_in=(0,), device=False)
class Fliplr:
    def adjoint(b_out, x):
        return np.fliplr(b_out)

    def tangent(dx, x):
        return np.fliplr(dx)


@register(rot90_along, result=_rotated, linear_in=(0,), device=False)
class Rot90:
    def adjoint(b_out, x, k, axes):
        return rot90_along(b_out, -k, axes), None, None

    def tangent(dx, dk, daxes, x, k, axes):
        return rot90_along(dx, k, axes)


@register(np.roll, result=_rolled, linear_in=(0,), device=False)
class Roll:
    def adjoint(b_out, x, shift, axis=None):
        return np.roll(b_out, -shift, axis), None

    def tangent(dx, dshift, x, shift, axis=None):
        return np.roll(dx, shift, axis)


@register(np.repeat, result=_repeated, linear_in=(0,), device=False)
class Repeat:
    def adjoint(b_out, x, repeats):
        return repeat_adjoint(b_out, x, repeats, None), None

    def tangent(dx, drepeats, x, repeats):
        return np.repeat(dx, repeats)


@register(repeat_along, result=_repeated, linear_in=(0,), device=False)
class RepeatAlong:
    def adjoint(b_out, x, repeats, axis):
        return repeat_adjoint(b_out, x, repeats, axis), None, None

    def tangent(dx, drepeats, daxis, x, repeats, axis):
        return repeat_along(dx, repeats, axis)


@register(tile_of, result=_tiled, linear_in=(0,), device=False)
class Tile:
    def adjoint(b_out, x, reps):
        return tile_adjoint(b_out, x, reps), None

    def tangent(dx, dreps, x, reps):
        return tile_of(dx, reps)


@register(pad_of, result=_padded, device=False)  # linear in (x, value) together
class Pad:
    def adjoint(b_out, x, widths, mode, value):
        # the constant elements are those of the padded array that no element of x fills
        return (
            pad_adjoint(b_out, x, widths, mode),
            None,
            None,
            np.sum(b_out) - np.sum(pad_adjoint(b_out, x, widths, "constant")),
        )

    def tangent(dx, dwidths, dmode, dvalue, x, widths, mode, value):
        return pad_of(dx, widths, mode, dvalue)


@register(np.broadcast_to, result=_broadcast, linear_in=(0,), device=False)
class BroadcastTo:
    def adjoint(b_out, x, shape):
        return np.sum(b_out), None

    def array_adjoint(b_out, x, shape):
        return unbroadcast(b_out, x.shape), None

    def tangent(dx, dshape, x, shape):
        return np.broadcast_to(dx, shape)

    def array_tangent(dx, dshape, x, shape):
        return np.broadcast_to(dx, shape)


@register(at_least, result=_at_least, linear_in=(0,), device=False)
class AtLeast:
    def adjoint(b_out, x, ndim):
        return np.sum(b_out), None

    def array_adjoint(b_out, x, ndim):
        return np.ascontiguousarray(b_out).reshape(x.shape), None

    def tangent(dx, dndim, x, ndim):
        return at_least(dx, ndim)

    def array_tangent(dx, dndim, x, ndim):
        return at_least(dx, ndim)


@register(cast_as, result=_cast, linear_in=(0,), device=False)
class CastAs:
    def adjoint(b_out, x, dtype):
        return cast_like(b_out, x), None

    def tangent(dx, ddtype, x, dtype):
        return cast_as(dx, dtype)


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) -------------------


@register(
    repeat_adjoint, result=_like_argument(1), linear_in=(0,), forward_only=True, new_array=True
)
class RepeatAdjoint:
    def tangent(dg, dx, drepeats, daxis, g, x, repeats, axis):
        return repeat_adjoint(dg, x, repeats, axis)


@register(tile_adjoint, result=_like_argument(1), linear_in=(0,), forward_only=True, new_array=True)
class TileAdjoint:
    def tangent(dg, dx, dreps, g, x, reps):
        return tile_adjoint(dg, x, reps)


@register(pad_adjoint, result=_like_argument(1), linear_in=(0,), forward_only=True, new_array=True)
class PadAdjoint:
    def tangent(dg, dx, dwidths, dmode, g, x, widths, mode):
        return pad_adjoint(dg, x, widths, mode)


@register(diag_adjoint, result=_like_argument(1), linear_in=(0,), forward_only=True, new_array=True)
class DiagAdjoint:
    def tangent(dg, dx, g, x, k=0):
        return diag_adjoint(dg, x, k)


@register(cast_like, result=_like_argument(1), linear_in=(0,), forward_only=True, new_array=True)
class CastLike:
    def tangent(dg, dx, g, x):
        return cast_like(dg, x)


# --- the calls generated code makes (the array-syntax rewrite) -------------------------------------

_CASTS = {
    np.float64: "float64", np.float32: "float32", np.complex128: "complex128",
    np.complex64: "complex64", np.int64: "int64", np.int32: "int32", float: "float64",
    complex: "complex128", int: "int64", np.int_: "int64", np.double: "float64",
}  # fmt: skip

#: NumPy function -> (its positional parameters, the keywords sourcead takes).
_SIGNATURES = {
    np.array: (("object",), ("dtype",)),
    np.asarray: (("a",), ("dtype",)),
    np.full: (("shape", "fill_value"), ()),
    np.full_like: (("a", "fill_value"), ()),
    np.swapaxes: (("a", "axis1", "axis2"), ()),
    np.moveaxis: (("a", "source", "destination"), ()),
    np.expand_dims: (("a", "axis"), ()),
    np.squeeze: (("a", "axis"), ()),
    np.flip: (("m", "axis"), ()),
    np.flipud: (("m",), ()),
    np.fliplr: (("m",), ()),
    np.rot90: (("m", "k", "axes"), ()),
    np.roll: (("a", "shift", "axis"), ()),
    np.repeat: (("a", "repeats", "axis"), ()),
    np.tile: (("A", "reps"), ()),
    np.pad: (("array", "pad_width", "mode"), ("constant_values",)),
    np.broadcast_to: (("array", "shape"), ()),
    np.atleast_1d: (("arys",), ()),
    np.atleast_2d: (("arys",), ()),
    np.atleast_3d: (("arys",), ()),
    np.stack: (("arrays", "axis"), ()),
    np.concatenate: (("arrays", "axis"), ()),
    np.vstack: (("tup",), ()),
    np.hstack: (("tup",), ()),
    np.column_stack: (("tup",), ()),
    **{cast: (("x",), ()) for cast in _CASTS if cast not in (float, complex, int)},
}

#: Array methods rewritten here: ``x.astype(T)``, ``x.squeeze(axis)``, ``x.repeat(r, axis)``.
METHODS = {"astype": cast_as, "squeeze": np.squeeze, "repeat": np.repeat}


def is_shaping_call(function) -> bool:
    try:
        return function in _SIGNATURES
    except TypeError:  # unhashable: not one of these
        return False


def _helper(helper, args: list, like: gast.Call) -> gast.Call:
    return resolved_call(helper, args, like)


def _constant(value, like) -> gast.Constant:
    return gast.copy_location(gast.Constant(value=value, kind=None), like)


def _tuple_of(node):
    """A list or tuple literal as nested tuples (other expressions as they are)."""
    if isinstance(node, gast.List | gast.Tuple):
        elts = [_tuple_of(e) for e in node.elts]
        return gast.copy_location(gast.Tuple(elts=elts, ctx=gast.Load()), node)
    return node


def _dtype_name(parsed, node, spelled: str, call) -> str:
    if isinstance(node, gast.Constant) and isinstance(node.value, str):
        try:
            dtype = np.dtype(node.value)
        except TypeError:
            dtype = None
    else:
        try:
            dtype = np.dtype(parsed.resolve(node))
        except (KeyError, AttributeError, TypeError):
            dtype = None
    if dtype is None or dtype.kind not in "biufc":
        raise parsed.error(
            f"{spelled} with dtype {src(node)}: sourcead takes a float, complex or integer "
            "dtype written in the call (np.float32, float, 'complex128' …)",
            call,
        )
    return dtype.name


def cast_call(parsed, x, dtype_node, call, spelled: str) -> gast.Call:
    """``cast_as(x, "float32")`` for a cast of ``x`` to the dtype ``dtype_node`` names."""
    name = _dtype_name(parsed, dtype_node, spelled, call)
    return _helper(cast_as, [x, _constant(name, call)], call)


def method_call(parsed, node: gast.Call, attr: str, value) -> gast.Call:
    """``x.astype(T)``, ``x.squeeze(axis)``, ``x.repeat(r, axis)`` as the calls of NumPy's
    functions (or ``cast_as``) the rewrite then checks."""
    if attr == "astype":
        if len(node.args) != 1 or node.keywords:
            raise parsed.error(".astype(...) with options (sourcead takes the dtype alone)", node)
        return cast_call(parsed, value, node.args[0], node, ".astype()")
    function = METHODS[attr]
    func = _numpy(function, node.func)
    call = gast.Call(func=func, args=[value, *node.args], keywords=node.keywords)
    return shaping_call(parsed, gast.copy_location(call, node), function, f".{attr}()")


def shaping_call(parsed, call: gast.Call, function, spelled: str) -> gast.expr:
    """The expression generated code computes for ``call`` of ``function`` (one of
    ``_SIGNATURES``), its options checked at the call's line (``parsed.error``)."""
    positional, keywords = _SIGNATURES[function]
    if any(isinstance(a, gast.Starred) for a in call.args):
        raise parsed.error(f"{spelled} with *arguments", call)
    if len(call.args) > len(positional):
        raise parsed.error(f"{spelled} with {len(call.args)} arguments", call)
    given = dict(zip(positional, call.args, strict=False))
    for keyword in call.keywords:
        if keyword.arg is None or keyword.arg in given:
            raise parsed.error(f"{spelled} with **options or an option given twice", call)
        if keyword.arg not in positional + keywords:
            raise parsed.error(f"{spelled} with {keyword.arg}= (not taken by sourcead)", call)
        given[keyword.arg] = keyword.value
    if positional[0] not in given:
        raise parsed.error(f"{spelled} without its argument", call)
    first = given[positional[0]]

    def option(name: str):
        value = given.get(name)
        return None if isinstance(value, gast.Constant) and value.value is None else value

    def axis_written(name: str, tuples: bool = False):
        value = option(name)
        if value is None:
            return None
        elts = value.elts if isinstance(value, gast.Tuple | gast.List) and tuples else [value]
        if not elts or any(literal_int(e) is None for e in elts):
            kind = "an integer or a tuple of integers" if tuples else "an integer"
            raise parsed.error(f"{spelled} with {name}={src(value)}: write {kind}", call)
        return _tuple_of(value)

    if function in (np.array, np.asarray):
        dtype = given.get("dtype")
        if isinstance(first, gast.List | gast.Tuple):
            value = _helper(array_of, [_tuple_of(first)], call)
        elif function is np.asarray:
            value = first
        else:
            value = _helper(np.copy, [first], call)
            value.func = _numpy(np.copy, call)
        return cast_call(parsed, value, dtype, call, spelled) if dtype is not None else value
    if function in _CASTS:
        return cast_call(parsed, first, _constant(_CASTS[function], call), call, spelled)
    if function in (np.stack, np.concatenate):
        axis = axis_written("axis")  # by position: the joining calls take no keywords
        call.args = [_tuple_of(first)] + ([axis] if axis is not None else [])
        call.keywords = []
        return call
    if function in (np.vstack, np.hstack, np.column_stack):
        call.args = [_tuple_of(first)]
        return call
    if function in (np.swapaxes, np.moveaxis, np.expand_dims):
        for name in positional[1:]:
            if name not in given:
                raise parsed.error(f"{spelled} without {name}", call)
            axis_written(name)
        call.args, call.keywords = [given[name] for name in positional], []
        return call
    if function is np.squeeze:
        axis = axis_written("axis", tuples=True)
        if axis is None:
            raise parsed.error(
                f"{spelled} without axis=: the number of dimensions of its result depends on "
                "the shape, which sourcead does not know before the call (write axis=)",
                call,
            )
        return _helper(squeeze_axes, [first, axis], call)
    if function is np.flip:
        axis = axis_written("axis", tuples=True)
        if axis is None:
            call.args, call.keywords = [first], []
            return call
        return _helper(flip_along, [first, axis], call)
    if function is np.rot90:
        k = given.get("k", _constant(1, call))
        if literal_int(k) is None:
            raise parsed.error(f"{spelled} with k={src(k)}: write an integer", call)
        axes = axis_written("axes", tuples=True) or _tuple_of(
            gast.Tuple(elts=[_constant(0, call), _constant(1, call)], ctx=gast.Load())
        )
        return _helper(rot90_along, [first, k, axes], call)
    if function in (np.roll, np.repeat):
        second = positional[1]
        if second not in given:
            raise parsed.error(f"{spelled} without {second}", call)
        axis = axis_written("axis")
        if function is np.roll:
            if isinstance(given[second], gast.Tuple | gast.List):
                raise parsed.error(f"{spelled} with a tuple of shifts (roll one axis)", call)
            call.args = [first, given[second]]
            call.keywords = [gast.keyword(arg="axis", value=axis)] if axis is not None else []
            return call
        if axis is None:
            call.args, call.keywords = [first, given[second]], []
            return call
        return _helper(repeat_along, [first, given[second], axis], call)
    if function is np.tile:
        if "reps" not in given:
            raise parsed.error(f"{spelled} without reps", call)
        return _helper(tile_of, [first, _tuple_of(given["reps"])], call)
    if function is np.pad:
        if "pad_width" not in given:
            raise parsed.error(f"{spelled} without pad_width", call)
        mode = given.get("mode", _constant("constant", call))
        if not (isinstance(mode, gast.Constant) and mode.value in _PAD_MODES):
            raise parsed.error(
                f"{spelled} with mode={src(mode)}: sourcead takes "
                + ", ".join(repr(m) for m in _PAD_MODES),
                call,
            )
        value = given.get("constant_values", _constant(0.0, call))
        if mode.value != "constant" and "constant_values" in given:
            raise parsed.error(f"{spelled} with constant_values= in mode {mode.value!r}", call)
        if isinstance(value, gast.Tuple | gast.List):
            raise parsed.error(f"{spelled} with constant_values other than one number", call)
        return _helper(pad_of, [first, _tuple_of(given["pad_width"]), mode, value], call)
    if function in (np.atleast_1d, np.atleast_2d, np.atleast_3d):
        ndim = int(function.__name__[-2])
        return _helper(at_least, [first, _constant(ndim, call)], call)
    # np.full, np.full_like, np.broadcast_to, np.flipud, np.fliplr: NumPy's call
    for name in positional:
        if name not in given:
            raise parsed.error(f"{spelled} without {name}", call)
    call.args = [_tuple_of(given[name]) for name in positional]
    call.keywords = []
    return call


_PAD_MODES = ("constant", "edge", "wrap", "reflect")


def _numpy(function, like) -> gast.Attribute:
    return located(resolved(function, f"np.{function.__name__}"), like)


def joined_type(target, args: list) -> Array:
    """The type of ``np.concatenate``, ``np.stack``, ``np.vstack``, ``np.hstack``,
    ``np.column_stack`` or ``array_of`` of a tuple written out."""
    if target is array_of:
        return array_of_type(args)
    what = f"np.{target.__name__}"
    items = args[0].items if args and isinstance(args[0], TupleType) else ()
    if not items or not all(isinstance(i, Array) for i in items):
        raise ArrayTypeProblem(f"{what} of something other than a tuple of arrays written out")
    ndims = {i.ndim for i in items}
    dtype = result_dtype(list(items))
    if target is np.column_stack:
        if not ndims <= {1, 2}:
            raise ArrayTypeProblem(f"{what} of arrays other than vectors and matrices")
        return Array(dtype, 2)
    if len(ndims) != 1 or 0 in ndims:
        raise ArrayTypeProblem(f"{what} of arrays of different numbers of dimensions (or of 0)")
    (ndim,) = ndims
    if target is np.stack:
        return Array(dtype, ndim + 1)
    if target is np.vstack:
        return Array(dtype, max(ndim, 2))
    return Array(dtype, ndim)
