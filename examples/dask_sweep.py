"""Dask: an ensemble of gradients spread over worker processes (or machines).

An uncertainty study for the Angry Birds slingshot (examples/angry_birds.py): the launch
velocity and the drag coefficient are uncertain, so we draw 20,000 of them and ask, for each,
how the miss distance changes with vx, vy and the drag coefficient c. The gradients come from

    sourcead.vmap(sourcead.grad(miss, wrt=(0, 1, 2)), in_axes=(0, 0, 0), target="parallel")

made once, at module level. The parameter sets are split into chunks and `client.map` sends
each chunk, with the derivative, to a Dask worker. The derivative pickles by reference (the
module `dask_sweep` and the name `sweep_gradients`), so each worker imports this module, makes
the derivative once and compiles it at its first chunk, or loads it from sourcead's persistent
cache, which this script fills first by computing the single-process result. Workers on other
machines share the cache only through a shared file system: point `SOURCEAD_CACHE_DIR` at the
same directory on every machine (docs/dask.md).

    python examples/dask_sweep.py                               # a LocalCluster: 2 processes
    python examples/dask_sweep.py --scheduler tcp://host:8786   # an existing cluster

Needs `pip install -e ".[dask,examples]"`; saves dask_sweep.png beside the script.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

G = 9.81  # gravity, m/s²
DT = 2e-3  # time step, s
HOOP_X, HOOP_Y = 10.0, 10.0  # the bird should fly through this point ...
PIG_X, PIG_Y = 30.0, 0.0  # ... and land on the pig
FLOOR = -100.0  # give up on birds that fall this far without reaching the pig


def miss(vx, vy, c):
    """Squared miss distance at the hoop plus squared miss distance at the pig (drag c)."""
    x = 0.0
    y = 0.0
    x_old = 0.0
    y_old = 0.0
    hoop_y = 0.0
    while x < PIG_X and y > FLOOR:
        x_old = x
        y_old = y
        v = math.sqrt(vx * vx + vy * vy)
        x += DT * vx
        y += DT * vy
        vx -= DT * c * v * vx
        vy -= DT * (G + c * v * vy)
        if x_old < HOOP_X and x >= HOOP_X:
            hoop_y = y_old + (y - y_old) * (HOOP_X - x_old) / (x - x_old)
    pig_y = y_old + (y - y_old) * (PIG_X - x_old) / (x - x_old)
    return (hoop_y - HOOP_Y) ** 2 + (pig_y - PIG_Y) ** 2


# Made once per process: pickled by reference, so a worker gets this very object back.
# compile=True: each worker compiles (or loads) it at its first chunk rather than running
# that chunk as Python in the meantime, because the sweeps are timed.
sweep_gradients = sourcead.vmap(
    sourcead.grad(miss, wrt=(0, 1, 2)), in_axes=(0, 0, 0), target="parallel", compile=True
)


def chunk_gradients(vx, vy, c):
    """What one Dask task runs: the three gradients of a chunk, as one (n, 3) array."""
    return np.stack(sweep_gradients(vx, vy, c), axis=1)


def draw(n: int, seed: int = 0):
    """n uncertain launches: velocity around (19, 17) m/s, drag coefficient 0.01 to 0.03."""
    rng = np.random.default_rng(seed)
    vx = rng.normal(19.0, 0.5, n)
    vy = rng.normal(17.0, 0.5, n)
    c = rng.uniform(0.01, 0.03, n)
    return vx, vy, c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, default=8)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    vx, vy, c = draw(args.samples)
    start = time.perf_counter()
    single = chunk_gradients(vx, vy, c)  # compiles here and stores it in the cache
    print(f"single process: {args.samples} gradients in {time.perf_counter() - start:.2f} s")

    if args.scheduler:
        client = Client(args.scheduler)
        client.upload_file(__file__)  # the workers can now import dask_sweep
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        workers = len(client.scheduler_info()["workers"])
        print(f"Dask: {workers} workers at {client.scheduler.address}")
        chunks = np.array_split(np.arange(args.samples), args.chunks)
        for attempt in ("first run (each worker makes the derivative)", "second run"):
            start = time.perf_counter()
            futures = client.map(
                chunk_gradients,
                [vx[i] for i in chunks],
                [vy[i] for i in chunks],
                [c[i] for i in chunks],
                pure=False,
            )
            spread = np.concatenate(client.gather(futures))
            print(f"{attempt}: {time.perf_counter() - start:.2f} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    difference = np.max(np.abs(spread - single) / (np.abs(single) + 1e-300))
    print(f"largest relative difference from the single-process result: {difference:.1e}")
    assert np.allclose(spread, single, rtol=1e-12, atol=0.0)
    print(
        "mean d miss / d(vx, vy, c): "
        + ", ".join(f"{m:.4g}" for m in spread.mean(axis=0))
        + f"; d miss / d c between {spread[:, 2].min():.4g} and {spread[:, 2].max():.4g}"
    )

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the plot")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    points = left.scatter(c, spread[:, 2], c=vy, s=2, cmap="viridis")
    fig.colorbar(points, ax=left, label="vy (m/s)")
    left.set_xlabel("drag coefficient c (1/m)")
    left.set_ylabel("d miss / d c")
    left.set_title("Sensitivity to drag, per launch")
    right.hist(np.hypot(spread[:, 0], spread[:, 1]), bins=60, color="tab:orange")
    right.set_xlabel("|d miss / d(vx, vy)| (m s)")
    right.set_ylabel("launches")
    right.set_title(f"{args.samples} gradients on {workers} Dask workers")
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"plot saved to {out}")


if __name__ == "__main__":
    # Run main() from the module imported under its own name: what it sends to the workers
    # then pickles as dask_sweep.<name>, which any worker can import (with upload_file on a
    # remote cluster), rather than as __main__.<name>, which only processes spawned from
    # this script can find.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import dask_sweep

    dask_sweep.main()
