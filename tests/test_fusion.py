"""Element-wise vector statements fused into element loops (sourcead/fusion.py).

Each function is checked against finite differences, compiled and as plain Python, and the
generated code is checked to be fused (or not) as intended.
"""

import re

import numpy as np
import pytest
from helpers import check_grad

import sourcead

rng = np.random.default_rng(7)


def vec(n):
    return rng.random(n) + 0.5


def heat_with_offsets(u0, kappa):
    u = u0.copy()
    for _ in range(30):
        u[1:-1] = u[1:-1] + 0.2 * kappa[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return np.sum((u - 0.1) ** 2)


def gates(x, params, bias):
    """LSTM-like gates: rows of a matrix, slices with variable bounds, new names each step."""
    b = x.shape[0]
    h = x.copy()
    total = 0.0
    for t in range(4):
        w = params[t % 2]
        forget = 1.0 / (1.0 + np.exp(-(h * w[:b] + bias[:b])))
        change = np.tanh(h * w[b : 2 * b] - bias[b:])
        h = forget * change + 0.5 * h  # reads h: a new array, not fused in place
        total += np.sum(h * h)
    return total


def cell_states(state, params):
    """Names bound to rows of a matrix (views), then to new element-wise values."""
    s = state.copy()
    total = 0.0
    for t in range(3):
        for i in range(2):
            hidden = s[2 * i]
            cell = s[2 * i + 1]
            gate = 1.0 / (1.0 + np.exp(-(hidden * params[i] + 0.1 * t)))
            cell = cell * gate + (1.0 - gate) * np.tanh(hidden)
            hidden = gate * np.tanh(cell)
            s[2 * i] = hidden
            s[2 * i + 1] = cell
            total += np.sum(hidden * params[i])
    return total


def mixed(x, y, c):
    z = np.zeros_like(x)
    z[:] = -x * c + np.sqrt(y) / (1.0 + y**2)
    z[2:] = z[2:] + z[:-2] * np.sin(x[:-2])  # reads its own old values at other offsets
    z[-3:] = np.log1p(z[-3:] * z[-3:])
    return np.sum(z * y)


def window(x, k):
    s = 0.0
    for i in range(x.shape[0] - 2):
        part = x[i : i + 3] * np.cos(x[i : i + 3] * k)
        s += np.sum(part)
    return s


def softmax_loss(x, w):
    y = x * w
    lse = np.log(np.sum(np.exp(y)))
    return -np.sum(x * (y - lse)) + np.sum(np.sum(x) * w)  # a sum inside a summed vector


def sums_of_all_kinds(x, m):
    return np.sum(x[0] * 2.0) + np.sum(x * x) + np.sum(m * m)


CASES = [
    pytest.param(heat_with_offsets, (vec(8), vec(8)), (0, 1), id="heat"),
    pytest.param(gates, (vec(3), rng.random((2, 6)), vec(6)), (0, 1, 2), id="gates"),
    pytest.param(cell_states, (rng.random((4, 3)), rng.random((2, 3))), (0, 1), id="views"),
    pytest.param(mixed, (vec(7), vec(7), 0.7), (0, 1, 2), id="mixed"),
    pytest.param(window, (vec(6), 0.3), (0, 1), id="window"),
    pytest.param(softmax_loss, (vec(5), vec(5)), (0, 1), id="sums"),
    pytest.param(sums_of_all_kinds, (vec(4), rng.random((2, 3))), (0, 1), id="sum-kinds"),
]


@pytest.mark.parametrize("f, args, wrt", CASES)
def test_fused_gradients_match_finite_differences(f, args, wrt, compile_mode):
    check_grad(f, args, wrt, compile_mode)


@pytest.mark.parametrize("f, args, wrt", CASES)
def test_statements_are_fused(f, args, wrt):
    g = sourcead.grad(f, wrt=wrt, compile=False)
    g(*args)
    assert re.search(r"for k\d* in range\(n\d*\):", g.source)


def test_vectors_computed_aside_in_loops_are_allocated_once():
    g = sourcead.grad(heat_with_offsets, wrt=(0, 1))
    g(vec(9), vec(9))
    forward = g.source.split("# forward sweep")[1].split("# backward sweep")[0]
    buffer = re.search(r"(fused\w*) = scratch\(\1, n\w*\)", forward).group(1)
    assert forward.index(f"{buffer} = np.empty(0)") < forward.index("for _ in range(30):")
    assert "np.empty(n" not in forward


def test_scratch_reuses_a_vector_of_the_length_asked_for():
    from sourcead_runtime import scratch

    vector = np.ones(4)
    assert scratch(vector, 4) is vector
    longer = scratch(vector, 6)
    assert longer.shape == (6,) and longer.dtype == vector.dtype and longer is not vector


def test_sums_of_element_wise_vectors_become_scalar_loops():
    g = sourcead.grad(softmax_loss, wrt=(0, 1), compile=False)
    g(vec(5), vec(5))
    forward = g.source.split("# backward sweep")[0]
    assert "np.sum(" not in forward and "np.exp(y[" in forward
    assert "total = total + " in forward


def test_fused_value_equals_numpy():
    x, y = vec(7), vec(7)
    value, _ = sourcead.value_and_grad(mixed, wrt=0)(x, y, 0.7)
    assert value == pytest.approx(mixed(x, y, 0.7), rel=1e-14)


def test_operands_of_different_lengths_raise_a_clear_error():
    def broadcast_one(x, y):
        z = x.copy()
        z[1:] = z[1:] + y[:1]  # NumPy broadcasts the length-1 slice
        return np.sum(z)

    with pytest.raises(ValueError, match="different lengths"):
        sourcead.grad(broadcast_one)(vec(4), vec(4))


def test_matrices_and_float32_are_left_to_whole_array_code():
    def matrix(m):
        m2 = m * 2.0 + 1.0
        return np.sum(m2 * m2)

    def single(x):
        y = x * 2.0 + 1.0
        return np.sum(y * y)

    for f, arg in [(matrix, rng.random((3, 2))), (single, vec(4).astype(np.float32))]:
        g = sourcead.grad(f, compile=False)
        g(arg)
        assert not re.search(r"for k\d* in range\(n\d*\):", g.source)


@pytest.mark.parametrize(
    "f, args",
    [
        (mixed, (vec(7), vec(7), 0.7)),
        (heat_with_offsets, (vec(8), vec(8))),
        (softmax_loss, (vec(5), vec(5))),
    ],
)
def test_hessian_vector_products_through_fused_loops(f, args):
    """Forward over reverse runs through the generated element loops."""
    v = vec(args[0].shape[0])
    product = sourcead.hvp(f, args, (v,) + (None,) * (len(args) - 1), compile=False)
    g = sourcead.grad(f, wrt=0, compile=False)
    eps = 1e-6
    shifted = [g(args[0] + s * eps * v, *args[1:]) for s in (1, -1)]
    expected = (shifted[0] - shifted[1]) / (2 * eps)
    np.testing.assert_allclose(product, expected, rtol=1e-6, atol=1e-8 * np.max(np.abs(expected)))


def tanh_layer(x, w):
    return np.tanh(w * x) * 0.5


def element_wise_step(x, w):
    return np.tanh(w * x) * 0.5 + 0.1 * w


def sum_of_squares_at_fixed_point(w):
    x = sourcead.fixed_point(element_wise_step, np.zeros(w.shape[0]), w)
    return np.sum(x * x)


def test_the_cotangent_of_a_fused_result_is_the_callers(compile_mode):
    # the fused loop writes the result element by element; its adjoint zeroes the seed's
    # elements as it goes, which must not reach the caller's cotangent
    x, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.3, 0.2])
    _, pullback = sourcead.vjp(tanh_layer, x, w, compile=compile_mode)
    cotangent = np.array([1.0, -2.0, 0.5])
    first = pullback(cotangent)
    np.testing.assert_array_equal(cotangent, [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(pullback(cotangent), first)  # the same seed, the same result
    # a solver's adjoint iteration reuses its seed: it used to stop without converging
    w = np.array([0.3, 0.5, 0.7])
    check_grad(sum_of_squares_at_fixed_point, (w,), compile=False)
