"""Dask scaling: one worker against two, for a fixed ensemble of projectile gradients.

20,000 gradients of examples/dask_sweep.py's `miss` (wrt vx, vy and the drag coefficient),
as `vmap(grad, target="parallel")` over 8 chunks sent with `client.map` to a LocalCluster of
1 or 2 worker processes (one thread each). For each worker count, a fresh cluster is started
and timed twice:

* first run: includes each worker making the derivative (from sourcead's persistent cache,
  filled beforehand by this process, so Numba's machine code is loaded, not compiled);
* steady state: the same ensemble again (the median of the later runs).

What to expect on a real cluster: the steady state scales with the workers while each chunk
computes for much longer than it takes to send (here a chunk is 2,500 × 3 floats, ~60 kB);
the first run pays each worker's load (or compile, without a shared cache) once. On this
2-core machine, shared with other work, two workers can at best halve the time.

    python benchmarks/scale.py [--samples 20000] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# Derivatives compile at their first call, not in the background (the default): the
# timings are of compiled code.
os.environ.setdefault("SOURCEAD_COMPILE", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
import dask_sweep  # noqa: E402


def timed_runs(workers: int, chunks: list, repeats: int) -> tuple[float, list[float]]:
    """(first run, later runs) in seconds on a fresh LocalCluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            futures = client.map(dask_sweep.chunk_gradients, *zip(*chunks, strict=True), pure=False)
            client.gather(futures)
            times.append(time.perf_counter() - start)
    return times[0], times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    vx, vy, c = dask_sweep.draw(args.samples)
    dask_sweep.chunk_gradients(vx[:2], vy[:2], c[:2])  # fills the persistent cache
    start = time.perf_counter()
    dask_sweep.chunk_gradients(vx, vy, c)
    alone = time.perf_counter() - start
    parts = np.array_split(np.arange(args.samples), args.chunks)
    chunks = [(vx[i], vy[i], c[i]) for i in parts]
    rows = {w: timed_runs(w, chunks, args.repeats) for w in (1, 2)}
    print(
        f"{args.samples} projectile gradients in {args.chunks} chunks; this process alone, "
        f"compiled: {alone:.3f} s"
    )
    print("| workers | first run (s) | steady state, median (s) | speedup (steady) |")
    print("|---|---|---|---|")
    base = statistics.median(rows[1][1])
    for w, (first, later) in rows.items():
        steady = statistics.median(later)
        print(f"| {w} | {first:.3f} | {steady:.3f} | {base / steady:.2f}× |")
    print(
        "On a real cluster: steady state scales while a chunk computes far longer than it "
        "takes to send; the first run adds each worker's derivative load (or compile)."
    )


if __name__ == "__main__":
    main()
