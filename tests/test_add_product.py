"""``add_product``: an operand's adjoint in a whole-array product, accumulated in one pass.

``b_x += unbroadcast(g * w, b_x.shape)`` is the commonest update of an adjoint in whole-array
code; generated adjoints write it ``b_x = add_product(b_x, g, w)``, which Numba runs without
the product's temporary. Checked: its values against the NumPy form, for the broadcasts of
operands with up to two dimensions (and the general path beyond), compiled and as Python;
the generated code that uses it; and second derivatives, which run over the NumPy form.
"""

import numba
import numpy as np
import pytest
from helpers import check_grad
from sourcead_runtime import add_product, unbroadcast

import sourcead

RNG = np.random.default_rng(17)

# (out, a, b) shapes: equal, a row broadcast, a column, reductions into a row, a column, a
# vector and one element, a number, and three dimensions (the general path)
SHAPES = [
    ((4, 3), (4, 3), (4, 3)),
    ((4, 3), (4, 3), (3,)),
    ((4, 3), (4, 1), (1, 3)),
    ((3,), (4, 3), (4, 3)),
    ((3,), (4, 3), (3,)),
    ((1, 3), (4, 3), (4, 3)),
    ((4, 1), (4, 3), (4, 1)),
    ((1,), (4, 3), (4, 3)),
    ((3,), (3,), (3,)),
    ((4, 3), (4, 3), ()),
    ((2, 4, 3), (2, 4, 3), (3,)),
]


@numba.njit
def _compiled(out, a, b):
    return add_product(out, a, b)


def _operands(shapes):
    out, a, b = (RNG.normal(size=s) if s else 1.7 for s in shapes)
    return out, a, b


@pytest.mark.parametrize(
    "shapes, compiled",
    [pytest.param(s, False, id=f"{s}-python") for s in SHAPES]
    # each compiled case compiles its own specialisation: the first two in the quick group
    + [
        pytest.param(s, True, id=f"{s}-compiled", marks=() if k < 2 else pytest.mark.slow)
        for k, s in enumerate(SHAPES)
    ],
)
def test_values_match_the_numpy_form(shapes, compiled):
    out, a, b = _operands(shapes)
    expected = out + unbroadcast(a * b, out.shape)
    accumulated = out.copy()
    result = (_compiled if compiled else add_product)(accumulated, a, b)
    np.testing.assert_allclose(result, expected, rtol=1e-14)
    np.testing.assert_allclose(accumulated, expected, rtol=1e-14)  # in place


@pytest.mark.slow  # two more specialisations
def test_complex_and_strided_operands():
    a = RNG.normal(size=(3, 4)).T + 1j * RNG.normal(size=(4, 3))  # not contiguous
    b = RNG.normal(size=3)
    np.testing.assert_allclose(_compiled(np.zeros((4, 3), complex), a, b), a * b, rtol=1e-14)
    np.testing.assert_allclose(_compiled(np.zeros(3, complex), a, b), np.sum(a * b, axis=0))


def test_operands_that_do_not_fit_raise():
    with pytest.raises(ValueError):
        _compiled(np.zeros((4, 2)), np.ones((4, 3)), np.ones(3))
    with pytest.raises(ValueError):
        _compiled(np.zeros((4, 3)), np.ones((4, 3)), np.ones(2))


def scaled_rows(x, w):
    """x * w: the adjoint of x accumulates a product with w broadcast down the rows, and
    w's adjoint the product summed over them."""
    y = x * w
    z = y * x + x
    return np.sum(z * z)


def test_generated_adjoints_accumulate_products_in_one_pass():
    x, w = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    gradient = sourcead.grad(scaled_rows, wrt=(0, 1), compile=False)
    gradient(x, w)
    assert "add_product(b_x, " in gradient.source
    check_grad(scaled_rows, (x, w), (0, 1), compile=False)


def test_second_derivatives_through_accumulated_products():
    x, w = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    v = (RNG.normal(size=(5, 3)), RNG.normal(size=3))
    products = sourcead.hvp(scaled_rows, (x, w), v, compile=False)
    gradient = sourcead.grad(scaled_rows, wrt=(0, 1), compile=False)
    step = 1e-5
    plus = gradient(x + step * v[0], w + step * v[1])
    minus = gradient(x - step * v[0], w - step * v[1])
    for product, p, m in zip(products, plus, minus, strict=True):
        np.testing.assert_allclose(product, (p - m) / (2 * step), rtol=1e-6, atol=1e-8)


@pytest.mark.slow  # compiles a gradient and a Hessian-vector product
def test_compiled_gradient_and_hvp():
    x, w = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    check_grad(scaled_rows, (x, w), (0, 1), compile=True)
    v = (RNG.normal(size=(5, 3)), RNG.normal(size=3))
    compiled = sourcead.hvp(scaled_rows, (x, w), v)
    python = sourcead.hvp(scaled_rows, (x, w), v, compile=False)
    for c, p in zip(compiled, python, strict=True):
        np.testing.assert_allclose(c, p, rtol=1e-12)
