"""The passes of each mode, in order, and the driver that runs them.

A user function goes through two groups of passes:

* ``LOADING``, once per function, before any argument type is known (so errors in the
  code come when ``grad`` is called): reading it, spelling array methods as NumPy
  functions, checking the subset, normalising;
* then, per argument types, type inference, and the passes of the mode (``MODES``) on the
  typed tree, before the mode's generator writes the derivative.

Each pass is a named function from tree to tree. ``sourcead show --stage NAME`` prints
the program after any of them (``stages``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gast

from ..frontend.desugar import desugar
from ..frontend.normalize import normalize
from ..frontend.renaming import rename_rebindings
from ..frontend.source import ParsedFunction
from ..frontend.subset import check_subset
from ..lowering import jvp_calls, solver_calls
from ..lowering.arrays import lower_arrays, rewrite_array_syntax
from ..lowering.fusion import fuse_elementwise
from ..lowering.indexing import rewrite_indexing
from ..lowering.promotion import promote_operands
from ..lowering.views import copied_views
from ..trees.names import NameGenerator


@dataclass
class Specialised:
    """What the passes of a mode transform: a function's tree and the types of its names,
    for one list of argument types."""

    program: object  # the Program generating the module (solver and jvp calls add to it)
    loaded: object  # the LoadedFunction
    tree: gast.FunctionDef
    types: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Pass:
    """One named step: ``run`` changes a ``Specialised`` (its tree, its types)."""

    name: str
    summary: str
    run: Callable[[Specialised], None]


# --- loading: no types needed ---------------------------------------------------------------
@dataclass(frozen=True)
class LoadingPass:
    """One step of reading a function: ``run`` takes and returns the parsed function."""

    name: str
    summary: str
    run: Callable[[ParsedFunction], ParsedFunction]


def _array_syntax(parsed: ParsedFunction) -> ParsedFunction:
    rewrite_array_syntax(parsed)  # in place
    return parsed


def _checked(parsed: ParsedFunction) -> ParsedFunction:
    # for v in x, enumerate, zip, comprehensions and module-level tuples: loops and numbers
    desugar(parsed)
    check_subset(parsed)  # annotates every call with what it calls
    return parsed


LOADING = (
    LoadingPass("array syntax", "x.sum() becomes np.sum(x), m.T np.transpose(m)", _array_syntax),
    LoadingPass(
        "checked",
        "Python forms as loops (for v in x, comprehensions), then the subset check",
        _checked,
    ),
)


def loaded_tree(parsed: ParsedFunction) -> tuple[ParsedFunction, gast.FunctionDef]:
    """An already parsed function checked (``LOADING``), and its normalised tree: jumps
    become flags, augmented and tuple assignments single ones, one return at the end, and
    names rebound in straight-line code one name per binding (``x = np.sum(x)``)."""
    generated = bool(getattr(parsed, "source_text", None))  # an adjoint differentiated again
    parsed.generated_code = generated
    for step in LOADING:
        parsed = step.run(parsed)
    normalized = normalize(parsed)
    if not generated:
        rename_rebindings(normalized, parsed.params)
    return parsed, normalized


# --- per argument types -------------------------------------------------------------------------
def _solver_calls(s: Specialised) -> None:
    s.tree = solver_calls.rewrite_calls(s.program, s.loaded, s.tree, s.types)


def _jvp_calls(s: Specialised) -> None:
    s.tree = jvp_calls.rewrite_calls(s.program, s.loaded, s.tree, s.types)


def _views(s: Specialised) -> None:
    s.tree = copied_views(s.loaded.parsed, s.tree, s.types, copy_them=True, program=s.program)


def _views_checked(s: Specialised) -> None:
    copied_views(s.loaded.parsed, s.tree, s.types, copy_them=False, program=s.program)


def _promoted(s: Specialised) -> None:
    s.tree = promote_operands(s.tree, s.types)


def _fused(s: Specialised) -> None:
    s.types = dict(s.types)
    s.tree = fuse_elementwise(s.tree, s.types, NameGenerator(s.tree))


def _lowered(s: Specialised) -> None:
    s.tree, s.types = lower_arrays(s.tree, s.types, NameGenerator(s.tree))


def _indexed(s: Specialised) -> None:
    s.types = dict(s.types)
    s.tree = rewrite_indexing(s.tree, s.types, NameGenerator(s.tree))


VIEWS = Pass(
    "views",
    "a view read after its array changes refused; one read before, a copy (for the adjoint)",
    _views,
)
VIEWS_CHECKED = Pass("views checked", "a view read after its array changes refused", _views_checked)
PROMOTED = Pass(
    "promoted", "operands of @, np.dot and solves cast to one dtype where they differ", _promoted
)
SOLVER_CALLS = Pass(
    "solver calls", "fixed_point, root and odeint become calls of generated wrappers", _solver_calls
)
INDEXED = Pass("indexed", "subscripts with arrays become calls of gathers and scatters", _indexed)
JVP_CALLS = Pass("jvp calls", "jvp(f, ...) becomes a call of f's generated tangent", _jvp_calls)
FUSED = Pass("fused", "element-wise statements of vectors become element loops", _fused)
LOWERED = Pass("lowered", "one operation on whole arrays per assignment", _lowered)

#: The passes between type inference and the generator, per mode:
#:
#: * ``reverse``: ``grad``, ``vjp`` and the adjoints ``hvp`` differentiates again, on the CPU;
#: * ``batched``: the element function of ``vmap`` (a loop, ``prange`` or a CUDA thread),
#:   whose array statements stay whole (no fusion);
#: * ``device`` and ``kernel``: CUDA device functions and kernel adjoints (no fusion: the
#:   target's loops are the threads);
#: * ``forward``: tangents (``jvp``, ``jacfwd``, ``hessian``'s outer sweep).
MODES: dict[str, tuple[Pass, ...]] = {
    "reverse": (VIEWS, PROMOTED, SOLVER_CALLS, INDEXED, JVP_CALLS, FUSED, LOWERED),
    "batched": (VIEWS, PROMOTED, SOLVER_CALLS, INDEXED, JVP_CALLS, LOWERED),
    "device": (VIEWS, PROMOTED, SOLVER_CALLS, INDEXED, JVP_CALLS, LOWERED),
    "kernel": (VIEWS, PROMOTED, SOLVER_CALLS, INDEXED, JVP_CALLS, LOWERED),
    "forward": (VIEWS_CHECKED, PROMOTED, SOLVER_CALLS, INDEXED, JVP_CALLS),
}


def run(mode: str, specialised: Specialised, until: str | None = None) -> Specialised:
    """The passes of ``mode`` applied to ``specialised`` in order (through ``until``)."""
    for step in MODES[mode]:
        step.run(specialised)
        if step.name == until:
            break
    return specialised


__all__ = ["LOADING", "MODES", "Pass", "Specialised", "loaded_tree", "run"]
