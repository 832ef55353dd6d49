"""The operands of matrix products and solves in one dtype.

NumPy promotes ``a @ b`` of a float64 and a float32 array (``np.eye(n) @ x`` of a float32
``x``; ``x / np.sqrt(d)`` is float64 under NumPy 2), and of complex64 and complex128 ones.
Numba's ``@``, ``np.dot``, ``np.linalg.solve``, ``np.linalg.lstsq`` and ``np.kron`` take one
dtype: compiled, such a program stopped with Numba's "'@' arguments must all have the same
dtype". Here the operand of the other dtype is cast first, ``cast_as(x, "float64") @ m``, in
the typed tree of your function, so that the adjoints and tangents written from it (``b_out
@ x.T``, ...) are of one dtype too; the cast's adjoint casts back (``rules/shaping.py``).
"""

from __future__ import annotations

import copy

import gast
import numpy as np
from sourcead_runtime import cast_as

from ..analysis.inference import expression_type
from ..analysis.types import Array, Scalar
from ..rules.callees import Callee
from ..trees.resolved import resolved_call

#: The functions whose two array operands Numba takes in one dtype only.
ONE_DTYPE = (np.dot, np.linalg.solve, np.linalg.lstsq, np.kron)


def promote_operands(tree: gast.FunctionDef, types: dict) -> gast.FunctionDef:
    """``tree`` with the operands of ``@`` and of ``ONE_DTYPE``'s calls cast to their result
    dtype where they differ (in a copy: ``tree`` is the function's, for every list of types)."""
    tree = copy.deepcopy(tree)

    class Promoter(gast.NodeTransformer):
        def visit_BinOp(self, node):
            self.generic_visit(node)
            if isinstance(node.op, gast.MatMult):
                node.left, node.right = _promoted([node.left, node.right], types)
            elif isinstance(node.op, _ARITHMETIC):
                node.left, node.right = _narrow_numbers([node.left, node.right], types)
            return node

        def visit_Call(self, node):
            self.generic_visit(node)
            target = getattr(getattr(node, "callee", None), "target", None)
            if any(target is f for f in ONE_DTYPE) and len(node.args) >= 2:
                node.args[:2] = _promoted(node.args[:2], types)
            return node

    return Promoter().visit(tree)


def _promoted(operands: list, types: dict) -> list:
    found = [expression_type(o, types, unknown=None) for o in operands]
    if not all(isinstance(t, Array) for t in found):
        return operands  # a number scales: Numba takes it as it is
    dtypes = [np.dtype(t.dtype) for t in found]
    result = np.result_type(*dtypes)
    if all(d == result for d in dtypes):
        return operands
    return [
        o if d == result else _cast(o, result.name) for o, d in zip(operands, dtypes, strict=True)
    ]


#: Operators whose number operand Numba lets widen a float32 or complex64 array.
_ARITHMETIC = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.Mod, gast.FloorDiv)

#: The single-precision dtypes: a number meeting such an array is cast to one of them.
_SINGLE = ("float32", "complex64")


def _narrow_numbers(operands: list, types: dict) -> list:
    """``x * 0.9`` of a float32 ``x`` (or complex64): the number cast to single precision
    first. NumPy keeps the array's dtype (a Python number does not widen it, and the types
    say so); Numba would make the product float64, and a name holding it two types."""
    found = [expression_type(o, types, unknown=None) for o in operands]
    if not any(isinstance(t, Array) and t.dtype in _SINGLE for t in found):
        return operands
    return [
        _cast(o, "complex64" if t.kind == "complex" else "float32")
        if isinstance(t, Scalar)
        and t.kind in ("int", "float", "complex")
        and t.dtype not in _SINGLE
        else o
        for o, t in zip(operands, found, strict=True)
    ]


def _cast(operand: gast.expr, dtype: str) -> gast.Call:
    call = resolved_call(cast_as, [operand, gast.Constant(value=dtype, kind=None)], operand)
    call.callee = Callee("rule", cast_as)
    return call


__all__ = ["ONE_DTYPE", "promote_operands"]
