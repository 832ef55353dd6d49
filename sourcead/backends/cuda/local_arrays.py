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
``with_local_arrays`` then rewrites the trees of the generated module: each such
allocation, and the allocations derived from one (``b_buf = np.zeros_like(buf)`` for its
adjoint, ``dbuf = np.zeros(buf.shape)`` for its tangent), becomes ``cuda.local.array``
followed by loops that fill it; it checks again, on the generated code, that these arrays
are used element by element only.
"""

from __future__ import annotations

import gast
import numpy as np

from ...trees.codegen import Block, build, dotted_name, src
from ...trees.module import GeneratedModule
from ...trees.names import fresh_underscored as _fresh
from ...trees.queries import walk_statements

_CONSTRUCTORS = {"zeros": 0.0, "ones": 1.0, "empty": None}  # name -> fill value
_LIKE = {f"{name}_like": fill for name, fill in _CONSTRUCTORS.items()}


class LocalArrayProblem(Exception):
    """A local array used whole in generated device code: its name and the generated
    statement that uses it (``generated_line``)."""

    def __init__(self, name: str, line: str, statement: gast.stmt | None = None):
        super().__init__(name, line)
        self.name, self.line, self.statement = name, line, statement


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
    skipped = {id(n) for stmt in allocations for n in gast.walk(stmt)}
    parents = {}
    for parent in gast.walk(tree):
        for child in gast.iter_child_nodes(parent):
            parents[id(child)] = parent
    for node in gast.walk(tree):
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


def _is_name(node) -> bool:
    return type(node).__name__ == "Name"


def _is_load(node) -> bool:
    return type(node.ctx).__name__ == "Load"


def _is_subscript(node) -> bool:
    return type(node).__name__ == "Subscript"


def _is_tuple(node) -> bool:
    return type(node).__name__ == "Tuple"


# --- the generated module ------------------------------------------------------------------
def with_local_arrays(module: GeneratedModule, parameter_shapes: dict | None = None) -> None:
    """Rewrite the generated module's local arrays as ``cuda.local.array`` (see the module
    docstring), in the trees of its definitions. ``parameter_shapes`` maps generated
    functions' names to the shapes and dtypes of their array parameters, where known:
    ``{"f_adjoint": {"x": ((3,), "float64")}}``.

    Raises ``LocalArrayProblem`` for a local array used whole; every function is checked
    before any is changed, so the module is left as it was then."""
    constants = _integer_constants(module.constants)
    rewrites = [
        _LocalArrays(function, dict((parameter_shapes or {}).get(function.name, {})), constants)
        for function in module.definitions
    ]
    for rewrite in rewrites:
        rewrite.apply()


def generated_line(stmt: gast.stmt) -> str:
    """A generated statement as an error message quotes it: a compound statement by its
    first line (``for k in range(n):``)."""
    return src(stmt).partition("\n")[0]


def _integer_constants(lines: list[str]) -> dict[str, int]:
    """The module-level integer constants (``K = 4``) among a module's constant lines."""
    constants = {}
    for line in lines:
        for stmt in gast.parse(line).body:
            if (
                isinstance(stmt, gast.Assign)
                and isinstance(stmt.targets[0], gast.Name)
                and isinstance(stmt.value, gast.Constant)
                and type(stmt.value.value) is int
            ):
                constants[stmt.targets[0].id] = stmt.value.value
    return constants


class _LocalArrays:
    """The local arrays of one generated function: found and checked when made, written
    into the function's tree by ``apply``."""

    def __init__(self, function: gast.FunctionDef, known: dict, constants: dict):
        self.function = function
        # names already used (parameters too), for the loop counters and renamed parameters
        taken = {n.id for n in gast.walk(function) if isinstance(n, gast.Name)}
        arrays: dict[str, tuple] = {}  # name -> (shape, dtype)
        self.replaced: dict[int, list[gast.stmt]] = {}  # id of a statement -> its replacement
        self.renames: list[tuple[gast.Name, str]] = []  # (parameter, new name)
        rewritten = []  # statements replaced: their uses of local arrays are not checked
        params = {a.id: a for a in function.args.args}
        bindings: dict[str, int] = {}
        for node in gast.walk(function):
            if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                bindings[node.id] = bindings.get(node.id, 0) + 1
        for stmt in _outside_loops(function.body):  # reserved once
            spec = _allocation(stmt, known, constants)
            if spec is None:
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
                self.renames.append((params[name], fill.source))
            arrays[name] = known[name] = (shape, dtype)
            rewritten.append(stmt)
            self.replaced[id(stmt)] = _local_array_statements(name, shape, dtype, fill, taken)
        for stmt in gast.walk(function):  # b_x += b_y, a local array's adjoint added whole
            if _added_whole(stmt, arrays):
                self.replaced[id(stmt)] = _elementwise_add(stmt, arrays[stmt.value.id][0], taken)
                rewritten.append(stmt)  # its uses are element by element now

        def problem(name, node):
            holding = _holding_statement(function, node)
            return LocalArrayProblem(name, generated_line(holding), holding)

        _check_element_uses(function, set(arrays), problem, rewritten)

    def apply(self) -> None:
        for param, new in self.renames:
            param.id = new
        _replace_statements(self.function, self.replaced)


def _holding_statement(function: gast.FunctionDef, node: gast.AST) -> gast.stmt:
    """The innermost statement of ``function`` that holds ``node``."""
    holders = [
        stmt
        for stmt in walk_statements(function.body)
        if any(inner is node for inner in gast.walk(stmt))
    ]
    return holders[-1] if holders else function


def _replace_statements(node: gast.stmt, replaced: dict) -> None:
    """Put the statements of ``replaced`` (id of a statement -> its replacement) in place of
    the statements they replace, in the bodies of ``node`` and of the statements inside."""
    for field_name in ("body", "orelse"):
        body = getattr(node, field_name, None)
        if not isinstance(body, list):
            continue
        new_body = []
        for stmt in body:
            if id(stmt) in replaced:
                new_body += _taking_over(stmt, replaced[id(stmt)])
            else:
                _replace_statements(stmt, replaced)
                new_body.append(stmt)
        setattr(node, field_name, new_body)


def _taking_over(old: gast.stmt, new: list[gast.stmt]) -> list[gast.stmt]:
    """``new``, the replacement of ``old``, with its comments and the user's line it quotes."""
    new[0].comments = [*getattr(old, "comments", ()), *getattr(new[0], "comments", ())]
    if getattr(old, "trailing_comment", None):
        new[0].trailing_comment = old.trailing_comment
    if getattr(old, "comments_after", None):
        new[-1].comments_after = old.comments_after
    user_line = getattr(old, "user_line", None)
    if user_line is not None:
        for stmt in new:
            for inner in gast.walk(stmt):
                if getattr(inner, "user_line", None) is None:
                    inner.user_line = user_line
    return new


def _added_whole(stmt, arrays: dict) -> bool:
    """Whether ``stmt`` is ``name += local_array`` (how the adjoint of ``y = x.copy()``
    passes ``b_y`` on to ``b_x``, arrays of one shape)."""
    return (
        isinstance(stmt, gast.AugAssign)
        and isinstance(stmt.op, gast.Add)
        and isinstance(stmt.target, gast.Name)
        and isinstance(stmt.value, gast.Name)
        and stmt.value.id in arrays
    )


def _elementwise_add(stmt, shape: tuple, taken: set[str]) -> list[gast.stmt]:
    """``a += b`` written out as loops over the elements of ``b``'s ``shape``."""
    target, value = stmt.target.id, stmt.value.id
    return build([_over_elements(value, shape, taken, lambda i: f"{target}[{i}] += {value}[{i}]")])


def _over_elements(name: str, shape: tuple, taken: set[str], line) -> Block:
    """Loops over the elements of an array of ``name`` and ``shape`` whose body is
    ``line(index)``, with counters named after the array."""
    counters = [
        _fresh(f"{name}_k{axis}" if len(shape) > 1 else f"{name}_k", taken)
        for axis in range(len(shape))
    ]
    block = line(", ".join(counters))
    for counter, size in reversed(list(zip(counters, shape, strict=True))):
        block = Block(f"for {counter} in range({size}):", [block])
    return block


class _Copy:
    """The fill of a local array that copies the array named ``source`` element by
    element (``y = x.copy()``)."""

    def __init__(self, source: str):
        self.source = source


def _outside_loops(body: list):
    """The statements of ``body`` and of its branches, in order, not those inside loops."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, gast.If):
            yield from _outside_loops(stmt.body)
            yield from _outside_loops(stmt.orelse)


def _allocation(stmt, known: dict, constants: dict):
    """(shape, dtype, fill) of ``name = np.zeros(...)`` and the like, or None. ``known``:
    name -> (shape, dtype) of the local arrays so far and of parameters of known shape."""
    if not (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, gast.Call)
    ):
        return None
    call = stmt.value
    func = call.func
    source = copied_name(call)
    if source is not None:  # y = x.copy() of an array of a known shape: filled from x
        if source not in known or not _reservable(known[source][0]):
            return None
        return (*known[source], _Copy(source))
    if not (isinstance(func, gast.Attribute) and dotted_name(func.value) == "np"):
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    if set(keywords) - {"dtype"} or len(call.args) not in (1, 2):
        return None
    dtype_node = call.args[1] if len(call.args) == 2 else keywords.get("dtype")
    if func.attr in _LIKE:
        like = call.args[0]
        if not isinstance(like, gast.Name) or like.id not in known or len(call.args) > 1:
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


def _local_array_statements(name, shape, dtype, fill, taken: set[str]) -> list[gast.stmt]:
    """``name = cuda.local.array(shape, dtype)`` and the loops that fill it with ``fill``."""
    size = str(shape[0]) if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    lines: list = [f"{name} = cuda.local.array({size}, {_numba_type_name(dtype)})"]
    if fill is None or not shape or 0 in shape:
        return build(lines)
    if isinstance(fill, _Copy):
        source = fill.source
        lines.append(_over_elements(name, shape, taken, lambda i: f"{name}[{i}] = {source}[{i}]"))
        return build(lines)
    value = repr(fill) if np.dtype(dtype).kind in "fc" else repr(int(fill))
    lines.append(_over_elements(name, shape, taken, lambda i: f"{name}[{i}] = {value}"))
    return build(lines)
