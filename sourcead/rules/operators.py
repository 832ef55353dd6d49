"""Adjoints of Python's arithmetic operators on scalars (and element-wise on arrays)."""

import math
import operator

import gast

from .registry import adjoint

#: The function of each operator of the syntax tree, whose rule its adjoint uses.
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


@adjoint(operator.add)
def add(b_out, x, y):
    return b_out, b_out


@adjoint(operator.sub)
def sub(b_out, x, y):
    return b_out, -b_out


@adjoint(operator.mul)
def mul(b_out, x, y):
    return b_out * y, b_out * x


@adjoint(operator.truediv)
def truediv(b_out, x, y):
    return b_out * (1.0 / y), b_out * (-x / (y * y))


@adjoint(operator.pow)
def pow_(b_out, x, y):
    return b_out * (y * x ** (y - 1)), b_out * (x**y * math.log(x))


@adjoint(operator.mod)
def mod(b_out, x, y):
    return b_out, -b_out * (x // y)


@adjoint(operator.floordiv)
def floordiv(b_out, x, y):
    return None, None


@adjoint(operator.neg)
def neg(b_out, x):
    return -b_out


@adjoint(operator.pos)
def pos(b_out, x):
    return b_out
