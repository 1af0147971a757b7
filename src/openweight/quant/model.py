"""Quantize a loaded model in place: every linear layer and every expert, weights only."""

from __future__ import annotations

import torch
from numpy.typing import ArrayLike

from ..model.fuse import fused_with
from ..model.mlp import Experts, clamped_swiglu, pick
from .embedding import Int8Embedding
from . import kernels
from .linear import Int4Linear, Int8Linear, blocks_linear, decode_groups, int4_matmul, quantized_linear

MODES = ("int8", "int4")


def _quantized_or_float(weight: torch.Tensor, bias: torch.Tensor | None, mode: str, group_size: int):
    """The weight quantized, or as a float layer where its input features do not split into groups."""
    layer = quantized_linear(weight, bias, mode, group_size)
    if layer is None:
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
    return layer


class StackedLinear(torch.nn.Module):
    """The same quantized layer of every expert, buffers stacked on a leading expert axis, so that an
    expert is picked by a tensor index inside a compiled graph as well as by an int."""

    def __init__(self, layers: list[torch.nn.Module]):
        super().__init__()
        first = layers[0]
        if any(type(layer) is not type(first) for layer in layers):
            raise ValueError("experts must share one layer type to be stacked")
        self.in_features, self.out_features = first.in_features, first.out_features
        # GGUF blocks for openweight's kernel (quant.kernels), or PyTorch's 4-bit packing, where int8 runs
        # as two 4-bit halves of a doubled input.
        self.kind = first.BLOCK_KIND if hasattr(first, "blocks") else None
        self.doubled = isinstance(first, Int8Linear) and self.kind is None
        cores = [layer.halves for layer in layers] if self.doubled else layers
        biases = [core.bias for core in cores]
        self.register_buffer("bias", None if biases[0] is None else torch.stack(biases))  # [experts, out]
        self.group_size = None if isinstance(first, torch.nn.Linear) else first.group_size
        if self.group_size is None:  # too narrow to quantize: float weights [experts, out, in]
            self.register_buffer("weight", torch.stack([layer.weight.detach() for layer in layers]))
        elif self.kind:
            self.register_buffer("blocks", torch.stack([layer.blocks for layer in layers]))  # [experts, groups, bytes]
        else:
            self.register_buffer("packed", torch.stack([core.packed for core in cores]))
            self.register_buffer("scale_zero", torch.stack([core.scale_zero for core in cores]))

    def forward(self, e: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Expert e's layer on x [tokens, in] -> [tokens, out]."""
        if self.group_size is None:
            return torch.nn.functional.linear(x, pick(self.weight, e), None if self.bias is None else pick(self.bias, e))
        if self.kind:
            return blocks_linear(x, pick(self.blocks, e), self.kind, self.out_features,
                                 None if self.bias is None else pick(self.bias, e))
        flat = x.to(torch.bfloat16).contiguous()
        if self.doubled:
            flat = torch.cat((flat, flat), -1)
        y = int4_matmul(flat, pick(self.packed, e), self.group_size, pick(self.scale_zero, e), self.out_features)
        if self.bias is not None:
            y = y + pick(self.bias, e).to(y.dtype)
        return y.to(x.dtype)

    def routed(self, x: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        """Row r of x [rows, in] through expert experts[r]'s layer -> float32 [rows, out], in one call of
        openweight's kernels (self.kind only)."""
        matmul = kernels.q4_1x8_expert_matmul if self.kind == "q4_1" else kernels.q8_0x8_expert_matmul
        y = matmul(x, self.blocks, experts)
        if y.shape[-1] != self.out_features:
            y = y[:, :self.out_features]
        return y if self.bias is None else y + self.bias.index_select(0, experts)

    def dequantized(self, e: int) -> torch.Tensor:
        """Expert e's float weights [out, in], as the kernel computes with them."""
        if self.group_size is None:
            return self.weight[e]
        if self.kind:
            return decode_groups(self.blocks[e], self.kind, self.out_features)
        width = self.in_features * (2 if self.doubled else 1)
        w = int4_matmul(torch.eye(width), self.packed[e], self.group_size, self.scale_zero[e].float(),
                        self.out_features).t()
        return w[:, : self.in_features] + w[:, self.in_features:] if self.doubled else w


class QuantizedExperts(torch.nn.Module):
    """gpt-oss experts with quantized weights; same `expert(e, x)` as model.mlp.Experts."""

    def __init__(self, experts: Experts, mode: str, group_size: int):
        super().__init__()
        # Experts keep weights as [experts, in, out]; a linear layer wants [out, in].
        self.gate_up = StackedLinear([_quantized_or_float(w.t(), b, mode, group_size)
                                      for w, b in zip(experts.gate_up_proj, experts.gate_up_proj_bias)])
        self.down = StackedLinear([_quantized_or_float(w.t(), b, mode, group_size)
                                   for w, b in zip(experts.down_proj, experts.down_proj_bias)])
        self.alpha, self.limit = experts.alpha, experts.limit

    @property
    def routes_on_kernels(self) -> bool:
        """Whether routed() serves: both layers are blocks for openweight's kernels."""
        return bool(self.gate_up.kind and self.down.kind)

    def expert(self, e: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.down(e, clamped_swiglu(self.gate_up(e, x), self.alpha, self.limit))

    def routed(self, x: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x [tokens, hidden] through the experts chosen for each token [tokens, k], mixed by their
        weights [tokens, k] -> [tokens, hidden]. One kernel call per layer for every (token, slot)
        pair: no expert's weights copied or picked in Python, and no shape that depends on the data,
        so a compiled graph takes it whole at any number of tokens."""
        tokens, k = chosen.shape
        rows, experts = x.repeat_interleave(k, 0), chosen.reshape(-1)  # [tokens * k, hidden], [tokens * k]
        inner = clamped_swiglu(self.gate_up.routed(rows, experts), self.alpha, self.limit)
        y = self.down.routed(inner, experts).view(tokens, k, -1)  # [tokens, k, hidden]
        return (y * weights.unsqueeze(-1)).sum(1).to(x.dtype)


# (GGUF block type, a layer's mode) pairs whose codes the quantized layer takes as they are.
_FROM_CODES = {("Q4_1", "int4"), ("Q8_0", "int8")}


def _layer_mode(weight_name: str, mode: str) -> str:
    return "int8" if weight_name == "lm_head.weight" else mode  # the output layer keeps 8 bits, as llama.cpp's


def kept_as_codes(blocks: dict[str, tuple[str, ArrayLike]], mode: str | None) -> frozenset[str]:
    """The weights quantize(mode) builds from their blocks alone, never reading their float values: an
    embedding stored as Q8_0 (quant.embedding.Int8Embedding), and a linear layer's weight stored in the
    type its layer gets, where the parts fused with it (model.fuse) have that type too."""
    def kind(name: str) -> str | None:
        return blocks.get(name, (None, None))[0]

    kept = set()
    for name, (stored, _) in blocks.items():
        if name.endswith("embed_tokens.weight"):
            if stored == "Q8_0":
                kept.add(name)
        elif mode is not None and (stored, _layer_mode(name, mode)) in _FROM_CODES \
                and all(kind(part) == stored for part in fused_with(name)):
            kept.add(name)
    return frozenset(kept)


def quantize(model: torch.nn.Module, mode: str, group_size: int = 32,
             blocks: dict[str, tuple[str, ArrayLike]] | None = None, prefix: str = "") -> torch.nn.Module:
    """Replace the linear layers and experts of `model` by weight-only int8 or int4 versions (the
    output projection by int8 in either mode: 4 bits there cost the most quality for the least
    memory); norms, routers and sinks stay as they are, and so do embeddings, except one stored as
    Q8_0 blocks, which keeps its codes (quant.embedding, exact). Returns the model.

    blocks: a GGUF's Q4_1 / Q8_0 rows by weight name (weights.gguf_file.gguf_quantized_blocks); with
    groups of 32, a layer stored in the type it gets takes the file's codes as they are. `prefix`:
    the model's name for `model`, when that is a part of it.
    """
    if mode not in MODES:
        raise ValueError(f"quantize must be one of {MODES}, got {mode!r}")
    exact = (blocks or {}) if group_size == 32 else {}
    embeddings: dict[int, Int8Embedding] = {}  # by their file rows: a tied output layer shares their bytes

    children = [(parent_name, parent, name, child) for parent_name, parent in list(model.named_modules(prefix=prefix))
                for name, child in parent.named_children()]
    children.sort(key=lambda item: not isinstance(item[3], torch.nn.Embedding))  # embeddings first, for a tie
    for parent_name, parent, name, child in children:
        weight_name = f"{parent_name}.{name}.weight" if parent_name else f"{name}.weight"
        if isinstance(child, torch.nn.Linear):
            layer_mode = _layer_mode(weight_name, mode)
            kind, rows = exact.get(weight_name, (None, None))
            if (kind, layer_mode) not in _FROM_CODES:
                layer = _quantized_or_float(child.weight, child.bias, layer_mode, group_size)
            elif kind == "Q4_1":
                layer = Int4Linear.from_q4_1(rows, child.bias)
            elif id(rows) in embeddings:
                layer = Int8Linear.from_embedding(embeddings[id(rows)], child.bias)
            else:
                layer = Int8Linear.from_q8_0(rows, child.bias)
            setattr(parent, name, layer)
        elif isinstance(child, torch.nn.Embedding) and exact.get(weight_name, (None,))[0] == "Q8_0":
            rows = exact[weight_name][1]
            embeddings[id(rows)] = Int8Embedding.from_q8_0(rows, child.weight.dtype)
            setattr(parent, name, embeddings[id(rows)])
        elif isinstance(child, Experts):
            setattr(parent, name, QuantizedExperts(child, mode, group_size))
    return model


def is_quantized(model: torch.nn.Module) -> bool:
    return any(isinstance(m, (Int4Linear, Int8Linear, Int8Embedding, QuantizedExperts)) for m in model.modules())
