"""Every built-in primitive's rules against finite differences, from one table.

In the spirit of JAX's ``check_grads`` over its primitives: ``TABLE`` has a row per built-in
entry of the registry (``test_every_entry_has_a_row`` keeps it so), saying how to call the
primitive, where its arguments are valid (away from kinks, ties and branch cuts), whether it
is tried on scalars (Python floats: the scalar rules) or arrays (the array rules), and in
which dtypes. Each case is a small generated function: the primitive's value for a scalar
result, ``np.sum(w * value)`` for an array one (``w`` fixed random weights; the real part of
it for complex values), a gauge-invariant function of the outputs of ``eigh``, ``svd`` …
and it is checked in reverse mode (``grad``), forward mode (``jvp``) and second order
(``hvp``) against central finite differences in float64 (complex128): as plain Python in
the quick group and compiled in the slow group.

Complex gradients follow JAX's convention (``docs/arrays.md``): dL/dx - i dL/dy. A float32
case is compared with the float64 differences of the same function at the same point (its
inputs are float32 values), with float32's tolerance, and its gradient must be float32.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import operator
import textwrap
import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.special
import sourcead_runtime as runtime
from sourcead_runtime import (
    cumprod_along,
    cumsum_along,
    max_along,
    mean_along,
    min_along,
    prod_along,
    sum_along,
)

import sourcead
from sourcead.errors import SourceADError
from sourcead.rules import entries, entry_for

F64, F32, C128 = np.float64, np.float32, np.complex128
REAL = (F64, F32)
ALL = (F64, F32, C128)
MODES = ("reverse", "forward", "second")  # grad, jvp, hvp

# --- argument generators: (rng, shape) -> float64 values in the primitive's domain ----------


def normal(rng, shape):
    return rng.normal(size=shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def inside_unit(rng, shape):  # |x| < 1 (arcsin, arccos, arctanh)
    return rng.uniform(-0.8, 0.8, shape)


def above_one(rng, shape):  # arccosh
    return rng.uniform(1.3, 3.0, shape)


def away_from_zero(rng, shape):  # abs, fabs, sign: |x| >= 0.3
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def moderate(rng, shape):  # tan: away from its poles; sinh, cosh, exp: moderate values
    return rng.uniform(-1.2, 1.2, shape)


def divisor(rng, shape):  # the divisor of %, // and /: positive, away from zero
    return rng.uniform(0.7, 1.3, shape)


def distinct(rng, shape):  # max, min: no ties (values at least 0.15 apart)
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.3 + rng.uniform(0.0, 0.15, n) - 0.3 * n / 2).reshape(shape)


def with_zero(rng, shape):  # prod, cumprod: an exact zero inside
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x.flat[x.size // 2] = 0.0
    return x


def with_two_zeros(rng, shape):
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x.flat[1] = 0.0
    x.flat[x.size - 2] = 0.0
    return x


def zeros_in_first_row(rng, shape):  # prod along the last axis: two zeros in one group
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    x.flat[0] = x.flat[shape[-1] - 1] = 0.0  # the first row's ends
    x.flat[x.size - 2] = 0.0  # and one in the last row
    return x


def well_conditioned(rng, shape):  # square: a random matrix plus a multiple of the identity
    return rng.normal(size=shape) + 3.0 * np.eye(shape[0], shape[1] if len(shape) > 1 else None)


def signed_det(rng, shape):  # slogdet: a well conditioned matrix of negative determinant
    a = well_conditioned(rng, shape)
    a[0] = -a[0]
    return a


def spd(rng, shape):  # symmetric positive definite, distinct eigenvalues
    b = rng.normal(size=shape)
    a = b @ b.T + shape[0] * np.eye(shape[0])
    w = np.linalg.eigvalsh(a)
    assert np.min(np.diff(w)) > 0.1, "eigenvalues too close for a test point"
    return a


def tall(rng, shape):  # at least as many rows as columns, distinct nonzero singular values
    a = rng.normal(size=shape)
    s = np.linalg.svd(a, compute_uv=False)
    assert np.min(np.abs(np.diff(s))) > 0.1 and s[-1] > 0.1, "singular values too close"
    return a


@dataclass(frozen=True)
class Arg:
    """An argument: its generator, its shape in array cases (None: the row's), whether it is
    a Python float even in array cases, and whether it is differentiated (a boolean mask is
    not)."""

    make: object = normal
    shape: tuple | None = None
    scalar: bool = False
    diff: bool = True
    mask: bool = False


def quotient_pair(rng, shape):
    """(x, y) with x / y in k + [0.2, 0.8]: away from the jumps of x % y and x // y."""
    y = divisor(rng, shape)
    k = rng.integers(0, 3, shape)
    return y * (k + rng.uniform(0.2, 0.8, shape)), y


def apart_pair(rng, shape):
    """(x, y) at least 0.2 apart, either larger: away from the ties of maximum, minimum."""
    x = rng.normal(size=shape)
    return x, x + rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 1.0, shape)


def far_apart(rng, shape):
    """(x, y) near 700, 30 to 60 apart: exp(x) overflows, exp(x - y) under- or overflows
    (logaddexp's derivatives must not be computed from them)."""
    x = 700.0 + rng.normal(size=shape)
    return x, x + rng.choice([-1.0, 1.0], shape) * rng.uniform(30.0, 60.0, shape)


def clip_triple(rng, shape):
    """(x, low, high): some of x below low, some above high, some inside, all 0.1 away."""
    low = rng.uniform(-1.0, -0.5, shape)
    high = rng.uniform(0.5, 1.0, shape)
    where = rng.permutation(np.arange(int(np.prod(shape))) % 3).reshape(shape)
    offset = rng.uniform(0.1, 0.4, shape)
    x = np.where(where == 0, low - offset, np.where(where == 1, high + offset, 0.3 * offset))
    return x, low, high


@dataclass(frozen=True)
class Row:
    """How to test one primitive (see the module's docstring).

    ``call`` is the primitive's call with ``{0}``, ``{1}`` … for the arguments; a primitive
    returning a tuple has ``outputs``: for each output, an expression of ``{}`` (the output)
    entering the loss, or None. ``scalar_call`` spells it for floats where that differs
    (``math.sin`` for ``np.sin``). ``pair``: a generator of all the arguments together.
    ``kinds``: "scalar" (Python floats, float64 only) and/or "array" (in ``dtypes``).
    ``refused``: (dtype name, mode) -> why sourcead refuses it, asserted to be a clean
    SourceADError. ``broken``: (dtype name, mode) -> a wrong derivative or a crash there, an
    xfail(strict=True) case. A key (dtype name, mode, "compiled") is of compiled code only; the
    dtype name of the Python-float cases is "scalar".
    """

    fn: object
    call: str
    args: tuple = (Arg(),)
    kinds: tuple = ("array",)
    dtypes: tuple = ALL
    shape: tuple = (2, 3)
    scalar_call: str | None = None
    outputs: tuple | None = None
    pair: object = None
    id: str = ""
    refused: dict = field(default_factory=dict)
    broken: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.id or getattr(self.fn, "__name__", "f")


def elementwise(fn, call, make=normal, dtypes=ALL, scalar_call=None, **options):
    """A row of a one-argument element-wise primitive, on floats and on arrays."""
    return Row(
        fn, call, (Arg(make),), ("scalar", "array"), dtypes, scalar_call=scalar_call, **options
    )


def binary(fn, call, makes=(normal, normal), dtypes=ALL, scalar_call=None, **options):
    """A row of a two-argument element-wise primitive, on floats and on arrays."""
    args = tuple(Arg(m) for m in makes)
    return Row(fn, call, args, ("scalar", "array"), dtypes, scalar_call=scalar_call, **options)


def matrix(make=normal, shape=(3, 3)) -> Arg:
    return Arg(make, shape)


def vector(n: int, make=normal) -> Arg:
    return Arg(make, (n,))


# Refused: the rules of these decompositions are those of real matrices (transposes, not
# conjugate transposes), so a complex matrix is refused at its line rather than differentiated
# wrongly (the registry's complex=False).

# Refused: Numba has no builtin abs of an array, so abs(array) is refused (np.abs takes
# arrays); abs of numbers is differentiated.
BUILTIN_ABS_OF_ARRAY = "abs() of an array (use np.abs)"


ABS_OF_ARRAY = {
    (dtype, mode): BUILTIN_ABS_OF_ARRAY
    for dtype in ("float64", "float32", "complex128")
    for mode in MODES
}

# Refusals, asserted to be clean SourceADErrors.
FLOAT32_HVP = (
    "compiled hvp of a float32 solve: float64 values meet float32 ones in np.linalg inside the "
    "generated code, which Numba refuses (told as a SourceADError at the function)"
)
F32_SECOND = {("float32", "second", "compiled"): FLOAT32_HVP}
#: Products whose float32 tangents and second derivatives the slow group compiles too (the
#: solves by F32_SECOND).
FLOAT32_PRODUCTS = (operator.matmul, np.matmul, np.dot)

TABLE = [
    # --- operators (spelled with Python's syntax) --------------------------------------------
    binary(operator.add, "{0} + {1}"),
    binary(operator.sub, "{0} - {1}"),
    binary(operator.mul, "{0} * {1}"),
    binary(operator.truediv, "{0} / {1}", makes=(normal, divisor)),
    binary(operator.pow, "{0} ** {1}", makes=(positive, normal)),
    # % and //: real only (NumPy has no complex remainder); away from the jumps
    binary(operator.mod, "{0} % {1}", pair=quotient_pair, dtypes=REAL),
    binary(operator.floordiv, "{0} // {1}", pair=quotient_pair, dtypes=REAL),
    elementwise(operator.neg, "-{0}"),
    elementwise(operator.pos, "+{0}"),
    Row(
        operator.matmul,
        "{0} @ {1}",
        (Arg(shape=(2, 3)), Arg(shape=(3, 4))),
        id="op-matmul",
    ),
    Row(
        operator.matmul,
        "{0} @ {1}",
        (Arg(shape=(2, 3)), vector(3)),
        id="op-matmul-vector",
    ),
    # --- builtins and math ---------------------------------------------------------------------
    elementwise(
        abs,
        "abs({0})",
        away_from_zero,
        refused=ABS_OF_ARRAY,
    ),
    # builtin min, max, float, math.erf, math.erfc: scalars only (Python floats)
    Row(min, "min({0}, {1})", (Arg(), Arg()), ("scalar",), pair=apart_pair, id="builtin-min"),
    Row(max, "max({0}, {1})", (Arg(), Arg()), ("scalar",), pair=apart_pair, id="builtin-max"),
    Row(float, "float({0})", kinds=("scalar",)),
    elementwise(np.sin, "np.sin({0})", scalar_call="math.sin({0})"),
    elementwise(np.cos, "np.cos({0})", scalar_call="math.cos({0})"),
    elementwise(np.tan, "np.tan({0})", moderate, scalar_call="math.tan({0})"),
    elementwise(np.arcsin, "np.arcsin({0})", inside_unit, scalar_call="math.asin({0})"),
    elementwise(np.arccos, "np.arccos({0})", inside_unit, scalar_call="math.acos({0})"),
    elementwise(np.arctan, "np.arctan({0})", scalar_call="math.atan({0})"),
    # arctan2, hypot, logaddexp, fabs: real only (NumPy has no complex loops for them)
    binary(np.arctan2, "np.arctan2({0}, {1})", dtypes=REAL, scalar_call="math.atan2({0}, {1})"),
    elementwise(np.sinh, "np.sinh({0})", moderate, scalar_call="math.sinh({0})"),
    elementwise(np.cosh, "np.cosh({0})", moderate, scalar_call="math.cosh({0})"),
    elementwise(np.tanh, "np.tanh({0})", scalar_call="math.tanh({0})"),
    elementwise(np.arcsinh, "np.arcsinh({0})", scalar_call="math.asinh({0})"),
    elementwise(np.arccosh, "np.arccosh({0})", above_one, scalar_call="math.acosh({0})"),
    elementwise(np.arctanh, "np.arctanh({0})", inside_unit, scalar_call="math.atanh({0})"),
    elementwise(np.exp, "np.exp({0})", moderate, scalar_call="math.exp({0})"),
    elementwise(np.exp2, "np.exp2({0})", moderate),
    elementwise(np.expm1, "np.expm1({0})", moderate, scalar_call="math.expm1({0})"),
    elementwise(np.log, "np.log({0})", positive, scalar_call="math.log({0})"),
    elementwise(np.log1p, "np.log1p({0})", positive, scalar_call="math.log1p({0})"),
    elementwise(np.log2, "np.log2({0})", positive, scalar_call="math.log2({0})"),
    elementwise(np.log10, "np.log10({0})", positive, scalar_call="math.log10({0})"),
    elementwise(np.sqrt, "np.sqrt({0})", positive, scalar_call="math.sqrt({0})"),
    binary(np.hypot, "np.hypot({0}, {1})", dtypes=REAL, scalar_call="math.hypot({0}, {1})"),
    binary(np.logaddexp, "np.logaddexp({0}, {1})", dtypes=REAL),
    binary(np.logaddexp, "np.logaddexp({0}, {1})", pair=far_apart, dtypes=REAL, id="logaddexp-far"),
    Row(math.erf, "math.erf({0})", kinds=("scalar",)),
    Row(math.erfc, "math.erfc({0})", kinds=("scalar",)),
    Row(math.lgamma, "math.lgamma({0})", (Arg(positive),), kinds=("scalar",)),
    binary(np.power, "np.power({0}, {1})", (positive, normal), scalar_call="math.pow({0}, {1})"),
    binary(np.float_power, "np.float_power({0}, {1})", (positive, normal)),
    elementwise(np.fabs, "np.fabs({0})", away_from_zero, REAL, scalar_call="math.fabs({0})"),
    elementwise(
        np.abs,
        "np.abs({0})",
        away_from_zero,
    ),
    elementwise(np.square, "np.square({0})"),
    # --- NumPy on arrays -----------------------------------------------------------------------
    # maximum, minimum, clip, max, min: real only (complex numbers are not ordered); no ties
    binary(np.maximum, "np.maximum({0}, {1})", pair=apart_pair, dtypes=REAL),
    binary(np.minimum, "np.minimum({0}, {1})", pair=apart_pair, dtypes=REAL),
    Row(np.where, "np.where({0}, {1}, {2})", (Arg(mask=True, diff=False), Arg(), Arg())),
    Row(np.clip, "np.clip({0}, {1}, {2})", (Arg(), Arg(), Arg()), dtypes=REAL, pair=clip_triple),
    Row(np.sum, "np.sum({0})"),
    Row(np.sum, "np.sum({0}, axis=1)", id="sum-axis"),
    Row(np.sum, "{0}.sum()", id="sum-method"),
    Row(np.mean, "np.mean({0})"),
    Row(np.prod, "np.prod({0})", (Arg(with_zero),)),
    Row(np.max, "np.max({0})", (Arg(distinct),), dtypes=REAL),
    Row(np.max, "np.amax({0})", (Arg(distinct),), dtypes=REAL, id="amax"),
    Row(np.min, "np.min({0})", (Arg(distinct),), dtypes=REAL),
    Row(np.min, "{0}.min()", (Arg(distinct),), dtypes=REAL, id="min-method"),
    # reductions along axes (rules/reductions.py): axis= an integer, a negative one or a tuple,
    # keepdims=, ddof=; maxima and minima away from ties (test_reductions.py checks the ties)
    Row(sum_along, "np.sum({0}, axis=(0, 2), keepdims=True)", shape=(2, 3, 4), id="sum-axes-keep"),
    Row(sum_along, "{0}.sum(axis=-1, keepdims=True)", id="sum-keepdims-method"),
    Row(sum_along, "np.sum({0}, axis=(2, -3))", shape=(2, 3, 4), id="sum-axes"),
    Row(sum_along, "np.sum({0}, keepdims=True)", id="sum-all-keepdims"),
    Row(mean_along, "np.mean({0}, axis=1)", id="mean-axis"),
    Row(mean_along, "{0}.mean(axis=(0, 2), keepdims=True)", shape=(2, 3, 4), id="mean-axes-keep"),
    Row(
        prod_along, "np.prod({0}, axis=1)", (Arg(zeros_in_first_row),), shape=(2, 4), id="prod-axis"
    ),
    Row(
        prod_along,
        "np.prod({0}, axis=(0, 2), keepdims=True)",
        (Arg(with_two_zeros),),
        shape=(2, 3, 4),
        id="prod-axes-keep",
    ),
    Row(
        max_along,
        "{0}.max(axis=(0, 2), keepdims=True)",
        (Arg(distinct),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="max-axes-keep",
    ),
    Row(max_along, "np.max({0}, axis=1)", (Arg(distinct),), dtypes=REAL, id="max-axis"),
    Row(
        max_along,
        "np.amax({0}, axis=-1, keepdims=True)",
        (Arg(distinct),),
        dtypes=REAL,
        id="amax-axis",
    ),
    Row(min_along, "np.min({0}, axis=0)", (Arg(distinct),), dtypes=REAL, id="min-axis"),
    Row(
        min_along,
        "np.amin({0}, axis=(1, 2))",
        (Arg(distinct),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="amin-axes",
    ),
    Row(np.ptp, "np.ptp({0})", (Arg(distinct),), dtypes=REAL),
    Row(np.ptp, "np.ptp({0}, axis=1)", (Arg(distinct),), dtypes=REAL, id="ptp-axis"),
    Row(
        np.ptp,
        "np.ptp({0}, axis=(0, 2), keepdims=True)",
        (Arg(distinct),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="ptp-axes-keep",
    ),
    Row(np.median, "np.median({0})", (Arg(distinct),), dtypes=REAL),  # six: two middle ones
    Row(np.median, "np.median({0}, axis=1)", (Arg(distinct),), dtypes=REAL, id="median-axis"),
    Row(
        np.median,
        "np.median({0}, axis=(0, 2), keepdims=True)",
        (Arg(distinct),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="median-axes-keep",
    ),
    Row(np.var, "np.var({0})", dtypes=REAL),
    Row(np.var, "np.var({0}, ddof=1)", dtypes=REAL, id="var-ddof"),
    Row(np.var, "{0}.var(axis=1, ddof=1)", dtypes=REAL, id="var-axis-ddof"),
    Row(
        np.var,
        "np.var({0}, axis=(0, 2), keepdims=True)",
        (Arg(),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="var-axes",
    ),
    Row(np.std, "np.std({0})", dtypes=REAL),
    Row(np.std, "np.std({0}, axis=0, ddof=1)", dtypes=REAL, shape=(3, 2), id="std-axis-ddof"),
    Row(
        np.std,
        "{0}.std(axis=(1, 2), keepdims=True)",
        (Arg(),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="std-axes",
    ),
    Row(cumsum_along, "np.cumsum({0}, axis=1)", id="cumsum-axis"),
    Row(cumsum_along, "{0}.cumsum(axis=-3)", shape=(2, 3, 4), id="cumsum-axis-3d"),
    Row(
        cumprod_along,
        "np.cumprod({0}, axis=1)",
        (Arg(zeros_in_first_row),),
        shape=(2, 4),
        id="cumprod-axis",
    ),
    Row(cumprod_along, "{0}.cumprod(axis=0)", (Arg(with_zero),), shape=(3, 2), id="cumprod-axis-0"),
    # indices: no derivative (the gradient with respect to the array is zero), and they index
    Row(np.argmax, "{1}[np.argmax({0})]", (Arg(distinct), vector(6)), dtypes=REAL),
    Row(
        np.argmax,
        "{1} * np.argmax({0}, axis=1)",
        (Arg(distinct), vector(2)),
        dtypes=REAL,
        id="argmax-axis",
    ),
    Row(
        np.argmax,
        "{1} * {0}.argmax(axis=-1, keepdims=True)",
        (Arg(distinct), Arg(shape=(2, 1))),
        dtypes=REAL,
        id="argmax-keepdims",
    ),
    Row(np.argmin, "{1} * np.argmin({0}, axis=0)", (Arg(distinct), vector(3)), dtypes=REAL),
    Row(np.argsort, "{1} * np.argsort({0}, axis=0)", (Arg(distinct), Arg()), dtypes=REAL),
    Row(
        np.argsort,
        "{1} * {0}.argsort()",
        (vector(5, distinct), vector(5)),
        dtypes=REAL,
        id="argsort-method",
    ),
    Row(np.cumsum, "np.cumsum({0})"),
    Row(np.cumprod, "np.cumprod({0})"),
    Row(np.cumprod, "{0}.cumprod()", (vector(5, with_zero),), id="cumprod-zero"),
    Row(np.cumprod, "np.cumprod({0})", (vector(6, with_two_zeros),), id="cumprod-zeros"),
    Row(np.cumprod, "np.cumprod({0})", (vector(1),), id="cumprod-one"),
    Row(
        np.linalg.norm,
        "np.linalg.norm({0})",
    ),
    Row(np.trace, "np.trace({0})", (matrix(),)),
    Row(
        np.matmul,
        "np.matmul({0}, {1})",
        (Arg(shape=(2, 3)), Arg(shape=(3, 4))),
    ),
    Row(np.dot, "np.dot({0}, {1})", (Arg(shape=(2, 3)), vector(3))),
    Row(np.dot, "np.dot({0}, {1})", (vector(3), vector(3)), id="dot-vectors"),
    Row(
        np.outer,
        "np.outer({0}, {1})",
        (vector(3), vector(4)),
    ),
    Row(
        np.outer,
        "np.outer({0}, {1})",
        (Arg(shape=(2, 2)), vector(3)),
        id="outer-of-a-matrix",  # np.outer flattens it
    ),
    Row(np.transpose, "np.transpose({0})"),
    Row(np.transpose, "{0}.T", id="transpose-attribute"),
    Row(np.ascontiguousarray, "np.ascontiguousarray({0})"),
    Row(np.tril, "np.tril({0})", (matrix(),)),
    Row(np.triu, "np.triu({0}, 1)", (Arg(shape=(3, 4)),)),
    Row(np.reshape, "np.reshape({0}, (3, 2))"),
    Row(np.ravel, "np.ravel({0})"),
    Row(np.diag, "np.diag({0})", (matrix(),)),
    Row(np.diag, "np.diag({0})", (vector(3),), id="diag-of-vector"),
    Row(np.diag, "np.diag({0}, 1)", (Arg(shape=(3, 4)),), id="diag-above-of-wide-matrix"),
    Row(np.diag, "np.diag({0}, k=-1)", (vector(3),), id="diag-below-of-vector"),
    # linspace: of Python floats (its result is float64)
    Row(
        np.linspace, "np.linspace({0}, {1}, 5)", (Arg(scalar=True), Arg(scalar=True)), dtypes=(F64,)
    ),
    Row(np.real, "np.real({0})"),
    Row(np.imag, "np.imag({0})"),  # of a real array: a constant zero
    Row(np.conj, "np.conj({0})"),
    Row(np.angle, "np.angle({0})"),  # of a real array: a constant (0 or pi)
    # --- np.linalg -----------------------------------------------------------------------------
    Row(
        np.linalg.solve,
        "np.linalg.solve({0}, {1})",
        (matrix(well_conditioned), vector(3)),
    ),
    Row(
        np.linalg.solve,
        "np.linalg.solve({0}, {1})",
        (matrix(well_conditioned), Arg(shape=(3, 2))),
        id="solve-matrix",
        broken=F32_SECOND,
    ),
    Row(np.linalg.inv, "np.linalg.inv({0})", (matrix(well_conditioned),)),
    Row(
        np.linalg.det,
        "np.linalg.det({0})",
        (matrix(well_conditioned),),
    ),
    Row(
        np.linalg.slogdet,
        "np.linalg.slogdet({0})",
        (matrix(signed_det),),
        outputs=(None, "{}"),
    ),
    # cholesky, eigh: of the symmetric part (the rules' contract: symmetric perturbations)
    Row(np.linalg.cholesky, "np.linalg.cholesky(0.5 * ({0} + {0}.T))", (matrix(spd),), dtypes=REAL),
    Row(
        np.linalg.eigh,
        "np.linalg.eigh(0.5 * ({0} + {0}.T))",
        (matrix(spd),),
        dtypes=REAL,
        outputs=("{}", "{} * {}"),  # eigenvalues, and eigenvectors squared (sign-invariant)
    ),
    Row(
        np.linalg.svd,
        "np.linalg.svd({0}, full_matrices=False)",
        (matrix(tall, (4, 3)),),
        dtypes=REAL,
        outputs=("{} * {}", "{}", "{} * {}"),  # u and vh squared: invariant to signs
    ),
    Row(
        np.linalg.qr,
        "np.linalg.qr({0})",
        (matrix(tall, (4, 3)),),
        dtypes=REAL,
        outputs=("{}", "{}"),
    ),
    # the decompositions of complex (Hermitian) matrices: Hermitian transposes, JAX's
    # convention
    Row(
        np.linalg.cholesky,
        "np.linalg.cholesky(0.5 * ({0} + np.conj({0}.T)))",
        (matrix(spd),),
        dtypes=(C128,),
        id="cholesky-hermitian",
    ),
    Row(
        np.linalg.eigh,
        "np.linalg.eigh(0.5 * ({0} + np.conj({0}.T)))",
        (matrix(spd),),
        dtypes=(C128,),
        outputs=("{}", "{} * np.conj({})"),  # |v|^2: invariant to the eigenvectors' phases
        id="eigh-hermitian",
    ),
    Row(
        np.linalg.svd,
        "np.linalg.svd({0}, full_matrices=False)",
        (matrix(tall, (4, 3)),),
        dtypes=(C128,),
        outputs=("{} * np.conj({})", "{}", "{} * np.conj({})"),
        id="svd-complex",
    ),
    Row(
        np.linalg.qr,
        "np.linalg.qr({0})",
        (matrix(tall, (4, 3)),),
        dtypes=(C128,),
        outputs=("{}", "{}"),
        id="qr-complex",
    ),
]


# --- element-wise functions, NumPy's ufuncs of the operators, sorting, scipy.special ------------
# (rules/operators.py, rules/elementwise.py, rules/sorting.py, rules/special.py)


def probability(rng, shape):  # logit: inside (0, 1), away from its ends
    return rng.uniform(0.1, 0.9, shape)


def negative_non_integer(rng, shape):  # gammaln, digamma left of 0: away from the poles
    return -rng.integers(0, 3, shape) - rng.uniform(0.2, 0.8, shape)


def zero(rng, shape):  # sinc at exactly 0
    return np.zeros(shape)


def with_zeros(rng, shape):  # heaviside's first argument: zeros (where the second counts)
    x = np.asarray(away_from_zero(rng, shape))
    x.flat[::2] = 0.0
    return x


def with_nonfinite(rng, shape):  # nan_to_num: NaN and infinities among finite values
    x = rng.normal(size=shape)
    x.flat[0], x.flat[1], x.flat[-1] = np.nan, -np.inf, np.inf
    return x


def signed_quotient_pair(rng, shape):
    """(x, y) of either sign with |x / y| in k + [0.2, 0.8]: away from the jumps of fmod, %."""
    x, y = quotient_pair(rng, shape)
    return x * rng.choice([-1.0, 1.0], shape), y * rng.choice([-1.0, 1.0], shape)


def nearest_quotient_pair(rng, shape):
    """(x, y) with x / y in k + [-0.3, 0.3]: away from the jumps of math.remainder (k + 1/2)."""
    y = divisor(rng, shape) * rng.choice([-1.0, 1.0], shape)
    return y * (rng.integers(-2, 3, shape) + rng.uniform(-0.3, 0.3, shape)), y


def apart_with_nans(rng, shape):
    """(x, y) apart, with NaN in x at one place and in y at another (fmax, fmin skip them)."""
    x, y = apart_pair(rng, shape)
    x.flat[0], y.flat[-1] = np.nan, np.nan
    return x, y


def interp_triple(rng, shape):
    """(x, xp, fp): five increasing knots xp, x inside and outside them, 0.05 from each."""
    xp = np.cumsum(rng.uniform(0.4, 1.0, 5))
    x = np.asarray(rng.uniform(xp[0] - 1.0, xp[-1] + 1.0, shape))
    if x.size > 1:
        x.flat[0], x.flat[-1] = xp[0] - 0.5, xp[-1] + 0.5
    for _ in range(3):
        x = np.where(np.min(np.abs(x[..., None] - xp), axis=-1) < 0.05, x + 0.1, x)
    return x, xp, rng.normal(size=5)


def weights_of(shape):
    return Arg(positive, shape)


MORE_ROWS = [
    # NumPy's ufuncs of the operators: the operators' rules, broadcasting undone
    binary(np.add, "np.add({0}, {1})", id="np-add"),
    binary(np.subtract, "np.subtract({0}, {1})", id="np-subtract"),
    binary(np.multiply, "np.multiply({0}, {1})", id="np-multiply"),
    Row(np.multiply, "np.multiply({0}, {1})", (Arg(), vector(3)), id="np-multiply-broadcast"),
    binary(np.true_divide, "np.true_divide({0}, {1})", (normal, divisor), id="np-true-divide"),
    binary(np.divide, "np.divide({0}, {1})", (normal, divisor), id="np-divide"),
    elementwise(np.negative, "np.negative({0})", id="np-negative"),
    elementwise(np.positive, "np.positive({0})", id="np-positive"),
    elementwise(np.reciprocal, "np.reciprocal({0})", away_from_zero),
    # remainders: real only; away from their jumps
    binary(np.remainder, "np.remainder({0}, {1})", pair=quotient_pair, dtypes=REAL),
    binary(np.mod, "np.mod({0}, {1})", pair=signed_quotient_pair, dtypes=REAL, id="np-mod"),
    binary(
        np.fmod,
        "np.fmod({0}, {1})",
        pair=signed_quotient_pair,
        dtypes=REAL,
        scalar_call="math.fmod({0}, {1})",
    ),
    Row(
        runtime.math_remainder,
        "math.remainder({0}, {1})",
        (Arg(), Arg()),
        ("scalar",),
        pair=nearest_quotient_pair,
    ),
    # the others: real only (NumPy has no complex loops for them, or their rules are real)
    elementwise(np.cbrt, "np.cbrt({0})", away_from_zero, REAL),
    binary(np.logaddexp2, "np.logaddexp2({0}, {1})", dtypes=REAL),
    binary(
        np.logaddexp2, "np.logaddexp2({0}, {1})", pair=far_apart, dtypes=REAL, id="logaddexp2-far"
    ),
    elementwise(np.sinc, "np.sinc({0})", dtypes=REAL),
    Row(np.sinc, "np.sinc({0})", (Arg(with_zero),), dtypes=REAL, id="sinc-zero"),
    Row(np.sinc, "np.sinc({0})", (Arg(zero),), ("scalar",), id="sinc-at-zero"),
    elementwise(np.deg2rad, "np.deg2rad({0})", dtypes=REAL, scalar_call="math.radians({0})"),
    elementwise(np.radians, "np.radians({0})", dtypes=REAL, id="radians"),
    elementwise(np.rad2deg, "np.rad2deg({0})", dtypes=REAL, scalar_call="math.degrees({0})"),
    elementwise(np.degrees, "np.degrees({0})", dtypes=REAL, id="degrees"),
    binary(
        np.copysign,
        "np.copysign({0}, {1})",
        (away_from_zero, away_from_zero),
        REAL,
        scalar_call="math.copysign({0}, {1})",
    ),
    binary(np.fmax, "np.fmax({0}, {1})", pair=apart_pair, dtypes=REAL),
    binary(np.fmin, "np.fmin({0}, {1})", pair=apart_pair, dtypes=REAL),
    Row(
        np.fmax,
        "np.fmax({0}, {1})",
        (Arg(), Arg()),
        pair=apart_with_nans,
        dtypes=REAL,
        id="fmax-nan",
    ),
    Row(
        np.fmin,
        "np.fmin({0}, {1})",
        (Arg(), Arg()),
        pair=apart_with_nans,
        dtypes=REAL,
        id="fmin-nan",
    ),
    # sign, heaviside: no derivative along x (the product shows that the value flows)
    Row(np.sign, "np.sign({0}) * {1}", (Arg(away_from_zero), Arg()), ("scalar", "array"), REAL),
    Row(
        runtime.numpy_heaviside,
        "np.heaviside({0}, {1})",
        (Arg(with_zeros, diff=False), Arg()),
        ("scalar", "array"),
        REAL,
        id="heaviside",
    ),
    Row(
        runtime.numpy_heaviside,
        "np.heaviside({0}, {1})",
        (Arg(away_from_zero), Arg()),
        ("scalar", "array"),
        REAL,
        id="heaviside-away",
    ),
    elementwise(np.nan_to_num, "np.nan_to_num({0})", dtypes=REAL),
    Row(
        np.nan_to_num,
        "np.nan_to_num({0}, nan=1.5, posinf=2.0, neginf=-3.0)",
        (Arg(with_nonfinite),),
        dtypes=REAL,
        id="nan-to-num-nonfinite",
    ),
    # sorting: along the last axis, another axis, the flattened array; no ties
    Row(runtime.sort_along, "np.sort({0})", (Arg(distinct),), dtypes=REAL, id="sort"),
    Row(
        runtime.sort_along, "np.sort({0}, axis=0)", (Arg(distinct),), dtypes=REAL, id="sort-axis-0"
    ),
    Row(
        runtime.sort_along,
        "np.sort({0}, axis=None)",
        (Arg(distinct),),
        dtypes=REAL,
        id="sort-flattened",
    ),
    Row(
        runtime.sort_along,
        "np.sort({0}, axis=1, kind='stable')",
        (Arg(distinct),),
        dtypes=REAL,
        shape=(2, 3, 4),
        id="sort-axis-3d",
    ),
    # partition: three elements along the axis, kth=1, so NumPy's arrangement is the sorted one
    Row(
        runtime.partition_along,
        "np.partition({0}, 1)",
        (Arg(distinct),),
        dtypes=REAL,
        id="partition",
    ),
    Row(
        runtime.partition_along,
        "np.partition({0}, -2, axis=0)",
        (Arg(distinct),),
        dtypes=REAL,
        shape=(3, 2),
        id="partition-axis-0",
    ),
    # interp: along x, xp and fp; x inside and outside the knots, away from them
    Row(
        np.interp,
        "np.interp({0}, {1}, {2})",
        (Arg(), vector(5), vector(5)),
        pair=interp_triple,
        dtypes=REAL,
    ),
    Row(
        np.interp,
        "np.interp({0}, {1}, {2})",
        (Arg(scalar=True), vector(5), vector(5)),
        pair=interp_triple,
        dtypes=(F64,),
        id="interp-scalar",
    ),
    # scipy.special: real only (the helpers are real), floats and arrays
    elementwise(runtime.special_expit, "scipy.special.expit({0})", moderate, REAL, id="expit"),
    elementwise(runtime.special_logit, "scipy.special.logit({0})", probability, REAL, id="logit"),
    elementwise(runtime.special_erf, "scipy.special.erf({0})", dtypes=REAL, id="special-erf"),
    elementwise(runtime.special_erfc, "scipy.special.erfc({0})", dtypes=REAL, id="special-erfc"),
    elementwise(
        runtime.special_gammaln, "scipy.special.gammaln({0})", positive, REAL, id="gammaln"
    ),
    elementwise(
        runtime.special_gammaln,
        "scipy.special.gammaln({0})",
        negative_non_integer,
        REAL,
        id="gammaln-negative",
    ),
    elementwise(
        runtime.special_digamma, "scipy.special.digamma({0})", positive, REAL, id="digamma"
    ),
    elementwise(
        runtime.special_digamma,
        "scipy.special.psi({0})",
        negative_non_integer,
        REAL,
        id="psi-negative",
    ),
    elementwise(
        runtime.special_polygamma,
        "scipy.special.polygamma(1, {0})",
        positive,
        REAL,
        id="polygamma",
    ),
    binary(
        runtime.special_xlogy, "scipy.special.xlogy({0}, {1})", (normal, positive), REAL, id="xlogy"
    ),
    binary(
        runtime.special_xlogy,
        "scipy.special.xlogy({0}, {1})",
        (with_zeros, positive),
        REAL,
        id="xlogy-zeros",
    ),
    Row(
        runtime.special_xlogy,
        "scipy.special.xlogy({0}, {1})",
        (Arg(), weights_of((3,))),
        dtypes=REAL,
        id="xlogy-broadcast",
    ),
    binary(
        runtime.special_xlog1py,
        "scipy.special.xlog1py({0}, {1})",
        (normal, positive),
        REAL,
        id="xlog1py",
    ),
    Row(runtime.special_softmax, "scipy.special.softmax({0})", dtypes=REAL, id="softmax"),
    Row(
        runtime.special_softmax,
        "scipy.special.softmax({0}, axis=1)",
        dtypes=REAL,
        id="softmax-axis",
    ),
    Row(
        runtime.special_softmax,
        "scipy.special.softmax({0}, axis=(0, 2))",
        dtypes=REAL,
        shape=(2, 3, 4),
        id="softmax-axes",
    ),
    Row(
        runtime.special_log_softmax,
        "scipy.special.log_softmax({0}, axis=-1)",
        dtypes=REAL,
        id="log-softmax",
    ),
    Row(
        runtime.special_log_softmax,
        "scipy.special.log_softmax({0})",
        dtypes=REAL,
        id="log-softmax-all",
    ),
    Row(runtime.special_logsumexp, "scipy.special.logsumexp({0})", dtypes=REAL, id="logsumexp"),
    Row(
        runtime.special_logsumexp,
        "scipy.special.logsumexp({0}, axis=1)",
        dtypes=REAL,
        id="logsumexp-axis",
    ),
    Row(
        runtime.special_logsumexp,
        "scipy.special.logsumexp({0}, axis=(0, 2), keepdims=True)",
        dtypes=REAL,
        shape=(2, 3, 4),
        id="logsumexp-axes-keepdims",
    ),
    Row(
        runtime.special_logsumexp_weighted,
        "scipy.special.logsumexp({0}, axis=0, b={1})",
        (Arg(), weights_of((3,))),
        dtypes=REAL,
        id="logsumexp-b",
    ),
    Row(
        runtime.special_logsumexp_weighted,
        "scipy.special.logsumexp({0}, b={1})",
        (Arg(), weights_of(None)),
        dtypes=REAL,
        id="logsumexp-b-all",
    ),
]
if hasattr(math, "cbrt"):  # Python 3.11
    MORE_ROWS.append(Row(runtime.math_cbrt, "math.cbrt({0})", (Arg(away_from_zero),), ("scalar",)))
MORE_ROWS.append(
    Row(
        runtime.math_fmod,
        "math.fmod({0}, {1})",
        (Arg(), Arg()),
        ("scalar",),
        pair=signed_quotient_pair,
    )
)
TABLE += MORE_ROWS


# --- tensor algebra (rules/tensor.py, sourcead_runtime/tensor.py) --------------------------------
# np.einsum is einsum_one or einsum_two (three operands: two of them), np.tensordot and np.inner
# tensordot_axes, np.vdot vdot_flat, np.cross cross_product, np.linalg.matrix_power
# matrix_power_of, np.transpose with axes transpose_axes; @ of stacks of matrices is the
# operator's entry. Each case of an einsum is one row: an explicit result, the implicit one,
# batch indices, "...", diagonals, traces, sums, three operands.


def halved(rng, shape):  # matrix powers: entries small enough that powers stay moderate
    return 0.5 * rng.normal(size=shape)


TENSOR_ROWS = [
    Row(
        runtime.einsum_two,
        'np.einsum("ijkl,klmn->ijmn", {0}, {1})',
        (Arg(shape=(2, 3, 2, 2)), Arg(shape=(2, 2, 3, 2))),
        id="einsum-trg",
    ),
    Row(
        runtime.einsum_two,
        'np.einsum("ij,jk", {0}, {1})',
        (Arg(shape=(2, 3)), Arg(shape=(3, 4))),
        id="einsum-implicit",
    ),
    Row(
        runtime.einsum_two,
        'np.einsum("bij,bjk->kbi", {0}, {1})',
        (Arg(shape=(2, 3, 2)), Arg(shape=(2, 2, 4))),
        id="einsum-batch",
    ),
    Row(
        runtime.einsum_two,
        'np.einsum("...ij,jk->...ik", {0}, {1})',
        (Arg(shape=(2, 2, 3)), Arg(shape=(3, 2))),
        id="einsum-ellipsis",
    ),
    Row(
        runtime.einsum_two,
        'np.einsum("iij,jk->ki", {0}, {1})',
        (Arg(shape=(3, 3, 2)), Arg(shape=(2, 4))),
        id="einsum-diagonal-of-two",
    ),
    Row(runtime.einsum_two, 'np.einsum("ij,ij->", {0}, {1})', (Arg(), Arg()), id="einsum-full"),
    Row(
        runtime.einsum_two,
        'np.einsum("ij,jk,kl->il", {0}, {1}, {2})',
        (Arg(shape=(2, 3)), Arg(shape=(3, 4)), Arg(shape=(4, 2))),
        id="einsum-three",
    ),
    Row(runtime.einsum_one, 'np.einsum("ii", {0})', (matrix(),), id="einsum-trace"),
    Row(runtime.einsum_one, 'np.einsum("ii->i", {0})', (matrix(),), id="einsum-diagonal"),
    Row(
        runtime.einsum_one,
        'np.einsum("ijk->kij", {0})',
        (Arg(shape=(2, 3, 4)),),
        id="einsum-transpose",
    ),
    Row(runtime.einsum_one, 'np.einsum("ij->j", {0})', id="einsum-sum"),
    Row(
        runtime.tensordot_axes,
        "np.tensordot({0}, {1})",
        (Arg(shape=(2, 3, 4)), Arg(shape=(3, 4, 2))),
        id="tensordot",
    ),
    Row(
        runtime.tensordot_axes,
        "np.tensordot({0}, {1}, axes=([0, 2], [2, 0]))",
        (Arg(shape=(2, 3, 4)), Arg(shape=(4, 3, 2))),
        id="tensordot-pairs",
    ),
    Row(
        runtime.tensordot_axes,
        "np.inner({0}, {1})",
        (Arg(shape=(2, 3)), Arg(shape=(4, 3))),
        id="inner",
    ),
    Row(runtime.tensordot_axes, "np.inner({0}, {1})", (vector(3), vector(3)), id="inner-vectors"),
    Row(
        operator.matmul,
        "{0} @ {1}",
        (Arg(shape=(2, 2, 3)), Arg(shape=(2, 3, 4))),
        id="matmul-stacks",
    ),
    Row(
        operator.matmul,
        "{0} @ {1}",
        (Arg(shape=(2, 2, 3)), Arg(shape=(3, 2))),
        id="matmul-stack-matrix",
    ),
    Row(
        np.matmul,
        "np.matmul({0}, {1})",
        (vector(3), Arg(shape=(2, 3, 4))),
        id="matmul-vector-stack",
    ),
    Row(
        operator.matmul,
        "np.linalg.multi_dot([{0}, {1}, {2}])",
        (Arg(shape=(2, 3)), Arg(shape=(3, 4)), vector(4)),
        id="multi-dot",
    ),
    Row(runtime.vdot_flat, "np.vdot({0}, {1})", (vector(4), vector(4)), id="vdot"),
    Row(runtime.vdot_flat, "np.vdot({0}, {1})", (Arg(), Arg()), id="vdot-matrices"),
    Row(np.kron, "np.kron({0}, {1})", (Arg(shape=(2, 3)), Arg(shape=(2, 2)))),
    Row(np.kron, "np.kron({0}, {1})", (vector(2), vector(3)), id="kron-vectors"),
    Row(
        runtime.cross_product,
        "np.cross({0}, {1})",
        (Arg(shape=(2, 3)), Arg(shape=(2, 3))),
        id="cross",
    ),
    Row(
        runtime.cross_product,
        "np.cross({0}, {1})",
        (Arg(shape=(4, 3)), vector(3)),
        id="cross-broadcast",
    ),
    Row(
        runtime.matrix_power_of,
        "np.linalg.matrix_power({0}, 3)",
        (matrix(halved),),
        id="matrix-power",
    ),
    Row(
        runtime.matrix_power_of,
        "np.linalg.matrix_power({0}, 0)",
        (matrix(),),
        id="matrix-power-0",
    ),
    Row(
        runtime.matrix_power_of,
        "np.linalg.matrix_power({0}, -2)",
        (matrix(well_conditioned),),
        id="matrix-power-negative",
    ),
    Row(
        runtime.transpose_axes,
        "np.transpose({0}, (2, 0, 1))",
        (Arg(shape=(2, 3, 4)),),
        id="transpose-axes",
    ),
    Row(
        runtime.transpose_axes,
        "{0}.transpose(1, -1, 0)",
        (Arg(shape=(2, 3, 4)),),
        id="transpose-axes-method",
    ),
]
TABLE += TENSOR_ROWS

# --- building and reshaping (rules/shaping.py) ----------------------------------------------------
SHAPING_ROWS: list = [
    Row(np.full, "np.full((2, 3), {0})", (Arg(scalar=True),), dtypes=(F64,), id="full"),
    Row(np.full_like, "np.full_like({1}, {0})", (Arg(scalar=True), Arg(diff=False))),
    Row(np.copy, "np.array({0})", id="array-copy"),
    Row(np.swapaxes, "np.swapaxes({0}, 0, -1)", (Arg(shape=(2, 3, 4)),)),
    Row(np.moveaxis, "np.moveaxis({0}, 0, -1)", (Arg(shape=(2, 3, 4)),)),
    Row(np.expand_dims, "np.expand_dims({0}, 1)"),
    Row(runtime.squeeze_axes, "np.squeeze({0}, axis=(0, 2))", (Arg(shape=(1, 3, 1)),)),
    Row(np.flip, "np.flip({0})"),
    Row(runtime.flip_along, "np.flip({0}, axis=-1)"),
    Row(np.flipud, "np.flipud({0})"),
    Row(np.fliplr, "np.fliplr({0})"),
    Row(runtime.rot90_along, "np.rot90({0}, k=3, axes=(1, 0))"),
    Row(np.roll, "np.roll({0}, 2, axis=1)"),
    Row(np.repeat, "np.repeat({0}, 2)"),
    Row(runtime.repeat_along, "np.repeat({0}, 3, axis=0)"),
    Row(runtime.tile_of, "np.tile({0}, (2, 1, 2))"),
    Row(runtime.pad_of, 'np.pad({0}, ((1, 0), (2, 1)), mode="reflect")', id="pad-reflect"),
    Row(
        runtime.pad_of,
        "np.pad({0}, 1, constant_values={1})",
        (Arg(), Arg(scalar=True)),
        dtypes=(F64,),
        id="pad-constant",
    ),
    Row(np.broadcast_to, "np.broadcast_to({0}, (4, 2, 3))"),
    Row(runtime.at_least, "np.atleast_3d({0})"),
    Row(runtime.cast_as, "{0}.astype(np.float64)", dtypes=(F64, F32), id="astype"),
    # norms, averages, traces and differences (rules/summaries.py)
    Row(runtime.norm_along, "np.linalg.norm({0}, axis=1)", dtypes=(F64, C128), id="norm-axis"),
    Row(
        runtime.norm_operand,
        "np.linalg.norm({0}, 1)",
        (matrix(away_from_zero),),
        dtypes=(F64,),
        id="norm-ord-1",
    ),
    Row(
        runtime.weights_along,
        "np.average({0}, axis=1, weights={1})",
        (Arg(), Arg(positive, (3,))),
        dtypes=(F64, F32),
        id="average-weights",
    ),
    Row(runtime.trace_along, "np.trace({0}, 1, 0, 2)", (Arg(shape=(3, 2, 4)),), id="trace-axes"),
    Row(runtime.diff_along, "np.diff({0}, n=2, axis=0)", (Arg(shape=(4, 3)),), id="diff"),
]
TABLE += SHAPING_ROWS

# --- indexing: gathers, scatters, masks (rules/indexing.py) ------------------------------------
INDEXING_ROWS: list = [
    # repeated indices: the adjoint adds the adjoints of both reads
    Row(runtime.take_along, "{0}[np.arange(4) % 3]", (vector(3),), id="fancy-gather"),
    Row(runtime.take_along, "{0}[:, np.arange(4) % 3]", id="fancy-columns"),
    Row(runtime.take_along, "np.take({0}, np.arange(3) * 2 - 1)", id="take-flattened"),
    Row(runtime.take_pairs, "{0}[np.arange(3) % 2, np.arange(3)]", id="fancy-pairs"),
    Row(runtime.masked, "{0}[{1}]", (Arg(), Arg(mask=True, diff=False)), id="mask"),
    Row(
        runtime.true_indices,
        "{0}[:, {1}]",
        (Arg(), Arg(shape=(3,), mask=True, diff=False)),
        id="mask-columns",
    ),
]
TABLE += INDEXING_ROWS

# --- linear algebra beyond the symmetric decompositions (rules/linalg.py) ----------------------
# (rules/factorizations.py). The losses are invariant under the factors' gauges: the
# eigenvectors' phases and scaling, the singular vectors' common phases, the basis of the
# complement that svd's full u spans.


def separated_eigenvalues(rng, shape):  # eig: eigenvalues apart, eigenvectors' v[1] away from 0
    while True:
        a = rng.normal(size=shape)
        w, v = np.linalg.eig(a)
        gaps = np.abs(w[:, None] - w[None, :]) + np.eye(len(w))
        if np.min(gaps) > 0.3 and np.min(np.abs(v[1])) > 0.2:
            return a


LINALG_ROWS: list = [
    Row(
        np.linalg.eigvalsh,
        "np.linalg.eigvalsh(0.5 * ({0} + np.conj({0}.T)))",
        (matrix(spd),),
        dtypes=(F64, C128),
    ),
    Row(
        runtime.linalg_svd_values,
        "np.linalg.svd({0}, compute_uv=False)",
        (matrix(tall, (4, 3)),),
        dtypes=(F64, C128),
        id="svd-values",
    ),
    Row(
        np.linalg.svd,
        "np.linalg.svd({0})",
        (matrix(tall, (4, 3)),),
        dtypes=(F64, C128),
        # the projector onto the complement that u's last column spans, |vh|^2
        outputs=("{}[:, 3:] @ np.conj({}[:, 3:].T)", "{}", "{} * np.conj({})"),
        id="svd-full-matrices",
    ),
    Row(
        np.linalg.svd,
        "np.linalg.svd({0})",
        (matrix(tall, (3, 4)),),
        dtypes=(F64,),
        outputs=("{} * {}", "{}", "np.conj({}[3:].T) @ {}[3:]"),
        id="svd-full-wide",
    ),
    Row(
        runtime.linalg_qr_r,
        'np.linalg.qr({0}, mode="r")',
        (matrix(tall, (4, 3)),),
        dtypes=(F64, C128),
        id="qr-r",
    ),
    Row(
        runtime.eig_complex,
        "np.linalg.eig({0})",
        (matrix(separated_eigenvalues),),
        dtypes=(F64,),
        outputs=("{}", "{}[0] / {}[1]"),  # ratios: invariant under the eigenvectors' scaling
        id="eig",
    ),
    Row(
        runtime.linalg_eigvals,
        "np.linalg.eigvals({0})",
        (matrix(separated_eigenvalues),),
        dtypes=(F64,),
        id="eigvals",
    ),
    Row(
        runtime.eig_complex,
        "np.linalg.eig({0})",
        (matrix(separated_eigenvalues),),
        dtypes=(C128,),
        outputs=("{}", None),
        id="eig-of-complex",
        refused={("complex128", m): "np.linalg.eig of a complex array" for m in MODES},
    ),
    Row(np.linalg.pinv, "np.linalg.pinv({0})", (matrix(tall, (4, 3)),), dtypes=(F64,)),
    Row(
        np.linalg.lstsq,
        "np.linalg.lstsq({0}, {1})",
        (matrix(tall, (4, 3)), vector(4)),
        dtypes=(F64,),
        outputs=("{}", "{}", None, "{}"),  # the rank has no derivative
    ),
    Row(
        runtime.linalg_expm,
        "scipy.linalg.expm({0})",
        (matrix(moderate),),
        dtypes=(F64, C128),
        id="expm",
    ),
    Row(
        runtime.linalg_solve_triangular,
        "scipy.linalg.solve_triangular({0}, {1}, lower=True)",
        (matrix(well_conditioned), vector(3)),
        dtypes=(F64, C128),
        id="solve-triangular",
    ),
    Row(
        runtime.linalg_solve_triangular,
        "scipy.linalg.solve_triangular({0}, {1}, trans=2, unit_diagonal=True)",
        (matrix(well_conditioned), Arg(shape=(3, 2))),
        dtypes=(F64, C128),
        id="solve-triangular-conjugate",
    ),
    # SciPy reads one triangle of a: symmetrised, as the rules' symmetric adjoint assumes
    Row(
        runtime.linalg_cholesky,
        "scipy.linalg.cholesky(0.5 * ({0} + {0}.T))",
        (matrix(spd),),
        dtypes=(F64,),
        id="scipy-cholesky",
    ),
    Row(
        runtime.linalg_cholesky,
        "scipy.linalg.cholesky(0.5 * ({0} + {0}.T), lower=True)",
        (matrix(spd),),
        dtypes=(F64,),
        id="scipy-cholesky-lower",
    ),
    Row(
        runtime.linalg_cho_factor,
        "scipy.linalg.cho_factor(0.5 * ({0} + {0}.T), lower=True)",
        (matrix(spd),),
        dtypes=(F64,),
        outputs=("np.tril({})", None),  # SciPy's other triangle is arbitrary; the flag constant
        id="cho-factor",
    ),
    # the factor's triangle is read (a triangular matrix, its diagonal away from zero)
    Row(
        runtime.linalg_cho_solve,
        "scipy.linalg.cho_solve(({0}, False), {1})",
        (matrix(well_conditioned), vector(3)),
        dtypes=(F64,),
        id="cho-solve",
    ),
    Row(
        runtime.linalg_cho_solve,
        "scipy.linalg.cho_solve(({0}, True), {1})",
        (matrix(well_conditioned), Arg(shape=(3, 2))),
        dtypes=(F64,),
        id="cho-solve-lower",
    ),
    # complex: Hermitian matrices, a = L L^H (JAX's convention)
    Row(
        runtime.linalg_cholesky,
        "scipy.linalg.cholesky(0.5 * ({0} + np.conj({0}.T)))",
        (matrix(spd),),
        dtypes=(C128,),
        id="scipy-cholesky-hermitian",
    ),
    Row(
        runtime.linalg_cho_solve,
        "scipy.linalg.cho_solve(({0}, True), {1})",
        (matrix(well_conditioned), Arg(shape=(3, 2))),
        dtypes=(C128,),
        id="cho-solve-complex",
    ),
]
TABLE += LINALG_ROWS

# --- FFT (rules/fft.py) ----------------------------------------------------------------------------
# Every transform is linear (its rows' second derivatives are zero: the plain-Python run checks
# them); rfft takes real arrays only. Lengths odd and even, cut and padded (n=), norms.
FFT_ROWS = [
    Row(runtime.fft_along, 'np.fft.fft({0}, axis=0, norm="ortho")', id="fft"),
    Row(runtime.fft_sized, 'np.fft.fft({0}, 5, norm="forward")', id="fft-padded"),
    Row(runtime.fft_sized, "np.fft.fft({0}, n=2, axis=0)", shape=(3, 2), id="fft-cut"),
    Row(runtime.ifft_along, "np.fft.ifft({0})", id="ifft"),
    Row(runtime.ifft_sized, 'np.fft.ifft({0}, 2, norm="ortho")', id="ifft-cut"),
    Row(runtime.rfft_along, "np.fft.rfft({0})", dtypes=REAL, shape=(2, 5), id="rfft"),
    Row(runtime.rfft_sized, 'np.fft.rfft({0}, 6, axis=0, norm="ortho")', dtypes=REAL, id="rfft-n"),
    Row(runtime.irfft_along, 'np.fft.irfft({0}, norm="forward")', shape=(2, 4), id="irfft"),
    Row(runtime.irfft_sized, "np.fft.irfft({0}, 5, axis=0)", shape=(3, 2), id="irfft-odd"),
    Row(runtime.irfft_sized, "np.fft.irfft({0}, 8)", id="irfft-padded"),
    Row(runtime.fft2_along, "np.fft.fft2({0})", id="fft2"),
    Row(
        runtime.ifft2_along,
        'np.fft.ifft2({0}, axes=(0, 2), norm="forward")',
        shape=(2, 3, 2),
        id="ifft2-axes",
    ),
    Row(runtime.fftn_along, "np.fft.fftn({0}, axes=(1,))", id="fftn-axes"),
    Row(runtime.ifftn_along, 'np.fft.ifftn({0}, norm="ortho")', shape=(2, 2, 3), id="ifftn"),
    Row(runtime.fftshift_along, "np.fft.fftshift({0})", shape=(3, 5), id="fftshift"),
    Row(runtime.ifftshift_along, "np.fft.ifftshift({0}, axes=1)", shape=(3, 5), id="ifftshift"),
    Row(runtime.fft_along, "scipy.fft.fft({0}, workers=2)", id="scipy-fft"),
    # the sample frequencies: of the spacing, a Python float (their result is float64)
    Row(np.fft.fftfreq, "np.fft.fftfreq(5, {0})", (Arg(positive, scalar=True),), dtypes=(F64,)),
    Row(np.fft.rfftfreq, "np.fft.rfftfreq(6, d={0})", (Arg(positive, scalar=True),), dtypes=(F64,)),
]
TABLE += FFT_ROWS


# --- the cases: one generated function per row, kind and dtype ----------------------------------
# A case's statements and loss name its parameters and locals with a "§" prefix, which is ""
# in the case's own function and the case's tag in the function of a group of cases.


@dataclass
class Case:
    row: Row
    kind: str  # "scalar" or "array"
    dtype: type
    params: list[str]
    statements: list[str]
    loss: str
    args: tuple
    diff: tuple[int, ...]  # the differentiated arguments

    @property
    def id(self) -> str:
        return f"{self.row.name}-{self.kind}-{np.dtype(self.dtype).name}"

    @property
    def name(self) -> str:  # of the generated function
        return "f_" + _identifier(self.id)

    @property
    def source(self) -> str:
        return _function(self.name, [(self, "")])

    def label(self, k: int) -> str:
        return f"x{k}"


def _function(name: str, parts: list[tuple[Case, str]]) -> str:
    params = [p.replace("§", tag) for case, tag in parts for p in case.params]
    lines = [line.replace("§", tag) for case, tag in parts for line in case.statements]
    loss = " + ".join(case.loss.replace("§", tag) for case, tag in parts)
    body = "\n".join(lines + [f"return {loss}"])
    return f"def {name}({', '.join(params)}):\n{textwrap.indent(body, '    ')}\n"


def _identifier(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _typed(value, arg: Arg, kind: str, dtype, rng):
    if arg.mask:
        return value
    if kind == "scalar" or arg.scalar:
        return float(value)
    if dtype is C128:
        return value + 0.3j * rng.normal(size=value.shape)
    return value.astype(dtype)


def _loss_term(expression: str, value, weight: str, rng, weights: dict) -> str:
    """The loss's term of one (array or scalar) value of the primitive: plain or weighted."""
    complex_value = np.iscomplexobj(value)
    if np.ndim(value) == 0 and not complex_value:
        return f"({expression})"
    # a complex scalar too is weighted by an array: sourcead types np.real of a complex
    # scalar as complex (grad refuses the function: "returns a complex number")
    shape = np.shape(value) or (2,)
    w = rng.normal(size=shape)
    if complex_value:
        weights[weight] = w + 1j * rng.normal(size=shape)
        return f"np.sum(np.real({weight} * ({expression})))"
    weights[weight] = w.astype(np.result_type(value.dtype, np.float32))
    return f"np.sum({weight} * ({expression}))"


def make_case(row: Row, kind: str, dtype) -> Case:
    rng = np.random.default_rng(zlib.crc32(f"{row.name}-{kind}-{np.dtype(dtype).name}".encode()))
    shapes = [() if kind == "scalar" or a.scalar else (a.shape or row.shape) for a in row.args]
    if row.pair is not None:
        raw = row.pair(rng, shapes[0])
    else:
        raw = [
            rng.random(shape) > 0.5 if a.mask else a.make(rng, shape)
            for a, shape in zip(row.args, shapes, strict=True)
        ]
    args = [_typed(v, a, kind, dtype, rng) for v, a in zip(raw, row.args, strict=True)]
    params = [f"x{k}" for k in range(len(args))]
    template = row.scalar_call if kind == "scalar" and row.scalar_call else row.call
    namespace = {"np": np, "math": math, "scipy": scipy, **dict(zip(params, args, strict=True))}
    value = eval(template.format(*params), namespace)  # NumPy's: the types the loss reads
    call = template.format(*[f"§{p}" for p in params])
    weights: dict = {}
    if row.outputs is None:
        statements = []
        loss = _loss_term(call, value, "§w0", rng, weights)
    else:
        results = [f"§r{k}" for k in range(len(row.outputs))]
        statements = [f"{', '.join(results)} = {call}"]
        loss = " + ".join(
            _loss_term(spelled.format(*[r] * spelled.count("{}")), v, f"§w{k}", rng, weights)
            for k, (spelled, v, r) in enumerate(zip(row.outputs, value, results, strict=True))
            if spelled is not None
        )
    diff = tuple(k for k, a in enumerate(row.args) if a.diff)
    all_params = [f"§{p}" for p in params] + list(weights)
    all_args = tuple(args) + tuple(weights.values())
    return Case(row, kind, dtype, all_params, statements, loss, all_args, diff)


def _cases() -> list[Case]:
    return [
        make_case(row, kind, dtype)
        for row in TABLE
        for kind in row.kinds
        for dtype in (row.dtypes if kind == "array" else (F64,))
    ]


CASES = _cases()


@pytest.fixture(scope="session")
def functions(tmp_path_factory):
    """The module of every case's function, written to a file (sourcead reads the source)."""
    path = tmp_path_factory.mktemp("rule_table") / "rule_table_functions.py"
    path.write_text(
        "import math\n\nimport numpy as np\nimport scipy.special\n\n\n"
        + "\n\n".join(c.source for c in CASES)
        + "\n\ndef complex_square(z):\n    return np.sum(np.real(z * z))\n"
    )
    spec = importlib.util.spec_from_file_location("rule_table_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- finite differences (in float64 / complex128) -----------------------------------------------
STEP = 1e-6  # central differences of the function
HVP_STEP = 1e-5  # central differences of the gradient


def _wide(value):
    """The value in float64 (complex128): the precision of the references."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(np.float64)
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":
        return value.astype(np.complex128)
    return value


def _moved(args, tangents, step):
    return [
        a if t is None else (a + step * t if isinstance(a, float) else a + step * _wide(t))
        for a, t in zip(args, tangents, strict=True)
    ]


def fd_gradient(f, args, k):
    """dL/dx (- i dL/dy for complex) of f's real scalar value, with respect to args[k]."""
    args = [_wide(a) for a in args]

    def along(direction):
        tangents = [None] * len(args)
        tangents[k] = direction
        plus, minus = _moved(args, tangents, STEP), _moved(args, tangents, -STEP)
        return (float(f(*plus)) - float(f(*minus))) / (2 * STEP)

    x = args[k]
    if isinstance(x, float):
        return along(1.0)
    g = np.zeros(x.shape, dtype=x.dtype)
    for index in np.ndindex(x.shape):
        e = np.zeros(x.shape, dtype=x.dtype)
        e[index] = 1.0
        g[index] = along(e)
        if x.dtype.kind == "c":
            g[index] -= 1j * along(1j * e)
    return g


def direction(case: Case, seed: int = 7) -> list:
    """A random tangent for each differentiated argument (None for the others)."""
    rng = np.random.default_rng(seed)
    tangents = []
    for k, a in enumerate(case.args):
        if k not in case.diff:
            tangents.append(None)
        elif isinstance(a, float):
            tangents.append(float(rng.normal()))
        elif a.dtype.kind == "c":
            tangents.append(rng.normal(size=a.shape) + 1j * rng.normal(size=a.shape))
        else:
            tangents.append(rng.normal(size=a.shape).astype(a.dtype))
    return tangents


def _tolerance(case: Case) -> float:
    return 2e-3 if case.dtype is F32 else 1e-6


def assert_near(actual, desired, rtol, what):
    """Close elementwise, relative to the largest reference element (finite differences of a
    small element are no better than those of the largest)."""
    desired = np.asarray(desired)
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    np.testing.assert_allclose(
        np.asarray(actual), desired, rtol=rtol, atol=rtol * scale, err_msg=what
    )


def _as_tuple(value, several: bool) -> tuple:
    return value if several else (value,)


# --- the checks ----------------------------------------------------------------------------------


def check_reverse(case: Case, f, compile: bool) -> None:
    several = len(case.diff) > 1
    wrt = case.diff if several else case.diff[0]
    grads = _as_tuple(sourcead.grad(f, wrt=wrt, compile=compile)(*case.args), several)
    for g, k in zip(grads, case.diff, strict=True):
        x = case.args[k]
        if isinstance(x, float):
            assert isinstance(g, float | np.floating), f"gradient of a float is {type(g)}"
        else:
            assert g.shape == x.shape and g.dtype == x.dtype, (g.shape, g.dtype, x.shape, x.dtype)
        what = f"gradient wrt {case.label(k)}"
        assert_near(g, fd_gradient(f, case.args, k), _tolerance(case), what)


def check_forward(case: Case, f, compile: bool) -> None:
    tangents = direction(case)
    value, tangent = sourcead.jvp(f, case.args, tangents, compile=compile)
    assert_near(value, f(*case.args), _tolerance(case), "value")
    wide = [_wide(a) for a in case.args]
    plus, minus = _moved(wide, tangents, STEP), _moved(wide, tangents, -STEP)
    reference = (float(f(*plus)) - float(f(*minus))) / (2 * STEP)
    assert_near(tangent, reference, _tolerance(case), "tangent")


def check_second(case: Case, f, compile: bool) -> None:
    tangents = direction(case)
    several = len(case.diff) > 1
    products = _as_tuple(sourcead.hvp(f, case.args, tangents, compile=compile), several)
    gradient = sourcead.grad(f, wrt=case.diff if several else case.diff[0], compile=False)
    wide = [_wide(a) for a in case.args]
    plus = _as_tuple(gradient(*_moved(wide, tangents, HVP_STEP)), several)
    minus = _as_tuple(gradient(*_moved(wide, tangents, -HVP_STEP)), several)
    for k, product, p, m in zip(case.diff, products, plus, minus, strict=True):
        tolerance = max(_tolerance(case), 1e-5)
        what = f"hvp, gradient wrt {case.label(k)}"
        assert_near(product, (p - m) / (2 * HVP_STEP), tolerance, what)


CHECKS = {"reverse": check_reverse, "forward": check_forward, "second": check_second}


# hvp of complex inputs is refused (test_hvp_of_complex_input): the complex cases are checked
# to first order only.
def _modes(case: Case) -> tuple[str, ...]:
    return MODES if case.dtype is not C128 else ("reverse", "forward")


def _key(case: Case) -> str:
    """How ``refused`` and ``broken`` name the case's dtype: "scalar" for Python floats."""
    return "scalar" if case.kind == "scalar" else np.dtype(case.dtype).name


def _known(case: Case, mode: str, compile: bool, table: dict):
    """The reason ``table`` (a row's ``refused`` or ``broken``) gives for the mode, if any:
    keyed (dtype, mode), or (dtype, mode, "compiled") for compiled code only."""
    return table.get((_key(case), mode)) or (compile and table.get((_key(case), mode, "compiled")))


# Compiling takes seconds a case (all of the table's cases and modes, some 20 minutes on 2
# cores), so the slow group compiles fewer: each row in float64 in reverse mode, its numbers
# (scalar rules) and np.linalg's arrays in every mode, but rows whose hvp is zero (linear primitives: compiled to first order; the plain-
# Python run checks the zero) and rows that repeat another row's code paths with other values
# (not compiled); other dtypes only where compiled code is known to refuse or break, so that
# those xfail(strict=True) cases stay checked.
LINEAR = {
    "add", "sub", "neg", "pos", "floordiv", "float", "where", "sum", "sum-axis", "mean",
    "cumsum", "trace", "transpose", "ascontiguousarray", "tril", "triu", "reshape", "ravel",
    "diag", "diag-of-vector", "linspace", "real", "imag", "conjugate",
    "sum-axes-keep", "sum-keepdims-method", "sum-axes", "sum-all-keepdims", "mean-axis",
    "mean-axes-keep", "cumsum-axis", "cumsum-axis-3d",
    # indices: the rows are linear in the array they weigh
    "argmax", "argmax-axis", "argmax-keepdims", "argmin", "argsort", "argsort-method",
}  # fmt: skip
REPEATED = {
    "sum-method", "transpose-attribute", "cumprod-zeros", "cumprod-one", "logaddexp-far",
    # reductions along axes: the same helpers as a compiled row, with other axes or options
    "amax", "min-method", "sum-keepdims-method", "sum-axes", "sum-all-keepdims", "mean-axis",
    "prod-axes-keep", "max-axis", "amax-axis", "amin-axes", "ptp", "ptp-axes-keep", "var-ddof",
    "median-axes-keep",
    "var-axes", "std", "std-axis-ddof", "cumsum-axis", "cumprod-axis-0", "argmax-axis",
    "argmin", "argsort-method",
}  # fmt: skip
# the rows above: linear ones, and those that repeat another row's helpers with other options
LINEAR |= {
    "np-add", "np-subtract", "np-negative", "np-positive", "deg2rad", "rad2deg", "sign",
    "heaviside", "heaviside-away", "nan_to_num", "nan-to-num-nonfinite", "sort", "sort-axis-0",
    "sort-flattened", "sort-axis-3d", "partition", "partition-axis-0",
}  # fmt: skip
REPEATED |= {
    "np-divide", "np-mod", "np-multiply-broadcast", "radians", "degrees", "logaddexp2-far",
    "sinc", "fmin", "fmin-nan", "heaviside-away", "sort-axis-0", "sort-flattened",
    "partition-axis-0", "gammaln-negative", "special-erfc", "xlogy-broadcast", "softmax",
    "log-softmax-all", "logsumexp", "logsumexp-b-all",
}  # fmt: skip
# tensor algebra: linear rows, and rows of the helpers of a compiled row with other labels
LINEAR |= {
    "einsum-trace", "einsum-diagonal", "einsum-transpose", "einsum-sum", "transpose-axes",
    "transpose-axes-method", "matrix-power-0",
}  # fmt: skip
REPEATED |= {
    "einsum-implicit", "einsum-full", "einsum-transpose", "einsum-sum", "tensordot-pairs",
    "inner-vectors", "matmul-stack-matrix", "vdot-matrices", "kron-vectors", "cross",
    "matrix-power-0", "transpose-axes-method",
    # the TRG-sized contraction: the helpers of the other einsum rows, a minute to compile
    "einsum-trg",
}  # fmt: skip


def _linear_algebra(row: Row) -> bool:
    return (getattr(row.fn, "__module__", None) or "").startswith("numpy.linalg")


def _compiled(case: Case, mode: str) -> bool:
    """Whether the slow group compiles the case's mode (see LINEAR above)."""
    known = {**case.row.refused, **case.row.broken}
    if (_key(case), mode, "compiled") in known or (_key(case), mode) in known:
        return True
    if mode == "forward" and case.row.broken is F32_SECOND and _key(case) == "float32":
        return True  # float32 tangents of solves: compiled jvp works, hvp does not yet
    if mode in ("forward", "second") and case.row.fn in FLOAT32_PRODUCTS:
        if _key(case) == "float32":
            return True  # float32 products mix no float64 into Numba's @
    if case.dtype is not F64 or case.row.name in REPEATED:
        return False
    if case.kind == "array" and mode != "reverse" and not _linear_algebra(case.row):
        # whole-array rows: compiled in reverse mode; their forward mode and second order run
        # as plain Python (compiled in tests/test_forward_numpy.py, test_higher_order.py),
        # but np.linalg's, whose tangents and second derivatives are the most intricate
        return False
    if id(case.row) in _OTHER_DTYPES_SLOW and mode != "reverse":
        # the element-wise, special and tensor rows are compiled in reverse mode; their
        # forward mode and second order run as plain Python here (compiled for some of
        # them in tests/test_special.py and tests/test_tensor_algebra.py), which keeps
        # CI's slow group within its time
        return False
    return mode != "second" or case.row.name not in LINEAR


# The element-wise, special-function, tensor, shaping, indexing, linear-algebra and FFT rows
# run as plain Python in float64 in reverse mode in the quick group, and in their other dtypes
# and modes in the slow group, which CI runs too: the README's command stays within its five
# minutes on 2 cores.
_OTHER_DTYPES_SLOW = {
    id(row)
    for row in MORE_ROWS + TENSOR_ROWS + SHAPING_ROWS + INDEXING_ROWS + LINALG_ROWS + FFT_ROWS
}


def _slow(case: Case, mode: str, compile: bool) -> bool:
    """Compiled cases, and of the rows above all but float64 in reverse mode as plain Python
    (their forward mode and second order too: the README's command within five minutes)."""
    if compile:
        return True
    return id(case.row) in _OTHER_DTYPES_SLOW and (case.dtype is not F64 or mode != "reverse")


def _params():
    """Every case and mode as plain Python (quick), and compiled (slow, see ``_compiled``)."""
    for case in CASES:
        for mode, compile in itertools.product(_modes(case), (False, True)):
            if compile and not _compiled(case, mode):
                continue
            marks = [pytest.mark.slow] if _slow(case, mode, compile) else []
            reason = _known(case, mode, compile, case.row.broken)
            if reason:  # (wrong complex code casts complex values to real: not the point here)
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
                marks.append(pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning"))
            label = "compiled" if compile else "python"
            yield pytest.param(case, mode, compile, marks=marks, id=f"{case.id}-{mode}-{label}")


@pytest.mark.parametrize("case, mode, compile", list(_params()))
def test_rule(case, mode, compile, functions):
    f = getattr(functions, case.name)
    if _known(case, mode, compile, case.row.refused):  # a clean refusal, not a crash
        with pytest.raises(SourceADError):
            CHECKS[mode](case, f, compile)
        return
    CHECKS[mode](case, f, compile)


def test_hvp_of_complex_input(functions):
    """The smallest case: L = sum(Re(z * z)) = sum(x^2 - y^2), whose gradient (JAX's
    convention, dL/dx - i dL/dy) is 2 z; its tangent along v is 2 v."""
    f = functions.complex_square
    z = np.array([0.5 + 1.0j, -1.5 + 0.25j])
    v = np.array([1.0 + 2.0j, 0.5 - 1.0j])
    np.testing.assert_allclose(sourcead.grad(f, compile=False)(z), 2 * z, rtol=1e-12)
    # forward over reverse would drop the imaginary parts: refused, not wrong
    with pytest.raises(SourceADError, match="complex argument z are not supported"):
        sourcead.hvp(f, (z,), (v,), compile=False)


def test_hessian_of_cumprod_is_exact_where_elements_are_zero(functions):
    """Vector-mode forward over reverse (one direction per element) through reverse_cumprod's
    tangent, against the Hessian of sum(w * cumprod(x)) written out: for i != j, the sum over
    k >= max(i, j) of w[k] times the product of x[0..k] but x[i] and x[j]."""
    f = functions.f_cumprod_zeros_array_float64
    x, w = (
        np.array(a) for a in next(c for c in CASES if c.id == "cumprod-zeros-array-float64").args
    )
    n = x.size
    expected = np.zeros((n, n))
    for i, j in itertools.permutations(range(n), 2):
        for k in range(max(i, j), n):
            expected[i, j] += w[k] * np.prod([x[m] for m in range(k + 1) if m not in (i, j)])
    hessian = sourcead.hessian(f, compile=False)(x, w)
    np.testing.assert_allclose(hessian, expected, rtol=1e-12, atol=1e-14)


def test_every_entry_has_a_row():
    """A built-in primitive (not a helper of generated code) cannot land without its row."""
    covered = {id(entry_for(row.fn)) for row in TABLE}
    missing = [
        e.name for e in entries() if e.builtin and not e.forward_only and id(e) not in covered
    ]
    assert not missing, f"entries without a row in TABLE: {missing}"


def test_rows_are_unique_and_name_builtin_entries():
    names = [row.name for row in TABLE]
    assert len(names) == len(set(names)), "two rows share a name (give one an id)"
    for row in TABLE:
        entry = entry_for(row.fn)
        assert entry is not None and entry.builtin and not entry.forward_only, row.name
