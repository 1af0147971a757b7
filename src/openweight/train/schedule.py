"""Learning-rate schedules as a multiplier of the peak rate: warmup then cosine, or warmup-stable-decay."""

from __future__ import annotations

import math


def lr_multiplier(step: int, total: int, warmup: int, kind: str = "cosine", min_ratio: float = 0.1,
                  decay_fraction: float = 0.2) -> float:
    """Linear warmup over `warmup` steps, then cosine down to min_ratio, or (kind='wsd') flat until the
    last `decay_fraction` of training and a linear decay to min_ratio there."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if kind == "wsd":
        decay_start = total - int(decay_fraction * total)
        if step < decay_start:
            return 1.0
        return 1.0 - (1 - min_ratio) * (step - decay_start + 1) / max(1, total - decay_start)
    raise ValueError(f"schedule must be 'cosine' or 'wsd', got {kind!r}")
