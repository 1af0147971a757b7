"""Reinforcement learning with verifiable rewards: GRPO (DeepSeekMath/R1) and its Dr. GRPO and DAPO variants.

Each step samples `prompts_per_step` prompts, draws a group of `group_size` replies to each with
openweight's batched generation, scores them with a reward function, and makes `updates` clipped
policy-gradient steps on the group-relative advantages:

- grpo:    A = (r - mean) / (std + eps); each reply's token losses averaged, then replies averaged;
           optional KL to the reference model with the k3 estimator.
- dr_grpo: A = r - mean (no std); token losses summed and divided by a constant (max_new_tokens),
           so long replies are not favoured or penalised for their length.
- dapo:    A as grpo, token-level averaging over the whole batch, asymmetric clip (clip_high >
           clip_low), and dynamic sampling: groups whose replies all score the same are dropped.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..engine.continuous import generate_all
from ..engine.sampling import SamplingParams
from . import settings
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Example, collate
from .optim import build_optimizers
from .plot import plot_metrics
from .shared_prompts import reply_logprobs, reply_mask
from .trainer import append_metrics, keep_metrics_before, next_token_loss


@dataclass
class GRPOConfig:
    steps: int
    prompts_per_step: int = 8
    group_size: int = 8
    max_new_tokens: int = 256
    temperature: float = 1.0
    variant: str = "grpo"  # "grpo", "dr_grpo" or "dapo"
    clip_low: float = 0.2
    clip_high: float | None = None  # None: clip_low, or DAPO's 0.28 with variant="dapo" (unlikely tokens can grow)
    kl_coef: float = 0.0  # > 0 keeps a frozen reference model, adds the k3 KL term and logs "kl"
    # > 0: every update also descends this times the supervised loss on up to `replay_batch` conversations
    # of the SFT data (InstructGPT's PPO-ptx), so what the rewards do not cover keeps what SFT taught;
    # a step whose groups DAPO all drops still makes its updates on them.
    replay_coef: float = 0.0
    replay_batch: int = 16
    updates: int = 1  # gradient steps per batch of rollouts
    micro_batch: int = 16  # replies per forward/backward pass: bounds memory, leaves the gradient as it is
    lr: float = 1e-4
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 10
    eval_every: int = 0  # > 0: held-out accuracy before training and every this many steps
    plot: bool = True

    def __post_init__(self):
        settings.positive_ints(self, "steps", "prompts_per_step", "max_new_tokens", "updates", "micro_batch",
                               "checkpoint_every", "replay_batch")
        settings.require(settings.is_int(self.group_size) and self.group_size >= 2, "group_size",
                         "an integer >= 2 (advantages compare the replies of a group)", self.group_size)
        settings.counts(self, "eval_every", "seed")
        if self.clip_high is None:
            self.clip_high = 0.28 if self.variant == "dapo" else self.clip_low
        settings.positive_numbers(self, "temperature", "clip", "clip_low", "clip_high")
        settings.non_negative_numbers(self, "lr", "kl_coef", "weight_decay", "replay_coef")
        settings.one_of(self, "variant", ("grpo", "dr_grpo", "dapo"))
        settings.one_of(self, "optimizer", ("adamw", "muon"))


@dataclass
class Rollout:
    prompt: list[int]
    reply: list[int]
    reward: float
    correct: bool
    advantage: float = 0.0
    credit_from: int = 0  # the first token a negative advantage reaches (the ones before: right work)


def advantages(rewards: torch.Tensor, variant: str, eps: float = 1e-4) -> torch.Tensor:
    """Group-relative advantages of rewards [groups, group_size]."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if variant == "dr_grpo":
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, mask: torch.Tensor, adv: torch.Tensor,
                config: GRPOConfig, ref_logp: torch.Tensor | None = None,
                replies: int | None = None, tokens: int | None = None) -> tuple[torch.Tensor, dict]:
    """The clipped surrogate (plus KL) of a batch; logp/old_logp/mask [n, t], adv [n]. For a slice of a
    larger batch, `replies` and `tokens` are the whole batch's counts, so the slices' losses add up to
    the batch's."""
    ratio = torch.exp(logp - old_logp)
    a = adv[:, None]
    surrogate = torch.minimum(ratio * a, ratio.clamp(1 - config.clip_low, 1 + config.clip_high) * a)
    per_token = -surrogate
    kl = torch.zeros(())
    if ref_logp is not None and config.kl_coef > 0:
        log_ratio = ref_logp - logp
        kl_tokens = torch.exp(log_ratio) - log_ratio - 1  # k3: unbiased, always >= 0
        per_token = per_token + config.kl_coef * kl_tokens
        kl = (kl_tokens * mask).sum() / mask.sum()
    m = mask.float()
    replies = len(mask) if replies is None else replies
    tokens = m.sum() if tokens is None else tokens
    if config.variant == "grpo":
        loss = ((per_token * m).sum(1) / m.sum(1).clamp(min=1)).sum() / replies
    elif config.variant == "dr_grpo":
        loss = (per_token * m).sum() / (replies * config.max_new_tokens)
    elif config.variant == "dapo":
        loss = (per_token * m).sum() / tokens
    else:
        raise ValueError(f"variant must be grpo, dr_grpo or dapo, got {config.variant!r}")
    clipped = ((ratio < 1 - config.clip_low) | (ratio > 1 + config.clip_high)) & mask
    return loss, {"kl": float(kl.detach()), "clip_fraction": float(clipped.sum() / mask.sum())}


def batch_logprobs(model, rollouts: list[Rollout], pad_id: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """reply_logprobs of the rollouts, `size` replies at a time: [(logprobs [size, t], mask [size, t])]."""
    return [reply_logprobs(model, [r.prompt for r in chunk], _replies(chunk, pad_id), pad_id)
            for chunk in _slices(rollouts, size)]


def policy_gradient(model, rollouts: list[Rollout], old: list | None, ref: list | None, config: GRPOConfig,
                    pad_id: int) -> tuple[dict, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Backward of the whole batch's loss, config.micro_batch replies at a time: the gradients add up to
    one pass's, while memory holds one slice's activations (attention scores grow with replies x
    length^2: 128 replies of ~300 tokens took 18 GiB at once). old/ref: batch_logprobs of the same
    slices; old=None when the model is still the one that sampled the rollouts (a step's first update),
    whose log-probabilities this pass computes anyway (the same numbers as a separate no-grad pass,
    without its cost). Returns the batch's mean KL and clip fraction, and this pass's batch_logprobs
    (detached): the `old` of the updates after it."""
    slices = _slices(rollouts, config.micro_batch)
    tokens = sum(int(credited(reply_mask(_replies(chunk, pad_id)), chunk).sum()) for chunk in slices)
    kl = clipped = 0.0
    computed = []
    for i, chunk in enumerate(slices):
        logp, mask = batch_logprobs(model, chunk, pad_id, len(chunk))[0]
        computed.append((logp.detach(), mask))
        mask = credited(mask, chunk)
        adv = torch.tensor([r.advantage for r in chunk])
        loss, stats = policy_loss(logp, computed[i][0] if old is None else old[i][0], mask, adv, config,
                                  ref[i][0] if ref else None, replies=len(rollouts), tokens=tokens)
        loss.backward()
        kl += stats["kl"] * int(mask.sum())
        clipped += stats["clip_fraction"] * int(mask.sum())
    measured = {"kl": kl / tokens} if ref else {}  # no reference model, no KL to log
    return {**measured, "clip_fraction": clipped / tokens}, computed


def replay_gradient(model, examples: list[Example], coef: float, pad_id: int, size: int) -> float:
    """Backward of coef x the supervised loss (mean over all the learnt tokens) on examples, at most
    `size` examples at a time (the one-pass gradient); returns that loss."""
    learnt = sum(sum(e.mask[1:]) for e in examples)
    total = 0.0
    for chunk in length_alike(examples, size):
        inputs, targets = collate(chunk, pad_id)  # [n, t] each
        loss = next_token_loss(model, inputs, targets, learnt)
        (coef * loss).backward()
        total += float(loss.detach())
    return total


def length_alike(examples: list[Example], size: int) -> list[list[Example]]:
    """The examples shortest first, in chunks of at most `size` whose longest is at most twice their
    shortest: a chunk pads to its longest, so 16 conversations of the SFT mixture (80-900 tokens) in
    one batch took 5.8 s a pass on 2 cores, in length-alike chunks 2.1 s."""
    chunks: list[list[Example]] = []
    for e in sorted(examples, key=lambda e: len(e.ids)):
        if chunks and len(chunks[-1]) < size and len(e.ids) <= 2 * len(chunks[-1][0].ids):
            chunks[-1].append(e)
        else:
            chunks.append([e])
    return chunks


def credited(mask: torch.Tensor, rollouts: list[Rollout]) -> torch.Tensor:
    """The reply tokens [n, t] the loss takes: all of them, except, in a reply pushed down, those
    before its first wrong step, which were right and are not to blame."""
    start = torch.tensor([r.credit_from if r.advantage < 0 else 0 for r in rollouts])
    return mask & (torch.arange(mask.shape[1])[None] >= start[:, None])


def _replies(rollouts: list[Rollout], pad_id: int) -> list[list[int]]:
    """The rollouts' replies, an empty one as one pad token (a reply with no tokens has no log-probability)."""
    return [r.reply or [pad_id] for r in rollouts]


def _slices(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


RewardFn = Callable[[object, list[int]], tuple[float, bool]]  # (prompt item, reply ids) -> (reward, correct)


def rollouts(model, items: list, prompts: list[list[int]], reward: RewardFn, config: GRPOConfig,
             stop_ids: set[int], seed: int) -> list[list[Rollout]]:
    """group_size sampled replies per prompt, generated as one batch, scored."""
    batch = [p for p in prompts for _ in range(config.group_size)]
    replies = generate_all(model, batch, config.max_new_tokens, stop_ids,
                           SamplingParams(temperature=config.temperature),
                           seeds=[seed * 1_000 + i for i in range(len(batch))], max_batch=len(batch))
    groups = []
    for i, (item, prompt) in enumerate(zip(items, prompts)):
        group = []
        for reply in replies[i * config.group_size:(i + 1) * config.group_size]:
            r, correct = reward(item, reply)
            group.append(Rollout(prompt, reply, r, correct))
        groups.append(group)
    return groups


def train_grpo(model, sample_prompts: Callable[[int, int], tuple[list, list[list[int]]]], reward: RewardFn,
               config: GRPOConfig, out_dir: str | Path, stop_ids: set[int], pad_id: int = 0,
               heldout: Callable[[torch.nn.Module], float] | None = None,
               first_error: Callable[[object, list[int]], int | None] | None = None,
               replay: Callable[[int], list[Example]] | None = None) -> list[dict]:
    """GRPO on `model` in place. sample_prompts(step, n) -> (items, prompt ids): seeded by step, so a
    resumed run draws the same prompts. Checkpoints and metrics as the trainer writes them; with
    `heldout` (model -> accuracy on problems it never trains on) and config.eval_every, the metrics
    also hold `heldout_accuracy`: at step 0 and every eval_every steps. With `first_error` (item, reply
    -> index of the reply token where its first wrong step begins, or None), a wrong reply's tokens
    before that step are left out of its loss: the outcome reward then blames the step that failed,
    not the right work before it. With config.replay_coef > 0, replay(step) gives the step's
    `replay_batch` supervised examples (seeded by step, as the prompts)."""
    if config.replay_coef > 0 and replay is None:
        raise ValueError(f"GRPO replay_coef is {config.replay_coef} but train_grpo got no replay "
                         "(step -> supervised examples): pass one or set replay_coef=0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "grpo_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    reference = copy.deepcopy(model).eval().requires_grad_(False) if config.kl_coef > 0 else None
    optimizers = build_optimizers(model.requires_grad_(True), config.optimizer, config.lr, config.weight_decay)
    start = load_checkpoint(out, model, optimizers)
    metrics_path, history = out / "metrics.jsonl", []
    keep_metrics_before(metrics_path, start)
    evaluating = heldout is not None and config.eval_every > 0
    if evaluating and start == 0:  # a fresh run: its metrics start with the model as it came
        metrics_path.unlink(missing_ok=True)
        history.append({"step": 0, "heldout_accuracy": heldout(model.eval())})
        append_metrics(metrics_path, history[-1])
    for step in range(start, config.steps):
        t0 = time.perf_counter()
        model.eval()  # sample_prompts may generate with it (branching)
        items, prompts = sample_prompts(step, config.prompts_per_step)
        groups = rollouts(model, items, prompts, reward, config, stop_ids, seed=config.seed * 100_003 + step)
        all_rollouts = [r for g in groups for r in g]
        rewards = torch.tensor([[r.reward for r in g] for g in groups])
        adv = advantages(rewards, config.variant)
        for item, g, a in zip(items, groups, adv):
            for r, value in zip(g, a.tolist()):
                r.advantage = value
                if first_error is not None and not r.correct:
                    r.credit_from = first_error(item, r.reply) or 0
        if config.variant == "dapo":  # dynamic sampling: all-right or all-wrong groups teach nothing
            groups = [g for g, rs in zip(groups, rewards) if rs.max() > rs.min()]
        train_set = [r for g in groups for r in g]
        stats = {"clip_fraction": 0.0}
        replayed = replay(step) if config.replay_coef > 0 else []
        if config.replay_coef > 0 and not replayed:
            raise ValueError(f"GRPO replay gave no examples at step {step} (replay_coef is {config.replay_coef})")
        if train_set or replayed:
            model.train().requires_grad_(True)
            with torch.no_grad():
                ref = batch_logprobs(reference, train_set, pad_id, config.micro_batch) if reference else None
            old = None  # the first update computes them
            for _ in range(config.updates):
                if train_set:
                    stats, computed = policy_gradient(model, train_set, old, ref, config, pad_id)
                    old = old or computed
                if replayed:
                    stats["replay_loss"] = replay_gradient(model, replayed, config.replay_coef, pad_id,
                                                           config.micro_batch)
                stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip))
                for o in optimizers:
                    o.step()
                    o.zero_grad(set_to_none=True)
            model.eval().requires_grad_(False)
        record = {"step": step + 1,
                  "reward": sum(r.reward for r in all_rollouts) / len(all_rollouts),
                  "accuracy": sum(r.correct for r in all_rollouts) / len(all_rollouts),
                  "reply_tokens": sum(len(r.reply) for r in all_rollouts) / len(all_rollouts),
                  **stats,
                  "groups_used": len(groups), "seconds": time.perf_counter() - t0}
        if evaluating and ((step + 1) % config.eval_every == 0 or step + 1 == config.steps):
            record["heldout_accuracy"] = heldout(model)
        history.append(record)
        append_metrics(metrics_path, record)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            save_checkpoint(out, step + 1, model, optimizers)
    if config.plot and metrics_path.exists():
        plot_metrics(metrics_path, out / "curves.png", title=f"{config.variant}, {config.steps} steps")
    return history
