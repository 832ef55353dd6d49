"""Helper functions living in a different module than their callers (see test_calls.py)."""

import math


def lib_softplus(x):
    if x > 20.0:
        return x
    return math.log1p(math.exp(x))


def lib_poly(x, n):
    s = 0.0
    for i in range(n):
        s = s * x + (i + 1.0)
    return s


class Settings:
    """Numbers read as a class's attributes (Settings.scale), as configuration often is."""

    scale = 1.5
