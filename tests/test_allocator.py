"""Training keeps freed memory: big per-step buffers stop faulting in fresh pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys
import numpy as np
from emostyle.memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
a = np.ones(40_000_000 // 8); del a  # warm-up: the heap (or mapping) exists once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # like a training step: a 40 MB activation made and freed
    a = np.ones(40_000_000 // 8); del a
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_keep_freed_memory_stops_page_faults_per_step():
    applied, kept = faults("keep")
    _, default = faults("default")
    assert applied
    # 20 x 40 MB through mmap faults in every page again (11,000+ faults with transparent huge
    # pages, ~195,000 without); reused heap memory needs none.
    assert default > 2_000, default
    assert kept < default / 20, (kept, default)
