"""The helpers that generated adjoints of whole arrays call (``sourcead_runtime``).

Forward mode meets them when it runs over an adjoint (``hvp``, ``hessian``). Each helper
is linear in the adjoint it takes, so its tangent is the helper applied to the tangent;
the adjoints of a matrix product are linear in the adjoint and in the other operand. Those
of ``np.prod`` and ``np.cumprod`` (``prod_others``, ``reverse_cumprod``) depend on the
array too, and their tangents call helpers of their own (``prod_others_tangent``,
``reverse_cumprod_tangent``), which forward mode knows here as well, as it knows
``cumprod_tangent``, the tangent of ``np.cumprod`` itself.
Array tapes reach forward mode as ``popped`` (``pipeline.forward_over_reverse`` rewrites ``pop_array``): the
tangent of a popped array is the same view of the tangent tape (its shape read from the
primal tape: the tangent tape's shape entries are zeros).
"""

from sourcead_runtime import (
    cumprod_tangent,
    expand_reduced,
    matmul_adjoint_left,
    matmul_adjoint_right,
    popped,
    prod_others,
    prod_others_tangent,
    reverse_cumprod,
    reverse_cumprod_tangent,
    reverse_cumsum,
    unbroadcast,
)

from . import shapes
from .registry import register


@register(
    expand_reduced,
    result=shapes.shaped_by_second,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ExpandReduced:
    def tangent(dg, dshape, daxis, g, shape, axis):
        return expand_reduced(dg, shape, axis)


@register(unbroadcast, result=shapes.shaped_by_second, linear_in=(0,), forward_only=True)
class Unbroadcast:
    def tangent(dg, dshape, g, shape):
        return unbroadcast(dg, shape)


@register(
    reverse_cumsum,
    result=shapes.shaped_by_second,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ReverseCumsum:
    def tangent(dg, dshape, g, shape):
        return reverse_cumsum(dg, shape)


@register(prod_others, result=shapes.like_first_array, forward_only=True, new_array=True)
class ProdOthers:
    def tangent(dx, x):
        return prod_others_tangent(x, dx)


@register(
    reverse_cumprod,
    result=shapes.like_second_of_all,
    linear_in=(0,),
    forward_only=True,
    new_array=True,
)
class ReverseCumprod:
    def tangent(db, dx, b, x):
        return reverse_cumprod(db, x) + reverse_cumprod_tangent(b, x, dx)


@register(
    matmul_adjoint_left,
    result=shapes.left_operand,
    linear_in=(0, 2),
    forward_only=True,
    new_array=True,
)
class MatmulAdjointLeft:
    def tangent(dg, da, db, g, a, b):
        return matmul_adjoint_left(dg, a, b) + matmul_adjoint_left(g, a, db)


@register(
    matmul_adjoint_right,
    result=shapes.right_operand,
    linear_in=(0, 1),
    forward_only=True,
    new_array=True,
)
class MatmulAdjointRight:
    def tangent(dg, da, db, g, a, b):
        return matmul_adjoint_right(dg, a, b) + matmul_adjoint_right(g, da, b)


@register(popped, result=shapes.like_third, linear_in=(0,), forward_only=True)
class Popped:
    def tangent(dtape, dtop, dlike, dshapes, tape, top, like, shapes):
        return popped(dtape, top, like, shapes)


# The tangent of prod_others, in the generated tangents: linear in the tangent (third
# derivatives are not offered, so it has no rules of its own).
@register(prod_others_tangent, result=shapes.like_first_of_both, linear_in=(1,), forward_only=True)
class ProdOthersTangent:
    pass


# The tangents of np.cumprod and of reverse_cumprod along x, in the generated tangents: linear
# in the tangent (and reverse_cumprod_tangent in the adjoint too); no rules of their own.
@register(
    cumprod_tangent,
    result=shapes.flattened_of_all,
    linear_in=(1,),
    forward_only=True,
    new_array=True,
)
class CumprodTangent:
    pass


@register(
    reverse_cumprod_tangent,
    result=shapes.like_second_of_all,
    linear_in=(0, 2),
    forward_only=True,
    new_array=True,
)
class ReverseCumprodTangent:
    pass
