"""A key/value cache for a batch whose sequences come and go (continuous batching).

Each sequence owns one row ("slot") and its own length. The sequences being decoded fill rows
0..n-1, so a decode step works on plain slices of the cache, never on gathered copies; when a
sequence leaves, the last row moves into its place. Banded layers keep a per-row ring of
window + chunk - 1 entries, like KVCache.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..model.attention import attention_mask
from .kv_cache import zeroed_layers


class _Group:
    """Positions held by each row's entries for one layer kind (full attention, or one window)."""

    def __init__(self, rows: int, capacity: int, window: int | None):
        self.capacity, self.window = capacity, window
        self.positions = torch.full((rows, capacity), -1, dtype=torch.long)  # [rows, capacity], -1 = empty
        self.index = self.mask = None  # set by each step: write index [n, seq], mask [n, 1, seq, used]
        self.used = 0


class _Layer:
    def __init__(self, keys: torch.Tensor, values: torch.Tensor, group: _Group):
        self.keys, self.values, self.group = keys, values, group


class _LayerView:
    """What the model's attention sees of one layer during a step: update(k, v) and slots.mask."""

    def __init__(self, layer: _Layer, rows: slice):
        self.layer, self.rows, self.slots = layer, rows, layer.group

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k/v [n, kv_heads, seq, head_dim] at each row's own index; return [n, kv_heads, used, dim]."""
        keys, values = self.layer.keys[self.rows], self.layer.values[self.rows]  # views
        index = self.slots.index  # [n, seq]
        row = torch.arange(index.shape[0])[:, None].expand_as(index)
        keys[row, :, index] = k.transpose(1, 2).to(keys.dtype)
        values[row, :, index] = v.transpose(1, 2).to(values.dtype)
        used = self.slots.used
        return keys[:, :, :used], values[:, :, :used]


class _StepView:
    """The cache as the model sees it for one forward over rows `rows`, each continuing from its length."""

    def __init__(self, cache: "SlotCache", rows: slice):
        self.cache, self.rows = cache, rows
        self.layers = [_LayerView(layer, rows) for layer in cache.layers]

    def advance(self, q_pos: torch.Tensor) -> None:
        seq = q_pos.shape[1]
        starts = self.cache.lengths[self.rows]  # [n]
        ends = starts + seq
        if int(ends.max()) > self.cache.max_len:
            raise ValueError(f"a sequence would exceed the cache's {self.cache.max_len} tokens")
        steps = starts[:, None] + torch.arange(seq)  # [n, seq]
        for group in self.cache.groups:
            if seq > group.capacity:
                raise ValueError(f"{seq} tokens at once exceed the {group.capacity} entries of a banded layer")
            group.index = steps % group.capacity
            positions = group.positions[self.rows]
            positions.scatter_(1, group.index, q_pos)
            group.used = min(group.capacity, int(ends.max()))
            group.mask = attention_mask(q_pos, positions[:, :group.used], group.window)
        self.cache.lengths[self.rows] = ends


class SlotCache:
    """Keys and values for up to `rows` sequences of up to `max_len` tokens each."""

    def __init__(self, config: ModelConfig, rows: int, max_len: int, chunk: int, dtype: torch.dtype):
        self.rows, self.max_len = rows, max_len
        self.lengths = torch.zeros(rows, dtype=torch.long)
        full = _Group(rows, max_len, None)
        self.groups = [full]
        banded = None
        if config.layer_types and "sliding_attention" in config.layer_types:
            banded = _Group(rows, min(max_len, config.sliding_window + chunk - 1), config.sliding_window)
            self.groups.append(banded)
        groups = [banded if config.is_sliding(i) else full for i in range(config.num_hidden_layers)]
        shapes = [(rows, config.num_key_value_heads, g.capacity, config.head_dim) for g in groups]
        self.layers = [_Layer(k, v, g) for (k, v), g in zip(zeroed_layers(shapes, dtype), groups)]

    def step(self, rows: slice) -> _StepView:
        """The cache for one forward of `rows` (model(ids, positions, cache.step(rows)))."""
        return _StepView(self, rows)

    def clear(self, row: int) -> None:
        self.lengths[row] = 0
        for group in self.groups:
            group.positions[row] = -1

    def copy(self, source: int, target: int) -> None:
        """Give row `target` the sequence of row `source` (a prompt prefilled once for several requests)."""
        for layer in self.layers:
            layer.keys[target] = layer.keys[source]
            layer.values[target] = layer.values[source]
        for group in self.groups:
            group.positions[target] = group.positions[source]
        self.lengths[target] = self.lengths[source]

    def move(self, source: int, target: int) -> None:
        """Move a sequence to another row (to keep the decoding rows contiguous) and clear its old row."""
        self.copy(source, target)
        self.clear(source)
