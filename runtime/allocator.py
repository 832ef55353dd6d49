"""glibc's allocator told to keep the memory that gradients free for their next call.

A gradient allocates its tapes and temporaries afresh at every call and frees them on
return. glibc's ``malloc`` returns freed memory to the system once more than
``M_TRIM_THRESHOLD`` bytes are free at the top of the heap, and serves blocks over
``M_MMAP_THRESHOLD`` bytes by ``mmap``, unmapped again on ``free``: either way the next
call's pages are new ones, each faulted in and zeroed by the kernel. glibc raises both
thresholds by itself after the first large block a process frees (up to 32 MiB and
64 MiB), which is why the same gradient ran at full speed in a process that had just
compiled it (LLVM frees large blocks) and 1.5 times slower in one that loaded its machine
code from the cache (the GMM gradient of ``benchmarks/arrays.py``: 1,500 page faults a
call, against none).

``keep_freed_memory`` sets both thresholds to glibc's own ceilings at once. It is called
when ``sourcead_runtime`` is imported, except where ``SOURCEAD_MALLOC_TUNING=0`` or the
user tunes the allocator through glibc's ``MALLOC_*`` environment variables, and it does
nothing where the C library has no ``mallopt`` (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc's own adjustment pairs with it


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; whether it was done."""
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("SOURCEAD_MALLOC_TUNING", "1") == "0":
        return False
    if any(key.startswith("MALLOC_") for key in os.environ):
        return False  # the user's own settings stand
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
