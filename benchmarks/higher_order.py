"""Forward mode and second derivatives: sourcead's jvp, hvp, hessian and jacobian vs. Numba and JAX.

Run from the repository root::

    python benchmarks/higher_order.py            # full run
    python benchmarks/higher_order.py --quick    # fewer repeats

Three problems, each timed side by side in one process (interleaved rounds, medians):

* ``projectile`` and ``heat`` from ``benchmarks/loops.py``: a Jacobian-vector product along a
  random direction (``jvp``), a Hessian-vector product (``hvp``, forward over the generated
  adjoint) and, for the projectile, the full 3×3 Hessian; the yardstick is the Numba-compiled
  function itself.
* ``features``: a loop function of 20 inputs with 1,000 outputs; its 1000×20 Jacobian by one
  vector-mode tangent sweep (``jacobian(mode="forward")``) against 20 separate ``jvp`` calls
  and against 1,000 adjoint sweeps (``mode="reverse"``).

JAX rows (``jit`` of ``jvp``, ``jvp`` of ``grad``, ``hessian``, ``jacfwd``) appear when JAX can
be imported. The script prints Markdown tables.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loops import (  # noqa: E402
    HEAT_R,
    HEAT_STEPS,
    PROJ_ARGS,
    PROJ_STEPS,
    fmt_time,
    heat,
    heat_adjoint,
    heat_inputs,
    loss,
)

import sourcead  # noqa: E402

# Derivatives compile at their first call, not in the background (the default): the
# timings are of compiled code.
os.environ.setdefault("SOURCEAD_COMPILE", "true")

N_FEATURES, N_POINTS = 20, 1000


def features(p):
    """1,000 outputs of 20 parameters: a tanh of a cosine series at each point."""
    y = np.zeros(1000)
    for i in range(1000):
        t = 0.001 * i
        s = 0.0
        for k in range(p.shape[0]):
            s += p[k] * math.cos((k + 1) * t)
        y[i] = math.tanh(s)
    return y


# --- hand-written Numba yardsticks ------------------------------------------------------------
@numba.njit(cache=False)
def loss_tangent_hand(vx, vy, c, dvx, dvy, dc):
    """Hand-written forward mode of the projectile ``loss``: (value, tangent)."""
    h = 1e-4
    x = y = dx = dy = 0.0
    for _ in range(PROJ_STEPS):
        v = math.sqrt(vx * vx + vy * vy)
        dv = (vx * dvx + vy * dvy) / v
        x += h * vx
        dx += h * dvx
        y += h * vy
        dy += h * dvy
        drag = c * v
        ddrag = dc * v + c * dv
        vx, dvx = vx - h * drag * vx, dvx - h * (ddrag * vx + drag * dvx)
        vy, dvy = vy - h * (9.81 + drag * vy), dvy - h * (ddrag * vy + drag * dvy)
    return (x - 30.0) ** 2 + y**2, 2.0 * (x - 30.0) * dx + 2.0 * y * dy


@numba.njit(cache=False)
def heat_tangent_hand(u0, kappa, du0, dkappa):
    """Hand-written forward mode of ``heat``: (value, tangent)."""
    n = u0.shape[0]
    u = u0.copy()
    du = du0.copy()
    un = np.zeros_like(u)
    dun = np.zeros_like(u)
    for _ in range(HEAT_STEPS):
        for i in range(1, n - 1):
            lap = u[i - 1] - 2.0 * u[i] + u[i + 1]
            dlap = du[i - 1] - 2.0 * du[i] + du[i + 1]
            un[i] = u[i] + HEAT_R * kappa[i] * lap
            dun[i] = du[i] + HEAT_R * (dkappa[i] * lap + kappa[i] * dlap)
        for i in range(1, n - 1):
            u[i] = un[i]
            du[i] = dun[i]
    value = 0.0
    tangent = 0.0
    for i in range(n):
        value += (u[i] - 0.1) ** 2
        tangent += 2.0 * (u[i] - 0.1) * du[i]
    return value, tangent


@numba.njit(cache=False)
def heat_hvp_hand(u0, kappa, du0, dkappa):
    """Hand-written forward over reverse of ``heat``, the scheme of ``heat_adjoint`` in
    ``loops.py`` (every step's state stored, gather-form reverse sweep) with the tangent of
    each line beside it. Returns the Hessian-vector products for (u0, kappa)."""
    n = u0.shape[0]
    nt = HEAT_STEPS
    r = HEAT_R
    states = np.empty((nt, n))
    dstates = np.empty((nt, n))
    u = u0.copy()
    du = du0.copy()
    un = np.zeros_like(u)
    dun = np.zeros_like(u)
    # forward sweep with tangents, storing both states; the step is written out, as in
    # heat_tangent_hand: called as a function, it no longer vectorised (2.3x -> 2.9x)
    for t in range(nt):
        states[t, :] = u
        dstates[t, :] = du
        for i in range(1, n - 1):
            lap = u[i - 1] - 2.0 * u[i] + u[i + 1]
            dlap = du[i - 1] - 2.0 * du[i] + du[i + 1]
            un[i] = u[i] + r * kappa[i] * lap
            dun[i] = du[i] + r * (dkappa[i] * lap + kappa[i] * dlap)
        for i in range(1, n - 1):
            u[i] = un[i]
            du[i] = dun[i]
    gu = np.empty(n)  # adjoint of the state, and its tangent
    dgu = np.empty(n)
    for i in range(n):
        gu[i] = 2.0 * (u[i] - 0.1)
        dgu[i] = 2.0 * du[i]
    gprev = np.empty(n)
    dgprev = np.empty(n)
    w = np.zeros(n)
    dw = np.zeros(n)
    gk = np.zeros(n)
    dgk = np.zeros(n)
    for t in range(nt - 1, -1, -1):  # reverse sweep, gather form, with tangents
        s = states[t]
        ds = dstates[t]
        for i in range(1, n - 1):
            w[i] = r * kappa[i] * gu[i]
            dw[i] = r * (dkappa[i] * gu[i] + kappa[i] * dgu[i])
            lap = s[i - 1] - 2.0 * s[i] + s[i + 1]
            dlap = ds[i - 1] - 2.0 * ds[i] + ds[i + 1]
            gk[i] += r * gu[i] * lap
            dgk[i] += r * (dgu[i] * lap + gu[i] * dlap)
        gprev[0] = gu[0] + w[1]
        dgprev[0] = dgu[0] + dw[1]
        gprev[n - 1] = gu[n - 1] + w[n - 2]
        dgprev[n - 1] = dgu[n - 1] + dw[n - 2]
        for i in range(1, n - 1):
            gprev[i] = gu[i] - 2.0 * w[i] + w[i - 1] + w[i + 1]
            dgprev[i] = dgu[i] - 2.0 * dw[i] + dw[i - 1] + dw[i + 1]
        gu, gprev = gprev, gu
        dgu, dgprev = dgprev, dgu
    return dgu, dgk


# --- JAX versions of the three problems -----------------------------------------------------
def jax_problems():
    import jax
    import jax.numpy as jnp
    from jax import lax

    jax.config.update("jax_enable_x64", True)

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

    def heat_jax(u0, kappa):
        def step(t, u):
            lap = u[:-2] - 2.0 * u[1:-1] + u[2:]
            return u.at[1:-1].set(u[1:-1] + HEAT_R * kappa[1:-1] * lap)

        u = lax.fori_loop(0, HEAT_STEPS, step, u0)
        return jnp.sum((u - 0.1) ** 2)

    def features_jax(p):
        t = 0.001 * jnp.arange(N_POINTS)
        k = jnp.arange(1, N_FEATURES + 1)
        return jnp.tanh(jnp.cos(t[:, None] * k[None, :]) @ p)

    def ready(f):
        return lambda *a: jax.block_until_ready(f(*a))

    proj_vec = lambda v: loss_jax(v[0], v[1], v[2])  # noqa: E731
    return {
        "proj_jvp": ready(jax.jit(lambda p, t: jax.jvp(loss_jax, p, t))),
        "proj_hvp": ready(jax.jit(lambda v, t: jax.jvp(jax.grad(proj_vec), (v,), (t,))[1])),
        "proj_hessian": ready(jax.jit(jax.hessian(proj_vec))),
        "heat_jvp": ready(jax.jit(lambda p, t: jax.jvp(heat_jax, p, t))),
        "heat_hvp": ready(
            jax.jit(lambda p, t: jax.jvp(jax.grad(heat_jax, argnums=(0, 1)), p, t)[1])
        ),
        "features_jacfwd": ready(jax.jit(jax.jacfwd(features_jax))),
    }


# --- timing -----------------------------------------------------------------------------------
class Row:
    def __init__(self, name, call, slow=False):
        self.name, self.call, self.samples, self.error = name, call, [], None
        self.result = None
        self.slow = slow  # timed a few times after the others, not in every round

    def median(self):
        return statistics.median(self.samples) if self.samples else None

    def fastest(self):
        return min(self.samples) if self.samples else None


def time_rows(rows, rounds, min_sample=2e-3):
    """Warm up, calibrate the inner repeat count, then time all rows in interleaved rounds."""
    live = []
    for row in rows:
        try:
            row.result = row.call()  # warm-up: transformation, compilation, tracing
            if row.slow:
                continue
            row.call()
        except Exception as exc:  # a baseline that fails is reported, not fatal
            row.error = f"{type(exc).__name__}: {exc}"
            continue
        t0 = time.perf_counter()
        row.call()
        row.inner = max(1, math.ceil(min_sample / max(time.perf_counter() - t0, 1e-9)))
        live.append(row)
    gc.collect()
    gc.disable()  # as timeit does: collections of the interpreter's (JAX's) heap are noise
    try:
        _rounds(live, rounds)
    finally:
        gc.enable()
    for row in rows:
        if row.slow and row.error is None:
            for _ in range(3):
                t0 = time.perf_counter()
                row.call()
                row.samples.append(time.perf_counter() - t0)


def _rounds(live, rounds):
    for _ in range(rounds):
        for row in live:
            t0 = time.perf_counter()
            for _ in range(row.inner):
                row.call()
            row.samples.append((time.perf_counter() - t0) / row.inner)


def rel_diff(a, b) -> str:
    a = np.concatenate([np.ravel(np.asarray(x, dtype=float)) for x in _leaves(a)])
    b = np.concatenate([np.ravel(np.asarray(x, dtype=float)) for x in _leaves(b)])
    scale = np.maximum(np.abs(b), 1e-12 * max(1.0, float(np.max(np.abs(b)))))
    return f"{float(np.max(np.abs(a - b) / scale)):.1e}"


def _leaves(x):
    if isinstance(x, tuple | list):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def print_table(title, rows, yardstick, checks):
    """``checks``: row name -> (value to compare, reference value) for the last column."""
    base, base_fastest = yardstick.median(), yardstick.fastest()
    print(f"\n### {title}\n")
    print("| implementation | median | × Numba forward | fastest | × (fastest) | max rel. diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        if row.error is not None:
            print(f"| {row.name} | failed: {row.error[:80]} | | | | |")
            continue
        t, fastest = row.median(), row.fastest()
        check = checks.get(row.name)
        diff = rel_diff(*check(row.result)) if check else "—"
        print(
            f"| {row.name} | {fmt_time(t)} | {t / base:.2f} | {fmt_time(fastest)} | "
            f"{fastest / base_fastest:.2f} | {diff} |"
        )


def ratio(rows, a, b):
    """(ratio of medians, ratio of fastest samples) of rows ``a`` and ``b``."""
    by_name = {r.name: r for r in rows}
    ra, rb = by_name[a], by_name[b]
    if not (ra.samples and rb.samples):
        return float("nan"), float("nan")
    return ra.median() / rb.median(), ra.fastest() / rb.fastest()


def verdict(label, values, limit, better="lower"):
    median, fastest = values
    ok = median <= limit if better == "lower" else median >= limit
    sign = "≤" if better == "lower" else "≥"
    print(
        f"- {label}: {median:.2f}× by medians, {fastest:.2f}× by fastest runs "
        f"(target {sign} {limit}×: {'met' if ok else 'NOT met'} by medians)"
    )


# --- the problems -------------------------------------------------------------------------------
# Row names the targets refer to.
FORWARD = "Numba forward"
JVP = "sourcead `jvp` (1 direction)"
HAND_TANGENT = "hand-written Numba tangent"
HAND_HVP = "hand-written Numba forward over reverse"
HVP = "sourcead `hvp` (forward over reverse)"


def bench_projectile(rounds, jax_fns):
    args = PROJ_ARGS
    direction = (1.0, -0.5, 0.2)
    forward = numba.njit(loss)
    grad = sourcead.grad(loss, wrt=(0, 1, 2))
    hessian = sourcead.hessian(lambda_free_loss_vector, 0)
    v = np.array(args)
    rows = [
        Row(FORWARD, lambda: forward(*args)),
        Row(HAND_TANGENT, lambda: loss_tangent_hand(*args, *direction)),
        Row(JVP, lambda: sourcead.jvp(loss, args, direction)),
        Row("sourcead `grad` (for comparison)", lambda: grad(*args)),
        Row(HVP, lambda: sourcead.hvp(loss, args, direction)),
        Row("sourcead `hessian` (3×3, one vector sweep)", lambda: hessian(v)),
    ]
    if jax_fns:
        rows += [
            Row("JAX `jit(jvp)` + `fori_loop`", lambda: jax_fns["proj_jvp"](args, direction)),
            Row("JAX `jit(jvp(grad))`", lambda: jax_fns["proj_hvp"](v, np.array(direction))),
            Row("JAX `jit(hessian)`", lambda: jax_fns["proj_hessian"](v)),
        ]
    time_rows(rows, rounds)
    result = {r.name: r.result for r in rows}
    grad_dot = float(np.dot(result["sourcead `grad` (for comparison)"], direction))
    hess = result["sourcead `hessian` (3×3, one vector sweep)"]
    checks = {
        HAND_TANGENT: lambda r: (r[1], grad_dot),
        JVP: lambda r: (r[1], grad_dot),
        HVP: lambda r: (r, hess @ np.array(direction)),
        "JAX `jit(jvp)` + `fori_loop`": lambda r: (r[1], result[JVP][1]),
        "JAX `jit(jvp(grad))`": lambda r: (r, result[HVP]),
        "JAX `jit(hessian)`": lambda r: (r, hess),
    }
    print_table(
        f"projectile: {PROJ_STEPS:,} steps, 3 inputs (diff. column: tangents vs grad·v, hvp vs "
        "H·v, JAX vs sourcead)",
        rows,
        rows[0],
        checks,
    )
    return rows


def lambda_free_loss_vector(v):
    """The projectile loss of a 3-vector (for a 3×3 Hessian)."""
    return loss(v[0], v[1], v[2])


def bench_heat(rounds, jax_fns):
    u0, kappa = heat_inputs()
    rng = np.random.default_rng(1)
    du, dk = rng.standard_normal(u0.shape), rng.standard_normal(kappa.shape)
    forward = numba.njit(heat)
    grad = sourcead.grad(heat, wrt=(0, 1))
    rows = [
        Row(FORWARD, lambda: forward(u0, kappa)),
        Row(HAND_TANGENT, lambda: heat_tangent_hand(u0, kappa, du, dk)),
        Row(JVP, lambda: sourcead.jvp(heat, (u0, kappa), (du, dk))),
        Row("hand-written Numba adjoint (for comparison)", lambda: heat_adjoint(u0, kappa)),
        Row("sourcead `grad` (for comparison)", lambda: grad(u0, kappa)),
        Row(HAND_HVP, lambda: heat_hvp_hand(u0, kappa, du, dk)),
        Row(HVP, lambda: sourcead.hvp(heat, (u0, kappa), (du, dk))),
    ]
    if jax_fns:
        rows += [
            Row("JAX `jit(jvp)` + `fori_loop`", lambda: jax_fns["heat_jvp"]((u0, kappa), (du, dk))),
            Row("JAX `jit(jvp(grad))`", lambda: jax_fns["heat_hvp"]((u0, kappa), (du, dk))),
        ]
    time_rows(rows, rounds)
    result = {r.name: r.result for r in rows}
    gradient = result["sourcead `grad` (for comparison)"]
    grad_dot = float(np.dot(gradient[0], du) + np.dot(gradient[1], dk))
    checks = {
        HAND_TANGENT: lambda r: (r[1], grad_dot),
        JVP: lambda r: (r[1], grad_dot),
        "hand-written Numba adjoint (for comparison)": lambda r: (r[1], gradient),
        HAND_HVP: lambda r: (r, result[HVP]),
        "JAX `jit(jvp)` + `fori_loop`": lambda r: (r[1], result[JVP][1]),
        "JAX `jit(jvp(grad))`": lambda r: (r, result[HVP]),
    }
    print_table(
        f"heat: {u0.size} cells × {HEAT_STEPS:,} steps, inputs (u0, kappa) (diff. column: "
        "tangents vs grad·v, hand-written and JAX vs sourcead)",
        rows,
        rows[0],
        checks,
    )
    return rows


def bench_features(rounds, jax_fns):
    p = np.random.default_rng(2).uniform(-0.3, 0.3, N_FEATURES)
    forward = numba.njit(features)
    jac_forward = sourcead.jacobian(features, mode="forward")
    jac_reverse = sourcead.jacobian(features, mode="reverse")
    eye = np.eye(N_FEATURES)

    def separate_jvps():
        return np.stack(
            [sourcead.jvp(features, (p,), (eye[k],))[1] for k in range(N_FEATURES)], axis=-1
        )

    rows = [
        Row("Numba forward (`numba.njit(features)`)", lambda: forward(p)),
        Row("sourcead `jacobian(mode='forward')` (1 sweep, 20 directions)", lambda: jac_forward(p)),
        Row("sourcead: 20 separate `jvp` calls", separate_jvps),
        Row(
            "sourcead `jacobian(mode='reverse')` (1,000 adjoint sweeps; median of 3)",
            lambda: jac_reverse(p),
            slow=True,
        ),
    ]
    if jax_fns:
        rows.append(
            Row("JAX `jit(jacfwd)` (vectorised NumPy form)", lambda: jax_fns["features_jacfwd"](p))
        )
    time_rows(rows, rounds)
    reference = rows[2].result
    checks = {r.name: (lambda res: (res, reference)) for r in rows[1:] if r is not rows[2]}
    print_table(
        f"features: {N_FEATURES} inputs → {N_POINTS:,} outputs, full Jacobian (diff. column: vs "
        "the 20 separate jvps)",
        rows,
        rows[0],
        checks,
    )
    return rows


def main(argv=None):
    # Importing sourcead's runtime tells glibc to keep freed memory for the next call
    # (runtime/allocator.py). Done before any row runs, so that the hand-written rows are timed
    # under the same setting whatever the order of their first calls.
    import sourcead_runtime  # noqa: F401

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX rows")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else 21
    jax_fns = None
    jax_version = "—"
    if not args.no_jax:
        try:
            import jax

            jax_fns = jax_problems()
            jax_version = jax.__version__
        except Exception as exc:  # JAX is an optional baseline
            print(f"(JAX rows skipped: {type(exc).__name__}: {exc})")
    cpu = platform.processor() or platform.machine()
    print("## sourcead forward-mode and second-derivative benchmarks\n")
    print(
        f"Machine: {platform.platform()}, {cpu}, {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"jax {jax_version}. Medians of {rounds} interleaved rounds after warm-up, garbage "
        "collection off while timing (as in timeit); "
        '"fastest" is the minimum of the same samples (less sensitive to other processes on '
        "a loaded machine)."
    )
    proj = bench_projectile(rounds, jax_fns)
    heat_rows = bench_heat(rounds, jax_fns)
    feats = bench_features(rounds, jax_fns)
    print("\n### Targets\n")
    for problem, rows in (("projectile", proj), ("heat", heat_rows)):
        verdict(f"{problem} `jvp` / Numba forward", ratio(rows, JVP, FORWARD), 2)
        verdict(f"{problem} `hvp` / Numba forward", ratio(rows, HVP, FORWARD), 6)
    verdict(
        "features: 20 separate `jvp` / one vector-mode sweep",
        ratio(feats, feats[2].name, feats[1].name),
        3,
        better="higher",
    )
    print("\n### Against the hand-written Numba code (no target; the floor of each method)\n")
    for problem, rows in (("projectile", proj), ("heat", heat_rows)):
        compare(f"{problem} `jvp` / hand-written tangent", ratio(rows, JVP, HAND_TANGENT))
    compare("heat `hvp` / hand-written forward over reverse", ratio(heat_rows, HVP, HAND_HVP))
    compare("heat hand-written tangent / Numba forward", ratio(heat_rows, HAND_TANGENT, FORWARD))
    compare(
        "heat hand-written forward over reverse / Numba forward",
        ratio(heat_rows, HAND_HVP, FORWARD),
    )


def compare(label, values):
    print(f"- {label}: {values[0]:.2f}× by medians, {values[1]:.2f}× by fastest runs")


if __name__ == "__main__":
    main()
