"""Fit the drag coefficients of a thousand projectiles to their noisy landing points at once.

Each projectile is launched with a known velocity and an unknown drag coefficient c; we
observe where it lands (with noise). The simulation runs until the projectile hits the
ground, so each trajectory takes its own, data-dependent number of steps. One call of

    sourcead.vmap(sourcead.value_and_grad(landing, wrt=2), target=...)

gives every projectile's landing point and its derivative with respect to c, exactly, and
Gauss-Newton steps on each c run side by side. On a GPU (numba-cuda,
`pip install -e ".[cuda]"`) each projectile is one GPU thread; otherwise the CPU's cores
share the batch.

    python examples/gpu_batch_fit.py            # the GPU when present, else the CPU
    python examples/gpu_batch_fit.py --cpu      # the CPU's cores
"""

import math
import sys
import time

import numpy as np

import sourcead

DT = 2e-3


def landing(vx, vy, c):
    """Where the projectile comes down (linear interpolation in the last step)."""
    x = y = 0.0
    x_old = y_old = 0.0
    while y >= 0.0:
        x_old = x
        y_old = y
        v = math.sqrt(vx * vx + vy * vy)
        x += DT * vx
        y += DT * vy
        vx -= DT * c * v * vx
        vy -= DT * (9.81 + c * v * vy)
    return x_old + (x - x_old) * y_old / (y_old - y)


def choose_target() -> str:
    if "--cpu" not in sys.argv:
        try:
            from numba import cuda

            if cuda.is_available():
                return "cuda"
        except ImportError:
            pass
    return "parallel"


def main() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    vx, vy = rng.uniform(15, 25, n), rng.uniform(10, 20, n)
    c_true = rng.uniform(0.005, 0.05, n)
    observed = np.array([landing(vx[i], vy[i], c_true[i]) for i in range(n)])
    observed += rng.normal(0, 0.01, n)

    target = choose_target()
    if target == "cuda":
        from numba import cuda

        print(f"device: {cuda.get_current_device().name} (target='cuda')")
    else:
        import os

        print(f"device: CPU, {os.cpu_count()} cores (target='parallel')")
    # compile=True: the CPU's batched loop compiled at the first call (not in the background),
    # because the calls below are timed; a GPU kernel is always compiled then
    landing_and_slope = sourcead.vmap(
        sourcead.value_and_grad(landing, wrt=2), target=target, compile=True
    )
    c = np.full(n, 0.02)
    landing_and_slope(vx, vy, c)  # compiles (and, on the GPU, sizes the tapes)
    timings = []
    for iteration in range(8):
        start = time.perf_counter()
        x, dx_dc = landing_and_slope(vx, vy, c)
        timings.append(time.perf_counter() - start)
        # Gauss-Newton on the misfit (x - observed)**2: the step is r / (dr/dc)
        residual = x - observed
        c = np.clip(c - residual / dx_dc, 1e-4, 0.2)
        print(f"iteration {iteration}: mean misfit {np.mean(residual**2):.3e} m^2")
    error = np.abs(c - c_true) / c_true
    print(f"median relative error of the fitted drag coefficients: {np.median(error):.2e}")
    per = np.median(timings) / n
    print(f"time per gradient: {per * 1e6:.2f} us ({n} trajectories per call)")


if __name__ == "__main__":
    main()
