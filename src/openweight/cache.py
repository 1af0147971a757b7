"""Where openweight keeps what it builds once and reuses across processes (compiled steps, kernels)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """$OPENWEIGHT_CACHE/<name>, by default ~/.cache/openweight/<name>."""
    root = os.environ.get("OPENWEIGHT_CACHE") or Path.home() / ".cache" / "openweight"
    return Path(root) / name
