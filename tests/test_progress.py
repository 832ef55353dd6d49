"""A long compile says what it compiles and how long it took (logger ``sourcead``)."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np

import sourcead
from sourcead.backends.cpu import progress


def cubic_energy(x):
    return np.sum(x * x * x) + np.sum(np.sin(x))


def test_a_long_compile_is_announced_with_the_users_line(monkeypatch, caplog):
    monkeypatch.setattr(progress, "DELAY", 0.0)  # every compile counts as long here
    with caplog.at_level(logging.INFO, logger="sourcead"):
        sourcead.grad(cubic_energy)(np.array([0.5, 1.5]))
    messages = [r.getMessage() for r in caplog.records if r.name == "sourcead"]
    line = cubic_energy.__code__.co_firstlineno
    expected = f"the adjoint of cubic_energy (test_progress.py:{line})"
    assert f"compiling {expected} ..." in messages
    assert any(m.startswith(f"compiled {expected} in ") for m in messages)


def _stderr_of(tmp_path, environment: dict) -> str:
    script = textwrap.dedent(
        """
        import math
        import sourcead
        from sourcead.backends.cpu import progress

        progress.DELAY = 0.0

        def speed(v):
            return math.sqrt(v * v + 1.0)

        sourcead.grad(speed)(2.0)
        """
    )
    (tmp_path / "speed.py").write_text(script)
    env = {**os.environ, "SOURCEAD_CACHE": "0", **environment}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "speed.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_line_goes_to_stderr_unless_quiet(tmp_path):
    assert "sourcead: compiling the adjoint of speed (speed.py:8) ..." in _stderr_of(tmp_path, {})
    assert "sourcead:" not in _stderr_of(tmp_path, {"SOURCEAD_QUIET": "1"})


def test_a_very_long_compile_points_to_background_compiles_once(monkeypatch, caplog):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "HINT_AFTER", 0.0)  # every compile counts as very long
    monkeypatch.setitem(progress._hint, "given", False)

    def first(x):
        return np.sum(np.cos(x) * x)

    def second(x):
        return np.sum(np.exp(x) * x)

    with caplog.at_level(logging.INFO, logger="sourcead"):
        sourcead.grad(first, compile=True)(np.array([0.5, 1.5]))
        sourcead.grad(second, compile=True)(np.array([0.5, 1.5]))
    ends = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled ")]
    assert len(ends) == 2
    assert ends[0].endswith(progress.HINT) and not ends[1].endswith(progress.HINT)
