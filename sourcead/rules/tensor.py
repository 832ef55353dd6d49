"""Tensor algebra: einsum, tensordot and inner, vdot, kron, cross, matrix powers, transposes
with axes.

Numba compiles none of ``np.einsum``, ``np.tensordot``, ``np.inner``, nor ``np.vdot`` of
matrices, so the array-syntax rewrite (``lowering/einsum.py``) writes their calls as calls
of the helpers of ``sourcead_runtime.tensor``, and those helpers are the primitives here:
``np.einsum("ij,jk->ik", a, b)`` is ``einsum_two(a, b, (0, 1), (1, 2), (0, 2))``, its
subscripts as tuples of integer labels (-1 for ``...``), written in the call so that the
result's number of dimensions is known before anything runs. ``np.kron`` and ``np.cross`` keep
their NumPy calls, which Numba compiles; ``np.linalg.matrix_power(a, n)`` is
``matrix_power_of(a, n)`` (Numba types its own result as optional).

Every one of them is linear in each operand, so its tangent is a sum of the primitive with
one operand replaced by its tangent, and the adjoint with respect to an operand is linear in
the result's adjoint and in the other operand: a contraction (``einsum_two_adjoint_x`` …,
which forward mode differentiates again for ``hvp`` by the rules of the entries at the end).
Complex operands follow JAX's convention (docs/arrays.md): the adjoints of these bilinear
maps use transposes, not conjugate transposes; ``np.vdot`` conjugates its first operand, so
that operand's adjoint is conjugated. ``np.linalg.matrix_power(a, n)`` (``n >= 0``; a
negative power is the power of ``np.linalg.inv(a)``) has the adjoint
``sum_k (a.T)**k g (a.T)**(n-1-k)``, computed as a block of a power of a matrix twice as
large (``sourcead_runtime.tensor``).
"""

from __future__ import annotations

import gast
import numpy as np
from sourcead_runtime import (
    cross_product,
    einsum_one,
    einsum_one_adjoint,
    einsum_two,
    einsum_two_adjoint_x,
    einsum_two_adjoint_y,
    kron_adjoint_x,
    kron_adjoint_y,
    matrix_power_adjoint,
    matrix_power_adjoint_tangent,
    matrix_power_of,
    matrix_power_tangent,
    tensordot_adjoint_x,
    tensordot_adjoint_y,
    tensordot_axes,
    transpose_axes,
    vdot_flat,
)
from sourcead_runtime.tensor import einsum_labels, tensordot_labels

from ..analysis.types import Array, Scalar
from .registry import register
from .shapes import ArrayTypeProblem, literal_int, on_arrays, result_dtype, scalar_of

# --- result types ---------------------------------------------------------------------------------


def _labels(node: gast.expr, what: str) -> tuple[int, ...]:
    """The integers of a tuple written in the call (the labels or axes the rewrite wrote)."""
    elements = node.elts if isinstance(node, gast.Tuple) else None
    values = [literal_int(e) for e in elements] if elements is not None else [None]
    if None in values:
        raise ArrayTypeProblem(f"{what} with labels or axes that are not written in the call")
    return tuple(values)


def _floating(arrays: list, what: str) -> str:
    if not all(isinstance(a, Array) for a in arrays):
        raise ArrayTypeProblem(f"{what} of a number (it takes arrays)")
    dtype = result_dtype(arrays)
    if np.dtype(dtype).kind not in "fc":
        raise ArrayTypeProblem(f"{what} of integer or boolean arrays (convert them to floats)")
    return dtype


def _array_or_number(dtype: str, ndim: int) -> Array | Scalar:
    return Array(dtype, ndim) if ndim else scalar_of(dtype)


def _contraction(operands: int, what: str):
    """The result rule of an einsum of ``operands`` operands followed by their labels and
    the result's: ``einsum_one(x, x_labels, out_labels)``, ``einsum_two(x, y, …)``."""

    @on_arrays
    def contracted(args: list, node: gast.Call) -> Array | Scalar:
        dtype = _floating(args[:operands], what)
        labels = [_labels(n, what) for n in node.args[operands:]]
        ndims = tuple(a.ndim for a in args[:operands])
        try:
            _, out = einsum_labels(tuple(labels[:-1]), ndims, labels[-1])
        except ValueError as error:
            raise ArrayTypeProblem(f"{what}: {error}") from None
        return _array_or_number(dtype, len(out))

    contracted.__name__ = f"einsum_of_{operands}"
    return contracted


@on_arrays
def tensordotted(args: list, node: gast.Call) -> Array | Scalar:
    """``tensordot_axes(x, y, x_axes, y_axes)``: the axes of both not contracted."""
    what = "np.tensordot"
    dtype = _floating(args[:2], what)
    x_axes, y_axes = (_labels(n, what) for n in node.args[2:4])
    try:
        _, _, out = tensordot_labels(x_axes, y_axes, args[0].ndim, args[1].ndim)
    except ValueError as error:
        raise ArrayTypeProblem(f"{what}: {error}") from None
    return _array_or_number(dtype, len(out))


def _adjoint_of(operand: int, others: tuple[int, ...]):
    """The result rule of a helper giving the adjoint of an operand: shaped like the
    argument at ``operand``, in the dtype of the arguments at ``others``."""

    def adjoint(args: list, node: gast.Call) -> Array:
        return Array(result_dtype([args[k] for k in others]), args[operand].ndim)

    adjoint.__name__ = f"like_argument_{operand}"
    return adjoint


@on_arrays
def transposed(args: list, node: gast.Call) -> Array:
    """``transpose_axes(x, axes, inverse)``: ``x``'s type, with as many axes as it has."""
    x, axes = args[0], _labels(node.args[1], "np.transpose")
    if not isinstance(x, Array) or len(axes) != x.ndim:
        ndim = x.ndim if isinstance(x, Array) else 0
        raise ArrayTypeProblem(f"np.transpose with {len(axes)} axes of a {ndim}-d array")
    return x


@on_arrays
def vdotted(args: list, node: gast.Call) -> Scalar:
    """``np.vdot(a, b)``: a number."""
    return scalar_of(_floating(args[:2], "np.vdot"))


@on_arrays
def kronecker(args: list, node: gast.Call) -> Array:
    """``np.kron(a, b)`` of two vectors or two matrices."""
    dtype = _floating(args[:2], "np.kron")
    if args[0].ndim != args[1].ndim or args[0].ndim not in (1, 2):
        raise ArrayTypeProblem(
            f"np.kron of a {args[0].ndim}-d and a {args[1].ndim}-d array "
            "(sourcead takes two vectors or two matrices)"
        )
    return Array(dtype, args[0].ndim)


@on_arrays
def crossed(args: list, node: gast.Call) -> Array:
    """``np.cross(a, b)`` of 3-vectors along the last axis: the arrays broadcast."""
    dtype = _floating(args[:2], "np.cross")
    return Array(dtype, max(args[0].ndim, args[1].ndim))


@on_arrays
def matrix_powered(args: list, node: gast.Call) -> Array:
    """``matrix_power_of(a, n)``: a matrix of ``a``'s type."""
    dtype = _floating(args[:1], "np.linalg.matrix_power")
    if args[0].ndim != 2:
        raise ArrayTypeProblem("np.linalg.matrix_power of an array that is not a matrix")
    return Array(dtype, 2)


# --- einsum ---------------------------------------------------------------------------------------


@register(einsum_one, result=_contraction(1, "np.einsum"), linear_in=(0,), device=False)
class EinsumOne:
    def adjoint(b_out, x, x_labels=None, out_labels=None):
        return einsum_one_adjoint(b_out, x, x_labels, out_labels)

    def tangent(dx, x, x_labels=None, out_labels=None):
        return einsum_one(dx, x_labels, out_labels)


@register(einsum_two, result=_contraction(2, "np.einsum"), linear_in=(0, 1), device=False)
class EinsumTwo:
    def adjoint(b_out, x, y, x_labels=None, y_labels=None, out_labels=None):
        return (
            einsum_two_adjoint_x(b_out, x, y, x_labels, y_labels, out_labels),
            einsum_two_adjoint_y(b_out, x, y, x_labels, y_labels, out_labels),
        )

    def tangent(dx, dy, x, y, x_labels=None, y_labels=None, out_labels=None):
        return einsum_two(dx, y, x_labels, y_labels, out_labels) + einsum_two(
            x, dy, x_labels, y_labels, out_labels
        )


# --- tensordot and inner, vdot, kron, cross -------------------------------------------------------


@register(tensordot_axes, result=tensordotted, linear_in=(0, 1), device=False)
class TensordotAxes:
    def adjoint(b_out, x, y, x_axes=None, y_axes=None):
        return (
            tensordot_adjoint_x(b_out, x, y, x_axes, y_axes),
            tensordot_adjoint_y(b_out, x, y, x_axes, y_axes),
        )

    def tangent(dx, dy, x, y, x_axes=None, y_axes=None):
        return tensordot_axes(dx, y, x_axes, y_axes) + tensordot_axes(x, dy, x_axes, y_axes)


@register(vdot_flat, result=vdotted, linear_in=(0, 1), device=False)
class Vdot:
    def adjoint(b_out, a, b):
        # vdot(a, b) = sum(conj(a) * b): the adjoint of a is conjugated (JAX's convention)
        return np.conj(b_out * b).reshape(a.shape), (b_out * np.conj(a)).reshape(b.shape)

    def tangent(da, db, a, b):
        return vdot_flat(da, b) + vdot_flat(a, db)


@register(np.kron, result=kronecker, linear_in=(0, 1), device=False)
class Kron:
    def adjoint(b_out, a, b):
        return kron_adjoint_x(b_out, a, b), kron_adjoint_y(b_out, a, b)

    def tangent(da, db, a, b):
        return np.kron(da, b) + np.kron(a, db)


@register(cross_product, result=crossed, linear_in=(0, 1), device=False)
class Cross:
    def adjoint(b_out, a, b):
        # <g, a x b> = <a, b x g> = <b, g x a>
        return cross_product(b, b_out), cross_product(b_out, a)

    def tangent(da, db, a, b):
        return cross_product(da, b) + cross_product(a, db)


# --- matrix powers, transposes with axes ----------------------------------------------------------


@register(matrix_power_of, result=matrix_powered, device=False)
class MatrixPower:
    def adjoint(b_out, a, n):
        return matrix_power_adjoint(b_out, a, n), None

    def tangent(da, dn, a, n):
        return matrix_power_tangent(a, da, n)


@register(transpose_axes, result=transposed, linear_in=(0,), device=False)
class TransposeAxes:
    def adjoint(b_out, x, axes=None, inverse=None):
        return transpose_axes(b_out, inverse, axes)

    def tangent(dx, x, axes=None, inverse=None):
        return transpose_axes(dx, axes, inverse)


# --- helpers of the adjoints above (forward mode meets them in hvp and hessian) -------------------
# Each adjoint is linear in the result's adjoint and in the other operand.


@register(
    einsum_one_adjoint,
    result=_adjoint_of(1, (0, 1)),
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class EinsumOneAdjoint:
    def tangent(dg, dx, g, x, x_labels=None, out_labels=None):
        return einsum_one_adjoint(dg, x, x_labels, out_labels)


@register(
    einsum_two_adjoint_x,
    result=_adjoint_of(1, (0, 2)),
    linear_in=(0, 2),
    forward_only=True,
    new_array=True,
)
class EinsumTwoAdjointX:
    def tangent(dg, dx, dy, g, x, y, x_labels=None, y_labels=None, out_labels=None):
        return einsum_two_adjoint_x(
            dg, x, y, x_labels, y_labels, out_labels
        ) + einsum_two_adjoint_x(g, x, dy, x_labels, y_labels, out_labels)


@register(
    einsum_two_adjoint_y,
    result=_adjoint_of(2, (0, 1)),
    linear_in=(0, 1),
    forward_only=True,
    new_array=True,
)
class EinsumTwoAdjointY:
    def tangent(dg, dx, dy, g, x, y, x_labels=None, y_labels=None, out_labels=None):
        return einsum_two_adjoint_y(
            dg, x, y, x_labels, y_labels, out_labels
        ) + einsum_two_adjoint_y(g, dx, y, x_labels, y_labels, out_labels)


@register(
    tensordot_adjoint_x,
    result=_adjoint_of(1, (0, 2)),
    linear_in=(0, 2),
    forward_only=True,
    new_array=True,
)
class TensordotAdjointX:
    def tangent(dg, dx, dy, g, x, y, x_axes=None, y_axes=None):
        return tensordot_adjoint_x(dg, x, y, x_axes, y_axes) + tensordot_adjoint_x(
            g, x, dy, x_axes, y_axes
        )


@register(
    tensordot_adjoint_y,
    result=_adjoint_of(2, (0, 1)),
    linear_in=(0, 1),
    forward_only=True,
    new_array=True,
)
class TensordotAdjointY:
    def tangent(dg, dx, dy, g, x, y, x_axes=None, y_axes=None):
        return tensordot_adjoint_y(dg, x, y, x_axes, y_axes) + tensordot_adjoint_y(
            g, dx, y, x_axes, y_axes
        )


@register(
    kron_adjoint_x,
    result=_adjoint_of(1, (0, 2)),
    linear_in=(0, 2),
    forward_only=True,
    new_array=True,
)
class KronAdjointX:
    def tangent(dg, dx, dy, g, x, y):
        return kron_adjoint_x(dg, x, y) + kron_adjoint_x(g, x, dy)


@register(
    kron_adjoint_y,
    result=_adjoint_of(2, (0, 1)),
    linear_in=(0, 1),
    forward_only=True,
    new_array=True,
)
class KronAdjointY:
    def tangent(dg, dx, dy, g, x, y):
        return kron_adjoint_y(dg, x, y) + kron_adjoint_y(g, dx, y)


@register(
    matrix_power_adjoint,
    result=_adjoint_of(1, (0, 1)),
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class MatrixPowerAdjoint:
    def tangent(dg, da, dn, g, a, n):
        return matrix_power_adjoint(dg, a, n) + matrix_power_adjoint_tangent(g, a, da, n)


# The tangents of matrix_power and of its adjoint, in generated tangents only: linear in the
# tangent they take (third derivatives are not offered, so they have no rules of their own).
@register(
    matrix_power_tangent,
    result=_adjoint_of(0, (0, 1)),
    linear_in=(1,),
    forward_only=True,
    new_array=True,
)
class MatrixPowerTangent:
    pass


@register(
    matrix_power_adjoint_tangent,
    result=_adjoint_of(1, (0, 1, 2)),
    linear_in=(2,),
    forward_only=True,
    new_array=True,
)
class MatrixPowerAdjointTangent:
    pass
