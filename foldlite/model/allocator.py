"""Keep freed tensor memory for reuse instead of returning it to the OS after every operation.

glibc's malloc serves large blocks with mmap and gives them back on free; a 300-residue pair map
is [300, 300, 64] float32 = 23 MB, so every operation of the pair stack allocates fresh pages and
the kernel zero-fills them on first touch. Measured on the development machine (1 thread, L = 300):
one forward pass takes 2.0 s with the settings below against 2.3-4.1 s with glibc's defaults.

tune_allocator() raises the mmap threshold to glibc's maximum (32 MB) and lets up to 512 MB of
freed heap stay with the process. Blocks above 32 MB (pair maps beyond ~700 residues) still come
from mmap and are returned. It only changes how memory is recycled, never results; it is a no-op
where glibc is not the C library, and FOLDLITE_NO_MALLOC_TUNING=1 turns it off.

load_model applies it for either runtime. With ONNX Runtime its arena takes the network's memory, but
the numpy work on the distogram after it (softmax, restraints, geometry, confidence, files) allocates
and frees [L, L, 65] maps one after another: a fresh process's first 2POR_A fold (301 residues) made
90k page faults instead of 105k and its network ran ~15 % faster (median of 8 paired runs, session 19).

It also turns off oneDNN's primitive cache (ONEDNN_PRIMITIVE_CACHE_CAPACITY=0, unless the environment
already sets it). The cache keeps up to 1024 compiled kernels, each with its own buffers, keyed by
tensor shape, and every new chain length brings new shapes: folding 1,000 test chains of 50-500
residues in one process grew the process from 2.8 GB (142 records) to 4.35 GB, and 40 chains held 766 MB of live
heap against 260 MB without the cache (session 11). Distinct lengths gain nothing from it (20 chains:
30.6 s without it, 30.9 s with it); only the same length folded again does (the network ~0.12 s faster
at 300 residues), which a long run or a server cannot trade for unbounded memory. The variable is read
when oneDNN makes its first kernel, so this must run before the first forward pass (load_model does).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # bytes: glibc's upper limit for this setting on 64-bit systems
TRIM_THRESHOLD = 512 << 20  # bytes of free heap kept before memory is returned to the OS
ONEDNN_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"


@functools.lru_cache(maxsize=None)
def tune_allocator() -> bool:
    """Apply the malloc settings above once per process (and the oneDNN cache setting); True when the
    malloc settings took effect."""
    os.environ.setdefault(ONEDNN_CACHE_VARIABLE, "0")
    if os.environ.get("FOLDLITE_NO_MALLOC_TUNING") == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
