"""What the tests of ahead-of-time builds share: user programs to build, and running the
built modules in a fresh process; and the skip of the tests that need numba-cuda itself."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Built by tests/test_native_build.py and tests/test_batched_build.py.
PROGRAMS = textwrap.dedent(
    """
    import math

    import numpy as np


    def flight(vx, vy, c):
        x = 0.0
        y = 0.0
        for _ in range(200):
            v = math.sqrt(vx * vx + vy * vy)
            x = x + 0.01 * vx
            y = y + 0.01 * vy
            vx = vx - 0.01 * c * v * vx
            vy = vy - 0.01 * (9.81 + c * v * vy)
        return (x - 30.0) ** 2 + y**2


    def energy(u, w, n):
        s = 0.0
        for i in range(n):
            s = s + w[i % 2] * np.sin(u[i]) * u[i]
        return s + np.sum(u * u)


    def weighted(u, w):
        s = 0.0
        for i in range(u.shape[0]):
            s = s + w[i] * math.sin(u[i]) * u[i]
        return s


    def stepped(x, w, k):
        s = x
        for j in range(1, 7, k):
            s = math.sin(s) * w + 0.1 * j
        return s
    """
)


def script_without(*blocked: str) -> str:
    """The start of a script for run_script: the packages named cannot be imported; json,
    sys and numpy (as np) are imported, and ``plain(x)`` turns a result (arrays, tuples of
    them) into JSON values."""
    return textwrap.dedent(
        f"""
        import json, sys
        for name in {blocked!r}:
            sys.modules[name] = None
        import numpy as np


        def plain(x):
            return [plain(i) for i in x] if isinstance(x, tuple) else np.asarray(x).tolist()
        """
    )


def user_module(root: Path, prefix: str) -> Path:
    """PROGRAMS written to a module of a name unique to this process, in ``root``."""
    path = root / f"{prefix}_{os.getpid()}.py"
    path.write_text(PROGRAMS)
    return path


def run_script(
    script: str, cwd: Path, simulator: str | None = None, env: dict | None = None
) -> str:
    """Run ``script`` in a fresh Python in ``cwd`` with ``env`` (default: this process's;
    numba-cuda's simulator on or off where ``simulator`` is "1" or "0"); its standard
    output, or the test fails with its errors."""
    env = dict(os.environ if env is None else env)
    if simulator is not None:
        env["NUMBA_ENABLE_CUDASIM"] = simulator
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def numba_cuda_installed() -> bool:
    """Whether numba-cuda is installed as its own distribution. Numba's own ``numba.cuda``
    (deprecated, still bundled) imports and runs the simulator, but its compiler rejects
    the generated kernels, so only the real package is taken for one."""
    try:
        importlib.metadata.distribution("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


# For tests that compile to PTX with NVVM (their scripts skip, too, where NVVM is missing);
# the simulator's tests run with either numba.cuda.
needs_numba_cuda = pytest.mark.skipif(
    not numba_cuda_installed(),
    reason="numba-cuda is not installed (pip install -e '.[cuda]'); the numba.cuda bundled "
    "with Numba cannot compile the generated kernels to PTX",
)
