"""Loop-heavy gradient benchmarks: sourcead vs. hand-written Numba adjoints, JAX and PyTorch.

Run from the repository root::

    python benchmarks/loops.py            # full run
    python benchmarks/loops.py --quick    # fewer repeats

Two problems, each timed side by side in one process (interleaved rounds, medians):

* ``projectile``: 20,000 explicit Euler steps of a point mass with quadratic drag; gradient of a
  scalar miss distance with respect to the launch velocity and the drag coefficient.
* ``heat``: 1-D explicit heat equation (256 cells, 2,000 steps) with a per-cell diffusivity,
  written with element loops; gradient with respect to the initial state and the diffusivity.

Every row computes the full gradient (forward sweep + reverse sweep), except the "Numba forward"
row, which only evaluates the function and serves as the yardstick. JAX and PyTorch are optional:
their rows are skipped when they cannot be imported. The script prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # allow `python benchmarks/loops.py` without installing
    sys.path.insert(1, str(REPO))
# Derivatives compile at their first call, not in the background (the default): the
# timings are of compiled code.
os.environ.setdefault("SOURCEAD_COMPILE", "true")


# ----------------------------------------------------------------------------------------------
# Problem 1: projectile with quadratic drag (scalar loop)
# ----------------------------------------------------------------------------------------------

PROJ_ARGS = (20.0, 15.0, 0.05)  # vx, vy, c
PROJ_STEPS = 20000  # must match the literal in `loss`
PROJ_DT = 1e-4


def loss(vx, vy, c):
    x = 0.0
    y = 0.0
    for _ in range(20000):
        v = math.sqrt(vx * vx + vy * vy)
        x += 1e-4 * vx
        y += 1e-4 * vy
        vx -= 1e-4 * c * v * vx
        vy -= 1e-4 * (9.81 + c * v * vy)
    return (x - 30.0) ** 2 + y**2


@numba.njit(cache=False)
def loss_adjoint(vx, vy, c):
    """Hand-written reverse mode of `loss`: returns (loss, (dvx, dvy, dc))."""
    n = 20000
    h = 1e-4
    vxs = np.empty(n)
    vys = np.empty(n)
    x = 0.0
    y = 0.0
    for i in range(n):  # forward sweep, store the velocities entering each step
        vxs[i] = vx
        vys[i] = vy
        v = math.sqrt(vx * vx + vy * vy)
        x += h * vx
        y += h * vy
        vx -= h * c * v * vx
        vy -= h * (9.81 + c * v * vy)
    value = (x - 30.0) ** 2 + y**2
    gx = 2.0 * (x - 30.0)  # x and y only accumulate, so their adjoints stay constant
    gy = 2.0 * y
    gvx = 0.0
    gvy = 0.0
    gc = 0.0
    for i in range(n - 1, -1, -1):  # reverse sweep, recompute v from the stored velocities
        a = vxs[i]
        b = vys[i]
        v = math.sqrt(a * a + b * b)
        hc = h * c
        inv_v = 1.0 / v
        cross = -hc * a * b * inv_v
        nvx = gvx * (1.0 - hc * (v + a * a * inv_v)) + gvy * cross + h * gx
        nvy = gvx * cross + gvy * (1.0 - hc * (v + b * b * inv_v)) + h * gy
        gc -= h * v * (gvx * a + gvy * b)
        gvx = nvx
        gvy = nvy
    return value, (gvx, gvy, gc)


def loss_hand(vx, vy, c):
    return loss_adjoint(vx, vy, c)[1]


def make_loss_jax():
    import jax
    import jax.numpy as jnp
    from jax import lax

    def loss_jax(vx, vy, c):
        def body(i, s):
            x, y, vx, vy = s
            v = jnp.sqrt(vx * vx + vy * vy)
            x = x + 1e-4 * vx
            y = y + 1e-4 * vy
            vx, vy = vx - 1e-4 * c * v * vx, vy - 1e-4 * (9.81 + c * v * vy)
            return x, y, vx, vy

        x, y, vx, vy = lax.fori_loop(0, PROJ_STEPS, body, (0.0 * vx, 0.0 * vx, vx, vy))
        return (x - 30.0) ** 2 + y**2

    g = jax.jit(jax.grad(loss_jax, argnums=(0, 1, 2)))
    return lambda vx, vy, c: jax.block_until_ready(g(vx, vy, c))


def make_loss_torch():
    import torch

    def grad(vx0, vy0, c0):
        vx = torch.tensor(vx0, dtype=torch.float64, requires_grad=True)
        vy = torch.tensor(vy0, dtype=torch.float64, requires_grad=True)
        c = torch.tensor(c0, dtype=torch.float64, requires_grad=True)
        x = torch.zeros((), dtype=torch.float64)
        y = torch.zeros((), dtype=torch.float64)
        u, w = vx, vy
        for _ in range(PROJ_STEPS):
            v = torch.sqrt(u * u + w * w)
            x = x + 1e-4 * u
            y = y + 1e-4 * w
            u, w = u - 1e-4 * c * v * u, w - 1e-4 * (9.81 + c * v * w)
        ((x - 30.0) ** 2 + y**2).backward()
        return vx.grad.item(), vy.grad.item(), c.grad.item()

    return grad


# ----------------------------------------------------------------------------------------------
# Problem 2: 1-D explicit heat equation (array loops)
# ----------------------------------------------------------------------------------------------

HEAT_N = 256
HEAT_STEPS = 2000  # must match the literal in `heat`
HEAT_R = 0.2  # dt / dx**2; stable since 0.2 * max(kappa) <= 0.3 < 0.5


def heat(u0, kappa):
    n = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    for _ in range(2000):
        for i in range(1, n - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, n - 1):
            u[i] = un[i]
    s = 0.0
    for i in range(n):
        s += (u[i] - 0.1) ** 2
    return s


@numba.njit(cache=False)
def heat_adjoint(u0, kappa):
    """Hand-written reverse mode of `heat`: stores every step's state (steps x n)."""
    n = u0.shape[0]
    nt = 2000
    r = 0.2
    states = np.empty((nt, n))
    u = u0.copy()
    un = np.zeros_like(u)
    for t in range(nt):  # forward sweep
        states[t, :] = u
        for i in range(1, n - 1):
            un[i] = u[i] + r * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, n - 1):
            u[i] = un[i]
    value = 0.0
    for i in range(n):
        value += (u[i] - 0.1) ** 2
    gu = np.empty(n)  # adjoint of the current state
    for i in range(n):
        gu[i] = 2.0 * (u[i] - 0.1)
    gprev = np.empty(n)
    w = np.zeros(n)  # r * kappa[i] * gu[i] on interior cells, 0 on the fixed boundaries
    gk = np.zeros(n)
    for t in range(nt - 1, -1, -1):  # reverse sweep, gather form (vectorises)
        s = states[t]
        for i in range(1, n - 1):
            w[i] = r * kappa[i] * gu[i]
            gk[i] += r * gu[i] * (s[i - 1] - 2.0 * s[i] + s[i + 1])
        gprev[0] = gu[0] + w[1]
        gprev[n - 1] = gu[n - 1] + w[n - 2]
        for i in range(1, n - 1):
            gprev[i] = gu[i] - 2.0 * w[i] + w[i - 1] + w[i + 1]
        gu, gprev = gprev, gu
    return value, (gu, gk)


def heat_hand(u0, kappa):
    return heat_adjoint(u0, kappa)[1]


def heat_inputs():
    rng = np.random.default_rng(0)
    xs = np.linspace(0.0, 1.0, HEAT_N)
    u0 = np.sin(np.pi * xs) + 0.1 * rng.standard_normal(HEAT_N)
    kappa = rng.uniform(0.5, 1.5, HEAT_N)
    return u0, kappa


def make_heat_jax():
    import jax
    import jax.numpy as jnp
    from jax import lax

    def heat_jax(u0, kappa):
        def step(t, u):
            lap = u[:-2] - 2.0 * u[1:-1] + u[2:]
            return u.at[1:-1].set(u[1:-1] + HEAT_R * kappa[1:-1] * lap)

        u = lax.fori_loop(0, HEAT_STEPS, step, u0)
        return jnp.sum((u - 0.1) ** 2)

    g = jax.jit(jax.grad(heat_jax, argnums=(0, 1)))
    return lambda u0, kappa: jax.block_until_ready(g(u0, kappa))


def make_heat_torch():
    import torch

    def grad(u0_np, kappa_np):
        u0 = torch.tensor(u0_np, requires_grad=True)
        kappa = torch.tensor(kappa_np, requires_grad=True)
        k = HEAT_R * kappa[1:-1]
        u = u0
        for _ in range(HEAT_STEPS):
            inner = u[1:-1] + k * (u[:-2] - 2.0 * u[1:-1] + u[2:])
            u = torch.cat((u[:1], inner, u[-1:]))
        ((u - 0.1) ** 2).sum().backward()
        return u0.grad.numpy(), kappa.grad.numpy()

    return grad


# ----------------------------------------------------------------------------------------------
# Timing / reporting helpers
# ----------------------------------------------------------------------------------------------


class Row:
    def __init__(self, name, fn=None, error=None, slow=False):
        self.name = name
        self.fn = fn
        self.error = error
        self.slow = slow  # time only a few times, outside the interleaved rounds
        self.samples = []
        self.result = None
        self.inner = 1

    def call(self, args):
        try:
            return self.fn(*args)
        except Exception as e:  # keep the rest of the table alive
            self.error = f"{type(e).__name__}: {e}"
            self.fn = None
            return None


def fmt_time(t):
    if t is None:
        return "—"
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def md_escape(s, limit=160):
    s = " ".join(str(s).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("|", "\\|")


def flat(grads):
    return np.concatenate([np.ravel(np.asarray(g, dtype=np.float64)) for g in grads])


def max_rel_diff(a, b):
    a, b = flat(a), flat(b)
    if a.shape != b.shape:
        return float("inf")
    scale = np.maximum(np.abs(b), 1e-12 * max(1.0, float(np.max(np.abs(b)))))
    return float(np.max(np.abs(a - b) / scale))


def timeit_rows(rows, args, rounds, min_sample=2e-3, slow_repeats=2):
    """Warm up, calibrate, then time fast rows in interleaved rounds (medians per call)."""
    for row in rows:
        if row.fn is None:
            continue
        row.result = row.call(args)  # warm-up (compilation, tracing)
        if row.fn is None or row.slow:
            continue
        row.call(args)
        t0 = time.perf_counter()
        row.call(args)
        dt = time.perf_counter() - t0
        row.inner = max(1, int(math.ceil(min_sample / max(dt, 1e-9))))
    fast = [r for r in rows if r.fn is not None and not r.slow]
    for _ in range(rounds):
        for row in fast:
            if row.fn is None:
                continue
            t0 = time.perf_counter()
            for _ in range(row.inner):
                row.call(args)
            row.samples.append((time.perf_counter() - t0) / row.inner)
    for row in rows:
        if row.fn is not None and row.slow:
            for _ in range(slow_repeats):
                t0 = time.perf_counter()
                row.call(args)
                row.samples.append(time.perf_counter() - t0)


def median(row):
    return statistics.median(row.samples) if row.samples and row.error is None else None


def print_table(title, rows, forward, hand, reference):
    t_fwd, t_hand = median(forward), median(hand)
    print(f"\n### {title}\n")
    print(
        "| implementation | median time | × hand-written adjoint | × Numba forward | max rel. diff vs hand-written |"
    )
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        if row.error is not None:
            print(f"| {row.name} | error: {md_escape(row.error)} | — | — | — |")
            continue
        if row.fn is None and not row.samples:
            print(f"| {row.name} | skipped | — | — | — |")
            continue
        t = median(row)
        r_hand = f"{t / t_hand:.2f}" if t and t_hand else "—"
        r_fwd = f"{t / t_fwd:.2f}" if t and t_fwd else "—"
        if row is forward or row.result is None:
            err = "—"
        else:
            err = f"{max_rel_diff(row.result, reference):.1e}"
        n = len(row.samples)
        note = f" (n={n})" if row.slow else ""
        print(f"| {row.name} | {fmt_time(t)}{note} | {r_hand} | {r_fwd} | {err} |")


def check_target(label, value, limit, unit="×"):
    if value is None:
        return f"- {label}: not measured (target ≤ {limit}{unit})"
    ok = "✅ met" if value <= limit else "❌ missed"
    return f"- {label}: {value:.2f}{unit} (target ≤ {limit}{unit}) {ok}"


def try_import(name):
    try:
        return __import__(name), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


def sourcead_row(name, fun, wrt):
    sourcead, err = try_import("sourcead")
    if sourcead is None:
        return Row(name, error=f"import failed: {err}")
    try:
        g = sourcead.grad(fun, wrt=wrt)
    except Exception as e:
        return Row(name, error=f"{type(e).__name__}: {e}")
    return Row(name, g)


def optional_row(name, module, factory, enabled=True, slow=False):
    if not enabled:
        return Row(name)
    mod, err = try_import(module)
    if mod is None:
        return Row(name)  # skipped: not installed
    try:
        return Row(name, factory(), slow=slow)
    except Exception as e:
        return Row(name, error=f"{type(e).__name__}: {e}")


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------


def check_projectile_adjoint():
    f = numba.njit(loss)
    _, g = loss_adjoint(*PROJ_ARGS)
    fd = []
    for k in range(3):
        h = 1e-6 * max(1.0, abs(PROJ_ARGS[k]))
        p = list(PROJ_ARGS)
        m = list(PROJ_ARGS)
        p[k] += h
        m[k] -= h
        fd.append((f(*p) - f(*m)) / (2 * h))
    err = max_rel_diff(g, fd)
    assert err < 1e-5, f"hand-written projectile adjoint disagrees with FD: {g} vs {fd}"
    assert abs(loss_adjoint(*PROJ_ARGS)[0] - f(*PROJ_ARGS)) < 1e-12 * abs(f(*PROJ_ARGS))
    return err


def check_heat_adjoint(u0, kappa):
    f = numba.njit(heat)
    value, (gu, gk) = heat_adjoint(u0, kappa)
    assert abs(value - f(u0, kappa)) <= 1e-12 * abs(value)
    worst = 0.0
    for grad, which in ((gu, 0), (gk, 1)):
        scale = 1e-3 * float(np.max(np.abs(grad)))
        for i in (0, 1, 2, HEAT_N // 3, HEAT_N // 2, HEAT_N - 2, HEAT_N - 1):
            args = [u0.copy(), kappa.copy()]
            h = 1e-5
            args[which][i] += h
            fp = f(*args)
            args[which][i] -= 2 * h
            fm = f(*args)
            fd = (fp - fm) / (2 * h)
            err = abs(fd - grad[i]) / max(abs(grad[i]), scale)
            assert err < 1e-5, (which, i, fd, grad[i])
            worst = max(worst, err)
    return worst


FIRST_CALL_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import sourcead
import loops
t1 = time.perf_counter()
g = sourcead.grad(loops.loss, wrt=(0, 1, 2))
tg = time.perf_counter()
r = g(20.0, 15.0, 0.05)
t2 = time.perf_counter()
r2 = g(20.0, 15.0, 0.05)
t3 = time.perf_counter()
print("RESULT " + json.dumps(
    {"import": t1 - t0, "grad": tg - t1, "first": t2 - t1, "second": t3 - t2}
))
"""

NUMBA_FIRST_CALL_SCRIPT = r"""
import json, time
import numba, numpy
import loops
t1 = time.perf_counter()
numba.njit(loops.loss)(20.0, 15.0, 0.05)
t2 = time.perf_counter()
print("RESULT " + json.dumps({"first": t2 - t1}))
"""


def run_fresh(script, cold=True):
    """Run `script` in a fresh interpreter with an empty sourcead cache.

    With ``cold``, Numba's on-disk cache is empty too (as right after installation), so the
    runtime helpers that sourcead compiles with ``cache=True`` are compiled as well; otherwise
    Numba's default cache locations are used (the usual case after the first run).
    """
    with tempfile.TemporaryDirectory(prefix="sourcead-bench-") as tmp:
        env = dict(os.environ)
        env["SOURCEAD_CACHE_DIR"] = os.path.join(tmp, "sourcead")
        if cold:
            env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            p = subprocess.run(
                [sys.executable, "-c", script],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
        except subprocess.TimeoutExpired:
            return None, "timed out after 600 s"
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :]), None
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
    return None, f"exit code {p.returncode}: {tail[0]}"


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def header(use_jax, use_torch):
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    versions.append(f"numba {numba.__version__}")
    for name, enabled in (("jax", use_jax), ("torch", use_torch)):
        mod, _ = try_import(name) if enabled else (None, None)
        versions.append(f"{name} {mod.__version__}" if mod else f"{name} —")
    cpu = platform.processor() or platform.machine()
    print("## sourcead loop benchmarks\n")
    print(f"Machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs; " + ", ".join(versions))


def bench_projectile(args):
    rounds = 7 if args.quick else 31
    print("\nChecking the hand-written projectile adjoint against central differences …", end=" ")
    print(f"max rel. error {check_projectile_adjoint():.1e}")
    fwd = Row("Numba forward (`numba.njit(loss)`)", numba.njit(loss))
    hand = Row("hand-written Numba adjoint", loss_hand)
    sad = sourcead_row("sourcead `grad(loss, wrt=(0, 1, 2))`", loss, (0, 1, 2))
    jx = optional_row(
        "JAX `jit(grad)` + `lax.fori_loop`", "jax", make_loss_jax, enabled=not args.no_jax
    )
    th = optional_row(
        "PyTorch eager backward",
        "torch",
        make_loss_torch,
        enabled=not args.no_torch,
        slow=True,
    )
    rows = [fwd, hand, sad, jx, th]
    timeit_rows(rows, PROJ_ARGS, rounds, slow_repeats=1 if args.quick else 2)
    reference = hand.result
    print_table(
        f"projectile: {PROJ_STEPS:,} steps, gradient wrt (vx, vy, c)",
        rows,
        fwd,
        hand,
        reference,
    )
    print()
    if sad.result is not None:
        print(f"sourcead gradient: {tuple(float(g) for g in flat(sad.result))}")
    print(f"hand-written gradient: {tuple(float(g) for g in reference)}")
    t_sad, t_hand, t_fwd = median(sad), median(hand), median(fwd)
    print(check_target("sourcead / hand-written", t_sad and t_sad / t_hand, 1.3))
    print(check_target("sourcead / Numba forward", t_sad and t_sad / t_fwd, 3.0))
    if sad.result is not None:
        print(
            f"- sourcead vs hand-written gradient: max rel. diff {max_rel_diff(sad.result, reference):.1e}"
        )

    if args.no_first_call:
        return
    for cold, label in ((True, "empty Numba cache"), (False, "default Numba cache")):
        res, err = run_fresh(FIRST_CALL_SCRIPT, cold=cold)
        if res is None:
            print(f"- sourcead first call, fresh process, {label}: error: {md_escape(err, 300)}")
            continue
        t = res["first"]
        ok = "✅ met" if t < 2.0 else "❌ missed"
        print(
            f"- sourcead first call, fresh process, {label}: `grad()` + first call "
            f"{t:.2f} s (target < 2 s) {ok} [`grad()` {res['grad']:.2f} s, "
            f"adjoint generation + Numba compile {t - res['grad']:.2f} s]; "
            f"second call {fmt_time(res['second'])}; `import sourcead` {res['import']:.2f} s"
        )
    res, err = run_fresh(NUMBA_FIRST_CALL_SCRIPT)
    if res is not None:
        print(
            f"- for reference, `numba.njit(loss)` first call in a fresh process: "
            f"{res['first']:.2f} s"
        )


def bench_heat(args):
    rounds = 7 if args.quick else 21
    u0, kappa = heat_inputs()
    print("\nChecking the hand-written heat adjoint against central differences …", end=" ")
    print(f"max rel. error {check_heat_adjoint(u0, kappa):.1e}")
    fwd = Row("Numba forward (`numba.njit(heat)`)", numba.njit(heat))
    hand = Row("hand-written Numba adjoint (stores 2000×256 states)", heat_hand)
    sad = sourcead_row("sourcead `grad(heat, wrt=(0, 1))`", heat, (0, 1))
    jx = optional_row(
        "JAX `jit(grad)` + `lax.fori_loop`, vectorised",
        "jax",
        make_heat_jax,
        enabled=not args.no_jax,
    )
    th = optional_row(
        "PyTorch eager backward, vectorised",
        "torch",
        make_heat_torch,
        enabled=not args.no_torch,
        slow=True,
    )
    rows = [fwd, hand, sad, jx, th]
    timeit_rows(rows, (u0, kappa), rounds, slow_repeats=2 if args.quick else 5)
    reference = hand.result
    print_table(
        f"heat: {HEAT_N} cells × {HEAT_STEPS:,} steps, gradient wrt (u0, kappa)",
        rows,
        fwd,
        hand,
        reference,
    )
    print()
    t_sad, t_hand, t_jax = median(sad), median(hand), median(jx)
    print(check_target("sourcead / hand-written", t_sad and t_sad / t_hand, 1.5))
    if t_jax is not None:
        print(check_target("sourcead / JAX", t_sad and t_sad / t_jax, 1.0))
    if sad.result is not None:
        print(
            f"- sourcead vs hand-written gradient: max rel. diff {max_rel_diff(sad.result, reference):.1e}"
        )


def main(argv=None):
    # Importing sourcead's runtime tells glibc to keep freed memory for the next call
    # (runtime/allocator.py). Done before any row runs, so that the hand-written rows are timed
    # under the same setting whatever the order of their first calls.
    import sourcead_runtime  # noqa: F401

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--no-jax", action="store_true", help="skip the JAX rows")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    ap.add_argument(
        "--no-first-call", action="store_true", help="skip the fresh-process first-call timing"
    )
    ap.add_argument(
        "--only", choices=("projectile", "heat"), help="run only one of the two benchmarks"
    )
    args = ap.parse_args(argv)
    if not args.no_jax:
        try:
            import jax

            jax.config.update("jax_enable_x64", True)
        except Exception:
            pass
    header(not args.no_jax, not args.no_torch)
    for name, fn in (("projectile", bench_projectile), ("heat", bench_heat)):
        if args.only in (None, name):
            try:
                fn(args)
            except Exception:
                print(f"\n{name} benchmark failed:\n")
                traceback.print_exc(file=sys.stdout)


if __name__ == "__main__":
    main()
