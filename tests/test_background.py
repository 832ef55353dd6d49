"""``compile="background"``: Python calls at once, compiled calls once Numba is done."""

import logging

import numpy as np
import pytest

import sourcead
from sourcead.api import forward
from sourcead.api.background import BackgroundCompiled
from sourcead.api.gradients import GradientFunction


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
        entry._compile((w, x, 1.0))
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
