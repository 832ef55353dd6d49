"""Reversed element loops run forwards and split by the adjoint element they update.

The gradients through these loops are checked against finite differences in
test_fusion.py, test_numpy_arrays.py and test_loops.py; here: which loops are split, run
forwards or left alone, and the generated code of a stencil.
"""

import numpy as np
import pytest
from helpers import check_grad

import sourcead
from sourcead.transforms.distribute import CountedLoop, distributed
from sourcead.trees.codegen import Block, build
from sourcead.trees.unparse import source


def render(lines: list) -> str:
    """The text of generated lines, as the module writes it."""
    return source(build(lines))


REVERSED = "for k in range(n - 1, -1, -1):"
FORWARD = "for k in range(n):"
LOOP = CountedLoop(REVERSED, FORWARD, "k", trips="max(n, 0)", start="0")
STENCIL = [
    "# f[k] = u[k] + c * (u[k + 1] - u[k])  (line 3)",
    "b_part = b_f[k]",
    "b_part_1 = b_part * c",
    "b_u[k] += b_part - b_part_1",
    "b_u[k + 1] += b_part_1",
    "b_f[k] = 0.0",
]


def loops(body, partials=("b_part", "b_part_1"), loop=LOOP):
    return distributed(loop, body, set(partials))


def test_a_stencil_adjoint_is_split_by_element_and_runs_forwards():
    assert render(loops(STENCIL)).splitlines() == [
        "# f[k] = u[k] + c * (u[k + 1] - u[k])  (line 3)",
        "for k in range(n):",
        "    b_part = b_f[k]",
        "    b_part_1 = b_part * c",
        "    b_u[k] += b_part - b_part_1",
        "for k in range(n):",
        "    b_part = b_f[k]",
        "    b_part_1 = b_part * c",
        "    b_u[k + 1] += b_part_1",
        "    b_f[k] = 0.0",
    ]


def test_arrays_updated_at_one_element_join_the_first_loop_unless_it_is_fixed():
    body = [*STENCIL[:-1], "b_c[k] += b_part * u[k]", "b_d[0] += b_part"]
    first, second, fixed = loops(body)[1:]
    assert "b_c[k] += b_part * u[k]" in first.body and "b_u[k] += b_part - b_part_1" in first.body
    assert second.body[-1] == "b_u[k + 1] += b_part_1"
    assert fixed.body == ["b_part = b_f[k]", "b_d[0] += b_part"]


def test_a_loop_updating_one_element_per_array_runs_forwards_unsplit():
    body = ["b_part = b_f[k] * c", "b_u[k] += b_part", "b_c[0] += b_part * u[k]", "b_f[k] = 0.0"]
    assert loops(body) == [Block(FORWARD, body)]


def test_loops_whose_iterations_depend_on_each_other_stay_reversed():
    cases = {
        "an adjoint read after an update": ["b_u[k] += b_u[k + 1] * c", "b_u[k + 1] = 0.0"],
        "an updated adjoint read": ["b_u[k] += b_v[k + 1]", "b_v[k] += b_u[k + 1]"],
        "a reset read elsewhere": ["b_u[k] += b_f[k + 1]", "b_u[k + 1] += c", "b_f[k] = 0.0"],
        "one element reset by all": ["b_u[k] += b_f[0]", "b_u[k + 1] += c", "b_f[0] = 0.0"],
        "a partial read before it is set": [
            "b_u[k] += b_part",
            "b_part = b_f[k] * c",
            "b_u[k + 1] += b_part",
        ],
        "a reset array read whole": [
            "b_part = np.sum(b_f)",
            "b_u[k] += b_part",
            "b_u[k + 1] += b_part",
            "b_f[k] = 0.0",
        ],
        "a scalar adjoint": ["b_c += b_f[k]", "b_u[k] += c", "b_u[k + 1] += c"],
        "a nested block": [Block("if c > 0:", ["b_u[k] += c"]), "b_u[k + 1] += c"],
        "a call that may write": ["b_u[k] += helper(b_f)", "b_u[k + 1] += c"],
        "a scalar restored": ["s_top -= 1", "s = s_tape[s_top]", "b_u[k] += s"],
        "a restored array read": ["u_top -= 1", "u[k] = u_tape[u_top]", "b_u[k] += u[k - 1]"],
        "one element restored by all": ["u_top -= 1", "u[0] = u_tape[u_top]", "b_u[k] += c"],
    }
    for reason, body in cases.items():
        assert loops(body) == [Block(REVERSED, body)], reason


def test_elements_restored_from_a_tape_are_read_from_its_bottom_up():
    body = [
        "# u[k + 1] = fused[k]  (line 4)",
        "u_top -= 1",
        "u[k + 1] = u_tape[u_top]",
        "b_fused[k] += b_u[k + 1]",
        "b_u[k + 1] = 0.0",
    ]
    assert render(loops(body)).splitlines() == [
        "# u[k + 1] = fused[k]  (line 4)",
        "u_top -= max(n, 0)",
        "for k in range(n):",
        "    u[k + 1] = u_tape[u_top + k]",
        "for k in range(n):",
        "    b_fused[k] += b_u[k + 1]",
        "    b_u[k + 1] = 0.0",
    ]
    from_one = CountedLoop("for k in range(m - 1, 0, -1):", "for k in range(1, m):", "k", "m", "1")
    assert "u[k + 1] = u_tape[u_top + k - 1]" in render(loops(body, loop=from_one))
    stepped = CountedLoop(
        "for k in range(m - 2, -1, -2):", "for k in range(0, m, 2):", "k", "m", None
    )
    assert loops(body, loop=stepped) == [Block(stepped.reversed_header, body)]


def heat_with_slices(u0, kappa):
    u = u0.copy()
    for _ in range(30):
        u[1:-1] = u[1:-1] + 0.2 * kappa[1:-1] * (u[:-2] - 2.0 * u[1:-1] + u[2:])
    return np.sum((u - 0.1) ** 2)


def test_heat_with_slices_is_split_and_its_gradient_is_right():
    rng = np.random.default_rng(3)
    args = rng.random(12), 0.5 + rng.random(12)
    check_grad(heat_with_slices, args, wrt=(0, 1))
    g = sourcead.grad(heat_with_slices, wrt=(0, 1))
    g(*args)
    backward = g.source.split("# backward sweep")[1]
    # the restore of u, the adjoint of that copy, b_u at three offsets (with b_kappa, and the
    # reset of b_fused)
    assert backward.count("for k2 in range(n):") == 5
    assert "range(n - 1, -1, -1)" not in backward


def nonlinear_heat(u0, kappa):
    n = u0.shape[0]
    u = u0.copy()
    un = np.zeros_like(u)
    for _ in range(7):
        for i in range(1, n - 1):
            un[i] = u[i] + 0.2 * kappa[i] * (u[i - 1] - 2.0 * u[i] + u[i + 1]) * u[i]
        for i in range(1, n - 1):
            u[i] = un[i]
    s = 0.0
    for i in range(n):
        s += (u[i] - 0.1) ** 3
    return s


@pytest.mark.slow  # compiles for seconds: CI's slow group
def test_hessian_vector_products_through_split_loops_that_restore_elements():
    rng = np.random.default_rng(0)
    u0, kappa, v = rng.random(9), 0.5 + rng.random(9), rng.random(9)
    gradient = sourcead.grad(nonlinear_heat)
    gradient(u0, kappa)
    backward = gradient.source.split("# backward sweep")[1]
    assert "u[i] = u_tape[u_top + i - 1]" in backward  # the restores run forwards
    eps = 1e-6
    expected = (gradient(u0 + eps * v, kappa) - gradient(u0 - eps * v, kappa)) / (2 * eps)
    hv = sourcead.hvp(nonlinear_heat, (u0, kappa), (v, None))
    np.testing.assert_allclose(hv, expected, rtol=1e-6, atol=1e-9)
