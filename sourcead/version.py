"""sourcead's version, in a module of its own so that every stage can read it.

The one place to change it for the ``sourcead`` distribution (``pyproject.toml`` reads it).
``runtime/version.py`` holds the same number for ``sourcead-runtime``, released together
with sourcead; ``tests/test_runtime_package.py`` fails when the two differ.
"""

__version__ = "0.1.0"
