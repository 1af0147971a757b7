"""One Muon step on FSDP2-sharded weights beside the same step on whole ones: run under torchrun with 2
processes; rank 0 prints JSON with how far the sharded update is from the whole-matrix one and from
the update Muon would make on each rank's half alone."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor, distribute_tensor

sys.path.insert(0, str(Path(__file__).parent))
from tiny_run import CONFIG  # noqa: E402

from openweight.config import ModelConfig  # noqa: E402
from openweight.model import Transformer  # noqa: E402
from openweight.train.init import init_weights  # noqa: E402
from openweight.train.optim import Muon, build_optimizers, muon_parameters  # noqa: E402
from openweight.train.trainer import _wrap  # noqa: E402


def step(model, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights after one Muon step on the given gradients, as whole tensors."""
    before = {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone() for n, p in model.named_parameters()}
    for name, p in model.named_parameters():
        g = grads[name.removeprefix("_orig_mod.")]
        p.grad = distribute_tensor(g, p.device_mesh, p.placements) if isinstance(p, DTensor) else g.clone()
    for optimizer in build_optimizers(model, "muon", lr=0.02, weight_decay=0.0):
        optimizer.step()
    return {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach() - before[n] for n, p in model.named_parameters()}


def main() -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    whole = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0)
    sharded = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0)
    gen = torch.Generator().manual_seed(1)
    grads = {n: torch.randn(p.shape, generator=gen) for n, p in whole.named_parameters()}
    hidden = {n for n, p in whole.named_parameters() if any(p is q for q in muon_parameters(whole)[0])}
    expected = step(whole, grads)
    got = step(_wrap(sharded, "fsdp", 2, torch.device("cpu")), grads)
    # What Muon would do to each rank's half of a matrix on its own (FSDP2 shards the first dimension).
    halves = {}
    for name in hidden:
        parts = []
        for w, g in zip(dict(whole.named_parameters())[name].detach().chunk(2), grads[name].chunk(2)):
            piece = torch.nn.Parameter(w.clone())
            piece.grad = g.clone()
            Muon([piece], lr=0.02, adjust_lr_fn="match_rms_adamw").step()
            parts.append(piece.detach() - w)
        halves[name] = torch.cat(parts)
    if dist.get_rank() == 0:
        rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
        print(json.dumps({"hidden": len(hidden),
                          "to_whole": max(rel(got[n], expected[n]) for n in hidden),
                          "to_halves": min(rel(got[n], halves[n]) for n in hidden),
                          "others_to_whole": max(rel(got[n], expected[n]) for n in expected if n not in hidden)}))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
