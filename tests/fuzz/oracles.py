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
   reliable.

A construct that sourcead refuses with ``SourceADError`` at ``grad()`` time is an
acceptable outcome (counted as "refused"); any other exception from sourcead is a failure.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import shutil
import tempfile

import numpy as np

import sourcead

from .generator import Program

try:  # imported as tests.fuzz (python -m tests.fuzz) or as fuzz (pytest, tests/ on sys.path)
    from ..helpers import assert_args_unchanged, copy_args
except ImportError:
    from helpers import assert_args_unchanged, copy_args

#: Closest allowed approach of a compared quantity to its branch boundary (or of a kink's
#: argument to the kink) at the test point.
MARGIN = 1e-2
#: Largest magnitude of any assigned value; beyond it rounding spoils finite differences.
MAGNITUDE = 1e5


class Rejected(Exception):
    """The draw is unusable as a test (near a boundary, overflow, ...): not a failure."""


class Refused(Exception):
    """sourcead refused the program with SourceADError at grad() time."""


class OracleFailure(AssertionError):
    """An oracle disagreed: a bug in sourcead (or in the oracle)."""

    def __init__(self, oracle: str, message: str, program: Program | None = None):
        self.oracle = oracle
        self.program = program
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


def load(source: str, stem: str = "program"):
    """Write ``source`` to a fresh file and import it, so that its source can be read."""
    path = os.path.join(_directory(), f"{stem}_{next(_COUNT)}.py")
    with open(path, "w") as fh:
        fh.write(source)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"sourcead_fuzz_programs.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------- probes


class _Probe:
    """Records, in evaluation order, how far each comparison and kink is from its boundary."""

    def __init__(self):
        self.events: list[tuple[str, float]] = []
        self.magnitude = 0.0

    def value(self, v):
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


def _fail(oracle, message, program):
    raise OracleFailure(oracle, message, program)


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
    """value_and_grad of ``f``; SourceADError becomes Refused, other errors failures."""
    wrt = program.wrt if len(program.wrt) > 1 else program.wrt[0]
    try:
        vg = sourcead.value_and_grad(f, wrt=wrt, compile=compiled)
    except sourcead.SourceADError as e:
        raise Refused(str(e)) from None
    except Exception as e:
        _fail("grad() raised", f"{type(e).__name__}: {e}", program)
    args = copy_args(program.args)
    try:
        value, grads = vg(*args)
    except sourcead.SourceADError as e:
        _fail("call raised", f"SourceADError at call time, not at grad(): {e}", program)
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


def check_program(program: Program, compiled: bool = False, vmap_target: str = "cpu") -> list:
    """Apply every oracle to ``program``; returns the names of the oracles applied.

    Raises Rejected when the program cannot be run at its test point (its primal raises or
    overflows), Refused when sourcead refuses it, OracleFailure when an oracle disagrees.
    A test point near a branch boundary or kink, or with unreliable finite differences,
    skips only the finite-difference oracle.
    """
    module = load(program.source)
    f = getattr(module, program.entry)
    fd_skip = None
    try:
        expected_value = probe(program)
    except Rejected as e:
        if not str(e).startswith("near a boundary") and "control flow" not in str(e):
            raise
        fd_skip, expected_value = str(e), None
    with np.errstate(all="raise"):
        try:
            user_value = f(*copy_args(program.args))
        except (ArithmeticError, ValueError, FloatingPointError):
            raise Rejected("primal raises") from None
    if expected_value is not None and user_value != expected_value:
        raise AssertionError(f"probe source disagrees with the program: {program.source}")

    applied = ["primal value", "inputs not mutated"]
    _, value, grads = reverse(program, f, compiled=False)
    if not (value == user_value):
        _fail("primal value", f"value {value!r} but the function gives {user_value!r}", program)
    scale = max([1.0] + [float(np.max(np.abs(g), initial=0.0)) for g in grads])

    if fd_skip is None:
        fd, fd_err = fd_gradient(f, program.args, program.wrt)
        for g, err in zip(fd, fd_err, strict=True):
            if np.any(err > 1e-5 * (np.abs(g) + 1e-2 * scale)):
                fd_skip = "finite differences unreliable"
    if fd_skip is None:
        atol = [1e-8 * scale + 1e-10 * abs(user_value) + 10 * e for e in fd_err]
        for k, (g, d, tol) in enumerate(zip(grads, fd, atol, strict=True)):
            _compare("gradient vs finite differences", program, (g,), (d,), 1e-6, tol, f"[{k}]")
        applied.append("gradient vs finite differences")
    else:
        applied.append(f"finite differences skipped: {fd_skip}")

    if compiled:
        _, cvalue, cgrads = reverse(program, f, compiled=True)
        _compare(
            "compile=True vs compile=False", program, (cvalue,), (value,), 1e-11, 1e-12, "value"
        )
        _compare(
            "compile=True vs compile=False", program, cgrads, grads, 1e-9, 1e-12 * scale, "gradient"
        )
        applied.append("compile=True vs compile=False")

    if hasattr(sourcead, "jvp"):
        applied.append(check_jvp(program, f, grads, scale))
    if hasattr(sourcead, "hvp"):
        applied.append(check_hvp(program, f) if fd_skip is None else "hvp skipped")
    if hasattr(sourcead, "vmap") and compiled and vmap_target:
        applied.append(check_vmap(program, f, compiled, target=vmap_target))
    return applied


# ------------------------------------------------------ forward mode and vmap


def _direction(program: Program, seed: int = 0):
    rng = np.random.default_rng(len(program.source) + seed)
    out = []
    for i in program.wrt:
        a = program.args[i]
        out.append(rng.uniform(-1, 1, a.shape) if isinstance(a, np.ndarray) else rng.uniform(-1, 1))
    return out


def check_jvp(program: Program, f, grads, scale):
    """Forward mode: jvp along a random direction equals the gradient's dot product with it."""
    direction = _direction(program)
    expected = sum(float(np.sum(g * t)) for g, t in zip(grads, direction, strict=True))
    tangents = [None] * len(program.args)
    for i, t in zip(program.wrt, direction, strict=True):
        tangents[i] = t
    args = copy_args(program.args)
    try:
        value, derivative = sourcead.jvp(f, args, tuple(tangents), compile=False)
    except sourcead.SourceADError:
        return "jvp refused"  # forward mode may support less than reverse mode
    except Exception as e:
        _fail("jvp raised", f"{type(e).__name__}: {e}", program)
    try:
        assert_args_unchanged(program.args, args)
    except AssertionError as e:
        _fail("inputs mutated by jvp", str(e), program)
    primal = f(*copy_args(program.args))
    _compare("jvp primal value", program, (value,), (primal,), 1e-12, 1e-12, "value")
    tol = 1e-9 * scale * (1 + sum(np.size(t) for t in direction))
    if not abs(float(derivative) - expected) <= tol + 1e-9 * abs(expected):
        _fail("jvp vs grad", f"jvp gives {derivative!r}, grad . tangent = {expected!r}", program)
    return "jvp vs grad"


def check_hvp(program: Program, f):
    """Second derivatives: ``w · hvp(f, x, v)`` equals the derivative of ``w · grad f`` at
    ``x`` along ``v``, by finite differences of sourcead's gradient (checked itself above)."""
    v, w = _direction(program), _direction(program, seed=1)
    tangents = [None] * len(program.args)
    for i, t in zip(program.wrt, v, strict=True):
        tangents[i] = t
    args = copy_args(program.args)
    try:
        products = sourcead.hvp(f, args, tuple(tangents), compile=False)
    except sourcead.SourceADError as e:
        return f"hvp refused: {str(e).split(': ', 1)[-1][:70]}"  # the reason, for the report
    except Exception as e:
        _fail("hvp raised", f"{type(e).__name__}: {e}", program)
    try:
        assert_args_unchanged(program.args, args)
    except AssertionError as e:
        _fail("inputs mutated by hvp", str(e), program)
    order = sorted(program.wrt)  # hvp gives one product per argument, in argument order
    products = products if len(order) > 1 else (products,)
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
        return "hvp: differences of grad raise"
    scale = max(1.0, abs(expected), abs(got))
    if error > 1e-5 * scale:
        return "hvp: differences of grad unreliable"
    if not abs(got - expected) <= 1e-6 * scale + 10 * error:
        _fail("hvp vs differences of grad", f"w . hvp = {got!r}, expected {expected!r}", program)
    return "hvp vs differences of grad"


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
    except sourcead.SourceADError:
        return f"vmap({target}) refused"  # vmap may support less than grad
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
    return f"vmap({target}) vs grad"
