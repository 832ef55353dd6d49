"""Generated kernels compile to PTX for sm_90 with the real CUDA compiler (NVVM).

The simulator runs kernels as Python and would accept code that numba-cuda's compiler
rejects, so the kernels of the other CUDA tests are also compiled to PTX here, in a
separate process that does not use the simulator. Skipped where NVVM or numba-cuda (its
own package, not the numba.cuda bundled with Numba) is not installed.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from build_support import needs_numba_cuda

pytest.importorskip("numba.cuda")

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import sourcead
    from sourcead.backends.cuda.device import nvvm_available
    if not nvvm_available():
        print("NO NVVM")
        raise SystemExit(0)
    import test_cuda_vmap as v
    import test_cuda_kernels as k
    import test_cuda_host as h
    import test_cuda_segments as s
    import test_cuda_local_arrays as la

    x = np.ones(8)
    checks = [
        (sourcead.vmap(sourcead.grad(v.projectile, wrt=(0, 1, 2)), target="cuda"), (x, x, x)),
        (sourcead.vmap(sourcead.grad(v.contraction, wrt=(0, 1)), target="cuda"), (x, x)),
        (sourcead.vmap(sourcead.grad(v.weighted, wrt=(0, 1)), in_axes=(0, None), target="cuda"),
         (np.ones((8, 4)), np.ones(4))),
        (sourcead.vmap(v.projectile, target="cuda"), (x, x, x)),
        (sourcead.kernel_vjp(k.saxpy_sin, wrt=("x", "y", "out")), (2.0, x, x, x, x, x, x)),
        (sourcead.kernel_vjp(k.neighbours, wrt=("x", "out")), (x, x, x, x)),
        (sourcead.kernel_vjp(k.per_thread_loop, wrt=("x", "w", "out")), (x, x[:1], x, x, x[:1], x)),
        (sourcead.kernel_vjp(k.rows, wrt=("A", "w", "out")),
         (np.ones((8, 3)), np.ones(3), x, np.ones((8, 3)), np.ones(3), x)),
        (sourcead.kernel_vjp(h.energy, wrt=("u", "loss")), (np.ones((4, 4)), x[:1], np.ones((4, 4)), x[:1])),
        (sourcead.kernel_vjp(k.heat, wrt=("u", "k", "out")),
         (np.ones((4, 4)), x[:1], np.ones((4, 4)), np.ones((4, 4)), x[:1], np.ones((4, 4)))),
        (sourcead.vmap(sourcead.grad(s.marked_with_memory, wrt=(0, 1)), in_axes=(0, 0, None),
                       target="cuda"), (x, x, 5)),
        (sourcead.vmap(sourcead.grad(s.calls_a_function, wrt=(0, 1)), target="cuda"),
         (x, x, np.ones(8, dtype=np.int64))),
        (sourcead.vmap(sourcead.grad(la.moments, wrt=(0, 1)), target="cuda"), (x, x)),
        (sourcead.vmap(sourcead.grad(la.in_branch, wrt=(0, 1)), target="cuda"), (x, x)),
        (sourcead.vmap(sourcead.grad(la.calls_a_helper, wrt=(0, 1)), target="cuda"), (x, x)),
        (sourcead.kernel_vjp(la.smooth, wrt=("x", "w", "out")), (x, x[:4], x, x, x[:4], x)),
        (sourcead.kernel_vjp(la.powers, wrt=("x", "out")), (x, x, x, x)),
        (sourcead.kernel_vjp(la.while_into_a_local_array, wrt=("x", "out")), (x, x, x, x)),
        (sourcead.vmap(sourcead.grad(la.prefix_sums, wrt=(0, 1)), target="cuda"),
         (np.ones((8, 3)), x)),
        (sourcead.vmap(sourcead.grad(la.updates_its_row, wrt=(0, 1)), target="cuda"),
         (np.ones((8, 3)), x)),
        (sourcead.vmap(sourcead.grad(la.copies_its_rows, wrt=(0, 1)), in_axes=(0, None),
                       target="cuda"), (np.ones((8, 4)), np.ones(3))),
        (sourcead.vmap(sourcead.grad(la.updates_its_matrix, wrt=(0, 1)), target="cuda"),
         (np.ones((8, 2, 3)), x)),
    ]
    for function, args in checks:
        ptx = function.ptx(*args)
        assert ".target sm_90" in ptx, function
        print("PTX", function, ptx.count("atom.global.add.f64"))
    """
)


@pytest.mark.slow  # compiles for seconds: CI's slow group
@needs_numba_cuda
def test_generated_kernels_compile_to_ptx_for_sm90():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    tests = Path(__file__).parent
    env["PYTHONPATH"] = os.pathsep.join([str(tests), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SCRIPT],
        env=env,
        cwd=tests,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if "NO NVVM" in result.stdout:
        pytest.skip(
            "the CUDA toolkit's NVVM and NVRTC are not installed (pip install -e '.[cuda]')"
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PTX")]
    assert len(lines) == 22
    # atomics exactly where threads share elements: none for saxpy, some for the stencil
    assert lines[4].endswith(" 0") and not lines[5].endswith(" 0")
