"""Weight-only quantized linear layers.

On x86 CPUs with AVX2 and no AVX-512 (quant.kernels.available()), a layer holds its weights as GGUF's
Q4_1 or Q8_0 blocks, rows interleaved eight at a time (interleave_rows), and multiplies with
openweight's own kernels (quant.blocks.cpp): 8-bit activations, as llama.cpp's. Elsewhere it runs on
PyTorch's own CPU kernel for 4-bit weights:

- Int4Linear: 4 bits per weight in groups along the input axis, W = (q - 8) * scale + zero
  per group and output row (`aten._weight_int4pack_mm_for_cpu`). That kernel is only vectorised
  for bfloat16 activations, so the layer computes in bfloat16 and returns the input's dtype.
  GGUF's Q4_1 blocks (w = d * q + m over 32 weights) map onto it exactly: scale = d, zero = m + 8d.
- Int8Linear: 8 bits per weight with one scale per group (as GGUF's Q8_0), on the same kernel: each
  int8 q is split into two 4-bit halves, q = 16 * hi + lo, held as one 4-bit matrix twice as wide
  that multiplies the input twice over. PyTorch's own int8 kernel (`_weight_int8pack_mm`) has one
  scale per output row only, which costs a re-quantized 4-bit checkpoint 1.4% of perplexity
  (SmolLM2) where groups cost 0.1%; the halves keep the groups at the int4 kernel's speed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import kernels
from .kernels import GROUP_ROWS

if TYPE_CHECKING:
    from .embedding import Int8Embedding

INT4_GROUP_SIZES = (32, 64, 128, 256)
_ROWS = 16  # the int4 packing wants a multiple of 16 output rows; extra rows are zero and cut off
# Rows packed per call: a multiple of the packing's own 64-row blocks (so the slices join exactly), small
# enough that the int32 copy the packing wants stays a few MB even for a 50k-row output layer.
_PACK_ROWS = 1024
BLOCK_BYTES = {"q4_1": 20, "q8_0": 34}  # a GGUF block's bytes, of which the first are its fp16 scales:
SCALE_BYTES = {"q4_1": 4, "q8_0": 2}  # d and m, or d


def _groups(weight: torch.Tensor, group_size: int, mode: str) -> torch.Tensor:
    """A float weight [out, in] as float32 groups along the input axis -> [out, in / group_size, group_size]."""
    out_features, in_features = weight.shape
    if in_features % group_size:
        raise ValueError(f"{mode} needs input features ({in_features}) divisible by group_size ({group_size})")
    return weight.detach().float().contiguous().view(out_features, -1, group_size)


def activation_dtype() -> torch.dtype:
    """The dtype the kernels here take activations in, and so the one to run a quantized model's
    other layers in: float32 for openweight's (quant.kernels), bfloat16 for PyTorch's 4-bit kernel,
    which is vectorised for bfloat16 only."""
    return torch.float32 if kernels.available() else torch.bfloat16


def block_tensor(blocks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """GGUF rows of blocks as a file gives them (an array, or weights.gguf_file.FileRows, read here) ->
    uint8 [rows, row bytes], a tensor of its own; a tensor is taken as it is."""
    if isinstance(blocks, torch.Tensor):
        return blocks
    rows = np.ascontiguousarray(np.asarray(blocks))
    if not rows.flags.writeable:  # (a file read hands over its own array; a read-only one is copied)
        rows = rows.copy()
    return torch.from_numpy(rows.reshape(rows.shape[0], -1))


def q8_0_codes(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GGUF Q8_0 bytes uint8 [rows, cols / 32 * 34] -> (codes int8 [rows, cols], scales float32 [rows, cols / 32]):
    a block is d (fp16) and 32 int8 codes, w = d * q."""
    b = blocks.view(blocks.shape[0], -1, 34)
    d = b[..., 0:2].contiguous().view(torch.float16)[..., 0].float()  # [rows, groups]
    codes = b[..., 2:].contiguous().view(torch.int8).flatten(1)  # [rows, cols]
    return codes, d


def int4_matmul(flat: torch.Tensor, packed: torch.Tensor, group_size: int, scale_zero: torch.Tensor,
                out_features: int) -> torch.Tensor:
    """flat [tokens, in] @ the packed 4-bit weights -> [tokens, out_features] (padding rows cut off)."""
    y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, packed, group_size, scale_zero)
    return y[:, :out_features]


def pack_int4(out_features: int, in_features: int, codes_of: Callable[[int, int], torch.Tensor]) -> torch.Tensor:
    """4-bit codes [out, in] packed for the CPU kernel -> uint8 [out padded to _ROWS, in / 2], made
    _PACK_ROWS rows at a time: codes_of(start, stop) gives those rows' codes (any integer type), so
    that no more than a slice is ever held as int32 (an output layer's 50k rows make every whole
    copy count). Padding rows get code 8, which with scale and zero 0 weighs nothing."""
    rows = out_features + (-out_features % _ROWS)
    packed = torch.empty(rows, in_features // 2, dtype=torch.uint8)
    for start in range(0, rows, _PACK_ROWS):
        stop = min(start + _PACK_ROWS, rows)
        codes = torch.full((stop - start, in_features), 8, dtype=torch.int32)
        if start < out_features:
            real = codes_of(start, min(stop, out_features))
            codes[: len(real)] = real
        packed[start:stop] = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
    return packed


def q4_1_blocks(out_features: int, codes_of: Callable[[int, int], torch.Tensor], d: torch.Tensor,
                m: torch.Tensor) -> torch.Tensor:
    """Codes in 0..15 [out, in] (given per slice of rows, as pack_int4 takes them) with d, m float
    [out, in / 32], w = d * q + m -> GGUF Q4_1 bytes uint8 [out, in / 32 * 20]."""
    blocks = torch.empty(out_features, d.shape[1], 20, dtype=torch.uint8)
    blocks[..., 0:2] = _half_bytes(d)
    blocks[..., 2:4] = _half_bytes(m)
    for start in range(0, out_features, _PACK_ROWS):
        stop = min(start + _PACK_ROWS, out_features)
        q = codes_of(start, stop).to(torch.uint8).view(stop - start, -1, 32)  # [rows, blocks, 32]
        blocks[start:stop, :, 4:] = q[..., :16] | (q[..., 16:] << 4)
    return blocks.view(out_features, -1)


def q8_0_blocks(codes: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Codes int8 [out, in] with d float [out, in / 32], w = d * q -> GGUF Q8_0 bytes uint8 [out, in / 32 * 34]."""
    out_features = codes.shape[0]
    blocks = torch.empty(out_features, d.shape[1], 34, dtype=torch.uint8)
    blocks[..., 0:2] = _half_bytes(d)
    blocks[..., 2:] = codes.to(torch.int8).view(out_features, -1, 32).view(torch.uint8)
    return blocks.view(out_features, -1)


def _half_bytes(t: torch.Tensor) -> torch.Tensor:
    """float [rows, blocks] -> the bytes of its float16 values, uint8 [rows, blocks, 2]."""
    return t.to(torch.float16).contiguous().unsqueeze(-1).view(torch.uint8)


def interleave_rows(blocks: np.ndarray | torch.Tensor, kind: str) -> torch.Tensor:
    """GGUF rows of `kind` blocks uint8 [out, in / 32 * size] -> rows interleaved eight at a time as
    openweight's kernels take them (quant.blocks.cpp), uint8 [groups, in / 32 * size * 8]: for each
    block position the 8 rows' scales field by field (16 bytes each), then their codes in chunks of 4
    bytes a row. Rows past `out` (to fill the last group) are zero bytes: weights 0. Done a slice of
    rows at a time into the result, so that a large table (SmolLM2's 30 MiB embedding) needs no
    full-size temporaries besides it; `blocks` may be anything that slices into such rows, such as
    weights.gguf_file.FileRows, which reads each slice from the file alone."""
    groups = -(-blocks.shape[0] // GROUP_ROWS)
    out = torch.empty(groups, blocks.shape[1] * GROUP_ROWS, dtype=torch.uint8)
    step = 256  # groups a slice
    for start in range(0, groups, step):
        rows = block_tensor(blocks[start * GROUP_ROWS:(start + step) * GROUP_ROWS])
        out[start:start + step] = _interleave_slice(rows, kind)
    return out


def _interleave_slice(blocks: torch.Tensor, kind: str) -> torch.Tensor:
    """interleave_rows on rows few enough to copy freely."""
    size, head = BLOCK_BYTES[kind], SCALE_BYTES[kind]
    groups, blocks_per_row = -(-blocks.shape[0] // GROUP_ROWS), blocks.shape[1] // size
    blocks = torch.nn.functional.pad(blocks, (0, 0, 0, groups * GROUP_ROWS - blocks.shape[0]))  # zero rows
    b = blocks.reshape(groups, GROUP_ROWS, blocks_per_row, size).transpose(1, 2)
    fields = [b[..., i:i + 2].reshape(groups, blocks_per_row, 2 * GROUP_ROWS) for i in range(0, head, 2)]
    codes = b[..., head:].unflatten(-1, (-1, 4)).transpose(2, 3)  # [groups, blocks, chunks, 8 rows, 4]
    return torch.cat(fields + [codes.reshape(groups, blocks_per_row, -1)], -1).view(groups, -1)


def deinterleave_rows(groups: torch.Tensor, kind: str) -> torch.Tensor:
    """interleave_rows undone: uint8 [groups, bytes] -> GGUF rows [groups * 8, in / 32 * size]."""
    size, head = BLOCK_BYTES[kind], SCALE_BYTES[kind]
    count, blocks_per_row = groups.shape[0], groups.shape[1] // (size * GROUP_ROWS)
    b = groups.view(count, blocks_per_row, size * GROUP_ROWS)
    fields = [b[..., GROUP_ROWS * i:GROUP_ROWS * (i + 2)].view(count, blocks_per_row, GROUP_ROWS, 2)
              for i in range(0, head, 2)]
    codes = b[..., head * GROUP_ROWS:].view(count, blocks_per_row, -1, GROUP_ROWS, 4).transpose(2, 3)
    rows = torch.cat(fields + [codes.reshape(count, blocks_per_row, GROUP_ROWS, -1)], -1)  # [groups, blocks, 8, size]
    return rows.transpose(1, 2).reshape(count * GROUP_ROWS, blocks_per_row * size)


def decode_blocks(blocks: torch.Tensor, kind: str) -> torch.Tensor:
    """GGUF Q4_1 or Q8_0 bytes uint8 [..., out, in / 32 * bytes] -> float32 weights [..., out, in]."""
    b = blocks.unflatten(-1, (-1, BLOCK_BYTES[kind]))  # [..., out, blocks, size]
    d = b[..., 0:2].contiguous().view(torch.float16).float()  # [..., out, blocks, 1]
    if kind == "q4_1":
        m = b[..., 2:4].contiguous().view(torch.float16).float()
        nibbles = b[..., 4:]
        w = torch.cat((nibbles & 0xF, nibbles >> 4), -1).float() * d + m  # [..., out, blocks, 32]
    else:
        w = b[..., 2:].contiguous().view(torch.int8).float() * d
    return w.flatten(-2)


def blocks_linear(x: torch.Tensor, groups: torch.Tensor, kind: str, out_features: int,
                  bias: torch.Tensor | None) -> torch.Tensor:
    """x [..., in] @ `kind` blocks, rows interleaved by eight (interleave_rows) [groups, bytes] (+ bias)
    -> [..., out_features] in x's dtype, on openweight's kernels (quant.kernels)."""
    matmul = kernels.q4_1x8_matmul if kind == "q4_1" else kernels.q8_0x8_matmul
    y = matmul(x.reshape(-1, x.shape[-1]), groups)  # float32 [tokens, groups * 8]
    if y.shape[-1] != out_features:
        y = y[:, :out_features]
    if bias is not None:
        y = y + bias
    return y.to(x.dtype).view(*x.shape[:-1], out_features)


def decode_groups(groups: torch.Tensor, kind: str, out_features: int) -> torch.Tensor:
    """Blocks with rows interleaved by eight -> float32 weights [out_features, in]."""
    return decode_blocks(deinterleave_rows(groups, kind)[:out_features], kind)


def q4_1_fields(blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GGUF Q4_1 bytes uint8 [out, in / 32 * 20] -> (codes uint8 [out, in] in 0..15, d and m float32
    [out, in / 32]), w = d * q + m. A block is d (fp16), m (fp16) and 16 bytes whose low nibbles are
    weights 0..15 and high nibbles weights 16..31 of the block."""
    b = blocks.view(blocks.shape[0], -1, 20)
    d, m = (b[..., i:i + 2].contiguous().view(torch.float16)[..., 0].float() for i in (0, 2))  # [out, groups]
    nibbles = b[..., 4:]  # [out, groups, 16]
    return torch.cat((nibbles & 0xF, nibbles >> 4), -1).view(blocks.shape[0], -1), d, m


def pytorch_int4(in_features: int, codes_of: Callable[[int, int], torch.Tensor], scale: torch.Tensor,
                 zero: torch.Tensor) -> dict[str, torch.Tensor]:
    """Codes in 0..15 [out, in] (per slice of rows, pack_int4) with scale, zero float [out, groups],
    w = (q - 8) * scale + zero -> PyTorch's 4-bit kernel's `packed` weights and `scale_zero`
    [groups, out, 2]: (scale, zero) per group and output row, as the kernel reads them."""
    out_features, groups = scale.shape
    padded = -out_features % _ROWS
    if padded:  # padding rows' scale and zero are 0
        scale, zero = (torch.cat((t, t.new_zeros(padded, groups))) for t in (scale, zero))
    # (cast first: the float32 copies of a 50k-row output layer's would add tens of MB to the load's peak)
    scale_zero = torch.stack((scale.to(torch.bfloat16), zero.to(torch.bfloat16)), -1).transpose(0, 1).contiguous()
    return {"packed": pack_int4(out_features, in_features, codes_of), "scale_zero": scale_zero}


class Int4Linear(torch.nn.Module):
    BLOCK_KIND = "q4_1"  # the GGUF blocks it holds for openweight's kernel

    def __init__(self, out_features: int, in_features: int, group_size: int, bias: torch.Tensor | None,
                 **weights: torch.Tensor):
        """weights: `blocks`, GGUF Q4_1 blocks with rows interleaved by eight (interleave_rows) for
        openweight's kernel, or `packed` and `scale_zero` for PyTorch's (from_codes makes either)."""
        super().__init__()
        self.out_features, self.in_features, self.group_size = out_features, in_features, group_size
        self.register_buffer("bias", bias)
        for name, t in weights.items():
            self.register_buffer(name, t)

    @classmethod
    def from_codes(cls, codes: torch.Tensor | Callable[[int, int], torch.Tensor], scale: torch.Tensor,
                   zero: torch.Tensor, group_size: int, bias: torch.Tensor | None) -> Int4Linear:
        """codes integers [out, in] in 0..15 (uint8 keeps big layers small), or a function of
        (start, stop) giving those rows (pack_int4); scale, zero float [out, in // group_size]:
        w = (q - 8) * scale + zero."""
        if group_size not in INT4_GROUP_SIZES:
            raise ValueError(f"int4 group_size must be one of {INT4_GROUP_SIZES}, got {group_size}")
        out_features, in_features = len(scale), scale.shape[1] * group_size
        rows_of = codes if callable(codes) else lambda start, stop: codes[start:stop]
        if kernels.available():  # Q4_1 blocks of 32: a larger group's scale repeats in each of its blocks
            d, m = (t.float().repeat_interleave(group_size // 32, 1) for t in (scale, zero - 8 * scale))
            blocks = interleave_rows(q4_1_blocks(out_features, rows_of, d, m), "q4_1")
            return cls(out_features, in_features, group_size, bias, blocks=blocks)
        return cls(out_features, in_features, group_size, bias, **pytorch_int4(in_features, rows_of, scale, zero))

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None = None, group_size: int = 32) -> Int4Linear:
        """Asymmetric quantization per group: the group's minimum maps to code 0, its maximum to 15."""
        out_features, in_features = weight.shape
        w = _groups(weight, group_size, "int4")  # [out, groups, g]
        low, high = w.amin(-1), w.amax(-1)
        scale = (high - low) / 15
        codes = torch.round((w - low[..., None]) / scale.clamp(min=1e-12)[..., None]).clamp(0, 15)
        return cls.from_codes(codes.view(out_features, in_features).to(torch.uint8), scale, low + 8 * scale,
                              group_size, None if bias is None else bias.detach().float())

    @classmethod
    def from_q4_1(cls, blocks: np.ndarray | torch.Tensor, bias: torch.Tensor | None = None) -> Int4Linear:
        """GGUF Q4_1 bytes [out, in / 32 * 20] (block_tensor) -> the layer, no float weights in between:
        the blocks as they are, rows interleaved, for openweight's kernel; codes and scales repacked for
        PyTorch's (q4_1_fields)."""
        if kernels.available():  # (read a slice of rows at a time: interleave_rows)
            in_features = blocks.shape[1] // BLOCK_BYTES["q4_1"] * 32
            return cls(blocks.shape[0], in_features, 32, bias, blocks=interleave_rows(blocks, "q4_1"))
        codes, d, m = q4_1_fields(block_tensor(blocks))  # uint8 [out, row bytes]
        return cls.from_codes(codes, d, m + 8 * d, 32, bias)

    def dequantized(self) -> torch.Tensor:
        """The float weights [out, in] the kernel computes with, exactly."""
        if hasattr(self, "blocks"):
            return decode_groups(self.blocks, self.BLOCK_KIND, self.out_features)
        # (PyTorch's kernel, scale and zero in bfloat16: its float32 path on the identity)
        eye = torch.eye(self.in_features)
        return int4_matmul(eye, self.packed, self.group_size, self.scale_zero.float(), self.out_features).t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "blocks"):
            return blocks_linear(x, self.blocks, self.BLOCK_KIND, self.out_features, self.bias)
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16).contiguous()  # [tokens, in]
        y = int4_matmul(flat, self.packed, self.group_size, self.scale_zero, self.out_features)  # bfloat16
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.to(x.dtype).view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, int4, "
                f"group_size={self.group_size}")


class Int8Linear(torch.nn.Module):
    BLOCK_KIND = "q8_0"  # the GGUF blocks it holds for openweight's kernel

    def __init__(self, out_features: int, in_features: int, group_size: int, bias: torch.Tensor | None, *,
                 blocks: torch.Tensor | None = None, halves: Int4Linear | None = None):
        """Either `blocks`, GGUF Q8_0 blocks with rows interleaved by eight (interleave_rows) for
        openweight's kernel, or `halves` on PyTorch's 4-bit kernel (from_codes makes either)."""
        super().__init__()
        self.out_features, self.in_features, self.group_size = out_features, in_features, group_size
        if blocks is not None:
            self.register_buffer("bias", bias)
            self.register_buffer("blocks", blocks)
        else:
            self.halves = halves

    @classmethod
    def from_codes(cls, codes: torch.Tensor, scale: torch.Tensor, group_size: int,
                   bias: torch.Tensor | None) -> Int8Linear:
        """codes int8 [out, in] in -127..127; scale float [out, in // group_size]: w = scale * q."""
        out_features, in_features = codes.shape
        q = codes.to(torch.int8)
        if kernels.available():  # Q8_0 blocks of 32: a larger group's scale repeats in each of its blocks
            d = scale.float().repeat_interleave(group_size // 32, 1)
            return cls(out_features, in_features, group_size, bias, blocks=interleave_rows(q8_0_blocks(q, d), "q8_0"))

        def halves(start: int, stop: int) -> torch.Tensor:
            # q = 16 * (high - 8) + low, both in 0..15: [rows, 2 * in] holds high then low, made a slice
            # of rows at a time (pack_int4).
            rows = q[start:stop]
            return torch.cat((torch.bitwise_right_shift(rows, 4) + 8, torch.bitwise_and(rows, 15)), 1)

        zeros = torch.zeros_like(scale)
        # high halves: (code - 8) * 16s + 0; low halves: (code - 8) * s + 8s = code * s.
        return cls(out_features, in_features, group_size, None,
                   halves=Int4Linear.from_codes(halves, torch.cat((16 * scale, scale), 1),
                                                torch.cat((zeros, 8 * scale), 1), group_size, bias))

    @classmethod
    def from_float(cls, weight: torch.Tensor, bias: torch.Tensor | None = None, group_size: int = 32) -> Int8Linear:
        """Symmetric quantization per group: the group's largest magnitude maps to 127."""
        out_features, in_features = weight.shape
        w = _groups(weight, group_size, "int8")  # [out, groups, g]
        scale = w.abs().amax(-1).clamp(min=1e-12) / 127
        codes = torch.round(w / scale[..., None]).clamp(-127, 127)
        return cls.from_codes(codes.view(out_features, in_features).to(torch.int8), scale, group_size,
                              None if bias is None else bias.detach().float())

    @classmethod
    def from_q8_0(cls, blocks: np.ndarray | torch.Tensor, bias: torch.Tensor | None = None) -> Int8Linear:
        """GGUF Q8_0 bytes [out, in / 32 * 34] (block_tensor) -> the layer: the blocks as they are, rows
        interleaved, for openweight's kernel; codes and scales repacked for PyTorch's."""
        if kernels.available():
            in_features = blocks.shape[1] // BLOCK_BYTES["q8_0"] * 32
            return cls(blocks.shape[0], in_features, 32, bias, blocks=interleave_rows(blocks, "q8_0"))
        return cls.from_codes(*q8_0_codes(block_tensor(blocks)), 32, bias)

    @classmethod
    def from_embedding(cls, embedding: Int8Embedding, bias: torch.Tensor | None = None) -> Int8Linear:
        """A tied output layer: on openweight's kernel it multiplies the embedding's very bytes."""
        if embedding.interleaved:
            vocab, hidden = embedding.shape
            return cls(vocab, hidden, 32, bias, blocks=embedding.blocks)
        return cls.from_q8_0(embedding.blocks, bias)

    def dequantized(self) -> torch.Tensor:
        """The float weights [out, in] the kernel computes with, exactly."""
        if hasattr(self, "blocks"):
            return decode_groups(self.blocks, self.BLOCK_KIND, self.out_features)
        both = self.halves.dequantized()  # [out, 2 * in]  (scales in bfloat16)
        return both[:, : self.in_features] + both[:, self.in_features:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "blocks"):
            return blocks_linear(x, self.blocks, self.BLOCK_KIND, self.out_features, self.bias)
        return self.halves(torch.cat((x, x), -1))  # [.., in] twice over: the high and the low halves

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, int8, "
                f"group_size={self.group_size}")


def quantized_linear(weight: torch.Tensor, bias: torch.Tensor | None, mode: str, group_size: int = 32):
    """A float weight [out, in] (and bias) as an Int8Linear or Int4Linear, or None where the input
    features do not split into groups (llama.cpp too keeps such a tensor in another type)."""
    if mode not in ("int8", "int4"):
        raise ValueError(f"quantize must be 'int8' or 'int4', got {mode!r}")
    if weight.shape[1] % group_size:
        return None
    return (Int8Linear if mode == "int8" else Int4Linear).from_float(weight, bias, group_size)

