"""The table of supported functions (docs/support.md), generated from the registry.

The page must hold the table the registry gives now (``tools/support_table.py`` writes it);
the declarations the table needs besides the registry (the routes of code rewrites) must
match that code; every built-in entry must be reached from some row; and a sample of rows
across the families must do what the table claims: grad, jvp and hvp give the derivatives
finite differences give (plain Python here, one compiled vmap in the slow group), a function
the device column refuses is refused in device code, and options sourcead does not take are
refused with the function and the option named.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import sourcead_runtime
from helpers import assert_close, directional_difference, numerical_grad

import sourcead
from sourcead.errors import SourceADError
from sourcead.lowering import einsum
from sourcead.rules import callees, catalogue, operators, shaping
from sourcead.rules.registry import entries, entry_for

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "support.md"


def _rows_by_name() -> dict[str, catalogue.Row]:
    return {name: row for row in catalogue.rows() for name in row.names}


# --- the page and the generation --------------------------------------------------------------


def test_the_page_holds_the_current_table():
    page = PAGE.read_text(encoding="utf-8")
    assert catalogue.BEGIN in page and catalogue.END in page, "docs/support.md lost its markers"
    assert catalogue.replaced(page) == page, (
        "docs/support.md's table differs from the registry: run python tools/support_table.py"
    )


def test_the_script_checks_the_page():
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "support_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_generation_is_deterministic_and_fast():
    start = time.perf_counter()
    first = catalogue.markdown()
    assert time.perf_counter() - start < 1.0
    assert catalogue.markdown() == first
    order = {title: k for k, (_, title) in enumerate(catalogue.FAMILIES)}
    keys = [order[row.family] for row in catalogue.rows()]
    assert keys == sorted(keys)


def test_no_internal_name_is_shown():
    table = catalogue.markdown()
    shown = set(re.findall(r"`([^`]*)`", table))
    words = {w for s in shown for w in re.findall(r"[A-Za-z_][\w.]*", s)}
    leaked = sorted(words & set(sourcead_runtime.__all__))
    assert not leaked, f"runtime helpers named in the table: {leaked}"
    assert "JOINED" not in table and "Route(" not in table


# --- the declarations match the code they describe -----------------------------------------------


def _reached() -> set[int]:
    return {
        id(entry_for(route.target))
        for row in catalogue.rows()
        for route in row.routes
        if route.target is not catalogue.JOINED
    }


def test_every_builtin_entry_is_reached_from_a_row():
    reached = _reached()
    missing = [
        e.name
        for e in entries()
        if e.builtin and not e.forward_only and id(e) not in reached
        # (an entry of Python's min, max, float ... is reached by its own name)
    ]
    assert not missing, f"entries no row of the table reaches: {missing}"


def test_the_subscripts_and_joins_are_their_own_routes():
    targets = {r.target for row in catalogue.rows() for r in row.routes}
    for _, helpers in catalogue.SUBSCRIPTS:
        assert all(entry_for(h) is not None for h in helpers)
    assert catalogue.JOINED in targets
    joined = {f for f in callees.JOINING if f in catalogue.REWRITES}
    assert joined == callees.JOINING - {sourcead_runtime.array_of}


def _names_called(function, seen=None) -> set[str]:
    """The global names ``function`` reads, through the functions of its module it calls,
    and the attributes it reads (``np.linalg.inv``)."""
    seen = set() if seen is None else seen
    names = set(function.__code__.co_names)
    for name in list(names):
        value = function.__globals__.get(name)
        if callable(value) and getattr(value, "__module__", None) == function.__module__:
            if name not in seen and hasattr(value, "__code__"):
                seen.add(name)
                names |= _names_called(value, seen)
    return names


def test_the_declared_rewrites_are_those_of_the_code():
    signatures = shaping._SIGNATURES
    shaped = {f for f in signatures if f not in (float, complex, int)}
    declared = set(catalogue.REWRITES) - set(catalogue.TENSOR_REWRITES)
    assert declared == shaped
    for function in shaped:
        positional, keywords = signatures[function]
        text = " ".join(catalogue.REWRITES[function].options)
        for name in positional[1:] + keywords:
            if name not in ("arrays", "tup", "arys"):
                assert f"`{name}" in text, f"{function.__name__}: {name} not in its options"
    assert set(catalogue.TENSOR_REWRITES) == set(einsum._REWRITES)
    for function, rewrite in catalogue.TENSOR_REWRITES.items():
        called = _names_called(einsum._REWRITES[function])
        for route in rewrite.routes:
            name = route.target.__name__
            name = "MatMult" if name == "matmul" else name  # a @ b: the operator's node
            assert name in called, f"{function.__name__}'s rewrite does not call {name}"
    assert set(catalogue.METHOD_SPELLINGS) == set(shaping.METHODS)


def test_every_operator_has_its_syntax():
    spelled = set(operators.OPERATOR_FUNCTIONS.values())
    spelled |= {f for e in entries() for f in e.functions if f.__module__ == "_operator"}
    missing = [f.__name__ for f in spelled if f not in catalogue.SYNTAX]
    assert not missing, f"operators without their syntax in the table: {missing}"


def test_modes_follow_the_registry():
    rows = _rows_by_name()
    assert rows["np.sort"].modes()["device"] == "—"  # device=False
    assert rows["np.sin"].modes() == dict.fromkeys(catalogue.MODES, "✓")
    assert rows["np.sum"].modes()["device"].startswith("✓ except `axis=`")
    assert rows["np.stack"].modes()["device"] == "—"  # a new array
    assert "np.sin" in rows and "math.sin" in rows and rows["np.sin"] is rows["math.sin"]
    assert rows["x.sum()"] is rows["np.sum"] and rows["x.T"] is rows["np.transpose"]


# --- the claims, on a sample of rows across the families ----------------------------------------


def _module(tmp_path, source: str):
    path = tmp_path / "support_samples.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"support_samples_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def elementwise_(x):
    return np.sum(np.sin(x) * np.exp(0.5 * x))


def reduction_(x):
    return np.sum(np.max(x, axis=1, keepdims=True) * x)


def sorted_(x):
    return np.sum(np.sort(x, axis=0) * np.arange(6.0).reshape(3, 2))


def special_(x):
    return np.sum(scipy.special.logsumexp(x, axis=1) ** 2)


def tensor_(x):
    return np.sum(np.einsum("ij,kj->ik", x, x) ** 2)


def shaping_(x):
    return np.sum(np.roll(x, 1, axis=0) * x * x)


def indexing_(x):
    idx = np.array([2, 0, 2])
    return np.sum(x[idx] ** 3)


def linalg_(x):
    a = np.eye(3) * 4.0 + x @ x.T
    return np.sum(np.linalg.solve(a, x[:, 0]) ** 2)


def fft_(x):
    return np.sum(np.abs(np.fft.rfft(x, axis=0)) ** 2)


def operators_(x):
    return np.sum((x @ x.T) / (1.5 + x[:, 0] ** 2))


SAMPLES = [
    ("np.sin", elementwise_),
    ("np.max", reduction_),
    ("np.sort", sorted_),
    ("scipy.special.logsumexp", special_),
    ("np.einsum", tensor_),
    ("np.roll", shaping_),
    ("x[idx]", indexing_),
    ("np.linalg.solve", linalg_),
    ("np.fft.rfft", fft_),
    ("a @ b", operators_),
]


def _point():
    rng = np.random.default_rng(7)
    # distinct values (no ties for max, sort), moderate size
    return (rng.permutation(6) * 0.35 - 0.8 + rng.uniform(0.0, 0.1, 6)).reshape(3, 2)


@pytest.mark.parametrize("name, f", SAMPLES, ids=[s[0] for s in SAMPLES])
def test_the_claimed_modes_work(name, f):
    modes = _rows_by_name()[name].modes()
    assert modes["reverse"] == modes["forward"] == modes["second order"] == "✓"
    x = _point()
    v = np.random.default_rng(8).normal(size=x.shape)
    g = sourcead.grad(f, compile=False)(x)
    assert_close(g, numerical_grad(f, (x,)), what=f"grad through {name}")
    value, tangent = sourcead.jvp(f, (x,), (v,), compile=False)
    assert np.isfinite(value)
    assert_close(tangent, directional_difference(lambda d: f(x + d * v)), what=f"jvp of {name}")
    hv = sourcead.hvp(f, (x,), (v,), compile=False)
    gradient = sourcead.grad(f, compile=False)
    expected = np.array(
        [
            directional_difference(lambda d, k=k: gradient(x + d * v).flat[k], rtol=1e-5)
            for k in range(x.size)
        ]
    ).reshape(x.shape)
    assert_close(hv, expected, rtol=1e-5, atol=1e-6, what=f"hvp of {name}")


def batched_(x):
    return np.sum(np.cumsum(x, axis=1) * x)


@pytest.mark.slow  # compiled
def test_the_claimed_vmap_works():
    assert _rows_by_name()["np.cumsum"].modes()["vmap"] == "✓"
    xs = np.stack([_point(), _point()[::-1].copy()])
    batched = sourcead.vmap(sourcead.grad(batched_))(xs)
    for k in range(2):
        assert_close(batched[k], numerical_grad(batched_, (xs[k],)), what="vmap of grad")


def on_the_device(x):
    s = np.sort(x)
    return s[0] + x[1]


def test_the_device_column_refuses_what_it_says():
    pytest.importorskip("numba.cuda")
    assert _rows_by_name()["np.sort"].modes()["device"] == "—"
    batched = sourcead.vmap(sourcead.grad(on_the_device), target="cuda")
    # the function as written, not the runtime helper that generated code calls for it
    with pytest.raises(SourceADError, match="cannot run on the GPU: np.sort has no") as error:
        batched(np.ones((2, 3)))
    assert error.value.lineno == on_the_device.__code__.co_firstlineno + 1


# --- refusals name the function and the option ----------------------------------------------------

REFUSED = [
    ("np.linalg.norm(x, ord=0)", "np.linalg.norm", "ord="),
    ("np.sum(np.partition(x, 1, kind='heap'))", "np.partition", "kind="),
    ("np.sum(np.abs(np.fft.fft(x, norm='bogus')))", "np.fft.fft", "norm="),
    ("np.sum(np.sort(x, order='a'))", "np.sort", "order="),
    ("np.sum(x, where=x > 0)", "np.sum", "where="),
    ("np.sum(np.linalg.pinv(x, rcond=1e-3))", "np.linalg.pinv", "rcond="),
    ("np.sum(x.max(axis=k))", ".max()", "axis="),
    ("np.sum(np.linalg.svd(x, hermitian=True)[1])", "np.linalg.svd", "hermitian="),
    ("scipy.special.logsumexp(x, return_sign=True)[0]", "scipy.special.logsumexp", "return_sign="),
    ("np.sum(scipy.fft.fft2(x, s=(2, 2)).real)", "scipy.fft.fft2", "s="),
]


@pytest.mark.parametrize("expression, function, option", REFUSED, ids=[r[1] for r in REFUSED])
def test_options_not_taken_are_refused_by_name(tmp_path, expression, function, option):
    source = (
        "import numpy as np\nimport scipy.fft\nimport scipy.special\n\n\n"
        f"def f(x):\n    k = 1\n    return {expression}\n"
    )
    module = _module(tmp_path, source)
    with pytest.raises(SourceADError) as error:
        sourcead.grad(module.f, compile=False)(_point())
    message = str(error.value)
    assert function in message and option in message, message
    assert error.value.lineno == 8 and error.value.filename.endswith("support_samples.py")


#: The refusals docs/support.md quotes: (expression, the message after "line N: ").
QUOTED = [
    (
        "np.linalg.norm(x, 0)",
        "np.linalg.norm with ord=0: the number of nonzero elements has no derivative "
        "(write np.sum(x != 0))",
    ),
    (
        "np.sum(np.partition(x, 1, kind='heap'))",
        "np.partition with kind='heap' (sourcead takes only kind='introselect')",
    ),
    (
        "np.sum(np.abs(np.fft.fft(x, norm='bogus')))",
        "np.fft.fft with norm= other than None, 'backward', 'ortho', 'forward' written in the call",
    ),
    ("np.sum(x, where=x > 0)", "np.sum with where= (sourcead takes axis=, keepdims=)"),
    ("np.sum(np.linalg.pinv(x, rcond=1e-3))", "the keyword rcond= in calls to np.linalg.pinv"),
    ("np.sum(np.frexp(x)[0])", "sourcead has no derivative rule for np.frexp"),
]


@pytest.mark.parametrize("expression, message", QUOTED, ids=[q[0] for q in QUOTED])
def test_the_page_quotes_real_refusals(tmp_path, expression, message):
    page = PAGE.read_text(encoding="utf-8")
    assert f": {message}" in page, f"docs/support.md does not quote {message!r}"
    source = f"import numpy as np\n\n\ndef f(x):\n    return {expression}\n"
    module = _module(tmp_path, source)
    with pytest.raises(SourceADError) as error:
        sourcead.grad(module.f, compile=False)(_point())
    assert str(error.value).split(": ", 1)[1].startswith(message)
