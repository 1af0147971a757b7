"""The training loop: masked next-token loss, accumulation, clipping, schedules, checkpoints, torchrun.

Runs the same in one process or under `torchrun` (DDP, or FSDP2 with distributed="fsdp"); every rank
computes the same global token count, so the loss of a step is the same however it is split.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
import random
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..cpu import half_precision_slowdown
from . import settings
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Batches, Example
from .held_out import held_out_metrics
from .optim import build_optimizers
from .plot import plot_metrics
from .qk_clip import clip, start_tracking
from .schedule import lr_multiplier


@dataclass
class TrainConfig:
    steps: int
    batch_size: int = 8  # examples per micro-batch and rank
    accumulation: int = 1  # micro-batches per step
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 20
    schedule: str = "cosine"  # or "wsd"
    decay_fraction: float = 0.2  # wsd: the last fraction of the steps, where the rate falls to min_lr_ratio
    optimizer: str = "adamw"  # or "muon"
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 100
    eval_every: int = 0  # steps between held-out evaluations (train's held_out sets; 0: none)
    distributed: str = "ddp"  # under torchrun: "ddp" or "fsdp"
    length_window: int = 0  # sort by length within windows of this many steps (0: plain shuffle)
    qk_clip: float | None = None  # tau of Kimi K2's QK-clip (e.g. 100); None: off
    # "bfloat16": matmuls in bf16, weights and optimizer state in fp32; "auto": bfloat16 where the
    # hardware multiplies it (a GPU with bf16, a CPU with AVX512-BF16 or AMX), else None
    autocast: str | None = None
    # None: this process's GPU where there is one (under torchrun, LOCAL_RANK's), else the CPU;
    # or a torch device name ("cpu", "cuda:1")
    device: str | None = None
    progress: bool = True
    plot: bool = True  # curves.png beside metrics.jsonl at the end

    def __post_init__(self):
        settings.positive_ints(self, "steps", "batch_size", "accumulation", "checkpoint_every")
        settings.counts(self, "warmup", "length_window", "seed", "eval_every")
        settings.positive_numbers(self, "clip")
        settings.non_negative_numbers(self, "lr", "weight_decay")
        settings.require(settings.is_number(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1,
                         "min_lr_ratio", "a number from 0 to 1", self.min_lr_ratio)
        settings.require(settings.is_number(self.decay_fraction) and 0 < self.decay_fraction <= 1,
                         "decay_fraction", "a number above 0 and at most 1", self.decay_fraction)
        settings.one_of(self, "schedule", ("cosine", "wsd"))
        settings.one_of(self, "optimizer", ("adamw", "muon"))
        settings.one_of(self, "distributed", ("ddp", "fsdp"))
        # No float16: its gradients underflow without a loss scaler, which bf16's range makes needless.
        settings.one_of(self, "autocast", (None, "bfloat16", "auto"))
        if self.qk_clip is not None:
            settings.positive_numbers(self, "qk_clip")
        if self.device is not None:
            settings.require(_is_device(self.device), "device", "None or a torch device name ('cpu', 'cuda:0')",
                             self.device)


def _is_device(name) -> bool:
    """Whether `name` is the name of a torch device ('cpu', 'cuda:1')."""
    if not isinstance(name, str):
        return False
    try:
        torch.device(name)
    except RuntimeError:
        return False
    return True


def training_device(setting: str | None) -> torch.device:
    """Where a run trains: the setting, or by default the GPU join_distributed gave this process (one
    a process under torchrun) where there is one, else the CPU."""
    if setting is not None:
        return torch.device(setting)
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def resolve_autocast(setting: str | None, device: torch.device) -> str | None:
    """The autocast dtype a run uses: the setting, with "auto" made bfloat16 where the hardware
    multiplies it (on a CPU: bf16 products no more than twice as slow as float32 ones; they are 10-100x
    on one that emulates them), else None."""
    if setting != "auto":
        return setting
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        return "bfloat16" if half_precision_slowdown(torch.bfloat16) <= 2 else None
    return None


def _autocast(dtype: str | None, device: torch.device):
    """Mixed precision for the forward pass: bf16 matmuls, fp32 weights. On a CPU with AVX-512 it
    gained ~1.35x on batches of 400-token sequences and nothing measurable on short ones; on a CPU
    without bf16 arithmetic each product takes 10-100x longer (a warning says so)."""
    if dtype is None:
        return nullcontext()
    if device.type == "cpu" and (slowdown := half_precision_slowdown(getattr(torch, dtype))) > 2:
        warnings.warn(f"autocast={dtype!r}: this CPU multiplies {dtype} matrices {slowdown:.0f}x slower than "
                      f"float32 (it has no {dtype} arithmetic, e.g. AVX512-BF16 or AMX), so training runs "
                      "several times slower than without autocast; set autocast=None or 'auto' (the "
                      "recipe's SFT.train) on this machine", stacklevel=3)
    return torch.autocast(device.type, dtype=getattr(torch, dtype))


def join_distributed() -> tuple[int, int]:
    """(rank, world size): under torchrun, join its process group (once); else (0, 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # one GPU a process
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def close_distributed() -> None:
    """Leave the process group the trainer joined under torchrun (at the end of a script), so that
    no rank exits while another still talks to it."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _wrap(model: torch.nn.Module, kind: str, world: int, device: torch.device) -> torch.nn.Module:
    if world == 1:
        return model
    if kind == "ddp":
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    from torch.distributed.fsdp import fully_shard  # kind == "fsdp": TrainConfig admits no other

    for layer in model.model.layers:
        fully_shard(layer)
    return fully_shard(model)


def train(model: torch.nn.Module, examples: list[Example], config: TrainConfig, out_dir: str | Path,
          pad_id: int = 0, held_out: dict[str, list[Example]] | None = None) -> list[dict]:
    """Train `model` in place, moved to the run's device (TrainConfig.device); resume from out_dir's
    checkpoint if there is one. Returns this run's metrics.

    held_out: named sets scored every config.eval_every steps and at the end (held_out.held_out_metrics);
    scoring them leaves the training itself unchanged, weights and all."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = join_distributed()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    device = training_device(config.device)
    model.to(device).train().requires_grad_(True)
    net = _wrap(model, config.distributed, world, device)
    optimizers = build_optimizers(model, config.optimizer, config.lr, config.weight_decay)
    peak = [[group["lr"] for group in o.param_groups] for o in optimizers]
    start = load_checkpoint(out, model, optimizers)
    if config.qk_clip is not None:
        start_tracking(model)
    batches = Batches(examples, config.batch_size, config.accumulation, config.seed, pad_id,
                      window=config.length_window * config.batch_size * config.accumulation * world)
    autocast = resolve_autocast(config.autocast, device)
    metrics_path = out / "metrics.jsonl"
    if rank == 0:
        keep_metrics_before(metrics_path, start)
        ran = {**asdict(config), "autocast": autocast, "device": str(device)}  # what the defaults became here
        (out / "train_config.json").write_text(json.dumps(ran, indent=2) + "\n")
    progress = _Progress(config.steps, start) if config.progress and rank == 0 else None
    history, began = [], time.perf_counter()
    precision = _autocast(autocast, device)
    for step in range(start, config.steps):
        t0 = time.perf_counter()
        scale = lr_multiplier(step, config.steps, config.warmup, config.schedule, config.min_lr_ratio,
                              config.decay_fraction)
        for optimizer, lrs in zip(optimizers, peak):
            for group, lr in zip(optimizer.param_groups, lrs):
                group["lr"] = lr * scale
        # Every rank knows the step's whole batch, so each divides by the same global token count.
        step_examples = batches.step_examples(step, world)
        learnt = sum(sum(e.mask[1:]) for e in step_examples)
        total_loss = torch.zeros((), device=device)
        micro = batches.micro_batches(step, rank, world)
        for i, (inputs, targets) in enumerate(micro):
            inputs, targets = inputs.to(device), targets.to(device)
            sync = i == len(micro) - 1
            context = net.no_sync() if world > 1 and config.distributed == "ddp" and not sync \
                else nullcontext()
            with context, precision:
                loss = next_token_loss(net, inputs, targets, learnt)
                (loss * world).backward()  # DDP averages over ranks; the step's loss is their sum
            total_loss += loss.detach()
        if world > 1:
            dist.all_reduce(total_loss)
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        clipped_heads = clip(model, config.qk_clip) if config.qk_clip is not None else 0
        seconds = time.perf_counter() - t0
        tokens = sum(len(e.ids) for e in step_examples)
        record = {"step": step + 1, "loss": total_loss.item(), "lr": config.lr * scale,
                  "grad_norm": float(norm), "tokens": tokens, "tokens_per_s": tokens / seconds,
                  "elapsed_s": time.perf_counter() - began}
        if config.qk_clip is not None:
            record["clipped_heads"] = clipped_heads
        if held_out and config.eval_every and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            record.update(held_out_metrics(net, held_out, config.batch_size, pad_id, precision, rank, world))
        history.append(record)
        if rank == 0:
            append_metrics(metrics_path, record)
            if progress:
                progress.update(record)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            save_checkpoint(out, step + 1, model, optimizers)
            if world > 1:
                dist.barrier()
    if progress:
        progress.close()
    if rank == 0 and config.plot:
        plot_metrics(metrics_path, out / "curves.png", title=f"{config.optimizer}, {config.steps} steps")
    model.eval().requires_grad_(False)
    return history


def next_token_loss(model, inputs: torch.Tensor, targets: torch.Tensor, learnt: int) -> torch.Tensor:
    """Cross-entropy of the model's predictions for inputs [b, t] against targets [b, t] (-100: not
    learnt), summed and divided by `learnt`: the batch's count of learnt tokens, which may span other
    micro-batches. Logits are made only where a token is learnt (a third of an SFT batch's are not)."""
    where = targets != -100
    logits = model(inputs, logits_at=where)  # [n, vocab]
    return F.cross_entropy(logits.float(), targets[where], reduction="sum") / max(learnt, 1)


def append_metrics(path: Path, record: dict) -> None:
    """One JSON line of metrics at the end of metrics.jsonl."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def keep_metrics_before(path: Path, step: int) -> None:
    """On resume, drop metric lines of steps the checkpoint does not include (they will be redone)."""
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in lines))


class _Progress:
    """A rich progress bar with loss, tokens/s and ETA."""

    def __init__(self, total: int, done: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("step {task.completed}/{task.total}"), BarColumn(),
                            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tps]:.0f} tok/s"),
                            TimeRemainingColumn())
        self.bar.start()
        self.task = self.bar.add_task("train", total=total, completed=done, loss=float("nan"), tps=0.0)

    def update(self, record: dict) -> None:
        self.bar.update(self.task, completed=record["step"], loss=record["loss"], tps=record["tokens_per_s"])

    def close(self) -> None:
        self.bar.stop()
