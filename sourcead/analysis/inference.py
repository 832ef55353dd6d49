"""Type inference: which names hold bools, ints, floats, complex numbers or arrays.

A small forward inference over the normalised subset, seeded with the argument types of a
call. Numba infers the same types again when it compiles the generated code; this pass only
needs to tell the transformation what is differentiable (float or complex), what is an
array (and its number of dimensions), and which dtype a tape must have.
"""

from __future__ import annotations

import math

import gast
import numpy as np

from ..rules.shapes import literal_int, real_dtype
from ..trees.codegen import dotted_name
from . import array_types
from .activity import BIT_OPERATORS
from .types import (
    BOOL,
    COMPLEX,
    FLOAT,
    INT,
    SCALAR_ORDER,
    Array,
    Scalar,
    TupleType,
    TypeMismatch,
    constant_type,
    join,
    scalar_of_dtype,
    type_of_value,
)

#: Functions whose values of complex numbers are real (their parts, modulus and phase).
_REAL_PARTS = (abs, np.abs, np.real, np.imag, np.angle)


def _bitwise_result(node, operands: list):
    """The type of ``a & b``, ``a | b``, ``a ^ b``, ``a << b``, ``a >> b`` and ``~a``: of
    integers and booleans only (NumPy's dtype for arrays: masks stay masks; Python's for
    numbers, where ``~True`` is -2)."""
    kinds = [o.kind if isinstance(o, Scalar) else np.dtype(o.dtype).kind for o in operands]
    if any(k not in ("bool", "int", "b", "i", "u") for k in kinds):
        symbol = {
            gast.BitAnd: "&", gast.BitOr: "|", gast.BitXor: "^", gast.LShift: "<<",
            gast.RShift: ">>", gast.Invert: "~",
        }[type(node.op)]  # fmt: skip
        raise TypeProblem(
            node,
            f"the operator {symbol} of a float or complex value (it takes integers and "
            "booleans: masks (r < rc) & (r > 0), bits of integers)",
        )
    arrays = [o for o in operands if isinstance(o, Array)]
    if arrays:
        dtypes = [np.dtype(o.dtype) for o in operands]
        if isinstance(node.op, gast.LShift | gast.RShift) and np.result_type(*dtypes) == np.bool_:
            return Array("int64", max(a.ndim for a in arrays))
        return Array(np.result_type(*dtypes).name, max(a.ndim for a in arrays))
    if all(k == "bool" for k in kinds) and not isinstance(
        node.op, gast.Invert | gast.LShift | gast.RShift
    ):
        return BOOL
    return INT


def _numbers_only(value_type) -> bool:
    """Whether ``value_type`` is a tuple of numbers (or of such tuples)."""
    if isinstance(value_type, TupleType):
        return all(_numbers_only(item) for item in value_type.items)
    return isinstance(value_type, Scalar)


def _scalar_result(a: Scalar, b: Scalar, op) -> Scalar:
    kind = max(a.kind, b.kind, key=SCALAR_ORDER.index)
    if kind == "bool":
        kind = "int"
    if isinstance(op, gast.Div) and kind == "int":
        kind = "float"
    dtype = {"int": "int64", "float": "float64", "complex": "complex128"}[kind]
    if kind == "float" and "float32" in (a.dtype, b.dtype) and "float64" not in (a.dtype, b.dtype):
        dtype = "float32"
    return Scalar(kind, dtype)


class TypeInference:
    """Infers a type for every name of a normalised function, given its parameters' types.

    ``callee_result(call_node, arg_types)`` gives the result type of a call of a user function.
    Raises ``TypeProblem(node, message)`` for values sourcead cannot handle.
    """

    def __init__(self, node: gast.FunctionDef, param_types: dict, callee_result):
        self.node = node
        self.types: dict = dict(param_types)
        self.callee_result = callee_result

    def run(self) -> dict:
        for _ in range(20):
            before = dict(self.types)
            self.block(self.node.body)
            if before == self.types:
                return self.types
        return self.types

    def bind(self, name: str, value_type, node) -> None:
        if value_type is None:
            return
        try:
            self.types[name] = join(self.types.get(name), value_type)
        except TypeMismatch as exc:
            refusal = getattr(node, "refusal", None)  # a desugared form says what it needs
            raise TypeProblem(
                node,
                refusal
                or f"the name {name} holds both {exc.args[0]} and {exc.args[1]}: a name "
                "assigned in a loop or in a branch of an if keeps one type (a value of "
                "another type needs a name of its own)",
            ) from None

    def block(self, body) -> None:
        for stmt in body:
            if isinstance(stmt, gast.Assign):
                value = self.expr(stmt.value)
                target = stmt.targets[0]
                if isinstance(target, gast.Subscript):  # x[..., 0] = v
                    self._write_out_ellipsis(target, self.expr(target.value))
                if isinstance(target, gast.Name):
                    self.bind(target.id, value, stmt)
                elif isinstance(target, gast.Tuple):
                    if isinstance(value, TupleType) and len(value.items) == len(target.elts):
                        for element, item in zip(target.elts, value.items, strict=True):
                            self.bind(element.id, item, stmt)
                    elif value is not None:
                        raise TypeProblem(
                            stmt, "unpacking a value that is not a tuple of that length"
                        )
            elif isinstance(stmt, gast.If):
                self.block(stmt.body)
                self.block(stmt.orelse)
            elif isinstance(stmt, gast.For):
                before = self.types.get(stmt.target.id)
                if before is not None and not (isinstance(before, Scalar) and before.kind == "int"):
                    # (join would make the integers floats: derivatives through a counter)
                    raise TypeProblem(
                        stmt,
                        f"the loop variable {stmt.target.id} also holds a value of another type "
                        "(read after a loop that may run no step, or in a loop or a branch): "
                        "give the loop a variable of its own",
                    )
                self.bind(stmt.target.id, INT, stmt)
                self.block(stmt.body)
            elif isinstance(stmt, gast.While):
                self.block(stmt.body)
            elif isinstance(stmt, gast.Expr):
                self.expr(stmt.value)

    @staticmethod
    def _write_out_ellipsis(node: gast.Subscript, base) -> None:
        """``x[..., 0]`` of an array of known dimensions becomes ``x[:, :, 0]`` in the tree:
        the generators then see only integers, slices and new axes."""
        elements = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
        at = [
            k
            for k, e in enumerate(elements)
            if isinstance(e, gast.Constant) and e.value is Ellipsis
        ]
        if not at or not isinstance(base, Array):
            return
        used = sum(
            1
            for e in elements
            if not (isinstance(e, gast.Constant) and (e.value is None or e.value is Ellipsis))
        )
        if used > base.ndim:
            raise TypeProblem(node, f"too many indices for a {base.ndim}-d array")
        axes = [
            gast.copy_location(gast.Slice(lower=None, upper=None, step=None), node)
            for _ in range(base.ndim - used)
        ]
        written = elements[: at[0]] + axes + elements[at[0] + 1 :]
        node.slice = (
            gast.copy_location(gast.Tuple(elts=written, ctx=gast.Load()), node)
            if len(written) != 1
            else written[0]
        )

    def expr(self, node):
        if isinstance(node, gast.Constant):
            return constant_type(node.value)
        if isinstance(node, gast.Name):
            if node.id in self.types:
                return self.types[node.id]
            value = getattr(node, "global_value", None)
            return (
                constant_type(value) if not isinstance(value, np.generic) else type_of_value(value)
            )
        if isinstance(node, gast.Attribute):
            base = (
                self.expr(node.value)
                if isinstance(node.value, gast.Name)
                and node.value.id in self.types
                or dotted_name(node.value) is None  # a[1:].size, np.sort(x).shape
                else None
            )
            if isinstance(base, Array):
                if node.attr == "shape":
                    return TupleType((INT,) * base.ndim)
                return INT
            value = getattr(node, "global_value", None)
            return type_of_value(value) if value is not None else None
        if isinstance(node, gast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, BIT_OPERATORS):
                return _bitwise_result(node, [left, right])
            if isinstance(left, Array) or isinstance(right, Array):
                return self._array(array_types.binop_type, left, right, node.op, node=node)
            if _is_shape_tuple(left) and _is_shape_tuple(right) and isinstance(node.op, gast.Add):
                return TupleType(left.items + right.items)  # (n,) + np.shape(a): a shape
            if not isinstance(left, Scalar) or not isinstance(right, Scalar):
                raise TypeProblem(node, "arithmetic on tuples")
            return _scalar_result(left, right, node.op)
        if isinstance(node, gast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, gast.Not):
                return BOOL
            if isinstance(node.op, gast.Invert) and operand is not None:
                return _bitwise_result(node, [operand])
            if isinstance(operand, Array):
                return operand
            if operand == BOOL:
                return INT
            return operand
        if isinstance(node, gast.BoolOp | gast.Compare):
            operands = [
                self.expr(child)
                for child in gast.iter_child_nodes(node)
                if isinstance(child, gast.expr)
            ]
            return array_types.compare_type(operands)
        if isinstance(node, gast.Subscript):
            base = self.expr(node.value)
            self._write_out_ellipsis(node, base)
            count = len(node.slice.elts) if isinstance(node.slice, gast.Tuple) else 1
            if isinstance(base, TupleType):  # a shape: x.shape[0]
                if all(isinstance(t, Scalar) and t.kind == "int" for t in base.items):
                    return INT
                item = literal_int(node.slice)
                if item is not None:  # unpacked by lowering/tuple_items.py
                    if not -len(base.items) <= item < len(base.items):
                        raise TypeProblem(
                            node, f"index {item} of a tuple of {len(base.items)} values"
                        )
                    return base.items[item]
                # the derivatives do not follow values through a tuple's elements
                if _numbers_only(base) and self._written_out(node.value):
                    # a table written out: pairs = ((0, 1), (2, 3))
                    raise TypeProblem(
                        node,
                        "a tuple of numbers indexed with a variable is not supported: make it "
                        "an array (np.array(((0, 1), (2, 3)))) or a module-level constant, "
                        "which sourcead reads as a table",
                    )
                raise TypeProblem(
                    node,
                    "indexing a tuple of values (t[0]) is not supported: unpack the call that "
                    "makes it instead (a, b = g(x))",
                )
            if isinstance(base, Array) and (
                count != base.ndim or _has_slice(node.slice) or self._array_index(node.slice)
            ):
                return self._array(
                    array_types.subscript_type, base, node.slice, self.expr, node=node
                )
            if isinstance(base, Array):
                if count != base.ndim:
                    raise TypeProblem(
                        node,
                        f"indexing a {base.ndim}-d array with {count} index(es): "
                        "only full element indexing is supported",
                    )
                return scalar_of_dtype(base.dtype)
            if base is None:
                return None
            raise TypeProblem(node, "indexing a value that is not an array")
        if isinstance(node, gast.Tuple):
            items = tuple(self.expr(e) for e in node.elts)
            return None if None in items else TupleType(items)
        if isinstance(node, gast.Call):
            return self.call(node)
        return None

    def call(self, node: gast.Call):
        callee = node.callee
        args = [self.expr(a) for a in node.args]
        if callee.kind == "copy":
            return self.expr(node.func.value)
        if callee.kind in ("solver", "jvp"):  # fixed_point, ..., jvp: the program checks them
            return self.callee_result(node, args)
        if callee.kind == "user":
            if None in args:
                return None
            return self.callee_result(node, args)
        target = callee.target
        if target is np.shape and len(args) == 1 and args[0] is not None:
            return TupleType((INT,) * (args[0].ndim if isinstance(args[0], Array) else 0))
        if callee.kind == "forward_only":  # helpers of generated adjoints
            return self._array(array_types.helper_type, target, args, node, node=node)
        if callee.kind in ("rule", "nondiff", "constructor") and target not in (
            np.zeros_like,
            np.ones_like,
            np.empty_like,
        ):
            result = self._array(array_types.call_type, target, node, args, node=node)
            if result is not None and result is not NotImplemented:
                return result
            if result is NotImplemented:
                raise TypeProblem(node, f"{getattr(target, '__name__', target)} of whole arrays")
        if callee.kind == "constructor":
            dtype = "float64"
            for keyword in node.keywords:
                dtype = np.dtype(keyword.value.global_value).name
            if target in (np.zeros_like, np.ones_like, np.empty_like):
                base = args[0]
                if not isinstance(base, Array):
                    return None if base is None else FLOAT
                return Array(dtype if node.keywords else base.dtype, base.ndim)
            shape = args[0]
            ndim = len(shape.items) if isinstance(shape, TupleType) else 1
            return Array(dtype, ndim)
        if callee.kind == "rule" and any(isinstance(a, Array) for a in args):
            raise TypeProblem(node, "a function of whole arrays (element access a[i] is supported)")
        if callee.kind == "nondiff":
            if target is range:
                return None
            if target is bool or target in (
                math.isnan,
                math.isinf,
                math.isfinite,
                np.isnan,
                np.isinf,
                np.isfinite,
                *array_types.LOGICAL_FUNCTIONS,
            ):
                return BOOL
            if target in (np.floor, np.ceil, np.trunc, np.sign, np.rint, np.round, np.around):
                return args[0] if args and args[0] is not None else FLOAT
            return INT
        # a differentiable scalar function
        known = [a for a in args if a is not None]
        if target in _REAL_PARTS and known and isinstance(known[0], Scalar):
            if known[0].kind == "complex":  # |z|, Re z, Im z, arg z: real numbers
                return scalar_of_dtype(real_dtype(known[0].dtype))
        if target in (abs, min, max):
            result = None
            for a in known:
                result = join(result, a)
            return result
        if any(isinstance(a, Scalar) and a.kind == "complex" for a in known):
            return COMPLEX
        if target is float:
            return FLOAT
        if known and all(isinstance(a, Scalar) and a.dtype == "float32" for a in known):
            if isinstance(target, np.ufunc):
                return Scalar("float", "float32")
        return FLOAT

    def _written_out(self, value) -> bool:
        """Whether ``value`` is a name bound only to tuples written out (``(0, 1), ...``)."""
        if not isinstance(value, gast.Name):
            return False
        bound = [
            stmt.value
            for stmt in gast.walk(self.node)
            if isinstance(stmt, gast.Assign)
            and any(isinstance(t, gast.Name) and t.id == value.id for t in stmt.targets)
        ]
        return bool(bound) and all(isinstance(v, gast.Tuple) for v in bound)

    def _array_index(self, index) -> bool:
        """Whether an index holds an array (fancy indexing, refused by subscript_type)."""
        elements = index.elts if isinstance(index, gast.Tuple) else [index]
        return any(
            isinstance(self.expr(e), Array) for e in elements if not isinstance(e, gast.Slice)
        )

    def _array(self, function, *args, node):
        try:
            return function(*args)
        except array_types.ArrayTypeProblem as problem:
            raise TypeProblem(node, str(problem)) from None


def _is_shape_tuple(value) -> bool:
    """A tuple of integers: a shape."""
    return isinstance(value, TupleType) and all(
        isinstance(t, Scalar) and t.kind in ("int", "bool") for t in value.items
    )


def _has_slice(index) -> bool:
    elements = index.elts if isinstance(index, gast.Tuple) else [index]
    return any(
        isinstance(e, gast.Slice) or (isinstance(e, gast.Constant) and e.value is None)
        for e in elements
    )


class TypeProblem(Exception):
    """A value sourcead cannot differentiate; carries the node for the error's line."""

    def __init__(self, node, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


def expression_type(expr, types: dict, unknown=FLOAT):
    """The type of ``expr`` given the types of the names it reads; ``unknown`` where the
    inference cannot tell (no calls of user functions inside)."""
    if isinstance(expr, gast.Name):
        if expr.id not in types and hasattr(expr, "global_value"):  # a module-level number
            return constant_type(expr.global_value) or type_of_value(expr.global_value)
        return types.get(expr.id)
    if isinstance(expr, gast.Constant):
        return constant_type(expr.value)
    inference = TypeInference(
        gast.FunctionDef(
            name="_",
            args=None,
            body=[],
            decorator_list=[],
            returns=None,
            type_comment=None,
            type_params=[],
        ),
        types,
        lambda *a: None,
    )
    result = inference.expr(expr)
    return result if result is not None else unknown
