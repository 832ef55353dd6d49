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

import io
import re
import tokenize

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
from ...transforms.reverse import AdjointGenerator
from ...transforms.segments import SegmentedLoop, push_guard, push_sites
from ...trees.codegen import Block, src
from ...trees.queries import element_written, has_break
from ..cpu.loading import load_module
from .local_arrays import (
    LocalArrayProblem,
    local_array_bindings,
    local_array_names,
    with_local_arrays,
)


class DeviceAdjointGenerator(AdjointGenerator):
    """The adjoint of a function as a CUDA device function (see the module docstring).

    The generated function takes, after the user's parameters, the adjoint array of each
    differentiated array parameter, one tape column per tape, and ``tape_need``.
    """

    reuses_results = True
    copies_written_seeds = False

    def __init__(self, *args):
        super().__init__(*args)
        # a local array (np.zeros(4), cuda.local.array) is bound once, outside loops: its
        # binding replaces no older value, even in a branch (sourcead.local_arrays)
        for stmt in local_array_bindings(self.body):
            self.first_definitions[id(stmt)] = (stmt.targets[0].id, stmt)

    @property
    def passed_adjoints(self) -> frozenset:
        return frozenset(p for p in self.wrt if isinstance(self.types.get(p), Array))

    # Contributions to an adjoint element at a constant index (``b_cam[3]``, ``b_k[0]``) are
    # summed in a local variable and added once, at the end of the backward sweep, instead
    # of a load and a store (or an atomic add) of device memory per contribution.
    def sums_locally(self, array: str) -> bool:
        """Whether ``array``'s constant-index adjoint elements are summed in locals: here the
        passed adjoint arrays, a batch element's own rows, unless the function writes into
        the array: the adjoint of ``a[0] = x`` reads ``b_a[0]`` and zeroes it, which a part
        summed aside and added at the end would miss."""
        return array in self.passed_adjoints and array not in self.written_params

    def add_part(self, adjoint: str, index: str, local: str) -> str:
        """The line that adds a locally summed part to its element."""
        return f"{adjoint}[{index}] += {local}"

    #: K of ``vmap(..., checkpoint_every=K)``: counted loops at the top of the function are
    #: reversed in segments of K steps (``sourcead.segments``); None records every step.
    segment_steps: int | None = None

    def _pass(self) -> str:
        self.parts: dict[tuple[str, str], str] = {}  # (array, index) -> local
        self.segment_most: dict[str, str] = {}  # a segment tape's top -> its longest segment
        self.segment_counts: list[str] = []  # per segmented loop, the segments it ran
        self.checkpointed_loops: dict[int, dict] = {}  # id of a checkpointed loop -> options
        # tapes of a loop's segments of known length: local arrays of this many values
        self.local_tapes: dict[object, int] = {}
        return super()._pass()

    def reversed_in_segments(self, stmt, start, step, trips, body_tapes, body_f, body_b):
        limit = self.checkpointed_loops.get(id(stmt))
        if (
            (self.segment_steps is None and limit is None)
            or self.frames  # only a loop inside no other loop
            or trips is None
            or not body_tapes
            or element_written(stmt.body)
        ):
            return None
        loop = SegmentedLoop(
            self, stmt, start, step, trips, body_tapes, self.segment_steps, limit=limit
        )
        return loop.sweeps(body_f, body_b)

    def checkpointed_for(self, stmt, depth: int, start, stop, step) -> tuple[list, list]:
        """``for t in checkpointed(range(n), snapshots=s)``: on the GPU, reversed in segments
        of ``ceil(n / s)`` steps, so that at most ``s`` snapshots are kept (device code
        cannot allocate Revolve's schedule)."""
        if depth > 0:
            raise self.fn.error("a checkpointed loop must not be inside another loop", stmt)
        if has_break(stmt.body):
            raise self.fn.error(
                "a checkpointed loop must run all its steps (no break or return inside it)", stmt
            )
        if element_written(stmt.body):
            raise self.fn.error(
                "on the GPU a checkpointed loop must not write into arrays (its snapshots "
                "hold scalars)",
                stmt,
            )
        options, stmt.checkpoint = stmt.checkpoint, None  # generated as a counted loop
        self.checkpointed_loops[id(stmt)] = options
        try:
            return self.for_(stmt, depth)
        finally:
            stmt.checkpoint = options

    def accumulate(self, key, contribution) -> str:
        if key[0] == "elem" and constant_index(key[2]) and self.sums_locally(key[1]):
            _, array, index = key
            text = index_text(index)
            if (array, text) not in self.parts:
                self.parts[(array, text)] = self.names.fresh(f"{self.adj(array)}_part")
            return f"{self.parts[(array, text)]} += {src(contribution)}"
        return super().accumulate(key, contribution)

    def _assemble(self, forward: list, backward: list) -> str:
        self._keep_bounded_tapes_local(forward + backward)
        adds = [
            self.add_part(self.adj(array), text, local)
            for (array, text), local in self.parts.items()
        ]
        return super()._assemble(forward, backward + adds)

    def _keep_bounded_tapes_local(self, code: list) -> None:
        """Tapes pushed to at places outside every loop hold at most that many values:
        local arrays of that length, which need neither device memory nor the host's
        check of their lengths after the launch."""
        for key, (tape, top, _) in self.tapes.items():
            if key not in self.local_tapes:
                sites = push_sites(code, push_guard(tape, top))
                if sites:
                    self.local_tapes[key] = sites

    def device_tapes(self) -> list[tuple[str, str, str]]:
        """(tape, top, dtype) of the tapes kept in device memory: columns the host sizes
        and passes, in the order of the parameters (the others are local arrays)."""
        return [t for key, t in self.tapes.items() if key not in self.local_tapes]

    def extra_parameters(self) -> list[str]:
        names = [self.adj(p) for p in self.wrt if p in self.passed_adjoints]
        names += [tape for tape, _, _ in self.device_tapes()]
        return names + (["tape_need"] if self.device_tapes() else [])

    def tape_dtypes(self) -> list[str]:
        """NumPy dtype names of the tapes in device memory, in the order of the parameters."""
        return [dtype.removeprefix("np.") for _, _, dtype in self.device_tapes()]

    def push(self, key: str, value_type, value: str) -> list:
        if not self.frames:  # a local, as on the CPU
            return super().push(key, value_type, value)
        tape, top = self.tape(self.site_key(key), value_type)
        return [Block(push_guard(tape, top), [f"{tape}[{top}] = {value}"]), f"{top} += 1"]

    def reservations(self, frame) -> list[str]:
        return []  # the host sizes the tape columns

    def declare_tapes(self) -> list:
        counters = [top for _, top, _ in self.tapes.values()]
        counters += self.segment_counts + list(self.segment_most.values())
        lines = [f"{top} = 0" for top in dict.fromkeys(counters)]  # snapshots share theirs
        lines += [
            f"{self.tapes[key][0]} = np.empty({length}, dtype={self.tapes[key][2]})"
            for key, length in self.local_tapes.items()
        ]
        arrays = getattr(self, "arrays", None)  # whole-array tapes allocate: refused later
        lines += self.declare_saved()
        return lines + (arrays.declare_tapes() if arrays is not None else [])

    def end_of_forward(self) -> list:
        parts = [
            f"{local} = 0.0  # this thread's part of {self.adj(array)}[{text}]"
            for (array, text), local in self.parts.items()
        ]
        if not self.device_tapes():
            return parts
        # a tape reused by the segments of a loop needs the length of the longest segment
        tapes = [(tape, self.segment_most.get(top, top)) for tape, top, _ in self.device_tapes()]
        short = " or ".join(f"{top} > len({tape})" for tape, top in tapes)
        report = [f"cuda.atomic.max(tape_need, {k}, {top})" for k, (_, top) in enumerate(tapes)]
        gradients = [self.adj(p) if p in self.passed_adjoints else "0.0" for p in self.wrt]
        value = self.outputs[0] if len(self.outputs) == 1 else "(" + ", ".join(self.outputs) + ")"
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


_ALLOCATION = re.compile(
    r"\b(new_tape|grow|reserve|scratch|sized)\(|\bnp\.(zeros|ones|empty)\w*\(|\.copy\(\)"
)


def _without_comments(source: str) -> str:
    """``source`` with its comments blanked out, lines kept where they are."""
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            (row, start), (_, end) = token.start, token.end
            lines[row - 1] = lines[row - 1][:start] + " " * (end - start) + lines[row - 1][end:]
    return "\n".join(lines)


def device_source(source: str, parsed, what: str, parameter_shapes: dict | None = None) -> str:
    """The generated module as device code: its local arrays become ``cuda.local.array``
    (``sourcead.local_arrays``, which takes ``parameter_shapes``); any other allocation,
    impossible in CUDA, is refused."""
    try:
        source = with_local_arrays(source, parameter_shapes)
    except LocalArrayProblem as problem:
        raise parsed.error(
            f"{what} cannot run on the GPU: its derivative uses the local array "
            f"{problem.name} whole (generated line `{problem.line}`); device code reads and "
            "writes local arrays element by element only: write the loop out, or use "
            "target='parallel'",
            parsed.node,
        ) from None
    code = _without_comments(source)  # comments quote the user's lines: x.copy() too
    match = _ALLOCATION.search(code)
    if match is not None:
        line = code[: match.start()].count("\n") + 1
        text = source.splitlines()[line - 1].strip()
        raise parsed.error(
            f"{what} cannot run on the GPU: its derivative allocates arrays (generated line "
            f"`{text}`). Device code can hold only scalars, the arguments' arrays, local "
            "arrays of a constant shape bound once outside loops, and tapes "
            "the host allocates for the function itself: avoid other new arrays "
            "(.copy(), whole-array operations), writing into argument arrays, and loops "
            "that overwrite values inside called functions (call them outside loops or "
            "inline them), or use target='parallel'",
            parsed.node,
        )
    return source


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
                f"{what} cannot run on the GPU: {spelling(callee.target)} has no CUDA "
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


def with_cuda_import(source: str) -> str:
    """The generated module's source with ``from numba import cuda`` among its imports."""
    source = source.replace(
        "Each function is compiled with numba.njit when\nthe module is loaded by sourcead; run "
        "uncompiled, it is plain Python and NumPy.",
        "Its functions are compiled with numba.cuda: the last one\nas a kernel, the others "
        "as device functions.",
        1,
    )
    return source.replace("import numba\n", "import numba\nfrom numba import cuda\n", 1)


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
