"""``sourcead show --stage``: the program after each pass of a mode, in order."""

import subprocess
import sys

import numpy as np
import pytest

from sourcead.analysis.types import Array, Scalar
from sourcead.pipeline import passes, stages


def loss(x, w):
    y = np.tanh(x * w)
    s = 0.0
    for i in range(x.shape[0]):
        s += y[i] * y[i]
    return s + x.sum()


VECTOR = Array("float64", 1)

#: A line each stage shows first (the stage before it does not have it).
EXPECTED = {
    "parsed": "return s + x.sum()",
    "array syntax": "return s + np.sum(x)",
    "checked": "return s + np.sum(x)",
    "normalized": "s = s + y[i] * y[i]",
    "typed": "y = np.tanh(x * w)  # y: float64[:]",
    "views": "y = np.tanh(x * w)  # y: float64[:]",
    "views checked": "y = np.tanh(x * w)  # y: float64[:]",
    "promoted": "y = np.tanh(x * w)  # y: float64[:]",
    "solver calls": "y = np.tanh(x * w)  # y: float64[:]",
    "indexed": "y = np.tanh(x * w)  # y: float64[:]",
    "jvp calls": "y = np.tanh(x * w)  # y: float64[:]",
    "fused": "y[k] = np.tanh(x[k] * w[k])",
    "lowered": "y[k] = np.tanh(x[k] * w[k])",
    "adjoint": "def loss_adjoint(x, w, b_result=1.0):",
    "tangent": "def loss_tangent(",
}


def test_the_stages_of_each_mode_are_its_pass_list():
    assert stages.stage_names("reverse") == [
        "parsed",
        "array syntax",
        "checked",
        "normalized",
        "typed",
        *(p.name for p in passes.MODES["reverse"]),
        "adjoint",
    ]
    assert stages.stage_names("forward")[-1] == "tangent"
    assert "fused" not in stages.stage_names("batched")  # vmap's element functions stay whole


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_every_stage_of_a_small_function(mode):
    shown = {}
    for stage in stages.stage_names(mode):
        shown[stage] = stages.stage_source(loss, [VECTOR, VECTOR], ["x"], mode, stage)
        print(f"--- {stage}\n{shown[stage]}")
        assert EXPECTED[stage] in shown[stage], stage
    assert "x.sum()" not in shown["array syntax"]
    assert "#" not in shown["normalized"]  # types appear from the typed stage on
    assert "# i: int64" in shown["typed"]
    if mode == "reverse":
        assert "np.tanh(x * w)" not in shown["fused"]  # the vector statement became a loop
        assert "b_x" in shown["adjoint"]


def test_unknown_stage_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown stage 'optimised' of reverse mode: use one of"):
        stages.stage_source(
            loss, [VECTOR, Scalar("float", "float64")], ["x"], "reverse", "optimised"
        )


DEMO = """import numpy as np


def loss(x, w):
    y = np.tanh(x * w)
    return np.sum(y * y)
"""


def test_show_stage_on_the_command_line(tmp_path):
    (tmp_path / "stage_demo.py").write_text(DEMO)
    result = subprocess.run(
        [sys.executable, "-m", "sourcead", "show", "stage_demo:loss", "--wrt", "x"]
        + ["--types", "x:float64[:],w:float64[:]", "--stage", "typed", "--color", "never"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "    y = np.tanh(x * w)  # y: float64[:]" in result.stdout
