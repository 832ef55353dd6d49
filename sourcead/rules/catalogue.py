"""The table of every supported NumPy, SciPy and ``math`` function, read from the registry.

Each row names a function as you write it (``np.sum``, ``x.sum()``, ``scipy.special.logsumexp``,
``a @ b``, ``x[idx]``), the options sourcead takes in its calls, and the modes it works in.
A call reaches the registry by one or more *routes*: the entry of the function itself
(``np.sin``), the runtime helper that ``library.py`` calls in its place (``np.sort`` ->
``sort_along``, with ``variants`` for some options), the helper a reduction with options
becomes (``reductions.OPTIONS``: ``np.max(z, axis=1)`` -> ``max_along``), or the calls the
rewrites of ``shaping.py``, ``lowering/einsum.py`` and the indexing pass write
(``REWRITES`` below: those rewrites are code, so their routes are declared here, and
``tests/test_support_table.py`` checks the declarations against them).

A mode holds for a row where it holds for every route (else the cell names the options
that leave it), and for a route where the registry says so:

* reverse (``grad``, ``vjp``): the entry has an adjoint rule;
* forward (``jvp``): it has a tangent rule;
* second order (``hvp``, ``hessian``): both, and every function its adjoint rules call has a
  tangent rule of its own (forward mode runs over the adjoint) or no derivative;
* vmap: ``vmap`` of its gradient on the CPU (``target="cpu"`` or ``"parallel"``), which
  generates the adjoint as reverse mode does;
* device: CUDA device code may call it (``device=True``: ``vmap(..., target="cuda")``,
  kernels).

``forward_only`` entries (the helpers of generated adjoints) are never rows of their own,
and no runtime helper's name is shown. ``markdown()`` writes the table that
``docs/support.md`` holds between its markers (``tools/support_table.py``).
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass, replace

import gast
import numpy as np
import scipy.fft
import scipy.linalg
import scipy.special
import sourcead_runtime
from sourcead_runtime import (
    add_at,
    at_least,
    cast_as,
    cross_product,
    einsum_one,
    einsum_two,
    flip_along,
    masked,
    matrix_power_of,
    pad_of,
    put_along,
    put_masked,
    repeat_along,
    rot90_along,
    squeeze_axes,
    take_along,
    take_pairs,
    tensordot_axes,
    tile_of,
    transpose_axes,
    true_indices,
    vdot_flat,
)

from . import (
    elementwise,
    factorizations,
    fft,
    indexing,
    linalg,
    numpy,
    operators,
    reductions,
    shaping,
    sorting,
    special,
    summaries,
    tensor,
)
from .callees import ARRAY_CONSTRUCTORS, COPY_METHODS, NONDIFFERENTIABLE
from .library import CALLS, LibraryCall, Option
from .reductions import OPTIONS as REDUCTIONS
from .registry import Primitive, entries, entry_for

#: The rule files, in the order of the table's sections, with each section's title.
FAMILIES = (
    (operators, "Operators and arithmetic ufuncs"),
    (elementwise, "Element-wise functions"),
    (numpy, "Whole arrays: choices, products, reshaping, complex parts"),
    (reductions, "Reductions, cumulative sums and indices of extrema"),
    (summaries, "Norms, averages, traces and differences"),
    (sorting, "Sorting and interpolation"),
    (special, "scipy.special"),
    (tensor, "Tensor algebra"),
    (shaping, "Building and reshaping"),
    (indexing, "Indexing with arrays"),
    (linalg, "Linear algebra"),
    (factorizations, "More linear algebra and scipy.linalg"),
    (fft, "FFT"),
)

#: The modules whose functions you call by name, with the prefix you write them with.
MODULES = (
    ("np.", np),
    ("np.linalg.", np.linalg),
    ("np.fft.", np.fft),
    ("math.", math),
    ("scipy.special.", scipy.special),
    ("scipy.linalg.", scipy.linalg),
    ("scipy.fft.", scipy.fft),
    ("", builtins),
)

#: Python's operators as you write them (``operators.OPERATOR_FUNCTIONS`` and ``@``).
SYNTAX = {
    operator.add: "a + b",
    operator.sub: "a - b",
    operator.mul: "a * b",
    operator.truediv: "a / b",
    operator.floordiv: "a // b",
    operator.mod: "a % b",
    operator.pow: "a ** b",
    operator.matmul: "a @ b",
    operator.neg: "-a",
    operator.pos: "+a",
}

MODES = ("reverse", "forward", "second order", "vmap", "device")


class _Joined:
    """The route of the functions that join a tuple of arrays (``callees.JOINING``): the
    generators split their adjoints and tangents into the parts themselves; they always make
    a new array, which device code cannot."""

    def __repr__(self) -> str:
        return "JOINED"


JOINED = _Joined()


@dataclass(frozen=True)
class Route:
    """One way calls of a spelling reach the registry: the function whose entry serves them
    (or ``JOINED``) and ``when`` (the options or forms that take it; "" for the plain call)."""

    target: object
    when: str = ""


@dataclass(frozen=True)
class Rewrite:
    """A function whose calls a rewrite writes as calls of other primitives (declared:
    the rewrites are code): the options it takes and its routes besides its own entry."""

    options: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    family: object = None  # the section that lists it (None: shaping's)


def _r(*pairs) -> tuple[Route, ...]:
    return tuple(Route(target, when) for when, target in pairs)


_CASTS = (np.float64, np.float32, np.complex128, np.complex64, np.int64, np.int32)
_AXIS = "`axis=` (an integer)"

#: Functions rewritten by ``shaping.shaping_call``.
REWRITES: dict[object, Rewrite] = {
    # rules/shaping.py
    np.array: Rewrite(
        ("`dtype=`",),
        _r(("a list of arrays", JOINED), ("an array", np.copy), ("`dtype=`", cast_as)),
    ),
    np.asarray: Rewrite(("`dtype=`",), _r(("a list of arrays", JOINED), ("`dtype=`", cast_as))),
    np.full: Rewrite(("`shape`", "`fill_value`")),
    np.full_like: Rewrite(("`fill_value`",)),
    np.swapaxes: Rewrite(("`axis1`", "`axis2` (integers)")),
    np.moveaxis: Rewrite(("`source`", "`destination` (integers)")),
    np.expand_dims: Rewrite(("`axis` (an integer)",)),
    np.squeeze: Rewrite(("`axis=` (required: an integer or a tuple)",), _r(("", squeeze_axes))),
    np.flip: Rewrite(("`axis=` (an integer or a tuple)",), _r(("`axis=`", flip_along))),
    np.flipud: Rewrite(),
    np.fliplr: Rewrite(),
    np.rot90: Rewrite(("`k` (an integer)", "`axes`"), _r(("", rot90_along))),
    np.roll: Rewrite(("`shift` (one)", _AXIS)),
    np.repeat: Rewrite(("`repeats`", _AXIS), _r(("`axis=`", repeat_along))),
    np.tile: Rewrite(("`reps`",), _r(("", tile_of))),
    np.pad: Rewrite(
        (
            "`pad_width`",
            "`mode=` ('constant', 'edge', 'wrap', 'reflect')",
            "`constant_values=` (one number)",
        ),
        _r(("", pad_of)),
    ),
    np.broadcast_to: Rewrite(("`shape`",)),
    np.atleast_1d: Rewrite((), _r(("", at_least))),
    np.atleast_2d: Rewrite((), _r(("", at_least))),
    np.atleast_3d: Rewrite((), _r(("", at_least))),
    np.stack: Rewrite((_AXIS,), _r(("", JOINED))),
    np.concatenate: Rewrite((_AXIS,), _r(("", JOINED))),
    np.vstack: Rewrite((), _r(("", JOINED))),
    np.hstack: Rewrite((), _r(("", JOINED))),
    np.column_stack: Rewrite((), _r(("", JOINED))),
    **{cast: Rewrite((), _r(("", cast_as))) for cast in _CASTS},
}

#: Functions rewritten by ``lowering/einsum.py`` (listed with tensor algebra).
TENSOR_REWRITES: dict[object, Rewrite] = {
    np.einsum: Rewrite(
        ("subscripts (a string)", "`optimize=` (True or False)"),
        _r(("one operand", einsum_one), ("two or more", einsum_two)),
    ),
    np.tensordot: Rewrite(("`axes=` (an integer or pairs)",), _r(("", tensordot_axes))),
    np.inner: Rewrite((), _r(("", tensordot_axes))),
    np.vdot: Rewrite((), _r(("", vdot_flat))),
    np.linalg.multi_dot: Rewrite(("a list of arrays",), _r(("", operator.matmul))),
    np.kron: Rewrite(),
    np.cross: Rewrite(
        ("`axis=`, `axisa=`, `axisb=`, `axisc=` (-1 only)",), _r(("", cross_product))
    ),
    np.linalg.matrix_power: Rewrite(
        ("`n` (an integer)",), _r(("", matrix_power_of), ("negative `n`", np.linalg.inv))
    ),
    np.transpose: Rewrite(("`axes` (a permutation)",), _r(("`axes`", transpose_axes))),
}
REWRITES |= {f: replace(r, family=tensor) for f, r in TENSOR_REWRITES.items()}

#: Methods rewritten by ``shaping.method_call`` (``shaping.METHODS``).
METHOD_SPELLINGS = {"astype": "x.astype(T)", "squeeze": "x.squeeze()", "repeat": "x.repeat()"}

#: Subscripts and statements the indexing pass (``lowering/indexing.py``) writes as calls.
SUBSCRIPTS = (
    (("x[idx]", "m[:, idx]", "x[mask] (a 1-d mask)"), (take_along, true_indices)),
    (("m[rows, cols]",), (take_pairs,)),
    (("x[mask] (a mask of x's shape)",), (masked,)),
    (("y[idx] = v", "m[:, idx] = v"), (put_along,)),
    (("y[mask] = v",), (put_masked,)),
    (("np.add.at(y, idx, v)",), (add_at,)),
)


# --- modes ------------------------------------------------------------------------------------


def _family_of() -> dict[int, object]:
    """id of each built-in entry -> the rule file that registers it."""
    found = {}
    for module, _ in FAMILIES:
        for value in vars(module).values():
            if isinstance(value, Primitive):
                found.setdefault(id(value), module)
    return found


def _called(func: gast.expr):
    """The function a call in a rule template names (``np.exp``, a runtime helper), or None
    for a method or a local name."""
    if isinstance(func, gast.Name):
        if func.id in sourcead_runtime.__all__:
            return getattr(sourcead_runtime, func.id)
        return getattr(builtins, func.id, None)
    if isinstance(func, gast.Attribute):
        base = {"np": np, "math": math}.get(getattr(func.value, "id", None))
        if isinstance(func.value, gast.Attribute) and func.value.attr == "linalg":
            base = np.linalg
        return getattr(base, func.attr, None) if base is not None else None
    return None


def _twice_differentiable(entry: Primitive) -> bool:
    """Whether forward mode can run over the adjoint rules of ``entry``: every function they
    call has a tangent rule or no derivative."""
    trees = []
    for rule in (entry.adjoint, entry.array_adjoint):
        if rule is not None:
            trees += [c for c in rule.contributions if c is not None] + list(rule.body)
    for tree in trees:
        for node in gast.walk(tree):
            if not isinstance(node, gast.Call):
                continue
            function = _called(node.func)
            if function is None or function in NONDIFFERENTIABLE or function in ARRAY_CONSTRUCTORS:
                continue
            called = entry_for(function)
            if called is None or called.tangent_rule(arrays=True) is None:
                return False
    return True


def route_modes(route: Route) -> dict[str, bool]:
    """The modes ``route`` works in, from the registry (see the module's docstring)."""
    if route.target is JOINED:
        return dict.fromkeys(MODES, True) | {"device": False}
    entry = entry_for(route.target)
    if entry is None:
        return dict.fromkeys(MODES, False)
    reverse = entry.rule(arrays=True) is not None
    forward = entry.tangent_rule(arrays=True) is not None
    return {
        "reverse": reverse,
        "forward": forward,
        "second order": reverse and forward and _twice_differentiable(entry),
        "vmap": reverse,
        "device": entry.device,
    }


# --- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of the table: the spellings, the options taken, the routes (for the modes)."""

    family: str
    names: tuple[str, ...]
    options: tuple[str, ...]
    routes: tuple[Route, ...]

    def modes(self) -> dict[str, str]:
        """Each mode's cell: ✓, — or ✓ with the options that leave it named."""
        cells = {}
        for mode in MODES:
            works = [route_modes(r)[mode] for r in self.routes]
            if all(works):
                cells[mode] = "✓"
            elif not any(works):
                cells[mode] = "—"
            else:
                left = _unique(r.when for r, ok in zip(self.routes, works, strict=True) if not ok)
                cells[mode] = "✓ except " + ", ".join(w for w in left if w)
        return cells


def _unique(items: Iterable) -> tuple:
    return tuple(dict.fromkeys(items))


def public_names() -> dict[int, tuple[str, ...]]:
    """id of each function of ``MODULES`` -> its names there (``np.abs``, ``np.absolute``)."""
    names: dict[int, list[str]] = {}
    for prefix, module in MODULES:
        for name in sorted(vars(module)):
            if not name.startswith("_") and callable(getattr(module, name)):
                names.setdefault(id(getattr(module, name)), []).append(prefix + name)
    return {key: tuple(value) for key, value in names.items()}


def _option_text(name: str, option: Option) -> str:
    kinds = {
        "axes": "None, an integer or a tuple",
        "axis": "an integer, or None: flattened",
        "flag": "True or False",
        "number": "a number",
        "ignored": "ignored",
        "default": f"only {option.default!r}",
    }
    kind = kinds.get(option.takes)
    return f"`{name}=`" + (f" ({kind})" if kind else "")


def _library_spelling(function, call: LibraryCall) -> tuple[tuple, tuple]:
    options = tuple(_option_text(n, call.options[n]) for n in call.signature[call.arguments :])
    routes = [Route(call.helper if call.helper is not None else function)]
    routes += [Route(helper, f"`{option}=`") for option, helper in call.variants.items()]
    return options, tuple(routes)


def _reduction_spelling(function) -> tuple[tuple, tuple]:
    how = REDUCTIONS[function]
    texts = {
        "axis": "`axis=` (" + ("an integer)" if how.single_axis else "an integer or a tuple)"),
        "keepdims": "`keepdims=` (True or False)",
        "ddof": "`ddof=` (a number)",
    }
    options = tuple(texts[name] for name in how.names)
    routes = [] if how.always else [Route(function)]
    routes.append(Route(how.along, ", ".join(f"`{n}=`" for n in how.names)))
    return options, tuple(routes)


def _rule_spelling(function) -> tuple[tuple, tuple]:
    """Options: the keyword parameters of its adjoint rule (the subset check takes those)."""
    rule = entry_for(function).rule(arrays=True)
    keywords = [name for name, _ in rule.defaults] if rule is not None else []
    return tuple(f"`{name}=`" for name in keywords), (Route(function),)


def _spelling(function) -> tuple[tuple, tuple, object] | None:
    """(options, routes, family or None) of calls of the public ``function``, or None
    where sourcead has no rule for it."""
    if function in CALLS:
        return (*_library_spelling(function, CALLS[function]), None)
    if function in REDUCTIONS:
        return (*_reduction_spelling(function), reductions)
    entry = entry_for(function)
    own = entry is not None and not entry.forward_only
    if function in REWRITES:
        rewrite = REWRITES[function]
        routes = ((Route(function),) if own else ()) + rewrite.routes
        return rewrite.options, routes, rewrite.family or shaping
    if own:
        return (*_rule_spelling(function), None)
    return None


def _canonical(routes: Iterable[Route]) -> tuple[Route, ...]:
    """Routes by entry (``np.sin`` and ``math.sin`` share one), each entry once."""
    found: dict[object, Route] = {}
    for route in routes:
        entry = entry_for(route.target) if route.target is not JOINED else None
        target = entry.functions[0] if entry is not None else route.target
        found.setdefault(target, Route(target, route.when))
    return tuple(found.values())


def _family(routes: tuple[Route, ...], module, families: dict[int, object]) -> str:
    titles = {module: title for module, title in FAMILIES}
    for route in routes:
        entry = entry_for(route.target) if route.target is not JOINED else None
        if module is None and entry is not None and id(entry) in families:
            module = families[id(entry)]
    return titles[module or shaping]  # (joined only: np.stack …)


def _name_order(name: str) -> tuple[int, str]:
    """NumPy's spellings first, then SciPy's, ``math``'s, methods, builtins and syntax."""
    ranks = ("np.", "scipy.", "math.", "x.")
    return next((k for k, p in enumerate(ranks) if name.startswith(p)), len(ranks)), name


def _methods() -> dict[object, list[str]]:
    """Function -> the methods and attributes that spell it (``x.sum()``, ``x.T``)."""
    methods: dict[object, list[str]] = {}
    for e in entries():
        if e.builtin and not e.forward_only:
            spelled = [f"x.{m}()" for m in e.methods] + [f"x.{a}" for a in e.attributes]
            if spelled:
                methods.setdefault(e.functions[0], []).extend(spelled)
    for method, function in shaping.METHODS.items():
        methods.setdefault(function, []).append(METHOD_SPELLINGS[method])
    return methods


def rows() -> list[Row]:
    """Every row of the table, sorted by family (``FAMILIES``' order) and name."""
    names = public_names()
    families = _family_of()
    methods = _methods()
    spelled: dict[tuple, list[str]] = {}  # (options, routes, family) -> names

    def add(spellings: Iterable[str], options: tuple, routes: Iterable, family=None) -> None:
        routes = _canonical(routes)
        key = (options, routes, _family(routes, family, families))
        spelled.setdefault(key, []).extend(spellings)

    functions = [f for e in entries() if e.builtin for f in e.functions]
    for function in _unique([*functions, *CALLS, *REDUCTIONS, *REWRITES]):
        spelling = _spelling(function) if function not in SYNTAX else None
        public = names.get(id(function), ())
        if spelling is not None and public:
            add([*public, *methods.get(function, [])], *spelling)
    for function, spellings in methods.items():
        if not names.get(id(function)) and entry_for(function) is not None:  # x.astype(T)
            add(spellings, ("`T` (a float, complex or integer dtype)",), (Route(function),))
    for function, syntax in SYNTAX.items():
        if entry_for(function) is not None:
            add([syntax], (), (Route(function),), operators)
    for spellings, targets in SUBSCRIPTS:
        add(spellings, (), (Route(t) for t in targets))
    order = {title: k for k, (_, title) in enumerate(FAMILIES)}
    table = [
        Row(family, tuple(sorted(_unique(spellings), key=_name_order)), options, routes)
        for (options, routes, family), spellings in spelled.items()
    ]
    return sorted(table, key=lambda r: (order[r.family], _name_order(r.names[0])))


def without_derivative() -> dict[str, tuple[str, ...]]:
    """The functions sourcead takes whose results carry no derivative, by kind."""
    names = public_names()

    def spelled(functions) -> tuple[str, ...]:
        found = [n for f in functions if entry_for(f) is None for n in names.get(id(f), ())]
        return tuple(sorted(set(found), key=_name_order))

    return {
        "values without derivative (rounding, tests, sizes)": spelled(NONDIFFERENTIABLE),
        "new arrays, whose adjoint starts at zero": spelled(ARRAY_CONSTRUCTORS),
    }


# --- the page's table -------------------------------------------------------------------------

BEGIN = "<!-- support-table: begin (generated by tools/support_table.py; do not edit) -->"
END = "<!-- support-table: end -->"


def _code(name: str) -> str:
    """``x[mask] (a 1-d mask)`` as code followed by its note."""
    code, _, note = name.partition(" (")
    return f"`{code}`" + (f" ({note}" if note else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The table as Markdown, one section per family, between ``BEGIN`` and ``END``."""
    lines = [BEGIN, ""]
    family = None
    header = "| function | options | " + " | ".join(MODES) + " |"
    for row in rows():
        if row.family != family:
            family = row.family
            lines += ["", f"### {family}", "", header, "|" + "---|" * (2 + len(MODES))]
        names = " · ".join(_code(n) for n in row.names)
        options = ", ".join(row.options) or " "
        cells = row.modes()
        lines.append(
            f"| {_cell(names)} | {_cell(options)} | "
            + " | ".join(_cell(cells[m]) for m in MODES)
            + " |"
        )
    lines += ["", "### Without derivative, and copies", ""]
    for kind, spellings in without_derivative().items():
        lines.append(f"* {kind.capitalize()}: " + ", ".join(f"`{s}`" for s in spellings))
    copies = ", ".join(f"`x.{m}()`" for m in sorted(COPY_METHODS))
    lines.append(f"* Copies, differentiated as the arrays they copy: {copies}")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def replaced(page: str) -> str:
    """``page`` with the text between its markers replaced by the current table."""
    start, end = page.index(BEGIN), page.index(END) + len(END) + 1
    return page[:start] + markdown() + page[end:]
