"""A hypothesis strategy for random well-formed programs in sourcead's supported subset.

A program is a module: a few helper functions and an entry function ``f`` with float,
array and int parameters, maybe module globals (``K1 = 1.5``) and constants read from a
second generated module (``fuzzconsts.C1``), and whole-array code (``arrays.py``). Some
programs also say what to rebind between two ``grad`` calls (a global, a constant, a
helper) and carry the program as it reads after that (``Program.rebound``). It is built
as a small tree of our own (expressions and statements as tuples) and rendered twice:

* ``source``: the plain program that sourcead differentiates, written to a real file;
* ``probe_source``: the same program with every float comparison, ``abs``/``min``/``max``
  and ``int()`` routed through probe functions that record how close the evaluation came
  to a branch boundary or a kink, and every assigned value checked for size. The oracles
  reject draws whose inputs sit near a boundary, so finite differences stay trustworthy.

Values stay bounded by construction where it is cheap (math functions on safe domains:
``log(1 + e*e)``, ``sqrt(2 + cos(e))``, divisions by ``1 + e*e``) and by rejection where
it is not (loops that multiply).

Every choice is drawn so that hypothesis shrinks towards the simplest alternative: fewer
statements, leaves before operators, constants before variables.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
from hypothesis import strategies as st

from .arrays import ARRAY_NODES, MATRIX_SHAPES, ArrayMixin

# --------------------------------------------------------------------------- tables

#: Unary functions on safe domains: ``{0}`` is the argument (any bounded float).
UNARY = [
    "math.sin({0})",
    "math.cos({0})",
    "math.tanh({0})",
    "math.atan({0})",
    "math.asinh({0})",
    "math.erf({0})",
    "math.erfc({0})",
    "math.log(1.0 + {0} * {0})",
    "math.sqrt(1.0 + {0} * {0})",
    "math.exp(math.sin({0}))",
    "math.expm1(math.tanh({0}))",
    "math.log1p({0} * {0})",
    "math.log2(2.0 + math.cos({0}))",
    "math.log10(1.5 + {0} * {0})",
    "math.asin(0.5 * math.tanh({0}))",
    "math.acos(0.5 * math.sin({0}))",
    "math.acosh(1.5 + {0} * {0})",
    "math.atanh(0.5 * math.tanh({0}))",
    "math.tan(0.5 * math.sin({0}))",
    "math.sinh(math.cos({0}))",
    "math.cosh(math.sin({0}))",
    "math.pow(1.5 + math.sin({0}), 1.5)",
    "math.hypot({0}, 1.5)",
    "math.atan2({0}, 2.0)",
    "{0} ** 2",
    "{0} ** 3",
    "{0} / (1.0 + {0} * {0})",
    "np.sin({0})",
    "np.cos({0})",
    "np.tanh({0})",
    "np.arctan({0})",
    "np.arcsinh({0})",
    "np.exp(np.cos({0}))",
    "np.log(2.0 + np.sin({0}))",
    "np.log1p({0} * {0})",
    "np.sqrt(2.0 + np.cos({0}))",
    "np.square({0})",
    "np.arctan2({0}, 1.5)",
    "np.power(1.5 + np.sin({0}), 2.5)",
]

#: Binary functions: ``{0}``, ``{1}`` are the arguments.
BINARY = [
    "{0} + {1}",
    "{0} - {1}",
    "{0} * {1}",
    "{0} / (1.0 + {1} * {1})",
    "math.hypot({0}, 0.5 + {1} * {1})",
    "math.atan2({0}, 2.0 + math.cos({1}))",
    "np.hypot(0.25 + {0} * {0}, {1})",
    "np.arctan2({0}, 1.5 + np.sin({1}))",
    "{0} * math.sin({1})",
    "{0} ** 2 + {1} ** 2",
]

#: Kinks and comparisons: rendered through probes in the probe source.
KINKS = ["abs", "min", "max", "math.fabs", "np.abs"]
COMPARISONS = ["<", "<=", ">", ">="]
CONSTANTS = [0.5, 1.5, -0.75, 2.0, 0.25, -1.25, 3.0, 0.1]
AUG_OPS = ["+=", "-=", "*="]

#: The second module a program may import, read as ``CONSTS_MODULE.C1``.
CONSTS_MODULE = "fuzzconsts"


# ----------------------------------------------------------------------- the tree


@dataclass
class Program:
    """A generated program: module source, the entry point's arguments and ``wrt``."""

    source: str
    probe_source: str
    args: tuple
    wrt: tuple[int, ...]
    params: tuple[str, ...]
    constructs: frozenset[str]
    entry: str = "f"
    #: (name, source) of modules the program imports; loaded before it
    modules: tuple = ()
    #: ("global" | "const" | "helper", name, new value or the new helper's name): the
    #: rebindings the rebinding oracle makes between two grad() calls
    rebinds: tuple = ()
    #: the program as it reads after those rebindings (None without rebindings)
    rebound: Program | None = None

    def __repr__(self) -> str:  # hypothesis prints this for the falsifying example
        return f"<program\n{self.describe()}\n>"

    def describe(self) -> str:
        shown = ", ".join(_show(a) for a in self.args)
        text = ""
        for name, source in self.modules:
            text += f"# ---- {name}.py ----\n{source}\n# ---- the program ----\n"
        text += (
            f"{self.source}\n# arguments: ({shown})\n# wrt={self.wrt}  "
            f"constructs: {', '.join(sorted(self.constructs))}"
        )
        if self.rebinds:
            text += "\n# rebound between two grad() calls: " + ", ".join(
                _show_rebind(r) for r in self.rebinds
            )
        return text


def _show_rebind(rebind) -> str:
    kind, name, value = rebind
    target = {"global": "mod", "const": f"mod.{CONSTS_MODULE}", "helper": "mod"}[kind]
    shown = f"mod.{value}" if kind == "helper" else repr(value)
    return f"{target}.{name} = {shown}"


def _show(a) -> str:
    if isinstance(a, np.ndarray):
        return f"np.array({a.tolist()!r})"
    return repr(a)


@dataclass
class Scope:
    """What a block of generated code may read and write."""

    floats: list[str]  # float names (readable and assignable)
    ints: list[str]  # int names (readable only)
    arrays: dict[str, tuple[int, ...]]  # array name -> shape (readable)
    writable: set[str]  # arrays that may be written
    helpers: list[tuple[str, str]]  # (name, kind) of callable helpers
    in_loop: bool = False
    depth: int = 0
    returns: str = "scalar"  # what a return statement gives back: "scalar" or "tuple"
    constants: list[str] = field(default_factory=list)  # module-level floats (read only)
    int_bounds: dict = field(default_factory=dict)  # loop variable -> (lo, hi): lo <= it < hi
    local_arrays: set = field(default_factory=set)  # arrays the function made (rebindable)

    def child(self, **changes) -> Scope:
        """A copy for an inner block: its bindings do not leak out."""
        copied = replace(
            self,
            floats=list(self.floats),
            ints=list(self.ints),
            arrays=dict(self.arrays),
            writable=set(self.writable),
            helpers=list(self.helpers),
            constants=list(self.constants),
            int_bounds=dict(self.int_bounds),
            local_arrays=set(self.local_arrays),
        )
        return replace(copied, **changes)


# Expression nodes (tuples):
#   ("const", value) ("name", id) ("call", template, [args]) ("kink", fn, [args])
#   ("int2float", int_expr) ("elem", array, [int_exprs]) ("ifexp", cond, a, b)
#   ("helper", name, [args])
# Int expressions: ("iconst", v) ("iname", id) ("len", array) ("mod", expr, m)
#   ("iadd", expr, c) ("trunc", float_expr)
# Conditions: ("cmp", op, a, b) ("icmp", op, a, b) ("and", a, b) ("or", a, b) ("not", a)


class Generator(ArrayMixin):
    """Draws one program; ``draw`` is hypothesis' draw function."""

    def __init__(self, draw, max_depth: int = 3):
        self.draw = draw
        self.max_depth = max_depth
        self.tags: Counter = Counter()
        self.counter = 0
        self.loop_vars = 0

    # --- helpers -----------------------------------------------------------------------
    def pick(self, options):
        return options[self.draw(st.integers(0, len(options) - 1))]

    def chance(self, p_percent: int) -> bool:
        return self.draw(st.integers(0, 99)) < p_percent

    def rarely(self, p_percent: int) -> bool:
        """Like chance, but shrinks towards False."""
        return self.draw(st.integers(0, 99)) >= 100 - p_percent

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def tag(self, name: str) -> None:
        self.tags[name] += 1

    # --- int expressions ---------------------------------------------------------------
    def int_expr(self, scope: Scope, small: bool = True):
        kind = self.draw(st.integers(0, 4))
        if kind == 1 and scope.ints:
            return ("iname", self.pick(scope.ints))
        if kind == 2:
            arrays1 = [a for a, s in scope.arrays.items() if len(s) == 1]
            if arrays1:
                self.tag("len")
                return ("len", self.pick(arrays1))
        if kind == 3 and scope.ints:
            return ("iadd", ("iname", self.pick(scope.ints)), self.draw(st.integers(-2, 2)))
        if kind == 4 and scope.floats and not small:
            self.tag("int()")
            return ("trunc", ("name", self.pick(scope.floats)))
        return ("iconst", self.draw(st.integers(-1, 4)))

    def index(self, scope: Scope, length: int):
        """An int expression guaranteed to lie in [-length, length)."""
        bounded = self.bounded_indices(scope, length)
        if bounded and self.chance(50):
            self.tag("loop variable as index")
            return self.pick(bounded)
        if self.chance(40):
            return ("iconst", self.draw(st.integers(-length, length - 1)))
        self.tag("computed index")
        return ("mod", self.int_expr(scope, small=False), length)

    @staticmethod
    def bounded_indices(scope: Scope, length: int) -> list:
        """Loop variables of known range, written as they are (``m[t]``, ``m[t + 1]``)."""
        out = []
        for var, (lo, hi) in sorted(scope.int_bounds.items()):
            if hi <= length:
                out.append(("iname", var))
            if lo >= 1 and hi - 1 <= length:
                out.append(("iadd", ("iname", var), -1))
            if hi + 1 <= length:
                out.append(("iadd", ("iname", var), 1))
        return out

    # --- float expressions -------------------------------------------------------------
    def leaf(self, scope: Scope):
        kind = self.draw(st.integers(0, 4))
        if kind == 4 and scope.constants:
            name = self.pick(scope.constants)
            self.tag("module attribute constant" if "." in name else "module global")
            return ("name", name)
        if kind == 1 and scope.floats:
            return ("name", self.pick(scope.floats))
        if kind == 2 and scope.arrays:
            name = self.pick(sorted(scope.arrays))
            shape = scope.arrays[name]
            self.tag("element read")
            return ("elem", name, [self.index(scope, n) for n in shape])
        if kind == 3 and (scope.ints or self.chance(30)):
            self.tag("int in float expr")
            return ("int2float", self.int_expr(scope), self.chance(50))
        if scope.floats and self.chance(50):
            return ("name", self.pick(scope.floats))
        return ("const", self.pick(CONSTANTS))

    def expr(self, scope: Scope, depth: int = 0, calls: bool = True):
        if depth >= 2:
            return self.leaf(scope)
        kind = self.draw(st.integers(0, 7))
        if kind == 7 and self.leaf_shapes(scope):
            return self.reduction(scope, depth)
        if kind == 1:
            template = self.pick(UNARY)
            self.tag(template.split("(")[0] if template[0] != "{" else "power/division")
            return ("call", template, [self.expr(scope, depth + 1, calls)])
        if kind in (2, 3):
            template = self.pick(BINARY)
            return (
                "call",
                template,
                [self.expr(scope, depth + 1, calls), self.expr(scope, depth + 1, calls)],
            )
        if kind == 4:
            fn = self.pick(KINKS)
            self.tag(fn)
            n = 2 if fn in ("min", "max") else 1
            return ("kink", fn, [self.expr(scope, depth + 1, calls) for _ in range(n)])
        if kind == 5 and scope.helpers and (calls or self.chance(3)):
            name, hkind = self.pick(scope.helpers)
            has_vector = any(s == (3,) for s in scope.arrays.values())
            if hkind == "scalar" or (hkind == "array" and has_vector):
                self.tag("helper call in expression")
                return ("helper", name, self.helper_args(scope, hkind))
        if kind == 6 and self.chance(30):
            self.tag("conditional expression")
            return (
                "ifexp",
                self.cond(scope),
                self.expr(scope, depth + 1, calls),
                self.expr(scope, depth + 1, calls),
            )
        return self.leaf(scope)

    def helper_args(self, scope: Scope, kind: str):
        first = self.expr(scope, 1)
        if kind == "array":
            arrays1 = [a for a, s in scope.arrays.items() if s == (3,)]
            if not arrays1:
                return [first, first]  # never chosen without arrays (see helpers())
            return [first, ("name", self.pick(arrays1))]
        return [first, self.expr(scope, 1)]

    def cond(self, scope: Scope, depth: int = 0):
        kind = self.draw(st.integers(0, 4))
        if kind == 1 and scope.ints:
            self.tag("int condition")
            return (
                "icmp",
                self.pick(["<", ">", "==", "!="]),
                ("iname", self.pick(scope.ints)),
                ("iconst", self.draw(st.integers(0, 3))),
            )
        if kind == 2 and depth == 0:
            self.tag("and/or")
            return (self.pick(["and", "or"]), self.cond(scope, 1), self.cond(scope, 1))
        if kind == 3 and depth == 0:
            self.tag("not")
            return ("not", self.cond(scope, 1))
        self.tag("float comparison")
        a, b = self.expr(scope, 1, calls=False), self.expr(scope, 1, calls=False)
        return ("cmp", self.pick(COMPARISONS), a, b)

    # --- statements --------------------------------------------------------------------
    def block(self, scope: Scope, size: int | None = None) -> list:
        if size is None:
            size = self.draw(st.integers(1, 3 if scope.depth else 5))
        return [self.statement(scope) for _ in range(size)]

    def statement(self, scope: Scope):
        nested = scope.depth < self.max_depth
        kind = self.draw(st.integers(0, 17))
        if kind >= 14:
            stmt = self.array_statement(scope)
            if stmt is not None:
                return stmt
        if kind == 1 and scope.floats:
            op = self.pick(AUG_OPS)
            self.tag("augmented assignment")
            return ("aug", self.pick(scope.floats), op, self.expr(scope))
        if kind == 2 and "q" in scope.writable and self.chance(50):
            self.tag("array swap")
            return ("swap", "w", "q")
        if kind == 2 and len(scope.floats) >= 2:
            a, b = self.pick(scope.floats), self.pick(scope.floats)
            if a != b:
                self.tag("tuple swap")
                return ("swap", a, b)
        if kind == 13 and scope.depth == 0 and scope.ints and self.chance(30):
            # a loop that runs at least once, its variable read after the loop
            self.loop_vars += 1
            var = f"i{self.loop_vars}"
            inner = scope.child(ints=scope.ints + [var], in_loop=True, depth=1)
            body = self.block(inner)
            target = self.pick(scope.floats) if scope.floats else None
            if target is not None:
                self.tag("loop variable after the loop")
                after = ("aug", target, "+=", ("int2float", ("iname", var), True))
                return ("seq", [("for", var, [("iconst", 1), ("iconst", 4)], body), after])
        if kind in (3, 12) and scope.writable:
            name = self.pick(sorted(scope.writable))
            idx = [self.index(scope, n) for n in scope.arrays[name]]
            op = self.pick(["=", "+=", "*=", "-="])
            self.tag("element write" if op == "=" else "element augmented write")
            return ("store", name, idx, op, self.expr(scope))
        if kind == 4 and nested:
            return self.if_stmt(scope)
        if kind == 5 and nested:
            return self.for_stmt(scope)
        if kind == 6 and nested:
            return self.while_stmt(scope)
        if kind == 7 and scope.in_loop:
            jump = self.pick(["break", "continue"])
            self.tag(jump)
            return ("if", [(self.cond(scope), [(jump,)])], None)
        if kind == 8 and self.chance(40):
            self.tag("early return")
            if scope.returns == "tuple":
                ret = ("return_tuple", self.expr(scope), self.expr(scope))
            else:
                ret = ("return", self.expr(scope))
            return ("if", [(self.cond(scope), [ret])], None)
        if kind == 9 and len(scope.floats) >= 2:
            a, b = self.pick(scope.floats), self.pick(scope.floats)
            if a != b:
                if self.chance(50):
                    self.tag("chained assignment")
                    return ("chain", a, b, self.expr(scope))
                self.tag("tuple assignment")
                return ("tuple", a, b, self.expr(scope), self.expr(scope))
        if kind == 10 and any(k == "tuple" for _, k in scope.helpers) and len(scope.floats) >= 2:
            name = self.pick([h for h, k in scope.helpers if k == "tuple"])
            a, b = self.pick(scope.floats), self.pick(scope.floats)
            if a != b:
                self.tag("helper returning tuple")
                return ("unpack_call", a, b, name, [self.expr(scope, 1), self.expr(scope, 1)])
        if kind == 11 and scope.floats:
            self.tag("augmented assignment")
            return (
                "aug",
                self.pick(scope.floats),
                "/=",
                ("call", "2.0 + math.cos({0})", [self.expr(scope, 1)]),
            )
        if scope.floats:
            self.tag("assignment")
            return ("assign", self.pick(scope.floats), self.expr(scope))
        return ("pass",)

    def if_stmt(self, scope: Scope):
        inner = scope.child(depth=scope.depth + 1)
        arms = [(self.cond(scope), self.block(inner))]
        n_elif = self.draw(st.integers(0, 2))
        if n_elif:
            self.tag("elif")
        for _ in range(n_elif):
            arms.append((self.cond(scope), self.block(inner)))
        orelse = self.block(inner) if self.chance(50) else None
        self.tag("if/else" if orelse else "if")
        return ("if", arms, orelse)

    def range_args(self, scope: Scope):
        form = self.draw(st.integers(0, 2))
        if form == 0:
            self.tag("range(stop)")
            return [self.int_expr(scope)]
        if form == 1:
            self.tag("range(start, stop)")
            return [self.int_expr(scope), self.int_expr(scope)]
        step = self.pick([1, 2, -1, -2, 3])
        self.tag("range negative step" if step < 0 else "range(start, stop, step)")
        start, stop = self.int_expr(scope), self.int_expr(scope)
        if step < 0 and self.chance(70):
            start, stop = ("iadd", start, 3), ("iadd", stop, -2)
        return [start, stop, ("iconst", step)]

    def for_stmt(self, scope: Scope):
        self.loop_vars += 1
        var = f"i{self.loop_vars}"
        args = self.range_args(scope)
        inner = scope.child(ints=scope.ints + [var], in_loop=True, depth=scope.depth + 1)
        self.tag("for" if scope.depth == 0 else "nested loop")
        return ("for", var, args, self.block(inner))

    def while_stmt(self, scope: Scope):
        counter = self.fresh("k")
        bound = self.pick(
            [("iconst", 2), ("iconst", 3), ("iconst", 0)]
            + [("iname", n) for n in scope.ints if n == "n"]
        )
        inner = scope.child(ints=scope.ints + [counter], in_loop=True, depth=scope.depth + 1)
        body = self.block(inner)
        form = self.draw(st.integers(0, 2))
        self.tag(["while", "while with condition", "while True"][form])
        if scope.depth:
            self.tag("nested loop")
        extra = self.cond(scope, 1) if form == 1 else None
        return ("while", counter, bound, form, extra, body)

    # --- functions ---------------------------------------------------------------------
    def helper(self, index: int, helpers: list, arrays: bool, constants: list, kind=None):
        """A helper ``g<index>`` (or, given ``kind``, a replacement for it) and its kind."""
        kinds = ["scalar", "tuple"] + (["array"] if arrays else [])
        kind = kind or self.pick(kinds)
        name = f"g{index}"
        params = ["p", "q"] if kind != "array" else ["p", "v"]
        scope = Scope(
            floats=[p for p in params if p != "v"],
            ints=[],
            arrays={"v": (3,)} if kind == "array" else {},
            writable=set(),
            helpers=list(helpers),
            returns="tuple" if kind == "tuple" else "scalar",
            constants=list(constants),
        )
        body = [("assign", "h", self.expr(scope))]
        scope.floats.append("h")
        body += self.block(scope, self.draw(st.integers(0, 3)))
        if kind == "tuple":
            ret = ("return_tuple", self.expr(scope), self.expr(scope))
        else:
            ret = ("return", self.expr(scope))
        body.append(ret)
        self.tag(f"helper ({kind})")
        return name, kind, params, body

    def module_constants(self):
        """Module globals (``K1 = 1.5``, ``N1 = 2``) and constants of a second module."""
        floats, ints, consts = [], [], []
        if self.rarely(30):
            for k in range(self.draw(st.integers(1, 2))):
                floats.append((f"K{k + 1}", self.pick(CONSTANTS)))
            if self.rarely(30):
                ints.append(("N1", self.draw(st.integers(1, 3))))
        if self.rarely(20):
            for k in range(self.draw(st.integers(1, 2))):
                consts.append((f"C{k + 1}", self.pick(CONSTANTS)))
        return floats, ints, consts

    def array_arguments(self, params, args, arrays) -> None:
        """The vector ``a`` (3,) and the matrix ``b`` (2, 3); elements may be exact zeros."""
        if self.chance(50):
            params.append("a")
            arrays["a"] = (3,)
            args.append(np.array([self.element() for _ in range(3)]))
            self.tag("array argument")
        if self.chance(25):
            params.append("b")
            arrays["b"] = (2, 3)
            args.append(np.array([[self.element() for _ in range(3)] for _ in range(2)]))
            self.tag("2-d array argument")

    def element(self) -> float:
        """An array element: sometimes exactly zero (np.prod's derivative divides there)."""
        if self.rarely(12):
            self.tag("exact zero in an array argument")
            return 0.0
        return self.draw(_float_value)

    def local_arrays(self, scope: Scope, body: list, has_vec: bool, has_mat: bool) -> None:
        """Local vectors ``w``, ``q`` (element code) and matrices ``m``, ``u`` (rows, slices)."""
        if self.chance(40):
            name = "w"
            ctor = self.pick(
                ["zeros", "ones", "copy", "zeros_like"] if has_vec else ["zeros", "ones"]
            )
            self.tag(f"local array ({ctor})")
            body.append(("newarray", name, ctor, 4 if ctor in ("zeros", "ones") else 3))
            scope.arrays[name] = (4,) if ctor in ("zeros", "ones") else (3,)
            if self.chance(30):
                ctor = self.pick(["zeros", "ones"])
                self.tag(f"local array ({ctor})")
                body.append(("newarray", "q", ctor, scope.arrays[name][0]))
                scope.arrays["q"] = scope.arrays[name]
        for name in ["m", "u"] if self.rarely(45) else []:
            ctors = ["zeros", "ones"] + (["copy_b", "zeros_like_b"] if has_mat else [])
            ctor = self.pick(ctors)
            shape = (2, 3) if ctor.endswith("_b") else self.pick(MATRIX_SHAPES)
            self.tag(f"local 2-d array ({ctor.removesuffix('_b')})")
            body.append(("newarray", name, ctor, shape))
            scope.arrays[name] = shape
            if not self.rarely(35):
                break
        new = {"w", "q", "m", "u"} & set(scope.arrays)
        scope.writable |= new
        scope.local_arrays |= new

    def program(self) -> Program:
        draw = self.draw
        n_floats = draw(st.integers(1, 3))
        params = ["x", "y", "z"][:n_floats]
        args: list = [draw(_float_value) for _ in params]
        arrays: dict[str, tuple[int, ...]] = {}
        self.array_arguments(params, args, arrays)
        has_vec, has_mat = "a" in arrays, "b" in arrays
        has_n = self.chance(50)
        if has_n:
            params.append("n")
            args.append(draw(st.integers(0, 4)))
            self.tag("int argument")
        globals_, int_globals, consts = self.module_constants()
        constants = [n for n, _ in globals_] + [f"{CONSTS_MODULE}.{n}" for n, _ in consts]

        helpers: list[tuple[str, str]] = []
        helper_defs = []
        for k in range(draw(st.integers(0, 2))):
            name, kind, hparams, body = self.helper(k, helpers, has_vec, constants)
            helpers.append((name, kind))
            helper_defs.append((name, hparams, body))

        scope = Scope(
            floats=list(params[:n_floats]),
            ints=(["n"] if has_n else []) + [n for n, _ in int_globals],
            arrays=dict(arrays),
            writable=set(arrays) if self.chance(50) else set(),
            helpers=helpers,
            constants=constants,
        )
        if scope.writable:
            self.tag("writes into array argument")
        body: list = []
        for local in ["s", "t"][: draw(st.integers(1, 2))]:
            body.append(("assign", local, self.expr(scope)))
            scope.floats.append(local)
        self.local_arrays(scope, body, has_vec, has_mat)
        body += self.block(scope)
        body.append(("return", self.final_expr(scope)))

        wrt_candidates = [i for i, p in enumerate(params) if p != "n"]
        mask = draw(
            st.lists(st.booleans(), min_size=len(wrt_candidates), max_size=len(wrt_candidates))
        )
        wrt = tuple(i for i, m in zip(wrt_candidates, mask, strict=True) if m) or tuple(
            wrt_candidates
        )
        functions = helper_defs + [("f", params, body)]
        module = Module(functions, globals_ + int_globals, consts)
        rebinds, rebound = self.rebindings(module, helpers, has_vec, constants)

        def as_program(m: Module, **extra) -> Program:
            return Program(
                m.render(probe=False),
                m.render(probe=True),
                tuple(args),
                wrt,
                tuple(params),
                frozenset(self.tags),
                modules=m.modules(),
                **extra,
            )

        if not rebinds:
            return as_program(module)
        return as_program(module, rebinds=rebinds, rebound=as_program(rebound))

    def rebindings(self, module, helpers, has_vec, constants):
        """What to rebind between two grad() calls, and the module as it then reads.

        A module global or a constant of the imported module gets a new value; a helper is
        replaced by another function of the same signature (``g0_new``, defined in the
        module). A new grad() of ``f`` must see the new values.
        """
        if not (module.globals or module.consts or helpers) or not self.rarely(50):
            return (), module
        rebinds, rebound = [], module.copy()
        for k, (name, value) in enumerate(module.globals):
            if self.rarely(70):
                new = self._other_value(value)
                rebinds.append(("global", name, new))
                rebound.globals[k] = (name, new)
        for k, (name, value) in enumerate(module.consts):
            if self.rarely(70):
                new = self._other_value(value)
                rebinds.append(("const", name, new))
                rebound.consts[k] = (name, new)
        for k, (name, kind) in enumerate(helpers):
            if self.rarely(50):
                _, _, params, body = self.helper(k, helpers[:k], has_vec, constants, kind)
                module.functions.insert(len(helpers), (f"{name}_new", params, body))
                rebound.functions[k] = (name, params, body)
                rebinds.append(("helper", name, f"{name}_new"))
        if rebinds:
            self.tag("rebinding between grad() calls")
        return tuple(rebinds), rebound

    def _other_value(self, value):
        if isinstance(value, int):
            return value % 3 + 1  # another trip count in 1..3
        return self.pick([c for c in CONSTANTS if c != value])

    def final_expr(self, scope: Scope):
        """The result: an expression touching the locals, so most of the body matters."""
        e = self.expr(scope)
        for name in scope.floats:
            if self.chance(50):
                e = ("call", "{0} + {1}", [e, ("name", name)])
        for name, shape in scope.arrays.items():
            if name in scope.local_arrays and len(shape) == 2 or name == "v":
                if self.chance(70):
                    e = ("call", "{0} + {1}", [e, ("reduce", "np.sum", ("aname", name))])
            elif name in scope.writable and self.chance(60):
                e = ("call", "{0} + {1}", [e, ("elem", name, [("iconst", 0)] * len(shape))])
        return e


_float_value = st.sampled_from([0.3, -0.7, 1.1, -1.6, 0.9, 1.7, -0.2, 0.55]) | st.floats(
    -2.0, 2.0, allow_nan=False, allow_infinity=False
).map(lambda v: round(v, 3) if abs(v) >= 0.05 else round(v, 3) + 0.3)


@st.composite
def programs(draw, max_depth: int = 3) -> Program:
    """A hypothesis strategy for generated programs."""
    return Generator(draw, max_depth).program()


# ---------------------------------------------------------------------- rendering


@dataclass
class Module:
    """A program's module: its functions, its globals, the constants of the module it imports."""

    functions: list  # (name, params, body); the entry ``f`` last
    globals: list  # (name, value) of module-level numbers
    consts: list  # (name, value) of CONSTS_MODULE's numbers

    def copy(self) -> Module:
        return Module(list(self.functions), list(self.globals), list(self.consts))

    def render(self, probe: bool) -> str:
        header = [f"import {CONSTS_MODULE}", ""] if self.consts else []
        header += [f"{name} = {value!r}" for name, value in self.globals]
        return render_module(self.functions, probe, header)

    def modules(self) -> tuple:
        if not self.consts:
            return ()
        lines = ['"""Constants read by the program as attributes of this module."""', ""]
        lines += [f"{name} = {value!r}" for name, value in self.consts]
        return ((CONSTS_MODULE, "\n".join(lines) + "\n"),)


def render_module(functions, probe: bool, header=()) -> str:
    lines = ["import math", "", "import numpy as np", ""]
    if header:
        lines += list(header) + [""]
    for name, params, body in functions:
        lines += ["", f"def {name}({', '.join(params)}):"]
        lines += _render_block(body, 1, probe)
        lines.append("")
    return "\n".join(lines)


def _render_block(body, level: int, probe: bool) -> list[str]:
    out: list[str] = []
    for stmt in body:
        out += _render_stmt(stmt, level, probe)
    return out or ["    " * level + "pass"]


def _render_stmt(s, level: int, probe: bool) -> list[str]:
    pad = "    " * level
    e = lambda node: render_expr(node, probe)  # noqa: E731
    kind = s[0]
    if kind == "assign":
        return [f"{pad}{s[1]} = {_checked(e(s[2]), probe)}"]
    if kind == "aug":
        if probe:
            return [f"{pad}{s[1]} {s[2]} {e(s[3])}", f"{pad}_value({s[1]})"]
        return [f"{pad}{s[1]} {s[2]} {e(s[3])}"]
    if kind == "swap":
        return [f"{pad}{s[1]}, {s[2]} = {s[2]}, {s[1]}"]
    if kind == "tuple":
        return [f"{pad}{s[1]}, {s[2]} = {_checked(e(s[3]), probe)}, {_checked(e(s[4]), probe)}"]
    if kind == "chain":
        return [f"{pad}{s[1]} = {s[2]} = {_checked(e(s[3]), probe)}"]
    if kind == "unpack_call":
        args = ", ".join(e(a) for a in s[4])
        return [f"{pad}{s[1]}, {s[2]} = {s[3]}({args})"]
    if kind == "store":
        target = f"{s[1]}[{', '.join(render_int(i, probe) for i in s[2])}]"
        line = [f"{pad}{target} {s[3]} {_checked(e(s[4]), probe)}"]
        return line + ([f"{pad}_value({target})"] if probe else [])
    if kind == "newarray":
        ctor = {
            "zeros": f"np.zeros({s[3]})",
            "ones": f"np.ones({s[3]})",
            "copy": "a.copy()",
            "zeros_like": "np.zeros_like(a)",
            "copy_b": "b.copy()",
            "zeros_like_b": "np.zeros_like(b)",
        }[s[2]]
        return [f"{pad}{s[1]} = {ctor}"]
    if kind in ARRAY_STATEMENTS:
        return [pad + line for line in render_array_statement(s, probe)]
    if kind == "if":
        out = []
        for k, (cond, body) in enumerate(s[1]):
            out.append(f"{pad}{'if' if k == 0 else 'elif'} {render_cond(cond, probe)}:")
            out += _render_block(body, level + 1, probe)
        if s[2] is not None:
            out.append(f"{pad}else:")
            out += _render_block(s[2], level + 1, probe)
        return out
    if kind == "for":
        args = ", ".join(render_int(a, probe) for a in s[2])
        return [f"{pad}for {s[1]} in range({args}):"] + _render_block(s[3], level + 1, probe)
    if kind == "while":
        _, counter, bound, form, extra, body = s
        b = render_int(bound, probe)
        inner = "    " * (level + 1)
        out = [f"{pad}{counter} = 0"]
        if form == 0:
            out.append(f"{pad}while {counter} < {b}:")
        elif form == 1:
            out.append(f"{pad}while {counter} < {b} and {render_cond(extra, probe)}:")
        else:
            out += [f"{pad}while True:", f"{inner}if {counter} >= {b}:", f"{inner}    break"]
        out.append(f"{inner}{counter} += 1")
        return out + _render_block(body, level + 1, probe)
    if kind == "seq":
        return [line for inner in s[1] for line in _render_stmt(inner, level, probe)]
    if kind in ("break", "continue", "pass"):
        return [f"{pad}{kind}"]
    if kind == "return":
        return [f"{pad}return {_checked(e(s[1]), probe)}"]
    if kind == "return_tuple":
        return [f"{pad}return {_checked(e(s[1]), probe)}, {_checked(e(s[2]), probe)}"]
    raise AssertionError(f"unknown statement {kind}")


def _checked(text: str, probe: bool) -> str:
    return f"_value({text})" if probe else text


def render_expr(node, probe: bool) -> str:
    kind = node[0]
    if kind == "const":
        return repr(node[1])
    if kind == "name":
        return node[1]
    if kind == "call":
        return "(" + node[1].format(*(render_expr(a, probe) for a in node[2])) + ")"
    if kind == "kink":
        args = ", ".join(render_expr(a, probe) for a in node[2])
        if probe:
            return f"_kink({node[1]!r}, {args})"
        return f"{node[1]}({args})"
    if kind == "int2float":
        inner = render_int(node[1], probe)
        return f"float({inner})" if node[2] else f"({inner} * 0.5)"
    if kind == "elem":
        return f"{node[1]}[{', '.join(render_int(i, probe) for i in node[2])}]"
    if kind == "ifexp":
        a, b = render_expr(node[2], probe), render_expr(node[3], probe)
        return f"({a} if {render_cond(node[1], probe)} else {b})"
    if kind == "helper":
        return f"{node[1]}({', '.join(render_expr(a, probe) for a in node[2])})"
    if kind == "reduce":
        inner = render_expr(node[2], probe)
        if node[1] == ".sum()":
            return f"{inner}.sum()" if node[2][0] == "aname" else f"{_wrapped(inner)}.sum()"
        return f"{node[1]}({inner})"
    if kind == "dot":
        return f"np.dot({render_expr(node[1], probe)}, {render_expr(node[2], probe)})"
    if kind in ARRAY_NODES:
        return render_array(node, probe)
    raise AssertionError(f"unknown expression {kind}")


def _wrapped(text: str) -> str:
    """``text`` in parentheses unless one pair already encloses all of it."""
    if text.startswith("("):
        depth = 0
        for k, c in enumerate(text):
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth == 0:
                return text if k == len(text) - 1 else f"({text})"
    return f"({text})"


def _slice(lo: int, hi: int, length: int) -> str:
    if lo == 0:
        return f":{hi}"
    return f"{lo}:" if hi == length else f"{lo}:{hi}"


def render_array(node, probe: bool) -> str:
    """An array expression node (see arrays.py) as Python."""
    kind = node[0]
    e = lambda n: render_expr(n, probe)  # noqa: E731
    if kind == "aname":
        return node[1]
    if kind == "row":
        index = render_int(node[2], probe)
        return f"{node[1]}[{index}, :]" if node[3] else f"{node[1]}[{index}]"
    if kind == "col":
        return f"{node[1]}[:, {render_int(node[2], probe)}]"
    if kind == "aslice":
        return f"{node[1]}[{_slice(*node[2:5])}]"
    if kind == "colnone":
        return f"{node[1]}[:, None]"
    if kind == "aun":
        return "(" + node[1].format(e(node[2])) + ")"
    if kind == "abin":
        return f"({e(node[2])} {node[1]} {e(node[3])})"
    if kind == "ascal":
        a, b = e(node[2]), e(node[3])
        return f"({b} {node[1]} {a})" if node[4] else f"({a} {node[1]} {b})"
    if kind == "matmul":
        a, b = e(node[1]), e(node[2])
        return f"({a} @ {b})" if node[3] == "@" else f"{node[3]}({a}, {b})"
    if kind == "sumaxis":
        return f"np.sum({e(node[1])}, axis={node[2]})"
    if kind == "T":
        inner = e(node[1])
        return f"{inner}.T" if node[1][0] == "aname" else f"{_wrapped(inner)}.T"
    raise AssertionError(f"unknown array expression {kind}")


#: Statements of arrays.py, rendered by render_array_statement.
ARRAY_STATEMENTS = {"rowstore", "colstore", "slicestore", "arebind", "assign_array", "vchange"}


def render_array_statement(s, probe: bool) -> list[str]:
    """Lines (without indentation) of a row, column or slice write or an array rebinding."""
    kind = s[0]
    if kind in ("arebind", "assign_array", "vchange"):
        if kind == "vchange":
            name, op, value = "v", "=", s[1].format(s=render_expr(s[2], probe))
        elif kind == "arebind":
            name, op, value = s[1], s[2], render_expr(s[3], probe)
        else:
            name, op, value = s[1], "=", render_expr(s[2], probe)
        if op == "=":
            return [f"{name} = {_checked(value, probe)}"]
        return [f"{name} {op} {value}"] + ([f"_value({name})"] if probe else [])
    if kind == "rowstore":
        _, name, index, colon, op, value = s
        index = render_int(index, probe)
        target = f"{name}[{index}, :]" if colon else f"{name}[{index}]"
    elif kind == "colstore":
        _, name, index, op, value = s
        target = f"{name}[:, {render_int(index, probe)}]"
    else:
        _, name, lo, hi, length, op, value = s
        target = f"{name}[{_slice(lo, hi, length)}]"
    line = f"{target} {op} {_checked(render_expr(value, probe), probe)}"
    return [line] + ([f"_value({target})"] if probe else [])


def render_int(node, probe: bool) -> str:
    kind = node[0]
    if kind == "iconst":
        return str(node[1])
    if kind == "iname":
        return node[1]
    if kind == "len":
        return f"len({node[1]})"
    if kind == "mod":
        return f"({render_int(node[1], probe)}) % {node[2]}"
    if kind == "iadd":
        c = node[2]
        inner = render_int(node[1], probe)
        return inner if c == 0 else f"{inner} + {c}" if c > 0 else f"{inner} - {-c}"
    if kind == "trunc":
        inner = render_expr(node[1], probe)
        return f"_trunc({inner})" if probe else f"int({inner})"
    raise AssertionError(f"unknown int expression {kind}")


def render_cond(node, probe: bool) -> str:
    kind = node[0]
    if kind == "cmp":
        a, b = render_expr(node[2], probe), render_expr(node[3], probe)
        return f"_compare({a}, {node[1]!r}, {b})" if probe else f"{a} {node[1]} {b}"
    if kind == "icmp":
        return f"{render_int(node[2], probe)} {node[1]} {render_int(node[3], probe)}"
    if kind in ("and", "or"):
        return f"({render_cond(node[1], probe)} {kind} {render_cond(node[2], probe)})"
    if kind == "not":
        return f"not {render_cond(node[1], probe)}"
    raise AssertionError(f"unknown condition {kind}")
