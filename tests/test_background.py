"""``compile="background"``: Python calls at once, compiled calls once Numba is done."""

import logging
import math
import os
import pickle
import threading
import time
import types
import warnings

import numpy as np
import pytest
import sourcead_runtime
from build_support import run_script
from helpers import assert_close, directional_difference, numerical_grad
from numba.core.dispatcher import Dispatcher

import sourcead
from sourcead.api import background, forward
from sourcead.api.background import PYTHON_CALL_THREAD, BackgroundCompiled, python_helpers
from sourcead.api.gradients import GradientFunction
from sourcead.backends.cpu import progress
from sourcead.cache import compile_process
from sourcead.pipeline import forward_over_reverse


def layer_loss(w, x):
    return np.sum(np.tanh(x @ w) ** 2) + 0.1 * np.sum(w * w)


def _inputs():
    rng = np.random.default_rng(3)
    return rng.normal(size=(3, 2)), rng.normal(size=(4, 3))


def _entry(gradient) -> object:
    (function,) = [built[1] for built in gradient._cache.values()]
    return function


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_first_calls_run_as_python_until_the_compiled_version_is_ready(monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE", "0")  # made now, not found in a cache
    w, x = _inputs()
    before = w.copy()
    expected = sourcead.grad(layer_loss, compile=False)(w, x)
    gradient = sourcead.grad(layer_loss, compile="background")
    first = gradient(w, x)
    np.testing.assert_allclose(first, expected, rtol=1e-14)
    entry = _entry(gradient)
    assert isinstance(entry, BackgroundCompiled)
    assert entry.wait(timeout=300)
    np.testing.assert_allclose(gradient(w, x), expected, rtol=1e-12)  # compiled now
    np.testing.assert_array_equal(w, before)  # the inputs are never changed


def layer_loss_compiled_apart(w, x):
    return np.sum(np.cos(x @ w) ** 2) + 0.5 * np.sum(w**3)


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_a_module_of_the_cache_compiles_in_a_child_process(monkeypatch):
    """The persistent cache holds the module: a child process compiles it (filling Numba's
    cache beside it), and this process loads the machine code from there."""
    outcomes = []
    wait = compile_process.Compiling.wait

    def recorded(compiling):
        outcomes.append(wait(compiling))
        return outcomes[-1]

    monkeypatch.setattr(compile_process.Compiling, "wait", recorded)
    w, x = _inputs()
    # the Python version first: the module is in the cache then, without machine code
    expected = sourcead.grad(layer_loss_compiled_apart, compile=False)(w, x)
    gradient = sourcead.grad(layer_loss_compiled_apart, compile="background")
    np.testing.assert_allclose(gradient(w, x), expected, rtol=1e-14)
    entry = _entry(gradient)
    assert isinstance(entry, BackgroundCompiled)
    assert entry.wait(timeout=300)
    assert outcomes == [True]
    assert entry.compiled.stats.cache_hits  # loaded, not compiled again here
    np.testing.assert_allclose(gradient(w, x), expected, rtol=1e-12)


def test_a_child_process_refuses_a_file_that_is_no_entry(tmp_path, caplog):
    module = tmp_path / "made_up.py"
    module.write_text("def f(x):\n    return x\n")
    with caplog.at_level(logging.INFO, logger="sourcead"):
        assert not compile_process.start(module, "made_up", "f", (1.0,)).wait()
    assert any("made_up.py has no sourcead header" in r.getMessage() for r in caplog.records)


def test_a_child_process_deletes_its_arguments_and_says_why_it_failed(tmp_path):
    """A child may outlive its caller: it deletes the file of pickled arguments itself, and
    leaves why it failed in a file beside it."""
    arguments = tmp_path / "arguments.pickle"
    arguments.write_bytes(pickle.dumps((1.0,)))
    module = tmp_path / "made_up.py"
    module.write_text("def f(x):\n    return x\n")
    assert compile_process.main([str(module), "made_up", "f", str(arguments)]) == 1
    assert not arguments.exists()
    error = (tmp_path / "arguments.pickle.error").read_text()
    assert error == "DamagedEntry: made_up.py has no sourcead header (empty or cut short?)"


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_a_failed_compile_keeps_the_python_version(monkeypatch, caplog):
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    w, x = _inputs()
    gradient = sourcead.grad(layer_loss, compile="background")
    first = gradient(w, x)
    entry = _entry(gradient)
    entry.wait(timeout=300)
    entry.ready = False  # as if the compile had failed: run the thread's work again, failing

    def broken(*args):
        raise RuntimeError("no machine code")

    entry.compiled = broken
    with caplog.at_level(logging.WARNING, logger="sourcead"):
        entry._compile((w, x, 1.0), None)
    assert not entry.ready and isinstance(entry.failed, RuntimeError)
    assert any("keep running as Python" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(gradient(w, x), first, rtol=1e-14)


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_a_derivative_found_in_the_cache_is_called_compiled():
    w, x = _inputs()
    sourcead.grad(layer_loss)(w, x)  # compiled; the module stored in the persistent cache
    # (the compiler's gradient itself, not the record the call above left for `grad`)
    gradient = GradientFunction(layer_loss, 0, False, "background")
    np.testing.assert_allclose(gradient(w, x), sourcead.grad(layer_loss)(w, x), rtol=1e-14)
    assert not isinstance(_entry(gradient), BackgroundCompiled)


def test_compile_takes_three_values():
    with pytest.raises(ValueError, match="compile= takes True, False or 'background'"):
        sourcead.grad(layer_loss, compile="later")


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_jvp_runs_as_python_until_the_tangent_is_compiled(monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    w, x = _inputs()
    v = np.ones_like(w)
    expected = sourcead.jvp(layer_loss, (w, x), (v, None), compile=False)
    first = sourcead.jvp(layer_loss, (w, x), (v, None), compile="background")
    np.testing.assert_allclose(first, expected, rtol=1e-14)
    (function,) = [
        built[1]
        for key, built in forward._CACHE.items()
        if key[1] is layer_loss and key[5] == "background"
    ]
    assert isinstance(function, BackgroundCompiled)
    assert function.wait(timeout=300)
    later = sourcead.jvp(layer_loss, (w, x), (v, None), compile="background")
    np.testing.assert_allclose(later, expected, rtol=1e-12)


# --- the second derivatives, jacobian and vmap ------------------------------------------------
def quartic(x, y):
    return np.sum(np.sin(x) * y) + 0.25 * np.sum(x**4) * y[0]


def quartic_too(x, y):  # the same, for the compiled tests (their own in-memory caches)
    return np.sum(np.sin(x) * y) + 0.25 * np.sum(x**4) * y[0]


def sines(x, y):
    return np.sin(x) * y + x[0] * y


def sines_too(x, y):
    return np.sin(x) * y + x[0] * y


def pair_loop(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i] * y[i] + math.sin(x[i] * y[i])
    return s


def pair_loop_too(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i] * y[i] + math.sin(x[i] * y[i])
    return s


def _pair():
    rng = np.random.default_rng(5)
    return rng.normal(size=3), rng.normal(size=3)


def _batch():
    rng = np.random.default_rng(6)
    return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))


def _fd_hessian(f, x, y):
    """The Hessian wrt x by central differences of the Python gradient's components."""
    gradient = sourcead.grad(f, compile=False)
    rows = [numerical_grad(lambda x, y, k=k: gradient(x, y)[k], (x, y)) for k in range(x.size)]
    return np.array(rows)


def _second_order_entries(fun) -> list:
    """The functions the second derivatives of ``fun`` made with compile="background" call."""
    return [
        built.function
        for key, built in forward_over_reverse._CACHE.items()
        if key[0] is fun and key[4] == "background"
    ]


@pytest.fixture
def no_compile_thread(monkeypatch):
    """The thread that compiles does nothing: quick tests check the Python first calls
    without waiting for (or competing with) Numba."""
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    monkeypatch.setattr(BackgroundCompiled, "_compile", lambda self, args, cached: None)


def test_hessian_and_hvp_first_calls_run_as_python(no_compile_thread):
    x, y = _pair()
    before = x.copy()
    H = sourcead.hessian(quartic, compile="background")(x, y)
    assert_close(H, sourcead.hessian(quartic, compile=False)(x, y), rtol=1e-14, atol=0)
    assert_close(H, _fd_hessian(quartic, x, y), rtol=1e-6, atol=1e-8)
    v = np.array([0.3, -1.0, 2.0])
    product = sourcead.hvp(quartic, (x, y), (v, None), compile="background")
    assert_close(product, H @ v, rtol=1e-12, atol=1e-14)
    entries = _second_order_entries(quartic)
    assert len(entries) == 2 and all(isinstance(e, BackgroundCompiled) for e in entries)
    assert not any(e.ready for e in entries)  # (no compile in this test)
    np.testing.assert_array_equal(x, before)


def test_grad_of_gradient_in_the_background(no_compile_thread):
    def scalar(a, b):
        return a * a * math.sin(b) + b**3

    second = sourcead.grad(sourcead.grad(scalar, wrt=0), wrt=1, compile="background")
    expected = numerical_grad(lambda a, b: 2 * a * math.sin(b), (0.7, 1.3), wrt=1)
    assert_close(second(0.7, 1.3), expected)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_first_calls_run_as_python(no_compile_thread, mode):
    x, y = _pair()
    J = sourcead.jacobian(sines, mode=mode, compile="background")(x, y)
    assert_close(J, sourcead.jacobian(sines, mode=mode, compile=False)(x, y), rtol=1e-14, atol=0)
    rows = [numerical_grad(lambda x, y, k=k: sines(x, y)[k], (x, y)) for k in range(3)]
    assert_close(J, np.array(rows))


def test_vmap_first_calls_run_as_python(no_compile_thread):
    xs, ys = _batch()
    explicit = sourcead.vmap(sourcead.grad(pair_loop, wrt=(0, 1)), compile="background")
    inherited = sourcead.vmap(sourcead.grad(pair_loop, wrt=(0, 1), compile="background"))
    assert inherited.compile == "background"
    expected = sourcead.vmap(sourcead.grad(pair_loop, wrt=(0, 1), compile=False))(xs, ys)
    for batched in (explicit, inherited):
        assert_close(batched(xs, ys), expected, rtol=1e-14, atol=0)
        (plan,) = batched._built.values()
        assert isinstance(plan.module[plan.wrapper], BackgroundCompiled)
    for k in range(xs.shape[0]):
        assert_close(
            (expected[0][k], expected[1][k]),
            numerical_grad(pair_loop, (xs[k], ys[k]), wrt=(0, 1)),
        )
    values = sourcead.vmap(sines, compile="background")(xs, ys)  # a plain function
    assert_close(values, np.stack([sines(a, b) for a, b in zip(xs, ys, strict=True)]), 1e-14, 0)


def test_every_entry_point_checks_compile():
    x, y = _pair()
    v = np.ones(3)
    calls = [
        lambda: sourcead.jvp(quartic, (x, y), (v, None), compile="later"),
        lambda: sourcead.vjp(quartic, x, y, compile="later"),
        lambda: sourcead.hvp(quartic, (x, y), (v, None), compile="later"),
        lambda: sourcead.hessian(quartic, compile="later"),
        lambda: sourcead.jacobian(sines, compile="later"),
        lambda: sourcead.jacfwd(sines, compile="later"),
        lambda: sourcead.jacrev(sines, compile="later"),
        lambda: sourcead.grad(sourcead.grad(quartic), compile="later"),
        lambda: sourcead.vmap(sines, compile="later"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="compile= takes True, False or 'background'"):
            call()
    with pytest.raises(ValueError, match="vmap\\(jvp\\) is always compiled"):
        sourcead.vmap(sourcead.jvp, compile="background")
    with pytest.raises(ValueError, match="target='cuda' is always compiled"):
        sourcead.vmap(sines, target="cuda", compile="background")


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_hessian_and_hvp_switch_to_compiled(monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    x, y = _pair()
    hessian = sourcead.hessian(quartic_too, compile="background")
    expected = sourcead.hessian(quartic_too, compile=False)(x, y)
    assert_close(hessian(x, y), expected, rtol=1e-14, atol=0)
    v = np.array([0.3, -1.0, 2.0])
    sourcead.hvp(quartic_too, (x, y), (v, None), compile="background")
    entries = _second_order_entries(quartic_too)
    assert len(entries) == 2
    for entry in entries:
        assert isinstance(entry, BackgroundCompiled) and entry.wait(timeout=300)
    assert_close(hessian(x, y), expected, rtol=1e-12, atol=1e-14)  # compiled now
    product = sourcead.hvp(quartic_too, (x, y), (v, None), compile="background")
    assert_close(product, expected @ v, rtol=1e-12, atol=1e-14)


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_a_hessian_found_in_the_cache_is_called_compiled():
    x, y = _pair()
    expected = sourcead.hessian(quartic_too, wrt=1)(x, y)  # compiled, kept in the cache
    hessian = sourcead.hessian(quartic_too, wrt=1, compile="background")
    assert_close(hessian(x, y), expected, rtol=1e-14, atol=0)
    entries = [
        built.function
        for key, built in forward_over_reverse._CACHE.items()
        if key[0] is quartic_too and key[4] == "background" and key[2] == ("y",)
    ]
    assert len(entries) == 1 and not isinstance(entries[0], BackgroundCompiled)


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_jacobian_switches_to_compiled(monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    x, y = _pair()
    jacobian = sourcead.jacfwd(sines_too, compile="background")
    expected = sourcead.jacfwd(sines_too, compile=False)(x, y)
    assert_close(jacobian(x, y), expected, rtol=1e-14, atol=0)
    (entry,) = [
        built[1]
        for key, built in forward._CACHE.items()
        if key[1] is sines_too and key[5] == "background"
    ]
    assert isinstance(entry, BackgroundCompiled) and entry.wait(timeout=300)
    assert_close(jacobian(x, y), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_vmap_switches_to_compiled(monkeypatch):
    monkeypatch.setenv("SOURCEAD_CACHE", "0")
    xs, ys = _batch()
    before = xs.copy()
    batched = sourcead.vmap(sourcead.grad(pair_loop_too, wrt=(0, 1)), compile="background")
    expected = sourcead.vmap(sourcead.grad(pair_loop_too, wrt=(0, 1), compile=False))(xs, ys)
    assert_close(batched(xs, ys), expected, rtol=1e-14, atol=0)
    (plan,) = batched._built.values()
    wrapper = plan.module[plan.wrapper]
    assert isinstance(wrapper, BackgroundCompiled) and wrapper.wait(timeout=300)
    assert_close(batched(xs, ys), expected, rtol=1e-12, atol=1e-14)  # compiled now
    np.testing.assert_array_equal(xs, before)


# --- the Python version's runtime helpers -------------------------------------------------------
def top_singular_weights(a, w):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.sum(w * u[:, 0] ** 2) * s[0]


def test_the_python_version_runs_the_runtime_helpers_as_python(no_compile_thread):
    rng = np.random.default_rng(7)
    a, w, v = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(4, 3))
    _, tangent = sourcead.jvp(top_singular_weights, (a, w), (v, None), compile="background")
    expected = directional_difference(lambda d: top_singular_weights(a + d * v, w))
    assert_close(tangent, expected)
    (entry,) = [
        built[1]
        for key, built in forward._CACHE.items()
        if key[1] is top_singular_weights and key[5] == "background"
    ]
    helper = entry.python.__globals__["svd_tangent_u"]
    # (compile=False calls the helper's Python function, which calls Numba functions)
    assert not isinstance(helper.__globals__["_svd_left_tangent"], Dispatcher)


def test_python_helpers_reach_no_numba_function():
    namespace = {
        name: getattr(helper, "py_func", helper)
        for name in sourcead_runtime.__all__
        if callable(helper := getattr(sourcead_runtime, name))
    }
    helpers = python_helpers(namespace)
    assert set(helpers) <= set(namespace) and "svd_tangent_u" in helpers
    seen, stack = set(), list(helpers.values())
    while stack:
        function = stack.pop()
        if id(function) in seen:
            continue
        seen.add(id(function))
        for name in function.__code__.co_names:
            value = function.__globals__.get(name)
            assert not isinstance(value, Dispatcher), f"{function.__name__} calls {name} compiled"
            if isinstance(value, types.FunctionType) and value.__module__.startswith(
                "sourcead_runtime"
            ):
                stack.append(value)


def default_loss(w, x):
    return np.sum(np.sin(x @ w)) + np.sum(w * w)


def test_the_default_is_background_unless_sourcead_compile_says_otherwise(monkeypatch):
    monkeypatch.delenv("SOURCEAD_COMPILE", raising=False)
    assert sourcead.grad(default_loss).compile == "background"
    assert sourcead.hessian(quartic).compile == "background"
    assert sourcead.jacobian(sines).compile == "background"
    assert sourcead.vmap(sines).compile == "background"
    settings = [("true", True), ("1", True), ("false", False), ("0", False)]
    for value, expected in [*settings, (" Background ", "background")]:
        monkeypatch.setenv("SOURCEAD_COMPILE", value)
        assert sourcead.grad(default_loss).compile == expected
        assert sourcead.vmap(sines).compile == expected
    assert sourcead.grad(default_loss, compile="background").compile == "background"  # given
    monkeypatch.delenv("SOURCEAD_COMPILE")
    monkeypatch.setenv("SOURCEAD_TIMINGS", "1")  # a breakdown of the compile at the call
    assert sourcead.grad(default_loss).compile is True
    monkeypatch.setenv("SOURCEAD_COMPILE", "later")
    with pytest.raises(ValueError, match="SOURCEAD_COMPILE='later'"):
        sourcead.grad(default_loss)


def _compiled_in_a_child(monkeypatch, python, compiled, seconds: float) -> BackgroundCompiled:
    """A ``BackgroundCompiled`` as for a module of the persistent cache, whose child process
    takes ``seconds`` (no Numba: the race itself is tested)."""
    monkeypatch.setattr(background, "_cached_module", lambda function: ("file", "name", "entry"))

    class Child:
        def wait(self):
            time.sleep(seconds)
            return True

    monkeypatch.setattr(compile_process, "start", lambda *arguments: Child())
    return BackgroundCompiled(python, compiled, "the test's derivative")


def _python_calls_running() -> bool:
    return any(t.name == PYTHON_CALL_THREAD for t in threading.enumerate())


def test_a_slow_python_call_gives_way_to_the_compiled_version(monkeypatch):
    """A Python version slower than the compiler (long element loops) is not waited for: the
    call returns the compiled version's result once it is ready, and the Python call stops."""

    def slow(n):
        total = 0
        for i in range(10**10):  # minutes as Python
            total += i % n
        return total

    entry = _compiled_in_a_child(monkeypatch, slow, lambda n: -n, seconds=0.3)
    started = time.perf_counter()
    assert entry(7) == -7
    assert time.perf_counter() - started < 30
    assert entry.wait(timeout=30) and entry(3) == -3
    deadline = time.perf_counter() + 10
    while _python_calls_running() and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert not _python_calls_running()


def test_a_quick_python_call_answers_while_the_child_compiles(monkeypatch):
    calls = []

    def compiled(x):
        calls.append(x)
        return 2.0 * x

    entry = _compiled_in_a_child(monkeypatch, lambda x: 2 * x, compiled, seconds=1.0)
    assert entry(4) == 8 and not entry.ready  # the Python version's answer
    assert entry.wait(timeout=30)
    assert calls == [4]  # the compiling thread's one call (with a copy of the arguments)
    assert entry(5) == 10.0 and calls == [4, 5]


def test_an_error_of_the_python_version_gives_way_to_the_compiled_answer(monkeypatch):
    """Python's float division by zero (or ``math.log(0.0)``) raises where the compiled code
    gives inf or nan: such a call waits for the compiled version, which answers it as
    ``compile=True`` would have."""

    def python(x):
        return 1.0 / x

    def compiled(x):
        return np.float64(1.0) / np.float64(x) if x else np.inf

    entry = _compiled_in_a_child(monkeypatch, python, compiled, seconds=0.5)
    assert entry(0.0) == np.inf and entry.ready


def test_an_error_of_both_versions_is_the_compiled_ones(monkeypatch):
    def python(x):
        raise ValueError(f"operands could not be broadcast: {x}")

    def compiled(x):
        raise ValueError(f"incompatible shapes: {x}")

    compiled.signatures = ["(int64,)"]  # compiled, as a Numba dispatcher says
    entry = _compiled_in_a_child(monkeypatch, python, compiled, seconds=0.2)
    with pytest.raises(ValueError, match="incompatible shapes: 3"):
        entry(3)
    assert entry.ready and entry.failed is None


def test_the_python_versions_error_is_raised_when_the_compile_fails(monkeypatch):
    def python(x):
        raise ZeroDivisionError("float division by zero")

    def compiled(x):
        raise RuntimeError("Numba could not compile it")

    entry = _compiled_in_a_child(monkeypatch, python, compiled, seconds=0.2)
    with pytest.raises(ZeroDivisionError):
        entry(0.0)
    assert isinstance(entry.failed, RuntimeError)


def test_a_long_background_compile_is_announced(monkeypatch, caplog):
    monkeypatch.setattr(progress, "DELAY", 0.05)
    entry = _compiled_in_a_child(monkeypatch, lambda x: x, lambda x: x, seconds=0.5)
    with caplog.at_level(logging.INFO, logger="sourcead"):
        entry(1.0)
        assert entry.wait(timeout=30)
    messages = [r.getMessage() for r in caplog.records]
    assert any("the test's derivative in the background" in m for m in messages)
    assert any("compiled the test's derivative in" in m for m in messages)


USER_MODULE = """
import numpy as np


def energy(w, x):
    return np.sum(np.cos(x @ w) * w[0]) + np.sum(w**4)
"""

FIRST_PROCESS = """
import numpy as np
import sourcead
import user

w, x = np.linspace(0.1, 0.6, 6).reshape(3, 2), np.linspace(-1.0, 1.0, 12).reshape(4, 3)
gradient = sourcead.grad(user.energy)
print(float(np.sum(gradient(w, x))))  # answered as Python; the child compiles on
(entry,) = [built[1] for built in gradient._cache.values()]
print(type(entry).__name__, getattr(entry, "ready", "-"))
"""


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_a_process_that_ends_leaves_its_compile_to_finish(tmp_path):
    """The default: a script that ends while Numba compiles (a child process) leaves the
    child to finish, so that the script's next run finds the machine code and is warm."""
    (tmp_path / "user.py").write_text(USER_MODULE)
    env = {k: v for k, v in os.environ.items() if k != "SOURCEAD_COMPILE"}  # the default
    env["SOURCEAD_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    first, kind = run_script(FIRST_PROCESS, tmp_path, env=env).split("\n")[:2]
    assert kind == "BackgroundCompiled False"
    deadline = time.monotonic() + 300
    while not list((tmp_path / "cache").rglob("*.nbi")) and time.monotonic() < deadline:
        time.sleep(0.5)  # the child is still compiling
    time.sleep(1.0)  # (its machine code is written beside the index)
    second, kind = run_script(FIRST_PROCESS, tmp_path, env=env).split("\n")[:2]
    assert kind == "CPUDispatcher -"  # compiled at once: the machine code was cached
    assert float(second) == pytest.approx(float(first), rel=1e-12)


def doubled_root(x):
    return 2.0 * math.sqrt(x)


@pytest.mark.slow  # waits for Numba: CI's slow group
def test_a_first_call_where_python_raises_answers_as_the_compiled_code():
    """At 0 the derivative of a square root divides by zero: Python's float division raises
    ZeroDivisionError, the compiled code gives inf (NumPy's semantics)."""
    with pytest.raises(ZeroDivisionError):
        sourcead.grad(doubled_root, compile=False)(0.0)
    assert sourcead.grad(doubled_root, compile="background")(0.0) == math.inf
    assert sourcead.grad(doubled_root, compile=True)(0.0) == math.inf


def tanh_loss(w, x):
    return np.sum(np.tanh(x @ w) * w[0, 0])


def tanh_loss_in_threads(w, x):
    return np.sum(np.tanh(x @ w) * w[0, 1])


def tanh_loss_forked(w, x):
    return np.sum(np.tanh(x @ w) * w[1, 0])


@pytest.fixture
def counted_starts(monkeypatch):
    """Count the compiles started (``_child``: one child process each); no compile runs."""
    starts = []
    monkeypatch.setattr(BackgroundCompiled, "_child", lambda self, copies: starts.append(1))
    monkeypatch.setattr(BackgroundCompiled, "_compile", lambda self, args, compiling: None)
    return starts


def test_every_derivative_of_one_function_shares_one_compile(counted_starts):
    """``vjp(f, x)`` per step (JAX's idiom) or ``grad(f)(x)`` in a loop makes a new derivative
    each time: they share one compile, not one child process each."""
    w, x = _inputs()
    for _ in range(4):
        sourcead.vjp(tanh_loss, w, x, compile="background")
        sourcead.grad(tanh_loss, compile="background")(w, x)
    assert len(counted_starts) == 1  # (vjp and grad use the same adjoint module)


def test_threads_calling_first_at_once_start_one_compile(counted_starts):
    w, x = _inputs()
    gradient = sourcead.grad(tanh_loss_in_threads, compile="background")
    gradient(w * 2.0, x)  # (the module is made here; its compile starts)
    counted_starts.clear()
    entry = _entry(gradient)
    entry._reset()  # as if no call had been made yet
    results = []
    threads = [threading.Thread(target=lambda: results.append(gradient(w, x))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counted_starts) == 1 and len(results) == 8
    for result in results:
        np.testing.assert_array_equal(result, results[0])


def test_a_forked_process_starts_its_own_compile(counted_starts):
    """A process forked while its parent compiled has no compiling thread: its next call
    starts a compile of its own (waiting for none would raise the Python version's errors)."""
    w, x = _inputs()
    gradient = sourcead.grad(tanh_loss_forked, compile="background")
    gradient(w, x)
    entry = _entry(gradient)
    entry._pid = -1  # as in a child of fork: another process id
    gradient(w, x)
    assert len(counted_starts) == 2 and entry._pid == os.getpid()


def test_the_python_version_returns_what_compiled_code_returns():
    """Python's numbers where NumPy's scalars come back, and no NumPy warnings of floating
    point: compiled code returns float and computes inf and nan silently."""
    from sourcead.api.background import _python_call

    def scalars():
        return np.float64(1.5), (np.float32(0.25), np.int64(3)), np.arange(2.0)

    value, (single, count), array = _python_call(scalars, ())
    assert type(value) is float and type(single) is float and type(count) is int
    assert isinstance(array, np.ndarray)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _python_call(lambda z: np.log(z), (np.zeros(2),))[0] == -np.inf


def test_arguments_that_do_not_pickle_start_no_child(tmp_path, monkeypatch):
    monkeypatch.setattr(compile_process.tempfile, "tempdir", str(tmp_path))
    module = tmp_path / "made_up.py"
    module.write_text("def f(x):\n    return x\n")
    assert compile_process.start(module, "made_up", "f", (lambda x: x,)) is None
    assert [p.name for p in tmp_path.iterdir()] == ["made_up.py"]  # the pickle file removed
