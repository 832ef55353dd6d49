"""Indexing the results of expressions: ``np.sort(x)[::-1]``, ``x.reshape(-1, 2)[:, 0]``,
``(a @ b)[0, 1]``, ``x[0][idx]``, ``np.linalg.qr(a)[0][:, 0]``, ``np.take`` with its
indices written out, and their attributes (``np.sort(x).shape[0]``), against finite differences in reverse mode (grad), forward mode (jvp)
and second order (hvp), as plain Python in the quick group and compiled in the slow group;
and the refusals: writes into such results, and expressions evaluated only conditionally.
"""

import numpy as np
import pytest
from helpers import check_grad

import sourcead
from sourcead.errors import SourceADError

RNG = np.random.default_rng(23)
# well-separated values: no ties in sorts and partitions, branches far from their kinks
X = np.array(
    [[0.3, -1.2, 0.9, 2.1], [1.4, 0.2, -0.7, -1.9], [-0.4, 1.1, 2.6, 0.6]]
) + 0.01 * RNG.normal(size=(3, 4))
A = RNG.normal(size=(3, 3)) + 3.0 * np.eye(3)


# --- the differentiated functions ------------------------------------------------------------


def partition_columns(x):
    return np.sum(np.partition(x, 1, axis=1)[:, :2] ** 3)


def reshaped_columns(x):
    return np.sum(np.sin(x.reshape(-1, 2)[:, 0]) * x.reshape(-1, 2)[:, 1] ** 2)


def diagonal_items(x):
    return np.diag(x @ x.T)[1] ** 2 + np.sum(np.diag(x[:, :3])[1:] ** 3)


def sorted_reversed(x):
    # three subscripts in a row: a sort reversed, its first three, one of them
    top = np.sort(np.ravel(x))[::-1][:3]
    return np.sum(top**3) * np.sort(np.ravel(x))[::-1][0]


def row_then_gather(x):
    idx = np.array([0, 2, 2])
    return np.sum(x[0][idx] ** 3) + np.sum(x[1][idx] * x[2][idx]) + x[1:][0][3] ** 2


def tuple_item_then_element(a):
    qr = np.linalg.qr(a)
    return qr[0][1, 2] * qr[1][0, 1] + qr[1][1:, 2][0] ** 2


def product_element(x):
    return (x @ x.T)[0, 1] ** 2 + np.sum((x.T @ x)[1:, 0] ** 2) + (2.0 * x)[1, 2] ** 3


def qr_column(a):
    return np.sum(np.linalg.qr(a)[0][:, 0] ** 3) + np.linalg.qr(a)[1][0, 0] ** 2


def take_written_out(x):
    return np.sum(np.take(x, [0, 2, 2], axis=1) ** 3) + np.sum(np.take(x, (1, -1), axis=0) ** 2)


def in_loop_and_branch(x):
    total = 0.0
    for i in range(x.shape[0]):
        if np.sort(x[i])[-1] > 2.0:  # an if's condition: evaluated before the if
            total = total + np.sort(x[i])[::-1][1] ** 3
        else:
            total = total + np.sum((x[i] * x[i])[1:] ** 2)
    k = 0
    while k < 2:
        total = total + np.cumsum(x[k])[2] ** 2
        k += 1
    return total


def elements_of_items(x):
    # x[i][j] is x[i, j], also in a while condition; x[i][1:] is x[i, 1:]
    total = 0.0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            total = total + x[i][j] ** 3 * np.sum(x[i][1:][::2])
    k = 0
    while x[k][0] < 1.0:
        k += 1
    return total * x[k][2]


def in_ternary(x):
    # a if c else b becomes an if statement first: the sort is made in its branch only
    total = 0.0
    for i in range(x.shape[0]):
        total = total + (x[i, 0] ** 2 if x[i, 0] > 0.0 else np.sort(x[i])[-1] ** 3)
    return total


def rows_of_sorts(x):
    # a comprehension: a loop whose body reads the expression
    firsts = np.array([np.sort(x[i])[0] ** 2 for i in range(3)])
    return np.sum(firsts * np.arange(1.0, 4.0))


def _doubled(x):
    return 2.0 * x * x


def callee_result(x):
    return np.sum(_doubled(x)[1:, ::2] ** 2)


def attributes_of_results(x):
    # the attributes of an expression's value: of its type (no derivative)
    n = np.sort(x, axis=1).shape[1] + (x @ x.T).size + np.diag(x).ndim
    return n * np.sum(np.sort(x, axis=1)[:, -1] ** 2)


CASES = [
    pytest.param(attributes_of_results, (X,), id="attributes"),
    pytest.param(partition_columns, (X,), id="partition"),
    pytest.param(reshaped_columns, (X,), id="reshape"),
    pytest.param(diagonal_items, (X,), id="diag"),
    pytest.param(sorted_reversed, (X,), id="sort-reversed"),
    pytest.param(row_then_gather, (X,), id="row-gather"),
    pytest.param(tuple_item_then_element, (A,), id="tuple-item"),
    pytest.param(product_element, (X,), id="matmul"),
    pytest.param(qr_column, (A,), id="qr-column"),
    pytest.param(take_written_out, (X,), id="take-list"),
    pytest.param(in_loop_and_branch, (X,), id="loop-branch"),
    pytest.param(elements_of_items, (X,), id="elements"),
    pytest.param(in_ternary, (X,), id="ternary"),
    pytest.param(rows_of_sorts, (X,), id="comprehension"),
    pytest.param(callee_result, (X,), id="callee"),
]


def _check_tangent(f, x, compile):
    v = np.random.default_rng(3).normal(size=x.shape)
    value, tangent = sourcead.jvp(f, (x,), (v,), compile=compile)
    step = 1e-6
    fd = (f(x + step * v) - f(x - step * v)) / (2 * step)
    np.testing.assert_allclose(value, f(x), rtol=1e-12)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-7)


def _check_hvp(f, x, compile):
    v = np.random.default_rng(4).normal(size=x.shape)
    product = sourcead.hvp(f, (x,), (v,), compile=compile)
    gradient = sourcead.grad(f, compile=False)
    step = 1e-5
    fd = (gradient(x + step * v) - gradient(x - step * v)) / (2 * step)
    np.testing.assert_allclose(product, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f, args", CASES)
def test_gradient_matches_finite_differences(f, args):
    check_grad(f, args, wrt=0, compile=False)


@pytest.mark.parametrize("f, args", CASES)
def test_tangent_matches_finite_differences(f, args):
    _check_tangent(f, args[0], compile=False)


@pytest.mark.parametrize("f, args", CASES)
def test_hessian_vector_product_matches_finite_differences(f, args):
    _check_hvp(f, args[0], compile=False)


def several_forms(x):
    head = np.sort(np.ravel(x))[::-1][:2]
    return np.sum(head**2) * (x @ x.T)[0, 1] + np.sum(np.take(x, [1, 3], axis=1)[2] ** 3)


@pytest.mark.slow
def test_compiled_gradient_tangent_and_second_order():
    check_grad(several_forms, (X,), wrt=0, compile=True)
    _check_tangent(several_forms, X, compile=True)
    _check_hvp(several_forms, X, compile=True)


@pytest.mark.parametrize(
    "f, named", [(partition_columns, "partition_x"), (reshaped_columns, "reshape_x")]
)
def test_the_expression_gets_a_readable_name(f, named):
    gradient = sourcead.grad(f, compile=False)
    gradient(X)
    assert f"{named} = " in gradient.source
    assert f"{named}[:, " in gradient.source


# --- refusals ---------------------------------------------------------------------------------


def write_into_result(x):
    y = np.sort(x)
    np.sort(x)[0] = 1.0
    return np.sum(y)


def write_into_row(x):
    y = x.copy()
    y[0][1] = 1.0
    return np.sum(y)


def in_and(x):
    total = 0.0
    if x[0] > 0.0 and np.sort(x)[1] > 0.0:
        total = x[0]
    return total


def in_chained_comparison(x):
    total = 0.0
    if 0.0 < x[0] < np.sort(x)[2]:
        total = x[0]
    return total


def in_while_condition(x):
    y = x
    while np.sort(y)[0] < 1.0:
        y = y + 1.0
    return np.sum(y)


def tuple_written_out(x):
    return (x, x)[0][1]


def scalar_indexed(x):
    return np.sum(x)[0]


REFUSED = [
    pytest.param(write_into_result, "named array", id="write"),
    pytest.param(write_into_row, "named array", id="write-row"),
    pytest.param(in_and, "conditional expression", id="and"),
    pytest.param(in_chained_comparison, "conditional expression", id="chained-comparison"),
    pytest.param(in_while_condition, "while condition", id="while"),
    pytest.param(tuple_written_out, "tuple written out", id="tuple-literal"),
    pytest.param(scalar_indexed, "not an array", id="scalar"),
]


@pytest.mark.parametrize("f, why", REFUSED)
def test_refused_at_the_users_line(f, why):
    x = np.array([0.5, -0.2, 0.9])
    with pytest.raises(SourceADError, match=why) as error:
        sourcead.grad(f, compile=False)(x)
    assert "test_indexed_expressions.py" in str(error.value)


def test_elements_of_items_need_no_name():
    gradient = sourcead.grad(elements_of_items, compile=False)
    gradient(X)
    assert "x[i, j] ** 3" in gradient.source
    assert "while x[k, 0] < 1.0:" in gradient.source
