"""Module-level numbers passed as arguments to called functions carry their types."""

import math

from helpers import check_grad

G = 9.81
DRAG = 0.02


def acceleration(vx, vy, drag):
    rvx = vx - 1.0
    speed = math.sqrt(rvx * rvx + vy * vy)
    return -drag * speed * rvx, -G - drag * speed * vy


def passes_a_global(vx, vy):
    ax, ay = acceleration(vx, vy, DRAG)
    return ax * ay


def test_global_number_as_argument():
    check_grad(passes_a_global, (2.0, 3.0), wrt=(0, 1), compile=False)
