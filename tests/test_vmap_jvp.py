"""vmap(jvp): Jacobian-vector products of a batch, on the CPU, its cores and the GPU."""

import math

import numpy as np
import pytest

import sourcead


def loss(vx, vy, c):
    x = y = 0.0
    for _i in range(30):
        v = math.sqrt(vx * vx + vy * vy)
        x += 0.05 * vx
        y += 0.05 * vy
        vx -= 0.05 * c * v * vx
        vy -= 0.05 * (9.81 + c * v * vy)
        if y < 0.0:
            break
    return (x - 3.0) ** 2 + y**2


def smoothed(x, w):
    return np.tanh(x * w) + 0.5 * x * x


def paired(x, y):
    return x * y, x + y


RNG = np.random.default_rng(3)
VX, VY, C = RNG.uniform(5, 8, 6), RNG.uniform(5, 8, 6), RNG.uniform(0.01, 0.1, 6)
D, E = RNG.normal(size=6), RNG.normal(size=6)
ONES = np.ones((6, 3))


@pytest.mark.parametrize("target", ["cpu", "parallel"])
def test_vmap_jvp_equals_a_loop_of_jvp(target):
    values, slopes = sourcead.vmap(sourcead.jvp, target=target)(loss, (VX, VY, C), (D, E, None))
    for i in range(6):
        value, slope = sourcead.jvp(loss, (VX[i], VY[i], C[i]), (D[i], E[i], None))
        assert values[i] == pytest.approx(value, rel=1e-14)
        assert slopes[i] == pytest.approx(slope, rel=1e-12, abs=1e-14)


def test_broadcast_primals_and_tangents():
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, (0, 0, None), (0, None, None)))
    values, slopes = mapped(loss, (VX, VY, 0.05), (D, 1.0, None))
    for i in range(6):
        value, slope = sourcead.jvp(loss, (VX[i], VY[i], 0.05), (D[i], 1.0, None))
        assert (values[i], slopes[i]) == pytest.approx((value, slope), rel=1e-12)
    assert "def loss_tangent_batched(" in mapped.source


def test_array_arguments_and_results():
    x, w = RNG.normal(size=(4, 5)), RNG.normal(size=5)
    dx = RNG.normal(size=(4, 5))
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, (0, None), (0, None)))
    values, slopes = mapped(smoothed, (x, w), (dx, None))
    assert values.shape == slopes.shape == (4, 5)
    np.testing.assert_allclose(values, np.tanh(x * w) + 0.5 * x * x, rtol=1e-14)
    expected = (w / np.cosh(x * w) ** 2 + x) * dx
    np.testing.assert_allclose(slopes, expected, rtol=1e-12)


def test_cuda_vmap_jvp_on_the_simulator_or_a_gpu():
    cuda = pytest.importorskip("numba.cuda")
    mapped = sourcead.vmap(sourcead.jvp, target="cuda")
    values, slopes = mapped(loss, (VX, VY, C), (D, E, None))
    reference = sourcead.vmap(sourcead.jvp)(loss, (VX, VY, C), (D, E, None))
    np.testing.assert_allclose(values, reference[0], rtol=1e-13)
    np.testing.assert_allclose(slopes, reference[1], rtol=1e-11)
    on_device = mapped(loss, (cuda.to_device(VX), VY, C), (D, E, None))
    assert not isinstance(on_device[1], np.ndarray)  # results stay on the device
    np.testing.assert_allclose(on_device[1].copy_to_host(), reference[1], rtol=1e-11)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda j: j(loss, (VX, VY, C), (None, None, None)), ValueError, "at least one tangent"),
        (lambda j: j(loss, (VX, VY, C), (D, E)), ValueError, "one tangent per argument"),
        (lambda j: j(loss, (VX, VY), (D, E)), TypeError, "takes 3 arguments"),
        (lambda j: j(loss, (VX, VY, C), (D[:4], E, None)), ValueError, "batch sizes differ"),
        (lambda j: j(smoothed, (ONES, ONES), (np.ones((6, 2)), None)), ValueError, "shape of its"),
        (lambda j: j(paired, (VX, VY), (D, E)), ValueError, "returning a float or an array"),
        (lambda j: j(loss, (VX, VY, 3), (D, E, 1.0)), ValueError, "not an array with a batch"),
        (lambda j: j.source, ValueError, "call it first"),
    ],
)
def test_bad_calls_are_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call(sourcead.vmap(sourcead.jvp))


def test_in_axes_must_leave_the_function_unbatched():
    with pytest.raises(ValueError, match="the function is not batched"):
        sourcead.vmap(sourcead.jvp, in_axes=(0, 0, 0))
    with pytest.raises(TypeError, match="cannot differentiate loss with respect to c"):
        mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, (0, 0, None), (0, 0, None)))
        mapped(loss, (VX, VY, 3), (D, E, 1.0))
