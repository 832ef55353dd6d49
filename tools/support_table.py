"""Write the table of supported NumPy and SciPy functions into docs/support.md.

The table is generated from sourcead's registry (``sourcead/rules/catalogue.py``) and stands
between the page's two marker comments; the rest of the page is left as it is::

    python tools/support_table.py           # rewrite the table in docs/support.md
    python tools/support_table.py --check   # exit 1, saying so, where the page differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "support.md"
sys.path.insert(0, str(REPO))  # (run from a checkout: the sourcead next to this script)

from sourcead.rules.catalogue import replaced  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the page is current")
    options = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    current = replaced(page)
    if current == page:
        return 0
    if options.check:
        print(f"{PAGE.relative_to(REPO)} is out of date: run python tools/support_table.py")
        return 1
    PAGE.write_text(current, encoding="utf-8")
    print(f"wrote the table of {PAGE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
