import os

import pytest

# CUDA tests run on numba-cuda's simulator unless this machine has a GPU. The choice is
# read when numba is first imported, so it is made here, before any test module loads.
if not os.path.exists("/dev/nvidiactl"):
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

# Generated code is compiled at LLVM's -O2 in the tests (sourcead/backends/cpu/optimisation.py):
# the tests check derivatives, which do not depend on the level, and -O2 compiles array
# programs several times faster than Numba's -O3 (the slow group: minutes less). Subprocesses
# of tests inherit it. SOURCEAD_OPT=3 runs them at the level users get by default.
os.environ.setdefault("SOURCEAD_OPT", "2")


@pytest.fixture(
    params=[pytest.param(True, marks=pytest.mark.slow), False], ids=["compiled", "python"]
)
def compile_mode(request):
    """Run every gradient test with Numba compilation and as plain generated Python. The
    compiled runs, most of the time of these tests, are in the slow group (CI runs it)."""
    return request.param


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Generated modules of the test run go to a fresh directory, not the user's cache."""
    previous = os.environ.get("SOURCEAD_CACHE_DIR")
    os.environ["SOURCEAD_CACHE_DIR"] = str(tmp_path_factory.mktemp("sourcead-cache"))
    yield
    if previous is None:
        os.environ.pop("SOURCEAD_CACHE_DIR", None)
    else:
        os.environ["SOURCEAD_CACHE_DIR"] = previous
