"""Checkpointed loops: the same gradient as plain reverse mode, in bounded memory."""

import math
from math import comb

import numpy as np
import pytest
import sourcead_runtime as runtime
from helpers import check_grad, run_case

import sourcead
from sourcead import SourceADError


def projectile(vx, vy, c, n, s):
    x = 0.0
    y = 0.0
    for _ in sourcead.checkpointed(range(n), snapshots=s):
        v = math.sqrt(vx * vx + vy * vy)
        x += 0.01 * vx
        y += 0.01 * vy
        vx -= 0.01 * c * v * vx
        vy -= 0.01 * (9.81 + c * v * vy)
    return (x - 3.0) ** 2 + y**2


def projectile_plain(vx, vy, c, n, s):
    x = 0.0
    y = 0.0
    for _ in range(n):
        v = math.sqrt(vx * vx + vy * vy)
        x += 0.01 * vx
        y += 0.01 * vy
        vx -= 0.01 * c * v * vx
        vy -= 0.01 * (9.81 + c * v * vy)
    return (x - 3.0) ** 2 + y**2


def damped(u, k):
    return u * (1.0 - 0.1 * k) + 0.05 * math.sin(u)


def heat(u0, kappa, n, s):
    m = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    total = 0.0
    for t in sourcead.checkpointed(range(2, 2 + 3 * n, 3), snapshots=s):
        for i in range(1, m - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, m - 1):
            if un[i] > 0.5:
                u[i] = damped(un[i], kappa[i])
            else:
                u[i] = un[i] * un[i] + 0.1 * t * 0.001
        total += u[1] * u[m - 2]
    s2 = total
    for i in range(m):
        s2 += (u[i] - 0.1) ** 2
    return s2


def heat_plain(u0, kappa, n, s):
    m = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    total = 0.0
    for t in range(2, 2 + 3 * n, 3):
        for i in range(1, m - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, m - 1):
            if un[i] > 0.5:
                u[i] = damped(un[i], kappa[i])
            else:
                u[i] = un[i] * un[i] + 0.1 * t * 0.001
        total += u[1] * u[m - 2]
    s2 = total
    for i in range(m):
        s2 += (u[i] - 0.1) ** 2
    return s2


def budgeted(x, n, budget):
    acc = 0.0
    for t in sourcead.checkpointed(range(n), memory=budget):
        x = x * 0.97 + math.sin(x + t)
        acc += x * x
    return acc + x


def budgeted_plain(x, n, budget):
    acc = 0.0
    for t in range(n):
        x = x * 0.97 + math.sin(x + t)
        acc += x * x
    return acc + x


def assert_same(a, b):
    for ga, gb in zip(a, b, strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "n, s", [(0, 2), (1, 1), (2, 1), (7, 1), (10, 2), (23, 3), (23, 30), (64, 4), (100, 5)]
)
def test_scalar_state_matches_plain_reverse(n, s):
    args = (2.0, 1.5, 0.05, n, s)
    wrt = (0, 1, 2)
    checkpointed = sourcead.grad(projectile, wrt=wrt)(*args)
    plain = sourcead.grad(projectile_plain, wrt=wrt)(*args)
    assert_same(checkpointed, plain)


@pytest.mark.parametrize("n, s", [(1, 1), (9, 2), (17, 3)])
def test_array_state_with_branches_inner_loops_and_calls(n, s, compile_mode):
    rng = np.random.default_rng(5)
    u0, kappa = rng.uniform(0.1, 0.9, 7), rng.uniform(0.5, 1.0, 7)
    before = u0.copy()
    g = sourcead.grad(heat, wrt=(0, 1), compile=compile_mode)(u0, kappa, n, s)
    plain = sourcead.grad(heat_plain, wrt=(0, 1), compile=compile_mode)(u0, kappa, n, s)
    assert_same(g, plain)
    np.testing.assert_array_equal(u0, before)


@pytest.mark.parametrize("budget", [8, 24, 10_000])
def test_memory_budget(budget):
    g = sourcead.value_and_grad(budgeted)(0.3, 15, budget)
    plain = sourcead.value_and_grad(budgeted_plain)(0.3, 15, budget)
    assert g[0] == pytest.approx(plain[0], rel=1e-14)
    assert g[1] == pytest.approx(plain[1], rel=1e-10)


def test_second_derivatives_through_a_checkpointed_loop(compile_mode):
    """hvp, hessian and grad of grad tape the checkpointed loop at every step: the same
    derivatives as the function without checkpointing."""
    rng = np.random.default_rng(6)
    u0, kappa = rng.uniform(0.1, 0.9, 7), rng.uniform(0.5, 1.0, 7)
    du, dk = rng.standard_normal(7), rng.standard_normal(7)
    before = (u0.copy(), kappa.copy(), du.copy(), dk.copy())
    args = (u0, kappa, 9, 2)
    tangents = (du, dk, None, None)
    products = sourcead.hvp(heat, args, tangents, compile=compile_mode)
    assert_same(products, sourcead.hvp(heat_plain, args, tangents, compile=compile_mode))
    for a, b in zip((u0, kappa, du, dk), before, strict=True):
        np.testing.assert_array_equal(a, b)
    scalars = (2.0, 1.5, 0.05, 23, 3)
    hessian = sourcead.hessian(projectile, (0, 1, 2), compile=compile_mode)(*scalars)
    plain = sourcead.hessian(projectile_plain, (0, 1, 2), compile=compile_mode)(*scalars)
    for row, plain_row in zip(hessian, plain, strict=True):
        assert_same(row, plain_row)
    second = sourcead.grad(sourcead.grad(budgeted), compile=compile_mode)(0.3, 15, 24)
    assert second == pytest.approx(sourcead.grad(sourcead.grad(budgeted_plain))(0.3, 15, 24))


def test_checkpointed_loop_runs_unchanged_outside_derivatives():
    assert projectile(2.0, 1.5, 0.05, 20, 3) == projectile_plain(2.0, 1.5, 0.05, 20, 3)


def revolve_optimum(n, s):
    s = min(s, n)
    r = 0
    while comb(s + r, s) < n:
        r += 1
    return r * n - comb(s + r, s + 1)


def replay(n, s):
    """Carry out the schedule on a model state (the step number); the plain steps it runs."""
    plan = runtime.revolve_plan(n, s)
    snapshots, state, reversed_steps, advanced = {}, 0, [], 0
    while True:
        action, restore, first, last, slot = runtime.revolve_next(plan)
        if action == runtime.DONE:
            break
        if restore >= 0:
            state = snapshots[restore]
        assert state == first
        advanced += last - first
        state = last
        if action == runtime.TAKE_SNAPSHOT:
            assert slot < runtime.revolve_slots(n, s)
            snapshots[slot] = state
        else:
            assert action == runtime.RECORD_STEP
            reversed_steps.append(last)
            state = last + 1
    assert reversed_steps == list(range(n - 1, -1, -1))
    return advanced


@pytest.mark.parametrize("s", [1, 2, 3, 5, 8])
def test_schedule_runs_the_revolve_optimum_of_forward_steps(s):
    for n in [1, 2, 3, 10, 11, 35, 36, 100, 127, 1000]:
        assert replay(n, s) == revolve_optimum(n, s), (n, s)


def test_schedule_state_is_small_for_long_loops():
    plan = runtime.revolve_plan(10**7, 10)
    assert plan.nbytes < 4096  # O(s + r) integers, not O(n)


def test_checkpointed_loop_inside_a_loop_is_refused():
    def nested(x):
        for _ in range(3):
            for _ in sourcead.checkpointed(range(4), snapshots=2):
                x = x * 1.1
        return x

    with pytest.raises(SourceADError, match="inside another loop") as info:
        sourcead.grad(nested)
    assert info.value.lineno == nested.__code__.co_firstlineno + 2


def test_break_in_checkpointed_loop_is_refused():
    def leaves(x):
        for _ in sourcead.checkpointed(range(4), snapshots=2):
            x = x * 1.1
            if x > 2.0:
                break
        return x

    with pytest.raises(SourceADError, match="run all its steps"):
        sourcead.grad(leaves)(1.0)


def test_checkpointed_needs_snapshots_or_memory():
    def missing(x):
        for _ in sourcead.checkpointed(range(4)):
            x = x * 1.1
        return x

    with pytest.raises(SourceADError, match="snapshots= or memory="):
        sourcead.grad(missing)
    with pytest.raises(TypeError):
        sourcead.checkpointed(range(3))
    with pytest.raises(ValueError):
        sourcead.checkpointed(range(3), snapshots=0)


SNAPSHOTS = 3


def snapshots_from_a_global(x, n):
    for t in sourcead.checkpointed(range(n), snapshots=SNAPSHOTS):
        x = x * 0.97 + math.sin(x + t)
    return x


def test_snapshot_count_may_be_a_module_constant(compile_mode):
    run_case(snapshots_from_a_global, (0.3, 12), 0, {}, compile_mode)


def slices_updated_in_place(x):
    u = x.copy()
    for _ in sourcead.checkpointed(range(8), snapshots=2):
        u[1:] = u[1:] + 0.1 * u[:-1] * u[1:]  # an element loop through a reused buffer
    return np.sum(u**2)


def test_a_slice_update_of_a_vector_in_a_checkpointed_loop(compile_mode):
    # the fused statement's buffer is no loop-carried state: it was refused as an array
    # bound to a new array
    run_case(slices_updated_in_place, (np.array([0.3, -0.2, 0.5, 0.1]),), 0, {}, compile_mode)


def rows_updated_in_place(x):
    u = x.copy()
    for _ in sourcead.checkpointed(range(6), snapshots=2):
        u[1:, :] = u[1:, :] + 0.1 * u[:-1, :] * u[1:, :]
    return np.sum(u**2)


def test_a_whole_array_statement_in_a_checkpointed_loop_is_refused_by_what_it_makes():
    with pytest.raises(SourceADError, match="makes new arrays inside a checkpointed loop"):
        sourcead.grad(rows_updated_in_place, compile=False)(np.ones((3, 2)))


def inner_break_in_checkpointed_loop(a, n):
    b = a.copy()
    acc = 0.0
    for _t in sourcead.checkpointed(range(n), snapshots=2):
        for i in range(b.shape[0]):
            b[i] = b[i] * 0.9 + 0.05 * acc
            if b[i] > 0.6:
                break  # leaves the inner loop only: the checkpointed loop runs all its steps
        acc = acc + b[0] * b[b.shape[0] - 1]
    return acc + np.sum(b)


def test_a_break_of_an_inner_loop_in_a_checkpointed_loop():
    check_grad(inner_break_in_checkpointed_loop, (np.array([0.3, 0.5, 0.7, 0.4]), 7), 0, False)
