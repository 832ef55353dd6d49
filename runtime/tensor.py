"""Tensor algebra for generated code: einsum, tensordot, products of stacks of matrices, and
the adjoints of ``np.kron`` and ``np.linalg.matrix_power``.

How an einsum is compiled. sourcead writes a call of ``np.einsum`` with constant subscripts
as calls of ``einsum_one`` (one operand) and ``einsum_two`` (two operands; more are
contracted a pair at a time), whose subscripts are tuples of integer labels, one per letter:
``np.einsum("ijkl,klmn->ijmn", a, b)`` is ``einsum_two(a, b, (0, 1, 2, 3), (2, 3, 4, 5),
(0, 1, 4, 5))``, and ``-1`` stands for ``...``. Numba does not compile ``np.einsum``. When it
compiles a call of these helpers, the labels are constants of the call and the numbers of
dimensions and the dtypes of the operands are known, so the Numba implementation
(``numba.extending.overload``) is written for that call, as NumPy code of transposes,
reshapes and one matrix product, the way ``opt_einsum`` contracts a pair:

* an index repeated in one operand takes the diagonal (``ii->i``), and an index of one operand
  that is neither in the other nor in the result is summed over first;
* the indices left are grouped: *batch* (in both operands and in the result), *free* (in one
  operand and in the result) and *contracted* (in both operands, not in the result). Each
  operand becomes a matrix of its free and contracted indices (a stack of them, one per
  batch element, when there are batch indices) and one product (BLAS) contracts them; the
  product is reshaped and transposed into the result.

The adjoint with respect to an operand (``einsum_two_adjoint_x`` …) is the contraction of
the result's adjoint with the other operand into the operand's indices, by the same code,
then written into the diagonal of the repeated indices and repeated along the summed ones.
The same source runs as plain NumPy where ``compile=False``, so both run one plan.

``np.tensordot`` and ``np.inner`` (``tensordot_axes``) and ``@`` of stacks of matrices (an
overload of ``operator.matmul`` for arrays of more than two dimensions, which Numba lacks)
are contractions too: their labels come from their axes and the numbers of dimensions.
"""

from __future__ import annotations

import functools
import operator

import numba
import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.extending import overload, register_jitable
from numba.np.numpy_support import as_dtype

from .exports import EXPORTS

__all__ = list(EXPORTS["tensor"])  # (the names: exports.py)

#: The label of ``...`` in the subscripts of ``einsum_one`` and ``einsum_two``.
ELLIPSIS = -1


# --- labels ------------------------------------------------------------------------------------


def expanded_labels(labels: tuple, ndim: int, what: str = "an operand") -> tuple:
    """The labels of each of the ``ndim`` axes of an operand whose subscripts are ``labels``:
    ``...`` (``ELLIPSIS``) stands for the axes no letter names, labelled from the right
    (-2 the last of them, -3 the one before …) so that those of operands of other numbers
    of dimensions line up as NumPy's broadcasting does; ValueError where they do not fit."""
    labels = tuple(labels)
    if ELLIPSIS not in labels:
        if len(labels) != ndim:
            raise ValueError(
                f"einsum: {what} has {ndim} dimensions, its subscripts name {len(labels)}"
            )
        return labels
    if labels.count(ELLIPSIS) > 1:
        raise ValueError("einsum: '...' appears twice in the subscripts of one operand")
    extra = ndim - (len(labels) - 1)
    if extra < 0:
        raise ValueError(
            f"einsum: {what} has {ndim} dimensions, its subscripts name {len(labels) - 1}"
        )
    k = labels.index(ELLIPSIS)
    return labels[:k] + tuple(-2 - j for j in reversed(range(extra))) + labels[k + 1 :]


def einsum_labels(operands: tuple, ndims: tuple, out: tuple) -> tuple[tuple, tuple]:
    """The labels of every axis of the operands and of the result of the einsum whose
    subscripts are ``operands`` and ``out`` (label tuples), for operands of ``ndims``
    dimensions; ValueError (NumPy's reasons) where they do not fit."""
    expanded = tuple(
        expanded_labels(labels, ndim, f"operand {k}")
        for k, (labels, ndim) in enumerate(zip(operands, ndims, strict=True))
    )
    width = max(
        (
            ndim - (len(labels) - 1)
            for labels, ndim in zip(operands, ndims, strict=True)
            if ELLIPSIS in labels
        ),
        default=0,
    )
    out = tuple(out)
    if ELLIPSIS in out:
        k = out.index(ELLIPSIS)
        out = out[:k] + tuple(-2 - j for j in reversed(range(width))) + out[k + 1 :]
    elif width:
        raise ValueError("einsum: the result's subscripts need '...' for the operands' '...'")
    if len(set(out)) != len(out):
        raise ValueError("einsum: an index appears twice in the result")
    known = {label for labels in expanded for label in labels}
    if not set(out) <= known:
        raise ValueError("einsum: the result has an index that no operand has")
    return expanded, out


def tensordot_labels(x_axes, y_axes, ndim_x: int, ndim_y: int) -> tuple[tuple, tuple, tuple]:
    """The einsum labels of ``np.tensordot(x, y, (x_axes, y_axes))`` for operands of
    ``ndim_x`` and ``ndim_y`` dimensions (``axes=n`` is ``x_axes`` the last n axes, -n …
    -1, and ``y_axes`` the first n); ValueError where NumPy raises."""
    of_x = _normalized(x_axes, ndim_x)
    of_y = _normalized(y_axes, ndim_y)
    if len(of_x) != len(of_y):
        raise ValueError("tensordot: the two sequences of axes differ in length")
    x_labels = tuple(range(ndim_x))
    y_labels = tuple(
        of_x[of_y.index(axis)] if axis in of_y else ndim_x + axis for axis in range(ndim_y)
    )
    out = tuple(a for a in x_labels if a not in of_x) + tuple(
        ndim_x + a for a in range(ndim_y) if a not in of_y
    )
    return x_labels, y_labels, out


def _normalized(axes, ndim: int) -> tuple[int, ...]:
    named = tuple(axes) if isinstance(axes, tuple | list) else (axes,)
    if not all(-ndim <= a < ndim for a in named):
        raise ValueError(f"tensordot: an axis in {named} is out of range for {ndim} dimensions")
    normal = tuple(a % ndim for a in named)
    if len(set(normal)) != len(normal):
        raise ValueError("tensordot: an axis is repeated")
    return normal


def matmul_labels(ndim_a: int, ndim_b: int) -> tuple[tuple, tuple, tuple]:
    """The einsum labels of ``a @ b`` for operands of ``ndim_a`` and ``ndim_b`` dimensions:
    the matrices in the last two axes, the axes before them aligned from the right (an
    operand with fewer of them is repeated along the others; a vector operand is a row or a
    column)."""
    n, k, m = 0, 1, 2
    batch = tuple(3 + j for j in range(max(ndim_a, ndim_b) - 2))
    if ndim_a == 1:
        return (k,), batch + (k, m), batch + (m,)
    if ndim_b == 1:
        return batch + (n, k), (k,), batch + (n,)
    of_a, of_b = batch[len(batch) - (ndim_a - 2) :], batch[len(batch) - (ndim_b - 2) :]
    return of_a + (n, k), of_b + (k, m), batch + (n, m)


# --- the plan of a contraction, written as NumPy source -----------------------------------------


class _Value:
    """An array (or, without labels, a number) of the code being written: the name holding
    it, the label of each axis, whether it is known to be C-contiguous."""

    def __init__(self, name: str, labels: tuple, contiguous: bool):
        self.name, self.labels, self.contiguous = name, tuple(labels), contiguous


def _tuple(items) -> str:
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _positions(labels: tuple, wanted: tuple) -> tuple[int, ...]:
    """The axes of an array labelled ``labels`` in the order ``wanted`` (a label repeated in
    both takes its axes in order)."""
    free = list(range(len(labels)))
    order = []
    for label in wanted:
        p = next(p for p in free if labels[p] == label)
        free.remove(p)
        order.append(p)
    return tuple(order)


def _prepare(labels: tuple, keep) -> tuple[list, tuple]:
    """The steps that make an operand's labels distinct and all in ``keep``: a diagonal for
    each repeated label, then one sum over the labels not kept. Returns the steps, each
    (kind, labels before, label(s)), and the labels after them."""
    steps = []
    current = tuple(labels)
    while len(set(current)) != len(current):
        label = next(label for label in current if current.count(label) > 1)
        steps.append(("diagonal", current, label))
        current = tuple(x for x in current if x != label) + (label,)
    dropped = tuple(label for label in current if label not in keep)
    if dropped:
        steps.append(("sum", current, dropped))
        current = tuple(label for label in current if label in keep)
    return steps, current


class _Code:
    """The source of one contraction helper: lines, fresh names, and the size of each label
    as an expression of the operands' shapes."""

    def __init__(self, dtype, compiled: bool):
        self.lines: list[str] = []
        self.sizes: dict = {}
        self.dtype = np.dtype(dtype)
        self.compiled = compiled
        self.count = 0

    def temp(self, expression: str) -> str:
        """A fresh name assigned ``expression``."""
        name = f"t{self.count}"
        self.count += 1
        self.lines.append(f"{name} = {expression}")
        return name

    def let(self, expression: str, labels: tuple) -> _Value:
        """A fresh C-contiguous value (a number where ``labels`` is empty)."""
        return _Value(self.temp(expression), labels, True)

    def measure(self, value: _Value, check: bool) -> None:
        """Learn the sizes of ``value``'s labels; with ``check``, raise ValueError where an
        axis disagrees with a size learnt before."""
        for axis, label in enumerate(value.labels):
            size = f"{value.name}.shape[{axis}]"
            if label not in self.sizes:
                self.sizes[label] = size
            elif check:
                self.lines += [
                    f"if {size} != {self.sizes[label]}:",
                    "    raise ValueError('einsum: operands disagree on the length of an index "
                    "(sourcead does not broadcast it)')",
                ]

    def size(self, labels) -> str:
        return " * ".join(self.sizes[label] for label in labels) or "1"

    def shape(self, labels) -> str:
        return _tuple(self.sizes[label] for label in labels)

    def contiguous(self, value: _Value) -> str:
        return value.name if value.contiguous else f"np.ascontiguousarray({value.name})"

    def cast(self, value: _Value, dtype) -> _Value:
        """``value`` in the dtype of the computation."""
        if value.labels == ():
            return value
        if np.dtype(dtype) == self.dtype:
            return value
        return self.let(f"{value.name}.astype(DTYPE)", value.labels)

    def grouped(self, value: _Value, groups: tuple, transposed_ok: bool = False) -> str:
        """``value`` as an array of one axis per group of labels (a matrix for two groups),
        C-contiguous (or, with ``transposed_ok``, the transpose of a C-contiguous matrix)."""
        sizes = _tuple(self.size(group) for group in groups)
        if value.labels == ():
            return f"np.full({_tuple('1' for _ in groups)}, {value.name}, DTYPE)"
        wanted = tuple(label for group in groups for label in group)
        if wanted == value.labels:
            return f"{self.contiguous(value)}.reshape({sizes})"
        if transposed_ok and len(groups) == 2 and groups[1] + groups[0] == value.labels:
            # the transpose of a C-contiguous matrix: BLAS reads it as it is, without a copy
            flipped = _tuple(self.size(group) for group in reversed(groups))
            return f"{self.contiguous(value)}.reshape({flipped}).T"
        order = _positions(value.labels, wanted)
        return f"permuted({value.name}, {order}).reshape({sizes})"

    def ungrouped(self, array: str, labels: tuple, wanted: tuple) -> _Value:
        """The C-contiguous ``array`` of grouped axes (``labels`` in order) as an array of
        the axes ``wanted``; a number where ``wanted`` is empty."""
        if not wanted:
            return self.let(f"{array}.ravel()[0]", ())
        value = self.let(f"{array}.reshape({self.shape(labels)})", labels)
        return self.transposed(value, wanted)

    def transposed(self, value: _Value, wanted: tuple) -> _Value:
        if value.labels == tuple(wanted):
            return value
        order = _positions(value.labels, wanted)
        return self.let(f"permuted({value.name}, {order})", wanted)

    # --- the steps of an operand, and their adjoints ----------------------------------------------

    def prepared(self, value: _Value, steps: list) -> _Value:
        for kind, _, which in steps:
            if kind == "diagonal":
                value = self.diagonal(value, which)
            else:
                value = self.summed(value, which)
        return value

    def diagonal(self, value: _Value, label) -> _Value:
        """The diagonal of ``value`` along the axes labelled ``label``: those axes last, as
        one of length n**m, whose every (1 + n + … + n**(m-1))-th element is on the diagonal."""
        others = tuple(x for x in value.labels if x != label)
        m = value.labels.count(label)
        rows = self.temp(self.grouped(value, (others, (label,) * m)))
        diagonal = self.temp(f"np.ascontiguousarray({rows}[:, ::{self.step(label, m)}])")
        return self.let(f"{diagonal}.reshape({self.shape(others + (label,))})", others + (label,))

    def step(self, label, m: int) -> str:
        """1 + n + … + n**(m-1), n the length of ``label``: the distance between elements of
        the diagonal of m axes of length n, flattened."""
        n = self.sizes[label]
        return " + ".join(["1"] + [" * ".join([n] * j) for j in range(1, m)])

    def summed(self, value: _Value, dropped: tuple) -> _Value:
        kept = tuple(x for x in value.labels if x not in dropped)
        if not kept:
            return self.let(f"np.sum({value.name})", ())
        rows = self.grouped(value, (kept, dropped), transposed_ok=True)
        total = self.temp(f"np.sum({rows}, axis=1)")
        return self.let(f"{total}.reshape({self.shape(kept)})", kept)

    def expanded(self, value: _Value, steps: list) -> _Value:
        """The adjoint of ``prepared``: ``value`` (labelled as the steps leave an operand)
        repeated along the summed labels and written into the diagonals."""
        for kind, labels, which in reversed(steps):
            if kind == "diagonal":
                value = self.undiagonal(value, labels, which)
            else:
                value = self.unsummed(value, labels, which)
        return value

    def flat(self, value: _Value) -> str:
        if value.labels == ():
            return f"np.full(1, {value.name}, DTYPE)"
        return f"{self.contiguous(value)}.reshape({self.size(value.labels)})"

    def unsummed(self, value: _Value, labels: tuple, dropped: tuple) -> _Value:
        kept = tuple(x for x in labels if x not in dropped)
        repeated = self.temp(f"np.outer({self.flat(value)}, np.ones({self.size(dropped)}, DTYPE))")
        return self.ungrouped(repeated, kept + dropped, labels)

    def undiagonal(self, value: _Value, labels: tuple, label) -> _Value:
        others = tuple(x for x in labels if x != label)
        m = labels.count(label)
        moved = others + (label,) * m
        full = self.temp(f"np.zeros(({self.size(others)}, {self.size((label,) * m)}), DTYPE)")
        diagonal = self.grouped(value, (others, (label,)))
        self.lines.append(f"{full}[:, ::{self.step(label, m)}] = {diagonal}")
        spread = self.let(f"{full}.reshape({self.shape(moved)})", moved)
        if moved == labels:
            return spread
        # back from (others, the repeated axes) to the operand's order of axes
        order = _positions(labels, moved)
        inverse = tuple(order.index(p) for p in range(len(labels)))
        return self.let(f"permuted({spread.name}, {inverse})", labels)

    # --- one contraction -----------------------------------------------------------------------

    def contracted(self, a: _Value, b: _Value, out: tuple) -> _Value:
        """The contraction of ``a`` and ``b`` (distinct labels each; every label of one is in
        the other or in ``out``) into the labels ``out``, by one matrix product."""
        batch = tuple(x for x in out if x in a.labels and x in b.labels)
        left = tuple(x for x in a.labels if x in out and x not in b.labels)
        right = tuple(x for x in b.labels if x in out and x not in a.labels)
        inner = tuple(x for x in a.labels if x in b.labels and x not in out)
        if batch:
            a3 = self.grouped(a, (batch, left, inner))
            b3 = self.grouped(b, (batch, inner, right))
            product = self.temp(f"stacked_product({a3}, {b3})")
        elif out == right + left and left and right:
            # the transposed product, (b's free, a's free), is the result's order already
            b2 = self.grouped(b, (right, inner), transposed_ok=True)
            a2 = self.grouped(a, (inner, left), transposed_ok=True)
            product = self.temp(f"{b2} @ {a2}")
            return self.ungrouped(product, right + left, out)
        else:
            a2 = self.grouped(a, (left, inner), transposed_ok=True)
            b2 = self.grouped(b, (inner, right), transposed_ok=True)
            product = self.temp(f"{a2} @ {b2}")
        return self.ungrouped(product, batch + left + right, out)

    def result(self, value: _Value, inputs: tuple) -> None:
        """Return ``value``, a new array (a copy where it is still an argument)."""
        fresh = value.name not in inputs or value.labels == ()
        self.lines.append(f"return {value.name if fresh else value.name + '.copy()'}")

    def function(self, signature: str, name: str):
        source = f"def {name}({signature}):\n" + "".join(f"    {line}\n" for line in self.lines)
        scope = {
            "np": np,
            "DTYPE": self.dtype.type,
            "stacked_product": _stacked_product if self.compiled else np.matmul,
            "permuted": permuted,
        }
        exec(source, scope)
        function = scope[name]
        function.source = source  # (what sourcead_runtime wrote, for reading)
        return function


@numba.njit(cache=True)
def _permuted(x, perm):
    """``np.ascontiguousarray(np.transpose(x, perm))`` by one loop over the result, whose
    innermost axis is copied in an inner loop; ``perm`` is an array of ints.

    Numba writes the copy of a transposed array of several dimensions as one loop nest per
    axis, which LLVM then takes seconds to optimise in every function it is inlined into
    (about 7 s of CPU for four axes, against 1 s for this loop). ``perm`` is an array, not
    a tuple of constants, so that this is compiled once per number of dimensions, dtype and
    layout (not once per permutation) and kept in Numba's cache."""
    src = np.ravel(x)  # a view where x is C-contiguous
    ndim = x.ndim
    element_strides = np.empty(ndim, np.int64)  # of x, in C order, in elements
    stride = 1
    for axis in range(ndim - 1, -1, -1):
        element_strides[axis] = stride
        stride *= x.shape[axis]
    shape = x.shape
    for axis in range(ndim):
        shape = tuple_setitem(shape, axis, x.shape[perm[axis]])
    out = np.empty(shape, x.dtype)
    flat = out.reshape(-1)
    inner = shape[ndim - 1]
    step = element_strides[perm[ndim - 1]]
    for row in range(flat.size // inner if inner > 0 else 0):
        rest = row
        start = 0
        for axis in range(ndim - 2, -1, -1):
            start += (rest % shape[axis]) * element_strides[perm[axis]]
            rest //= shape[axis]
        base = row * inner
        for k in range(inner):
            flat[base + k] = src[start + k * step]
    return out


def permuted(x, perm):
    """``np.transpose(x, perm)`` as a new C-contiguous array."""
    return np.ascontiguousarray(np.transpose(x, perm))


@overload(permuted)
def _permuted_numba(x, perm):
    if isinstance(x, types.Array):
        return lambda x, perm: _permuted(x, np.array(perm))
    return None


@numba.njit(cache=True)
def _stacked_product(a, b):
    """The matrix products ``a[k] @ b[k]`` of two C-contiguous stacks of one dtype."""
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    for k in range(a.shape[0]):
        np.dot(a[k], b[k], out[k])
    return out


def _computation_dtype(*dtypes) -> np.dtype:
    dtype = np.result_type(*dtypes)
    if dtype.kind not in "fc":
        raise TypeError("einsum: sourcead contracts float and complex arrays only")
    return dtype


def _adjoint_dtype(g, dtype) -> np.dtype:
    """The dtype of an adjoint from ``g`` (labels, dtype, contiguous) and an array of
    ``dtype``: a number ``g`` does not widen the array's (NumPy's rule for scalars), but
    makes it complex."""
    if g[0] == ():
        base = _computation_dtype(dtype)
        if np.dtype(g[1]).kind == "c" and base.kind != "c":
            return np.result_type(base, np.complex64)
        return base
    return _computation_dtype(g[1], dtype)


# An operand as the writers below take it: (labels of its axes, dtype, C-contiguous known,
# None for the result's adjoint ``g``, which may be a number).


def _write_two(signature, x, y, out, compiled, names=("x", "y")):
    """The source of ``einsum_two``: the contraction of x and y (each (labels, dtype,
    contiguous), the arguments ``names``) into ``out``."""
    code = _Code(_computation_dtype(x[1], y[1]), compiled)
    a, b = _Value(names[0], x[0], x[2]), _Value(names[1], y[0], y[2])
    code.measure(a, check=True)
    code.measure(b, check=True)
    a, b = code.cast(a, x[1]), code.cast(b, y[1])
    a = code.prepared(a, _prepare(a.labels, set(b.labels) | set(out))[0])
    b = code.prepared(b, _prepare(b.labels, set(a.labels) | set(out))[0])
    code.result(code.contracted(a, b, out), names)
    return code.function(signature, "einsum_two_implementation")


def _write_two_adjoint(signature, g, x, y, out, which, compiled, names=("g", "x", "y")):
    """The source of the adjoint of ``einsum_two`` with respect to its operand ``which``
    ("x" or "y"): ``g`` (the result's adjoint) contracted with the other operand, into the
    operand's labels, then written into its diagonals and repeated along its sums."""
    this, other = (x, y) if which == "x" else (y, x)
    other_name = names[2] if which == "x" else names[1]
    code = _Code(_adjoint_dtype(g, other[1]), compiled)
    code.measure(_Value(names[1], x[0], x[2]), check=False)
    code.measure(_Value(names[2], y[0], y[2]), check=False)
    steps, kept = _prepare(this[0], set(other[0]) | set(out))
    b = code.cast(_Value(other_name, other[0], other[2]), other[1])
    b = code.prepared(b, _prepare(b.labels, set(this[0]) | set(out))[0])
    gradient = code.cast(_Value(names[0], out, g[2]), g[1])
    adjoint = code.expanded(code.contracted(gradient, b, kept), steps)
    code.result(adjoint, names[:1])
    return code.function(signature, f"einsum_two_adjoint_{which}_implementation")


def _write_one(signature, x, out, compiled):
    code = _Code(_computation_dtype(x[1]), compiled)
    a = _Value("x", x[0], x[2])
    code.measure(a, check=True)
    a = code.cast(a, x[1])
    a = code.prepared(a, _prepare(a.labels, set(out))[0])
    code.result(code.transposed(a, out), ("x",))
    return code.function(signature, "einsum_one_implementation")


def _write_one_adjoint(signature, g, x, out, compiled):
    code = _Code(_adjoint_dtype(g, x[1]), compiled)
    code.measure(_Value("x", x[0], x[2]), check=False)
    steps, kept = _prepare(x[0], set(out))
    gradient = code.cast(_Value("g", out, g[2]), g[1])
    adjoint = code.expanded(code.transposed(gradient, kept), steps)
    code.result(adjoint, ("g",))
    return code.function(signature, "einsum_one_adjoint_implementation")


# --- plain NumPy (compile=False) ---------------------------------------------------------------


def _python(value):
    """(dimensions, dtype) of an operand: an array, or a number (the adjoint of a number)."""
    array = np.asarray(value)
    return array.ndim, array.dtype


@functools.lru_cache(maxsize=512)
def _python_two(kind, labels, ndims, dtypes):
    (x_labels, y_labels), out = einsum_labels(labels[:2], ndims[-2:], labels[2])
    x, y = (x_labels, dtypes[-2], False), (y_labels, dtypes[-1], False)
    if kind == "two":
        return _write_two("x, y", x, y, out, compiled=False)
    g = (out, dtypes[0], False)
    return _write_two_adjoint("g, x, y", g, x, y, out, kind[-1], compiled=False)


@functools.lru_cache(maxsize=512)
def _python_one(kind, labels, ndims, dtypes):
    (x_labels,), out = einsum_labels(labels[:1], ndims[-1:], labels[1])
    x = (x_labels, dtypes[-1], False)
    if kind == "one":
        return _write_one("x", x, out, compiled=False)
    return _write_one_adjoint("g, x", (out, dtypes[0], False), x, out, compiled=False)


def _run_two(kind, arrays, labels):
    described = [_python(a) for a in arrays]
    ndims = tuple(d[0] for d in described)
    dtypes = tuple(d[1] for d in described)
    return _python_two(kind, tuple(tuple(x) for x in labels), ndims, dtypes)(*arrays)


def _run_one(kind, arrays, labels):
    described = [_python(a) for a in arrays]
    ndims = tuple(d[0] for d in described)
    dtypes = tuple(d[1] for d in described)
    return _python_one(kind, tuple(tuple(x) for x in labels), ndims, dtypes)(*arrays)


# --- the helpers -------------------------------------------------------------------------------


def einsum_one(x, x_labels, out_labels):
    """``np.einsum`` of one operand, its subscripts as labels (transposes, diagonals, sums)."""
    return _run_one("one", (x,), (x_labels, out_labels))


def einsum_one_adjoint(g, x, x_labels, out_labels):
    """The adjoint of ``x`` in ``einsum_one(x, x_labels, out_labels)``, given the result's."""
    return _run_one("one_adjoint", (g, x), (x_labels, out_labels))


def einsum_two(x, y, x_labels, y_labels, out_labels):
    """``np.einsum`` of two operands, its subscripts as labels (one matrix product)."""
    return _run_two("two", (x, y), (x_labels, y_labels, out_labels))


def einsum_two_adjoint_x(g, x, y, x_labels, y_labels, out_labels):
    """The adjoint of ``x`` in ``einsum_two(x, y, …)``, given the result's adjoint ``g``."""
    return _run_two("adjoint_x", (g, x, y), (x_labels, y_labels, out_labels))


def einsum_two_adjoint_y(g, x, y, x_labels, y_labels, out_labels):
    """The adjoint of ``y`` in ``einsum_two(x, y, …)``, given the result's adjoint ``g``."""
    return _run_two("adjoint_y", (g, x, y), (x_labels, y_labels, out_labels))


def tensordot_axes(x, y, x_axes, y_axes):
    """``np.tensordot(x, y, (x_axes, y_axes))``, a number where every axis is contracted."""
    labels = tensordot_labels(x_axes, y_axes, np.ndim(x), np.ndim(y))
    return einsum_two(x, y, *labels)


def tensordot_adjoint_x(g, x, y, x_axes, y_axes):
    """The adjoint of ``x`` in ``tensordot_axes(x, y, x_axes, y_axes)``."""
    labels = tensordot_labels(x_axes, y_axes, np.ndim(x), np.ndim(y))
    return einsum_two_adjoint_x(g, x, y, *labels)


def tensordot_adjoint_y(g, x, y, x_axes, y_axes):
    """The adjoint of ``y`` in ``tensordot_axes(x, y, x_axes, y_axes)``."""
    labels = tensordot_labels(x_axes, y_axes, np.ndim(x), np.ndim(y))
    return einsum_two_adjoint_y(g, x, y, *labels)


def matmul_stack_adjoint(which: str, g, a, b):
    """The adjoint of ``a`` (``which`` "x") or ``b`` ("y") in ``a @ b`` where an operand is
    a stack of matrices (more than two dimensions); plain NumPy."""
    labels = matmul_labels(np.ndim(a), np.ndim(b))
    return _run_two(f"adjoint_{which}", (g, a, b), labels)


# --- their Numba implementations -----------------------------------------------------------------


def _literal(value_type, what: str):
    """The value of a constant argument as Numba types it (literals and tuples of them)."""
    if isinstance(value_type, types.IntegerLiteral | types.BooleanLiteral):
        return value_type.literal_value
    if isinstance(value_type, types.BaseTuple):
        return tuple(_literal(t, what) for t in value_type.types)
    if isinstance(value_type, int | tuple):
        return value_type
    raise TypingError(f"sourcead_runtime: {what} must be constants of the call ({value_type})")


def _operand(value_type, labels=None):
    """(labels, dtype, C-contiguous) of an argument's Numba type; None where it is not an
    array (the overload then does not apply)."""
    if isinstance(value_type, types.Array):
        return (labels, as_dtype(value_type.dtype), value_type.layout == "C")
    if isinstance(value_type, types.Number) and labels == ():
        return ((), as_dtype(value_type), True)
    return None


def _typed(implementation):
    """``implementation`` with ValueError and TypeError of the plan as Numba TypingErrors."""

    @functools.wraps(implementation)
    def typed(*args, **kwargs):
        try:
            return implementation(*args, **kwargs)
        except (ValueError, TypeError) as error:
            raise TypingError(f"sourcead_runtime: {error}") from None

    return typed


@overload(einsum_one, prefer_literal=True)
@_typed
def _einsum_one_numba(x, x_labels, out_labels):
    if not isinstance(x, types.Array):
        return None
    labels = (_literal(x_labels, "the labels"), _literal(out_labels, "the labels"))
    (x_expanded,), out = einsum_labels(labels[:1], (x.ndim,), labels[1])
    return _write_one("x, x_labels, out_labels", _operand(x, x_expanded), out, compiled=True)


@overload(einsum_one_adjoint, prefer_literal=True)
@_typed
def _einsum_one_adjoint_numba(g, x, x_labels, out_labels):
    if not isinstance(x, types.Array):
        return None
    labels = (_literal(x_labels, "the labels"), _literal(out_labels, "the labels"))
    (x_expanded,), out = einsum_labels(labels[:1], (x.ndim,), labels[1])
    gradient = _operand(g, out)
    if gradient is None:
        return None
    signature = "g, x, x_labels, out_labels"
    return _write_one_adjoint(signature, gradient, _operand(x, x_expanded), out, compiled=True)


def _two_implementation(kind, signature, g, x, y, labels):
    """The Numba implementation of ``einsum_two`` (kind "two") or of an adjoint ("x", "y")
    for operands of the Numba types ``x`` and ``y`` and the result's adjoint ``g``; the
    arguments are named as ``signature`` names them."""
    if not (isinstance(x, types.Array) and isinstance(y, types.Array)):
        return None
    names = tuple(part.strip() for part in signature.split(","))
    (x_expanded, y_expanded), out = einsum_labels(labels[:2], (x.ndim, y.ndim), labels[2])
    first, second = _operand(x, x_expanded), _operand(y, y_expanded)
    if kind == "two":
        return _write_two(signature, first, second, out, compiled=True, names=names[:2])
    gradient = _operand(g, out)
    if gradient is None:
        return None
    return _write_two_adjoint(
        signature, gradient, first, second, out, kind, compiled=True, names=names[:3]
    )


def _label_literals(*arguments) -> tuple:
    return tuple(_literal(a, "the labels") for a in arguments)


@overload(einsum_two, prefer_literal=True)
@_typed
def _einsum_two_numba(x, y, x_labels, y_labels, out_labels):
    labels = _label_literals(x_labels, y_labels, out_labels)
    signature = "x, y, x_labels, y_labels, out_labels"
    return _two_implementation("two", signature, None, x, y, labels)


@overload(einsum_two_adjoint_x, prefer_literal=True)
@_typed
def _einsum_two_adjoint_x_numba(g, x, y, x_labels, y_labels, out_labels):
    labels = _label_literals(x_labels, y_labels, out_labels)
    signature = "g, x, y, x_labels, y_labels, out_labels"
    return _two_implementation("x", signature, g, x, y, labels)


@overload(einsum_two_adjoint_y, prefer_literal=True)
@_typed
def _einsum_two_adjoint_y_numba(g, x, y, x_labels, y_labels, out_labels):
    labels = _label_literals(x_labels, y_labels, out_labels)
    signature = "g, x, y, x_labels, y_labels, out_labels"
    return _two_implementation("y", signature, g, x, y, labels)


def _tensordot_labels_numba(x, y, x_axes, y_axes):
    if not (isinstance(x, types.Array) and isinstance(y, types.Array)):
        return None
    of_x, of_y = (_literal(a, "the axes of tensordot") for a in (x_axes, y_axes))
    return tensordot_labels(of_x, of_y, x.ndim, y.ndim)


@overload(tensordot_axes, prefer_literal=True)
@_typed
def _tensordot_numba(x, y, x_axes, y_axes):
    labels = _tensordot_labels_numba(x, y, x_axes, y_axes)
    if labels is None:
        return None
    return _two_implementation("two", "x, y, x_axes, y_axes", None, x, y, labels)


@overload(tensordot_adjoint_x, prefer_literal=True)
@_typed
def _tensordot_adjoint_x_numba(g, x, y, x_axes, y_axes):
    labels = _tensordot_labels_numba(x, y, x_axes, y_axes)
    if labels is None:
        return None
    return _two_implementation("x", "g, x, y, x_axes, y_axes", g, x, y, labels)


@overload(tensordot_adjoint_y, prefer_literal=True)
@_typed
def _tensordot_adjoint_y_numba(g, x, y, x_axes, y_axes):
    labels = _tensordot_labels_numba(x, y, x_axes, y_axes)
    if labels is None:
        return None
    return _two_implementation("y", "g, x, y, x_axes, y_axes", g, x, y, labels)


def _stacked(a, b) -> bool:
    """Whether ``a @ b`` is a product of stacks of matrices, which Numba's ``@`` refuses."""
    return (
        isinstance(a, types.Array)
        and isinstance(b, types.Array)
        and max(a.ndim, b.ndim) > 2
        and min(a.ndim, b.ndim) >= 1
    )


@overload(operator.matmul)
@_typed
def _matmul_stacks_numba(a, b):
    """``a @ b`` of stacks of matrices (Numba's ``@`` takes vectors and matrices only); the
    stacks' axes must have the same lengths (no broadcasting of length-1 axes)."""
    if not _stacked(a, b):
        return None
    return _two_implementation("two", "a, b", None, a, b, matmul_labels(a.ndim, b.ndim))


def matmul_stack_adjoint_implementation(which: str, g, a, b):
    """The Numba implementation (``signature`` g, a, b) of ``matmul_stack_adjoint``, for
    ``matmul_adjoint_left`` and ``matmul_adjoint_right`` of stacks; None where neither
    operand is a stack."""
    if not _stacked(a, b):
        return None
    labels = matmul_labels(a.ndim, b.ndim)
    return _typed(_two_implementation)(which, "g, a, b", g, a, b, labels)


# --- transposes with axes, vdot --------------------------------------------------------------


def transpose_axes(x, axes, inverse):
    """``np.transpose(x, axes)``, C-contiguous; ``inverse`` is the inverse permutation, which
    the adjoint transposes by."""
    return np.ascontiguousarray(np.transpose(x, axes))


@overload(transpose_axes)
def _transpose_axes_numba(x, axes, inverse):
    if isinstance(x, types.Array):
        return lambda x, axes, inverse: _permuted(x, np.array(axes))
    return None


def vdot_flat(a, b):
    """``np.vdot(a, b)``: the sum of ``conj(a) * b`` over the flattened arrays."""
    return np.vdot(a, b)


@overload(vdot_flat)
def _vdot_flat_numba(a, b):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None
    dtype = np.result_type(as_dtype(a.dtype), as_dtype(b.dtype)).type

    def vdot(a, b):  # (Numba's np.vdot takes vectors of one dtype)
        return np.vdot(np.ravel(a).astype(dtype), np.ravel(b).astype(dtype))

    return vdot


def cross_product(a, b):
    """``np.cross(a, b)`` of 3-vectors along the last axis (the arrays broadcast). NumPy 2.0
    deprecated 2-vectors, whose product is a number: they raise ``ValueError``."""
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(_CROSS_OF_3_VECTORS)
    return np.cross(a, b)


_CROSS_OF_3_VECTORS = (
    "np.cross takes 3-vectors along the last axis here (for 2-vectors, deprecated by NumPy 2.0, "
    "write a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])"
)


@overload(cross_product)
def _cross_product_numba(a, b):
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None

    def cross(a, b):
        if a.shape[-1] != 3 or b.shape[-1] != 3:
            raise ValueError(_CROSS_OF_3_VECTORS)
        return np.cross(a, b)

    return cross


# --- the adjoints of np.kron ---------------------------------------------------------------------

# kron(x, y)[i * p + k, j * q + l] = x[i, j] * y[k, l] (y of shape (p, q)): the adjoint g seen
# with four axes (i, k, j, l) is contracted with the other operand.
_KRON = {
    # (which, ndim): (the axes of g, of the other operand, of the adjoint)
    ("x", 2): ((0, 1, 2, 3), (1, 3), (0, 2)),
    ("y", 2): ((0, 1, 2, 3), (0, 2), (1, 3)),
    ("x", 1): ((0, 1), (1,), (0,)),
    ("y", 1): ((0, 1), (0,), (1,)),
}


def _kron_check(x_ndim, y_ndim):
    if x_ndim != y_ndim or x_ndim not in (1, 2):
        raise ValueError("np.kron of two vectors or two matrices only")


def _kron_adjoint(which, g, x, y):
    _kron_check(np.ndim(x), np.ndim(y))
    g_labels, other_labels, labels = _KRON[which, np.ndim(x)]
    if np.ndim(x) == 2:
        shape = (x.shape[0], y.shape[0], x.shape[1], y.shape[1])
    else:
        shape = (x.shape[0], y.shape[0])
    grid = np.ascontiguousarray(g).reshape(shape)
    other = y if which == "x" else x
    return einsum_two(grid, other, g_labels, other_labels, labels)


def kron_adjoint_x(g, x, y):
    """The adjoint of ``x`` in ``np.kron(x, y)`` (two vectors or two matrices)."""
    return _kron_adjoint("x", g, x, y)


def kron_adjoint_y(g, x, y):
    """The adjoint of ``y`` in ``np.kron(x, y)`` (two vectors or two matrices)."""
    return _kron_adjoint("y", g, x, y)


def _kron_adjoint_numba(which):
    def implementation(g, x, y):
        if not all(isinstance(v, types.Array) for v in (g, x, y)):
            return None
        _kron_check(x.ndim, y.ndim)
        g_labels, other_labels, labels = _KRON[which, x.ndim]
        if x.ndim == 2:
            shape = "(x.shape[0], y.shape[0], x.shape[1], y.shape[1])"
        else:
            shape = "(x.shape[0], y.shape[0])"
        other = "y" if which == "x" else "x"
        source = (
            "def kron_adjoint(g, x, y):\n"
            f"    grid = np.ascontiguousarray(g).reshape({shape})\n"
            f"    return einsum_two(grid, {other}, {g_labels}, {other_labels}, {labels})\n"
        )
        scope = {"np": np, "einsum_two": einsum_two}
        exec(source, scope)
        return scope["kron_adjoint"]

    return _typed(implementation)


overload(kron_adjoint_x)(_kron_adjoint_numba("x"))
overload(kron_adjoint_y)(_kron_adjoint_numba("y"))


# --- the adjoint and tangents of np.linalg.matrix_power -------------------------------------------
# For M = [[A, E], [0, A]], M**n = [[A**n, D], [0, A**n]] with D the sum over k < n of
# A**k E A**(n-1-k): the tangent of A**n along E when E = dA, its adjoint (with A.T for A)
# when E = g. Each is a power of a matrix twice as large, by repeated squaring.


@register_jitable
def _power(m, n):
    """``m ** n`` (a matrix power, ``n >= 0``) by repeated squaring."""
    result = np.zeros_like(m)
    for i in range(m.shape[0]):
        result[i, i] = 1
    base = m.copy()
    while n > 0:
        if n % 2 == 1:
            result = result @ base
        n //= 2
        if n > 0:
            base = base @ base
    return result


@register_jitable
def _upper_block_of_power(a, e, n, dtype):
    """The upper right block of ``[[a, e], [0, a]] ** n``."""
    k = a.shape[0]
    m = np.zeros((2 * k, 2 * k), dtype)
    m[:k, :k] = a
    m[k:, k:] = a
    m[:k, k:] = e
    return np.ascontiguousarray(_power(m, n)[:k, k:])


@register_jitable
def _matrix_power_adjoint(g, a, n, dtype):
    return _upper_block_of_power(np.ascontiguousarray(a.T), g, n, dtype)


@register_jitable
def _matrix_power_adjoint_tangent(g, a, da, n, dtype):
    # the adjoint is the upper right block of P(m) = m ** n with m = [[a.T, g], [0, a.T]];
    # along da it changes by the upper right block of P's tangent along [[da.T, 0], [0, da.T]]
    k = a.shape[0]
    m = np.zeros((2 * k, 2 * k), dtype)
    m[:k, :k] = a.T
    m[k:, k:] = a.T
    m[:k, k:] = g
    dm = np.zeros((2 * k, 2 * k), dtype)
    dm[:k, :k] = da.T
    dm[k:, k:] = da.T
    return np.ascontiguousarray(_upper_block_of_power(m, dm, n, dtype)[:k, k:])


def matrix_power_of(a, n):
    """``np.linalg.matrix_power(a, n)`` for ``n >= 0``, by repeated squaring (Numba's types
    its result as optional, which the arrays made from it then inherit)."""
    return _power(np.ascontiguousarray(a), n)


@overload(matrix_power_of)
def _matrix_power_of_numba(a, n):
    if isinstance(a, types.Array):
        return lambda a, n: _power(np.ascontiguousarray(a), n)
    return None


def matrix_power_adjoint(g, a, n):
    """The adjoint of ``a`` in ``np.linalg.matrix_power(a, n)`` (``n >= 0``): the sum over
    k < n of (a.T)**k g (a.T)**(n-1-k)."""
    return _matrix_power_adjoint(g, a, n, np.result_type(g, a))


def matrix_power_tangent(a, da, n):
    """The tangent of ``np.linalg.matrix_power(a, n)`` along ``da`` (``n >= 0``)."""
    return _upper_block_of_power(a, da, n, np.result_type(a, da))


def matrix_power_adjoint_tangent(g, a, da, n):
    """The tangent of ``matrix_power_adjoint(g, a, n)`` along ``da`` (``g`` fixed)."""
    return _matrix_power_adjoint_tangent(g, a, da, n, np.result_type(g, a, da))


def _common_dtype(*arrays):
    """The NumPy scalar type of the arrays' dtypes together; None where one is no array."""
    if not all(isinstance(a, types.Array) for a in arrays):
        return None
    return np.result_type(*(as_dtype(a.dtype) for a in arrays)).type


@overload(matrix_power_adjoint)
def _matrix_power_adjoint_numba(g, a, n):
    dtype = _common_dtype(g, a)
    if dtype is None:
        return None
    return lambda g, a, n: _matrix_power_adjoint(g, a, n, dtype)


@overload(matrix_power_tangent)
def _matrix_power_tangent_numba(a, da, n):
    dtype = _common_dtype(a, da)
    if dtype is None:
        return None
    return lambda a, da, n: _upper_block_of_power(a, da, n, dtype)


@overload(matrix_power_adjoint_tangent)
def _matrix_power_adjoint_tangent_numba(g, a, da, n):
    dtype = _common_dtype(g, a, da)
    if dtype is None:
        return None
    return lambda g, a, da, n: _matrix_power_adjoint_tangent(g, a, da, n, dtype)
