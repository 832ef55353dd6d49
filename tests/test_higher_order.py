"""Jacobians (forward and reverse), Hessians and Hessian-vector products (forward over
reverse), checked against finite differences of gradients and against each other."""

import math

import numpy as np
import pytest
from helpers import (
    assert_args_unchanged,
    copy_args,
    directional_difference,
    numerical_grad,
    wrt_indices,
)

import sourcead

# --- Jacobians ----------------------------------------------------------------------------------


def scalar_to_scalar(x):
    return x * math.sin(x)


def vector_to_scalar(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += math.exp(0.1 * i * x[i]) * x[i]
    return s


def scalar_to_vector(t, n):
    y = np.zeros(n)
    for i in range(n):
        y[i] = math.cos(i * t) + t * t
    return y


def vector_to_vector(x):
    n = x.shape[0]
    y = np.zeros(n + 1)
    for i in range(n):
        y[i] = x[i] * x[(i + 1) % n]
    y[n] = x[0] ** 3
    return y


def matrix_to_matrix(a):
    n, m = a.shape
    b = np.zeros((m, n))
    for i in range(n):
        for j in range(m):
            b[j, i] = a[i, j] * a[i, 0] + math.tanh(a[i, j])
    return b


def two_results(x, c):
    s = 0.0
    for i in range(x.shape[0]):
        s += c * x[i] ** 2
    return s, c * c


def _fd_jacobian(f, args, wrt):
    """Jacobian by finite differences: one row per output element."""
    value = np.asarray(f(*copy_args(args)))
    arg = args[wrt]
    jac = np.zeros(value.shape + np.shape(arg))
    for index in np.ndindex(value.shape):
        row = numerical_grad(f, args, wrt, output=lambda v, index=index: np.asarray(v)[index])
        jac[index] = row
    return jac


JACOBIAN_CASES = [
    (scalar_to_scalar, (0.7,), 0, ()),
    (vector_to_scalar, (np.array([0.3, -0.5, 1.2, 0.8]),), 0, ()),
    (scalar_to_vector, (0.4, 5), 0, (5,)),
    (vector_to_vector, (np.array([0.3, -0.5, 1.2]),), 0, (4,)),
    (matrix_to_matrix, (np.array([[0.3, -0.5, 1.2], [0.8, 0.1, -0.9]]),), 0, (3, 2)),
]


@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
@pytest.mark.parametrize(
    "f, args, wrt, out_shape", JACOBIAN_CASES, ids=[c[0].__name__ for c in JACOBIAN_CASES]
)
def test_jacobian_shape_and_values(f, args, wrt, out_shape, mode):
    jac = sourcead.jacobian(f, wrt, mode=mode, compile=False)(*copy_args(args))
    expected_shape = out_shape + np.shape(args[wrt])
    assert np.shape(jac) == expected_shape
    if expected_shape == ():
        assert isinstance(jac, float)
    np.testing.assert_allclose(jac, _fd_jacobian(f, args, wrt), rtol=1e-6, atol=1e-8)


def test_auto_mode_picks_the_cheaper_direction():
    jac = sourcead.jacobian(scalar_to_vector, compile=False)
    jac(0.4, 5)
    assert jac.last_mode == "forward"
    jac = sourcead.jacobian(vector_to_scalar, compile=False)
    jac(np.ones(4))
    assert jac.last_mode == "reverse"


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_tuple_wrt_and_tuple_output(mode):
    x, c = np.array([0.3, -0.5, 1.2]), 1.7
    (ds_dx, ds_dc), (dcc_dx, dcc_dc) = sourcead.jacobian(
        two_results, wrt=(0, 1), mode=mode, compile=False
    )(x, c)
    np.testing.assert_allclose(ds_dx, 2 * c * x)
    assert ds_dc == pytest.approx(np.sum(x**2))
    np.testing.assert_allclose(dcc_dx, np.zeros(3))
    assert dcc_dc == pytest.approx(2 * c)


def test_jacobian_compiled_forward_equals_reverse():
    x = np.array([0.3, -0.5, 1.2, 0.1])
    forward = sourcead.jacobian(vector_to_vector, mode="forward")(x)
    reverse = sourcead.jacobian(vector_to_vector, mode="reverse")(x)
    np.testing.assert_allclose(forward, reverse, rtol=1e-13, atol=1e-14)


def test_jacfwd_and_jacrev_are_the_jacobian_in_each_mode():
    x = np.array([0.3, -0.5, 1.2, 0.1])
    forward, reverse = sourcead.jacfwd(vector_to_vector), sourcead.jacrev(vector_to_vector)
    np.testing.assert_allclose(forward(x), sourcead.jacobian(vector_to_vector)(x), rtol=1e-14)
    np.testing.assert_allclose(reverse(x), forward(x), rtol=1e-13, atol=1e-14)
    assert (forward.last_mode, reverse.last_mode) == ("forward", "reverse")
    c = 1.7
    assert sourcead.jacrev(two_results, wrt=1, compile=False)(x, c)[1] == pytest.approx(2 * c)


def test_jacobian_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        sourcead.jacobian(vector_to_vector, mode="sideways")


# --- Hessians ---------------------------------------------------------------------------------


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def helper(a, b):
    return a * math.sin(b), a + b * b


def with_calls_and_control(x, c, n):
    s = 0.0
    k = 0
    while s < 3.0 and k < n:
        u, v = helper(x[k % x.shape[0]], c)
        if u > 0.0:
            s += u * v + c
        else:
            s += math.exp(u) * c
        k += 1
    return s * s


def with_local_array(x, c):
    n = x.shape[0]
    y = x.copy()
    for _step in range(4):
        for i in range(n):
            y[i] = y[i] + 0.1 * c * math.sin(y[(i + 1) % n])
    t = 0.0
    for i in range(n):
        t += y[i] * y[i]
    return t


def scalar_loop(x, n):
    s = 1.0
    for _ in range(n):
        s = s * x + math.sin(s)
    return s


def _fd_hessian(f, args, wrt):
    """Finite differences of sourcead's own (checked) gradient, one column per input."""
    grad = sourcead.grad(f, wrt=wrt, compile=False)
    arg = args[wrt]
    shape = np.shape(arg)
    hess = np.zeros(shape + shape)
    for index in np.ndindex(shape):

        def g(delta, index=index):
            shifted = list(copy_args(args))
            if shape:
                shifted[wrt][index] += delta
            else:
                shifted[wrt] = arg + delta
            return np.asarray(grad(*shifted))

        h = 1e-4 * max(1.0, abs(float(np.asarray(arg)[index])))
        column = (8 * (g(h) - g(-h)) - (g(2 * h) - g(-2 * h))) / (12 * h)
        hess[(...,) + index] = column
    return hess


HESSIAN_CASES = [
    (rosenbrock, (np.array([0.3, -0.5, 1.2, 0.8, -0.2]),), 0),
    (with_calls_and_control, (np.array([0.3, 0.9, 1.2]), 0.8, 6), 0),
    (with_calls_and_control, (np.array([0.3, 0.9, 1.2]), 0.8, 6), 1),
    (with_local_array, (np.array([0.3, -0.5, 1.2]), 0.7), 0),
    (scalar_loop, (0.3, 6), 0),
]


@pytest.mark.parametrize(
    "f, args, wrt",
    HESSIAN_CASES,
    ids=[f"{c[0].__name__}-{c[2]}" for c in HESSIAN_CASES],
)
def test_hessian_matches_finite_differences_of_gradient(f, args, wrt):
    _checked_hessian(f, args, wrt, symmetry=1e-12)


def _checked_hessian(f, args, wrt, symmetry):
    """``hessian(f)`` (uncompiled) against finite differences of the gradient, with its
    shape and its symmetry (to ``symmetry``) checked."""
    hess = sourcead.hessian(f, wrt, compile=False)(*copy_args(args))
    shape = np.shape(args[wrt])
    assert np.shape(hess) == shape + shape
    np.testing.assert_allclose(hess, _fd_hessian(f, args, wrt), rtol=1e-6, atol=1e-6)
    n = int(np.prod(shape))
    flat = np.reshape(hess, (n, n))
    np.testing.assert_allclose(flat, flat.T, rtol=symmetry, atol=1e-12)
    return hess


@pytest.mark.parametrize(
    "f, args, wrt", HESSIAN_CASES[:2], ids=[c[0].__name__ for c in HESSIAN_CASES[:2]]
)
def test_hvp_equals_hessian_times_vector(f, args, wrt):
    rng = np.random.default_rng(1)
    v = rng.standard_normal(np.shape(args[wrt]))
    tangents = [None] * len(args)
    tangents[wrt] = v
    product = sourcead.hvp(f, copy_args(args), tangents, compile=False)
    hess = sourcead.hessian(f, wrt, compile=False)(*copy_args(args))
    np.testing.assert_allclose(product, np.tensordot(hess, v, axes=v.ndim), rtol=1e-12)


def squares_in_place(x, y):
    for i in range(x.shape[0]):
        x[i] = x[i] * x[i] * y[i]
    return np.sum(x * x)


@pytest.mark.parametrize("compile_mode", [False, True])
def test_hvp_leaves_arguments_and_tangents_unchanged(compile_mode):
    x, y = np.array([0.5, -1.0, 2.0]), np.array([0.2, 0.3, -0.4])
    dx, dy = np.array([1.0, 0.5, -0.25]), np.array([-1.0, 2.0, 0.5])
    before = copy_args((x, y, dx, dy))
    products = sourcead.hvp(squares_in_place, (x, y), (dx, dy), compile=compile_mode)
    assert_args_unchanged(before, (x, y, dx, dy))
    blocks = sourcead.hessian(squares_in_place, (0, 1), compile=compile_mode)(x, y)
    assert_args_unchanged(before, (x, y, dx, dy))
    for row, product in zip(blocks, products, strict=True):
        np.testing.assert_allclose(product, row[0] @ dx + row[1] @ dy, rtol=1e-12)


def test_hessian_block_structure_for_tuple_wrt():
    x, c = np.array([0.3, 0.9, 1.2]), 0.8
    blocks = sourcead.hessian(with_local_array, wrt=(0, 1), compile=False)(x, c)
    assert np.shape(blocks[0][0]) == (3, 3) and np.shape(blocks[0][1]) == (3,)
    assert np.shape(blocks[1][0]) == (3,) and np.shape(blocks[1][1]) == ()
    np.testing.assert_allclose(blocks[0][1], blocks[1][0], rtol=1e-12)
    np.testing.assert_allclose(blocks[0][0], _fd_hessian(with_local_array, (x, c), 0), rtol=1e-6)


def test_compiled_hessian_and_hvp():
    x = np.array([0.3, -0.5, 1.2, 0.8, -0.2])
    hess = sourcead.hessian(rosenbrock)(x)
    v = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_allclose(sourcead.hvp(rosenbrock, (x,), (v,)), hess @ v, rtol=1e-12)
    np.testing.assert_allclose(hess, _fd_hessian(rosenbrock, (x,), 0), rtol=1e-6, atol=1e-6)


def test_hvp_of_non_scalar_function_is_refused():
    with pytest.raises(ValueError, match="real scalar"):
        sourcead.hvp(vector_to_vector, (np.ones(3),), (np.ones(3),), compile=False)


def test_second_derivative_of_scalar_function_by_grad_of_grad():
    d2 = sourcead.grad(sourcead.grad(scalar_loop, compile=False), compile=False)
    expected = _fd_hessian(scalar_loop, (0.3, 6), 0)
    assert d2(0.3, 6) == pytest.approx(float(expected), rel=1e-6)


def mixed(x, y):
    return x * x * math.sin(y) + math.exp(x * y)


def test_grad_of_grad_mixed_partials():
    x, y = 0.4, 0.9
    d2_dydx = sourcead.grad(sourcead.grad(mixed, wrt=0, compile=False), wrt=1, compile=False)
    expected = 2 * x * math.cos(y) + math.exp(x * y) * (1 + x * y)
    assert d2_dydx(x, y) == pytest.approx(expected, rel=1e-12)
    both = sourcead.grad(sourcead.grad(mixed, wrt=1), wrt=(0, 1))(x, y)
    d2_dy2 = -x * x * math.sin(y) + x * x * math.exp(x * y)
    assert both == pytest.approx((expected, d2_dy2), rel=1e-12)


def test_grad_of_array_gradient_is_refused():
    with pytest.raises(ValueError, match="hessian"):
        sourcead.grad(sourcead.grad(rosenbrock))(np.ones(3))


def calls_jvp(x):
    value, slope = sourcead.jvp(scalar_to_scalar, (x,), (1.0,))
    return slope


def _flight(vx, vy, c):
    x = y = 0.0
    for _i in range(25):
        v = math.sqrt(vx * vx + vy * vy)
        x += 0.05 * vx
        y += 0.05 * vy
        vx -= 0.05 * c * v * vx
        vy -= 0.05 * (9.81 + c * v * vy)
    return (x - 3.0) ** 2 + y**2


def directional_in_a_loop(vx, vy, c, d, n):
    s = 0.0
    for i in range(n):  # slopes along directions that depend on the arguments too
        value, slope = sourcead.jvp(_flight, (vx, vy, c * (1.0 + 0.1 * i)), (d, 1.0 - d * d, None))
        s += slope * slope + 0.01 * value
    return s


def calls_a_function_calling_jvp(x):
    return calls_jvp(x) * 2.0


def jvp_of_a_list(x):
    primals = (x,)
    value, slope = sourcead.jvp(scalar_to_scalar, primals, (1.0,))
    return slope


def test_grad_of_a_function_calling_jvp_reverse_over_forward(compile_mode):
    # d/dx of the derivative x cos x + sin x is the second derivative
    d2 = sourcead.grad(calls_jvp, compile=compile_mode)
    for x in (0.3, 1.7):
        assert d2(x) == pytest.approx(2.0 * math.cos(x) - x * math.sin(x), rel=1e-13)
    assert sourcead.grad(calls_jvp, compile=compile_mode)(0.9) == pytest.approx(
        sourcead.hessian(scalar_to_scalar, compile=compile_mode)(0.9)
    )
    # third derivatives: forward over reverse over forward, and reverse over reverse over it
    third = -3.0 * math.sin(0.9) - 0.9 * math.cos(0.9)
    assert sourcead.hessian(calls_jvp, compile=compile_mode)(0.9) == pytest.approx(third, rel=1e-12)
    assert sourcead.grad(sourcead.grad(calls_jvp, compile=compile_mode), compile=compile_mode)(
        0.9
    ) == pytest.approx(third, rel=1e-12)
    # through a loop, with directions computed from the arguments, by every gradient route
    args = (6.0, 5.0, 0.05, 0.3, 3)
    wrt = (0, 1, 2, 3)
    grads = sourcead.grad(directional_in_a_loop, wrt=wrt, compile=compile_mode)(*args)
    fd = numerical_grad(directional_in_a_loop, args, wrt)
    np.testing.assert_allclose(grads, fd, rtol=1e-6)
    value, pullback = sourcead.vjp(directional_in_a_loop, *args, wrt=0, compile=compile_mode)
    assert value == pytest.approx(directional_in_a_loop(*args), rel=1e-13)
    assert pullback(1.0) == pytest.approx(grads[0], rel=1e-12)
    # forward over forward: jvp and forward-mode Jacobians of it
    _, slope = sourcead.jvp(calls_jvp, (0.9,), (1.0,), compile=compile_mode)
    assert slope == pytest.approx(2.0 * math.cos(0.9) - 0.9 * math.sin(0.9), rel=1e-13)
    forward = sourcead.jacobian(
        directional_in_a_loop, wrt=wrt, mode="forward", compile=compile_mode
    )(*args)
    np.testing.assert_allclose(forward, grads, rtol=1e-12)
    # and the function itself, batched: its jvp calls run as calls of the tangent function
    if compile_mode:  # (vmap always compiles)
        xs = np.array([0.3, 1.7])
        np.testing.assert_allclose(sourcead.vmap(calls_jvp)(xs), np.sin(xs) + xs * np.cos(xs))


def _product_and_sum(p, q):
    return p * q, math.sin(p) + q


def _unpacks_a_call(x, y):
    a, b = _product_and_sum(x, y)
    return a * b


def jvp_through_a_tuple_result(x, y):
    value, slope = sourcead.jvp(_unpacks_a_call, (x, y), (1.0, None))
    return slope * y + value


def test_grad_of_jvp_through_a_call_returning_a_tuple(compile_mode):
    """The tangent of a call returning a tuple unpacks plain names, so the tangent function
    is in the subset that grad differentiates (it was refused at the generated line)."""
    args = (0.3, 0.7)
    grads = sourcead.grad(jvp_through_a_tuple_result, wrt=(0, 1), compile=compile_mode)(*args)
    fd = numerical_grad(jvp_through_a_tuple_result, args, (0, 1))
    np.testing.assert_allclose(grads, fd, rtol=1e-7)
    # and jvp of it: forward over forward through the same call
    _, slope = sourcead.jvp(_unpacks_a_call, args, (1.0, 0.0), compile=compile_mode)
    x, y = args
    assert slope == pytest.approx(y * math.sin(x) + x * y * math.cos(x) + y * y, rel=1e-14)


def test_what_cannot_call_jvp_is_refused_ahead_of_time():
    with pytest.raises(sourcead.SourceADError, match="not in the functions it calls"):
        sourcead.grad(calls_a_function_calling_jvp)
    with pytest.raises(sourcead.SourceADError, match="tuples written out"):
        sourcead.grad(jvp_of_a_list)


def tapes_of_every_kind(x, step):
    s = 0.0
    for i in range(1, x.shape[0], step):  # a step known only at run time
        t = x[i] * x[i - 1]
        k = 0
        while t < 2.0 and k < 3:  # trip counts taped inside the loop
            t = t * 1.5 + x[i]
            k += 1
        if t > 1.0:  # a branch whose condition the branch itself changes
            t = math.sqrt(t)
        s += t * x[0]
    return s


def test_hessian_through_int_and_bool_tapes():
    x = np.array([0.7, 0.4, 1.3, 0.2, 0.9, 0.5])
    hess = sourcead.hessian(tapes_of_every_kind, compile=False)(x, 2)
    np.testing.assert_allclose(
        hess, _fd_hessian(tapes_of_every_kind, (x, 2), 0), rtol=1e-6, atol=1e-6
    )


def test_hvp_vector_mode_gives_hessian_times_matrix():
    x = np.array([0.3, -0.5, 1.2, 0.8, -0.2])
    V = np.random.default_rng(4).standard_normal((5, 3))
    products = sourcead.hvp(rosenbrock, (x,), (V,), compile=False)
    hess = sourcead.hessian(rosenbrock, compile=False)(x)
    np.testing.assert_allclose(products, hess @ V, rtol=1e-12)


# --- second derivatives of whole-array code: forward mode over an adjoint that calls the
# runtime's helpers (expand_reduced, unbroadcast, matmul adjoints) and tapes whole arrays


def matrix_energy(a):
    return np.sum(np.sin(a) * a)


def squared_row_sums(a):
    s = np.sum(a * a, axis=1)
    return np.dot(s, s)


def layers(x, w):
    h = x  # rebound in the loop: its old values go on a tape of whole arrays
    for _ in range(3):
        h = np.tanh(h @ w)
    return np.sum(h * h)


def centred(a, v):
    return np.sum(np.exp(a - v) ** 2)  # v broadcast along the rows


_rng = np.random.default_rng(5)
ARRAY_HESSIAN_CASES = [
    (matrix_energy, (_rng.random((2, 3)),), 0),
    (squared_row_sums, (_rng.random((3, 2)),), 0),
    (layers, (_rng.random((2, 3)), 0.5 * _rng.random((3, 3))), 0),
    (layers, (_rng.random((2, 3)), 0.5 * _rng.random((3, 3))), 1),
    (centred, (_rng.random((3, 2)), _rng.random(2)), 1),
    (centred, (_rng.random((3, 2)), _rng.random(2)), 0),
]


@pytest.mark.slow  # compiled Hessians of array code, seconds each: CI's slow group
@pytest.mark.parametrize(
    "f, args, wrt",
    ARRAY_HESSIAN_CASES,
    ids=[f"{c[0].__name__}-{c[2]}" for c in ARRAY_HESSIAN_CASES],
)
def test_hessians_of_whole_array_code_match_finite_differences(f, args, wrt):
    hess = _checked_hessian(f, args, wrt, symmetry=1e-10)
    v = _rng.standard_normal(np.shape(args[wrt]))
    tangents = [None] * len(args)
    tangents[wrt] = v
    product = sourcead.hvp(f, copy_args(args), tangents)  # compiled
    np.testing.assert_allclose(product, np.tensordot(hess, v, axes=v.ndim), rtol=1e-10)


def test_reverse_mode_refuses_the_helpers_of_generated_adjoints():
    from sourcead_runtime import unbroadcast

    def uses_a_helper(a):
        return np.sum(unbroadcast(a * a, (a.shape[1],)))

    with pytest.raises(sourcead.SourceADError, match="generated adjoint code"):
        sourcead.grad(uses_a_helper)(np.ones((2, 3)))


def product_with_a_constant(x, w):
    return np.sum(np.tanh(x @ w))


def test_jvp_through_a_product_with_a_constant_matrix():
    x, w = _rng.random((2, 3)), _rng.random((3, 4))
    v = _rng.random((2, 3))
    _, slope = sourcead.jvp(product_with_a_constant, (x, w), (v, None))
    eps = 1e-6
    expected = (
        product_with_a_constant(x + eps * v, w) - product_with_a_constant(x - eps * v, w)
    ) / (2 * eps)
    assert slope == pytest.approx(expected, rel=1e-7)


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_compiled_hessian_of_a_loop_that_tapes_whole_arrays():
    # vector mode: one direction of the tangent tape is a strided view
    x, w = _rng.random((2, 3)), 0.5 * _rng.random((3, 3))
    compiled = sourcead.hessian(layers, wrt=1)(x, w)
    np.testing.assert_allclose(
        compiled, sourcead.hessian(layers, wrt=1, compile=False)(x, w), rtol=1e-12
    )


# --- every scalar case of the reverse-mode tables ---------------------------------------------
def _scalar_cases():
    """The cases of the reverse-mode tables (as in test_forward.py and
    test_forward_numpy.py) whose function returns a float: second derivatives must take
    every construct reverse mode takes, element loops, whole arrays and linear algebra."""
    from test_forward import ALL_CASES
    from test_forward_numpy import CASES as ARRAY_CASES

    cases = list(ALL_CASES) + list(ARRAY_CASES)
    return [p for p in cases if isinstance(p.values[0](*copy_args(p.values[1])), float)]


@pytest.mark.parametrize("f, args, wrt, opts", _scalar_cases())
def test_hvp_of_every_scalar_case_matches_differences_of_the_gradient(f, args, wrt, opts):
    # w · (H v) against the derivative of w · grad f(x + delta v) at delta = 0
    indices = sorted(wrt_indices(f, wrt)[0])
    rng = np.random.default_rng(len(indices))
    v = {i: rng.uniform(-1.0, 1.0, np.shape(args[i])) for i in indices}
    w = {i: rng.uniform(-1.0, 1.0, np.shape(args[i])) for i in indices}
    tangents = [None] * len(args)
    for i in indices:
        tangents[i] = v[i] if np.ndim(args[i]) else float(v[i])
    before = copy_args(args)
    products = sourcead.hvp(f, copy_args(args), tangents, compile=False)
    assert_args_unchanged(before, args)
    products = products if len(indices) > 1 else (products,)
    gradient = sourcead.grad(f, wrt=tuple(indices), compile=False)

    def along(delta):
        shifted = list(copy_args(args))
        for i in indices:
            shifted[i] = shifted[i] + delta * v[i]
        return sum(
            float(np.sum(g * w[i])) for g, i in zip(gradient(*shifted), indices, strict=True)
        )

    expected = directional_difference(along, rtol=opts["rtol"], atol=opts["atol"])
    got = sum(float(np.sum(p * w[i])) for p, i in zip(products, indices, strict=True))
    np.testing.assert_allclose(got, expected, rtol=max(opts["rtol"], 1e-6), atol=opts["atol"])


def babylonian_step(x, a):
    return 0.5 * (x + a / x)


def square_root_by_fixed_point(a):
    r = sourcead.fixed_point(babylonian_step, 1.0, a)
    return r * r * a


def test_second_derivatives_through_a_solver_are_refused_at_the_call():
    # forward mode takes the solver (tests/test_solvers_forward.py); forward mode over the
    # solver's generated adjoint does not: the refusal, met in the solver's generated
    # helpers, must name the user's line that calls the solver
    value, slope = sourcead.jvp(square_root_by_fixed_point, (2.0,), (1.0,), compile=False)
    assert (value, slope) == (pytest.approx(4.0), pytest.approx(4.0))
    with pytest.raises(sourcead.SourceADError, match="second derivatives") as refusal:
        sourcead.hvp(square_root_by_fixed_point, (2.0,), (1.0,), compile=False)
    solver_call = square_root_by_fixed_point.__code__.co_firstlineno + 1
    assert (refusal.value.filename, refusal.value.lineno) == (__file__, solver_call)
    assert "do not go through sourcead.fixed_point" in str(refusal.value)


def sine_weighted(x):
    return np.sum(np.sin(x) * x)


def test_second_derivatives_of_float32_arguments_stay_float32():
    x = np.array([0.1, 0.2, 0.3], np.float32)
    product = sourcead.hvp(sine_weighted, (x,), (np.ones(3, np.float32),), compile=False)
    assert product.dtype == np.float32
    assert sourcead.hessian(sine_weighted, compile=False)(x).dtype == np.float32
    reference = sourcead.hvp(sine_weighted, (x.astype(float),), (np.ones(3),), compile=False)
    np.testing.assert_allclose(product, reference, rtol=1e-6)


def decay(y, t, k):
    return -k * y


def last_of_a_decay(k):
    return sourcead.odeint(decay, 1.0, np.linspace(0.0, 1.0, 3), k)[2]


def test_second_derivatives_through_an_indexed_solver_call_name_it():
    # the solver's result indexed at once: the failing wrapper line had no user line, and the
    # refusal quoted generated code at the def's line
    with pytest.raises(sourcead.SourceADError, match="do not go through sourcead.odeint") as e:
        sourcead.hessian(last_of_a_decay, compile=False)(0.5)
    assert e.value.lineno == last_of_a_decay.__code__.co_firstlineno + 1
