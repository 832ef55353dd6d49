"""SOURCEAD_TIMINGS=1: where the first call's time goes, per stage; `show --timings`; and
Numba's performance warnings about generated code, hidden unless SOURCEAD_DEBUG=1."""

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest
from numba.core.errors import NumbaPerformanceWarning

import sourcead
from sourcead.backends.cpu import timings

PROGRAM = textwrap.dedent(
    """
    import math


    def speed(v, c):
        s = 0.0
        for i in range(10):
            s += math.sqrt(v * v + c * i)
        return s
    """
)

CHILD = textwrap.dedent(
    """
    import json
    import sys
    import time

    import sourcead
    from sourcead.api import gradients  # the compiler's imports, outside the measured time
    from sourcead.backends.cpu import timings

    import program

    start = time.perf_counter()
    sourcead.grad(program.speed, wrt=(0, 1))(2.0, 0.5)
    measured = time.perf_counter() - start
    print(json.dumps({"measured": measured, "enabled": timings.enabled(),
                      "totals": timings.totals()}))
    """
)


def _run(tmp_path, environment: dict, *arguments: str) -> subprocess.CompletedProcess:
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "child.py").write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCEAD_")}
    # compiled at the first call, in this process (the compiles are what these tests see)
    env.update(
        {
            "SOURCEAD_CACHE": "0",
            "SOURCEAD_COMPILE": "true",
            "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        }
    )
    env.update(environment)
    command = [sys.executable, *(arguments or [str(tmp_path / "child.py")])]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


def _stage_lines(text: str) -> dict[str, float]:
    """stage -> seconds, read from a printed breakdown."""
    found = {}
    for name in (*timings.STAGES, "sum of stages", "not in a stage"):
        match = re.search(rf"^\s+(?:sourcead|numba)?\s*{name}\s+(-?\d+\.\d+) s", text, re.M)
        assert match, f"no line for {name!r} in:\n{text}"
        found[name] = float(match.group(1))
    return found


def test_the_breakdown_is_logged_with_every_stage(tmp_path):
    done = _run(tmp_path, {"SOURCEAD_TIMINGS": "1"})
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["enabled"]
    assert "sourcead: first call of the adjoint of speed (program.py:5):" in done.stderr
    lines = _stage_lines(done.stderr)
    stages = [lines[name] for name in timings.STAGES]
    assert all(seconds >= 0.0 for seconds in stages)
    assert abs(sum(stages) - lines["sum of stages"]) < 0.01  # printed with 3 decimals
    # every stage ran: something of sourcead's and of each of Numba's phases
    totals = result["totals"]
    for name in ("frontend", "generation", "numba typing", "numba lowering", "llvm"):
        assert totals[name] > 0.0, name
    # the stages account for the first call: the rest (cache off) is small
    measured, summed = result["measured"], sum(totals[name] for name in timings.STAGES)
    assert summed <= totals["wall"] + 1e-6
    assert totals["wall"] <= measured + 1e-3
    assert summed >= 0.5 * measured, (summed, measured)


def test_nothing_is_timed_or_printed_without_the_variable(tmp_path):
    done = _run(tmp_path, {"SOURCEAD_QUIET": "1"})
    result = json.loads(done.stdout.splitlines()[-1])
    assert not result["enabled"]
    assert result["totals"]["wall"] == 0.0
    assert "first call of" not in done.stderr
    assert "numba typing" not in done.stderr


def test_the_stage_context_costs_nothing_when_disabled():
    if timings.enabled():
        pytest.skip("SOURCEAD_TIMINGS is set for this run")
    assert timings.stage("frontend") is timings.stage("passes")  # one shared null context


def test_show_timings_prints_the_table(tmp_path):
    done = _run(tmp_path, {}, "-m", "sourcead", "show", "program.py:speed", "--timings")
    assert "first call of the adjoint of speed (program.py:5)" in done.stdout
    lines = _stage_lines(done.stdout)
    assert all(lines[name] >= 0.0 for name in timings.STAGES)
    assert lines["numba typing"] > 0.0 and lines["llvm"] > 0.0
    assert "def speed_adjoint" not in done.stdout  # the table instead of the code


# --- performance warnings ------------------------------------------------------------------------
def strided_dot(m, x):
    # m[:, 1:] is not contiguous: Numba warns that np.dot is faster on contiguous arrays
    return np.sum(np.dot(m[:, 1:], x) ** 2)


def _performance_warnings(call) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if issubclass(w.category, NumbaPerformanceWarning)]


@pytest.mark.slow  # compiles for tens of seconds
def test_performance_warnings_of_generated_code_are_hidden():
    m, x = np.arange(12.0).reshape(3, 4), np.array([1.0, -2.0, 0.5])
    gradient = sourcead.grad(strided_dot, wrt=(0, 1))
    assert _performance_warnings(lambda: gradient(m, x)) == []
    # the same code compiled by the user warns: the filter is scoped to generated code
    # (float32: Numba types a call once per argument types, and warns only then)
    m32, x32 = m.astype(np.float32), x.astype(np.float32)
    assert _performance_warnings(lambda: numba.njit(strided_dot)(m32, x32))


@pytest.mark.slow  # compiles for tens of seconds
def test_performance_warnings_are_shown_with_sourcead_debug(tmp_path):
    script = textwrap.dedent(
        """
        import warnings

        import numpy as np

        import sourcead

        warnings.simplefilter("always")


        def strided_dot(m, x):
            return np.sum(np.dot(m[:, 1:], x) ** 2)


        sourcead.grad(strided_dot, wrt=(0, 1))(np.arange(12.0).reshape(3, 4), np.ones(3))
        """
    )
    (tmp_path / "strided.py").write_text(script)
    shown = _run(tmp_path, {"SOURCEAD_DEBUG": "1"}, str(tmp_path / "strided.py"))
    assert "NumbaPerformanceWarning" in shown.stderr
    hidden = _run(tmp_path, {}, str(tmp_path / "strided.py"))
    assert "NumbaPerformanceWarning" not in hidden.stderr
