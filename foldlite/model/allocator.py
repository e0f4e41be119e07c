"""Keep freed tensor memory for reuse instead of returning it to the OS after every operation.

glibc's malloc serves large blocks with mmap and gives them back on free; a 300-residue pair map
is [300, 300, 64] float32 = 23 MB, so every operation of the pair stack allocates fresh pages and
the kernel zero-fills them on first touch. Measured on the development machine (1 thread, L = 300):
one forward pass takes 2.0 s with the settings below against 2.3-4.1 s with glibc's defaults.

tune_allocator() raises the mmap threshold to glibc's maximum (32 MB) and lets up to 512 MB of
freed heap stay with the process. Blocks above 32 MB (pair maps beyond ~700 residues) still come
from mmap and are returned. It only changes how memory is recycled, never results; it is a no-op
where glibc is not the C library, and FOLDLITE_NO_MALLOC_TUNING=1 turns it off.
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


@functools.lru_cache(maxsize=None)
def tune_allocator() -> bool:
    """Apply the malloc settings above once per process; True when they took effect."""
    if os.environ.get("FOLDLITE_NO_MALLOC_TUNING") == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
