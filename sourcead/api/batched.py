"""What ``vmap`` returns: a function or its derivative mapped over a leading batch axis.

The batched function is generated as source like every derivative: a wrapper that calls
the generated (or the user's) function once per batch element, compiled

* ``target="cpu"``: a Numba loop;
* ``target="parallel"``: a ``numba.prange`` loop over the CPU's cores;
* ``target="cuda"``: a CUDA kernel, one thread per element, calling the generated adjoint
  compiled as a device function (tapes in device memory, see ``backends.cuda.device``).

``.source`` shows the generated module with its wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast
import numba
import numpy as np
from sourcead_runtime.batching import batch_size
from sourcead_runtime.cuda_launch import DeviceTapes, is_device_array, run_batched

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
from ..backends.cuda.local_arrays import copied_name, sized_by_parameters
from ..cache import modules as cache
from ..cache import records as native_cache
from ..cache import references
from ..frontend.source import wrt_names
from ..lowering import jvp_calls, solver_calls
from ..pipeline import loading
from ..pipeline.program import Program
from ..trees.codegen import Block, function_tree
from ..trees.functions import unwrap
from ..trees.module import GeneratedModule
from ..trees.names import fresh_underscored as _fresh
from . import background
from . import gradients as api
from .arguments import with_keywords
from .forward import JacobianFunction

TARGETS = ("cpu", "parallel", "cuda")


def _device():
    """The CUDA backend (``backends.cuda.device``), imported when device code is made: it
    reads the whole rule registry, which a CPU vmap served by the persistent cache never
    needs (0.4-0.9 s of a warm process's start)."""
    from ..backends.cuda import device

    return device


#: Steps per segment of the loops that CUDA adjoints reverse by running them again.
DEFAULT_CHECKPOINT_EVERY = 8


@dataclass
class BatchPlan:
    """What the batched module of one list of element types holds, and how to run it."""

    entry: str = ""  # the generated function of one element
    wrapper: str = ""  # the loop (or CUDA kernel) over the batch
    #: ("value", dtype), ("grad", parameter) or ("item", k), one per output array
    outputs: list = field(default_factory=list)
    #: per call of the element function: its seeds, the outputs it stores ("stores":
    #: (output, "value" or "grads", the item stored or None for the whole)) and those it
    #: fills in place ("passed": array gradients on the GPU)
    calls: list = field(default_factory=list)
    result: object = None  # the element function's result type
    tapes: list = field(default_factory=list)  # dtypes of the device tapes (CUDA)
    tape_names: list = field(default_factory=list)
    zeroed: list = field(default_factory=list)  # outputs whose rows the element adds into
    zeroed_ndim: dict = field(default_factory=dict)
    source: str = ""
    module: dict | None = None  # the loaded module
    tape_state: object = None  # the device tapes' columns (CUDA, ``DeviceTapes``)


class BatchedFunction:
    """What ``vmap`` returns (see ``vmap``).

    It pickles by reference: as ``sourcead.vmap`` of the function or derivative it maps
    (which pickles by reference in turn) with the same options.
    """

    def __init__(
        self,
        fun,
        in_axes,
        target: str,
        tape_memory: int | None,
        checkpoint_every: int | None = DEFAULT_CHECKPOINT_EVERY,
        compile: bool | str | None = None,
    ):
        self._check_options(target, checkpoint_every)
        self.compile_given = compile  # None: the mapped derivative's (the default for a function)
        self.target = target
        self.tape_memory = tape_memory
        self.checkpoint_every = checkpoint_every
        fun = native_cache.compiled_derivative(fun)
        self.derivative = fun
        if getattr(fun, "has_aux", False) is True:  # its generated code seeds every output
            raise ValueError(
                "vmap of a derivative with has_aux=True is not supported; map the derivative "
                "of a function returning the value alone, or map the function itself"
            )
        if isinstance(fun, api.GradientFunction):
            self.kind = "grad"
            self.fun = fun.fun
            self.compile = fun.compile
            self.wrt_names = fun.wrt_names
            self.wrt_tuple = isinstance(fun.wrt_given, tuple)
        elif isinstance(fun, JacobianFunction):
            # each element's Jacobian by reverse mode: one adjoint sweep per output
            self.kind = "jacobian"
            self.fun = fun.fun
            self.compile = fun.compile
            self.wrt_names = wrt_names(fun.wrt, fun.loaded.parsed.params, fun.loaded.parsed)
            self.wrt_tuple = isinstance(fun.wrt, tuple)
        elif hasattr(fun, "source") or hasattr(fun, "fun"):
            raise TypeError(
                f"vmap does not support {type(fun).__name__} yet; map grad, "
                "value_and_grad, jacobian or a plain function"
            )
        else:
            self.kind = "function"
            self.fun = unwrap(fun)
            self.compile = background.resolve_compile(None)
        if compile is not None:
            self.compile = background.resolve_compile(compile)
        self.loaded = loading.load(self.fun)  # parsed and checked now: errors before any call
        self.name = self.loaded.parsed.name
        solver_calls.refuse_in_batches(
            self.loaded, f"vmap of {self.name}", target, plain=self.kind == "function"
        )
        self.params = self.loaded.parsed.params
        self.in_axes = normalized_in_axes(in_axes, len(self.params))
        # a plain function that writes into its array arguments gets copies: vmap, like
        # grad, leaves its inputs as they were (the generated derivatives copy them)
        self.written = (
            [
                self.params.index(p)
                for p in sorted(self.loaded.written_params - _copied_first(self.loaded.parsed))
            ]
            if self.kind == "function"
            else []
        )
        for k in self.written:
            if self.in_axes[k] is None:  # one array for all elements: they would race
                raise self.loaded.parsed.error(
                    f"vmap of {self.name}: it writes into {self.params[k]}, which every batch "
                    "element shares (in_axes None), so the elements would see each other's "
                    f"writes; batch {self.params[k]} (in_axes 0) or write into a copy made in "
                    "the function",
                    _first_write(self.loaded.normalized, self.params[k]),
                )
        # on the GPU, np.zeros_like(x) is a local array of x's shape, and so is the copy a
        # derivative makes of an argument the function writes into: compiled per shape
        self.by_shape = self.target == "cuda" and (
            sized_by_parameters(self.loaded.normalized)
            or (self.kind != "function" and bool(self.loaded.written_params))
        )
        self._built: dict = {}
        self._last_source: str | None = None

    @staticmethod
    def _check_options(target: str, checkpoint_every) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
        if checkpoint_every is not None and (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1
        ):
            raise ValueError(
                f"checkpoint_every must be a positive int or None, not {checkpoint_every!r}"
            )

    def __repr__(self) -> str:
        what = {"grad": "gradient of ", "jacobian": "Jacobian of "}.get(self.kind, "")
        return f"<sourcead vmap ({self.target}) of {what}{self.name}>"

    def __reduce__(self):
        options = {
            "in_axes": self.in_axes,
            "target": self.target,
            "tape_memory": self.tape_memory,
            "checkpoint_every": self.checkpoint_every,
        }
        if self.compile_given is not None:
            options["compile"] = self.compile_given
        return references.reduce(self, "vmap", self.derivative, options)

    # --- source -----------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The generated module: for the last call's element types, or assumed ones before."""
        if self._last_source is None and self.by_shape:
            raise ValueError(
                f"the device code of {self.name} depends on its arguments' shapes (a local "
                "array takes one's shape): call it first, then read .source"
            )
        if self._last_source is None:
            self._last_source = self._generate(self._assumed_types())[0].text()
        return self._last_source

    def _assumed_types(self) -> list:
        indexed = {}
        for node in gast.walk(self.loaded.normalized):
            if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name):
                count = len(node.slice.elts) if isinstance(node.slice, gast.Tuple) else 1
                indexed[node.value.id] = count
        return [Array("float64", indexed[p]) if p in indexed else FLOAT for p in self.params]

    # --- generation ---------------------------------------------------------------------------
    def _generate(
        self, types: list, shapes: tuple | None = None
    ) -> tuple[GeneratedModule, dict, BatchPlan]:
        """(module, namespace, plan) of the batched module for element argument types (and
        the elements' array shapes, for device code whose local arrays they size).

        The plan lists the outputs (``("value", dtype)``, ``("grad", parameter)`` or
        ``("item", k)``) and the calls the wrapper makes per element: their seeds, which
        outputs they store and which (array gradients on the GPU) they fill in place.
        """
        device = self.target == "cuda"
        sizes = {p: s for p, s in zip(self.params, shapes or (), strict=False) if s is not None}
        program = Program(loading.LOADED)
        plan = BatchPlan()
        if self.kind in ("grad", "jacobian"):
            wrt = self.wrt_names
            for p, t in zip(self.params, types, strict=True):
                if p in wrt and not getattr(t, "differentiable", False):
                    raise TypeError(
                        f"cannot differentiate {self.name} with respect to {p}: it is "
                        f"{describe(t)}, not a float, complex number or float array"
                    )
            # the CPU and the parallel CPU generate the same adjoint: only the loop over the
            # batch differs
            target = _device().DeviceTarget(segment_steps=self.checkpoint_every) if device else None
            entry = program.adjoint(
                self.fun, list(types), wrt, f"{self.name}_adjoint", target=target, mode="batched"
            )
            result = program.result_types[(self.fun, tuple(types))]
            items = result.items if isinstance(result, TupleType) else (result,)
            scalar_items = all(isinstance(t, Scalar) and t.kind == "float" for t in items)
            if self.kind == "grad" and not (isinstance(result, Scalar) and scalar_items):
                raise ValueError(
                    f"grad needs a function with a real scalar result; {self.name} returns "
                    f"{describe(result)}"
                )
            if not scalar_items:
                raise ValueError(
                    "vmap of a jacobian needs a function returning a float or a tuple of "
                    f"floats; {self.name} returns {describe(result)}"
                )
            passed: set = set()
            if device:
                function = target.function
                _device().check_device_types(
                    function.types,
                    self.loaded.normalized,
                    self.loaded.parsed,
                    self.name,
                    sizes,
                )
                passed = set(function.passed_adjoints)
                plan.tapes = [dtype for _, dtype in function.tapes]
                plan.tape_names = [tape for tape, _ in function.tapes]
            preserve = self.kind == "grad" and self.derivative.preserve_result
            outputs: list = [("value", "float64")] if preserve else []
            calls = []
            for k in range(len(items) if self.kind == "jacobian" else 1):
                first = len(outputs)
                outputs += [("grad", p) for p in wrt]
                seeds = ["1.0" if j == k else "0.0" for j in range(len(items))]
                stores = [(0, "value", None)] if preserve else []
                stores += [(first + j, "grads", j) for j, p in enumerate(wrt) if p not in passed]
                in_place = [first + j for j, p in enumerate(wrt) if p in passed]
                calls.append({"seeds": seeds, "stores": stores, "passed": in_place})
            what = "Jacobian" if self.kind == "jacobian" else "Adjoint"
            title = f"{what} of {self.name} with respect to {', '.join(wrt)}, batched."
        else:
            inferred = program.infer(self.loaded, list(types))
            result = program.result_types[(self.fun, tuple(types))]
            if device:
                _device().check_device_types(
                    inferred, self.loaded.normalized, self.loaded.parsed, self.name, sizes
                )
            # a function calling jvp runs with those calls rewritten (sourcead.jvp_calls)
            program.primals.append(jvp_calls.rewritten_primal(program, self.loaded, inferred))
            program.used_names.add(self.name)
            program._add_primal(self.loaded)
            entry = self.name
            items = result.items if isinstance(result, TupleType) else (result,)
            if device and any(isinstance(t, Array | TupleType) for t in items):
                raise self.loaded.parsed.error(
                    f"target='cuda': {self.name} returns an array, which a device function "
                    "cannot allocate; return scalars, or use target='parallel'"
                )
            outputs = [("item", k) for k in range(len(items))]
            stores = (
                [(k, "value", k) for k in range(len(items))]
                if isinstance(result, TupleType)
                else [(0, "value", None)]
            )
            calls = [{"seeds": None, "stores": stores, "passed": []}]
            title = f"{self.name}, batched."
        module = program.module(title)
        if device:
            shaped = {
                p: (sizes[p], types[self.params.index(p)].dtype)
                for p in sizes
                if isinstance(types[self.params.index(p)], Array)
            }
            _device().device_module(module, self.loaded.parsed, self.name, {entry: shaped})
            _device().with_cuda_import(module)
        plan.entry, plan.outputs, plan.calls, plan.result = entry, outputs, calls, result
        plan.zeroed = sorted({o for call in calls for o in call["passed"]})
        plan.zeroed_ndim = {o: types[self.params.index(outputs[o][1])].ndim for o in plan.zeroed}
        wrapper = self._wrapper(plan)
        plan.wrapper = wrapper.name
        module.definitions.append(wrapper)
        return module, {}, plan

    def _wrapper(self, plan: BatchPlan) -> gast.FunctionDef:
        """The batched wrapper: the element function called per batch element."""
        entry = plan.entry
        taken = set(self.params) | {entry}
        index = _fresh("i", taken)
        outs = [_fresh(f"out_{k}", taken) for k in range(len(plan.outputs))]
        tapes = [_fresh(t, taken) for t in plan.tape_names]
        need = _fresh("tape_need", taken) if tapes else None
        value = _fresh("value", taken)
        grads = _fresh("grads", taken)
        args = [
            f"{p}[{index}]" if axis == 0 else p
            for p, axis in zip(self.params, self.in_axes, strict=True)
        ]
        body = []
        depth = max(plan.zeroed_ndim.values(), default=0)
        counters = [_fresh(f"q{d}", taken) for d in range(depth)]
        for o in plan.zeroed:  # the device function adds into these rows
            body += _zero_row(outs[o], index, counters[: plan.zeroed_ndim[o]])
        for call in plan.calls:
            call_args = list(args)
            call_args += [f"{outs[o]}[{index}]" for o in call["passed"]]
            call_args += [f"{t}[:, {index}]" for t in tapes]
            call_args += [need] if need else []
            if call["seeds"] is None:
                body.append(f"{value} = {entry}({', '.join(call_args)})")
            else:
                call_args += call["seeds"]
                body.append(f"{value}, {grads} = {entry}({', '.join(call_args)})")
            for o, what, item in call["stores"]:
                stored = {"value": value, "grads": grads}[what]
                stored = stored if item is None else f"{stored}[{item}]"
                body.append(f"{outs[o]}[{index}] = {stored}")
        name = _fresh(f"{entry}_batched", taken)
        params = ", ".join(self.params + outs + tapes + ([need] if need else []))
        what = {"grad": "the adjoint", "jacobian": "the adjoint once per output"}.get(
            self.kind, self.name
        )
        doc = (
            f'"""Runs {what} for each batch element {index}; {", ".join(outs)}[{index}] receive '
            f'its outputs."""'
        )
        if self.target == "cuda":
            head = [f"{index} = cuda.grid(1)", Block(f"if {index} < {outs[0]}.shape[0]:", body)]
        else:
            loop = "numba.prange" if self.target == "parallel" else "range"
            head = [Block(f"for {index} in {loop}({outs[0]}.shape[0]):", body)]
        return function_tree(f"def {name}({params}):", [doc, *head])

    def _build(self, types: list, shapes: tuple | None = None) -> dict:
        key = (tuple(types), shapes)
        if key in self._built:
            return self._built[key]
        loading.load(self.fun)  # globals and helpers as they are at this signature's first call
        module_name = f"sourcead_generated.{self.name}_batched"
        if self.target == "cuda":  # device modules are loaded their own way: not kept on disk
            generated, namespace, plan = self._generate(types, shapes)
            source = generated.text()
            module = _device().load_device_module(source, module_name, {plan.wrapper})
            plan.tape_state = DeviceTapes(plan.tapes)
            progress.describe(plan.wrapper, f"the batched {self.kind}", self.loaded.parsed)
        else:
            source, module, plan, made_now = self._load_or_generate(types, module_name)
            if self.target == "parallel" and self.compile:
                module[plan.wrapper] = cache.recompiled(module[plan.wrapper], parallel=True)
            progress.describe(plan.wrapper, f"the batched {self.kind}", self.loaded.parsed)
            function = background.called(
                self.compile,
                made_now,
                source,
                module[plan.wrapper],
                plan.wrapper,
                f"{module_name}_python",
            )
            if isinstance(function, background.BackgroundCompiled):
                # a copy of the namespace: the compiled wrapper reads the module's own
                entry = function.beside(plan.entry, module[plan.entry])
                module = {**module, plan.wrapper: function, plan.entry: entry}
        plan.source, plan.module = source, module
        self._built[key] = plan
        return plan

    def _load_or_generate(self, types: list, module_name: str) -> tuple[str, dict, BatchPlan, bool]:
        """(source, module namespace, plan, made now) of the batched CPU module for these
        element types, from the persistent cache when there (with Numba's machine code), else
        generated (made now) and stored. The key covers the sources of the function and its
        callees, the element types, ``wrt``, what is mapped (``kind``), ``in_axes``, the target
        and ``preserve_result``: all the generated code depends on."""
        wrt = self.wrt_names if self.kind in ("grad", "jacobian") else []
        preserve = self.kind == "grad" and self.derivative.preserve_result
        extra = (
            f"batched kind={self.kind} target={self.target} in_axes={self.in_axes} "
            f"preserve_result={preserve}"
        )
        cache_key = cache.derivative_key(self.fun, loading.LOADED, types, wrt, extra=extra)
        made_now = []

        def generate():
            made_now.append(True)
            generated, namespace, plan = self._generate(types)
            return generated.text(), namespace, {"entry": plan.wrapper, "plan": _encoded(plan)}

        def load_in_memory(source, namespace):
            return load_module(source, namespace, module_name, self.compile)

        source, module, header = cache.load_or_generate(
            f"{self.name}_batched", cache_key, bool(self.compile), generate, load_in_memory
        )
        return source, module, _decoded(header["plan"]), bool(made_now)

    # --- calling ---------------------------------------------------------------------------------
    def __call__(self, *args, **keywords):
        args = self._complete(with_keywords(self.fun, args, keywords, "vmap"))
        args = tuple(
            for_compiled_code(a, self.name, p, refuse=bool(self.compile))
            for p, a in zip(self.params, args, strict=True)
        )
        on_device = any(is_device_array(a) for a in args)
        if on_device and self.target != "cuda":
            raise TypeError(
                f"device arrays need target='cuda' (this vmap of {self.name} targets "
                f"{self.target!r}); copy them to the host first"
            )
        args = tuple(
            np.asarray(a)
            if isinstance(a, list | tuple) and axis == 0
            else (float(a) if isinstance(a, np.floating) and a.dtype == np.float64 else a)
            for a, axis in zip(args, self.in_axes, strict=True)
        )
        if self.target != "cuda":  # (on the GPU, copies are made on the device)
            args = tuple(
                np.array(a, copy=True) if k in self.written and isinstance(a, np.ndarray) else a
                for k, a in enumerate(args)
            )
        batch = self._batch_size(args)
        types = self._element_types(args)
        plan = self._build(types, self._element_shapes(args, types))
        self._last_source = plan.source
        shapes = self._output_shapes(plan, args, types)
        if self.target == "cuda":
            results = self._run_cuda(plan, args, shapes)
        else:
            results = [np.empty((batch, *shape), dtype=dtype) for shape, dtype in shapes]
            if batch:
                plan.module[plan.wrapper](*args, *results)
        return self._structure(plan, results)

    def _complete(self, args) -> tuple:
        n = len(self.params)
        if len(args) < n:
            defaults = self.fun.__defaults__ or ()
            missing = n - len(args)
            if missing > len(defaults):
                raise TypeError(f"{self.name}() takes {n} arguments, got {len(args)}")
            args = tuple(args) + tuple(defaults[len(defaults) - missing :])
        if len(args) > n:
            raise TypeError(f"{self.name}() takes {n} arguments, got {len(args)}")
        return tuple(args)

    def _batch_size(self, args) -> int:
        batched = {
            p: a for p, a, axis in zip(self.params, args, self.in_axes, strict=True) if axis == 0
        }
        return batch_size(f"vmap of {self.name}", batched)

    def _element_types(self, args) -> list:
        return [
            element_type(self.name, p, a, axis)
            for p, a, axis in zip(self.params, args, self.in_axes, strict=True)
        ]

    def _element_shapes(self, args, types) -> tuple | None:
        """The shape of each array argument's batch element, where the device code depends
        on it (``by_shape``); None otherwise."""
        if not self.by_shape:
            return None
        return tuple(
            (tuple(np.shape(a)[1:]) if axis == 0 else tuple(np.shape(a)))
            if isinstance(t, Array)
            else None
            for a, t, axis in zip(args, types, self.in_axes, strict=True)
        )

    def _output_shapes(self, plan: BatchPlan, args, types) -> list[tuple[tuple, np.dtype]]:
        """Shape (without the batch axis) and dtype of each output of one element."""
        result = plan.result
        items = result.items if isinstance(result, TupleType) else (result,)
        if self.kind == "function" and not all(isinstance(t, Scalar) for t in items):
            # arrays (CPU only): their shapes from the first element
            first = tuple(
                a[0] if axis == 0 else a for a, axis in zip(args, self.in_axes, strict=True)
            )
            value = plan.module[plan.entry](*first)
            values = value if isinstance(result, TupleType) else (value,)
            return [(np.shape(v), np.asarray(v).dtype) for v in values]
        shapes = []
        for kind, info in plan.outputs:
            if kind == "value":
                shapes.append(((), np.dtype(info)))
            elif kind == "item":
                shapes.append(((), np.dtype(items[info].dtype)))
            else:
                k = self.params.index(info)
                t, a = types[k], args[k]
                if isinstance(t, Array):
                    shape = tuple(a.shape[1:]) if self.in_axes[k] == 0 else tuple(a.shape)
                    shapes.append((shape, np.dtype(t.dtype)))
                else:
                    shapes.append(((), np.dtype(t.dtype)))
        return shapes

    def _structure(self, plan: BatchPlan, results: list):
        result = plan.result
        if self.kind == "function":
            return tuple(results) if isinstance(result, TupleType) else results[0]
        lead = 1 if self.kind == "grad" and self.derivative.preserve_result else 0
        m = len(self.wrt_names)
        blocks = []
        for k in range(lead, len(results), m):
            block = tuple(results[k : k + m])
            blocks.append(block if self.wrt_tuple else block[0])
        if self.kind == "grad":
            return (results[0], blocks[0]) if lead else blocks[0]
        return tuple(blocks) if isinstance(result, TupleType) else blocks[0]

    # --- the GPU --------------------------------------------------------------------------------
    def ptx(self, *args, cc: tuple = (9, 0)) -> str:
        """PTX of the CUDA kernel for these arguments (``target="cuda"`` only).

        Compiles for compute capability ``cc`` without needing a GPU (NVVM is needed:
        ``pip install -e ".[cuda]"``); catches code that the simulator runs but
        the real compiler rejects.
        """
        if self.target != "cuda":
            raise ValueError("ptx() is for target='cuda'")
        args = self._complete(args)
        batch = self._batch_size(args)
        types = self._element_types(args)
        plan = self._build(types, self._element_shapes(args, types))
        shapes = self._output_shapes(plan, args, types)
        signature = [numba.typeof(np.asarray(a) if isinstance(a, np.ndarray) else a) for a in args]
        signature += [numba.typeof(np.empty((batch, *s), dtype=d)) for s, d in shapes]
        signature += [numba.typeof(np.empty((1, batch), dtype=d)) for d in plan.tapes]
        if plan.tapes:
            signature.append(numba.typeof(np.zeros(1, dtype=np.int64)))
        return _device().compile_ptx(plan.module[plan.wrapper], tuple(signature), cc)

    def _run_cuda(self, plan: BatchPlan, args, shapes) -> list:
        kernel = plan.module[plan.wrapper]
        where = f"vmap of {self.name} on the GPU"
        tapes = plan.tape_state
        return run_batched(
            kernel, args, self.in_axes, shapes, tapes, self.tape_memory, where, self.written
        )


def _encoded(plan: BatchPlan) -> dict:
    """The JSON-able description of a CPU plan that a cache entry's header carries."""
    return {
        "entry": plan.entry,
        "wrapper": plan.wrapper,
        "outputs": [list(output) for output in plan.outputs],
        "calls": [
            {**call, "stores": [list(store) for store in call["stores"]]} for call in plan.calls
        ],
        "result": cache.encode_type(plan.result),
        "zeroed": plan.zeroed,
        "zeroed_ndim": sorted(plan.zeroed_ndim.items()),
    }


def _decoded(data: dict) -> BatchPlan:
    """The plan ``_encoded`` described."""
    return BatchPlan(
        entry=data["entry"],
        wrapper=data["wrapper"],
        outputs=[tuple(output) for output in data["outputs"]],
        calls=[
            {**call, "stores": [tuple(store) for store in call["stores"]]} for call in data["calls"]
        ],
        result=cache.decode_type(data["result"]),
        zeroed=list(data["zeroed"]),
        zeroed_ndim={output: ndim for output, ndim in data["zeroed_ndim"]},
    )


def _copied_first(parsed) -> set[str]:
    """Parameters that the function's first statements replace by copies (``x = x.copy()``,
    as generated tangent code does): its writes go into the copies."""
    copied = set()
    for stmt in parsed.node.body:
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
        if not isinstance(target, gast.Name) or copied_name(stmt.value) != target.id:
            break
        copied.add(target.id)
    return copied


def _zero_row(array: str, index: str, counters: list[str]) -> list:
    """Lines that set ``array[index]`` to zero, looping over its axes with ``counters``."""
    line = f"{array}[{', '.join([index, *counters])}] = 0"
    for d, q in reversed(list(enumerate(counters))):
        line = Block(f"for {q} in range({array}.shape[{d + 1}]):", [line])
    return [line]


def element_type(name: str, param: str, value, axis):
    """The type of one batch element of the argument ``param`` of ``name``."""
    if axis is None:
        if is_device_array(value):
            return _array_type(value.dtype, value.ndim)
        t = type_of_value(value)
    else:
        t = _array_type(value.dtype, value.ndim - 1)
    if t is None:
        raise TypeError(f"argument {param} of {name}: unsupported type {type(value).__name__}")
    return t


def _array_type(dtype, ndim: int):
    dtype = np.dtype(dtype)
    if ndim == 0:
        return type_of_value(dtype.type(0))
    if dtype.kind not in "biufc":
        return None
    return Array(dtype.name, ndim)


def normalized_in_axes(in_axes, count: int) -> tuple:
    axes = in_axes if isinstance(in_axes, tuple | list) else (in_axes,) * count
    if len(axes) != count:
        raise ValueError(f"in_axes has {len(axes)} entries for {count} arguments")
    for axis in axes:
        if axis not in (0, None) or isinstance(axis, bool):
            raise ValueError(
                f"in_axes entries must be 0 (batched along the first axis) or None, not {axis!r}"
            )
    return tuple(axes)


def _first_write(node, array: str):
    """The first statement writing an element of ``array`` (for the error's line)."""
    for n in gast.walk(node):
        if (
            isinstance(n, gast.Subscript)
            and isinstance(n.ctx, gast.Store)
            and isinstance(n.value, gast.Name)
            and n.value.id == array
        ):
            return n
    return node
