"""Process memory: have freed tensors' pages go back to the system at once (glibc)."""

from __future__ import annotations

import ctypes
import sys

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
_THRESHOLD = 1 << 20


def return_freed_memory() -> bool:
    """Map every allocation of 1 MiB or more on its own, so that freeing it unmaps it. glibc's default
    threshold rises up to 32 MiB after large frees, after which freed scratch tensors stay in the heap:
    loading SmolLM2-135M as int4 then peaks at about 930 MiB instead of 760 MiB. This is process-wide,
    so the command line and the benchmark call it; `openweight.load` leaves it to the program.
    Returns whether it took effect (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # another C library (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))
