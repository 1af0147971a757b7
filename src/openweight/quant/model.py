"""Quantize a loaded model in place: every linear layer and every expert, weights only."""

from __future__ import annotations

import numpy as np
import torch

from ..model.mlp import Experts, clamped_swiglu
from .linear import Int4Linear, Int8Linear, quantized_linear

MODES = ("int8", "int4")


class QuantizedExperts(torch.nn.Module):
    """gpt-oss experts with quantized weights; same `expert(e, x)` as model.mlp.Experts."""

    def __init__(self, experts: Experts, mode: str, group_size: int):
        super().__init__()
        # Experts keep weights as [experts, in, out]; a linear layer wants [out, in].
        self.gate_up = torch.nn.ModuleList(
            quantized_linear(w.t(), b, mode, group_size)
            for w, b in zip(experts.gate_up_proj, experts.gate_up_proj_bias))
        self.down = torch.nn.ModuleList(
            quantized_linear(w.t(), b, mode, group_size) for w, b in zip(experts.down_proj, experts.down_proj_bias))
        self.alpha, self.limit = experts.alpha, experts.limit

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        return self.down[e](clamped_swiglu(self.gate_up[e](x), self.alpha, self.limit))


def quantize(model: torch.nn.Module, mode: str, group_size: int = 32,
             q4_1: dict[str, np.ndarray] | None = None) -> torch.nn.Module:
    """Replace the linear layers and experts of `model` by weight-only int8 or int4 versions (the
    output projection by int8 in either mode: 4 bits there cost the most quality for the least
    memory); embeddings, norms, routers and sinks stay as they are. Returns the model.

    q4_1: GGUF Q4_1 blocks by weight name (weights.gguf_file.gguf_q4_1_blocks); in int4 with groups
    of 32 those layers take the file's 4-bit codes as they are instead of quantizing again.
    """
    if mode not in MODES:
        raise ValueError(f"quantize must be one of {MODES}, got {mode!r}")
    exact = (q4_1 or {}) if mode == "int4" and group_size == 32 else {}
    for prefix, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            weight_name = f"{prefix}.{name}.weight" if prefix else f"{name}.weight"
            if isinstance(child, torch.nn.Linear):
                if weight_name in exact:
                    layer = Int4Linear.from_q4_1(exact[weight_name], child.bias)
                elif weight_name == "lm_head.weight":  # the output projection keeps 8 bits, as llama.cpp's does
                    layer = quantized_linear(child.weight, child.bias, "int8")
                else:
                    layer = quantized_linear(child.weight, child.bias, mode, group_size)
                setattr(parent, name, layer)
            elif isinstance(child, Experts):
                setattr(parent, name, QuantizedExperts(child, mode, group_size))
    return model


def is_quantized(model: torch.nn.Module) -> bool:
    return any(isinstance(m, (Int4Linear, Int8Linear, QuantizedExperts)) for m in model.modules())
