"""Built-in rule templates are parsed when first read, and every one of them parses.

Parsing the ~460 templates at import took about 0.2 s of every process that imports the
compiler (a warm ``vmap`` or ``hessian`` among them), so the registry holds them
``Unparsed`` until a derivative reads one.
"""

import subprocess
import sys

from sourcead.rules.parsing import Rule, TangentRule
from sourcead.rules.registry import Unparsed, entries

RULES = ("adjoint", "array_adjoint", "tangent", "array_tangent")


def test_every_built_in_template_parses():
    read = 0
    for entry in entries():
        for kind in RULES:
            rule = getattr(entry, kind)
            expected = TangentRule if "tangent" in kind else Rule
            assert rule is None or isinstance(rule, expected), (entry.name, kind)
            assert type(object.__getattribute__(entry, kind)) is not Unparsed  # kept parsed
            read += rule is not None
    assert read > 400


def test_importing_the_compiler_parses_no_template():
    script = (
        "import sourcead.api.gradients, sourcead.api.forward, sourcead.api.batched\n"
        "from sourcead.rules.registry import Unparsed, entries\n"
        "kinds = ('adjoint', 'array_adjoint', 'tangent', 'array_tangent')\n"
        "values = [object.__getattribute__(e, k) for e in entries() for k in kinds]\n"
        "print(sum(type(v) is Unparsed for v in values), sum(v is not None for v in values))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    unparsed, present = map(int, done.stdout.split())
    assert unparsed == present > 400


def test_a_derivative_parses_the_templates_it_uses_only(tmp_path):
    script = tmp_path / "program.py"
    script.write_text(
        "import math\n"
        "import numpy as np\n"
        "import sourcead\n"
        "from sourcead.rules.registry import Unparsed, entries\n"
        "def f(x, y):\n"
        "    return math.sin(x) * np.sum(y * y)\n"
        "sourcead.grad(f, wrt=(0, 1), compile=False)(0.5, np.ones(3))\n"
        "kinds = ('adjoint', 'array_adjoint', 'tangent', 'array_tangent')\n"
        "values = [object.__getattribute__(e, k) for e in entries() for k in kinds]\n"
        "print(sum(v is not None and type(v) is not Unparsed for v in values))\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert 0 < int(done.stdout) < 10
