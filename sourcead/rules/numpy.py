"""Adjoints of NumPy on whole arrays: element-wise functions, reductions, shapes, products.

The scalar rules in ``scalar.py`` and ``operators.py`` also serve arrays where their
expressions are element-wise already (``b_out * np.cos(x)``); the rules here are those that
differ for arrays. Contributions have the shape of the primitive's result: the compiler sums
them back to each operand's shape where broadcasting stretched the operand. The helpers
(``expand_reduced``, ``matmul_adjoint_left`` …) come from ``sourcead_runtime``.
"""

import operator

import numpy as np
from sourcead_runtime import (
    expand_reduced,
    matmul_adjoint_left,
    matmul_adjoint_right,
    prod_others,
    reverse_cumsum,
)

from .registry import adjoint, array_adjoint

# --- element-wise ---------------------------------------------------------------------------


@array_adjoint(operator.pow)
def pow_(b_out, x, y):
    return b_out * y * x ** (y - 1), b_out * x**y * np.log(x)


@array_adjoint(abs)
def abs_(b_out, x):
    # conj(x) / |x|: the sign for real x (0 at 0), the complex rule below for complex x
    return b_out * np.conj(x) / (np.abs(x) + (x == 0))


@array_adjoint(np.abs)
def np_abs(b_out, x):
    return b_out * np.conj(x) / (np.abs(x) + (x == 0))


@array_adjoint(np.fabs)
def np_fabs(b_out, x):
    return b_out * np.sign(x)


@adjoint(np.maximum)
def maximum(b_out, x, y):
    return b_out * (x >= y), b_out * (x < y)


@adjoint(np.minimum)
def minimum(b_out, x, y):
    return b_out * (x <= y), b_out * (x > y)


@adjoint(np.where)
def where(b_out, condition, x, y):
    return None, b_out * condition, b_out - b_out * condition


@adjoint(np.clip)
def clip(b_out, x, low, high):
    # the mask as a product of comparisons, not with &: generated adjoints stay in the subset
    return b_out * ((x >= low) * (x <= high)), b_out * (x < low), b_out * (x > high)


# --- reductions -----------------------------------------------------------------------------


@adjoint(np.sum)
def sum_(b_out, x, axis=None):
    return expand_reduced(b_out, x.shape, axis)


@adjoint(np.mean)
def mean(b_out, x):
    # not np.full: a Python function of NumPy's, which forward over reverse cannot read
    return np.ones(x.shape) * (b_out / x.size)


@adjoint(np.prod)
def prod(b_out, x):
    # the product of the other elements, not np.prod(x) / x: exact where elements are zero
    return b_out * prod_others(x)


@adjoint(np.max)
def max_(b_out, x):
    # ties share the adjoint equally
    hits = x == np.max(x)
    return b_out * hits / np.sum(hits)


@adjoint(np.min)
def min_(b_out, x):
    hits = x == np.min(x)
    return b_out * hits / np.sum(hits)


@adjoint(np.cumsum)
def cumsum(b_out, x):
    return reverse_cumsum(b_out, x.shape)


@adjoint(np.linalg.norm)
def norm(b_out, x):
    return b_out * x / np.linalg.norm(x)


@adjoint(np.trace)
def trace(b_out, x):
    return b_out * np.eye(x.shape[0], x.shape[1])


# --- products -------------------------------------------------------------------------------


@adjoint(operator.matmul)
def matmul_operator(b_out, x, y):
    return matmul_adjoint_left(b_out, x, y), matmul_adjoint_right(b_out, x, y)


@adjoint(np.matmul)
def matmul(b_out, x, y):
    return matmul_adjoint_left(b_out, x, y), matmul_adjoint_right(b_out, x, y)


@array_adjoint(np.dot)
def dot(b_out, x, y):
    return matmul_adjoint_left(b_out, x, y), matmul_adjoint_right(b_out, x, y)


@adjoint(np.outer)
def outer(b_out, x, y):
    return b_out @ y, x @ b_out


# --- shapes ---------------------------------------------------------------------------------


@adjoint(np.transpose)
def transpose(b_out, x):
    return np.transpose(b_out)


@adjoint(np.ascontiguousarray)
def ascontiguousarray(b_out, x):
    return b_out


@adjoint(np.tril)
def tril(b_out, x, k=0):
    return np.tril(b_out, k)


@adjoint(np.triu)
def triu(b_out, x, k=0):
    return np.triu(b_out, k)


@adjoint(np.reshape)
def reshape(b_out, x, shape):
    return np.ascontiguousarray(b_out).reshape(x.shape), None


@adjoint(np.ravel)
def ravel(b_out, x):
    return np.ascontiguousarray(b_out).reshape(x.shape)


@adjoint(np.diag)
def diag(b_out, x):
    # a vector's adjoint is the diagonal of a (square) matrix's and the other way round
    return np.diag(b_out)


@adjoint(np.linspace)
def linspace(b_out, start, stop, num):
    t = np.linspace(0.0, 1.0, num)
    return np.sum(b_out * (1.0 - t)), np.sum(b_out * t), None


# --- complex numbers ------------------------------------------------------------------------
# As in JAX, the adjoint of a complex value z = x + iy is dL/dx - 1j * dL/dy (the conjugate
# of dL/dx + 1j * dL/dy), so that the rules of holomorphic functions (exp, *, @) are the
# same as for real numbers: b_z = b_out * f'(z).


@adjoint(np.real)
def real(b_out, z):
    return b_out + 0j


@adjoint(np.imag)
def imag(b_out, z):
    return -1j * b_out


@adjoint(np.conj)
def conj(b_out, z):
    return np.conj(b_out)
