"""``python -m sourcead``: the command line (see sourcead/cli.py)."""

import sys

from .cli import main

sys.exit(main())
