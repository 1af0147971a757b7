"""Named tensors read from a checkpoint only when asked for, so a loader can hold one layer at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch


class LazyTensors(Mapping[str, torch.Tensor]):
    """A read-only mapping name -> tensor whose shapes are known up front and whose values are read
    (decoded, copied from the file) on each access."""

    def __init__(self, shapes: dict[str, torch.Size], read: Callable[[str], torch.Tensor]):
        self.shapes, self._read = shapes, read

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.shapes:
            raise KeyError(name)
        return self._read(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)


def shapes_of(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Size]:
    """Every tensor's shape, without reading a lazy one."""
    if isinstance(tensors, LazyTensors):
        return dict(tensors.shapes)
    return {name: t.shape for name, t in tensors.items()}


def file_bytes(path: Path, offset: int, size: int) -> np.ndarray:
    """`size` bytes of the file from `offset` as uint8, read rather than memory-mapped (a mapping's
    touched pages stay resident as long as any tensor shares it); OSError if the file ends first."""
    raw = np.fromfile(path, dtype=np.uint8, count=size, offset=offset)
    if raw.size != size:
        raise OSError(f"cut short, {raw.size} of {size} bytes")
    return raw
