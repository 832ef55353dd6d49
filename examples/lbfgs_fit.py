"""Fit a projectile's launch velocity and drag to noisy observations with SciPy's L-BFGS-B.

A ball is thrown from the origin with velocity (vx, vy) and flies under gravity and quadratic
air drag (coefficient c), integrated with explicit Euler steps. We observe its position every
0.1 s, with 5 cm of noise, and recover (vx, vy, c) by least squares.

`scipy.optimize.minimize(fun, x0, jac=True)` wants `fun` to return the loss and its gradient
together: `sourcead.value_and_grad(loss)` is such a function. The loss is plain Python (a
simulation loop); its gradient is a compiled adjoint of that loop. L-BFGS-B keeps the drag
coefficient non-negative with a bound.

Run:  python examples/lbfgs_fit.py   (saves lbfgs_fit.png next to it if matplotlib exists)
"""

import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

G = 9.81  # gravity, m/s²
DT = 0.005  # time step, s
EVERY = 20  # Euler steps between observations (0.1 s)
OBSERVATIONS = 25  # 2.5 s of flight
NOISE = 0.05  # standard deviation of the observation noise, m
TRUE = np.array([12.0, 14.0, 0.03])  # vx (m/s), vy (m/s), c (1/m): what the fit should find


def loss(p, observed):
    """Half the sum of squared distances between simulated and observed positions."""
    vx = p[0]
    vy = p[1]
    c = p[2]
    x = 0.0
    y = 0.0
    s = 0.0
    for k in range(observed.shape[0]):
        for _ in range(EVERY):
            v = math.sqrt(vx * vx + vy * vy)
            x += DT * vx
            y += DT * vy
            vx -= DT * c * v * vx
            vy -= DT * (G + c * v * vy)
        dx = x - observed[k, 0]
        dy = y - observed[k, 1]
        s += dx * dx + dy * dy
    return 0.5 * s


def trajectory(p, steps):
    """The same flight, recording every position (for the data and the plot)."""
    vx, vy, c = p
    xs, ys = [0.0], [0.0]
    for _ in range(steps):
        v = math.sqrt(vx * vx + vy * vy)
        xs.append(xs[-1] + DT * vx)
        ys.append(ys[-1] + DT * vy)
        vx, vy = vx - DT * c * v * vx, vy - DT * (G + c * v * vy)
    return np.array(xs), np.array(ys)


def observations(seed=0):
    """Positions of the true flight every EVERY steps, with Gaussian noise."""
    xs, ys = trajectory(TRUE, EVERY * OBSERVATIONS)
    clean = np.stack([xs[EVERY::EVERY], ys[EVERY::EVERY]], axis=1)
    return clean + NOISE * np.random.default_rng(seed).standard_normal(clean.shape)


def main(plot_path=None):
    """Fit, print and plot; returns SciPy's result and the observations."""
    observed = observations()
    loss_and_grad = sourcead.value_and_grad(loss)  # (loss, d loss / d p): what jac=True expects

    p0 = np.array([8.0, 8.0, 0.0])  # a poor first guess
    t0 = time.perf_counter()
    loss_and_grad(p0, observed)  # the first call generates the adjoint (Numba compiles it beside)
    print(f"sourcead.value_and_grad(loss): first gradient in {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    result = minimize(
        loss_and_grad,
        p0,
        args=(observed,),
        jac=True,
        method="L-BFGS-B",
        bounds=[(None, None), (None, None), (0.0, None)],  # drag is never negative
    )
    elapsed = time.perf_counter() - t0
    print(f"L-BFGS-B: {result.message} after {result.nit} iterations, {result.nfev} evaluations")
    print(f"in {elapsed:.3f} s; final loss {result.fun:.4e} m²")
    print(f"{'':>12} {'vx (m/s)':>10} {'vy (m/s)':>10} {'c (1/m)':>10}")
    print(f"{'true':>12} {TRUE[0]:10.4f} {TRUE[1]:10.4f} {TRUE[2]:10.5f}")
    print(f"{'fitted':>12} {result.x[0]:10.4f} {result.x[1]:10.4f} {result.x[2]:10.5f}")
    expected_loss = 0.5 * observed.size * NOISE**2
    print(f"(noise alone gives a loss of about {expected_loss:.3e} m²)")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the plot")
        return result, observed
    steps = EVERY * OBSERVATIONS
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(*trajectory(p0, steps), ":", color="0.5", label="first guess")
    ax.plot(*trajectory(TRUE, steps), color="tab:green", lw=3, alpha=0.4, label="true flight")
    ax.plot(*trajectory(result.x, steps), color="tab:blue", label="fitted flight")
    ax.plot(observed[:, 0], observed[:, 1], "o", ms=4, color="tab:orange", label="observed")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="lower left")
    ax.set_title("Launch velocity and drag fitted with L-BFGS-B")
    out = Path(plot_path) if plot_path is not None else Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"plot saved to {out}")
    return result, observed


if __name__ == "__main__":
    main()
