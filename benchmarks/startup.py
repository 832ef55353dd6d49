"""Time from process start to the first gradient: cold, warm (persistent cache) and built ahead of time.

Run from the repository root::

    python benchmarks/startup.py                        # both tables below
    python benchmarks/startup.py --quick                # 1 process per row; 3 first-call rows
    python benchmarks/startup.py --tables first --rows gmm,trg
    python benchmarks/startup.py --jax-python /path/to/jax-venv/bin/python
    python benchmarks/startup.py --aot-python /path/to/venv/bin/python
    python benchmarks/startup.py --native-python /path/to/numpy-only-venv/bin/python

**The first-call table** (``--tables first``): eleven programs (``FIRST_CALLS``: loops, whole
arrays, linear algebra, solvers, forward mode, ``vmap``, ``hessian``, ``sourcead build
--native``), each in a module of its own as in a user's package (copied from
``benchmarks/loops.py``, ``benchmarks/arrays.py``, ``examples/`` or
``benchmarks/startup_programs.py``). Per row, one fresh process with empty sourcead and
Numba caches that compiles at the first call (``SOURCEAD_COMPILE=true``; **cold**: wall time
from before the process starts to the result, and the CPU time of the process), one more
with the caches it filled (**warm**), one more cold process with ``SOURCEAD_TIMINGS=1`` that
reports the time of each stage of the derivatives it made (sourcead's passes, Numba's
initialisation, typing, lowering, LLVM; see ``sourcead/backends/cpu/timings.py``), and one
cold process with the default, ``compile="background"`` (**default**: the first call runs
as NumPy while Numba compiles in another process). One process each: a cold start cannot be repeated in
a process. Where JAX is installed (here, or in ``--jax-python``), the same derivative with
``jax.jit`` (``benchmarks/startup_jax.py``) in a fresh process beside it.

**The AOT tables** (``--tables aot``), of the projectile and the GMM: each row starts new
Python processes and measures, from just before the process is started to just after the
first gradient is returned (interpreter start, imports, transformation, Numba compilation
or cache loading, the call itself), the median over the processes:

* **cold**: empty sourcead cache and empty Numba cache (as right after installation);
* **warm**: the same caches, filled by the cold process (a later run of the same program);
* **warm, native tier**: as warm, after ``sourcead cache native`` compiled the cached
  gradient into the cache's native tier (run once, not timed): ``grad`` calls the
  extension without importing Numba or the compiler (the row says whether Numba was
  imported);
* **AOT, first import**: a module written by ``sourcead build``, imported with the compiler
  blocked (``sourcead`` and ``gast`` cannot be imported); Numba compiles it (cache=True);
* **AOT**: the same module in a later process, Numba's machine code cached beside it;
* **AOT in an environment without gast**: as AOT, in a virtual environment holding only
  numpy, numba, scipy (Numba's BLAS for ``@``) and ``sourcead_runtime`` (``--aot-python``;
  ``--make-venv DIR`` creates one: ``python -m venv DIR``, ``pip install numpy numba scipy``,
  ``pip install --no-deps .``, so the compiler is there but cannot import without gast);
* **AOT native**: a module written by ``sourcead build --native``: its entry compiled ahead
  of time into an extension module, imported with Numba, llvmlite, ``sourcead_runtime`` and
  the compiler all blocked (NumPy only; SciPy too where the code calls BLAS); with
  ``--native-python``, also in an environment where Numba is not installed
  (``python -m venv DIR && DIR/bin/pip install numpy``, plus scipy for the GMM's BLAS);
* **floor**: ``import numba`` and the first call of a ``numba.njit(cache=True)`` function
  whose machine code is cached: what any Numba program pays at start; and ``import numpy``,
  the floor of a native build.

The child processes import a copy of the package taken at the start of the run (so that an
edit of the working tree meanwhile cannot change the cache key between a cold and a warm
process). Problems: the projectile of ``benchmarks/loops.py`` and the vectorised GMM objective of
``benchmarks/arrays.py`` (d=10, K=25, n=1000), each copied alone into a module of its own, as
in a user's package (the benchmark scripts themselves import Numba and the baselines). The
script prints Markdown tables.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@dataclass
class Problem:
    name: str
    module: str  # the user's module the child processes import, written by user_module()
    function: str
    wrt: tuple[int, ...]
    setup: str  # Python statements defining `args` (numpy imported as np)
    types: str = ""  # --types for `sourcead build` (default: the assumed ones)
    source: tuple[str, str] = ("", "")  # (benchmark module, its lines above the function)


PROJECTILE = Problem(
    "projectile (20,000 steps) wrt (vx, vy, c)",
    "user_projectile",
    "loss",
    (0, 1, 2),
    "args = (20.0, 15.0, 0.05)",
    source=("loops", "import math\n"),
)


def user_module(p: Problem, directory: Path) -> Path:
    """The problem's function alone in a module of its own, as in a user's package: the
    benchmark scripts it comes from import Numba and the baselines, which a program that
    only calls the function would not."""
    module_name, preamble = p.source
    text = (HERE / f"{module_name}.py").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {p.function}("))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip() and lines[i][0] not in " #"),
        len(lines),
    )
    path = directory / f"{p.module}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'"""{p.name}"""\n\n{preamble}\n\n' + "".join(lines[start:end]))
    return path


GMM_ARGS = """
rng = np.random.default_rng(0)  # the inputs of arrays.gmm_inputs(10, 25, 1000)
k, d, n = 25, 10, 1000
args = (
    rng.normal(size=k),
    rng.random((k, d)),
    rng.normal(scale=0.1, size=(k, d + d * (d - 1) // 2)),
    rng.random((n, d)),
    1.0,
    0.0,
)
"""


def gmm_problem() -> Problem | None:
    """The vectorised GMM objective of benchmarks/arrays.py (d=10, K=25, n=1000)."""
    path = HERE / "arrays.py"
    if not path.is_file() or "def gmm_vectorised(" not in path.read_text():
        return None
    return Problem(
        "GMM d=10, K=25, n=1000 (vectorised) wrt (alphas, means, icf)",
        "user_gmm",
        "gmm_vectorised",
        (0, 1, 2),
        GMM_ARGS,
        "alphas:float64[:],means:float64[:,:],icf:float64[:,:],x:float64[:,:],gamma:float,m:float",
        ("arrays", "import math\n\nimport numpy as np\n\nLOG_2PI = math.log(2.0 * math.pi)"),
    )


PRELUDE = "import time, json, sys\n"
REPORT = (
    "print('RESULT ' + json.dumps({'done': time.time(), 'numba': 'numba' in sys.modules, "
    "'grad': [float(v) for g in grads for v in np.ravel(g)]}))\n"
)


def grad_script(p: Problem) -> str:
    return (
        PRELUDE
        + "import numpy as np\nimport sourcead\n"
        + f"import {p.module}\n{p.setup}\n"
        + f"_, grads = sourcead.value_and_grad({p.module}.{p.function}, wrt={p.wrt!r})(*args)\n"
        + REPORT
    )


def aot_script(p: Problem, module: str, block: bool, native: bool = False) -> str:
    """Import the built module (``native``: its compiled extension, through the module
    ``sourcead build --native`` writes) and call it. ``block``: the compiler cannot be imported
    (nor Numba, for a native build)."""
    blocked = ["sourcead", "gast"] + (["numba", "llvmlite", "sourcead_runtime"] if native else [])
    blocker = "".join(f"sys.modules[{name!r}] = None\n" for name in blocked) if block else ""
    setup = p.setup.replace(f"import {p.module}\n", "")
    imported = f"{module}_native" if native else module
    return (
        PRELUDE
        + blocker
        + "import numpy as np\n"
        + f"{setup}\nimport {imported}\n"
        + f"_, grads = {imported}.{p.function}_adjoint(*args)\n"
        + REPORT
    )


FLOOR_SCRIPT = (
    PRELUDE
    + "import numpy as np\nimport numba\nimport floor_module\nfloor_module.f(1.0)\n"
    + "grads = [np.zeros(1)]\n"
    + REPORT
)
NUMPY_FLOOR_SCRIPT = PRELUDE + "import numpy as np\ngrads = [np.zeros(1)]\n" + REPORT
FLOOR_MODULE = """
import numba


@numba.njit(cache=True)
def f(x):
    s = 0.0
    for i in range(100):
        s += x * i
    return s
"""


def run(python: str, script: str, env: dict, cwd: Path) -> dict:
    start = time.time()
    done = subprocess.run(
        [python, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["seconds"] = result["done"] - start
            return result
    raise RuntimeError(f"child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def snapshot(tmp: Path) -> Path:
    """A frozen copy of the package (``sourcead`` and ``sourcead_runtime``) that the child
    processes import: an edit of the working tree during the run would change the cache key
    (which covers sourcead's own source) between a cold and a warm process.

    Compiled to bytecode, as ``pip install`` leaves a package (and as JAX, NumPy and Numba
    are here): where ``PYTHONDONTWRITEBYTECODE`` is set, every child process compiled
    sourcead's modules from source otherwise, 0.3 s of a warm ``vmap(grad)``'s start."""
    frozen = tmp / "frozen"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "sourcead", frozen / "sourcead", ignore=ignore)
    shutil.copytree(REPO / "runtime", frozen / "sourcead_runtime", ignore=ignore)
    compileall.compile_dir(frozen, quiet=1)
    return frozen


def environment(tmp: Path, extra_path: list[Path], label: str, isolated: bool = False) -> dict:
    """A child's environment: its own caches, and derivatives compiled at their first call
    (``SOURCEAD_COMPILE=true``; the first-call table's ``default`` process drops it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCEAD_", "NUMBA_"))}
    env["SOURCEAD_COMPILE"] = "true"
    env["SOURCEAD_CACHE_DIR"] = str(tmp / f"sourcead-cache-{label}")
    env["NUMBA_CACHE_DIR"] = str(tmp / f"numba-cache-{label}")
    paths = [str(p) for p in extra_path]
    if not isolated:
        paths += [str(tmp / "frozen"), str(tmp / "user")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def build(p: Problem, outdir: Path, native: bool = False) -> str:
    """``sourcead build`` (``native``: ``--native``) of the problem into ``outdir``; the built
    module's name."""
    command = (
        [
            sys.executable,
            "-m",
            "sourcead",
            "build",
            f"{outdir.parent / 'user' / (p.module + '.py')}:{p.function}",
            "--wrt",
            ",".join(str(w) for w in p.wrt),
            "-o",
            str(outdir),
        ]
        + (["--types", p.types] if p.types else [])
        + (["--native"] if native else [])
    )
    frozen = outdir.parent / "frozen"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(frozen), str(outdir.parent / "user")]))
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return f"{p.function}_adjoint"


def compile_native_tier(env: dict, cwd: Path) -> None:
    """``sourcead cache native`` in the cache of ``env`` (not timed: a step run once)."""
    command = [sys.executable, "-m", "sourcead", "cache", "native"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0 or " 1 compiled now" not in done.stdout:
        raise RuntimeError(f"sourcead cache native failed:\n{done.stdout}{done.stderr}")


def measure(
    p: Problem, repeats: int, aot_python: str | None, native_python: str | None = None
) -> list[tuple[str, list[float], bool]]:
    rows = []
    reference = None

    def add(label, results):
        nonlocal reference
        grads = [r["grad"] for r in results]
        if reference is None:
            reference = grads[0]
        same = all(
            max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(g, reference, strict=True)) < 1e-12
            for g in grads
        )
        rows.append((label, [r["seconds"] for r in results], same))
        print(
            f"  {label}: {statistics.median(r['seconds'] for r in results):.3f} s", file=sys.stderr
        )

    with tempfile.TemporaryDirectory(prefix="sourcead-startup-") as name:
        tmp = Path(name)
        snapshot(tmp)
        user_module(p, tmp / "user")
        # preparation: the built module, and Numba's cache filled for the AOT and floor rows
        built = tmp / "built"
        module = build(p, built)
        aot = ("aot", sys.executable, aot_script(p, module, True), [built], False)
        native_built = tmp / "native"
        build(p, native_built, native=True)
        native = ("native", sys.executable, aot_script(p, module, True, True), [native_built], True)
        floor_dir = tmp / "floor"
        floor_dir.mkdir()
        (floor_dir / "floor_module.py").write_text(FLOOR_MODULE)
        cached = [
            aot,
            native,
            ("floor", sys.executable, FLOOR_SCRIPT, [floor_dir], False),
            ("numpy-floor", sys.executable, NUMPY_FLOOR_SCRIPT, [], True),
        ]
        if native_python:
            script = aot_script(p, module, False, True)
            cached.insert(2, ("native-venv", native_python, script, [native_built], True))
        if aot_python:
            venv_built = tmp / "built-venv"
            shutil.copytree(built, venv_built, ignore=shutil.ignore_patterns("__pycache__"))
            venv_aot = aot_script(p, module, False)
            cached.insert(1, ("venv", aot_python, venv_aot, [venv_built], True))
            cached.append(("floor-venv", aot_python, FLOOR_SCRIPT, [floor_dir], True))
        first = {}
        for label, python, script, paths, isolated in cached:
            env = environment(tmp, paths, label, isolated)
            first[label] = run(python, script, env, tmp)  # Numba compiles (and caches) here

        # the measured rows, interleaved so that a change of the machine's load hits them all
        results: dict = {}
        for i in range(repeats):
            env = environment(tmp, [], f"run{i}")  # empty caches for each cold process
            results.setdefault("cold", []).append(run(sys.executable, grad_script(p), env, tmp))
            results.setdefault("warm", []).append(run(sys.executable, grad_script(p), env, tmp))
            compile_native_tier(env, tmp)
            warm_native = run(sys.executable, grad_script(p), env, tmp)
            results.setdefault("warm-native", []).append(warm_native)
            for label, python, script, paths, isolated in cached:
                env = environment(tmp, paths, label, isolated)
                results.setdefault(label, []).append(run(python, script, env, tmp))

        add("cold: `grad` + first call, empty caches", results["cold"])
        add("warm: `grad` + first call, caches filled", results["warm"])
        numba_imported = any(r["numba"] for r in results["warm-native"])
        add(
            "warm, native tier: as warm, after `sourcead cache native` "
            + ("(**Numba imported**)" if numba_imported else "(Numba not imported)"),
            results["warm-native"],
        )
        add("AOT, first import (Numba compiles, cache=True)", [first["aot"]])
        add("AOT: built module, machine code cached", results["aot"])
        add("AOT native (`--native`): extension, Numba and the compiler blocked", results["native"])
        if native_python:
            add("AOT native in a venv without Numba", results["native-venv"])
        if aot_python:
            add(
                "AOT in a venv without gast/sourcead compiler, machine code cached", results["venv"]
            )
        floors = [
            ("floor", "floor: `import numba` + first call of a cached `njit` function"),
            ("numpy-floor", "floor of a native build: `import numpy`"),
        ]
        if aot_python:
            floors.append(("floor-venv", "floor in the venv"))
        for label, text in floors:
            rows.append((text, [r["seconds"] for r in results[label]], None))
    return rows


# --- the first calls of eleven programs ---------------------------------------------------------
#: The public functions that take ``compile=``.
COMPILE_ENTRIES = (
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "hvp",
    "hessian",
    "jacobian",
    "jacfwd",
    "jacrev",
    "vmap",
)


@dataclass
class FirstCall:
    """A row of the first-call table: a program in a user's module, the derivative's first
    call, and optionally JAX's version (``startup_jax.make_<jax>``)."""

    key: str  # for --rows
    name: str
    module: str  # the user module the child imports as ``m``
    text: str  # its source
    setup: str  # NumPy statements defining ``args`` (no sourcead, no ``m``: JAX runs them too)
    call: str  # the derivative's first call, an expression of ``sourcead``, ``m`` and ``args``
    jax: str | None = None
    jax_note: str = ""  # why there is no JAX column
    build: bool = False  # a `sourcead build --native` command, not a call

    @property
    def takes_compile(self) -> bool:
        """Whether the row's call takes ``compile=`` (then its default process runs)."""
        name = self.call.partition("(")[0].removeprefix("sourcead.")
        return not self.build and name in COMPILE_ENTRIES


def copied(source: str, functions: tuple[str, ...], preamble: str) -> str:
    """``functions`` of ``benchmarks/<source>.py``, alone in a module with ``preamble``."""
    lines = (HERE / f"{source}.py").read_text(encoding="utf-8").splitlines(keepends=True)
    parts = []
    for function in functions:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"def {function}("))
        end = next(
            (
                i
                for i in range(start + 1, len(lines))
                if lines[i].strip() and lines[i][0] not in " #"
            ),
            len(lines),
        )
        parts.append("".join(lines[start:end]).rstrip() + "\n")
    return f"{preamble}\n\n\n" + "\n\n".join(parts)


def example(name: str) -> str:
    return (REPO / "examples" / f"{name}.py").read_text(encoding="utf-8")


PROGRAMS = (HERE / "startup_programs.py").read_text(encoding="utf-8")
SCHRODINGER_ARGS = """
n = 64
x = np.linspace(-4.0, 4.0, n)
dx = x[1] - x[0]
kinetic = (np.diag(np.full(n, 1.0)) - 0.5 * np.diag(np.ones(n - 1), 1)
           - 0.5 * np.diag(np.ones(n - 1), -1)) / dx**2
v_true = 0.5 * (x**2 - 2.0) ** 2 * 0.5 + 0.3 * x
psi = np.linalg.eigh(kinetic + np.diag(v_true))[1][:, 0]
args = (0.5 * x**2, kinetic, psi * psi / dx, dx)
"""
MD_ARGS = """
rng = np.random.default_rng(0)
g = np.arange(16)
lattice = np.stack([(g % 4) * 1.2, (g // 4) * 1.2, np.zeros(16)], axis=1)
args = (lattice + 0.05 * rng.normal(size=(16, 3)), 0.1 * rng.normal(size=(16, 3)), 1.0, 1.0,
        0.002, 100)
"""
MLP_ARGS = """
rng = np.random.default_rng(0)
args = (rng.normal(scale=0.05, size=(784, 128)), np.zeros(128), rng.normal(scale=0.1, size=(128, 10)),
        np.zeros(10), rng.random((256, 784)), np.eye(10)[rng.integers(0, 10, 256)])
"""
SCF_ARGS = """
field = 0.3 * np.cos(2.0 * np.pi * np.arange(32) / 32) + 0.05
args = (0.4, field)
"""
PAIRS_ARGS = """
rng = np.random.default_rng(0)
args = (rng.normal(size=(16, 200)), rng.normal(size=(16, 200)))
"""

FIRST_CALLS = [
    FirstCall(
        "projectile",
        "projectile, 20,000 steps (loops) wrt (vx, vy, c)",
        "user_projectile",
        copied("loops", ("loss",), "import math"),
        "args = (20.0, 15.0, 0.05)",
        "sourcead.value_and_grad(m.loss, wrt=(0, 1, 2))(*args)",
        jax="projectile",
    ),
    FirstCall(
        "gmm",
        "GMM n=1000, d=10, K=25 (whole arrays) wrt (alphas, means, icf)",
        "user_gmm",
        copied(
            "arrays",
            ("gmm_vectorised",),
            "import math\n\nimport numpy as np\n\nLOG_2PI = math.log(2.0 * math.pi)",
        ),
        GMM_ARGS,
        "sourcead.value_and_grad(m.gmm_vectorised, wrt=(0, 1, 2))(*args)",
        jax="gmm",
    ),
    FirstCall(
        "mlp",
        "MLP 784-128-10, batch 256, wrt the 4 weight arrays",
        "startup_programs",
        PROGRAMS,
        MLP_ARGS,
        "sourcead.value_and_grad(m.mlp_loss, wrt=(0, 1, 2, 3))(*args)",
        jax="mlp",
    ),
    FirstCall(
        "schrodinger",
        "inverse Schrödinger (`eigh`, N=64) wrt the potential",
        "inverse_schrodinger",
        example("inverse_schrodinger"),
        SCHRODINGER_ARGS,
        "sourcead.value_and_grad(m.mismatch, wrt=0)(*args)",
        jax="schrodinger",
    ),
    FirstCall(
        "md",
        "Lennard-Jones MD, 16 particles, pair loop, 100 steps, wrt (positions, eps)",
        "startup_programs",
        PROGRAMS,
        MD_ARGS,
        "sourcead.value_and_grad(m.md_energy, wrt=(0, 2))(*args)",
        jax="md",
    ),
    FirstCall(
        "scf",
        "SCF through `fixed_point` (32 sites) wrt (J, h)",
        "self_consistent",
        example("self_consistent"),
        SCF_ARGS,
        "sourcead.value_and_grad(m.energy, wrt=(0, 1))(*args)",
        jax_note="JAX has no fixed-point solver with an implicit adjoint of its own",
    ),
    FirstCall(
        "odeint",
        "`odeint` example (RK4, 500 steps, continuous adjoint) wrt (speed, angle)",
        "angry_birds_ode",
        example("angry_birds_ode"),
        "args = (20.0, 0.8, np.array([0.0, 2.2]), 500)",
        "sourcead.value_and_grad(m.miss_ode, wrt=(0, 1))(*args)",
        jax_note="JAX's odeint is adaptive (Dormand-Prince): another method",
    ),
    FirstCall(
        "trg",
        "TRG tensor network (2-D Ising, chi=8, 6 steps), `jvp` wrt beta",
        "startup_programs",
        PROGRAMS,
        "args = (0.4, 0.1, 8, 6)",
        "sourcead.jvp(m.trg_free_energy, args, (1.0, None, None, None))",
        jax="trg",
    ),
    FirstCall(
        "vmap",
        "`vmap(grad)` of a pair loop, N=200, batch of 16",
        "startup_programs",
        PROGRAMS,
        PAIRS_ARGS,
        "sourcead.vmap(sourcead.grad(m.pair_energy, wrt=(0, 1)))(*args)",
        jax="vmap_pairs",
    ),
    FirstCall(
        "hessian",
        "`hessian` of an RK4 loop (500 steps) wrt (speed, angle)",
        "angry_birds_ode",
        example("angry_birds_ode"),
        "args = (20.0, 0.8, 500)",
        "sourcead.hessian(m.miss_loop, wrt=(0, 1))(*args)",
        jax="rk4_hessian",
    ),
    FirstCall(
        "build",
        "`sourcead build --native` of the projectile (a command)",
        "user_projectile",
        copied("loops", ("loss",), "import math"),
        "",
        "",
        jax_note="no counterpart",
        build=True,
    ),
]
QUICK_ROWS = ("projectile", "vmap", "build")

CHILD = """import json, sys, time
import numpy as np
{imports}
{setup}
result = {call}


def flat(value):
    if isinstance(value, (tuple, list)):
        return [v for item in value for v in flat(item)]
    return [float(v) for v in np.ravel(value)]


report = {{'done': time.time(), 'numba': 'numba' in sys.modules, 'grad': flat(result)}}
if {timed}:
    from sourcead.backends.cpu import timings
    report['stages'] = timings.totals()
print('RESULT ' + json.dumps(report))
"""


def first_call_script(row: FirstCall, timed: bool) -> str:
    return CHILD.format(
        imports=f"import sourcead\nimport {row.module} as m",
        setup=row.setup,
        call=row.call,
        timed=timed,
    )


def jax_script(row: FirstCall) -> str:
    return CHILD.format(
        imports="import startup_jax",
        setup=row.setup,
        call=f"startup_jax.make_{row.jax}(args)()",
        timed=False,
    )


def run_timed(command: list[str], env: dict, cwd: Path) -> dict:
    """Run ``command``; its RESULT line (if any), with ``seconds`` (wall, from before the
    process started to the result, or to its exit) and ``cpu`` (user + system seconds of
    the process and its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"child failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = {"done": end, "grad": [], "stderr": done.stderr}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :]) | {"stderr": done.stderr}
    result["seconds"] = result["done"] - start
    result["cpu"] = cpu
    return result


def measure_first_call(row: FirstCall, jax_python: str | None) -> dict:
    """The row's cold, warm and timed processes (one of each), JAX's first call, then the
    default process's."""
    found: dict = {}
    with tempfile.TemporaryDirectory(prefix="sourcead-first-") as name:
        tmp = Path(name)
        snapshot(tmp)
        (tmp / "user").mkdir()
        (tmp / "user" / f"{row.module}.py").write_text(row.text, encoding="utf-8")
        for label, timed in [("cold", False), ("warm", False), ("timed", True)]:
            measure_process(row, tmp, label, timed, found)
        measure_jax(row, jax_python, tmp, found)
        if row.takes_compile:  # last: its child compiles on after it ended
            measure_process(row, tmp, "default", False, found)
            wait_for_compiles(tmp)  # (taking no core from the next measurement)
    return found


def measure_process(row: FirstCall, tmp: Path, label: str, timed: bool, found: dict) -> None:
    """One fresh process of the row (into ``found[label]``)."""
    # (the default process's caches are empty: its own directory, like "timed")
    env = environment(tmp, [], label if label in ("timed", "default") else "run")
    if label == "default":  # compile="background": the first calls as NumPy
        env.pop("SOURCEAD_COMPILE")
    if timed:
        env["SOURCEAD_TIMINGS"] = "1"
    if row.build:
        out = tmp / f"built-{label}"
        arguments = ["build", f"{tmp / 'user' / row.module}.py:loss", "--wrt", "0,1,2",
                     "-o", str(out), "--native"]  # fmt: skip
        # timed: the same command, reporting the breakdown's totals at exit
        start = ["-c", BUILD_WITH_TOTALS] if timed else ["-m", "sourcead"]
        command = [sys.executable, *start, *arguments]
    else:
        command = [sys.executable, "-c", first_call_script(row, timed)]
    try:
        found[label] = run_timed(command, env, tmp)
    except RuntimeError as exc:  # reported in the table; the other rows go on
        found[label] = {"error": str(exc).strip().splitlines()[-1]}
        print(f"  {label} failed: {found[label]['error']}", file=sys.stderr)
        return
    print(f"  {label}: {found[label]['seconds']:.2f} s", file=sys.stderr)


def measure_jax(row: FirstCall, jax_python: str | None, tmp: Path, found: dict) -> None:
    """JAX's first call of the row's program, in a fresh process (into ``found``)."""
    if not (row.jax and jax_python):
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env |= {"PYTHONPATH": str(HERE), "JAX_PLATFORMS": "cpu"}
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    try:
        found["jax"] = run_timed([jax_python, "-c", jax_script(row)], env, tmp)
        print(f"  jax: {found['jax']['seconds']:.2f} s", file=sys.stderr)
    except RuntimeError as exc:
        found["jax_error"] = str(exc).splitlines()[-1]
        print(f"  jax failed: {found['jax_error']}", file=sys.stderr)


def wait_for_compiles(tmp: Path, limit: float = 600.0) -> None:
    """Wait until no child process compiling a module under ``tmp`` runs (a process with the
    default, ``compile="background"``, leaves its compile to finish after it ends), so that
    it takes no core from the next measurement."""
    deadline = time.time() + limit
    while time.time() < deadline:
        running = False
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                command = cmdline.read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"sourcead.cache.compile_process" in command and str(tmp).encode() in command:
                running = True
                break
        if not running:
            return
        time.sleep(0.5)


# `sourcead build --native` with SOURCEAD_TIMINGS=1: the breakdown's totals printed at exit
BUILD_WITH_TOTALS = """
import atexit, json, runpy, sys, time
from sourcead.backends.cpu import timings


def report():
    timings.finish("sourcead build --native")  # what no compile event closed (numba.pycc)
    print("RESULT " + json.dumps({"done": time.time(), "grad": [], "stages": timings.totals()}))


atexit.register(report)
sys.argv = ["sourcead", *sys.argv[1:]]
runpy.run_module("sourcead", run_name="__main__")
"""


def same_values(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300) for x, y in zip(a, b, strict=True)
    )


STAGE_COLUMNS = [
    ("sourcead", ("frontend", "type inference", "passes", "generation", "loading")),
    ("Numba init", ("numba init",)),
    ("typing", ("numba typing",)),
    ("lowering", ("numba lowering",)),
    ("LLVM", ("llvm",)),
    ("Numba other", ("numba other",)),
]


def first_call_table(rows: list[tuple[FirstCall, dict]], jax_available: bool) -> None:
    """Print the first-call table, then the breakdown of each row."""
    print("\n### First calls in a fresh process\n")
    print(
        "| program | cold, compiled at the call: wall | cold: CPU | warm: wall | warm = cold "
        '| cold, default (`compile="background"`): wall | JAX `jit` first call |'
    )
    print("|---|---:|---:|---:|:---:|---:|---:|")
    for row, found in rows:
        cold, warm = found["cold"], found["warm"]
        if "error" in cold or "error" in warm or row.build:
            same = "—"
        else:
            same = "yes" if same_values(cold["grad"], warm["grad"]) else "**no**"
        if "jax" in found:
            jax = f"{found['jax']['seconds']:.2f} s"
        elif "jax_error" in found:
            jax = f"failed: {found['jax_error']}"
        elif row.jax:
            jax = "—" if jax_available else "not installed"
        else:
            jax = f"— ({row.jax_note})"
        default = found.get("default")
        if default is not None and "error" not in default and "error" not in cold:
            agrees = same_values(cold["grad"], default["grad"])
            default = _seconds(default) + ("" if agrees else " (**differs**)")
        else:
            default = _seconds(default) if default else "—"
        print(
            f"| {row.name} | {_seconds(cold)} | {_seconds(cold, 'cpu')} | {_seconds(warm)} | "
            f"{same} | {default} | {jax} |"
        )
    print("\n### Where the cold first call's time goes\n")
    print(
        "Another cold process per row, with `SOURCEAD_TIMINGS=1`: the stages of the "
        "derivatives it made, in seconds; *outside* is the rest of the process (interpreter "
        "start, imports, the inputs, cache keys and files, the call itself); *dominant* is "
        "the largest column, as a share of the process's wall time.\n"
    )
    names = ["outside", *(label for label, _ in STAGE_COLUMNS)]
    print(f"| program | wall | {' | '.join(names)} | dominant |")
    print("|---|---:|" + "---:|" * len(names) + "---|")
    for row, found in rows:
        timed = found["timed"]
        if "error" in timed:
            print(f"| {row.name} | failed: {timed['error']} |" + " |" * (len(names) + 1))
            continue
        stages = timed.get("stages") or {}
        sums = [sum(stages.get(s, 0.0) for s in group) for _, group in STAGE_COLUMNS]
        sums.insert(0, timed["seconds"] - sum(sums))
        top = max(range(len(sums)), key=lambda i: sums[i])
        dominant = f"{names[top]} ({sums[top] / timed['seconds']:.0%})"
        cells = " | ".join(f"{v:.2f}" for v in sums)
        print(f"| {row.name} | {timed['seconds']:.2f} s | {cells} | {dominant} |")


def _seconds(result: dict, key: str = "seconds") -> str:
    return f"failed: {result['error']}" if "error" in result else f"{result[key]:.2f} s"


def check_venv(python: str) -> str:
    """Which packages the AOT environment has; refuses one where gast or sourcead imports."""
    probe = (
        "import importlib.util as u, numba, numpy; "
        "print('gast' if u.find_spec('gast') else '-', 'scipy' if u.find_spec('scipy') "
        "else 'no-scipy', numba.__version__, numpy.__version__)"
    )
    has_gast, scipy, numba_version, numpy_version = printed(python, probe, "--aot-python")
    if has_gast != "-":
        raise SystemExit(f"--aot-python {python}: gast is installed there; use a clean venv")
    runtime = subprocess.run(
        [python, "-c", "import sourcead_runtime"], capture_output=True, text=True, env={}
    )
    if runtime.returncode != 0:
        raise SystemExit(f"--aot-python {python}: sourcead_runtime is not installed there")
    return (
        f"numba {numba_version}, numpy {numpy_version}, {scipy}, sourcead_runtime; "
        "no gast (`import gast` fails, so the compiler cannot be imported)"
    )


def check_native_venv(python: str) -> str:
    """What the environment of the native row has; refuses one where Numba imports."""
    probe = (
        "import importlib.util as u, numpy; print(numpy.__version__, "
        "*[m for m in ('numba', 'llvmlite', 'gast', 'scipy') if u.find_spec(m)])"
    )
    numpy_version, *found = printed(python, probe, "--native-python")
    if "numba" in found or "llvmlite" in found:
        raise SystemExit(f"--native-python {python}: Numba is installed there; use a clean venv")
    return f"numpy {numpy_version}; installed besides: {', '.join(found) or 'nothing'}"


def printed(python: str, code: str, option: str) -> list[str]:
    """The words ``code`` prints when run by ``python``; exits naming ``option`` if it fails."""
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env={})
    if done.returncode != 0:
        raise SystemExit(f"{option} {python}: the environment check failed:\n{done.stderr}")
    return done.stdout.split()


def make_venv(directory: Path) -> str:
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    python = str(directory / ("Scripts" if os.name == "nt" else "bin") / "python")
    packages = ["numpy", "numba", "scipy"]  # scipy: Numba's BLAS for `@` (the GMM)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(REPO)], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one process per row; the first-call table's "
        f"rows {', '.join(QUICK_ROWS)} only",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="processes per row (median)")
    parser.add_argument(
        "--tables",
        default="first,aot",
        help="which tables: first (first calls of every program), aot (cold, warm, AOT and "
        "native starts of the projectile and the GMM); comma-separated",
    )
    parser.add_argument("--rows", help="first-call rows to run, comma-separated keys")
    parser.add_argument(
        "--jax-python", help="python of an environment with JAX (default: this one, if it has JAX)"
    )
    parser.add_argument("--aot-python", help="python of an environment without gast")
    parser.add_argument("--make-venv", type=Path, help="create such an environment here first")
    parser.add_argument(
        "--native-python", help="python of an environment with NumPy and not Numba (native row)"
    )
    args = parser.parse_args()
    tables = set(args.tables.split(","))
    repeats = 1 if args.quick else args.repeats
    aot_python = make_venv(args.make_venv) if args.make_venv else args.aot_python
    venv_note = check_venv(aot_python) if aot_python else None
    native_note = check_native_venv(args.native_python) if args.native_python else None
    jax_python = args.jax_python or (sys.executable if importlib.util.find_spec("jax") else None)

    import numba
    import numpy as np

    print("## Time from process start to first gradient\n")
    print(
        f"Machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}; "
        f"{time.strftime('%Y-%m-%d')}."
    )
    if "first" in tables:
        keys = args.rows.split(",") if args.rows else (QUICK_ROWS if args.quick else None)
        chosen = [row for row in FIRST_CALLS if keys is None or row.key in keys]
        jax_note = jax_version(jax_python) if jax_python else "not installed (no JAX column)"
        print(
            "\nFirst calls: one cold process per row (empty sourcead and Numba caches) "
            "compiling at the call (`SOURCEAD_COMPILE=true`), then one warm process (the "
            "caches it filled), then one more cold process with `SOURCEAD_TIMINGS=1` for the "
            'breakdown, and one cold process with the default (`compile="background"`) where '
            f"the row's call takes `compile=`; JAX: {jax_note}."
        )
        measured = []
        for row in chosen:
            print(f"{row.name} …", file=sys.stderr)
            measured.append((row, measure_first_call(row, jax_python)))
        first_call_table(measured, jax_python is not None)
    if "aot" not in tables:
        return
    print(f"\nThe AOT tables: median of {repeats} fresh process(es) per row.")
    if venv_note:
        print(f"AOT environment: {venv_note}.")
    if native_note:
        print(f"Native environment: {native_note}.")
    problems = [PROJECTILE]
    gmm = gmm_problem()
    for p in problems + ([gmm] if gmm else []):
        print(f"{p.name} …", file=sys.stderr)
        rows = measure(p, repeats, aot_python, args.native_python)
        cold = statistics.median(rows[0][1])
        print(f"\n### {p.name}\n")
        print("| process | time to first gradient (median) | × cold | gradient = cold |")
        print("|---|---:|---:|:---:|")
        for label, times, same in rows:
            median = statistics.median(times)
            mark = "—" if same is None else ("yes" if same else "**no**")
            print(f"| {label} | {median:.3f} s | {median / cold:.2f} | {mark} |")
        print()
        goal = [r for r in rows if r[0].startswith(("warm", "AOT:", "AOT in", "AOT native"))]
        for label, times, _ in goal:
            ratio = statistics.median(times) / cold
            verdict = "met" if ratio <= 0.10 else "missed"
            print(f"- {label.split(':')[0]}: {ratio:.1%} of cold (goal ≤ 10%: {verdict})")
    if gmm is None:
        print("\nGMM gradient: not measured — benchmarks/arrays.py has no `gmm_vectorised`.")


def jax_version(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import jax; print(jax.__version__)"], capture_output=True, text=True
    )
    return f"JAX {done.stdout.strip()}" if done.returncode == 0 else "JAX failed to import"


if __name__ == "__main__":
    main()
