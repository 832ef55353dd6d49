"""Angry birds with an ODE solver: aim through wind and drag, in bounded memory.

A bird is launched from the origin at speed `speed` and angle `angle`. It flies under gravity
with quadratic air drag relative to a gusting wind,

    dx/dt = vx,  dy/dt = vy,
    dvx/dt = -c |v - w| (vx - w(t)),  dvy/dt = -g - c |v - w| vy,  w(t) = W (1 + 0.3 sin 2t),

and must land on a pig at (30 m, 0 m) exactly T = 2.2 s after launch. The flight is integrated
with `sourcead.odeint` (RK4); its gradient with respect to (speed, angle) comes from the
continuous adjoint method: the adjoint ODE is integrated backwards in time, so the memory
needed does not grow with the number of steps. Adam finds the launch.

The example then compares the memory used by one gradient with N_MEMORY steps:

* plain reverse mode: the same RK4 steps written as a Python loop, through `sourcead.grad`
  (its tapes grow with the number of steps);
* checkpointed reverse mode: the same loop marked `sourcead.checkpointed(...)`;
* the continuous adjoint of `odeint`.

Memory is the rise of the process's peak resident set size during one call (Linux: the
peak is reset through /proc/self/clear_refs first), which also sees Numba's allocations;
`tracemalloc` does not. benchmarks/memory.py measures each method in a fresh process.

Run:  python examples/angry_birds_ode.py   (saves angry_birds_ode.png if matplotlib exists)
"""

import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

G = 9.81  # gravity, m/s²
DRAG = 0.02  # quadratic drag coefficient, 1/m
WIND = -4.0  # mean wind, m/s (a head wind)
T_FLIGHT = 2.2  # the bird must reach the pig at this time, s
PIG_X, PIG_Y = 30.0, 0.0
N_STEPS = 500  # RK4 steps for the optimisation
N_MEMORY = 200_000  # RK4 steps for the memory comparison
SNAPSHOTS = 20  # snapshots of the checkpointed loop


def acceleration(vx, vy, t, wind, drag):
    """Gravity and quadratic drag relative to the gusting wind."""
    w = wind * (1.0 + 0.3 * math.sin(2.0 * t))
    rvx = vx - w
    speed = math.sqrt(rvx * rvx + vy * vy)
    return -drag * speed * rvx, -G - drag * speed * vy


def rhs(state, t, wind, drag):
    """d(x, y, vx, vy)/dt."""
    ax, ay = acceleration(state[2], state[3], t, wind, drag)
    d = np.zeros(4)
    d[0] = state[2]
    d[1] = state[3]
    d[2] = ax
    d[3] = ay
    return d


def miss_ode(speed, angle, times, n_steps):
    """Squared distance from the pig at T_FLIGHT, integrating with sourcead.odeint."""
    start = np.zeros(4)
    start[2] = speed * math.cos(angle)
    start[3] = speed * math.sin(angle)
    path = sourcead.odeint(rhs, start, times, WIND, DRAG, substeps=n_steps)
    last = path.shape[0] - 1
    return (path[last, 0] - PIG_X) ** 2 + (path[last, 1] - PIG_Y) ** 2


def miss_loop(speed, angle, n_steps):
    """The same RK4 steps written out (plain reverse mode tapes every step)."""
    h = T_FLIGHT / n_steps
    x = 0.0
    y = 0.0
    vx = speed * math.cos(angle)
    vy = speed * math.sin(angle)
    for i in range(n_steps):
        t = i * h
        ax1, ay1 = acceleration(vx, vy, t, WIND, DRAG)
        ax2, ay2 = acceleration(vx + 0.5 * h * ax1, vy + 0.5 * h * ay1, t + 0.5 * h, WIND, DRAG)
        ax3, ay3 = acceleration(vx + 0.5 * h * ax2, vy + 0.5 * h * ay2, t + 0.5 * h, WIND, DRAG)
        ax4, ay4 = acceleration(vx + h * ax3, vy + h * ay3, t + h, WIND, DRAG)
        x += h / 6.0 * (6.0 * vx + h * ax1 + h * ax2 + h * ax3)
        y += h / 6.0 * (6.0 * vy + h * ay1 + h * ay2 + h * ay3)
        vx += h / 6.0 * (ax1 + 2.0 * ax2 + 2.0 * ax3 + ax4)
        vy += h / 6.0 * (ay1 + 2.0 * ay2 + 2.0 * ay3 + ay4)
    return (x - PIG_X) ** 2 + (y - PIG_Y) ** 2


def miss_checkpointed(speed, angle, n_steps):
    """miss_loop with the time loop checkpointed (Revolve, SNAPSHOTS copies of the state)."""
    h = T_FLIGHT / n_steps
    x = 0.0
    y = 0.0
    vx = speed * math.cos(angle)
    vy = speed * math.sin(angle)
    for i in sourcead.checkpointed(range(n_steps), snapshots=20):  # = SNAPSHOTS
        t = i * h
        ax1, ay1 = acceleration(vx, vy, t, WIND, DRAG)
        ax2, ay2 = acceleration(vx + 0.5 * h * ax1, vy + 0.5 * h * ay1, t + 0.5 * h, WIND, DRAG)
        ax3, ay3 = acceleration(vx + 0.5 * h * ax2, vy + 0.5 * h * ay2, t + 0.5 * h, WIND, DRAG)
        ax4, ay4 = acceleration(vx + h * ax3, vy + h * ay3, t + h, WIND, DRAG)
        x += h / 6.0 * (6.0 * vx + h * ax1 + h * ax2 + h * ax3)
        y += h / 6.0 * (6.0 * vy + h * ay1 + h * ay2 + h * ay3)
        vx += h / 6.0 * (ax1 + 2.0 * ax2 + 2.0 * ax3 + ax4)
        vy += h / 6.0 * (ay1 + 2.0 * ay2 + 2.0 * ay3 + ay4)
    return (x - PIG_X) ** 2 + (y - PIG_Y) ** 2


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"{key} not in /proc/self/status")


def peak_rise_mib(call):
    """(result, rise of the peak RSS during ``call()`` in MiB), or (result, None) off Linux."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        before = _status_kib("VmRSS")
    except OSError:
        return call(), None
    result = call()
    return result, (_status_kib("VmHWM") - before) / 1024.0


def optimise(grad_miss, times):
    p = np.array([20.0, 0.8])  # speed (m/s) and angle (rad)
    lr, beta1, beta2 = 0.1, 0.8, 0.99
    m = np.zeros(2)
    s = np.zeros(2)
    print(f"{'iter':>5} {'miss (m²)':>12} {'speed (m/s)':>12} {'angle (°)':>10}")
    for it in range(2000):
        loss, g = grad_miss(p[0], p[1], times, N_STEPS)
        if it % 50 == 0 or loss < 1e-12:
            print(f"{it:5d} {loss:12.3e} {p[0]:12.6f} {math.degrees(p[1]):10.5f}")
        if loss < 1e-12:
            break
        g = np.array(g)
        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1 ** (it + 1))) / (np.sqrt(s / (1 - beta2 ** (it + 1))) + 1e-12)
    return p, it


def main():
    times = np.array([0.0, T_FLIGHT])
    # compile=True: compiled at the first call (not in the background), because the table
    # below measures the time and memory of compiled calls
    grad_ode = sourcead.grad(miss_ode, wrt=(0, 1), preserve_result=True, compile=True)
    t0 = time.perf_counter()
    grad_ode(20.0, 0.8, times, N_STEPS)  # transform and compile
    print(f"sourcead.grad(miss_ode): transformed and compiled in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    (speed, angle), iterations = optimise(grad_ode, times)
    print(f"{iterations} Adam steps in {time.perf_counter() - t0:.2f} s")
    print(f"launch: {speed:.5f} m/s at {math.degrees(angle):.4f}°")
    path = sourcead.odeint(
        rhs, _launch(speed, angle), np.linspace(0.0, T_FLIGHT, 221), WIND, DRAG, substeps=10
    )
    print(
        f"position at T = {T_FLIGHT} s: ({path[-1, 0]:.6f}, {path[-1, 1]:.6f}) m; pig at ({PIG_X}, {PIG_Y})"
    )

    # --- one gradient with N_MEMORY steps, three ways -----------------------------------
    speed0, angle0 = 20.0, 0.8  # away from the optimum, where the gradient vanishes
    print(
        f"\ngradient at the first guess ({speed0} m/s, {math.degrees(angle0):.1f}°) with {N_MEMORY:,} RK4 steps:"
    )
    methods = [("continuous adjoint (odeint)", grad_ode, (speed0, angle0, times, N_MEMORY))]
    if hasattr(sourcead, "checkpointed"):
        grad_ckpt = sourcead.grad(miss_checkpointed, wrt=(0, 1), preserve_result=True, compile=True)
        methods.append(
            (f"checkpointed, {SNAPSHOTS} snapshots", grad_ckpt, (speed0, angle0, N_MEMORY))
        )
    grad_loop = sourcead.grad(miss_loop, wrt=(0, 1), preserve_result=True, compile=True)
    methods.append(("plain reverse (element loop)", grad_loop, (speed0, angle0, N_MEMORY)))
    rows = []
    for label, gradient, args in methods:
        gradient(*args[:-1], 10)  # compile before measuring
        t0 = time.perf_counter()
        (value, g), rise = peak_rise_mib(lambda gradient=gradient, args=args: gradient(*args))
        rows.append((label, g, rise, time.perf_counter() - t0))
    if not hasattr(sourcead, "checkpointed"):
        rows.insert(1, ("checkpointed (sourcead.checkpointed not available)", None, None, None))
    reference = np.array(rows[-1][1])  # plain reverse: the exact gradient of the RK4 steps
    print("(rel. diff: against plain reverse, the exact gradient of the same RK4 steps)")
    print(
        f"{'method':<36} {'d/d speed':>13} {'d/d angle':>13} {'rel. diff':>9} {'peak RSS rise':>14} {'time':>8}"
    )
    for label, g, rise, seconds in rows:
        if g is None:
            print(f"{label:<36} {'—':>13} {'—':>13} {'—':>9} {'—':>14} {'—':>8}")
            continue
        diff = np.max(np.abs(np.array(g) - reference)) / np.max(np.abs(reference))
        memory = f"{rise:.2f} MiB" if rise is not None else "n/a"
        print(f"{label:<36} {g[0]:13.6e} {g[1]:13.6e} {diff:9.1e} {memory:>14} {seconds:7.3f}s")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the trajectory plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(path[:, 0], path[:, 1], label=f"bird: {speed:.2f} m/s at {math.degrees(angle):.1f}°")
    ax.plot(
        [PIG_X], [PIG_Y], "o", ms=12, color="tab:green", label=f"pig (reached at t = {T_FLIGHT} s)"
    )
    ax.annotate("", xy=(2, 1.2), xytext=(7, 1.2), arrowprops={"arrowstyle": "->"})
    ax.text(7.4, 1.0, f"head wind {abs(WIND):.0f} m/s ± 30%")
    ax.axhline(0.0, color="0.6", lw=1)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    # beside the axes, where neither the trajectory nor the wind label can be under it
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    ax.set_title("Launch found with sourcead.odeint (continuous adjoint) + Adam")
    out = Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"trajectory plot saved to {out}")


def _launch(speed, angle):
    return np.array([0.0, 0.0, speed * math.cos(angle), speed * math.sin(angle)])


if __name__ == "__main__":
    main()
