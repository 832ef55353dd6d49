"""The run-time helpers' compiled fast paths against NumPy, and the allocator tuning."""

import os
import platform
import subprocess
import sys

import numba
import numpy as np
import pytest
from sourcead_runtime import (
    cumprod_tangent,
    expand_reduced,
    matmul_adjoint_left,
    matmul_adjoint_right,
    reverse_cumprod,
    reverse_cumprod_tangent,
    unbroadcast,
)


@numba.njit
def _unbroadcast(g, shape):
    return unbroadcast(g, shape)


@numba.njit
def _expand(g, shape, axis):
    return expand_reduced(g, shape, axis)


@numba.njit
def _right(g, a, b):
    return matmul_adjoint_right(g, a, b)


@numba.njit
def _left(g, a, b):
    return matmul_adjoint_left(g, a, b)


def _summed(g, shape):
    """What broadcasting an operand of ``shape`` to ``g.shape`` makes its adjoint: NumPy."""
    lead = g.ndim - len(shape)
    total = g.sum(axis=tuple(range(lead)))
    stretched = tuple(k for k, n in enumerate(shape) if n == 1)
    return total.sum(axis=stretched, keepdims=True).reshape(shape)


@pytest.mark.parametrize("shape", [(4,), (1,), (5, 4), (1, 4), (5, 1), (1, 1)])
def test_unbroadcast_of_a_matrix_sums_the_stretched_axes(shape):
    g = np.random.default_rng(0).normal(size=(5, 4))
    expected = _summed(g, shape)
    np.testing.assert_allclose(_unbroadcast(g, shape), expected, rtol=1e-13)
    np.testing.assert_allclose(unbroadcast(g, shape), expected, rtol=1e-13)  # uncompiled


def test_unbroadcast_of_a_transposed_matrix_reads_it_by_index():
    g = np.random.default_rng(1).normal(size=(4, 5)).T  # not C-contiguous
    np.testing.assert_allclose(_unbroadcast(g, (4,)), g.sum(axis=0), rtol=1e-13)


@pytest.mark.parametrize("shape", [(3,), (2, 4)])
def test_unbroadcast_refuses_an_adjoint_that_does_not_fit(shape):
    with pytest.raises(ValueError, match="does not fit"):
        _unbroadcast(np.ones((5, 4)), shape)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_expand_reduced_fills_each_row_or_column_of_a_matrix(axis):
    shape = (5, 3)
    g = np.arange(shape[1] if axis == 0 else shape[0], dtype=float) + 1.0
    expected = np.broadcast_to(np.expand_dims(g, axis), shape)
    np.testing.assert_array_equal(_expand(g, shape, axis), expected)
    np.testing.assert_array_equal(expand_reduced(g, shape, axis), expected)


def test_expand_reduced_of_three_dimensions_keeps_the_general_path():
    g = np.arange(6.0).reshape(2, 3)
    expected = np.broadcast_to(g[:, None, :], (2, 4, 3))
    np.testing.assert_array_equal(_expand(g, (2, 4, 3), 1), expected)


@pytest.mark.parametrize("contiguous", [True, False])
def test_matmul_adjoints_with_contiguous_and_strided_operands(contiguous):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 3)) if contiguous else rng.normal(size=(3, 6)).T
    b = rng.normal(size=(3, 2))
    g = rng.normal(size=(6, 2))
    np.testing.assert_allclose(_right(g, a, b), a.T @ g, rtol=1e-13)
    np.testing.assert_allclose(_left(g, a, b), g @ b.T, rtol=1e-13)


# --- cumulative products: reverse_cumprod and the tangents, against their definitions -------


@numba.njit
def _reverse_cumprod(b, x):
    return reverse_cumprod(b, x)


@numba.njit
def _cumprod_tangent(x, dx):
    return cumprod_tangent(x, dx)


@numba.njit
def _reverse_cumprod_tangent(b, x, dx):
    return reverse_cumprod_tangent(b, x, dx)


def _product(x, skip=()):
    return np.prod([v for k, v in enumerate(x) if k not in skip], dtype=x.dtype)


def _cumprod_jacobian(x):
    """d cumprod(x)[j] / d x[i]: the product of x[0..j] but x[i] (i <= j); no division."""
    n = x.size
    return np.array(
        [[_product(x[: j + 1], {i}) if i <= j else 0 for i in range(n)] for j in range(n)]
    )


def _cumprod_jacobian_tangent(x, dx):
    """The Jacobian's derivative along dx, term by term."""
    n = x.size
    out = np.zeros((n, n), dtype=np.result_type(x, dx))
    for j in range(n):
        for i in range(j + 1):
            out[j, i] = sum(dx[m] * _product(x[: j + 1], {i, m}) for m in range(j + 1) if m != i)
    return out


def _cumprod_arguments(n: int, dtype, zeros=()):
    rng = np.random.default_rng(n + len(zeros))
    x, b, dx = (rng.normal(size=n) for _ in range(3))
    if np.dtype(dtype).kind == "c":
        x, b, dx = (v + 1j * rng.normal(size=n) for v in (x, b, dx))
    x[list(zeros)] = 0.0
    return x.astype(dtype), b.astype(dtype), dx.astype(dtype)


@pytest.mark.parametrize(
    "n, zeros",
    [(0, ()), (1, ()), (1, (0,)), (2, (0,)), (5, ()), (5, (2,)), (6, (1, 4)), (4, (3,))],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_cumprod_helpers_are_exact_where_elements_are_zero(n, zeros, dtype):
    x, b, dx = _cumprod_arguments(n, dtype, zeros)
    jacobian = _cumprod_jacobian(x).reshape(n, n)
    rtol = 1e-5 if dtype is np.float32 else 1e-12
    expected = {
        "reverse_cumprod": jacobian.T @ b,
        "cumprod_tangent": jacobian @ dx,
        "reverse_cumprod_tangent": _cumprod_jacobian_tangent(x, dx).reshape(n, n).T @ b,
    }
    got = {
        "reverse_cumprod": (reverse_cumprod(b, x), _reverse_cumprod(b, x)),
        "cumprod_tangent": (cumprod_tangent(x, dx), _cumprod_tangent(x, dx)),
        "reverse_cumprod_tangent": (
            reverse_cumprod_tangent(b, x, dx),
            _reverse_cumprod_tangent(b, x, dx),
        ),
    }
    for name, (python, compiled) in got.items():
        for value in (python, compiled):  # uncompiled (compile=False) and Numba's
            assert value.shape == (n,) and value.dtype == dtype, (name, value.shape, value.dtype)
            assert np.all(np.isfinite(value)), name
            np.testing.assert_allclose(value, expected[name], rtol=rtol, atol=rtol, err_msg=name)


def test_reverse_cumprod_is_shaped_like_x_and_reads_strided_operands():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3)).T  # a Fortran-ordered (3, 4) matrix: cumprod flattens it by rows
    b, dx = rng.normal(size=12), rng.normal(size=(3, 8))[:, ::2]
    flat = np.ascontiguousarray(x).ravel()
    jacobian = _cumprod_jacobian(flat)
    for helper in (reverse_cumprod, _reverse_cumprod):
        value = helper(b, x)
        assert value.shape == (3, 4)
        np.testing.assert_allclose(value.ravel(), jacobian.T @ b, rtol=1e-12)
    for helper in (cumprod_tangent, _cumprod_tangent):
        np.testing.assert_allclose(helper(x, dx), jacobian @ dx.ravel(), rtol=1e-12)
    tangent = _cumprod_jacobian_tangent(flat, dx.ravel()).T @ b
    for helper in (reverse_cumprod_tangent, _reverse_cumprod_tangent):
        np.testing.assert_allclose(helper(b, x, dx).ravel(), tangent, rtol=1e-12)


def _thresholds_after_import(env: dict) -> str:
    """Import the runtime in a fresh process; what ``keep_freed_memory`` reported."""
    code = "import sourcead_runtime.allocator as a; print(a.keep_freed_memory())"
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_allocator_tuning_can_be_turned_off_and_yields_to_the_users_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("SOURCEAD_MALLOC_TUNING", None)
    on_glibc = platform.libc_ver()[0] == "glibc"
    assert _thresholds_after_import(env) == str(on_glibc)
    assert _thresholds_after_import({**env, "SOURCEAD_MALLOC_TUNING": "0"}) == "False"
    assert _thresholds_after_import({**env, "MALLOC_TRIM_THRESHOLD_": "1000000"}) == "False"
