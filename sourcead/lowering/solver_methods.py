"""What differs between ``fixed_point``, ``root`` and ``odeint`` in their generated wrappers.

``solver_calls.SolverWrapper`` builds the same functions for every solver call: a primal
wrapper, adjoint and tangent wrappers, and the adapters and kernels they call. What each
solver adds is a small strategy object, a ``Solver``, found by name in ``SOLVERS``:

* ``solve``: the call of the kernel that solves forward, giving the flat solution;
* ``value``: the call's value, taken from that flat solution;
* ``value_type``: the type of that value, from the state's;
* ``description``: the sentence that opens the wrappers' docstrings;
* ``adjoint_lines``: the adjoint wrapper's body up to the flat gradient ``b_params`` of the
  parameters, and the gradients it gives the other arguments (odeint's initial state);
* ``tangent_lines``: the tangent wrapper's body after the forward solve;
* ``adjoint_method``, ``tangent_method``: the words naming how they differentiate.

Each hook gets the ``SolverWrapper`` it builds for: the user function's adapters, the
kernels (``wrapper.kernel``) and the names of the wrapper's arguments.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from sourcead_runtime import ode as runtime_ode

from ..analysis.types import Array, Scalar
from ..rules.forms import FIXED_POINT, ODEINT, ROOT, SolverSpec

#: odeint's ``method=`` choices as the codes the runtime kernels take.
RUNGE_KUTTA_CODES = {"rk4": runtime_ode.RK4, "dopri5": runtime_ode.DOPRI5}


class Solver(ABC):
    """How calls of one solver are solved and differentiated (the hooks above)."""

    spec: SolverSpec
    #: whether the solution depends on the initial state; a converged fixed point or root
    #: does not, so its gradient and tangent with respect to the initial state are zero
    depends_on_initial_state: bool

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def options(self) -> str:
        """The numeric options, as the wrappers pass them on to the kernels."""
        return ", ".join(key for key, _ in self.spec.numeric)

    def value_type(self, state):
        """The type of the call's value, for a state of type ``state``."""
        return state

    @abstractmethod
    def solve(self, wrapper) -> str:
        """Source of the forward solve, giving the flat solution."""

    def value(self, wrapper, flat: str) -> str:
        """Source of the call's value from the flat solution ``flat``."""
        return f"{flat}[0]" if wrapper.scalar else flat

    @abstractmethod
    def description(self, wrapper) -> str:
        """The wrappers' docstring: what the call computes."""

    @abstractmethod
    def adjoint_lines(self, wrapper, vjp: str) -> tuple[list[str], dict[int, str]]:
        """The adjoint wrapper's lines that set ``solution`` and the flat gradient
        ``b_params`` of the active parameters (``vjp``: the adapter giving the user
        function's vector-Jacobian products), and the sources of the gradients of other
        arguments, by argument index."""

    @abstractmethod
    def adjoint_method(self, wrapper) -> str:
        """How the adjoint wrapper differentiates, completing "by the ..."."""

    @abstractmethod
    def tangent_lines(
        self, wrapper, active: tuple[int, ...], vector: bool, dstate: str | None, dparams: str
    ) -> list[str]:
        """The tangent wrapper's lines after ``solution = <forward solve>``, its return
        included: ``active`` the parameters with tangents, ``dstate`` the initial state's
        tangent (None without one), ``dparams`` the tuple of the parameters' tangents;
        ``vector``: each tangent has a trailing axis of ``ndir`` directions."""

    @abstractmethod
    def tangent_method(self) -> str:
        """How the tangent wrapper differentiates, completing "by ..."."""

    @staticmethod
    def user_call(wrapper, *fixed: str) -> str:
        """``step(x, a, b)``: the user function applied to the state, then ``fixed``, then
        the wrapper's parameters."""
        arguments = ", ".join([wrapper.state_name, *fixed, *wrapper.param_names])
        return f"{wrapper.function.parsed.name}({arguments})"


class ImplicitSolver(Solver):
    """A solver whose derivatives come from the implicit function theorem at the solution."""

    depends_on_initial_state = False

    @abstractmethod
    def implicit_adjoint(self, wrapper, vjp: str, seed: str) -> str:
        """Source of the flat gradient of the parameters at ``solution``, for the flat
        cotangent ``seed`` of the solution."""

    @abstractmethod
    def implicit_tangent(
        self, wrapper, active: tuple[int, ...], vector: bool, dparams: str, zeros: str
    ) -> str:
        """Source of the solution's flat tangent at ``solution`` (``zeros``: a zero tangent
        of its shape, where an iterative solve starts)."""

    def adjoint_lines(self, wrapper, vjp: str) -> tuple[list[str], dict[int, str]]:
        seed = "np.array([b_result])" if wrapper.scalar else "b_result"
        lines = [
            f"solution = {self.solve(wrapper)}",
            f"b_params = {self.implicit_adjoint(wrapper, vjp, seed)}",
        ]
        return lines, {}

    def tangent_lines(
        self, wrapper, active: tuple[int, ...], vector: bool, dstate: str | None, dparams: str
    ) -> list[str]:
        zeros = "np.zeros((solution.shape[0], ndir))" if vector else "np.zeros(solution.shape[0])"
        if active:
            tangent = self.implicit_tangent(wrapper, active, vector, dparams, zeros)
        else:  # the solution does not depend on where the iteration starts
            tangent = zeros
        dvalue = "dsolution[0]" if wrapper.scalar else "dsolution"
        return [f"dsolution = {tangent}", f"return {self.value(wrapper, 'solution')}, {dvalue}"]


class FixedPoint(ImplicitSolver):
    """``fixed_point(step, x0, *params)``: iterates ``x = step(x, *params)``."""

    spec = FIXED_POINT

    def solve(self, wrapper) -> str:
        solve = wrapper.kernel("fixed_point_solve", step=wrapper.state_adapter)
        return f"{solve}({wrapper.initial_state()}, {wrapper.params_tuple()}, {self.options})"

    def description(self, wrapper) -> str:
        call = self.user_call(wrapper)
        return (
            f"The fixed point {wrapper.state_name} = {call}, iterated from {wrapper.arg_names[0]}."
        )

    def implicit_adjoint(self, wrapper, vjp: str, seed: str) -> str:
        direct = wrapper.choices["adjoint"] == "direct"
        adjoint = wrapper.kernel(
            "fixed_point_adjoint",
            vjp=vjp,
            # None, not a name: a constant that drops the dense branch from the kernel
            jacobian_t_of=wrapper.jacobian_t(vjp) if direct else None,
            direct=direct,
        )
        return f"{adjoint}(solution, {wrapper.params_tuple()}, {seed}, {self.options})"

    def adjoint_method(self, wrapper) -> str:
        how = (
            "by a dense linear solve" if wrapper.choices["adjoint"] == "direct" else "by iteration"
        )
        return f"implicit function theorem: w = b + (d step/dx)^T w solved {how}"

    def implicit_tangent(
        self, wrapper, active: tuple[int, ...], vector: bool, dparams: str, zeros: str
    ) -> str:
        solve = wrapper.kernel("fixed_point_tangent", jvp=wrapper.jvp_adapter(active, vector))
        return f"{solve}(solution, {wrapper.params_tuple()}, {dparams}, {zeros}, {self.options})"

    def tangent_method(self) -> str:
        return (
            "the implicit function theorem: dx = (d step/dx) dx + (d step/dp) dp "
            "solved by iteration"
        )


class Root(ImplicitSolver):
    """``root(residual, x0, *params)``: Newton's method on ``residual(x, *params) = 0``, with
    the Jacobian from the user function's vector-Jacobian products."""

    spec = ROOT

    def solve(self, wrapper) -> str:
        solve = wrapper.kernel(
            "newton_solve", residual=wrapper.state_adapter, jacobian_t_of=wrapper.jacobian_t()
        )
        return f"{solve}({wrapper.initial_state()}, {wrapper.params_tuple()}, {self.options})"

    def description(self, wrapper) -> str:
        call = self.user_call(wrapper)
        return f"A root of {call} = 0, by Newton's method from {wrapper.arg_names[0]}."

    def implicit_adjoint(self, wrapper, vjp: str, seed: str) -> str:
        adjoint = wrapper.kernel("root_adjoint", vjp=vjp, jacobian_t_of=wrapper.jacobian_t())
        return f"{adjoint}(solution, {wrapper.params_tuple()}, {seed})"

    def adjoint_method(self, wrapper) -> str:
        return "implicit function theorem: (dr/dx)^T w = b, gradient -(dr/dp)^T w"

    def implicit_tangent(
        self, wrapper, active: tuple[int, ...], vector: bool, dparams: str, zeros: str
    ) -> str:
        solve = wrapper.kernel(
            "root_tangent",
            jacobian_t_of=wrapper.jacobian_t(),
            jvp=wrapper.jvp_adapter(active, vector),
        )
        return f"{solve}(solution, {wrapper.params_tuple()}, {dparams}, {zeros})"

    def tangent_method(self) -> str:
        return "the implicit function theorem: (dr/dx) dx = -(dr/dp) dp solved densely"


class Odeint(Solver):
    """``odeint(rhs, y0, t, *params)``: the states at the times ``t`` (one row each), by
    Runge-Kutta steps; differentiated by an adjoint ODE or the steps reversed, and forward
    by the sensitivity equations."""

    spec = ODEINT
    depends_on_initial_state = True

    def value_type(self, state):
        return Array("float64", 1 if isinstance(state, Scalar) else 2)

    def method_code(self, wrapper) -> int:
        return RUNGE_KUTTA_CODES[wrapper.choices["method"]]

    def times(self, wrapper) -> str:
        return wrapper.arg_names[1]

    def solve(self, wrapper) -> str:
        solve = wrapper.kernel(
            "odeint_forward", f=wrapper.state_adapter, method=self.method_code(wrapper)
        )
        return (
            f"{solve}({wrapper.initial_state()}, {self.times(wrapper)}, "
            f"{wrapper.params_tuple()}, {self.options})"
        )

    def value(self, wrapper, flat: str) -> str:
        return f"{flat}[:, 0].copy()" if wrapper.scalar else flat

    def description(self, wrapper) -> str:
        derivative = f"d{wrapper.state_name}/dt = {self.user_call(wrapper, 't')}"
        return (
            f"{derivative} integrated with {wrapper.choices['method']} from {wrapper.arg_names[0]}."
        )

    def adjoint_lines(self, wrapper, vjp: str) -> tuple[list[str], dict[int, str]]:
        method = self.method_code(wrapper)
        # the kernels take the cotangents of the states as rows, one per time
        b_ys = (
            "np.ascontiguousarray(b_result).reshape((b_result.shape[0], 1))"
            if wrapper.scalar
            else "b_result"
        )
        arguments = f"{b_ys}, {self.times(wrapper)}, {wrapper.params_tuple()}, {self.options}"
        if wrapper.choices["adjoint"] == "continuous":
            solve = self.solve(wrapper)  # its kernels precede the adjoint's in the module
            adjoint = wrapper.kernel("odeint_continuous_adjoint", vjp=vjp, method=method)
            lines = [
                f"solution = {solve}",
                f"b_state, b_params = {adjoint}(solution, {arguments})",
            ]
        else:  # the discrete adjoint integrates forward again itself, keeping the steps
            adjoint = wrapper.kernel(
                "odeint_discrete_adjoint", f=wrapper.state_adapter, vjp=vjp, method=method
            )
            lines = [
                f"solution, b_state, b_params = {adjoint}({wrapper.initial_state()}, {arguments})"
            ]
        return lines, {0: "float(b_state[0])" if wrapper.scalar else "b_state"}

    def adjoint_method(self, wrapper) -> str:
        if wrapper.choices["adjoint"] == "continuous":
            return "continuous adjoint: the adjoint ODE integrated backwards in time"
        return "discrete adjoint: the Runge-Kutta steps reversed exactly"

    def tangent_lines(
        self, wrapper, active: tuple[int, ...], vector: bool, dstate: str | None, dparams: str
    ) -> list[str]:
        """The state and its tangents integrated together (the forward sensitivity
        equations), from the solution's first row."""
        if dstate is None:
            initial_tangent = "np.zeros(n * ndir)" if vector else "np.zeros(n)"
        elif wrapper.scalar:
            initial_tangent = f"{dstate}.copy()" if vector else f"np.array([float({dstate})])"
        else:
            initial_tangent = f"{dstate}.ravel()"
        sensitivities = wrapper.kernel(
            "odeint_forward",
            label="odeint_sensitivities",
            f=wrapper.sensitivity_adapter(active, vector),
            method=self.method_code(wrapper),
        )
        lines = [
            "n = solution.shape[1]",
            f"initial = np.concatenate((solution[0], {initial_tangent}))",
            f"augmented = {sensitivities}(initial, {self.times(wrapper)}, "
            f"({wrapper.params_tuple()}, {dparams}, n), {self.options})",
        ]
        if wrapper.scalar:
            tangent = "augmented[:, 1:].copy()" if vector else "augmented[:, 1].copy()"
        elif vector:
            tangent = "np.ascontiguousarray(augmented[:, n:]).reshape((solution.shape[0], n, ndir))"
        else:
            tangent = "augmented[:, n:].copy()"
        return [*lines, f"return {self.value(wrapper, 'solution')}, {tangent}"]

    def tangent_method(self) -> str:
        return "the forward sensitivity equations, integrated with the state"


#: The strategy of each solver, by the solver's name (``SolverSpec.name``).
SOLVERS: dict[str, Solver] = {solver.name: solver for solver in (FixedPoint(), Root(), Odeint())}
