"""GRPO and its variants: advantages, the clipped loss, and a run whose reward must climb."""

import random

import pytest
import torch

from openweight.config import ModelConfig
from openweight.engine.generate import generate_ids
from openweight.model import Transformer
from openweight.train.grpo import (GRPOConfig, Rollout, advantages, batch_logprobs, credited, policy_gradient,
                                   policy_loss, train_grpo)
from openweight.train.init import init_weights


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
        stats.append(policy_gradient(model, rollouts, old, ref, config, pad_id=0))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    assert stats[1]["kl"] == pytest.approx(stats[0]["kl"], rel=1e-5) and stats[0]["kl"] > 0


@pytest.mark.parametrize("variant", ["grpo", "dr_grpo", "dapo"])
def test_reward_climbs_on_a_learnable_task(tmp_path, variant, one_thread):
    model, prompts, reward = tiny_policy()
    grpo = GRPOConfig(steps=12, prompts_per_step=4, group_size=8, max_new_tokens=6, lr=3e-2, variant=variant,
                      clip_high=0.28 if variant == "dapo" else 0.2, kl_coef=0.01 if variant == "grpo" else 0.0,
                      updates=2, checkpoint_every=100, plot=False)
    history = train_grpo(model, prompts, reward, grpo, tmp_path, stop_ids=set())
    start = sum(h["reward"] for h in history[:3]) / 3
    end = sum(h["reward"] for h in history[-3:]) / 3
    assert end > start + 0.3, (start, end)
    assert {"reward", "accuracy", "reply_tokens", "kl", "clip_fraction"} <= set(history[0])


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
