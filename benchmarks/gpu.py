"""Batched derivatives and kernel adjoints: sourcead on a GPU (or the CPU's cores).

    python benchmarks/gpu.py            # a GPU when numba-cuda finds one, else the CPU
    python benchmarks/gpu.py --tiny     # tiny sizes on numba-cuda's simulator (a smoke test)

Three benchmarks, each printed as a table of medians of repeated runs after a warm-up,
with ratios measured side by side in the same run:

1. projectile: the gradient of a 1,000-step trajectory loss with respect to (vx, vy, c),
   for a batch of independent trajectories, by ``vmap(grad)``, against sourcead's own
   forward kernel (``vmap`` of the loss itself) and JAX's ``jit(vmap(grad))`` with
   ``lax.fori_loop`` (when JAX is installed);
2. ADBench bundle adjustment: the 2x15 reprojection Jacobian of each observation by
   ``vmap(jacobian)``, against the forward kernel and JAX's ``vmap(jacfwd)``/``vmap(jacrev)``;
3. (GPU and simulator) a 2-D heat-equation step differentiated with ``kernel_vjp``, against
   a hand-written adjoint kernel, with the achieved memory bandwidth beside the device's
   copy bandwidth.

On the CPU the batched functions run with ``target="parallel"`` and ``target="cpu"``, and
the table gives the speed-up of the former.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("--tiny", action="store_true", help="tiny sizes on the CUDA simulator")
ARGS.add_argument("--cpu", action="store_true", help="use the CPU even when a GPU is present")
ARGS.add_argument("--repeats", type=int, default=5)
OPTIONS = ARGS.parse_args()
if OPTIONS.tiny:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # read when numba is imported
# JAX would otherwise take most of the GPU's memory when first used, leaving too little
# for the tapes of the runs after it.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# Derivatives compile at their first call, not in the background (the default): the
# timings are of compiled code.
os.environ.setdefault("SOURCEAD_COMPILE", "true")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import sourcead  # noqa: E402

DT = 1e-3
G = 9.81


def projectile(vx, vy, c, steps):
    x = y = 0.0
    for _step in range(steps):
        v = math.sqrt(vx * vx + vy * vy)
        x += DT * vx
        y += DT * vy
        vx -= DT * c * v * vx
        vy -= DT * (G + c * v * vy)
    return (x - 10.0) ** 2 + y**2


def reprojection(cam, X, w):
    """ADBench's bundle-adjustment residual of one observation (2 values).

    cam: Rodrigues rotation (3), camera centre (3), focal length, principal point (2),
    radial distortion (2); X: the 3-D point; w: the observation's weight.
    """
    px = X[0] - cam[3]
    py = X[1] - cam[4]
    pz = X[2] - cam[5]
    theta2 = cam[0] * cam[0] + cam[1] * cam[1] + cam[2] * cam[2]
    if theta2 > 1e-12:
        theta = math.sqrt(theta2)
        c = math.cos(theta)
        s = math.sin(theta)
        kx = cam[0] / theta
        ky = cam[1] / theta
        kz = cam[2] / theta
        dot = (kx * px + ky * py + kz * pz) * (1.0 - c)
        rx = px * c + (ky * pz - kz * py) * s + kx * dot
        ry = py * c + (kz * px - kx * pz) * s + ky * dot
        rz = pz * c + (kx * py - ky * px) * s + kz * dot
    else:
        rx = px + cam[1] * pz - cam[2] * py
        ry = py + cam[2] * px - cam[0] * pz
        rz = pz + cam[0] * py - cam[1] * px
    u = rx / rz
    v = ry / rz
    r2 = u * u + v * v
    distortion = 1.0 + cam[9] * r2 + cam[10] * r2 * r2
    return w * (cam[6] * distortion * u + cam[7]), w * (cam[6] * distortion * v + cam[8])


def heat(u, k, out):
    # x, the fastest-varying thread index, runs along rows (the contiguous axis), so that
    # neighbouring threads touch neighbouring addresses
    j, i = cuda.grid(2)
    n, m = u.shape
    if i >= 1 and i < n - 1 and j >= 1 and j < m - 1:
        lap = u[i + 1, j] + u[i - 1, j] + u[i, j + 1] + u[i, j - 1] - 4.0 * u[i, j]
        out[i, j] = u[i, j] + k[0] * lap


# --- timing ---------------------------------------------------------------------------------
def median_time(run, synchronize, repeats: int) -> float:
    run()  # warm-up: compilation, first tape sizing
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(runs: dict, synchronize, repeats: int) -> list[tuple[str, float]]:
    """Median times of several functions, timed in turn (round robin) so that a change of
    the machine's load affects them alike."""
    for run in runs.values():
        run()  # warm-up: compilation, first tape sizing
    synchronize()
    times: dict = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            synchronize()
            times[name].append(time.perf_counter() - start)
    return [(name, statistics.median(t)) for name, t in times.items()]


def table(title: str, rows: list[tuple[str, float]], *bases: str) -> None:
    """Prints the rows' medians and their ratios to each of the rows named in bases."""
    times = dict(rows)
    print(f"\n{title}\n")
    print("| method | median time | " + " | ".join(f"ratio to {b}" for b in bases) + " |")
    print("|---|---:|" + "---:|" * len(bases))
    for name, seconds in rows:
        shown = f"{seconds * 1e3:.2f} ms" if seconds < 10 else f"{seconds:.1f} s"
        ratios = " | ".join(f"{seconds / times[b]:.2f}" for b in bases)
        print(f"| {name} | {shown} | {ratios} |")


def release_device_memory() -> None:
    """Free the device memory of arrays no longer referenced (numba-cuda frees lazily)."""
    import gc

    gc.collect()
    if cuda is not None and not OPTIONS.tiny and not OPTIONS.cpu and cuda.is_available():
        cuda.current_context().deallocations.clear()


def jax_or_none():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        return jax
    except ImportError:
        return None


# --- the benchmarks ---------------------------------------------------------------------------
DEFAULT = sourcead.vmap.__kwdefaults__["checkpoint_every"]
SEGMENTS = [k for k in (4, 8, 16, 32) if k != DEFAULT]  # other segment lengths measured on the GPU


def projectile_inputs(batch: int):
    rng = np.random.default_rng(0)
    return rng.uniform(8, 12, batch), rng.uniform(8, 12, batch), rng.uniform(0.01, 0.1, batch)


def hand_written_projectile_kernels(steps: int):
    """numba.cuda kernels written by hand: the loss, and its adjoint with every step's
    velocity taped in ``cuda.local.array`` (the usual way to write it by hand)."""
    from numba import float64

    @cuda.jit
    def forward(vx_in, vy_in, c_in, loss):
        i = cuda.grid(1)
        if i < loss.shape[0]:
            vx, vy, c = vx_in[i], vy_in[i], c_in[i]
            x = y = 0.0
            for _step in range(steps):
                v = math.sqrt(vx * vx + vy * vy)
                x += DT * vx
                y += DT * vy
                vx -= DT * c * v * vx
                vy -= DT * (G + c * v * vy)
            loss[i] = (x - 10.0) ** 2 + y**2

    @cuda.jit
    def adjoint(vx_in, vy_in, c_in, g_vx, g_vy, g_c):
        i = cuda.grid(1)
        if i < g_vx.shape[0]:
            tape_vx = cuda.local.array(steps, float64)
            tape_vy = cuda.local.array(steps, float64)
            vx, vy, c = vx_in[i], vy_in[i], c_in[i]
            x = y = 0.0
            for step in range(steps):
                tape_vx[step] = vx
                tape_vy[step] = vy
                v = math.sqrt(vx * vx + vy * vy)
                x += DT * vx
                y += DT * vy
                vx -= DT * c * v * vx
                vy -= DT * (G + c * v * vy)
            b_x = 2.0 * (x - 10.0)
            b_y = 2.0 * y
            b_vx = b_vy = b_c = 0.0
            for step in range(steps - 1, -1, -1):
                vx = tape_vx[step]
                vy = tape_vy[step]
                v = math.sqrt(vx * vx + vy * vy)
                drag = -DT * (b_vx * vx + b_vy * vy)  # d(loss)/d(c v) through this step
                b_c += drag * v
                b_v = drag * c
                b_vx = b_x * DT + b_vx * (1.0 - DT * c * v) + b_v * vx / v
                b_vy = b_y * DT + b_vy * (1.0 - DT * c * v) + b_v * vy / v
            g_vx[i] = b_vx
            g_vy[i] = b_vy
            g_c[i] = b_c

    return forward, adjoint


def bench_projectile(targets, batch, steps, device, sync, repeats) -> None:
    vx, vy, c = projectile_inputs(batch)
    inputs = tuple(device(a) for a in (vx, vy, c))
    runs = {}
    if "cuda" in targets:
        forward_kernel, adjoint_kernel = hand_written_projectile_kernels(steps)
        loss = cuda.device_array(batch)
        grads = tuple(cuda.device_array(batch) for _ in range(3))
        blocks = math.ceil(batch / 128)
        runs["hand-written numba.cuda forward kernel"] = lambda: forward_kernel[blocks, 128](
            *inputs, loss
        )
        runs["hand-written numba.cuda adjoint (local-array tape)"] = lambda: adjoint_kernel[
            blocks, 128
        ](*inputs, *grads)
        adjoint_kernel[blocks, 128](*inputs, *grads)
        g0 = [g.copy_to_host()[0] for g in grads]
        expected = sourcead.grad(projectile, wrt=(0, 1, 2))(vx[0], vy[0], c[0], steps)
        assert np.allclose(g0, expected, rtol=1e-10), (g0, expected)
    dloss = sourcead.grad(projectile, wrt=(0, 1, 2))
    expected = dloss(vx[0], vy[0], c[0], steps)
    for target in targets:
        forward = sourcead.vmap(projectile, in_axes=(0, 0, 0, None), target=target)
        runs[f"forward `vmap(projectile)` ({target})"] = lambda f=forward: f(*inputs, steps)
        # a directional derivative per trajectory, along (1, 1, 0) in (vx, vy, c)
        directional = sourcead.vmap(
            sourcead.jvp, in_axes=(None, (0, 0, 0, None), (0, 0, None, None)), target=target
        )
        ones = device(np.ones(batch))
        along = (ones, ones, None, None)
        runs[f"Jacobian-vector product `vmap(jvp)` ({target})"] = lambda j=directional, t=along: j(
            projectile, (*inputs, steps), t
        )
        slope = directional(projectile, (*inputs, steps), along)[1]
        slope = np.asarray(getattr(slope, "copy_to_host", lambda s=slope: s)())[0]
        assert np.isclose(slope, expected[0] + expected[1], rtol=1e-9), (slope, expected)
        # on the GPU: the default (the loop reversed in segments of checkpoint_every steps),
        # other segment lengths, and every step recorded (checkpoint_every=None)
        variants = [DEFAULT] if target != "cuda" else [DEFAULT, *SEGMENTS, None]
        for every in variants:
            gradient = sourcead.vmap(
                dloss, in_axes=(0, 0, 0, None), target=target, checkpoint_every=every
            )
            label = f"gradient `vmap(grad)` ({target})"
            if target == "cuda":
                label = f"gradient `vmap(grad)` ({target}, checkpoint_every={every})"
                label += " (default)" if every == DEFAULT else ""
            runs[label] = lambda g=gradient: g(*inputs, steps)
            check = gradient(*inputs, steps)
            g0 = [np.asarray(getattr(x, "copy_to_host", lambda x=x: x)())[0] for x in check]
            assert np.allclose(g0, expected, rtol=1e-10), (g0, expected)
    rows = interleaved_times(runs, sync, repeats)
    runs.clear()
    gradient = check = None
    release_device_memory()  # the tapes kept for the next call: JAX needs the room
    jax = jax_or_none()
    if jax is not None and not OPTIONS.tiny:
        jnp, lax = jax.numpy, jax.lax

        def loss(vx, vy, c):
            def body(i, state):
                x, y, vx, vy = state
                v = jnp.sqrt(vx * vx + vy * vy)
                return (
                    x + DT * vx,
                    y + DT * vy,
                    vx - DT * c * v * vx,
                    vy - DT * (G + c * v * vy),
                )

            x, y, _, _ = lax.fori_loop(0, steps, body, (0.0, 0.0, vx, vy))
            return (x - 10.0) ** 2 + y**2

        batched = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1, 2))))
        jx = tuple(jnp.asarray(a) for a in (vx, vy, c))
        jax_time = median_time(lambda: jax.block_until_ready(batched(*jx)), lambda: None, repeats)
        rows.append((f"JAX `jit(vmap(grad))`, fori_loop ({jax.devices()[0].platform})", jax_time))
    bases = [next(name for name, _ in rows if name.startswith("forward `vmap"))]
    bases += [name for name, _ in rows if name.startswith("hand-written numba.cuda adjoint")]
    title = f"Projectile: {batch} trajectories x {steps} steps, gradient wrt (vx, vy, c)"
    table(title, rows, *bases)


def ba_inputs(batch: int):
    rng = np.random.default_rng(1)
    cams = np.concatenate(
        [
            rng.normal(0, 0.3, (batch, 3)),
            rng.normal(0, 1, (batch, 3)),
            rng.uniform(500, 800, (batch, 1)),
            rng.normal(0, 5, (batch, 2)),
            rng.normal(0, 1e-3, (batch, 2)),
        ],
        axis=1,
    )
    points = rng.normal(0, 1, (batch, 3)) + np.array([0.0, 0.0, 10.0])
    return cams, points, rng.uniform(0.5, 1.5, batch)


def bench_ba(targets, batch, device, sync, repeats) -> None:
    cams, points, weights = ba_inputs(batch)
    inputs = tuple(device(a) for a in (cams, points, weights))
    runs = {}
    for target in targets:
        forward = sourcead.vmap(reprojection, target=target)
        jac = sourcead.vmap(sourcead.jacobian(reprojection, wrt=(0, 1, 2)), target=target)
        runs[f"forward `vmap(reprojection)` ({target})"] = lambda f=forward: f(*inputs)
        runs[f"Jacobian `vmap(jacobian)` ({target})"] = lambda j=jac: j(*inputs)
        first = jac(*inputs)[1][0]  # d(second residual)/d(camera), every observation
        first = np.asarray(getattr(first, "copy_to_host", lambda f=first: f)())[0]
        expected = sourcead.jacobian(reprojection, wrt=(0, 1, 2))(cams[0], points[0], weights[0])
        assert np.allclose(first, expected[1][0], rtol=1e-10), (first, expected[1][0])
    rows = interleaved_times(runs, sync, repeats)
    jax = jax_or_none()
    if jax is not None and not OPTIONS.tiny:
        jnp = jax.numpy

        def residual(cam, X, w):
            p = X - cam[3:6]
            theta = jnp.sqrt(jnp.sum(cam[:3] ** 2))
            k = cam[:3] / theta
            c, s = jnp.cos(theta), jnp.sin(theta)
            r = p * c + jnp.cross(k, p) * s + k * jnp.dot(k, p) * (1.0 - c)
            uv = r[:2] / r[2]
            r2 = jnp.sum(uv**2)
            distortion = 1.0 + cam[9] * r2 + cam[10] * r2 * r2
            return w * (cam[6] * distortion * uv + cam[7:9])

        jx = tuple(jnp.asarray(a) for a in (cams, points, weights))
        for name, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
            f = jax.jit(jax.vmap(transform(residual, argnums=(0, 1, 2))))
            t = median_time(lambda f=f: jax.block_until_ready(f(*jx)), lambda: None, repeats)
            rows.append((f"JAX `vmap({name})` ({jax.devices()[0].platform})", t))
    table(f"Bundle adjustment: {batch} observations, 2x15 Jacobian each", rows, rows[0][0])


def bench_heat(size, repeats) -> None:
    n = m = size
    rng = np.random.default_rng(2)
    u = cuda.to_device(rng.uniform(size=(n, m)))
    k = cuda.to_device(np.array([0.2]))
    out = cuda.device_array((n, m))
    b_out = cuda.to_device(rng.normal(size=(n, m)))
    threads = (32, 8)
    blocks = (math.ceil(m / 32), math.ceil(n / 8))
    adjoint = sourcead.kernel_vjp(heat, wrt=("u", "out"))
    # the same work as the hand-written kernel, which leaves the output cotangent as it is
    adjoint_kept = sourcead.kernel_vjp(heat, wrt=("u", "out"), consume=False)

    @cuda.jit
    def hand_written(k, b_out, b_u):
        """Gathers each point's gradient from the points that read it: no atomics."""
        j, i = cuda.grid(2)
        n, m = b_u.shape
        if i < n and j < m:
            g = 0.0
            if i >= 1 and i < n - 1 and j >= 1 and j < m - 1:
                g += (1.0 - 4.0 * k[0]) * b_out[i, j]
            if i >= 2 and j >= 1 and j < m - 1:
                g += k[0] * b_out[i - 1, j]
            if i < n - 2 and j >= 1 and j < m - 1:
                g += k[0] * b_out[i + 1, j]
            if j >= 2 and i >= 1 and i < n - 1:
                g += k[0] * b_out[i, j - 1]
            if j < m - 2 and i >= 1 and i < n - 1:
                g += k[0] * b_out[i, j + 1]
            b_u[i, j] += g

    @cuda.jit
    def copy(a, b):
        j, i = cuda.grid(2)
        if i < a.shape[0] and j < a.shape[1]:
            b[i, j] = a[i, j]

    b_u1 = cuda.to_device(np.zeros((n, m)))
    b_u2 = cuda.to_device(np.zeros((n, m)))
    b_u3 = cuda.to_device(np.zeros((n, m)))
    seed = cuda.device_array((n, m))
    sync = cuda.synchronize

    # Correctness first, each adjoint from a fresh seed (the consuming one zeroes it).
    for run, b_u in ((adjoint, b_u1), (adjoint_kept, b_u3)):
        seed.copy_to_device(b_out)
        run[blocks, threads](u, k, out, b_u, seed)
    seed.copy_to_device(b_out)
    hand_written[blocks, threads](k, seed, b_u2)
    sync()
    expected = b_u2.copy_to_host()
    assert np.allclose(b_u1.copy_to_host(), expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(b_u3.copy_to_host(), expected, rtol=1e-12, atol=1e-12)

    # Timing: runs of launches back to back, per launch. After the first launch the
    # consuming adjoint sees a zero cotangent; its memory traffic and arithmetic do not
    # depend on the values (only the rare additions at the grid's edge are skipped).
    seed.copy_to_device(b_out)
    launches = 1 if OPTIONS.tiny else 20

    def batch(launch):
        def run():
            for _ in range(launches):
                launch()

        return run

    runs = {
        "`kernel_vjp(heat)` (then consumes the output cotangent)": batch(
            lambda: adjoint[blocks, threads](u, k, out, b_u1, seed)
        ),
        "`kernel_vjp(heat, consume=False)`": batch(
            lambda: adjoint_kept[blocks, threads](u, k, out, b_u3, seed)
        ),
        "hand-written gather adjoint": batch(lambda: hand_written[blocks, threads](k, seed, b_u2)),
        "copy kernel": batch(lambda: copy[blocks, threads](b_out, b_u2)),
        "device-to-device copy (numba-cuda `copy_to_device`)": batch(
            lambda: b_u2.copy_to_device(b_out)
        ),
    }
    times = dict(interleaved_times(runs, sync, repeats))
    points = n * m
    moved = {  # bytes per point that must move
        "copy kernel": 16,
        "device-to-device copy (numba-cuda `copy_to_device`)": 16,
    }
    hand = times["hand-written gather adjoint"]
    print(f"\n2-D heat step {n}x{m}: adjoint kernels, {launches} launches in a row, per launch\n")
    print("| kernel | median time | ratio to hand-written | effective bandwidth |")
    print("|---|---:|---:|---:|")
    for name, seconds in times.items():
        per = seconds / launches
        ratio = f"{seconds / hand:.2f}" if name not in moved else ""
        size = moved.get(name, 24)  # adjoints: read the cotangent, read and write b_u
        print(
            f"| {name} | {per * 1e3:.3f} ms | {ratio} | "
            f"{size * points / per / 1e9:.1f} GB/s ({size} B/point) |"
        )


def main() -> None:
    global cuda
    from numba import cuda as numba_cuda

    cuda = numba_cuda
    gpu = not OPTIONS.cpu and (OPTIONS.tiny or cuda.is_available())
    repeats = 1 if OPTIONS.tiny else OPTIONS.repeats
    if gpu:
        name = "numba-cuda simulator" if OPTIONS.tiny else cuda.get_current_device().name
        print(f"device: {name}")
        targets, device, sync = ["cuda"], cuda.to_device, cuda.synchronize
        batch, steps, observations, grid = (
            (64, 20, 64, 16) if OPTIONS.tiny else (1_000_000, 1000, 1_000_000, 4096)
        )
    else:
        print(f"device: CPU ({os.cpu_count()} cores), numba threads: {numba_threads()}")
        targets, device, sync = ["cpu", "parallel"], (lambda a: a), (lambda: None)
        batch, steps, observations, grid = 20_000, 1000, 200_000, 0
    bench_projectile(targets, batch, steps, device, sync, repeats)
    bench_ba(targets, observations, device, sync, repeats)
    if gpu:
        bench_heat(grid, repeats)
    print(f"\n{time.strftime('%Y-%m-%d')}, sourcead {sourcead.__version__}")


def numba_threads() -> int:
    import numba

    return numba.get_num_threads()


cuda = None

if __name__ == "__main__":
    main()
