"""Functions decorated with sourcead.grad at import time (imported lazily by test_api.py)."""

import math

import sourcead


@sourcead.grad
def d_square(x):
    return 1.5 * x * x


@sourcead.grad(wrt=(0, 1))
def d_product(x, y):
    return x * math.sin(y)


@sourcead.grad(wrt="y", preserve_result=True)
def d_named(x, y):
    return x * y * y


@sourcead.grad(compile=False)
def d_python(x, n):
    s = 0.0
    for i in range(n):
        s = s + x**i
    return s
