"""Driving the generator and the oracles with hypothesis: quick and long runs, statistics.

A failure is shrunk by hypothesis to a small program whose source (ready to paste into a
regression test) is in the raised ``OracleFailure``. Failures that match an entry of
``KNOWN_FAILURES`` (each one has an ``xfail`` regression test) are counted, not raised, so
that a known bug does not hide new ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .generator import programs
from .mutate import check_mutant, mutants
from .oracles import OracleFailure, Refused, Rejected, check_program

#: (name, pattern matched against the failure text, regression test that documents it)
KNOWN_FAILURES: list[tuple[str, str, str]] = []


@dataclass
class Stats:
    """Counts of one run."""

    tried: int = 0
    distinct: set = field(default_factory=set)
    checked: int = 0
    compiled: int = 0
    rejected: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    known: Counter = field(default_factory=Counter)
    constructs: Counter = field(default_factory=Counter)
    mutants: Counter = field(default_factory=Counter)
    oracles: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)

    def report(self) -> str:
        lines = [
            f"programs tried: {self.tried} ({len(self.distinct)} distinct sources)",
            f"  checked: {self.checked} (of them compiled with Numba too: {self.compiled})",
            f"  rejected draws (primal raises or overflows at the test point): "
            f"{sum(self.rejected.values())}",
            f"  refused with SourceADError: {sum(self.refused.values())}",
            f"  known failures (xfail regression tests): {sum(self.known.values())}",
            f"failures: {len(self.failures)}",
        ]
        for title, counter in [
            ("oracles applied to checked programs", self.oracles),
            ("rejections", self.rejected),
            ("refusals", self.refused),
            ("known failures", self.known),
            ("bad-input mutants", self.mutants),
        ]:
            if counter:
                lines.append(f"{title}:")
                lines += [f"  {n:6d}  {k}" for k, n in counter.most_common()]
        lines.append("construct distribution (programs containing each construct):")
        lines += [
            f"  {n:6d}  {k}" for k, n in sorted(self.constructs.items(), key=lambda kv: -kv[1])
        ]
        for k, failure in enumerate(self.failures):
            lines += ["", f"--- failure {k + 1} ---", failure]
        return "\n".join(lines)


def _known(text: str) -> str | None:
    for name, pattern, _ in KNOWN_FAILURES:
        if re.search(pattern, text, re.S):
            return name
    return None


def run_program(program, compiled: bool, stats: Stats, vmap_target: str = "cpu") -> None:
    """Check one program, recording the outcome; raises OracleFailure for new bugs."""
    digest = hashlib.sha1(program.source.encode()).hexdigest()
    stats.tried += 1
    if digest not in stats.distinct:
        stats.distinct.add(digest)
        stats.constructs.update(program.constructs)
    try:
        applied = check_program(program, compiled=compiled, vmap_target=vmap_target)
    except Rejected as e:
        stats.rejected[str(e)] += 1
        return
    except Refused as e:
        stats.refused[str(e).split(": ", 1)[-1][:90]] += 1
        return
    except OracleFailure as e:
        name = _known(str(e))
        if name is None:
            raise
        stats.known[name] += 1
        return
    stats.checked += 1
    stats.compiled += compiled
    stats.oracles.update(applied)


def run_mutant(mutant, stats: Stats) -> None:
    try:
        outcome = check_mutant(mutant)
    except Rejected as e:
        stats.rejected["mutant: " + str(e)] += 1
        return
    stats.mutants[f"{mutant.kind}: {outcome}"] += 1


def _settings(max_examples: int, seed_phase: bool = True, derandomize: bool = False):
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink] if seed_phase else [Phase.generate],
        print_blob=False,
    )


def check_programs(
    stats: Stats,
    max_examples: int,
    compile_percent: int = 0,
    derandomize: bool = False,
    seed: int | None = None,
) -> None:
    """Run ``max_examples`` generated programs; a failure is shrunk and raised."""

    @_settings(max_examples, derandomize=derandomize)
    @given(programs(), st.integers(0, 99), st.sampled_from(["", "cpu", "parallel"]))
    def run(program, dice, target):
        # a scrambled dice: hypothesis favours 0 and 99, and shrinks towards 0 (not compiled
        # for compile_percent <= 11, so shrinking drops compilation when the failure allows)
        compiled = compile_percent >= 100 or (dice * 37 + 11) % 100 < compile_percent
        run_program(program, compiled, stats, vmap_target=target)

    if seed is not None:
        run = _seeded(run, seed)
    with _no_persistent_cache():
        run()


def check_mutants(stats: Stats, max_examples: int, derandomize: bool = False, seed=None) -> None:
    """Run ``max_examples`` bad-input mutants; an internal exception is shrunk and raised."""

    @_settings(max_examples, derandomize=derandomize)
    @given(mutants())
    def run(mutant):
        run_mutant(mutant, stats)

    if seed is not None:
        run = _seeded(run, seed)
    with _no_persistent_cache():
        run()


@contextlib.contextmanager
def _no_persistent_cache():
    """Generated programs are used once: keep them out of sourcead's on-disk cache."""
    old = os.environ.get("SOURCEAD_CACHE")
    os.environ["SOURCEAD_CACHE"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["SOURCEAD_CACHE"]
        else:
            os.environ["SOURCEAD_CACHE"] = old


def _seeded(test, seed: int):
    from hypothesis import seed as hypothesis_seed

    return hypothesis_seed(seed)(test)


def long_run(minutes: float, compile_percent: int = 15, mutant_percent: int = 10, log=print):
    """Generate and check programs for ``minutes``; returns the Stats."""
    stats = Stats()
    end = time.monotonic() + minutes * 60
    seen: set = set()
    batch = 0
    last_report = time.monotonic()
    while time.monotonic() < end:
        batch += 1
        try:
            if batch % max(1, round(100 / max(mutant_percent, 1))) == 0:
                check_mutants(stats, 40, seed=batch)
            else:
                check_programs(stats, 40, compile_percent, seed=batch)
        except OracleFailure as e:
            text = str(e)
            key = text.split("\n", 1)[0][:200]
            if key not in seen:
                seen.add(key)
                stats.failures.append(text)
                log(f"\n=== new failure (batch {batch}) ===\n{text}\n", flush=True)
        except Exception as e:  # an error in the harness itself: record it, keep going
            text = f"[harness] {type(e).__name__}: {e}"
            if text not in seen:
                seen.add(text)
                stats.failures.append(text)
                log(text, flush=True)
        if time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            log(
                f"[{time.strftime('%H:%M:%S')}] tried {stats.tried}, checked {stats.checked}, "
                f"compiled {stats.compiled}, failures {len(stats.failures)}",
                flush=True,
            )
    return stats
