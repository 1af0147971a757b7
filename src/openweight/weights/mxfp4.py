"""MXFP4 (OCP microscaling): 4-bit E2M1 values in blocks of 32 sharing one E8M0 power-of-two scale."""

from __future__ import annotations

import torch

# The 16 E2M1 codes: sign bit, 2 exponent bits, 1 mantissa bit.
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)


def dequantize_mxfp4(blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Decode a gpt-oss `*_blocks`/`*_scales` pair into the dense expert weight `transformers` uses.

    blocks [experts, rows, groups, 16] uint8, two codes a byte, low nibble first;
    scales [experts, rows, groups] uint8, exponent biased by 127.
    Returns [experts, groups*32, rows]: the checkpoint stores rows = output features, the model
    multiplies x @ W, so the result is transposed.
    """
    if blocks.shape[:-1] != scales.shape or blocks.shape[-1] != 16:
        raise ValueError(f"MXFP4 blocks {tuple(blocks.shape)} do not match scales {tuple(scales.shape)}")
    lut = torch.tensor(E2M1_VALUES, dtype=dtype)
    blocks = blocks.to(torch.uint8)
    codes = torch.stack((blocks & 0x0F, blocks >> 4), dim=-1).long()  # [..., groups, 16, 2]
    values = lut[codes].flatten(-2)  # [..., groups, 32]
    values = torch.ldexp(values, (scales.to(torch.int32) - 127)[..., None])
    experts, rows, groups = scales.shape
    return values.reshape(experts, rows, groups * 32).transpose(1, 2).contiguous()
