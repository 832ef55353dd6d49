"""Newton's method with Hessian-vector products on the 100-dimensional Rosenbrock function.

Run from the repository root::

    python examples/newton_optimizer.py

Newton-CG needs only products of the Hessian with vectors, never the Hessian itself:
``sourcead.hvp`` computes each one by running the tangent (forward-mode) transformation of
the generated adjoint — one sweep, about the cost of a few gradients. The script compares
Newton-CG with plain gradient descent (iterations and time to reach a small gradient), then
prints a table of ``sourcead.jacobian`` in forward and in reverse mode for a function with
few inputs and many outputs and one with many inputs and few outputs.
"""

from __future__ import annotations

import math
import time

import numpy as np

import sourcead

N = 100


def rosenbrock(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


# compile=True throughout: compiled at the first call (not in the background), because the
# tables below time compiled calls
grad = sourcead.value_and_grad(rosenbrock, compile=True)


def hvp(x, v):
    return sourcead.hvp(rosenbrock, (x,), (v,), compile=True)


def backtracking(x, f, g, step, direction):
    """Armijo backtracking line search along ``direction``."""
    slope = float(g @ direction)
    while step > 1e-12:
        trial = x + step * direction
        if rosenbrock(trial) <= f + 1e-4 * step * slope:
            return trial
        step *= 0.5
    return x + step * direction


def conjugate_gradients(x, g, max_iter=50):
    """Approximately solve H p = -g with CG, using Hessian-vector products only.

    Stops at negative curvature (then returns the last direction of descent), as in
    Nocedal & Wright's Newton-CG.
    """
    p = np.zeros_like(g)
    r = -g.copy()
    d = r.copy()
    tol = min(0.5, math.sqrt(np.linalg.norm(g))) * np.linalg.norm(g)
    products = 0
    for _ in range(max_iter):
        hd = hvp(x, d)
        products += 1
        curvature = float(d @ hd)
        if curvature <= 0.0:
            return (p if products > 1 else -g), products
        alpha = float(r @ r) / curvature
        p = p + alpha * d
        r_new = r - alpha * hd
        if np.linalg.norm(r_new) < tol:
            break
        d = r_new + float(r_new @ r_new) / float(r @ r) * d
        r = r_new
    return p, products


def newton_cg(x, gtol=1e-6, max_iter=1000):
    products = 0
    for iteration in range(1, max_iter + 1):
        f, g = grad(x)
        if np.linalg.norm(g) < gtol:
            return x, iteration - 1, products
        p, used = conjugate_gradients(x, g)
        products += used
        x = backtracking(x, f, g, 1.0, p)
    return x, max_iter, products


def gradient_descent(x, gtol=1e-6, max_iter=50_000, time_limit=10.0):
    """Steepest descent with the same line search (stopped after ``time_limit`` seconds)."""
    start = time.perf_counter()
    for iteration in range(1, max_iter + 1):
        f, g = grad(x)
        if np.linalg.norm(g) < gtol or time.perf_counter() - start > time_limit:
            return x, iteration - 1
        x = backtracking(x, f, g, 4e-3, -g)
    return x, max_iter


def optimisation_table():
    x0 = np.tile([-1.2, 1.0], N // 2)  # the classic starting point, repeated
    grad(x0), hvp(x0, np.ones(N))  # generate and compile once, outside the timings
    rows = []
    t0 = time.perf_counter()
    x, iterations, products = newton_cg(x0.copy())
    rows.append(("Newton-CG (`sourcead.hvp`)", iterations, products, time.perf_counter() - t0, x))
    t0 = time.perf_counter()
    x, iterations = gradient_descent(x0.copy())
    rows.append(("gradient descent (`sourcead.grad`)", iterations, 0, time.perf_counter() - t0, x))
    print(f"\n### Rosenbrock function, {N} dimensions, from (-1.2, 1, -1.2, 1, …)\n")
    print(
        "| method | iterations | Hessian-vector products | time | f(x) | ‖∇f(x)‖ | max \\|x - 1\\| |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, iterations, products, seconds, x in rows:
        f, g = grad(x)
        print(
            f"| {name} | {iterations} | {products} | {seconds:.2f} s | {f:.2e} | "
            f"{np.linalg.norm(g):.1e} | {np.max(np.abs(x - 1.0)):.1e} |"
        )


# --- Jacobians: forward vs reverse ---------------------------------------------------------------


def wide(x):
    """10 inputs, 1,000 outputs."""
    y = np.zeros(1000)
    for i in range(1000):
        s = 0.0
        for k in range(x.shape[0]):
            s += x[k] * math.sin(0.01 * (i + 1) * (k + 1))
        y[i] = math.tanh(s)
    return y


def narrow(x):
    """1,000 inputs, 10 outputs."""
    y = np.zeros(10)
    for j in range(10):
        s = 0.0
        for i in range(x.shape[0]):
            s += x[i] * x[i] * math.cos(0.001 * (j + 1) * i)
        y[j] = math.log1p(s * s)
    return y


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def jacobian_table():
    rng = np.random.default_rng(0)
    cases = [
        ("10 → 1,000", wide, rng.uniform(-1, 1, 10)),
        ("1,000 → 10", narrow, rng.uniform(-1, 1, 1000)),
    ]
    print(
        "\n### `sourcead.jacobian`: forward (one vector-mode sweep) vs reverse (one adjoint sweep per output)\n"
    )
    print(
        "| function | forward | reverse | reverse / forward | `mode='auto'` picks | max abs. diff |"
    )
    print("|---|---:|---:|---:|---|---:|")
    for label, fn, x in cases:
        forward = sourcead.jacobian(fn, mode="forward", compile=True)
        reverse = sourcead.jacobian(fn, mode="reverse", compile=True)
        auto = sourcead.jacobian(fn, compile=True)
        jf, jr = forward(x), reverse(x)  # generate and compile
        auto(x)
        tf = median_time(lambda f=forward, x=x: f(x), 5)
        tr = median_time(lambda f=reverse, x=x: f(x), 5)
        print(
            f"| {label} | {tf * 1e3:.2f} ms | {tr * 1e3:.2f} ms | {tr / tf:.2f} | {auto.last_mode} | "
            f"{np.max(np.abs(jf - jr)):.1e} |"
        )


if __name__ == "__main__":
    optimisation_table()
    jacobian_table()
