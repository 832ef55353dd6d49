"""``sourcead build --kernel-vjp``: adjoint kernels built ahead of time, launched without the
compiler (numba-cuda's simulator here; PTX for sm_90 where NVVM is installed)."""

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from build_support import needs_numba_cuda, run_script, script_without

import sourcead
from sourcead.aot import build, cli

# one worker runs the whole module: its module-scoped build is made once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("kernel-build")

pytest.importorskip("numba.cuda")

KERNELS = Path(__file__).with_name("test_cuda_kernels.py")

# Run on the GPU, or numba-cuda's simulator where there is none (tests/conftest.py), the
# compiler blocked: the shadows after each launch, as JSON.
LAUNCHES = script_without("gast", "sourcead") + textwrap.dedent(
    """
    import heat_kernel_adjoint, per_thread_loop_kernel_adjoint, rows_kernel_adjoint
    import saxpy_sin_kernel_adjoint

    rng = np.random.default_rng(1)
    u, k, cot2 = rng.uniform(size=(7, 6)), np.array([0.15]), rng.normal(size=(7, 6))
    bu, bk, b_out2 = np.zeros((7, 6)), np.zeros(1), cot2.copy()
    heat_kernel_adjoint.heat_vjp[(2, 2), (4, 4)](u, k, np.zeros((7, 6)), bu, bk, b_out2)

    x, w, cot = rng.uniform(0.4, 2.5, 9), np.array([0.7]), rng.normal(size=9)
    bx, bw, b_out = np.zeros(9), np.zeros(1), cot.copy()
    per_thread_loop_kernel_adjoint.per_thread_loop_vjp[1, 16](x, w, np.zeros(9), bx, bw, b_out)

    y = rng.normal(size=9)
    sx, sy, s_out = np.zeros(9), np.zeros(9), cot.copy()
    saxpy_sin_kernel_adjoint.saxpy_sin_vjp[1, 16](2.0, x, y, np.zeros(9), sx, sy, s_out)

    A, v, cot5 = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    bA, bv = np.zeros((5, 3)), np.zeros(3)
    rows_kernel_adjoint.rows_vjp[1, 8](A, v, np.zeros(5), bA, bv, cot5.copy())
    try:
        saxpy_sin_kernel_adjoint.saxpy_sin_vjp[1, 16](
            2.0, x.astype(np.float32), y, np.zeros(9), sx, sy, s_out
        )
        refused = None
    except TypeError as exc:
        refused = str(exc)
    print(json.dumps({
        "heat": [bu.tolist(), bk.tolist(), b_out2.tolist()],
        "loop": [bx.tolist(), bw.tolist(), b_out.tolist()],
        "tapes": per_thread_loop_kernel_adjoint.per_thread_loop_vjp.tapes.capacity.tolist(),
        "saxpy": [sx.tolist(), sy.tolist(), s_out.tolist()],
        "rows": [bA.tolist(), bv.tolist()],
        "refused": refused,
    }))
    """
)

PTX = textwrap.dedent(
    """
    import numba
    from sourcead.backends.cuda.device import compile_ptx, nvvm_available
    if not nvvm_available():
        print("NO NVVM")
        raise SystemExit(0)
    import heat_kernel_adjoint, per_thread_loop_kernel_adjoint

    f8, a1, a2 = numba.float64, numba.float64[:], numba.float64[:, :]
    heat = (a2, a1, a2, a2, a1, a2)
    loop = (a1, a1, a1, a1, a1, a1, a2, numba.int64[:])
    for kernel, signature in (
        (heat_kernel_adjoint.heat_adjoint_kernel, heat),
        (heat_kernel_adjoint.heat_consume_kernel, heat),
        (per_thread_loop_kernel_adjoint.per_thread_loop_adjoint_kernel, loop),
    ):
        assert ".target sm_90" in compile_ptx(kernel, signature)
    print("PTX OK")
    """
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("kernels")
    builds = [
        ["heat", "--wrt", "u,k,out"],
        ["per_thread_loop", "--wrt", "x,w,out"],
        ["saxpy_sin", "--wrt", "x,y,out", "--types", "a:float64", "--keep-cotangents"],
        ["rows", "--wrt", "A,w,out"],  # calls a device function of the user's
    ]
    for name, *options in builds:
        argv = ["build", f"{KERNELS}:{name}", *options, "--kernel-vjp", "-o", str(out)]
        assert cli.main(argv) == 0
    return out


def test_built_kernel_adjoints_give_what_kernel_vjp_gives(built):
    import test_cuda_kernels as kernels

    text = (built / "heat_kernel_adjoint.py").read_text()
    assert build.foreign_imports(text) == []
    assert "@cuda.jit(cache=True)\ndef heat_adjoint_kernel(" in text
    assert "@cuda.jit(cache=True)\ndef heat_consume_kernel(" in text  # gathered stencil reads
    assert "# entry: heat_vjp[blocks, threads](u, k, out, b_u, b_k, b_out)" in text
    report = json.loads(run_script(LAUNCHES, built))

    rng = np.random.default_rng(1)
    u, k, cot2 = rng.uniform(size=(7, 6)), np.array([0.15]), rng.normal(size=(7, 6))
    bu, bk, b_out2 = np.zeros((7, 6)), np.zeros(1), cot2.copy()
    heat = sourcead.kernel_vjp(kernels.heat, wrt=("u", "k", "out"))
    heat[(2, 2), (4, 4)](u, k, np.zeros((7, 6)), bu, bk, b_out2)
    for got, expected in zip(report["heat"], (bu, bk, b_out2), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)

    x, w, cot = rng.uniform(0.4, 2.5, 9), np.array([0.7]), rng.normal(size=9)
    bx, bw, b_out = np.zeros(9), np.zeros(1), cot.copy()
    loop = sourcead.kernel_vjp(kernels.per_thread_loop, wrt=("x", "w", "out"))
    loop[1, 16](x, w, np.zeros(9), bx, bw, b_out)
    for got, expected in zip(report["loop"], (bx, bw, b_out), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    assert report["tapes"][0] > 0  # sized by the first, counting launch

    y = rng.normal(size=9)
    sx, sy, s_out = np.zeros(9), np.zeros(9), cot.copy()
    saxpy = sourcead.kernel_vjp(kernels.saxpy_sin, wrt=("x", "y", "out"), consume=False)
    saxpy[1, 16](2.0, x, y, np.zeros(9), sx, sy, s_out)
    for got, expected in zip(report["saxpy"], (sx, sy, s_out), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert report["saxpy"][2] == cot.tolist()  # --keep-cotangents: the shadow as it came
    A, v, cot5 = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    bA, bv = np.zeros((5, 3)), np.zeros(3)
    rows = sourcead.kernel_vjp(kernels.rows, wrt=("A", "w", "out"))
    rows[1, 8](A, v, np.zeros(5), bA, bv, cot5.copy())
    np.testing.assert_allclose(report["rows"][0], bA, rtol=1e-13)
    np.testing.assert_allclose(report["rows"][1], bv, rtol=1e-13)
    assert report["refused"] == (
        "argument x of saxpy_sin must be a 1-d array of float64 (the types it was built "
        "for), not float32, 1-d"
    )


@needs_numba_cuda
def test_built_kernel_adjoints_compile_to_ptx(built):
    path = [str(built), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    printed = run_script(f"import sys; sys.path[:0] = {path!r}\n" + PTX, built, "0")
    if "NO NVVM" in printed:
        pytest.skip("NVVM (the CUDA toolkit's compiler) is not installed")
    assert "PTX OK" in printed


def test_kernel_builds_are_checked_and_their_options_too(built, capsys):
    argv = ["build", f"{KERNELS}:heat", "--wrt", "u,k,out", "--kernel-vjp", "-o", str(built)]
    assert cli.main([*argv, "--check"]) == 0
    assert cli.main([*argv[:-2], "--keep-cotangents", "-o", str(built), "--check"]) == 1
    assert "no longer matches" in capsys.readouterr().err
    refusals = [
        (["--kernel-vjp"], "--kernel-vjp needs --wrt"),
        (["--kernel-vjp", "--wrt", "u,out", "--vmap", "cuda"], "choose one"),
        (["--kernel-vjp", "--wrt", "u,out", "--native"], "--native compiles CPU entries"),
        (["--wrt", "u,out", "--keep-cotangents"], "--keep-cotangents goes with --kernel-vjp"),
    ]
    for options, message in refusals:
        assert cli.main(["build", f"{KERNELS}:heat", *options, "-o", str(built / "x")]) == 1
        assert message in capsys.readouterr().err
    assert not (built / "x").exists()


LOCAL_ARRAY_LAUNCH = script_without("gast", "sourcead") + textwrap.dedent(
    """
    import smooth_kernel_adjoint

    rng = np.random.default_rng(2)
    x, w, cot = rng.uniform(0.2, 1.0, 9), rng.uniform(0.5, 1.5, 4), rng.normal(size=9)
    bx, bw = np.zeros(9), np.zeros(4)
    smooth_kernel_adjoint.smooth_vjp[2, 8](x, w, np.zeros(9), bx, bw, cot.copy())
    print(json.dumps([bx.tolist(), bw.tolist()]))
    """
)


def test_a_local_array_sized_by_an_argument_is_not_built_ahead_of_time(tmp_path, capsys):
    import test_cuda_local_arrays as local

    argv = ["build", f"{local.__file__}:prefix_sums", "--wrt", "x,w", "--vmap", "cuda"]
    assert cli.main([*argv, "-o", str(tmp_path / "out")]) == 1
    assert "compiles per element shape" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_built_kernel_adjoint_with_a_local_array(tmp_path):
    import test_cuda_local_arrays as local

    source = Path(local.__file__)
    argv = ["build", f"{source}:smooth", "--wrt", "x,w,out", "--kernel-vjp", "-o", str(tmp_path)]
    assert cli.main(argv) == 0
    text = (tmp_path / "smooth_kernel_adjoint.py").read_text()
    assert build.foreign_imports(text) == []
    assert "b_buf = cuda.local.array(4, numba.float64)" in text
    got = json.loads(run_script(LOCAL_ARRAY_LAUNCH, tmp_path))

    rng = np.random.default_rng(2)
    x, w, cot = rng.uniform(0.2, 1.0, 9), rng.uniform(0.5, 1.5, 4), rng.normal(size=9)
    bx, bw = np.zeros(9), np.zeros(4)
    adjoint = sourcead.kernel_vjp(local.smooth, wrt=("x", "w", "out"))
    adjoint[2, 8](x, w, np.zeros(9), bx, bw, cot.copy())
    np.testing.assert_allclose(got[0], bx, rtol=1e-13)
    np.testing.assert_allclose(got[1], bw, rtol=1e-13)
