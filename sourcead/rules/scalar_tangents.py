"""Tangents of scalar functions: Python builtins, ``math`` and their NumPy namesakes."""

import math

import numpy as np

from .tangents import tangent

# --- builtins ----------------------------------------------------------------------------


@tangent(abs)
def abs_(dx, x):
    return dx if x >= 0 else -dx


@tangent(min)
def min_(dx, dy, x, y):
    return dx if x <= y else dy


@tangent(max)
def max_(dx, dy, x, y):
    return dx if x >= y else dy


@tangent(float)
def float_(dx, x):
    return dx


# --- math --------------------------------------------------------------------------------


@tangent(math.sin)
def sin(dx, x):
    return math.cos(x) * dx


@tangent(math.cos)
def cos(dx, x):
    return -math.sin(x) * dx


@tangent(math.tan)
def tan(dx, x):
    return dx / math.cos(x) ** 2


@tangent(math.asin)
def asin(dx, x):
    return dx / math.sqrt(1.0 - x * x)


@tangent(math.acos)
def acos(dx, x):
    return -dx / math.sqrt(1.0 - x * x)


@tangent(math.atan)
def atan(dx, x):
    return dx / (1.0 + x * x)


@tangent(math.atan2)
def atan2(dy, dx, y, x):
    return (x * dy - y * dx) / (x * x + y * y)


@tangent(math.sinh)
def sinh(dx, x):
    return math.cosh(x) * dx


@tangent(math.cosh)
def cosh(dx, x):
    return math.sinh(x) * dx


@tangent(math.tanh)
def tanh(dx, x):
    return (1.0 - math.tanh(x) ** 2) * dx


@tangent(math.asinh)
def asinh(dx, x):
    return dx / math.sqrt(x * x + 1.0)


@tangent(math.acosh)
def acosh(dx, x):
    return dx / math.sqrt(x * x - 1.0)


@tangent(math.atanh)
def atanh(dx, x):
    return dx / (1.0 - x * x)


@tangent(math.exp)
def exp(dx, x):
    return math.exp(x) * dx


@tangent(math.expm1)
def expm1(dx, x):
    return math.exp(x) * dx


@tangent(math.log)
def log(dx, x):
    return dx / x


@tangent(math.log1p)
def log1p(dx, x):
    return dx / (1.0 + x)


@tangent(math.log2)
def log2(dx, x):
    return dx / (x * math.log(2.0))


@tangent(math.log10)
def log10(dx, x):
    return dx / (x * math.log(10.0))


@tangent(math.sqrt)
def sqrt(dx, x):
    return 0.5 / math.sqrt(x) * dx


@tangent(math.hypot)
def hypot(dx, dy, x, y):
    return (x * dx + y * dy) / math.hypot(x, y)


@tangent(math.erf)
def erf(dx, x):
    return 2.0 / math.sqrt(math.pi) * math.exp(-x * x) * dx


@tangent(math.erfc)
def erfc(dx, x):
    return -2.0 / math.sqrt(math.pi) * math.exp(-x * x) * dx


@tangent(math.pow)
def pow_(dx, dy, x, y):
    return y * math.pow(x, y - 1.0) * dx + math.pow(x, y) * math.log(x) * dy


@tangent(math.fabs)
def fabs(dx, x):
    return dx if x >= 0 else -dx


# --- NumPy functions applied to scalars --------------------------------------------------


@tangent(np.sin)
def np_sin(dx, x):
    return np.cos(x) * dx


@tangent(np.cos)
def np_cos(dx, x):
    return -np.sin(x) * dx


@tangent(np.tan)
def np_tan(dx, x):
    return dx / np.cos(x) ** 2


@tangent(np.arcsin)
def np_arcsin(dx, x):
    return dx / np.sqrt(1.0 - x * x)


@tangent(np.arccos)
def np_arccos(dx, x):
    return -dx / np.sqrt(1.0 - x * x)


@tangent(np.arctan)
def np_arctan(dx, x):
    return dx / (1.0 + x * x)


@tangent(np.arctan2)
def np_arctan2(dy, dx, y, x):
    return (x * dy - y * dx) / (x * x + y * y)


@tangent(np.sinh)
def np_sinh(dx, x):
    return np.cosh(x) * dx


@tangent(np.cosh)
def np_cosh(dx, x):
    return np.sinh(x) * dx


@tangent(np.tanh)
def np_tanh(dx, x):
    return (1.0 - np.tanh(x) ** 2) * dx


@tangent(np.arcsinh)
def np_arcsinh(dx, x):
    return dx / np.sqrt(x * x + 1.0)


@tangent(np.arccosh)
def np_arccosh(dx, x):
    return dx / np.sqrt(x * x - 1.0)


@tangent(np.arctanh)
def np_arctanh(dx, x):
    return dx / (1.0 - x * x)


@tangent(np.exp)
def np_exp(dx, x):
    return np.exp(x) * dx


@tangent(np.expm1)
def np_expm1(dx, x):
    return np.exp(x) * dx


@tangent(np.log)
def np_log(dx, x):
    return dx / x


@tangent(np.log1p)
def np_log1p(dx, x):
    return dx / (1.0 + x)


@tangent(np.log2)
def np_log2(dx, x):
    return dx / (x * np.log(2.0))


@tangent(np.log10)
def np_log10(dx, x):
    return dx / (x * np.log(10.0))


@tangent(np.sqrt)
def np_sqrt(dx, x):
    return 0.5 / np.sqrt(x) * dx


@tangent(np.hypot)
def np_hypot(dx, dy, x, y):
    return (x * dx + y * dy) / np.hypot(x, y)


@tangent(np.power)
def np_power(dx, dy, x, y):
    return y * np.power(x, y - 1.0) * dx + np.power(x, y) * np.log(x) * dy


@tangent(np.abs)
def np_abs(dx, x):
    return dx if x >= 0 else -dx


@tangent(np.fabs)
def np_fabs(dx, x):
    return dx if x >= 0 else -dx


@tangent(np.square)
def np_square(dx, x):
    return 2.0 * x * dx
