"""Whole-array gradient benchmarks: sourcead vs. the Numba objective, JAX and PyTorch.

Run from the repository root::

    python benchmarks/arrays.py            # full run
    python benchmarks/arrays.py --quick    # the small GMM size only, fewer repeats

Problems (each timed side by side in one process, interleaved rounds, medians; a row that
takes under 0.1 s runs once untimed before each timed call, so that it runs warm whatever
ran before it; the PyTorch rows last, in rounds of their own):

* ``GMM``: ADBench's Gaussian mixture objective (negative log-likelihood with a Wishart
  prior, parametrised by ``alphas``, ``means`` and ``icf`` = log-diagonal and lower triangle of
  the inverse covariance factors), written once with NumPy arrays (vectorised over the
  points) and once with element loops (as ADBench's reference loop code); d=10, K=25,
  n=1000 and d=64, K=100, n=10000, random data with a fixed seed. Gradient with respect to
  alphas, means and icf. JAX runs both versions (the loop version at d=10 only).
  The log-sum-exp over the components is written with ``np.max(inner, axis=1,
  keepdims=True)``, in JAX's version too.
* ``MLP``: 784-128-10, batch 256, tanh hidden layer, softmax cross-entropy written with
  ``np.max(z, axis=1, keepdims=True)``; gradient with respect to the four weight arrays.
* ``LSTM``: ADBench's diagonal LSTM (l=2 layers, c=1024 characters, b=14), gradient with
  respect to the main and extra parameters.
* ``TRG``: the 2-D Ising model's tensor renormalisation group of ``examples/ising_trg.py``
  (``np.einsum``, ``np.linalg.svd``, bond dimension 16, 6 steps), d(log Z / N)/d beta. Numba
  does not compile ``np.einsum``: the yardstick is the NumPy objective. JAX's row uses a
  ``custom_vjp`` SVD (see ``trg_jax``); no PyTorch row.
* ``heat``: the 1-D explicit heat equation of ``loops.py`` (256 cells, 2,000 steps),
  written with slices ``u[1:-1] = ...``; gradient with respect to u0 and kappa.

The "Numba objective" row only evaluates the function (Numba-compiled, the same source, its
``np.max`` with ``axis=`` calling ``sourcead_runtime.max_along`` as generated code does):
the yardstick of the cheap-gradient bound; each gradient's time is divided by the objective
of the same code (GMM: loops or vectorised). JAX and PyTorch rows are skipped when the package
is not installed. Gradients are compared with sourcead's (max relative difference).
"""

from __future__ import annotations

import os

# One thread per library: this is a small shared machine, and BLAS thread pools of several
# libraries in one process oversubscribe it (a 64 x 10,000 x 64 product took 50x longer).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
# Derivatives compile at their first call, not in the background (the default): the
# timings are of compiled code.
os.environ.setdefault("SOURCEAD_COMPILE", "true")

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # allow `python benchmarks/arrays.py` without installing
    sys.path.insert(1, str(REPO))

import sourcead  # noqa: E402

LOG_2PI = math.log(2.0 * math.pi)

# ----------------------------------------------------------------------------------------------
# GMM
# ----------------------------------------------------------------------------------------------


def gmm_vectorised(alphas, means, icf, x, gamma, m):
    n = x.shape[0]
    d = x.shape[1]
    k_count = alphas.shape[0]
    inner = np.zeros((n, k_count))
    prior = 0.0
    for k in range(k_count):
        q = icf[k, :d]
        qdiag = np.exp(q)
        upper = np.zeros((d, d))  # the transposed lower-triangular factor
        pos = d
        for j in range(d):
            for i in range(j + 1, d):
                upper[j, i] = icf[k, pos]
                pos += 1
        xc = x - means[k]
        lx = xc * qdiag + xc @ upper
        inner[:, k] = alphas[k] + np.sum(q) - 0.5 * np.sum(lx * lx, axis=1)
        off = icf[k, d:]
        prior += 0.5 * gamma * gamma * (np.sum(qdiag * qdiag) + np.sum(off * off)) - m * np.sum(q)
    top = np.max(inner, axis=1, keepdims=True)  # the log-sum-exp of each point, stably
    lse = np.log(np.sum(np.exp(inner - top), axis=1)) + top[:, 0]
    amax = np.max(alphas)
    lse_alphas = np.log(np.sum(np.exp(alphas - amax))) + amax
    return -0.5 * n * d * LOG_2PI + np.sum(lse) - n * lse_alphas + prior


def gmm_loops(alphas, means, icf, x, gamma, m):
    # as ADBench's reference loop code: the diagonals' exponentials and the sums of their
    # logarithms once per component, then a loop over points and components
    n = x.shape[0]
    d = x.shape[1]
    k_count = alphas.shape[0]
    qdiag = np.empty((k_count, d))
    sumq = np.zeros(k_count)
    for k in range(k_count):
        for j in range(d):
            qdiag[k, j] = math.exp(icf[k, j])
            sumq[k] += icf[k, j]
    main = np.zeros(k_count)
    total = 0.0
    for i in range(n):
        for k in range(k_count):
            sq = 0.0
            for j in range(d):
                off = 0.0  # row j of the strictly lower triangle times (x - mean)
                for c in range(j):
                    off += icf[k, d + c * (2 * d - c - 1) // 2 + j - c - 1] * (
                        x[i, c] - means[k, c]
                    )
                v = qdiag[k, j] * (x[i, j] - means[k, j]) + off
                sq += v * v
            main[k] = alphas[k] + sumq[k] - 0.5 * sq
        top = main[0]
        for k in range(1, k_count):
            top = max(top, main[k])
        s = 0.0
        for k in range(k_count):
            s += math.exp(main[k] - top)
        total += math.log(s) + top
    amax = alphas[0]
    for k in range(1, k_count):
        amax = max(amax, alphas[k])
    sa = 0.0
    for k in range(k_count):
        sa += math.exp(alphas[k] - amax)
    prior = 0.0
    for k in range(k_count):
        for j in range(d):
            prior += 0.5 * gamma * gamma * qdiag[k, j] * qdiag[k, j] - m * icf[k, j]
        for j in range(d, icf.shape[1]):
            prior += 0.5 * gamma * gamma * icf[k, j] * icf[k, j]
    return -0.5 * n * d * LOG_2PI + total - n * (math.log(sa) + amax) + prior


def gmm_inputs(d, k, n, seed=0):
    rng = np.random.default_rng(seed)
    alphas = rng.normal(size=k)
    means = rng.random((k, d))
    icf = rng.normal(scale=0.1, size=(k, d + d * (d - 1) // 2))
    x = rng.random((n, d))
    return alphas, means, icf, x, 1.0, 0.0


def jax_gradient(objective, argnums):
    """``jit(grad(objective))`` returning NumPy arrays, its result awaited (JAX dispatches
    asynchronously)."""
    import jax

    g = jax.jit(jax.grad(objective, argnums=argnums))

    def run(*args):
        return tuple(np.asarray(t) for t in jax.block_until_ready(g(*args)))

    return run


def gmm_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def objective(alphas, means, icf, x, gamma, m):
        n, d = x.shape
        k = alphas.shape[0]
        qdiag = jnp.exp(icf[:, :d])
        rows, cols = np.tril_indices(d, -1)
        # ADBench's column-major order of the strictly lower triangle
        order = np.lexsort((rows, cols))
        lower = jnp.zeros((k, d, d)).at[:, rows[order], cols[order]].set(icf[:, d:])
        xc = x[:, None, :] - means[None, :, :]
        lx = qdiag[None] * xc + jnp.einsum("kij,nkj->nki", lower, xc)
        inner = alphas[None] + jnp.sum(icf[:, :d], axis=1)[None] - 0.5 * jnp.sum(lx * lx, axis=2)
        top = jnp.max(inner, axis=1, keepdims=True)  # as gmm_vectorised writes it
        lse = jnp.log(jnp.sum(jnp.exp(inner - top), axis=1)) + top[:, 0]
        amax = jnp.max(alphas)
        lse_alphas = jnp.log(jnp.sum(jnp.exp(alphas - amax))) + amax
        prior = jnp.sum(
            0.5 * gamma**2 * (jnp.sum(qdiag**2, axis=1) + jnp.sum(icf[:, d:] ** 2, axis=1))
            - m * jnp.sum(icf[:, :d], axis=1)
        )
        return -0.5 * n * d * LOG_2PI + jnp.sum(lse) - n * lse_alphas + prior

    return jax_gradient(objective, argnums=(0, 1, 2))


def gmm_jax_loops():
    """JAX on the loop version: ``lax.fori_loop`` over points and components (reversible,
    their trip counts are static), the loops over the d coordinates unrolled by tracing, as
    JAX does with Python loops. The per-component setup and the prior are vectorised.

    Only at d=10. At d=64, on the 2-core, 24 GiB machine of docs/performance.md's tables, compiling
    the unrolled body (2,016 products per component) took 191 s (339 s in another run), and
    the first call was then killed for memory at 24.4 GB resident (the reverse of
    ``fori_loop`` stores each step's residuals, presumably every point's unrolled products).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    jax.config.update("jax_enable_x64", True)

    def objective(alphas, means, icf, x, gamma, m):
        n, d = x.shape
        k_count = alphas.shape[0]
        qdiag = jnp.exp(icf[:, :d])
        sumq = jnp.sum(icf[:, :d], axis=1)

        def point(i, total):
            xi = x[i]

            def component(k, main):
                mk, lk = means[k], icf[k]
                sq = 0.0
                for j in range(d):
                    off = 0.0
                    for c in range(j):
                        off = off + lk[d + c * (2 * d - c - 1) // 2 + j - c - 1] * (xi[c] - mk[c])
                    v = qdiag[k, j] * (xi[j] - mk[j]) + off
                    sq = sq + v * v
                return main.at[k].set(alphas[k] + sumq[k] - 0.5 * sq)

            main = lax.fori_loop(0, k_count, component, jnp.zeros(k_count))
            top = lax.fori_loop(1, k_count, lambda k, t: jnp.maximum(t, main[k]), main[0])
            s = lax.fori_loop(0, k_count, lambda k, s: s + jnp.exp(main[k] - top), 0.0)
            return total + jnp.log(s) + top

        total = lax.fori_loop(0, n, point, 0.0)
        lse_alphas = jax.nn.logsumexp(alphas)
        prior = jnp.sum(0.5 * gamma * gamma * qdiag * qdiag - m * icf[:, :d]) + jnp.sum(
            0.5 * gamma * gamma * icf[:, d:] ** 2
        )
        return -0.5 * n * d * LOG_2PI + total - n * lse_alphas + prior

    return jax_gradient(objective, argnums=(0, 1, 2))


def gmm_torch():
    import torch

    torch.set_num_threads(1)

    def run(alphas, means, icf, x, gamma, m):
        a = torch.tensor(alphas, requires_grad=True)
        mu = torch.tensor(means, requires_grad=True)
        q = torch.tensor(icf, requires_grad=True)
        xt = torch.from_numpy(x)
        n, d = x.shape
        k = alphas.shape[0]
        rows, cols = np.tril_indices(d, -1)
        order = np.lexsort((rows, cols))
        lower = torch.zeros((k, d, d), dtype=torch.float64)
        lower = lower.index_put((torch.arange(k)[:, None], torch.from_numpy(rows[order])[None],
                                 torch.from_numpy(cols[order])[None]), q[:, d:])  # fmt: skip
        qdiag = torch.exp(q[:, :d])
        xc = xt[:, None, :] - mu[None]
        lx = qdiag[None] * xc + torch.einsum("kij,nkj->nki", lower, xc)
        inner = a[None] + q[:, :d].sum(1)[None] - 0.5 * (lx * lx).sum(2)
        top = torch.amax(inner, 1, keepdim=True)  # as gmm_vectorised writes it
        lse = torch.log(torch.exp(inner - top).sum(1)) + top[:, 0]
        amax = torch.amax(a)
        lse_alphas = torch.log(torch.exp(a - amax).sum()) + amax
        prior = (
            0.5 * gamma**2 * ((qdiag**2).sum(1) + (q[:, d:] ** 2).sum(1)) - m * q[:, :d].sum(1)
        ).sum()
        value = -0.5 * n * d * LOG_2PI + lse.sum() - n * lse_alphas + prior
        value.backward()
        return a.grad.numpy(), mu.grad.numpy(), q.grad.numpy()

    return run


# ----------------------------------------------------------------------------------------------
# LSTM (ADBench's diagonal LSTM)
# ----------------------------------------------------------------------------------------------


def lstm_objective(main_params, extra_params, state, sequence):
    b = sequence.shape[1]
    layers = state.shape[0] // 2
    s = state.copy()
    total = 0.0
    for t in range(sequence.shape[0] - 1):
        x2 = sequence[t] * extra_params[0]
        for i in range(layers):
            w = main_params[2 * i]
            bias = main_params[2 * i + 1]
            hidden = s[2 * i]
            cell = s[2 * i + 1]
            forget = 1.0 / (1.0 + np.exp(-(x2 * w[:b] + bias[:b])))
            ingate = 1.0 / (1.0 + np.exp(-(hidden * w[b : 2 * b] + bias[b : 2 * b])))
            outgate = 1.0 / (1.0 + np.exp(-(x2 * w[2 * b : 3 * b] + bias[2 * b : 3 * b])))
            change = np.tanh(hidden * w[3 * b :] + bias[3 * b :])
            cell = cell * forget + ingate * change
            hidden = outgate * np.tanh(cell)
            s[2 * i] = hidden
            s[2 * i + 1] = cell
            x2 = hidden.copy()
        ypred = x2 * extra_params[1] + extra_params[2]
        lse = np.log(np.sum(np.exp(ypred)))
        total += np.sum(sequence[t + 1] * (ypred - lse))
    return -total / ((sequence.shape[0] - 1) * b)


def lstm_inputs(layers=2, c=1024, b=14, seed=0):
    rng = np.random.default_rng(seed)
    main_params = rng.normal(scale=0.5, size=(2 * layers, 4 * b))
    extra_params = rng.normal(scale=0.5, size=(3, b))
    state = rng.normal(scale=0.5, size=(2 * layers, b))
    sequence = rng.random((c, b))
    return main_params, extra_params, state, sequence


def lstm_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def objective(main_params, extra_params, state, sequence):
        b = sequence.shape[1]
        layers = state.shape[0] // 2

        def step(s, xs):
            x, y = xs
            x2 = x * extra_params[0]
            new = []
            for i in range(layers):
                w, bias = main_params[2 * i], main_params[2 * i + 1]
                hidden, cell = s[2 * i], s[2 * i + 1]
                forget = jax.nn.sigmoid(x2 * w[:b] + bias[:b])
                ingate = jax.nn.sigmoid(hidden * w[b : 2 * b] + bias[b : 2 * b])
                outgate = jax.nn.sigmoid(x2 * w[2 * b : 3 * b] + bias[2 * b : 3 * b])
                change = jnp.tanh(hidden * w[3 * b :] + bias[3 * b :])
                cell = cell * forget + ingate * change
                hidden = outgate * jnp.tanh(cell)
                new += [hidden, cell]
                x2 = hidden
            ypred = x2 * extra_params[1] + extra_params[2]
            lse = jnp.log(jnp.sum(jnp.exp(ypred)))
            return jnp.stack(new), jnp.sum(y * (ypred - lse))

        _, totals = jax.lax.scan(step, state, (sequence[:-1], sequence[1:]))
        return -jnp.sum(totals) / ((sequence.shape[0] - 1) * b)

    return jax_gradient(objective, argnums=(0, 1))


def lstm_torch():
    import torch

    torch.set_num_threads(1)

    def run(main_params, extra_params, state, sequence):
        mp = torch.tensor(main_params, requires_grad=True)
        ep = torch.tensor(extra_params, requires_grad=True)
        seq = torch.from_numpy(sequence)
        b = sequence.shape[1]
        layers = state.shape[0] // 2
        s = [torch.from_numpy(state[r]) for r in range(state.shape[0])]
        total = 0.0
        for t in range(sequence.shape[0] - 1):
            x2 = seq[t] * ep[0]
            for i in range(layers):
                w, bias = mp[2 * i], mp[2 * i + 1]
                hidden, cell = s[2 * i], s[2 * i + 1]
                forget = torch.sigmoid(x2 * w[:b] + bias[:b])
                ingate = torch.sigmoid(hidden * w[b : 2 * b] + bias[b : 2 * b])
                outgate = torch.sigmoid(x2 * w[2 * b : 3 * b] + bias[2 * b : 3 * b])
                change = torch.tanh(hidden * w[3 * b :] + bias[3 * b :])
                cell = cell * forget + ingate * change
                hidden = outgate * torch.tanh(cell)
                s[2 * i], s[2 * i + 1] = hidden, cell
                x2 = hidden
            ypred = x2 * ep[1] + ep[2]
            lse = torch.log(torch.sum(torch.exp(ypred)))
            total = total + torch.sum(seq[t + 1] * (ypred - lse))
        value = -total / ((sequence.shape[0] - 1) * b)
        value.backward()
        return mp.grad.numpy(), ep.grad.numpy()

    return run


# ----------------------------------------------------------------------------------------------
# MLP: 784-128-10, softmax cross-entropy
# ----------------------------------------------------------------------------------------------


def mlp_loss(w1, b1, w2, b2, x, y):
    """Mean softmax cross-entropy of a tanh network on images x (n, 784), one-hot labels y."""
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    top = np.max(z, axis=1, keepdims=True)  # a stable log-sum-exp of each row
    lse = np.log(np.sum(np.exp(z - top), axis=1)) + top[:, 0]
    return np.sum(lse - np.sum(z * y, axis=1)) / x.shape[0]


def mlp_inputs(n=256, sizes=(784, 128, 10), seed=0):
    rng = np.random.default_rng(seed)
    d, hidden, classes = sizes
    w1 = rng.normal(scale=1.0 / math.sqrt(d), size=(d, hidden))
    b1 = rng.normal(scale=0.1, size=hidden)
    w2 = rng.normal(scale=1.0 / math.sqrt(hidden), size=(hidden, classes))
    b2 = rng.normal(scale=0.1, size=classes)
    x = rng.random((n, d))
    y = np.eye(classes)[rng.integers(0, classes, size=n)]
    return w1, b1, w2, b2, x, y


def mlp_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def objective(w1, b1, w2, b2, x, y):
        h = jnp.tanh(x @ w1 + b1)
        z = h @ w2 + b2
        top = jnp.max(z, axis=1, keepdims=True)
        lse = jnp.log(jnp.sum(jnp.exp(z - top), axis=1)) + top[:, 0]
        return jnp.sum(lse - jnp.sum(z * y, axis=1)) / x.shape[0]

    return jax_gradient(objective, argnums=(0, 1, 2, 3))


def mlp_torch():
    import torch

    torch.set_num_threads(1)

    def run(w1, b1, w2, b2, x, y):
        params = [torch.tensor(p, requires_grad=True) for p in (w1, b1, w2, b2)]
        tw1, tb1, tw2, tb2 = params
        h = torch.tanh(torch.from_numpy(x) @ tw1 + tb1)
        z = h @ tw2 + tb2
        top = torch.amax(z, 1, keepdim=True)
        lse = torch.log(torch.exp(z - top).sum(1)) + top[:, 0]
        value = (lse - (z * torch.from_numpy(y)).sum(1)).sum() / x.shape[0]
        value.backward()
        return tuple(p.grad.numpy() for p in params)

    return run


# ----------------------------------------------------------------------------------------------
# TRG: the 2-D Ising model by tensor renormalisation (as examples/ising_trg.py)
# ----------------------------------------------------------------------------------------------

TRG_CHI = 16  # the bond dimension kept by each truncated SVD
TRG_STEPS = 6  # coarse-graining steps: a lattice of 2**6 sites
TRG_BETA = 0.4  # the inverse temperature (beta_c = 0.4407)


def trg_site_tensor(beta):
    """T[l, u, r, d] of one site: W W^T = [[e^b, e^-b], [e^-b, e^b]] for the bond."""
    c, s = np.sqrt(np.cosh(beta)), np.sqrt(np.sinh(beta))
    w = np.array([[c, s], [c, -s]])
    return np.einsum("ai,aj,ak,al->ijkl", w, w, w, w)


def trg_log_z(beta, chi, steps):
    """log Z / N of the Ising model on a lattice of 2**steps sites (periodic), by TRG."""
    t = trg_site_tensor(beta)
    log_z = 0.0
    sites = 1.0
    for _ in range(steps):
        norm = np.sqrt(np.sum(t * t))
        t = t / norm
        log_z = log_z + np.log(norm) / sites
        d = t.shape[0]
        ua, sa, vha = np.linalg.svd(np.transpose(t, (2, 1, 0, 3)).reshape(d * d, d * d))
        ub, sb, vhb = np.linalg.svd(np.transpose(t, (3, 2, 1, 0)).reshape(d * d, d * d))
        k = min(chi, np.sum(sa > 1e-8 * sa[0]), np.sum(sb > 1e-8 * sb[0]))
        s1 = (ua[:, :k] * np.sqrt(sa[:k])).reshape(d, d, k)
        s3 = (vha[:k].T * np.sqrt(sa[:k])).reshape(d, d, k)
        s2 = (ub[:, :k] * np.sqrt(sb[:k])).reshape(d, d, k)
        s4 = (vhb[:k].T * np.sqrt(sb[:k])).reshape(d, d, k)
        upper = np.einsum("war,abu->wrbu", s1, s2)
        lower = np.einsum("bgl,gwd->bwld", s3, s4)
        t = np.einsum("wrbu,bwld->ruld", upper, lower)
        sites = sites * 2.0
    return log_z + np.log(np.einsum("abab->", t)) / sites


def trg_ranks(beta, chi, steps):
    """The bond dimension each step of ``trg_log_z`` keeps at ``beta`` (JAX needs them static)."""
    t = trg_site_tensor(beta)
    ranks = []
    for _ in range(steps):
        d = t.shape[0]
        ua, sa, vha = np.linalg.svd(np.transpose(t, (2, 1, 0, 3)).reshape(d * d, d * d))
        ub, sb, vhb = np.linalg.svd(np.transpose(t, (3, 2, 1, 0)).reshape(d * d, d * d))
        k = min(chi, np.sum(sa > 1e-8 * sa[0]), np.sum(sb > 1e-8 * sb[0]))
        ranks.append(int(k))
        s1 = (ua[:, :k] * np.sqrt(sa[:k])).reshape(d, d, k)
        s3 = (vha[:k].T * np.sqrt(sa[:k])).reshape(d, d, k)
        s2 = (ub[:, :k] * np.sqrt(sb[:k])).reshape(d, d, k)
        s4 = (vhb[:k].T * np.sqrt(sb[:k])).reshape(d, d, k)
        t = np.einsum("war,abu,bgl,gwd->ruld", s1, s2, s3, s4, optimize=True)
        t = t / np.sqrt(np.sum(t * t))  # (the thresholds are relative: any scale would do)
    return ranks


def trg_jax(beta, chi, steps):
    """JAX's TRG: jnp.einsum and jnp.linalg.svd, with the truncations of ``trg_log_z`` at
    ``beta`` fixed (a traced program cannot choose its shapes).

    JAX's own SVD derivative is NaN here: its 1 / (s_j^2 - s_i^2) meets the exactly zero (and
    so equal) singular values of these rank-deficient matrices, whose vectors the truncation
    discards. As differentiable-TRG codes do, the SVD gets a ``custom_vjp``: the thin SVD's
    adjoint with the couplings of equal singular values and the 1 / s of zero ones left out,
    the convention of sourcead's rule (``sourcead/rules/linalg.py``), so both compute the same.
    """
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    ranks = trg_ranks(beta, chi, steps)

    @jax.custom_vjp
    def svd(a):
        return jnp.linalg.svd(a, full_matrices=False)

    def svd_forward(a):
        factors = svd(a)
        return factors, factors

    def svd_backward(factors, cotangents):
        u, s, vh = factors
        g_u, g_s, g_vh = cotangents
        v, g_v = vh.T, g_vh.T
        uh_g, vh_g = u.T @ g_u, v.T @ g_v
        s2 = s * s
        gaps = s2[None, :] - s2[:, None]
        same = jnp.abs(gaps) <= 1e-12 * jnp.max(s2)
        f = jnp.where(same, 0.0, 1.0 / jnp.where(same, 1.0, gaps))
        inverse = jnp.where(s != 0.0, 1.0 / jnp.where(s != 0.0, s, 1.0), 0.0)
        core = f * (uh_g - uh_g.T) * s[None, :] + jnp.diag(g_s) + s[:, None] * f * (vh_g - vh_g.T)
        g = u @ core @ vh + ((g_u - u @ uh_g) * inverse[None, :]) @ vh
        g = g + u @ ((g_v - v @ vh_g) * inverse[None, :]).T
        return (g,)

    svd.defvjp(svd_forward, svd_backward)

    def objective(beta, chi, steps):
        c, s = jnp.sqrt(jnp.cosh(beta)), jnp.sqrt(jnp.sinh(beta))
        w = jnp.array([[c, s], [c, -s]])
        t = jnp.einsum("ai,aj,ak,al->ijkl", w, w, w, w)
        log_z = 0.0
        sites = 1.0
        for k in ranks:
            norm = jnp.sqrt(jnp.sum(t * t))
            t = t / norm
            log_z = log_z + jnp.log(norm) / sites
            d = t.shape[0]
            ua, sa, vha = svd(jnp.transpose(t, (2, 1, 0, 3)).reshape(d * d, d * d))
            ub, sb, vhb = svd(jnp.transpose(t, (3, 2, 1, 0)).reshape(d * d, d * d))
            s1 = (ua[:, :k] * jnp.sqrt(sa[:k])).reshape(d, d, k)
            s3 = (vha[:k].T * jnp.sqrt(sa[:k])).reshape(d, d, k)
            s2 = (ub[:, :k] * jnp.sqrt(sb[:k])).reshape(d, d, k)
            s4 = (vhb[:k].T * jnp.sqrt(sb[:k])).reshape(d, d, k)
            upper = jnp.einsum("war,abu->wrbu", s1, s2)
            lower = jnp.einsum("bgl,gwd->bwld", s3, s4)
            t = jnp.einsum("wrbu,bwld->ruld", upper, lower)
            sites = sites * 2.0
        return log_z + jnp.log(jnp.einsum("abab->", t)) / sites

    return jax_gradient(objective, argnums=(0,))


# ----------------------------------------------------------------------------------------------
# Heat equation with slices
# ----------------------------------------------------------------------------------------------


def heat_slices(u0, kappa):
    u = u0.copy()
    for _ in range(2000):
        u[1:-1] = u[1:-1] + 0.2 * kappa[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return np.sum((u - 0.1) ** 2)


def heat_inputs(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    return np.exp(-50.0 * (x - 0.4) ** 2), 0.5 + rng.random(n)


def heat_jax():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def objective(u0, kappa):
        def step(t, u):
            return u.at[1:-1].set(u[1:-1] + 0.2 * kappa[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:]))

        u = jax.lax.fori_loop(0, 2000, step, u0)
        return jnp.sum((u - 0.1) ** 2)

    return jax_gradient(objective, argnums=(0, 1))


def heat_torch():
    import torch

    torch.set_num_threads(1)

    def run(u0, kappa):
        u0t = torch.tensor(u0, requires_grad=True)
        kt = torch.tensor(kappa, requires_grad=True)
        u = u0t
        for _ in range(2000):
            inner = u[1:-1] + 0.2 * kt[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:])
            u = torch.cat((u[:1], inner, u[-1:]))
        value = torch.sum((u - 0.1) ** 2)
        value.backward()
        return u0t.grad.numpy(), kt.grad.numpy()

    return run


# ----------------------------------------------------------------------------------------------
# Timing and tables
# ----------------------------------------------------------------------------------------------


class Row:
    """One line of a table. ``version`` names the code it runs (GMM: "loops" or
    "vectorised"), so that its time is divided by the Numba objective of the same code."""

    def __init__(self, name, fn=None, error=None, version=None):
        self.name, self.fn, self.error, self.version = name, fn, error, version
        self.samples: list[float] = []
        self.result = None
        self.first = None  # seconds of the first call (compilation, tracing)

    def call(self, args):
        try:
            return self.fn(*args)
        except Exception as e:  # keep the rest of the table alive
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # Numba's colours
            # a Numba typing error: the line that names the cause, not the pipeline's preamble
            causes = [line for line in text.splitlines() if line.startswith(("Unknown", "No "))]
            text = causes[0] if causes else text
            self.error = f"{type(e).__name__}: {' '.join(text.split())[:150]}"
            self.fn = None
            return None


def optional(name, module, factory, version=None):
    try:
        __import__(module)
    except Exception:
        return Row(name, version=version)  # skipped: not installed
    try:
        return Row(name, factory(), version=version)
    except Exception as e:
        return Row(name, error=f"{type(e).__name__}: {e}", version=version)


def measure(rows, args, rounds, budget):
    for row in rows:
        if row.fn is None:
            continue
        t0 = time.perf_counter()
        row.result = row.call(args)
        row.first = time.perf_counter() - t0
    for _ in range(rounds):
        for row in rows:
            if row.fn is None or (row.samples and sum(row.samples) > budget):
                continue
            if not row.samples or row.samples[-1] < 0.1:
                # a fast row runs once untimed first: its timed call then runs warm whatever
                # ran before it (right after a JAX call, the next row of Numba code ran
                # 1.3-1.5x slower, even after sleeping 20 ms: the core left idle while JAX
                # waits for its own thread)
                row.call(args)
            t0 = time.perf_counter()
            row.call(args)
            row.samples.append(time.perf_counter() - t0)


def fmt(t):
    if t is None:
        return "—"
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def max_rel_diff(a, b):
    a = np.concatenate([np.ravel(np.asarray(g, dtype=np.float64)) for g in a])
    b = np.concatenate([np.ravel(np.asarray(g, dtype=np.float64)) for g in b])
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def table(title, rows, forward_rows, reference):
    objective = {r.version: statistics.median(r.samples) for r in forward_rows if r.samples}
    print(f"\n### {title}\n")
    print(
        "| implementation | median time | × Numba objective (same code) | first call "
        "| max rel. diff vs sourcead |"
    )
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        if row.error is not None:
            print(f"| {row.name} | error: {row.error.replace('|', '/')} | — | — | — |")
            continue
        if not row.samples:
            print(f"| {row.name} | skipped (not installed) | — | — | — |")
            continue
        t = statistics.median(row.samples)
        t_fwd = objective.get(row.version)
        ratio = f"{t / t_fwd:.2f}" if t_fwd else "—"
        no_gradient = not isinstance(row.result, tuple)
        diff = (
            "—"
            if no_gradient or reference is None
            else (f"{max_rel_diff(row.result, reference):.1e}")
        )
        print(
            f"| {row.name} (n={len(row.samples)}) | {fmt(t)} | {ratio} | {fmt(row.first)} | {diff} |"
        )


def numba_objective(fun, callees=()):
    """``fun`` compiled by Numba, its ``np.max``/``np.min`` calls with ``axis=``/``keepdims=``
    (which Numba does not compile) calling ``sourcead_runtime``'s helpers, as the code sourcead
    generates does: the same source, run forwards only. ``callees``: the functions of the
    benchmark it calls, compiled alike."""
    from sourcead_runtime import max_along, min_along

    shim = types.ModuleType("numpy")
    shim.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    shim.max = shim.amax = max_along
    shim.min = shim.amin = min_along
    scope = {**fun.__globals__, "np": shim}
    scope.update({f.__name__: numba_objective(f) for f in callees})
    return numba.njit(types.FunctionType(fun.__code__, scope, fun.__name__, fun.__defaults__))


def sourcead_row(name, fun, wrt, version=None):
    g = sourcead.value_and_grad(fun, wrt=wrt)
    return Row(name, g, version=version)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the small GMM size only, fewer repeats"
    )
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument(
        "--problems",
        nargs="+",
        default=["gmm", "mlp", "lstm", "trg", "heat"],
        choices=["gmm", "mlp", "lstm", "trg", "heat"],
    )
    options = parser.parse_args()
    # up to 41 rounds: the millisecond rows get medians of many samples on a noisy machine;
    # a row stops taking samples once it has spent its budget (the large GMM after a few)
    rounds, budget = (11, 2.0) if options.quick else (41, 20.0)
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread per "
          "library")  # fmt: skip
    sizes = [(10, 25, 1000)] if options.quick else [(10, 25, 1000), (64, 100, 10000)]
    problems = [gmm_problem(*size) for size in sizes] if "gmm" in options.problems else []
    if "mlp" in options.problems:
        problems.append(mlp_problem())
    if "lstm" in options.problems:
        problems.append(lstm_problem())
    if "trg" in options.problems:
        problems.append(trg_problem())
    if "heat" in options.problems:
        problems.append(heat_problem())
    for problem in problems:
        measure(problem.rows, problem.args, rounds, budget)
    # PyTorch last, in rounds of its own: importing it changes how the process allocates
    # memory (it once slowed the LSTM gradient 1.8x), so it must not share the rounds above
    if not options.no_torch:
        for problem in problems:
            if problem.torch_row is None:
                continue
            name, factory, *version = problem.torch_row
            row = optional(name, "torch", factory, *version)
            measure([row], problem.args, rounds, budget)
            problem.rows.append(row)
    for problem in problems:
        problem.print_table()


class Problem:
    """One table: its rows (sourcead's first), the objective's row, and a PyTorch row."""

    def __init__(self, title, args, forward_rows, sourcead_rows, other_rows, torch_row, note=""):
        self.title, self.args, self.note = title, args, note
        self.forward_rows = forward_rows
        self.sourcead_rows = sourcead_rows
        self.rows = [*forward_rows, *sourcead_rows, *other_rows]
        self.torch_row = torch_row  # (name, factory, version) or None

    def print_table(self):
        # sourcead rows return (value, gradients): compare the gradients
        reference = None
        for row in self.sourcead_rows:
            if row.result is not None:
                row.result = row.result[1]
                reference = row.result if reference is None else reference
        table(self.title, self.rows, self.forward_rows, reference)
        if self.note:
            print(f"\n{self.note}")


def gmm_problem(d, k, n):
    return Problem(
        f"GMM d={d}, K={k}, n={n} (gradient wrt alphas, means, icf)",
        gmm_inputs(d, k, n),
        [
            Row("Numba objective, loops (no gradient)", numba.njit(gmm_loops), version="loops"),
            Row(
                "Numba objective, vectorised (no gradient)",
                numba_objective(gmm_vectorised),
                version="vectorised",
            ),
        ],
        [
            sourcead_row("sourcead, vectorised", gmm_vectorised, (0, 1, 2), "vectorised"),
            sourcead_row("sourcead, loops", gmm_loops, (0, 1, 2), "loops"),
        ],
        [
            optional("JAX jit(grad), vectorised", "jax", gmm_jax, "vectorised"),
            *([optional("JAX jit(grad), loops", "jax", gmm_jax_loops, "loops")] if d <= 10 else []),
        ],
        ("PyTorch, vectorised (measured after the rows above)", gmm_torch, "vectorised"),
    )


def lstm_problem():
    return Problem(
        "LSTM l=2, c=1024, b=14 (gradient wrt main and extra parameters)",
        lstm_inputs(),
        [Row("Numba objective (no gradient)", numba.njit(lstm_objective))],
        [sourcead_row("sourcead", lstm_objective, (0, 1))],
        [optional("JAX jit(grad) (lax.scan)", "jax", lstm_jax)],
        ("PyTorch (measured after the rows above)", lstm_torch),
    )


def mlp_problem():
    return Problem(
        "MLP 784-128-10, batch 256 (gradient wrt w1, b1, w2, b2)",
        mlp_inputs(),
        [Row("Numba objective (no gradient)", numba_objective(mlp_loss))],
        [sourcead_row("sourcead", mlp_loss, (0, 1, 2, 3))],
        [optional("JAX jit(grad)", "jax", mlp_jax)],
        ("PyTorch (measured after the rows above)", mlp_torch),
    )


def trg_problem():
    args = (TRG_BETA, TRG_CHI, TRG_STEPS)
    return Problem(
        f"TRG, Ising model, bond dimension {TRG_CHI}, {TRG_STEPS} steps (gradient wrt beta)",
        args,
        [
            Row(
                "Numba objective (no gradient)",
                numba_objective(trg_log_z, callees=(trg_site_tensor,)),
                version="numba",
            ),
            Row("NumPy objective (plain Python, no gradient)", trg_log_z),
        ],
        [sourcead_row("sourcead", trg_log_z, (0,))],
        [optional("JAX jit(grad) (custom_vjp SVD)", "jax", lambda: trg_jax(*args))],
        None,  # no PyTorch row: its SVD derivative meets the same zero singular values as JAX's
        note=(
            "Numba does not compile np.einsum, so the yardstick of the × column is the NumPy "
            "objective: the same source run forwards by the Python interpreter, its time in "
            "NumPy's SVDs and einsums. JAX's truncations are fixed to the ranks trg_log_z "
            f"keeps at beta = {TRG_BETA} ({', '.join(map(str, trg_ranks(*args)))})."
        ),
    )


def heat_problem():
    return Problem(
        "heat equation with slices, 256 cells, 2,000 steps (gradient wrt u0, kappa)",
        heat_inputs(),
        [Row("Numba objective (no gradient)", numba.njit(heat_slices))],
        [sourcead_row("sourcead", heat_slices, (0, 1))],
        [optional("JAX jit(grad) (fori_loop)", "jax", heat_jax)],
        ("PyTorch (measured after the rows above)", heat_torch),
    )


if __name__ == "__main__":
    main()
