"""``sourcead build --native``: extensions compiled ahead of time, imported with NumPy only."""

import json
import os
import shutil
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
from build_support import run_script, script_without, user_module
from helpers import numerical_grad

import sourcead
from sourcead.aot import cli, native

_COMPILER = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
pytestmark = [
    pytest.mark.skipif(shutil.which(_COMPILER) is None, reason="a native build needs a C compiler"),
    pytest.mark.slow,  # numba.pycc builds take minutes: CI runs them (-m slow)
]

# Run in a fresh process where Numba, gast and sourcead cannot be imported: prints the
# results of the native modules' calls as JSON.
NATIVE_RUN = script_without(
    "numba", "gast", "sourcead", "sourcead_runtime", "llvmlite"
) + textwrap.dedent(
    """
    import energy_adjoint_native, flight_adjoint_native, flight_forward_native

    u = np.linspace(0.1, 1.0, 7)
    results = {
        "flight": flight_adjoint_native.flight_adjoint(20.0, 15, 0.05),
        "flight_tangent": flight_forward_native.flight_tangent(20.0, 15.0, 0.05, 1.0),
        "energy": energy_adjoint_native.energy_adjoint(u[::-1][::-1], [0.5, 2], 7),
        "strided": energy_adjoint_native.energy_adjoint(np.repeat(u, 2)[::2], [0.5, 2.0], 7),
    }
    errors = []
    for bad in (np.ones((2, 2)), np.ones(7, complex), list("abcdefg")):
        try:
            energy_adjoint_native.energy_adjoint(bad, [0.5, 2.0], 7)
        except TypeError as exc:
            errors.append(str(exc))
    try:
        flight_adjoint_native.flight_adjoint(20.0, 15.0, True)
    except TypeError as exc:
        errors.append(str(exc))
    try:
        energy_adjoint_native.energy_adjoint(u, [0.5, 2.0], 7.0)
    except TypeError as exc:
        errors.append(str(exc))
    before = u.copy()
    energy_adjoint_native.energy_adjoint(u, np.array([0.5, 2.0]), 7)
    unchanged = bool(np.array_equal(u, before))

    print(json.dumps({
        "results": {k: plain(v) for k, v in results.items()},
        "errors": errors,
        "unchanged": unchanged,
        "loaded": sorted(m for m in ("numba", "gast", "sourcead") if sys.modules.get(m)),
    }))
    """
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The user module built natively: flight (reverse and forward) and energy (reverse)."""
    root = tmp_path_factory.mktemp("native")
    path = user_module(root, "nativetarget")
    name = path.stem
    out = root / "built"
    types = "u:float64[:],w:float64[:],n:int"
    argvs = [
        ("build", f"{path}:flight", "--wrt", "vx,vy,c", "-o", out, "--native"),
        ("build", f"{path}:flight", "--wrt", "c", "--mode", "forward", "-o", out, "--native"),
        ("build", f"{path}:energy", "--wrt", "u,w", "--types", types, "-o", out, "--native"),
    ]
    try:
        for argv in argvs:
            assert cli.main([str(a) for a in argv]) == 0
        yield path, out, sys.modules[name]
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def report(built):
    """What NATIVE_RUN printed, run in the directory of the built modules."""
    return json.loads(run_script(NATIVE_RUN, built[1]))


def test_native_modules_import_with_numpy_only_and_match_grad(built, report):
    module = built[2]
    assert report["loaded"] == []
    results = report["results"]

    value, grads = sourcead.value_and_grad(module.flight, wrt=(0, 1, 2))(20.0, 15.0, 0.05)
    assert results["flight"][0] == pytest.approx(value, rel=1e-13)
    assert results["flight"][1] == pytest.approx(list(grads), rel=1e-11)
    assert results["flight"][1] == pytest.approx(
        numerical_grad(module.flight, (20.0, 15.0, 0.05), wrt=(0, 1, 2)), rel=1e-5
    )
    _, tangent = sourcead.jvp(module.flight, (20.0, 15.0, 0.05), (None, None, 1.0))
    assert results["flight_tangent"][1] == pytest.approx(tangent, rel=1e-11)

    u, w = np.linspace(0.1, 1.0, 7), np.array([0.5, 2.0])
    value, (g_u, g_w) = sourcead.value_and_grad(module.energy, wrt=(0, 1))(u, w, 7)
    for key in ("energy", "strided"):  # a list and a strided array are taken too
        assert results[key][0] == pytest.approx(value, rel=1e-13)
        assert results[key][1][0] == pytest.approx(g_u.tolist(), rel=1e-12)
        assert results[key][1][1] == pytest.approx(g_w.tolist(), rel=1e-12)
    assert report["unchanged"]


def test_native_module_refuses_arguments_of_other_types(report):
    assert report["errors"] == [
        "u must have 1 dimension(s), not 2",
        "u must be an array of float64, not of complex128",
        "u must be an array of float64, not of <U1",
        "c must be a real number, not bool",
        "n must be an integer, not float",
    ]


def test_native_build_is_checked_and_removed_with_its_module(built, capsys):
    path, out, _ = built
    argv = ["build", f"{path}:flight", "--wrt", "vx,vy,c", "-o", str(out)]
    assert cli.main([*argv, "--native", "--check"]) == 0
    module_path = out / "flight_adjoint.py"
    extension = native.extension_path(module_path)
    original = extension.read_bytes()
    try:
        extension.write_bytes(original + b"\0")
        capsys.readouterr()
        assert cli.main([*argv, "--native", "--check"]) == 1
        assert "is not the extension flight_adjoint_native.py was built with" in (
            capsys.readouterr().err
        )
    finally:
        extension.write_bytes(original)
    wrapper = native.wrapper_path(module_path)
    text = wrapper.read_text()
    wrapper.write_text(
        text.replace(
            "# compiled from: flight_adjoint.py sha256=",
            "# compiled from: flight_adjoint.py sha256=0",
        )
    )
    assert cli.main([*argv, "--native", "--check"]) == 1
    assert "was compiled from another flight_adjoint.py" in capsys.readouterr().err
    wrapper.write_text(text)
    assert cli.main([*argv, "--native", "--check"]) == 0


def test_a_plain_build_removes_the_native_build_it_replaces(tmp_path, built):
    path, out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert cli.main(["build", f"{path}:energy", "--wrt", "u,w", "-o", str(copy)]) == 0
    assert not native.wrapper_path(copy / "energy_adjoint.py").exists()
    assert not native.extension_path(copy / "energy_adjoint.py").exists()
    assert cli.main(["build", f"{path}:energy", "--wrt", "u,w", "-o", str(copy), "--check"]) == 0


def test_native_build_without_a_c_compiler_is_one_clear_error(built, monkeypatch, capsys):
    path, _, _ = built
    monkeypatch.setenv("CC", "no-such-c-compiler")
    out = path.parent / "no_compiler"
    argv = ["build", f"{path}:flight", "--wrt", "c", "-o", str(out), "--native"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "--native needs a C compiler" in err and "no-such-c-compiler" in err
    assert "Traceback" not in err
    assert not native.wrapper_path(out / "flight_adjoint.py").exists()


def test_target_cpu_needs_native(built, capsys):
    path, out, _ = built
    argv = ["build", f"{path}:flight", "-o", str(out), "--target-cpu", "host"]
    assert cli.main(argv) == 1
    assert "--target-cpu goes with --native" in capsys.readouterr().err
