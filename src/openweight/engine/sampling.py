"""Turning next-token logits into tokens: penalties, temperature, top-k/top-p/min-p, seeded draws."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import GenerationError


@dataclass(frozen=True)
class SamplingParams:
    """temperature 0 means greedy; top_k 0, top_p 1, min_p 0 and repetition_penalty 1 switch a filter off."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "temperature": self.temperature >= 0,
            "top_k": isinstance(self.top_k, int) and self.top_k >= 0,
            "top_p": 0 < self.top_p <= 1,
            "min_p": 0 <= self.min_p <= 1,
            "repetition_penalty": self.repetition_penalty > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise GenerationError(f"sampling parameter '{name}' has an invalid value {getattr(self, name)!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def penalize_repeats(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty: seen tokens' logits move toward zero by `penalty` (seen: bool [b, vocab])."""
    if penalty == 1.0:
        return logits
    return torch.where(seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits)


def filter_logits(logits: torch.Tensor, p: SamplingParams) -> torch.Tensor:
    """Temperature then top-k, top-p and min-p, each setting the excluded logits to -inf. [b, vocab]"""
    logits = logits / p.temperature
    if p.top_k and p.top_k < logits.shape[-1]:
        kth = torch.topk(logits, p.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token once the tokens before it already hold top_p of the mass; the first always stays.
        drop_sorted = (probs.cumsum(-1) - probs) > p.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    if p.min_p > 0:
        probs = logits.softmax(-1)
        logits = logits.masked_fill(probs < p.min_p * probs.max(-1, keepdim=True).values, float("-inf"))
    return logits


def sample(logits: torch.Tensor, seen: torch.Tensor | None, p: SamplingParams,
           generator: torch.Generator | list[torch.Generator | None] | None) -> torch.Tensor:
    """One token per row of logits [b, vocab] -> [b]. seen (bool [b, vocab]) is read only for a
    repetition penalty. generator: one for all rows, or each row's own (a request's seed in a batch of
    many); None draws from torch's global generator."""
    if p.repetition_penalty != 1.0:
        logits = penalize_repeats(logits.float(), seen, p.repetition_penalty)
    if p.greedy:
        return logits.argmax(-1)
    probs = filter_logits(logits.float(), p).softmax(-1)
    return inverse_cdf(probs, uniforms(len(probs), generator))


def uniforms(rows: int, generator: torch.Generator | list[torch.Generator | None] | None) -> torch.Tensor:
    """One draw from [0, 1) a row -> [rows]: from one generator, or each row from its own."""
    if isinstance(generator, list):
        return torch.cat([torch.rand(1, generator=g) for g in generator])
    return torch.rand(rows, generator=generator)


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The token of each row of probs [b, vocab] where its cumulative probability first exceeds
    u [b] of the total: a token of probability 0 is never drawn. One batched call where
    torch.multinomial would need one a row to keep each row's own generator."""
    cdf = probs.cumsum(-1)  # [b, vocab]
    token = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)[:, 0]
    return token.clamp(max=probs.shape[-1] - 1)  # u * total rounds below the total, but to be sure
