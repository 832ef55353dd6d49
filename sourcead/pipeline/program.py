"""From a user function and argument types to one generated module of Python source.

A ``Program`` loads each user function once (source, subset check, normalisation), infers
types per specialisation, and generates an adjoint function for the entry point and for
every user function it calls (each specialised to which arguments carry derivatives). The
result is one module: imports, the globals the code reads, the primal functions of the
callees, and the adjoint functions.
"""

from __future__ import annotations

import builtins
import inspect
import numbers
import textwrap
import types as pytypes

import gast
import sourcead_runtime
from sourcead_runtime import checkpoint as sourcead_checkpoint

from ..analysis.inference import TypeInference, TypeProblem, expression_type
from ..analysis.types import Array, TupleType
from ..backends.cpu import timings
from ..errors import SourceADError
from ..frontend.source import ParsedFunction, load_function
from ..lowering import jvp_calls, solver_calls
from ..lowering.arrays import (
    array_runtime_imports,
    user_primitive_definition,
)
from ..transforms.forward import TangentGenerator
from ..transforms.reverse import AdjointGenerator
from ..transforms.targets import Target
from ..trees.codegen import parse_statements, src
from ..trees.module import GeneratedModule
from ..trees.names import MODULE_NAMES
from ..trees.queries import names_read
from . import passes

RUNTIME_NAMES = ("grow", "new_tape", "reserve", "trip_count")
CHECKPOINT_NAMES = tuple(sourcead_checkpoint.__all__)  # the schedule's actions and helpers


class LoadedFunction:
    """A user function after the checks and normalisation that need no argument types."""

    def __init__(self, fn, parsed: ParsedFunction | None = None):
        # ``parsed``: an already parsed tree (generated code differentiated again)
        # the loading passes (passes.LOADING): checked and normalised, before any types
        with timings.stage("frontend"):
            self.parsed, self.normalized = passes.loaded_tree(
                parsed if parsed is not None else load_function(fn)
            )
        self.callees = [
            n.callee.target
            for n in gast.walk(self.parsed.node)
            if isinstance(n, gast.Call)
            and getattr(n, "callee", None) is not None
            and n.callee.kind == "user"
        ] + solver_calls.solver_functions(self.parsed.node)
        self.callees += jvp_calls.jvp_functions(self.parsed.node)
        if parsed is None:
            _refuse_parameter_names(self.parsed)
        self._check_no_argument_writes()
        self.callee_modules = []

    def load_callees(self, cache: dict, stack: tuple = ()) -> None:
        """Load (parse and check) every user function this one calls, now, not at call time."""
        for callee in self.callees:
            if callee in stack:
                raise self.parsed.error("recursive functions are not supported", self.parsed.node)
            if callee not in cache:
                cache[callee] = LoadedFunction(callee)
                cache[callee].load_callees(cache, stack + (self.parsed.pyfunc,))
            if solver_calls.has_solver_calls(cache[callee].parsed.node):
                raise cache[callee].parsed.error(
                    "fixed_point, root and odeint can be called in the function given to "
                    "sourcead, not in the functions it calls",
                    cache[callee].parsed.node,
                )
            if jvp_calls.has_jvp_calls(cache[callee].parsed.node):
                raise cache[callee].parsed.error(
                    "jvp can be called in the function given to grad, not in the functions it "
                    "calls",
                    cache[callee].parsed.node,
                )

    def _check_no_argument_writes(self) -> None:
        """Note the parameters whose arrays the function writes into: element and slice
        stores through a parameter's name, unless a statement of the function's top level
        has bound the name to another array before (``b_result = b_result.copy()``)."""
        self.written_params = set()
        params = set(self.parsed.params)
        for stmt in self.normalized.body:
            for node in gast.walk(stmt):
                if isinstance(node, gast.Subscript) and isinstance(node.ctx, gast.Store):
                    if isinstance(node.value, gast.Name) and node.value.id in params:
                        self.written_params.add(node.value.id)
            if isinstance(stmt, gast.Assign):
                rebound = {t.id for t in stmt.targets if isinstance(t, gast.Name)}
                params -= rebound - self.written_params


class Program:
    """The generated module for one entry function, argument types and ``wrt``."""

    def __init__(self, loaded: dict, checkpointing: bool = True):
        self.loaded = loaded  # pyfunc -> LoadedFunction, shared across Programs
        self.checkpointing = checkpointing  # False: checkpointed loops taped at every step
        self.functions: list[gast.FunctionDef] = []  # generated functions, callees first
        # every function of the module as written by module_source (primals included),
        # each node knowing its line there
        self.definitions: list[gast.FunctionDef] = []
        self.adjoint_names: dict = {}
        self.tangent_names: dict = {}
        self.result_types: dict = {}
        self.primals: list = []
        self.in_progress: list = []
        # the runtime's helpers, which the module imports by name: a user function ``cumprod``
        # gets the adjoint ``cumprod_adjoint`` but the tangent ``cumprod_tangent_1``, not the
        # name of the runtime's ``cumprod_tangent``
        self.used_names: set[str] = set(sourcead_runtime.__all__)

    def load(self, fn) -> LoadedFunction:
        if fn not in self.loaded:
            self.loaded[fn] = LoadedFunction(fn)
        return self.loaded[fn]

    # --- types -------------------------------------------------------------------------
    def infer(self, loaded: LoadedFunction, arg_types: list) -> dict:
        params = loaded.parsed.params
        if len(arg_types) != len(params):
            raise TypeError(
                f"{loaded.parsed.name}() takes {len(params)} arguments, got {len(arg_types)}"
            )
        key = (loaded.parsed.pyfunc, tuple(arg_types))
        if key in self.in_progress:
            raise loaded.parsed.error("recursive functions are not supported", loaded.parsed.node)
        self.in_progress.append(key)
        try:
            inference = TypeInference(
                loaded.normalized,
                dict(zip(params, arg_types, strict=True)),
                self._callee_result(loaded),
            )
            with timings.stage("type inference"):
                types = inference.run()
        except TypeProblem as problem:
            raise loaded.parsed.error(problem.message, problem.node) from None
        finally:
            self.in_progress.pop()
        returned = loaded.normalized.body[-1].value
        result = (
            types.get(returned.id)
            if isinstance(returned, gast.Name)
            else TupleType(tuple(types.get(e.id) for e in returned.elts))
        )
        self.result_types[key] = result
        return types

    def _callee_result(self, caller: LoadedFunction):
        def result(call_node, arg_types):
            if call_node.callee.kind == "solver":  # fixed_point, root, odeint
                return solver_calls.result_type(self, call_node, arg_types)
            if call_node.callee.kind == "jvp":
                return jvp_calls.result_type(self, call_node, arg_types)
            callee = self.load(call_node.callee.target)
            if len(arg_types) != len(callee.parsed.params):
                raise TypeProblem(
                    call_node,
                    f"{callee.parsed.name}() takes {len(callee.parsed.params)} arguments, got {len(arg_types)}",
                )
            if callee.written_params:
                raise TypeProblem(
                    call_node,
                    f"{callee.parsed.name}() writes into its array argument(s) "
                    f"{', '.join(sorted(callee.written_params))}; called functions must not modify their arguments",
                )
            key = (callee.parsed.pyfunc, tuple(arg_types))
            if key not in self.result_types:
                try:
                    self.infer(callee, list(arg_types))
                except SourceADError as exc:
                    if exc.lineno is None:
                        raise caller.parsed.error(exc.message, call_node) from None
                    raise
            return self.result_types[key]

        return result

    # --- generation ----------------------------------------------------------------------
    def adjoint(
        self,
        fn,
        arg_types: list,
        wrt: list[str],
        function_name: str | None = None,
        target: Target | None = None,
        mode: str = "reverse",
        differentiated_outputs: int | None = None,
    ) -> str:
        """Generate (once) the adjoint of ``fn`` for these types and ``wrt``; its name.

        ``differentiated_outputs``: how many returned values, from the first, carry
        derivatives (``has_aux=True``: one); all by default.
        ``mode`` names the passes that run before the generator (``passes.MODES``);
        ``target`` (for this function, not its callees; the CPU's by default) decides how
        tapes and adjoint arrays are held (``transforms/targets.py``: CUDA device functions
        and kernels have targets of their own).
        """
        loaded = self.load(fn)
        key = (loaded.parsed.pyfunc, tuple(arg_types), tuple(wrt), differentiated_outputs)
        if key in self.adjoint_names:
            return self.adjoint_names[key]
        types = self.infer(loaded, arg_types)
        name = self._fresh(function_name or f"{loaded.parsed.name}_adjoint")
        self.adjoint_names[key] = name
        self._add_primal(loaded)
        specialised = self.specialised(loaded, types, mode)
        generator = AdjointGenerator(
            loaded.parsed,
            specialised.tree,
            specialised.types,
            wrt,
            name,
            # the passes name new values (a call's argument expression, lowered): the
            # callees' argument types come from the types after them
            self._callee_adjoint(loaded, specialised.types),
            target=target,
            differentiated_outputs=differentiated_outputs,
        )
        generator.checkpointing = generator.checkpointing and self.checkpointing
        try:
            with timings.stage("generation"):
                self.functions.append(generator.generate())
        except TypeProblem as problem:
            raise loaded.parsed.error(problem.message, problem.node) from None
        return name

    def tangent(
        self,
        fn,
        arg_types: list,
        wrt: list[str],
        function_name: str | None = None,
        vector: bool = False,
        flat_results: bool = False,
    ) -> str:
        """Generate (once) the tangent (forward mode) of ``fn``; its name. ``vector``: carry
        many directions per sweep; ``flat_results``: the convention of called functions'
        tangents (see ``forward.py``)."""
        loaded = self.load(fn)
        key = (loaded.parsed.pyfunc, tuple(arg_types), tuple(wrt), vector, flat_results)
        if key in self.tangent_names:
            return self.tangent_names[key]
        types = self.infer(loaded, arg_types)
        name = self._fresh(function_name or f"{loaded.parsed.name}_tangent")
        self.tangent_names[key] = name
        self._add_primal(loaded)  # a call without tangents calls the primal
        specialised = self.specialised(loaded, types, "forward")
        node, types = specialised.tree, specialised.types

        def callee_tangent(call_node, mask):
            if isinstance(call_node.callee.target, solver_calls.SolverWrapper):
                return call_node.callee.target.tangent(mask, vector)
            callee = self.load(call_node.callee.target)
            callee_types = [expression_type(a, types) for a in call_node.args]
            callee_wrt = [p for p, m in zip(callee.parsed.params, mask, strict=True) if m]
            return self.tangent(
                callee.parsed.pyfunc, callee_types, callee_wrt, vector=vector, flat_results=True
            )

        generator = TangentGenerator(
            loaded.parsed, node, types, wrt, name, callee_tangent, vector, flat_results
        )
        try:
            with timings.stage("generation"):
                self.functions.append(generator.generate())
        except TypeProblem as problem:
            raise loaded.parsed.error(problem.message, problem.node) from None
        return name

    def specialised(
        self, loaded: LoadedFunction, types: dict, mode: str, until: str | None = None
    ) -> passes.Specialised:
        """``loaded``'s normalised tree after the passes of ``mode`` (through ``until``)."""
        specialised = passes.Specialised(self, loaded, loaded.normalized, types)
        try:
            with timings.stage("passes"):
                return passes.run(mode, specialised, until)
        except TypeProblem as problem:
            raise loaded.parsed.error(problem.message, problem.node) from None

    def _callee_adjoint(self, caller: LoadedFunction, caller_types: dict):
        def adjoint_name(call_node, mask):
            if isinstance(call_node.callee.target, solver_calls.SolverWrapper):
                return call_node.callee.target.adjoint(mask)
            callee = self.load(call_node.callee.target)
            arg_types = [expression_type(a, caller_types) for a in call_node.args]
            wrt = [p for p, m in zip(callee.parsed.params, mask, strict=True) if m]
            return self.adjoint(callee.parsed.pyfunc, arg_types, wrt)

        return adjoint_name

    def _add_primal(self, loaded: LoadedFunction) -> None:
        for callee in loaded.callees:
            callee_loaded = self.load(callee)
            _refuse_module_name(callee_loaded.parsed)
            if callee_loaded not in self.primals:
                self.primals.append(callee_loaded)
                self.used_names.add(callee_loaded.parsed.name)
                self._add_primal(callee_loaded)

    def _fresh(self, base: str) -> str:
        name, counter = base, 0
        while name in self.used_names:
            counter += 1
            name = f"{base}_{counter}"
        self.used_names.add(name)
        return name

    # --- the module ----------------------------------------------------------------------------
    def module_source(self, title: str) -> tuple[str, dict]:
        """The generated module's source and the namespace it must run in."""
        with timings.stage("generation"):
            return self.module(title).text(), {}

    def module(self, title: str) -> GeneratedModule:
        """The generated module, as parts and trees (``trees.module``); its definitions
        are also ``self.definitions``, whose nodes learn their lines when it is written."""
        header = ["import math", "", "import numba", "import numpy as np"]
        extra_imports, constants, primitive_definitions = [], [], []
        functions = (
            [p.parsed for p in self.primals]
            + [self.loaded[key[0]].parsed for key in self.adjoint_names]
            + [self.loaded[key[0]].parsed for key in self.tangent_names]
        )
        seen = {"math", "np", "numba", *RUNTIME_NAMES}
        # user functions defined in this module, by their own names
        defined = {parsed.pyfunc: parsed.name for parsed in functions}
        aliases = []
        for parsed in functions:
            # checkpointed loops keep their options beside the tree, not in it
            options = [
                expr
                for loop in gast.walk(parsed.node)
                for expr in (getattr(loop, "checkpoint", None) or {}).values()
            ]
            for node in [n for root in [parsed.node, *options] for n in gast.walk(root)]:
                if not hasattr(node, "global_value"):
                    continue
                if isinstance(node, gast.Attribute):
                    node = _module_of_constant(node, parsed)
                    if node is None:
                        continue
                value, ident = node.global_value, node.id
                if ident in seen or ident in self.used_names:
                    continue
                seen.add(ident)
                if defined.get(getattr(value, "py_func", value), ident) != ident:
                    # a helper called by another name (``helper = other`` in the user's
                    # module): that name refers to the definition here
                    aliases.append(f"{ident} = {defined[getattr(value, 'py_func', value)]}")
                elif isinstance(value, pytypes.ModuleType):
                    extra_imports.append(
                        f"import {value.__name__} as {ident}"
                        if value.__name__ != ident
                        else f"import {ident}"
                    )
                elif isinstance(value, bool | numbers.Number) and not isinstance(value, complex):
                    constants.append(f"{ident} = {value!r}")
                elif (definition := user_primitive_definition(value)) is not None:
                    primitive_definitions.append(definition)  # compiled with the module
                elif ident not in vars(builtins) and getattr(value, "__module__", None):
                    extra_imports.append(
                        f"from {value.__module__} import {value.__name__} as {ident}"
                    )
        # the user's functions keep their comments (trees.codegen.parse_statements)
        user_definitions = [_user_definition(p.parsed) for p in self.primals]
        runtime_imports = (
            _tape_imports(self.functions)
            # the user's functions too: array syntax rewrote some of their calls into the
            # runtime's helpers (np.array([a, b]) -> array_of((a, b)))
            + array_runtime_imports(user_definitions + self.functions)
            + solver_calls.runtime_imports(self.functions)
            + _checkpoint_imports(self.functions)
        )
        # a helper the rewrites named (``einsum_two``) is imported once, with the runtime's
        imported = {
            name.strip()
            for line in runtime_imports
            for name in line.split(" import ")[1].split(",")
        }
        extra_imports = [
            line for line in extra_imports if not line.endswith(tuple(f" as {n}" for n in imported))
        ]
        imports = header + ([""] + runtime_imports if runtime_imports else []) + extra_imports
        self.definitions = [
            *user_definitions,
            *primitive_definitions,
            *self.functions,
        ]
        return GeneratedModule(title, imports, constants, self.definitions, aliases)


def _module_of_constant(node: gast.Attribute, parsed: ParsedFunction) -> gast.Name | None:
    """For a number read as another module's attribute (``consts.C``), a copy of the name of
    that module with the module as its ``global_value``, for the generated module to import
    it; None for anything else (``np.sum``: modules the generated module imports already)."""
    if not isinstance(node.global_value, numbers.Number):
        return None
    root = node.value
    while isinstance(root, gast.Attribute):
        root = root.value
    if not isinstance(root, gast.Name):
        return None
    module = parsed.lookup(root.id)
    if not isinstance(module, pytypes.ModuleType):
        return None
    named = gast.Name(id=root.id, ctx=gast.Load(), annotation=None, type_comment=None)
    named.global_value = module
    return named


def _tape_imports(functions: list[gast.FunctionDef]) -> list[str]:
    """The import of the tape helpers that the generated functions call, if any."""
    mentioned = names_read(functions)
    used = [name for name in RUNTIME_NAMES if name in mentioned]
    return [f"from sourcead_runtime import {', '.join(used)}"] if used else []


def _checkpoint_imports(functions: list[gast.FunctionDef]) -> list[str]:
    """The import of the checkpointing schedule, when a generated function uses it."""
    if "revolve_plan" not in names_read(functions):
        return []
    return [f"from sourcead_runtime import {', '.join(CHECKPOINT_NAMES)}"]


#: Python's builtins that generated code calls (tapes grow with ``max``, loops use ``range``).
_CALLED_BUILTINS = frozenset(
    {"abs", "bool", "complex", "enumerate", "float", "int", "len", "max", "min", "range"}
    | {"round", "sum", "tuple", "zip"}
)


def _refuse_module_name(parsed: ParsedFunction) -> None:
    """A function of yours copied into the generated module must not take the name of one of
    its imports or of a builtin it calls: a runtime helper that generated code calls
    (``mean_along`` for ``x.mean(axis=1)``) would be your function there."""
    if (getattr(parsed.pyfunc, "__module__", None) or "").startswith("sourcead_runtime"):
        return  # the runtime's own (trip_count, differentiated in second derivatives)
    if parsed.name in _CALLED_BUILTINS:
        what = f"Python's builtin {parsed.name}, which generated code calls"
    elif parsed.name in ("np", "math", "numba", "sourcead_runtime"):
        what = "a module that generated code imports"
    elif parsed.name in MODULE_NAMES:
        what = f"sourcead_runtime.{parsed.name}, a helper that generated code calls"
    else:
        return
    raise parsed.error(
        f"the function {parsed.name} has the name of {what}; give it another name", parsed.node
    )


def _refuse_parameter_names(parsed: ParsedFunction) -> None:
    """A parameter must not take the name of a module that generated code imports (``np``,
    ``math``), of a tape helper (``new_tape``) or of a builtin it calls (``len``, ``max``):
    inside the function generated code would read the argument instead (local names are
    renamed, ``frontend/renaming.py``; parameters keep their names, which callers use)."""
    for param in parsed.params:
        if param in _CALLED_BUILTINS:
            what = f"Python's builtin {param}, which generated code calls"
        elif param in ("np", "math", "numba", "sourcead_runtime"):
            what = "a module that generated code imports"
        elif param in RUNTIME_NAMES:
            what = f"sourcead_runtime.{param}, which generated code calls to record values"
        else:
            continue
        raise parsed.error(
            f"the parameter {param} of {parsed.name} has the name of {what}; give it another name",
            parsed.node,
        )


def _user_definition(parsed: ParsedFunction) -> gast.FunctionDef:
    """A primal's definition for the generated module: as the user wrote it (with its
    comments, without its decorators), or as rewritten."""
    if getattr(parsed, "source_text", None):  # a tree rewritten from generated code
        text = parsed.source_text
    elif getattr(parsed, "checkpointed_loops", False) or getattr(parsed, "calls_rewritten", False):
        # checkpointed(range(...)) -> range(...), helpers.sq(x) -> sq(x)
        text = src(parsed.node)
    else:
        text = textwrap.dedent(inspect.getsource(parsed.pyfunc))
    definition = parse_statements(text)[0]
    definition.decorator_list = []
    return definition


__all__ = ["Program", "LoadedFunction", "Array"]
