"""Held-out evaluation during training, by teacher forcing: one forward pass a conversation.

For each named set of examples: the loss per learnt token, and the share of examples whose every
learnt token is the model's first choice. The second is what greedy decoding would reproduce
token for token, so it tracks task accuracy (openweight-mini's runs rank alike by both; the
history in docs/openweight-mini) at a fraction of the cost of generating.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .data import Example, collate


@torch.no_grad()
def held_out_metrics(net: torch.nn.Module, sets: dict[str, list[Example]], batch_size: int, pad_id: int,
                     precision, rank: int = 0, world: int = 1) -> dict[str, float]:
    """{"heldout_<name>_loss": ..., "heldout_<name>_exact": ...} for each set. Under torchrun every
    rank takes part (FSDP needs each forward on all of them): each scores its share of a set and the
    sums are added up; a set's last examples beyond a multiple of the world size are left out."""
    was_training = net.training
    net.eval()  # no QK-clip tracking of these logits
    device = next(net.parameters()).device
    out = {}
    for name, examples in sets.items():
        ordered = sorted(examples[: len(examples) - len(examples) % world], key=lambda e: len(e.ids))
        mine = ordered[rank::world]  # alike lengths together: little padding
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # summed loss, learnt tokens, examples all right
        for i in range(0, len(mine), batch_size):
            inputs, targets = (t.to(device) for t in collate(mine[i: i + batch_size], pad_id))  # [b, t] each
            learnt = targets != -100
            with precision:
                logits = net(inputs, logits_at=learnt).float()  # [n, vocab]
            wanted = targets[learnt]  # [n]
            misses = torch.zeros(len(inputs), device=device).index_add_(
                0, learnt.nonzero()[:, 0], (logits.argmax(-1) != wanted).float())  # [b]
            sums += torch.tensor([F.cross_entropy(logits, wanted, reduction="sum").item(),
                                  float(learnt.sum()), float((misses == 0).sum())], dtype=torch.float64, device=device)
        if world > 1:
            dist.all_reduce(sums)
        out[f"heldout_{name}_loss"] = (sums[0] / max(sums[1].item(), 1)).item()
        out[f"heldout_{name}_exact"] = (sums[2] / max(len(ordered), 1)).item()
    net.train(was_training)
    return out
