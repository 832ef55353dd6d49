"""The persistent cache: reuse across processes, invalidation, concurrency, switches."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import sourcead
from sourcead.cache import modules as cache

# one worker runs the whole module: its module-scoped copy is made once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("cache")

USER_MODULE = """
import math


def scale(x):
    return 2.0 * x


def f(x, y):
    s = 0.0
    for i in range(5):
        s = s + math.sin(scale(x) * y) + y
    return s
"""

# Prints the gradient, whether the transformation ran, and Numba's cache hits of the adjoint.
PROCESS_SCRIPT = """
import json, sys
import sourcead, sourcead.pipeline.program
import usermod

generated = []
original = sourcead.pipeline.program.Program.adjoint
def counting(self, *args, **kwargs):
    generated.append(args[0].__name__)
    return original(self, *args, **kwargs)
sourcead.pipeline.program.Program.adjoint = counting

g = sourcead.grad(usermod.f, wrt=(0, 1))
gx, gy = g(0.3, 0.7)
kind = type(g).__name__  # a CachedGradient where the cache's record of it was current
compiled = sourcead.cache.records.compiled_derivative(g)
function = compiled._build(compiled._prepare((0.3, 0.7))[1])[1]
hits = sum(function.stats.cache_hits.values())
print("RESULT " + json.dumps(
    {"grad": [gx, gy], "generated": generated, "numba_hits": hits, "kind": kind}
))
"""


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def frozen(tmp_path_factory) -> Path:
    """A copy of the package for the child processes: an edit of the working tree between
    two of them would (rightly) change the cache key, which covers sourcead's own source."""
    import shutil

    root = tmp_path_factory.mktemp("frozen")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "sourcead", root / "sourcead", ignore=ignore)
    shutil.copytree(REPO / "runtime", root / "sourcead_runtime", ignore=ignore)
    return root


def run_process(workdir: Path, cache_dir: Path) -> dict:
    path = os.pathsep.join([str(workdir), str(workdir.parent / "frozen")])
    env = dict(os.environ, SOURCEAD_CACHE_DIR=str(cache_dir), PYTHONPATH=path)
    env.pop("SOURCEAD_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", PROCESS_SCRIPT],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def expected_gradient(factor: float, x: float, y: float) -> tuple[float, float]:
    """Hand-derived gradient of 5 * (sin(factor * x * y) + y)."""
    import math

    c = math.cos(factor * x * y)
    return 5 * c * factor * y, 5 * (c * factor * x + 1.0)


@pytest.mark.slow  # three processes, each compiling or loading: CI's slow group
def test_new_process_reuses_generated_module_and_machine_code_and_sees_callee_edits(
    tmp_path, frozen
):
    work, store = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    (tmp_path / "frozen").symlink_to(frozen)
    (work / "usermod.py").write_text(USER_MODULE)

    cold = run_process(work, store)
    assert set(cold["generated"]) == {"f", "scale"}  # the adjoints of f and of its callee
    assert cold["grad"] == pytest.approx(expected_gradient(2.0, 0.3, 0.7), rel=1e-12)
    assert len(list(store.glob("*.py"))) == 1

    assert cold["kind"] == "GradientFunction"
    warm = run_process(work, store)
    assert warm["kind"] == "CachedGradient"  # checked without parsing (native_cache)
    assert warm["generated"] == []  # no transformation in the new process
    assert warm["numba_hits"] == 1  # and no Numba compilation of the adjoint either
    assert warm["grad"] == cold["grad"]

    # Editing only the called function must invalidate the entry (Numba's cache would not).
    (work / "usermod.py").write_text(USER_MODULE.replace("2.0 * x", "3.0 * x"))
    edited = run_process(work, store)
    assert edited["kind"] == "GradientFunction"
    assert set(edited["generated"]) == {"f", "scale"}
    assert edited["grad"] == pytest.approx(expected_gradient(3.0, 0.3, 0.7), rel=1e-12)
    assert len(list(store.glob("*.py"))) == 2


@pytest.mark.slow  # several processes compiling: CI's slow group
def test_concurrent_processes_fill_one_cache_without_corrupting_it(tmp_path, frozen):
    work, store = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    (work / "usermod.py").write_text(USER_MODULE)
    path = os.pathsep.join([str(work), str(frozen)])
    env = dict(os.environ, SOURCEAD_CACHE_DIR=str(store), PYTHONPATH=path)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_SCRIPT],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _, err in outputs]
    expected = expected_gradient(2.0, 0.3, 0.7)
    for out, _ in outputs:
        result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[7:])
        assert result["grad"] == pytest.approx(expected, rel=1e-12)
    files = list(store.glob("*.py"))
    assert len(files) == 1 and not list(store.glob(".tmp-*"))
    source, header = cache.read_entry(files[0])  # a whole entry, header and all
    compile(source, str(files[0]), "exec")
    assert header["entry"] == "f_adjoint"


def _module_from(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_key_follows_globals_callees_types_and_wrt(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(tmp_path / "cache"))
    source = textwrap.dedent(
        """
        K = 2.0

        def h(x):
            return K * x

        def f(x, y):
            return h(x) * y
        """
    )
    keys = []
    for i, text in enumerate([source, source.replace("K = 2.0", "K = 3.0")]):
        path = tmp_path / f"keymod{i}.py"
        path.write_text(text)
        module = _module_from(path, f"keymod{i}")
        g = sourcead.grad(module.f)
        types = g._prepare((1.0, 2.0))[1]
        keys.append(
            cache.derivative_key(g.fun, sourcead.pipeline.loading.LOADED, types, g.wrt_names)
        )
        # same function, other wrt / other argument types: other keys
        keys.append(cache.derivative_key(g.fun, sourcead.pipeline.loading.LOADED, types, ["y"]))
        int_types = g._prepare((1.0, 2))[1]
        keys.append(
            cache.derivative_key(g.fun, sourcead.pipeline.loading.LOADED, int_types, g.wrt_names)
        )
        assert g(1.0, 2.0) == pytest.approx(module.K * 2.0, rel=1e-14)
    assert None not in keys and len(set(keys)) == len(keys)


def test_python_mode_and_disabled_cache(tmp_path, monkeypatch):
    path = tmp_path / "plainmod.py"
    path.write_text(USER_MODULE)
    module = _module_from(path, "plainmod")
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(tmp_path / "on"))
    on = sourcead.grad(module.f, wrt=(0, 1), compile=False)(0.3, 0.7)
    assert on == pytest.approx(expected_gradient(2.0, 0.3, 0.7), rel=1e-12)
    assert len(list((tmp_path / "on").glob("*.py"))) == 1
    # a second derivative object in this process imports the stored module (python mode)
    again = sourcead.grad(module.f, wrt=(0, 1), compile=False)
    assert again(0.3, 0.7) == on
    assert again.source == cache.read_entry(next((tmp_path / "on").glob("*.py")))[0]

    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(tmp_path / "off"))
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    off = sourcead.grad(module.f, wrt=(0, 1), compile=False)(0.3, 0.7)
    assert off == on
    assert not (tmp_path / "off").exists()


def test_unwritable_cache_warns_and_still_differentiates(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(blocker / "cache"))  # under a file: unusable
    monkeypatch.setattr(cache, "_WARNED", set())
    path = tmp_path / "rwmod.py"
    path.write_text(USER_MODULE)
    module = _module_from(path, "rwmod")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = sourcead.grad(module.f, wrt=(0, 1), compile=False)(0.3, 0.7)
    assert value == pytest.approx(expected_gradient(2.0, 0.3, 0.7), rel=1e-12)
    assert any("cannot write its cache" in str(w.message) for w in caught)


def test_clear_and_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(tmp_path / "store"))
    assert cache.entries() == []
    assert cache.write_entry(cache.entry_path("f_adjoint", "0" * 64), "x = 1\n", {"entry": "x"})
    assert len(cache.entries()) == 1 and cache.clear() == 1 and cache.entries() == []
    monkeypatch.delenv("SOURCEAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache.cache_dir() == tmp_path / "xdg" / "sourcead"


def test_prune_keeps_the_newest_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SOURCEAD_CACHE_MAX_ENTRIES", "2")
    paths = []
    for i in range(3):
        path = cache.entry_path(f"f{i}_adjoint", f"{i}" * 64)
        numba_file = tmp_path / "__pycache__" / f"{path.stem}.f_adjoint-3.py311.nbi"
        numba_file.parent.mkdir(exist_ok=True)
        numba_file.write_text("")
        assert cache.write_entry(path, "x = 1\n", {"entry": "x"})
        os.utime(path, (1000.0 + i, 1000.0 + i))  # written in this order
        paths.append(path)
    # writing the third entry pruned the oldest
    assert [p.exists() for p in paths] == [False, True, True]
    assert cache.prune() == 0 and cache.prune(keep=1) == 1 and not paths[1].exists()
    assert len(list((tmp_path / "__pycache__").glob("*"))) == 1  # their machine code went too


SECOND_ORDER_MODULE = """
import numpy as np


def f(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sin(x[i]) * x[0]
    return s
"""

# Prints hessian(f) or vmap(grad(f)) at fixed arguments and whether the transformation ran.
SECOND_ORDER_SCRIPT = """
import json, sys
import numpy as np
import sourcead, sourcead.pipeline.program
import usermod

generated = []
original = sourcead.pipeline.program.Program.adjoint
def counting(self, *args, **kwargs):
    generated.append(args[0].__name__)
    return original(self, *args, **kwargs)
sourcead.pipeline.program.Program.adjoint = counting

x = np.array([0.3, 0.7, 1.1])
if sys.argv[1] == "hessian":
    value = sourcead.hessian(usermod.f)(x)
else:
    value = sourcead.vmap(sourcead.grad(usermod.f))(np.stack([x, 2.0 * x]))
print("RESULT " + json.dumps({"value": value.tolist(), "generated": generated}))
"""


def run_second_order(workdir: Path, cache_dir: Path, what: str) -> dict:
    path = os.pathsep.join([str(workdir), str(workdir.parent / "frozen")])
    env = dict(os.environ, SOURCEAD_CACHE_DIR=str(cache_dir), PYTHONPATH=path)
    env.pop("SOURCEAD_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", SECOND_ORDER_SCRIPT, what],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.slow  # about 25 s each: three processes compile
@pytest.mark.parametrize("what", ["hessian", "vmap_grad"])
def test_new_process_reuses_hessian_and_batched_gradient(tmp_path, frozen, what):
    work, store = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    (tmp_path / "frozen").symlink_to(frozen)
    (work / "usermod.py").write_text(SECOND_ORDER_MODULE)

    cold = run_second_order(work, store, what)
    assert cold["generated"] == ["f"]
    assert len(list(store.glob("*.py"))) == 1
    warm = run_second_order(work, store, what)
    assert warm["generated"] == []  # loaded from the cache: no transformation
    assert warm["value"] == cold["value"]

    # an edit of the function invalidates the entry
    (work / "usermod.py").write_text(SECOND_ORDER_MODULE.replace("* x[0]", "* x[1]"))
    edited = run_second_order(work, store, what)
    assert edited["generated"] == ["f"]
    assert edited["value"] != cold["value"]
    assert len(list(store.glob("*.py"))) == 2
