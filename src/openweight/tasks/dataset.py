"""Mixtures of task conversations for supervised fine-tuning, fixed by a seed."""

from __future__ import annotations

import random

from . import FAMILIES
from .traces import EFFORTS, conversation


def task_conversations(count: int, seed: int, weights: dict[str, float], tool_fraction: float = 0.2,
                       split: str = "train") -> list[list[dict]]:
    """`count` conversations: families drawn by `weights`, difficulty and effort uniformly, and the
    calculate tool offered in `tool_fraction` of them. The same seed gives the same conversations."""
    rng = random.Random(seed)
    names = list(weights)
    out = []
    for _ in range(count):
        family = FAMILIES[rng.choices(names, [weights[n] for n in names])[0]]
        problem = family.sample(rng, split=split)
        effort = rng.choice(EFFORTS)
        out.append(conversation(problem, effort, rng, with_tool=rng.random() < tool_fraction))
    return out
