"""Forward mode: jvp on every function of the reverse-mode case tables, against finite
differences, in both single-direction and vector mode; consistency with grad."""

import math

import numpy as np
import pytest
from helpers import assert_args_unchanged, copy_args, numerical_grad, wrt_indices
from test_arrays import PROGRAM_CASES, READ_CASES, WRITE_CASES
from test_calls import CALL_CASES
from test_control_flow import ASSIGN_CASES, BRANCH_CASES
from test_loops import COMBINED_CASES, FOR_CASES, WHILE_CASES
from test_scalar_ops import ARITH_CASES, MATH_CASES, NP_CASES

import sourcead

ALL_CASES = (
    ARITH_CASES
    + MATH_CASES
    + NP_CASES
    + ASSIGN_CASES
    + BRANCH_CASES
    + FOR_CASES
    + WHILE_CASES
    + COMBINED_CASES
    + READ_CASES
    + WRITE_CASES
    + PROGRAM_CASES
    + CALL_CASES
)


def _direction(args, indices, seed):
    """A random tangent for the arguments ``indices`` (None for the others)."""
    rng = np.random.default_rng(seed)
    tangents = [None] * len(args)
    for i in indices:
        a = args[i]
        tangents[i] = rng.uniform(-1.0, 1.0, np.shape(a)) if np.ndim(a) else rng.uniform(-1, 1)
    return tangents


def _dot(grads, tangents, indices):
    grads = grads if isinstance(grads, tuple) else (grads,)
    return sum(float(np.sum(g * tangents[i])) for g, i in zip(grads, indices, strict=True))


@pytest.mark.parametrize("f, args, wrt, opts", ALL_CASES)
def test_jvp_matches_finite_differences(f, args, wrt, opts):
    args = copy_args(args)
    before = copy_args(args)
    indices, _ = wrt_indices(f, wrt)
    tangents = _direction(args, indices, seed=len(args))
    before_tangents = copy_args(tuple(t for t in tangents if t is not None))
    value, tangent = sourcead.jvp(f, args, tangents, compile=False)
    assert_args_unchanged(before, args)
    assert_args_unchanged(before_tangents, tuple(t for t in tangents if t is not None))
    np.testing.assert_allclose(value, f(*copy_args(args)), rtol=1e-12, atol=1e-12)
    fd = numerical_grad(f, before, wrt, rtol=opts["rtol"], atol=opts["atol"])
    expected = _dot(fd, tangents, indices)
    np.testing.assert_allclose(tangent, expected, rtol=opts["rtol"], atol=opts["atol"])


@pytest.mark.parametrize("f, args, wrt, opts", ALL_CASES[::3])
def test_vector_mode_equals_separate_directions(f, args, wrt, opts):
    indices, _ = wrt_indices(f, wrt)
    k = 3
    directions = [_direction(args, indices, seed=s) for s in range(k)]
    stacked = [
        None if i not in indices else np.stack([d[i] for d in directions], axis=-1)
        for i in range(len(args))
    ]
    _, tangent = sourcead.jvp(f, copy_args(args), stacked, compile=False)
    assert np.shape(tangent) == (k,)
    for q, d in enumerate(directions):
        _, single = sourcead.jvp(f, copy_args(args), d, compile=False)
        np.testing.assert_allclose(tangent[q], single, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("f, args, wrt, opts", ALL_CASES[1::4])
def test_jvp_equals_grad_dot_direction(f, args, wrt, opts):
    indices, _ = wrt_indices(f, wrt)
    tangents = _direction(args, indices, seed=7)
    _, tangent = sourcead.jvp(f, copy_args(args), tangents, compile=False)
    grads = sourcead.grad(f, wrt=tuple(indices), compile=False)(*copy_args(args))
    np.testing.assert_allclose(tangent, _dot(grads, tangents, indices), rtol=1e-10, atol=1e-12)


_COMPILED = [
    c
    for c in ALL_CASES
    if c.id
    in {
        "rational",
        "logistic_map",
        "early_return-first",
        "back_substitution",
        "call_in_loop",
        "array_swap_in_loop-odd",
        "while_array_condition",
    }
]


@pytest.mark.parametrize("f, args, wrt, opts", _COMPILED)
def test_compiled_jvp_equals_python(f, args, wrt, opts):
    indices, _ = wrt_indices(f, wrt)
    tangents = _direction(args, indices, seed=3)
    compiled = sourcead.jvp(f, copy_args(args), tangents)
    python = sourcead.jvp(f, copy_args(args), tangents, compile=False)
    np.testing.assert_allclose(compiled, python, rtol=1e-13, atol=1e-13)


def test_compiled_table_covers_the_chosen_functions():
    assert len(_COMPILED) == 7


# --- outputs: scalars, arrays, tuples ---------------------------------------------------------


def square_elements(x, c):
    y = np.zeros_like(x)
    for i in range(x.shape[0]):
        y[i] = c * x[i] * x[i]
    return y


def two_outputs(x, y):
    return x * y, math.sin(x) + y


def returns_argument(x, y):
    return x


def test_array_output_and_vector_mode():
    x = np.array([0.5, -1.0, 2.0])
    value, tangent = sourcead.jvp(square_elements, (x, 1.5), (np.ones(3), None), compile=False)
    np.testing.assert_allclose(value, 1.5 * x * x)
    np.testing.assert_allclose(tangent, 2 * 1.5 * x)
    value, tangents = sourcead.jvp(square_elements, (x, 1.5), (np.eye(3), np.zeros(3)))
    assert tangents.shape == (3, 3)
    np.testing.assert_allclose(tangents, np.diag(3.0 * x))


def test_tuple_output():
    value, tangent = sourcead.jvp(two_outputs, (0.3, 2.0), (1.0, 0.5), compile=False)
    assert isinstance(tangent, tuple) and len(tangent) == 2
    np.testing.assert_allclose(tangent, (2.0 + 0.3 * 0.5, math.cos(0.3) + 0.5))


def test_returned_argument_is_a_copy():
    t = np.ones(3)
    _, tangent = sourcead.jvp(returns_argument, (np.zeros(3), 1.0), (t, None), compile=False)
    tangent[0] = 5.0
    assert t[0] == 1.0


def squares_in_place(x, y):
    for i in range(x.shape[0]):
        x[i] = x[i] * x[i] + y[i]
        y[i] = 2.0 * y[i]
    return np.sum(x * y)


@pytest.mark.parametrize("compile_mode", [False, True])
def test_tangents_written_by_the_function_are_not_the_callers(compile_mode):
    # jvp passes float64 tangents through without copying them; the generated code must copy
    # the ones it writes, as it copies the arguments themselves.
    x, y = np.array([0.5, -1.0, 2.0]), np.array([0.2, 0.3, -0.4])
    dx, dy = np.array([1.0, 0.5, -0.25]), np.array([-1.0, 2.0, 0.5])
    before = copy_args((x, y, dx, dy))
    value, tangent = sourcead.jvp(squares_in_place, (x, y), (dx, dy), compile=compile_mode)
    assert_args_unchanged(before, (x, y, dx, dy))
    expected = float(np.dot(sourcead.grad(squares_in_place, wrt=(0, 1))(x, y)[0], dx))
    expected += float(np.dot(sourcead.grad(squares_in_place, wrt=(0, 1))(x, y)[1], dy))
    np.testing.assert_allclose(tangent, expected, rtol=1e-12)
    np.testing.assert_allclose(value, squares_in_place(*copy_args((x, y))), rtol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="one tangent per argument"):
        sourcead.jvp(two_outputs, (0.3, 2.0), (1.0,))
    with pytest.raises(ValueError, match="at least one tangent"):
        sourcead.jvp(two_outputs, (0.3, 2.0), (None, None))
    with pytest.raises(ValueError, match="shape"):
        sourcead.jvp(square_elements, (np.ones(3), 1.0), (np.ones(4), None))
    with pytest.raises(ValueError, match="disagree"):
        sourcead.jvp(two_outputs, (0.3, 2.0), (1.0, np.ones(2)))
    with pytest.raises(TypeError, match="int"):
        sourcead.jvp(two_outputs, (3, 2.0), (1.0, None))


def test_generated_tangent_code_reads_like_the_function():
    source = sourcead.tangent_source(two_outputs, (0.3, 2.0), (1.0, None))
    function = source[source.index("def two_outputs_tangent(x, y, dx):") :]
    assert "    dresult_0 = dx * y\n    result_0 = x * y\n" in function
    assert "tape" not in function


# --- tangent rules ------------------------------------------------------------------------------


def test_every_adjoint_rule_has_a_tangent_rule():
    from sourcead.rules import entries

    built_in = [e for e in entries() if e.builtin and not e.forward_only]
    missing = [e.name for e in built_in if e.adjoint is not None and e.tangent_rule(False) is None]
    missing += [
        e.name
        for e in built_in
        if e.array_adjoint is not None and e.tangent_rule(arrays=True) is None
    ]
    # an array rule that differs from the scalar rule needs an array tangent rule too
    missing += [
        e.name
        for e in built_in
        if e.array_adjoint is not None and e.adjoint is not None and e.array_tangent is None
    ]
    assert len(built_in) > 60  # the built-in entries were seen
    assert not missing, f"no tangent rule for {missing}"


@sourcead.primitive
def softplus(x):
    return math.log1p(math.exp(x))


@sourcead.adjoint(softplus)
def _softplus_adjoint(b_out, x):
    return b_out / (1.0 + math.exp(-x))


@sourcead.tangent(softplus)
def _softplus_tangent(dx, x):
    return dx / (1.0 + math.exp(-x))


def uses_softplus(x):
    return 2.0 * softplus(x * x)


def test_user_primitive_with_tangent_rule():
    x = 0.7
    value, tangent = sourcead.jvp(uses_softplus, (x,), (1.0,), compile=False)
    assert value == pytest.approx(2.0 * math.log1p(math.exp(x * x)))
    assert tangent == pytest.approx(numerical_grad(uses_softplus, (x,)), rel=1e-8)
    source = sourcead.tangent_source(uses_softplus, (x,), (1.0,))
    assert "dx * x" in source and "(1.0 + math.exp(-(x * x)))" in source


def test_user_tangent_rule_format_is_checked():
    from sourcead.errors import SourceADError

    with pytest.raises(SourceADError, match="one tangent per argument"):

        @sourcead.tangent(softplus)
        def bad(dx, x, y):
            return dx


@sourcead.primitive
def cube(x):
    return x * x * x


@sourcead.adjoint(cube)
def _cube_adjoint(b_out, x):
    return 3.0 * b_out * x * x


def uses_cube(x):
    return cube(x) + 1.0


def test_primitive_without_tangent_rule_is_refused():
    assert sourcead.grad(uses_cube, compile=False)(2.0) == pytest.approx(12.0)
    with pytest.raises(sourcead.SourceADError, match="no tangent rule"):
        sourcead.jvp(uses_cube, (2.0,), (1.0,), compile=False)
