"""Random-program testing, quick budget: generated programs against every oracle.

The long run is ``python -m tests.fuzz --minutes N``. Runs here are derandomized (the
same programs every time), so the suite stays deterministic; the long run explores.
A failure is shrunk by hypothesis and reported with the program's source.
"""

from fuzz.oracles import cleanup
from fuzz.runner import Stats, check_mutants, check_programs


def teardown_module():
    cleanup()


def test_random_programs_python():
    """Programs run as generated Python (compile=False): gradient, value, inputs, jvp."""
    stats = Stats()
    check_programs(stats, max_examples=200, compile_percent=0, derandomize=True)
    print(stats.report())
    assert stats.checked >= 80, stats.report()  # the oracles really ran


def test_random_programs_compiled():
    """A smaller sample also compiled with Numba: compile=True agrees with compile=False."""
    stats = Stats()
    check_programs(stats, max_examples=4, compile_percent=100, derandomize=True)
    print(stats.report())
    assert stats.compiled >= 2, stats.report()


def test_bad_inputs():
    """Mutated programs and calls: a clear error or a correct gradient, never an internal one."""
    stats = Stats()
    check_mutants(stats, max_examples=120, derandomize=True)
    print(stats.report())
    assert sum(stats.mutants.values()) >= 80, stats.report()
