"""Grouped-query attention with optional biases, learned sinks and a sliding window."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ModelConfig
from .rope import apply_rotary


def attention_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int | None) -> torch.Tensor:
    """Which keys each query may see, from token positions (-1 marks padding or an empty slot).

    q_pos [batch, q_len], k_pos [batch, k_len] -> bool [batch, 1, q_len, k_len]
    """
    q, k = q_pos[:, :, None], k_pos[:, None, :]
    allowed = (k >= 0) & (k <= q)
    if window is not None:
        allowed &= k > q - window  # the query and the window-1 tokens before it
    # Padding queries look only at padding, so no row is empty (an all-masked softmax is NaN);
    # real queries never see padding, so what padding computes does not matter.
    allowed |= (q < 0) & (k < 0)
    return allowed[:, None]


def grouped_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                      scale: float, sinks: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax attention without expanding the key/value heads.

    q [batch, heads, q_len, dim]; k, v [batch, kv_heads, k_len, dim]; mask bool [batch, 1, q_len, k_len];
    sinks [heads]: a per-head logit that joins the softmax but carries no value (gpt-oss).
    Returns [batch, heads, q_len, dim].
    """
    batch, heads, q_len, dim = q.shape
    kv_heads, k_len = k.shape[1], k.shape[2]
    group = heads // kv_heads
    if q_len > 1:
        # PyTorch's fused kernel: the same softmax attention, faster for whole prompts.
        if sinks is None:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)
        return _sdpa_with_sinks(q, k, v, mask, scale, sinks)
    # One query per row (decoding): two small matmuls beat the fused kernel's setup. Under
    # torch.compile, products summed by broadcasting become loops Inductor fuses with the masking
    # and softmax, cheaper still than a matmul call this small.
    q = q.reshape(batch, kv_heads, group, dim)  # query heads h = kv * group + g
    compiling = torch.compiler.is_compiling()
    if compiling:
        scores = (q[:, :, :, None] * k[:, :, None]).sum(-1) * scale  # [batch, kv_heads, group, k_len]
    else:
        scores = (q @ k.transpose(-1, -2)) * scale
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # mask [batch, 1, 1, k_len]
    if sinks is not None:
        sink = sinks.to(scores.dtype).view(1, kv_heads, group, 1).expand(batch, -1, -1, 1)
        scores = torch.cat((scores, sink), dim=-1)
    probs = F.softmax(scores, dim=-1, dtype=torch.float32)[..., :k_len].to(v.dtype)  # without the sink
    out = (probs[..., None] * v[:, :, None]).sum(-2) if compiling else probs @ v  # [batch, kv_heads, group, dim]
    return out.view(batch, heads, 1, dim)


def _sdpa_with_sinks(q, k, v, mask, scale, sinks):
    """Sinks through the fused kernel: one extra key that every query sees, with no value.

    Each query gets one more dimension holding sink/scale and the extra key is the unit vector on
    it, so that key's logit is exactly the head's sink; real keys get 0 there and keep their logits.
    Values get a zero dimension too, cut off after: with q, k and v of one width, CPU's flash kernel
    takes the call (otherwise the unfused math path: 2x the time for a 512-token prompt).
    """
    batch, heads, q_len, dim = q.shape
    kv_heads, k_len = k.shape[1], k.shape[2]
    sink = (sinks.to(q.dtype) / scale).view(1, heads, 1, 1).expand(batch, heads, q_len, 1)
    q = torch.cat((q, sink), dim=-1)  # [b, heads, q_len, dim+1]
    unit = torch.zeros(batch, kv_heads, 1, dim + 1, dtype=k.dtype, device=k.device)
    unit[..., -1] = 1
    k = torch.cat((torch.cat((k, k.new_zeros(batch, kv_heads, k_len, 1)), dim=-1), unit), dim=2)  # [.., k_len+1, dim+1]
    v = F.pad(v, (0, 1, 0, 1))  # [b, kv_heads, k_len+1, dim+1]: the sink's value and the extra dimension 0
    mask = torch.cat((mask, mask.new_ones(batch, 1, q_len, 1)), dim=-1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)[..., :dim]


@torch.no_grad()
def max_attention_logits(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """The largest attention logit of each query head over the allowed keys -> [heads]."""
    batch, heads, q_len, dim = q.shape
    kv_heads = k.shape[1]
    scores = (q.reshape(batch, kv_heads, -1, dim) @ k.transpose(-1, -2)) * scale
    scores = scores.view(batch, kv_heads, heads // kv_heads, q_len, -1).masked_fill(~mask[:, :, None], float("-inf"))
    return scores.amax(dim=(0, 3, 4)).reshape(heads)


class Attention(torch.nn.Module):
    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        hidden, dim = config.hidden_size, config.head_dim
        self.heads, self.kv_heads, self.head_dim = config.num_attention_heads, config.num_key_value_heads, dim
        bias = config.attention_bias
        self.q_proj = torch.nn.Linear(hidden, self.heads * dim, bias=bias)
        self.k_proj = torch.nn.Linear(hidden, self.kv_heads * dim, bias=bias)
        self.v_proj = torch.nn.Linear(hidden, self.kv_heads * dim, bias=bias)
        # Qwen2 has q/k/v biases but none on the output projection; gpt-oss has all four.
        self.o_proj = torch.nn.Linear(self.heads * dim, hidden, bias=bias and config.model_type == "gpt_oss")
        self.sinks = torch.nn.Parameter(torch.zeros(self.heads)) if config.model_type == "gpt_oss" else None
        self.window = config.sliding_window if config.is_sliding(layer) else None
        self.scale = dim ** -0.5
        self.max_logits: torch.Tensor | None = None  # per head, recorded while training with QK-clip
        self.fused_sizes: list[int] | None = None  # set by model.fuse when q/k/v are one qkv_proj

    def projections(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q [batch, seq, heads*dim], k and v [batch, seq, kv_heads*dim]."""
        if self.fused_sizes:
            return self.qkv_proj(x).split(self.fused_sizes, dim=-1)
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor,
                cache=None) -> torch.Tensor:
        """x [batch, seq, hidden] -> [batch, seq, hidden]; `cache` is this layer's LayerCache or None."""
        batch, seq, _ = x.shape
        q, k, v = self.projections(x)
        q = q.reshape(batch, seq, self.heads, self.head_dim).transpose(1, 2)  # [b, heads, seq, dim]
        k = k.reshape(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)  # [b, kv, seq, dim]
        v = v.reshape(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = rope
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            k, v = cache.update(k, v)  # all live slots: [b, kv, slots, dim], in the cache's dtype
            k, v = k.to(q.dtype), v.to(q.dtype)
        if self.max_logits is not None and self.training:
            self.max_logits = torch.maximum(self.max_logits, max_attention_logits(q, k, mask, self.scale))
        out = grouped_attention(q, k, v, mask, self.scale, self.sinks)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, self.heads * self.head_dim))
