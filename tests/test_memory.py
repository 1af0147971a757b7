"""Freed heap pages go back to the system when openweight.memory.trim_heap is called."""

import subprocess
import sys

import pytest

# In a process of its own: the test's own heap must be the only one measured.
PROGRAM = """
from pathlib import Path
import numpy as np
from openweight.memory import trim_heap

def rss_mib():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

chunks = [np.ones(8192, np.uint8) for _ in range(20_000)]  # 160 MB in small (heap, not mmap) blocks
keep = chunks[-1]  # the heap's top stays in use, so that free() alone cannot shrink it
del chunks
before = rss_mib()
released = trim_heap()
print(released, before - rss_mib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim, read through /proc")
def test_trim_heap_returns_freed_small_blocks():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True"
    assert float(out[1]) > 100  # of the 160 MB freed
