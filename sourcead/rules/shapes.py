"""Result types of primitives applied to arrays: the ``result`` of each registry entry.

Only the number of dimensions and the dtype are tracked (shapes are known at run time
only); that is what the transformations need to tell arrays from scalars and to choose
tapes and zeros. Each result rule takes the arguments' types and the call's node and
returns the result's type; one decorated with ``on_arrays`` returns None when no argument
is an array, leaving the call to the typing of scalars. ``ArrayTypeProblem`` refuses a use
sourcead cannot differentiate, with the message for the user.
"""

from __future__ import annotations

import functools

import gast
import numpy as np

from ..analysis.types import FLOAT, Array, Scalar, TupleType


class ArrayTypeProblem(Exception):
    """An array expression sourcead cannot handle (message for the user)."""


def _dtype(t) -> str:
    return t.dtype if isinstance(t, Array | Scalar) and t.dtype else "float64"


def result_dtype(types: list, floating: bool = False) -> str:
    """NumPy's result dtype for an element-wise operation on values of ``types``.

    Python scalars do not widen arrays (``float32_array * 2.0`` stays float32).
    """
    arrays = [np.dtype(_dtype(t)) for t in types if isinstance(t, Array)]
    scalars = [t for t in types if isinstance(t, Scalar)]
    dtype = np.result_type(*arrays) if arrays else np.dtype("float64")
    if any(s.kind == "complex" for s in scalars) and dtype.kind != "c":
        dtype = np.result_type(dtype, np.complex64 if dtype == np.float32 else np.complex128)
    elif any(s.kind == "float" for s in scalars) and dtype.kind in "biu":
        dtype = np.dtype("float64")
    if floating and dtype.kind in "biu":
        dtype = np.dtype("float64")
    return dtype.name


def real_dtype(dtype: str) -> str:
    """The dtype of the real part of ``dtype``'s values (``complex128`` -> ``float64``)."""
    return np.empty(0, dtype).real.dtype.name


def scalar_of(dtype: str) -> Scalar:
    return Scalar(Array(dtype, 0).kind, dtype)


def on_arrays(rule):
    """``rule`` applied only when an argument is an array (None otherwise)."""

    @functools.wraps(rule)
    def applied(args: list, node: gast.Call):
        if not any(isinstance(a, Array) for a in args):
            return None
        return rule(args, node)

    return applied


def _keyword(node: gast.Call, name: str):
    for keyword in node.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _without_axis(node: gast.Call, what: str) -> None:
    if node.keywords or len(node.args) > 1:
        raise ArrayTypeProblem(what)


# --- element-wise --------------------------------------------------------------------------
def elementwise_of(types: list, floating: bool = False) -> Array:
    """The array an element-wise operation on values of ``types`` makes."""
    ndim = max(t.ndim for t in types if isinstance(t, Array))
    return Array(result_dtype(types, floating), ndim)


@on_arrays
def elementwise(args: list, node: gast.Call) -> Array:
    """Element by element, in NumPy's result dtype (``np.maximum``, ``np.square``)."""
    return elementwise_of(args)


@on_arrays
def floating_elementwise(args: list, node: gast.Call) -> Array:
    """Element by element, integers made floats (``np.exp``, ``np.sin``)."""
    return elementwise_of(args, floating=True)


@on_arrays
def double_elementwise(args: list, node: gast.Call) -> Array:
    """Element by element in double precision at least (``np.float_power``)."""
    base = elementwise_of(args)
    return Array("complex128" if np.dtype(base.dtype).kind == "c" else "float64", base.ndim)


@on_arrays
def chosen(args: list, node: gast.Call) -> Array:
    """``np.where(mask, a, b)``: the elements of ``a`` and ``b``."""
    return elementwise_of(args[1:])


@on_arrays
def real_part(args: list, node: gast.Call) -> Array:
    """Real results of complex or real arrays (``np.abs``, ``np.real``)."""
    base = elementwise_of(args)
    return Array(real_dtype(base.dtype), base.ndim)


@on_arrays
def like_first(args: list, node: gast.Call) -> Array:
    """The type of the first argument (``np.transpose``, ``np.linalg.inv``)."""
    return args[0]


# --- reductions ----------------------------------------------------------------------------
@on_arrays
def summed(args: list, node: gast.Call):
    """``np.sum(x)``: a scalar; with ``axis=``, one dimension fewer."""
    x = args[0]
    axis = _keyword(node, "axis")
    if axis is None and len(node.args) > 1:
        axis = node.args[1]
    if axis is None or (isinstance(axis, gast.Constant) and axis.value is None) or x.ndim == 1:
        return scalar_of(x.dtype)
    return Array(x.dtype, x.ndim - 1)


def _whole_reduction(floating: bool):
    @on_arrays
    def reduced(args: list, node: gast.Call) -> Scalar:
        name = getattr(node.func, "attr", getattr(node.func, "id", "this reduction"))
        _without_axis(node, f"np.{name} with an axis (Numba supports the axis of np.sum only)")
        return scalar_of(result_dtype([args[0]], floating=floating))

    reduced.__name__ = "averaged" if floating else "reduced"
    return reduced


#: ``np.prod``, ``np.max``, ``np.min`` of a whole array: a scalar of its dtype.
reduced = _whole_reduction(floating=False)
#: ``np.mean`` of a whole array: a float scalar.
averaged = _whole_reduction(floating=True)


@on_arrays
def flattened(args: list, node: gast.Call) -> Array:
    """``np.cumsum(x)``, ``np.cumprod(x)``: one dimension (Numba flattens; no ``axis=``)."""
    name = getattr(node.func, "attr", getattr(node.func, "id", "cumsum"))
    _without_axis(node, f"np.{name} with an axis (Numba supports it flattened only)")
    return Array(args[0].dtype, 1)


@on_arrays
def two_norm(args: list, node: gast.Call) -> Scalar:
    """``np.linalg.norm(x)``: the 2-norm, a real scalar (``ord=``, ``axis=``: other entries,
    ``rules/summaries.py``)."""
    _without_axis(node, "np.linalg.norm with ord or axis (only the 2-norm)")
    return Scalar("float", real_dtype(args[0].dtype))


@on_arrays
def matrix_trace(args: list, node: gast.Call) -> Scalar:
    """``np.trace(m)``, ``m.trace()`` of a matrix: a scalar of its dtype (``offset=``, axes
    and more dimensions: ``trace_along``, ``rules/summaries.py``)."""
    x = args[0]
    if x.ndim != 2:
        raise ArrayTypeProblem(
            f"np.trace of a {x.ndim}-d array without axis1=, axis2= (write them: "
            "np.trace(x, axis1=0, axis2=1))"
            if x.ndim > 2
            else f"np.trace of a {x.ndim}-d array (it takes 2 or more dimensions)"
        )
    return Scalar(args[0].kind, args[0].dtype)


@on_arrays
def scalar_like_first(args: list, node: gast.Call) -> Scalar:
    """A scalar of the first argument's dtype (``np.trace``, ``np.linalg.det``)."""
    return Scalar(args[0].kind, args[0].dtype)


# --- reductions along axes (rules/reductions.py) ------------------------------------------
# Their axes and keepdims are constants written in the call (the array-syntax rewrite checks
# it), so the result's number of dimensions is known here, and an axis out of range is
# refused at the line of the call.


def _option(node: gast.Call, name: str, position: int):
    """The expression of the call's option ``name``, given by keyword or at ``position``."""
    value = _keyword(node, name)
    if value is None and len(node.args) > position:
        value = node.args[position]
    return value


def literal_int(node) -> int | None:
    """The integer a constant expression writes (``1``, ``-1``), or None."""
    sign = 1
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        sign, node = -1, node.operand
    if (
        isinstance(node, gast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        return sign * node.value
    return None


def reduced_axes(axis, ndim: int, what: str, single: bool = False) -> tuple[int, ...]:
    """The axes (non-negative, sorted) that the call's ``axis`` expression names for an array
    of ``ndim`` dimensions (None: every axis); ArrayTypeProblem for others."""
    if axis is None or (isinstance(axis, gast.Constant) and axis.value is None):
        return tuple(range(ndim))
    named = axis.elts if isinstance(axis, gast.Tuple) and not single else [axis]
    values = [literal_int(a) for a in named]
    if None in values:
        kind = "an integer" if single else "an integer or a tuple of integers"
        raise ArrayTypeProblem(f"{what} with axis= other than {kind} written in the call")
    axes = []
    for value in values:
        if not -ndim <= value < ndim:
            raise ArrayTypeProblem(f"{what} with axis={value} of a {ndim}-d array")
        axes.append(value % ndim)
    if len(set(axes)) != len(axes):
        raise ArrayTypeProblem(f"{what} with an axis named twice")
    return tuple(sorted(axes))


def _reduced_dtype(reduction, dtype: str) -> str:
    """NumPy's dtype of ``reduction`` of an array of ``dtype`` (``np.mean`` of ints: float64)."""
    try:
        return np.asarray(reduction(np.ones(2, dtype))).dtype.name
    except TypeError:  # (np.ptp of booleans)
        return dtype


def _reduced_array(args: list, what: str) -> Array | None:
    """The array a reduction reduces; None while its type is unknown."""
    x = args[0] if args else None
    if isinstance(x, Scalar | TupleType):
        raise ArrayTypeProblem(f"{what} of a number (it reduces arrays)")
    return x


def along(reduction, what: str, keepdims_position: int = 2):
    """The result rule of ``reduction`` (NumPy's function) with ``axis=`` and ``keepdims=``
    (``keepdims`` the call's argument at ``keepdims_position``): the array with the reduced
    axes dropped or kept as length 1, or a number when every axis goes."""

    def result(args: list, node: gast.Call) -> Array | Scalar:
        x = _reduced_array(args, what)
        if x is None:
            return None
        axes = reduced_axes(_option(node, "axis", 1), x.ndim, what)
        keepdims = _option(node, "keepdims", keepdims_position)
        kept = isinstance(keepdims, gast.Constant) and keepdims.value is True
        dtype = _reduced_dtype(reduction, x.dtype)
        ndim = x.ndim if kept else x.ndim - len(axes)
        return Array(dtype, ndim) if ndim else scalar_of(dtype)

    result.__name__ = f"{reduction.__name__}_along"
    return result


def cumulative_along(reduction, what: str):
    """The result rule of ``np.cumsum``, ``np.cumprod`` along one axis: the array's shape."""

    def result(args: list, node: gast.Call) -> Array:
        x = _reduced_array(args, what)
        if x is None:
            return None
        reduced_axes(_option(node, "axis", 1), x.ndim, what, single=True)
        return Array(_reduced_dtype(reduction, x.dtype), x.ndim)

    result.__name__ = f"{reduction.__name__}_along"
    return result


def sorted_along(args: list, node: gast.Call) -> Array:
    """``np.argsort(x, axis=k)``: the indices, shaped like ``x``."""
    x = _reduced_array(args, "np.argsort")
    if x is None:
        return None
    axis = _option(node, "axis", 1)
    if axis is not None:  # (else the last axis)
        reduced_axes(axis, x.ndim, "np.argsort", single=True)
    return Array("int64", x.ndim)


def floating_like_first(args: list, node: gast.Call) -> Array:
    """Shaped like the first argument, in its dtype or float64 for integers
    (``max_share_along``, ``centered_along``)."""
    return Array(result_dtype([args[0]], floating=True), args[0].ndim)


# --- products and shapes --------------------------------------------------------------------
def matrix_product(left, right, stacks: bool = False) -> Array | Scalar:
    """``left @ right`` of vectors and matrices; with ``stacks`` (the ``@`` operator), of
    stacks of matrices too (``sourcead_runtime.tensor``): the stacks' axes broadcast, a
    vector is a row or a column."""
    if not (isinstance(left, Array) and isinstance(right, Array)):
        raise ArrayTypeProblem(
            "@ and np.dot need two arrays (np.dot of a number and an array is their product: "
            "write x * c)"
        )
    dtype = result_dtype([left, right])
    if stacks and max(left.ndim, right.ndim) > 2:
        return Array(dtype, max(left.ndim, right.ndim) - (min(left.ndim, right.ndim) == 1))
    if left.ndim > 2 or right.ndim > 2:
        raise ArrayTypeProblem(
            "matrix products of arrays with more than 2 dimensions (np.dot; @ takes stacks)"
        )
    ndim = left.ndim + right.ndim - 2
    return Array(dtype, ndim) if ndim else scalar_of(dtype)


@on_arrays
def matmul(args: list, node: gast.Call) -> Array | Scalar:
    """``np.matmul``, ``np.dot`` and ``@``."""
    return matrix_product(args[0], args[1])


@on_arrays
def outer(args: list, node: gast.Call) -> Array:
    return Array(result_dtype(args), 2)


@on_arrays
def diagonal(args: list, node: gast.Call) -> Array:
    """``np.diag``: a matrix's diagonal, or the matrix of a vector."""
    return Array(args[0].dtype, 1 if args[0].ndim == 2 else 2)


@on_arrays
def raveled(args: list, node: gast.Call) -> Array:
    return Array(args[0].dtype, 1)


@on_arrays
def reshaped(args: list, node: gast.Call) -> Array:
    """``np.reshape(x, shape)``: as many dimensions as the shape has entries."""
    shape = args[1]
    return Array(args[0].dtype, len(shape.items) if isinstance(shape, TupleType) else 1)


def spaced(args: list, node: gast.Call) -> Array:
    """``np.linspace``: a float vector (from scalars too)."""
    return Array("float64", 1)


# --- linear algebra -------------------------------------------------------------------------
@on_arrays
def solved(args: list, node: gast.Call) -> Array:
    """``np.linalg.solve(a, b)``: shaped like ``b``."""
    return Array(result_dtype(args), args[1].ndim)


@on_arrays
def sign_and_log(args: list, node: gast.Call) -> TupleType:
    """``np.linalg.slogdet``: the sign (of the matrix's dtype) and a real logarithm."""
    x = args[0]
    real = real_dtype(x.dtype)
    return TupleType((Scalar(x.kind, x.dtype), FLOAT if real == "float64" else scalar_of(real)))


@on_arrays
def eigen(args: list, node: gast.Call) -> TupleType:
    """``np.linalg.eigh``: real eigenvalues and the eigenvectors."""
    return TupleType((Array(real_dtype(args[0].dtype), 1), args[0]))


@on_arrays
def singular(args: list, node: gast.Call) -> TupleType:
    """``np.linalg.svd``: ``u``, the real singular values, ``vh``."""
    x = args[0]
    return TupleType((x, Array(real_dtype(x.dtype), 1), x))


@on_arrays
def factors(args: list, node: gast.Call) -> TupleType:
    """``np.linalg.qr``: two matrices of the argument's type."""
    return TupleType((args[0], args[0]))


# --- helpers of generated adjoints (forward mode meets them in hvp and hessian) -------------
def _dtype_of_first(args: list) -> str:
    first = args[0]
    return first.dtype if isinstance(first, Array | Scalar) else "float64"


def shaped_by_second(args: list, node: gast.Call) -> Array:
    """An array of the first argument's dtype and the rank of the shape given second
    (``expand_reduced``, ``unbroadcast``, ``reverse_cumsum``)."""
    shape = args[1]
    return Array(_dtype_of_first(args), len(shape.items) if isinstance(shape, TupleType) else 1)


def left_operand(args: list, node: gast.Call) -> Array:
    """``matmul_adjoint_left(g, a, b)``: shaped like ``a`` in ``a @ b``."""
    return Array(result_dtype([args[0], args[2]]), args[1].ndim)


def right_operand(args: list, node: gast.Call) -> Array:
    """``matmul_adjoint_right(g, a, b)``: shaped like ``b`` in ``a @ b``."""
    return Array(result_dtype([args[0], args[1]]), args[2].ndim)


def like_first_array(args: list, node: gast.Call) -> Array:
    """An array shaped like the first argument (``prod_others``)."""
    return Array(args[0].dtype, args[0].ndim)


def like_first_of_both(args: list, node: gast.Call) -> Array:
    """Shaped like the first argument, in the dtype of both (``prod_others_tangent``)."""
    return Array(result_dtype([args[0], args[1]]), args[0].ndim)


def like_second_of_all(args: list, node: gast.Call) -> Array:
    """Shaped like the second argument, in the dtype of all (``reverse_cumprod(b, x)``,
    ``reverse_cumprod_tangent(b, x, dx)``)."""
    return Array(result_dtype(args), args[1].ndim)


def flattened_of_all(args: list, node: gast.Call) -> Array:
    """A vector in the dtype of all the arguments (``cumprod_tangent(x, dx)``)."""
    return Array(result_dtype(args), 1)


def like_third(args: list, node: gast.Call) -> Array:
    """``popped(tape, top, like, shapes)``: of the tape's dtype and ``like``'s rank (a mask's
    from its tape of integers: booleans)."""
    if getattr(args[2], "dtype", None) == "bool":
        return Array("bool", args[2].ndim)
    return Array(_dtype_of_first(args), args[2].ndim)
