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

# Derivatives made with the default compile= compile at their first call in the tests
# (sourcead/api/background.py): a test that calls one compiled checks the compiled code, as it
# did before the default became "background", and no child process compiles beside the
# tests. The default itself is tested in test_background.py.
os.environ.setdefault("SOURCEAD_COMPILE", "true")


@pytest.fixture(
    params=[pytest.param(True, marks=pytest.mark.slow), False], ids=["compiled", "python"]
)
def compile_mode(request):
    """Run every gradient test with Numba compilation and as plain generated Python. The
    compiled runs, most of the time of these tests, are in the slow group (CI runs it)."""
    return request.param


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory, worker_id):
    """Generated modules of the test run go to a fresh directory, not the user's cache: one
    directory per run, shared by its worker processes (pytest-xdist), so that a derivative
    one worker compiled is loaded, not compiled again, by the others."""
    base = tmp_path_factory.getbasetemp()
    # a worker's base is <the run's directory>/<worker>: the run's directory is shared
    run = base.parent if worker_id != "master" else base
    cache = run / "sourcead-cache"
    cache.mkdir(exist_ok=True)
    previous = os.environ.get("SOURCEAD_CACHE_DIR")
    os.environ["SOURCEAD_CACHE_DIR"] = str(cache)
    yield
    if previous is None:
        os.environ.pop("SOURCEAD_CACHE_DIR", None)
    else:
        os.environ["SOURCEAD_CACHE_DIR"] = previous


#: Plain-Python cases of the newer families that run in the slow group (CI runs it): their
#: forward mode and second order, which take most of their time; reverse mode stays quick,
#: so that the README's command (the quick group) stays within five minutes on 2 cores.
_SLOW_PLAIN_PYTHON = (
    ("test_fft.py::test_fft_losses", ("-forward-python]", "-second-python]")),
    ("test_indexing.py::test_tangent_matches_finite_differences", ("",)),
    ("test_indexing.py::test_hessian_vector_product_matches_finite_differences", ("",)),
    ("test_complex.py::test_tangent", ("",)),
    ("test_complex.py::test_hessian_vector_product", ("",)),
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for prefix, endings in _SLOW_PLAIN_PYTHON:
            name = item.nodeid.split("/")[-1]
            if name.startswith(prefix + "[") and any(name.endswith(e) for e in endings):
                item.add_marker(pytest.mark.slow)
