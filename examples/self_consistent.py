"""A self-consistent mean-field problem, differentiated through its fixed point.

Spins on a ring of N sites in a non-uniform field h_i, at inverse temperature beta. In the
mean-field approximation the magnetisations satisfy the self-consistency equations

    m_i = tanh(beta * (J * (m_{i-1} + m_{i+1}) + h_i)),

solved by damped iteration (m <- (1 - a) m + a tanh(...)), as self-consistent field codes do.
The observable is the mean-field energy per site

    E(J) = -(1/N) * sum_i (J m_i m_{i+1} + h_i m_i)

at the self-consistent m. Its derivative with respect to the coupling J includes the response
of every m_i to J. `sourcead.fixed_point` gives it by implicit differentiation: the backward
sweep solves one linear adjoint equation at the solution (by iteration or by a direct dense
solve), storing nothing per iteration. The script checks it against central finite
differences and against plain reverse mode through a fixed number of unrolled iterations.

Run:  python examples/self_consistent.py
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

N = 32  # sites
BETA = 1.5  # inverse temperature
MIXING = 0.5  # damping of the iteration
UNROLLED = 400  # iterations of the unrolled reference


def mean_field_step(m, coupling, field):
    """One damped self-consistency iteration (neighbours on a ring: np.roll)."""
    neighbours = np.roll(m, 1) + np.roll(m, -1)
    target = np.tanh(BETA * (coupling * neighbours + field))
    return (1.0 - MIXING) * m + MIXING * target


def energy_of(m, coupling, field):
    return -(coupling * np.sum(m * np.roll(m, -1)) + np.sum(field * m)) / m.size


def energy(coupling, field):
    """Mean-field energy per site at self-consistency (adjoint by iteration)."""
    m0 = np.zeros(field.shape[0])
    m = sourcead.fixed_point(mean_field_step, m0, coupling, field, tol=1e-13, max_iter=5000)
    return energy_of(m, coupling, field)


def energy_direct(coupling, field):
    """The same, with the adjoint equation solved by one dense linear solve."""
    m0 = np.zeros(field.shape[0])
    m = sourcead.fixed_point(
        mean_field_step, m0, coupling, field, tol=1e-13, max_iter=5000, adjoint="direct"
    )
    return energy_of(m, coupling, field)


def energy_unrolled(coupling, field):
    """Reference: UNROLLED iterations written out (plain reverse mode stores every one)."""
    m = np.zeros(field.shape[0])
    for _ in range(UNROLLED):
        m = mean_field_step(m, coupling, field)
    return energy_of(m, coupling, field)


def main():
    x = np.arange(N) / N
    field = 0.3 * np.cos(2.0 * np.pi * x) + 0.05
    coupling = 0.4

    m = sourcead.fixed_point(
        mean_field_step, np.zeros(N), coupling, field, tol=1e-13, max_iter=5000
    )
    print(f"{N} sites, beta = {BETA}, J = {coupling}")
    print(
        f"self-consistent magnetisation: mean {m.mean():.6f}, min {m.min():.6f}, max {m.max():.6f}"
    )
    print(f"energy per site: {energy_of(m, coupling, field):.12f}")

    rows = []
    for label, fun in [
        ("fixed_point, iterative adjoint", energy),
        ("fixed_point, direct adjoint", energy_direct),
        (f"plain reverse, {UNROLLED} unrolled iterations", energy_unrolled),
    ]:
        # compile=True: compiled at the first call (not in the background), whose time the
        # table shows beside a compiled call's
        gradient = sourcead.grad(fun, wrt=(0, 1), preserve_result=True, compile=True)
        t0 = time.perf_counter()
        gradient(coupling, field)  # transform and compile
        compiled = time.perf_counter() - t0
        t0 = time.perf_counter()
        value, (d_coupling, d_field) = gradient(coupling, field)
        rows.append((label, value, d_coupling, d_field, time.perf_counter() - t0, compiled))

    # central differences of the solved energy (each evaluation a full fixed-point solve)
    h = 1e-5

    def solved_energy(j, f):
        m = sourcead.fixed_point(mean_field_step, np.zeros(N), j, f, tol=1e-14, max_iter=5000)
        return energy_of(m, j, f)

    fd_coupling = (solved_energy(coupling + h, field) - solved_energy(coupling - h, field)) / (
        2 * h
    )
    bump = np.zeros(N)
    bump[3] = h
    fd_field3 = (solved_energy(coupling, field + bump) - solved_energy(coupling, field - bump)) / (
        2 * h
    )

    print(f"\n{'gradient':<42} {'dE/dJ':>16} {'dE/dh_3':>16} {'call':>9} {'compile':>8}")
    for label, _, d_coupling, d_field, seconds, compiled in rows:
        print(
            f"{label:<42} {d_coupling:16.12f} {d_field[3]:16.12f} {seconds * 1e3:7.2f}ms {compiled:7.1f}s"
        )
    print(f"{'central finite differences (h = 1e-5)':<42} {fd_coupling:16.12f} {fd_field3:16.12f}")
    d_iterative = rows[0][2]
    print(
        f"\nrelative difference of dE/dJ: vs finite differences {abs(d_iterative - fd_coupling) / abs(fd_coupling):.1e}, "
        f"iterative vs direct {abs(d_iterative - rows[1][2]) / abs(d_iterative):.1e}, "
        f"vs unrolled {abs(d_iterative - rows[2][2]) / abs(d_iterative):.1e}"
    )
    partial = -np.mean(m * np.roll(m, -1))
    print(
        f"(the explicit part alone, -<m_i m_i+1> = {partial:.12f}, misses the response of m to J)"
    )


if __name__ == "__main__":
    main()
