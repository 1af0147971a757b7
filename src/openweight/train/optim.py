"""Optimizers: AdamW everywhere, or Muon on the 2-D hidden matrices with AdamW on the rest."""

from __future__ import annotations

import torch


def muon_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """(hidden 2-D matrices, everything else): embeddings, the output layer, norms, biases, sinks and
    3-D expert tensors stay with AdamW, as Muon orthogonalizes whole matrices."""
    hidden, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_hidden = p.ndim == 2 and ".layers." in f".{name}" and "embed" not in name
        (hidden if is_hidden else rest).append(p)
    return hidden, rest


def build_optimizers(model: torch.nn.Module, kind: str, lr: float, weight_decay: float,
                     betas: tuple[float, float] = (0.9, 0.95)) -> list[torch.optim.Optimizer]:
    """One or two optimizers; with Muon, its updates are scaled to AdamW's RMS so one lr serves both."""
    if kind == "adamw":
        decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
        return [torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas)]
    if kind == "muon":
        hidden, rest = muon_parameters(model)
        return [torch.optim.Muon(hidden, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"),
                torch.optim.AdamW(rest, lr=lr, betas=betas, weight_decay=0.0)]
    raise ValueError(f"optimizer must be 'adamw' or 'muon', got {kind!r}")
