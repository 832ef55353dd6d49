"""``sourcead_runtime`` loads its submodules on first use: the table of which submodule exports
which name (runtime/exports.py) names what the submodules define, and importing the package,
or a helper, imports only what is needed."""

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap

import sourcead_runtime
from sourcead_runtime import exports

#: Submodules the package does not export from: imported by their dotted names where needed
#: (vmap and built kernels: batching, cuda_launch, device_pool), or the package's own parts.
NOT_EXPORTED = {"allocator", "batching", "cuda_launch", "device_pool", "exports", "overloads"}
NOT_EXPORTED |= {"version"}

#: What ``import sourcead_runtime`` itself imports of the package.
EAGER = {"sourcead_runtime", "sourcead_runtime.allocator", "sourcead_runtime.exports"}
EAGER |= {"sourcead_runtime.version"}


def _submodules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(sourcead_runtime.__path__))


def _fresh(code: str) -> dict:
    """What ``code`` (which sets ``result``) finds in a fresh interpreter, as JSON."""
    script = textwrap.dedent(code) + "\nimport json; print(json.dumps(result))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_table_names_what_each_submodule_defines():
    for module, names in exports.EXPORTS.items():
        loaded = importlib.import_module(f"sourcead_runtime.{module}")
        missing = [n for n in names if not hasattr(loaded, n)]
        assert not missing, f"runtime/exports.py: {module}.py has no {missing}"
        if module in ("ode", "solvers"):  # templates; only the solver helpers are exported
            assert not hasattr(loaded, "__all__"), f"{module}.py got an __all__: use the table"
        else:
            assert list(loaded.__all__) == list(names), f"{module}.__all__ is not its table list"
    solver_names = [*exports.EXPORTS["ode"], *exports.EXPORTS["solvers"]]
    assert sorted(solver_names) == sorted(sourcead_runtime.SOLVER_HELPERS)


def test_every_submodule_is_in_the_table_or_known_not_exported():
    unknown = set(_submodules()) - set(exports.EXPORTS) - NOT_EXPORTED
    assert not unknown, f"add the exports of {sorted(unknown)} to runtime/exports.py"


def test_no_name_is_exported_twice():
    names = [*sourcead_runtime._OWN, *(n for ns in exports.EXPORTS.values() for n in ns)]
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, twice
    # an exported name that is also a submodule's would be hidden whenever that one is imported
    assert not set(names) & set(_submodules())


def test_the_package_exports_every_name_of_its_submodules():
    expected = [*sourcead_runtime._OWN, *(n for ns in exports.EXPORTS.values() for n in ns)]
    assert sorted(sourcead_runtime.__all__) == sorted(expected)
    for module, names in exports.EXPORTS.items():
        loaded = importlib.import_module(f"sourcead_runtime.{module}")
        for name in names:
            assert getattr(sourcead_runtime, name) is getattr(loaded, name), name
    assert set(expected) <= set(dir(sourcead_runtime))
    star: dict = {}
    exec("from sourcead_runtime import *", star)
    assert set(star) - {"__builtins__"} == set(expected)


def test_importing_the_package_imports_no_submodule_of_helpers():
    result = _fresh(
        """
        import sys
        import sourcead_runtime
        from sourcead_runtime import new_tape, reserve, SOLVER_HELPERS
        names = dir(sourcead_runtime)
        result = sorted(m for m in sys.modules if m.startswith("sourcead_runtime"))
        """
    )
    assert set(result) == EAGER


def test_a_helper_imports_its_own_submodule_only():
    result = _fresh(
        """
        import sys
        from sourcead_runtime import max_along, pop_array
        import sourcead_runtime
        result = {
            "modules": sorted(m for m in sys.modules if m.startswith("sourcead_runtime")),
            "bound": "max_along" in vars(sourcead_runtime),
            "linalg": sourcead_runtime.linalg.__name__,
        }
        """
    )
    # reductions imports overloads; arrays imports tensor (matmul_stack_adjoint)
    loaded = {"reductions", "overloads", "arrays", "tensor"}
    assert set(result["modules"]) == EAGER | {f"sourcead_runtime.{m}" for m in loaded}
    assert result["bound"]  # later reads are plain attribute reads
    assert result["linalg"] == "sourcead_runtime.linalg"


def test_threads_loading_helpers_at_once_each_get_theirs():
    result = _fresh(
        """
        import threading
        import sourcead_runtime
        from sourcead_runtime import exports

        names = [n for ns in exports.EXPORTS.values() for n in ns]
        found = {}
        barrier = threading.Barrier(8)

        def read(part):
            barrier.wait()
            for name in names[part::8]:
                found[name] = getattr(sourcead_runtime, name) is getattr(
                    sys.modules[f"sourcead_runtime.{home[name]}"], name
                )

        import sys
        home = {n: m for m, ns in exports.EXPORTS.items() for n in ns}
        threads = [threading.Thread(target=read, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = [len(names), sorted(n for n, same in found.items() if same)]
        """
    )
    count, right = result
    assert len(right) == count


def test_an_unknown_name_is_an_attribute_error():
    for name in ("no_such_helper", "_private", "__wrapped__"):
        assert not hasattr(sourcead_runtime, name)
