"""Functions at the top level of a module, whose derivatives pickle by reference.

Used by test_pickling.py and test_jax_spellings.py; processes started by the tests (spawned
pool workers) import this module to find them.
"""

import math

import numba
import numpy as np
from numba import cuda

import sourcead


def energy(x, y):
    return x * x * y + math.sin(y)


def rosen(u):
    s = 0.0
    for i in range(u.shape[0] - 1):
        s += 100.0 * (u[i + 1] - u[i] * u[i]) ** 2 + (1.0 - u[i]) ** 2
    return s


def polar(x, y):
    return math.hypot(x, y), math.atan2(y, x)


def curve(w, t):
    """A model's predictions: an array (for Jacobians)."""
    return w[0] * np.exp(-w[1] * t) + w[2]


def loss_with_aux(w, t, y):
    """A least-squares loss, with the residuals as its aux."""
    residuals = w[0] * np.exp(-w[1] * t) + w[2] - y
    return np.sum(residuals * residuals), residuals


def curve_with_aux(w, t):
    """The model's predictions, with their mean as aux."""
    predictions = w[0] * np.exp(-w[1] * t) + w[2]
    return predictions, np.mean(predictions)


def scaled(x, c):
    return c * math.sin(x) * x


@numba.njit
def jitted(x):
    return x * math.exp(x)


@sourcead.grad(compile=False)
def decorated(x):
    return x**3


def rebound(x):
    return 2.0 * x


kept_under_another_name = rebound
rebound = 3.0  # noqa: F811  (the name no longer finds the function)


def make_local():
    """A function defined inside another one: not found by module and qualified name."""

    def local(x):
        return x * x

    return local


@sourcead.differentiable
def square_kernel(u, out):
    i = cuda.grid(1)
    if i < u.shape[0]:
        out[i] = u[i] * u[i]


@sourcead.differentiable
def total_kernel(u, loss):
    if cuda.grid(1) == 0:
        s = 0.0
        for i in range(u.shape[0]):
            s += u[i] * (i + 1.0)
        loss[0] = s


def host_squares(u, scratch, loss):
    """Host code launching two differentiable kernels: sum((i + 1) * u[i] ** 2)."""
    square_kernel[1, 8](u, scratch)
    total_kernel[1, 1](scratch, loss)
    return loss


def call_in_worker(derivative, args):
    """What a pool worker got and computed: the derivative's class and its result."""
    return type(derivative).__name__, derivative(*args)
