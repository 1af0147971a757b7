"""Log-probabilities of replies given their prompts, each distinct prompt run once.

A GRPO group is one prompt with several sampled replies. Rather than running prompt + reply for every
reply, each distinct prompt runs once (left-padded, batched) and its keys and values serve all its
replies, which then run alone: what a prefix cache does in generation, here with gradients. For
sorting at low effort (prompts ~75 tokens, replies ~37, 8 a prompt), the model runs on ~40% of the
tokens.
"""

from __future__ import annotations

import torch

from ..model.attention import attention_mask


def reply_mask(replies: list[list[int]]) -> torch.Tensor:
    """[n, longest reply] True on each reply's tokens."""
    lengths = torch.tensor([len(r) for r in replies])
    return torch.arange(int(lengths.max()))[None] < lengths[:, None]


def reply_logprobs(model, prompts: list[list[int]], replies: list[list[int]], pad_id: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each reply token given its prompt -> (logprobs [n, t], mask [n, t]).
    Every reply needs at least one token."""
    keys = [tuple(p) for p in prompts]
    firsts: dict[tuple[int, ...], int] = {}
    for key in keys:
        firsts.setdefault(key, len(firsts))
    distinct = list(firsts)
    which = torch.tensor([firsts[key] for key in keys])  # [n]: each reply's prompt

    width = max(map(len, distinct))
    prompt_ids = torch.full((len(distinct), width), pad_id, dtype=torch.long)  # [u, P], left-padded
    prompt_pos = torch.full((len(distinct), width), -1, dtype=torch.long)
    for row, p in enumerate(distinct):
        prompt_ids[row, width - len(p):] = torch.tensor(p)
        prompt_pos[row, width - len(p):] = torch.arange(len(p))
    prompt_layers = _layers(model, prompt_pos, prompt_pos)
    first_logits = model.run_layers(prompt_ids, prompt_pos, _Pass(prompt_layers), last_only=True)[:, 0]  # [u, vocab]

    mask = reply_mask(replies)  # [n, R]
    reply_ids = torch.full(mask.shape, pad_id, dtype=torch.long)
    for row, r in enumerate(replies):
        reply_ids[row, :len(r)] = torch.tensor(r)
    logits = rows(first_logits, which)[:, None]  # [n, 1, vocab]: reply token 0 follows the prompt's last token
    if mask.shape[1] > 1:  # token j > 0 follows reply token j-1
        starts = torch.tensor([len(p) for p in prompts])
        positions = torch.where(mask, starts[:, None] + torch.arange(mask.shape[1]), -1)[:, :-1]  # [n, R-1]
        keys = torch.cat((prompt_pos[which], positions), dim=1)  # [n, P + R-1]
        reply_layers = _layers(model, positions, keys, prompt_layers, which)
        logits = torch.cat((logits, model.run_layers(reply_ids[:, :-1], positions, _Pass(reply_layers))), dim=1)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, reply_ids[..., None]).squeeze(-1)  # [n, R]
    return torch.where(mask, logp, 0.0), mask


def rows(t: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """t[which] along dim 0, where which repeats rows, with a backward that rounds the same on every
    run: PyTorch's backward of t[which] sums a repeated row's gradients by atomic adds from several
    threads, in an order that follows their timing (GRPO's weights came out differing in the last
    bits whenever something else ran on the machine); index_select's adds them in order."""
    return t.index_select(0, which)


class _LayerKV:
    """One layer as attention sees a cache: update(k, v) gives the keys and values to attend to, and
    slots.mask which of them each query may see. With `prompts` (the prompt pass's _LayerKV), each
    row's keys and values follow those of its prompt, row which[i] of that pass."""

    def __init__(self, mask: torch.Tensor, prompts: _LayerKV | None = None, which: torch.Tensor | None = None):
        self.slots, self.mask, self.prompts, self.which = self, mask, prompts, which
        self.kv: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k, v [b, kv_heads, seq, dim] -> [b, kv_heads, keys, dim]."""
        self.kv = (k, v)
        if self.prompts is None:
            return k, v
        prompt_k, prompt_v = self.prompts.kv
        return torch.cat((rows(prompt_k, self.which), k), dim=2), torch.cat((rows(prompt_v, self.which), v), dim=2)


class _Pass:
    """What Transformer.run_layers takes as its cache: one _LayerKV a layer."""

    def __init__(self, layers: list[_LayerKV]):
        self.layers = layers


def _layers(model, q_pos: torch.Tensor, k_pos: torch.Tensor, prompts: list[_LayerKV] | None = None,
            which: torch.Tensor | None = None) -> list[_LayerKV]:
    """A _LayerKV a layer, each with the mask of its window, for queries and keys at these positions."""
    masks: dict[int | None, torch.Tensor] = {}
    out = []
    for i, layer in enumerate(model.model.layers):
        window = layer.self_attn.window
        if window not in masks:
            masks[window] = attention_mask(q_pos, k_pos, window)
        out.append(_LayerKV(masks[window], prompts[i] if prompts else None, which))
    return out
