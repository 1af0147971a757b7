"""QK-clip (Kimi K2's MuonClip): keep attention logits bounded by shrinking a head's query weights.

During each step every attention layer records its largest logit per head; after the optimizer
step, a head whose logit passed `tau` has its query projection (weights and bias) scaled by
tau / max_logit, which scales that head's logits by the same factor. Keys are shared by the heads
of a GQA group, so they are left alone.
"""

from __future__ import annotations

import torch

from ..model.attention import Attention


def start_tracking(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, Attention):
            module.max_logits = torch.full((module.heads,), float("-inf"))


@torch.no_grad()
def clip(model: torch.nn.Module, tau: float) -> int:
    """Rescale the heads over tau and start a new record; returns how many heads were clipped."""
    clipped = 0
    for module in model.modules():
        if not isinstance(module, Attention) or module.max_logits is None:
            continue
        factor = (tau / module.max_logits).clamp(max=1.0)  # [heads]
        over = factor < 1
        if over.any():
            rows = factor.repeat_interleave(module.head_dim)[:, None]  # q_proj rows are head-major
            module.q_proj.weight.mul_(rows)
            if module.q_proj.bias is not None:
                module.q_proj.bias.mul_(rows[:, 0])
            clipped += int(over.sum())
        module.max_logits = torch.full((module.heads,), float("-inf"))
    return clipped
