"""Random stencil kernels: the gathered adjoint (kernel_gather.py) against finite
differences, on numba-cuda's simulator here (see conftest.py), on a GPU when present."""

import importlib.util
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sourcead

cuda = pytest.importorskip("numba.cuda")

OFFSETS = st.tuples(st.integers(-1, 1), st.integers(-1, 1))
TERMS = ["math.sin({a})", "{a} * {b}", "{a} * {a}", "math.exp(0.3 * {a}) * {b}", "{a} - {b}"]


@st.composite
def stencil_sources(draw):
    """A 2-D kernel reading ``u`` at random offsets through random expressions."""
    lines, offsets = [], set()
    for k in range(draw(st.integers(1, 3))):
        term = draw(st.sampled_from(TERMS))
        reads = [draw(OFFSETS) for _ in range(2)]
        offsets |= {r for r, used in zip(reads, ("{a}", "{b}"), strict=True) if used in term}
        a, b = (f"u[{_shifted('i', p)}, {_shifted('j', q)}]" for p, q in reads)
        lines.append(f"        t{k} = {term.format(a=a, b=b)}")
    total = " + ".join(f"t{k}" for k in range(len(lines)))
    weight = draw(st.sampled_from(["k[0]", "w[i, j]", "1.0"]))
    swap = draw(st.booleans())  # which grid component runs along rows
    head = "    j, i = cuda.grid(2)" if swap else "    i, j = cuda.grid(2)"
    source = "\n".join(
        [
            "import math",
            "from numba import cuda",
            "",
            "",
            "def stencil(u, w, k, out):",
            head,
            "    n, m = u.shape",
            "    if i >= 1 and i < n - 1 and j >= 1 and j < m - 1:",
            *lines,
            f"        out[i, j] = {weight} * ({total})",
            "",
        ]
    )
    grid = draw(st.sampled_from([((2, 2), (4, 4)), ((1, 1), (4, 4)), ((3, 2), (4, 4))]))
    return source, grid, offsets != {(0, 0)}


def _shifted(name: str, offset: int) -> str:
    return name if offset == 0 else f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"


def _load(source: str, folder):
    path = folder / f"stencil_{abs(hash(source))}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.stencil


def _fd_gradient(kernel, launch, args, index, cotangent, eps=1e-6):
    """Finite differences of sum(cotangent * out) with respect to args[index]."""
    compiled = cuda.jit(kernel)

    def value(a):
        given = list(args)
        given[index] = a
        out = np.zeros_like(cotangent)
        compiled[launch](*given, out)
        return float((out * cotangent).sum())

    base = args[index]
    grad = np.zeros_like(base)
    for element in itertools.product(*(range(s) for s in base.shape)):
        step = np.zeros_like(base)
        step[element] = eps
        grad[element] = (value(base + step) - value(base - step)) / (2 * eps)
    return grad


@pytest.mark.slow  # minutes of compiling on the simulator: CI runs it (-m slow)
@settings(max_examples=6, deadline=None, database=None, derandomize=True)
@given(stencil_sources())
def test_gathered_stencil_adjoints_match_finite_differences(tmp_path_factory, drawn):
    source, launch, neighbours = drawn
    kernel = _load(source, tmp_path_factory.mktemp("stencils"))
    rng = np.random.default_rng(len(source))
    u, w = rng.uniform(0.5, 1.5, (6, 7)), rng.uniform(0.5, 1.5, (6, 7))
    k, cotangent = np.array([0.7]), rng.normal(size=(6, 7))
    adjoint = sourcead.kernel_vjp(kernel, wrt=("u", "w", "k", "out"))
    b_u, b_w, b_k, b_out = np.zeros_like(u), np.zeros_like(w), np.zeros(1), cotangent.copy()
    adjoint[launch](u, w, k, np.zeros_like(u), b_u, b_w, b_k, b_out)
    # reads at other offsets than the thread's own are gathered; own reads are plain adds
    assert ("gathered by the threads that own" in adjoint.source) == neighbours
    assert "cuda.atomic.add(b_u" not in adjoint.source.split("# backward sweep")[1]
    for index, computed in enumerate((b_u, b_w, b_k)):
        expected = _fd_gradient(kernel, launch, (u, w, k), index, cotangent)
        np.testing.assert_allclose(computed, expected, rtol=1e-6, atol=1e-7)
    # the threads of the launch that wrote out consumed its cotangent there
    written = np.zeros_like(u, dtype=bool)
    threads = [b * t for b, t in zip(*launch, strict=True)]
    for x, y in itertools.product(range(threads[0]), range(threads[1])):
        i, j = (y, x) if source.count("j, i = cuda.grid(2)") else (x, y)
        if 1 <= i < u.shape[0] - 1 and 1 <= j < u.shape[1] - 1:
            written[i, j] = True
    np.testing.assert_array_equal(b_out[written], 0.0)
    np.testing.assert_array_equal(b_out[~written], cotangent[~written])


def two_stencils(x, k, out):
    i = cuda.grid(1)
    n = x.shape[0]
    if i >= 1 and i < n - 1:
        out[i] = k[i] * (x[i + 1] - x[i - 1]) + x[i] * k[i + 1]


@pytest.mark.parametrize("launch", [(1, 16), (1, 8), (2, 3)])  # more threads, as many, fewer
def test_two_gathered_arrays(launch):
    # the second array's own reads were taken from the last neighbour's call: its gradient
    # shifted by one element, and an atomic add past the array's end
    rng = np.random.default_rng(0)
    x, k, cotangent = rng.uniform(0, 1, 8), rng.uniform(0.5, 1, 8), rng.uniform(-1, 1, 8)
    adjoint = sourcead.kernel_vjp(two_stencils, wrt=("x", "k", "out"))
    assert "gathered by the threads that own their elements" in adjoint.source
    b_x, b_k = np.zeros(8), np.zeros(8)
    adjoint[launch](x, k, np.zeros(8), b_x, b_k, cotangent.copy())
    for index, computed in enumerate((b_x, b_k)):
        expected = _fd_gradient(two_stencils, launch, (x, k), index, cotangent)
        np.testing.assert_allclose(computed, expected, rtol=1e-6, atol=1e-8)
