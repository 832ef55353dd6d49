"""``runtime/`` as a distribution of its own, ``sourcead-runtime``: its version is sourcead's,
it needs NumPy and Numba only, and built modules run where only it is installed."""

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import numpy as np
import pytest
import sourcead_runtime
from build_support import user_module

import sourcead
from sourcead.aot import cli

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime"


def _pyproject(path: Path) -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _literal_version(path: Path) -> str:
    """The ``__version__ = "..."`` literal of a version module, read without importing it."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no __version__ in {path}")


def test_the_runtime_has_the_version_of_sourcead():
    assert sourcead_runtime.__version__ == sourcead.__version__
    assert _literal_version(RUNTIME / "version.py") == _literal_version(
        ROOT / "sourcead" / "version.py"
    )
    # both distributions take their version from those modules, never from a literal
    top, runtime = _pyproject(ROOT / "pyproject.toml"), _pyproject(RUNTIME / "pyproject.toml")
    for project, attr in (
        (top, "sourcead.version.__version__"),
        (runtime, "sourcead_runtime.version.__version__"),
    ):
        assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
        assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": attr}


def test_the_runtime_distribution_needs_numpy_and_numba_only():
    runtime = _pyproject(RUNTIME / "pyproject.toml")
    assert runtime["project"]["name"] == "sourcead-runtime"
    names = {re.split(r"[<>=!~ \[]", d)[0] for d in runtime["project"]["dependencies"]}
    assert names == {"numpy", "numba"}
    assert runtime["tool"]["setuptools"]["package-dir"] == {"sourcead_runtime": "."}
    # sourcead still ships the same package, so that installing sourcead alone is enough
    top = _pyproject(ROOT / "pyproject.toml")
    assert "sourcead_runtime" in top["tool"]["setuptools"]["packages"]
    assert top["tool"]["setuptools"]["package-dir"]["sourcead_runtime"] == "runtime"


def _module_level_imports(tree: ast.Module):
    """The imports run when a module is imported (not those inside functions)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def test_runtime_modules_import_only_numpy_numba_and_the_standard_library():
    allowed = {"numpy", "numba", "__future__", *sys.stdlib_module_names}
    for path in sorted(RUNTIME.glob("*.py")):
        for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue  # the runtime's own modules
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
                # numba.cuda (numba-cuda) is optional: imported by the functions that launch
                assert not name.startswith("numba.cuda"), f"{path.name} imports {name}"


# --- built modules in a Python that has NumPy, Numba and the runtime only -----------------------
_COMPILER = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]

# Run by the new environment's Python in the directory of the built modules; prints JSON.
RUN_BUILT = textwrap.dedent(
    """
    import importlib, importlib.metadata, json, pkgutil, sys

    import numpy as np

    missing = []
    for name in ("sourcead", "gast", "scipy"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            missing.append(name)
    import sourcead_runtime
    for info in pkgutil.iter_modules(sourcead_runtime.__path__):
        importlib.import_module(f"sourcead_runtime.{info.name}")

    import flight_adjoint, flight_batched_parallel, energy_adjoint

    u = np.linspace(0.1, 1.0, 7)
    value, (du, dw) = energy_adjoint.energy_adjoint(u, np.array([0.5, 2.0]), 7)
    values, grads = flight_batched_parallel.flight_batched(
        np.array([20.0, 18.0, 22.0]), np.array([15.0, 16.0, 14.0]), 0.05
    )
    flight_value, flight_grads = flight_adjoint.flight_adjoint(20.0, 15.0, 0.05)
    results = {
        "flight": [flight_value, list(flight_grads)],
        "energy": [value, du.tolist(), dw.tolist()],
        "batched": [values.tolist(), [g.tolist() for g in grads]],
    }
    if NATIVE:
        import flight_adjoint_native
        results["native"] = flight_adjoint_native.flight_adjoint(20.0, 15.0, 0.05)[1]
    print(json.dumps({
        "missing": missing,
        "results": results,
        "runtime": [sourcead_runtime.__version__, importlib.metadata.version("sourcead-runtime")],
        "requires": importlib.metadata.requires("sourcead-runtime"),
        "loaded": sorted(m for m in ("scipy", "sourcead", "gast") if m in sys.modules),
        "runtime_file": sourcead_runtime.__file__,
    }))
    """
)


def _share_packages(site: Path, shared: Path, names: list[str]) -> None:
    """Make this interpreter's packages ``names`` (with their ``.libs`` folders and
    metadata) importable in the environment of ``site``, and nothing else of it: links in
    ``shared``, named by a ``.pth`` file in ``site``, so that nothing is downloaded."""
    shared.mkdir()
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        location = Path(
            spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin
        )
        found = [location, location.with_name(f"{name}.libs")]
        found += location.parent.glob(f"{name.replace('_', '-')}-*.dist-info")
        found += location.parent.glob(f"{name}-*.dist-info")
        for path in found:
            if path.exists() and not (shared / path.name).exists():
                (shared / path.name).symlink_to(path)
    (site / "shared_packages.pth").write_text(f"{shared}\n")


@pytest.mark.slow  # a new environment, compiles under Numba in it, and a native build
def test_built_modules_run_with_numpy_numba_and_the_runtime_only(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("building runtime/ needs setuptools>=77 (pip install -e '.[test]')")
    path = user_module(tmp_path, "runtime_only")
    out = tmp_path / "built"
    flight = [f"{path}:flight", "--wrt", "vx,vy,c", "-o", out]
    native = shutil.which(_COMPILER) is not None  # native builds need a C compiler
    argvs = [
        ["build", *flight, *(["--native"] if native else [])],
        ["build", *flight, "--vmap", "parallel", "--in-axes", "0,0,None"],
        ["build", f"{path}:energy", "--wrt", "u,w", "--types", "u:float64[:],w:float64[:],n:int"]
        + ["-o", out],
    ]
    try:
        for argv in argvs:
            assert cli.main([str(a) for a in argv]) == 0
        module = sys.modules[path.stem]
    finally:
        sys.modules.pop(path.stem, None)
    for name in ("flight_adjoint.py", "flight_batched_parallel.py"):  # tapes, batch_size
        assert "\nimport sourcead_runtime\n" in (out / name).read_text()  # checks the version

    # the environment: NumPy, Numba (with llvmlite) and pip and setuptools to install with
    environment = tmp_path / "env"
    venv.create(environment, with_pip=False, symlinks=os.name != "nt")
    python = environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    packages = ["numpy", "numba", "llvmlite", "pip", "setuptools", "_distutils_hack"]
    _share_packages(site, tmp_path / "shared", packages)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    source = tmp_path / "runtime-source"  # pip install ./runtime, from a copy of it
    shutil.copytree(
        RUNTIME, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    done = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", source],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    script = f"NATIVE = {native}\n" + RUN_BUILT
    done = subprocess.run(
        [python, "-c", script], env=env, cwd=out, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["missing"] == ["sourcead", "gast", "scipy"]
    assert report["loaded"] == []
    assert report["runtime"] == [sourcead.__version__, sourcead.__version__]
    required = {re.match(r"[\w.-]+", r).group() for r in report["requires"] if "extra" not in r}
    assert required == {"numpy", "numba"}
    assert Path(report["runtime_file"]).is_relative_to(site)  # the installed copy

    results = report["results"]
    value, grads = sourcead.value_and_grad(module.flight, wrt=(0, 1, 2))(20.0, 15.0, 0.05)
    assert results["flight"][0] == pytest.approx(value, rel=1e-13)
    assert results["flight"][1] == pytest.approx(list(grads), rel=1e-11)
    if native:
        assert results["native"] == pytest.approx(list(grads), rel=1e-11)
    u = np.linspace(0.1, 1.0, 7)
    value, (du, dw) = sourcead.value_and_grad(module.energy, wrt=(0, 1))(u, np.array([0.5, 2.0]), 7)
    assert results["energy"][0] == pytest.approx(value, rel=1e-13)
    assert results["energy"][1] == pytest.approx(du.tolist(), rel=1e-12)
    assert results["energy"][2] == pytest.approx(dw.tolist(), rel=1e-12)
    values, batched = results["batched"]
    for k, (vx, vy) in enumerate([(20.0, 15.0), (18.0, 16.0), (22.0, 14.0)]):
        value, grads = sourcead.value_and_grad(module.flight, wrt=(0, 1, 2))(vx, vy, 0.05)
        assert values[k] == pytest.approx(value, rel=1e-13)
        assert [g[k] for g in batched] == pytest.approx(list(grads), rel=1e-11)
