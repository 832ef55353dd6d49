"""The run-time helpers' compiled fast paths against NumPy, and the allocator tuning."""

import os
import platform
import subprocess
import sys

import numba
import numpy as np
import pytest
from sourcead_runtime import (
    expand_reduced,
    matmul_adjoint_left,
    matmul_adjoint_right,
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
