"""Optimizers: AdamW everywhere, or Muon on the 2-D hidden matrices with AdamW on the rest."""

from __future__ import annotations

import math

import torch


def muon_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """(hidden 2-D matrices, everything else): embeddings, the output layer, norms, biases, sinks and
    3-D expert tensors stay with AdamW, as Muon orthogonalizes whole matrices."""
    hidden, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_hidden = p.ndim == 2 and ".layers." in f".{name}" and "embed" not in name
        (hidden if is_hidden else rest).append(p)
    return hidden, rest


class Muon(torch.optim.Muon):
    """torch.optim.Muon with the Newton-Schulz iteration in float32 on a CPU. torch's always runs it in
    bfloat16, which a CPU without bf16 arithmetic (AVX2 only) emulates: 0.9 s of each 2.3 s SFT step of
    openweight-mini on a 2-core AMD EPYC, against ~0.06 s in float32. Elsewhere (a GPU) the iteration
    stays in bfloat16. Same hyperparameters and state as torch's."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buffer = state["momentum_buffer"]
                buffer.lerp_(p.grad, 1 - group["momentum"])
                update = p.grad.lerp(buffer, group["momentum"]) if group["nesterov"] else buffer
                dtype = torch.float32 if p.device.type == "cpu" else torch.bfloat16
                update = orthogonalize(update, group["ns_coefficients"], group["ns_steps"], group["eps"], dtype)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * _rms_scale(group["adjust_lr_fn"], p.shape))
        return loss


def orthogonalize(g: torch.Tensor, coefficients: tuple[float, float, float], steps: int, eps: float,
                  dtype: torch.dtype) -> torch.Tensor:
    """Muon's quintic Newton-Schulz iteration on g [rows, cols], in `dtype`: roughly U V^T of g's SVD
    (singular values pushed into ~0.7-1.2, not exactly 1, for speed)."""
    a, b, c = coefficients
    x = g.to(dtype)
    if g.shape[0] > g.shape[1]:
        x = x.T  # iterate on the wide side: [small, large] @ [large, small] grams
    x = x / x.norm().clamp(min=eps)  # spectral norm <= Frobenius norm <= 1
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if g.shape[0] > g.shape[1] else x


def _rms_scale(adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """Muon's lr adjustment for a [rows, cols] matrix ("match_rms_adamw": Moonshot's, the update's RMS
    matches AdamW's; "original" or None: Keller Jordan's; torch.optim.Muon admits no other)."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return math.sqrt(max(1, rows / cols))


def build_optimizers(model: torch.nn.Module, kind: str, lr: float, weight_decay: float,
                     betas: tuple[float, float] = (0.9, 0.95)) -> list[torch.optim.Optimizer]:
    """One or two optimizers; with Muon, its updates are scaled to AdamW's RMS so one lr serves both."""
    if kind == "adamw":
        decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
        return [torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas)]
    if kind == "muon":
        hidden, rest = muon_parameters(model)
        return [Muon(hidden, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw"),
                torch.optim.AdamW(rest, lr=lr, betas=betas, weight_decay=0.0)]
    raise ValueError(f"optimizer must be 'adamw' or 'muon', got {kind!r}")
