"""What the adjoint records: only values its backward sweep needs, on tapes sized up front.

Each program is checked twice: its gradient against finite differences (in both compile
modes), and its generated source for the tapes it should and should not have.
"""

import math
import re

import numpy as np
import pytest
import sourcead_runtime
from helpers import case, run_case

import sourcead


def state_read_after_loop(vx, c):
    # x is overwritten in the loop but read by the backward sweep only after it: no tape.
    x = 0.0
    for _ in range(50):
        v = math.sqrt(vx * vx + 1.0)
        x += 0.1 * vx
        vx -= 0.1 * c * v * vx
    return (x - 3.0) ** 2


def loop_variable_after_second_loop(x, n):
    s = x
    i = 1
    for i in range(n):  # noqa: B007 (i is read after the loop)
        s = s * x + 0.1
    t = s * i  # the first loop's last i, needed after the second loop overwrote i
    for i in range(2 * n):
        t = t + math.sin(x * i)
    return t


def inner_bounds_depend_on_outer(x, n):
    # The inner trip count changes with i: room is made at the inner loop's entry.
    s = x
    for i in range(n):
        for j in range(i):
            s = s * x * 0.9 + math.sin(s) * 0.1 + j * 0.01
    return s


def inner_bound_defined_in_branch(x, flag):
    m = 0
    if flag > 0:
        m = 3
    s = x
    for _ in range(4):
        for _ in range(m):
            s = math.sin(s) + x
    return s


def counted_loop_inside_while(x):
    s = x
    k = 0
    while k < 5:
        for _ in range(3):
            s = s * 0.8 + math.cos(s) * x
        k += 1
    return s


def break_in_counted_loop(x, n):
    s = x
    for i in range(n):
        s = s * 0.9 + math.sin(s) * x
        if s > 2.0 + i:
            break
    return s


def elements_overwritten_in_nested_loops(u0, kappa):
    n = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    for _ in range(5):
        for i in range(1, n - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, n - 1):
            u[i] = un[i] * un[i]
    s = 0.0
    for i in range(n):
        s += u[i]
    return s


RNG = np.random.default_rng(3)

CASES = [
    case(state_read_after_loop, 2.0, 0.05, wrt=(0, 1)),
    case(loop_variable_after_second_loop, 0.7, 4),
    case(loop_variable_after_second_loop, 0.7, 0, id="loop_variable_zero_trips"),
    case(inner_bounds_depend_on_outer, 0.6, 5),
    case(inner_bound_defined_in_branch, 0.4, 1),
    case(inner_bound_defined_in_branch, 0.4, -1, id="inner_bound_branch_not_taken"),
    case(counted_loop_inside_while, 0.5),
    case(break_in_counted_loop, 0.5, 40),
    case(
        elements_overwritten_in_nested_loops,
        RNG.uniform(0.2, 0.6, 8),
        RNG.uniform(0.5, 1.0, 8),
        wrt=(0, 1),
    ),
]


@pytest.mark.parametrize("f, args, wrt, opts", CASES)
def test_gradient(f, args, wrt, opts, compile_mode):
    run_case(f, args, wrt, opts, compile_mode)


def generated(f, *args, wrt=0):
    g = sourcead.grad(f, wrt=wrt, compile=False)
    g(*args)
    return g.source


def test_values_read_only_after_the_loop_are_not_taped():
    source = generated(state_read_after_loop, 2.0, 0.05, wrt=(0, 1))
    assert not re.search(r"\bx_tape", source)
    assert "vx_tape" in source and "v_tape" in source


def test_counted_loops_reserve_their_tapes_before_the_outermost_loop():
    source = generated(elements_overwritten_in_nested_loops, np.ones(6), np.ones(6), wrt=(0, 1))
    assert "u_tape = reserve(u_tape, u_top + 5 * max(n - 1 - 1, 0))" in source
    assert "un_tape = reserve(un_tape, un_top + 5 * max(n - 1 - 1, 0))" in source
    assert "grow(" not in source.split("# forward sweep")[1].split("# backward sweep")[0]
    assert "i_tape" not in source  # the reversed loops set i again themselves


def test_inner_trip_counts_that_vary_are_reserved_at_the_inner_loop():
    source = generated(inner_bounds_depend_on_outer, 0.6, 5)
    forward = source.split("# forward sweep")[1].split("# backward sweep")[0]
    lines = [line.strip() for line in forward.splitlines()]
    # room for this i, and a guess for the iterations of i left (see runtime.reserve)
    reserve = lines.index(
        "s_tape = reserve(s_tape, s_top + max(i, 0), s_top + max(i, 0) * trip_count(i, n, 1))"
    )
    assert lines[reserve + 1] == "for j in range(i):"


def test_reserve_makes_room_for_what_the_outer_loops_are_expected_to_push():
    tape = sourcead_runtime.new_tape(np.float64)
    tape[:3] = 1.0, 2.0, 3.0
    assert len(sourcead_runtime.reserve(tape, 10)) == len(tape)  # room already
    assert len(sourcead_runtime.reserve(tape, 100)) == 2 * len(tape)  # no guess: doubled
    assert len(sourcead_runtime.reserve(tape, 200)) == 200
    assert len(sourcead_runtime.reserve(tape, 100, 500)) == 500
    longer = sourcead_runtime.reserve(tape, 100, 10**12)  # a guess far too high: capped
    assert len(longer) == 128 * 100 and list(longer[:3]) == [1.0, 2.0, 3.0]


def test_loops_that_can_exit_early_grow_their_tapes():
    source = generated(break_in_counted_loop, 0.5, 40)
    assert "grow(s_tape)" in source and "reserve(s_tape" not in source


def pair_of(c):
    out = np.zeros(2)
    out[0] = 0.5 * math.tanh(c)
    out[1] = c * c
    return out


def array_result_rebound_in_loop(c, n):
    # each iteration binds m to a new array; the backward sweep needs every one of them
    s = 0.0
    for i in range(n):
        m = pair_of(c + 0.1 * i)
        s += m[0] * m[1]
    return s


@pytest.mark.parametrize("n", [0, 1, 3])
def test_array_results_of_calls_rebound_in_a_loop(n, compile_mode):
    run_case(array_result_rebound_in_loop, (0.7, n), 0, {}, compile_mode)


def pushed_in_a_loop_and_in_its_inner_loop(icf, x):
    # v is taped both in the j loop and in the c loop inside it, whose trip count varies:
    # the room reserved before the j loop must not be used up by the inner pushes
    total = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = math.exp(icf[j]) * x[i, j]
            for c in range(j):
                v += icf[4 + c] * x[i, c] * v
            total += v * v
    return total


def test_pushes_at_two_depths_of_one_name(compile_mode):
    rng = np.random.default_rng(8)
    args = (rng.normal(size=8) * 0.1, rng.normal(size=(3, 4)))
    run_case(pushed_in_a_loop_and_in_its_inner_loop, args, 0, {}, compile_mode)


def swap_with_a_name_without_derivative(x, y, z):
    s = x if x < 0.0 else z
    s, x = s, x  # s has a derivative (wrt z), x has none
    a, b = z * z, x
    a, b = b, a  # a value with a derivative moves into a name that had none
    return s + x * y + a * b + b


@pytest.mark.parametrize("wrt", [(2,), (0, 1, 2), (1,)])
def test_permutations_mixing_names_with_and_without_derivatives(wrt, compile_mode):
    run_case(swap_with_a_name_without_derivative, (0.3, 0.4, 0.7), wrt, {}, compile_mode)


# --- whole arrays rebound in loops: pushed element by element, popped as views ------------------
def vector_shrinking_each_step(x, n):
    v = x.copy()
    s = 0.0
    for _ in range(n):
        v = np.sin(v[1:]) * v[:-1] + 0.5  # one element shorter every step
        s += np.sum(v * v)
    return s


def complex_vector_rebound(z, n):
    for _ in range(n):
        z = z * (0.9 + 0.3j) + 0.05 * z * z
    return np.sum(np.abs(z) ** 2)


def matrix_rebound(a, n):
    for _ in range(n):
        a = np.tanh(a @ a.T * 0.1) + a
    return np.sum(a * a)


@pytest.mark.parametrize(
    "f, args",
    [
        (vector_shrinking_each_step, (np.linspace(0.2, 1.4, 9), 5)),
        (complex_vector_rebound, (np.array([0.3 + 0.2j, -0.4 + 0.1j, 0.2 - 0.5j]), 6)),
        (matrix_rebound, (np.linspace(-0.5, 0.5, 9).reshape(3, 3), 4)),
    ],
    ids=["float vector, varying length", "complex vector", "matrix (push_array call)"],
)
def test_arrays_rebound_in_loops(f, args, compile_mode):
    if np.iscomplexobj(args[0]):
        z, n = args
        g = sourcead.grad(f, compile=compile_mode)(z, n)
        eps = 1e-6
        for k in range(z.size):  # JAX's convention: d/dRe + 1j d/dIm, conjugated
            step = np.zeros_like(z)
            step[k] = eps
            d_re = (f(z + step, n) - f(z - step, n)) / (2 * eps)
            d_im = (f(z + 1j * step, n) - f(z - 1j * step, n)) / (2 * eps)
            assert abs(g[k] - (d_re - 1j * d_im)) < 1e-6
    else:
        run_case(f, args, 0, {}, compile_mode)
    if f is not matrix_rebound:  # vectors: written-out pushes, no helper call per push
        source = sourcead.grad(f).source
        assert "push_array(" not in source
        assert re.search(r"\b([zv])_tape = reserve\(\1_tape, \1_top \+ \1\.shape\[0\]\)", source)


def test_hessian_vector_products_through_rebound_vectors(compile_mode):
    x, n = np.linspace(0.2, 1.4, 7), 4
    v = np.linspace(-1.0, 1.0, 7)
    hv = sourcead.hvp(vector_shrinking_each_step, (x, n), (v, None), compile=compile_mode)
    gradient = sourcead.grad(vector_shrinking_each_step)
    eps = 1e-6
    expected = (gradient(x + eps * v, n) - gradient(x - eps * v, n)) / (2 * eps)
    np.testing.assert_allclose(hv, expected, rtol=1e-6, atol=1e-8)


# --- array names rebound to arrays of another shape: the adjoint follows the shape --------------
def shorter_once(x):
    v = x * 1.0
    v = v[1:] * 2.0
    return np.sum(v * v)


def shorter_each_step_linear(x, n):
    v = x * 1.0
    for _ in range(n):
        v = v[1:] * 2.0  # v's old values are not needed: only its shape is taped
    return np.sum(v * v)


def shorter_each_step_from_the_argument(x, n):
    v = x  # the argument itself: the loop's statement stays a whole-array one, not fused
    for _ in range(n):
        v = v[1:] + np.sin(v[:-1])
    return np.sum(v * v)


def element_of_itself(x, w):
    v = x * 1.0
    v = v[0] * w  # v's length becomes w's
    return np.sum(v * v)


def matrix_from_its_rows(a, m):
    b = a * 1.0
    b = b[1:] @ m
    return np.sum(b * b)


def squares_summed_by_row(a, w, n):
    total = 0.0
    for k in range(n):
        p = a * w[k]
        q = p * p  # rebound every step; only its shape is read by np.sum's adjoint
        total = total + np.sum(np.sum(q, axis=1) * w)
    return total


def test_arrays_whose_shape_alone_the_gradient_reads_are_not_taped(compile_mode):
    args = (np.linspace(0.1, 1.2, 12).reshape(3, 4), np.array([0.5, -1.0, 2.0]), 3)
    run_case(squares_summed_by_row, args, (0, 1), {}, compile_mode)
    g = sourcead.grad(squares_summed_by_row, wrt=(0, 1))
    g(*args)
    source = g.source
    # p's elements are read: restored, by computing it again (a and w never change)
    assert "p = a * w[k - 1]" in source and "p_tape" not in source
    assert "q_tape" not in source and "q_shape_0_tape" in source


@pytest.mark.parametrize(
    "f, args",
    [
        (shorter_once, (np.linspace(0.1, 1.0, 6),)),
        (shorter_each_step_linear, (np.linspace(0.1, 1.0, 6), 3)),
        (shorter_each_step_from_the_argument, (np.linspace(0.1, 1.0, 6), 3)),
        (element_of_itself, (np.array([0.5, 1.5, 2.0]), np.array([1.0, 2.0, 3.0, 4.0]))),
        (matrix_from_its_rows, (np.arange(12.0).reshape(4, 3) / 10, np.ones((3, 3)))),
    ],
    ids=[
        "slice, once",
        "slice in a loop",
        "slices of the argument",
        "element of itself",
        "matrix rows",
    ],
)
def test_arrays_rebound_to_other_shapes(f, args, compile_mode):
    run_case(f, args, 0, {}, compile_mode)


def broadcast_into_itself(u, x):
    u = u + x  # (1, 3) + (2, 3): at the top level, a new version of u (frontend/renaming.py)
    return np.sum(u * u)


def broadcast_into_itself_in_a_loop(u, x):
    for _ in range(1):
        u = u + x  # in a loop u stays one name: its shape changes, its adjoint needs the old one
    return np.sum(u * u)


def test_a_top_level_rebinding_that_broadcasts_its_own_old_value(compile_mode):
    u, x = np.ones((1, 3)), np.arange(6.0).reshape(2, 3)
    gradient = sourcead.grad(broadcast_into_itself, compile=compile_mode)(u, x)
    np.testing.assert_allclose(gradient, np.sum(2 * (u + x), axis=0, keepdims=True))


def test_a_rebinding_in_a_loop_that_broadcasts_its_own_old_value_stops_with_an_error(
    compile_mode,
):
    gradient = sourcead.grad(broadcast_into_itself_in_a_loop, compile=compile_mode)
    with pytest.raises(
        ValueError, match=r"the array u \(test_recording.py, line \d+\) changes shape"
    ):
        gradient(np.ones((1, 3)), np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(  # the same shape: fine
        gradient(np.ones((2, 3)), np.arange(6.0).reshape(2, 3)),
        2 * (1 + np.arange(6.0).reshape(2, 3)),
    )
