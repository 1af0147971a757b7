"""Training examples (token ids with a loss mask) and the batch of every step, fixed by seed and step."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Example:
    ids: list[int]
    mask: list[bool]  # True where the model learns to predict this token


def pretraining_examples(texts: Iterable[str], tokenizer, context: int) -> list[Example]:
    """Plain text for pretraining: every text's tokens followed by the end-of-text token, all run
    together and cut into sequences of `context` tokens (a shorter last one kept), every token learnt."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("pretraining needs a tokenizer with an end-of-text token to separate the texts")
    if context < 2:
        raise ValueError(f"context must be at least 2 tokens, got {context}")
    stream = [token for text in texts for token in (*tokenizer.encode(text, add_special_tokens=False), eos)]
    chunks = [stream[i:i + context] for i in range(0, len(stream), context)]
    return [Example(chunk, [True] * len(chunk)) for chunk in chunks if len(chunk) >= 2]


class Batches:
    """The micro-batches of step s are a function of (seed, s): a resumed run sees what it would have seen.

    Each epoch is a seeded permutation of the examples; a step takes the next global batch of
    `batch_size * accumulation * world` examples; rank r of `world` takes every world-th of them.
    """

    def __init__(self, examples: list[Example], batch_size: int, accumulation: int, seed: int, pad_id: int = 0,
                 window: int = 0):
        if not examples:
            raise ValueError("no training examples")
        self.examples, self.batch_size, self.accumulation = examples, batch_size, accumulation
        self.seed, self.pad_id, self.window = seed, pad_id, window
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        """A seeded shuffle; with `window`, each window of examples is sorted by length and cut into
        steps whose order is shuffled again: a step's sequences are alike in length (little padding),
        consecutive steps are not."""
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.examples)))
        rng.shuffle(order)
        if not self.window:
            return order
        per_step = self.batch_size * self.accumulation
        out = []
        for start in range(0, len(order), self.window):
            window = sorted(order[start:start + self.window], key=lambda i: len(self.examples[i].ids))
            steps = [window[i:i + per_step] for i in range(0, len(window), per_step)]
            rng.shuffle(steps)
            out += [i for step in steps for i in step]
        return out

    def step_examples(self, step: int, world: int = 1) -> list[Example]:
        per_step = self.batch_size * self.accumulation * world
        start = step * per_step
        out = []
        for i in range(start, start + per_step):
            epoch, index = divmod(i, len(self.examples))
            if epoch not in self._orders:
                self._orders = {epoch: self._order(epoch)}  # one epoch at a time is all a run needs
            out.append(self.examples[self._orders[epoch][index]])
        return out

    def micro_batches(self, step: int, rank: int = 0, world: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(input ids [b, t], targets [b, t] with -100 where nothing is learnt)] for this rank."""
        mine = self.step_examples(step, world)[rank::world]
        return [collate(mine[i:i + self.batch_size], self.pad_id)
                for i in range(0, len(mine), self.batch_size)]


def collate(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded inputs and next-token targets (-100 = ignored)."""
    length = max(len(e.ids) for e in examples) - 1
    inputs = torch.full((len(examples), length), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), length), -100, dtype=torch.long)
    for row, e in enumerate(examples):
        ids = torch.tensor(e.ids)
        learn = torch.tensor(e.mask[1:])
        inputs[row, : len(e.ids) - 1] = ids[:-1]
        targets[row, : len(e.ids) - 1] = torch.where(learn, ids[1:], -100)
    return inputs, targets
