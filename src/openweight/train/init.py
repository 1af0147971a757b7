"""Fresh weights for a new model: small normal matrices, zero biases and sinks, unit norms."""

from __future__ import annotations

import torch


def init_weights(model: torch.nn.Module, seed: int, std: float = 0.02) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif p.ndim == 1 or name.endswith("sinks"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    return model
