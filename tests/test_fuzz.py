"""Random-program testing, quick budget: generated programs against every oracle.

The long run is ``python -m tests.fuzz --minutes N`` (seeded from the clock; ``--seed``
replays one). Runs here are derandomized (the same programs every time), so the suite
stays deterministic; the long run explores. A failure is shrunk by hypothesis and
reported with the program's source.
"""

from collections import Counter

import numpy as np
import pytest
from fuzz import oracles
from fuzz.generator import Program, programs
from fuzz.oracles import OracleFailure, check_program, cleanup
from fuzz.runner import Stats, check_mutants, check_programs
from hypothesis import HealthCheck, Phase, given, seed, settings

import sourcead


def teardown_module():
    cleanup()


def _check_python_programs(max_examples: int, seed: int | None = None) -> None:
    """Programs run as generated Python (compile=False): value, gradient, jvp, hvp, rebinding.
    Derandomized (the same programs every run) unless a seed picks others."""
    stats = Stats()
    check_programs(
        stats, max_examples, compile_percent=0, derandomize=True, seed=seed, shrink_seconds=20
    )
    print(stats.report())
    assert stats.checked >= max_examples // 2, stats.report()  # the oracles really ran
    assert stats.with_fd >= max_examples * 2 // 5, stats.report()  # most against differences
    assert stats.oracles["jvp vs grad"] >= max_examples // 2, stats.report()
    assert stats.oracles["hvp vs differences of grad"] >= max_examples // 3, stats.report()


def test_random_programs_python():
    """A quick sample of programs as generated Python."""
    _check_python_programs(max_examples=16)


@pytest.mark.slow
def test_more_random_programs_python():
    """More programs: other ones than the quick sample's (another seed)."""
    _check_python_programs(max_examples=32, seed=2026)


@pytest.mark.slow  # Numba compiles each program: CI runs it (-m slow)
def test_random_programs_compiled():
    """A smaller sample also compiled with Numba: compile=True agrees with compile=False."""
    stats = Stats()
    check_programs(stats, max_examples=2, compile_percent=100, derandomize=True, shrink_seconds=20)
    print(stats.report())
    assert stats.compiled >= 1, stats.report()


def test_bad_inputs():
    """Mutated programs and calls: a clear error or a correct gradient, never an internal one."""
    stats = Stats()
    check_mutants(stats, max_examples=60, derandomize=True)
    print(stats.report())
    assert stats.mutant_count("checked") >= 40, stats.report()


#: Constructs the generator must write (the shapes of bugs that outside test suites found).
REQUIRED_CONSTRUCTS = [
    "row write (m[i])",
    "row write (m[i, :])",
    "row write reading a row of the same array",
    "row recurrence loop (m[t + 1] from m[t])",
    "rows slice write",
    "column write (m[:, j])",
    "vector slice write",
    "scalar broadcast into row",
    "row broadcast into rows slice",
    "row broadcast into matrix",
    "matmul",
    "np.sum",
    "np.sum(axis=0)",
    "np.prod",
    "exact zero in an array argument",
    "module global",
    "module attribute constant",
    "rebinding between grad() calls",
    "name rebound to arrays of other lengths",
    "whole-array rebinding",
]


@pytest.mark.slow  # draws programs until every construct appears: CI's slow group
def test_generator_writes_the_array_and_module_constructs():
    """Generation alone (no sourcead): every construct of REQUIRED_CONSTRUCTS shows up.

    Hypothesis mixes constants it finds in the loaded modules into what it draws, so the
    programs of one seed depend on what the process imported before: up to three seeds of
    300 programs each."""
    seen: Counter = Counter()

    def draw_with(chosen: int) -> None:
        @seed(chosen)  # fixed: the same programs every run (in the same process state)
        @settings(
            max_examples=300,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(programs())
        def draw(program):
            seen.update(program.constructs)
            compile(program.source, "<generated>", "exec")  # well-formed Python
            if program.rebound is not None:
                compile(program.rebound.source, "<rebound>", "exec")

        draw()

    for chosen in range(3):
        draw_with(chosen)
        missing = [c for c in REQUIRED_CONSTRUCTS if not seen[c]]
        if not missing:
            break
    assert not missing, f"never generated: {missing}"


# ------------------------------------------------------------- the rebinding oracle

_SOURCE = """import math

import numpy as np

import fuzzconsts

K1 = 2.0


def g0(p, q):
    return p * q


def g0_new(p, q):
    return p * q * q


def f(x, a):
    return K1 * g0(x, a[0]) + fuzzconsts.C1 * np.sum(a * x)
"""

_CONSTS = (("fuzzconsts", "C1 = 0.5\n"),)

_REBOUND = _SOURCE.replace("K1 = 2.0", "K1 = 3.0").replace(
    "def g0(p, q):\n    return p * q\n", "def g0(p, q):\n    return p * q * q\n"
)


def _rebinding_program() -> Program:
    args = (0.7, np.array([0.3, -0.4, 1.1]))

    def make(source, modules, **extra):
        return Program(
            source, source, args, (0, 1), ("x", "a"), frozenset(), modules=modules, **extra
        )

    rebound = make(_REBOUND, (("fuzzconsts", "C1 = -1.25\n"),))
    rebinds = (("global", "K1", 3.0), ("const", "C1", -1.25), ("helper", "g0", "g0_new"))
    return make(_SOURCE, _CONSTS, rebinds=rebinds, rebound=rebound)


def test_rebinding_oracle_passes_a_correct_grad():
    """Rebinding K1, fuzzconsts.C1 and g0 between two grad() calls: a new grad sees them."""
    outcomes = check_program(_rebinding_program())
    assert "checked: rebinding, new grad() and jvp() values" in outcomes
    assert "checked: rebinding: gradient vs finite differences" in outcomes


def test_rebinding_oracle_catches_a_stale_grad(monkeypatch):
    """A value_and_grad that reuses what it built for the same code object is caught."""
    built = {}
    original = sourcead.value_and_grad

    def stale(f, *args, **kwargs):
        key = (f.__code__, kwargs.get("compile"))
        if key not in built:
            built[key] = original(f, *args, **kwargs)
        return built[key]

    monkeypatch.setattr(oracles.sourcead, "value_and_grad", stale)
    with pytest.raises(OracleFailure, match="after rebinding"):
        check_program(_rebinding_program())
