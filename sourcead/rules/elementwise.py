"""Element-wise functions: Python's builtins, ``math`` and their NumPy namesakes.

One entry serves ``math.f`` and ``np.f``: its rules are written with NumPy, which Numba
compiles for scalars as for arrays (a ``math`` function of an array is refused: it is not
one). An ``array_adjoint`` or ``array_tangent`` is the rule where an argument is a whole
array (``abs``: ``np.sign(x)`` in place of a conditional expression).
"""

import math

import numpy as np

from . import shapes
from .registry import register


@register(abs, np.abs, result=shapes.real_part)
class Abs:
    def adjoint(b_out, x):
        return b_out if x >= 0 else -b_out

    def array_adjoint(b_out, x):
        # conj(x) / |x|: the sign for real x (0 at 0), the complex rule below for complex x
        return b_out * np.conj(x) / (np.abs(x) + (x == 0))

    def tangent(dx, x):
        return dx if x >= 0 else -dx

    def array_tangent(dx, x):
        # Re(conj(x) dx) / |x|: the sign times dx for real x (0 at 0), real for complex x
        return np.real(np.conj(x) * dx) / (np.abs(x) + (x == 0))


@register(min)
class BuiltinMin:
    def adjoint(b_out, x, y):
        return (b_out if x <= y else 0.0), (0.0 if x <= y else b_out)

    def tangent(dx, dy, x, y):
        return dx if x <= y else dy


@register(max)
class BuiltinMax:
    def adjoint(b_out, x, y):
        return (b_out if x >= y else 0.0), (0.0 if x >= y else b_out)

    def tangent(dx, dy, x, y):
        return dx if x >= y else dy


@register(float)
class BuiltinFloat:
    def adjoint(b_out, x):
        return b_out

    def tangent(dx, x):
        return dx


@register(math.sin, np.sin, result=shapes.floating_elementwise)
class Sin:
    def adjoint(b_out, x):
        return b_out * np.cos(x)

    def tangent(dx, x):
        return np.cos(x) * dx


@register(math.cos, np.cos, result=shapes.floating_elementwise)
class Cos:
    def adjoint(b_out, x):
        return b_out * -np.sin(x)

    def tangent(dx, x):
        return -np.sin(x) * dx


@register(math.tan, np.tan, result=shapes.floating_elementwise)
class Tan:
    def adjoint(b_out, x):
        return b_out * (1.0 / np.cos(x) ** 2)

    def tangent(dx, x):
        return dx / np.cos(x) ** 2


@register(math.asin, np.arcsin, result=shapes.floating_elementwise)
class Arcsin:
    def adjoint(b_out, x):
        return b_out * (1.0 / np.sqrt(1.0 - x * x))

    def tangent(dx, x):
        return dx / np.sqrt(1.0 - x * x)


@register(math.acos, np.arccos, result=shapes.floating_elementwise)
class Arccos:
    def adjoint(b_out, x):
        return b_out * (-1.0 / np.sqrt(1.0 - x * x))

    def tangent(dx, x):
        return -dx / np.sqrt(1.0 - x * x)


@register(math.atan, np.arctan, result=shapes.floating_elementwise)
class Arctan:
    def adjoint(b_out, x):
        return b_out * (1.0 / (1.0 + x * x))

    def tangent(dx, x):
        return dx / (1.0 + x * x)


@register(math.atan2, np.arctan2, result=shapes.floating_elementwise)
class Arctan2:
    def adjoint(b_out, y, x):
        return b_out * (x / (x * x + y * y)), b_out * (-y / (x * x + y * y))

    def tangent(dy, dx, y, x):
        return (x * dy - y * dx) / (x * x + y * y)


@register(math.sinh, np.sinh, result=shapes.floating_elementwise)
class Sinh:
    def adjoint(b_out, x):
        return b_out * np.cosh(x)

    def tangent(dx, x):
        return np.cosh(x) * dx


@register(math.cosh, np.cosh, result=shapes.floating_elementwise)
class Cosh:
    def adjoint(b_out, x):
        return b_out * np.sinh(x)

    def tangent(dx, x):
        return np.sinh(x) * dx


@register(math.tanh, np.tanh, result=shapes.floating_elementwise)
class Tanh:
    def adjoint(b_out, x):
        return b_out * (1.0 - np.tanh(x) ** 2)

    def tangent(dx, x):
        return (1.0 - np.tanh(x) ** 2) * dx


@register(math.asinh, np.arcsinh, result=shapes.floating_elementwise)
class Arcsinh:
    def adjoint(b_out, x):
        return b_out * (1.0 / np.sqrt(x * x + 1.0))

    def tangent(dx, x):
        return dx / np.sqrt(x * x + 1.0)


@register(math.acosh, np.arccosh, result=shapes.floating_elementwise)
class Arccosh:
    def adjoint(b_out, x):
        return b_out * (1.0 / np.sqrt(x * x - 1.0))

    def tangent(dx, x):
        return dx / np.sqrt(x * x - 1.0)


@register(math.atanh, np.arctanh, result=shapes.floating_elementwise)
class Arctanh:
    def adjoint(b_out, x):
        return b_out * (1.0 / (1.0 - x * x))

    def tangent(dx, x):
        return dx / (1.0 - x * x)


@register(math.exp, np.exp, result=shapes.floating_elementwise)
class Exp:
    def adjoint(b_out, x):
        return b_out * np.exp(x)

    def tangent(dx, x):
        return np.exp(x) * dx


@register(np.exp2, result=shapes.floating_elementwise)
class Exp2:
    def adjoint(b_out, x):
        return b_out * (np.exp2(x) * np.log(2.0))

    def tangent(dx, x):
        return np.exp2(x) * np.log(2.0) * dx


@register(math.expm1, np.expm1, result=shapes.floating_elementwise)
class Expm1:
    def adjoint(b_out, x):
        return b_out * np.exp(x)

    def tangent(dx, x):
        return np.exp(x) * dx


@register(math.log, np.log, result=shapes.floating_elementwise)
class Log:
    def adjoint(b_out, x):
        return b_out * (1.0 / x)

    def tangent(dx, x):
        return dx / x


@register(np.logaddexp, result=shapes.floating_elementwise)
class Logaddexp:
    # the weights exp(x - logaddexp(x, y)) and exp(y - logaddexp(x, y)) (a softmax of two):
    # at most 1, finite however far apart x and y are (not exp(x) / (exp(x) + exp(y)))
    def adjoint(b_out, x, y):
        return (
            b_out * np.exp(x - np.logaddexp(x, y)),
            b_out * np.exp(y - np.logaddexp(x, y)),
        )

    def tangent(dx, dy, x, y):
        return np.exp(x - np.logaddexp(x, y)) * dx + np.exp(y - np.logaddexp(x, y)) * dy


@register(math.log1p, np.log1p, result=shapes.floating_elementwise)
class Log1p:
    def adjoint(b_out, x):
        return b_out * (1.0 / (1.0 + x))

    def tangent(dx, x):
        return dx / (1.0 + x)


@register(math.log2, np.log2, result=shapes.floating_elementwise)
class Log2:
    def adjoint(b_out, x):
        return b_out * (1.0 / (x * np.log(2.0)))

    def tangent(dx, x):
        return dx / (x * np.log(2.0))


@register(math.log10, np.log10, result=shapes.floating_elementwise)
class Log10:
    def adjoint(b_out, x):
        return b_out * (1.0 / (x * np.log(10.0)))

    def tangent(dx, x):
        return dx / (x * np.log(10.0))


@register(math.sqrt, np.sqrt, result=shapes.floating_elementwise)
class Sqrt:
    def adjoint(b_out, x):
        return b_out * (0.5 / np.sqrt(x))

    def tangent(dx, x):
        return 0.5 / np.sqrt(x) * dx


@register(math.hypot, np.hypot, result=shapes.floating_elementwise)
class Hypot:
    def adjoint(b_out, x, y):
        return b_out * (x / np.hypot(x, y)), b_out * (y / np.hypot(x, y))

    def tangent(dx, dy, x, y):
        return (x * dx + y * dy) / np.hypot(x, y)


@register(math.erf)
class Erf:
    def adjoint(b_out, x):
        return b_out * (2.0 / math.sqrt(math.pi) * math.exp(-x * x))

    def tangent(dx, x):
        return 2.0 / math.sqrt(math.pi) * math.exp(-x * x) * dx


@register(math.erfc)
class Erfc:
    def adjoint(b_out, x):
        return b_out * (-2.0 / math.sqrt(math.pi) * math.exp(-x * x))

    def tangent(dx, x):
        return -2.0 / math.sqrt(math.pi) * math.exp(-x * x) * dx


@register(math.pow, np.power, result=shapes.elementwise)
class Power:
    def adjoint(b_out, x, y):
        return b_out * (y * np.power(x, y - 1.0)), b_out * (np.power(x, y) * np.log(x))

    def tangent(dx, dy, x, y):
        return y * np.power(x, y - 1.0) * dx + np.power(x, y) * np.log(x) * dy


@register(math.fabs, np.fabs, result=shapes.real_part)
class Fabs:
    def adjoint(b_out, x):
        return b_out if x >= 0 else -b_out

    def array_adjoint(b_out, x):
        return b_out * np.sign(x)

    def tangent(dx, x):
        return dx if x >= 0 else -dx

    def array_tangent(dx, x):
        return np.sign(x) * dx


@register(np.square, result=shapes.elementwise)
class Square:
    def adjoint(b_out, x):
        return b_out * (2.0 * x)

    def tangent(dx, x):
        return 2.0 * x * dx
