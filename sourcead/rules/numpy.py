"""NumPy on whole arrays: element-wise functions, reductions, shapes, products.

The element-wise entries (``elementwise.py``) and the operators (``operators.py``) also
serve arrays where their expressions are element-wise already (``b_out * np.cos(x)``); the
entries here are those of NumPy's array functions. Adjoint contributions have the shape of
the primitive's result: the compiler sums them back to each operand's shape where
broadcasting stretched the operand. A linear primitive's tangent is the primitive applied to
the tangent, with the call's keyword arguments passed on (``**keywords``). The helpers
(``expand_reduced``, ``matmul_adjoint_left`` …) come from ``sourcead_runtime``. The
reductions here are of whole arrays (and ``np.sum`` along one integer axis, which Numba
compiles); those along other axes, with ``keepdims=`` or ``ddof=``, are ``reductions.py``'s.
"""

import operator

import numpy as np
from sourcead_runtime import (
    cumprod_tangent,
    diag_adjoint,
    expand_reduced,
    matmul_adjoint_left,
    matmul_adjoint_right,
    prod_others,
    reverse_cumprod,
    reverse_cumsum,
)

from . import shapes
from .registry import register


@register(np.maximum, result=shapes.elementwise)
class Maximum:
    def adjoint(b_out, x, y):
        return b_out * (x >= y), b_out * (x < y)

    def tangent(dx, dy, x, y):
        return dx * (x >= y) + dy * (x < y)


@register(np.minimum, result=shapes.elementwise)
class Minimum:
    def adjoint(b_out, x, y):
        return b_out * (x <= y), b_out * (x > y)

    def tangent(dx, dy, x, y):
        return dx * (x <= y) + dy * (x > y)


@register(np.where, result=shapes.chosen)
class Where:
    def adjoint(b_out, condition, x, y):
        return None, b_out * condition, b_out - b_out * condition

    def tangent(dcondition, dx, dy, condition, x, y):
        return dx * condition + dy * (condition == 0)


@register(np.clip, result=shapes.elementwise)
class Clip:
    def adjoint(b_out, x, low, high):
        # the mask as a product of comparisons, not with &: generated adjoints stay in the subset
        return b_out * ((x >= low) * (x <= high)), b_out * (x < low), b_out * (x > high)

    def tangent(dx, dlow, dhigh, x, low, high):
        return dx * ((x >= low) * (x <= high)) + dlow * (x < low) + dhigh * (x > high)


@register(np.sum, result=shapes.summed, methods=("sum",))
class Sum:
    def adjoint(b_out, x, axis=None):
        return expand_reduced(b_out, x.shape, axis)

    def tangent(dx, x, **keywords):
        return np.sum(dx, **keywords)


@register(np.mean, result=shapes.averaged, methods=("mean",))
class Mean:
    def adjoint(b_out, x):
        # not np.full: a Python function of NumPy's, which forward over reverse cannot read
        return np.ones(x.shape) * (b_out / x.size)

    def tangent(dx, x, **keywords):
        return np.mean(dx, **keywords)


@register(np.prod, result=shapes.reduced, methods=("prod",))
class Prod:
    def adjoint(b_out, x):
        # the product of the other elements, not np.prod(x) / x: exact where elements are zero
        return b_out * prod_others(x)

    def tangent(dx, x):
        return np.sum(dx * prod_others(x))  # exact where elements are zero


@register(np.max, np.amax, result=shapes.reduced, methods=("max",))
class Max:
    def adjoint(b_out, x):
        # ties share the adjoint equally
        hits = x == np.max(x)
        return b_out * hits / np.sum(hits)

    def tangent(dx, x):
        return np.sum(dx * (x == np.max(x))) / np.sum(x == np.max(x))


@register(np.min, np.amin, result=shapes.reduced, methods=("min",))
class Min:
    def adjoint(b_out, x):
        hits = x == np.min(x)
        return b_out * hits / np.sum(hits)

    def tangent(dx, x):
        return np.sum(dx * (x == np.min(x))) / np.sum(x == np.min(x))


@register(np.cumsum, result=shapes.flattened, methods=("cumsum",))
class Cumsum:
    def adjoint(b_out, x):
        return reverse_cumsum(b_out, x.shape)

    def tangent(dx, x, **keywords):
        return np.cumsum(dx, **keywords)


@register(np.cumprod, result=shapes.flattened, methods=("cumprod",))
class Cumprod:
    def adjoint(b_out, x):
        # recurrences of exclusive products and suffix sums, not division by x: exact where
        # elements are zero (sourcead_runtime.reverse_cumprod)
        return reverse_cumprod(b_out, x)

    def tangent(dx, x):
        return cumprod_tangent(x, dx)


@register(np.linalg.norm, result=shapes.two_norm)
class Norm:
    # conj(x) / norm, 0 at the zero array (as np.abs's derivative at 0); other ords and axes:
    # rules/summaries.py
    def adjoint(b_out, x):
        return b_out * np.conj(x) / (np.linalg.norm(x) + (np.linalg.norm(x) == 0.0))

    def tangent(dx, x):
        return np.real(np.sum(np.conj(x) * dx)) / (np.linalg.norm(x) + (np.linalg.norm(x) == 0.0))


@register(np.trace, result=shapes.matrix_trace, methods=("trace",))
class Trace:
    def adjoint(b_out, x):
        return b_out * np.eye(x.shape[0], x.shape[1])

    def tangent(dx, x):
        return np.trace(dx)


@register(operator.matmul)
class MatmulOperator:
    def adjoint(b_out, x, y):
        return matmul_adjoint_left(b_out, x, y), matmul_adjoint_right(b_out, x, y)

    def tangent(dx, dy, x, y):
        return dx @ y + x @ dy


@register(np.matmul, result=shapes.matmul, linear_in=(0, 1))
class Matmul:
    def adjoint(b_out, x, y):
        return matmul_adjoint_left(b_out, x, y), matmul_adjoint_right(b_out, x, y)

    def tangent(dx, dy, x, y):
        return np.matmul(dx, y) + np.matmul(x, dy)


@register(np.dot, result=shapes.matmul, linear_in=(0, 1), methods=("dot",))
class Dot:
    def array_adjoint(b_out, x, y):
        return matmul_adjoint_left(b_out, x, y), matmul_adjoint_right(b_out, x, y)

    def array_tangent(dx, dy, x, y):
        return np.dot(dx, y) + np.dot(x, dy)


@register(np.outer, result=shapes.outer, linear_in=(0, 1))
class Outer:
    # np.outer flattens its operands (matrices too): the adjoints take their shapes back
    def adjoint(b_out, x, y):
        return (b_out @ np.ravel(y)).reshape(np.shape(x)), (np.ravel(x) @ b_out).reshape(
            np.shape(y)
        )

    def tangent(dx, dy, x, y):
        return np.outer(dx, y) + np.outer(x, dy)


@register(np.transpose, result=shapes.like_first, methods=("transpose",), attributes=("T",))
class Transpose:
    def adjoint(b_out, x):
        return np.transpose(b_out)

    def tangent(dx, x):
        return np.transpose(dx)


@register(np.ascontiguousarray, result=shapes.like_first)
class Ascontiguousarray:
    def adjoint(b_out, x):
        return b_out

    def tangent(dx, x):
        return np.ascontiguousarray(dx)


@register(np.tril, result=shapes.like_first)
class Tril:
    def adjoint(b_out, x, k=0):
        return np.tril(b_out, k)

    def tangent(dx, x, k=0):
        return np.tril(dx, k)


@register(np.triu, result=shapes.like_first)
class Triu:
    def adjoint(b_out, x, k=0):
        return np.triu(b_out, k)

    def tangent(dx, x, k=0):
        return np.triu(dx, k)


@register(np.reshape, result=shapes.reshaped, methods=("reshape",))
class Reshape:
    def adjoint(b_out, x, shape):
        return np.ascontiguousarray(b_out).reshape(x.shape), None

    def tangent(dx, dshape, x, shape):
        return np.ascontiguousarray(dx).reshape(shape)


@register(np.ravel, result=shapes.raveled, methods=("ravel", "flatten"))
class Ravel:
    def adjoint(b_out, x):
        return np.ascontiguousarray(b_out).reshape(x.shape)

    def tangent(dx, x):
        return np.ascontiguousarray(dx).ravel()


@register(np.diag, result=shapes.diagonal, device=False)
class Diag:
    def adjoint(b_out, x, k=0):
        # a vector's adjoint is a diagonal of the matrix's and the other way round
        return diag_adjoint(b_out, x, k)

    def tangent(dx, x, k=0):
        return np.diag(dx, k)


@register(np.linspace, result=shapes.spaced)
class Linspace:
    def adjoint(b_out, start, stop, num):
        t = np.linspace(0.0, 1.0, num)
        return np.sum(b_out * (1.0 - t)), np.sum(b_out * t), None

    def tangent(dstart, dstop, dnum, start, stop, num):
        return dstart * (1.0 - np.linspace(0.0, 1.0, num)) + dstop * np.linspace(0.0, 1.0, num)


@register(np.real, result=shapes.real_part, attributes=("real",))
class Real:
    def adjoint(b_out, z):
        return b_out + 0j

    def tangent(dz, z):
        return np.real(dz)


@register(np.imag, result=shapes.real_part, attributes=("imag",))
class Imag:
    def adjoint(b_out, z):
        return -1j * b_out

    def tangent(dz, z):
        return np.imag(dz)


@register(np.angle, result=shapes.real_part, device=False)
class Angle:
    def adjoint(b_out, z):
        # arg z = atan2(y, x): dL/dx - i dL/dy = b (-y - i x) / |z|^2 = -i b conj(z) / |z|^2
        # (0 at z = 0, where the phase jumps)
        return -1j * b_out * np.conj(z) / (np.abs(z) ** 2 + (z == 0))

    def tangent(dz, z):
        return np.imag(np.conj(z) * dz) / (np.abs(z) ** 2 + (z == 0))


@register(np.conj, result=shapes.elementwise, methods=("conj", "conjugate"))
class Conj:
    def adjoint(b_out, z):
        return np.conj(b_out)

    def tangent(dz, z):
        return np.conj(dz)
