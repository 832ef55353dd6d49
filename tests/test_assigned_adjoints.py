"""Adjoints that the last reader of an array assigns whole, instead of zeroing and adding.

Each case is checked against finite differences compiled and uncompiled; the first tests
also pin down which adjoints the generated code assigns, so that a change that silently
falls back to zeroing (or assigns where it must not) shows here.
"""

import numpy as np
import pytest
from helpers import check_grad

import sourcead


def row_norms(x, w):
    # lowered into temporaries: product = x * w, product_1 = product * product, summed = ...
    return np.sum(np.log(1.0 + np.sum((x * w) * (x * w), axis=1)))


def aliased_reader(x, y, flag):
    # the adjoint of a + b reaches a and b as c's adjoint itself, which is zeroed in place
    # (c is read in a branch): b's must be a copy
    a = np.sin(x)
    b = np.cos(y)
    c = a + b
    s = np.sum(a)
    if flag > 0.0:
        s = s + np.sum(c * c)
    return s


def shared_reader(x, y):
    # c's adjoint is assigned by its reader and never changed in place after c's own
    # adjoint: b's adjoint may be that very array (b has one reader)
    a = np.sin(x)
    b = np.cos(y)
    c = a + b
    return np.sum(c * c) + np.sum(a)


def shape_changes_in_a_loop(x):
    s = 0.0
    for k in range(1, x.shape[0]):
        t = x[:k] * 2.0  # a new shape at every iteration
        s += np.sum(np.sin(t) * t)
    return s


def several_readers(x):
    t = np.exp(x)
    a = np.sum(t)  # read here ...
    b = np.sum(t * t)  # ... and last here
    return a * b


def reader_in_a_branch(x, c):
    t = x * x
    s = 0.0
    if c > 0.0:
        s = np.sum(np.sin(t))  # not in t's block: zeroed and added as before
    return s + np.sum(x)


def break_between(x, limit):
    s = 0.0
    for k in range(x.shape[0]):
        t = x * float(k + 1)
        if s > limit:
            break
        s += np.sum(t * t)
    return s


def slice_reader(x, m):
    out = np.zeros((3, x.shape[0]))
    for i in range(3):
        t = x * m[i]
        out[i] = np.tanh(t)  # a row written from t
    return np.sum(out * out)


def gmm_like(x, means, q):
    total = 0.0
    for k in range(means.shape[0]):
        xc = x - means[k]
        lx = xc * np.exp(q[k])
        total += np.sum(np.log(np.sum(lx * lx, axis=1) + 1.0))
    return total


rng = np.random.default_rng(3)
CASES = [
    (row_norms, (rng.random((4, 3)), rng.random(3)), (0, 1)),
    (aliased_reader, (rng.random(5), rng.random(5), 1.0), (0, 1)),
    (shared_reader, (rng.random((2, 3)), rng.random((2, 3))), (0, 1)),
    (shape_changes_in_a_loop, (rng.random(6),), 0),
    (several_readers, (0.3 * rng.random(4),), 0),
    (reader_in_a_branch, (rng.random(4), 1.0), 0),
    (break_between, (rng.random(5), 3.0), 0),
    (slice_reader, (rng.random(4), rng.random(3)), (0, 1)),
    (gmm_like, (rng.random((6, 3)), rng.random((2, 3)), 0.1 * rng.random((2, 3))), (0, 1, 2)),
]


@pytest.mark.parametrize(
    "compile",
    [pytest.param(True, id="compiled", marks=pytest.mark.slow), pytest.param(False, id="python")],
)
@pytest.mark.parametrize("f, args, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_gradients_with_assigned_adjoints_match_finite_differences(f, args, wrt, compile):
    check_grad(f, args, wrt, compile)


def _backward(f, args, wrt):
    gradient = sourcead.grad(f, wrt=wrt)
    gradient(*args)
    return gradient.source.split("# backward sweep")[1]


@pytest.mark.slow  # compiles several adjoints: CI's slow group
def test_arrays_read_once_get_their_adjoint_assigned_not_zeroed():
    backward = _backward(*CASES[-1])
    # np.sum(lx * lx, axis=1): product = lx * lx, summed = sum_along(product, axis=1)
    assert "b_product = expand_along(b_summed, b_product.shape, 1)" in backward
    assert "b_lx = b_product * lx + b_product * lx" in backward
    assert "b_xc = unbroadcast(b_lx * exp, b_xc.shape)" in backward  # new: not copied
    assert "b_lx = sized(b_lx, lx.shape)" in backward  # shape kept, no zeros written
    assert "zeroed(" not in backward and "+= expand_along" not in backward


def test_an_adjoint_that_may_alias_another_is_copied_unless_neither_changes():
    x, y = rng.random((2, 3)), rng.random((2, 3))
    backward = _backward(aliased_reader, (x, y, 1.0), (0, 1))
    assert "b_b = unbroadcast(b_c, b_b.shape).copy()" in backward
    assert "b_a += unbroadcast(b_c, b_a.shape)" in backward  # a's last reader is np.sum(a)
    for flag in (1.0, -1.0):
        check_grad(aliased_reader, (x, y, flag), (0, 1))
    backward = _backward(shared_reader, (x, y), (0, 1))
    assert "b_b = unbroadcast(b_c, b_b.shape)\n" in backward
    check_grad(shared_reader, (x, y), (0, 1))


def test_the_last_of_several_readers_assigns_and_the_others_add():
    x = 0.3 * rng.random((3, 2))
    backward = _backward(several_readers, (x,), 0)
    assigned, added = backward.index("b_t = "), backward.index("b_t += ")
    assert assigned < added  # the adjoint of b = np.sum(t * t) comes first
    check_grad(several_readers, (x,), 0)


def test_readers_outside_the_binding_block_keep_zeroing():
    x = rng.random((2, 3))
    backward = _backward(reader_in_a_branch, (x, 1.0), 0)
    assert "b_t += " in backward and "b_t = sized" not in backward
    check_grad(reader_in_a_branch, (x, 1.0), 0)
    check_grad(reader_in_a_branch, (x, -1.0), 0)


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_hessian_vector_products_through_assigned_adjoints():
    x, means, q = CASES[-1][1]
    v = np.random.default_rng(4).random(x.shape)
    gradient = sourcead.grad(gmm_like)
    eps = 1e-6
    expected = (gradient(x + eps * v, means, q) - gradient(x - eps * v, means, q)) / (2 * eps)
    hv = sourcead.hvp(gmm_like, (x, means, q), (v, None, None))
    np.testing.assert_allclose(hv, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.slow  # compiles several adjoints: CI's slow group
def test_array_tapes_in_counted_loops_are_reserved_and_negations_summed_first():
    x, means, q = CASES[-1][1]
    gradient = sourcead.grad(gmm_like, wrt=(0, 1, 2))
    gradient(x, means, q)
    forward, backward = gradient.source.split("# backward sweep")
    assert (
        "lx_tape = reserve(lx_tape, lx_top + pushed_length(lx), "
        "lx_top + pushed_length(lx) * trip_count(k, means.shape[0], 1))"
    ) in forward
    # -b_xc summed over the rows: negated on the mean's elements, not on every point's
    assert "b_means[k] += -unbroadcast(b_xc, means[k].shape)" in backward
