"""Arrays bound in a loop from unchanging arrays and the loop variable are computed again
for the previous iteration in the backward sweep (``xc = x - means[k - 1]``), not taped.

Each case is checked against finite differences, compiled and as plain Python; the code
tests pin down where the recomputation is used and where the tape stays.
"""

import numpy as np
import pytest
from helpers import check_grad

import sourcead


def centred_components(x, means):
    total = 0.0
    for k in range(means.shape[0]):
        xc = x - means[k]  # x and means never change: recomputed
        total += np.sum(np.tanh(xc) * xc)
    return total


def odd_steps(x, w):
    s = 0.0
    for k in range(1, w.shape[0], 2):
        t = x * w[k]  # the previous iteration's is w[k - 2]; none before k = 1
        s += np.sum(np.sin(t) * t)
    return s


def inside_another_loop(x, w):
    s = 0.0
    for _ in range(2):
        for k in range(w.shape[0]):
            t = x * w[k]  # in a nested loop: taped
            s += np.sum(t * t * t)
    return s


def written_input(x, w):
    s = 0.0
    x[0, 0] = 2.0 * x[0, 0]  # x changes: t is taped
    for k in range(w.shape[0]):
        t = x * w[k]
        s += np.sum(np.exp(t) * t)
    return s


def bound_in_a_branch(x, w):
    s = 0.0
    for k in range(w.shape[0]):
        if w[k] > 0.5:  # not every iteration binds t: the tape keeps the last binding
            t = x * w[k]
            s += np.sum(np.sin(t) * t)
    return s


def loop_with_break(x, w):
    s = 0.0
    for k in range(w.shape[0]):
        t = x * w[k]
        s += np.sum(t * t)
        if s > 5.0:
            break
    return s


def maybe_no_steps(x, w, n):
    s = np.sum(x)
    for k in range(n):
        t = x * w[k]
        s += np.sum(t * t)
    return s


rng = np.random.default_rng(7)
CASES = [
    (centred_components, (rng.random((4, 3)), rng.random((3, 3))), (0, 1)),
    (odd_steps, (rng.random((3, 2)), rng.random(6)), (0, 1)),
    (inside_another_loop, (rng.random((2, 2)), rng.random(3)), (0, 1)),
    (written_input, (rng.random((2, 3)), rng.random(3)), (0, 1)),
    (bound_in_a_branch, (rng.random((2, 2)), np.array([0.9, 0.2, 0.8, 0.7, 0.1, 0.6])), (0, 1)),
    (loop_with_break, (rng.random((2, 2)) + 1.0, np.array([0.5, 0.9, 0.7, 0.8])), (0, 1)),
    (maybe_no_steps, (rng.random((2, 2)), rng.random(3), 3), (0, 1)),
    (maybe_no_steps, (rng.random((2, 2)), rng.random(3), 0), (0, 1)),
]


@pytest.mark.parametrize(
    "compile",
    [pytest.param(True, id="compiled", marks=pytest.mark.slow), pytest.param(False, id="python")],
)
@pytest.mark.parametrize(
    "f, args, wrt", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
def test_gradients_with_recomputed_restores_match_finite_differences(f, args, wrt, compile):
    check_grad(f, args, wrt, compile)


def _source(f, args, wrt):
    gradient = sourcead.grad(f, wrt=wrt)
    gradient(*args)
    return gradient.source


def test_the_previous_iterations_value_is_computed_again_not_taped():
    source = _source(*CASES[0])
    assert "if k != 0:\n            xc = x - means[k - 1]" in source
    assert "xc_tape" not in source
    source = _source(*CASES[1])
    assert "if k != 1:\n            t = x * w[k - 2]" in source


@pytest.mark.parametrize(
    "case", [2, 3, 4, 5], ids=["nested-loop", "written-input", "branch", "break"]
)
def test_values_that_cannot_be_computed_again_stay_taped(case):
    source = _source(*CASES[case])
    assert "t_tape, t_top = push_array(t_tape, t_top, t)" in source


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_hessian_vector_products_through_recomputed_restores():
    x, means = CASES[0][1]
    v = rng.random(x.shape)
    gradient = sourcead.grad(centred_components)
    eps = 1e-6
    expected = (gradient(x + eps * v, means) - gradient(x - eps * v, means)) / (2 * eps)
    hv = sourcead.hvp(centred_components, (x, means), (v, None))
    np.testing.assert_allclose(hv, expected, rtol=1e-6, atol=1e-8)
