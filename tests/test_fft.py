"""np.fft and scipy.fft end to end: smooth real losses of transforms against finite differences.

Each loss is a weighted power spectrum (``z.real ** 2 + z.imag ** 2``) or a weighted real part
of the transforms, so that its second derivatives are not zero. The quick group runs every
case as plain Python (``compile=False``) in reverse mode, forward mode and second order; the
slow group compiles three of them in forward mode and second order. The rule table
(``test_rule_table.py``, ``FFT_ROWS``) checks each entry on its own, in every dtype, and
compiles each in reverse mode.
Refusals are checked to name the user's line.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import sourcead_runtime as runtime

import sourcead
from sourcead.errors import SourceADError

RNG = np.random.default_rng(20240611)


def _real(*shape):
    return RNG.normal(size=shape)


def _complex(*shape):
    return RNG.normal(size=shape) + 1j * RNG.normal(size=shape)


# --- the functions (sourcead reads their source) -------------------------------------------------


def fft_power(x, w):
    z = np.fft.fft(x)
    return np.sum(w * (z.real**2 + z.imag**2))


def fft_axis_ortho(x, w):
    z = np.fft.fft(x, axis=0, norm="ortho")
    return np.sum(w * np.real(z * np.conj(z)))


def fft_padded(x, w):
    z = np.fft.fft(x, 6, norm="forward")
    return np.sum(w * (z.real**2 + z.imag**2))


def fft_cut(x, w):
    z = np.fft.fft(x, n=3, axis=0)
    return np.sum(w * (z.real**2 + z.imag**2))


def fft_length_computed(x, w):
    m = 2 * x.shape[0] - 1
    z = np.fft.fft(x, m, axis=0)
    return np.sum(w[:m] * (z.real**2 + z.imag**2))


def ifft_power(x, w):
    z = np.fft.ifft(x, axis=-1, norm="ortho")
    return np.sum(w * (z.real**2 + z.imag**2))


def ifft_padded(x, w):
    z = np.fft.ifft(x, 5, axis=0, norm="backward")
    return np.sum(w * (z.real**2 + z.imag**2))


def rfft_power(x, w):
    z = np.fft.rfft(x)
    return np.sum(w * (z.real**2 + z.imag**2))


def rfft_odd_axis(x, w):
    z = np.fft.rfft(x, axis=0, norm="forward")
    return np.sum(w * (z.real**2 + z.imag**2))


def rfft_padded(x, w):
    z = np.fft.rfft(x, n=7, norm="ortho")
    return np.sum(w * (z.real**2 + z.imag**2))


def irfft_even(x, c):
    y = np.fft.irfft(np.fft.rfft(x) * c)  # a filter: even length 2 (m - 1)
    return np.sum(y**3)


def irfft_odd(x, c):
    y = np.fft.irfft(np.fft.rfft(x, axis=0) * c, n=5, axis=0, norm="ortho")
    return np.sum(np.sin(y))


def irfft_longer(x, c):
    y = np.fft.irfft(np.fft.fft(x) * c, 6, norm="forward")  # bins past n // 2 unread
    return np.sum(y * y * y)


def fft2_power(x, w):
    z = np.fft.fft2(x, norm="ortho")
    return np.sum(w * (z.real**2 + z.imag**2))


def ifft2_axes(x, w):
    z = np.fft.ifft2(x, axes=(0, 2))
    return np.sum(w * (z.real**2 + z.imag**2))


def fftn_axes(x, w):
    z = np.fft.fftn(x, axes=(1,), norm="forward")
    return np.sum(w * (z.real**2 + z.imag**2))


def ifftn_all(x, w):
    z = np.fft.ifftn(x)
    return np.sum(w * (z.real**2 + z.imag**2))


def shifted(x, w):
    z = np.fft.fftshift(np.fft.fft(x), axes=1)
    return np.sum(w * (z.real**2 + z.imag**2)) + np.sum(w * np.fft.ifftshift(x) ** 2)


def shifted_all(x, w):
    return np.sum(w * np.fft.fftshift(x) ** 3) + np.sum(w * np.fft.ifftshift(x, axes=(0,)) ** 2)


def scipy_spelled(x, w):
    z = scipy.fft.fft(x, axis=0, workers=2)
    y = scipy.fft.irfft(scipy.fft.rfft(x), 5, norm="ortho")
    return np.sum(w * (z.real**2 + z.imag**2)) + np.sum(np.tanh(y))


def round_trip(x):
    return np.sum(np.fft.ifft(np.fft.fft(x)).real ** 2)


def complex_input(z, w):
    y = np.fft.fft(z, axis=0) + np.fft.ifft2(z, norm="ortho")
    return np.sum(w * (y.real**2 + y.imag**2))


# (function, arguments): arguments differentiated first, then weights
CASES = {
    "fft": (fft_power, (_real(3, 4), _real(3, 4))),
    "fft-axis-ortho": (fft_axis_ortho, (_real(4, 3), _real(4, 3))),
    "fft-padded": (fft_padded, (_real(2, 4), _real(2, 6))),
    "fft-cut": (fft_cut, (_real(5, 2), _real(3, 2))),
    "fft-length-computed": (fft_length_computed, (_real(3, 2), _real(5, 2))),
    "ifft": (ifft_power, (_real(2, 5), _real(2, 5))),
    "ifft-padded": (ifft_padded, (_real(3, 2), _real(5, 2))),
    "rfft": (rfft_power, (_real(2, 6), _real(2, 4))),
    "rfft-odd-axis": (rfft_odd_axis, (_real(5, 2), _real(3, 2))),
    "rfft-padded": (rfft_padded, (_real(5), _real(4))),
    "irfft-even": (irfft_even, (_real(2, 6), _complex(2, 4))),
    "irfft-odd": (irfft_odd, (_real(5, 2), _complex(3, 2))),
    "irfft-longer": (irfft_longer, (_real(7), _complex(7))),
    "fft2": (fft2_power, (_real(2, 3, 4), _real(2, 3, 4))),
    "ifft2-axes": (ifft2_axes, (_real(2, 3, 4), _real(2, 3, 4))),
    "fftn-axes": (fftn_axes, (_real(3, 4), _real(3, 4))),
    "ifftn": (ifftn_all, (_real(3, 2, 2), _real(3, 2, 2))),
    "shifts": (shifted, (_real(3, 5), _real(3, 5))),
    "shifts-all": (shifted_all, (_real(4, 3), _real(4, 3))),
    "scipy": (scipy_spelled, (_real(3, 8), _real(3, 8))),
}
# compiled in forward mode and second order (slow group): the complex, the real-input and
# the Hermitian transforms; every row of the rule table (FFT_ROWS) is compiled in reverse mode
COMPILED = ("fft-padded", "rfft-odd-axis", "irfft-odd")


# --- finite differences ----------------------------------------------------------------------------

STEP, HVP_STEP = 1e-6, 1e-5


def fd_gradient(f, args):
    x = args[0]
    g = np.zeros(x.shape, dtype=x.dtype)
    for index in np.ndindex(x.shape):
        e = np.zeros(x.shape, dtype=x.dtype)
        e[index] = STEP
        g[index] = (f(x + e, *args[1:]) - f(x - e, *args[1:])) / (2 * STEP)
        if x.dtype.kind == "c":  # JAX's convention: dL/dx - i dL/dy
            g[index] -= 1j * (f(x + 1j * e, *args[1:]) - f(x - 1j * e, *args[1:])) / (2 * STEP)
    return g


def assert_near(actual, desired, what, rtol=1e-6):
    scale = max(1.0, float(np.max(np.abs(desired))))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=what)


def check(f, args, mode, compile):
    x, rest = args[0], args[1:]
    v = np.random.default_rng(3).normal(size=x.shape)
    if mode == "reverse":
        g = sourcead.grad(f, compile=compile)(*args)
        assert g.shape == x.shape and g.dtype == x.dtype
        assert_near(g, fd_gradient(f, args), "gradient")
    elif mode == "forward":
        value, tangent = sourcead.jvp(f, args, (v,) + (None,) * len(rest), compile=compile)
        assert_near(value, f(*args), "value")
        reference = (f(x + STEP * v, *rest) - f(x - STEP * v, *rest)) / (2 * STEP)
        assert_near(tangent, reference, "tangent")
    else:
        product = sourcead.hvp(f, args, (v,) + (None,) * len(rest), compile=compile)
        gradient = sourcead.grad(f, compile=False)
        reference = (gradient(x + HVP_STEP * v, *rest) - gradient(x - HVP_STEP * v, *rest)) / (
            2 * HVP_STEP
        )
        assert_near(product, reference, "hvp", rtol=1e-5)


def _params():
    for name in CASES:
        for mode in ("reverse", "forward", "second"):
            yield pytest.param(name, mode, False, id=f"{name}-{mode}-python")
    for name in COMPILED:
        for mode in ("forward", "second"):
            yield pytest.param(
                name, mode, True, id=f"{name}-{mode}-compiled", marks=pytest.mark.slow
            )


@pytest.mark.parametrize("name, mode, compile", list(_params()))
def test_fft_losses(name, mode, compile):
    f, args = CASES[name]
    check(f, args, mode, compile)


def test_round_trip_gradient_is_exact():
    """ifft(fft(x)) is x: the gradient of sum(x ** 2) is 2 x, to rounding."""
    x = _real(2, 6)
    np.testing.assert_allclose(sourcead.grad(round_trip, compile=False)(x), 2 * x, atol=1e-12)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_complex_input(mode):
    """A complex input follows JAX's convention (first order: hvp of complex inputs is
    refused everywhere)."""
    check(complex_input, (_complex(2, 3), _real(2, 3)), mode, compile=False)


def test_float32_stays_float32():
    x, w = _real(3, 4).astype(np.float32), _real(3, 4).astype(np.float32)
    g = sourcead.grad(fft_power, compile=False)(x, w)
    assert g.dtype == np.float32
    reference = sourcead.grad(fft_power, compile=False)(x.astype(np.float64), w.astype(np.float64))
    np.testing.assert_allclose(g, reference, rtol=1e-4, atol=1e-4 * np.max(np.abs(reference)))


def test_inputs_are_not_changed():
    x, c = _real(5, 2), _complex(3, 2)
    before = (x.copy(), c.copy())
    sourcead.grad(irfft_odd, compile=False)(x, c)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(c, before[1])


def test_adjoint_helpers_are_transposes():
    """<w, A dx> = <A^T w, dx> (real parts) for every adjoint helper, real and complex inputs."""
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(4, 5)), rng.normal(size=(4, 5)) + 1j * rng.normal(size=(4, 5))
    pairs = [
        (lambda a: runtime.fft_sized(a, 7, 1, "ortho"), lambda g, a: runtime.fft_adjoint(g, a, 7, 1, "ortho")),
        (lambda a: runtime.ifft_sized(a, 3, 0, None), lambda g, a: runtime.ifft_adjoint(g, a, 3, 0, None)),
        (lambda a: runtime.irfft_sized(a, 6, 1, "forward"), lambda g, a: runtime.irfft_adjoint(g, a, 1, "forward")),
        (lambda a: runtime.irfft_sized(a, 9, 1, None), lambda g, a: runtime.irfft_adjoint(g, a, 1, None)),
        (lambda a: runtime.irfft_sized(a, 3, 0, "ortho"), lambda g, a: runtime.irfft_adjoint(g, a, 0, "ortho")),
        (lambda a: runtime.fftn_along(a, None, "forward"), lambda g, a: runtime.fftn_adjoint(g, a, None, "forward")),
        (lambda a: runtime.ifftn_along(a, (0,), None), lambda g, a: runtime.ifftn_adjoint(g, a, (0,), None)),
    ]  # fmt: skip
    for forward, adjoint in pairs:
        for a in (x, z):
            w = (
                _complex(*forward(a).shape)
                if np.iscomplexobj(forward(a))
                else _real(*forward(a).shape)
            )
            dx = _real(*a.shape) if a is x else _complex(*a.shape)
            left = np.real(np.sum(w * forward(dx)))
            transposed = adjoint(w, a)
            assert transposed.shape == a.shape and np.iscomplexobj(transposed) == (a is z)
            np.testing.assert_allclose(np.real(np.sum(transposed * dx)), left, rtol=1e-10)
    for n in (None, 4, 9):
        w = _complex(*np.fft.rfft(x, n).shape)
        left = np.real(
            np.sum(w * (runtime.rfft_along(x) if n is None else runtime.rfft_sized(x, n)))
        )
        transposed = runtime.rfft_adjoint(w, x, n, -1, None)
        np.testing.assert_allclose(np.sum(transposed * x), left, rtol=1e-10)


# --- refusals at the user's line ---------------------------------------------------------------------


def computed_axis(x):
    k = 0
    return np.sum(np.fft.fft(x, axis=k).real)


def with_out(x):
    return np.sum(np.fft.fft(x, out=x).real)


def with_s(x):
    return np.sum(np.fft.fftn(x, s=(4, 4)).real)


def unknown_transform(x):
    return np.sum(np.fft.hfft(x))


def with_plan(x):
    return np.sum(scipy.fft.fft(x, plan=1).real)


@pytest.mark.parametrize(
    "f, message",
    [
        (with_out, r"np\.fft\.fft with out=x \(sourcead takes only out=None\)"),
        (with_s, r"np\.fft\.fftn with s=\(4, 4\)"),
        (unknown_transform, r"np\.fft\.hfft"),
        (with_plan, r"scipy\.fft\.fft with plan=1"),
    ],
)
def test_refused_options_at_the_line(f, message):
    with pytest.raises(SourceADError, match=message) as info:
        sourcead.grad(f)  # refused before any call
    assert info.value.filename == __file__
    assert info.value.lineno == f.__code__.co_firstlineno + 1


def rfft_of_complex(z):
    return np.sum(np.fft.rfft(z).real)


def axis_out_of_range(x):
    return np.sum(np.fft.ifft(x, axis=2).real)


def axis_none(x):
    return np.sum(np.fft.fft(x, axis=None).real)


def float_length(x):
    return np.sum(np.fft.fft(x, 4.0).real)


def computed_norm(x):
    norm = "ortho"
    return np.sum(np.fft.fft(x, norm=norm).real)


def misspelled_norm(x):
    return np.sum(np.fft.fft(x, norm="orto").real)


def axes_as_integer(x):
    return np.sum(np.fft.fftn(x, axes=0).real)


def fft2_of_vector(x):
    return np.sum(np.fft.fft2(x).real)


def of_a_number(x):
    return np.sum(np.fft.fft(x[0]).real)


@pytest.mark.parametrize(
    "f, arg, message",
    [
        (rfft_of_complex, _complex(4), r"np\.fft\.rfft of a complex array"),
        (axis_out_of_range, _real(2, 3), r"np\.fft\.ifft with axis=2 of a 2-d array"),
        (axis_none, _real(4), r"None"),
        (computed_axis, _real(4), r"np\.fft\.fft with axis= other than an integer written"),
        (float_length, _real(4), r"np\.fft\.fft with n= other than an integer"),
        (misspelled_norm, _real(4), r"np\.fft\.fft with norm= other than"),
        (axes_as_integer, _real(2, 3), r"np\.fft\.fftn with axes= other than a tuple"),
        (fft2_of_vector, _real(4), r"np\.fft\.fft2 of a 1-d array"),
        (of_a_number, _real(4), r"np\.fft\.fft of a number"),
    ],
)
def test_refused_types_at_the_line(f, arg, message):
    with pytest.raises(SourceADError, match=message) as info:
        sourcead.grad(f, compile=False)(arg)
    assert info.value.filename == __file__
    assert info.value.lineno == f.__code__.co_firstlineno + (2 if f is computed_axis else 1)


def test_computed_norm_is_refused_at_its_line():
    with pytest.raises(SourceADError) as info:
        sourcead.grad(computed_norm, compile=False)(_real(4))
    assert info.value.filename == __file__
    assert info.value.lineno == computed_norm.__code__.co_firstlineno + 1
