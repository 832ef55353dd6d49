"""Local arrays in device code: np.zeros(4) in vmap'd functions, cuda.local.array in kernels.

Gradients on the device (numba-cuda's simulator in CI) are checked against sourcead's CPU
gradient of each batch element and, for kernels, against finite differences of the primal
kernel run by numba-cuda itself.
"""

import math

import numba
import numpy as np
import pytest
from numba import float64

import sourcead

cuda = pytest.importorskip("numba.cuda")

K = 4
RNG = np.random.default_rng(17)


# --- element functions for vmap ------------------------------------------------------------
def moments(x, y):
    buf = np.zeros(4)
    m = np.ones((2, K - 1))
    for j in range(4):
        buf[j] = math.sin(x * j)
    for a in range(2):
        for b in range(K - 1):
            m[a, b] = m[a, b] * buf[a + b] * y
    s = 0.0
    for j in range(4):
        buf[j] = buf[j] * buf[j] + y + m[j % 2, j % 3]  # overwritten: its old value taped
        s += buf[j] * x
    return s + len(buf) + buf.shape[0]


def in_branch(x, y):
    s = x * y
    if x > 0.5:
        acc = np.empty(3)
        for j in range(3):
            acc[j] = math.exp(-x * j) * y
        s = acc[0] + acc[1] * acc[2]
    return s * x


def derived(x):
    a = np.zeros(3)
    b = np.ones_like(a)
    for j in range(3):
        a[j] = x ** (j + 1)
        b[j] = b[j] + a[j] * a[j]
    return a[2] * b[1] - b[0]


def prefix_sums(x, w):
    y = np.zeros_like(x)  # sized by the row of x each thread takes
    z = np.empty(x.shape[0] + 1)
    c = np.zeros(K + 1)
    for i in range(x.shape[0]):
        y[i] = math.sin(x[i] * w)
    z[0] = 0.0
    for i in range(len(x)):
        z[i + 1] = z[i] + y[i] * y[i]
    for j in range(K + 1):
        c[j] = z[j % (x.shape[0] + 1)] * j
    return z[x.shape[0]] * w + c[K]


def helper_with_a_local_array(x, y):
    t = np.zeros(3)
    for j in range(3):
        t[j] = math.sin(x * (j + 1)) + y
    return t[0] * t[1] - t[2]


def calls_a_helper(x, y):
    s = 0.0
    for k in range(3):  # a device function with a local array, called in a loop
        s += helper_with_a_local_array(x * k, y)
    return s * x


ELEMENTS = [(moments, 2), (in_branch, 2), (derived, 1), (calls_a_helper, 2)]


def _arguments(count, n=6):
    return [RNG.uniform(0.2, 1.2, n) for _ in range(count)]


@pytest.mark.parametrize("fun, count", ELEMENTS, ids=[f.__name__ for f, _ in ELEMENTS])
def test_vmap_grad_with_local_arrays_matches_each_element(fun, count):
    args = _arguments(count)
    wrt = tuple(range(count))
    on_device = sourcead.vmap(sourcead.grad(fun, wrt=wrt), target="cuda")(*args)
    cpu = sourcead.grad(fun, wrt=wrt)
    expected = np.array([cpu(*element) for element in zip(*args, strict=True)]).reshape(-1, count)
    got = np.stack(on_device if isinstance(on_device, tuple) else [on_device], axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fun, count", ELEMENTS, ids=[f.__name__ for f, _ in ELEMENTS])
def test_vmap_value_and_jvp_with_local_arrays(fun, count):
    args = _arguments(count)
    values = sourcead.vmap(fun, target="cuda")(*args)
    np.testing.assert_allclose(values, [fun(*e) for e in zip(*args, strict=True)], rtol=1e-14)
    directions = _arguments(count)
    batched = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    _, tangents = batched(fun, tuple(args), tuple(directions))
    for k, element in enumerate(zip(*args, strict=True)):
        direction = tuple(d[k] for d in directions)
        np.testing.assert_allclose(
            tangents[k], sourcead.jvp(fun, element, direction)[1], rtol=1e-13, atol=1e-15
        )


def pair(x, y):
    buf = np.zeros(3)
    for j in range(3):
        buf[j] = math.sin(x * (j + 1)) * y
    return buf[0] * buf[1], buf[2] + x


def test_vmap_jacobian_with_a_local_array():
    x, y = _arguments(2)
    on_device = sourcead.vmap(sourcead.jacobian(pair, wrt=(0, 1)), target="cuda")(x, y)
    on_cpu = sourcead.vmap(sourcead.jacobian(pair, wrt=(0, 1)), target="cpu")(x, y)
    for got, expected in zip(on_device, on_cpu, strict=True):
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)


def test_local_arrays_sized_by_an_argument_are_compiled_per_shape():
    batched = sourcead.vmap(sourcead.grad(prefix_sums, wrt=(0, 1)), target="cuda")
    with pytest.raises(ValueError, match="call it first"):
        _ = batched.source
    cpu = sourcead.grad(prefix_sums, wrt=(0, 1))
    for row in (3, 6):
        x, w = RNG.uniform(0.2, 1.2, (5, row)), RNG.uniform(0.2, 1.2, 5)
        gx, gw = batched(x, w)
        for k in range(5):
            expected = cpu(x[k], w[k])
            np.testing.assert_allclose(gx[k], expected[0], rtol=1e-13)
            np.testing.assert_allclose(gw[k], expected[1], rtol=1e-13)
        source = batched.source
        assert f"y = cuda.local.array({row}, numba.float64)" in source
        assert f"z = cuda.local.array({row + 1}, numba.float64)" in source
        assert f"c = cuda.local.array({K + 1}, numba.float64)" in source
    x, w = RNG.uniform(0.2, 1.2, (4, 3)), RNG.uniform(0.2, 1.2, 4)
    values = sourcead.vmap(prefix_sums, target="cuda")(x, w)
    np.testing.assert_allclose(values, [prefix_sums(a, b) for a, b in zip(x, w, strict=True)])
    batched_jvp = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    dx = RNG.normal(size=x.shape)
    _, tangents = batched_jvp(prefix_sums, (x, w), (dx, np.zeros(4)))
    for k in range(4):
        expected = sourcead.jvp(prefix_sums, (x[k], w[k]), (dx[k], 0.0))[1]
        np.testing.assert_allclose(tangents[k], expected, rtol=1e-13)


def test_generated_device_code_reserves_local_arrays():
    args = _arguments(2, n=2)
    batched = sourcead.vmap(sourcead.grad(moments, wrt=(0, 1)), target="cuda")
    batched(*args)
    source = batched.source
    assert "buf = cuda.local.array(4, numba.float64)" in source
    assert "m = cuda.local.array((2, 3), numba.float64)" in source
    assert "b_buf = cuda.local.array(4, numba.float64)" in source
    assert "np.zeros" not in source and "np.ones" not in source


# --- writes into arguments and copies: local arrays of the row's shape ----------------------
def updates_its_row(x, w):
    x[0] = x[0] * w  # the derivatives copy x first; on the GPU, into a local array
    s = 0.0
    for i in range(x.shape[0]):
        x[i] = math.sin(x[i]) * w
        s += x[i] * x[i]
    return s


def updates_its_matrix(m, w):
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            m[i, j] = math.sin(m[i, j] * w) + m[i, j - 1]
    return m[0, 0] * m[m.shape[0] - 1, m.shape[1] - 1] + w


def copies_its_rows(x, c):
    y = x.copy()
    z = c.copy()  # c is shared by every element (in_axes None)
    for i in range(1, y.shape[0]):
        y[i] = y[i - 1] * z[i % z.shape[0]] + math.cos(y[i])
    return y[y.shape[0] - 1] * y[0]


def overwrites_an_element_it_read(x, a):
    s = a[0] * x
    a[0] = x * x  # its adjoint reads b_a[0], with what the return added to it, and zeroes it
    return s + a[0] * 2.0 + a[1]


def copied_then_used_whole(x):
    y = x.copy()
    y[0] = 2.0 * y[0]
    return np.sum(y)


def _elementwise(batched, cpu, args, in_axes):
    """The batched results against the CPU's, element by element."""
    for k in range(len(args[0])):
        element = [a[k] if axis == 0 else a for a, axis in zip(args, in_axes, strict=True)]
        expected = cpu(*element)
        got = [g[k] for g in batched] if isinstance(expected, tuple) else batched[k]
        flat = [np.concatenate([np.ravel(g) for g in v]) for v in (got, expected)]
        np.testing.assert_allclose(*flat, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("row", [3, 5])
def test_functions_writing_into_their_rows_run_on_the_gpu(row):
    x, w = RNG.uniform(0.2, 1.2, (6, row)), RNG.uniform(0.5, 1.5, 6)
    dx = cuda.to_device(x)
    grad = sourcead.grad(updates_its_row, wrt=(0, 1))
    _elementwise(sourcead.vmap(grad, target="cuda")(dx, w), grad, (x, w), (0, 0))
    np.testing.assert_array_equal(dx.copy_to_host(), x)  # the caller's rows are unchanged
    source = sourcead.vmap(grad, target="cuda")
    source(x, w)
    assert f"    x = cuda.local.array({row}, numba.float64)" in source.source
    assert "x.copy()" not in source.source
    jac = sourcead.jacobian(updates_its_row, wrt=(0, 1))
    _elementwise(sourcead.vmap(jac, target="cuda")(x, w), jac, (x, w), (0, 0))
    batched_jvp = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    dw = RNG.normal(size=6)
    _, tangents = batched_jvp(updates_its_row, (dx, w), (x, dw))
    np.testing.assert_array_equal(dx.copy_to_host(), x)
    for k in range(6):
        expected = sourcead.jvp(updates_its_row, (x[k], w[k]), (x[k], dw[k]))[1]
        np.testing.assert_allclose(tangents.copy_to_host()[k], expected, rtol=1e-13)


def test_an_element_written_after_it_is_read_gets_its_gradient():
    """Constant-index adjoints of an array the function writes into are not summed aside
    (found by fuzzing: a part added at the end missed the zeroing of the write's adjoint)."""
    x, a = RNG.uniform(0.2, 1.2, 5), RNG.uniform(0.2, 1.2, (5, 2))
    grad = sourcead.grad(overwrites_an_element_it_read, wrt=(0, 1))
    _elementwise(sourcead.vmap(grad, target="cuda")(x, a), grad, (x, a), (0, 0))


def test_functions_writing_into_2d_rows_run_on_the_gpu():
    m, w = RNG.uniform(size=(4, 2, 3)), RNG.uniform(0.5, 1.5, 4)
    grad = sourcead.grad(updates_its_matrix, wrt=(0, 1))
    batched = sourcead.vmap(grad, target="cuda")
    _elementwise(batched(m, w), grad, (m, w), (0, 0))
    assert "m = cuda.local.array((2, 3), numba.float64)" in batched.source
    batched_jvp = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, 0), target="cuda")
    _, tangents = batched_jvp(updates_its_matrix, (m, w), (np.ones_like(m), np.zeros(4)))
    for k in range(4):
        direction = (np.ones((2, 3)), 0.0)
        expected = sourcead.jvp(updates_its_matrix, (m[k], w[k]), direction)[1]
        np.testing.assert_allclose(tangents[k], expected, rtol=1e-13)


def test_copies_of_rows_and_of_shared_arrays_are_local_arrays():
    x, c = RNG.uniform(0.2, 0.9, (5, 4)), RNG.uniform(0.5, 0.9, 3)
    grad = sourcead.grad(copies_its_rows, wrt=(0, 1))
    batched = sourcead.vmap(grad, in_axes=(0, None), target="cuda")
    _elementwise(batched(x, c), grad, (x, c), (0, None))
    assert "y = cuda.local.array(4, numba.float64)" in batched.source
    assert "z = cuda.local.array(3, numba.float64)" in batched.source
    values = sourcead.vmap(copies_its_rows, in_axes=(0, None), target="cuda")(x, c)
    np.testing.assert_allclose(values, [copies_its_rows(row, c) for row in x], rtol=1e-14)


def test_a_copy_used_whole_is_refused_with_the_line():
    batched = sourcead.vmap(sourcead.grad(copied_then_used_whole), target="cuda")
    with pytest.raises(sourcead.SourceADError, match="whole") as error:
        batched(RNG.uniform(size=(3, 4)))
    assert error.value.filename.endswith("test_cuda_local_arrays.py")
    # the line of the statement that uses it whole, not the def
    assert error.value.lineno == copied_then_used_whole.__code__.co_firstlineno + 3


# --- kernels with cuda.local.array -----------------------------------------------------------
def smooth(x, w, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        buf = cuda.local.array(K, float64)
        for j in range(K):
            buf[j] = math.sin(x[i] * (j + 1)) * w[j]
        s = 0.0
        for j in range(K):
            buf[j] = buf[j] * buf[j] + s
            s += buf[j]
        out[i] = s * x[i]


def powers(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        m = cuda.local.array((2, 3), numba.float64)
        for a in range(2):
            for b in range(3):
                m[a, b] = x[i] ** (a + b)
        out[i] = m[0, 1] * m[1, 2] - m[1, 0] / (1.0 + m[0, 2])


def numpy_dtype(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        pair = cuda.local.array(shape=2, dtype=np.float64)
        pair[0] = math.cos(x[i])
        pair[1] = pair[0] * x[i]
        out[i] = pair[1] * pair[1]


def stencil_through_a_local_array(x, out):
    # a stencil read through a local array: not gathered (its writes are not outputs)
    i = cuda.grid(1)
    if i >= 1 and i < x.shape[0] - 1:
        around = cuda.local.array(3, numba.float64)
        around[0] = x[i - 1]
        around[1] = x[i]
        around[2] = x[i + 1]
        out[i] = around[0] * around[1] + math.sin(around[2])


def while_into_a_local_array(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        acc = cuda.local.array(3, float64)
        for j in range(3):
            acc[j] = 0.0
        v = x[i]
        n = 0
        while v > 0.05 and n < 20:  # a trip count of the thread's own
            acc[n % 3] += v * (n + 1)
            v = v * 0.7
            n += 1
        out[i] = acc[0] * acc[1] + acc[2] * acc[2]


def integer_indices(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        idx = cuda.local.array(2, numba.int64)
        idx[0] = (i + 1) % x.shape[0]
        idx[1] = (i + 2) % x.shape[0]
        values = cuda.local.array(2, float64)
        values[0] = x[idx[0]]
        values[1] = x[idx[1]]
        out[i] = values[0] * values[1] * x[i]


def _fd_vjp(kernel, launch, args, k, cotangent, output, eps=1e-6):
    """Finite-difference gradient of sum(cotangent * args[output]) wrt args[k]."""
    compiled = cuda.jit(kernel)

    def value(a):
        given = [np.array(g, copy=True) for g in args]
        given[output] = np.zeros_like(given[output])
        given[k] = a
        compiled[launch](*given)
        return float((given[output] * cotangent).sum())

    grad = np.zeros_like(args[k])
    for index in np.ndindex(grad.shape):
        step = np.zeros_like(args[k])
        step[index] = eps
        grad[index] = (value(args[k] + step) - value(args[k] - step)) / (2 * eps)
    return grad


def test_kernel_with_a_local_array_and_a_shared_weight():
    n = 9
    x, w, cot = RNG.uniform(0.2, 1.0, n), RNG.uniform(0.5, 1.5, K), RNG.normal(size=n)
    adjoint = sourcead.kernel_vjp(smooth, wrt=("x", "w", "out"))
    bx, bw, bout = np.zeros(n), np.zeros(K), cot.copy()
    adjoint[2, 8](x, w, np.zeros(n), bx, bw, bout)
    args = (x, w, np.zeros(n))
    np.testing.assert_allclose(bx, _fd_vjp(smooth, (2, 8), args, 0, cot, 2), rtol=1e-6)
    np.testing.assert_allclose(bw, _fd_vjp(smooth, (2, 8), args, 1, cot, 2), rtol=1e-6)
    assert "b_buf = cuda.local.array(4, numba.float64)" in adjoint.source
    assert not bout.any()


@pytest.mark.parametrize(
    "kernel",
    [powers, numpy_dtype, stencil_through_a_local_array, while_into_a_local_array, integer_indices],
)
def test_kernel_local_array_shapes_and_dtypes(kernel):
    n = 7
    x, cot = RNG.uniform(0.2, 1.0, n), RNG.normal(size=n)
    adjoint = sourcead.kernel_vjp(kernel, wrt=("x", "out"))
    bx = np.zeros(n)
    adjoint[1, 8](x, np.zeros(n), bx, cot.copy())
    np.testing.assert_allclose(bx, _fd_vjp(kernel, (1, 8), (x, np.zeros(n)), 0, cot, 1), rtol=1e-6)
    assert "cuda.local.array(" in adjoint.source


# --- refused ahead of time, at the user's line ------------------------------------------------
def runtime_shape(x, n):
    buf = np.zeros(n)
    buf[0] = x
    return buf[0] * x


def negative_size(x):
    buf = np.zeros(K - 10)
    return x * len(buf)


def allocated_in_a_loop(x):
    s = 0.0
    for k in range(3):
        buf = np.zeros(2)
        buf[0] = x * k
        s += buf[0]
    return s


def used_whole(x):
    buf = np.zeros(3)
    buf[0] = x
    return np.sum(buf) * x


def helper(a):
    return a[0]


def passed_to_a_function(x):
    buf = np.zeros(3)
    buf[0] = x
    return helper(buf) * x


def sliced(x):
    buf = np.zeros(3)
    buf[0] = x
    buf[1:] = 2.0
    return buf[1] * x


def whole_in_kernel(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        buf = cuda.local.array(2, float64)
        buf[0] = x[i]
        buf[1] = x[i]
        out[i] = np.sum(buf)


def unknown_dtype(x, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        buf = cuda.local.array(2, "no such type")
        buf[0] = x[i]
        out[i] = buf[0]


@pytest.mark.parametrize(
    "fun, args, message, line",
    [
        (runtime_shape, (np.ones(3), 2), "must be a constant", 1),
        (negative_size, (np.ones(3),), "no negative size", 1),
        (allocated_in_a_loop, (np.ones(3),), "bound once, outside loops", 3),
        (used_whole, (np.ones(3),), "used whole", 3),
        (passed_to_a_function, (np.ones(3),), "used whole", 3),
        (sliced, (np.ones(3),), "used whole", 3),
    ],
    ids=lambda v: getattr(v, "__name__", None) if callable(v) else None,
)
def test_local_arrays_outside_the_rules_are_refused_with_the_line(fun, args, message, line):
    in_axes = tuple(0 if isinstance(a, np.ndarray) else None for a in args)
    batched = sourcead.vmap(sourcead.grad(fun), in_axes=in_axes, target="cuda")
    with pytest.raises(sourcead.SourceADError, match=message) as error:
        batched(*args)
    assert error.value.filename.endswith("test_cuda_local_arrays.py")
    assert error.value.lineno == fun.__code__.co_firstlineno + line
    # on the CPU the same functions run as they are
    if fun not in (runtime_shape, negative_size):
        sourcead.vmap(sourcead.grad(fun), in_axes=in_axes, target="cpu")(*args)


def test_kernel_local_arrays_outside_the_rules_are_refused():
    adjoint = sourcead.kernel_vjp(whole_in_kernel, wrt=("x", "out"))
    with pytest.raises(sourcead.SourceADError, match="used whole") as error:
        adjoint[1, 4](np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))
    assert error.value.lineno == whole_in_kernel.__code__.co_firstlineno + 6
    with pytest.raises(sourcead.SourceADError, match="cannot read the dtype") as error:
        sourcead.kernel_vjp(unknown_dtype, wrt=("x", "out"))
    assert error.value.lineno == unknown_dtype.__code__.co_firstlineno + 3
