"""The native tier of the persistent cache: ``sourcead cache native``, and ``grad`` in a later
process calling the compiled extension without Numba or the compiler, or falling back to the
compiler whenever anything the gradient depends on has changed."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time

import numpy as np
import pytest
from build_support import PROGRAMS, run_script

# one worker runs the whole module: its module-scoped build is made once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("native-cache")

_COMPILER = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
needs_compiler = pytest.mark.skipif(
    shutil.which(_COMPILER) is None, reason="the native tier needs a C compiler"
)

# PROGRAMS (flight, energy, ...) and functions calling others, reading a global, with a
# default argument, or made by a closure
USER = PROGRAMS + textwrap.dedent(
    """
    SCALE = 2.0


    def helper(a, b):
        return a * math.sin(b)


    def spring(u, w):
        s = 0.0
        for i in range(u.shape[0]):
            s = s + helper(w[i], u[i]) * u[i]
        return SCALE * s + np.sum(u * u)


    def launch(vx, vy, c=0.05):
        return flight(vx, vy, c)


    def scaled(k):
        def inner(x):
            return k * x * x

        return inner
    """
)

# Computes the gradients; prints what grad returned and the results as JSON. BLOCKED names
# the packages that cannot be imported (a native call must not need them).
SCRIPT = textwrap.dedent(
    """
    import json, sys
    for name in BLOCKED:
        sys.modules[name] = None
    import numpy as np
    import sourcead
    import user

    u = np.linspace(0.1, 1.0, 7)
    w = np.linspace(1.0, 2.0, 7)
    spring = sourcead.value_and_grad(user.spring, wrt=(0, 1))
    launch = sourcead.grad(user.launch, wrt=(0, 1, 2))
    launch_vx = sourcead.grad(user.launch)
    value, (gu, gw) = spring(u, w)
    results = {
        "spring": [value, gu.tolist(), gw.tolist()],
        "strided": spring(np.repeat(u, 2)[::2], w)[1][0].tolist(),
        "launch": list(launch(20.0, 15.0)),
        "launch_vx": launch_vx(20.0, 15.0, 0.05),
    }
    kinds = [type(g).__name__ for g in (spring, launch, launch_vx)]
    if EXTRA:  # calls the native tier has not compiled
        results["closure"] = sourcead.grad(user.scaled(3.0))(2.0)
        results["float32"] = list(launch(20.0, 15.0, np.float32(0.05)))
        results["second"] = sourcead.grad(launch_vx)(20.0, 15.0, 0.05)
    loaded = [m for m in ("numba", "gast", "sourcead.api.gradients", "sourcead_runtime") if sys.modules.get(m)]
    source = spring.source if "numba" not in loaded else ""
    print(json.dumps({"results": results, "kinds": kinds, "loaded": loaded, "source": source}))
    """
)

NATIVE_BLOCKED = ("numba", "llvmlite", "gast", "sourcead.api.gradients")


def _env(cache_dir, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCEAD_")}
    # compiled at the first call: a process records its gradient then (in the background,
    # once compiled). No .pyc of user.py: an edit within the same second could otherwise
    # reuse a stale one.
    return dict(
        env,
        SOURCEAD_CACHE_DIR=str(cache_dir),
        SOURCEAD_COMPILE="true",
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )


def _run(workdir, env, blocked=(), prelude="", extra=False) -> dict:
    script = f"BLOCKED = {blocked!r}\nEXTRA = {extra!r}\n{prelude}\n{SCRIPT}"
    return json.loads(run_script(script, workdir, env=env).strip().splitlines()[-1])


def _sourcead(env, workdir, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sourcead", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _flat(value) -> list[float]:
    return [x for v in value for x in _flat(v)] if isinstance(value, list) else [value]


def _assert_close(a, b, rtol=1e-12):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-14)


@pytest.mark.slow  # builds native extensions: CI's slow group
def test_recorded_gradients_load_without_the_compiler(tmp_path):
    """Before any ``cache native``, a warm grad loads the cached module under Numba without
    importing gast or the compiler; a changed function still goes to the compiler."""
    (tmp_path / "user.py").write_text(USER)
    env = _env(tmp_path / "cache")
    cold = _run(tmp_path, env)
    warm = _run(tmp_path, env, blocked=("gast", "sourcead.api.gradients"))
    assert warm["kinds"] == ["CachedGradient"] * 3
    assert warm["loaded"] == ["numba", "sourcead_runtime"]
    for name in ("spring", "strided", "launch", "launch_vx"):
        _assert_close(_flat(warm["results"][name]), _flat(cold["results"][name]))
    user = tmp_path / "user.py"
    user.write_text(USER.replace("SCALE = 2.0", "SCALE = 3.0"))
    edited = _run(tmp_path, env)
    assert edited["kinds"][0] == "GradientFunction"
    assert not np.allclose(edited["results"]["spring"][1], cold["results"]["spring"][1])


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A user module, a cold run that fills the cache, and ``sourcead cache native``."""
    workdir = tmp_path_factory.mktemp("native-tier")
    (workdir / "user.py").write_text(USER)
    env = _env(workdir / "cache")
    cold = _run(workdir, env)
    done = _sourcead(env, workdir, "cache", "native")
    return workdir, env, cold, done


def test_import_is_light():
    code = "import sys, sourcead; print(sorted(m for m in ('numba', 'gast') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow  # compiles native extensions (a C compiler): CI runs it (-m slow)
@needs_compiler
def test_native_tier_runs_without_numba(populated):
    workdir, env, cold, done = populated
    assert cold["kinds"] == ["GradientFunction"] * 3
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 compiled now, 3 in all" in done.stdout, done.stdout
    assert "user.spring(float64[1], float64[1]): compiled" in done.stdout
    assert "user.launch(float64, float64, float64): compiled" in done.stdout  # default filled

    warm = _run(workdir, env, blocked=NATIVE_BLOCKED)
    assert warm["kinds"] == ["CachedGradient"] * 3
    assert warm["loaded"] == []
    for name in ("spring", "strided", "launch", "launch_vx"):
        _assert_close(_flat(warm["results"][name]), _flat(cold["results"][name]))
    assert "def spring_adjoint(" in warm["source"]

    again = _sourcead(env, workdir, "cache", "native")
    assert "0 compiled now" in again.stdout and "up to date" in again.stdout
    info = _sourcead(env, workdir, "cache", "info")
    assert "native tier:" in info.stdout


@pytest.mark.slow  # compiles native extensions (a C compiler): CI runs it (-m slow)
@needs_compiler
def test_other_calls_go_to_the_compiler(populated, tmp_path):
    """Argument types that were not compiled, grad of a native gradient, closures."""
    workdir, env, _, _ = populated
    fresh = _run(workdir, _env(tmp_path / "empty-cache"), extra=True)
    warm = _run(workdir, env, extra=True)
    assert warm["kinds"] == ["CachedGradient"] * 3
    for name in ("closure", "float32", "second"):
        _assert_close(warm["results"][name], fresh["results"][name])
    assert warm["results"]["closure"] == 12.0


@contextlib.contextmanager
def _edited(workdir, tmp_path, old: str, new: str):
    """user.py of the populated workdir with ``old`` replaced by ``new`` (at the same path:
    the file is part of what identifies a function), and an env whose cache is a copy of
    the populated one (so the shared cache is not changed). user.py is restored after."""
    path = workdir / "user.py"
    text = path.read_text()
    assert old in text
    cache_copy = tmp_path / "cache"
    shutil.copytree(workdir / "cache", cache_copy)
    env = _env(cache_copy)
    assert _run(workdir, env)["kinds"] == ["CachedGradient"] * 3  # before the edit
    path.write_text(text.replace(old, new))
    try:
        yield env
    finally:
        path.write_text(text)


@needs_compiler
@pytest.mark.slow  # the populated cache's native build (a C compiler): CI runs it (-m slow)
@pytest.mark.parametrize(
    "old, new, changes_value",
    [
        ("SCALE = 2.0", "SCALE = 3.0", True),  # a global the function reads
        ("return a * math.sin(b)", "return a * math.cos(b)", True),  # a function it calls
        ("import math\n", "import math\n\n# every function moves down a line\n", False),
    ],
    ids=["global", "callee", "moved"],
)
def test_a_changed_dependency_is_never_used(populated, tmp_path, old, new, changes_value):
    workdir, _, cold, _ = populated
    with _edited(workdir, tmp_path, old, new) as env:
        warm = _run(workdir, env)
        fresh = _run(workdir, _env(tmp_path / "empty-cache"))  # the edited program's truth
    assert warm["kinds"][0] == "GradientFunction"
    assert "numba" in warm["loaded"]
    _assert_close(warm["results"]["spring"][1], fresh["results"]["spring"][1])
    changed = not np.allclose(warm["results"]["spring"][1], cold["results"]["spring"][1])
    assert changed == changes_value


@needs_compiler
@pytest.mark.slow  # the populated cache's native build (a C compiler): CI runs it (-m slow)
def test_custom_rules_and_damaged_records_go_to_the_compiler(populated, tmp_path):
    workdir, _, cold, _ = populated
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "user_rules.py").write_text(
        textwrap.dedent(
            """
            import sourcead


            def softsign(x):
                return x / (1.0 + abs(x))


            @sourcead.adjoint(softsign)
            def softsign_adjoint(b, x):
                return b / (1.0 + abs(x)) ** 2
            """
        )
    )
    with _edited(workdir, tmp_path, "SCALE = 2.0", "SCALE = 2.0") as env:
        prelude = f"import sys\nsys.path.append({str(rules)!r})\nimport user_rules"
        with_rule = _run(workdir, env, prelude=prelude)
        assert with_rule["kinds"] == ["GradientFunction"] * 3
        _assert_close(with_rule["results"]["launch"], cold["results"]["launch"])

        records = list((tmp_path / "cache" / "native").glob("*/function.json"))
        for record in records:
            record.write_text("{not json")
        damaged = _run(workdir, env)
        assert damaged["kinds"] == ["GradientFunction"] * 3
        _assert_close(damaged["results"]["launch"], cold["results"]["launch"])
        assert all(json.loads(record.read_text()) for record in records)  # recorded anew

        for record in records:
            record.write_text("{not json")
        done = _sourcead(env, workdir, "cache", "native")
        assert "dropped" in done.stdout and done.returncode == 0
        assert not list((tmp_path / "cache" / "native").iterdir())  # their builds too
        cleared = _sourcead(env, workdir, "cache", "clear")
        assert cleared.returncode == 0 and not (tmp_path / "cache" / "native").exists()
        refused = _sourcead(env, workdir, "cache", "info", "--target-cpu", "host")
        assert refused.returncode != 0 and "--target-cpu goes with" in refused.stderr


@pytest.mark.slow  # compiles native extensions (a C compiler): CI runs it (-m slow)
@needs_compiler
def test_background_compilation(tmp_path):
    (tmp_path / "user.py").write_text(USER)
    env = _env(tmp_path / "cache", SOURCEAD_NATIVE_CACHE="background")
    cold = _run(tmp_path, env)
    records = tmp_path / "cache" / "native"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        compiled = [
            r for r in records.glob("*/sig-*.json") if json.loads(r.read_text()).get("native")
        ]
        pending = list(records.glob("*/*.compiling"))
        if len(compiled) >= 3 and not pending:
            break
        time.sleep(0.5)
    warm = _run(tmp_path, _env(tmp_path / "cache"), blocked=NATIVE_BLOCKED)
    assert warm["kinds"] == ["CachedGradient"] * 3
    _assert_close(warm["results"]["launch"], cold["results"]["launch"])


def test_builds_no_record_names_are_removed(tmp_path):
    from sourcead.aot import native_tier

    folder = tmp_path / "function"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "sig-1.json").write_text(json.dumps({"entry": "f_adjoint_aaa.py"}))
    kept = ["f_adjoint_aaa.py", "f_adjoint_aaa_native.py", "_f_adjoint_aaa_native.so"]
    kept += ["__pycache__/f_adjoint_aaa.f-1.py311.nbi", ".tmp-being-written.py"]
    stale = ["f_adjoint_bbb.py", "_f_adjoint_bbb_native.so", "__pycache__/f_adjoint_bbb.f.nbi"]
    for name in kept + stale:
        (folder / name).write_text("")
    native_tier._remove_unrecorded(folder)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(
        kept + ["sig-1.json"]
    )
    (folder / "sig-1.json").unlink()
    native_tier._remove_unrecorded(folder)
    assert not folder.exists()
