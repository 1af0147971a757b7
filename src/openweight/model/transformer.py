"""The decoder-only transformer shared by every supported family; the config decides the parts."""

from __future__ import annotations

import torch

from ..config import ModelConfig
from .attention import Attention, attention_mask
from .mlp import GatedMLP, MoE
from .norm import RMSNorm
from .rope import RotaryEmbedding


class DecoderLayer(torch.nn.Module):
    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config, layer)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MoE(config) if config.is_moe else GatedMLP(config)

    def forward(self, x, rope, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), rope, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(torch.nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = torch.nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)


class Transformer(torch.nn.Module):
    """Token ids -> next-token logits. Parameter names are those of `transformers` checkpoints."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.model = Decoder(config)
        self.lm_head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.kv_cache_dtype: torch.dtype | None = None  # generation's caches; None: the model's dtype

    @property
    def dtype(self) -> torch.dtype:
        return self.model.norm.weight.dtype  # norms stay in the model's dtype when layers are quantized

    @property
    def cache_dtype(self) -> torch.dtype:
        """The dtype generation keeps keys and values in: kv_cache_dtype if set, else the model's."""
        return self.kv_cache_dtype or self.dtype

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None = None,
                cache=None, last_only: bool = False, logits_at: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [batch, seq] -> float32 logits [batch, seq, vocab] ([batch, 1, vocab] if last_only;
        [n, vocab] at the n positions logits_at, bool [batch, seq], marks: a loss on some tokens).

        positions [batch, seq] are token positions, -1 for left padding; by default 0..seq-1.
        With a cache (engine.kv_cache.KVCache), these tokens follow the ones already in it.
        """
        batch, seq = input_ids.shape
        if positions is None:
            start = cache.length if cache is not None else 0
            positions = torch.arange(start, start + seq, device=input_ids.device).expand(batch, seq)
        if cache is not None:
            cache.advance(positions)
        return self.run_layers(input_ids, positions, cache, last_only, logits_at)

    def run_layers(self, input_ids: torch.Tensor, positions: torch.Tensor, cache=None,
                   last_only: bool = False, logits_at: torch.Tensor | None = None) -> torch.Tensor:
        """forward() once the cache has slots for these tokens (cache.advance): only tensor work, so
        that a compiler can take it whole (engine.compiled, engine.aot)."""
        x = self.model.embed_tokens(input_ids)  # [batch, seq, hidden]
        rope = self.model.rotary_emb(positions.clamp(min=0), x.dtype)
        masks: dict[int | None, torch.Tensor] = {}
        for layer_index, layer in enumerate(self.model.layers):
            window = layer.self_attn.window
            layer_cache = cache.layers[layer_index] if cache is not None else None
            if layer_cache is not None:
                mask = layer_cache.slots.mask
            else:
                if window not in masks:
                    masks[window] = attention_mask(positions, positions, window)
                mask = masks[window]
            x = layer(x, rope, mask, layer_cache)
        if last_only:
            x = x[:, -1:]
        elif logits_at is not None:
            x = x[logits_at]  # [n, hidden]
        return self.lm_head(self.model.norm(x)).float()
