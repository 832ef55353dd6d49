"""Calls of ``fixed_point``, ``root`` and ``odeint`` inside differentiated functions.

Such a call takes a function of the user's (``step``, ``residual``, ``rhs``). Four hooks:

* ``check_call`` (subset): the function argument is a user function, the options are known,
  the string options are constants;
* ``result_type`` (type inference): infers the user function's types for the state and
  parameters and checks that it returns the state's type;
* ``rewrite_calls`` (before adjoint generation): replaces each such call by a call of a
  generated wrapper, e.g. ``x = fixed_point_of_step(x0, a, tol, max_iter)``, which the
  reverse transformation treats as a call of a user function: its adjoint wrapper (made by
  ``SolverWrapper.adjoint`` for the arguments that carry derivatives) solves again and then
  runs the implicit or ODE adjoint, as every callee's adjoint does in joint mode;
* the wrappers call the kernels of ``sourcead_runtime`` through two small adapters per user
  function: one on a flat state array, one giving its vector-Jacobian products (from the
  adjoint that sourcead generates for the user function).

``SolverWrapper`` builds what every solver's wrappers share (signatures, adapters, kernels,
the parameters' gradients); what differs between solvers, how each solves and
differentiates, is its ``Solver`` strategy (``solver_methods``).
"""

from __future__ import annotations

import copy
import inspect
import textwrap

import gast
import sourcead_runtime as runtime
from sourcead_runtime import ode as runtime_ode
from sourcead_runtime import solvers as runtime_solvers

from ..analysis.inference import TypeProblem, expression_type
from ..analysis.types import FLOAT, Array, Scalar, describe
from ..frontend.normalize import name
from ..rules.callees import Callee
from ..rules.forms import solver_spec
from ..trees.codegen import function_tree, parse_statements
from ..trees.queries import names_read
from .solver_methods import SOLVERS, Solver

#: Runtime helpers that the specialised solver templates call.
RUNTIME_HELPERS = runtime.SOLVER_HELPERS

#: The solver templates of sourcead_runtime, by name.
TEMPLATES = {
    "fixed_point_solve": runtime_solvers.fixed_point_solve,
    "transposed_jacobian": runtime_solvers.transposed_jacobian,
    "fixed_point_adjoint": runtime_solvers.fixed_point_adjoint,
    "newton_solve": runtime_solvers.newton_solve,
    "root_adjoint": runtime_solvers.root_adjoint,
    "fixed_point_tangent": runtime_solvers.fixed_point_tangent,
    "root_tangent": runtime_solvers.root_tangent,
    "odeint_forward": runtime_ode.odeint_forward,
    "odeint_continuous_adjoint": runtime_ode.odeint_continuous_adjoint,
    "odeint_discrete_adjoint": runtime_ode.odeint_discrete_adjoint,
}


def runtime_imports(functions: list[gast.FunctionDef]) -> list[str]:
    """The import of the runtime helpers that the generated ``functions`` use."""
    mentioned = names_read(functions)
    used = [n for n in RUNTIME_HELPERS if n in mentioned]
    return [f"from sourcead_runtime import {', '.join(used)}"] if used else []


def specialise(template, name: str, bindings: dict[str, str], constants: dict) -> gast.FunctionDef:
    """The tree of a runtime solver template with its function parameters bound.

    ``bindings`` maps parameters of ``template`` (``step``, ``f``, ``vjp``...) to names of
    generated functions, ``constants`` parameters and globals (``method``, ``RK4``...) to
    values; those parameters disappear from the signature and the branches the constants
    decide are dropped. Numba then compiles the copy like any generated function (no
    function-typed arguments: cacheable).
    """
    # the template's comments stay on its statements (trees.codegen.parse_statements)
    definition = parse_statements(textwrap.dedent(inspect.getsource(template)))[0]
    definition.name = name
    definition.decorator_list = []
    definition.args.args = [
        a for a in definition.args.args if a.id not in bindings and a.id not in constants
    ]
    for node in gast.walk(definition):
        if isinstance(node, gast.Name) and node.id in bindings:
            node.id = bindings[node.id]
    definition = _Folder(constants).visit(definition)
    _drop_unreachable(definition)
    return definition


def _drop_unreachable(tree) -> None:
    """Remove the statements after a ``continue``/``break``/``return``/``raise`` in a block."""
    jumps = (gast.Continue, gast.Break, gast.Return, gast.Raise)
    for node in gast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                for index, stmt in enumerate(block):
                    if isinstance(stmt, jumps):
                        del block[index + 1 :]
                        break


class _Folder(gast.NodeTransformer):
    """Replaces names by constants and drops the code that they rule out."""

    def __init__(self, constants: dict):
        self.constants = constants

    def visit_Name(self, node):
        if isinstance(node.ctx, gast.Load) and node.id in self.constants:
            return gast.Constant(value=self.constants[node.id], kind=None)
        return node

    def visit_Compare(self, node):
        node = self.generic_visit(node)
        operands = [node.left, *node.comparators]
        if len(node.ops) == 1 and all(isinstance(o, gast.Constant) for o in operands):
            a, b = operands[0].value, operands[1].value
            if isinstance(node.ops[0], gast.Eq):
                return gast.Constant(value=a == b, kind=None)
            if isinstance(node.ops[0], gast.NotEq):
                return gast.Constant(value=a != b, kind=None)
        return node

    def visit_UnaryOp(self, node):
        node = self.generic_visit(node)
        if isinstance(node.op, gast.Not) and isinstance(node.operand, gast.Constant):
            return gast.Constant(value=not node.operand.value, kind=None)
        return node

    def visit_BoolOp(self, node):
        node = self.generic_visit(node)
        is_and = isinstance(node.op, gast.And)
        kept = []
        for value in node.values:
            if isinstance(value, gast.Constant):
                if bool(value.value) != is_and:  # False in `and`, True in `or`: decides it
                    return gast.Constant(value=value.value, kind=None)
                continue  # True in `and`, False in `or`: no effect
            kept.append(value)
        if not kept:
            return gast.Constant(value=is_and, kind=None)
        return kept[0] if len(kept) == 1 else gast.BoolOp(op=node.op, values=kept)

    def visit_IfExp(self, node):
        node = self.generic_visit(node)
        if isinstance(node.test, gast.Constant):
            return node.body if node.test.value else node.orelse
        return node

    def visit_If(self, node):
        node = self.generic_visit(node)
        if isinstance(node.test, gast.Constant):
            return (node.body if node.test.value else node.orelse) or [gast.Pass()]
        return node


def solver_of(call: gast.Call) -> Solver:
    """The strategy of the solver that ``call`` calls (its spec included)."""
    return SOLVERS[solver_spec(call.callee.target).name]


def _solver_calls(tree: gast.AST) -> list[gast.Call]:
    return [
        n
        for n in gast.walk(tree)
        if isinstance(n, gast.Call) and getattr(n, "solver_function", None) is not None
    ]


def solver_functions(tree: gast.AST) -> list:
    """The user functions passed to solver calls in ``tree``."""
    return [n.solver_function for n in _solver_calls(tree)]


def has_solver_calls(tree: gast.AST) -> bool:
    return bool(_solver_calls(tree))


def first_solver_call(tree: gast.AST) -> gast.Call | None:
    """The first call of fixed_point, root or odeint in ``tree`` (None when there is none)."""
    return min(
        _solver_calls(tree),
        key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)),
        default=None,
    )


def refuse_in_batches(loaded, what: str, target: str, plain: bool) -> None:
    """SourceADError at the first solver call of ``loaded`` where ``vmap`` cannot map it: in
    a plain function (the solvers run inside derivatives only) or on the GPU."""
    call = first_solver_call(loaded.normalized)
    if call is None or not (plain or target == "cuda"):
        return
    solver = solver_of(call).name
    if target == "cuda":
        reason = f"{solver}() cannot run on the GPU: use target='cpu' or 'parallel'"
    else:
        reason = (
            f"{solver}() runs inside derivatives only: map sourcead.jvp or sourcead.grad of "
            "it, or call the function in a loop"
        )
    raise loaded.parsed.error(f"{what}: {reason}", call)


# --- types ----------------------------------------------------------------------------------
def _state_type(value_type, call, what: str):
    if isinstance(value_type, Scalar) and value_type.kind in ("int", "float"):
        if value_type.kind == "float" and value_type.dtype != "float64":
            raise TypeProblem(call, f"{what} must be a float64 value")
        return FLOAT
    if isinstance(value_type, Array) and value_type.dtype == "float64" and value_type.ndim == 1:
        return value_type
    raise TypeProblem(call, f"{what} must be a float or a 1-d float64 array")


def function_types(call, arg_types: list):
    """(state type, the user function's argument types), or None while some are unknown."""
    spec = solver_of(call).spec
    rest = arg_types[1:]
    if any(t is None for t in rest):
        return None
    state = _state_type(rest[0], call, f"the initial value of {spec.name}()")
    fixed = []
    if spec.fixed:  # odeint's times
        t = rest[1]
        if not (isinstance(t, Array) and t.ndim == 1 and t.dtype == "float64"):
            raise TypeProblem(call, "the times t of odeint() must be a 1-d float64 array")
        fixed = [FLOAT]
    params = list(rest[1 + len(spec.fixed) :])
    return state, [state, *fixed, *params]


def result_type(program, call, arg_types: list):
    """The type of a solver call's value; infers the user function's types on the way."""
    found = function_types(call, arg_types)
    if found is None:
        return None
    state, types = found
    solver = solver_of(call)
    loaded = program.load(call.solver_function)
    if len(types) != len(loaded.parsed.params):
        raise TypeProblem(
            call,
            f"{loaded.parsed.name}() takes {len(loaded.parsed.params)} arguments; "
            f"{solver.name}() passes it {len(types)}",
        )
    program.infer(loaded, types)
    returned = program.result_types[(loaded.parsed.pyfunc, tuple(types))]
    if returned != state:
        raise TypeProblem(
            call,
            f"{loaded.parsed.name}() must return a value of the state's type ({describe(state)}), "
            f"not {describe(returned)}",
        )
    return solver.value_type(state)


# --- rewriting calls into calls of generated wrappers --------------------------------------
def rewrite_calls(program, loaded, tree, types: dict):
    """``tree`` (``loaded``'s, after the passes before this one) with each solver call
    replaced by a call of a wrapper (in a copy)."""
    if not has_solver_calls(tree):
        return tree
    tree = copy.deepcopy(tree)
    in_loops = {
        id(n)
        for loop in gast.walk(tree)
        if isinstance(loop, gast.For | gast.While)
        for n in gast.walk(loop)
    }
    for node in gast.walk(tree):
        if not isinstance(node, gast.Assign):
            continue
        call = node.value
        if not (isinstance(call, gast.Call) and getattr(call, "solver_function", None)):
            continue
        solver = solver_of(call)
        arg_types = [None] + [_argument_type(a, types) for a in call.args[1:]]
        found = function_types(call, arg_types)
        if found is None:
            raise loaded.parsed.error(
                f"cannot tell the types of the arguments of {solver.name}()", call
            )
        if id(node) in in_loops and isinstance(solver.value_type(found[0]), Array):
            # the reverse sweep does not yet restore arrays that calls return inside loops
            raise loaded.parsed.error(
                f"{solver.name}() with an array result inside a loop is not supported "
                "yet; call it before the loop",
                call,
            )
        wrapper = SolverWrapper.get(program, loaded, call, arg_types)
        new_call = gast.Call(
            func=name(wrapper.name),
            args=[copy.deepcopy(a) for a in call.args[1:]] + wrapper.option_expressions(call),
            keywords=[],
        )
        gast.copy_location(new_call, call)
        new_call.callee = Callee("user", wrapper)
        node.value = new_call
    return tree


def _argument_type(expr, types: dict):
    """The type of a solver call's argument (a module-level number included)."""

    return expression_type(expr, types)


class SolverWrapper:
    """The generated primal, adjoint and tangent wrappers of one solver call's specialisation.

    Wrapper arguments: the state, odeint's times, the parameters, then the numeric options.
    The wrapper builds what all solvers share; ``self.solver`` (a ``Solver``) what is
    particular to this one: how it solves and how its derivatives are computed.
    """

    def __init__(self, program, loaded, call, arg_types):
        self.program = program
        self.caller = loaded
        self.solver = solver_of(call)
        self.spec = self.solver.spec
        self.function = program.load(call.solver_function)
        self.state, self.types = function_types(call, arg_types)
        self.scalar = isinstance(self.state, Scalar)
        self.choices = {k: allowed[0] for k, allowed in self.spec.choices}
        for keyword in call.keywords:
            if keyword.arg in self.choices:
                self.choices[keyword.arg] = keyword.value.value
        self.__name__ = self.spec.name  # for the names of gradients in the caller
        fname = self.function.parsed.name
        # the user function's parameter names, renamed where they would clash in the adapters
        adapter_names = {"state", "params", "t", "w", "value", "b_params", "b_state"}
        self.user_params = [
            p if p not in adapter_names and f"b_{p}" not in adapter_names else f"{p}_"
            for p in self.function.parsed.params
        ]
        self.call_node = call
        self.n_fixed = len(self.spec.fixed)
        self.param_types = self.types[1 + self.n_fixed :]
        self.arg_names = self._argument_names()
        self.state_adapter = program._fresh(f"{fname}_state")
        self.vjp_adapters: dict = {}
        self.jvp_adapters: dict = {}
        self.adjoints: dict = {}
        self.tangents: dict = {}
        self.name = program._fresh(f"{self.spec.name}_of_{fname}")
        program.functions.append(self._state_adapter_source())
        program.functions.append(self._primal_source())

    def __deepcopy__(self, memo):
        return self  # one wrapper per specialisation: copies of a tree share it

    @classmethod
    def get(cls, program, loaded, call, arg_types) -> SolverWrapper:
        wrappers = program.__dict__.setdefault("solver_wrappers", {})
        key = (
            call.callee.target,
            call.solver_function,
            tuple(arg_types),
            tuple(
                sorted(
                    (k.arg, k.value.value)
                    for k in call.keywords
                    if k.arg in dict(solver_of(call).spec.choices)
                )
            ),
        )
        if key not in wrappers:
            wrappers[key] = cls(program, loaded, call, arg_types)
        return wrappers[key]

    # --- names --------------------------------------------------------------------------
    def _argument_names(self) -> list[str]:
        reserved = {k for k, _ in self.spec.numeric} | {"params", "b_params", "b_result", "ys"}
        names = []
        for k, p in enumerate(self.user_params):
            base = p if p not in reserved else f"arg{k}"
            names.append(base + "0" if k == 0 else base)  # the state's initial value: x0
        return names

    def option_expressions(self, call) -> list:
        given = {k.arg: k.value for k in call.keywords}
        return [
            copy.deepcopy(given[key]) if key in given else gast.Constant(value=default, kind=None)
            for key, default in self.spec.numeric
        ]

    @property
    def wrapper_params(self) -> list[str]:
        return self.arg_names + [k for k, _ in self.spec.numeric]

    @property
    def state_name(self) -> str:
        """The state's name in the docstrings: ``x`` for the initial value ``x0``."""
        return self.arg_names[0][:-1]

    @property
    def param_names(self) -> list[str]:
        """The wrapper's arguments that are the user function's parameters."""
        return self.arg_names[1 + self.n_fixed :]

    def params_tuple(self) -> str:
        """Source of the tuple of the parameters, as the kernels take them."""
        names = self.param_names
        if not names:
            return "()"
        return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"

    def initial_state(self) -> str:
        """Source of the initial state as a flat array."""
        x0 = self.arg_names[0]
        return f"np.array([float({x0})])" if self.scalar else x0

    # --- adapters -------------------------------------------------------------------------
    def _unpack_params(self) -> list[str]:
        lines = []
        for k, p in enumerate(self.user_params[1 + self.n_fixed :]):
            lines.append(f"{p} = params[{k}]")
        return lines

    def _call_args(self, state: str) -> str:
        fixed = ["t"] if self.n_fixed else []
        return ", ".join([state, *fixed, *self.user_params[1 + self.n_fixed :]])

    def _signature(self, *extra) -> str:
        fixed = ["t"] if self.n_fixed else []
        return ", ".join(["state", *fixed, "params", *extra])

    def _state_adapter_source(self) -> gast.FunctionDef:
        fname = self.function.parsed.name
        call = f"{fname}({self._call_args('state[0]' if self.scalar else 'state')})"
        value = f"np.array([{call}])" if self.scalar else call
        body = [
            f'"""{fname} on the state as a flat array (the solvers of sourcead_runtime use those)."""',
            *self._unpack_params(),
            f"return {value}",
        ]
        return function_tree(f"def {self.state_adapter}({self._signature()}):", body)

    def vjp_adapter(self, active: tuple[int, ...]) -> str:
        """The adapter giving vector-Jacobian products wrt the state and params ``active``."""
        if active in self.vjp_adapters:
            return self.vjp_adapters[active]
        fname = self.function.parsed.name
        params = self.user_params[1 + self.n_fixed :]
        original = self.function.parsed.params[1 + self.n_fixed :]
        wrt = [self.function.parsed.params[0]] + [original[k] for k in active]
        adjoint = self.program.adjoint(self.function.parsed.pyfunc, list(self.types), wrt)
        adapter = self.program._fresh(f"{fname}_state_vjp")
        self.vjp_adapters[active] = adapter
        seed = "w[0]" if self.scalar else "w"
        state = "state[0]" if self.scalar else "state"
        grads = ["b_state"] + [f"b_{params[k]}" for k in active]
        body = [
            f'"""{fname}\'s value, and its vector-Jacobian products with the state and with '
            f'the parameters {", ".join(params[k] for k in active) or "(none)"} (flattened)."""',
            *self._unpack_params(),
            f"value, ({', '.join(grads)}{',' if len(grads) == 1 else ''}) = "
            f"{adjoint}({self._call_args(state)}, {seed})",
        ]
        size = (
            " + ".join(
                "1" if isinstance(self.param_types[k], Scalar) else f"{params[k]}.size"
                for k in active
            )
            or "0"
        )
        body.append(f"b_params = np.empty({size})")
        offset = "0"
        for k in active:
            g = f"b_{params[k]}"
            if isinstance(self.param_types[k], Scalar):
                body.append(f"b_params[{offset}] = {g}")
                offset = _plus(offset, "1")
            else:
                end = _plus(offset, f"{params[k]}.size")
                body.append(f"b_params[{offset}:{end}] = {g}.ravel()")
                offset = end
        if self.scalar:
            body.append("return np.array([value]), np.array([b_state]), b_params")
        else:
            body.append("return value, b_state, b_params")
        self.program.functions.append(
            function_tree(f"def {adapter}({self._signature('w')}):", body)
        )
        return adapter

    def kernel(self, template: str, label: str | None = None, **bindings) -> str:
        """A copy of a runtime solver template bound to adapters (generated once); its name,
        ``label`` (default: the template's name) and the user function's.

        Keyword values that are not strings are constants (``method``, ``direct``)."""
        constants = {k: v for k, v in bindings.items() if not isinstance(v, str)}
        bindings = {k: v for k, v in bindings.items() if isinstance(v, str)}
        if "method" in constants:
            constants.update(RK4=runtime_ode.RK4, DOPRI5=runtime_ode.DOPRI5)
        kernels = self.program.__dict__.setdefault("solver_kernels", {})
        key = (template, tuple(sorted(bindings.items())), tuple(sorted(constants.items())))
        if key not in kernels:
            base = bindings.get("step") or bindings.get("residual") or bindings.get("f")
            base = base or bindings.get("vjp") or bindings["jvp"]
            kernels[key] = self.program._fresh(f"{label or template}_{_function_part(base)}")
            self.program.functions.append(
                specialise(TEMPLATES[template], kernels[key], bindings, constants)
            )
        return kernels[key]

    def jacobian_t(self, vjp: str | None = None) -> str:
        """The kernel giving ``(∂value/∂x)^T`` at a state, from the vector-Jacobian products of
        ``vjp`` (default: the adapter for the state alone); its name."""
        return self.kernel("transposed_jacobian", vjp=vjp or self.vjp_adapter(()))

    # --- wrappers -------------------------------------------------------------------------
    def _primal_source(self) -> gast.FunctionDef:
        solver = self.solver
        body = [
            f'"""{solver.description(self)}"""',
            f"return {solver.value(self, solver.solve(self))}",
        ]
        return function_tree(f"def {self.name}({', '.join(self.wrapper_params)}):", body)

    def _active_params(self, mask: list[bool], what: str) -> tuple[int, ...]:
        """The indices of the parameters where ``mask`` (over the wrapper arguments) is true;
        SourceADError when it asks for ``what`` (gradients, derivatives) with respect to
        odeint's times."""
        if self.n_fixed and mask[1]:
            raise self.caller.parsed.error(
                f"{what} with respect to the times t of odeint() are not supported",
                self.call_node,
            )
        first_param = 1 + self.n_fixed
        return tuple(k for k in range(len(self.param_types)) if mask[first_param + k])

    def adjoint(self, mask: list[bool]) -> str:
        """The adjoint wrapper for the wrapper arguments where ``mask`` is true; its name."""
        key = tuple(mask)
        if key in self.adjoints:
            return self.adjoints[key]
        first_param = 1 + self.n_fixed
        active = self._active_params(mask, "gradients")
        adjoint_name = self.program._fresh(f"{self.name}_adjoint")
        self.adjoints[key] = adjoint_name
        body: list = []
        gradients = {}
        if active or (mask[0] and self.solver.depends_on_initial_state):
            lines, gradients = self.solver.adjoint_lines(self, self.vjp_adapter(active))
            body += lines
            # the solver's flat gradient b_params, split into the active parameters' gradients
            offset = "0"
            for k in active:
                p = self.arg_names[first_param + k]
                g = f"b_{p}"
                if isinstance(self.param_types[k], Scalar):
                    body.append(f"{g} = float(b_params[{offset}])")
                    offset = _plus(offset, "1")
                else:
                    end = _plus(offset, f"{p}.size")
                    body.append(f"{g} = b_params[{offset}:{end}].reshape({p}.shape)")
                    offset = end
                gradients[first_param + k] = g
        else:  # nothing the solution depends on carries a derivative: zero gradients
            body.append(f"solution = {self.solver.solve(self)}")
        returned = []
        for index, (arg, m) in enumerate(zip(self.wrapper_params, mask, strict=True)):
            if not m:
                continue
            if index in gradients:
                returned.append(gradients[index])
            elif index < len(self.types) and isinstance(self.types[index], Array):
                returned.append(f"np.zeros_like({arg})")
            else:
                returned.append("0.0")
        grads = "(" + ", ".join(returned) + ("," if len(returned) == 1 else "") + ")"
        body.append(f"return {self.solver.value(self, 'solution')}, {grads}")
        doc = (
            f'"""{self.solver.description(self)} Also the gradient of the dot product of the '
            f'result with b_result, by the {self.solver.adjoint_method(self)}."""'
        )
        signature = ", ".join(self.wrapper_params + ["b_result=1.0"])
        self.program.functions.append(
            function_tree(f"def {adjoint_name}({signature}):", [doc, *body])
        )
        return adjoint_name

    # --- forward mode -------------------------------------------------------------------
    def jvp_adapter(self, active: tuple[int, ...], vector: bool) -> str:
        """The adapter giving the user function's value and its tangent along the state's
        tangent and the tangents of the parameters ``active``; its name."""
        key = (active, vector)
        if key in self.jvp_adapters:
            return self.jvp_adapters[key]
        fname = self.function.parsed.name
        params = self.user_params[1 + self.n_fixed :]
        original = self.function.parsed.params[1 + self.n_fixed :]
        wrt = [self.function.parsed.params[0]] + [original[k] for k in active]
        tangent = self.program.tangent(
            self.function.parsed.pyfunc, list(self.types), wrt, vector=vector, flat_results=True
        )
        adapter = self.program._fresh(f"{fname}_state_jvp")
        self.jvp_adapters[key] = adapter
        taken = {"state", "params", "dstate", "dparams", "value", "dvalue", "out", "t", *params}
        dnames = [_unused(f"d{params[k]}", taken) for k in active]
        state, dstate = ("state[0]", "dstate[0]") if self.scalar else ("state", "dstate")
        body = [
            f'"""{fname}\'s value and its tangent along the state\'s tangent dstate and the '
            f"tangents dparams of {', '.join(params[k] for k in active) or '(no parameters)'} "
            '(flat state)."""',
            *self._unpack_params(),
            *(f"{d} = dparams[{j}]" for j, d in enumerate(dnames)),
            f"value, dvalue = {tangent}({self._call_args(state)}, {', '.join([dstate, *dnames])})",
        ]
        if not self.scalar:
            body.append("return value, dvalue")
        elif vector:
            body += [
                "out = np.empty((1, dvalue.shape[0]))",
                "out[0] = dvalue",
                "return np.array([value]), out",
            ]
        else:
            body.append("return np.array([value]), np.array([dvalue])")
        signature = self._signature("dstate", "dparams")
        self.program.functions.append(function_tree(f"def {adapter}({signature}):", body))
        return adapter

    def sensitivity_adapter(self, active: tuple[int, ...], vector: bool) -> str:
        """odeint's right-hand side on the state and its tangents together (flat, the state
        first): the forward sensitivity equations; its name."""
        jvp = self.jvp_adapter(active, vector)
        adapter = self.program._fresh(f"{self.function.parsed.name}_state_sensitivities")
        dstate = (
            "np.ascontiguousarray(state[n:]).reshape((n, (state.shape[0] - n) // n))"
            if vector
            else "state[n:]"
        )
        body = [
            '"""The time derivative of the state and of its tangents: the right-hand side and '
            'its tangent (params: the parameters, their tangents and the state\'s size)."""',
            "base, dparams, n = params",
            f"value, dvalue = {jvp}(state[:n], t, base, {dstate}, dparams)",
            "out = np.empty(state.shape[0])",
            "out[:n] = value",
            "out[n:] = dvalue.ravel()",
            "return out",
        ]
        self.program.functions.append(function_tree(f"def {adapter}({self._signature()}):", body))
        return adapter

    def tangent(self, mask: list[bool], vector: bool) -> str:
        """The tangent wrapper for the wrapper arguments where ``mask`` is true (their tangents
        follow the arguments; a trailing axis of directions in vector mode); its name."""
        key = (tuple(mask), vector)
        if key in self.tangents:
            return self.tangents[key]
        first_param = 1 + self.n_fixed
        active = self._active_params(mask, "derivatives")
        name = self.program._fresh(f"{self.name}_tangent")
        self.tangents[key] = name
        taken = set(self.wrapper_params) | {"solution", "dsolution", "augmented", "ndir", "n"}
        tangent_params = {}
        for index, (arg, m) in enumerate(zip(self.wrapper_params, mask, strict=True)):
            if m:
                tangent_params[index] = _unused(f"d{arg}", taken)
                taken.add(tangent_params[index])
        dparams = [tangent_params[first_param + k] for k in active]
        dparams_tuple = "(" + ", ".join(dparams) + ("," if len(dparams) == 1 else "") + ")"
        body: list = []
        if vector:
            body.append(f"ndir = {next(iter(tangent_params.values()))}.shape[-1]")
        body.append(f"solution = {self.solver.solve(self)}")
        body += self.solver.tangent_lines(
            self, active, vector, tangent_params.get(0), dparams_tuple
        )
        doc = (
            f'"""{self.solver.description(self)} Also its tangent along the tangents of the '
            f'arguments, by {self.solver.tangent_method()}."""'
        )
        signature = ", ".join(self.wrapper_params + list(tangent_params.values()))
        self.program.functions.append(function_tree(f"def {name}({signature}):", [doc, *body]))
        return name


def _unused(base: str, taken: set) -> str:
    while base in taken:
        base += "_"
    return base


def _plus(a: str, b: str) -> str:
    return b if a == "0" else f"{a} + {b}"


def _function_part(adapter: str) -> str:
    """``step`` from the adapter names ``step_state``, ``step_state_vjp``, ``step_state_vjp_1``."""
    return adapter.split("_state")[0]
