"""Gathered gradients for arrays a kernel reads at fixed offsets from its thread (stencils).

When every thread reads an input ``u`` only as ``u[i + a, j + b]`` (``i, j`` its
``cuda.grid`` components, ``a, b`` integer constants), the thread that owns element
``(p, q)`` can compute what the read at offset ``(a, b)`` of thread ``(p - a, q - b)``
contributes there, for each offset, and add the sum to ``b_u[p, q]`` once, as a person
writes a stencil's adjoint. No two threads add to one element, so no atomic adds: on a
GPU those cost more than the rest of a stencil's adjoint.

How: the kernel becomes a scalar per-thread function, the cotangent sum

    sum over the thread's writes out[idx] = value of  out_cotangent[idx] * value

with each read ``u[i + a, j + b]`` replaced by ``(u[i + a, j + b] + u_at_a_b)``, one
parameter per offset, passed as 0.0. The derivative with respect to ``u_at_a_b`` is what
that read contributes; reverse mode generates it (``gather_kernels``). The thread runs it
for itself (with the other inputs' gradients too) and once per other offset for the
neighbour whose read lands on its element. A read that lands outside the launch grid has
no owning thread: the reading thread adds it with an atomic add.

The outputs' shadows are read by neighbours during that launch, so a second small kernel
consumes them afterwards (sets the elements the kernel wrote to zero).

Applies to kernels without loops or calls of user functions that write each output once;
others keep the atomic adds (``KernelTarget``).
"""

from __future__ import annotations

import copy
import types as pytypes
from dataclasses import dataclass

import gast

from ...analysis.types import FLOAT, INT
from ...pipeline.program import LoadedFunction
from ...trees.codegen import Block, function_tree
from ...trees.names import fresh_underscored as _fresh


@dataclass
class Stencil:
    """How a gathered array is read: which grid component each index position holds, and
    the distinct offsets (one integer per position), the thread's own element first."""

    components: tuple[str, ...]
    offsets: list[tuple[int, ...]]


def stencil_arrays(loaded, own: dict[str, str], grid: list[str]) -> dict[str, Stencil]:
    """The inputs of ``loaded`` (a LoadedKernel) whose gradients can be gathered."""
    node = loaded.normalized
    if loaded.callees or any(isinstance(n, gast.For | gast.While) for n in gast.walk(node)):
        return {}
    for output in loaded.outputs:
        writes = [
            n
            for n in gast.walk(node)
            if isinstance(n, gast.Assign)
            and isinstance(n.targets[0], gast.Subscript)
            and isinstance(n.targets[0].value, gast.Name)
            and n.targets[0].value.id == output
        ]
        if len(writes) != 1:
            return {}
    found = {}
    for array in loaded.inputs:
        stencil = _stencil(node, array, own, set(grid))
        if stencil is not None and len(stencil.offsets) > 1:  # own elements only: plain adds
            found[array] = stencil
    return found


def _stencil(node, array: str, own: dict[str, str], grid: set[str]) -> Stencil | None:
    components = None
    offsets: list[tuple[int, ...]] = [()]
    uses = 0
    for n in gast.walk(node):
        if isinstance(n, gast.Attribute) and _is_name(n.value, array):
            uses += 1  # u.shape: not a read of an element
            continue
        if not (isinstance(n, gast.Subscript) and _is_name(n.value, array)):
            continue
        uses += 1
        if not isinstance(n.ctx, gast.Load):
            return None
        elements = n.slice.elts if isinstance(n.slice, gast.Tuple) else [n.slice]
        parsed = [_grid_plus_constant(e, own) for e in elements]
        if None in parsed:
            return None
        these = tuple(c for c, _ in parsed)
        if set(these) != grid or len(these) != len(grid) or components not in (None, these):
            return None
        components = these
        offset = tuple(o for _, o in parsed)
        if offset not in offsets:
            offsets.append(offset)
    names = sum(
        isinstance(n, gast.Name) and n.id == array for stmt in node.body for n in gast.walk(stmt)
    )
    if components is None or names != uses:  # passed on whole, or never read
        return None
    zero = (0,) * len(components)
    rest = [o for o in offsets[1:] if o != zero]
    return Stencil(components, [zero, *rest])


def _grid_plus_constant(element, own: dict[str, str]):
    """``(component, offset)`` for ``i``, ``i + 2``, ``i - 1``, ``1 + i``, ``i + -1``;
    else None."""
    if isinstance(element, gast.Name) and element.id in own:
        return own[element.id], 0
    if isinstance(element, gast.BinOp) and isinstance(element.op, gast.Add | gast.Sub):
        left, right = element.left, element.right
        sign = 1 if isinstance(element.op, gast.Add) else -1
        if isinstance(left, gast.Name) and left.id in own and _int_value(right) is not None:
            return own[left.id], sign * _int_value(right)
        if sign == 1 and isinstance(right, gast.Name) and right.id in own:
            if _int_value(left) is not None:
                return own[right.id], _int_value(left)
    return None


def _int_value(node) -> int | None:
    """The value of an integer literal (``2``, ``-1``), else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub | gast.UAdd):
        value = _int_value(node.operand)
        if value is None:
            return None
        return -value if isinstance(node.op, gast.USub) else value
    if (
        isinstance(node, gast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        return node.value
    return None


def _is_name(node, name: str) -> bool:
    return isinstance(node, gast.Name) and node.id == name


# --- the cotangent sum ---------------------------------------------------------------------------
@dataclass
class CotangentSum:
    """The per-thread scalar function, loaded, and the names of its new parameters."""

    key: pytypes.FunctionType  # a distinct function object: the program's key for it
    loaded: LoadedFunction
    cotangents: dict[str, str]  # output -> its cotangent parameter
    sites: dict[tuple[str, tuple[int, ...]], str]  # (array, offset) -> parameter


def cotangent_sum(
    kernel, loaded, stencils: dict[str, Stencil], own: dict[str, str]
) -> CotangentSum:
    """The kernel rewritten as its cotangent sum (see the module docstring); ``own``: the
    names holding ``cuda.grid``'s components (``_thread_own_names``)."""
    node = copy.deepcopy(loaded.normalized)
    taken = {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}
    total = _fresh("cotangent_sum", taken)
    cotangents = {o: _fresh(f"{o}_cotangent", taken) for o in loaded.outputs}
    sites = {
        (array, offset): _fresh(f"{array}_at_{_offset_name(offset)}", taken)
        for array, stencil in stencils.items()
        for offset in stencil.offsets
    }
    node = _CotangentSumRewriter(total, cotangents, sites, stencils, own).visit(node)
    node.body.insert(0, gast.Assign([gast.Name(total, gast.Store(), None, None)], _zero()))
    gast.copy_location(node.body[0], node.body[1])
    for name in [*cotangents.values(), *sites.values()]:
        node.args.args.append(gast.Name(name, gast.Param(), None, None))
    node.name = f"{node.name}_cotangent_sum"
    key = pytypes.FunctionType(kernel.__code__, kernel.__globals__, node.name)
    parsed = copy.copy(loaded.parsed)
    parsed.node, parsed.pyfunc = node, key
    function = LoadedFunction.__new__(LoadedFunction)
    function.parsed, function.normalized = parsed, node
    function.callees, function.callee_modules, function.written_params = [], [], set()
    return CotangentSum(key, function, cotangents, sites)


class _CotangentSumRewriter(gast.NodeTransformer):
    def __init__(self, total, cotangents, sites, stencils, own):
        self.total, self.cotangents, self.sites = total, cotangents, sites
        self.stencils, self.own = stencils, own

    def visit_Assign(self, node):
        target = node.targets[0]
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
            array = target.value.id
            if array not in self.cotangents:
                return gast.copy_location(gast.Pass(), node)  # an output not differentiated
            value = self.visit(node.value)
            weight = gast.Subscript(
                gast.Name(self.cotangents[array], gast.Load(), None, None),
                copy.deepcopy(target.slice),
                gast.Load(),
            )
            added = gast.BinOp(
                gast.Name(self.total, gast.Load(), None, None),
                gast.Add(),
                gast.BinOp(weight, gast.Mult(), value),
            )
            return gast.copy_location(
                gast.Assign([gast.Name(self.total, gast.Store(), None, None)], added), node
            )
        self.generic_visit(node)
        return node

    def visit_Return(self, node):
        node.value = gast.Name(self.total, gast.Load(), None, None)
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        if isinstance(node.value, gast.Name) and node.value.id in self.stencils:
            array = node.value.id
            elements = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
            offset = tuple(_grid_plus_constant(e, self.own)[1] for e in elements)
            site = gast.Name(self.sites[(array, offset)], gast.Load(), None, None)
            return gast.BinOp(node, gast.Add(), site)
        return node


def _offset_name(offset: tuple[int, ...]) -> str:
    return "_".join(f"m{-o}" if o < 0 else str(o) for o in offset)


def _zero():
    return gast.Constant(0.0, None)


def cotangent_sum_types(kernel_types: list, loaded, summed: CotangentSum) -> list:
    """Argument types of the cotangent sum: the kernel's, its intrinsics', the cotangent
    arrays (typed as their outputs), then one float per read offset."""
    params = loaded.parsed.params[: len(kernel_types)]
    by_name = dict(zip(params, kernel_types, strict=True))
    types = list(kernel_types) + [INT] * len(loaded.intrinsics)
    types += [by_name[o] for o in summed.cotangents]
    return types + [FLOAT] * len(summed.sites)


# --- the kernels -----------------------------------------------------------------------------
def gather_kernel(
    name: str,
    kernel_name: str,
    params: list[str],
    shadows: dict[str, str],
    intrinsic_lines: list[str],
    grid: list[str],
    stencils: dict[str, Stencil],
    summed: CotangentSum,
    functions: tuple[str, str],
    other_inputs: list[str],
) -> str:
    """The adjoint kernel: each thread's own adjoint, then the gathered reads.

    ``functions``: the cotangent sum's adjoint for the thread itself (with the gradients
    of ``other_inputs``) and for a neighbour's reads only.
    """
    own_function, read_function = functions
    taken = set(params) | set(shadows.values()) | set(grid) | set(functions)
    size = [_fresh(f"size_{k}", taken) for k in range(len(grid))]
    value, reads = _fresh("value", taken), _fresh("reads", taken)
    # the thread's own reads are kept apart: a neighbour's call overwrites ``reads``, and the
    # next gathered array starts from the thread's own again
    own_reads = _fresh("own_reads", taken)
    sites = list(summed.sites)
    cotangents = [shadows[o] for o in summed.cotangents]

    def call(function: str, thread: list[str], with_inputs: bool, into: str) -> str:
        args = params + thread + cotangents + ["0.0"] * len(sites)
        args += [shadows[p] for p in other_inputs] if with_inputs else []
        return f"{value}, {into} = {function}({', '.join(args)})"

    component = {c: k for k, c in enumerate(grid)}
    body = ["# this thread's own reads (and the gradients of the other inputs)"]
    body.append(call(own_function, grid, True, own_reads))
    for array, stencil in stencils.items():
        element = [grid[component[c]] for c in stencil.components]
        total = _fresh(f"{shadows[array]}_element", taken)
        body.append(f"{total} = {own_reads}[{sites.index((array, stencil.offsets[0]))}]")
        for offset in stencil.offsets[1:]:  # reads of this thread that no thread owns
            target = [_shift(e, o) for e, o in zip(element, offset, strict=True)]
            inside = _inside(target, stencil.components, offset, size, component)
            index = ", ".join(target)
            read = f"{own_reads}[{sites.index((array, offset))}]"
            add = f"cuda.atomic.add({shadows[array]}, {f'({index})' if len(target) > 1 else index}, {read})"
            body.append(
                Block(
                    f"if {read} != 0.0 and not ({inside}):  # no thread owns {array}[{index}]",
                    [add],
                )
            )
        for offset in stencil.offsets[1:]:  # neighbours' reads of this thread's element
            source = [_shift(e, -o) for e, o in zip(element, offset, strict=True)]
            thread = list(grid)
            for c, text in zip(stencil.components, source, strict=True):
                thread[component[c]] = text
            inside = _inside(source, stencil.components, offset, size, component)
            k = sites.index((array, offset))
            body.append(
                Block(
                    f"if {inside}:  # thread ({', '.join(thread)}) reads {array}[{', '.join(element)}]",
                    [call(read_function, thread, False, reads), f"{total} += {reads}[{k}]"],
                )
            )
        shape = " and ".join(f"{e} < {array}.shape[{q}]" for q, e in enumerate(element))
        body.append(Block(f"if {shape}:", [f"{shadows[array]}[{', '.join(element)}] += {total}"]))
    doc = (
        f'"""Launch with the grid of {kernel_name}, then the consuming kernel: the gradients '
        f'of {", ".join(stencils)} are gathered by the threads that own their elements."""'
    )
    in_grid = " and ".join(f"{g} < {s}" for g, s in zip(grid, size, strict=True))
    lines = [
        doc,
        *intrinsic_lines,
        f"{', '.join(size)} = cuda.gridsize({len(grid)})",
        Block(f"if {in_grid}:", body),
    ]
    signature = ", ".join(params + list(shadows.values()))
    return function_tree(f"def {name}({signature}):", lines)


def _shift(name: str, offset: int) -> str:
    if offset == 0:
        return name
    return f"{name} + {offset}" if offset > 0 else f"{name} - {-offset}"


def _inside(index: list[str], components, offset, size: list[str], component: dict) -> str:
    """The test that an index shifted by ``offset`` names a thread of the launch grid."""
    return " and ".join(
        f"0 <= {text} < {size[component[c]]}"
        for text, c, o in zip(index, components, offset, strict=True)
        if o
    )


def consume_kernel(
    name: str,
    params: list[str],
    shadows: dict[str, str],
    intrinsic_lines: list[str],
    normalized,
    outputs: list[str],
) -> str:
    """A kernel that sets the cotangent of each element the kernel writes to zero."""
    node = copy.deepcopy(normalized)
    consumer = _Consumer({o: shadows[o] for o in outputs})
    body = [consumer.visit(stmt) for stmt in node.body[:-1]]
    doc = (
        '"""After the adjoint kernel: the cotangents of the elements the kernel wrote are '
        'used up (set to zero)."""'
    )
    lines = [doc, *intrinsic_lines, *(stmt for stmt in body if stmt is not None)]
    params = params + list(shadows.values())
    return function_tree(f"def {name}({', '.join(params)}):", lines)


class _Consumer(gast.NodeTransformer):
    def __init__(self, shadows: dict[str, str]):
        self.shadows = shadows

    def visit_Assign(self, node):
        target = node.targets[0]
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
            shadow = self.shadows.get(target.value.id)
            if shadow is None:
                return gast.copy_location(gast.Pass(), node)
            store = gast.Subscript(
                gast.Name(shadow, gast.Load(), None, None), target.slice, gast.Store()
            )
            return gast.copy_location(gast.Assign([store], gast.Constant(0.0, None)), node)
        return node

    def visit_Return(self, node):
        return gast.copy_location(gast.Return(None), node)
