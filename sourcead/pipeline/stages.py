"""The program after each pass, as ``sourcead show --stage NAME`` prints it.

The stages of a mode, in order: ``parsed`` (your function as read), the loading passes
(``array syntax``, ``checked``), ``normalized``, ``typed`` (type inference: each
assignment's types as a comment), the mode's passes (``passes.MODES``), and last the
generated module (``adjoint`` or ``tangent``).
"""

from __future__ import annotations

import copy

import gast

from ..analysis.types import Array, Scalar, TupleType
from ..frontend.normalize import normalize
from ..frontend.source import load_function
from ..trees.queries import walk_statements
from ..trees.unparse import source as tree_source
from . import loading, passes
from .program import Program

GENERATED = {"forward": "tangent"}  # the last stage's name; "adjoint" for the other modes


def stage_names(mode: str = "reverse") -> list[str]:
    """The stages of ``mode`` in order."""
    return [
        "parsed",
        *(step.name for step in passes.LOADING),
        "normalized",
        "typed",
        *(step.name for step in passes.MODES[mode]),
        GENERATED.get(mode, "adjoint"),
    ]


def stage_source(fn, arg_types: list, wrt: list[str], mode: str, stage: str) -> str:
    """The source of ``fn`` after ``stage`` of ``mode`` (see ``stage_names``), for these
    argument types and ``wrt``."""
    names = stage_names(mode)
    if stage not in names:
        raise ValueError(f"unknown stage {stage!r} of {mode} mode: use one of {', '.join(names)}")
    parsed = load_function(fn)  # a copy of its own: the passes below change it in place
    if stage == "parsed":
        return tree_source([parsed.node]) + "\n"
    for step in passes.LOADING:
        parsed = step.run(parsed)
        if stage == step.name:
            return tree_source([parsed.node]) + "\n"
    if stage == "normalized":
        return tree_source([normalize(parsed)]) + "\n"
    loaded = loading.load(fn)
    program = Program(loading.LOADED)
    types = program.infer(loaded, list(arg_types))
    if stage == "typed":
        return typed_source(loaded.normalized, types)
    if stage != names[-1]:
        specialised = program.specialised(loaded, types, mode, until=stage)
        return typed_source(specialised.tree, specialised.types)
    if mode == "forward":
        program.tangent(fn, list(arg_types), wrt)
    else:
        program.adjoint(fn, list(arg_types), wrt)
    source, _ = program.module_source(f"The {stage} of {loaded.parsed.name} ({mode} mode).")
    return source


def type_text(value_type) -> str:
    """A type as a comment shows it: ``float64``, ``float64[:, :]``, ``(float64, int64)``."""
    if isinstance(value_type, Array):
        return f"{value_type.dtype}[{', '.join(':' * value_type.ndim)}]"
    if isinstance(value_type, Scalar):
        return value_type.dtype or value_type.kind
    if isinstance(value_type, TupleType):
        return "(" + ", ".join(type_text(t) for t in value_type.items) + ")"
    return "?"


def typed_source(tree: gast.FunctionDef, types: dict) -> str:
    """``tree``'s source with the type of each name an assignment binds as a comment."""
    typed = copy.deepcopy(tree)
    params = [a.id for a in typed.args.args]
    typed.trailing_comment = ", ".join(f"{p}: {type_text(types.get(p))}" for p in params)
    for stmt in walk_statements(typed.body):
        if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
            stmt.trailing_comment = f"{stmt.target.id}: {type_text(types.get(stmt.target.id))}"
        elif isinstance(stmt, gast.Assign):
            bound = [
                n.id
                for n in gast.walk(stmt.targets[0])
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
            ]
            if bound:
                stmt.trailing_comment = ", ".join(f"{n}: {type_text(types.get(n))}" for n in bound)
    return tree_source([typed]) + "\n"


__all__ = ["stage_names", "stage_source", "type_text", "typed_source"]
