"""Programs of the first-call table of ``benchmarks/startup.py`` that no example or benchmark
has already: each a plain function in sourcead's subset, as in a user's module.

* ``mlp_loss``: a 784-128-10 perceptron's softmax cross-entropy on a batch (whole arrays);
* ``md_energy``: 16 Lennard-Jones particles in 3-D, integrated for ``n_steps`` steps
  (symplectic Euler) with the forces of a loop over pairs; the loss is the final kinetic
  energy, differentiated with respect to the initial positions and the well depth;
* ``trg_free_energy``: coarse-graining steps of the tensor renormalisation group (Levin and
  Nave) on the 2-D Ising model's tensor, each an SVD split of the tensor two ways and a
  contraction of the four pieces written as loops, truncated to ``chi`` states (and to the
  split's rank, so that no singular value kept is zero); its
  derivative with respect to the inverse temperature is taken in forward mode (``jvp``);
* ``pair_energy``: a soft repulsion summed over the pairs of ``n`` particles in 2-D, for
  ``vmap(grad)`` over a batch of configurations;
* ``flight``: the projectile of ``benchmarks/loops.py`` with its number of steps an argument
  (``benchmarks/background.py``: a loop whose Python version is slower than the compiler).
"""

import math

import numpy as np


def mlp_loss(w1, b1, w2, b2, x, y):
    """Mean softmax cross-entropy of the network on inputs x (n, 784), one-hot labels y."""
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    top = np.max(logits)  # for a stable softmax
    e = np.exp(logits - top)
    log_norm = np.log(np.sum(e, axis=1))
    picked = np.sum(logits * y, axis=1)
    return np.mean(log_norm - picked + top)


def md_energy(pos0, vel0, eps, sigma, dt, n_steps):
    """Kinetic energy after ``n_steps`` steps of Lennard-Jones dynamics (unit masses)."""
    n = pos0.shape[0]
    pos = pos0.copy()
    vel = vel0.copy()
    for _ in range(n_steps):
        force = np.zeros((n, 3))
        for i in range(n):
            for j in range(i + 1, n):
                dx = pos[i, 0] - pos[j, 0]
                dy = pos[i, 1] - pos[j, 1]
                dz = pos[i, 2] - pos[j, 2]
                r2 = dx * dx + dy * dy + dz * dz
                s6 = (sigma * sigma / r2) ** 3
                f = 24.0 * eps * (2.0 * s6 * s6 - s6) / r2
                force[i, 0] += f * dx
                force[i, 1] += f * dy
                force[i, 2] += f * dz
                force[j, 0] -= f * dx
                force[j, 1] -= f * dy
                force[j, 2] -= f * dz
        for i in range(n):
            for k in range(3):
                vel[i, k] += dt * force[i, k]
                pos[i, k] += dt * vel[i, k]
    kinetic = 0.0
    for i in range(n):
        for k in range(3):
            kinetic += 0.5 * vel[i, k] * vel[i, k]
    return kinetic


def trg_free_energy(beta, field, chi, n_steps):
    """-ln Z per site of the 2-D Ising model, estimated by ``n_steps`` TRG steps (bond
    dimension at most ``chi``); ``field`` breaks the symmetry so that singular values differ."""
    # the initial tensor T[u, l, d, r] = sum_s W[s, u] W[s, l] W[s, d] W[s, r] e^{beta h s / 2}
    c = math.sqrt(math.cosh(beta))
    s = math.sqrt(math.sinh(beta))
    w = np.zeros((2, 2))
    w[0, 0] = c
    w[0, 1] = s
    w[1, 0] = c
    w[1, 1] = -s
    t = np.zeros((2, 2, 2, 2))
    for spin in range(2):
        weight = math.exp(beta * field * (1.0 - 2.0 * spin) * 0.5)
        for u in range(2):
            for left in range(2):
                for d in range(2):
                    for r in range(2):
                        t[u, left, d, r] += (
                            weight * w[spin, u] * w[spin, left] * w[spin, d] * w[spin, r]
                        )
    log_z = 0.0
    sites = 1.0
    for step in range(n_steps):
        dim = t.shape[0]
        norm = np.max(np.abs(t))
        t = t / norm
        log_z += math.log(norm) / sites
        sites = sites * 2.0
        # split T two ways: (u, l) x (d, r) and (l, d) x (r, u)
        m1 = t.reshape(dim * dim, dim * dim)
        m2 = np.zeros((dim * dim, dim * dim))
        for u in range(dim):
            for left in range(dim):
                for d in range(dim):
                    for r in range(dim):
                        m2[left * dim + d, r * dim + u] = t[u, left, d, r]
        u1, s1, v1 = np.linalg.svd(m1, full_matrices=False)
        u2, s2, v2 = np.linalg.svd(m2, full_matrices=False)
        # the split's rank for this tensor (2, 4, 4, 8, 8, ...): no zero singular values kept
        k = min(chi, 2 ** (1 + (step + 1) // 2))
        a = np.zeros((dim, dim, k))  # a[u, l, x] = u1[(u, l), x] sqrt(s1[x])
        b = np.zeros((k, dim, dim))  # b[x, d, r] = sqrt(s1[x]) v1[x, (d, r)]
        e = np.zeros((dim, dim, k))  # e[l, d, y] = u2[(l, d), y] sqrt(s2[y])
        f = np.zeros((k, dim, dim))  # f[y, r, u] = sqrt(s2[y]) v2[y, (r, u)]
        for x in range(k):
            r1 = math.sqrt(s1[x])
            r2 = math.sqrt(s2[x])
            for p in range(dim):
                for q in range(dim):
                    a[p, q, x] = u1[p * dim + q, x] * r1
                    b[x, p, q] = r1 * v1[x, p * dim + q]
                    e[p, q, x] = u2[p * dim + q, x] * r2
                    f[x, p, q] = r2 * v2[x, p * dim + q]
        # the four pieces around a plaquette make the new tensor T'[x1, y1, x2, y2]
        half = np.zeros((k, k, dim, dim))  # b[x1, i, j] f[y1, j, l] summed over j
        for x1 in range(k):
            for y1 in range(k):
                for i in range(dim):
                    for m in range(dim):
                        total = 0.0
                        for j in range(dim):
                            total += b[x1, i, j] * f[y1, j, m]
                        half[x1, y1, i, m] = total
        other = np.zeros((k, k, dim, dim))  # a[m, n, x2] e[n, i, y2] summed over n
        for x2 in range(k):
            for y2 in range(k):
                for m in range(dim):
                    for i in range(dim):
                        total = 0.0
                        for n in range(dim):
                            total += a[m, n, x2] * e[n, i, y2]
                        other[x2, y2, m, i] = total
        t = np.zeros((k, k, k, k))
        for x1 in range(k):
            for y1 in range(k):
                for x2 in range(k):
                    for y2 in range(k):
                        total = 0.0
                        for i in range(dim):
                            for m in range(dim):
                                total += half[x1, y1, i, m] * other[x2, y2, m, i]
                        t[x1, y1, x2, y2] = total
    # close the remaining tensor on itself (periodic boundaries)
    dim = t.shape[0]
    trace = 0.0
    for i in range(dim):
        for j in range(dim):
            trace += t[i, j, i, j]
    return -(log_z + math.log(abs(trace)) / sites)


def pair_energy(x, y):
    """A soft repulsion summed over the pairs of particles at (x[i], y[i])."""
    n = x.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = x[i] - x[j]
            dy = y[i] - y[j]
            energy += 1.0 / (dx * dx + dy * dy + 0.1)
    return energy


def flight(vx, vy, c, n_steps):
    """The squared miss of a projectile with quadratic drag after ``n_steps`` steps of 1e-4."""
    x = 0.0
    y = 0.0
    for _ in range(n_steps):
        v = math.sqrt(vx * vx + vy * vy)
        x += 1e-4 * vx
        y += 1e-4 * vy
        vx -= 1e-4 * c * v * vx
        vy -= 1e-4 * (9.81 + c * v * vy)
    return (x - 10.0) ** 2 + y * y
