"""QK-clip (Kimi K2's MuonClip): keep attention logits bounded by shrinking a head's query weights.

During each step every attention layer records its largest logit per head; after the optimizer
step, a head whose logit passed `tau` has its query projection (weights and bias) scaled by
tau / max_logit, which scales that head's logits by the same factor. Keys are shared by the heads
of a GQA group, so they are left alone. Under torchrun every rank sees its own batch, so the ranks
take the largest logit of them all and scale alike.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor, Replicate, distribute_tensor

from ..model.attention import Attention


def start_tracking(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, Attention):
            module.max_logits = torch.full((module.heads,), float("-inf"))


@torch.no_grad()
def clip(model: torch.nn.Module, tau: float) -> int:
    """Rescale the heads over tau and start a new record; returns how many heads were clipped."""
    layers = [m for m in model.modules() if isinstance(m, Attention) and m.max_logits is not None]
    if not layers:
        return 0
    largest = torch.stack([m.max_logits for m in layers])  # [layers, heads]
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(largest, op=dist.ReduceOp.MAX)
    factors = (tau / largest).clamp(max=1.0)
    for module, factor in zip(layers, factors):
        if (factor < 1).any():
            rows = factor.repeat_interleave(module.head_dim)[:, None]  # q_proj rows are head-major
            _scale_rows(module.q_proj.weight, rows)
            if module.q_proj.bias is not None:
                _scale_rows(module.q_proj.bias, rows[:, 0])
        module.max_logits = torch.full((module.heads,), float("-inf"))
    return int((factors < 1).sum())


def _scale_rows(weight: torch.Tensor, rows: torch.Tensor) -> None:
    """weight *= rows, also where FSDP2 holds the weight as a DTensor sharded by rows."""
    if isinstance(weight, DTensor):
        rows = distribute_tensor(rows.to(weight.dtype), weight.device_mesh, [Replicate()] * weight.device_mesh.ndim)
    weight.mul_(rows)
