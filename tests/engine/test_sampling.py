"""Each sampling filter keeps exactly the tokens it should."""

import torch

from openweight.engine.sampling import SamplingParams, filter_logits, penalize_repeats, sample

LOGITS = torch.tensor([[2.0, 1.0, 0.5, -1.0, -3.0]])
PROBS = LOGITS.softmax(-1)  # ~[0.61, 0.22, 0.14, 0.03, 0.004]


def kept(params: SamplingParams) -> list[int]:
    return torch.isfinite(filter_logits(LOGITS, params))[0].nonzero().flatten().tolist()


def test_top_k():
    assert kept(SamplingParams(temperature=1.0, top_k=2)) == [0, 1]


def test_top_p_keeps_the_smallest_set_reaching_p():
    assert kept(SamplingParams(temperature=1.0, top_p=0.5)) == [0]
    assert kept(SamplingParams(temperature=1.0, top_p=0.7)) == [0, 1]
    assert kept(SamplingParams(temperature=1.0, top_p=0.9)) == [0, 1, 2]


def test_min_p_is_relative_to_the_top_token():
    assert kept(SamplingParams(temperature=1.0, min_p=0.3)) == [0, 1]  # 0.22/0.61 = 0.37 > 0.3
    assert kept(SamplingParams(temperature=1.0, min_p=0.4)) == [0]


def test_temperature_sharpens_and_flattens():
    cold = filter_logits(LOGITS, SamplingParams(temperature=0.5)).softmax(-1)
    hot = filter_logits(LOGITS, SamplingParams(temperature=2.0)).softmax(-1)
    assert cold[0, 0] > PROBS[0, 0] > hot[0, 0]


def test_repetition_penalty_moves_seen_logits_toward_zero():
    seen = torch.tensor([[True, False, False, True, False]])
    out = penalize_repeats(LOGITS, seen, 2.0)
    assert out.tolist() == [[1.0, 1.0, 0.5, -2.0, -3.0]]


def test_seeded_sampling_is_reproducible_and_follows_the_distribution():
    params = SamplingParams(temperature=1.0)
    logits = LOGITS.expand(4000, -1)
    seen = torch.zeros_like(logits, dtype=torch.bool)
    a = sample(logits, seen, params, torch.Generator().manual_seed(7))
    b = sample(logits, seen, params, torch.Generator().manual_seed(7))
    c = sample(logits, seen, params, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    freq = torch.bincount(a, minlength=5) / len(a)
    assert (freq - PROBS[0]).abs().max() < 0.03


def test_greedy_takes_the_argmax():
    seen = torch.zeros(1, 5, dtype=torch.bool)
    assert sample(LOGITS, seen, SamplingParams(), None).tolist() == [0]


def test_rows_with_their_own_generators_draw_as_each_would_alone():
    """A request's seeded draw in a batch of others is the one it makes alone; filtered-out tokens
    (probability 0) are never drawn."""
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(0))
    params = SamplingParams(temperature=1.0)
    batch = sample(logits, None, params, [torch.Generator().manual_seed(seed) for seed in range(6)])
    alone = [int(sample(logits[i:i + 1], None, params, [torch.Generator().manual_seed(i)])[0]) for i in range(6)]
    assert batch.tolist() == alone and len(set(alone)) > 1
    top = SamplingParams(temperature=1.0, top_k=1)
    for seed in range(20):
        drawn = sample(logits, None, top, [torch.Generator().manual_seed(seed + row) for row in range(6)])
        assert torch.equal(drawn, logits.argmax(-1))
