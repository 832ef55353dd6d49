"""Fixed-size arrays in device code: ``np.zeros(4)`` and ``cuda.local.array`` per thread.

A CUDA thread cannot allocate memory while it runs, but it can hold arrays whose shape is
known when the kernel is compiled: ``cuda.local.array(shape, dtype)``, in registers or
local memory. So code for the GPU (``vmap(..., target="cuda")``, ``kernel_vjp``) may use
*local arrays*:

* a name bound once, outside loops, to
  ``np.zeros``, ``np.ones`` or ``np.empty`` with a constant shape (integer literals or
  module-level integer constants), or in a kernel to ``cuda.local.array(shape, dtype)``
  (which ``kernels.py`` reads as ``np.empty``);
* used element by element only: ``buf[j]`` and ``m[i, k]`` read and written, ``len(buf)``
  and ``buf.shape``; never whole (no ``buf * 2``, ``np.sum(buf)``, slices, or passing it
  to a function).

``local_array_names`` checks these rules on the user's function, at the user's lines.
``with_local_arrays`` then rewrites the generated module: each such allocation, and the
allocations derived from one (``b_buf = np.zeros_like(buf)`` for its adjoint,
``dbuf = np.zeros(buf.shape)`` for its tangent), becomes ``cuda.local.array`` followed by
loops that fill it; it checks again, on the generated code, that these arrays are used
element by element only.
"""

from __future__ import annotations

import ast

import gast
import numpy as np

from ...trees.codegen import Block, dotted_name, render
from ...trees.names import fresh_underscored as _fresh

_CONSTRUCTORS = {"zeros": 0.0, "ones": 1.0, "empty": None}  # name -> fill value
_LIKE = {f"{name}_like": fill for name, fill in _CONSTRUCTORS.items()}


class LocalArrayProblem(Exception):
    """A local array used whole in generated device code: its name and the line."""

    def __init__(self, name: str, line: str):
        super().__init__(name, line)
        self.name, self.line = name, line


# --- the user's function ----------------------------------------------------------------------
def local_array_names(
    node: gast.FunctionDef, parsed, what: str, parameter_shapes: dict | None = None
) -> set[str]:
    """The local arrays of a (normalised) function bound for the GPU, checked.

    ``parameter_shapes`` maps array parameters to their shapes where these are known when
    the code is compiled (``np.zeros_like(x)`` then has a constant shape). Raises
    SourceADError at the user's line for an allocation the GPU cannot hold as a local
    array, or a use of one that is not element by element.
    """
    reserved = {id(stmt) for stmt in local_array_bindings(node.body)}
    arrays: dict[str, tuple[int, ...]] = {}  # name -> shape
    allocations = []
    for stmt in _in_order(node.body):
        kind = _constructor(stmt.value) if isinstance(stmt, gast.Assign) else None
        copied = copied_name(stmt.value) if isinstance(stmt, gast.Assign) else None
        if kind is None and copied is None or not isinstance(stmt.targets[0], gast.Name):
            continue
        target = stmt.targets[0].id
        if id(stmt) not in reserved:
            raise parsed.error(
                f"{what} cannot run on the GPU: the local array {target} must be bound "
                "once, outside loops, so that device code can reserve it once",
                stmt,
            )
        call = stmt.value
        known = {**(parameter_shapes or {}), **arrays}
        if copied is not None:  # y = x.copy(): x's shape
            shape = known.get(copied)
        elif not call.args:
            shape = None
        elif kind in _LIKE:
            shape = known.get(call.args[0].id) if isinstance(call.args[0], gast.Name) else None
        else:
            shape = _shape(call.args[0], known, parsed.lookup)
        if not _reservable(shape):
            raise parsed.error(
                f"{what} cannot run on the GPU: the shape of the local array {target} must "
                "be a constant (integer literals, module-level integer constants, another "
                "local array's shape or an argument's) with at least one axis and no "
                "negative size, as cuda.local.array needs",
                stmt,
            )
        arrays[target] = shape
        allocations.append(stmt)
    _check_element_uses(
        node,
        set(arrays),
        lambda name, use: parsed.error(_whole_use(what, name), use),
        allocations,
    )
    return set(arrays)


def sized_by_parameters(node: gast.FunctionDef) -> bool:
    """Whether a NumPy constructor in the function takes its shape from a parameter
    (``np.zeros_like(x)``, ``np.zeros(x.shape[0])``), or the function copies a parameter
    (``y = x.copy()``): device code then needs the parameters' shapes when it is compiled."""
    params = {a.id for a in node.args.args}
    return any(
        (
            _constructor(call) is not None
            and any(isinstance(n, gast.Name) and n.id in params for n in gast.walk(call))
        )
        or copied_name(call) in params
        for call in gast.walk(node)
    )


def copied_name(node) -> str | None:
    """``x`` for ``x.copy()``, else None (gast and ast nodes alike)."""
    func = getattr(node, "func", None)
    if (
        type(node).__name__ == "Call"
        and type(func).__name__ == "Attribute"
        and func.attr == "copy"
        and _is_name(func.value)
        and not node.args
        and not node.keywords
    ):
        return func.value.id
    return None


def local_array_bindings(body: list) -> list:
    """The statements binding a name to a NumPy constructor's new array or to a copy
    (``x.copy()``) that are its only binding and outside loops: what device code can
    reserve once. None of them replaces an older value of its name, even in a branch."""
    bindings: dict[str, int] = {}
    in_loops = set()
    for stmt in _in_order(body):
        if isinstance(stmt, gast.For | gast.While):
            in_loops.update(id(inner) for inner in gast.walk(stmt))
        if isinstance(stmt, gast.Assign | gast.AugAssign | gast.For):
            targets = stmt.targets if isinstance(stmt, gast.Assign) else [stmt.target]
            for target in targets:
                for name in gast.walk(target):
                    if isinstance(name, gast.Name) and isinstance(name.ctx, gast.Store):
                        bindings[name.id] = bindings.get(name.id, 0) + 1
    return [
        stmt
        for stmt in _in_order(body)
        if isinstance(stmt, gast.Assign)
        and isinstance(stmt.targets[0], gast.Name)
        and (_constructor(stmt.value) is not None or copied_name(stmt.value) is not None)
        and id(stmt) not in in_loops
        and bindings[stmt.targets[0].id] == 1
    ]


def _in_order(body: list):
    """The statements of ``body`` and of the blocks inside it, in the order of the source."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse"):
            yield from _in_order(getattr(stmt, field, None) or [])


def _constructor(value) -> str | None:
    """The name of the NumPy constructor ``value`` calls (``"zeros"``, ``"ones_like"`` …)."""
    callee = getattr(value, "callee", None)
    if not (isinstance(value, gast.Call) and callee is not None and callee.kind == "constructor"):
        return None
    name = getattr(callee.target, "__name__", "")
    return name if name in _CONSTRUCTORS or name in _LIKE else None


def _shape(node, shapes: dict, lookup) -> tuple[int, ...] | None:
    """The value of a constant shape: ``4``, ``(2, K - 1)``, ``buf.shape``,
    ``buf.shape + (3,)``, ``(x.shape[0],)``; None when it is not one.

    Takes gast and ast nodes alike (compared by class name): ``shapes`` maps names to the
    shapes of the arrays known here, ``lookup(name)`` gives a constant's value (KeyError
    when there is none).
    """
    kind = type(node).__name__
    if kind == "BinOp" and _is_shape_expression(node):  # shapes joined: buf.shape + (3,)
        left, right = _shape(node.left, shapes, lookup), _shape(node.right, shapes, lookup)
        return None if left is None or right is None else left + right
    if kind == "Attribute" and node.attr == "shape":
        return shapes.get(node.value.id) if _is_name(node.value) else None
    elements = node.elts if kind == "Tuple" else [node]  # else one size: 4, K - 1
    sizes = [_integer(element, shapes, lookup) for element in elements]
    return None if None in sizes or not (sizes or kind == "Tuple") else tuple(sizes)


def _reservable(shape: tuple | None) -> bool:
    """Whether cuda.local.array can reserve an array of this shape (known, at least one
    axis, no negative size)."""
    return bool(shape) and all(size >= 0 for size in shape)


def _is_shape_expression(node) -> bool:
    """Whether ``node`` is a tuple, a ``.shape`` or a sum of them (not an integer)."""
    kind = type(node).__name__
    if kind == "BinOp" and type(node.op).__name__ == "Add":
        return _is_shape_expression(node.left) and _is_shape_expression(node.right)
    return kind == "Tuple" or (kind == "Attribute" and node.attr == "shape")


_ARITHMETIC = {
    "Add": int.__add__,
    "Sub": int.__sub__,
    "Mult": int.__mul__,
    "FloorDiv": int.__floordiv__,
}


def _integer(node, shapes: dict, lookup) -> int | None:
    """The value of an integer expression of literals, constants and known array sizes
    (``K - 1``, ``x.shape[0]``, ``len(x)``), or None."""
    kind = type(node).__name__
    if kind == "Constant":
        return node.value if type(node.value) is int else None
    if kind == "Name":
        try:
            value = lookup(node.id)
        except (KeyError, AttributeError):
            return None
        return value if type(value) is int else None
    if kind == "Subscript":  # x.shape[k]
        shape = (
            _shape(node.value, shapes, lookup) if type(node.value).__name__ == "Attribute" else None
        )
        k = _integer(node.slice, shapes, lookup)
        return (
            shape[k]
            if shape is not None and k is not None and -len(shape) <= k < len(shape)
            else None
        )
    if kind == "Call" and _is_name(node.func) and node.func.id == "len" and len(node.args) == 1:
        shape = shapes.get(node.args[0].id) if _is_name(node.args[0]) else None
        return shape[0] if shape else None
    if kind == "BinOp" and type(node.op).__name__ in _ARITHMETIC:
        left = _integer(node.left, shapes, lookup)
        right = _integer(node.right, shapes, lookup)
        if left is None or right is None or (right == 0 and type(node.op).__name__ == "FloorDiv"):
            return None
        return _ARITHMETIC[type(node.op).__name__](left, right)
    if kind == "UnaryOp" and type(node.op).__name__ == "USub":
        value = _integer(node.operand, shapes, lookup)
        return None if value is None else -value
    return None


def _whole_use(what: str, name: str) -> str:
    return (
        f"{what} cannot run on the GPU: the local array {name} is used whole; device code "
        f"reads and writes local arrays element by element only ({name}[j], len({name}), "
        f"{name}.shape): write the loop out, or use target='parallel'"
    )


def _check_element_uses(tree, arrays: set[str], problem, allocations=()) -> None:
    """Raise ``problem(name, node)`` for a use of a local array that is not an element's
    (outside the statements ``allocations``, which make local arrays like another)."""
    if not arrays:
        return
    skipped = {id(n) for stmt in allocations for n in _walk(stmt)}
    parents = {}
    for parent in _walk(tree):
        for child in _children(parent):
            parents[id(child)] = parent
    for node in _walk(tree):
        # loads only: not the binding itself, nor a parameter's (gast's Param context)
        if not (_is_name(node) and node.id in arrays and _is_load(node)):
            continue
        if id(node) in skipped:
            continue
        parent = parents.get(id(node))
        if _element_use(node, parent):
            continue
        raise problem(node.id, parent if hasattr(parent, "lineno") else node)


def _element_use(name, parent) -> bool:
    if _is_subscript(parent) and parent.value is name:
        index = parent.slice
        elements = index.elts if _is_tuple(index) else [index]
        return not any(type(e).__name__ == "Slice" for e in elements)
    if type(parent).__name__ == "Attribute" and parent.attr == "shape":
        return True
    return (
        type(parent).__name__ == "Call"
        and _is_name(parent.func)
        and parent.func.id == "len"
        and len(parent.args) == 1
    )


# gast and ast trees both pass through _check_element_uses: compare by class name
def _walk(tree):
    return gast.walk(tree) if isinstance(tree, gast.AST) else ast.walk(tree)


def _children(node):
    return (gast if isinstance(node, gast.AST) else ast).iter_child_nodes(node)


def _is_name(node) -> bool:
    return type(node).__name__ == "Name"


def _is_load(node) -> bool:
    return type(node.ctx).__name__ == "Load"


def _is_subscript(node) -> bool:
    return type(node).__name__ == "Subscript"


def _is_tuple(node) -> bool:
    return type(node).__name__ == "Tuple"


# --- the generated module ------------------------------------------------------------------
def with_local_arrays(source: str, parameter_shapes: dict | None = None) -> str:
    """The generated module with its local arrays as ``cuda.local.array`` (see the module
    docstring). ``parameter_shapes`` maps generated functions' names to the shapes and
    dtypes of their array parameters, where known: ``{"f_adjoint": {"x": ((3,), "float64")}}``. Raises ``LocalArrayProblem`` for a local array
    used whole."""
    tree = ast.parse(source)
    constants = {
        stmt.targets[0].id: stmt.value.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Constant)
        and type(stmt.value.value) is int
    }
    lines = source.splitlines()
    replaced: dict[int, list[str]] = {}
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef):
            continue
        taken = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
        arrays: dict[str, tuple] = {}  # name -> (shape, dtype)
        allocations = []
        known = dict((parameter_shapes or {}).get(function.name, {}))
        params = {a.arg: a for a in function.args.args}
        renames: list = []  # (parameter, new name) of the def line
        bindings: dict[str, int] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bindings[node.id] = bindings.get(node.id, 0) + 1
        for stmt in _outside_loops(function.body):  # reserved once
            spec = _allocation(stmt, known, constants)
            if spec is None or stmt.lineno != stmt.end_lineno:
                continue
            name = stmt.targets[0].id
            shape, dtype, fill = spec
            if isinstance(fill, _Copy) and bindings.get(name, 0) != 1:
                continue  # a copy rebound elsewhere stays an allocation: refused
            if isinstance(fill, _Copy) and fill.source == name in params:
                # a parameter's own copy (``x = x.copy()``, made where a function writes
                # into an argument): the parameter is renamed and the local array takes
                # its name, so that every later use is of the copy
                fill = _Copy(_fresh(f"{name}_argument", taken))
                renames.append((params[name], fill.source))
            arrays[name] = known[name] = (shape, dtype)
            allocations.append(stmt)
            indent = lines[stmt.lineno - 1][: stmt.col_offset]
            replaced[stmt.lineno - 1] = _local_array_lines(name, shape, dtype, fill, taken, indent)
        for stmt in ast.walk(function):  # b_x += b_y, a local array's adjoint added whole
            if _added_whole(stmt, arrays) and stmt.lineno == stmt.end_lineno:
                indent = lines[stmt.lineno - 1][: stmt.col_offset]
                shape = arrays[stmt.value.id][0]
                replaced[stmt.lineno - 1] = _elementwise_add(stmt, shape, taken, indent)
                allocations.append(stmt)  # its uses are element by element now
        if renames:
            k = renames[0][0].lineno - 1
            if any(arg.lineno - 1 != k for arg, _ in renames):  # generated defs take one line
                raise LocalArrayProblem(renames[0][0].arg, lines[k].strip())
            replaced[k] = [_renamed_parameters(lines[k], renames)]

        def problem(name, node, function=function):
            return LocalArrayProblem(name, lines[node.lineno - 1].strip())

        _check_element_uses(function, set(arrays), problem, allocations)
    if not replaced:
        return source
    out = []
    for k, line in enumerate(lines):
        out.extend(replaced.get(k, [line]))
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")


def _added_whole(stmt, arrays: dict) -> bool:
    """Whether ``stmt`` is ``name += local_array`` (how the adjoint of ``y = x.copy()``
    passes ``b_y`` on to ``b_x``, arrays of one shape)."""
    return (
        isinstance(stmt, ast.AugAssign)
        and isinstance(stmt.op, ast.Add)
        and isinstance(stmt.target, ast.Name)
        and isinstance(stmt.value, ast.Name)
        and stmt.value.id in arrays
    )


def _elementwise_add(stmt, shape: tuple, taken: set[str], indent: str) -> list[str]:
    """``a += b`` written out as loops over the elements of ``b``'s ``shape``."""
    target, value = stmt.target.id, stmt.value.id
    return _over_elements(
        value, shape, taken, indent, lambda index: f"{target}[{index}] += {value}[{index}]"
    )


def _over_elements(name: str, shape: tuple, taken: set[str], indent: str, line) -> list[str]:
    """Loops over the elements of an array of ``name`` and ``shape`` whose body is
    ``line(index)``, with counters named after the array."""
    counters = [
        _fresh(f"{name}_k{axis}" if len(shape) > 1 else f"{name}_k", taken)
        for axis in range(len(shape))
    ]
    block = line(", ".join(counters))
    for counter, size in reversed(list(zip(counters, shape, strict=True))):
        block = Block(f"for {counter} in range({size}):", [block])
    return [indent + text for text in render([block]).splitlines()]


class _Copy:
    """The fill of a local array that copies the array named ``source`` element by
    element (``y = x.copy()``)."""

    def __init__(self, source: str):
        self.source = source


def _renamed_parameters(line: str, renames: list) -> str:
    """A generated ``def`` line with parameters renamed: ``renames`` holds ``(arg, new)``
    pairs, ``arg`` the parameter's node (its columns are those of ``line``)."""
    for arg, new in sorted(renames, key=lambda r: -r[0].col_offset):  # right to left
        line = line[: arg.col_offset] + new + line[arg.col_offset + len(arg.arg) :]
    return line


def _outside_loops(body: list):
    """The statements of ``body`` and of its branches, in order, not those inside loops."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _outside_loops(stmt.body)
            yield from _outside_loops(stmt.orelse)


def _allocation(stmt, known: dict, constants: dict):
    """(shape, dtype, fill) of ``name = np.zeros(...)`` and the like, or None. ``known``:
    name -> (shape, dtype) of the local arrays so far and of parameters of known shape."""
    if not (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Call)
    ):
        return None
    call = stmt.value
    func = call.func
    source = copied_name(call)
    if source is not None:  # y = x.copy() of an array of a known shape: filled from x
        if source not in known or not _reservable(known[source][0]):
            return None
        return (*known[source], _Copy(source))
    if not (isinstance(func, ast.Attribute) and dotted_name(func.value) == "np"):
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    if set(keywords) - {"dtype"} or len(call.args) not in (1, 2):
        return None
    dtype_node = call.args[1] if len(call.args) == 2 else keywords.get("dtype")
    if func.attr in _LIKE:
        like = call.args[0]
        if not isinstance(like, ast.Name) or like.id not in known or len(call.args) > 1:
            return None
        shape, like_dtype = known[like.id]
        dtype = _dtype(dtype_node) if dtype_node is not None else like_dtype
        if not _reservable(shape) or dtype is None:
            return None
        return shape, dtype, _LIKE[func.attr]
    if func.attr not in _CONSTRUCTORS:
        return None
    shapes = {name: shape for name, (shape, _) in known.items()}
    shape = _shape(call.args[0], shapes, constants.__getitem__)
    dtype = _dtype(dtype_node) if dtype_node is not None else "float64"
    if not _reservable(shape) or dtype is None:
        return None
    return shape, dtype, _CONSTRUCTORS[func.attr]


def _dtype(node) -> str | None:
    """The NumPy dtype name of ``np.float64``, ``numba.int32``, ``float``, or None."""
    text = dotted_name(node)
    if text is None:
        return None
    base, _, attr = text.rpartition(".")
    if base not in ("", "np", "numba") or (base == "" and attr not in ("float", "int", "complex")):
        return None
    try:
        return np.dtype(getattr(np, attr) if base == "np" else attr).name
    except (TypeError, AttributeError):
        return None


def _numba_type_name(dtype: str) -> str:
    """``numba.float64`` for ``"float64"`` (``numba.boolean`` for ``"bool"``)."""
    return "numba.boolean" if dtype == "bool" else f"numba.{dtype}"


def _local_array_lines(name, shape, dtype, fill, taken: set[str], indent: str) -> list[str]:
    size = str(shape[0]) if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    lines = [f"{indent}{name} = cuda.local.array({size}, {_numba_type_name(dtype)})"]
    if fill is None or not shape or 0 in shape:
        return lines
    if isinstance(fill, _Copy):
        source = fill.source
        return lines + _over_elements(
            name, shape, taken, indent, lambda index: f"{name}[{index}] = {source}[{index}]"
        )
    value = repr(fill) if np.dtype(dtype).kind in "fc" else repr(int(fill))
    return lines + _over_elements(
        name, shape, taken, indent, lambda index: f"{name}[{index}] = {value}"
    )
