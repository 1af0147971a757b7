"""Feed-forward blocks: the dense SwiGLU of Llama and the gpt-oss mixture of experts."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ModelConfig


class GatedMLP(torch.nn.Module):
    """down(silu(gate(x)) * up(x))."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden, inner, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = torch.nn.Linear(hidden, inner, bias=bias)
        self.up_proj = torch.nn.Linear(hidden, inner, bias=bias)
        self.down_proj = torch.nn.Linear(inner, hidden, bias=bias)
        self.fused_sizes: list[int] | None = None  # set by model.fuse when gate/up are one gate_up_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_sizes:
            gate, up = self.gate_up_proj(x).split(self.fused_sizes, dim=-1)
        else:
            gate, up = self.gate_proj(x), self.up_proj(x)
        return self.down_proj(F.silu(gate) * up)


class Router(torch.nn.Module):
    """Biased linear scores; the top k experts per token, weighted by a softmax over those k."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.weight = torch.nn.Parameter(torch.zeros(config.num_local_experts, config.hidden_size))
        self.bias = torch.nn.Parameter(torch.zeros(config.num_local_experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [tokens, hidden] -> expert ids [tokens, k], weights [tokens, k]."""
        top_logits, experts = torch.topk(F.linear(x, self.weight, self.bias), self.top_k, dim=-1)
        return experts, F.softmax(top_logits, dim=-1)


class Experts(torch.nn.Module):
    """Expert weights in the layout of the gpt-oss checkpoints: gate and up interleaved on the last axis."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        n, hidden, inner = config.num_local_experts, config.hidden_size, config.intermediate_size
        self.gate_up_proj = torch.nn.Parameter(torch.zeros(n, hidden, 2 * inner))  # [experts, hidden, 2*inner]
        self.gate_up_proj_bias = torch.nn.Parameter(torch.zeros(n, 2 * inner))
        self.down_proj = torch.nn.Parameter(torch.zeros(n, inner, hidden))  # [experts, inner, hidden]
        self.down_proj_bias = torch.nn.Parameter(torch.zeros(n, hidden))
        self.alpha, self.limit = config.swiglu_alpha, config.swiglu_limit

    def expert(self, e: int | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Expert e on x [tokens, hidden]."""
        gate_up = x @ pick(self.gate_up_proj, e) + pick(self.gate_up_proj_bias, e)  # [tokens, 2*inner]
        return clamped_swiglu(gate_up, self.alpha, self.limit) @ pick(self.down_proj, e) + pick(self.down_proj_bias, e)


def pick(stacked: torch.Tensor, e: int | torch.Tensor) -> torch.Tensor:
    """stacked[e] for an int or a one-element tensor (a tensor index stays inside a compiled graph,
    where plain indexing by a tensor would need its value at trace time)."""
    return stacked[e] if isinstance(e, int) else stacked.index_select(0, e.reshape(1))[0]


def clamped_swiglu(gate_up: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    """The activation of gpt-oss experts: gate and up interleaved on the last axis [.., 2*inner] -> [.., inner]."""
    gate = gate_up[..., ::2].clamp(max=limit)
    up = gate_up[..., 1::2].clamp(min=-limit, max=limit)
    return (up + 1) * (gate * torch.sigmoid(gate * alpha))


class MoE(torch.nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.router = Router(config)
        self.experts = Experts(config)
        self.experts_count = config.num_local_experts

    def one_graph(self, tokens: int) -> bool:
        """Whether a compiled step of `tokens` tokens takes this layer whole: the quantized experts of
        openweight's kernels route any number of tokens in one call; otherwise it takes at most as many
        (token, expert) pairs as there are experts."""
        return self.routes_in_one_call or tokens * self.router.top_k <= self.experts_count

    @property
    def routes_in_one_call(self) -> bool:
        """Whether the experts route every (token, slot) pair in one call (quant.model.QuantizedExperts
        on openweight's kernels)."""
        return getattr(self.experts, "routes_on_kernels", False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # [tokens, hidden]
        chosen, weights = self.router(x)  # [tokens, k] each
        if self.routes_in_one_call:
            # SmolLM2-sized gpt-oss, int4 on an AVX2 CPU, decodes at 104 tokens/s against 52 by the
            # loop below, whose compiled graph copies each picked expert.
            return self.experts.routed(x, chosen, weights).view(shape)
        if torch.compiler.is_compiling() and chosen.numel() <= self.experts_count:
            # A compiled decode step of a few tokens: each (token, slot) runs its expert, picked by a
            # tensor index, so the graph needs no data-dependent loop (SmolLM2-sized gpt-oss, int4:
            # 136 tokens/s against 80 with the experts eager between graphs).
            rows = [sum(self.experts.expert(chosen[t, s], x[t:t + 1]) * weights[t, s]
                        for s in range(chosen.shape[1])) for t in range(x.shape[0])]
            return torch.cat(rows).view(shape)
        return self.grouped(x, chosen, weights).view(shape)

    # More (token, slot) pairs than experts: one matmul per expert over the tokens that chose it (no
    # per-token loop). Which experts run depends on the data, so a compiled graph breaks here
    # (engine.compiled wraps it in torch.compiler.disable when it first compiles; importing
    # torch._dynamo here for the decorator would cost every eager user 1.5 s and ~80 MiB).
    def grouped(self, x: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for e in torch.unique(chosen).tolist():  # ascending, so the sum order is fixed
            tokens, slot = torch.where(chosen == e)
            y = self.experts.expert(e, x[tokens]) * weights[tokens, slot, None]
            out.index_add_(0, tokens, y.to(x.dtype))
        return out
