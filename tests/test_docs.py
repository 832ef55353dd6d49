"""Every ```python block of the documentation runs (so the docs cannot rot).

The blocks of one page run in order, in one fresh process, as one file whose line numbers are
the page's own (a failure points at ``docs/page.md``'s line). A block right after the line
``<!-- docs-test: skip -->`` is not run (for output or for code needing hardware such as a
GPU); blocks in other languages (``console``, ``text``, ``toml``) are never run.

The pages run with ``NUMBA_DISABLE_JIT=1``: the generated code executes as plain Python and
NumPy (exactly the code Numba would compile), which keeps this test fast; the other tests
cover the compiled path.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sourcead

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SKIP = "<!-- docs-test: skip -->"
PAGES = sorted(DOCS.rglob("*.md")) if DOCS.is_dir() else []


def python_of(page: Path) -> str:
    """The page's python blocks, each at its own line numbers; everything else blank."""
    out, inside, skipping, previous = [], False, False, ""
    for line in page.read_text(encoding="utf-8").splitlines():
        fence = re.match(r"^```\s*(\w*)", line)
        if not inside and fence:
            inside = True
            skipping = fence.group(1) != "python" or previous.strip() == SKIP
            out.append("")
        elif inside and line.startswith("```"):
            inside = False
            out.append("")
        else:
            out.append(line if inside and not skipping else "")
        if line.strip():
            previous = line
    return "\n".join(out) + "\n"


#: Pages whose code takes long to run (the simulator's kernels): CI's slow group runs them.
SLOW_PAGES = ("gpu.md",)


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_PAGES else p for p in PAGES],
    ids=[str(p.relative_to(DOCS)) for p in PAGES],
)
def test_page_code_runs(page, tmp_path):
    code = python_of(page)
    if not code.strip():
        pytest.skip("no python blocks")
    script = tmp_path / f"docs_{page.stem.replace('-', '_')}.py"
    script.write_text(code)
    env = dict(
        os.environ,
        NUMBA_DISABLE_JIT="1",
        SOURCEAD_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        MPLBACKEND="Agg",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = (done.stdout + done.stderr).replace(str(script), str(page.relative_to(REPO)))
    assert done.returncode == 0, report


def test_every_public_name_is_documented():
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [name for name in sourcead.__all__ if f"`{name}" not in api]
    assert not missing, f"docs/api.md does not document {missing}"


def test_nav_lists_every_page():
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r"([\w/-]+\.md)", config))
    pages = {str(p.relative_to(DOCS)) for p in PAGES}
    assert pages <= listed, f"pages missing from mkdocs.yml's nav: {sorted(pages - listed)}"
    assert listed <= pages, f"nav entries without a page: {sorted(listed - pages)}"
