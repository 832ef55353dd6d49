"""Driving the generator and the oracles with hypothesis: quick and long runs, statistics.

A failure is shrunk by hypothesis to a small program whose source (ready to paste into a
regression test) is in the raised ``OracleFailure``. Failures that match an entry of
``KNOWN_FAILURES`` (each one has an ``xfail`` regression test) are counted, not raised, so
that a known bug does not hide new ones; in the long run, so are repeats of a failure it
already reported (see ``Signature``), so that one bug is shrunk once, not in every batch.

Outcomes are counted apart: a program is "checked" only where its oracles compared
results; a refusal, a skipped comparison or an accepted mutant without a reference is
counted as what it is, never as a pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .generator import programs
from .mutate import check_mutant, mutants
from .oracles import OracleFailure, Refused, Rejected, check_program, reason

#: (name, pattern matched against the failure text, regression test that documents it)
KNOWN_FAILURES: list[tuple[str, str, str]] = []


@dataclass(frozen=True)
class Signature:
    """A reported failure. Another failure is a repeat of it when the oracle and the key (a
    refusal's reason, a mutant's kind and exception) are the same, or, for disagreements
    (no key), when the oracle is and its program has every construct of the shrunk program
    (so it most likely contains the same bug)."""

    oracle: str
    key: str | None
    constructs: frozenset

    @classmethod
    def of(cls, failure: OracleFailure) -> Signature:
        constructs = failure.program.constructs if failure.program else frozenset()
        return cls(failure.oracle, failure.key, constructs)

    def matches(self, failure: OracleFailure) -> bool:
        if (failure.oracle, failure.key) != (self.oracle, self.key):
            return False
        if self.key is not None or failure.program is None:
            return True  # a refusal's reason or a mutant's kind names the cause
        return self.constructs <= failure.program.constructs


@dataclass
class Stats:
    """Counts of one run."""

    tried: int = 0
    distinct: set = field(default_factory=set)
    checked: int = 0
    with_fd: int = 0
    compiled: int = 0
    rejected: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    known: Counter = field(default_factory=Counter)
    repeats: Counter = field(default_factory=Counter)
    shrink_steps: int = 0
    cases: set = field(default_factory=set)  # (program, arguments, mode) checked already
    duplicates: int = 0
    constructs: Counter = field(default_factory=Counter)
    mutants: Counter = field(default_factory=Counter)
    oracles: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)
    signatures: list = field(default_factory=list)

    def mutant_count(self, prefix: str) -> int:
        """Mutants whose outcome starts with ``prefix`` ("checked", "unchecked")."""
        return sum(n for k, n in self.mutants.items() if k.split(": ", 1)[1].startswith(prefix))

    def report(self) -> str:
        lines = [
            f"programs tried: {self.tried} ({len(self.distinct)} distinct sources), "
            f"{self.duplicates} repeated draws skipped, {self.shrink_steps} steps of "
            f"shrinking failures",
            f"  checked (every oracle ran and agreed): {self.checked}",
            f"    gradient compared with finite differences: {self.with_fd}",
            f"    also compiled with Numba: {self.compiled}",
            f"  rejected draws (primal raises or overflows at the test point): "
            f"{sum(self.rejected.values())}",
            f"  refused as the docs announce: {sum(self.refused.values())}",
            f"  known failures (xfail regression tests): {sum(self.known.values())}",
            f"  repeats of failures reported in this run: {sum(self.repeats.values())}",
            f"bad-input mutants: {sum(self.mutants.values())} (checked "
            f"{self.mutant_count('checked')}, unchecked {self.mutant_count('unchecked')})",
            f"failures: {len(self.failures)}",
        ]
        for title, counter in [
            ("oracles that compared results", self.oracles),
            ("oracles skipped or refused without a failure", self.skipped),
            ("rejections", self.rejected),
            ("refusals", self.refused),
            ("known failures", self.known),
            ("repeats of reported failures", self.repeats),
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


def _already_reported(failure: OracleFailure, stats: Stats, count: bool = True) -> bool:
    """Count a known failure or a repeat of a reported one instead of raising it."""
    name = _known(str(failure))
    if name is not None:
        if count:
            stats.known[name] += 1
        return True
    for k, signature in enumerate(stats.signatures):
        if signature.matches(failure):
            if count:
                stats.repeats[f"failure {k + 1}: [{signature.oracle}]"] += 1
            return True
    return False


def _digest(*parts) -> str:
    """A hash of sources, arguments (arrays in full precision) and flags."""
    shown = [p.tolist() if hasattr(p, "tolist") else p for p in parts]
    shown = [
        tuple(a.tolist() if hasattr(a, "tolist") else a for a in p) if isinstance(p, tuple) else p
        for p in shown
    ]
    return hashlib.sha1(repr(shown).encode()).hexdigest()


def run_program(
    program, compiled: bool, stats: Stats, vmap_target: str = "cpu", focus: str | None = None
) -> None:
    """Check one program, recording the outcome; raises OracleFailure for new bugs.

    With ``focus`` (a stage of check_program) the program is a step of shrinking a failure:
    only that stage runs, and only the shrink steps are counted.
    """
    if focus is not None:
        stats.shrink_steps += 1
        try:
            check_program(program, compiled=compiled, vmap_target=vmap_target, focus=focus)
        except (Rejected, Refused):
            pass
        except OracleFailure as e:
            if not _already_reported(e, stats, count=False):
                raise
        return
    case = _digest(program.source, program.args, program.wrt, compiled, vmap_target)
    if case in stats.cases:  # hypothesis drew this very check before: nothing new to learn
        stats.duplicates += 1
        return
    digest = _digest(program.source)
    stats.tried += 1
    if digest not in stats.distinct:
        stats.distinct.add(digest)
        stats.constructs.update(program.constructs)
    try:
        outcomes = check_program(program, compiled=compiled, vmap_target=vmap_target)
    except Rejected as e:
        stats.rejected[str(e)] += 1
        stats.cases.add(case)
        return
    except Refused as e:
        stats.refused[reason(str(e))] += 1
        stats.cases.add(case)
        return
    except OracleFailure as e:
        if _already_reported(e, stats):
            return
        raise
    stats.cases.add(case)
    stats.checked += 1
    stats.compiled += compiled
    stats.with_fd += "checked: gradient vs finite differences" in outcomes
    for outcome in outcomes:
        status, what = outcome.split(": ", 1)
        (stats.oracles if status == "checked" else stats.skipped)[
            what if status == "checked" else outcome
        ] += 1


def run_mutant(mutant, stats: Stats, count: bool = True) -> None:
    """Check one mutant, counting its outcome unless it is a step of shrinking."""
    try:
        outcome = check_mutant(mutant)
    except Rejected as e:
        if count:
            stats.rejected["mutant: " + str(e)] += 1
        return
    except OracleFailure as e:
        if _already_reported(e, stats, count):
            return
        raise
    if count:
        stats.mutants[f"{mutant.kind}: {outcome}"] += 1
    else:
        stats.shrink_steps += 1


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


class _Shrinking:
    """What a hypothesis run knows of a failure being shrunk: the stage that failed (only it
    runs while shrinking) and the examples that failed (by ``key``). Past ``seconds`` of
    shrinking every other candidate passes unrun, so hypothesis stops and reports the
    smallest so far."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.stage: str | None = None
        self.since: float | None = None
        self.failed: set = set()

    @property
    def active(self) -> bool:
        return self.since is not None

    def skip(self, key: str) -> bool:
        over = self.active and time.monotonic() - self.since > self.seconds
        return over and key not in self.failed

    def failure(self, key: str, error: OracleFailure) -> None:
        if self.since is None:
            self.since, self.stage = time.monotonic(), error.stage
        self.failed.add(key)


def check_programs(
    stats: Stats,
    max_examples: int,
    compile_percent: int = 0,
    derandomize: bool = False,
    seed: int | None = None,
    shrink_seconds: float = 120.0,
) -> None:
    """Run ``max_examples`` generated programs; a failure is shrunk (for at most about
    ``shrink_seconds``) and raised."""
    shrinking = _Shrinking(shrink_seconds)

    @_settings(max_examples, derandomize=derandomize)
    @given(programs(), st.integers(0, 99), st.sampled_from(["", "cpu", "parallel"]))
    def run(program, dice, target):
        # a scrambled dice: hypothesis favours 0 and 99, and shrinks towards 0 (not compiled
        # for compile_percent <= 11, so shrinking drops compilation when the failure allows)
        compiled = compile_percent >= 100 or (dice * 37 + 11) % 100 < compile_percent
        if shrinking.skip(program.source):
            return
        try:
            run_program(program, compiled, stats, target, shrinking.stage)
        except OracleFailure as e:
            shrinking.failure(program.source, e)
            raise

    if seed is not None:
        run = _seeded(run, seed)
    with _no_persistent_cache():
        run()


def check_mutants(
    stats: Stats,
    max_examples: int,
    derandomize: bool = False,
    seed=None,
    shrink_seconds: float = 120.0,
) -> None:
    """Run ``max_examples`` bad-input mutants; an internal exception is shrunk (for at most
    about ``shrink_seconds``) and raised. Shrink steps are not counted as mutants."""
    shrinking = _Shrinking(shrink_seconds)

    @_settings(max_examples, derandomize=derandomize)
    @given(mutants())
    def run(mutant):
        key = mutant.describe()
        if shrinking.skip(key):
            return
        try:
            run_mutant(mutant, stats, count=not shrinking.active)
        except OracleFailure as e:
            shrinking.failure(key, e)
            raise

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


def clock_seed() -> int:
    """A seed from the clock, so that every long run explores new programs."""
    return time.time_ns() % 2**32


def _record(stats: Stats, error: Exception, batch: int, log) -> None:
    """Record a shrunk failure (or an error of the harness) once, with its signature."""
    if isinstance(error, OracleFailure):
        if _already_reported(error, stats):
            return  # shrinking ended on a program that matches an earlier failure
        stats.signatures.append(Signature.of(error))
        text = str(error)
    else:
        inner = getattr(error, "exceptions", None)  # hypothesis' Flaky wraps the failures
        text = f"[harness] {type(error).__name__}: {error}"
        if inner:
            text += "\n" + "\n".join(str(e) for e in inner)
        text += "\n" + "".join(traceback.format_exception(error)[-12:])
        text += "\n".join(getattr(error, "__notes__", []))  # hypothesis' falsifying example
        if any(text.split("\n", 1)[0] == f.split("\n", 1)[0] for f in stats.failures):
            return
    stats.failures.append(text)
    log(f"\n=== new failure {len(stats.failures)} (batch {batch}) ===\n{text}\n", flush=True)


def long_run(
    minutes: float,
    compile_percent: int = 8,
    mutants_per_batch: int = 10,
    seed: int | None = None,
    programs_per_batch: int = 40,
    log=print,
):
    """Generate and check programs for ``minutes``; returns the Stats.

    Every batch runs ``programs_per_batch`` programs and ``mutants_per_batch`` bad-input
    mutants, each from its own seed, drawn from ``seed`` (by default from the clock; it is
    printed first, and ``seed`` replays the run).
    """
    seed = clock_seed() if seed is None else seed
    log(f"seed {seed} (replay with --seed {seed})", flush=True)
    seeds = random.Random(seed)
    stats = Stats()
    end = time.monotonic() + minutes * 60
    batch = 0
    last_report = time.monotonic()
    while time.monotonic() < end:
        batch += 1
        program_seed, mutant_seed = seeds.getrandbits(63), seeds.getrandbits(63)
        jobs = [
            partial(check_programs, stats, programs_per_batch, compile_percent, seed=program_seed)
        ]
        if mutants_per_batch:
            jobs.append(partial(check_mutants, stats, mutants_per_batch, seed=mutant_seed))
        for job in jobs:
            try:
                job()
            except Exception as e:  # a failure, shrunk, or an error in the harness
                _record(stats, e, batch, log)
        if time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            log(
                f"[{time.strftime('%H:%M:%S')}] batch {batch}: tried {stats.tried}, checked "
                f"{stats.checked}, mutants {sum(stats.mutants.values())}, failures "
                f"{len(stats.failures)}, repeats {sum(stats.repeats.values())}",
                flush=True,
            )
    return stats
