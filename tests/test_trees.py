"""Generated code as trees: templates built into gast, written once with their comments, and
the dead-store pass."""

import textwrap

import gast
import numpy as np
import pytest

import sourcead
from sourcead.transforms.dead_code import without_dead_stores
from sourcead.trees.codegen import Block, Comment, build, function_tree, parse_statements
from sourcead.trees.module import GeneratedModule
from sourcead.trees.unparse import source


def test_comments_travel_on_the_statements_and_come_back_in_the_text():
    function = function_tree(
        "def f_adjoint(x, b_result=1.0):",
        [
            '"""The adjoint of f."""',
            "# forward sweep",
            "y = x * x  # squared",
            Comment("y = x * x", user_line=12),
            "b_x = 2.0 * x * b_result",
            Block("if b_x > 0.0:", ["b_x = b_x + 1.0"]),
            Block("else:", ["b_x = b_x - 1.0"]),
            "return y, (b_x,)",
        ],
    )
    text = source([function])
    assert text == textwrap.dedent(
        '''\
        def f_adjoint(x, b_result=1.0):
            """The adjoint of f."""
            # forward sweep
            y = x * x  # squared
            # y = x * x  (line 12)
            b_x = 2.0 * x * b_result
            if b_x > 0.0:
                b_x = b_x + 1.0
            else:
                b_x = b_x - 1.0
            return y, (b_x,)'''
    )


def test_statements_after_a_quoted_user_statement_carry_its_line():
    body = build(
        ["a = 1.0", Comment("y = x * x", 7), "b = 2.0", Block("for i in range(3):", ["c = i"])]
    )
    assert getattr(body[0], "user_line", None) is None
    assert body[1].user_line == 7
    loop_body = body[2].body[0]
    assert loop_body.user_line == 7 and loop_body.value.user_line == 7


def test_writing_a_module_tells_every_node_its_line():
    definitions = [
        function_tree("def g(x):", ["return x + 1.0"]),
        function_tree(
            "def f(x):", ["# one", Block("for i in range(2):", ["x = g(x)"]), "return x"]
        ),
    ]
    module = GeneratedModule("A test module.", ["import numpy as np"], definitions=definitions)
    lines = module.text().splitlines()
    for node in (n for d in definitions for n in gast.walk(d) if isinstance(n, gast.stmt)):
        shown = lines[node.lineno - 1].strip()
        assert shown.startswith(("def", "return", "for", "x = g(x)")), (node, shown)
    calls = [n for n in gast.walk(definitions[1]) if isinstance(n, gast.Call)]
    assert [lines[c.lineno - 1].strip() for c in calls] == ["for i in range(2):", "x = g(x)"]


def test_a_users_function_keeps_its_comments():
    text = textwrap.dedent(
        """\
        def step(x, a):
            # Newton's step for the square root
            y = 0.5 * (x + a / x)  # the average
            if y > 1.0:
                y = y - 1.0
            elif y < 0.0:
                y = 0.0
            return y"""
    )
    assert source(parse_statements(text)) == text


# --- the dead-store pass ---------------------------------------------------------------------
def _without_dead_stores(lines: list) -> str:
    return source([without_dead_stores(function_tree("def f(x, b_result=1.0):", lines))])


def test_resets_at_the_end_and_allocations_overwritten_at_once_go():
    text = _without_dead_stores(
        [
            "b_s = np.zeros_like(x)",
            "b_s = x * b_result",
            "b_result = 0.0",
            Comment("s = 0.0", 3),
            "b_s = 0.0",
            "return b_s",
        ]
    )
    assert "np.zeros_like" not in text and "b_result = 0.0" not in text
    assert "b_s = 0.0" in text  # read by the return


def test_values_a_later_iteration_or_branch_reads_stay():
    text = _without_dead_stores(
        [
            "total = 0.0",
            "carried = 0.0",
            Block(
                "for i in range(3):",
                ["total = total + carried", "carried = x[i]", "unused = x[i] * 2.0"],
            ),
            "kept = 1.0",
            Block("while kept < 10.0:", [Block("if kept > 5.0:", ["break"]), "kept = kept * 2.0"]),
            "return total + kept",
        ]
    )
    assert "carried = 0.0" in text and "carried = x[i]" in text
    assert "kept = kept * 2.0" in text
    assert "unused" in text  # a read of x[i] may fail: only effect-free values go


def test_statements_with_effects_and_element_stores_stay():
    text = _without_dead_stores(
        [
            "out = np.zeros(3)",
            "out[0] = x",
            "dead = helper(x)",
            Block("for i in range(3):", ["scratch = 0.0"]),
            "return x",
        ]
    )
    assert "out[0] = x" in text and "dead = helper(x)" in text
    assert "for i" not in text  # a loop left empty, whose header does nothing, goes too


def quadratic_sweep(x, y):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + x[i] * x[i] * y
    return total


@pytest.mark.parametrize("compile", [False, True])
def test_the_generated_adjoint_has_no_resets_at_its_end(compile):
    gradient = sourcead.grad(quadratic_sweep, wrt=(0, 1), compile=compile)
    x = np.array([0.5, -1.0, 2.0])
    gx, gy = gradient(x, 1.5)
    np.testing.assert_allclose(gx, 2 * x * 1.5)
    assert gy == pytest.approx(np.sum(x * x))
    backward = gradient.source.split("# backward sweep")[1]
    assert "b_result = 0.0" not in backward
    assert "b_total = 0.0\n    return" not in backward
