"""host_grad: host code launching kernels in a time-stepping loop, checked by finite differences."""

import math

import numba
import numpy as np
import pytest

import sourcead

cuda = pytest.importorskip("numba.cuda")


@sourcead.differentiable
def step(u, k, out):
    i, j = cuda.grid(2)
    n, m = u.shape
    if i >= 1 and i < n - 1 and j >= 1 and j < m - 1:
        lap = u[i + 1, j] + u[i - 1, j] + u[i, j + 1] + u[i, j - 1] - 4.0 * u[i, j]
        out[i, j] = u[i, j] + k[0] * lap * u[i, j]


@sourcead.differentiable
def energy(u, loss):
    if cuda.grid(1) == 0:
        s = 0.0
        for i in range(u.shape[0]):
            for j in range(u.shape[1]):
                s += math.sin(u[i, j]) * (i + 1)
        loss[0] = s


def simulate(u, k, scratch, loss, steps):
    for _step in range(steps):
        step[(1, 1), (8, 8)](u, k, scratch)
        u, scratch = scratch, u  # the arrays trade places: each is overwritten in turn
    energy[1, 1](u, loss)
    return loss


def simulate_checkpointed(u, k, scratch, loss, steps, snapshots):
    for _step in sourcead.checkpointed(range(steps), snapshots=snapshots):
        step[(1, 1), (8, 8)](u, k, scratch)
        u, scratch = scratch, u
    energy[1, 1](u, loss)
    return loss


def simulate_in_memory(u, k, scratch, loss, steps, memory):
    for _step in sourcead.checkpointed(range(steps), memory=memory):
        step[(1, 1), (8, 8)](u, k, scratch)
        u, scratch = scratch, u
    energy[1, 1](u, loss)
    return loss


def stops_early(u, k, scratch, loss, steps):
    for t in sourcead.checkpointed(range(steps), snapshots=2):
        if t == 3:
            break
        step[(1, 1), (8, 8)](u, k, scratch)
        u, scratch = scratch, u
    energy[1, 1](u, loss)  # after the loop: recorded on its own
    step[(1, 1), (8, 8)](u, k, scratch)
    energy[1, 1](scratch, loss)
    return loss


@sourcead.differentiable
def weighted_step(u, k, out):
    i, j = cuda.grid(2)
    n, m = u.shape
    if i >= 1 and i < n - 1 and j >= 1 and j < m - 1:
        around = cuda.local.array(4, numba.float64)  # a thread's own small array
        around[0] = u[i + 1, j]
        around[1] = u[i - 1, j]
        around[2] = u[i, j + 1]
        around[3] = u[i, j - 1]
        s = 0.0
        for q in range(4):
            s += math.tanh(around[q] - u[i, j])
        out[i, j] = u[i, j] + k[0] * s


def simulate_with_local_arrays(u, k, scratch, loss, steps):
    for _step in sourcead.checkpointed(range(steps), snapshots=2):
        weighted_step[(1, 1), (8, 8)](u, k, scratch)
        u, scratch = scratch, u
    energy[1, 1](u, loss)
    return loss


def nested(u, k, scratch, loss):
    for _outer in sourcead.checkpointed(range(2), snapshots=1):
        for _inner in sourcead.checkpointed(range(2), snapshots=1):
            step[(1, 1), (8, 8)](u, k, scratch)
    return loss


def copies_on_device(u, k, scratch, loss):
    scratch.copy_to_device(u)
    energy[1, 1](scratch, loss)
    return loss


@cuda.jit
def plain(u, out):
    i = cuda.grid(1)
    out[i] = u[i]


def unrecorded(u, out):
    plain[1, 4](u, out)
    return out


def reads_on_host(u, loss):
    energy[1, 1](u, loss)
    return cuda.to_device(loss.copy_to_host() * 2)


def in_place(x):
    i = cuda.grid(1)
    x[i] = 2.0 * x[i]


def _run(u, k, steps=3):
    arrays = (u, k, np.zeros(u.shape), np.zeros(1))
    return simulate(*(cuda.to_device(a) for a in arrays), steps).copy_to_host()[0]


@pytest.mark.slow  # minutes of compiling on the simulator: CI runs it (-m slow)
def test_time_stepping_gradient_is_exact_and_inputs_are_restored():
    rng = np.random.default_rng(5)
    u0, k0 = rng.uniform(size=(6, 5)), np.array([0.1])
    du, dk = cuda.to_device(u0), cuda.to_device(k0)
    gradient = sourcead.host_grad(simulate, wrt=(0, 1), preserve_result=True)
    value, (gu, gk) = gradient(
        du, dk, cuda.to_device(np.zeros((6, 5))), cuda.to_device(np.zeros(1)), 3
    )
    assert value == pytest.approx(_run(u0, k0), rel=1e-14)
    np.testing.assert_array_equal(du.copy_to_host(), u0)  # overwritten in step 1, restored
    eps = 1e-6
    fd = np.zeros_like(u0)
    for index in np.ndindex(u0.shape):
        e = np.zeros_like(u0)
        e[index] = eps
        fd[index] = (_run(u0 + e, k0) - _run(u0 - e, k0)) / (2 * eps)
    np.testing.assert_allclose(gu.copy_to_host(), fd, rtol=1e-7, atol=1e-9)
    fd_k = (_run(u0, k0 + eps) - _run(u0, k0 - eps)) / (2 * eps)
    np.testing.assert_allclose(gk.copy_to_host(), [fd_k], rtol=1e-7)


def _device_arguments(u0, k0):
    arrays = (u0, k0, np.zeros(u0.shape), np.zeros(1))
    return [cuda.to_device(a) for a in arrays]


@pytest.mark.slow  # minutes of compiling on the simulator: CI runs it (-m slow)
@pytest.mark.parametrize("steps, snapshots", [(7, 2), (6, 3), (5, 5), (4, 1), (1, 3)])
def test_checkpointed_host_loops_give_the_recorded_gradient_in_less_memory(
    steps, snapshots, monkeypatch
):
    rng = np.random.default_rng(8)
    u0, k0 = rng.uniform(size=(6, 5)), np.array([0.1])
    expected = sourcead.host_grad(simulate, wrt=(0, 1), preserve_result=True)(
        *_device_arguments(u0, k0), steps
    )
    from sourcead.api import host

    copies = []
    original = host.device_copy
    monkeypatch.setattr(host, "device_copy", lambda a: copies.append(a) or original(a))
    recording = []
    monkeypatch.setattr(host, "_Launch", _counting(host._Launch, copies, recording))
    arguments = _device_arguments(u0, k0)
    value, (gu, gk) = sourcead.host_grad(simulate_checkpointed, wrt=(0, 1), preserve_result=True)(
        *arguments, steps, snapshots
    )
    assert value == expected[0]
    np.testing.assert_allclose(gu.copy_to_host(), expected[1][0].copy_to_host(), rtol=1e-14)
    np.testing.assert_allclose(gk.copy_to_host(), expected[1][1].copy_to_host(), rtol=1e-14)
    np.testing.assert_array_equal(arguments[0].copy_to_host(), u0)  # restored
    # while recording: one copy per array a segment writes (u and scratch take turns),
    # not one per launch; the energy launch after the loop writes loss
    segments = math.ceil(steps / math.ceil(steps / snapshots))
    assert recording[0] == min(steps, 2 * segments) + 1


def _counting(launch_class, copies, recording):
    """A _Launch that notes how many copies existed when the first one was made (the end of
    the recording: the launch after the loop)."""

    class Counting(launch_class):
        def __init__(self, *args):
            if not recording:
                recording.append(len(copies) + 1)
            super().__init__(*args)

    return Counting


@pytest.mark.slow  # minutes of compiling on the simulator: CI runs it (-m slow)
def test_checkpointed_host_loops_with_memory_and_break():
    rng = np.random.default_rng(9)
    u0, k0 = rng.uniform(size=(6, 5)), np.array([0.2])
    expected = sourcead.host_grad(simulate, wrt=(0, 1))(*_device_arguments(u0, k0), 9)
    one_grid = u0.nbytes
    for memory in (1, 3 * one_grid, 100 * one_grid):
        gu, gk = sourcead.host_grad(simulate_in_memory, wrt=(0, 1))(
            *_device_arguments(u0, k0), 9, memory
        )
        np.testing.assert_allclose(gu.copy_to_host(), expected[0].copy_to_host(), rtol=1e-14)
        np.testing.assert_allclose(gk.copy_to_host(), expected[1].copy_to_host(), rtol=1e-14)
    # a loop left early: the launches after it are recorded on their own
    gu, gk = sourcead.host_grad(stops_early, wrt=(0, 1))(*_device_arguments(u0, k0), 6)
    eps, fd = 1e-6, np.zeros_like(u0)

    def run(u, k):
        return stops_early(*_device_arguments(u, k), 6).copy_to_host()[0]

    for index in [(2, 2), (3, 1), (0, 0)]:
        e = np.zeros_like(u0)
        e[index] = eps
        fd[index] = (run(u0 + e, k0) - run(u0 - e, k0)) / (2 * eps)
        assert gu.copy_to_host()[index] == pytest.approx(fd[index], rel=1e-6, abs=1e-9)
    fd_k = (run(u0, k0 + eps) - run(u0, k0 - eps)) / (2 * eps)
    assert gk.copy_to_host()[0] == pytest.approx(fd_k, rel=1e-6)


def test_host_loop_of_a_kernel_with_a_local_array():
    rng = np.random.default_rng(10)
    u0, k0 = rng.uniform(size=(6, 5)), np.array([0.3])
    gu, gk = sourcead.host_grad(simulate_with_local_arrays, wrt=(0, 1))(
        *_device_arguments(u0, k0), 4
    )

    def run(u, k):
        return simulate_with_local_arrays(*_device_arguments(u, k), 4).copy_to_host()[0]

    eps = 1e-6
    for index in [(2, 2), (1, 3), (4, 1)]:
        e = np.zeros_like(u0)
        e[index] = eps
        fd = (run(u0 + e, k0) - run(u0 - e, k0)) / (2 * eps)
        assert gu.copy_to_host()[index] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    fd_k = (run(u0, k0 + eps) - run(u0, k0 - eps)) / (2 * eps)
    assert gk.copy_to_host()[0] == pytest.approx(fd_k, rel=1e-6)


def test_host_code_the_recording_cannot_see_is_refused():
    with pytest.raises(sourcead.SourceADError, match="not sourcead.differentiable"):
        sourcead.host_grad(unrecorded)
    with pytest.raises(sourcead.SourceADError, match="copies device values to the host"):
        sourcead.host_grad(reads_on_host)
    with pytest.raises(sourcead.SourceADError, match="reads and writes the array x"):
        sourcead.differentiable(in_place)
    with pytest.raises(TypeError, match="device array"):
        sourcead.host_grad(simulate)(np.ones((6, 5)), np.ones(1), np.ones((6, 5)), np.ones(1), 1)
    with pytest.raises(sourcead.SourceADError, match="copies into a device array") as error:
        sourcead.host_grad(copies_on_device)
    assert error.value.lineno == copies_on_device.__code__.co_firstlineno + 1
    with pytest.raises(sourcead.SourceADError, match="inside another one") as error:
        sourcead.host_grad(nested)
    assert error.value.lineno == nested.__code__.co_firstlineno + 2
