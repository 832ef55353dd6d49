"""Building and reshaping arrays (rules/shaping.py): each construct against finite differences
in reverse mode (grad), forward mode (jvp) and second order (hvp), as plain Python; a few
compiled programs combining several of them (slow group); and the refusals, at the line."""

from __future__ import annotations

import numpy as np
import pytest

import sourcead
from sourcead.errors import SourceADError

X = np.array([0.3, 0.7, 1.1, 1.9, -0.4, 0.8])
H = 1e-6


def fd_grad(f, x):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = H
        g[i] = (f(x + e) - f(x - e)) / (2 * H)
    return g


# --- the constructs: functions of one vector of six values -------------------------------------


def array_of_scalars(x):
    a = x[0] * 2.0
    b = np.sin(x[1])
    v = np.array([a, b, 1.0])
    return np.sum(v * v * v)


def array_nested(x):
    m = np.array([[x[0], x[1]], [x[2], x[3] * x[4]]])
    return np.sum(m @ m)


def asarray_tuple(x):
    v = np.asarray((x[0], 2, x[1] ** 2))
    return np.sum(v**2)


def array_of_arrays(x):
    m = np.array([x, x * x, np.cos(x)])
    return np.sum(m[1] * m[2] + m[0] ** 3)


def array_of_ints(x):
    idx = np.array([0, 2, 2, 3])
    return np.sum(x[idx] ** 2) + idx[1] * x[0]


def array_copy_and_dtype(x):
    y = np.array(x)
    z = np.asarray(x, dtype=np.float64)
    w = np.array([x[0], x[1]], dtype=complex)
    return np.sum(y * z) + np.real(np.sum(w * w))


def stack_axis(x):
    m = x.reshape(2, 3)
    s = np.stack([m, m * m], axis=1)
    t = np.stack((m, np.sin(m)), axis=-1)
    return np.sum(s**2) + np.sum(t[:, :, 1] * t[:, :, 0])


def vstack_hstack(x):
    v = np.vstack((x, np.sin(x)))
    m = x.reshape(2, 3)
    w = np.vstack([m, m * m])
    h = np.hstack((x, x * x))
    k = np.hstack((m, m**3))
    return np.sum(v**2) + np.sum(w**3) + np.sum(h**3) + np.sum(k * k)


def column_stack_(x):
    m = x.reshape(3, 2)
    c = np.column_stack((x[:3], m, x[3:] ** 2))
    return np.sum(c**3)


def concatenate_axis(x):
    m = x.reshape(2, 3)
    c = np.concatenate((m, m * m), axis=1)
    d = np.concatenate([m, np.cos(m)], axis=-2)
    return np.sum(c**2) + np.sum(d**3)


def full_(x):
    f = np.full(6, x[0] * 2.0)
    g = np.full((2, 3), 1.5)
    return np.sum(f * x * x) + np.sum(g * x.reshape(2, 3) ** 2)


def full_like_(x):
    return np.sum(np.full_like(x, x[1]) * x**2 + np.ones_like(x) * x + np.zeros_like(x))


def reshape_forms(x):
    a = x.reshape(2, -1)
    b = x.reshape((-1, 2))
    c = np.reshape(x, (3, -1))
    return np.sum(a @ c) + np.sum(b**3)


def swap_move(x):
    m = x.reshape(1, 2, 3)
    s = np.swapaxes(m, 0, 2)
    t = m.swapaxes(-1, 0)
    u = np.moveaxis(m, 0, 2)
    return np.sum(s * t) + np.sum(u[:, :, 0] * m[0])


def squeeze_expand(x):
    m = x.reshape(1, 6, 1)
    s = np.squeeze(m, axis=(0, 2))
    t = m.squeeze(0)
    e = np.expand_dims(x, 0)
    f = np.expand_dims(x, axis=-1)
    return np.sum(s**3) + np.sum(t**2) + np.sum(e * f)


def flatten_ravel(x):
    m = np.outer(x, x[:2])
    return np.sum(m.flatten() ** 2) + np.sum(m.ravel() * np.ravel(m))


def flips(x):
    m = x.reshape(2, 3)
    a = np.flip(x) * x
    b = np.flip(m, axis=1) * m
    c = np.flip(m, (0, 1)) * m * m
    d = np.flipud(m) * m + np.fliplr(m) * m * m
    return np.sum(a) + np.sum(b) + np.sum(c) + np.sum(d)


def rotations(x):
    m = x.reshape(2, 3)
    a = np.rot90(m)
    b = np.rot90(m, 2)
    c = np.rot90(m, k=-1, axes=(1, 0))
    return np.sum(a * c) + np.sum(b * m**2)


def rolls(x):
    m = x.reshape(2, 3)
    return np.sum(np.roll(x, 2) * x) + np.sum(np.roll(m, -1, axis=1) * m**2)


def repeats(x):
    m = x.reshape(2, 3)
    return np.sum(np.repeat(x, 2) ** 3) + np.sum(np.repeat(m, 3, axis=-1) ** 2 * 0.5)


def tiles(x):
    m = x.reshape(2, 3)
    return np.sum(np.tile(x, 2) ** 3) + np.sum(np.tile(m, (2, 1, 2)) ** 2)


def pads(x):
    m = x.reshape(2, 3)
    a = np.pad(x, 1) ** 2
    b = np.pad(x, (2, 1), mode="edge") ** 3
    c = np.pad(m, ((1, 0), (2, 3)), mode="wrap")
    d = np.pad(m, 2, mode="reflect")
    e = np.pad(x, 1, constant_values=x[0] * x[1])
    return np.sum(a) + np.sum(b) + np.sum(c**3) + np.sum(d * d) + np.sum(e**2)


def broadcast_(x):
    b = np.broadcast_to(x, (3, 6))
    c = np.broadcast_to(x[0] * 2.0, (2, 2))
    weights = np.arange(3.0)
    return np.sum(b**2 * weights[:, None]) + np.sum(c**3)


def at_least(x):
    return (
        np.sum(np.atleast_2d(x) ** 2)
        + np.sum(np.atleast_1d(x[0]) ** 2)
        + np.sum(np.atleast_3d(x.reshape(2, 3)) ** 3)
    )


def casts(x):
    a = x.astype(np.float64)
    b = x.astype(float)
    c = np.float64(x[0]) * np.float64(x[1])
    d = x.astype(np.complex128)
    e = float(x[2])
    k = x.astype(np.int64)  # an integer cast: no derivative through it
    return np.sum(a * b) + c + np.real(np.sum(d * d)) + e**2 + np.sum(k)


CASES = [
    array_of_scalars, array_nested, asarray_tuple, array_of_arrays, array_of_ints,
    array_copy_and_dtype, stack_axis, vstack_hstack, column_stack_, concatenate_axis, full_,
    full_like_, reshape_forms, swap_move, squeeze_expand, flatten_ravel, flips, rotations,
    rolls, repeats, tiles, pads, broadcast_, at_least, casts,
]  # fmt: skip


def check_all_modes(f, x, compile: bool, rtol: float = 1e-5):
    """grad, jvp and hvp of ``f`` at ``x`` against central finite differences."""
    before = x.copy()
    reference = fd_grad(f, x)
    g = sourcead.grad(f, compile=compile)(x)
    np.testing.assert_allclose(g, reference, rtol=rtol, atol=1e-6)
    v = np.linspace(-1.0, 1.0, x.size)
    _, tangent = sourcead.jvp(f, (x,), (v,), compile=compile)
    np.testing.assert_allclose(tangent, reference @ v, rtol=rtol, atol=1e-6)
    gradient = sourcead.grad(f, compile=False)
    second = (gradient(x + H * v) - gradient(x - H * v)) / (2 * H)
    product = sourcead.hvp(f, (x,), (v,), compile=compile)
    np.testing.assert_allclose(product, second, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(x, before)  # inputs are never mutated


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_plain_python(f):
    check_all_modes(f, X.copy(), compile=False)


# --- compiled programs combining several constructs ---------------------------------------------


def lattice_energy(x):
    m = np.array([[x[0], x[1], x[2]], [x[3], x[4], x[5]]])
    p = np.pad(m, 1, mode="wrap")
    tiled = np.tile(m, (1, 2))
    neighbours = np.roll(p, 1, axis=0) + np.flip(p, axis=1) + tiled[0, 0]
    s = np.stack((p, neighbours), axis=-1)
    return np.sum(s[:, :, 0] * s[:, :, 1]) + np.sum(np.repeat(x, 2) ** 2)


def shaped_features(x):
    m = x.reshape(2, 3).astype(np.float64)
    r = np.rot90(m, axes=(1, 0))
    c = np.column_stack((m[0], np.full(3, x[0]), m[1]))
    b = np.broadcast_to(np.squeeze(np.expand_dims(m, 0), axis=0), (2, 2, 3))
    return np.sum(r**2) + np.sum(c**3) + np.sum(np.swapaxes(b, 0, 2) ** 2) + np.float64(x[1])


@pytest.mark.slow
@pytest.mark.parametrize("f", [lattice_energy, shaped_features], ids=lambda f: f.__name__)
def test_compiled(f):
    check_all_modes(f, X.copy(), compile=True)


@pytest.mark.parametrize("f", [lattice_energy, shaped_features], ids=lambda f: f.__name__)
def test_compiled_programs_as_python(f):
    check_all_modes(f, X.copy(), compile=False)


# --- refusals, at the line ------------------------------------------------------------------------


def squeeze_without_axis(x):
    m = x.reshape(1, 6)
    return np.sum(np.squeeze(m) ** 2)


def pad_median(x):
    return np.sum(np.pad(x, 1, mode="median"))


def stack_axis_computed(x):
    k = x.shape[0] - 6
    return np.sum(np.stack((x, x), axis=k))


def rot90_k_computed(x):
    m = x.reshape(2, 3)
    k = x.shape[0]
    return np.sum(np.rot90(m, k))


def astype_string_dtype(x):
    return np.sum(x.astype("U3"))


def array_of_mixed(x):
    return np.sum(np.array([x, 1.0]))


def moveaxis_computed(x):
    m = x.reshape(2, 3)
    return np.sum(np.moveaxis(m, x.shape[0] - 6, 1))


def full_with_dtype(x):
    return np.sum(np.full(3, x[0], dtype=np.float32))


REFUSALS = [
    (squeeze_without_axis, "np.squeeze without axis="),
    (pad_median, "mode='median'"),
    (stack_axis_computed, "axis=k"),
    (rot90_k_computed, "k=k"),
    (astype_string_dtype, "dtype 'U3'"),
    (array_of_mixed, "np.array of"),
    (moveaxis_computed, "np.moveaxis"),
    (full_with_dtype, "dtype="),
]


@pytest.mark.parametrize("f, message", REFUSALS, ids=lambda c: getattr(c, "__name__", ""))
def test_refused_at_the_line(f, message):
    with pytest.raises(SourceADError) as error:
        sourcead.grad(f, compile=False)(X.copy())
    text = str(error.value)
    assert message in text
    assert "test_shaping.py" in text and "line" in text
