"""Mixtures of task conversations for supervised fine-tuning, fixed by a seed."""

from __future__ import annotations

import random

from . import families
from .traces import EFFORTS, TraceForms, conversation


def task_conversations(count: int, seed: int | str, weights: dict[str, float], tool_fraction: float = 0.2,
                       split: str = "train", difficulty_weights: dict[str, list[float]] | None = None,
                       variations: dict[str, float] | None = None,
                       forms: TraceForms = TraceForms()) -> list[list[dict]]:
    """`count` conversations: families drawn by `weights`, effort uniformly, and the calculate tool
    offered in `tool_fraction` of them. A family's difficulty is drawn by its `difficulty_weights`
    (one weight per level from 1), uniformly if it has none; `variations` gives the share of the
    arithmetic problems each of tasks.VARIATIONS applies to (tasks.families); `forms`, the trace
    forms (traces.TraceForms). The same seed gives the same conversations."""
    rng = random.Random(seed)
    names = list(weights)
    difficulty_weights = difficulty_weights or {}
    by_name = families(**(variations or {}))
    out = []
    for _ in range(count):
        family = by_name[rng.choices(names, [weights[n] for n in names])[0]]
        levels = difficulty_weights.get(family.name)
        level = rng.choices(range(1, len(levels) + 1), levels)[0] if levels else None
        problem = family.sample(rng, difficulty=level, split=split)
        effort = rng.choice(EFFORTS)
        out.append(conversation(problem, effort, rng, with_tool=rng.random() < tool_fraction,
                                forms=forms))
    return out
