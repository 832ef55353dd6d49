"""Tensor algebra in user code: ``np.einsum`` and its relatives as calls generated code makes.

Numba compiles none of ``np.einsum``, ``np.tensordot``, ``np.inner``, ``np.linalg.multi_dot``,
nor ``np.vdot`` of arrays of more than one dimension (and types ``np.linalg.matrix_power``'s
result as optional), so the array-syntax rewrite
(``lowering/arrays.py``) turns each call into calls that Numba compiles, before the subset
check, and every later pass sees those:

* ``np.einsum("ijkl,klmn->ijmn", a, b)`` becomes ``einsum_two(a, b, (0, 1, 2, 3), (2, 3, 4,
  5), (0, 1, 4, 5))``: its subscripts as tuples of integer labels, one per letter in the order
  they first appear (-1 for ``...``). One operand is ``einsum_one``; three or more are
  contracted a pair at a time, each pair chosen (greedily) to leave the fewest indices, and
  each contraction keeps the indices a later one or the result needs. The helpers
  (``sourcead_runtime.tensor``) write each contraction as transposes, reshapes and one
  matrix product for the labels and the operands' dimensions, when Numba compiles them;
  their adjoints and tangents are contractions too (``rules/tensor.py``).
* ``np.tensordot(a, b, axes)`` and ``np.inner(a, b)`` become ``tensordot_axes(a, b, x_axes,
  y_axes)`` (``axes=n``: the last n axes of ``a``, -n … -1, with the first n of ``b``);
  ``np.vdot(a, b)`` becomes ``vdot_flat(a, b)``; ``np.linalg.multi_dot([a, b, c])`` becomes
  ``a @ b @ c``; ``np.transpose(x, axes)`` and ``x.transpose(2, 1, 0, 3)`` become
  ``transpose_axes(x, axes, inverse)``; ``np.linalg.matrix_power(a, n)`` becomes
  ``matrix_power_of(a, n)`` (Numba's types its result as optional), and a negative power
  ``matrix_power_of(np.linalg.inv(a), -n)``.

Everything the result's shape depends on (the subscripts, the axes, the power) must be
written in the call; anything else, and every option sourcead does not take (``out=``,
``dtype=``, ``optimize=`` other than True or False …), is refused here, at the line of the
call, with the function and the option named.
"""

from __future__ import annotations

import string

import gast
import numpy as np
from sourcead_runtime import (
    cross_product,
    einsum_one,
    einsum_two,
    matrix_power_of,
    tensordot_axes,
    transpose_axes,
    vdot_flat,
)
from sourcead_runtime.tensor import ELLIPSIS

from ..rules.shapes import literal_int
from ..trees.codegen import src
from ..trees.resolved import located, resolved, resolved_call

# --- nodes --------------------------------------------------------------------------------------


def _helper(function, args: list, like) -> gast.Call:
    """A call of the runtime helper ``function``, resolved as the subset check resolves it."""
    return resolved_call(function, args, like)


def _numpy(path: str, function, args: list, like) -> gast.Call:
    """A call of NumPy's ``function`` spelled ``path`` (``np.linalg.inv``), resolved."""
    return located(gast.Call(func=resolved(function, path), args=args, keywords=[]), like)


def _integers(values) -> gast.Tuple:
    return gast.Tuple(elts=[gast.Constant(value=v, kind=None) for v in values], ctx=gast.Load())


def _arguments(parsed, call, spelled: str, names: tuple, required: int) -> dict:
    """The call's arguments by parameter name (``names``, the first ``required`` of them
    required); SourceADError for ``*args``, ``**options``, unknown or repeated ones."""
    if any(isinstance(a, gast.Starred) for a in call.args):
        raise parsed.error(f"{spelled} with *arguments", call)
    if len(call.args) > len(names):
        raise parsed.error(f"{spelled} with {len(call.args)} arguments", call)
    given = dict(zip(names, call.args, strict=False))
    for keyword in call.keywords:
        if keyword.arg is None:
            raise parsed.error(f"{spelled} with **options", call)
        if keyword.arg not in names:
            raise parsed.error(f"{spelled} with {keyword.arg}= (sourcead does not take it)", call)
        if keyword.arg in given:
            raise parsed.error(f"{spelled} with {keyword.arg} given twice", call)
        given[keyword.arg] = keyword.value
    for name in names[:required]:
        if name not in given:
            raise parsed.error(f"{spelled} without its argument {name}", call)
    return given


def _elements(node) -> list | None:
    return list(node.elts) if isinstance(node, gast.Tuple | gast.List) else None


def _written_integers(node) -> tuple[int, ...] | None:
    """The integers an integer or a tuple or list of integers written in the call names."""
    elements = _elements(node)
    values = [literal_int(e) for e in (elements if elements is not None else [node])]
    return None if None in values else tuple(values)


# --- np.einsum ----------------------------------------------------------------------------------

_LETTERS = frozenset(string.ascii_letters)


def einsum_terms(subscripts: str, operands: int) -> tuple[list[str], str]:
    """The subscripts of each operand and of the result (NumPy's implicit result where there
    is no ``->``: ``...`` first, then the letters that appear once, in alphabetical order),
    with ``...`` written ``.``; ValueError where NumPy would raise."""
    text = subscripts.replace(" ", "")
    if text.count("->") > 1 or ("->" not in text and ("-" in text or ">" in text)):
        raise ValueError("'->' may appear once")
    inputs, arrow, out = text.partition("->")
    terms = [term.replace("...", ".") for term in inputs.split(",")]
    if len(terms) != operands:
        raise ValueError(f"the subscripts name {len(terms)} operand(s), the call passes {operands}")
    out = out.replace("...", ".")
    for term in [*terms, out]:
        if not set(term) <= _LETTERS | {"."}:
            bad = sorted(set(term) - _LETTERS - {"."})
            raise ValueError(f"the subscripts hold {''.join(bad)!r} (letters and '...' only)")
        if term.count(".") > 1:
            raise ValueError("'...' may appear once in the subscripts of each operand")
    letters = "".join(terms).replace(".", "")
    if not arrow:
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        out = ("." if any("." in t for t in terms) else "") + "".join(once)
    for c in out:
        if out.count(c) > 1:
            raise ValueError(f"the result's subscripts name {c!r} twice")
        if c != "." and c not in letters:
            raise ValueError(f"the result's index {c!r} is in no operand")
    return terms, out


def _labelled(terms: list[str], out: str) -> tuple[list[tuple], tuple]:
    """Letters as integer labels in the order they first appear; ``.`` as ELLIPSIS."""
    numbers: dict[str, int] = {}
    for c in "".join(terms) + out:
        if c != "." and c not in numbers:
            numbers[c] = len(numbers)

    def labels(term: str) -> tuple:
        return tuple(ELLIPSIS if c == "." else numbers[c] for c in term)

    return [labels(t) for t in terms], labels(out)


def _pairwise(operands: list, out: tuple, like) -> gast.Call:
    """The einsum of ``operands`` ((expression, labels) each) into ``out`` as nested calls
    of ``einsum_one`` and ``einsum_two``: while more than two are left, the pair whose
    contraction keeps the fewest indices (the first such pair) is contracted, keeping the
    indices that the result or another operand has."""
    if len(operands) == 1:
        ((x, labels),) = operands
        return _helper(einsum_one, [x, _integers(labels), _integers(out)], like)
    operands = list(operands)
    while len(operands) > 2:
        best = None
        for i in range(len(operands)):
            for j in range(i + 1, len(operands)):
                needed = set(out).union(
                    *(labels for k, (_, labels) in enumerate(operands) if k not in (i, j))
                )
                pair = operands[i][1] + operands[j][1]
                kept = tuple(dict.fromkeys(x for x in pair if x in needed or x == ELLIPSIS))
                if best is None or len(kept) < len(best[2]):
                    best = (i, j, kept)
        i, j, kept = best
        (x, x_labels), (y, y_labels) = operands[i], operands[j]
        args = [x, y, _integers(x_labels), _integers(y_labels), _integers(kept)]
        operands[i] = (_helper(einsum_two, args, like), kept)
        del operands[j]
    (x, x_labels), (y, y_labels) = operands
    args = [x, y, _integers(x_labels), _integers(y_labels), _integers(out)]
    return _helper(einsum_two, args, like)


def _einsum(parsed, call, spelled: str):
    first = call.args[0] if call.args else None
    if not (isinstance(first, gast.Constant) and isinstance(first.value, str)):
        raise parsed.error(
            f"{spelled} without its subscripts written in the call as a string (sourcead "
            "compiles each einsum for its subscripts; the interleaved form is not taken)",
            call,
        )
    for keyword in call.keywords:
        value = keyword.value
        if keyword.arg == "optimize" and isinstance(value, gast.Constant):
            if isinstance(value.value, bool):
                continue  # (sourcead always contracts a pair at a time)
        option = "**options" if keyword.arg is None else f"{keyword.arg}={src(value)}"
        raise parsed.error(f"{spelled} with {option} (sourcead takes optimize=True or False)", call)
    operands = call.args[1:]
    if any(isinstance(a, gast.Starred) for a in operands):
        raise parsed.error(f"{spelled} with *operands", call)
    if not operands:
        raise parsed.error(f"{spelled} without operands", call)
    try:
        terms, out = einsum_terms(first.value, len(operands))
    except ValueError as error:
        raise parsed.error(f"{spelled}({first.value!r}, ...): {error}", call) from None
    labels, out_labels = _labelled(terms, out)
    return _pairwise(list(zip(operands, labels, strict=True)), out_labels, call)


# --- np.tensordot, np.inner, np.vdot, np.linalg.multi_dot ----------------------------------------


def _tensordot(parsed, call, spelled: str):
    given = _arguments(parsed, call, spelled, ("a", "b", "axes"), 2)
    axes = given.get("axes")
    if axes is None:
        count = 2
    else:
        count = literal_int(axes)
    if count is not None:
        if count < 0:
            raise parsed.error(
                f"{spelled} with axes={count} (a count of axes is not negative)", call
            )
        x_axes, y_axes = tuple(range(-count, 0)), tuple(range(count))
    else:
        pair = _elements(axes)
        written = [_written_integers(p) for p in pair] if pair and len(pair) == 2 else [None]
        if None in written:
            raise parsed.error(
                f"{spelled} with axes={src(axes)}: sourcead takes an integer, or a pair of "
                "integers or of sequences of integers, written in the call",
                call,
            )
        x_axes, y_axes = written
        if len(x_axes) != len(y_axes):
            raise parsed.error(f"{spelled} with axes={src(axes)} of two lengths", call)
    args = [given["a"], given["b"], _integers(x_axes), _integers(y_axes)]
    return _helper(tensordot_axes, args, call)


def _inner(parsed, call, spelled: str):
    given = _arguments(parsed, call, spelled, ("a", "b"), 2)
    return _helper(
        tensordot_axes, [given["a"], given["b"], _integers((-1,)), _integers((-1,))], call
    )


def _vdot(parsed, call, spelled: str):
    given = _arguments(parsed, call, spelled, ("a", "b"), 2)
    return _helper(vdot_flat, [given["a"], given["b"]], call)


def _multi_dot(parsed, call, spelled: str):
    given = _arguments(parsed, call, spelled, ("arrays", "out"), 1)
    if "out" in given:
        raise parsed.error(f"{spelled} with out= (sourcead does not take it)", call)
    arrays = _elements(given["arrays"])
    if not arrays or len(arrays) < 2:
        raise parsed.error(f"{spelled} of a list of two or more arrays written in the call", call)
    product = arrays[0]
    for array in arrays[1:]:  # from the left: the arrays' shapes are not known here
        product = gast.copy_location(gast.BinOp(left=product, op=gast.MatMult(), right=array), call)
    return product


# --- np.kron, np.cross, np.linalg.matrix_power, np.transpose --------------------------------------


def _kron(parsed, call, spelled: str):
    given = _arguments(parsed, call, spelled, ("a", "b"), 2)
    call.args, call.keywords = [given["a"], given["b"]], []
    return call


def _cross(parsed, call, spelled: str):
    names = ("a", "b", "axisa", "axisb", "axisc", "axis")
    given = _arguments(parsed, call, spelled, names, 2)
    for name in names[2:5]:
        if name in given and literal_int(given[name]) != -1:
            raise parsed.error(
                f"{spelled} with {name}={src(given[name])} (the last axis only)", call
            )
    axis = given.get("axis")
    if axis is not None and not (isinstance(axis, gast.Constant) and axis.value is None):
        if literal_int(axis) != -1:
            raise parsed.error(f"{spelled} with axis={src(axis)} (the last axis only)", call)
    return _helper(cross_product, [given["a"], given["b"]], call)


def _matrix_power(parsed, call, spelled: str):
    given = _arguments(parsed, call, spelled, ("a", "n"), 2)
    n = literal_int(given["n"])
    if n is None:
        raise parsed.error(
            f"{spelled} with n={src(given['n'])}: sourcead takes an integer written in the call",
            call,
        )
    a = given["a"]
    if n < 0:  # a**-n = inv(a)**n
        a = _numpy("np.linalg.inv", np.linalg.inv, [a], call)
    power = gast.copy_location(gast.Constant(value=abs(n), kind=None), call)
    return _helper(matrix_power_of, [a, power], call)


def _transpose(parsed, call, spelled: str):
    if len(call.args) > 2 and not call.keywords:  # x.transpose(2, 1, 0, 3)
        x, axes = call.args[0], gast.Tuple(elts=call.args[1:], ctx=gast.Load())
    else:
        given = _arguments(parsed, call, spelled, ("a", "axes"), 1)
        x, axes = given["a"], given.get("axes")
    if axes is None or (isinstance(axes, gast.Constant) and axes.value is None):
        call.args, call.keywords = [x], []
        return call  # the reversed axes: np.transpose's own entry
    written = _written_integers(axes)
    ndim = len(written or ())
    if written is None or sorted(a % ndim for a in written) != list(range(ndim)):
        raise parsed.error(
            f"{spelled} with axes {src(axes)}: sourcead takes a permutation of the axes "
            "written in the call",
            call,
        )
    order = tuple(a % ndim for a in written)
    inverse = tuple(order.index(k) for k in range(ndim))
    return _helper(transpose_axes, [x, _integers(order), _integers(inverse)], call)


#: NumPy function -> how the array-syntax rewrite writes its calls.
_REWRITES = {
    np.einsum: _einsum,
    np.tensordot: _tensordot,
    np.inner: _inner,
    np.vdot: _vdot,
    np.linalg.multi_dot: _multi_dot,
    np.kron: _kron,
    np.cross: _cross,
    np.linalg.matrix_power: _matrix_power,
    np.transpose: _transpose,
}


def is_tensor_call(function) -> bool:
    """Whether calls of ``function`` are rewritten here."""
    try:
        return function in _REWRITES
    except TypeError:  # unhashable: no function of NumPy's
        return False


def tensor_call(parsed, call: gast.Call, function, spelled: str) -> gast.expr:
    """The expression generated code computes for ``call`` of ``function`` (``spelled`` as
    the user wrote it); SourceADError (``parsed.error``) at the call's line for what
    sourcead does not take."""
    return _REWRITES[function](parsed, call, spelled)
