"""The public API: grad, value_and_grad, vjp and show."""

from __future__ import annotations

import functools
import inspect

import gast
import numpy as np

from ..analysis.types import FLOAT, Array, Scalar, TupleType, describe, type_of_value
from ..backends.cpu import progress
from ..backends.cpu.loading import load_module
from ..cache import modules as cache
from ..cache import records as native_cache
from ..errors import SourceADError
from ..frontend.source import wrt_names
from ..pipeline import loading
from ..pipeline.program import Program
from ..trees.functions import unwrap


class Derivative:
    """A generated derivative of ``fun``: transformed ahead of time, compiled per argument types."""

    def __init__(self, fun, wrt, compile: bool, kind: str):
        self.fun = unwrap(fun)
        self.loaded = loading.load(self.fun)  # parses and checks now: errors come before any call
        self.params = self.loaded.parsed.params
        self.wrt_given = wrt
        self.wrt_names = wrt_names(wrt, self.params, self.loaded.parsed)
        self.compile = compile
        self.kind = kind
        self._cache: dict = {}
        self._unrecorded: dict = {}  # argument types -> cache key, not yet in native_cache
        self._last_source: str | None = None
        functools.update_wrapper(self, self.fun)

    # --- source ------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated module: for the last call's argument types, or assumed ones before."""
        if self._last_source is None:
            assumed = self._assumed_types()
            try:
                self._last_source = self._build(assumed)[0]
            except (SourceADError, TypeError) as exc:
                described = ", ".join(
                    f"{p}: {describe(t)}" for p, t in zip(self.params, assumed, strict=True)
                )
                raise SourceADError(
                    f"the code generated for {self.loaded.parsed.name} depends on the argument "
                    f"types; before the first call .source assumes {described}, for which it "
                    f"fails ({exc}). Call the derivative once (then .source shows the code for "
                    "those arguments), or use `sourcead show --types ...`",
                    self.loaded.parsed.filename,
                    self.loaded.parsed.node.lineno,
                ) from None
        return self._last_source

    def _assumed_types(self) -> list:
        """Before any call: arrays where the code uses a parameter as one, floats elsewhere.

        A parameter is taken for a float64 array of as many dimensions as its widest
        subscript when it is subscripted, and of one dimension when it is only used whole as
        an array (``.shape``, ``len``, an argument of a NumPy function, an operand of ``@``).
        """
        params = set(self.params)
        dimensions: dict[str, int] = {}

        def note(node, ndim: int) -> None:
            if isinstance(node, gast.Name) and node.id in params:
                dimensions[node.id] = max(dimensions.get(node.id, 0), ndim)

        for node in gast.walk(self.loaded.normalized):
            if isinstance(node, gast.Subscript):
                note(node.value, len(node.slice.elts) if isinstance(node.slice, gast.Tuple) else 1)
            elif isinstance(node, gast.Attribute) and node.attr in (
                "shape",
                "size",
                "ndim",
                "copy",
            ):
                note(node.value, 1)
            elif isinstance(node, gast.BinOp) and isinstance(node.op, gast.MatMult):
                note(node.left, 1)
                note(node.right, 1)
            elif isinstance(node, gast.Call):
                func = node.func
                numpy_call = (
                    isinstance(func, gast.Attribute)
                    and isinstance(func.value, gast.Name | gast.Attribute)
                    and getattr(func, "global_value", None) is not None
                    and getattr(func.global_value, "__module__", "") in ("numpy", "numpy.linalg")
                ) or (isinstance(func, gast.Name) and func.id == "len")
                if numpy_call:
                    for arg in node.args:
                        note(arg, 1)
        return [Array("float64", dimensions[p]) if p in dimensions else FLOAT for p in self.params]

    # --- building ----------------------------------------------------------------------------
    def _build(self, arg_types: list):
        key = tuple(arg_types)
        if key in self._cache:
            return self._cache[key]
        # globals and helpers read as they are at the first call with these types, as Numba
        # reads globals when it compiles a signature
        self.loaded = loading.load(self.fun)
        name = self.loaded.parsed.name

        def load_in_memory(source, namespace):
            return load_module(source, namespace, f"sourcead_generated.{name}", self.compile)

        # persistent cache: a new process reuses the generated module and its machine code
        cache_key = cache.derivative_key(self.fun, loading.LOADED, arg_types, self.wrt_names)
        source, module, header = cache.load_or_generate(
            f"{name}_adjoint",
            cache_key,
            self.compile,
            lambda: self._generate(arg_types),
            load_in_memory,
        )
        progress.describe(header["entry"], "the adjoint", self.loaded.parsed)
        built = (source, module[header["entry"]], cache.decode_type(header["result"]))
        self._cache[key] = built
        if cache_key is not None and self.kind == "grad" and self.compile:
            self._unrecorded[key] = cache_key
        return built

    def _generate(self, arg_types: list) -> tuple[str, dict, dict]:
        """The generated module for these argument types: (source, namespace, header), the
        header naming the entry function and the result type."""
        for p, t in zip(self.params, arg_types, strict=True):
            if p in self.wrt_names and not getattr(t, "differentiable", False):
                raise TypeError(
                    f"cannot differentiate {self.loaded.parsed.name} with respect to {p}: "
                    f"it is {describe(t)}, not a float, complex number or float array"
                )
        name = self.loaded.parsed.name
        program = Program(loading.LOADED)
        entry = program.adjoint(self.fun, list(arg_types), self.wrt_names, f"{name}_adjoint")
        result_type = program.result_types[(self.fun, tuple(arg_types))]
        title = f"Adjoint of {name} with respect to {', '.join(self.wrt_names)}."
        source, namespace = program.module_source(title)
        return source, namespace, {"entry": entry, "result": cache.encode_type(result_type)}

    def _prepare(self, args):
        if len(args) < len(self.params):
            defaults = self.fun.__defaults__ or ()
            missing = len(self.params) - len(args)
            if missing > len(defaults):
                raise TypeError(
                    f"{self.loaded.parsed.name}() takes {len(self.params)} arguments, got {len(args)}"
                )
            args = tuple(args) + tuple(defaults[len(defaults) - missing :])
        if len(args) > len(self.params):
            raise TypeError(
                f"{self.loaded.parsed.name}() takes {len(self.params)} arguments, got {len(args)}"
            )
        types = []
        for p, a in zip(self.params, args, strict=True):
            t = type_of_value(a)
            if t is None:
                raise TypeError(
                    f"argument {p} of {self.loaded.parsed.name}: unsupported type {type(a).__name__}"
                )
            types.append(t)
        args = tuple(
            float(a) if isinstance(a, np.floating) and a.dtype == np.float64 else a for a in args
        )
        return args, types

    def run(self, args, seeds=None):
        """(value, gradients) for ``args``; ``seeds`` are the adjoints of the outputs."""
        args, types = self._prepare(args)
        source, function, result_type = self._build(types)
        self._last_source = source
        if seeds is None:
            if not (isinstance(result_type, Scalar) and result_type.kind == "float"):
                raise ValueError(
                    f"grad needs a function with a real scalar result; {self.loaded.parsed.name} "
                    f"returns {describe(result_type)}. Use sourcead.vjp for non-scalar results."
                )
            seeds = (1.0,)
            result = function(*args, *seeds)
            self._record(args, types)
            return result
        return function(*args, *seeds)

    def _record(self, args, types) -> None:
        """Record a gradient of the persistent cache after its first call, so that a later
        process loads it without the compiler (and ``sourcead cache native`` compiles it)."""
        cache_key = self._unrecorded.pop(tuple(types), None)
        if cache_key is not None:
            native_cache.remember(self, args, types, cache_key, loading.LOADED)

    @property
    def __signature__(self):
        return inspect.signature(self.fun)


class GradientFunction(Derivative):
    """What ``grad`` returns: call it like the function to get the gradient."""

    def __init__(self, fun, wrt, preserve_result: bool, compile: bool):
        super().__init__(fun, wrt, compile, "grad")
        self.preserve_result = preserve_result

    def __call__(self, *args):
        value, grads = self.run(args)
        gradient = grads if isinstance(self.wrt_given, tuple) else grads[0]
        return (value, gradient) if self.preserve_result else gradient

    def __repr__(self) -> str:
        return f"<sourcead gradient of {self.loaded.parsed.name} wrt {self.wrt_names}>"


def grad(fun, wrt=0, *, preserve_result: bool = False, compile: bool = True):
    """The gradient as the compiler makes it (``sourcead.grad`` is ``api.entry.grad``, which
    looks for the cache's record of the gradient first, and takes ``grad(grad(f))`` to
    forward over reverse)."""
    return GradientFunction(native_cache.compiled_derivative(fun), wrt, preserve_result, compile)


def value_and_grad(fun, wrt=0, *, compile: bool = True):
    """Like ``grad(fun, wrt, preserve_result=True)``: the function returns ``(value, gradient)``."""
    return grad(fun, wrt, preserve_result=True, compile=compile)


def vjp(fun, *args, wrt=0, compile: bool = True):
    """The value of ``fun(*args)`` and its pullback (vector-Jacobian product).

    Returns ``(value, pullback)``; ``pullback(cotangent)`` returns the gradient of
    ``sum(cotangent * value)`` with respect to ``wrt`` (a tuple when ``wrt`` is a tuple).
    The cotangent has the value's structure: a float, an array, or a tuple of them.
    """
    derivative = Derivative(fun, wrt, compile, "vjp")
    value, _ = derivative.run(args, seeds=zero_seeds(derivative, args))

    def pullback(cotangent):
        seeds = tuple(cotangent) if isinstance(value, tuple) else (cotangent,)
        seeds = tuple(
            np.asarray(s, dtype=np.result_type(s, 1.0))
            if isinstance(s, np.ndarray)
            else float(s)
            if isinstance(s, int | float)
            else s
            for s in seeds
        )
        _, grads = derivative.run(args, seeds=seeds)
        return grads if isinstance(wrt, tuple) else grads[0]

    pullback.source = derivative.source
    return value, pullback


def zero_seeds(derivative: Derivative, args) -> tuple:
    prepared, types = derivative._prepare(args)
    _, _, result_type = derivative._build(types)
    items = result_type.items if isinstance(result_type, TupleType) else (result_type,)
    seeds = []
    for item in items:
        if isinstance(item, Array):
            seeds.append(None)  # filled below, once the shape is known
        else:
            seeds.append(0.0)
    if None in seeds:
        value = derivative.fun(*prepared)
        values = value if isinstance(value, tuple) else (value,)
        seeds = [
            np.zeros_like(v, dtype=np.result_type(v, 1.0)) if s is None else s
            for s, v in zip(seeds, values, strict=True)
        ]
    return tuple(seeds)


def show(fun) -> None:
    """Print the generated source of a derivative made by sourcead."""
    source = getattr(fun, "source", None)
    if source is None:
        raise TypeError(f"{fun!r} was not made by sourcead (it has no .source)")
    print(source)
