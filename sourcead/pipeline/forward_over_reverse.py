"""Forward over reverse: the tangent transformation applied to a generated adjoint.

The adjoint module ``reverse.py`` generates is ordinary Python, so it goes through the same
pipeline as user code (subset check, normalisation, types, ``forward.py``) after a small
rewrite of the few things in it that user code never contains:

* tapes: ``new_tape(dtype)`` becomes ``np.empty(64, dtype=dtype)``, and ``grow`` and
  ``reserve`` become an allocation and an element-by-element copy, so a taped value's
  tangent is taped alongside it in a parallel tangent tape;
* ``b_x.fill(0)`` (resetting an array's adjoint) becomes ``b_x = np.zeros_like(b_x)``;
* a branch's condition kept for the backward sweep, ``branch = a and b``, becomes an
  ``if`` that sets it to ``True`` or ``False`` (user code has ``and`` and ``or`` only in
  conditions);
* tapes of whole arrays: ``push_array`` becomes element stores into the tape and
  ``pop_array`` becomes ``popped`` (a view of the tape, whose tangent is the same view of the
  tangent tape) and ``popped_top``;
* results: ``return value, (b_x, b_y)`` and ``_, (b_x,) = g_adjoint(...)`` are flattened
  to ``return value, b_x, b_y`` and ``_value, b_x = g_adjoint(...)`` (tuples of names).

The tangent of the adjoint's gradient outputs along ``v`` is the Hessian times ``v``.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import gast

from ..analysis.types import FLOAT, Array, Scalar, TupleType
from ..backends.cpu import progress
from ..backends.cpu.loading import load_module
from ..errors import SourceADError
from ..frontend.source import ParsedFunction
from ..trees.codegen import src
from ..trees.module import GeneratedModule
from ..trees.names import NameGenerator
from . import loading
from .program import LoadedFunction, Program

_INITIAL_CAPACITY = 64
_CACHE: dict = {}
_SOURCES: dict = {}
_LOCK = threading.RLock()


@dataclass
class AdjointTangent:
    source: str  # the module of tangent functions
    function: object  # (args..., seeds..., tangents...) -> ((value, grads...), tangents)
    result_type: object  # the user function's result type
    module: GeneratedModule | None = None  # the module's parts and trees (sourcead build)


def adjoint_tangent_function(
    fun, arg_types: list, wrt: list[str], vector: bool, compile: bool, along=None, store=None
):
    """The tangent of the adjoint of ``fun`` with respect to ``wrt``, along the arguments
    ``along`` (by default ``wrt`` too: Hessian-vector products).

    ``store``, when given, keeps the generated module beyond this process: it is called as
    ``store(name, generate, load_in_memory)`` and returns ``(source, namespace, header)``,
    where ``generate()`` returns ``(source, {}, header)`` (header: ``{"entry": the tangent
    function's name, "result": the user function's result type}``), like
    ``cache.load_or_generate`` (``api.forward`` passes one bound to its key). Kept in memory
    here either way, per process.
    """
    along = list(wrt if along is None else along)
    loaded = loading.load(fun)  # parsed again if a global it reads was rebound
    parsed = loaded.parsed
    for name, value_type in zip(parsed.params, arg_types, strict=False):
        if name in set(wrt) | set(along) and getattr(value_type, "kind", None) == "complex":
            # the tangent of an adjoint of complex values would need the conjugate pairs
            # that forward mode does not carry: refused rather than wrong
            raise parsed.error(
                f"second derivatives (hvp, hessian) with respect to the complex argument "
                f"{name} are not supported",
                parsed.node,
            )
    key = (fun, tuple(arg_types), tuple(wrt), vector, compile, tuple(along), loading.generation())
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(fun, arg_types, wrt, vector, compile, along, store)
            _SOURCES[fun] = _CACHE[key].source
        return _CACHE[key]


def last_source(fun) -> str | None:
    return _SOURCES.get(fun)


class _NotRealScalar(Exception):
    """Generation stopped: the function's result is not a real scalar (the caller reports it)."""

    def __init__(self, result_type):
        super().__init__(result_type)
        self.result_type = result_type


def _build(fun, arg_types, wrt, vector, compile, along, store=None) -> AdjointTangent:
    name = loading.load(fun).parsed.name
    generated: list[GeneratedModule] = []  # the module's parts, where generated here

    def generate():
        module, header = adjoint_tangent_module(fun, arg_types, wrt, vector, along)
        generated.append(module)
        return module.text(), {}, header

    def load_in_memory(source, namespace):
        return load_module(source, namespace, f"sourcead_generated.{name}_hvp", compile)

    if store is None:
        store = _in_memory
    try:
        source, module, header = store(
            f"{name}_hvp{'_vector' if vector else ''}", generate, load_in_memory
        )
    except _NotRealScalar as refused:
        return AdjointTangent("", None, refused.result_type)  # the caller reports it
    entry = header["entry"]
    progress.describe(entry, "the second derivatives", loading.load(fun).parsed)
    parts = generated[0] if generated else None
    return AdjointTangent(source, module[entry], header["result"], parts)


def _in_memory(name, generate, load_in_memory):
    """The ``store`` that keeps nothing beyond this process (see ``adjoint_tangent_function``)."""
    source, namespace, header = generate()
    return source, load_in_memory(source, namespace), header


def adjoint_tangent_module(fun, arg_types, wrt, vector, along) -> tuple[GeneratedModule, dict]:
    """The module of the tangent of the adjoint of ``fun`` as parts and trees, and its header
    ``{"entry": the tangent function's name, "result": the user function's result type}``;
    raises ``_NotRealScalar`` where the result is not a real scalar."""
    loaded = loading.load(fun)
    name = loaded.parsed.name
    program = Program(loading.LOADED, checkpointing=False)
    entry = program.adjoint(fun, list(arg_types), wrt, f"{name}_adjoint")
    result_type = program.result_types[(fun, tuple(arg_types))]
    if not (isinstance(result_type, Scalar) and result_type.kind == "float"):
        raise _NotRealScalar(result_type)
    title = f"Adjoint of {name} with respect to {', '.join(wrt)}."
    adjoint_source, namespace = program.module_source(title)
    module_name = f"sourcead_generated.{name}_adjoint_source"
    scope = load_module(adjoint_source, namespace, module_name, compile=False)
    filename = f"<sourcead {module_name}>"
    try:
        tangent_program, tangent_entry = _tangent_of_adjoint(
            filename, scope, program, entry, arg_types, result_type, along, vector
        )
    except SourceADError as error:
        if error.filename != filename:
            raise
        raise _at_user_line(error, program) from None
    title = (
        f"Tangent ({'vector ' if vector else ''}forward mode) of the adjoint of {name}: "
        f"second derivatives with respect to {', '.join(wrt)} and {', '.join(along)}."
    )
    return tangent_program.module(title), {"entry": tangent_entry, "result": result_type}


def _tangent_of_adjoint(filename, scope, program, entry, arg_types, result_type, along, vector):
    """The adjoint module's functions rewritten into the subset and loaded like user code
    (copies of the trees the module was written from), and the name of the tangent of its
    entry function."""
    adjoint_functions = set(program.adjoint_names.values())
    definitions = copy.deepcopy(program.definitions)
    value_counts = {d.name: _value_count(d) for d in definitions if d.name in adjoint_functions}
    loaded_functions: dict = {}
    for definition in definitions:
        if definition.name in adjoint_functions:
            _rewrite_adjoint(definition, value_counts)
        pyfunc = scope[definition.name]
        parsed = ParsedFunction(pyfunc, definition, filename, scope)
        parsed.source_text = src(definition)
        loaded_functions[pyfunc] = LoadedFunction(pyfunc, parsed)
    tangent_program = Program(loaded_functions)
    seed_types = _seed_types(result_type)
    tangent_entry = tangent_program.tangent(
        scope[entry], list(arg_types) + seed_types, along, f"{entry}_tangent", vector
    )
    return tangent_program, tangent_entry


def _at_user_line(error: SourceADError, program) -> SourceADError:
    """``error``, met at a line of the generated adjoint, told at the user's line it comes from.

    The statements of the adjoint of a user function carry the line of the user statement
    they differentiate (``user_line``, set by ``trees.codegen``). A line of a generated
    helper (a solver's wrappers) is traced back through its callers to the user function's
    adjoint that calls it.
    """
    line = error.lineno or 1
    failing = _statement_at(program.definitions, line)
    shown = src(failing).splitlines()[0] if failing is not None else ""
    message = (
        "second derivatives (forward mode over the generated adjoint) do not support the "
        f"adjoint of this line: {error.message} (generated line `{shown}`)"
    )
    users = {name: key[0] for key, name in program.adjoint_names.items()}
    site = _user_site(program.definitions, line, users, set())
    if site is None:
        return SourceADError(message)
    pyfunc, user_line = site
    parsed = program.load(pyfunc).parsed
    # the solver called at that line; for a line of a solver's wrapper reached through a
    # statement without a line of its own (odeint(...)[2], named first), the function's
    solver = _solver_called_at(parsed.node, user_line)
    if solver is None and user_line is None:
        solver = _solver_called_at(parsed.node, None)
    if solver is not None:
        name, user_line = solver
        message = (
            f"second derivatives (hvp, hessian) do not go through {name}: its adjoint is "
            "generated code that forward mode does not take (jvp and grad go through it)"
        )
    return SourceADError(message, parsed.filename, user_line or parsed.node.lineno)


def _solver_called_at(tree, line: int | None) -> tuple[str, int] | None:
    """The name and line of the solver call (``sourcead.fixed_point``, ``root``,
    ``odeint``) of the user's function at ``line`` (at any line for None), or None."""
    for node in gast.walk(tree):
        callee = getattr(node, "callee", None)
        if (
            isinstance(node, gast.Call)
            and (line is None or getattr(node, "lineno", None) == line)
            and callee is not None
            and callee.kind == "solver"
        ):
            return f"sourcead.{getattr(callee.target, '__name__', 'solver')}", node.lineno
    return None


def _statement_at(definitions: list, line: int):
    """The innermost statement that starts at ``line`` of the generated module, or None."""
    found = None
    for node in (n for d in definitions for n in gast.walk(d)):
        if isinstance(node, gast.stmt) and getattr(node, "lineno", None) == line:
            found = node
    return found


def _enclosing(definitions: list, line: int):
    """The function definition whose text holds ``line``, or None."""
    starts = sorted((d.lineno, k) for k, d in enumerate(definitions) if hasattr(d, "lineno"))
    before = [k for start, k in starts if start <= line]
    return definitions[before[-1]] if before else None


def _user_site(definitions: list, line: int, users: dict, seen: set):
    """(user function, user line or None) that generated ``line`` comes from, or None."""
    function = _enclosing(definitions, line)
    if function is None:
        return None
    statement = _statement_at([function], line)
    user_line = getattr(statement, "user_line", None) if statement is not None else None
    if function.name in users:
        return users[function.name], user_line
    if function.name in seen:
        return None
    seen.add(function.name)
    calls = [
        node
        for definition in definitions
        if definition is not function
        for node in gast.walk(definition)
        if isinstance(node, gast.Call)
        and isinstance(node.func, gast.Name)
        and node.func.id == function.name
    ]
    sites = [_user_site(definitions, call.lineno, users, seen) for call in calls]
    sites = [site for site in sites if site is not None]
    # a call from a backward sweep carries the user's line; one from a forward sweep may not
    return next((site for site in sites if site[1] is not None), sites[0] if sites else None)


def _array_tape_statements(function: str, target, call, names, like) -> list:
    """``tape, top = push_array(tape, top, value)`` as element stores into the tape (their
    tangents go into the tangent tape element by element), and
    ``value, top = pop_array(tape, top, value)`` as ``popped`` then ``popped_top``."""
    tape, top, value = (src(a) for a in call.args)
    if function == "pop_array":
        result = src(target.elts[0])
        return _parse(
            f"{result} = popped({tape}, {top}, {value}, {tape})\n"
            f"{top} = popped_top({top}, {result})",
            like,
        )
    bound = ""
    if isinstance(call.args[2], gast.Subscript):  # a row h[t]: named, as .shape needs a name
        row = names.fresh(f"{src(call.args[2].value)}_row")
        bound, value = f"{row} = {value}\n", row
    flat, k = names.fresh(f"{value}_flat"), names.fresh("k")
    return _parse(
        f"{bound}{tape} = reserve({tape}, {top} + pushed_length({value}))\n"
        f"{flat} = np.ravel({value})\n"
        f"for {k} in range({flat}.shape[0]):\n"
        f"    {tape}[{top} + {k}] = {flat}[{k}]\n"
        f"for {k} in range(len({value}.shape)):\n"
        f"    {tape}[{top} + {flat}.shape[0] + {k}] = {value}.shape[{k}]\n"
        f"{top} = {top} + pushed_length({value})",
        like,
    )


def _seed_types(result_type) -> list:
    items = result_type.items if isinstance(result_type, TupleType) else (result_type,)
    return [Array("float64", t.ndim) if isinstance(t, Array) else FLOAT for t in items]


def _value_count(definition: gast.FunctionDef) -> int:
    returned = definition.body[-1].value  # return value, (grads...)
    value = returned.elts[0]
    return len(value.elts) if isinstance(value, gast.Tuple) else 1


# --- rewriting an adjoint into the subset ----------------------------------------------------
def _rewrite_adjoint(definition: gast.FunctionDef, value_counts: dict) -> None:
    names = NameGenerator(definition)
    dtypes: dict[str, gast.expr] = {}
    for node in gast.walk(definition):
        if not (isinstance(node, gast.Assign) and isinstance(node.value, gast.Call)):
            continue
        if _called(node.value) == "new_tape":
            dtypes[node.targets[0].id] = node.value.args[0]
        elif src(node.value.func) == "np.empty":  # a tape of whole arrays
            for keyword in node.value.keywords:
                if keyword.arg == "dtype" and isinstance(node.targets[0], gast.Name):
                    dtypes[node.targets[0].id] = keyword.value
    definition.body = _rewrite_block(definition.body, names, dtypes, value_counts)


def _is_product_added(stmt) -> bool:
    """``b_x = add_product(b_x, g, w)``, the fused ``b_x += unbroadcast(g * w, b_x.shape)``."""
    return (
        isinstance(stmt, gast.Assign)
        and isinstance(stmt.value, gast.Call)
        and _called(stmt.value) == "add_product"
        and len(stmt.value.args) == 3
        and src(stmt.value.args[0]) == src(stmt.targets[0])
    )


#: Helpers that say how much of an adjoint is nonzero, so that a first-order adjoint skips
#: zeros; their last argument is the whole size. Forward mode over the adjoint takes the
#: whole size: an adjoint's tangent may be nonzero where the adjoint itself is zero.
_NONZERO_EXTENTS = ("svd_adjoint_columns",)


def _nonzero_extent(stmt) -> gast.expr | None:
    """The whole size of ``r = svd_adjoint_columns(b_u, b_s, b_vh, k)`` (``k``), or None."""
    if (
        isinstance(stmt, gast.Assign)
        and isinstance(stmt.value, gast.Call)
        and _called(stmt.value) in _NONZERO_EXTENTS
    ):
        return stmt.value.args[-1]
    return None


def _is_fill_with_zero(stmt) -> bool:
    """``b_x.fill(0)``, which generated adjoints use to reset an array's adjoint."""
    if not (isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call)):
        return False
    func, args = stmt.value.func, stmt.value.args
    return (
        isinstance(func, gast.Attribute)
        and func.attr == "fill"
        and isinstance(func.value, gast.Name)
        and len(args) == 1
        and isinstance(args[0], gast.Constant)
        and args[0].value == 0
    )


def _is_taken_branch(stmt) -> bool:
    """``branch = a and b``: a branch's condition kept for the backward sweep."""
    return (
        isinstance(stmt, gast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], gast.Name)
        and isinstance(stmt.value, gast.BoolOp)
    )


def _called(call: gast.Call) -> str | None:
    return call.func.id if isinstance(call.func, gast.Name) else None


def _parse(text: str, like: gast.AST) -> list:
    statements = gast.parse(text).body
    for statement in statements:
        for node in gast.walk(statement):
            if "lineno" in node._attributes:
                node.lineno = node.end_lineno = like.lineno
                node.user_line = getattr(like, "user_line", None)
                node.col_offset = node.end_col_offset = 0
    return statements


def _rewrite_block(body: list, names, dtypes, value_counts) -> list:
    out = []
    for stmt in body:
        for field in ("body", "orelse"):
            if isinstance(getattr(stmt, field, None), list):
                setattr(
                    stmt, field, _rewrite_block(getattr(stmt, field), names, dtypes, value_counts)
                )
        out.extend(_rewrite_statement(stmt, names, dtypes, value_counts))
    return out


def _rewrite_statement(stmt, names, dtypes, value_counts) -> list:
    if isinstance(stmt, gast.Raise):  # the adjoint's shape check, kept as a call
        return _parse(f"{names.fresh('failed')} = shape_changed()", stmt)
    if _is_product_added(stmt):  # b_x = add_product(b_x, g, w): the update it stands for
        adjoint, (_, g, w) = src(stmt.targets[0]), stmt.value.args
        product = src(gast.BinOp(left=g, op=gast.Mult(), right=w))  # (parenthesised as needed)
        stmt = _parse(f"{adjoint} += unbroadcast({product}, {adjoint}.shape)", stmt)[0]
    whole = _nonzero_extent(stmt)
    if whole is not None:  # the extent an adjoint's zeros allow: the whole size here
        stmt = _parse(f"{src(stmt.targets[0])} = {src(whole)}", stmt)[0]
    named = _name_operands(stmt, names)
    return named + _rewrite_assignment(stmt, names, dtypes, value_counts)


class _NamedOperands(gast.NodeTransformer):
    """Gives a name to each expression whose ``.shape`` or ``.copy()`` a statement of a
    generated adjoint reads (``unbroadcast(g, a[0].shape)``, ``unbroadcast(...).copy()``):
    the subset takes both of names only. ``x.copy().shape`` is ``x.shape``."""

    def __init__(self, names: NameGenerator):
        self.names = names
        self.assignments: list = []

    def visit_Attribute(self, node):
        node = self.generic_visit(node)
        if node.attr != "shape" or isinstance(node.value, gast.Name):
            return node
        if _is_copy(node.value) and isinstance(node.value.func.value, gast.Name):
            node.value = node.value.func.value
            return node
        node.value = self._named(node.value, "operand")
        return node

    def visit_Call(self, node):
        node = self.generic_visit(node)
        if _is_copy(node) and not isinstance(node.func.value, gast.Name):
            node.func.value = self._named(node.func.value, "copied")
        return node

    def _named(self, expr, stem: str) -> gast.Name:
        name = self.names.fresh(stem)
        assignment = gast.Assign(targets=[gast.Name(name, gast.Store(), None, None)], value=expr)
        self.assignments.append(gast.copy_location(assignment, expr))
        gast.fix_missing_locations(assignment)
        return gast.copy_location(gast.Name(name, gast.Load(), None, None), expr)


def _is_copy(node) -> bool:
    return (
        isinstance(node, gast.Call)
        and isinstance(node.func, gast.Attribute)
        and node.func.attr == "copy"
        and not node.args
        and not node.keywords
    )


def _name_operands(stmt, names) -> list:
    """The assignments ``_NamedOperands`` puts before ``stmt`` (whose value it rewrites)."""
    if not isinstance(stmt, gast.Assign | gast.AugAssign | gast.Expr):
        return []
    namer = _NamedOperands(names)
    stmt.value = namer.visit(stmt.value)
    return namer.assignments


def _rewrite_assignment(stmt, names, dtypes, value_counts) -> list:
    if isinstance(stmt, gast.Return) and isinstance(stmt.value, gast.Tuple):
        value, grads = stmt.value.elts
        values = value.elts if isinstance(value, gast.Tuple) else [value]
        stmt.value = gast.Tuple(elts=[*values, *grads.elts], ctx=gast.Load())
        return [stmt]
    if _is_fill_with_zero(stmt):  # adjoint arrays are never aliased: a new zero array
        array = stmt.value.func.value.id
        return _parse(f"{array} = np.zeros_like({array})", stmt)
    if _is_taken_branch(stmt):  # and/or stay in conditions, where the subset has them
        name = stmt.targets[0].id
        return _parse(f"if {src(stmt.value)}:\n    {name} = True\nelse:\n    {name} = False", stmt)
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call)):
        return [stmt]
    call, target = stmt.value, stmt.targets[0]
    function = _called(call)
    if function in ("push_array", "pop_array") and isinstance(target, gast.Tuple):
        rewritten = _array_tape_statements(function, target, call, names, stmt)
        return [
            line
            for statement in rewritten
            for line in _rewrite_statement(statement, names, dtypes, value_counts)
        ]
    if function == "new_tape":
        dtype = src(call.args[0])
        return _parse(f"{target.id} = np.empty({_INITIAL_CAPACITY}, dtype={dtype})", stmt)
    if function in ("grow", "reserve"):
        tape = target.id
        dtype = src(dtypes[tape])
        grown, i = names.fresh(f"{tape}_grown"), names.fresh("i")
        before = []
        if function == "grow":
            size, guard = f"2 * len({tape})", None
        else:
            needed = names.fresh(f"{tape}_needed")
            before = [f"{needed} = {src(call.args[1])}"]
            size, guard = f"max({needed}, 2 * len({tape}))", f"{needed} > len({tape})"
        lines = [
            f"{grown} = np.empty({size}, dtype={dtype})",
            f"for {i} in range(len({tape})):",
            f"    {grown}[{i}] = {tape}[{i}]",
            f"{tape} = {grown}",
        ]
        if guard is not None:
            lines = [f"if {guard}:"] + ["    " + line for line in lines]
        return _parse("\n".join(before + lines), stmt)
    if (
        function in value_counts
        and isinstance(target, gast.Tuple)
        and len(target.elts) == 2
        and isinstance(target.elts[1], gast.Tuple)
    ):
        values = [names.fresh(f"{function}_value") for _ in range(value_counts[function])]
        grads = [src(e) for e in target.elts[1].elts]
        return _parse(f"{', '.join(values + grads)} = {src(call)}", stmt)
    return [stmt]
