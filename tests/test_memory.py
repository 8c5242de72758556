"""Freed memory goes back to the system when a server asks (emostyle.memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
from emostyle.memory import release_freed_memory

def rss():
    line = next(x for x in open("/proc/self/status") if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

blocks = [bytearray(100_000) for _ in range(2000)]  # 200 MB in blocks under mmap's threshold
last = bytearray(100_000)  # allocated last, so the heap cannot shrink from its top by itself
del blocks
before = rss()
print(release_freed_memory(), before - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_release_freed_memory_returns_a_freed_heap():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "True"
    assert float(out[1]) > 150, f"only {out[1]} MB of 200 came back"
