"""Forward mode on whole-array NumPy and linear-algebra programs: the reverse-mode case
tables of test_numpy_arrays.py and test_linalg.py, checked with jvp against finite
differences."""

import numpy as np
import pytest
from helpers import copy_args, numerical_grad, wrt_indices
from test_forward import _direction, _dot
from test_linalg import CASES as LINALG_CASES
from test_numpy_arrays import CASES as NUMPY_CASES

import sourcead

CASES = [pytest.param(*c.values, id=c.id, marks=c.marks) for c in NUMPY_CASES + LINALG_CASES]


@pytest.mark.parametrize("f, args, wrt, opts", CASES)
def test_jvp_matches_finite_differences(f, args, wrt, opts):
    indices, _ = wrt_indices(f, wrt)
    tangents = _direction(args, indices, seed=11)
    value, tangent = sourcead.jvp(f, copy_args(args), tangents, compile=False)
    fd = numerical_grad(f, copy_args(args), wrt, rtol=opts["rtol"], atol=opts["atol"])
    rtol, atol = max(opts["rtol"], 1e-6), max(opts["atol"], 1e-8)
    np.testing.assert_allclose(tangent, _dot(fd, tangents, indices), rtol=rtol, atol=atol)


@pytest.mark.parametrize("f, args, wrt, opts", CASES[::4])
def test_vector_mode(f, args, wrt, opts):
    indices, _ = wrt_indices(f, wrt)
    directions = [_direction(args, indices, seed=s) for s in range(2)]
    stacked = [
        None if i not in indices else np.stack([d[i] for d in directions], axis=-1)
        for i in range(len(args))
    ]
    _, tangent = sourcead.jvp(f, copy_args(args), stacked, compile=False)
    for q, d in enumerate(directions):
        _, single = sourcead.jvp(f, copy_args(args), d, compile=False)
        np.testing.assert_allclose(tangent[..., q], single, rtol=1e-10, atol=1e-12)


@pytest.mark.slow  # compiled runs of the case table: CI runs them (-m slow)
@pytest.mark.parametrize(
    "f, args, wrt, opts, vector",
    [
        pytest.param(*c.values, vector, id=f"{c.id}-{'vector' if vector else 'single'}")
        for c in CASES
        for vector in (False, True)
        if (c.id, vector) in {("solve", False), ("solve", True)}
    ],
)
def test_compiled_equals_python(f, args, wrt, opts, vector):
    indices, _ = wrt_indices(f, wrt)
    directions = [_direction(args, indices, seed=s) for s in range(2)]
    if vector:
        tangents = [
            None if i not in indices else np.stack([d[i] for d in directions], axis=-1)
            for i in range(len(args))
        ]
    else:
        tangents = directions[0]
    compiled = sourcead.jvp(f, copy_args(args), tangents)
    python = sourcead.jvp(f, copy_args(args), tangents, compile=False)
    np.testing.assert_allclose(compiled[1], python[1], rtol=1e-12, atol=1e-12)
