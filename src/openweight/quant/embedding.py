"""An embedding table kept as GGUF stores it in Q8_0: int8 codes with one scale per 32 weights."""

from __future__ import annotations

import numpy as np
import torch

from .linear import q8_0_codes


class Int8Embedding(torch.nn.Module):
    """Looks up rows of int8 codes and decodes only those, to exactly the file's float values
    (scale * code in float32), in `dtype`: a quarter of the memory of a float32 table, same outputs."""

    def __init__(self, codes: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype):
        """codes int8 [vocab, hidden]; scale float32 [vocab, hidden / 32]."""
        super().__init__()
        self.register_buffer("codes", codes)
        self.register_buffer("scale", scale)
        self.dtype = dtype

    @classmethod
    def from_q8_0(cls, blocks: np.ndarray, dtype: torch.dtype) -> Int8Embedding:
        return cls(*q8_0_codes(blocks), dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [...] -> [..., hidden]."""
        groups = self.codes[ids].unflatten(-1, (-1, 32)).float() * self.scale[ids][..., None]  # [..., groups, 32]
        return groups.flatten(-2).to(self.dtype)

    def extra_repr(self) -> str:
        return f"{self.codes.shape[0]}, {self.codes.shape[1]}, int8 (Q8_0)"
