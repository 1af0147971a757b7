"""An embedding table kept as GGUF stores it in Q8_0: int8 codes with one fp16 scale per 32 weights."""

from __future__ import annotations

import numpy as np
import torch

from . import kernels
from .kernels import GROUP_ROWS
from .linear import BLOCK_BYTES, block_tensor, decode_blocks, deinterleave_rows, interleave_rows


class Int8Embedding(torch.nn.Module):
    """Looks up rows of Q8_0 blocks and decodes only those, to exactly the file's float values
    (scale * code in float32), in `dtype`: a quarter of the memory of a float32 table, same outputs.
    Where openweight's kernels run, the rows are interleaved by eight as they take them, so that a
    tied output layer multiplies these very bytes (quant.linear.Int8Linear.from_embedding)."""

    def __init__(self, blocks: torch.Tensor, dtype: torch.dtype, shape: tuple[int, int], interleaved: bool):
        """blocks uint8: [vocab, hidden / 32 * 34], or those rows interleaved (interleave_rows)."""
        super().__init__()
        self.register_buffer("blocks", blocks)
        self.dtype, self.shape, self.interleaved = dtype, shape, interleaved

    @classmethod
    def from_q8_0(cls, blocks: np.ndarray | torch.Tensor, dtype: torch.dtype) -> Int8Embedding:
        """GGUF Q8_0 bytes [vocab, hidden / 32 * 34] (quant.linear.block_tensor), or rows of a file
        read a slice at a time (quant.linear.interleave_rows)."""
        shape = (blocks.shape[0], blocks.shape[1] // BLOCK_BYTES["q8_0"] * 32)
        if kernels.available():
            return cls(interleave_rows(blocks, "q8_0"), dtype, shape, True)
        return cls(block_tensor(blocks), dtype, shape, False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [...] -> [..., hidden]."""
        if not self.interleaved:
            return decode_blocks(self.blocks[ids], "q8_0").to(self.dtype)
        flat = ids.reshape(-1)  # [n]
        groups = deinterleave_rows(self.blocks[flat // GROUP_ROWS], "q8_0")  # [n * 8, row bytes]: each id's group
        rows = groups.view(flat.shape[0], GROUP_ROWS, -1)[torch.arange(flat.shape[0]), flat % GROUP_ROWS]
        return decode_blocks(rows, "q8_0").view(*ids.shape, -1).to(self.dtype)

    def extra_repr(self) -> str:
        return f"{self.shape[0]}, {self.shape[1]}, int8 (Q8_0)"
