"""host_grad: host code launching kernels in a time-stepping loop, checked by finite differences."""

import math

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


def test_host_code_the_recording_cannot_see_is_refused():
    with pytest.raises(sourcead.SourceADError, match="not sourcead.differentiable"):
        sourcead.host_grad(unrecorded)
    with pytest.raises(sourcead.SourceADError, match="copies device values to the host"):
        sourcead.host_grad(reads_on_host)
    with pytest.raises(sourcead.SourceADError, match="reads and writes the array x"):
        sourcead.differentiable(in_place)
    with pytest.raises(TypeError, match="device array"):
        sourcead.host_grad(simulate)(np.ones((6, 5)), np.ones(1), np.ones((6, 5)), np.ones(1), 1)
