"""Python's arithmetic operators on scalars (and element-wise on arrays), and NumPy's ufuncs
that spell them (``np.add``, ``np.multiply``, ``np.remainder`` …)."""

import math
import operator

import gast
import numpy as np

from . import shapes
from .registry import register

#: The function of each operator of the syntax tree, whose entry its derivative uses.
OPERATOR_FUNCTIONS = {
    gast.Add: operator.add,
    gast.Sub: operator.sub,
    gast.Mult: operator.mul,
    gast.Div: operator.truediv,
    gast.Pow: operator.pow,
    gast.Mod: operator.mod,
    gast.USub: operator.neg,
    gast.UAdd: operator.pos,
}


@register(operator.pow)
class Pow:
    def adjoint(b_out, x, y):
        return b_out * (y * x ** (y - 1)), b_out * (x**y * math.log(x))

    def array_adjoint(b_out, x, y):
        return b_out * y * x ** (y - 1), b_out * x**y * np.log(x)

    def tangent(dx, dy, x, y):
        return y * x ** (y - 1) * dx + x**y * math.log(x) * dy

    def array_tangent(dx, dy, x, y):
        return y * x ** (y - 1) * dx + x**y * np.log(x) * dy


@register(operator.add)
class Add:
    def adjoint(b_out, x, y):
        return b_out, b_out

    def tangent(dx, dy, x, y):
        return dx + dy


@register(operator.sub)
class Sub:
    def adjoint(b_out, x, y):
        return b_out, -b_out

    def tangent(dx, dy, x, y):
        return dx - dy


@register(operator.mul)
class Mul:
    def adjoint(b_out, x, y):
        return b_out * y, b_out * x

    def tangent(dx, dy, x, y):
        return dx * y + x * dy


@register(operator.truediv)
class Truediv:
    def adjoint(b_out, x, y):
        return b_out * (1.0 / y), b_out * (-x / (y * y))

    def tangent(dx, dy, x, y):
        return dx / y - x * dy / (y * y)


@register(operator.mod)
class Mod:
    def adjoint(b_out, x, y):
        return b_out, -b_out * (x // y)

    def tangent(dx, dy, x, y):
        return dx - (x // y) * dy


@register(operator.floordiv)
class Floordiv:
    def adjoint(b_out, x, y):
        return None, None

    def tangent(dx, dy, x, y):
        return None


@register(operator.neg)
class Neg:
    def adjoint(b_out, x):
        return -b_out

    def tangent(dx, x):
        return -dx


@register(operator.pos)
class Pos:
    def adjoint(b_out, x):
        return b_out

    def tangent(dx, x):
        return dx


# --- NumPy's ufuncs of the operators: the operators' rules, on numbers and arrays ---------------


@register(np.add, result=shapes.elementwise, device=False)
class NumpyAdd:
    def adjoint(b_out, x, y):
        return b_out, b_out

    def tangent(dx, dy, x, y):
        return dx + dy


@register(np.subtract, result=shapes.elementwise, device=False)
class NumpySubtract:
    def adjoint(b_out, x, y):
        return b_out, -b_out

    def tangent(dx, dy, x, y):
        return dx - dy


@register(np.multiply, result=shapes.elementwise, linear_in=(0, 1), device=False)
class NumpyMultiply:
    def adjoint(b_out, x, y):
        return b_out * y, b_out * x

    def tangent(dx, dy, x, y):
        return dx * y + x * dy


# (np.divide is np.true_divide)
@register(np.true_divide, result=shapes.floating_elementwise, linear_in=(0,), device=False)
class NumpyTrueDivide:
    def adjoint(b_out, x, y):
        return b_out * (1.0 / y), b_out * (-x / (y * y))

    def tangent(dx, dy, x, y):
        return dx / y - x * dy / (y * y)


@register(np.negative, result=shapes.elementwise, linear_in=(0,), device=False)
class NumpyNegative:
    def adjoint(b_out, x):
        return -b_out

    def tangent(dx, x):
        return -dx


@register(np.positive, result=shapes.elementwise, linear_in=(0,), device=False)
class NumpyPositive:
    def adjoint(b_out, x):
        return b_out

    def tangent(dx, x):
        return dx


# (np.mod is np.remainder) x % y = x - floor(x / y) y, the floor NumPy's floor_divide: the
# derivative of the pieces between the jumps (where x / y is an integer)
@register(np.remainder, result=shapes.elementwise, complex=False, device=False)
class NumpyRemainder:
    def adjoint(b_out, x, y):
        return b_out, -b_out * (x // y)

    def tangent(dx, dy, x, y):
        return dx - (x // y) * dy
