"""Derivatives pickle by reference: the user's function by module and qualified name, plus
the options; the process loading the pickle makes the derivative again.

The functions live in ``pickled_functions`` (a module other processes import). Each round
trip compares what the unpickled derivative computes with what the original computes.
"""

import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pickled_functions as pf
import pytest

import sourcead
from sourcead.cache import records, references

REPO = Path(__file__).resolve().parents[1]
U = np.array([0.5, 1.2, -0.3])
T = np.linspace(0.0, 2.0, 5)
W = np.array([1.5, 0.7, 0.2])
Y = np.array([1.6, 1.1, 0.8, 0.6, 0.5])


def assert_same(actual, expected):
    """The same structure (tuples) holding the same numbers."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same(a, e)
    else:
        assert np.shape(actual) == np.shape(expected)
        np.testing.assert_array_equal(actual, expected)


def round_trip(derivative):
    return pickle.loads(pickle.dumps(derivative))


# what each kind of derivative is made of, and the arguments it is called with
DERIVATIVES = {
    "grad": (lambda: sourcead.grad(pf.energy, compile=False), (2.0, 3.0)),
    "grad wrt tuple": (lambda: sourcead.grad(pf.energy, wrt=(0, 1), compile=False), (2.0, 3.0)),
    "grad argnums": (lambda: sourcead.grad(pf.energy, argnums=1, compile=False), (2.0, 3.0)),
    "grad wrt name": (lambda: sourcead.grad(pf.scaled, wrt="c", compile=False), (0.4, 2.0)),
    "value_and_grad": (lambda: sourcead.value_and_grad(pf.rosen, compile=False), (U,)),
    "grad has_aux": (
        lambda: sourcead.grad(pf.loss_with_aux, has_aux=True, compile=False),
        (W, T, Y),
    ),
    "value_and_grad has_aux": (
        lambda: sourcead.value_and_grad(pf.loss_with_aux, has_aux=True, compile=False),
        (W, T, Y),
    ),
    "grad of a dispatcher": (lambda: sourcead.grad(pf.jitted, compile=False), (0.3,)),
    "grad of grad": (
        lambda: sourcead.grad(sourcead.grad(pf.energy, compile=False), wrt=1, compile=False),
        (2.0, 3.0),
    ),
    "jacobian": (lambda: sourcead.jacobian(pf.polar, wrt=(0, 1), compile=False), (3.0, 4.0)),
    "jacfwd": (lambda: sourcead.jacfwd(pf.curve, compile=False), (W, T)),
    "jacrev": (lambda: sourcead.jacrev(pf.curve, compile=False), (W, T)),
    "jacobian has_aux": (
        lambda: sourcead.jacobian(pf.curve_with_aux, has_aux=True, compile=False),
        (W, T),
    ),
    "hessian": (lambda: sourcead.hessian(pf.rosen, compile=False), (U,)),
    "pullback": (
        lambda: sourcead.vjp(pf.polar, 3.0, 4.0, wrt=(0, 1), compile=False)[1],
        ((1.0, 0.5),),
    ),
}


@pytest.mark.parametrize("kind", list(DERIVATIVES))
def test_round_trip_computes_the_same(kind):
    make, args = DERIVATIVES[kind]
    derivative = make()
    expected = derivative(*args)
    data = pickle.dumps(derivative)
    assert b"sourcead_generated" not in data  # no generated code: a reference and options
    rebuilt = pickle.loads(data)
    assert rebuilt is not derivative and type(rebuilt) is type(derivative)
    assert_same(rebuilt(*args), expected)


def test_options_survive_the_round_trip():
    gradient = round_trip(sourcead.grad(pf.energy, wrt="y", preserve_result=True, compile=False))
    assert (gradient.wrt_given, gradient.preserve_result, gradient.compile) == ("y", True, False)
    assert gradient.has_aux is False
    aux = round_trip(sourcead.grad(pf.loss_with_aux, argnums=(0,), has_aux=True, compile=False))
    assert (aux.wrt_given, aux.has_aux) == ((0,), True)
    jacobian = round_trip(sourcead.jacobian(pf.curve, wrt=0, mode="reverse", compile=False))
    assert (jacobian.wrt, jacobian.mode, jacobian.compile) == (0, "reverse", False)


def test_a_dispatcher_travels_by_name():
    gradient = round_trip(sourcead.grad(pf.jitted, compile=False))
    assert gradient.fun is pf.jitted.py_func  # found by name, not pickled by value
    data = pickle.dumps(sourcead.grad(pf.jitted, compile=False))
    assert b"pickled_functions" in data and b"jitted" in data


def test_a_decorated_derivative_pickles_as_its_name():
    assert round_trip(pf.decorated) is pf.decorated
    assert round_trip(pf.square_kernel) is pf.square_kernel


def test_a_cached_gradient_pickles_as_grad(tmp_path):
    """A gradient found in the cache's records pickles as sourcead.grad of its function."""
    recorded = records.RecordedGradients(pf.rosen, tmp_path, "no record")
    cached = records.CachedGradient(recorded, 0, True, lambda f, w, p: sourcead.grad(f, w))
    rebuilt = round_trip(cached)  # sourcead.grad again: a CachedGradient where records exist
    assert type(rebuilt).__name__ in ("CachedGradient", "GradientFunction")
    # (its attributes, read without calling it: a call would compile)
    assert rebuilt.fun is pf.rosen and rebuilt.compile is True
    assert (rebuilt.wrt_given, rebuilt.preserve_result, rebuilt.has_aux) == (0, True, False)


def test_vmap_pickles_with_its_options():
    cases = [
        sourcead.vmap(pf.rosen),
        sourcead.vmap(sourcead.grad(pf.rosen), target="parallel"),
        sourcead.vmap(sourcead.value_and_grad(pf.energy, wrt=(0, 1)), in_axes=(0, None)),
        sourcead.vmap(sourcead.jacobian(pf.curve), in_axes=(0, None)),
        sourcead.vmap(pf.rosen, target="cuda", tape_memory=1 << 20, checkpoint_every=4),
    ]
    for batched in cases:
        rebuilt = round_trip(batched)
        assert type(rebuilt) is type(batched) and rebuilt is not batched
        for name in ("kind", "target", "in_axes", "tape_memory", "checkpoint_every"):
            assert getattr(rebuilt, name) == getattr(batched, name)
        assert rebuilt.fun is batched.fun
        if batched.kind == "grad":
            assert rebuilt.derivative.preserve_result == batched.derivative.preserve_result
            assert rebuilt.derivative.wrt_given == batched.derivative.wrt_given
    jvps = sourcead.vmap(sourcead.jvp, in_axes=(None, 0, None), target="parallel")
    rebuilt = round_trip(jvps)
    assert (rebuilt.primal_axes, rebuilt.tangent_axes, rebuilt.options) == (0, None, jvps.options)


@pytest.mark.slow
def test_vmap_round_trip_computes_the_same():
    batch = np.array([[0.5, 1.2, -0.3], [1.0, 1.0, 1.0], [0.1, 0.2, 0.3]])
    for batched in (sourcead.vmap(sourcead.grad(pf.rosen)), sourcead.vmap(pf.rosen)):
        assert_same(round_trip(batched)(batch), batched(batch))
    jvps = sourcead.vmap(sourcead.jvp)
    tangents = np.ones_like(batch)
    expected = jvps(pf.rosen, (batch,), (tangents,))
    assert_same(round_trip(jvps)(pf.rosen, (batch,), (tangents,)), expected)


def test_host_grad_round_trip():
    cuda = pytest.importorskip("numba.cuda")
    gradient = sourcead.host_grad(pf.host_squares, preserve_result=True)
    rebuilt = round_trip(gradient)
    assert type(rebuilt) is type(gradient) and rebuilt.preserve_result

    def run(g):
        u = cuda.to_device(np.array([0.5, -1.0, 2.0]))
        value, du = g(u, cuda.device_array(3), cuda.device_array(1))
        return value, du.copy_to_host()

    assert_same(run(rebuilt), run(gradient))


# --- what cannot be found by name is refused, with the reason -----------------------------
def test_a_local_function_is_refused():
    gradient = sourcead.grad(pf.make_local(), compile=False)
    with pytest.raises(pickle.PicklingError) as error:
        pickle.dumps(gradient)
    message = str(error.value)
    assert "make_local.<locals>.local" in message and "inside another function" in message
    assert "pickle by reference" in message and "module and qualified name" in message


def test_a_lambda_is_refused():
    # sourcead differentiates no lambda, but a derivative's reference check names it
    with pytest.raises(pickle.PicklingError, match="is a lambda"):
        references.user_function(lambda x: x, "sourcead.grad of a lambda")


def test_a_rebound_name_is_refused():
    gradient = sourcead.grad(pf.kept_under_another_name, compile=False)
    with pytest.raises(pickle.PicklingError, match="pickled_functions.rebound does not name"):
        pickle.dumps(gradient)


def test_an_interactive_main_is_refused(monkeypatch):
    gradient = sourcead.grad(pf.energy, compile=False)
    pullback = sourcead.vjp(pf.energy, 2.0, 3.0, compile=False)[1]
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no file
    monkeypatch.setattr(pf.energy, "__module__", "__main__")
    for derivative in (gradient, pullback):
        with pytest.raises(pickle.PicklingError, match=r"__main__\.energy is defined in an"):
            pickle.dumps(derivative)


def test_a_missing_function_is_named_where_the_pickle_is_loaded(tmp_path, monkeypatch):
    (tmp_path / "vanishing.py").write_text("def cube(x):\n    return x * x * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import vanishing

    data = pickle.dumps(sourcead.grad(vanishing.cube, compile=False))
    del vanishing.cube
    with pytest.raises(pickle.UnpicklingError, match=r"vanishing\.cube.*pickle by reference"):
        pickle.loads(data)
    monkeypatch.delitem(sys.modules, "vanishing")
    (tmp_path / "vanishing.py").unlink()
    with pytest.raises(pickle.UnpicklingError, match=r"No module named 'vanishing'"):
        pickle.loads(data)


def _python(code: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(cwd)]), **env)
    return subprocess.run(
        [sys.executable, *code], cwd=cwd, env=environment, capture_output=True, timeout=300
    )


@pytest.mark.slow  # new Python processes import NumPy, Numba and sourcead
def test_a_script_main_function_pickles_but_only_its_script_finds_it(tmp_path):
    """A function of a script's ``__main__`` pickles (spawned workers run the script again
    and find it); another program loading the pickle is told which function is missing."""
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import pickle, sys
            import sourcead

            def cube(x):
                return x * x * x

            if __name__ == "__main__":
                data = pickle.dumps(sourcead.grad(cube, compile=False))
                assert pickle.loads(data)(2.0) == 12.0
                sys.stdout.buffer.write(data)
            """
        )
    )
    made = _python([str(script)], tmp_path)
    assert made.returncode == 0, made.stderr.decode()
    (tmp_path / "pickled.bin").write_bytes(made.stdout)
    loader = "import pickle; pickle.loads(open('pickled.bin', 'rb').read())"
    loaded = _python(["-c", loader], tmp_path)
    assert loaded.returncode != 0
    assert "UnpicklingError" in loaded.stderr.decode()
    assert "__main__.cube" in loaded.stderr.decode()


# --- derivatives in worker processes ----------------------------------------------------------
BATCH = [np.array([0.5, 1.2, -0.3]), np.array([1.0, 1.0, 1.0])]


def _expected(derivative):
    return [derivative(u) for u in BATCH]


@pytest.mark.slow  # new Python processes import NumPy, Numba and sourcead
def test_a_spawned_pool_runs_a_gradient():
    derivative = sourcead.value_and_grad(pf.rosen, compile=False)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:  # one worker: the same pickling, half the start-up
        results = pool.starmap(pf.call_in_worker, [(derivative, (u,)) for u in BATCH])
    assert [kind for kind, _ in results] == ["GradientFunction"] * len(BATCH)
    for (_, result), expected in zip(results, _expected(derivative), strict=True):
        assert_same(result, expected)


@pytest.mark.slow
def test_a_process_pool_executor_runs_a_compiled_gradient(tmp_path):
    """Compiled: the parent's first call records the gradient in the persistent cache, and
    the workers' ``sourcead.grad`` finds it there (a CachedGradient, no compiler).

    The parent is a fresh process, as a user's program is: a record made where custom
    derivative rules are registered (as other tests of this process register them) is,
    rightly, not used by a worker without them."""
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import concurrent.futures, multiprocessing, pickle, sys
            import numpy as np
            import pickled_functions as pf
            import sourcead

            if __name__ == "__main__":
                batch = [np.array([0.5, 1.2, -0.3]), np.array([1.0, 1.0, 1.0])]
                derivative = sourcead.grad(pf.rosen)
                expected = [derivative(u) for u in batch]
                context = multiprocessing.get_context("spawn")
                with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
                    results = list(pool.map(derivative, batch))
                    reported = pool.submit(pf.call_in_worker, derivative, (batch[0],)).result()
                sys.stdout.buffer.write(pickle.dumps((expected, results, reported)))
            """
        )
    )
    tests = str(Path(__file__).resolve().parent)
    environment = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO), tests]),
        SOURCEAD_CACHE_DIR=str(tmp_path / "cache"),  # no other test's records
    )
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()
    expected, results, reported = pickle.loads(run.stdout)
    in_python = sourcead.grad(pf.rosen, compile=False)
    np.testing.assert_allclose(expected[0], in_python(BATCH[0]), rtol=1e-12)
    for result, want in zip(results, expected, strict=True):
        assert_same(result, want)
    assert reported[0] == "CachedGradient"
    assert_same(reported[1], expected[0])
