"""Derivatives on Dask workers (dask.distributed): a LocalCluster of two worker processes.

The workers are spawned processes: they inherit this process's environment (the test run's
``SOURCEAD_CACHE_DIR``) and ``sys.path``, so they import ``pickled_functions`` as the pool
workers of test_pickling.py do. A module the workers do not have is sent with
``client.upload_file``, as a user of a remote cluster does.
"""

import os
import sys
import textwrap

import numpy as np
import pickled_functions as pf
import pytest

import sourcead

distributed = pytest.importorskip("distributed")

# a cluster of two worker processes, each importing and compiling: the slow group
pytestmark = pytest.mark.slow

X = np.linspace(0.5, 2.0, 40)
Y = np.linspace(1.0, 3.0, 40)
CHUNKS = [(X[i : i + 10], Y[i : i + 10]) for i in range(0, 40, 10)]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


#: Seconds a test waits for its tasks: a task that can never run fails instead of hanging.
WAIT = 300


def gathered(client, futures):
    """The results of ``futures``, waiting at most ``WAIT`` seconds for them."""
    distributed.wait(futures, timeout=WAIT)
    return client.gather(futures)


def where_and_what(derivative, *args):
    """Run on a worker: (its process id, the derivative object's id, the result)."""
    return os.getpid(), id(derivative), derivative(*args)


def test_a_gradient_runs_on_the_workers(client):
    derivative = sourcead.grad(pf.energy, wrt=(0, 1), compile=False)
    futures = client.map(derivative, X[:8], Y[:8], pure=False)
    results = gathered(client, futures)
    assert results == [derivative(x, y) for x, y in zip(X[:8], Y[:8], strict=True)]


def test_a_vmap_of_a_gradient_is_made_once_per_worker(client):
    """Every task carries the derivative; a worker makes it at the first and reuses it."""
    batched = sourcead.vmap(
        sourcead.grad(pf.energy, wrt=(0, 1), compile=False), in_axes=(0, 0), target="cpu"
    )
    tasks = [(batched, x, y) for x, y in CHUNKS * 2]
    results = gathered(client, client.map(where_and_what, *zip(*tasks, strict=True), pure=False))
    for (_, _, got), (_, x, y) in zip(results, tasks, strict=True):
        want = batched(x, y)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    made = {}
    for pid, identity, _ in results:
        made.setdefault(pid, set()).add(identity)
    assert all(len(identities) == 1 for identities in made.values()), made


def test_a_module_sent_with_upload_file(client, tmp_path, monkeypatch):
    """A function in a module the workers cannot import until it is uploaded."""
    module = tmp_path / "dask_uploaded_model.py"
    module.write_text(
        textwrap.dedent(
            """
            import math

            def wave(x, k):
                return math.sin(k * x) * x * x
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    client.upload_file(str(module))  # (re)imports it here too: make derivatives after
    import dask_uploaded_model as model

    derivative = sourcead.grad(model.wave, wrt=(0, 1), compile=False)
    got = gathered(client, client.map(derivative, X[:4], Y[:4], pure=False))
    assert got == [derivative(x, k) for x, k in zip(X[:4], Y[:4], strict=True)]
    sys.modules.pop("dask_uploaded_model", None)


def test_compiled_parallel_chunks_equal_the_single_process_result(client):
    """Compiled with target="parallel" on each worker (loaded from the shared cache that the
    first call here fills); the gathered chunks equal one call over the whole batch."""
    batched = sourcead.vmap(sourcead.grad(pf.energy, wrt=(0, 1)), in_axes=(0, 0), target="parallel")
    whole = batched(X, Y)
    results = gathered(
        client, client.map(where_and_what, [batched] * 4, *zip(*CHUNKS, strict=True), pure=False)
    )
    joined = [np.concatenate([r[2][k] for r in results]) for k in range(2)]
    np.testing.assert_array_equal(joined[0], whole[0])
    np.testing.assert_array_equal(joined[1], whole[1])
    assert type(results[0][2][0]) is np.ndarray
