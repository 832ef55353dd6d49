"""``python -m tests.fuzz --minutes N``: the long random-program run.

Prints the programs tried, the failures (each shrunk to a small program) and the
distribution of the constructs the programs covered.
"""

from __future__ import annotations

import argparse
import sys
import time

from .oracles import cleanup
from .runner import long_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to run")
    parser.add_argument(
        "--compile-percent",
        type=int,
        default=15,
        help="percentage of programs also compiled with Numba (compile=True oracle)",
    )
    parser.add_argument(
        "--mutant-percent", type=int, default=10, help="share of batches of bad-input mutants"
    )
    options = parser.parse_args(argv)
    start = time.monotonic()
    try:
        stats = long_run(options.minutes, options.compile_percent, options.mutant_percent)
    finally:
        cleanup()
    print(f"\nran {(time.monotonic() - start) / 60:.1f} minutes")
    print(stats.report(), flush=True)
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
