"""Whole-array NumPy code in reverse mode, against finite differences.

Most cases run the generated code as plain Python (compile=False: each Numba compile costs
about half a second); a representative subset also runs compiled.
"""

import re

import numpy as np
import pytest
from helpers import case, check_grad

import sourcead

rng = np.random.default_rng(7)


def vec(n):
    return rng.random(n) + 0.5


def mat(n, m):
    return rng.random((n, m)) + 0.5


# --- element-wise, with broadcasting ------------------------------------------------------


def arithmetic(x, y):
    return np.sum(x * y - x / y + (x + 1.0) ** 2 - y**1.5)


def broadcast_rows(a, m):
    return np.sum(a * m + m / a)


def broadcast_new_axis(a, b, c):
    return np.sum(np.exp(a[:, None] * b) + c * b)


def broadcast_size_one(p, q):
    return np.sum(p * q)  # (3, 1) * (1, 4)


def ufuncs(x, y):
    return np.sum(
        np.exp(x) + np.log(y) + np.log1p(x) + np.expm1(y) + np.sqrt(x) + np.sin(x) + np.cos(y)
        + np.tan(0.5 * x) + np.arcsin(0.5 * x) + np.arccos(0.5 * y) + np.arctan(x)
        + np.arctan2(x, y) + np.sinh(x) + np.cosh(y) + np.tanh(x) + np.abs(x - y)
        + np.power(x, 2.5) + np.square(y)
    )  # fmt: skip


def choices(x, y):
    return np.sum(
        np.maximum(x, y) * np.minimum(x, 1.0) + np.where(x > y, x * x, y) + np.clip(x, 0.7, 1.2)
    )


def scalar_times_array(s, x):
    return np.sum(s * x + x / s)


# --- reductions and methods -----------------------------------------------------------------


def reductions(m):
    return (
        np.sum(np.sum(m, axis=0) ** 2) + np.sum(m.sum(axis=1) ** 3) + np.mean(m) * np.max(m)
        + np.min(m) + np.prod(m[0]) + np.sum(np.cumsum(m) ** 2) + np.linalg.norm(m) + np.trace(m)
    )  # fmt: skip


def methods(m, v):
    w = m.T @ v
    return m.sum() + np.sum(m.reshape(9) ** 3) + np.sum(m.ravel() * w[0]) + np.sum(m.copy() * w)


# --- products and construction ---------------------------------------------------------------


def products(m, v):
    return (
        np.sum(np.outer(m @ v, v)) + np.dot(v, v) + np.sum(np.dot(m, m) * m)
        + np.sum(np.matmul(v, m)) + np.sum(np.diag(m) * m[1]) + np.sum(np.diag(v) * m)
    )  # fmt: skip


def construction(a, b):
    c = np.concatenate((a, b))
    s = np.stack((a, b))
    t = np.linspace(a[0], b[0], 5)
    return np.sum(c * c) + np.sum(s[1] * s[0]) + np.sum(t**2) + np.sum(np.eye(3) * s[0])


def triangles(m):
    """Triangles (positional and keyword k) and methods of expressions, not only of names."""
    upper = np.triu(m, 1) + np.tril(m, k=-1).T
    return (
        np.sum(np.tril(m @ m) ** 2) + np.sum(np.ascontiguousarray(upper.T) * m)
        + (m[1:] * m[1:]).sum() + m[1:].sum() + np.sum((m @ m).T * m)
    )  # fmt: skip


def arange_weights(a):
    return np.sum(a * np.arange(3.0))


# --- slices ---------------------------------------------------------------------------------


def slices_read(x, m):
    return np.sum(x[1:-1] * x[2:]) + np.sum(x[::2]) + np.sum(m[0, :] * m[:, 1]) + np.sum(m[1])


def heat(u0, k):
    u = u0.copy()
    for _ in range(20):
        u[1:-1] = u[1:-1] + k * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    return np.sum(u * u)


def nonlinear_slices(u0):
    u = u0.copy()
    for _ in range(5):
        u[1:] = u[1:] * np.sin(u[:-1])
        u[0] = u[0] * u[1]
    return np.sum(u**2)


def slice_set_scalar(x, s):
    y = x.copy()
    y[1:3] = s * s
    return np.sum(y * x)


def rebinding(u0, dt):
    u = u0
    for _ in range(10):
        u = u + dt * np.sin(u)
    return np.sum(u**2)


def rebinding_matrix(w, x):
    h = x
    for _ in range(3):
        h = np.tanh(w @ h + 0.1)
    return np.sum(h * h)


def loop_with_elements(x):
    y = x * 2.0
    s = 0.0
    for i in range(x.shape[0]):
        s += y[i] * np.sum(y[: i + 1])
    return s


CASES = [
    case(arithmetic, vec(4), vec(4), wrt=(0, 1)),
    case(broadcast_rows, vec(3), mat(2, 3), wrt=(0, 1)),
    case(broadcast_new_axis, vec(3), mat(3, 4), 0.7, wrt=(0, 1, 2)),
    case(broadcast_size_one, mat(3, 1), mat(1, 4), wrt=(0, 1)),
    case(ufuncs, vec(4), vec(4), wrt=(0, 1)),
    case(choices, vec(5), vec(5), wrt=(0, 1)),
    case(scalar_times_array, 1.3, vec(3), wrt=(0, 1)),
    case(reductions, mat(3, 3)),
    case(methods, mat(3, 3), vec(3), wrt=(0, 1)),
    case(products, mat(3, 3), vec(3), wrt=(0, 1)),
    case(construction, vec(3), vec(3), wrt=(0, 1)),
    case(triangles, mat(3, 3)),
    case(arange_weights, vec(3)),
    case(slices_read, vec(6), mat(3, 3), wrt=(0, 1)),
    case(heat, vec(10), 0.2, wrt=(0, 1)),
    case(nonlinear_slices, vec(4)),
    case(slice_set_scalar, vec(4), 0.8, wrt=(0, 1)),
    case(rebinding, vec(5), 0.1, wrt=(0, 1)),
    case(rebinding_matrix, mat(3, 3) - 0.8, vec(3), wrt=(0, 1)),
    case(loop_with_elements, vec(4)),
]


@pytest.mark.parametrize("f, args, wrt, opts", CASES)
def test_against_finite_differences(f, args, wrt, opts):
    check_grad(f, args, wrt, compile=False, **opts)


COMPILED = [c for c in CASES if c.id in {"broadcast_new_axis", "reductions", "products",
                                         "heat", "rebinding_matrix", "slices_read",
                                         "triangles"}]  # fmt: skip


@pytest.mark.slow  # compiled runs of the case table: CI runs them (-m slow)
@pytest.mark.parametrize("f, args, wrt, opts", COMPILED)
def test_compiled(f, args, wrt, opts):
    check_grad(f, args, wrt, compile=True, **opts)


def heat_columns(u0, k):
    u = u0.copy()
    for _ in range(20):
        u[1:-1] = u[1:-1] + k * (u[2:] - 2.0 * u[1:-1] + u[:-2])
    return np.sum(u * u)


def test_generated_code_reads_like_numpy():
    g = sourcead.grad(heat_columns, wrt=(0, 1), compile=False)
    u0 = mat(6, 2)
    g(u0, 0.1)
    source = g.source
    forward, backward = source.split("# backward sweep")
    assert "b_u[1:-1]" in backward
    # the update is linear in u: neither u nor the intermediate arrays are taped
    assert "push_array(" not in forward.replace("total_tape, total_top = push_array", "")
    check_grad(heat_columns, (u0, 0.1), (0, 1), compile=False)


def test_elementwise_vector_statement_becomes_an_element_loop():
    g = sourcead.grad(heat, wrt=(0, 1), compile=False)
    g(vec(6), 0.1)
    forward = g.source.split("# backward sweep")[0]
    assert "fused_length(" in forward
    assert re.search(r"fused\[(k\d+)\] = u\[\1 \+ 1\] \+ k \* \(u\[\1 \+ 2\]", forward)
    assert "push_array(" not in forward  # no whole-array temporaries to tape


def test_reduction_with_an_unsupported_option_is_refused():
    def f(m):
        return np.sum(np.max(m, axis=0, initial=0.0))

    with pytest.raises(sourcead.SourceADError, match="initial="):
        sourcead.grad(f)(mat(2, 2))


# --- float32 and complex ---------------------------------------------------------------------


def layer(x, w):
    h = np.tanh(w @ x + 0.5)
    return np.sum(h * h)


@pytest.mark.parametrize(
    "compile",
    [pytest.param(False, id="python"), pytest.param(True, id="compiled", marks=pytest.mark.slow)],
)
def test_float32_gradient_is_float32(compile):
    x, w = vec(3).astype(np.float32), mat(3, 3).astype(np.float32) - 0.8
    gx, gw = sourcead.grad(layer, wrt=(0, 1), compile=compile)(x, w)
    assert gx.dtype == np.float32 and gw.dtype == np.float32
    rx, rw = check_grad(layer, (x.astype(np.float64), w.astype(np.float64)), (0, 1), False)
    np.testing.assert_allclose(gx, rx, rtol=1e-4)
    np.testing.assert_allclose(gw, rw, rtol=1e-4)


def complex_loss(z, w):
    e = np.exp(z * w)
    return np.sum(np.real(e * np.conj(e))) + np.sum(np.imag(z) ** 2) + np.sum(np.abs(z - w))


def _complex_fd(f, args, k, h=1e-6):
    """dL/dx - 1j dL/dy for argument k (JAX's convention), by central differences."""
    z = args[k]
    g = np.zeros_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = 1.0

        def at(step, e=e):
            moved = list(args)
            moved[k] = z + step * e
            return f(*moved)

        g[i] = (at(h) - at(-h)) / (2 * h) - 1j * (at(1j * h) - at(-1j * h)) / (2 * h)
    return g


@pytest.mark.parametrize(
    "compile",
    [pytest.param(False, id="python"), pytest.param(True, id="compiled", marks=pytest.mark.slow)],
)
def test_complex_gradient_follows_jax_convention(compile):
    z = np.array([0.3 + 0.4j, -0.2 + 1.1j, 0.5 - 0.3j])
    w = np.array([0.7 - 0.2j, 0.1 + 0.3j, -0.4 + 0.2j])
    gz, gw = sourcead.grad(complex_loss, wrt=(0, 1), compile=compile)(z, w)
    np.testing.assert_allclose(gz, _complex_fd(complex_loss, (z, w), 0), rtol=1e-6)
    np.testing.assert_allclose(gw, _complex_fd(complex_loss, (z, w), 1), rtol=1e-6)


def test_indexing_with_a_two_dimensional_integer_array_is_refused():
    def f(x, idx):
        return np.sum(x[idx.reshape(2, 2)])

    with pytest.raises(sourcead.SourceADError, match="2-d array of integers"):
        sourcead.grad(f, compile=False)(vec(3), np.array([0, 1, 2, 0]))
