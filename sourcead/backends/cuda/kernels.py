"""Adjoints of numba.cuda kernels: ``kernel_vjp(kernel, wrt)`` (rules in docs/gpu.md).

A kernel is a function in numba.cuda style: each thread finds its element with
``cuda.grid(n)`` (or ``cuda.threadIdx``/``blockIdx``/``blockDim``/``gridDim``), reads
input arrays, runs its own loops and branches, and writes output arrays. Its adjoint
kernel is launched with the same grid; each thread re-runs its forward computation (with
tapes in device memory where loops overwrite values, as ``sourcead.device`` describes)
and then its backward sweep, adding into one shadow array per differentiated array:

* for an array the kernel writes (an output), the shadow holds the incoming cotangent;
  the adjoint consumes it (sets the elements the thread wrote to zero);
* for an array the kernel reads (an input), the shadow accumulates the gradient, with
  ``cuda.atomic.add`` unless every read of the array pins the same index positions to all
  of ``cuda.grid``'s components (names bound straight from it), when no two threads can
  add to one element; an element at a constant index (a scalar parameter passed as a
  one-element array) is summed per thread and added once. An input read only at fixed
  offsets from the thread (a stencil) has its gradient gathered by the threads that own
  its elements instead, without atomics (``kernel_gather.py``).

How it is built: the intrinsics are replaced by integer parameters of the per-thread
function (``cuda.grid(2)`` becomes ``grid_0, grid_1``), bare ``return`` returns the
written arrays, and the reverse-mode generator makes the per-thread adjoint as a device
function; a generated kernel computes the intrinsics and calls it.
"""

from __future__ import annotations

import types as pytypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import gast
import numba
import numpy as np
from sourcead_runtime.cuda_launch import KernelAdjointLaunch, check_shadows

from ...analysis.types import INT, Array, describe, type_of_value
from ...frontend.normalize import normalize
from ...frontend.source import load_function, wrt_names
from ...frontend.subset import check_subset
from ...pipeline import loading
from ...pipeline.program import LoadedFunction, Program
from ...trees.codegen import function_tree, src
from ...trees.functions import unwrap
from ...trees.module import GeneratedModule
from ...trees.names import fresh_underscored as _fresh
from ...trees.queries import walk_statements
from .device import (
    DeviceTapes,
    DeviceTarget,
    check_device_types,
    compile_ptx,
    constant_index,
    device_module,
    index_text,
    is_device_array,
    load_device_module,
    with_cuda_import,
)
from .kernel_gather import (
    consume_kernel,
    cotangent_sum,
    cotangent_sum_types,
    gather_kernel,
    stencil_arrays,
)

_INDEX_OBJECTS = ("threadIdx", "blockIdx", "blockDim", "gridDim")
_REFUSED = {
    "shared": "shared memory (cuda.shared.array) is not supported in differentiated kernels",
    "syncthreads": "cuda.syncthreads: threads of a differentiated kernel must not cooperate",
    "atomic": "atomic updates in a kernel are not differentiable: write each output element "
    "from one thread",
}


def kernel_vjp(
    kernel: Callable,
    wrt: str | Sequence[str],
    *,
    tape_memory: int | None = None,
    consume: bool = True,
) -> KernelAdjoint:
    """The adjoint kernel of a numba.cuda-style kernel.

    Args:
        kernel: a plain Python function written as a numba.cuda kernel, or a
            ``@cuda.jit`` kernel (its Python function is used).
        wrt: the array arguments to differentiate (names or indices, a tuple): arrays the
            kernel writes (outputs) and arrays it reads (inputs).
        tape_memory: the most bytes the per-thread tapes of one launch may take.
        consume: whether the adjoint sets the output shadows' elements the kernel wrote
            to zero (what composing adjoints of launches that overwrite arrays needs).
            ``False`` leaves them as they came, as JAX's ``vjp`` does its cotangents:
            for a stencil kernel that saves a second launch; otherwise the shadows are
            copied and restored around the launch.

    Returns:
        A ``KernelAdjoint``; launch it like the kernel, with the kernel's arguments
        followed by one shadow array per ``wrt`` entry, in order:
        ``adjoint[blocks, threads](*args, *shadows)``. Output shadows hold the cotangent
        (consumed unless ``consume=False``), input shadows accumulate the gradient.

    Raises SourceADError, at the kernel's line, for a kernel outside the rules.
    """
    return KernelAdjoint(kernel, wrt, tape_memory, consume)


class LoadedKernel(LoadedFunction):
    """A kernel parsed, with its intrinsics turned into parameters, checked and normalised."""

    def __init__(self, kernel, wrt):
        self.parsed = load_function(kernel)
        self.intrinsics = _replace_intrinsics(self.parsed)
        fn = self.parsed
        arrays_written, arrays_read = array_accesses(fn.node, set(fn.params))
        self.wrt = wrt_names(wrt if isinstance(wrt, tuple) else (wrt,), fn.params, fn)
        for p in arrays_written & arrays_read:
            raise fn.error(
                f"the kernel reads and writes the array {p}; another thread may write the "
                "element this thread reads, which a kernel adjoint cannot order: read inputs "
                "and write outputs in separate arrays",
                first_access(fn.node, p),
            )
        self.outputs = [p for p in self.wrt if p in arrays_written]
        self.inputs = [p for p in self.wrt if p not in arrays_written]
        if not self.outputs:
            raise fn.error(
                f"wrt ({', '.join(self.wrt)}) names no array that {fn.name} writes; "
                "name its output array(s) too"
            )
        _returns_outputs(fn, self.outputs)
        for name, _ in self.intrinsics:
            fn.node.args.args.append(gast.Name(name, gast.Param(), None, None))
        check_subset(fn)
        self.normalized = _return_arrays_directly(normalize(fn), set(self.outputs))
        self.callees = [
            n.callee.target
            for n in gast.walk(fn.node)
            if isinstance(n, gast.Call)
            and getattr(n, "callee", None) is not None
            and n.callee.kind == "user"
        ]
        self.written_params = set()
        self.callee_modules = []


class KernelTarget(DeviceTarget):
    """The per-thread adjoint of a kernel: primal arrays never written, shadows in global
    memory, atomic adds where another thread may add to the same element.

    Args:
        grid_names: the parameters that replaced ``cuda.grid``'s components.
    """

    writes_parameters = False  # the adjoint kernel leaves the primal arrays alone

    def __init__(self, grid_names=()):
        super().__init__()
        self.grid_names = set(grid_names)
        self.atomic_arrays: set[str] = set()  # shadows another thread may add to

    def prepare(self, generator) -> None:
        super().prepare(generator)
        own = _thread_own_names(generator.body, self.grid_names)
        # an array's adds are plain when every read of it pins the same index positions to
        # all of cuda.grid's components: then each thread has elements of its own
        patterns: dict[str, set] = {}
        for node in gast.walk(gast.Module(body=generator.body, type_ignores=[])):
            if (
                isinstance(node, gast.Subscript)
                and isinstance(node.ctx, gast.Load)
                and isinstance(node.value, gast.Name)
                and node.value.id in generator.params
            ):
                patterns.setdefault(node.value.id, set()).add(_own_positions(node.slice, own))
        self.atomic_arrays = {
            array for array, found in patterns.items() if None in found or len(found) > 1
        }

    def sums_locally(self, generator, array: str) -> bool:
        # an element every thread adds to (a scalar parameter): each thread sums its part
        # and adds it once at the end, not once per loop iteration
        return array in self.atomic_arrays

    def add_part(self, adjoint: str, index: str, local: str) -> str:
        return f"cuda.atomic.add({adjoint}, {index}, {local})"

    def accumulate(self, generator, key, contribution) -> str | None:
        if key[0] == "elem" and key[1] in self.atomic_arrays and not constant_index(key[2]):
            _, array, index = key
            adjoint = generator.adj(array)
            return f"cuda.atomic.add({adjoint}, {index_text(index)}, {src(contribution)})"
        return super().accumulate(generator, key, contribution)


@dataclass
class KernelPlan:
    """What the adjoint module of a kernel for one list of argument types holds."""

    entry: str  # the generated adjoint of one thread
    wrapper: str = ""  # the adjoint kernel
    consume: str | None = None  # with gathered stencils: the kernel consuming the cotangents
    tapes: list = field(default_factory=list)  # dtypes of the device tapes
    atomic: list = field(default_factory=list)  # shadows added into with atomic adds
    gathered: list = field(default_factory=list)  # shadows of stencil reads, gathered
    source: str = ""
    module: dict | None = None  # the loaded module
    launcher: object = None  # its ``KernelAdjointLaunch``


class KernelAdjoint:
    """What ``kernel_vjp`` returns: launch with ``adjoint[blocks, threads](*args, *shadows)``."""

    def __init__(self, kernel, wrt, tape_memory: int | None = None, consume: bool = True):
        self.kernel = unwrap(kernel)
        self.loaded = LoadedKernel(self.kernel, wrt)
        self.name = self.loaded.parsed.name
        self.params = [p for p in self.loaded.parsed.params][: -len(self.loaded.intrinsics) or None]
        self.wrt = self.loaded.wrt
        self.tape_memory = tape_memory
        self.consume = consume
        self._built: dict = {}
        self._last_source: str | None = None

    def __repr__(self) -> str:
        return f"<sourcead adjoint kernel of {self.name} wrt {self.wrt}>"

    @property
    def source(self) -> str:
        """The generated module of the last launch (or for float arrays before one)."""
        if self._last_source is None:
            assumed = [Array("float64", ndim_used(self.loaded.parsed.node, p)) for p in self.params]
            self._last_source = self._generate(assumed)[0].text()
        return self._last_source

    def _check_differentiable(self, param: str, t) -> None:
        """Rule 5 of docs/gpu.md: ``wrt`` names float arrays; refused at the kernel's line."""
        if not (isinstance(t, Array) and t.differentiable):
            raise self.loaded.parsed.error(
                f"kernel_vjp of {self.name}: {param} is {describe(t)}; wrt names float "
                "arrays only (pass a scalar parameter as a one-element array)",
                self.loaded.parsed.node,
            )

    # --- generation -----------------------------------------------------------------------
    def _generate(self, types: list) -> tuple[GeneratedModule, KernelPlan]:
        """The adjoint's generated module for these argument types, and how to launch it."""
        for p, t in zip(self.params, types, strict=True):
            if p in self.wrt:
                self._check_differentiable(p, t)
        loaded_functions = dict(loading.LOADED)
        loaded_functions[self.kernel] = self.loaded
        self.loaded.load_callees(loaded_functions, (self.kernel,))
        gathered = self._generate_gathered(types, loaded_functions)
        if gathered is not None:
            return gathered
        program = Program(loaded_functions)
        all_types = list(types) + [INT] * len(self.loaded.intrinsics)
        grid = [n for n, text in self.loaded.intrinsics if text.startswith("cuda.grid(")]
        target = KernelTarget(grid_names=grid)
        entry = program.adjoint(
            self.kernel,
            all_types,
            self.loaded.inputs,
            f"{self.name}_adjoint",
            target=target,
            mode="kernel",
        )
        function = target.function
        check_device_types(
            function.types, self.loaded.normalized, self.loaded.parsed, f"the kernel {self.name}"
        )
        module = program.module(
            f"Adjoint kernel of {self.name} with respect to {', '.join(self.wrt)}."
        )
        device_module(module, self.loaded.parsed, f"the kernel {self.name}")
        with_cuda_import(module)
        plan = KernelPlan(entry, tapes=[dtype for _, dtype in function.tapes])
        plan.atomic = sorted(target.atomic_arrays)
        wrapper = self._wrapper(entry, [tape for tape, _ in function.tapes])
        plan.wrapper = wrapper.name
        module.definitions.append(wrapper)
        return module, plan

    def _generate_gathered(self, types: list, loaded_functions: dict):
        """The adjoint with stencil reads gathered (kernel_gather.py), or None when no
        input is read at fixed offsets only, or the adjoint would need tapes."""
        grid = [n for n, text in self.loaded.intrinsics if text.startswith("cuda.grid(")]
        if not grid or len(grid) != len(self.loaded.intrinsics):
            return None  # a neighbour's adjoint is evaluated by moving its grid position only
        if _writes_local_arrays(self.loaded.normalized, set(self.params)):
            return None  # the cotangent sum keeps only the writes of outputs
        if any(
            np.dtype(t.dtype).kind != "f"
            for p, t in zip(self.params, types, strict=True)
            if p in self.wrt
        ):
            return None  # the cotangent sum is written for real arrays
        own = _thread_own_names(self.loaded.normalized.body, set(grid))
        stencils = stencil_arrays(self.loaded, own, grid)
        if not stencils:
            return None
        summed = cotangent_sum(self.kernel, self.loaded, stencils, own)
        program = Program({**loaded_functions, summed.key: summed.loaded})
        arg_types = cotangent_sum_types(types, self.loaded, summed)
        sites = list(summed.sites.values())
        others = [p for p in self.loaded.inputs if p not in stencils]
        targets = [KernelTarget(grid_names=grid)]
        reads = program.adjoint(
            summed.key,
            arg_types,
            sites,
            f"{self.name}_read_adjoints",
            target=targets[0],
            mode="kernel",
        )
        own_adjoint = reads
        if others:
            targets.append(KernelTarget(grid_names=grid))
            own_adjoint = program.adjoint(
                summed.key,
                arg_types,
                sites + others,
                f"{self.name}_own_adjoint",
                target=targets[-1],
                mode="kernel",
            )
        if any(t.function.tapes for t in targets):
            return None
        module = program.module(
            f"Adjoint kernel of {self.name} with respect to {', '.join(self.wrt)}."
        )
        device_module(module, self.loaded.parsed, f"the kernel {self.name}")
        with_cuda_import(module)
        taken = set(self.params) | {reads, own_adjoint} | {n for n, _ in self.loaded.intrinsics}
        shadows = {p: _fresh(f"b_{p}", taken) for p in self.wrt}
        intrinsic_lines = [_intrinsic_line(g) for g in _intrinsic_groups(self.loaded.intrinsics)]
        wrapper = _fresh(f"{self.name}_adjoint_kernel", taken)
        consume = _fresh(f"{self.name}_consume_kernel", taken)
        gather = gather_kernel(
            wrapper,
            self.name,
            self.params,
            shadows,
            intrinsic_lines,
            grid,
            stencils,
            summed,
            (own_adjoint, reads),
            others,
        )
        consumer = consume_kernel(
            consume,
            self.params,
            shadows,
            intrinsic_lines,
            self.loaded.normalized,
            self.loaded.outputs,
        )
        plan = KernelPlan(own_adjoint, wrapper=wrapper, consume=consume)
        plan.atomic = sorted(targets[-1].atomic_arrays - set(stencils))
        plan.gathered = sorted(stencils)
        module.definitions += [gather, consumer]
        return module, plan

    def _wrapper(self, entry: str, tape_names: list[str]) -> gast.FunctionDef:
        """The kernel that computes the intrinsics and calls the per-thread adjoint ``entry``
        with this thread's tape columns (its parameters ``tape_names``)."""
        taken = set(self.params) | {entry} | {n for n, _ in self.loaded.intrinsics}
        shadows = {p: _fresh(f"b_{p}", taken) for p in self.wrt}
        tapes = [_fresh(t, taken) for t in tape_names]
        need = _fresh("tape_need", taken) if tapes else None
        thread = _fresh("thread", taken) if tapes else None
        params = self.params + list(shadows.values()) + tapes + ([need] if need else [])
        body = [_intrinsic_line(group) for group in _intrinsic_groups(self.loaded.intrinsics)]
        if thread:
            body.append(f"{thread} = {_LINEAR_THREAD}  # this thread's tape columns")
        args = self.params + [n for n, _ in self.loaded.intrinsics]
        args += [shadows[p] for p in self.loaded.inputs]
        args += [f"{t}[:, {thread}]" for t in tapes] + ([need] if need else [])
        args += [shadows[p] for p in self.loaded.outputs]
        body.append(f"{entry}({', '.join(args)})")
        doc = (
            f'"""Launch with the grid of {self.name}: '
            + ", ".join(
                f"{shadows[p]} {'holds the cotangent of' if p in self.loaded.outputs else 'accumulates the gradient of'} {p}"
                for p in self.wrt
            )
            + '."""'
        )
        name = _fresh(f"{self.name}_adjoint_kernel", taken)
        return function_tree(f"def {name}({', '.join(params)}):", [doc, *body])

    def _build(self, types: list) -> dict:
        key = tuple(types)
        if key not in self._built:
            generated, plan = self._generate(types)
            source = generated.text()
            kernels = {plan.wrapper, plan.consume} - {None}
            module = load_device_module(source, f"sourcead_generated.{self.name}_adjoint", kernels)
            plan.source, plan.module = source, module
            plan.launcher = KernelAdjointLaunch(
                module[plan.wrapper],
                module[plan.consume] if plan.consume else None,
                DeviceTapes(plan.tapes),
                name=self.name,
                params=tuple(self.params),
                wrt=tuple(self.wrt),
                outputs=tuple(self.loaded.outputs),
                consume=self.consume,
                tape_memory=self.tape_memory,
            )
            self._built[key] = plan
        return self._built[key]

    def _types(self, args) -> list:
        if len(args) != len(self.params) + len(self.wrt):
            check_shadows(self.name, self.params, self.wrt, args)  # says what was expected
        types = []
        for p, a in zip(self.params, args, strict=False):
            t = (
                Array(np.dtype(a.dtype).name, a.ndim)
                if is_device_array(a)
                else type_of_value(float(a) if isinstance(a, np.floating) else a)
            )
            if t is None:
                raise TypeError(f"argument {p} of {self.name}: unsupported {type(a).__name__}")
            types.append(t)
        for p in self.wrt:
            self._check_differentiable(p, types[self.params.index(p)])
        check_shadows(self.name, self.params, self.wrt, args)
        return types

    # --- launching ----------------------------------------------------------------------------
    def __getitem__(self, configuration):
        if not (isinstance(configuration, tuple) and len(configuration) == 2):
            raise TypeError("launch with adjoint[blocks, threads_per_block](...)")
        blocks, threads = configuration
        return lambda *args: self._launch(blocks, threads, args)

    def _launch(self, blocks, threads, args) -> None:
        plan = self._build(self._types(args))
        self._last_source = plan.source
        plan.launcher.launch(blocks, threads, args)

    def ptx(self, *args, cc: tuple = (9, 0)) -> str:
        """PTX of the adjoint kernel for these arguments (see ``vmap``'s ``ptx``); with gathered
        stencil reads, the consuming kernel's PTX follows."""
        plan = self._build(self._types(args))
        signature = [numba.typeof(a) for a in args]
        signature += [numba.typeof(np.empty((1, 1), dtype=d)) for d in plan.tapes]
        if plan.tapes:
            signature.append(numba.typeof(np.zeros(1, dtype=np.int64)))
        kernels = [plan.wrapper] + ([plan.consume] if plan.consume else [])
        return "\n".join(compile_ptx(plan.module[k], tuple(signature), cc) for k in kernels)


_LINEAR_THREAD = (
    "((cuda.blockIdx.z * cuda.gridDim.y + cuda.blockIdx.y) * cuda.gridDim.x + cuda.blockIdx.x)"
    " * (cuda.blockDim.x * cuda.blockDim.y * cuda.blockDim.z)"
    " + (cuda.threadIdx.z * cuda.blockDim.y + cuda.threadIdx.y) * cuda.blockDim.x"
    " + cuda.threadIdx.x"
)


# --- rewriting the kernel ----------------------------------------------------------------------
def _is_cuda(node, parsed) -> bool:
    if not isinstance(node, gast.Name):
        return False
    try:
        value = parsed.lookup(node.id)
    except (KeyError, AttributeError):
        return False
    return isinstance(value, pytypes.ModuleType) and value.__name__ in ("numba.cuda", "cuda")


class _Intrinsics(gast.NodeTransformer):
    """Replaces cuda.grid(n), cuda.threadIdx.x ... with names, recorded in ``used``."""

    def __init__(self, parsed):
        self.parsed = parsed
        self.used: list[tuple[str, str]] = []  # (name, source of the intrinsic)
        self.taken = {n.id for n in gast.walk(parsed.node) if isinstance(n, gast.Name)}

    def name(self, base: str, text: str):
        for existing, existing_text in self.used:
            if existing_text == text:
                return gast.Name(existing, gast.Load(), None, None)
        name = base
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        self.used.append((name, text))
        return gast.Name(name, gast.Load(), None, None)

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, gast.Attribute) and _is_cuda(func.value, self.parsed):
            if func.attr in ("grid", "gridsize"):
                if not (
                    len(node.args) == 1
                    and isinstance(node.args[0], gast.Constant)
                    and node.args[0].value in (1, 2, 3)
                ):
                    raise self.parsed.error(f"cuda.{func.attr} needs a literal 1, 2 or 3", node)
                n = node.args[0].value
                names = [
                    self.name(f"{func.attr}_{k}", f"cuda.{func.attr}({n})[{k}]") for k in range(n)
                ]
                return names[0] if n == 1 else gast.Tuple(names, gast.Load())
        if isinstance(func, gast.Attribute):
            base = func.value
            if isinstance(base, gast.Attribute) and _is_cuda(base.value, self.parsed):
                if base.attr == "local" and func.attr == "array":
                    return _local_array_as_empty(node, self.parsed)
                if base.attr in _REFUSED:
                    raise self.parsed.error(_REFUSED[base.attr], node)
            if _is_cuda(base, self.parsed) and func.attr in _REFUSED:
                raise self.parsed.error(_REFUSED[func.attr], node)
        self.generic_visit(node)
        return node

    def visit_Attribute(self, node):
        if (
            isinstance(node.value, gast.Attribute)
            and _is_cuda(node.value.value, self.parsed)
            and node.value.attr in _INDEX_OBJECTS
            and node.attr in ("x", "y", "z")
        ):
            return self.name(
                f"{node.value.attr}_{node.attr}", f"cuda.{node.value.attr}.{node.attr}"
            )
        if _is_cuda(node.value, self.parsed) and node.attr in _REFUSED:
            raise self.parsed.error(_REFUSED[node.attr], node)
        self.generic_visit(node)
        return node


def _local_array_as_empty(call, parsed):
    """``cuda.local.array(shape, dtype)`` as ``np.empty(shape, dtype=np.<dtype>)``, which the
    pipeline knows; device code turns it back (``sourcead.local_arrays``)."""
    keywords = {k.arg: k.value for k in call.keywords}
    arguments = list(call.args) + [keywords.pop(k) for k in ("shape", "dtype") if k in keywords]
    if len(arguments) != 2 or keywords:
        raise parsed.error("cuda.local.array takes a shape and a dtype", call)
    shape, dtype_node = arguments
    try:
        dtype = _dtype_name(parsed.resolve(dtype_node))
    except (KeyError, AttributeError, TypeError):
        raise parsed.error(
            f"cuda.local.array: cannot read the dtype `{src(dtype_node)}` (use a Numba or "
            "NumPy type such as numba.float64)",
            call,
        ) from None
    bound = parsed.namespace.setdefault("np", np)
    if bound is not np:
        raise parsed.error(
            "the kernel's module binds np to something other than NumPy, which the adjoint of "
            "cuda.local.array needs",
            call,
        )
    empty = gast.parse(f"np.empty({src(shape)}, dtype=np.{dtype})").body[0].value
    for node in gast.walk(empty):
        gast.copy_location(node, call)
    return empty


def _dtype_name(value) -> str:
    """``"float64"`` for numba.float64, np.float64 or float."""
    try:
        return np.dtype(value).name
    except TypeError:
        return np.dtype(str(value)).name


def _replace_intrinsics(parsed) -> list[tuple[str, str]]:
    transformer = _Intrinsics(parsed)
    transformer.visit(parsed.node)
    return transformer.used


def _intrinsic_groups(intrinsics):
    """Intrinsics grouped by the statement that computes them in the kernel."""
    groups: dict[str, list] = {}
    for name, text in intrinsics:
        key = text.split("[")[0]
        groups.setdefault(key, []).append((name, text))
    return groups.values()


def _intrinsic_line(group) -> str:
    names = [n for n, _ in group]
    text = group[0][1]
    if "[" not in text:
        return f"{names[0]} = {text}"
    call = text.split("[")[0]
    count = int(call.split("(")[1].rstrip(")"))
    slots = ["_"] * count
    for name, t in group:
        slots[int(t.split("[")[1].rstrip("]"))] = name
    return f"{slots[0]} = {call}" if count == 1 else f"{', '.join(slots)} = {call}"


def array_accesses(node, params: set[str]) -> tuple[set[str], set[str]]:
    written, read = set(), set()
    for n in gast.walk(node):
        if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name):
            if n.value.id in params:
                (written if isinstance(n.ctx, gast.Store) else read).add(n.value.id)
        if isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Subscript):
            if isinstance(n.target.value, gast.Name) and n.target.value.id in params:
                read.add(n.target.value.id)
    return written, read


def _writes_local_arrays(node, params: set[str]) -> bool:
    """Whether the kernel writes elements of arrays of its own (``cuda.local.array``)."""
    return any(
        isinstance(n, gast.Subscript)
        and isinstance(n.ctx, gast.Store)
        and isinstance(n.value, gast.Name)
        and n.value.id not in params
        for n in gast.walk(node)
    )


def first_access(node, array: str):
    for n in gast.walk(node):
        if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and n.value.id == array:
            return n
    return node


def _returns_outputs(parsed, outputs: list[str]) -> None:
    """Every ``return`` of the kernel returns its outputs; one more at the end."""

    def value():
        names = [gast.Name(o, gast.Load(), None, None) for o in outputs]
        return names[0] if len(names) == 1 else gast.Tuple(names, gast.Load())

    node = parsed.node
    for n in gast.walk(node):
        if isinstance(n, gast.Return):
            if n.value is not None:
                raise parsed.error("a kernel returns no value", n)
            n.value = value()
    last = node.body[-1]
    if not isinstance(last, gast.Return):
        node.body.append(gast.Return(value=value()))
        gast.copy_location(node.body[-1], last)


def _return_arrays_directly(node, outputs: set[str]):
    """``result = out; return result`` (from normalisation) becomes ``return out``.

    The adjoint's seeds are then the output arrays' shadows themselves.
    """
    returned = node.body[-1].value
    names = returned.elts if isinstance(returned, gast.Tuple) else [returned]
    replacements = {}
    for n in names:
        sites = [
            stmt
            for stmt in walk_statements(node.body)
            if isinstance(stmt, gast.Assign)
            and any(isinstance(t, gast.Name) and t.id == n.id for t in stmt.targets)
        ]
        values = {src(stmt.value) for stmt in sites}
        if len(values) == 1 and values <= outputs and len(sites[0].targets) == 1:
            replacements[n.id] = (values.pop(), {id(s) for s in sites})
    if not replacements:
        return node
    removed = set().union(*(ids for _, ids in replacements.values()))

    def strip(body):
        kept = []
        for stmt in body:
            if id(stmt) in removed:
                continue
            for part in ("body", "orelse"):
                if getattr(stmt, part, None):
                    setattr(stmt, part, strip(getattr(stmt, part)) or [gast.Pass()])
            kept.append(stmt)
        return kept

    node.body = strip(node.body[:-1]) + [node.body[-1]]
    for n in names:
        if n.id in replacements:
            n.id = replacements[n.id][0]
    return node


def _thread_own_names(body: list, grid_names: set[str]) -> dict[str, str]:
    """Names that hold a component of ``cuda.grid`` and nothing else: name -> component."""
    own = {}
    assignments: dict[str, list] = {}
    for stmt in walk_statements(body):
        if isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                for n in gast.walk(target):
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                        assignments.setdefault(n.id, []).append(stmt)
        elif isinstance(stmt, gast.For):
            assignments.setdefault(stmt.target.id, []).append(stmt)
    changed = True
    while changed:
        changed = False
        for target, stmts in assignments.items():
            if target in own or len(stmts) != 1:
                continue
            stmt = stmts[0]
            if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)):
                continue
            value = stmt.value
            if isinstance(value, gast.Name):
                if value.id in grid_names and value.id not in assignments:
                    own[target] = value.id
                    changed = True
                elif value.id in own:
                    own[target] = own[value.id]
                    changed = True
    for name in {n for n in own.values()}:
        own.setdefault(name, name)
    return own


def _own_positions(index, own: dict[str, str]):
    """The index positions holding cuda.grid's components, when they hold all of them once.

    ``b[i, k]`` after ``i = cuda.grid(1)`` gives ``((0, 'grid_0'),)``: whatever ``k`` is,
    no other thread reaches the element. None when the index does not pin the thread.
    """
    elements = index.elts if isinstance(index, gast.Tuple) else [index]
    pinned = tuple(
        (position, own[e.id])
        for position, e in enumerate(elements)
        if isinstance(e, gast.Name) and e.id in own
    )
    components = [c for _, c in pinned]
    grid = set(own.values())
    if not grid or len(set(components)) != len(components) or set(components) != grid:
        return None
    return pinned


def ndim_used(node, array: str) -> int:
    for n in gast.walk(node):
        if isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) and n.value.id == array:
            return len(n.slice.elts) if isinstance(n.slice, gast.Tuple) else 1
    return 1


__all__ = ["KernelAdjoint", "kernel_vjp"]
