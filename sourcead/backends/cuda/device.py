"""Generated adjoints as CUDA device functions, and their tapes in device memory.

On the CPU a generated adjoint keeps its tapes in NumPy buffers that it allocates and
grows itself. A CUDA device function can allocate nothing, so on the GPU:

* every tape is a column of a 2-D device array ``tape[capacity, threads]`` that the host
  allocates; thread ``t`` pushes into ``tape[:, t]`` (neighbouring threads touch
  neighbouring addresses, so the accesses of a warp coalesce, as for ``cuda.local.array``);
* a push stores only while the column has room and always counts (``top += 1``); at the
  end of the forward sweep a thread whose column was too short skips its backward sweep
  and reports the length it needed with ``cuda.atomic.max(tape_need, k, top)``;
* the host then repeats the launch with columns of the reported length (the first launch
  of a new function runs with empty columns and so is a counting pass). The repeated
  launch runs the same compiled kernel on the same inputs, so it needs no more.

The result is exact for loops of any, data-dependent, trip count; the memory cost is
``threads * sum(capacity_k * itemsize_k)`` bytes, capacity_k being the most values any
thread pushes on tape k. Where that exceeds the allowed tape memory the host splits a
batch (``vmap``) or, when one launch must hold it (``kernel_vjp``), raises an error that
says how much is needed and what to change. Adjoint arrays of differentiated array
arguments are passed in, zeroed, by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast
from sourcead_runtime.cuda_launch import (  # noqa: F401  (re-exported for the compiler)
    DEFAULT_TAPE_BYTES,
    DeviceTapes,
    device_arrays,
    device_copy,
    device_zeros,
    fill_zero,
    import_cuda,
    is_device_array,
    simulated,
    tape_memory_limit,
)

from ...analysis.types import Array
from ...rules.registry import entry_for, spelling
from ...transforms.segments import DeviceTapeNotes, SegmentedLoop, push_guard, push_sites
from ...transforms.targets import Target
from ...trees.codegen import Block, dotted_name, src
from ...trees.module import GeneratedModule
from ...trees.queries import element_written, walk_statements
from ..cpu.loading import load_module
from .local_arrays import (
    LocalArrayProblem,
    generated_line,
    local_array_bindings,
    local_array_names,
    with_local_arrays,
)


@dataclass
class DeviceFunction:
    """What the caller of a generated device function needs to know, as its last pass
    generated it."""

    types: dict  # the type of every name of the function (``check_device_types`` reads them)
    passed_adjoints: frozenset  # parameters whose adjoint arrays the caller passes in, zeroed
    tapes: list[tuple[str, str]]  # (parameter, NumPy dtype name) of each tape in device memory


@dataclass
class DevicePass:
    """The device target's state during one pass of the generator."""

    parts: dict[tuple[str, str], str] = field(default_factory=dict)  # (array, index) -> local
    tapes: DeviceTapeNotes = field(default_factory=DeviceTapeNotes)
    checkpointed_loops: dict[int, dict] = field(default_factory=dict)  # id of a loop -> options


class DeviceTarget(Target):
    """The adjoint of a function as a CUDA device function (see the module docstring).

    The generated function takes, after the user's parameters, the adjoint array of each
    differentiated array parameter, one tape column per tape in device memory, and
    ``tape_need``. After generation, ``function`` describes it to its caller. One target
    serves one generated function.

    Args:
        segment_steps: K of ``vmap(..., checkpoint_every=K)``: counted loops at the top of
            the function are reversed in segments of K steps (``transforms/segments.py``);
            None records every step.
    """

    reuses_results = True
    copies_written_seeds = False

    def __init__(self, segment_steps: int | None = None):
        self.segment_steps = segment_steps
        self.state = DevicePass()
        self.function: DeviceFunction | None = None

    def prepare(self, generator) -> None:
        # a local array (np.zeros(4), cuda.local.array) is bound once, outside loops: its
        # binding replaces no older value, even in a branch (sourcead.local_arrays)
        for stmt in local_array_bindings(generator.body):
            generator.first_definitions[id(stmt)] = (stmt.targets[0].id, stmt)

    def start_pass(self, generator) -> None:
        self.state = DevicePass()

    def passed_adjoints(self, generator) -> frozenset:
        return frozenset(p for p in generator.wrt if isinstance(generator.types.get(p), Array))

    # Contributions to an adjoint element at a constant index (``b_cam[3]``, ``b_k[0]``) are
    # summed in a local variable and added once, at the end of the backward sweep, instead
    # of a load and a store (or an atomic add) of device memory per contribution.
    def sums_locally(self, generator, array: str) -> bool:
        """Whether ``array``'s constant-index adjoint elements are summed in locals: here the
        passed adjoint arrays, a batch element's own rows, unless the function writes into
        the array: the adjoint of ``a[0] = x`` reads ``b_a[0]`` and zeroes it, which a part
        summed aside and added at the end would miss."""
        return array in self.passed_adjoints(generator) and array not in generator.written_params

    def add_part(self, adjoint: str, index: str, local: str) -> str:
        """The line that adds a locally summed part to its element."""
        return f"{adjoint}[{index}] += {local}"

    def accumulate(self, generator, key, contribution) -> str | None:
        if key[0] == "elem" and constant_index(key[2]) and self.sums_locally(generator, key[1]):
            _, array, index = key
            text = index_text(index)
            parts = self.state.parts
            if (array, text) not in parts:
                parts[(array, text)] = generator.names.fresh(f"{generator.adj(array)}_part")
            return f"{parts[(array, text)]} += {src(contribution)}"
        return None

    def reversed_in_segments(self, generator, stmt, start, step, trips, body_tapes, body_f, body_b):
        limit = self.state.checkpointed_loops.get(id(stmt))
        if (
            (self.segment_steps is None and limit is None)
            or generator.frames  # only a loop inside no other loop
            or trips is None
            or not body_tapes
            or element_written(stmt.body)
        ):
            return None
        loop = SegmentedLoop(
            generator,
            self.state.tapes,
            stmt,
            start,
            step,
            trips,
            body_tapes,
            self.segment_steps,
            limit=limit,
        )
        return loop.sweeps(body_f, body_b)

    def checkpointed_loop(self, generator, stmt, depth: int, start, stop, step):
        """On the GPU, reversed in segments of ``ceil(n / s)`` steps, so that at most ``s``
        snapshots are kept (device code cannot allocate Revolve's schedule)."""
        if element_written(stmt.body):
            raise generator.fn.error(
                "on the GPU a checkpointed loop must not write into arrays (its snapshots "
                "hold scalars)",
                stmt,
            )
        options, stmt.checkpoint = stmt.checkpoint, None  # generated as a counted loop
        self.state.checkpointed_loops[id(stmt)] = options
        try:
            return generator.for_(stmt, depth)
        finally:
            stmt.checkpoint = options

    def finish(self, generator, forward: list, backward: list) -> list:
        self._keep_bounded_tapes_local(generator, forward + backward)
        self.function = DeviceFunction(
            generator.types,
            self.passed_adjoints(generator),
            [(tape, dtype.removeprefix("np.")) for tape, _, dtype in self.device_tapes(generator)],
        )
        return [
            self.add_part(generator.adj(array), text, local)
            for (array, text), local in self.state.parts.items()
        ]

    def _keep_bounded_tapes_local(self, generator, code: list) -> None:
        """Tapes pushed to at places outside every loop hold at most that many values:
        local arrays of that length, which need neither device memory nor the host's
        check of their lengths after the launch."""
        local = self.state.tapes.local
        for key, (tape, top, _) in generator.tapes.items():
            if key not in local:
                sites = push_sites(code, push_guard(tape, top))
                if sites:
                    local[key] = sites

    def device_tapes(self, generator) -> list[tuple[str, str, str]]:
        """(tape, top, dtype) of the tapes kept in device memory: columns the host sizes
        and passes, in the order of the parameters (the others are local arrays)."""
        local = self.state.tapes.local
        return [t for key, t in generator.tapes.items() if key not in local]

    def extra_parameters(self, generator) -> list[str]:
        passed = self.passed_adjoints(generator)
        names = [generator.adj(p) for p in generator.wrt if p in passed]
        names += [tape for tape, _, _ in self.device_tapes(generator)]
        return names + (["tape_need"] if self.device_tapes(generator) else [])

    def push(self, generator, key, value_type, value: str) -> list:
        tape, top = generator.tape(key, value_type)
        return [Block(push_guard(tape, top), [f"{tape}[{top}] = {value}"]), f"{top} += 1"]

    def reservations(self, generator, frame) -> list[str]:
        return []  # the host sizes the tape columns

    def declare_tapes(self, generator) -> list:
        notes = self.state.tapes
        counters = [top for _, top, _ in generator.tapes.values()]
        counters += notes.counts + list(notes.most.values())
        lines = [f"{top} = 0" for top in dict.fromkeys(counters)]  # snapshots share theirs
        lines += [
            f"{generator.tapes[key][0]} = np.empty({length}, dtype={generator.tapes[key][2]})"
            for key, length in notes.local.items()
        ]
        lines += generator.declare_saved()
        return lines + generator.arrays.declare_tapes()  # whole-array tapes: refused later

    def end_of_forward(self, generator) -> list:
        adj = generator.adj
        parts = [
            f"{local} = 0.0  # this thread's part of {adj(array)}[{text}]"
            for (array, text), local in self.state.parts.items()
        ]
        device_tapes = self.device_tapes(generator)
        if not device_tapes:
            return parts
        # a tape reused by the segments of a loop needs the length of the longest segment
        most = self.state.tapes.most
        tapes = [(tape, most.get(top, top)) for tape, top, _ in device_tapes]
        short = " or ".join(f"{top} > len({tape})" for tape, top in tapes)
        report = [f"cuda.atomic.max(tape_need, {k}, {top})" for k, (_, top) in enumerate(tapes)]
        passed = self.passed_adjoints(generator)
        gradients = [adj(p) if p in passed else "0.0" for p in generator.wrt]
        outputs = generator.outputs
        value = outputs[0] if len(outputs) == 1 else "(" + ", ".join(outputs) + ")"
        grads = "(" + ", ".join(gradients) + ("," if len(gradients) == 1 else "") + ")"
        return [
            "# a tape column too short for this thread: report the length needed and skip",
            "# the backward sweep; the host repeats the launch with longer columns",
            Block(f"if {short}:", [*report, f"return {value}, {grads}"]),
            *parts,
        ]


def constant_index(index) -> bool:
    """Whether an index (``k[0]``, ``a[1, 2]``) is made of integer constants only."""
    elements = index.elts if isinstance(index, gast.Tuple) else [index]
    return all(isinstance(e, gast.Constant) for e in elements)


def index_text(index) -> str:
    """An index as source, a tuple in parentheses (as ``cuda.atomic.add`` takes it)."""
    text = src(index)
    if isinstance(index, gast.Tuple) and not text.startswith("("):
        text = f"({text})"
    return text


#: Calls that make a new array: the runtime's tape helpers, NumPy's constructors (``np.zeros``,
#: ``np.zeros_like``, ...) and ``.copy()``.
_ALLOCATING_HELPERS = frozenset({"new_tape", "grow", "reserve", "scratch", "sized"})
_ALLOCATING_CONSTRUCTORS = ("zeros", "ones", "empty")


def device_module(
    module: GeneratedModule, parsed, what: str, parameter_shapes: dict | None = None
) -> None:
    """Make the generated module device code, in place: its local arrays become
    ``cuda.local.array`` (``sourcead.local_arrays``, which takes ``parameter_shapes``); any
    other allocation, impossible in CUDA, is refused."""
    try:
        with_local_arrays(module, parameter_shapes)
    except LocalArrayProblem as problem:
        raise parsed.error(
            f"{what} cannot run on the GPU: its derivative uses the local array "
            f"{problem.name} whole (generated line `{problem.line}`); device code reads and "
            "writes local arrays element by element only: write the loop out, or use "
            "target='parallel'",
            _user_statement(problem.statement, parsed),
        ) from None
    stmt = _first_allocation(module.definitions)
    if stmt is not None:
        raise parsed.error(
            f"{what} cannot run on the GPU: its derivative allocates arrays (generated line "
            f"`{generated_line(stmt)}`). Device code can hold only scalars, the arguments' "
            "arrays, local arrays of a constant shape bound once outside loops, and tapes "
            "the host allocates for the function itself: avoid other new arrays "
            "(.copy(), whole-array operations), writing into argument arrays, and loops "
            "that overwrite values inside called functions (call them outside loops or "
            "inline them), or use target='parallel'",
            _user_statement(stmt, parsed),
        )


def _user_statement(generated: gast.stmt | None, parsed):
    """Where a refusal of a generated statement points: the user's statement it comes from
    (``user_line``, set by ``trees.codegen``) when that is a line of ``parsed``'s function,
    else the function's ``def``."""
    line = getattr(generated, "user_line", None)
    node = parsed.node
    if line is None or not node.lineno <= line <= getattr(node, "end_lineno", node.lineno):
        return node
    return gast.Pass(lineno=line, col_offset=0)


def _first_allocation(definitions: list[gast.FunctionDef]) -> gast.stmt | None:
    """The first statement of ``definitions`` whose own expressions (not those of the
    statements inside it) call something that makes a new array."""
    for definition in definitions:
        for stmt in walk_statements(definition.body):
            for child in gast.iter_child_nodes(stmt):
                if not isinstance(child, gast.stmt) and any(map(_allocates, gast.walk(child))):
                    return stmt
    return None


def _allocates(node: gast.AST) -> bool:
    """Whether ``node`` is a call that makes a new array."""
    if not isinstance(node, gast.Call):
        return False
    func = node.func
    if isinstance(func, gast.Name):
        return func.id in _ALLOCATING_HELPERS
    if not isinstance(func, gast.Attribute):
        return False
    if func.attr == "copy" and not node.args and not node.keywords:
        return True
    return func.attr in _ALLOCATING_HELPERS or (
        dotted_name(func.value) == "np" and func.attr.startswith(_ALLOCATING_CONSTRUCTORS)
    )


def check_device_types(
    types: dict, node, parsed, what: str, parameter_shapes: dict | None = None
) -> None:
    """Refuse new arrays (array-typed names that are neither parameters nor local arrays of
    a constant shape, see ``sourcead.local_arrays``): they allocate. ``parameter_shapes``:
    the shapes of array parameters where they are known when the code is compiled."""
    params = {a.id for a in node.args.args}
    params |= local_array_names(node, parsed, what, parameter_shapes)
    for call in gast.walk(node):
        callee = getattr(call, "callee", None) if isinstance(call, gast.Call) else None
        entry = entry_for(callee.target) if callee is not None else None
        if entry is not None and not entry.device:
            raise parsed.error(
                f"{what} cannot run on the GPU: "
                f"{getattr(call, 'spelled', None) or spelling(callee.target)} has no CUDA "
                "implementation in Numba; use target='parallel'",
                call,
            )
    for stmt in gast.walk(node):
        if not isinstance(stmt, gast.Assign):
            continue
        for target in gast.walk(stmt.targets[0]):
            if (
                isinstance(target, gast.Name)
                and target.id not in params
                and isinstance(types.get(target.id), Array)
            ):
                raise parsed.error(
                    f"{what} cannot run on the GPU: {target.id} is a new array (whole-array "
                    "operations allocate, which device code cannot); work element by element "
                    "on the arguments' arrays and on local arrays such as np.zeros(4), or use "
                    "target='parallel'",
                    stmt,
                )


#: The second paragraph of the docstring of a module of CUDA device functions.
CUDA_DESCRIPTION = (
    "Generated by sourcead. Its functions are compiled with numba.cuda: the last one\n"
    "as a kernel, the others as device functions."
)


def with_cuda_import(module: GeneratedModule) -> None:
    """Import ``cuda`` in the generated module (``from numba import cuda``), and say in its
    docstring how its functions are compiled."""
    module.add_import("from numba import cuda", after="import numba")
    module.description = CUDA_DESCRIPTION


def load_device_module(source: str, module_name: str, kernels: set[str]) -> dict:
    """Execute a generated module and compile its functions with numba.cuda.

    The functions named in ``kernels`` become kernels, all others device functions; the
    runtime helpers the module uses become device functions too.
    """
    cuda = import_cuda()
    scope = load_module(source, {}, module_name, compile=False)
    for name, value in list(scope.items()):
        if getattr(value, "__module__", None) == module_name and callable(value):
            scope[name] = cuda.jit(value) if name in kernels else cuda.jit(device=True)(value)
    for helper in ("trip_count",):
        if helper in scope:
            scope[helper] = cuda.jit(device=True)(scope[helper])
    return scope


class _FakeDevice:
    compute_capability = (9, 0)


def compile_ptx(function, signature: tuple, cc: tuple = (9, 0)) -> str:
    """PTX of a compiled kernel for ``cc`` (default sm_90), also where no GPU is present.

    Needs the CUDA toolkit's NVVM (``pip install 'cuda-toolkit[nvvm]'``); device functions
    called by the kernel are compiled for ``cc`` too.
    """
    cuda = import_cuda()
    import numba.cuda.dispatcher as dispatcher

    py_func = getattr(function, "py_func", function)
    current = dispatcher.get_current_device
    try:
        current()
    except Exception:
        dispatcher.get_current_device = lambda: _FakeDevice()
    try:
        ptx, _ = cuda.compile_ptx(py_func, signature, cc=cc)
    finally:
        dispatcher.get_current_device = current
    return ptx


def nvvm_available() -> bool:
    """Whether kernels can be compiled to PTX here (NVVM and NVRTC of the CUDA toolkit)."""
    if simulated():
        return False
    try:
        import numba

        def empty(a):
            a[0] = 0.0

        compile_ptx(empty, (numba.float64[:],))
        return True
    except Exception:
        return False
