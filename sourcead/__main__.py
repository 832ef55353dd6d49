"""``python -m sourcead``: the command line (see sourcead/aot/cli.py)."""

import sys

from .aot.cli import main

sys.exit(main())
