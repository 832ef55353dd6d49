"""Tangents of Python's arithmetic operators on scalars (and element-wise on arrays)."""

import math
import operator

from .tangents import tangent


@tangent(operator.add)
def add(dx, dy, x, y):
    return dx + dy


@tangent(operator.sub)
def sub(dx, dy, x, y):
    return dx - dy


@tangent(operator.mul)
def mul(dx, dy, x, y):
    return dx * y + x * dy


@tangent(operator.truediv)
def truediv(dx, dy, x, y):
    return dx / y - x * dy / (y * y)


@tangent(operator.pow)
def pow_(dx, dy, x, y):
    return y * x ** (y - 1) * dx + x**y * math.log(x) * dy


@tangent(operator.mod)
def mod(dx, dy, x, y):
    return dx - (x // y) * dy


@tangent(operator.floordiv)
def floordiv(dx, dy, x, y):
    return None


@tangent(operator.neg)
def neg(dx, x):
    return -dx


@tangent(operator.pos)
def pos(dx, x):
    return dx
