"""The 2-D Ising model by tensor renormalisation: energy and specific heat as derivatives.

The partition function of the square-lattice Ising model is a network of one tensor per site,
T[l, u, r, d] = sum_s W[s, l] W[s, u] W[s, r] W[s, d], where W W^T holds the bond's
Boltzmann weights exp(beta s s'). Levin and Nave's tensor renormalisation group (TRG)
coarse-grains it: each step splits T along its two diagonals by truncated SVDs (bond
dimension at most CHI) and contracts four halves into the tensor of a lattice with half as
many sites, rotated by 45 degrees. After STEPS steps the tensor stands for 2**STEPS sites, and
log Z per site is the sum of the logarithms of the norms divided out along the way.

The thermodynamics are derivatives of f(beta) = log Z / N in beta:

    energy per site        u = -df/dbeta                 (sourcead.grad)
    specific heat per site c = beta**2 d2f/dbeta2        (sourcead.hvp: forward over reverse)

differentiated through the loop, the SVDs (their truncation ``u[:, :k]``, whose discarded
singular vectors have no derivative) and the einsums, and compared with Onsager's exact
solution through the critical point beta_c = log(1 + sqrt 2) / 2. (Second derivatives
through SVDs whose singular values are degenerate are not reliable: at high temperature,
beta <= 0.3, this network's spectra are, and the curvature there is wrong; the range
plotted starts above it.)

Run:  python examples/ising_trg.py   (saves ising_trg.png next to it if matplotlib is
installed; ``--quick``: fewer temperatures). The derivatives run as plain Python and NumPy
(``compile=False``): the time goes to the SVDs, and compiling this loop of SVDs, einsums and
their second derivatives with Numba takes minutes; ``--compile`` compiles them.
"""

import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import ellipk

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # run from a source checkout
import sourcead  # noqa: E402

CHI = 16  # the bond dimension kept by each truncated SVD
STEPS = 10  # coarse-graining steps: a periodic lattice of 2**10 = 32 x 32 sites
BETA_C = np.log(1.0 + np.sqrt(2.0)) / 2.0


def site_tensor(beta):
    """T[l, u, r, d] of one site: W W^T = [[e^b, e^-b], [e^-b, e^b]] for the bond."""
    c, s = np.sqrt(np.cosh(beta)), np.sqrt(np.sinh(beta))
    w = np.array([[c, s], [c, -s]])
    return np.einsum("ai,aj,ak,al->ijkl", w, w, w, w)


def log_z_per_site(beta, chi, steps):
    """log Z / N of the Ising model on a lattice of 2**steps sites (periodic), by TRG."""
    return log_z_of_network(site_tensor(beta), chi, steps)


def log_z_of_network(t, chi, steps):
    """log Z / N of the network of the site tensor ``t`` on 2**steps sites, by TRG."""
    log_z = 0.0
    sites = 1.0  # sites the tensor stands for
    for _ in range(steps):
        norm = np.sqrt(np.sum(t * t))  # (a smooth norm: any would do, it divides out)
        t = t / norm
        log_z = log_z + np.log(norm) / sites
        d = t.shape[0]
        # the two diagonal splittings: T = S1 S3 along one diagonal, S2 S4 along the other
        ua, sa, vha = np.linalg.svd(np.transpose(t, (2, 1, 0, 3)).reshape(d * d, d * d))
        ub, sb, vhb = np.linalg.svd(np.transpose(t, (3, 2, 1, 0)).reshape(d * d, d * d))
        k = min(chi, np.sum(sa > 1e-8 * sa[0]), np.sum(sb > 1e-8 * sb[0]))
        s1 = (ua[:, :k] * np.sqrt(sa[:k])).reshape(d, d, k)
        s3 = (vha[:k].T * np.sqrt(sa[:k])).reshape(d, d, k)
        s2 = (ub[:, :k] * np.sqrt(sb[:k])).reshape(d, d, k)
        s4 = (vhb[:k].T * np.sqrt(sb[:k])).reshape(d, d, k)
        # the four halves around a plaquette: the tensor of the coarse lattice
        upper = np.einsum("war,abu->wrbu", s1, s2)
        lower = np.einsum("bgl,gwd->bwld", s3, s4)
        t = np.einsum("wrbu,bwld->ruld", upper, lower)
        sites = sites * 2.0
    return log_z + np.log(np.einsum("abab->", t)) / sites


# --- Onsager's solution ---------------------------------------------------------------------------


def onsager_energy(beta):
    """The exact energy per site: -coth(2b) (1 + (2/pi) (2 tanh(2b)^2 - 1) K(k^2)),
    k = 2 sinh(2b) / cosh(2b)^2."""
    k = 2.0 * np.sinh(2.0 * beta) / np.cosh(2.0 * beta) ** 2
    factor = 2.0 * np.tanh(2.0 * beta) ** 2 - 1.0
    return -(1.0 + 2.0 / np.pi * factor * ellipk(k * k)) / np.tanh(2.0 * beta)


def onsager_specific_heat(beta, h=1e-6):
    """c = -beta^2 du/dbeta, by central differences of the exact energy (infinite at beta_c)."""
    return -(beta**2) * (onsager_energy(beta + h) - onsager_energy(beta - h)) / (2.0 * h)


def main(plot_path=None, compile=False, quick=False):
    betas = np.linspace(0.34, 0.58, 4 if quick else 7)
    started = time.perf_counter()
    slope = sourcead.grad(log_z_per_site, compile=compile)
    energies, heats = [], []
    for beta in betas:
        energies.append(-slope(beta, CHI, STEPS))
        curvature = sourcead.hvp(
            log_z_per_site, (beta, CHI, STEPS), (1.0, None, None), compile=compile
        )
        heats.append(beta**2 * curvature)
    elapsed = time.perf_counter() - started
    exact_u, exact_c = onsager_energy(betas), onsager_specific_heat(betas)
    print(f"TRG, chi = {CHI}, {STEPS} steps (2^{STEPS} sites), {len(betas)} temperatures")
    print(f"{'beta':>6} {'u (TRG)':>10} {'u (exact)':>10} {'c (TRG)':>9} {'c (exact)':>9}")
    for beta, u, ue, c, ce in zip(betas, energies, exact_u, heats, exact_c, strict=True):
        print(f"{beta:6.3f} {u:10.6f} {ue:10.6f} {c:9.4f} {ce:9.4f}")
    away = np.abs(betas - BETA_C) > 0.05
    worst = np.max(np.abs(np.array(energies) - exact_u)[away])
    print(f"largest energy error away from beta_c: {worst:.1e}; {elapsed:.1f} s in all")

    if plot_path is not None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed; skipping the plot")
            return np.array(energies), np.array(heats), betas
        fine = np.linspace(0.32, 0.60, 400)
        fig, (ax_u, ax_c) = plt.subplots(1, 2, figsize=(10, 4))
        ax_u.plot(fine, onsager_energy(fine), label="Onsager (exact)")
        ax_u.plot(betas, energies, "o", label=f"TRG, χ = {CHI}: -d(log Z/N)/dβ")
        ax_u.set(xlabel="β", ylabel="energy per site u", title="Energy")
        ax_c.plot(fine, np.minimum(onsager_specific_heat(fine), 4.0), label="Onsager (exact)")
        ax_c.plot(betas, heats, "o", label="TRG: β² d²(log Z/N)/dβ²")
        ax_c.set(xlabel="β", ylabel="specific heat per site c", title="Specific heat")
        for ax in (ax_u, ax_c):
            ax.axvline(BETA_C, color="grey", lw=0.8, ls="--")
            ax.legend()
        fig.tight_layout()
        out = Path(plot_path)
        fig.savefig(out, dpi=120, bbox_inches="tight")
        print(f"saved {out}")
    return np.array(energies), np.array(heats), betas


if __name__ == "__main__":
    main(
        plot_path=Path(__file__).with_suffix(".png"),
        compile="--compile" in sys.argv,
        quick="--quick" in sys.argv,
    )
