"""The persistent cache: generated modules (``modules``) and recorded gradients (``records``).

``sourcead.cache.cache_dir()``, ``entries()`` and ``clear()`` manage the cache from Python.
"""

from .modules import cache_dir, clear, entries

__all__ = ["cache_dir", "clear", "entries"]
