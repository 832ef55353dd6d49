"""The version of ``sourcead_runtime``, always that of the sourcead compiler it comes with.

The compiler and the runtime are released together, with one version: a module built by
``sourcead build`` records the version of the sourcead that wrote it and refuses to import
under a runtime of another version (the helpers it calls may differ). sourcead's own number
is in ``sourcead/version.py``; a test fails when the two differ. This module imports
nothing, so that packaging tools read the number without importing Numba.
"""

__version__ = "0.1.0"
