"""Optimal control of a three-level system: move the population of |0> to |2> with two fields.

A ladder of three levels (a transmon's lowest three, say) in the frame rotating with the
drive: the drift Hamiltonian holds the detunings, and two control fields couple neighbouring
levels, in phase (H_x = a + a†) and in quadrature (H_y = i(a† - a)), with the ladder's √2
between |1> and |2>. The controls are piecewise constant over SEGMENTS segments:

    H(t) = H_drift + u_x(t) H_x + u_y(t) H_y.

The state is propagated by Crank–Nicolson steps, ψ ← (1 + i dt H/2)⁻¹ (1 − i dt H/2) ψ
(``np.linalg.solve`` of a complex matrix; the step is unitary), and the loss is the
infidelity 1 − |<2|ψ(T)>|² of the real controls. ``sourcead.value_and_grad`` gives the loss
and its gradient together, as ``scipy.optimize.minimize(..., jac=True)`` wants: real
parameters, complex states, a real loss. L-BFGS-B keeps the amplitudes within ±U_MAX.

Run:  python examples/quantum_control.py   (saves quantum_control.png next to it if
matplotlib is installed; ``--python`` runs the generated gradient as plain Python instead
of compiling it).
"""

import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

SEGMENTS = 60  # piecewise-constant control segments
DURATION = 12.0  # total time (in units of 1 / the coupling)
DT = DURATION / SEGMENTS  # one Crank–Nicolson step per segment
U_MAX = 1.0  # bound on each control amplitude
DETUNINGS = (0.0, 0.2, -0.3)  # the drift: each level's energy in the rotating frame


def hamiltonians():
    """The drift and the two control Hamiltonians of the ladder (complex 3 x 3 matrices)."""
    r2 = np.sqrt(2.0)
    drift = np.diag(DETUNINGS).astype(complex)
    hx = np.array([[0, 1, 0], [1, 0, r2], [0, r2, 0]], dtype=complex)
    hy = np.array([[0, -1j, 0], [1j, 0, -1j * r2], [0, 1j * r2, 0]])
    return drift, hx, hy


def infidelity(u, drift, hx, hy, psi0, target):
    """1 - |<target|ψ(T)>|² for the controls u = (u_x over the segments, then u_y)."""
    eye = np.eye(psi0.shape[0])
    psi = psi0 + 0j
    for k in range(SEGMENTS):
        h = drift + u[k] * hx + u[SEGMENTS + k] * hy
        half_step = 0.5j * DT * h
        psi = np.linalg.solve(eye + half_step, (eye - half_step) @ psi)
    return 1.0 - np.abs(np.vdot(target, psi)) ** 2


def populations(u, drift, hx, hy, psi0):
    """The populations |ψ_n(t)|² at the start and after every step (for the plot)."""
    eye = np.eye(psi0.shape[0])
    psi = psi0 + 0j
    history = [np.abs(psi) ** 2]
    for k in range(SEGMENTS):
        h = drift + u[k] * hx + u[SEGMENTS + k] * hy
        psi = np.linalg.solve(eye + 0.5j * DT * h, (eye - 0.5j * DT * h) @ psi)
        history.append(np.abs(psi) ** 2)
    return np.array(history)


def optimize(compile=True):
    """L-BFGS-B from a weak smooth pulse; returns SciPy's result and the problem."""
    drift, hx, hy = hamiltonians()
    psi0 = np.array([1.0, 0.0, 0.0], dtype=complex)
    target = np.array([0.0, 0.0, 1.0], dtype=complex)
    problem = (drift, hx, hy, psi0, target)
    loss_and_grad = sourcead.value_and_grad(infidelity, compile=compile)

    t = (np.arange(SEGMENTS) + 0.5) * DT
    envelope = np.sin(np.pi * t / DURATION)  # a first guess that moves little population
    u0 = np.concatenate([0.1 * envelope, 0.05 * envelope])
    t0 = time.perf_counter()
    loss_and_grad(u0, *problem)  # the first call generates the adjoint (and compiles it)
    what = "generated and compiled" if compile else "generated"
    print(f"sourcead.value_and_grad(infidelity): {what} in {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    result = minimize(
        loss_and_grad,
        u0,
        args=problem,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-U_MAX, U_MAX)] * (2 * SEGMENTS),
    )
    elapsed = time.perf_counter() - t0
    print(f"L-BFGS-B: {result.message} after {result.nit} iterations, {result.nfev} evaluations")
    print(f"in {elapsed:.3f} s; fidelity |<2|psi(T)>|^2 = {1.0 - result.fun:.6f}")
    return result, problem


def main(plot_path=None, compile=True):
    """Optimise, print and plot; returns SciPy's result."""
    result, problem = optimize(compile)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; skipping the plot")
        return result
    drift, hx, hy, psi0, _ = problem
    u = result.x
    edges = np.linspace(0.0, DURATION, SEGMENTS + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    top.stairs(u[:SEGMENTS], edges, label="$u_x$ (in phase)", lw=1.5)
    top.stairs(u[SEGMENTS:], edges, label="$u_y$ (quadrature)", lw=1.5)
    top.set_ylabel("control amplitude")
    top.legend(loc="upper left", fontsize="small")
    top.set_title(f"|0> → |2> in a three-level ladder: fidelity {1.0 - result.fun:.6f}")
    history = populations(u, drift, hx, hy, psi0)
    for n in range(3):
        bottom.plot(edges, history[:, n], label=f"|{n}>")
    bottom.set_xlabel("time")
    bottom.set_ylabel("population")
    bottom.legend(loc="center left", fontsize="small")
    out = Path(plot_path) if plot_path is not None else Path(__file__).with_suffix(".png")
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"plot saved to {out}")
    return result


if __name__ == "__main__":
    main(compile="--python" not in sys.argv[1:])
