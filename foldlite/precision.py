"""Choosing the compute precision: bf16 autocast only where the CPU actually runs it fast.

bf16 matmuls are ~10x faster than fp32 on CPUs with AMX, but ~50x *slower* on CPUs without native
bf16 (e.g. AVX2-only), where PyTorch falls back to emulation. So we measure instead of guessing.
"""
from __future__ import annotations

import contextlib
import functools
import time

import torch


@functools.lru_cache(maxsize=None)
def cpu_bf16_is_fast(size: int = 256, repeats: int = 3) -> bool:
    """True when a bf16 matmul beats fp32 by at least 1.5x on this CPU (takes ~10 ms)."""
    a = torch.randn(size, size)
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        x = a.to(dtype)
        x @ x  # warm-up: first call may pick kernels
        start = time.perf_counter()
        for _ in range(repeats):
            x @ x
        timings[dtype] = time.perf_counter() - start
    return timings[torch.bfloat16] * 1.5 < timings[torch.float32]


def autocast_context(device: torch.device | str, enabled: bool | None = None):
    """bf16 autocast on CUDA, or on CPUs where bf16 is fast; a no-op context otherwise."""
    device = torch.device(device)
    if enabled is None:
        enabled = device.type == "cuda" or (device.type == "cpu" and cpu_bf16_is_fast())
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
