"""glibc malloc's two policies this project needs: hand freed memory back, or keep it.

A long-lived server between requests wants memory handed back (:func:`release_freed_memory`);
a training loop wants it kept (:func:`keep_freed_memory`).

glibc's malloc keeps freed blocks below its mmap threshold (which grows to 32 MB once large
blocks have been freed) in its heaps, one per thread that allocated, for reuse. ``malloc_trim(0)``
returns them: the web app's photo page held 24 MB less with it after ten 4000x3000 uploads
(benchmarks/results/app_memory_undo_trim.json against app_memory.json), and right after a
painting, before the page's other fixes, it gave back 40 to 150 MB.

Training wants the opposite. glibc serves blocks above its mmap threshold (at most 32 MB) with
fresh ``mmap`` calls and unmaps them on free, so a training step whose activations are tens of
MB each faults in new zeroed pages every iteration: measured on the style run (VGG16 loss, 4 x
192 px crops, 2 threads, AMD EPYC) half the CPU time went to the kernel and training ran at 3.4
img/s; with mmap off and trimming off it ran at 4.1 img/s with no kernel time. The heap then
stays at its peak size, which is what a training process holds anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_MAX = -4


@cache
def _glibc(function: str, argtypes: tuple) -> object | None:
    """A glibc function with its argument types, or None off Linux/glibc (musl and other
    allocators have neither function, nor the problem in the same form)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        fn = getattr(ctypes.CDLL(name), function) if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.argtypes, fn.restype = list(argtypes), ctypes.c_int
    return fn


def _malloc_trim():  # noqa: ANN202 - a ctypes function, or None
    return _glibc("malloc_trim", (ctypes.c_size_t,))


def release_freed_memory() -> bool:
    """Give the kernel back the free memory in malloc's heaps; False where there is no glibc.

    Takes a few milliseconds; call it after a big piece of work, not per small allocation.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to reuse freed blocks (no mmap per block, no trimming).

    Returns whether it applied: False off Linux/glibc, so callers never need to check the
    platform.
    """
    mallopt = _glibc("mallopt", (ctypes.c_int, ctypes.c_int))
    if mallopt is None:
        return False
    # 2**31 - 1 bytes: freed memory at the top of the heap is never given back mid-run.
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
