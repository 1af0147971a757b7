"""Preallocated key/value cache: GQA heads stay un-expanded, banded layers keep a ring of recent slots.

A static cache hands a decode step (one token a row) every slot, the empty ones masked out, so each
step has the same shapes, as torch.compile wants them (engine.compiled). Otherwise, and for a
prompt's chunks, attention sees only the slots written so far (so does a step compiled ahead of time,
engine.aot, whose count of written slots is a dynamic size).
"""

from __future__ import annotations

import math

import torch

from ..config import ModelConfig
from ..model.attention import attention_mask


def zeroed_layers(shapes: list[tuple[int, ...]], dtype: torch.dtype,
                  device: torch.device | str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Zeroed keys and values of each shape, as views of one allocation: one block the allocator
    maps and unmaps whole, where a tensor per layer leaves a heap fragmented between generations
    (a batch of 8's next cache grew SmolLM2's process by up to 80 MiB). Empty slots must hold
    zeros, not garbage: a masked slot's probability is 0, and 0 x NaN would still be NaN."""
    both = [shape for shape in shapes for _ in ("keys", "values")]
    sizes = [math.prod(shape) for shape in both]
    flat = torch.zeros(sum(sizes), dtype=dtype, device=device)
    views = [part.view(shape) for part, shape in zip(flat.split(sizes), both)]
    return list(zip(views[0::2], views[1::2]))


class LayerCache:
    """Keys and values of one layer: [batch, kv_heads, slots, head_dim], written in place."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, slot_group: "SlotGroup"):
        self.keys, self.values, self.slots = keys, values, slot_group

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k/v [batch, kv_heads, seq, head_dim] of this step; return all live slots."""
        index = self.slots.write_index
        self.keys.index_copy_(2, index, k.to(self.keys.dtype))
        self.values.index_copy_(2, index, v.to(self.values.dtype))
        used = self.slots.used
        return self.keys.narrow(2, 0, used), self.values.narrow(2, 0, used)


class SlotGroup:
    """Slot bookkeeping shared by all layers of one kind (full attention, or one window size).

    Full-attention layers write token t to slot t. Banded layers write to slot t % capacity, where
    capacity = window + chunk - 1 is the least that keeps every key a chunk of `chunk` queries needs.
    """

    def __init__(self, batch: int, capacity: int, window: int | None, device: torch.device, static: bool):
        self.capacity, self.window, self.static = capacity, window, static
        self.positions = torch.full((batch, capacity), -1, dtype=torch.long, device=device)  # [batch, slots]
        self.write_index = torch.empty(0, dtype=torch.long, device=device)
        self.used = 0
        self.mask: torch.Tensor | None = None

    def advance(self, start: int, q_pos: torch.Tensor) -> None:
        """Reserve slots for timeline steps start..start+seq and build the mask for these queries."""
        seq = q_pos.shape[1]
        if seq > self.capacity:
            raise ValueError(f"{seq} tokens at once exceed the cache's {self.capacity} slots for this layer kind")
        steps = torch.arange(start, start + seq, device=q_pos.device)
        self.write_index = steps % self.capacity
        self.positions.index_copy_(1, self.write_index, q_pos)
        self.used = self.capacity if self.static and seq == 1 else min(self.capacity, start + seq)
        self.mask = attention_mask(q_pos, self.positions[:, : self.used], self.window)


class KVCache:
    """One LayerCache per layer, with slot groups shared by layers of the same attention kind."""

    def __init__(self, config: ModelConfig, batch: int, max_len: int, chunk: int,
                 dtype: torch.dtype, device: torch.device | str = "cpu", static: bool = False):
        device = torch.device(device)
        self.max_len, self.chunk, self.length = max_len, chunk, 0
        full = SlotGroup(batch, max_len, None, device, static)
        self.groups = [full]
        banded = None
        if config.layer_types and "sliding_attention" in config.layer_types:
            window = config.sliding_window
            banded = SlotGroup(batch, min(max_len, window + chunk - 1), window, device, static)
            self.groups.append(banded)
        groups = [banded if config.is_sliding(i) else full for i in range(config.num_hidden_layers)]
        # One slot more than a group uses, never written: the written slots are then never the whole
        # tensor, so a step compiled ahead of time for any count of them needs no case for all of them
        # (a whole tensor is contiguous where a part is not).
        shapes = [(batch, config.num_key_value_heads, g.capacity + 1, config.head_dim) for g in groups]
        self.layers = [LayerCache(k, v, g) for (k, v), g in zip(zeroed_layers(shapes, dtype, device), groups)]

    def advance(self, q_pos: torch.Tensor) -> None:
        """Prepare every layer kind for the next q_pos.shape[1] tokens (positions [batch, seq])."""
        seq = q_pos.shape[1]
        if self.length + seq > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} tokens; {self.length} used, {seq} more asked")
        for group in self.groups:
            group.advance(self.length, q_pos)
        self.length += seq
