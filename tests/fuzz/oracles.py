"""Oracles applied to every generated program.

``check_program`` runs, in order:

1. the probe run (plain Python with boundary probes): a draw whose primal raises or
   overflows is *rejected* (not a failure); one near a branch boundary or a kink only
   skips the finite-difference oracle;
2. reverse mode, ``compile=False``: the value equals the user function's value, the
   inputs are not mutated, the gradient has the arguments' structure and agrees with
   high-order central finite differences (within an estimate of their own error);
3. optionally ``compile=True``: the same value and gradient as ``compile=False``;
4. forward mode (``sourcead.jvp``: jvp along a random direction equals grad's dot product
   with it) and ``sourcead.vmap(grad)`` (equals a loop of grad) when the package has them;
5. second derivatives (``sourcead.hvp``): ``w · H v`` equals the finite-difference
   derivative of ``w · grad`` along ``v``, where the first-derivative differences were
   reliable;
6. rebinding: after a module global, a constant of the imported module or a helper is
   rebound, a *new* ``grad`` of ``f`` gives the value and gradient of the program as it
   now reads (a freshly loaded copy with the new definitions).

The generator writes only what the docs claim, so a refusal is a failure too: by reverse
mode (docs/subset.md, docs/arrays.md) unless it is one the docs announce
(``DOCUMENTED_REFUSALS``), and by ``jvp`` and ``hvp`` (docs/forward.md: "Everything the
reverse mode accepts works here too"; second derivatives refuse only solver calls, which
the generator never writes). ``vmap`` refusals are counted and reported by reason.

``check_program`` returns what it did, one string per oracle: ``"checked: ..."`` (the
oracle compared two independent results), ``"skipped: ..."`` (it could not, and why) or
``"refused: ..."`` (a transformation refused the program without that being a failure).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import math
import os
import re
import shutil
import sys
import tempfile

import numpy as np

import sourcead

from .generator import CONSTS_MODULE, Program

try:  # imported as tests.fuzz (python -m tests.fuzz) or as fuzz (pytest, tests/ on sys.path)
    from ..helpers import assert_args_unchanged, copy_args
except ImportError:
    from helpers import assert_args_unchanged, copy_args

#: Closest allowed approach of a compared quantity to its branch boundary (or of a kink's
#: argument to the kink) at the test point.
MARGIN = 1e-2
#: Largest magnitude of any assigned value; beyond it rounding spoils finite differences.
MAGNITUDE = 1e5

#: Refusals by reverse mode that the docs announce for code the generator may write:
#: (pattern of the message, where the docs say so). Anything else refused is a failure.
DOCUMENTED_REFUSALS = [
    # docs/arrays.md, Limits: "a new binding computed from the old one with another shape
    # where the old one is not kept" stops with ValueError at run time
    (r"changes shape where its new value is computed from it", "docs/arrays.md, Limits"),
    # docs/subset.md, Refused: calls of your own functions inside if or while conditions
    (r"a call of your own function inside a condition", "docs/subset.md, Refused"),
    (r"a while condition with a conditional expression or a call", "docs/subset.md, Refused"),
]


def documented_refusal(message: str) -> str | None:
    """The docs' section announcing this refusal, or None."""
    for pattern, where in DOCUMENTED_REFUSALS:
        if re.search(pattern, message):
            return where
    return None


class Rejected(Exception):
    """The draw is unusable as a test (near a boundary, overflow, ...): not a failure."""


class Refused(Exception):
    """sourcead refused the program with SourceADError at grad() time."""


class OracleFailure(AssertionError):
    """An oracle disagreed: a bug in sourcead (or in the oracle)."""

    def __init__(self, oracle: str, message: str, program: Program | None = None, key=None):
        self.oracle = oracle
        self.program = program
        #: what makes two failures "the same" (see runner.Signature); None: oracle only
        self.key = key
        #: the stage of check_program that raised it (oracles.STAGES)
        self.stage = None
        text = f"[{oracle}] {message}"
        if program is not None:
            text += "\n\n" + program.describe()
        super().__init__(text)


# ------------------------------------------------------------------------ loading

_DIR: list[str] = []
_COUNT = itertools.count()


def _directory() -> str:
    if not _DIR:
        _DIR.append(tempfile.mkdtemp(prefix="sourcead_fuzz_"))
    return _DIR[0]


def cleanup() -> None:
    """Remove the directory of generated program files."""
    if _DIR:
        shutil.rmtree(_DIR.pop(), ignore_errors=True)


def _import_file(source: str, stem: str, module_name: str):
    path = os.path.join(_directory(), f"{stem}_{next(_COUNT)}.py")
    with open(path, "w") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_modules(modules) -> None:
    """Load each (name, source) from a fresh file and make ``import name`` find it.

    Every program imports its own copy: ``sys.modules`` is pointed at the newest one just
    before the program that imports it is executed, and the program keeps its reference.
    """
    for name, source in modules:
        sys.modules[name] = _import_file(source, name, name)


def load(source: str, stem: str = "program", modules=()):
    """Write ``source`` to a fresh file and import it, so that its source can be read."""
    install_modules(modules)
    name = f"sourcead_fuzz_programs.{stem}_{next(_COUNT)}"
    return _import_file(source, stem, name)


# ------------------------------------------------------------------------- probes


class _Probe:
    """Records, in evaluation order, how far each comparison and kink is from its boundary."""

    def __init__(self):
        self.events: list[tuple[str, float]] = []
        self.magnitude = 0.0

    def value(self, v):
        if isinstance(v, np.ndarray):  # an array assigned whole, or a row written
            if not np.all(np.isfinite(v)):
                raise Rejected("non-finite value")
            self.magnitude = max(self.magnitude, float(np.max(np.abs(v), initial=0.0)))
            return v
        v = float(v)
        if not math.isfinite(v):
            raise Rejected("non-finite value")
        self.magnitude = max(self.magnitude, abs(v))
        return v

    def compare(self, a, op, b):
        self.events.append(("comparison", float(a) - float(b)))
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def kink(self, name, *args):
        if name in ("min", "max"):
            self.events.append((name, float(args[0]) - float(args[1])))
            return (min if name == "min" else max)(*args)
        self.events.append((name, float(args[0])))
        return {"abs": abs, "math.fabs": math.fabs, "np.abs": np.abs}[name](args[0])

    def trunc(self, v):
        self.events.append(("int()", float(v) - round(v) if round(v) != 0 else math.inf))
        return int(v)


def _run_probe(program: Program, args):
    install_modules(program.modules)
    p = _Probe()
    namespace = {
        "math": math,
        "np": np,
        "_value": p.value,
        "_compare": p.compare,
        "_kink": p.kink,
        "_trunc": p.trunc,
    }
    exec(compile(program.probe_source, "<probe>", "exec"), namespace)
    try:
        with np.errstate(all="raise"):
            value = namespace[program.entry](*copy_args(args))
    except (ArithmeticError, ValueError, FloatingPointError) as e:
        raise Rejected(f"primal raises {type(e).__name__}") from None
    return p.value(value), p


def _nudged(program: Program, seed: int = 0):
    """The arguments with every float nudged by a small pseudo-random amount."""
    rng = np.random.default_rng(seed)
    out = []
    for a in program.args:
        if isinstance(a, np.ndarray):
            out.append(a + rng.uniform(1e-4, 2e-4, a.shape))
        elif isinstance(a, float):
            out.append(a + rng.uniform(1e-4, 2e-4))
        else:
            out.append(a)
    return tuple(out)


def probe(program: Program):
    """Run the probe source; reject draws near a boundary, or with huge or odd values.

    The probe runs twice, at the test point and at a nudged one: a comparison or kink whose
    operand does not move at all does not depend on the inputs, and its margin does not
    matter; one that moves must stay at least MARGIN from its boundary.
    """
    value, p = _run_probe(program, program.args)
    _, nudged = _run_probe(program, _nudged(program))
    if p.magnitude > MAGNITUDE:
        raise Rejected("huge intermediate value")
    if [k for k, _ in p.events] != [k for k, _ in nudged.events]:
        raise Rejected("control flow changes near the test point")
    for (what, d), (_, d2) in zip(p.events, nudged.events, strict=True):
        if d != d2 and abs(d) < MARGIN:
            raise Rejected(f"near a boundary: {what}")
    return value


# ---------------------------------------------------------------- finite differences

_STENCIL = ((1, 45.0), (2, -9.0), (3, 1.0))


def _fd_partial(phi, x0: float):
    """(derivative, error estimate) of ``phi(delta)`` at 0 by a 6th-order stencil at two steps."""
    h = 1e-3 * max(1.0, abs(x0))

    def stencil(h):
        return sum(c * (phi(k * h) - phi(-k * h)) for k, c in _STENCIL) / (60.0 * h)

    d1, d2 = stencil(h), stencil(h / 2)
    return d2 + (d2 - d1) / 63.0, abs(d1 - d2)


def fd_gradient(f, args, wrt):
    """Finite-difference gradient and error estimates, one array per ``wrt`` argument."""
    base = copy_args(args)

    def evaluate(i, index, delta):
        new = list(copy_args(base))
        if index is None:
            new[i] = base[i] + delta
        else:
            new[i][index] = base[i][index] + delta
        with np.errstate(all="raise"):
            v = float(f(*new))
        if not math.isfinite(v):
            raise Rejected("non-finite value near the test point")
        return v

    grads, errors = [], []
    for i in wrt:
        a = base[i]
        shape = a.shape if isinstance(a, np.ndarray) else ()
        g, err = np.zeros(shape), np.zeros(shape)
        for index in np.ndindex(shape):
            ix = index if shape else None
            x0 = a[index] if shape else a
            try:
                g[index], err[index] = _fd_partial(lambda d, i=i, ix=ix: evaluate(i, ix, d), x0)
            except (ArithmeticError, ValueError, FloatingPointError) as e:
                raise Rejected(f"primal raises {type(e).__name__} near the test point") from None
        grads.append(g)
        errors.append(err)
    return grads, errors


# ----------------------------------------------------------------------- oracles


def _as_tuple(grads, wrt):
    return grads if len(wrt) > 1 else (grads,)


def _fail(oracle, message, program, key=None):
    raise OracleFailure(oracle, message, program, key)


def reason(message: str) -> str:
    """A refusal's reason without file, line and numbers: the same for the same cause.

    Of a generated line it names, only the functions called are kept (``b_v[:6] +=
    np.ones(v[:6].shape) * ...`` and ``b_a[:2] += np.ones(a[:2].shape) * ...`` agree).
    """
    message = re.sub(r"^.*?, line \d+: ", "", message.strip().split("\n")[0])
    generated = re.search(r"\(generated line `(.*)`\)", message)
    calls = ""
    if generated:
        called = sorted(set(re.findall(r"[\w.]+(?=\()", generated.group(1))))
        calls = f" (generated line calling {', '.join(called) or 'nothing'})"
        message = message[: generated.start()].rstrip()
    message = re.sub(r"\S*sourcead_fuzz_\S*", "<file>", message)
    message = re.sub(r"program_\d+|rebound_\d+", "<module>", message)
    return re.sub(r"\d+", "N", message)[:160] + calls


def _compare(oracle, program, actual, desired, rtol, atol, what):
    for k, (a, d) in enumerate(zip(actual, desired, strict=True)):
        a, d = np.asarray(a, dtype=np.float64), np.asarray(d, dtype=np.float64)
        bad = ~(np.abs(a - d) <= rtol * np.abs(d) + atol)
        if np.any(bad):
            _fail(
                oracle,
                f"{what} for wrt argument {program.params[program.wrt[k]]}:\n"
                f"  got      {a.tolist()!r}\n  expected {d.tolist()!r}",
                program,
            )


def reverse(program: Program, f, compiled: bool):
    """value_and_grad of ``f``. A refusal the docs announce becomes Refused; any other
    refusal, and any other error, is a failure (the generator writes only what the docs
    claim)."""
    wrt = program.wrt if len(program.wrt) > 1 else program.wrt[0]
    mode = "compile=True" if compiled else "compile=False"
    try:
        vg = sourcead.value_and_grad(f, wrt=wrt, compile=compiled)
    except sourcead.SourceADError as e:
        _refused(program, f"grad() ({mode}) refused", str(e))
    except Exception as e:
        _fail("grad() raised", f"{type(e).__name__}: {e}", program)
    args = copy_args(program.args)
    try:
        value, grads = vg(*args)
    except sourcead.SourceADError as e:
        _fail("call raised", f"SourceADError at call time, not at grad(): {e}", program)
    except ValueError as e:
        _refused(program, f"call ({mode}) raised ValueError", str(e))
    except Exception as e:
        _fail("call raised", f"{type(e).__name__}: {e}", program)
    try:
        assert_args_unchanged(program.args, args)
    except AssertionError as e:
        _fail("inputs mutated", str(e), program)
    grads = _as_tuple(grads, program.wrt)
    for g, i in zip(grads, program.wrt, strict=True):
        a = program.args[i]
        if isinstance(a, np.ndarray):
            ok = isinstance(g, np.ndarray) and g.shape == a.shape and g.dtype == np.float64
        else:
            ok = isinstance(g, float | np.floating)
        if not ok:
            _fail("gradient structure", f"wrt {program.params[i]}: got {g!r}", program)
    return vg, value, grads


def _refused(program: Program, oracle: str, message: str):
    """Refused for a refusal the docs announce, a failure for any other."""
    if documented_refusal(message):
        raise Refused(message)
    _fail(oracle, message, program, key=reason(message))


def _probe_or_skip(program: Program):
    """(expected value or None, reason to skip finite differences or None)."""
    try:
        return probe(program), None
    except Rejected as e:
        if not str(e).startswith("near a boundary") and "control flow" not in str(e):
            raise
        return None, str(e)


def _user_value(f, program: Program, expected_value):
    with np.errstate(all="raise"):
        try:
            user_value = f(*copy_args(program.args))
        except (ArithmeticError, ValueError, FloatingPointError):
            raise Rejected("primal raises") from None
    if expected_value is not None and user_value != expected_value:
        raise AssertionError(f"probe source disagrees with the program: {program.source}")
    return user_value


def _check_gradient(
    program: Program, f, grads, user_value, scale, fd_skip, oracle="gradient vs finite differences"
):
    """Gradient vs finite differences; returns (outcome, fd_skip)."""
    if fd_skip is None:
        fd, fd_err = fd_gradient(f, program.args, program.wrt)
        for g, err in zip(fd, fd_err, strict=True):
            if np.any(err > 1e-5 * (np.abs(g) + 1e-2 * scale)):
                fd_skip = "finite differences unreliable"
    if fd_skip is not None:
        return f"skipped: {oracle} ({fd_skip})", fd_skip
    atol = [1e-8 * scale + 1e-10 * abs(user_value) + 10 * e for e in fd_err]
    for k, (g, d, tol) in enumerate(zip(grads, fd, atol, strict=True)):
        _compare(oracle, program, (g,), (d,), 1e-6, tol, f"[{k}]")
    return f"checked: {oracle}", None


def _scale(grads) -> float:
    return max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g in grads])


#: The stages of check_program, in order; "reverse" always runs (the others need it).
STAGES = ("reverse", "fd", "compiled", "jvp", "hvp", "vmap", "rebinding")


@contextlib.contextmanager
def _stage(name: str):
    """Label an OracleFailure with the stage that raised it (to focus shrinking on it)."""
    try:
        yield
    except OracleFailure as e:
        e.stage = e.stage or name
        raise


def check_program(
    program: Program, compiled: bool = False, vmap_target: str = "cpu", focus: str | None = None
) -> list:
    """Apply every oracle to ``program``; returns one outcome string per oracle.

    Raises Rejected when the program cannot be run at its test point (its primal raises or
    overflows), Refused when reverse mode refuses it as the docs announce, OracleFailure
    (with its ``stage``) when an oracle disagrees or a transformation refuses what the docs
    claim. A test point near a branch boundary or kink, or with unreliable finite
    differences, skips only the oracles that need finite differences. ``focus``, a stage,
    runs only "reverse" and that stage: shrinking a failure needs nothing else.
    """
    run = lambda stage: focus is None or stage == focus  # noqa: E731
    module = load(program.source, modules=program.modules)
    f = getattr(module, program.entry)
    expected_value, fd_skip = _probe_or_skip(program)
    user_value = _user_value(f, program, expected_value)

    outcomes = ["checked: primal value", "checked: inputs not mutated"]
    with _stage("reverse"):
        _, value, grads = reverse(program, f, compiled=False)
        if not (value == user_value):
            message = f"value {value!r} but the function gives {user_value!r}"
            _fail("primal value", message, program)
    scale = _scale(grads)
    if run("fd"):
        with _stage("fd"):
            outcome, fd_skip = _check_gradient(program, f, grads, user_value, scale, fd_skip)
        outcomes.append(outcome)
    if compiled and run("compiled"):
        with _stage("compiled"):
            outcomes.append(_check_compiled(program, f, value, grads, scale))
    if run("jvp"):
        with _stage("jvp"):
            outcomes.append(check_jvp(program, f, grads, scale))
    if run("hvp"):
        with _stage("hvp"):
            outcomes.append(check_hvp(program, f, compare=fd_skip is None))
    if compiled and vmap_target and run("vmap"):
        with _stage("vmap"):
            outcomes.append(check_vmap(program, f, compiled, target=vmap_target))
    if program.rebinds and run("rebinding"):
        with _stage("rebinding"):
            outcomes += check_rebinding(program, module, compiled)
    return outcomes


def _check_compiled(program: Program, f, value, grads, scale) -> str:
    """compile=True gives the value and gradient of compile=False."""
    try:
        _, cvalue, cgrads = reverse(program, f, compiled=True)
    except Refused as e:
        _fail("compile=True refused what compile=False ran", str(e), program)
    oracle = "compile=True vs compile=False"
    _compare(oracle, program, (cvalue,), (value,), 1e-11, 1e-12, "value")
    _compare(oracle, program, cgrads, grads, 1e-9, 1e-12 * scale, "gradient")
    return f"checked: {oracle}"


# ------------------------------------------------------ forward mode and vmap


def _direction(program: Program, seed: int = 0):
    rng = np.random.default_rng(len(program.source) + seed)
    out = []
    for i in program.wrt:
        a = program.args[i]
        out.append(rng.uniform(-1, 1, a.shape) if isinstance(a, np.ndarray) else rng.uniform(-1, 1))
    return out


def _tangents(program: Program, direction) -> tuple:
    tangents = [None] * len(program.args)
    for i, t in zip(program.wrt, direction, strict=True):
        tangents[i] = t
    return tuple(tangents)


def check_jvp(program: Program, f, grads, scale):
    """Forward mode: jvp along a random direction equals the gradient's dot product with it.

    A refusal is a failure: docs/forward.md, "Everything the reverse mode accepts works
    here too".
    """
    direction = _direction(program)
    expected = sum(float(np.sum(g * t)) for g, t in zip(grads, direction, strict=True))
    args = copy_args(program.args)
    try:
        value, derivative = sourcead.jvp(f, args, _tangents(program, direction), compile=False)
    except sourcead.SourceADError as e:
        _fail("jvp refused what grad accepts", str(e), program, key=reason(str(e)))
    except Exception as e:
        _fail("jvp raised", f"{type(e).__name__}: {e}", program)
    try:
        assert_args_unchanged(program.args, args)
    except AssertionError as e:
        _fail("inputs mutated by jvp", str(e), program)
    if np.ndim(value) or np.ndim(derivative):
        message = f"a scalar function: value {value!r}, tangent {derivative!r}"
        _fail("jvp result structure", message, program)
    primal = f(*copy_args(program.args))
    _compare("jvp primal value", program, (value,), (primal,), 1e-12, 1e-12, "value")
    tol = 1e-9 * scale * (1 + sum(np.size(t) for t in direction))
    if not abs(float(derivative) - expected) <= tol + 1e-9 * abs(expected):
        _fail("jvp vs grad", f"jvp gives {derivative!r}, grad . tangent = {expected!r}", program)
    return "checked: jvp vs grad"


def check_hvp(program: Program, f, compare: bool = True):
    """Second derivatives: ``w · hvp(f, x, v)`` equals the derivative of ``w · grad f`` at
    ``x`` along ``v``, by finite differences of sourcead's gradient (checked itself above).

    hvp runs even where the comparison is skipped (``compare`` False: the point is near a
    boundary), since a refusal or a crash is a failure anyway (docs/forward.md: second
    derivatives refuse solver calls only).
    """
    v, w = _direction(program), _direction(program, seed=1)
    args = copy_args(program.args)
    try:
        products = sourcead.hvp(f, args, _tangents(program, v), compile=False)
    except sourcead.SourceADError as e:
        _fail("hvp refused what grad accepts", str(e), program, key=reason(str(e)))
    except Exception as e:
        _fail("hvp raised", f"{type(e).__name__}: {e}", program)
    try:
        assert_args_unchanged(program.args, args)
    except AssertionError as e:
        _fail("inputs mutated by hvp", str(e), program)
    if not compare:
        return "skipped: hvp vs differences of grad (near a boundary)"
    order = sorted(program.wrt)  # hvp gives one product per argument, in argument order
    products = products if len(order) > 1 else (products,)
    for i, product in zip(order, products, strict=True):
        if np.shape(product) != np.shape(program.args[i]):
            message = f"product for {program.params[i]}: {product!r}"
            _fail("hvp result structure", message, program)
    got = sum(
        float(np.sum(products[order.index(i)] * wi)) for i, wi in zip(program.wrt, w, strict=True)
    )
    gradient = sourcead.grad(f, wrt=tuple(program.wrt), compile=False)

    def along(delta):
        shifted = list(copy_args(program.args))
        for i, t in zip(program.wrt, v, strict=True):
            shifted[i] = shifted[i] + delta * t
        with np.errstate(all="raise"):
            grads = gradient(*shifted)
        return sum(float(np.sum(g * wi)) for g, wi in zip(grads, w, strict=True))

    try:
        expected, error = _fd_partial(along, 1.0)
    except (ArithmeticError, ValueError, FloatingPointError):
        return "skipped: hvp vs differences of grad (differences of grad raise)"
    scale = max(1.0, abs(expected), abs(got))
    if error > 1e-5 * scale:
        return "skipped: hvp vs differences of grad (differences unreliable)"
    if not abs(got - expected) <= 1e-6 * scale + 10 * error:
        _fail("hvp vs differences of grad", f"w . hvp = {got!r}, expected {expected!r}", program)
    return "checked: hvp vs differences of grad"


def check_vmap(program: Program, f, compiled: bool, target: str = "cpu"):
    """vmap(grad) over a small batch of nearby points equals a Python loop of grad."""
    wrt = program.wrt if len(program.wrt) > 1 else program.wrt[0]
    batch = 3
    points = [program.args] + [_nudged(program, seed) for seed in range(1, batch)]
    in_axes = tuple(None if isinstance(a, int) else 0 for a in program.args)
    stacked = tuple(
        a if axis is None else np.stack([np.asarray(p[k], dtype=np.float64) for p in points])
        for k, (a, axis) in enumerate(zip(program.args, in_axes, strict=True))
    )
    before = copy_args(stacked)
    g = sourcead.grad(f, wrt=wrt, compile=compiled)
    try:
        result = sourcead.vmap(g, in_axes=in_axes, target=target)(*stacked)
    except sourcead.SourceADError as e:
        return f"refused: vmap({target}): {reason(str(e))}"
    except Exception as e:
        _fail(f"vmap({target}) raised", f"{type(e).__name__}: {e}", program)
    try:
        assert_args_unchanged(before, stacked)
    except AssertionError as e:
        _fail("inputs mutated by vmap", str(e), program)
    result = _as_tuple(result, program.wrt)
    for k, p in enumerate(points):
        expected = _as_tuple(sourcead.grad(f, wrt=wrt, compile=False)(*copy_args(p)), program.wrt)
        row = tuple(np.asarray(r)[k] for r in result)
        _compare(f"vmap({target}) vs grad", program, row, expected, 1e-9, 1e-12, f"element {k}")
    return f"checked: vmap({target}) vs grad"


# ------------------------------------------------------------------ rebinding


def rebind(module, rebinds) -> None:
    """Make the rebindings of ``Program.rebinds`` in the loaded ``module``."""
    for kind, name, value in rebinds:
        if kind == "global":
            setattr(module, name, value)
        elif kind == "const":
            setattr(getattr(module, CONSTS_MODULE), name, value)
        else:
            setattr(module, name, getattr(module, value))


def check_rebinding(program: Program, module, compiled: bool) -> list:
    """After grad() of ``f`` ran, rebind module globals, constants or helpers: a new grad()
    (and jvp) must give the value and gradient of the program as it now reads.

    The value is compared with the rebound function run as Python; the gradient with finite
    differences of it (skipped near a boundary; the value is still compared). Failures show
    the original program, whose last line lists the rebindings.
    """
    rebind(module, program.rebinds)
    f = getattr(module, program.entry)
    try:
        expected_value, fd_skip = _probe_or_skip(program.rebound)
        user_value = _user_value(f, program.rebound, expected_value)
    except Rejected as e:
        return [f"skipped: rebinding ({e})"]
    oracle = "new grad() after rebinding"
    grads = None
    for compiled_now in [False, True] if compiled else [False]:
        try:
            _, value, grads = reverse(program, f, compiled=compiled_now)
        except Refused as e:
            _fail("grad() after rebinding refused", str(e), program)
        if compiled_now:
            _compare(oracle, program, (value,), (user_value,), 1e-11, 1e-12, "value")
        elif not value == user_value:
            _fail(oracle, f"value {value!r} but the function now gives {user_value!r}", program)
    oracle = "rebinding: gradient vs finite differences"
    outcome, _ = _check_gradient(program, f, grads, user_value, _scale(grads), fd_skip, oracle)
    outcomes = [outcome]
    tangents = _tangents(program, _direction(program))
    try:
        value, _ = sourcead.jvp(f, copy_args(program.args), tangents, compile=False)
    except Exception as e:
        _fail("jvp after rebinding raised", f"{type(e).__name__}: {e}", program)
    _compare("new jvp() after rebinding", program, (value,), (user_value,), 1e-12, 1e-12, "value")
    outcomes.append("checked: rebinding, new grad() and jvp() values")
    return outcomes
