"""GRPO and its variants: advantages, the clipped loss, and a run whose reward must climb."""

import json
import math
import os
import random
import subprocess
import sys

import pytest
import torch

from openweight.config import ModelConfig
from openweight.cpu import set_threads
from openweight.engine.generate import generate_ids
from openweight.model import Transformer
from openweight.train import grpo as grpo_module
from openweight.train.grpo import (GRPOConfig, Rollout, advantages, batch_logprobs, credited, length_alike,
                                   policy_gradient, policy_loss, replay_gradient, train_grpo)
from openweight.train.data import Example, collate
from openweight.train.init import init_weights
from openweight.train.shared_prompts import reply_logprobs
from openweight.train.trainer import next_token_loss


def test_group_relative_advantages():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    grpo = advantages(rewards, "grpo")
    assert torch.allclose(grpo[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (1 / 3) ** 0.5, atol=1e-3)
    assert torch.equal(grpo[1], torch.zeros(4))  # all alike: nothing to learn
    assert torch.equal(advantages(rewards, "dr_grpo")[0], torch.tensor([0.5, -0.5, -0.5, 0.5]))


@pytest.mark.parametrize("variant", ["grpo", "dr_grpo", "dapo"])
def test_loss_pushes_up_good_replies_and_clips(variant):
    config = GRPOConfig(steps=1, variant=variant, clip_low=0.2, clip_high=0.28 if variant == "dapo" else 0.2,
                        max_new_tokens=4)
    logp = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    loss, stats = policy_loss(logp, torch.zeros(2, 3), mask, torch.tensor([1.0, -1.0]), config)
    loss.backward()
    assert (logp.grad[0, :2] < 0).all() and (logp.grad[1] > 0).all()  # descent raises good, lowers bad
    assert logp.grad[0, 2] == 0 and stats["clip_fraction"] == 0
    far = torch.full((2, 3), 1.0)  # ratio e > 1 + clip: clipped
    _, stats = policy_loss(far, torch.zeros(2, 3), mask, torch.tensor([1.0, -1.0]), config)
    assert stats["clip_fraction"] == 1.0


def test_asymmetric_clip_lets_a_good_token_grow_past_the_symmetric_bound():
    """A ratio of 1.25 lies between 1 + clip_low (1.2) and DAPO's 1 + clip_high (1.28): the symmetric
    clip has flattened the objective there, the asymmetric one still pushes the token up."""
    ratio = 1.25
    old, mask = torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool)
    outcome = {}
    for clip_high in (0.2, 0.28):
        config = GRPOConfig(steps=1, variant="dapo", clip_low=0.2, clip_high=clip_high)
        logp = torch.full((1, 2), math.log(ratio), requires_grad=True)
        loss, stats = policy_loss(logp, old, mask, torch.tensor([1.0]), config)
        loss.backward()
        outcome[clip_high] = loss.item(), logp.grad, stats["clip_fraction"]
    loss, grad, clipped = outcome[0.2]
    assert loss == pytest.approx(-(1 + 0.2)) and torch.equal(grad, torch.zeros(1, 2)) and clipped == 1.0
    loss, grad, clipped = outcome[0.28]
    # d(-ratio * A)/d(logp) = -ratio * A, each of the 2 tokens weighted 1/2 by the token mean
    assert loss == pytest.approx(-ratio) and clipped == 0.0
    torch.testing.assert_close(grad, torch.full((1, 2), -ratio / 2))


@pytest.mark.parametrize("variant", ["grpo", "dr_grpo", "dapo"])
def test_each_variant_weights_the_tokens_of_short_and_long_replies_as_documented(variant):
    """Two replies (1 and 3 tokens), both advantage 1, at ratio 1: a token's gradient is minus its
    weight in the loss. grpo: 1 / (replies x its reply's length), so the short reply's token counts 3x;
    dr_grpo: 1 / (replies x max_new_tokens) for every token; dapo: 1 / (all tokens) for every token."""
    mask = torch.tensor([[True, False, False], [True, True, True]])
    length, replies, tokens = mask.sum(1, keepdim=True).float(), 2, int(mask.sum())
    weights = {}
    for max_new_tokens in (8, 16):
        config = GRPOConfig(steps=1, variant=variant, max_new_tokens=max_new_tokens)
        logp = torch.zeros(2, 3, requires_grad=True)
        policy_loss(logp, torch.zeros(2, 3), mask, torch.ones(2), config)[0].backward()
        assert torch.equal(logp.grad[~mask], torch.zeros(2))  # padding takes no part
        weights[max_new_tokens] = -logp.grad
        expected = {"grpo": 1 / (replies * length), "dr_grpo": torch.full((2, 1), 1 / (replies * max_new_tokens)),
                    "dapo": torch.full((2, 1), 1 / tokens)}[variant].expand(2, 3) * mask
        torch.testing.assert_close(-logp.grad, expected)
    short, long = weights[8][0, 0], weights[8][1, 0]
    assert float(short) == pytest.approx(float(long) * (3 if variant == "grpo" else 1))
    assert torch.allclose(weights[8], 2 * weights[16]) == (variant == "dr_grpo")  # only dr_grpo's divisor is M


def test_k3_kl_is_zero_at_the_reference_and_positive_away():
    config = GRPOConfig(steps=1, kl_coef=0.1)
    mask = torch.ones(1, 4, dtype=torch.bool)
    _, same = policy_loss(torch.zeros(1, 4), torch.zeros(1, 4), mask, torch.zeros(1), config, torch.zeros(1, 4))
    _, away = policy_loss(torch.full((1, 4), -0.5), torch.zeros(1, 4), mask, torch.zeros(1), config,
                          torch.zeros(1, 4))
    assert same["kl"] == 0 and away["kl"] > 0


@pytest.fixture
def one_thread():
    """A model this small only loses from threads, and badly so on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_policy():
    """A 2-layer model over 16 tokens, prompts of 3 random tokens, and the reward: the share of reply
    tokens that are token 5 (a random policy scores ~1/16)."""
    torch.manual_seed(0)
    config = ModelConfig.from_dict(dict(model_type="llama", vocab_size=16, hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64))
    model = init_weights(Transformer(config), seed=0, std=0.2).eval().requires_grad_(False)

    def prompts(step, n):
        rng = random.Random(step)
        ids = [[rng.randrange(1, 16) for _ in range(3)] for _ in range(n)]
        return ids, ids

    def reward(item, reply):
        share = sum(t == 5 for t in reply) / len(reply)
        return share, share > 0.5

    return model, prompts, reward


def test_replies_sharing_a_prompt_get_the_logprobs_and_gradient_of_whole_sequences():
    """Each distinct prompt runs once and its replies attend to its keys and values: the log-probabilities
    and their gradient are those of every prompt + reply run whole (a float64 model), across banded layers
    whose window (4) reaches back from the replies into prompts of different lengths."""
    config = ModelConfig.from_dict(dict(model_type="gpt_oss", vocab_size=32, hidden_size=32, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        head_dim=8, max_position_embeddings=64, sliding_window=4,
                                        num_local_experts=4, num_experts_per_tok=2))
    model = init_weights(Transformer(config), seed=0, std=0.2).double().requires_grad_(True)
    rng = random.Random(0)
    prompts, replies = [], []
    for length in (3, 7, 5):  # a group of 3 replies a prompt, in an interleaved order
        prompts += [[rng.randrange(1, 32) for _ in range(length)]] * 3
        replies += [[rng.randrange(32) for _ in range(rng.randint(1, 9))] for _ in range(3)]
    order = [0, 3, 6, 1, 4, 7, 2, 5, 8]
    prompts, replies = [prompts[i] for i in order], [replies[i] for i in order]

    shared, mask = reply_logprobs(model, prompts, replies, pad_id=0)
    (shared * torch.linspace(0.5, 1.5, shared.numel()).view(shared.shape)).sum().backward()
    shared_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    whole = torch.zeros(shared.shape)
    for row, (p, r) in enumerate(zip(prompts, replies)):
        ids = torch.tensor([p + r])
        logp = torch.log_softmax(model(ids[:, :-1]), dim=-1)[0].gather(-1, ids[0, 1:, None])[:, 0]
        whole[row, :len(r)] = logp[len(p) - 1:]
    (whole * torch.linspace(0.5, 1.5, whole.numel()).view(whole.shape)).sum().backward()
    assert mask.tolist() == [[j < len(r) for j in range(9)] for r in replies]
    # The model's logits are float32: agreement to float32's precision.
    torch.testing.assert_close(shared, whole, rtol=0, atol=1e-6)
    for (name, p), expected in zip(model.named_parameters(), shared_grads):
        assert (expected - p.grad).abs().max() <= 1e-5 * p.grad.abs().max(), name


def test_shared_prompt_gradients_round_the_same_with_the_cores_busy():
    """Replies share their prompt's keys, values and last logits; the backward of that sharing sums
    many replies into one prompt row. PyTorch's backward of indexing by repeated rows adds them with
    atomic float adds across threads, in an order that follows the threads' timing: GRPO's weights
    then differed by the rounding of whatever else ran on the machine. With a busy process beside it,
    100 backward passes must give the same gradients bit for bit."""
    threads = torch.get_num_threads()
    set_threads(2)  # the race needs two threads; one rounds the same every time
    torch.manual_seed(0)
    config = ModelConfig.from_dict(dict(model_type="gpt_oss", vocab_size=512, hidden_size=64, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        head_dim=16, num_local_experts=2, num_experts_per_tok=1,
                                        sliding_window=16, max_position_embeddings=128))
    model = init_weights(Transformer(config), seed=0, std=0.2).requires_grad_(True)
    rng = random.Random(0)
    prompts = [[rng.randrange(1, 512) for _ in range(40)] for _ in range(3)]
    # 96 replies over 3 prompts: the sums hold 120K keys and 48K logits, above the size (32K) where
    # PyTorch splits them between threads; each thread takes half the replies, so both add into the
    # middle prompt's row
    prompts, replies = [p for p in prompts for _ in range(32)], [[rng.randrange(512) for _ in range(8)] for _ in range(96)]

    def gradients() -> list[torch.Tensor]:
        model.zero_grad()
        logp, _ = reply_logprobs(model, prompts, replies, pad_id=0)
        logp.sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    busy = subprocess.Popen([sys.executable, "-c", "import torch\na = torch.randn(512, 512)\nwhile True: a @ a"],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        first = gradients()
        differing = sum(any(not torch.equal(a, b) for a, b in zip(first, gradients())) for _ in range(100))
    finally:
        busy.kill()
        busy.wait()
        set_threads(threads)
    assert differing == 0, f"{differing} of 100 backward passes rounded otherwise"


@pytest.mark.parametrize("variant", ["grpo", "dr_grpo", "dapo"])
def test_micro_batches_give_the_one_pass_gradient(variant):
    model, _, _ = tiny_policy()
    model.requires_grad_(True)
    rng = random.Random(0)
    rollouts = [Rollout([rng.randrange(1, 16) for _ in range(3)], [rng.randrange(16) for _ in range(rng.randint(1, 9))],
                        reward=0.0, correct=False, advantage=rng.uniform(-1, 1)) for _ in range(7)]
    grads, stats = [], []
    for size in (7, 2):  # one pass; then slices of 2, 2, 2, 1 of different widths
        config = GRPOConfig(steps=1, variant=variant, kl_coef=0.1, micro_batch=size, max_new_tokens=9)
        with torch.no_grad():
            old = batch_logprobs(model, rollouts, 0, size)
            ref = [(logp - 0.1, mask) for logp, mask in old]  # a reference the policy has moved from
        model.zero_grad()
        stats.append(policy_gradient(model, rollouts, old, ref, config, pad_id=0)[0])
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    assert stats[1]["kl"] == pytest.approx(stats[0]["kl"], rel=1e-5) and stats[0]["kl"] > 0


def test_the_first_update_takes_its_old_logprobs_from_its_own_pass():
    """old=None (the model still the sampler) gives the very gradient of a separate no-grad pass, and
    hands back those log-probabilities for the next update."""
    model, _, _ = tiny_policy()
    model.requires_grad_(True)
    rng = random.Random(1)
    rollouts = [Rollout([rng.randrange(1, 16) for _ in range(rng.randint(2, 5))],
                        [rng.randrange(16) for _ in range(rng.randint(0, 9))],
                        reward=0.0, correct=False, advantage=rng.uniform(-1, 1)) for _ in range(7)]
    config = GRPOConfig(steps=1, variant="dapo", kl_coef=0.1, micro_batch=3, max_new_tokens=9)
    with torch.no_grad():
        separate = batch_logprobs(model, rollouts, 0, 3)
    ref = [(logp - 0.1, mask) for logp, mask in separate]
    results = []
    for old in (separate, None):
        model.zero_grad()
        stats, computed = policy_gradient(model, rollouts, old, ref, config, pad_id=0)
        results.append((stats, torch.cat([p.grad.flatten() for p in model.parameters()]), computed))
    assert results[0][1].abs().max() > 0
    assert torch.equal(results[1][1], results[0][1]) and results[1][0] == results[0][0]
    for (logp, mask), (expected, expected_mask) in zip(results[1][2], separate):
        assert torch.equal(logp, expected) and torch.equal(mask, expected_mask) and not logp.requires_grad


@pytest.mark.parametrize("variant", ["grpo", "dr_grpo", "dapo"])
def test_reward_climbs_on_a_learnable_task(tmp_path, variant, one_thread):
    model, prompts, reward = tiny_policy()
    grpo = GRPOConfig(steps=12, prompts_per_step=4, group_size=8, max_new_tokens=6, lr=3e-2, variant=variant,
                      kl_coef=0.01 if variant == "grpo" else 0.0, updates=2, checkpoint_every=100, plot=False)
    history = train_grpo(model, prompts, reward, grpo, tmp_path, stop_ids=set())
    start = sum(h["reward"] for h in history[:3]) / 3
    end = sum(h["reward"] for h in history[-3:]) / 3
    assert end > start + 0.3, (start, end)
    assert {"reward", "accuracy", "reply_tokens", "clip_fraction"} <= set(history[0])
    assert ("kl" in history[0]) == (variant == "grpo")  # measured against a reference model, or not logged


def test_dapo_clips_higher_above_than_below_unless_told_otherwise():
    assert GRPOConfig(steps=1, variant="dapo").clip_high == 0.28
    assert GRPOConfig(steps=1, variant="grpo", clip_low=0.1).clip_high == 0.1
    assert GRPOConfig(steps=1, variant="dapo", clip_high=0.3).clip_high == 0.3


def test_a_wrong_reply_is_blamed_from_its_first_wrong_step_on():
    rollouts = [Rollout([1], [5, 5, 3, 5], 0.0, False, advantage=-1.0, credit_from=2),
                Rollout([1], [5, 5, 5], 1.0, True, advantage=1.0, credit_from=2),  # pushed up: all of it
                Rollout([1], [3, 5], 0.0, False, advantage=-1.0)]  # no step found: all of it
    mask = torch.tensor([[True] * 4, [True] * 3 + [False], [True] * 2 + [False] * 2])
    assert credited(mask, rollouts).tolist() == [[False, False, True, True], [True, True, True, False],
                                                 [True, True, False, False]]


def test_step_credit_trains_on_a_learnable_task(tmp_path, one_thread):
    """The tiny task with a step checker: a reply's first token other than 5 is its first wrong step."""
    model, prompts, reward = tiny_policy()

    def first_error(item, reply):
        return next((i for i, t in enumerate(reply) if t != 5), None)

    grpo = GRPOConfig(steps=12, prompts_per_step=4, group_size=8, max_new_tokens=6, lr=3e-2, variant="dapo",
                      clip_high=0.28, updates=2, checkpoint_every=100, plot=False)
    history = train_grpo(model, prompts, reward, grpo, tmp_path, stop_ids=set(), first_error=first_error)
    start = sum(h["reward"] for h in history[:3]) / 3
    end = sum(h["reward"] for h in history[-3:]) / 3
    assert end > start + 0.3, (start, end)


def test_heldout_accuracy_is_measured_before_and_during_training_and_plotted(tmp_path, one_thread):
    model, prompts, reward = tiny_policy()
    heldout_prompts = [[random.Random(1000 + i).randrange(1, 16) for _ in range(3)] for i in range(16)]

    def heldout(model) -> float:  # greedy replies to prompts the policy never trains on
        replies = greedy_replies(model, heldout_prompts)
        return sum(reward(None, r)[1] for r in replies) / len(replies)

    grpo = GRPOConfig(steps=12, prompts_per_step=4, group_size=8, max_new_tokens=6, lr=3e-2, variant="dapo",
                      clip_high=0.28, updates=2, checkpoint_every=100, eval_every=6)
    history = train_grpo(model, prompts, reward, grpo, tmp_path, stop_ids=set(), heldout=heldout)
    measured = [(h["step"], h["heldout_accuracy"]) for h in history if "heldout_accuracy" in h]
    assert [step for step, _ in measured] == [0, 6, 12], measured
    assert measured[-1][1] > measured[0][1]
    assert (tmp_path / "curves.png").stat().st_size > 0


def greedy_replies(model, prompts: list[list[int]]) -> list[list[int]]:
    """Six greedy tokens after each prompt."""
    replies = [[] for _ in prompts]
    for step in generate_ids(model, prompts, 6):
        for reply, token in zip(replies, step):
            if token is not None:
                reply.append(token)
    return replies


@pytest.mark.parametrize("variant", ["dapo", "grpo"])
def test_dapo_drops_the_groups_whose_replies_all_score_the_same(tmp_path, monkeypatch, variant, one_thread):
    """Prompts that begin with an even token score 1 whatever the reply: DAPO trains on the other
    groups only (groups_used, and the rollouts the policy gradient sees); GRPO keeps every group."""
    model, _, share = tiny_policy()
    prompts = [[2, 7, 9], [3, 7, 9], [4, 7, 9], [5, 7, 9]]
    scores = []  # (prompt, reward) of every reply, in the order the groups are scored

    def reward(item, reply):
        r = 1.0 if item[0] % 2 == 0 else share(item, reply)[0]
        scores.append((tuple(item), r))
        return r, r > 0.5

    trained = []  # the prompts of the rollouts each policy-gradient pass takes
    real = grpo_module.policy_gradient

    def spy(model, rollouts, *args, **kwargs):
        trained.append({tuple(r.prompt) for r in rollouts})
        return real(model, rollouts, *args, **kwargs)

    monkeypatch.setattr(grpo_module, "policy_gradient", spy)
    config = GRPOConfig(steps=2, prompts_per_step=4, group_size=8, max_new_tokens=6, lr=3e-2, variant=variant,
                        clip_high=0.28 if variant == "dapo" else 0.2, checkpoint_every=100, plot=False)
    history = train_grpo(model, lambda step, n: (prompts[:n], prompts[:n]), reward, config, tmp_path, stop_ids=set())
    per_step = 4 * 8
    for step, record in enumerate(history):
        rewards = {}
        for prompt, r in scores[step * per_step:(step + 1) * per_step]:
            rewards.setdefault(prompt, []).append(r)
        varied = {p for p, rs in rewards.items() if max(rs) > min(rs)}
        assert 1 <= len(varied) <= 2  # the two even prompts' groups are always all alike
        kept = varied if variant == "dapo" else set(rewards)
        assert record["groups_used"] == len(kept)
        assert trained[step] == kept


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path, one_thread):
    """Stopped after 2 of 4 steps and run again in a new process (a fresh copy of the starting model):
    the same weights and metrics as 4 steps in one go. Rollouts are seeded by step, and the KL
    reference is the starting model, not the checkpoint."""
    settings = dict(steps=4, prompts_per_step=4, group_size=4, max_new_tokens=6, lr=3e-2, kl_coef=0.5,
                    variant="dapo", clip_high=0.28, updates=2, checkpoint_every=1, plot=False, replay_coef=0.5)
    replay = lambda step: [Example([9, step + 1, 7], [False, True, True])]  # noqa: E731 (a step's own)
    straight, prompts, reward = tiny_policy()
    expected = train_grpo(straight, prompts, reward, GRPOConfig(**settings), tmp_path / "straight", stop_ids=set(),
                          replay=replay)
    first, _, _ = tiny_policy()
    train_grpo(first, prompts, reward, GRPOConfig(**{**settings, "steps": 2}), tmp_path / "resumed", stop_ids=set(),
               replay=replay)
    resumed, _, _ = tiny_policy()
    later = train_grpo(resumed, prompts, reward, GRPOConfig(**settings), tmp_path / "resumed", stop_ids=set(),
                       replay=replay)
    assert [r["step"] for r in later] == [3, 4]
    assert all(torch.equal(a, b) for a, b in zip(straight.parameters(), resumed.parameters()))
    drop_time = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    lines = lambda folder: [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert drop_time(lines(tmp_path / "resumed")) == drop_time(lines(tmp_path / "straight")) == drop_time(expected)
    assert any(r.get("kl", 0) > 0 for r in expected) and all(r["replay_loss"] > 0 for r in expected)


def test_replay_keeps_what_the_rewards_do_not_cover(tmp_path, one_thread):
    """The reward pushes every reply token toward 5; the replayed examples teach 7 after the prompt
    [9, 9, 9]. With replay the policy learns both (its loss on the examples falls below a quarter);
    without, the examples are forgotten (their loss rises)."""
    examples = [Example([9, 9, 9, 7, 7, 7], [False, False, False, True, True, True])] * 4

    def examples_loss(model) -> float:
        inputs, targets = collate(examples, 0)
        with torch.no_grad():
            return float(next_token_loss(model, inputs, targets, sum(sum(e.mask[1:]) for e in examples)))

    before, ends = {}, {}
    for coef in (0.0, 1.0):
        model, prompts, reward = tiny_policy()
        before[coef] = examples_loss(model)
        grpo = GRPOConfig(steps=12, prompts_per_step=4, group_size=8, max_new_tokens=6, lr=3e-2, variant="dapo",
                          clip_high=0.28, updates=2, checkpoint_every=100, plot=False, replay_coef=coef,
                          replay_batch=len(examples))
        history = train_grpo(model, prompts, reward, grpo, tmp_path / str(coef), stop_ids=set(),
                             replay=lambda step: examples)
        assert sum(h["reward"] for h in history[-3:]) / 3 > sum(h["reward"] for h in history[:3]) / 3 + 0.3
        # late steps keep no group (every reply right): with replay they still make their updates
        assert any(h["groups_used"] == 0 for h in history)
        assert all("replay_loss" in h for h in history) == (coef > 0)
        ends[coef] = examples_loss(model)
    assert ends[1.0] < before[1.0] / 4 and ends[0.0] > before[0.0], (before, ends)


def test_replay_gradient_is_the_scaled_supervised_gradient_in_any_slices():
    """coef x the gradient of the mean loss over all learnt tokens, whether the examples (of different
    lengths) go through in one pass or two at a time."""
    model, _, _ = tiny_policy()
    model.requires_grad_(True)
    rng = random.Random(0)
    examples = []
    for _ in range(5):
        n = rng.randint(3, 9)
        examples.append(Example([rng.randrange(1, 16) for _ in range(n)], [i >= 2 for i in range(n)]))
    inputs, targets = collate(examples, 0)
    next_token_loss(model, inputs, targets, sum(sum(e.mask[1:]) for e in examples)).backward()
    direct = torch.cat([p.grad.flatten() for p in model.parameters()])
    for size in (5, 2):
        model.zero_grad()
        replay_gradient(model, examples, 0.3, pad_id=0, size=size)
        torch.testing.assert_close(torch.cat([p.grad.flatten() for p in model.parameters()]), 0.3 * direct,
                                   rtol=1e-4, atol=1e-7)


def test_replayed_examples_go_in_length_alike_chunks():
    """Shortest first; a chunk ends at `size` examples or before one more than twice its shortest."""
    examples = [Example([1] * n, [True] * n) for n in (30, 9, 4, 7, 3, 20, 5)]
    lengths = lambda chunks: [[len(e.ids) for e in c] for c in chunks]  # noqa: E731
    assert lengths(length_alike(examples, 8)) == [[3, 4, 5], [7, 9], [20, 30]]
    assert lengths(length_alike(examples, 2)) == [[3, 4], [5, 7], [9], [20, 30]]


def test_replay_without_examples_is_refused(tmp_path):
    model, prompts, reward = tiny_policy()
    with pytest.raises(ValueError, match="replay_coef is 0.5 but train_grpo got no replay"):
        train_grpo(model, prompts, reward, GRPOConfig(steps=1, replay_coef=0.5), tmp_path, stop_ids=set())
    with pytest.raises(ValueError, match="replay gave no examples at step 0"):
        train_grpo(model, prompts, reward, GRPOConfig(steps=1, replay_coef=0.5), tmp_path, stop_ids=set(),
                   replay=lambda step: [])
