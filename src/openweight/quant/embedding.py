"""An embedding table kept as GGUF stores it in Q8_0: int8 codes with one fp16 scale per 32 weights."""

from __future__ import annotations

import numpy as np
import torch

from .linear import block_tensor, decode_blocks


class Int8Embedding(torch.nn.Module):
    """Looks up rows of Q8_0 blocks and decodes only those, to exactly the file's float values
    (scale * code in float32), in `dtype`: a quarter of the memory of a float32 table, same outputs."""

    def __init__(self, blocks: torch.Tensor, dtype: torch.dtype):
        """blocks uint8 [vocab, hidden / 32 * 34], as the file holds them."""
        super().__init__()
        self.register_buffer("blocks", blocks)
        self.dtype = dtype

    @classmethod
    def from_q8_0(cls, blocks: np.ndarray | torch.Tensor, dtype: torch.dtype) -> Int8Embedding:
        return cls(block_tensor(blocks), dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [...] -> [..., hidden]."""
        return decode_blocks(self.blocks[ids], "q8_0").to(self.dtype)

    def extra_repr(self) -> str:
        return f"{self.blocks.shape[0]}, {self.blocks.shape[1] // 34 * 32}, int8 (Q8_0)"
