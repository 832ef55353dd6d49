"""Angry birds: find the launch velocity that lands a projectile with air drag on a target.

The flight is simulated with a ``while`` loop that runs until the bird comes back down to
the ground, a loop whose trip count depends on the velocity being optimised (JAX cannot
reverse such a loop). ``sourcead.grad`` differentiates the landing error with respect to
the launch velocity through every step of it; gradient descent does the rest.
"""

import math
import time

import numpy as np

import sourcead

TARGET_X = 30.0  # metres
DRAG = 0.05  # quadratic drag coefficient per unit mass
DT = 1e-3  # seconds per step


def landing_x(vx, vy):
    """Where the bird touches the ground, interpolating within the last time step."""
    x = 0.0
    y = 0.0
    while True:
        v = math.sqrt(vx * vx + vy * vy)
        x_new = x + DT * vx
        y_new = y + DT * vy
        vx = vx - DT * DRAG * v * vx
        vy = vy - DT * (9.81 + DRAG * v * vy)
        if y_new < 0.0 and x_new > 0.1:
            fraction = y / (y - y_new)
            return x + fraction * (x_new - x)
        x = x_new
        y = y_new


def miss(vx, vy):
    """Squared miss distance, plus a small preference for a gentle launch."""
    return (landing_x(vx, vy) - TARGET_X) ** 2 + 1e-3 * (vx * vx + vy * vy)


def main() -> None:
    dmiss = sourcead.grad(miss, wrt=(0, 1), preserve_result=True)
    vx, vy = 10.0, 5.0
    rate = 0.05
    start = time.perf_counter()
    for step in range(200):
        loss, (gx, gy) = dmiss(vx, vy)
        if step % 20 == 0:
            print(f"step {step:3d}  loss {loss:10.5f}  vx {vx:7.3f} m/s  vy {vy:7.3f} m/s")
        norm = math.hypot(gx, gy)
        scale = rate / max(norm, 1.0)  # clipped steps keep the descent stable
        vx -= scale * gx * 10.0
        vy -= scale * gy * 10.0
    elapsed = time.perf_counter() - start
    landing = landing_x(vx, vy)
    print(f"final: vx {vx:.3f} m/s, vy {vy:.3f} m/s, launch speed {math.hypot(vx, vy):.3f} m/s")
    print(
        f"the bird lands at x = {landing:.4f} m; target {TARGET_X} m; miss {abs(landing - TARGET_X):.2e} m"
    )
    print(f"200 gradient steps in {elapsed:.2f} s (first call includes compilation)")
    _plot(vx, vy)


def _plot(vx, vy) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    xs, ys = [0.0], [0.0]
    x = y = 0.0
    while y >= 0.0 or x < 0.1:
        v = math.sqrt(vx * vx + vy * vy)
        x, y = x + DT * vx, y + DT * vy
        vx, vy = vx - DT * DRAG * v * vx, vy - DT * (9.81 + DRAG * v * vy)
        xs.append(x)
        ys.append(y)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.array(xs), np.array(ys), label="optimised trajectory")
    ax.plot([TARGET_X], [0.0], "rs", label="target")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend()
    fig.tight_layout()
    fig.savefig("angry_birds.png", dpi=120)
    print("saved angry_birds.png")


if __name__ == "__main__":
    main()
