"""kernel_vjp: adjoint kernels checked against finite differences of the primal kernel."""

import math

import numpy as np
import pytest

import sourcead

cuda = pytest.importorskip("numba.cuda")


def saxpy_sin(a, x, y, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        out[i] = a * math.sin(x[i]) * y[i]


def neighbours(x, out):
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0] - 1:
        out[i] = x[i - 1] * x[i] + x[i + 1] ** 2


def per_thread_loop(x, w, out):
    i = cuda.grid(1)
    if i >= x.shape[0]:
        return
    s = x[i]
    n = 0
    while s > 0.1:
        s = s * w[0] - 0.05 * math.sin(s)
        n += 1
    out[i] = s * n + s * s


def heat(u, k, out):
    i, j = cuda.grid(2)
    n, m = u.shape
    if i >= 1 and i < n - 1 and j >= 1 and j < m - 1:
        lap = u[i + 1, j] + u[i - 1, j] + u[i, j + 1] + u[i, j - 1] - 4.0 * u[i, j]
        out[i, j] = u[i, j] + k[0] * lap


@cuda.jit(device=True)
def smooth(a, b):
    return math.tanh(a) * b + a * a


@cuda.jit
def rows(A, w, out):
    i = cuda.grid(1)
    if i < A.shape[0]:
        s = 0.0
        for j in range(A.shape[1]):
            s += smooth(A[i, j], w[j])
        out[i] = s


def in_place(x):
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] = 2.0 * x[i]


def cooperating(x, out):
    i = cuda.grid(1)
    cuda.syncthreads()
    out[i] = x[i]


RNG = np.random.default_rng(3)


def _fd_vjp(kernel, launch, args, k, cotangent, eps=1e-6, output=-1):
    """Finite-difference gradient of sum(cotangent * args[output]) wrt args[k]."""
    compiled = cuda.jit(kernel)

    def value(a):
        given = [np.array(g, copy=True) for g in args]  # the primal writes its outputs
        given[output] = np.zeros_like(given[output])
        given[k] = a
        compiled[launch](*given)
        return float((given[output] * cotangent).sum())

    base = args[k]
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        step = np.zeros_like(base)
        step[index] = eps
        grad[index] = (value(base + step) - value(base - step)) / (2 * eps)
    return grad


def test_own_index_adds_are_plain_and_gradients_exact():
    x, y = RNG.uniform(0.5, 1.5, 10), RNG.uniform(0.5, 1.5, 10)
    out, cot = np.zeros(10), RNG.normal(size=10)
    adjoint = sourcead.kernel_vjp(saxpy_sin, wrt=("x", "y", "out"))
    bx, by, bout = np.zeros(10), np.zeros(10), cot.copy()
    adjoint[1, 16](2.0, x, y, out, bx, by, bout)
    np.testing.assert_allclose(bx, cot * 2.0 * np.cos(x) * y, rtol=1e-13)
    np.testing.assert_allclose(by, cot * 2.0 * np.sin(x), rtol=1e-13)
    assert not bout.any()  # the cotangent of the output is consumed
    assert "cuda.atomic" not in adjoint.source and "b_x[i] +=" in adjoint.source
    assert not out.any()  # the adjoint leaves the primal arrays alone


def test_neighbour_reads_are_gathered_by_the_owning_threads():
    x, out, cot = RNG.uniform(0.5, 1.5, 12), np.zeros(12), RNG.normal(size=12)
    adjoint = sourcead.kernel_vjp(neighbours, wrt=("x", "out"))
    bx, bout = np.full(12, 0.5), cot.copy()  # input shadows accumulate onto what they hold
    adjoint[2, 8](x, out, bx, bout)
    expected = _fd_vjp(neighbours, (2, 8), (x, out), 0, cot)
    np.testing.assert_allclose(bx - 0.5, expected, rtol=1e-7, atol=1e-9)
    # the cotangents of the elements written are used up, the others left as they were
    np.testing.assert_array_equal(bout[1:-1], 0.0)
    assert bout[0] == cot[0] and bout[-1] == cot[-1]
    source = adjoint.source
    assert "reads x[grid_0]" in source and "b_x[grid_0] += b_x_element" in source
    # the reads no thread of the grid owns (here x[8], read by thread 7 of 8) are added
    # by the reading thread
    bx = np.zeros(12)
    adjoint[1, 8](x, out, bx, cot.copy())
    np.testing.assert_allclose(bx, _fd_vjp(neighbours, (1, 8), (x, out), 0, cot), atol=1e-9)
    assert bx[8] != 0.0


def scattered(x, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = math.sin(x[2 * i]) + x[i // 2] ** 2


def overwritten(x, out):
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0] - 1:
        out[i] = x[i + 1] * x[i]
        out[i] = 2.0 * x[i - 1] * x[i]


def two_outputs(x, out, other):
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0] - 1:
        out[i] = x[i + 1] * x[i - 1]
        other[i] = x[i - 1] ** 3


def block_weighted(x, out):
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0] - 1:
        out[i] = (x[i - 1] + x[i + 1]) * (1.0 + cuda.threadIdx.x)


@pytest.mark.parametrize(
    "kernel, sizes, launch, atomic",
    [
        (block_weighted, (12, 12), (3, 4), "cuda.atomic.add(b_x, i - 1,"),
        (scattered, (12, 6), (1, 8), "cuda.atomic.add(b_x, 2 * i,"),
        (overwritten, (10, 10), (1, 16), "cuda.atomic.add(b_x, i - 1,"),  # 2nd write wins
    ],
    ids=["other thread indices", "reads elsewhere", "an output written twice"],
)
def test_kernels_that_cannot_gather_keep_atomics(kernel, sizes, launch, atomic):
    """Other thread indices than cuda.grid, reads at other places than fixed offsets, and
    outputs written more than once: the reads' adjoints are added atomically."""
    x, out, cot = RNG.uniform(0.5, 1.5, sizes[0]), np.zeros(sizes[1]), RNG.normal(size=sizes[1])
    adjoint = sourcead.kernel_vjp(kernel, wrt=("x", "out"))
    bx = np.zeros(sizes[0])
    adjoint[launch](x, out, bx, cot.copy())
    np.testing.assert_allclose(bx, _fd_vjp(kernel, launch, (x, out), 0, cot), atol=1e-9)
    assert atomic in adjoint.source


def test_gathered_reads_with_an_output_left_out():
    x, cot = RNG.uniform(0.5, 1.5, 10), RNG.normal(size=10)
    out, other = np.zeros(10), np.zeros(10)
    adjoint = sourcead.kernel_vjp(two_outputs, wrt=("x", "out"))
    bx, bout = np.zeros(10), cot.copy()
    adjoint[3, 4](x, out, other, bx, bout)
    expected = _fd_vjp(two_outputs, (3, 4), (x, out, other), 0, cot, output=1)
    np.testing.assert_allclose(bx, expected, rtol=1e-7, atol=1e-9)
    assert not other.any() and not out.any()  # the primal arrays are left alone
    np.testing.assert_array_equal(bout[1:-1], 0.0)
    assert "reads x[grid_0]" in adjoint.source


def test_per_thread_while_loops_are_exact():
    x, w = RNG.uniform(0.4, 2.5, 9), np.array([0.7])
    out, cot = np.zeros(9), RNG.normal(size=9)
    adjoint = sourcead.kernel_vjp(per_thread_loop, wrt=("x", "w", "out"))
    bx, bw = np.zeros(9), np.zeros(1)
    adjoint[1, 16](x, w, out, bx, bw, cot.copy())
    np.testing.assert_allclose(
        bx, _fd_vjp(per_thread_loop, (1, 16), (x, w, out), 0, cot), rtol=1e-6
    )
    np.testing.assert_allclose(
        bw, _fd_vjp(per_thread_loop, (1, 16), (x, w, out), 1, cot), rtol=1e-6
    )
    # w[0] is shared by every thread: each sums its part and adds it once, not per iteration
    assert "b_w_part += " in adjoint.source
    assert adjoint.source.count("cuda.atomic.add(b_w,") == 1
    with pytest.raises(MemoryError, match="tape_memory"):
        small = sourcead.kernel_vjp(per_thread_loop, wrt=("x", "out"), tape_memory=8)
        small[1, 16](x, w, out, np.zeros(9), cot.copy())


def test_two_dimensional_heat_step():
    u, k = RNG.uniform(size=(7, 6)), np.array([0.15])
    out, cot = np.zeros((7, 6)), RNG.normal(size=(7, 6))
    adjoint = sourcead.kernel_vjp(heat, wrt=("u", "k", "out"))
    bu, bk = np.zeros((7, 6)), np.zeros(1)
    adjoint[(2, 2), (4, 4)](u, k, out, bu, bk, cot.copy())
    np.testing.assert_allclose(
        bu, _fd_vjp(heat, ((2, 2), (4, 4)), (u, k, out), 0, cot), rtol=1e-7, atol=1e-9
    )
    np.testing.assert_allclose(bk, _fd_vjp(heat, ((2, 2), (4, 4)), (u, k, out), 1, cot), rtol=1e-7)
    assert "grid_0, grid_1 = cuda.grid(2)" in adjoint.source


def test_device_function_calls_and_rows_owned_by_threads():
    A, w = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    out, cot = np.zeros(5), RNG.normal(size=5)
    adjoint = sourcead.kernel_vjp(rows, wrt=("A", "w", "out"))
    bA, bw = np.zeros_like(A), np.zeros(3)
    adjoint[1, 8](A, w, out, bA, bw, cot.copy())
    np.testing.assert_allclose(bA, cot[:, None] * ((1 - np.tanh(A) ** 2) * w + 2 * A), rtol=1e-13)
    np.testing.assert_allclose(bw, (cot[:, None] * np.tanh(A)).sum(0), rtol=1e-13)
    # row i belongs to thread i: plain adds; w is shared by all threads: atomics
    assert "b_A[i, j] +=" in adjoint.source.replace("(i, j)", "i, j")
    assert "cuda.atomic.add(b_w, j," in adjoint.source


def test_kernels_outside_the_rules_are_refused_with_their_line():
    with pytest.raises(sourcead.SourceADError, match="reads and writes the array x") as error:
        sourcead.kernel_vjp(in_place, wrt=("x",))
    assert error.value.lineno == in_place.__code__.co_firstlineno + 3
    with pytest.raises(sourcead.SourceADError, match="syncthreads"):
        sourcead.kernel_vjp(cooperating, wrt=("x", "out"))
    with pytest.raises(sourcead.SourceADError, match="writes"):
        sourcead.kernel_vjp(saxpy_sin, wrt=("x",))
    adjoint = sourcead.kernel_vjp(saxpy_sin, wrt=("a", "out"))
    with pytest.raises(sourcead.SourceADError, match="float arrays only"):
        adjoint[1, 4](2.0, np.ones(4), np.ones(4), np.ones(4), np.ones(4), np.ones(4))
    with pytest.raises(TypeError, match="shadow"):
        sourcead.kernel_vjp(saxpy_sin, wrt=("x", "out"))[1, 4](
            2.0, np.ones(4), np.ones(4), np.ones(4)
        )


@pytest.mark.parametrize("kernel", [neighbours, saxpy_sin], ids=["gathered", "plain adds"])
def test_consume_false_leaves_the_output_cotangent(kernel):
    n = 10
    x, y, cot = RNG.uniform(0.5, 1.5, n), RNG.uniform(0.5, 1.5, n), RNG.normal(size=n)
    args = (x, np.zeros(n)) if kernel is neighbours else (2.0, x, y, np.zeros(n))
    wrt = ("x", "out")
    consumed, kept = np.zeros(n), np.zeros(n)
    cot_consumed, cot_kept = cot.copy(), cot.copy()
    sourcead.kernel_vjp(kernel, wrt=wrt)[1, 16](*args, consumed, cot_consumed)
    sourcead.kernel_vjp(kernel, wrt=wrt, consume=False)[1, 16](*args, kept, cot_kept)
    np.testing.assert_array_equal(kept, consumed)
    np.testing.assert_array_equal(cot_kept, cot)  # left as it came
    assert not np.array_equal(cot_consumed, cot)
    on_device = cuda.to_device(cot)  # device shadows too
    sourcead.kernel_vjp(kernel, wrt=wrt, consume=False)[1, 16](*args, np.zeros(n), on_device)
    np.testing.assert_array_equal(on_device.copy_to_host(), cot)
