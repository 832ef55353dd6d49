"""Adjoints of scalar functions: Python builtins, ``math`` and their NumPy namesakes."""

import math

import numpy as np

from .registry import adjoint

# --- builtins -------------------------------------------------------------------------


@adjoint(abs)
def abs_(b_out, x):
    return b_out if x >= 0 else -b_out


@adjoint(min)
def min_(b_out, x, y):
    return (b_out if x <= y else 0.0), (0.0 if x <= y else b_out)


@adjoint(max)
def max_(b_out, x, y):
    return (b_out if x >= y else 0.0), (0.0 if x >= y else b_out)


@adjoint(float)
def float_(b_out, x):
    return b_out


# --- math -----------------------------------------------------------------------------


@adjoint(math.sin)
def sin(b_out, x):
    return b_out * math.cos(x)


@adjoint(math.cos)
def cos(b_out, x):
    return b_out * -math.sin(x)


@adjoint(math.tan)
def tan(b_out, x):
    return b_out * (1.0 / math.cos(x) ** 2)


@adjoint(math.asin)
def asin(b_out, x):
    return b_out * (1.0 / math.sqrt(1.0 - x * x))


@adjoint(math.acos)
def acos(b_out, x):
    return b_out * (-1.0 / math.sqrt(1.0 - x * x))


@adjoint(math.atan)
def atan(b_out, x):
    return b_out * (1.0 / (1.0 + x * x))


@adjoint(math.atan2)
def atan2(b_out, y, x):
    return b_out * (x / (x * x + y * y)), b_out * (-y / (x * x + y * y))


@adjoint(math.sinh)
def sinh(b_out, x):
    return b_out * math.cosh(x)


@adjoint(math.cosh)
def cosh(b_out, x):
    return b_out * math.sinh(x)


@adjoint(math.tanh)
def tanh(b_out, x):
    return b_out * (1.0 - math.tanh(x) ** 2)


@adjoint(math.asinh)
def asinh(b_out, x):
    return b_out * (1.0 / math.sqrt(x * x + 1.0))


@adjoint(math.acosh)
def acosh(b_out, x):
    return b_out * (1.0 / math.sqrt(x * x - 1.0))


@adjoint(math.atanh)
def atanh(b_out, x):
    return b_out * (1.0 / (1.0 - x * x))


@adjoint(math.exp)
def exp(b_out, x):
    return b_out * math.exp(x)


@adjoint(math.expm1)
def expm1(b_out, x):
    return b_out * math.exp(x)


@adjoint(math.log)
def log(b_out, x):
    return b_out * (1.0 / x)


@adjoint(math.log1p)
def log1p(b_out, x):
    return b_out * (1.0 / (1.0 + x))


@adjoint(math.log2)
def log2(b_out, x):
    return b_out * (1.0 / (x * math.log(2.0)))


@adjoint(math.log10)
def log10(b_out, x):
    return b_out * (1.0 / (x * math.log(10.0)))


@adjoint(math.sqrt)
def sqrt(b_out, x):
    return b_out * (0.5 / math.sqrt(x))


@adjoint(math.hypot)
def hypot(b_out, x, y):
    return b_out * (x / math.hypot(x, y)), b_out * (y / math.hypot(x, y))


@adjoint(math.erf)
def erf(b_out, x):
    return b_out * (2.0 / math.sqrt(math.pi) * math.exp(-x * x))


@adjoint(math.erfc)
def erfc(b_out, x):
    return b_out * (-2.0 / math.sqrt(math.pi) * math.exp(-x * x))


@adjoint(math.pow)
def pow_(b_out, x, y):
    return b_out * (y * math.pow(x, y - 1.0)), b_out * (math.pow(x, y) * math.log(x))


@adjoint(math.fabs)
def fabs(b_out, x):
    return b_out if x >= 0 else -b_out


# --- NumPy functions applied to scalars ---------------------------------------------------


@adjoint(np.sin)
def np_sin(b_out, x):
    return b_out * np.cos(x)


@adjoint(np.cos)
def np_cos(b_out, x):
    return b_out * -np.sin(x)


@adjoint(np.tan)
def np_tan(b_out, x):
    return b_out * (1.0 / np.cos(x) ** 2)


@adjoint(np.arcsin)
def np_arcsin(b_out, x):
    return b_out * (1.0 / np.sqrt(1.0 - x * x))


@adjoint(np.arccos)
def np_arccos(b_out, x):
    return b_out * (-1.0 / np.sqrt(1.0 - x * x))


@adjoint(np.arctan)
def np_arctan(b_out, x):
    return b_out * (1.0 / (1.0 + x * x))


@adjoint(np.arctan2)
def np_arctan2(b_out, y, x):
    return b_out * (x / (x * x + y * y)), b_out * (-y / (x * x + y * y))


@adjoint(np.sinh)
def np_sinh(b_out, x):
    return b_out * np.cosh(x)


@adjoint(np.cosh)
def np_cosh(b_out, x):
    return b_out * np.sinh(x)


@adjoint(np.tanh)
def np_tanh(b_out, x):
    return b_out * (1.0 - np.tanh(x) ** 2)


@adjoint(np.arcsinh)
def np_arcsinh(b_out, x):
    return b_out * (1.0 / np.sqrt(x * x + 1.0))


@adjoint(np.arccosh)
def np_arccosh(b_out, x):
    return b_out * (1.0 / np.sqrt(x * x - 1.0))


@adjoint(np.arctanh)
def np_arctanh(b_out, x):
    return b_out * (1.0 / (1.0 - x * x))


@adjoint(np.exp)
def np_exp(b_out, x):
    return b_out * np.exp(x)


@adjoint(np.expm1)
def np_expm1(b_out, x):
    return b_out * np.exp(x)


@adjoint(np.log)
def np_log(b_out, x):
    return b_out * (1.0 / x)


@adjoint(np.log1p)
def np_log1p(b_out, x):
    return b_out * (1.0 / (1.0 + x))


@adjoint(np.log2)
def np_log2(b_out, x):
    return b_out * (1.0 / (x * np.log(2.0)))


@adjoint(np.log10)
def np_log10(b_out, x):
    return b_out * (1.0 / (x * np.log(10.0)))


@adjoint(np.sqrt)
def np_sqrt(b_out, x):
    return b_out * (0.5 / np.sqrt(x))


@adjoint(np.hypot)
def np_hypot(b_out, x, y):
    return b_out * (x / np.hypot(x, y)), b_out * (y / np.hypot(x, y))


@adjoint(np.power)
def np_power(b_out, x, y):
    return b_out * (y * np.power(x, y - 1.0)), b_out * (np.power(x, y) * np.log(x))


@adjoint(np.abs)
def np_abs(b_out, x):
    return b_out if x >= 0 else -b_out


@adjoint(np.fabs)
def np_fabs(b_out, x):
    return b_out if x >= 0 else -b_out


@adjoint(np.square)
def np_square(b_out, x):
    return b_out * (2.0 * x)
