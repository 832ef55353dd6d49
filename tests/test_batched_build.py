"""``sourcead build --vmap cpu|parallel``: batched gradients built ahead of time."""

import json
import os
import sys
import textwrap

import numpy as np
import pytest
from build_support import needs_numba_cuda, run_script, script_without, user_module

import sourcead
from sourcead.aot import build, cli

# one worker runs the whole module: its module-scoped build is made once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("batched-build")

# Run where gast and sourcead cannot be imported: the built modules' results as JSON.
BATCHED_RUN = script_without("gast", "sourcead") + textwrap.dedent(
    """
    import energy_batched_cpu, flight_batched_parallel

    vx = np.linspace(10.0, 30.0, 9)
    vy = np.linspace(5.0, 25.0, 9)
    u = np.linspace(0.1, 1.0, 4 * 7).reshape(4, 7)
    flight = flight_batched_parallel.flight_batched(vx, vy, 0.05)
    energy = energy_batched_cpu.energy_batched(u, np.array([0.5, 2.0]), 7)
    try:
        flight_batched_parallel.flight_batched(vx, vy[:3], 0.05)
        mismatch = None
    except ValueError as exc:
        mismatch = str(exc)

    print(json.dumps({"flight": plain(flight), "energy": plain(energy), "mismatch": mismatch}))
    """
)


def _assert_flight_as_vmap(module, reported, n: int) -> None:
    """The built flight's (values, gradients) for n trajectories, as vmap computes them."""
    vx, vy = np.linspace(10.0, 30.0, n), np.linspace(5.0, 25.0, n)
    mapped = sourcead.vmap(sourcead.value_and_grad(module.flight, wrt=(0, 1, 2)), (0, 0, None))
    values, grads = mapped(vx, vy, 0.05)
    assert reported[0] == pytest.approx(values.tolist(), rel=1e-13)
    for got, expected in zip(reported[1], grads, strict=True):
        assert got == pytest.approx(expected.tolist(), rel=1e-12)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("batched")
    path = user_module(root, "batchedtarget")
    name = path.stem
    out = root / "built"
    flight = ["build", f"{path}:flight", "--wrt", "vx,vy,c", "--vmap", "parallel"]
    flight += ["--in-axes", "0,0,None", "-o", out]
    energy = ["build", f"{path}:energy", "--wrt", "u,w", "--types", "n:int", "--vmap", "cpu"]
    energy += ["--in-axes", "0,None,None", "-o", out]
    try:
        for argv in (flight, energy):
            assert cli.main([str(a) for a in argv]) == 0
        yield path, out, sys.modules[name]
    finally:
        sys.modules.pop(name, None)


@pytest.mark.slow  # builds and compiles batched modules: CI's slow group
def test_batched_modules_give_what_vmap_gives_without_the_compiler(built):
    path, out, module = built
    text = (out / "flight_batched_parallel.py").read_text()
    assert build.foreign_imports(text) == []
    assert (
        "@numba.njit(cache=True, parallel=True, error_model='numpy')\ndef flight_adjoint_batched("
        in text
    )
    assert "for i in numba.prange(" in text
    assert "\ndef flight_batched(vx, vy, c):" in text  # the entry stays plain Python
    report = json.loads(run_script(BATCHED_RUN, out))

    _assert_flight_as_vmap(module, report["flight"], 9)

    u, w = np.linspace(0.1, 1.0, 28).reshape(4, 7), np.array([0.5, 2.0])
    for row, value in enumerate(report["energy"][0]):  # each element against grad itself
        expected_value, (g_u, g_w) = sourcead.value_and_grad(module.energy, wrt=(0, 1))(
            u[row], w, 7
        )
        assert value == pytest.approx(expected_value, rel=1e-13)
        assert report["energy"][1][0][row] == pytest.approx(g_u.tolist(), rel=1e-12)
        assert report["energy"][1][1][row] == pytest.approx(g_w.tolist(), rel=1e-12)
    assert report["mismatch"] == "flight_batched: batch sizes differ (vx: 9, vy: 3)"


def test_batched_build_is_checked_like_the_others(built, capsys):
    path, out, _ = built
    argv = ["build", f"{path}:flight", "--wrt", "vx,vy,c", "--vmap", "parallel"]
    argv += ["--in-axes", "0,0,None", "-o", str(out)]
    assert cli.main([*argv, "--check"]) == 0
    other_axes = [*argv[:-4], "--in-axes", "0,0,0", "-o", str(out), "--check"]
    assert cli.main(other_axes) == 1
    assert "no longer matches" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--in-axes", "0,0,0"], "--in-axes goes with --vmap"),
        (["--vmap", "cpu", "--native"], "--native compiles CPU entries"),
        (["--vmap", "cpu", "--mode", "forward"], "--vmap builds --mode reverse"),
        (["--vmap", "cpu", "--in-axes", "0,1,0"], "--in-axes entries are 0 or None, not '1'"),
        (["--vmap", "cpu", "--in-axes", "0,0"], "--in-axes has 2 entries for 3 arguments"),
        (["--vmap", "cpu", "--checkpoint-every", "8"], "--checkpoint-every goes with --vmap cuda"),
        (["--vmap", "cuda", "--checkpoint-every", "0"], "a positive number of steps or none"),
    ],
)
def test_batched_build_options_are_checked(built, capsys, extra, message):
    path, out, _ = built
    argv = ["build", f"{path}:flight", "--wrt", "vx,vy,c", "-o", str(out / "bad"), *extra]
    assert cli.main(argv) == 1
    assert message in capsys.readouterr().err
    assert not (out / "bad").exists()


# Run on the GPU, or numba-cuda's simulator where there is none (tests/conftest.py), the
# compiler blocked: the CUDA builds' results as JSON.
CUDA_RUN = script_without("gast", "sourcead") + textwrap.dedent(
    """
    import flight_batched_cuda, stepped_batched_cuda, weighted_batched_cuda

    vx = np.linspace(10.0, 30.0, 5)
    vy = np.linspace(5.0, 25.0, 5)
    u = np.linspace(0.1, 1.0, 5 * 6).reshape(5, 6)
    flight = flight_batched_cuda.flight_batched(vx, vy, 0.05)
    weighted = weighted_batched_cuda.weighted_batched(u, np.linspace(1.0, 2.0, 6))
    stepped = stepped_batched_cuda.stepped_batched(vx / 20.0, 0.8, 2)

    print(json.dumps({
        "flight": plain(flight),
        "weighted": plain(weighted),
        "stepped": plain(stepped),
        "tapes": flight_batched_cuda._TAPES.capacity.tolist(),
    }))
    """
)

# Without the simulator: the built kernels compile to PTX for sm_90 where NVVM is installed.
CUDA_PTX = textwrap.dedent(
    """
    import numba
    from sourcead.backends.cuda.device import compile_ptx, nvvm_available
    if not nvvm_available():
        print("NO NVVM")
        raise SystemExit(0)
    import flight_batched_cuda, stepped_batched_cuda, weighted_batched_cuda

    f8, i8 = numba.float64, numba.int64
    tapes = (f8[:, :],) * 2 + (i8[:],)  # snapshots of vx and vy (a segment's: local)
    flight = (f8[:], f8[:], f8) + (f8[:],) * 4 + tapes
    weighted = (f8[:, :], f8[:], f8[:], f8[:, :], f8[:, :])
    stepped = (f8[:], f8, i8, f8[:], f8[:], f8[:], f8[:, :], i8[:])
    for kernel, signature in (
        (flight_batched_cuda.flight_adjoint_batched, flight),
        (weighted_batched_cuda.weighted_adjoint_batched, weighted),
        (stepped_batched_cuda.stepped_adjoint_batched, stepped),
    ):
        assert ".target sm_90" in compile_ptx(kernel, signature)
    print("PTX OK")
    """
)


@pytest.fixture(scope="module")
def built_cuda(built):
    pytest.importorskip("numba.cuda")
    path, out, module = built
    flight = ["build", f"{path}:flight", "--wrt", "vx,vy,c", "--vmap", "cuda"]
    flight += ["--in-axes", "0,0,None", "-o", out]
    weighted = ["build", f"{path}:weighted", "--wrt", "u,w", "--vmap", "cuda"]
    weighted += ["--in-axes", "0,None", "-o", out]
    # a loop with a step known at run time: its reversal calls the runtime's trip_count,
    # compiled as a device function
    stepped = ["build", f"{path}:stepped", "--wrt", "x,w", "--types", "k:int", "--vmap", "cuda"]
    stepped += ["--in-axes", "0,None,None", "-o", out]
    for argv in (flight, weighted, stepped):
        assert cli.main([str(a) for a in argv]) == 0
    return path, out, module


@pytest.mark.slow  # simulated kernels: CI's slow group
def test_cuda_batched_modules_give_what_vmap_gives(built_cuda):
    path, out, module = built_cuda
    text = (out / "flight_batched_cuda.py").read_text()
    assert build.foreign_imports(text) == []
    assert "@cuda.jit(cache=True)\ndef flight_adjoint_batched(" in text
    assert "@cuda.jit(device=True)\ndef flight_adjoint(" in text
    assert "\ndef flight_batched(vx, vy, c, tape_memory=None):" in text
    report = json.loads(run_script(CUDA_RUN, out))

    _assert_flight_as_vmap(module, report["flight"], 5)
    # learnt by the first (counting) launch: the 25 snapshots of vx and vy of the 200-step
    # loop in segments of 8 steps (vmap's default checkpoint_every); the tapes of one
    # segment are local arrays of 8 values, in the built module's source too
    assert report["tapes"] == [25, 25]
    assert "vx_tape = cuda.local.array(8, numba.float64)" in text

    u, w = np.linspace(0.1, 1.0, 30).reshape(5, 6), np.linspace(1.0, 2.0, 6)
    mapped = sourcead.vmap(sourcead.value_and_grad(module.weighted, wrt=(0, 1)), (0, None))
    values, (g_u, g_w) = mapped(u, w)
    assert report["weighted"][0] == pytest.approx(values.tolist(), rel=1e-13)
    np.testing.assert_allclose(report["weighted"][1][0], g_u, rtol=1e-12)
    np.testing.assert_allclose(report["weighted"][1][1], g_w, rtol=1e-12)

    assert "trip_count = cuda.jit(device=True)(cpu_trip_count.py_func)" in (
        (out / "stepped_batched_cuda.py").read_text()
    )
    mapped = sourcead.vmap(sourcead.value_and_grad(module.stepped, wrt=(0, 1)), (0, None, None))
    values, (g_x, g_w) = mapped(np.linspace(10.0, 30.0, 5) / 20.0, 0.8, 2)
    np.testing.assert_allclose(report["stepped"][0], values, rtol=1e-13)
    np.testing.assert_allclose(report["stepped"][1][0], g_x, rtol=1e-12)
    np.testing.assert_allclose(report["stepped"][1][1], g_w, rtol=1e-12)


@pytest.mark.slow  # compiles kernels to PTX: CI's slow group
@needs_numba_cuda
def test_cuda_batched_kernels_compile_to_ptx(built_cuda):
    _, out, _ = built_cuda
    env_path = os.pathsep.join([str(out), os.environ.get("PYTHONPATH", "")])
    printed = run_script(
        f"import sys; sys.path[:0] = {env_path.split(os.pathsep)!r}\n" + CUDA_PTX, out, "0"
    )
    if "NO NVVM" in printed:
        pytest.skip("NVVM (the CUDA toolkit's compiler) is not installed")
    assert "PTX OK" in printed


def test_cuda_batched_build_takes_the_segment_length(built):
    pytest.importorskip("numba.cuda")
    path, out, _ = built
    texts = {}
    for every in ("none", "4"):
        argv = ["build", f"{path}:flight", "--wrt", "vx,vy,c", "--vmap", "cuda"]
        argv += ["--in-axes", "0,0,None", "--checkpoint-every", every, "-o", str(out / every)]
        assert cli.main(argv) == 0
        texts[every] = (out / every / "flight_batched_cuda.py").read_text()
    assert "for segment in range" not in texts["none"]
    assert "for first in range(0, trips, 4):" in texts["4"]
