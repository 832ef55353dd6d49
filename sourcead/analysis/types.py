"""Kinds of values: bools, ints, floats, complex numbers, arrays and tuples of them.

The types that ``inference`` infers for every name, the type of a Python value, and
the few facts the transformations ask of a type.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass

import numpy as np

#: Scalar kinds from the narrowest to the widest (the kind of a mixed result is the widest).
SCALAR_ORDER = ("bool", "int", "float", "complex")


@dataclass(frozen=True)
class Scalar:
    kind: str  # one of SCALAR_ORDER
    dtype: str = ""  # NumPy dtype name of the value, e.g. "float64"

    @property
    def differentiable(self) -> bool:
        return self.kind in ("float", "complex")


@dataclass(frozen=True)
class Array:
    dtype: str  # NumPy dtype name
    ndim: int

    @property
    def kind(self) -> str:
        return _kind_of_name(self.dtype)

    @property
    def differentiable(self) -> bool:
        return self.kind in ("float", "complex")


@dataclass(frozen=True)
class TupleType:
    items: tuple

    differentiable = False


FLOAT = Scalar("float", "float64")
INT = Scalar("int", "int64")
BOOL = Scalar("bool", "bool")
COMPLEX = Scalar("complex", "complex128")


def _kind_of_dtype(dtype: np.dtype) -> str:
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "iu":
        return "int"
    if dtype.kind == "f":
        return "float"
    if dtype.kind == "c":
        return "complex"
    return "other"


@functools.cache
def _kind_of_name(dtype: str) -> str:
    return _kind_of_dtype(np.dtype(dtype))


@functools.cache
def _array_type(dtype: np.dtype, ndim: int) -> Array | None:
    return None if _kind_of_dtype(dtype) == "other" else Array(dtype.name, ndim)


#: Float dtypes NumPy computes with and Numba cannot compile: half and extended precision.
UNCOMPILED_DTYPES = frozenset(
    np.dtype(t).name for t in (np.float16, np.longdouble, np.clongdouble)
) - {"float64", "complex128"}  # (where long double is double)


def for_compiled_code(value, name: str, param: str, refuse: bool = True):
    """An argument as generated code takes it: an array in the other byte order (read from a
    file) as a copy in this machine's, which Numba types; with ``refuse``, TypeError for
    dtypes Numba cannot compile (half and extended precision)."""
    if not isinstance(value, np.ndarray):
        return value
    if refuse and value.dtype.name in UNCOMPILED_DTYPES:
        raise TypeError(
            f"argument {param} of {name} is a {value.dtype.name} array, which Numba cannot "
            "compile: pass it as float32 or float64 (x.astype(np.float64)), or use "
            "compile=False"
        )
    if not value.dtype.isnative:
        return value.astype(value.dtype.newbyteorder("="))
    return value


def type_of_value(value):
    """The type of a run-time argument, or None when sourcead does not handle it."""
    # the common cases first: every jvp or vmap call types its arguments, and the abstract
    # base classes below cost microseconds per check
    if type(value) is float:
        return FLOAT
    if type(value) is np.ndarray:
        return _array_type(value.dtype, value.ndim)
    if isinstance(value, bool | np.bool_):
        return BOOL
    if isinstance(value, numbers.Integral):
        return INT
    if isinstance(value, np.floating):
        return Scalar("float", value.dtype.name)
    if isinstance(value, numbers.Real):
        return FLOAT
    if isinstance(value, np.complexfloating):
        return Scalar("complex", value.dtype.name)
    if isinstance(value, numbers.Complex):
        return COMPLEX
    if isinstance(value, np.ndarray):
        return _array_type(value.dtype, value.ndim)
    if isinstance(value, tuple):
        items = tuple(type_of_value(v) for v in value)
        return None if None in items else TupleType(items)
    return None


def join(a, b):
    """The type that holds values of both types (Numba's unification, for our subset)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        kind = max(a.kind, b.kind, key=SCALAR_ORDER.index)
        dtype = np.result_type(np.dtype(a.dtype), np.dtype(b.dtype)).name
        return Scalar(kind, dtype)
    if isinstance(a, Array) and isinstance(b, Array) and a.ndim == b.ndim:
        return Array(np.result_type(np.dtype(a.dtype), np.dtype(b.dtype)).name, a.ndim)
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.items) == len(b.items):
        return TupleType(tuple(join(x, y) for x, y in zip(a.items, b.items, strict=True)))
    raise TypeMismatch(a, b)


class TypeMismatch(Exception):
    """A name holds values of incompatible types (for example a float and an array)."""


def scalar_of_dtype(dtype: str) -> Scalar:
    return Scalar(_kind_of_dtype(np.dtype(dtype)), dtype)


def array_of(element: Scalar, ndim: int) -> Array:
    return Array(element.dtype, ndim)


def constant_type(value):
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, complex):
        return COMPLEX
    return None


def is_array_type(value_type) -> bool:
    """Whether ``value_type`` is the type of an array."""
    return isinstance(value_type, Array)


def tape_dtype(value_type) -> str:
    """Source of the NumPy dtype of a tape holding values of ``value_type``."""
    return "np." + (value_type.dtype if value_type.dtype != "bool" else "bool_")


def describe(t) -> str:
    """``t`` in words, for error messages: "a float", "a 2-d float64 array", ..."""
    if isinstance(t, Scalar):
        return {
            "bool": "a bool",
            "int": "an int",
            "float": "a float",
            "complex": "a complex number",
        }[t.kind]
    if isinstance(t, Array):
        return f"a {t.ndim}-d {t.dtype} array"
    if isinstance(t, TupleType):
        return "a tuple"
    return "an unsupported value"
