"""Angry birds: aim a slingshot by differentiating through a physics simulation.

A bird is launched from the origin with velocity (vx, vy) and flies under gravity with quadratic
air drag, integrated with explicit Euler steps. It must fly through a hoop at (10 m, 10 m) and hit
a pig sitting on the ground at (30 m, 0 m). Which launch velocity does that?

The simulation is plain Python: a `while` loop that integrates until the bird reaches the pig's
x position, an `if` that records where the bird crosses the hoop, and linear interpolation between
the last two steps so the heights (and hence the loss) vary smoothly with the launch velocity. The
number of loop iterations depends on the inputs, so tracing-based tools such as `jax.grad` cannot
reverse this loop, while `sourcead.grad` turns it into a compiled adjoint (reverse-mode) program.

The gradient drives a ten-line Adam optimiser written with numpy.

Run:  python examples/angry_birds.py   (saves angry_birds.png next to it if matplotlib exists)
"""

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

G = 9.81  # gravity, m/s²
C = 0.02  # quadratic drag coefficient, 1/m
DT = 1e-3  # time step, s
HOOP_X, HOOP_Y = 10.0, 10.0  # the bird must fly through this point ...
PIG_X, PIG_Y = 30.0, 0.0  # ... and land on the pig
FLOOR = -100.0  # give up on birds that fall this far without reaching the pig


def miss(vx, vy):
    """Squared miss distance at the hoop plus squared miss distance at the pig."""
    x = 0.0
    y = 0.0
    x_old = 0.0
    y_old = 0.0
    hoop_y = 0.0
    while x < PIG_X and y > FLOOR:
        x_old = x
        y_old = y
        v = math.sqrt(vx * vx + vy * vy)
        x += DT * vx
        y += DT * vy
        vx -= DT * C * v * vx
        vy -= DT * (G + C * v * vy)
        if x_old < HOOP_X and x >= HOOP_X:  # crossed the hoop during this step
            hoop_y = y_old + (y - y_old) * (HOOP_X - x_old) / (x - x_old)
    pig_y = y_old + (y - y_old) * (PIG_X - x_old) / (x - x_old)
    return (hoop_y - HOOP_Y) ** 2 + (pig_y - PIG_Y) ** 2


def trajectory(vx, vy):
    """The same flight, recording every position (for printing and plotting only)."""
    xs, ys = [0.0], [0.0]
    while xs[-1] < PIG_X and ys[-1] > FLOOR:
        v = math.sqrt(vx * vx + vy * vy)
        xs.append(xs[-1] + DT * vx)
        ys.append(ys[-1] + DT * vy)
        vx, vy = vx - DT * C * v * vx, vy - DT * (G + C * v * vy)
    return np.array(xs), np.array(ys)


def main():
    # d miss / d(vx, vy); with preserve_result=True each call also returns miss(vx, vy) itself
    grad_miss = sourcead.grad(miss, wrt=(0, 1), preserve_result=True)

    t0 = time.perf_counter()
    # the first call transforms `miss` and runs it as NumPy while Numba compiles it beside
    grad_miss(20.0, 20.0)
    print(f"sourcead.grad(miss): first gradient in {time.perf_counter() - t0:.2f} s\n")

    # Adam: gradient descent with per-coordinate step sizes from running gradient moments.
    p = np.array([20.0, 20.0])  # initial guess for (vx, vy), m/s
    lr, beta1, beta2 = 0.5, 0.9, 0.999
    m = np.zeros(2)
    s = np.zeros(2)
    t0 = time.perf_counter()
    print(f"{'iter':>5} {'loss (m²)':>12} {'vx (m/s)':>10} {'vy (m/s)':>10}")
    for it in range(500):
        loss, g = grad_miss(p[0], p[1])
        if it % 25 == 0 or loss < 1e-10:
            print(f"{it:5d} {loss:12.3e} {p[0]:10.5f} {p[1]:10.5f}")
        if loss < 1e-10:  # within 10 micrometres: good enough for any pig
            break
        g = np.array(g)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1 ** (it + 1))) / (np.sqrt(s / (1 - beta2 ** (it + 1))) + 1e-12)
    elapsed = time.perf_counter() - t0

    vx, vy = p
    xs, ys = trajectory(vx, vy)
    hoop_y = np.interp(HOOP_X, xs, ys)
    pig_y = np.interp(PIG_X, xs, ys)
    print(f"\n{it} gradient steps in {elapsed:.3f} s")
    print(
        f"launch velocity: vx = {vx:.4f} m/s, vy = {vy:.4f} m/s "
        f"(speed {math.hypot(vx, vy):.3f} m/s at {math.degrees(math.atan2(vy, vx)):.2f}°)"
    )
    print(f"flight time to the pig: {(len(xs) - 1) * DT:.3f} s ({len(xs) - 1} steps)")
    print(f"height at the hoop (x = {HOOP_X} m): {hoop_y:.6f} m (aim {HOOP_Y} m)")
    print(f"height at the pig  (x = {PIG_X} m): {pig_y:.6f} m (aim {PIG_Y} m)")
    print(f"miss distance: hoop {abs(hoop_y - HOOP_Y):.2e} m, pig {abs(pig_y - PIG_Y):.2e} m")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the trajectory plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, ys, label=f"bird, launched at ({vx:.2f}, {vy:.2f}) m/s")
    ax.plot([HOOP_X], [HOOP_Y], "o", ms=14, mfc="none", mew=3, color="tab:orange", label="hoop")
    ax.plot([PIG_X], [PIG_Y], "o", ms=12, color="tab:green", label="pig")
    ax.axhline(0.0, color="0.6", lw=1)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    ax.legend(loc="lower center")
    ax.set_title("Launch velocity found with sourcead.grad + Adam")
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"trajectory plot saved to {out}")


if __name__ == "__main__":
    main()
