"""Adjoints that read a call's result instead of calling again (``AdjointGenerator.keeps_results``).

Outside loops, the adjoint of an array-valued call reads the name its result was bound to
(``b * (1 - h ** 2)`` for ``h = np.tanh(s)``; the factors of ``np.linalg.svd``). In loops it
does so for linear-algebra functions only: the results are then taped, which costs less than
a second factorisation per step. Each program is checked against finite differences and its
generated source for the calls it should and should not repeat.
"""

import re

import numpy as np
import pytest
from helpers import check_grad

import sourcead


def calls_in_backward(f, name: str, *args) -> int:
    """How many times the backward sweep of ``f``'s adjoint calls ``name``."""
    g = sourcead.grad(f, compile=False)
    g(*args)
    backward = g.source.split("# backward sweep", 1)[1].split("\ndef ", 1)[0]
    code = [line for line in backward.splitlines() if not line.lstrip().startswith("#")]
    return sum(len(re.findall(rf"\b{re.escape(name)}\(", line)) for line in code)


def tanh_layer(w, x):
    h = np.tanh(x @ w)
    return np.sum(h * h)


def tanh_in_a_loop(w, x):
    total = 0.0
    for _ in range(3):
        x = np.tanh(x @ w)
        total += np.sum(x * x)
    return total


def eigenvalues_of_a_walk(v, steps):
    """A matrix rebound in a loop, its eigenvectors read after each factorisation."""
    n = v.shape[0]
    h = np.diag(v) + 0.3 * (np.eye(n, k=1) + np.eye(n, k=-1))
    total = 0.0
    for _ in range(steps):
        w, vecs = np.linalg.eigh(h)
        total += w[0] + np.sum(vecs[:, 0] ** 4)
        h = h + 0.1 * np.outer(vecs[:, 0], vecs[:, 0])
    return total


def truncated_svds(a, steps):
    """Factors truncated and used after the factorisation, in a loop."""
    total = 0.0
    for _ in range(steps):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        k = s.shape[0] - 1
        a = a + 0.1 * (u[:, :k] * s[:k]) @ vh[:k]
        total += np.sum(np.sqrt(s)) + np.sum(u[:, 0] ** 2 * vh[0, 0])
    return total + np.sum(a * a)


def solve_in_a_loop(a, b):
    x = b
    for _ in range(3):
        x = np.linalg.solve(a, x) + 0.5 * x
    return np.sum(x * x)


def test_outside_loops_the_adjoint_reads_the_result():
    assert calls_in_backward(tanh_layer, "np.tanh", np.ones((3, 2)), np.ones((4, 3))) == 0


def test_in_a_loop_an_element_wise_result_is_computed_again_not_taped():
    w, x = np.full((3, 3), 0.2), np.ones((2, 3))
    g = sourcead.grad(tanh_in_a_loop, compile=False)
    g(w, x)
    assert "x_tape" in g.source  # each step's x, taped by the loop
    assert calls_in_backward(tanh_in_a_loop, "np.tanh", w, x) == 1


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_eigh_rebound_in_a_loop(steps, compile_mode):
    rng = np.random.default_rng(3)
    v = rng.normal(size=5)
    check_grad(eigenvalues_of_a_walk, (v, steps), 0, compile_mode, rtol=1e-6)
    assert calls_in_backward(eigenvalues_of_a_walk, "np.linalg.eigh", v, steps) == 0


def test_truncated_svd_factors_in_a_loop(compile_mode):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(6, 5))
    check_grad(truncated_svds, (a, 3), 0, compile_mode, rtol=1e-6)
    assert calls_in_backward(truncated_svds, "np.linalg.svd", a, 3) == 0


def test_solve_in_a_loop(compile_mode):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 4)) + 4.0 * np.eye(4)
    check_grad(solve_in_a_loop, (a, rng.normal(size=4)), 0, compile_mode, rtol=1e-6)
    check_grad(solve_in_a_loop, (a, rng.normal(size=4)), 1, compile_mode, rtol=1e-6)
