"""``sourcead build --check`` names what made a built module stale: the source of the
function, a function it calls, a constant, the options, the sourcead version."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from sourcead.aot import build, cli, native

MODEL = textwrap.dedent(
    """
    import math

    G = 9.81


    def helper(x):
        return x * x


    def other(x):
        return x + 1.0


    def loss(x, y):
        s = 0.0
        for i in range(3):
            s = s + math.sin(helper(x) * y) * G
        return s
    """
)


class Model:
    """MODEL in a module file of a unique name, built into ``out``; ``check`` and ``build``
    run the command line on it as a new process would (the module imported again)."""

    def __init__(self, root, capsys):
        self.name = f"checked_{os.getpid()}_{root.name}".replace("-", "_")
        self.path = root / f"{self.name}.py"
        self.path.write_text(MODEL)
        self.out = root / "built"
        self.capsys = capsys

    def build(self, *argv) -> int:
        sys.modules.pop(self.name, None)
        shutil.rmtree(self.path.parent / "__pycache__", ignore_errors=True)  # stale bytecode
        return cli.main(["build", f"{self.path}:loss", "-o", str(self.out), *map(str, argv)])

    def check(self, text: str | None = None, *options) -> tuple[int, str]:
        """Write ``text`` as the module (when given), run ``build --check``: (exit status,
        what it wrote on stderr)."""
        if text is not None:
            self.path.write_text(text)
        self.capsys.readouterr()
        status = self.build("--check", *options)
        return status, self.capsys.readouterr().err

    @property
    def built(self):
        return self.out / "loss_adjoint.py"


@pytest.fixture
def model(tmp_path, capsys):
    """MODEL, built."""
    made = Model(tmp_path, capsys)
    assert made.build() == 0
    yield made
    sys.modules.pop(made.name, None)


def _path_line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_unchanged_and_edits_that_change_no_code_are_not_stale(model):
    assert model.check() == (0, "")
    # another function and a comment at the end: the file's hash changes, the module does not
    text = MODEL.replace("return x + 1.0", "return x + 2.0") + "\n# a comment\n"
    assert model.check(text) == (0, "")


def test_the_source_of_the_function(model):
    status, err = model.check(MODEL.replace("* G\n", "* G * 2.0\n"))
    line = _path_line(MODEL, "def loss")
    assert status == 1
    assert err.startswith("stale: ") and "_adjoint.py no longer matches" in err
    assert "the source of loss (" in err and f".py:{line}) changed" in err
    assert "helper" not in err and "constant" not in err


def test_a_function_it_calls(model):
    status, err = model.check(MODEL.replace("return x * x", "return x * x * x"))
    line = _path_line(MODEL, "def helper")
    assert status == 1
    assert "the function it calls, helper (" in err and f".py:{line}), changed" in err
    assert "the source of loss" not in err


def test_a_new_callee(model):
    status, err = model.check(MODEL.replace("helper(x) * y", "helper(other(x)) * y"))
    assert status == 1
    assert "the source of loss" in err and "it now calls other (" in err


def test_a_constant(model):
    status, err = model.check(MODEL.replace("G = 9.81", "G = 9.5"))
    assert status == 1
    assert "the constant G (read by loss) changed" in err
    assert "source" not in err.split("matches", 1)[1]


def test_the_options(model):
    status, err = model.check(None, "--wrt", "x,y")
    assert status == 1 and "the options changed (wrt: x -> x,y)" in err
    status, err = model.check(None, "--types", "x:float32")
    assert status == 1 and "types: x:float64,y:float64 -> x:float32,y:float64" in err


def test_moved_lines(model):
    # a line above everything: the same code, on other lines (the generated comments name them)
    status, err = model.check("# a first line\n" + MODEL)
    first = _path_line(MODEL, "def loss")
    assert status == 1
    assert "loss moved from " in err and f".py:{first} to " in err and f".py:{first + 1}" in err
    assert "the function it calls, helper, moved from" in err
    # a comment inside the function moves the lines of its statements
    status, err = model.check(MODEL.replace("    s = 0.0\n", "    # start at zero\n    s = 0.0\n"))
    assert status == 1
    assert "loss (" in err and "has its statements on other lines" in err


def test_the_sourcead_version(model, monkeypatch):
    monkeypatch.setattr(build, "__version__", "99.0.0")
    status, err = model.check()
    version = cli.__version__
    assert status == 1 and f"built by sourcead {version}, this is 99.0.0" in err


def test_modules_edited_by_hand_or_built_before_fingerprints(model):
    built = model.built
    text = built.read_text()
    built.write_text(text.replace("# backward sweep", "# backward sweep!", 1))
    status, err = model.check()
    assert status == 1 and "edited by hand?" in err
    # a header without fingerprints (sourcead 0.1.0 wrote none): the old, general reason
    lines = [line for line in text.splitlines() if not line.startswith("# fingerprint: ")]
    built.write_text("\n".join(lines).replace("* G", "* G * 2.0") + "\n")
    status, err = model.check()
    assert status == 1 and "its source or a function it calls changed" in err
    built.write_text("print('hello')\n")
    status, err = model.check()
    assert status == 1 and "not written by sourcead build" in err


def test_header_records_each_part(model):
    parts = build._recorded_parts(model.built.read_text())
    kinds = [kind for kind, _ in parts]
    names = [name.partition(":")[2] for _, name in parts]
    assert kinds[:2] == ["function", "function"] and names[:2] == ["loss", "helper"]
    assert ("constant", "G") in zip(kinds, names, strict=True)
    assert "range" not in names and "math.sin" not in names  # library names are not parts
    assert kinds[-2:] == ["rules", "sourcead"]


# --- the runtime's version, checked by the built module when imported --------------------------
def test_built_module_refuses_another_runtime_version(model, tmp_path):
    built = model.built
    text = built.read_text()
    version = cli.__version__
    assert f"# runtime: sourcead-runtime {version}, checked when imported" in text
    # a stand-in runtime of another version, first on the path
    fake = tmp_path / "fake" / "sourcead_runtime"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "0.0.1"\n')
    script = f"import sys; sys.path[:0] = [{str(fake.parent)!r}, {str(built.parent)!r}]; import {built.stem}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: ")
    assert f"generated by sourcead {version} and needs sourcead-runtime {version}" in message
    assert "sourcead_runtime 0.0.1 is installed" in message
    assert f"pip install sourcead-runtime=={version}" in message and "./runtime" in message


def test_a_module_without_runtime_imports_has_no_check(tmp_path):
    path = tmp_path / f"plain_{os.getpid()}.py"
    path.write_text("def double(x):\n    return 2.0 * x\n")
    try:
        assert cli.main(["build", f"{path}:double", "-o", str(tmp_path / "out")]) == 0
    finally:
        sys.modules.pop(path.stem, None)
    text = (tmp_path / "out" / "double_adjoint.py").read_text()
    assert "sourcead_runtime" not in text.split('"""', 2)[2]  # the code after the docstring
    assert "# runtime: none" in text


# --- numba.pycc: imported in one module, a clear error where it is gone ------------------------
def test_numba_pycc_is_imported_in_one_module_only():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    importers = set()
    for path in [*(root / "sourcead").rglob("*.py"), *(root / "runtime").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "numba.pycc" or n.startswith("numba.pycc.") for n in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"sourcead/aot/native.py"}


def test_without_numba_pycc_native_builds_fail_clearly(model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "numba.pycc", None)  # as in a Numba that dropped it
    with pytest.raises(build.SourceADError) as info:
        native.pycc_compiler()
    assert "has no numba.pycc" in str(info.value)
    before = model.built.read_text()
    capsys.readouterr()
    assert model.build("--native") == 1
    err = capsys.readouterr().err
    assert "SourceADError: the installed Numba" in err and "has no numba.pycc" in err
    assert "modules built without --native" in err and "run under Numba as before" in err
    assert "Traceback" not in err
    assert model.built.read_text() == before  # nothing written: the plain module kept
    assert not list(model.out.glob("*_native*"))


def test_without_numba_pycc_cache_native_fails_clearly(tmp_path, monkeypatch, capsys):
    import importlib

    import sourcead

    monkeypatch.setenv("SOURCEAD_CACHE_DIR", str(tmp_path / "cache"))
    name = f"recorded_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text("def square(x):\n    return x * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module(name)
        assert sourcead.grad(module.square)(3.0) == 6.0  # recorded for the native tier
        monkeypatch.setitem(sys.modules, "numba.pycc", None)
        capsys.readouterr()
        assert cli.main(["cache", "native"]) == 1
    finally:
        sys.modules.pop(name, None)
    err = capsys.readouterr().err
    assert "has no numba.pycc" in err and "grad() with its cache, run under Numba" in err
    assert "Traceback" not in err
