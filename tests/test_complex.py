"""Complex amplitudes: real losses of complex values, in every mode.

Quantum physicists write real parameters that drive complex states, and real losses of
them: ``|<target|psi>|^2`` of ``psi = exp(-i theta H) psi0``, a Crank–Nicolson step through
``np.linalg.solve``. Here: ``abs``, ``np.abs``, ``np.real``, ``np.imag``, ``np.angle``,
``.real`` and ``.imag`` of complex numbers and arrays are real (their adjoints flowing into
complex values, and the complex adjoints flowing into real values keeping their real part),
checked in reverse mode, forward mode and second order against central finite differences
as plain Python (the quick group), and a compiled Crank–Nicolson fidelity in the slow group.
Complex inputs follow JAX's convention (``docs/arrays.md``): dL/dx - i dL/dy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers import directional_difference, numerical_grad

import sourcead
from sourcead import SourceADError

S2 = np.sqrt(2.0)
H_DIAG = np.array([0.0, 1.0, 2.5])
PSI0 = np.array([1.0, 0.5 + 0.2j, -0.3j]) / 1.2
TARGET = np.array([0.2, 0.3j, 0.9 + 0.1j])
A = np.array([[1.0, 0.5j, 0.2], [0.1 - 0.3j, 2.0, 0.4j], [0.3, -0.2j, 1.5]])
HX = np.array([[0.0, 1.0, 0.0], [1.0, 0.5, S2], [0.0, S2, 1.0]])
HY = np.array([[0.0, -1j, 0.0], [1j, 0.0, -1j * S2], [0.0, 1j * S2, 0.0]])


# --- real parameters, complex intermediates, real losses -----------------------------------------
def abs_squared(x):
    z = x[0] + 1j * x[1]
    return np.abs(z) ** 2 + abs(z * x[2]) ** 2


def parts_of_a_number(x):
    z = (x[0] + 1j * x[1]) * x[2]
    return np.real(z) ** 2 + np.imag(z) ** 2 + z.real * z.imag


def phase_and_conjugate(x):
    z = np.exp(1j * x[0]) * x[1] + 0.5j
    w = np.conj(z) * z * x[2] + z.conjugate() * 1j
    return np.angle(z) * x[2] + np.real(w)


def parts_of_an_array(x):
    z = np.exp(1j * x) * (x + 2.0)
    return (
        np.sum(z.real**2 + z.imag * x)
        + np.sum(np.angle(z * (1.0 + 0.5j)) * x)
        + np.sum(np.abs(np.conj(z) - 1.0))
    )


def phase_of_a_real_array(x):
    # the phase of a real number is 0 or pi: a constant
    return np.sum(np.angle(x - 0.5) * x) + np.angle(x[0] - 0.5) * x[1]


def overlap_of_rotated_state(x, h_diag, psi0, target):
    psi = np.exp(-1j * x[0] * h_diag) * psi0 * x[1]
    return np.abs(np.vdot(target, psi)) ** 2


def vdot_conjugates_its_first_argument(x):
    a = np.exp(1j * x) * (1.0 + x)
    b = np.exp(-1j * x * x) * x
    return np.real(np.vdot(a, b) * (0.3 + 0.7j)) + np.abs(np.vdot(a, a * x)) ** 2


def scaled_complex_matrix(x, hx, hy, psi0, target):
    psi = (x[0] * hx + x[1] * hy) @ psi0 * x[2]
    return np.abs(np.vdot(target, psi)) ** 2 + np.sum(np.abs(psi) ** 2)


def complex_solve(x, a, hx, psi0):
    psi = np.linalg.solve(a + x[0] * hx, psi0 * x[1])
    return np.sum(np.abs(psi) ** 2) + np.real(psi[0]) * x[2]


def complex_inverse(x, a, hx, psi0):
    m = a + 1j * x[0] * hx
    return np.sum(np.abs(np.linalg.inv(m) @ psi0) ** 2) * x[1] + x[2]


def crank_nicolson(x, hx, hy, h_diag, psi0, target):
    """|<target|psi(T)>|^2 after Crank–Nicolson steps with a real-parameter Hamiltonian."""
    dt = 0.1
    eye = np.eye(psi0.shape[0])
    psi = psi0 + 0j
    for k in range(4):
        h = x[0] * hx + x[1 + k % 2] * hy + np.diag(h_diag)
        psi = np.linalg.solve(eye + 0.5j * dt * h, (eye - 0.5j * dt * h) @ psi)
    return np.abs(np.vdot(target, psi)) ** 2


X = np.array([0.3, 0.7, 1.1])
V = np.array([0.2, -0.5, 0.9])
REAL_CASES = [
    (abs_squared, ()),
    (parts_of_a_number, ()),
    (phase_and_conjugate, ()),
    (parts_of_an_array, ()),
    (phase_of_a_real_array, ()),
    (overlap_of_rotated_state, (H_DIAG, PSI0, TARGET)),
    (vdot_conjugates_its_first_argument, ()),
    (scaled_complex_matrix, (HX, HY, PSI0, TARGET)),
    (complex_solve, (A, HX, PSI0)),
    (complex_inverse, (A, HX, PSI0)),
    (crank_nicolson, (HX, HY, H_DIAG, PSI0, TARGET)),
]
IDS = [f.__name__ for f, _ in REAL_CASES]


def _hvp_reference(f, constants, h=1e-4):
    """Central differences, along V, of the finite-difference gradient."""

    def gradient(x):
        return numerical_grad(f, (x, *constants), rtol=1e-8, atol=1e-10)

    return (gradient(X + h * V) - gradient(X - h * V)) / (2 * h)


@pytest.mark.parametrize("f, constants", REAL_CASES, ids=IDS)
def test_gradient(f, constants):
    x, given = X.copy(), [c.copy() for c in constants]
    gradient = sourcead.grad(f, compile=False)(x, *given)
    assert gradient.dtype == np.float64
    assert np.array_equal(x, X) and all(map(np.array_equal, given, constants))  # not mutated
    reference = numerical_grad(f, (X, *constants))
    np.testing.assert_allclose(gradient, reference, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, constants", REAL_CASES, ids=IDS)
def test_tangent(f, constants):
    tangents = (V.copy(),) + (None,) * len(constants)
    value, tangent = sourcead.jvp(f, (X.copy(), *constants), tangents, compile=False)
    assert isinstance(value, float | np.floating) and not np.iscomplexobj(tangent)
    np.testing.assert_allclose(value, f(X, *constants), rtol=1e-12)
    reference = directional_difference(lambda d: f(X + d * V, *constants))
    np.testing.assert_allclose(tangent, reference, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, constants", REAL_CASES, ids=IDS)
def test_hessian_vector_product(f, constants):
    """Second order of a real function of real inputs through complex intermediates."""
    tangents = (V.copy(),) + (None,) * len(constants)
    product = sourcead.hvp(f, (X.copy(), *constants), tangents, compile=False)
    assert product.dtype == np.float64
    np.testing.assert_allclose(product, _hvp_reference(f, constants), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "f, constants",
    [REAL_CASES[0], REAL_CASES[3], REAL_CASES[7]],
    ids=[IDS[0], IDS[3], IDS[7]],
)
def test_hessian_and_jacfwd(f, constants):
    """Vector mode (one direction per input) keeps complex tangents complex too."""
    hessian = sourcead.hessian(f, compile=False)(X.copy(), *constants)
    columns = [
        sourcead.hvp(f, (X, *constants), (e, *(None,) * len(constants)), compile=False)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(hessian, np.array(columns).T, rtol=1e-10, atol=1e-12)
    jacobian = sourcead.jacfwd(f, compile=False)(X.copy(), *constants)
    np.testing.assert_allclose(jacobian, numerical_grad(f, (X, *constants)), rtol=1e-6)


# --- the types of parts of complex values --------------------------------------------------------
def modulus(z):
    return np.abs(z)


def builtin_modulus(z):
    return abs(z)


def real_part(z):
    return np.real(z)


def imaginary_part(z):
    return z.imag


def phase(z):
    return np.angle(z)


def conjugate(z):
    return np.conj(z)


@pytest.mark.parametrize(
    "f", [modulus, builtin_modulus, real_part, imaginary_part, phase], ids=lambda f: f.__name__
)
def test_parts_of_complex_numbers_are_real(f):
    z = 0.3 - 0.4j
    value, tangent = sourcead.jvp(f, (z,), (0.5 + 1.0j,), compile=False)
    assert isinstance(value, float) and isinstance(tangent, float)
    assert value == f(z)
    np.testing.assert_allclose(
        tangent, directional_difference(lambda d: f(z + d * (0.5 + 1.0j))), rtol=1e-7
    )


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("f", [modulus, real_part, imaginary_part, phase], ids=lambda f: f.__name__)
def test_parts_of_complex_arrays_are_real(f, dtype):
    z = np.array([0.3 - 0.4j, -1.0 + 0.2j], dtype=dtype)
    value, tangent = sourcead.jvp(f, (z,), (np.ones_like(z),), compile=False)
    # (forward mode's tangents of real arrays are float64, as for float32 arrays)
    assert value.dtype == (np.float32 if dtype is np.complex64 else np.float64)
    assert tangent.dtype.kind == "f"


def test_conjugates_stay_complex():
    value, tangent = sourcead.jvp(conjugate, (0.3 - 0.4j,), (1j,), compile=False)
    assert value == 0.3 + 0.4j and tangent == -1j


# --- complex inputs: JAX's convention, first order -----------------------------------------------
def _complex_gradient(f, args, k, h=1e-6):
    """dL/dx - i dL/dy with respect to args[k] (an array or a number), by central differences."""
    arg = np.asarray(args[k], dtype=complex)
    gradient = np.zeros(arg.shape, dtype=complex)
    for index in np.ndindex(arg.shape):
        for unit, weight in ((1.0, 1.0), (1j, -1j)):  # along x, then along y
            step = np.zeros(arg.shape, dtype=complex)
            step[index] = h * unit
            plus = [a if i != k else (arg + step)[()] for i, a in enumerate(args)]
            minus = [a if i != k else (arg - step)[()] for i, a in enumerate(args)]
            gradient[index] += weight * (f(*plus) - f(*minus)) / (2 * h)
    return gradient[()]


def complex_arguments(z, w, m):
    overlap = np.vdot(z, np.linalg.solve(m, w))
    return (
        np.abs(overlap) ** 2
        + np.sum(np.angle(z + 2.0) * np.abs(w))
        + np.real(z[0]) * np.imag(w[1])
        + np.sum(np.real(np.conj(z) * w * 1j))
    )


def complex_scalars(z, w):
    return np.abs(z * w) ** 2 + np.real(z) * np.imag(w) + np.angle(z) + abs(w - 1.0)


def test_gradient_with_respect_to_complex_arrays():
    rng = np.random.default_rng(11)
    z, w = (rng.normal(size=3) + 1j * rng.normal(size=3) for _ in range(2))
    m = A + 0.1 * rng.normal(size=(3, 3))
    gradients = sourcead.grad(complex_arguments, wrt=(0, 1, 2), compile=False)(z, w, m)
    for k, gradient in enumerate(gradients):
        reference = _complex_gradient(complex_arguments, (z, w, m), k)
        np.testing.assert_allclose(gradient, reference, rtol=1e-6, atol=1e-8)


def test_gradient_with_respect_to_complex_numbers():
    z, w = 0.3 + 0.4j, 1.0 - 0.5j
    gradients = sourcead.grad(complex_scalars, wrt=(0, 1), compile=False)(z, w)
    for k, gradient in enumerate(gradients):
        reference = _complex_gradient(complex_scalars, (z, w), k)
        np.testing.assert_allclose(gradient, reference, rtol=1e-6, atol=1e-8)


def test_tangent_along_complex_directions():
    rng = np.random.default_rng(12)
    z, w = (rng.normal(size=3) + 1j * rng.normal(size=3) for _ in range(2))
    m = A + 0.1 * rng.normal(size=(3, 3))
    dz, dw = (rng.normal(size=3) + 1j * rng.normal(size=3) for _ in range(2))
    _, tangent = sourcead.jvp(complex_arguments, (z, w, m), (dz, dw, None), compile=False)
    reference = directional_difference(lambda d: complex_arguments(z + d * dz, w + d * dw, m))
    np.testing.assert_allclose(tangent, reference, rtol=1e-6)


# --- float32 parameters, complex64 states -----------------------------------------------------------
def single_precision(x, c):
    z = np.exp(1j * x) * c
    return np.sum(np.abs(z * x) ** 2) + np.sum(np.real(z) * x) + np.sum(np.angle(z + 2.0))


def test_single_precision_stays_single():
    x = np.array([0.3, 0.7, 1.1], np.float32)
    c = np.array([1 + 1j, 0.5, -1j], np.complex64)
    gradient = sourcead.grad(single_precision, compile=False)(x, c)
    assert gradient.dtype == np.float32
    reference = numerical_grad(single_precision, (x.astype(np.float64), c.astype(complex)))
    np.testing.assert_allclose(gradient, reference, rtol=1e-4)


# --- refusals ----------------------------------------------------------------------------------------
def phase_in_degrees(x):
    z = x[0] + 1j * x[1]
    return np.angle(z, deg=True)  # ERR


def test_phase_in_degrees_is_refused_at_its_line():
    with pytest.raises(SourceADError, match=r"test_complex.py, line \d+.*deg="):
        sourcead.grad(phase_in_degrees, compile=False)(np.array([0.3, 0.5]))


# --- compiled (slow) ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_compiled_crank_nicolson_fidelity_gradient():
    constants = (HX, HY, H_DIAG, PSI0, TARGET)
    gradient = sourcead.grad(crank_nicolson)(X.copy(), *constants)
    reference = numerical_grad(crank_nicolson, (X, *constants))
    np.testing.assert_allclose(gradient, reference, rtol=1e-6, atol=1e-8)
    # the tangent of a complex solve writes complex tangents (not into float arrays)
    tangents = (V.copy(),) + (None,) * len(constants)
    _, tangent = sourcead.jvp(crank_nicolson, (X.copy(), *constants), tangents)
    np.testing.assert_allclose(tangent, reference @ V, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_compiled_parts_of_complex_numbers():
    """Complex scalars in Numba: the real parts of adjoints, |z| and arg z, every mode."""
    f = phase_and_conjugate
    gradient = sourcead.grad(f)(X.copy())
    np.testing.assert_allclose(gradient, numerical_grad(f, (X,)), rtol=1e-6, atol=1e-8)
    _, tangent = sourcead.jvp(f, (X.copy(),), (V.copy(),))
    np.testing.assert_allclose(tangent, gradient @ V, rtol=1e-10)
    product = sourcead.hvp(f, (X.copy(),), (V.copy(),))
    np.testing.assert_allclose(product, _hvp_reference(f, ()), rtol=1e-5, atol=1e-6)


# --- examples/quantum_control.py ---------------------------------------------------------------------
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quantum_control.py"


def _example():
    spec = importlib.util.spec_from_file_location("quantum_control_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quantum_control_example_reaches_the_target():
    """The example's optimisation with its gradient run as Python (fast); the slow test below
    runs the script's main as it is (compiled, with the plot)."""
    example = _example()
    result, problem = example.optimize(compile=False)
    assert 1.0 - result.fun > 0.999
    # the fidelity is the propagated state's: check it without sourcead
    history = example.populations(result.x, *problem[:4])
    np.testing.assert_allclose(history[-1, 2], 1.0 - result.fun, rtol=1e-12)
    np.testing.assert_allclose(history.sum(axis=1), 1.0, rtol=1e-12)  # the steps are unitary


@pytest.mark.slow
def test_the_quantum_control_example_runs(tmp_path):
    pytest.importorskip("matplotlib")
    example = _example()
    plot = tmp_path / "control.png"
    result = example.main(plot)
    assert 1.0 - result.fun > 0.999
    assert plot.stat().st_size > 10_000


# --- Jacobians of complex results and of complex arguments ------------------------------------


def spectrum(x):
    return np.fft.fft(x)


def squared_magnitudes(z):
    return np.abs(z) ** 2


def test_reverse_jacobian_of_a_complex_result_is_refused_and_auto_goes_forward():
    x = np.arange(8.0)
    with pytest.raises(ValueError, match="jacrev .* needs real results"):
        sourcead.jacrev(spectrum, compile=False)(x)  # it dropped the imaginary parts
    jacobian = sourcead.jacobian(spectrum, compile=False)  # 8 inputs, 8 outputs: reverse
    np.testing.assert_allclose(jacobian(x), np.fft.fft(np.eye(8), axis=0), atol=1e-12)
    assert jacobian.last_mode == "forward"


def test_reverse_jacobian_with_respect_to_a_complex_argument_is_complex():
    # rows of gradients in JAX's convention: d|z_k|^2 gives 2 conj(z_k)
    z = np.array([1.0 + 0.5j, -0.3 + 1.0j])
    np.testing.assert_allclose(
        sourcead.jacrev(squared_magnitudes, compile=False)(z), np.diag(2.0 * np.conj(z))
    )


def real_rows_of_complex(z, x):
    return np.real(np.cumsum(z * x)) + np.imag(z) * x


def test_forward_jacobian_of_real_results_wrt_a_complex_argument_is_refused():
    # it gave df/dx alone (a real matrix), where reverse mode gives df/dx - i df/dy
    z = np.array([0.3 + 1.0j, -1.2 + 0.5j, 0.7 - 0.4j])
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(ValueError, match="needs a holomorphic function"):
        sourcead.jacfwd(real_rows_of_complex, compile=False)(z, x)
    jacobian = sourcead.jacobian(real_rows_of_complex, compile=False)
    rows = jacobian(z, x)
    assert jacobian.last_mode == "reverse"
    np.testing.assert_allclose(rows, sourcead.jacrev(real_rows_of_complex, compile=False)(z, x))
    h = 1e-6
    for k in range(3):
        e = np.zeros(3, complex)
        e[k] = h
        dx = (real_rows_of_complex(z + e, x) - real_rows_of_complex(z - e, x)) / (2 * h)
        dy = (real_rows_of_complex(z + 1j * e, x) - real_rows_of_complex(z - 1j * e, x)) / (2 * h)
        np.testing.assert_allclose(rows[:, k], dx - 1j * dy, atol=1e-8)
