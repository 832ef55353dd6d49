"""JAX versions of the first-call table's programs (``benchmarks/startup.py``), in float64.

Each ``make_NAME(args)`` returns a function of no arguments giving the derivative that the
sourcead row computes, with JAX's ``jit``: the child process of the table times its first
call (tracing, XLA's compilation, the call). Loops are ``lax.fori_loop`` (a Python loop
would be unrolled by tracing); loops over particles and tensor indices are whole-array
operations. This module imports only JAX and NumPy, so that the time is JAX's alone.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

jax.config.update("jax_enable_x64", True)


def _first(function, *args):
    """A function of no arguments: ``function(*args)`` with its result awaited (JAX
    dispatches asynchronously) and returned as NumPy arrays."""

    def call():
        return jax.tree_util.tree_map(np.asarray, jax.block_until_ready(function(*args)))

    return call


def make_projectile(args):
    def loss(vx, vy, c):
        def step(_, s):
            x, y, vx, vy = s
            v = jnp.sqrt(vx * vx + vy * vy)
            return (x + 1e-4 * vx, y + 1e-4 * vy, vx - 1e-4 * c * v * vx,
                    vy - 1e-4 * (9.81 + c * v * vy))  # fmt: skip

        x, y, _, _ = lax.fori_loop(0, 20000, step, (0.0, 0.0, vx, vy))
        return (x - 30.0) ** 2 + y**2

    return _first(jax.jit(jax.grad(loss, argnums=(0, 1, 2))), *args)


def make_gmm(args):
    log_2pi = math.log(2.0 * math.pi)

    def objective(alphas, means, icf, x, gamma, m):
        n, d = x.shape
        k = alphas.shape[0]
        qdiag = jnp.exp(icf[:, :d])
        rows, cols = np.tril_indices(d, -1)
        order = np.lexsort((rows, cols))  # ADBench's column-major order of the lower triangle
        lower = jnp.zeros((k, d, d)).at[:, rows[order], cols[order]].set(icf[:, d:])
        xc = x[:, None, :] - means[None, :, :]
        lx = qdiag[None] * xc + jnp.einsum("kij,nkj->nki", lower, xc)
        inner = alphas[None] + jnp.sum(icf[:, :d], axis=1)[None] - 0.5 * jnp.sum(lx * lx, axis=2)
        prior = jnp.sum(
            0.5 * gamma**2 * (jnp.sum(qdiag**2, axis=1) + jnp.sum(icf[:, d:] ** 2, axis=1))
            - m * jnp.sum(icf[:, :d], axis=1)
        )
        return (
            -0.5 * n * d * log_2pi
            + jnp.sum(jax.nn.logsumexp(inner, axis=1))
            - n * jax.nn.logsumexp(alphas)
            + prior
        )

    return _first(jax.jit(jax.grad(objective, argnums=(0, 1, 2))), *args)


def make_mlp(args):
    def loss(w1, b1, w2, b2, x, y):
        h = jnp.tanh(x @ w1 + b1)
        logits = h @ w2 + b2
        top = jnp.max(logits)
        log_norm = jnp.log(jnp.sum(jnp.exp(logits - top), axis=1))
        return jnp.mean(log_norm - jnp.sum(logits * y, axis=1) + top)

    return _first(jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3))), *args)


def make_schrodinger(args):
    def mismatch(v, kinetic, target, dx):
        _, psi = jnp.linalg.eigh(kinetic + jnp.diag(v))
        phi = psi[:, 0]
        diff = phi * phi / dx - target
        slope = v[1:] - v[:-1]
        return jnp.sum(diff * diff) * dx + 1e-5 * jnp.sum(slope * slope) / dx

    return _first(jax.jit(jax.grad(mismatch)), *args)


def make_md(args):
    pos0, vel0, eps, sigma, dt, n_steps = args

    def energy(pos0, eps):
        n = pos0.shape[0]
        upper = jnp.triu(jnp.ones((n, n), dtype=bool), 1)

        def step(_, state):
            pos, vel = state
            delta = pos[:, None, :] - pos[None, :, :]
            r2 = jnp.where(upper | upper.T, jnp.sum(delta * delta, axis=2), 1.0)
            s6 = (sigma * sigma / r2) ** 3
            f = jnp.where(upper | upper.T, 24.0 * eps * (2.0 * s6 * s6 - s6) / r2, 0.0)
            vel = vel + dt * jnp.sum(f[:, :, None] * delta, axis=1)
            return pos + dt * vel, vel

        _, vel = lax.fori_loop(0, n_steps, step, (pos0, vel0))
        return 0.5 * jnp.sum(vel * vel)

    return _first(jax.jit(jax.grad(energy, argnums=(0, 1))), pos0, eps)


def make_trg(args):
    beta, field, chi, n_steps = args

    def free_energy(beta):
        c, s = jnp.sqrt(jnp.cosh(beta)), jnp.sqrt(jnp.sinh(beta))
        w = jnp.array([[c, s], [c, -s]])
        weight = jnp.exp(beta * field * jnp.array([0.5, -0.5]))
        t = jnp.einsum("s,su,sl,sd,sr->uldr", weight, w, w, w, w)
        log_z, sites = 0.0, 1.0
        for step in range(n_steps):  # few steps, each of its own shapes: unrolled
            dim = t.shape[0]
            norm = jnp.max(jnp.abs(t))
            t = t / norm
            log_z = log_z + jnp.log(norm) / sites
            sites *= 2.0
            u1, s1, v1 = jnp.linalg.svd(t.reshape(dim * dim, dim * dim), full_matrices=False)
            m2 = jnp.transpose(t, (1, 2, 3, 0)).reshape(dim * dim, dim * dim)
            u2, s2, v2 = jnp.linalg.svd(m2, full_matrices=False)
            k = min(chi, 2 ** (1 + (step + 1) // 2))  # as trg_free_energy
            r1, r2 = jnp.sqrt(s1[:k]), jnp.sqrt(s2[:k])
            a = (u1[:, :k] * r1).reshape(dim, dim, k)
            b = (r1[:, None] * v1[:k]).reshape(k, dim, dim)
            e = (u2[:, :k] * r2).reshape(dim, dim, k)
            f = (r2[:, None] * v2[:k]).reshape(k, dim, dim)
            half = jnp.einsum("aij,bjm->abim", b, f)
            other = jnp.einsum("mnc,nid->cdmi", a, e)
            t = jnp.einsum("abim,cdmi->abcd", half, other)
        trace = jnp.einsum("ijij->", t)
        return -(log_z + jnp.log(jnp.abs(trace)) / sites)

    return _first(jax.jit(lambda b: jax.jvp(free_energy, (b,), (1.0,))), beta)


def make_vmap_pairs(args):
    def pair_energy(x, y):
        dx = x[:, None] - x[None, :]
        dy = y[:, None] - y[None, :]
        upper = jnp.triu(jnp.ones((x.shape[0], x.shape[0]), dtype=bool), 1)
        return jnp.sum(jnp.where(upper, 1.0 / (dx * dx + dy * dy + 0.1), 0.0))

    return _first(jax.jit(jax.vmap(jax.grad(pair_energy, argnums=(0, 1)))), *args)


def make_rk4_hessian(args):
    speed, angle, n_steps = args
    g, drag, wind, t_flight, pig_x, pig_y = 9.81, 0.02, -4.0, 2.2, 30.0, 0.0

    def acceleration(vx, vy, t):
        w = wind * (1.0 + 0.3 * jnp.sin(2.0 * t))
        rvx = vx - w
        speed = jnp.sqrt(rvx * rvx + vy * vy)
        return -drag * speed * rvx, -g - drag * speed * vy

    def miss(speed, angle):
        h = t_flight / n_steps

        def step(i, s):
            x, y, vx, vy = s
            t = i * h
            ax1, ay1 = acceleration(vx, vy, t)
            ax2, ay2 = acceleration(vx + 0.5 * h * ax1, vy + 0.5 * h * ay1, t + 0.5 * h)
            ax3, ay3 = acceleration(vx + 0.5 * h * ax2, vy + 0.5 * h * ay2, t + 0.5 * h)
            ax4, ay4 = acceleration(vx + h * ax3, vy + h * ay3, t + h)
            return (
                x + h / 6.0 * (6.0 * vx + h * ax1 + h * ax2 + h * ax3),
                y + h / 6.0 * (6.0 * vy + h * ay1 + h * ay2 + h * ay3),
                vx + h / 6.0 * (ax1 + 2.0 * ax2 + 2.0 * ax3 + ax4),
                vy + h / 6.0 * (ay1 + 2.0 * ay2 + 2.0 * ay3 + ay4),
            )

        start = (0.0, 0.0, speed * jnp.cos(angle), speed * jnp.sin(angle))
        x, y, _, _ = lax.fori_loop(0, n_steps, step, start)
        return (x - pig_x) ** 2 + (y - pig_y) ** 2

    return _first(jax.jit(jax.hessian(miss, argnums=(0, 1))), speed, angle)
