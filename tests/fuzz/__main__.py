"""``python -m tests.fuzz --minutes N``: the long random-program run.

Prints the seed first (from the clock unless ``--seed`` replays a run), then the programs
tried, the failures (each shrunk to a small program), the refusals by reason and the
distribution of the constructs the programs covered.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from .oracles import cleanup
from .runner import long_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run")
    parser.add_argument(
        "--seed", type=int, default=None, help="replay the run that printed this seed"
    )
    parser.add_argument(
        "--compile-percent",
        type=int,
        default=8,
        help="percentage of programs also compiled with Numba (compile=True oracle; "
        "a Numba compilation costs seconds, a program run as Python a fraction of one)",
    )
    parser.add_argument(
        "--programs-per-batch", type=int, default=40, help="generated programs per batch"
    )
    parser.add_argument(
        "--mutants-per-batch", type=int, default=10, help="bad-input mutants per batch"
    )
    options = parser.parse_args(argv)
    # generated programs index arrays in every way: Numba's advice on that is noise here
    warnings.filterwarnings("ignore", message=".* is faster on contiguous arrays")
    start = time.monotonic()
    try:
        stats = long_run(
            options.minutes,
            options.compile_percent,
            options.mutants_per_batch,
            seed=options.seed,
            programs_per_batch=options.programs_per_batch,
        )
    finally:
        cleanup()
    print(f"\nran {(time.monotonic() - start) / 60:.1f} minutes")
    print(stats.report(), flush=True)
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
