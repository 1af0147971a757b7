"""Held-out scoring by teacher forcing: batched and padded, it agrees with scoring one example at a time."""

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from openweight.config import ModelConfig
from openweight.model import Transformer
from openweight.train.data import Example
from openweight.train.held_out import held_out_metrics
from openweight.train.init import init_weights

CONFIG = dict(model_type="gpt_oss", vocab_size=16, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
              sliding_window=4, num_local_experts=4, num_experts_per_tok=2)


def one_at_a_time(model, examples):
    """Loss per learnt token and share of examples with every learnt token the first choice."""
    loss, tokens, exact = 0.0, 0, 0
    for e in examples:
        ids = torch.tensor([e.ids])
        logits = model(ids[:, :-1])[0]  # [t - 1, vocab]
        learnt = torch.tensor(e.mask[1:])
        wanted = ids[0, 1:][learnt]
        loss += F.cross_entropy(logits[learnt], wanted, reduction="sum").item()
        tokens += int(learnt.sum())
        exact += bool((logits[learnt].argmax(-1) == wanted).all())
    return loss / tokens, exact / len(examples)


def test_batched_scoring_matches_one_example_at_a_time():
    model = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0).eval()
    examples = []
    for n in range(7):  # ragged lengths, masks that learn part of each
        ids = [(3 * n + i) % 16 for i in range(5 + 2 * n)]
        examples.append(Example(ids, [i >= 2 for i in range(len(ids))]))
    for start in (1, 6, 11):  # greedy continuations: exact by construction
        ids = [start, (start + 5) % 16]
        with torch.no_grad():
            for _ in range(4):
                ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
        examples.append(Example(ids, [False, False, True, True, True, True]))
    scored = held_out_metrics(model, {"count": examples}, batch_size=3, pad_id=0, precision=nullcontext())
    loss, exact = one_at_a_time(model, examples)
    assert abs(scored["heldout_count_loss"] - loss) < 1e-5
    assert scored["heldout_count_exact"] == exact == 3 / 10
    assert not model.training  # left as it was


def test_exact_counts_an_example_only_when_every_learnt_token_is_the_first_choice():
    model = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0)
    with torch.no_grad():
        first = model(torch.tensor([[4, 9, 2]]))[0].argmax(-1).tolist()  # first choices after each token
    right = Example([4, 9, 2, first[2]], [False, False, False, True])
    wrong = Example([4, 9, 2, (first[2] + 1) % 16], [False, False, False, True])
    unlearnt_miss = Example([4, (first[0] + 1) % 16, 2, first[2]], [False, False, False, True])
    scored = held_out_metrics(model, {"a": [right], "b": [wrong], "c": [unlearnt_miss, right]}, 2, 0, nullcontext())
    assert scored["heldout_a_exact"] == 1.0 and scored["heldout_b_exact"] == 0.0
    assert model.training  # train mode restored
    # "c": the miss is on a token that is not learnt, so it does not count; the last token's choice may
    # differ with the changed context, so compare with scoring one at a time
    assert scored["heldout_c_exact"] == one_at_a_time(model.eval(), [unlearnt_miss, right])[1]
