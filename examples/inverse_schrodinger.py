"""Inverse problem through an eigensolver: find the potential with a given ground-state density.

A particle on a 1-D grid has the Hamiltonian H = -1/2 d²/dx² + V(x) (finite differences).
Its ground state ψ₀ is the eigenvector of H with the smallest eigenvalue
(``np.linalg.eigh``), and its density is n(x) = |ψ₀(x)|². Given the density of an unknown
double-well potential, we recover a potential with that density by gradient descent on
V, differentiating through ``eigh`` with ``sourcead.grad``.

Run: ``python examples/inverse_schrodinger.py`` (prints progress; saves
``inverse_schrodinger.png`` beside this file when matplotlib is installed).
"""

import time
from pathlib import Path

import numpy as np

import sourcead

N = 64
X = np.linspace(-4.0, 4.0, N)
DX = X[1] - X[0]


def kinetic_matrix(n, dx):
    """-1/2 times the second-difference matrix (hard walls at both ends)."""
    off_diagonal = np.full(n - 1, -0.5 / dx**2)
    return np.diag(np.full(n, 1.0 / dx**2)) + np.diag(off_diagonal, 1) + np.diag(off_diagonal, -1)


def ground_density(v, kinetic, dx):
    """|psi_0|^2 of the ground state of kinetic + diag(v), normalised on the grid."""
    energies, psi = np.linalg.eigh(kinetic + np.diag(v))
    return np.abs(psi[:, 0]) ** 2 / dx


def mismatch(v, kinetic, target, dx):
    """Squared L2 distance between the ground-state density of v and the target (+ smoothing)."""
    density = ground_density(v, kinetic, dx)
    return np.sum((density - target) ** 2) * dx + 1e-5 * np.sum(np.diff(v) ** 2) / dx


def main():
    kinetic = kinetic_matrix(N, DX)
    v_true = 0.5 * (X**2 - 2.0) ** 2 * 0.5 + 0.3 * X  # a tilted double well
    target = ground_density(v_true, kinetic, DX)

    v = 0.5 * X**2  # start from a harmonic well
    gradient = sourcead.grad(mismatch, wrt=0)
    start = time.perf_counter()
    step, velocity = 20.0, np.zeros(N)
    first = mismatch(v, kinetic, target, DX)
    for it in range(401):
        value = mismatch(v, kinetic, target, DX)
        g = gradient(v, kinetic, target, DX)
        velocity = 0.9 * velocity - step * g
        v = v + velocity
        if it % 100 == 0:
            print(f"step {it:4d}  density mismatch {value:.3e}")
    final = mismatch(v, kinetic, target, DX)
    density = ground_density(v, kinetic, DX)
    print(f"mismatch {first:.3e} -> {final:.3e} in {time.perf_counter() - start:.1f} s")
    print(
        f"largest density error: {np.max(np.abs(density - target)):.2e} (peak {target.max():.2f})"
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(X, target, label="target density", lw=3, alpha=0.5)
    left.plot(X, density, "--", label="recovered potential's density")
    left.set_xlabel("x")
    left.legend()
    shift = np.mean(v_true - v)  # a potential is determined up to a constant
    right.plot(X, v_true, label="true potential", lw=3, alpha=0.5)
    right.plot(X, v + shift, "--", label="recovered (shifted)")
    right.set_ylim(-3, 8)
    right.set_xlabel("x")
    right.legend()
    fig.tight_layout()
    out = Path(__file__).with_name("inverse_schrodinger.png")  # beside this file
    fig.savefig(out, dpi=120)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
