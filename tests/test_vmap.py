"""vmap on the CPU: batched results equal a Python loop of the unbatched derivative."""

import math
import subprocess
import sys

import numpy as np
import pytest
from helpers import numerical_grad

import sourcead


def projectile(vx, vy, c):
    x = y = 0.0
    for _i in range(100):
        v = math.sqrt(vx * vx + vy * vy)
        x += 1e-2 * vx
        y += 1e-2 * vy
        vx -= 1e-2 * c * v * vx
        vy -= 1e-2 * (9.81 + c * v * vy)
    return (x - 3.0) ** 2 + y**2


def contraction(x, w):
    """A while loop whose trip count depends on the data, with nonlinear carried state."""
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


def two_values(a, b):
    return a * b, a + math.exp(b)


def scaled(x, a):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = a * x[i]
    return y


RNG = np.random.default_rng(7)


@pytest.mark.parametrize("target", ["cpu", "parallel"])
def test_vmap_grad_equals_loop_of_grad(target):
    vx, vy, c = RNG.uniform(5, 10, 40), RNG.uniform(5, 10, 40), RNG.uniform(0.01, 0.1, 40)
    dloss = sourcead.grad(projectile, wrt=(0, 1, 2))
    batched = sourcead.vmap(dloss, target=target)(vx, vy, c)
    looped = np.array([dloss(vx[i], vy[i], c[i]) for i in range(40)]).T
    assert len(batched) == 3 and all(b.shape == (40,) for b in batched)
    np.testing.assert_allclose(np.array(batched), looped, rtol=1e-12, atol=1e-12)


def test_vmap_while_loop_gradients_are_exact():
    xs, ws = RNG.uniform(0.5, 3.0, 30), RNG.uniform(0.6, 0.9, 30)
    gx, gw = sourcead.vmap(sourcead.grad(contraction, wrt=(0, 1)), target="parallel")(xs, ws)
    stable = [i for i in range(30) if _trips_stable(xs[i], ws[i])]
    assert len({_trips(xs[i], ws[i]) for i in stable}) > 2  # trip counts differ per element
    for i in stable[:6]:
        fd = numerical_grad(contraction, (xs[i], ws[i]), (0, 1))
        np.testing.assert_allclose([gx[i], gw[i]], fd, rtol=1e-7)


def _trips(x, w):
    n = 0
    while x > 0.1:
        x = x * w - 0.05 * math.sin(x)
        n += 1
    return n


def _trips_stable(x, w, h=0.01):
    """Same trip count near (x, w): finite differences there see a smooth function."""
    n = _trips(x, w)
    return all(_trips(x * (1 + a * h), w * (1 + b * h)) == n for a in (-1, 1) for b in (-1, 0, 1))


def test_in_axes_none_broadcasts_and_value_and_grad():
    vx, vy = RNG.uniform(5, 10, 12), RNG.uniform(5, 10, 12)
    f = sourcead.vmap(sourcead.value_and_grad(projectile, wrt=(0, 2)), in_axes=(0, 0, None))
    value, (gvx, gc) = f(vx, vy, 0.05)
    assert value.shape == gvx.shape == gc.shape == (12,)
    assert value[3] == pytest.approx(projectile(vx[3], vy[3], 0.05), rel=1e-13)
    ref = sourcead.grad(projectile, wrt=(0, 2))(vx[3], vy[3], 0.05)
    np.testing.assert_allclose([gvx[3], gc[3]], ref, rtol=1e-12)


def test_array_arguments_and_gradients():
    x, w = RNG.uniform(0.5, 1, (9, 4)), RNG.uniform(0.5, 1, 4)
    gx, gw = sourcead.vmap(sourcead.grad(weighted, wrt=(0, 1)), in_axes=(0, None))(x, w)
    assert gx.shape == (9, 4) and gw.shape == (9, 4)  # per-element gradient of w
    for i in (0, 8):
        np.testing.assert_allclose(gx[i], np.cos(x[i] * w) * w, rtol=1e-13)
        np.testing.assert_allclose(gw[i], np.cos(x[i] * w) * x[i], rtol=1e-13)


def test_plain_functions_scalar_tuple_and_array_results():
    a, b = RNG.uniform(size=6), RNG.uniform(size=6)
    p, s = sourcead.vmap(two_values)(a, b)
    np.testing.assert_allclose(p, a * b)
    np.testing.assert_allclose(s, a + np.exp(b))
    x = RNG.uniform(size=(6, 3))
    y = sourcead.vmap(scaled, in_axes=(0, None), target="parallel")(x, 2.0)
    np.testing.assert_allclose(y, 2.0 * x)
    np.testing.assert_allclose(
        sourcead.vmap(projectile)(a + 5, b + 5, a / 10)[2],
        projectile(a[2] + 5, b[2] + 5, a[2] / 10),
    )


def writes_its_argument(a, x):
    a[0] = a[0] * x
    return a[0] + a[1]


@pytest.mark.parametrize("target", ["cpu", "parallel"])
def test_a_function_writing_into_its_argument_leaves_the_input_alone(target):
    a, x = RNG.uniform(size=(4, 2)), RNG.uniform(size=4)
    given = a.copy()
    values = sourcead.vmap(writes_its_argument, target=target)(a, x)
    np.testing.assert_array_equal(a, given)
    expected = [writes_its_argument(row.copy(), s) for row, s in zip(a, x, strict=True)]
    np.testing.assert_allclose(values, expected)
    mapped = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target=target)
    _, slopes = mapped(writes_its_argument, (a, x), (np.ones_like(a), np.zeros(4)))
    np.testing.assert_array_equal(a, given)
    np.testing.assert_allclose(slopes, x + 1.0)


def test_writing_into_an_array_every_element_shares_is_refused():
    with pytest.raises(sourcead.SourceADError, match="every batch element shares") as error:
        sourcead.vmap(writes_its_argument, in_axes=(None, 0))
    assert error.value.lineno == writes_its_argument.__code__.co_firstlineno + 1
    # its gradient copies the array in each element: nothing is shared
    a, x = RNG.uniform(size=2), RNG.uniform(size=4)
    grads = sourcead.vmap(sourcead.grad(writes_its_argument, wrt=1), in_axes=(None, 0))(a, x)
    np.testing.assert_allclose(grads, np.full(4, a[0]))


def test_source_shows_the_batched_loop():
    f = sourcead.vmap(sourcead.grad(projectile, wrt=(0, 1)), target="parallel")
    source = f.source
    assert "def projectile_adjoint(" in source
    assert "numba.prange(" in source and "def projectile_adjoint_batched(" in source
    compile(source, "<generated>", "exec")


def test_bad_arguments_are_clear_errors():
    dloss = sourcead.grad(projectile, wrt=(0, 1, 2))
    with pytest.raises(ValueError, match="target"):
        sourcead.vmap(dloss, target="tpu")
    with pytest.raises(ValueError, match="in_axes"):
        sourcead.vmap(dloss, in_axes=(0, 1, 0))
    with pytest.raises(ValueError, match="3 arguments"):
        sourcead.vmap(dloss, in_axes=(0, 0))
    f = sourcead.vmap(dloss)
    with pytest.raises(ValueError, match="batch sizes differ"):
        f(np.ones(3), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="in_axes=None"):
        f(np.ones(3), 1.0, np.ones(3))
    with pytest.raises(TypeError, match="int"):
        sourcead.vmap(dloss)(np.ones(3, dtype=np.int64), np.ones(3), np.ones(3))


def polar(r, angles):
    """Two outputs from a scalar and an array: a Jacobian with a block per argument."""
    return r * math.cos(angles[0]) * angles[1], r * math.sin(angles[0]) + angles[1] ** 2


def test_vmap_jacobian_equals_loop_of_jacobian():
    r, angles = RNG.uniform(1, 2, 7), RNG.uniform(0.1, 1.0, (7, 2))
    jac = sourcead.jacobian(polar, wrt=(0, 1))
    batched = sourcead.vmap(jac, target="parallel")(r, angles)
    assert batched[0][0].shape == (7,) and batched[1][1].shape == (7, 2)
    for i in (0, 6):
        expected = jac(r[i], angles[i])
        for k in range(2):
            for j in range(2):
                np.testing.assert_allclose(batched[k][j][i], expected[k][j], rtol=1e-13)


def test_vmap_on_the_cpu_does_not_import_the_cuda_backend():
    # (the backend reads the whole rule registry and numba-cuda's pieces: a warm CPU vmap
    # served by the persistent cache needs none of it)
    script = (
        "import sys, sourcead\nsourcead.vmap\nprint('sourcead.backends.cuda.device' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
