"""Process memory: have freed pages go back to the system (glibc)."""

from __future__ import annotations

import ctypes
import sys

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
_THRESHOLD = 4 << 20


def _libc():
    """The process's C library, where it is glibc (musl and others have neither mallopt nor malloc_trim)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def return_freed_memory() -> bool:
    """Map every allocation of 4 MiB or more on its own, so that freeing it unmaps it. glibc's default
    threshold rises up to 32 MiB after large frees, after which freed scratch tensors stay in the heap
    (SmolLM2-135M int4, load and batch-8 decode: peak 489 MiB, 467 at 4 MiB). 4 MiB rather than less:
    at 1 MiB a 512-token prefill's activations are mapped and unmapped op after op, 17% slower
    (877 tokens/s against 1061 at 4 MiB or glibc's default) for the same peak. This is process-wide,
    so the command line and the benchmark call it; `openweight.load` leaves it to the program.
    Returns whether it took effect (glibc only)."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))


def trim_heap() -> bool:
    """Give the heap's free pages back to the system now. Building a model frees many small arrays
    (below the mmap threshold), and their pages stay resident: loading SmolLM2-135M as int4 keeps
    about 50 MiB of them. Local in effect (no setting changes), so `openweight.load` calls it.
    Returns whether any memory was released (glibc only)."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))
