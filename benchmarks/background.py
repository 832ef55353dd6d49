"""``compile="background"`` (the default): a gradient called in a loop from its first call,
compiled in a thread of the caller's process or in a child process; and a loop whose Python
version is slower than the compiler.

**The first table.** Each row is one fresh process (empty caches): it calls the gradient with
``compile="background"`` in a loop until the compiled version is in use, and reports the
first call's time, when the compiled version took over, how many calls ran as Python
meanwhile, and the compiled calls' time. With the persistent cache on (a fresh directory per
process), the module is compiled in a child process (``sourcead/cache/compile_process.py``);
with it off (``SOURCEAD_CACHE=0``), in a thread. The two alternate, ``--rounds`` times.

**The second table.** The projectile's gradient (``startup_programs.flight``) for a number of
steps, in three fresh processes with empty caches: the first call with ``compile=True``
(waiting for Numba), with the default (the Python version racing the compiler: the call
takes whichever answers first), and with ``compile=False`` (its second call: the Python
version alone).

    python benchmarks/background.py [--rounds 2] [--problems gmm mlp] [--steps 20000 2000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
import numpy as np
import sourcead

rng = np.random.default_rng(0)
if {problem!r} == "gmm":
    from arrays import gmm_vectorised as f
    k, d, n = 25, 10, 1000
    args = (rng.normal(size=k), rng.random((k, d)),
            rng.normal(scale=0.1, size=(k, d + d * (d - 1) // 2)), rng.random((n, d)), 1.0, 0.0)
    wrt = (0, 1, 2)
else:
    from startup_programs import mlp_loss as f
    args = (rng.normal(size=(784, 128)) * 0.05, np.zeros(128), rng.normal(size=(128, 10)) * 0.1,
            np.zeros(10), rng.normal(size=(256, 784)), np.eye(10)[rng.integers(0, 10, 256)])
    wrt = (0, 1, 2, 3)
gradient = sourcead.grad(f, wrt=wrt, compile="background")
start = time.perf_counter()
gradient(*args)
first = time.perf_counter() - start
(entry,) = [built[1] for built in gradient._cache.values()]
calls = 0
while not entry.ready and entry.failed is None and time.perf_counter() - start < 600:
    gradient(*args)
    calls += 1
ready = time.perf_counter() - start
timed = time.perf_counter()
for _ in range(20):
    gradient(*args)
per_call = (time.perf_counter() - timed) / 20
print(json.dumps([first, ready, calls, per_call, entry.ready]))
"""

NAMES = {"gmm": "GMM n=1000, d=10, K=25", "mlp": "MLP 784-128-10, batch 256"}

FLIGHT = """
import json, sys, time
sys.path.insert(0, {here!r})
import sourcead
from startup_programs import flight

gradient = sourcead.grad(flight, wrt=(0, 1, 2), compile={compile})
args = (20.0, 15.0, 0.05, {steps})
times, compiled = [], []
for _ in range(2):
    start = time.perf_counter()
    gradient(*args)
    times.append(time.perf_counter() - start)
    (entry,) = [built[1] for built in gradient._cache.values()]
    compiled.append(getattr(entry, "ready", True))  # (compile=True: no BackgroundCompiled)
print(json.dumps(times + compiled[:1]))
if hasattr(entry, "wait"):  # (its compile takes no core from the next process's measurement)
    entry.wait()
"""


def run_flight(steps: int, compile: str) -> list:
    """[first call, second call, whether the compiled version answered] in a fresh process."""
    environment = dict(os.environ, SOURCEAD_QUIET="1")
    environment.pop("SOURCEAD_COMPILE", None)
    with tempfile.TemporaryDirectory() as cache:
        environment["SOURCEAD_CACHE_DIR"] = cache
        environment["NUMBA_CACHE_DIR"] = cache
        script = FLIGHT.format(here=str(HERE), compile=compile, steps=steps)
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def flight_table(steps: list[int]) -> None:
    print(
        "\n| projectile gradient | `compile=True`: first call | default: first call "
        "| answered by | Python alone (`compile=False`): a call |"
    )
    print("|---|---:|---:|---|---:|")
    for n in steps:
        waiting, _, _ = run_flight(n, "True")
        default, _, compiled = run_flight(n, "None")
        _, python, _ = run_flight(n, "False")
        answered = "the compiled version" if compiled else "the Python version"
        print(
            f"| {n:,} steps | {waiting:.2f} s | {default:.2f} s | {answered} | {python:.2f} s |",
            flush=True,
        )


def run(problem: str, where: str) -> list:
    environment = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if where == "thread":
            environment["SOURCEAD_CACHE"] = "0"
        else:
            environment["SOURCEAD_CACHE_DIR"] = cache
        environment["SOURCEAD_QUIET"] = "1"
        done = subprocess.run(
            [sys.executable, "-c", CHILD.format(here=str(HERE), problem=problem)],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--problems", nargs="+", default=["gmm", "mlp"], choices=list(NAMES))
    parser.add_argument("--steps", nargs="*", type=int, default=[20_000, 2_000_000])
    options = parser.parse_args()
    print(
        "| gradient | compile in | first call | compiled after | Python calls meanwhile "
        "| then per call |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for problem in options.problems:
        for _ in range(options.rounds):
            for where in ("thread", "child process"):
                first, ready, calls, per_call, compiled = run(problem, where)
                after = f"{ready:.1f} s" if compiled else f"not in {ready:.0f} s"
                print(
                    f"| {NAMES[problem]} | {where} | {first:.2f} s | {after} | {calls:,} "
                    f"| {per_call * 1e3:.2f} ms |",
                    flush=True,
                )
    if options.steps:
        flight_table(options.steps)


if __name__ == "__main__":
    main()
