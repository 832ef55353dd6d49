"""The public API: grad, value_and_grad, vjp and show."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import gast
import numpy as np

from ..analysis.types import (
    FLOAT,
    Array,
    Scalar,
    TupleType,
    describe,
    for_compiled_code,
    type_of_value,
)
from ..backends.cpu import progress
from ..backends.cpu.loading import load_module
from ..cache import modules as cache
from ..cache import records as native_cache
from ..cache import references
from ..errors import SourceADError
from ..frontend.source import wrt_names
from ..pipeline import loading
from ..pipeline.program import LoadedFunction, Program
from ..trees.functions import unwrap
from ..trees.module import GeneratedModule
from . import background, compiled_calls
from .arguments import Argnums, Wrt, resolve_wrt, with_keywords


def check_pair_returns(loaded: LoadedFunction, what: str) -> None:
    """For ``has_aux=True``: each return statement of the function returns a pair ``value,
    aux``; SourceADError at the first that does not.

    Args:
        loaded: the loaded function.
        what: the public function asked for, for messages (``"grad"``).
    """
    parsed = loaded.parsed
    need = (
        f"{what} with has_aux=True needs {parsed.name} to return a pair `value, aux` (the "
        "value to differentiate and what is passed through as it is)"
    )
    returns = sorted(
        (n for n in gast.walk(parsed.node) if isinstance(n, gast.Return)),
        key=lambda n: n.lineno,  # the first in the source is the one reported
    )
    if not returns:
        raise parsed.error(f"{need}; it has no return statement", parsed.node)
    for node in returns:
        value = node.value
        if not (
            isinstance(value, gast.Tuple)
            and len(value.elts) == 2
            and not any(isinstance(e, gast.Starred) for e in value.elts)
        ):
            raise parsed.error(f"{need}; write this return as `return value, aux`", node)
    returned = loaded.normalized.body[-1].value
    if not (isinstance(returned, gast.Tuple) and len(returned.elts) == 2):
        raise parsed.error(f"{need}; its returns do not make one pair", parsed.node)


class Derivative:
    """A generated derivative of ``fun``: transformed ahead of time, compiled per argument types."""

    def __init__(self, fun, wrt, compile: bool | str | None, kind: str, has_aux: bool = False):
        self.fun = unwrap(fun)
        self.loaded = loading.load(self.fun)  # parses and checks now: errors come before any call
        self.params = self.loaded.parsed.params
        self.wrt_given = wrt
        self.wrt_names = wrt_names(wrt, self.params, self.loaded.parsed)
        self.compile = background.resolve_compile(compile)
        self.kind = kind
        if not isinstance(has_aux, bool):
            raise TypeError(f"has_aux= takes True or False, not {has_aux!r}")
        self.has_aux = has_aux  # fun returns (value, aux): only value is differentiated
        if has_aux:
            check_pair_returns(self.loaded, kind)
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
        cache_key = cache.derivative_key(
            self.fun, loading.LOADED, arg_types, self.wrt_names, extra="has_aux" * self.has_aux
        )
        generated = []  # made now (not found in the persistent cache)

        def generate():
            generated.append(True)
            return self._generate(arg_types)

        source, module, header = cache.load_or_generate(
            f"{name}_adjoint", cache_key, bool(self.compile), generate, load_in_memory
        )
        progress.describe(header["entry"], "the adjoint", self.loaded.parsed)
        entry = header["entry"]
        python_name = f"sourcead_generated.{name}_python"
        function = background.called(
            self.compile, bool(generated), source, module[entry], entry, python_name
        )
        built = (source, function, cache.decode_type(header["result"]))
        self._cache[key] = built
        if (
            cache_key is not None
            and self.kind == "grad"
            and self.compile  # (in the background: once compiled, ``_record``)
            and not self.has_aux
        ):
            self._unrecorded[key] = cache_key
        return built

    def _generate(self, arg_types: list) -> tuple[str, dict, dict]:
        """The generated module for these argument types: (source, namespace, header), the
        header naming the entry function and the result type."""
        module, header = self.generated_module(arg_types)
        return module.text(), {}, header

    def generated_module(self, arg_types: list) -> tuple[GeneratedModule, dict]:
        """The generated module for these argument types as parts and trees (what
        ``sourcead build`` decorates), and its header (see ``_generate``)."""
        for p, t in zip(self.params, arg_types, strict=True):
            if p in self.wrt_names and not getattr(t, "differentiable", False):
                raise TypeError(
                    f"cannot differentiate {self.loaded.parsed.name} with respect to {p}: "
                    f"it is {describe(t)}, not a float, complex number or float array"
                )
        name = self.loaded.parsed.name
        program = Program(loading.LOADED)
        entry = program.adjoint(
            self.fun,
            list(arg_types),
            self.wrt_names,
            f"{name}_adjoint",
            differentiated_outputs=1 if self.has_aux else None,
        )
        result_type = program.result_types[(self.fun, tuple(arg_types))]
        title = f"Adjoint of {name} with respect to {', '.join(self.wrt_names)}."
        if self.has_aux:
            title += " Of its value only: the aux it returns is passed through."
        return program.module(title), {"entry": entry, "result": cache.encode_type(result_type)}

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
        args = tuple(
            for_compiled_code(a, self.loaded.parsed.name, p, refuse=bool(self.compile))
            for p, a in zip(self.params, args, strict=True)
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
        """(value, gradients) for ``args``; ``seeds`` are the adjoints of the outputs (of the
        value alone with ``has_aux``, when the value is ``(value, aux)``)."""
        args, types = self._prepare(args)
        source, function, result_type = self._build(types)
        self._last_source = source
        if seeds is None:
            value_type = self.value_type(result_type)
            if not (isinstance(value_type, Scalar) and value_type.kind == "float"):
                returned = "returns as its value" if self.has_aux else "returns"
                raise ValueError(
                    f"grad needs a function with a real scalar result; {self.loaded.parsed.name} "
                    f"{returned} {describe(value_type)}. Use sourcead.vjp for non-scalar results."
                )
            seeds = (1.0,)
            value, grads = compiled_calls.call(
                function, (*args, *seeds), self.loaded.parsed, "gradient"
            )
            self._record(args, types)
            if not self.has_aux:
                value = compiled_calls.single_scalar(value, value_type)
            return value, grads
        return compiled_calls.call(function, (*args, *seeds), self.loaded.parsed, "derivative")

    def result_type(self, args):
        """The type of ``fun(*args)`` (the derivative is built for the arguments' types)."""
        _, types = self._prepare(args)
        return self._build(types)[2]

    def value_type(self, result_type):
        """The type of what is differentiated: the result, or with ``has_aux`` its value."""
        if not self.has_aux:
            return result_type
        if not (isinstance(result_type, TupleType) and len(result_type.items) == 2):
            raise ValueError(  # check_pair_returns makes this unreachable
                f"has_aux=True needs {self.loaded.parsed.name} to return a pair value, aux; "
                f"it returns {describe(result_type)}"
            )
        return result_type.items[0]

    def _record(self, args, types) -> None:
        """Record a gradient of the persistent cache after its first call, so that a later
        process loads it without the compiler (and ``sourcead cache native`` compiles it)."""
        built = self._cache.get(tuple(types))
        if built is not None and not getattr(built[1], "ready", True):
            return  # compiling in the background: recorded at a call once it is compiled
        cache_key = self._unrecorded.pop(tuple(types), None)
        if cache_key is not None:
            native_cache.remember(self, args, types, cache_key, loading.LOADED)

    @property
    def __signature__(self):
        return inspect.signature(self.fun)


class GradientFunction(Derivative):
    """What ``grad`` returns: call it like the function to get the gradient.

    It pickles by reference: as ``sourcead.grad`` of the function (found by module and
    qualified name where the pickle is loaded) with the same options.
    """

    def __init__(
        self, fun, wrt, preserve_result: bool, compile: bool | str | None, has_aux: bool = False
    ):
        super().__init__(fun, wrt, compile, "grad", has_aux)
        self.preserve_result = preserve_result

    def __call__(self, *args, **keywords):
        args = with_keywords(self.fun, args, keywords, self.kind)
        value, grads = self.run(args)
        gradient = grads if isinstance(self.wrt_given, tuple) else grads[0]
        if self.has_aux:  # value is (value, aux)
            return (value, gradient) if self.preserve_result else (gradient, value[1])
        return (value, gradient) if self.preserve_result else gradient

    def __reduce__(self):
        options = {
            "wrt": self.wrt_given,
            "has_aux": self.has_aux,
            "preserve_result": self.preserve_result,
            "compile": self.compile,
        }
        return references.reduce(self, "grad", self.fun, options)

    def __repr__(self) -> str:
        return f"<sourcead gradient of {self.loaded.parsed.name} wrt {self.wrt_names}>"


def grad(
    fun: Callable,
    wrt: Wrt | None = None,
    *,
    argnums: Argnums | None = None,
    has_aux: bool = False,
    preserve_result: bool = False,
    compile: bool | str | None = None,
) -> GradientFunction:
    """The gradient as the compiler makes it (``sourcead.grad`` is ``api.entry.grad``, which
    looks for the cache's record of the gradient first, and takes ``grad(grad(f))`` to
    forward over reverse); the arguments are ``sourcead.grad``'s."""
    wrt = resolve_wrt("grad", wrt, argnums)
    fun = native_cache.compiled_derivative(fun)
    return GradientFunction(fun, wrt, preserve_result, compile, has_aux)


def value_and_grad(
    fun: Callable,
    wrt: Wrt | None = None,
    *,
    argnums: Argnums | None = None,
    has_aux: bool = False,
    compile: bool | str | None = None,
) -> GradientFunction:
    """Like ``grad(fun, wrt, preserve_result=True)``: the function returns ``(value, gradient)``."""
    wrt = resolve_wrt("value_and_grad", wrt, argnums)
    return grad(fun, wrt, has_aux=has_aux, preserve_result=True, compile=compile)


class Pullback:
    """The pullback ``vjp`` returns: ``pullback(cotangent)`` is the gradient of
    ``sum(cotangent * value)`` with respect to ``wrt``.

    It pickles as the function (by module and qualified name), the arguments and the
    options; loading the pickle runs ``vjp`` again on those arguments.
    """

    def __init__(self, derivative: Derivative, args: tuple, value, wrt: Wrt):
        self.derivative = derivative
        self.args = args
        self.value = value
        self.wrt = wrt
        self.source = derivative.source

    def __call__(self, cotangent):
        seeds = tuple(_seed(s, v, k) for k, (s, v) in enumerate(self._paired(cotangent), start=1))
        _, grads = self.derivative.run(self.args, seeds=seeds)
        return grads if isinstance(self.wrt, tuple) else grads[0]

    def _paired(self, cotangent) -> list[tuple]:
        """(cotangent, value) pairs, one per item of the value; ValueError for a cotangent
        whose structure is not the value's."""
        if not isinstance(self.value, tuple):
            return [(cotangent, self.value)]
        if not (isinstance(cotangent, tuple | list) and len(cotangent) == len(self.value)):
            raise ValueError(
                f"the pullback of {self.derivative.loaded.parsed.name} takes a tuple of "
                f"{len(self.value)} cotangents, one per item of its value"
            )
        return list(zip(cotangent, self.value, strict=True))

    def __reduce__(self):
        fun = references.user_function(
            self.derivative.fun, f"the pullback of {self.derivative.loaded.parsed.name}"
        )
        return (pullback_of, (fun, self.args, self.wrt, self.derivative.compile))

    def __repr__(self) -> str:
        return f"<sourcead pullback of {self.derivative.loaded.parsed.name} wrt {self.wrt!r}>"


def _seed(cotangent, value, item: int):
    """``cotangent`` as the seed of the value ``value`` (an array of its shape, or a number),
    in floating point; ValueError where it does not fit."""
    shape = np.shape(value)
    if np.shape(cotangent) != shape:
        raise ValueError(
            f"a cotangent of shape {np.shape(cotangent)} for a value of shape {shape} "
            f"(item {item} of the pullback's cotangent): give it the value's shape"
        )
    seed = np.asarray(cotangent)
    if seed.dtype.kind not in "biufc":
        raise ValueError(f"a cotangent of dtype {seed.dtype} (it takes numbers)")
    seed = seed.astype(np.result_type(seed, 1.0), copy=False)
    return seed if np.ndim(value) else seed[()].item()


def pullback_of(fun: Callable, args: tuple, wrt: Wrt, compile: bool) -> Pullback:
    """``vjp(fun, *args, wrt=wrt, compile=compile)``'s pullback: a pickled one made again."""
    return vjp(fun, *args, wrt=wrt, compile=compile)[1]


def vjp(
    fun: Callable,
    *args: object,
    wrt: Wrt | None = None,
    argnums: Argnums | None = None,
    compile: bool | str | None = None,
) -> tuple[object, Pullback]:
    """The value of ``fun(*args)`` and its pullback (vector-Jacobian product).

    Args:
        fun: the function (a plain Python function or a Numba dispatcher).
        *args: the arguments ``fun`` is evaluated at.
        wrt: the argument(s) the pullback gives gradients for: an index or a name, or a
            tuple of them (then the pullback returns a tuple). The first argument when
            neither ``wrt`` nor ``argnums`` is given.
        argnums: JAX's name for ``wrt``; give one of the two.
        compile: ``True``, ``False``, ``"background"`` or ``None`` (the default), as for
            ``grad``.

    Returns:
        ``(value, pullback)``; ``pullback(cotangent)`` returns the gradient of
        ``sum(cotangent * value)`` with respect to ``wrt``. The cotangent has the value's
        structure: a float, an array, or a tuple of them.
    """
    wrt = resolve_wrt("vjp", wrt, argnums)
    derivative = Derivative(fun, wrt, compile, "vjp")
    value, _ = derivative.run(args, seeds=zero_seeds(derivative, args))
    return value, Pullback(derivative, args, value, wrt)


def zero_seeds(derivative: Derivative, args) -> tuple:
    """Zero seeds of the outputs of ``derivative`` at ``args`` (of its value alone, with
    ``has_aux``): a run with them gives the value (and aux) without gradient work."""
    prepared, _ = derivative._prepare(args)
    result_type = derivative.value_type(derivative.result_type(args))
    items = result_type.items if isinstance(result_type, TupleType) else (result_type,)
    seeds = []
    for item in items:
        if isinstance(item, Array):
            seeds.append(None)  # filled below, once the shape is known
        else:
            seeds.append(0.0)
    if None in seeds:
        value = derivative.fun(*prepared)
        value = value[0] if derivative.has_aux else value
        values = value if isinstance(value, tuple) else (value,)
        seeds = [
            np.zeros_like(v, dtype=np.result_type(v, 1.0)) if s is None else s
            for s, v in zip(seeds, values, strict=True)
        ]
    return tuple(seeds)


def show(fun: Callable) -> None:
    """Print the generated source of a derivative made by sourcead."""
    source = getattr(fun, "source", None)
    if source is None:
        raise TypeError(f"{fun!r} was not made by sourcead (it has no .source)")
    print(source)
