"""``SOURCEAD_OPT``: the LLVM level generated code is compiled at, and only generated code."""

import numba
import numpy as np
import pytest
from numba.core import config, event

import sourcead
from sourcead.backends.cpu import progress  # noqa: F401  (its listeners come first)


class _Levels(event.Listener):
    """The level Numba would optimise at, when each compile starts (after sourcead's own
    listener, registered before this one, has set it)."""

    def __init__(self):
        self.seen: list[tuple[str, int]] = []

    def on_start(self, ev):
        name = getattr(getattr(ev.data["dispatcher"], "py_func", None), "__name__", "?")
        self.seen.append((name, int(config.OPT)))

    def on_end(self, ev):
        pass


def _loss_1(x, y):
    return np.sum(np.tanh(x * y) ** 2)


def _loss_2(x, y):  # the same, compiled anew at another level
    return np.sum(np.tanh(x * y) ** 2)


@pytest.mark.parametrize("chosen", ["1", "2"])
def test_generated_code_compiles_at_the_chosen_level_and_others_at_numbas(monkeypatch, chosen):
    monkeypatch.setenv("SOURCEAD_OPT", chosen)
    before = int(config.OPT)
    levels = _Levels()
    x, y = np.linspace(0.1, 0.9, 5), np.linspace(-1.0, 1.0, 5)
    with event.install_listener("numba:compile", levels):
        loss = _loss_1 if chosen == "1" else _loss_2
        gradient = sourcead.grad(loss, wrt=(0, 1))(x, y)
        plain = numba.njit(lambda a: a * 2.0)  # the user's own code, compiled afterwards
        plain(1.0)
    generated = [level for name, level in levels.seen if name.startswith(loss.__name__)]
    assert generated and set(generated) == {int(chosen)}
    # the runtime's helpers it calls, compiled inside its compile: the same level
    assert {level for name, level in levels.seen[:-1]} == {int(chosen)}
    assert levels.seen[-1] == ("<lambda>", before)  # outside generated code: Numba's level
    assert int(config.OPT) == before  # put back after the compile
    expected = 2 * np.tanh(x * y) / np.cosh(x * y) ** 2
    np.testing.assert_allclose(gradient[0], expected * y, rtol=1e-12)
    np.testing.assert_allclose(gradient[1], expected * x, rtol=1e-12)


def test_a_wrong_level_is_a_clear_error(monkeypatch):
    from sourcead.backends.cpu import optimisation

    monkeypatch.setenv("SOURCEAD_OPT", "fast")
    with pytest.raises(ValueError, match="SOURCEAD_OPT must be one of 0, 1, 2, 3, max"):
        optimisation.level()
    monkeypatch.delenv("SOURCEAD_OPT")
    assert optimisation.level() is None  # unset: Numba's own level
