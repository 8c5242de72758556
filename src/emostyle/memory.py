"""Hand memory that a long-lived process has freed back to the operating system.

glibc's malloc keeps freed blocks below its mmap threshold (which grows to 32 MB once large
blocks have been freed) in its heaps, one per thread that allocated, for reuse. ``malloc_trim(0)``
returns them: the web app's photo page held 24 MB less with it after ten 4000x3000 uploads
(benchmarks/results/app_memory_undo_trim.json against app_memory.json), and right after a
painting, before the page's other fixes, it gave back 40 to 150 MB. Training wants the opposite
(see :mod:`emostyle.training.allocator`); a server between requests wants this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim():  # noqa: ANN202 - a ctypes function, or None
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Give the kernel back the free memory in malloc's heaps; False where there is no glibc.

    Takes a few milliseconds; call it after a big piece of work, not per small allocation.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
