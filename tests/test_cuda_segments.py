"""Loops reversed in segments on the GPU (vmap(..., target="cuda", checkpoint_every=K)).

Each function is checked against the CPU's gradient of each batch element, for segments
of one step, of a few steps (trip counts that are not multiples of it, and some threads
running no step at all) and without segments.
"""

import math
import re

import numpy as np
import pytest

import sourcead

cuda = pytest.importorskip("numba.cuda")

DT = 0.05


def projectile(vx, vy, c, n):
    x = y = 0.0
    for _step in range(n):
        v = math.sqrt(vx * vx + vy * vy)
        x += DT * vx
        y += DT * vy
        vx -= DT * c * v * vx
        vy -= DT * (9.81 + c * v * vy)
    return (x - 3.0) ** 2 + y**2


def branches(x, w, n):
    s = 0.0
    for _i in range(n):
        if x > 0.5:
            x = x * w - 0.1
        else:
            x = math.sin(x) + w * x
        s += x * x
    return s


def inner_while(x, w, n):
    s = 0.0
    for _i in range(n):
        y = x
        while y > 0.2:  # a data-dependent trip count in each step
            y = y * w
            s += math.sin(y)
        x = x * 0.9 + 0.05 * s
    return s + x


def value_before_the_loop(x, w, n):
    t = x * x  # t is read before the loop, then set anew by every step
    s = t * w
    for _i in range(n):
        t = math.sin(s) * w
        s = s + t * t
    return s + t * x


def stepped(x, w, n):
    s = x
    for i in range(2, n, 3):  # the loop variable, a start and a step
        s = s + 0.01 * i * math.sin(s * w)
    return s


def overwritten_after(x, w, n):
    a = w * 2.0
    s = x
    for _i in range(n):
        s = math.sin(s) * a
    a = a * s  # what the steps read is overwritten after the loop
    return a + s


def two_loops_and_a_branch(x, w, n):
    s = x
    for _i in range(n):
        s = s * w + math.cos(s)
    if w > 0.8:
        for _j in range(n):
            s = math.sin(s) * w
    return s * s


def indexed(x, c, n):
    s = x
    for i in range(n):
        k = i % c.shape[0]
        s = s * c[k] + math.sin(s)
    return s


def reused_results(x, w, n):
    s = 0.0
    e = math.exp(w)  # the adjoint of exp reads e, its result...
    for _i in range(n):
        r = math.sqrt(x * x + w)  # ...and of sqrt, r
        x = x * 0.9 + 0.01 * r
        s += r * e
    e = math.exp(s * 0.01)  # ...which later statements overwrite
    return s + e


def _helper(a, w):
    t = math.sin(a) * w
    return t * t + a


def calls_a_function(x, w, n):
    s = x
    for i in range(n):
        s = _helper(s, w) * 0.5 + _helper(w, s) * 0.1
        s = s + 0.01 * i
    return s


def marked_checkpointed(x, w, n):
    s = x
    for i in sourcead.checkpointed(range(n), snapshots=2):
        s = math.sin(s) * w + 0.01 * i
    return s


def marked_with_memory(x, w, n):
    s = x
    t = w
    for _i in sourcead.checkpointed(range(n), memory=32):  # two snapshots of s and t
        s, t = math.sin(s) * t, t * 0.9 + 0.1 * s
    return s + t


RNG = np.random.default_rng(5)
TRIPS = np.array([0, 1, 3, 4, 7, 11])  # per thread


def _inputs(function):
    count = len(TRIPS)
    if function is projectile:
        return (RNG.uniform(5, 8, count), RNG.uniform(5, 8, count), RNG.uniform(0.01, 0.1, count))
    if function is indexed:
        return (RNG.uniform(0.2, 0.9, count), RNG.uniform(0.5, 0.9, 3))
    return (RNG.uniform(0.3, 1.2, count), RNG.uniform(0.6, 0.95, count))


FUNCTIONS = [
    projectile,
    branches,
    inner_while,
    value_before_the_loop,
    stepped,
    overwritten_after,
    two_loops_and_a_branch,
    indexed,
    reused_results,
    calls_a_function,
    marked_checkpointed,
    marked_with_memory,
]


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("segment", [1, 3, None])
def test_segments_give_the_gradients_of_every_step(function, segment):
    inputs = _inputs(function)
    wrt = tuple(range(len(inputs)))
    dloss = sourcead.value_and_grad(function, wrt=wrt)
    in_axes = (0, None, 0) if function is indexed else 0
    batched = sourcead.vmap(dloss, in_axes, target="cuda", checkpoint_every=segment)
    values, grads = batched(*inputs, TRIPS)
    for i, n in enumerate(TRIPS):
        element = [a if function is indexed and k == 1 else a[i] for k, a in enumerate(inputs)]
        value, expected = dloss(*element, int(n))
        assert values[i] == pytest.approx(value, rel=1e-13, abs=1e-15)
        for g, e in zip(grads, expected, strict=True):
            np.testing.assert_allclose(g[i], e, rtol=1e-12, atol=1e-15)


def test_segment_tapes_are_local_arrays_and_the_snapshots_in_device_memory():
    dloss = sourcead.grad(projectile, wrt=(0, 1, 2))
    batched = sourcead.vmap(dloss, (0, 0, 0, None), target="cuda", checkpoint_every=4)
    vx, vy, c = _inputs(projectile)
    batched(vx, vy, c, 10)
    plan = next(iter(batched._built.values()))
    # v, vx and vy are recorded over one segment of 4 steps, each step pushing once: local
    # arrays of 4 values; vx and vy (not x or y, which nothing recorded depends on) are
    # kept in device memory at each of the 3 segments' first steps
    for name in ("v", "vx", "vy"):
        assert f"{name}_tape = cuda.local.array(4, numba.float64)" in batched.source
    assert plan.tapes == ["float64"] * 2
    assert plan.tape_state.capacity.tolist() == [3, 3]
    assert "vx = vx_snapshots[segment]" in batched.source
    # the square root's adjoint reads its result, v, instead of taking the root again
    assert "b_v * (0.5 / v)" in batched.source
    assert not re.search(r"\b[xy]_snapshots\b", batched.source)


def test_tapes_pushed_in_inner_loops_stay_in_device_memory():
    """A step's pushes inside a loop of data-dependent length have no bound known when the
    kernel is compiled: that tape is a column of device memory, sized by the host."""
    dloss = sourcead.grad(inner_while, wrt=(0, 1))
    batched = sourcead.vmap(dloss, (0, 0, None), target="cuda", checkpoint_every=4)
    x, w = _inputs(inner_while)
    batched(x, w, 5)
    plan = next(iter(batched._built.values()))
    local = re.findall(r"(\w+) = cuda\.local\.array\(4, ", batched.source)
    header = re.search(r"def inner_while_adjoint\((.*)\):", batched.source).group(1)
    device = [p.strip() for p in header.split(",") if "_tape" in p]
    assert local and device  # y before the loop: local; y in the loop: device memory
    assert not set(local) & set(device)
    assert len(plan.tapes) == len(device) + 2  # and the snapshots of s and x
    assert plan.tape_state.capacity[0] > 4  # every pass of the while loop in a segment


def test_checkpoint_every_is_checked():
    dloss = sourcead.grad(projectile, wrt=(0, 1, 2))
    for wrong in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="checkpoint_every"):
            sourcead.vmap(dloss, target="cuda", checkpoint_every=wrong)


def test_checkpointed_loops_keep_at_most_their_snapshots_on_the_gpu():
    """checkpointed(range(n), snapshots=s) is reversed in segments of ceil(n / s) steps."""
    dloss = sourcead.grad(marked_checkpointed, wrt=(0, 1))
    for segment in (None, 16):  # whatever vmap's own segment length
        batched = sourcead.vmap(dloss, (0, 0, None), target="cuda", checkpoint_every=segment)
        x, w = _inputs(marked_checkpointed)
        gx, gw = batched(x, w, 11)
        for i in range(len(x)):
            np.testing.assert_allclose((gx[i], gw[i]), dloss(x[i], w[i], 11), rtol=1e-12)
        capacity = next(iter(batched._built.values())).tape_state.capacity.tolist()
        assert capacity == [6, 2]  # one segment of ceil(11 / 2) steps of s; 2 snapshots of s
