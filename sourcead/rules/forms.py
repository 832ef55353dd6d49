"""Calls the compiler handles itself rather than by a derivative rule.

* ``for t in sourcead.checkpointed(range(n), snapshots=s):`` marks a loop for binomial
  checkpointing (``transforms.checkpoint``);
* ``fixed_point``, ``root`` and ``odeint`` (``api.solvers``) are differentiated implicitly
  (``lowering.solver_calls``): each carries its ``SolverSpec`` as ``__sourcead_solver__``,
  so the compiler recognises it without importing the API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import gast

#: While ``host_grad`` records host code, the recorder its loops report to (sourcead.host).
HOST_RECORDING = threading.local()


@dataclass(frozen=True)
class SolverSpec:
    """How a solver is called: ``name(function, state, *fixed, *params, **options)``.

    ``fixed`` names the positional arguments after the state that are not parameters
    (odeint's times); ``numeric`` the options passed on at run time with their defaults;
    ``choices`` the options that must be string constants, with their allowed values
    (the first is the default).
    """

    name: str
    fixed: tuple[str, ...]
    numeric: tuple[tuple[str, object], ...]
    choices: tuple[tuple[str, tuple[str, ...]], ...]

    def options(self, given: dict) -> dict:
        """``given`` keyword values completed with defaults; ValueError for unknown ones."""
        known = {k for k, _ in self.numeric} | {k for k, _ in self.choices}
        for key in given:
            if key not in known:
                raise ValueError(
                    f"{self.name}() got an unexpected keyword {key}= "
                    f"(it takes {', '.join(sorted(known))})"
                )
        options = {k: given.get(k, default) for k, default in self.numeric}
        for key, allowed in self.choices:
            value = given.get(key, allowed[0])
            if value not in allowed:
                raise ValueError(
                    f"{self.name}(): {key}={value!r} is not one of {', '.join(map(repr, allowed))}"
                )
            options[key] = value
        return options


FIXED_POINT = SolverSpec(
    "fixed_point", (), (("tol", 1e-10), ("max_iter", 1000)), (("adjoint", ("iterative", "direct")),)
)
ROOT = SolverSpec("root", (), (("tol", 1e-10), ("max_iter", 50)), ())
ODEINT = SolverSpec(
    "odeint",
    ("t",),
    (("substeps", 1), ("rtol", 1e-6), ("atol", 1e-9), ("max_steps", 100_000)),
    (("method", ("rk4", "dopri5")), ("adjoint", ("continuous", "discrete"))),
)


def solver_spec(obj) -> SolverSpec | None:
    """How ``obj`` is called when it is one of sourcead's solvers, else None."""
    spec = getattr(obj, "__sourcead_solver__", None)
    return spec if isinstance(spec, SolverSpec) else None


def checkpointed(steps: range, snapshots: int | None = None, *, memory: int | None = None) -> range:
    """Mark ``for t in checkpointed(range(...), snapshots=s):`` for binomial checkpointing.

    Args:
        steps: the loop's ``range``.
        snapshots: how many copies of the loop state the adjoint may keep (at least 1).
        memory: alternatively, a budget in bytes for those copies; the adjoint keeps as many
            snapshots as fit (at least one).

    Returns ``steps`` itself, so the loop runs unchanged outside derivatives (in host code
    that ``host_grad`` records, the steps as they are, telling the recording where each
    one starts).
    """
    if (snapshots is None) == (memory is None):
        raise TypeError("checkpointed() takes either snapshots= or memory=, not both or neither")
    if snapshots is not None and snapshots < 1:
        raise ValueError(f"checkpointed(): snapshots must be at least 1, got {snapshots}")
    if memory is not None and memory <= 0:
        raise ValueError(f"checkpointed(): memory must be a positive number of bytes, got {memory}")
    recorder = getattr(HOST_RECORDING, "recorder", None)
    return steps if recorder is None else recorder.checkpointed(steps, snapshots, memory)


def checkpoint_options(fn, stmt: gast.For, call: gast.Call) -> dict:
    """Check a ``checkpointed(range(...), snapshots=...)`` loop header; its options.

    Returns ``{"snapshots": expr}`` or ``{"memory": expr}``; SourceADError if malformed.
    """
    options = {}
    if len(call.args) == 2:
        options["snapshots"] = call.args[1]
    elif len(call.args) != 1:
        raise fn.error("checkpointed() takes a range and snapshots= or memory=", stmt)
    for keyword in call.keywords:
        if keyword.arg not in ("snapshots", "memory") or keyword.arg in options:
            raise fn.error("checkpointed() takes one keyword argument, snapshots= or memory=", stmt)
        options[keyword.arg] = keyword.value
    if len(options) != 1:
        raise fn.error("checkpointed() needs snapshots= or memory= (one of them)", stmt)
    return options
