"""Tangents of the helpers that generated adjoints of whole arrays call.

Forward mode meets them when it runs over an adjoint (``hvp``, ``hessian``). Each helper
is linear in the adjoint it takes, so its tangent is the helper applied to the tangent;
the adjoints of a matrix product are linear in the adjoint and in the other operand.
Array tapes reach forward mode as ``popped`` (``higher.py`` rewrites ``pop_array``): the
tangent of a popped array is the same view of the tangent tape (its shape read from the
primal tape: the tangent tape's shape entries are zeros).
"""

from sourcead_runtime import (
    expand_reduced,
    matmul_adjoint_left,
    matmul_adjoint_right,
    popped,
    prod_others,
    prod_others_tangent,
    reverse_cumsum,
    unbroadcast,
)

from .tangents import tangent


@tangent(expand_reduced)
def expand_reduced_(dg, dshape, daxis, g, shape, axis):
    return expand_reduced(dg, shape, axis)


@tangent(unbroadcast)
def unbroadcast_(dg, dshape, g, shape):
    return unbroadcast(dg, shape)


@tangent(reverse_cumsum)
def reverse_cumsum_(dg, dshape, g, shape):
    return reverse_cumsum(dg, shape)


@tangent(prod_others)
def prod_others_(dx, x):
    return prod_others_tangent(x, dx)


@tangent(matmul_adjoint_left)
def matmul_adjoint_left_(dg, da, db, g, a, b):
    return matmul_adjoint_left(dg, a, b) + matmul_adjoint_left(g, a, db)


@tangent(matmul_adjoint_right)
def matmul_adjoint_right_(dg, da, db, g, a, b):
    return matmul_adjoint_right(dg, a, b) + matmul_adjoint_right(g, da, b)


@tangent(popped)
def popped_(dtape, dtop, dlike, dshapes, tape, top, like, shapes):
    return popped(dtape, top, like, shapes)
