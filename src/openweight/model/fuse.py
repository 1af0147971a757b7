"""Fused projections for inference: one matmul for q, k and v, one for gate and up.

Decoding multiplies a single token by every weight matrix, so each matmul call costs about as much
in setup as in arithmetic; joining the matrices that read the same input halves the calls. A fused
model keeps its outputs but no longer has `transformers`' parameter names, so it is for running,
not saving.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike

from .attention import Attention
from .mlp import GatedMLP

PARTS = {Attention: ("qkv_proj", ("q_proj", "k_proj", "v_proj")),
         GatedMLP: ("gate_up_proj", ("gate_proj", "up_proj"))}


def _joined(layers: list[torch.nn.Linear]) -> torch.nn.Linear:
    """One linear layer for these, their parts as they are: meta weights (a layer the quantizer builds
    from its file blocks) stay meta, and nothing is initialised only to be overwritten."""
    weights = [layer.weight for layer in layers]
    if any(w.is_meta for w in weights):  # torch.cat on meta tensors would import PyTorch's meta kernels (~4 s)
        weight = torch.empty(sum(w.shape[0] for w in weights), weights[0].shape[1], device="meta",
                             dtype=weights[0].dtype)
    else:
        weight = torch.cat(weights)  # [sum of outs, in]
    biases = [layer.bias for layer in layers]
    fused = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=biases[0] is not None, device="meta")
    fused.weight = torch.nn.Parameter(weight, requires_grad=False)
    if fused.bias is not None:
        fused.bias = torch.nn.Parameter(torch.cat(biases), requires_grad=False)
    return fused


def fused_with(weight_name: str) -> list[str]:
    """The weights fuse_projections joins into one with this one, itself included, by name."""
    module, _, leaf = weight_name.rpartition(".")
    parent, _, part = module.rpartition(".")
    names = next((names for _, names in PARTS.values() if part in names), None)
    return [weight_name] if names is None else [f"{parent}.{n}.{leaf}" for n in names]


@torch.no_grad()
def fuse_projections(model: torch.nn.Module, blocks: dict[str, tuple[str, ArrayLike]] | None = None,
                     prefix: str = "") -> dict[str, tuple[str, ArrayLike]]:
    """Fuse every attention's q/k/v and every gated MLP's gate/up, in place. `blocks` (quantized
    rows by parameter name, with their type: weights.gguf_file.gguf_quantized_blocks) are joined in
    place the same way where all parts have one type, and returned; `prefix` is the model's name for
    `model`, when that is a part of it."""
    blocks = {} if blocks is None else blocks
    for name, module in model.named_modules(prefix=prefix):
        if type(module) not in PARTS or is_fused(module):
            continue
        fused_name, names = PARTS[type(module)]
        setattr(module, fused_name, _joined([getattr(module, n) for n in names]))
        module.fused_sizes = [getattr(module, n).out_features for n in names]
        parts = [blocks.pop(f"{name}.{n}.weight", None) for n in names]
        if all(parts) and len({kind for kind, _ in parts}) == 1:
            blocks[f"{name}.{fused_name}.weight"] = parts[0][0], np.concatenate([rows for _, rows in parts])
        for n in names:
            delattr(module, n)
    return blocks


def is_fused(model: torch.nn.Module) -> bool:
    return any(getattr(m, "fused_sizes", None) for m in model.modules())
