"""Training checkpoints: everything needed to continue exactly, in full (unsharded) form, written atomically.

The same calls work in one process, under DDP and under FSDP2: PyTorch's distributed state-dict API
gathers sharded parameters and optimizer states into whole tensors keyed by parameter name.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)

from ..weights.atomic import atomic_write

CHECKPOINT = "checkpoint.pt"
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Whole parameter tensors by name (call on every rank; under FSDP only rank 0 gets them)."""
    return get_model_state_dict(model, options=_FULL)


def save_checkpoint(folder: Path, step: int, model: torch.nn.Module, optimizers: list) -> None:
    """Call on every rank; rank 0 writes."""
    state = {
        "step": step,
        "model": full_model_state(model),
        "optimizers": [get_optimizer_state_dict(model, o, options=_FULL) for o in optimizers],
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    if _rank() == 0:
        atomic_write(folder / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizers: list) -> int:
    """Restore the last checkpoint in `folder` on every rank; return the next step (0 without one)."""
    path = folder / CHECKPOINT
    if not path.exists():
        return 0
    state = torch.load(path, weights_only=True)  # tensors and plain values only: nothing is unpickled
    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, state["model"], options=options)
    for optimizer, saved in zip(optimizers, state["optimizers"], strict=True):
        set_optimizer_state_dict(model, optimizer, saved, options=options)
    torch.set_rng_state(state["torch_rng"])
    version, internal, gauss = state["python_rng"]  # tuples come back as lists
    random.setstate((version, tuple(internal), gauss))
    return state["step"]
