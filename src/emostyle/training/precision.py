"""bf16 autocast only where the hardware computes in bf16.

On CUDA and on CPUs with AVX512-BF16 or AMX, bf16 autocast with channels_last trains 2-2.5x
faster than float32. On other CPUs oneDNN emulates bf16 and a step is about ten times *slower*:
vgg_small at batch 64 ran 135 img/s in float32 and 12 img/s in bf16 on a 2-core AMD EPYC with
AVX2 only. So ``--amp`` (the default) means "bf16 where it pays", and float32 elsewhere.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AVX512-BF16 or AMX)."""
    cpuinfo = Path("/proc/cpuinfo")
    if sys.platform.startswith("linux") and cpuinfo.is_file():
        flags = set()
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
                break
        return any(flag in flags for flag in BF16_CPU_FLAGS)
    try:  # elsewhere, oneDNN's own answer (it also says yes for emulated AVX512 bf16)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(device: torch.device, requested: bool = True) -> bool:
    """Whether bf16 autocast runs on ``device`` when ``requested`` (the ``--amp`` flag)."""
    if not requested:
        return False
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def autocast(device: torch.device, requested: bool):  # noqa: ANN201 - a context manager
    """bf16 autocast on ``device`` if requested and the hardware has it; float32 otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(device, requested))


def precision_name(device: torch.device, requested: bool) -> str:
    """What a run computes in, for logs and cards."""
    if use_bf16(device, requested):
        return "bf16 autocast"
    if requested and device.type == "cpu":
        return "float32 (this CPU has no native bf16)"
    return "float32"
