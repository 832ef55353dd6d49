"""Tangents of NumPy on whole arrays: element-wise functions, reductions, shapes, products.

The scalar rules in ``scalar_tangents.py`` and ``operator_tangents.py`` also serve arrays
where their expressions are element-wise already (``np.cos(x) * dx``); the rules here are
those that differ for arrays. A linear primitive's tangent is the primitive applied to the
tangent, with the call's keyword arguments passed on (``**keywords``).
"""

import operator

import numpy as np
from sourcead_runtime import prod_others

from .tangents import array_tangent, tangent

# --- element-wise ---------------------------------------------------------------------------


@array_tangent(operator.pow)
def pow_(dx, dy, x, y):
    return y * x ** (y - 1) * dx + x**y * np.log(x) * dy


@array_tangent(abs)
def abs_(dx, x):
    return np.sign(x) * dx


@array_tangent(np.abs)
def np_abs(dx, x):
    return np.sign(x) * dx


@array_tangent(np.fabs)
def np_fabs(dx, x):
    return np.sign(x) * dx


@tangent(np.maximum)
def maximum(dx, dy, x, y):
    return dx * (x >= y) + dy * (x < y)


@tangent(np.minimum)
def minimum(dx, dy, x, y):
    return dx * (x <= y) + dy * (x > y)


@tangent(np.where)
def where(dcondition, dx, dy, condition, x, y):
    return dx * condition + dy * (condition == 0)


@tangent(np.clip)
def clip(dx, dlow, dhigh, x, low, high):
    return dx * ((x >= low) * (x <= high)) + dlow * (x < low) + dhigh * (x > high)


# --- reductions -------------------------------------------------------------------------------


@tangent(np.sum)
def sum_(dx, x, **keywords):
    return np.sum(dx, **keywords)


@tangent(np.mean)
def mean(dx, x, **keywords):
    return np.mean(dx, **keywords)


@tangent(np.prod)
def prod(dx, x):
    return np.sum(dx * prod_others(x))  # exact where elements are zero


@tangent(np.max)
def max_(dx, x):
    return np.sum(dx * (x == np.max(x))) / np.sum(x == np.max(x))


@tangent(np.min)
def min_(dx, x):
    return np.sum(dx * (x == np.min(x))) / np.sum(x == np.min(x))


@tangent(np.cumsum)
def cumsum(dx, x, **keywords):
    return np.cumsum(dx, **keywords)


@tangent(np.linalg.norm)
def norm(dx, x):
    return np.sum(x * dx) / np.linalg.norm(x)


@tangent(np.trace)
def trace(dx, x):
    return np.trace(dx)


# --- products ---------------------------------------------------------------------------------


@tangent(operator.matmul)
def matmul_operator(dx, dy, x, y):
    return dx @ y + x @ dy


@tangent(np.matmul)
def matmul(dx, dy, x, y):
    return np.matmul(dx, y) + np.matmul(x, dy)


@array_tangent(np.dot)
def dot(dx, dy, x, y):
    return np.dot(dx, y) + np.dot(x, dy)


@tangent(np.outer)
def outer(dx, dy, x, y):
    return np.outer(dx, y) + np.outer(x, dy)


# --- shapes -----------------------------------------------------------------------------------


@tangent(np.transpose)
def transpose(dx, x):
    return np.transpose(dx)


@tangent(np.ascontiguousarray)
def ascontiguousarray(dx, x):
    return np.ascontiguousarray(dx)


@tangent(np.tril)
def tril(dx, x, k=0):
    return np.tril(dx, k)


@tangent(np.triu)
def triu(dx, x, k=0):
    return np.triu(dx, k)


@tangent(np.reshape)
def reshape(dx, dshape, x, shape):
    return np.ascontiguousarray(dx).reshape(shape)


@tangent(np.ravel)
def ravel(dx, x):
    return np.ascontiguousarray(dx).ravel()


@tangent(np.diag)
def diag(dx, x):
    return np.diag(dx)


@tangent(np.linspace)
def linspace(dstart, dstop, dnum, start, stop, num):
    return dstart * (1.0 - np.linspace(0.0, 1.0, num)) + dstop * np.linspace(0.0, 1.0, num)


# --- complex numbers ----------------------------------------------------------------------------


@tangent(np.real)
def real(dz, z):
    return np.real(dz)


@tangent(np.imag)
def imag(dz, z):
    return np.imag(dz)


@tangent(np.conj)
def conj(dz, z):
    return np.conj(dz)
