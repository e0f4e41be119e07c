"""Choosing the compute precision: bf16 autocast only where the CPU actually runs it fast.

bf16 matmuls are 2-10x faster than fp32 on CPUs with AMX or avx512_bf16, but ~50x *slower* on CPUs
without native bf16 (e.g. AVX2-only), where PyTorch falls back to emulation. So we measure instead of
guessing. The best of several timed runs is compared: on an AMX Xeon the first bf16 calls are slow
while oneDNN sets up its kernels, and a single short timing there wrongly said "not fast" (a 256²
matmul is 1.9x faster in bf16 once warm, and a training step 2.4x).

On x86-64 the timing is skipped where torch reports neither avx512_bf16 nor AMX: there bf16 is
always emulated, and timing it cost 0.5-0.8 s of every process's start (an AVX2-only AMD EPYC:
a 384² bf16 matmul takes ~55 ms against ~1.5 ms in fp32).
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import time

import torch

from .runtime import BF16_ENV

BF16_MIN_SPEEDUP = 1.3  # bf16 must beat fp32 by this factor to be used
# BF16_ENV "1" or "0" decides without measuring. A timing taken on a busy machine can come out either
# way, and bf16 and fp32 give slightly different structures, so the processes of one run share one
# decision (foldlite fold --workers/--ray hands its own to every worker; see use_bf16).
_FIXED: dict[str, bool] = {}  # "bf16": this process's decision, fixed by use_bf16


@functools.lru_cache(maxsize=None)
def cpu_bf16_is_fast(size: int = 384, warmup: int = 3, repeats: int = 5) -> bool:
    """True when a bf16 matmul beats fp32 by BF16_MIN_SPEEDUP on this CPU (takes ~20 ms), unless
    use_bf16 fixed it or $FOLDLITE_BF16 says "1" or "0"."""
    if "bf16" in _FIXED:
        return _FIXED["bf16"]
    if os.environ.get(BF16_ENV) in ("0", "1"):
        return os.environ[BF16_ENV] == "1"
    if not x86_may_have_native_bf16():
        return False
    a = torch.randn(size, size)
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        x = a.to(dtype)
        for _ in range(warmup):  # the first calls pick and set up kernels
            x @ x
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            x @ x
            timings.append(time.perf_counter() - start)
        best[dtype] = min(timings)
    return best[torch.bfloat16] * BF16_MIN_SPEEDUP < best[torch.float32]


def x86_may_have_native_bf16() -> bool:
    """False only on an x86-64 CPU that torch says lacks both avx512_bf16 and AMX tiles; True
    elsewhere (other architectures, or a torch without these queries), where timing decides."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return True
    queries = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(query is None for query in queries):
        return True
    return any(query() for query in queries)


def use_bf16(enabled: bool) -> None:
    """Fix this process's decision (e.g. to the parent run's), whatever a measurement would say."""
    _FIXED["bf16"] = bool(enabled)
    cpu_bf16_is_fast.cache_clear()


def autocast_context(device: torch.device | str, enabled: bool | None = None):
    """bf16 autocast on CUDA, or on CPUs where bf16 is fast; a no-op context otherwise."""
    device = torch.device(device)
    if enabled is None:
        enabled = device.type == "cuda" or (device.type == "cpu" and cpu_bf16_is_fast())
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
