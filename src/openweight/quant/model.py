"""Quantize a loaded model in place: every linear layer and every expert, weights only."""

from __future__ import annotations

import torch

from ..model.mlp import Experts, clamped_swiglu
from .linear import quantized_linear

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


def quantize(model: torch.nn.Module, mode: str, group_size: int = 32) -> torch.nn.Module:
    """Replace the linear layers (lm_head included) and experts of `model` by weight-only int8 or
    int4 versions; embeddings, norms, routers and sinks stay as they are. Returns the model."""
    if mode not in MODES:
        raise ValueError(f"quantize must be one of {MODES}, got {mode!r}")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, quantized_linear(child.weight, child.bias, mode, group_size))
            elif isinstance(child, Experts):
                setattr(parent, name, QuantizedExperts(child, mode, group_size))
    return model
