"""Memory and time of gradients of long simulations: plain reverse mode, checkpointing, ODE adjoints.

Run from the repository root::

    python benchmarks/memory.py            # full run (several minutes: one process per row)
    python benchmarks/memory.py --quick    # 10x fewer steps
    python benchmarks/memory.py --only heat   # the tables whose title contains "heat"

Problems:

* ``projectile``: explicit Euler steps of a point mass with quadratic drag (the loop of the
  README's tour), gradient of a miss distance wrt (vx, vy, c); 10^6 steps.
* ``projectile ODE``: the same point mass as an ODE integrated by ``sourcead.odeint`` with
  10^6 RK4 steps (continuous and discrete adjoint), next to the same RK4 steps written as a
  loop and differentiated by plain reverse mode.
* ``heat``: 1-D explicit heat equation, 64 cells, element loops; gradient wrt the initial
  state and the per-cell diffusivity; 10^5 steps.

How memory is measured: each row runs in a fresh Python process. The process first calls the
gradient on a tiny problem of the same types (so transformation and Numba compilation are done
and their memory is not counted), then resets the kernel's peak-RSS counter (writing ``5`` to
``/proc/self/clear_refs``, Linux >= 4.0), reads the resident set size, runs the gradient once
and reads the peak (``VmHWM``). The difference is the peak memory the gradient itself needed:
tapes, snapshots and outputs, including Numba's allocations, which ``tracemalloc`` does not
see. Allocations below what the process already holds (small ones reuse freed heap memory) do
not show, so rows near 0 mean "no more than about a megabyte". Time: median of the timed runs
after that one. Linux only.

Checkpointed rows (``sourcead.checkpointed``) are measured when the installed sourcead has
it; ``revolve_forward_steps`` gives the analytic Revolve optimum for the number of forward
step evaluations next to them, and ``(r + 2)×`` the forward is the time bound to meet;
``× plain reverse`` compares with plain reverse mode at the same step count (where one step's
adjoint costs far more than two plain steps, as in the heat loop, whose forward vectorises and
whose adjoint does not, the ``(r + 2)×`` bound is out of reach even without checkpointing and
this ratio is the fairer measure of what checkpointing costs). A last
table counts the loop steps the generated checkpointed adjoints actually execute (run as plain
Python under a line tracer, at smaller step counts) next to that optimum.
"""

from __future__ import annotations

import argparse
import json
import linecache
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # allow `python benchmarks/memory.py` without installing
    sys.path.insert(1, str(REPO))

import sourcead  # noqa: E402

# Derivatives compile at their first call, not in the background (the default): the
# timings are of compiled code.
os.environ.setdefault("SOURCEAD_COMPILE", "true")

# ----------------------------------------------------------------------------------------------
# The problems (user code, as a sourcead user writes it)
# ----------------------------------------------------------------------------------------------

T_END = 2.0  # flight time of the projectile, s


def projectile(vx, vy, c, n_steps):
    """Euler steps of the projectile; squared miss distance from (30, 0)."""
    dt = T_END / n_steps
    x = 0.0
    y = 0.0
    for _ in range(n_steps):
        v = math.sqrt(vx * vx + vy * vy)
        x += dt * vx
        y += dt * vy
        vx -= dt * c * v * vx
        vy -= dt * (9.81 + c * v * vy)
    return (x - 30.0) ** 2 + y**2


def projectile_checkpointed(vx, vy, c, n_steps, snapshots):
    """``projectile`` with its time loop checkpointed."""
    dt = T_END / n_steps
    x = 0.0
    y = 0.0
    for _ in sourcead.checkpointed(range(n_steps), snapshots=snapshots):
        v = math.sqrt(vx * vx + vy * vy)
        x += dt * vx
        y += dt * vy
        vx -= dt * c * v * vx
        vy -= dt * (9.81 + c * v * vy)
    return (x - 30.0) ** 2 + y**2


@numba.njit  # so that numba.njit(projectile_rk4_loop) can call it; sourcead reads its source
def drag_acceleration(vx, vy, c):
    v = math.sqrt(vx * vx + vy * vy)
    return -c * v * vx, -9.81 - c * v * vy


def projectile_rhs(state, t, c):
    ax, ay = drag_acceleration(state[2], state[3], c)
    d = np.zeros(4)
    d[0] = state[2]
    d[1] = state[3]
    d[2] = ax
    d[3] = ay
    return d


def projectile_ode_continuous(vx, vy, c, times, n_steps):
    start = np.zeros(4)
    start[2] = vx
    start[3] = vy
    path = sourcead.odeint(projectile_rhs, start, times, c, substeps=n_steps)
    return (path[1, 0] - 30.0) ** 2 + path[1, 1] ** 2


def projectile_ode_discrete(vx, vy, c, times, n_steps):
    start = np.zeros(4)
    start[2] = vx
    start[3] = vy
    path = sourcead.odeint(projectile_rhs, start, times, c, substeps=n_steps, adjoint="discrete")
    return (path[1, 0] - 30.0) ** 2 + path[1, 1] ** 2


def projectile_rk4_loop(vx, vy, c, n_steps):
    """The RK4 steps of ``projectile_ode_*`` written as a loop (for plain reverse mode)."""
    h = T_END / n_steps
    x = 0.0
    y = 0.0
    for _ in range(n_steps):
        ax1, ay1 = drag_acceleration(vx, vy, c)
        ax2, ay2 = drag_acceleration(vx + 0.5 * h * ax1, vy + 0.5 * h * ay1, c)
        ax3, ay3 = drag_acceleration(vx + 0.5 * h * ax2, vy + 0.5 * h * ay2, c)
        ax4, ay4 = drag_acceleration(vx + h * ax3, vy + h * ay3, c)
        x += h / 6.0 * (6.0 * vx + h * ax1 + h * ax2 + h * ax3)
        y += h / 6.0 * (6.0 * vy + h * ay1 + h * ay2 + h * ay3)
        vx += h / 6.0 * (ax1 + 2.0 * ax2 + 2.0 * ax3 + ax4)
        vy += h / 6.0 * (ay1 + 2.0 * ay2 + 2.0 * ay3 + ay4)
    return (x - 30.0) ** 2 + y**2


def heat(u0, kappa, n_steps):
    """Explicit heat equation with element loops; squared distance from 0.1."""
    n = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    for _ in range(n_steps):
        for i in range(1, n - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, n - 1):
            u[i] = un[i]
    s = 0.0
    for i in range(n):
        s += (u[i] - 0.1) ** 2
    return s


def heat_checkpointed(u0, kappa, n_steps, snapshots):
    """``heat`` with its time loop checkpointed."""
    n = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    for _ in sourcead.checkpointed(range(n_steps), snapshots=snapshots):
        for i in range(1, n - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        for i in range(1, n - 1):
            u[i] = un[i]
    s = 0.0
    for i in range(n):
        s += (u[i] - 0.1) ** 2
    return s


HEAT_CELLS = 64


def heat_args():
    x = np.linspace(0.0, 1.0, HEAT_CELLS)
    return np.exp(-30.0 * (x - 0.5) ** 2), 0.5 + 0.4 * np.sin(3.0 * x)


# ----------------------------------------------------------------------------------------------
# Revolve
# ----------------------------------------------------------------------------------------------


def revolve_repetitions(n_steps: int, snapshots: int) -> int:
    """r: the least integer with C(s + r, s) >= n (each step runs at most r + 1 times)."""
    r = 0
    while math.comb(snapshots + r, snapshots) < n_steps:
        r += 1
    return r


def revolve_forward_steps(n_steps: int, snapshots: int) -> int:
    """Griewank's optimum number of forward step evaluations to reverse ``n_steps`` steps
    with ``snapshots`` snapshots: r·n − C(s + r, s + 1), r the least with C(s + r, s) ≥ n."""
    snapshots = min(snapshots, n_steps)
    r = revolve_repetitions(n_steps, snapshots)
    return r * n_steps - math.comb(snapshots + r, snapshots + 1)


# ----------------------------------------------------------------------------------------------
# Rows: what one worker process measures
# ----------------------------------------------------------------------------------------------


def _row_function(problem: str, method: str, snapshots: int | None):
    """A callable taking the number of steps, for one row."""
    if problem == "projectile":
        args = (20.0, 15.0, 0.05)
        if method == "forward":
            f = numba.njit(projectile)
            return lambda n: f(*args, n)
        if method == "plain":
            g = sourcead.grad(projectile, wrt=(0, 1, 2))
            return lambda n: g(*args, n)
        if method == "checkpointed":
            g = sourcead.grad(projectile_checkpointed, wrt=(0, 1, 2))
            return lambda n: g(*args, n, snapshots)
    if problem == "projectile ODE":
        args = (20.0, 15.0, 0.05)
        times = np.array([0.0, T_END])
        if method == "forward":
            f = numba.njit(projectile_rk4_loop)
            return lambda n: f(*args, n)
        if method == "plain":
            g = sourcead.grad(projectile_rk4_loop, wrt=(0, 1, 2))
            return lambda n: g(*args, n)
        if method in ("continuous", "discrete"):
            fun = projectile_ode_continuous if method == "continuous" else projectile_ode_discrete
            g = sourcead.grad(fun, wrt=(0, 1, 2))
            return lambda n: g(*args, times, n)
    if problem == "heat":
        u0, kappa = heat_args()
        if method == "forward":
            f = numba.njit(heat)
            return lambda n: f(u0, kappa, n)
        if method == "plain":
            g = sourcead.grad(heat, wrt=(0, 1))
            return lambda n: g(u0, kappa, n)
        if method == "checkpointed":
            g = sourcead.grad(heat_checkpointed, wrt=(0, 1))
            return lambda n: g(u0, kappa, n, snapshots)
    raise ValueError(f"unknown row {problem!r} / {method!r}")


def counted_steps(problem: str, n_steps: int, snapshots: int) -> dict:
    """Run a checkpointed gradient as plain Python and count the loop steps it executes.

    A line tracer watches the generated adjoint and counts how often execution passes from a
    step's header into the loop body: from ``for t in range(first, last):`` (plain steps the
    schedule advances), and how often the first statement after a comment saying the step is
    recorded runs (recorded steps). This observes the generated code itself, independently
    of the Revolve formula.
    """
    if problem == "projectile":
        g = sourcead.grad(projectile_checkpointed, wrt=(0, 1, 2), compile=False)
        args = (20.0, 15.0, 0.05, n_steps, snapshots)
    else:
        u0, kappa = heat_args()
        g = sourcead.grad(heat_checkpointed, wrt=(0, 1), compile=False)
        args = (u0, kappa, n_steps, snapshots)
    counts = {"advanced": 0, "recorded": 0}
    watched: dict = {}

    def step_headers(code) -> dict:
        """Line number of each step header -> which counter a pass into its body adds to."""
        text = linecache.getlines(code.co_filename)
        found = {}
        for number, line in enumerate(text, start=1):
            stripped = line.strip()
            if stripped.startswith("for ") and stripped.endswith("in range(first, last):"):
                found[number] = "advanced"
            elif (
                stripped
                and not stripped.startswith("#")
                and ("recorded" in text[number - 2] or "record this step" in text[number - 2])
            ):
                found[number] = "recorded"  # counted each time it is entered from above
        return found

    def tracer(frame, event, arg):
        code = frame.f_code
        if not code.co_name.endswith("_adjoint"):
            return None
        if code not in watched:
            watched[code] = step_headers(code)
        headers = watched[code]
        previous = [None]

        def local(frame, event, arg):
            if event == "line":
                header = previous[0]
                if headers.get(header) == "advanced" and frame.f_lineno == header + 1:
                    counts["advanced"] += 1
                # entered from above, not from the end of a loop it starts
                recorded = headers.get(frame.f_lineno) == "recorded"
                if recorded and (header is None or header < frame.f_lineno):
                    counts["recorded"] += 1
                previous[0] = frame.f_lineno
            return local

        return local

    sys.settrace(tracer)
    try:
        g(*args)
    finally:
        sys.settrace(None)
    return counts


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"{key} missing from /proc/self/status")


def worker(spec: dict) -> dict:
    """Measure one row in this (fresh) process."""
    run = _row_function(spec["problem"], spec["method"], spec.get("snapshots"))
    run(8)  # transform and compile on a tiny problem with the same argument types
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # peak RSS := current RSS
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    result = run(spec["steps"])
    first = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    times = [first]
    for _ in range(spec["repeats"]):
        t0 = time.perf_counter()
        run(spec["steps"])
        times.append(time.perf_counter() - t0)
    flat = np.concatenate([np.ravel(np.asarray(r, dtype=float)) for r in _as_tuple(result)])
    return {
        "peak_mib": (peak - before) / 1024.0,
        "median_s": statistics.median(times[1:] if len(times) > 1 else times),
        "runs": len(times) - 1 if len(times) > 1 else 1,
        "result": flat.tolist(),
    }


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def measure(spec: dict) -> dict:
    """Run ``worker(spec)`` in a fresh interpreter."""
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO),
    )
    if out.returncode != 0:
        lines = [line for line in out.stderr.splitlines() if "Error" in line] or ["failed"]
        return {"error": lines[-1].strip()[:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------


def plan(quick: bool) -> dict[str, list[dict]]:
    """The rows of each table. Checkpointed rows only when sourcead has checkpointing."""
    scale = 10 if quick else 1
    repeats = 2 if quick else 3
    proj, heat_steps = 10**6 // scale, 10**5 // scale
    has_checkpoints = hasattr(sourcead, "checkpointed")
    tables: dict[str, list[dict]] = {}

    rows = [
        {"problem": "projectile", "method": "forward", "steps": proj},
        {"problem": "projectile", "method": "plain", "steps": proj},
    ]
    if has_checkpoints:
        rows.append({"problem": "projectile", "method": "forward", "steps": proj // 10})
        for steps in (proj // 10, proj):  # memory independent of the number of steps
            for s in (10, 100, 1000):
                rows.append(
                    {
                        "problem": "projectile",
                        "method": "checkpointed",
                        "steps": steps,
                        "snapshots": s,
                    }
                )
    tables["projectile: Euler steps, gradient wrt (vx, vy, c)"] = rows

    tables["projectile ODE: RK4 steps, gradient wrt (vx, vy, c)"] = [
        {"problem": "projectile ODE", "method": "forward", "steps": proj},
        {"problem": "projectile ODE", "method": "plain", "steps": proj},
        {"problem": "projectile ODE", "method": "continuous", "steps": proj},
        {"problem": "projectile ODE", "method": "discrete", "steps": proj},
    ]

    rows = [
        {"problem": "heat", "method": "forward", "steps": heat_steps},
        {"problem": "heat", "method": "plain", "steps": heat_steps},
    ]
    if has_checkpoints:
        rows.append({"problem": "heat", "method": "forward", "steps": heat_steps // 10})
        for steps in (heat_steps // 10, heat_steps):
            for s in (10, 100):
                rows.append(
                    {"problem": "heat", "method": "checkpointed", "steps": steps, "snapshots": s}
                )
    tables[f"heat: {HEAT_CELLS} cells, gradient wrt (u0, kappa)"] = rows
    for rows in tables.values():
        for row in rows:
            row["repeats"] = repeats
    return tables


LABELS = {
    "forward": "Numba forward (no gradient)",
    "plain": "plain reverse (`sourcead.grad`)",
    "checkpointed": "checkpointed, s = {snapshots}",
    "continuous": "`odeint`, continuous adjoint",
    "discrete": "`odeint`, discrete adjoint",
}


def _time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


def print_table(title: str, rows: list[dict], results: list[dict]) -> None:
    print(f"\n### {title}\n")
    print(
        "| method | steps | peak memory | median time | × forward | bound (r + 2)× "
        "| × plain reverse | forward steps (Revolve optimum) | max rel. diff vs plain |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    forward = {
        r["steps"]: res for r, res in zip(rows, results, strict=True) if r["method"] == "forward"
    }
    plain = {
        r["steps"]: res for r, res in zip(rows, results, strict=True) if r["method"] == "plain"
    }
    for row, res in zip(rows, results, strict=True):
        label = LABELS[row["method"]].format(**row)
        if "error" in res:
            print(f"| {label} | {row['steps']:,} | failed: {res['error']} | | | | | | |")
            continue
        base = forward.get(row["steps"])
        ratio = f"{res['median_s'] / base['median_s']:.1f}" if base and "error" not in base else "—"
        steps = bound = "—"
        if row["method"] == "checkpointed":
            steps = f"{revolve_forward_steps(row['steps'], row['snapshots']):,}"
            bound = f"{revolve_repetitions(row['steps'], row['snapshots']) + 2}"
        reference = plain.get(row["steps"])
        diff = versus_plain = "—"
        if row["method"] not in ("forward", "plain") and reference and "error" not in reference:
            a, b = np.array(res["result"]), np.array(reference["result"])
            diff = f"{np.max(np.abs(a - b)) / np.max(np.abs(b)):.1e}"
            versus_plain = f"{res['median_s'] / reference['median_s']:.2f}"
        print(
            f"| {label} | {row['steps']:,} | {res['peak_mib']:.1f} MiB | {_time(res['median_s'])} "
            f"| {ratio} | {bound} | {versus_plain} | {steps} | {diff} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer steps")
    parser.add_argument("--only", help="run the tables whose title contains this text")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        print(json.dumps(worker(json.loads(options.worker))))
        return
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("benchmarks/memory.py measures peak RSS through /proc: Linux only")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "each row in a fresh process; peak memory = rise of the peak RSS during one gradient"
    )
    for title, rows in plan(options.quick).items():
        if options.only and options.only not in title:
            continue
        results = []
        for row in rows:
            results.append(measure(row))
            print(f"  measured {row}", file=sys.stderr)
        print_table(title, rows, results)
    if hasattr(sourcead, "checkpointed") and (not options.only or "counted" in options.only):
        print_counted_steps()


COUNTED = [
    ("projectile", 10_000, 10),
    ("projectile", 10_000, 100),
    ("heat", 1000, 5),
    ("heat", 1000, 30),
]


def print_counted_steps() -> None:
    """Steps the generated checkpointed adjoints execute, counted, next to the optimum."""
    print("\n### checkpointed loops: loop steps executed, counted in the generated code\n")
    print(
        "| problem | steps n | snapshots s | plain steps counted | Revolve optimum | recorded steps counted |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for problem, n, s in COUNTED:
        counts = counted_steps(problem, n, s)
        print(
            f"| {problem} | {n:,} | {s} | {counts['advanced']:,} | "
            f"{revolve_forward_steps(n, s):,} | {counts['recorded']:,} |"
        )


if __name__ == "__main__":
    main()
