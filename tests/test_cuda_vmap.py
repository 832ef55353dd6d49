"""vmap(target="cuda"): on numba-cuda's simulator here (see conftest.py), on a GPU when present."""

import math

import numpy as np
import pytest
from helpers import numerical_grad

import sourcead

cuda = pytest.importorskip("numba.cuda")


def projectile(vx, vy, c):
    x = y = 0.0
    for _i in range(50):
        v = math.sqrt(vx * vx + vy * vy)
        x += 2e-2 * vx
        y += 2e-2 * vy
        vx -= 2e-2 * c * v * vx
        vy -= 2e-2 * (9.81 + c * v * vy)
    return (x - 3.0) ** 2 + y**2


def contraction(x, w):
    s = 0.0
    while x > 0.1:
        x = x * w - 0.05 * math.sin(x)
        s = s + x * x
    return s


def weighted(x, w):
    s = 0.0
    for i in range(x.shape[0]):
        s += math.sin(x[i] * w[i])
    return s


def local_array(x):
    y = np.zeros(3)
    y[0] = x
    return y[0] * x


def squares(x):
    s = x * x
    return s[0] + s[1]


RNG = np.random.default_rng(11)


def _trips(x, w):
    n = 0
    while x > 0.1:
        x = x * w - 0.05 * math.sin(x)
        n += 1
    return n


def _stable(x, w):
    """The trip count is the same wherever the finite differences evaluate (up to 3 steps
    of 1e-3 * max(1, |v|) along each argument): they see a smooth function there."""
    n = _trips(x, w)
    hx, hw = 3.5e-3 * max(1.0, abs(x)), 3.5e-3 * max(1.0, abs(w))
    return all(_trips(x + d * hx, w) == n and _trips(x, w + d * hw) == n for d in (-1, 1))


def test_cuda_vmap_equals_loop_of_grad():
    vx, vy, c = RNG.uniform(5, 10, 9), RNG.uniform(5, 10, 9), RNG.uniform(0.01, 0.1, 9)
    dloss = sourcead.grad(projectile, wrt=(0, 1, 2))
    batched = sourcead.vmap(dloss, target="cuda")(vx, vy, c)
    looped = np.array([dloss(vx[i], vy[i], c[i]) for i in range(9)]).T
    np.testing.assert_allclose(np.array(batched), looped, rtol=1e-12, atol=1e-12)


def test_cuda_while_loops_with_data_dependent_trips_are_exact():
    by_trips = {}
    for x, w in zip(RNG.uniform(0.4, 3, 200), RNG.uniform(0.55, 0.75, 200), strict=True):
        if _stable(x, w):
            by_trips.setdefault(_trips(x, w), (x, w))
    xs, ws = np.array(list(by_trips.values())[:5]).T
    trips = [_trips(x, w) for x, w in zip(xs, ws, strict=True)]
    assert len(set(trips)) >= 3  # each thread runs its own number of iterations
    f = sourcead.vmap(sourcead.grad(contraction, wrt=(0, 1)), target="cuda")
    gx, gw = f(xs, ws)
    for i in range(5):
        fd = numerical_grad(contraction, (xs[i], ws[i]), (0, 1))
        np.testing.assert_allclose([gx[i], gw[i]], fd, rtol=1e-7)
    # the first call counted the tape lengths; a call needing longer tapes repeats its launch
    tapes = next(iter(f._built.values())).tape_state
    first = tapes.capacity.copy()
    assert first.max() == max(trips)
    far = next((x, 0.85) for x in np.linspace(2, 5, 50) if _stable(x, 0.85))
    gx2, gw2 = f(np.array([far[0], 1.0]), np.array([far[1], 0.9]))
    assert tapes.capacity.max() > first.max()
    fd = numerical_grad(contraction, far, (0, 1))
    np.testing.assert_allclose([gx2[0], gw2[0]], fd, rtol=1e-7)


def test_tape_memory_limit_splits_the_batch_or_says_what_to_change():
    xs, ws = RNG.uniform(0.5, 3.0, 7), RNG.uniform(0.6, 0.9, 7)
    g = sourcead.grad(contraction, wrt=(0, 1))
    reference = sourcead.vmap(g)(xs, ws)
    per_thread = 8 * 2 * max(_trips(x, w) for x, w in zip(xs, ws, strict=True)) + 8
    split = sourcead.vmap(g, target="cuda", tape_memory=3 * per_thread)(xs, ws)
    np.testing.assert_allclose(np.array(split), np.array(reference), rtol=1e-13)
    with pytest.raises(MemoryError, match="tape_memory"):
        sourcead.vmap(g, target="cuda", tape_memory=16)(xs, ws)


def test_array_gradients_broadcast_arguments_and_device_arrays():
    x, w = RNG.uniform(0.5, 1, (6, 4)), RNG.uniform(0.5, 1, 4)
    f = sourcead.vmap(sourcead.grad(weighted, wrt=(0, 1)), in_axes=(0, None), target="cuda")
    gx, gw = f(x, w)
    np.testing.assert_allclose(gx, np.cos(x * w) * w, rtol=1e-13)
    np.testing.assert_allclose(gw, np.cos(x * w) * x, rtol=1e-13)
    both = sourcead.value_and_grad(weighted, wrt=1)
    value, gw_only = sourcead.vmap(both, in_axes=(0, None), target="cuda")(x, w)
    np.testing.assert_allclose(value, np.sin(x * w).sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(gw_only, gw, rtol=1e-15)
    on_device = f(cuda.to_device(x), cuda.to_device(w))
    assert not isinstance(on_device[0], np.ndarray)  # results stay on the device
    np.testing.assert_allclose(on_device[0].copy_to_host(), gx, rtol=1e-15)


def test_plain_function_on_the_device():
    vx, vy, c = RNG.uniform(5, 10, 4), RNG.uniform(5, 10, 4), RNG.uniform(0.01, 0.1, 4)
    values = sourcead.vmap(projectile, target="cuda")(vx, vy, c)
    np.testing.assert_allclose(values, [projectile(*a) for a in zip(vx, vy, c, strict=True)])


def test_device_code_that_would_allocate_is_refused_with_the_line():
    with pytest.raises(sourcead.SourceADError, match="s is a new array") as error:
        sourcead.vmap(squares, target="cuda")(np.ones((2, 3)))
    assert error.value.filename.endswith("test_cuda_vmap.py")
    assert error.value.lineno == squares.__code__.co_firstlineno + 1
    with pytest.raises(TypeError, match="target='cuda'"):
        sourcead.vmap(sourcead.grad(projectile), target="cpu")(cuda.to_device(np.ones(2)), 1.0, 1.0)


def writes_its_argument(a, x):
    a[0] = a[0] * x
    return a[0] + a[1]


def test_a_function_writing_into_its_argument_leaves_device_inputs_alone():
    a, x = RNG.uniform(size=(4, 2)), RNG.uniform(size=4)
    on_device = cuda.to_device(a)
    values = sourcead.vmap(writes_its_argument, target="cuda")(on_device, x)
    np.testing.assert_array_equal(on_device.copy_to_host(), a)
    expected = [writes_its_argument(row.copy(), s) for row, s in zip(a, x, strict=True)]
    np.testing.assert_allclose(values.copy_to_host(), expected)
    # its tangent copies the row: on the GPU into a local array of the row's shape
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    _, tangents = mapped(writes_its_argument, (on_device, x), (np.ones_like(a), np.zeros(4)))
    np.testing.assert_array_equal(on_device.copy_to_host(), a)
    for k in range(4):
        expected = sourcead.jvp(writes_its_argument, (a[k], x[k]), (np.ones(2), 0.0))[1]
        np.testing.assert_allclose(tangents.copy_to_host()[k], expected, rtol=1e-14)


def _two_values(p, q):
    return p * q, p + q


def unpacks_a_call(x, y):
    a, b = _two_values(x, y)
    return a * b


def writes_a_shared_array(x, c):
    c[0] = c[0] * x  # c is shared by every element: the tangent code writes into its copy
    return c[0] + c[1] * x


def test_vmap_jvp_of_calls_returning_tuples_and_of_writes_into_shared_arrays():
    """The tangent of a call returning a tuple unpacks plain names (called functions'
    tangents return their values and tangents flat), so it runs on the GPU; so does the
    tangent of a function writing into an array every element shares, which writes into
    its own copy (a local array)."""
    x = RNG.uniform(size=4)
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    _, tangents = mapped(unpacks_a_call, (x, x), (np.ones(4), np.zeros(4)))
    expected = [sourcead.jvp(unpacks_a_call, (v, v), (1.0, 0.0))[1] for v in x]
    np.testing.assert_allclose(tangents, expected, rtol=1e-14)
    c = RNG.uniform(size=3)
    before = c.copy()
    shared = sourcead.vmap(sourcead.jvp, in_axes=(None, (0, None), (0, None)), target="cuda")
    values, tangents = shared(writes_a_shared_array, (x, c), (np.ones(4), np.ones(3)))
    for k in range(4):
        value, tangent = sourcead.jvp(writes_a_shared_array, (x[k], c), (1.0, np.ones(3)))
        np.testing.assert_allclose((values[k], tangents[k]), (value, tangent), rtol=1e-14)
    np.testing.assert_array_equal(c, before)  # the caller's array is left alone


def test_a_local_array_of_constant_shape_is_held_by_the_thread():
    x = np.array([0.5, -1.5, 2.0])
    gradients = sourcead.vmap(sourcead.grad(local_array), target="cuda")(x)
    np.testing.assert_allclose(gradients, 2 * x)


def polar(r, angles):
    return r * math.cos(angles[0]) * angles[1], r * math.sin(angles[0]) + angles[1] ** 2


def test_cuda_vmap_jacobian():
    r, angles = RNG.uniform(1, 2, 5), RNG.uniform(0.1, 1.0, (5, 2))
    jac = sourcead.jacobian(polar, wrt=(0, 1))
    batched = sourcead.vmap(jac, target="cuda")(r, angles)
    for i in range(5):
        expected = jac(r[i], angles[i])
        for k in range(2):
            for j in range(2):
                np.testing.assert_allclose(batched[k][j][i], expected[k][j], rtol=1e-13)


@pytest.mark.slow  # minutes of compiling on the simulator: CI runs it (-m slow)
def test_gpu_benchmark_runs_on_the_simulator():
    """benchmarks/gpu.py --tiny: every benchmark path (and its own checks) on tiny sizes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    result = subprocess.run(
        [sys.executable, "-W", "ignore", str(script), "--tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| `kernel_vjp(heat)` (then consumes the output cotangent) |" in result.stdout
    assert "| `kernel_vjp(heat, consume=False)` |" in result.stdout
    assert "| hand-written numba.cuda adjoint (local-array tape) |" in result.stdout
    assert "Jacobian `vmap(jacobian)` (cuda)" in result.stdout


def test_gpu_batch_fit_example_runs_on_the_device():
    """The example's batched derivative (a while loop per thread) on the device path."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "examples" / "gpu_batch_fit.py"
    spec = importlib.util.spec_from_file_location("gpu_batch_fit", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    vx, vy, c = np.array([15.0, 18.0, 22.0]), np.array([12.0, 10.0, 3.0]), np.array([0.01] * 3)
    batched = sourcead.vmap(sourcead.value_and_grad(example.landing, wrt=2), target="cuda")
    x, slope = batched(vx, vy, c)
    single = sourcead.value_and_grad(example.landing, wrt=2)
    for k in range(3):
        expected_x, expected_slope = single(vx[k], vy[k], c[k])
        assert x[k] == pytest.approx(expected_x, rel=1e-12)
        assert slope[k] == pytest.approx(expected_slope, rel=1e-10)


def solved(a, b):
    x = np.linalg.solve(a, b)
    return x[0] + x[1]


def test_a_primitive_without_cuda_implementation_is_refused_at_its_line():
    # the registry says which primitives device code may call (np.linalg: none)
    batched = sourcead.vmap(sourcead.grad(solved, wrt=1), target="cuda")
    a = np.stack([np.eye(2) * 2.0] * 3)
    with pytest.raises(sourcead.SourceADError, match=r"line \d+: .*np.linalg.solve has no CUDA"):
        batched(a, np.ones((3, 2)))
