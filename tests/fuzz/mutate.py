"""Bad-input fuzzing: valid generated programs mutated into invalid or unsupported ones.

A mutation changes the source (an unsupported statement or expression, a missing return,
a non-scalar result, recursion, a callee writing into its array argument, ...) or the way
the derivative is asked for (an integer ``wrt``, arguments of the wrong type or number, a
function without source). Every mutant must end in one of:

* ``SourceADError``, ``TypeError`` or ``ValueError`` raised on purpose (a ``raise`` line
  in sourcead, or Python's own argument checking), or
* success, in which case the gradient must agree with finite differences. Where there is
  nothing to compare with (the test point is near a kink, the differences are unreliable)
  the outcome is "unchecked", never a pass; a gradient of a call that Python itself
  refuses, or of a function whose result is not a number, is a failure.

Never an internal exception (``KeyError``, ``AttributeError``, an ``AssertionError``, a
``TypeError`` from a bad operation inside the compiler) and never a crash of the process.
"""

from __future__ import annotations

import dis
import math
import os
import traceback
from dataclasses import dataclass, replace

import numpy as np
from hypothesis import strategies as st

import sourcead

from .generator import Program, programs
from .oracles import (
    OracleFailure,
    Rejected,
    copy_args,
    fd_gradient,
    install_modules,
    load,
    probe,
)

_SOURCEAD_DIR = os.path.dirname(os.path.abspath(sourcead.__file__))
_CLEAR = (sourcead.SourceADError, TypeError, ValueError)

#: Statements inserted at the start of ``f``'s body ({a}: an array parameter or None).
STATEMENTS = {
    "try": "try:\n        s0 = x\n    except Exception:\n        pass",
    "with": "with open(__file__) as fh:\n        pass",
    "global": "global GLOBAL_NAME",
    "del": "tmp = x\n    del tmp",
    "lambda": "tmp = lambda v: v",
    "list comprehension": "tmp = [v for v in range(3)]",
    "generator expression": "tmp = sum(v for v in range(3))",
    "class": "class K:\n        pass",
    "nested def": "def inner(v):\n        return v",
    "import": "import os",
    "assert": "assert x == x",
    "raise": "if x != x:\n        raise ValueError('nan')",
    "print": "print(x)",
    "list literal": "tmp = [x, x]",
    "dict literal": "tmp = {'k': x}",
    "string": "x = 'text'",
    "f-string": "tmp = f'{x}'",
    "walrus": "tmp = (v := x)",
    "yield": "yield x",
    "for over a sequence": "for v in (1.0, 2.0):\n        x = x + v",
    "for-else": "for v in range(2):\n        x = x * 0.5\n    else:\n        x = x + 1.0",
    "while-else": "k = 0\n    while k < 2:\n        k += 1\n    else:\n        x = x + 1.0",
    "keyword argument": "x = math.pow(x, y=2.0)",
    "chained comparison": "if 0.0 < x < 1.0:\n        x = x * 2.0",
    "unknown function": "x = x + unknown_function(x)",
    "module function": "x = x + random.random()",
    "matmul of scalars": "x = x @ x",
    "attribute": "x = x.real",
    "method": "x = x.conjugate()",
    "recursion": "if x > 1e9:\n        x = f({args})",
    "callee writes its array argument": "x = x + writer({a})",
    "slicing": "tmp = {a}[1:]",
    "whole-array arithmetic": "x = x + ({a} + {a})[0]",
    "array alias": "tmp = {a}\n    tmp[0] = 1.0",
    "starred": "tmp = max(*(x, x))",
    "set literal": "tmp = {x}",
    "is comparison": "if x is None:\n        x = 1.0",
    "in comparison": "if x in (1.0, 2.0):\n        x = 1.0",
    "unbound name": "x = x + never_defined",
    "nonlocal-like int wrt": "x = int(x)",
    "complex": "x = x + 1j",
    "string method": "x = float('1.5') + x",
    "np.cumprod (no rule in docs/arrays.md)": "x = x + np.sum(np.cumprod({a}))",
    "axis of a reduction other than np.sum": "x = x + np.mean({a}, axis=0)",
    "boolean-array indexing": "x = x + np.sum({a}[{a} > 0.0])",
}

#: Replacements of the final ``return`` of ``f``.
RETURNS = {
    "tuple result": "return {e}, {e}",
    "no return": "tmp = {e}",
    "none result": "return None",
    "string result": "return 'text'",
    "int result": "return 3",
    "array result": "return {a}",
    "bool result": "return {e} > 0.0",
}

#: Changes of the call rather than the program.
CALLS = [
    "int wrt",
    "wrt out of range",
    "wrt unknown name",
    "wrt float",
    "int for a float",
    "string for a float",
    "list for a float",
    "none for a float",
    "int array",
    "array of wrong rank",
    "too few arguments",
    "too many arguments",
    "no source",
    "builtin",
    "not callable",
    "bool for a float",
]

MODULE_EXTRA = """
import random

GLOBAL_NAME = 1.0


def writer(v):
    v[0] = 2.0
    return v[0]
"""


@dataclass
class Mutant:
    """A mutated program and how to ask for its derivative."""

    kind: str
    program: Program
    wrt: object
    args: tuple
    fun: str = "file"  # "file", "exec" (no source), "builtin", "not callable"

    def describe(self) -> str:
        return f"mutation: {self.kind}; wrt={self.wrt!r}; args={self.args!r}\n{self.program.source}"


def _insert_statement(source: str, text: str) -> str:
    head, sep, body = source.partition("\ndef f(")
    signature, _, rest = body.partition("\n")
    return f"{head}{MODULE_EXTRA}{sep}{signature}\n    {text}\n{rest}"


def _replace_return(source: str, text: str) -> str:
    lines = source.rstrip("\n").split("\n")
    last = lines[-1]
    assert last.startswith("    return "), last
    expr = last[len("    return ") :]
    lines[-1] = "    " + text.format(e=expr, a="{a}")
    return "\n".join(lines) + "\n"


@st.composite
def mutants(draw) -> Mutant:
    """A hypothesis strategy for mutated programs."""
    program = draw(programs(max_depth=2))
    params = program.params
    array = next((p for p in params if p in ("a", "b")), None)
    wrt = program.wrt if len(program.wrt) > 1 else program.wrt[0]
    args = program.args
    group = draw(st.integers(0, 2))
    if group == 0:
        kind = draw(st.sampled_from(sorted(STATEMENTS)))
        text = STATEMENTS[kind]
        if "{a}" in text and array is None:
            text, kind = STATEMENTS["list literal"], "list literal"
        text = text.replace("{a}", str(array)).replace("{args}", ", ".join(params))
        source = _insert_statement(program.source, text)
        return Mutant(kind, replace(program, source=source), wrt, args)
    if group == 1:
        kind = draw(st.sampled_from(sorted(RETURNS)))
        text = RETURNS[kind]
        if "{a}" in text and array is None:
            kind, text = "tuple result", RETURNS["tuple result"]
        source = _replace_return(program.source, text).replace("{a}", str(array))
        return Mutant(kind, replace(program, source=source), wrt, args)
    kind = draw(st.sampled_from(CALLS))
    args = list(args)
    first = program.wrt[0]
    fun = "file"
    if kind == "int wrt":
        if "n" not in params:
            kind = "wrt out of range"
        else:
            wrt = params.index("n")
    if kind == "wrt out of range":
        wrt = len(params) + 3
    elif kind == "wrt unknown name":
        wrt = "zz"
    elif kind == "wrt float":
        wrt = 0.5
    elif kind in (
        "int for a float",
        "string for a float",
        "list for a float",
        "none for a float",
        "bool for a float",
    ):
        replacement = {
            "int for a float": 2,
            "string for a float": "1.5",
            "list for a float": [1.0],
            "none for a float": None,
            "bool for a float": True,
        }[kind]
        float_params = [i for i, a in enumerate(args) if isinstance(a, float)]
        args[float_params[0]] = replacement
    elif kind == "int array":
        if array is None:
            kind, wrt = "wrt unknown name", "zz"
        else:
            i = params.index(array)
            args[i] = np.ones(args[i].shape, dtype=np.int64)
            wrt = i
    elif kind == "array of wrong rank":
        if array is None:
            kind, wrt = "wrt unknown name", "zz"
        else:
            i = params.index(array)
            args[i] = np.ones(args[i].shape + (2,)) if args[i].ndim == 1 else np.ones(3)
    elif kind == "too few arguments":
        args = args[:-1]
    elif kind == "too many arguments":
        args = args + [1.0]
    elif kind in ("no source", "builtin", "not callable"):
        fun = {"no source": "exec", "builtin": "builtin", "not callable": "not callable"}[kind]
    del first
    return Mutant(kind, program, wrt, tuple(args), fun)


def _deliberate(error: BaseException) -> bool:
    """Raised on purpose: SourceADError, a ``raise`` statement in sourcead, or Python's checks.

    The instruction that raised is read from the code object, not from the source file,
    which may have changed since it was imported.
    """
    if isinstance(error, sourcead.SourceADError):
        return True
    tb = error.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if not os.path.abspath(code.co_filename).startswith(_SOURCEAD_DIR):
        return True  # Python's argument checks, NumPy in user code run as Python, ...
    for instruction in dis.get_instructions(code):
        if instruction.offset == tb.tb_lasti:
            return instruction.opname == "RAISE_VARARGS"
    return False


def _internal(mutant: Mutant, stage: str, e: Exception):
    raise OracleFailure(
        "internal exception (bad input)",
        f"{stage}: {type(e).__name__}: {e}\n{traceback.format_exc()}\n{mutant.describe()}",
        key=f"{mutant.kind}: {type(e).__name__} at {stage}",
    ) from None


def check_mutant(mutant: Mutant) -> str:
    """Ask for the mutant's gradient; returns the outcome or raises OracleFailure."""
    program = mutant.program
    try:
        if mutant.fun == "builtin":
            fn = math.sin
        elif mutant.fun == "not callable":
            fn = 3.0
        elif mutant.fun == "exec":
            install_modules(program.modules)
            namespace = {"math": math, "np": np}
            exec(program.source, namespace)  # noqa: S102 - a function without readable source
            fn = namespace[program.entry]
        else:
            fn = getattr(load(program.source, "mutant", program.modules), program.entry)
    except SyntaxError:
        return "unchecked: not Python"
    except Exception as e:
        raise Rejected(f"mutant does not load: {type(e).__name__}") from None
    stage = "grad()"
    args = copy_args(mutant.args)
    try:
        gfun = sourcead.grad(fn, wrt=mutant.wrt, compile=False)
        stage = "call"
        result = gfun(*args)
    except _CLEAR as e:
        if not _deliberate(e):
            _internal(mutant, stage, e)
        return f"checked: {type(e).__name__} at {stage}"
    except Exception as e:
        _internal(mutant, stage, e)
    return _check_accepted(mutant, fn, result)


def _check_accepted(mutant: Mutant, fn, result) -> str:
    """An accepted mutant must still give the right gradient ("checked: ..."); without a
    reference to compare with, the outcome is "unchecked: ...", not a pass."""
    wrt = mutant.wrt if isinstance(mutant.wrt, tuple) else (mutant.wrt,)
    try:
        with np.errstate(all="raise"):
            value = fn(*copy_args(mutant.args))
    except (ArithmeticError, FloatingPointError):
        return "unchecked: accepted, the primal raises at the test point"
    except Exception as e:
        _accepted_failure(mutant, "accepted a call that Python refuses", e)
    try:
        value = float(value)
    except (TypeError, ValueError) as e:
        _accepted_failure(mutant, "accepted a function whose result is not a number", e)
    try:
        # the unmutated program's probe: is the test point near a branch boundary or kink?
        probe(replace(mutant.program, args=mutant.args))
        reference, errors = fd_gradient(fn, mutant.args, wrt)
    except Exception as e:
        return f"unchecked: accepted, no reference ({str(e).split(':')[0][:40]})"
    for r, err in zip(reference, errors, strict=True):
        if np.any(err > 1e-5 * (np.abs(r) + 1e-2)):
            return "unchecked: accepted, finite differences unreliable"
    got = result if isinstance(mutant.wrt, tuple) else (result,)
    for g, r, err in zip(got, reference, errors, strict=True):
        if not np.allclose(g, r, rtol=1e-6, atol=1e-8 + 10 * float(np.max(err, initial=0))):
            raise OracleFailure(
                "accepted mutant gives a wrong gradient",
                f"got {g!r}, finite differences {r!r}\n{mutant.describe()}",
                key=mutant.kind,
            )
    return "checked: accepted, gradient correct"


def _accepted_failure(mutant: Mutant, oracle: str, error: Exception):
    raise OracleFailure(
        oracle,
        f"the function raises {type(error).__name__}: {error}\n{mutant.describe()}",
        key=mutant.kind,
    )
