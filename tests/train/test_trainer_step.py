"""One trainer step checked against its arithmetic: the masked loss, accumulation, gradient clipping,
QK-clip inside train(), the schedule it follows, checkpoints that a failed write leaves as they were,
and pretraining on plain text."""

import copy

import pytest
import torch

from openweight.config import ModelConfig
from openweight.model import Transformer
from openweight.model.attention import Attention
from openweight.train.checkpoint import load_checkpoint
from openweight.train.data import Batches, Example, pretraining_examples
from openweight.train.init import init_weights
from openweight.train.optim import build_optimizers
from openweight.train.qk_clip import start_tracking
from openweight.tokenizer import Tokenizer
from openweight.train.trainer import TrainConfig, train

CONFIG = dict(model_type="llama", vocab_size=32, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)


def tiny_model(std: float = 0.02) -> Transformer:
    return init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0, std=std)


def counting(lengths: list[int], prompt: int = 3, learn_last: bool = True) -> list[Example]:
    """Counting sequences of the given lengths; the first `prompt` tokens are not learnt, nor (with
    learn_last=False) the final one."""
    out = []
    for n, length in enumerate(lengths):
        ids = [(n + i) % 32 for i in range(length)]
        mask = [False] * prompt + [True] * (length - prompt)
        if not learn_last:
            mask[-1] = False
        out.append(Example(ids, mask))
    return out


def config(**overrides) -> TrainConfig:
    """One step at the peak rate (no warmup), no weight decay, nothing printed or plotted."""
    return TrainConfig(**{**dict(steps=1, batch_size=8, warmup=0, weight_decay=0.0, progress=False, plot=False),
                          **overrides})


def masked_mean_nll(model: torch.nn.Module, examples: list[Example]) -> torch.Tensor:
    """The loss as the trainer defines it, computed another way: each example on its own (no padding),
    -log p of every token its mask marks, averaged over all of them."""
    total, count = torch.zeros(()), 0
    for e in examples:
        ids = torch.tensor(e.ids)
        logp = torch.log_softmax(model(ids[None, :-1]).float()[0], dim=-1)
        learn = torch.tensor(e.mask[1:])
        total = total - logp.gather(-1, ids[1:, None])[:, 0][learn].sum()
        count += int(learn.sum())
    return total / count


def weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_the_loss_is_the_mean_over_the_learnt_tokens_only(tmp_path):
    examples = counting([6, 9, 12, 7, 10, 8])  # unequal lengths: padded batches
    model = tiny_model()
    expected = masked_mean_nll(model.train(), examples).item()
    record = train(model, examples, config(batch_size=len(examples)), tmp_path)[0]
    assert record["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("learn_last", [False, True])
def test_changing_a_target_changes_the_step_only_where_the_mask_learns_it(tmp_path, learn_last):
    """The final token of a sequence is only ever a target (never an input): change it and the step
    is the same, bit for bit, unless the mask learns that token."""
    base = counting([8, 11, 9, 12], learn_last=learn_last)
    edited = [Example(e.ids[:-1] + [(e.ids[-1] + 7) % 32], e.mask) for e in base]
    runs = []
    for name, examples in (("base", base), ("edited", edited)):
        model = tiny_model()
        record = train(model, examples, config(batch_size=len(examples)), tmp_path / name)[0]
        runs.append((record["loss"], weights(model)))
    (loss_a, weights_a), (loss_b, weights_b) = runs
    if learn_last:
        # At random init every token costs about log(32): a changed target moves the loss a little.
        assert loss_a != pytest.approx(loss_b, rel=1e-5) and not torch.equal(weights_a, weights_b)
    else:
        assert loss_a == loss_b and torch.equal(weights_a, weights_b)


def test_two_micro_batches_make_the_step_of_one_batch_of_both(tmp_path):
    """Each micro-batch's summed loss is divided by the whole step's learnt-token count, so
    accumulation=2 x batch 4 is the token-level mean over the 8 examples, as batch 8 in one pass
    (not the mean of two micro-batch means)."""
    examples = counting([5, 12, 6, 11, 7, 14, 4, 9], prompt=2)
    split = Batches(examples, batch_size=4, accumulation=2, seed=0).micro_batches(0)
    learnt = [int((targets != -100).sum()) for _, targets in split]
    assert learnt[0] != learnt[1]  # else a per-micro-batch mean would give the same loss
    runs = []
    for batch_size, accumulation in ((4, 2), (8, 1)):
        model = tiny_model()
        history = train(model, examples, config(steps=3, batch_size=batch_size, accumulation=accumulation,
                                                clip=1e9), tmp_path / str(accumulation))
        runs.append((history, weights(model)))
    (split_history, split_weights), (whole_history, whole_weights) = runs
    # The same sums in another order and another padding width: float32 rounding, nothing more.
    for a, b in zip(split_history, whole_history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    torch.testing.assert_close(split_weights, whole_weights, rtol=0, atol=1e-5)


def test_clipping_steps_with_the_rescaled_gradient_and_logs_the_norm_before_it(tmp_path):
    """AdamW's first step is lr * g / (|g| + eps): scaling g changes it only through eps, so a clip far
    below the gradient's norm (gradient entries near eps) gives a step unlike the unclipped one."""
    examples = counting([8, 10, 12, 9])
    max_norm, lr = 1e-6, 1e-2
    model = tiny_model()
    by_hand = copy.deepcopy(model).train()
    record = train(model, examples, config(batch_size=len(examples), clip=max_norm, lr=lr), tmp_path)[0]

    masked_mean_nll(by_hand, examples).backward()
    norm = torch.cat([p.grad.flatten() for p in by_hand.parameters()]).norm()
    assert record["grad_norm"] == pytest.approx(float(norm), rel=1e-4) and norm > 1000 * max_norm
    steps = {}
    for name, scale in (("clipped", max_norm / (float(norm) + 1e-6)), ("unclipped", 1.0)):
        stepped = copy.deepcopy(by_hand)  # (deepcopy leaves the gradients behind)
        for p, original in zip(stepped.parameters(), by_hand.parameters()):
            p.grad = original.grad * scale
        torch.optim.AdamW(stepped.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0).step()
        steps[name] = weights(stepped)
    torch.testing.assert_close(weights(model), steps["clipped"], rtol=0, atol=lr * 1e-3)
    assert (weights(model) - steps["unclipped"]).abs().max() > lr * 0.1


def test_qk_clip_in_training_scales_each_query_head_down_to_the_threshold(tmp_path):
    """With lr 0 the optimizer moves nothing, so what changes is QK-clip's doing: each head's query rows
    scaled by tau / (its largest logit in the step), keys untouched, the logits then at tau."""
    examples = counting([10] * 4)
    model = tiny_model(std=1.0)  # large weights: large logits
    inputs, _ = Batches(examples, batch_size=4, accumulation=1, seed=0).micro_batches(0)[0]
    layers = [m for m in model.modules() if isinstance(m, Attention)]

    def largest_logits() -> list[torch.Tensor]:
        start_tracking(model)
        with torch.no_grad():
            model.train()(inputs)
        out = [layer.max_logits.clone() for layer in layers]
        for layer in layers:
            layer.max_logits = None
        return out

    before = largest_logits()
    queries, keys = [layer.q_proj.weight.clone() for layer in layers], [layer.k_proj.weight.clone() for layer in layers]
    tau = 0.5 * float(torch.cat(before).min())  # every head is over it
    record = train(model, examples, config(batch_size=4, lr=0.0, qk_clip=tau), tmp_path)[0]
    assert record["clipped_heads"] == sum(layer.heads for layer in layers)
    for layer, q, k, peak in zip(layers, queries, keys, before):
        rows = (tau / peak).repeat_interleave(layer.head_dim)[:, None]
        torch.testing.assert_close(layer.q_proj.weight, q * rows)
        assert torch.equal(layer.k_proj.weight, k)
    # The first layer's input is unchanged, so its logits scale exactly (later layers see new inputs).
    torch.testing.assert_close(largest_logits()[0], torch.full((layers[0].heads,), tau), rtol=1e-4, atol=0)


def test_a_checkpoint_write_that_fails_midway_leaves_the_previous_one(tmp_path, monkeypatch):
    examples = counting([8, 10, 12, 9])
    real_save, saved = torch.save, []

    def save_then_fail(obj, f, *args, **kwargs):
        if saved:  # the second checkpoint: some bytes written, then the disk is full
            with open(f, "wb") as out:
                out.write(b"PK\x03\x04 half a checkpoint")
            raise OSError("No space left on device")
        saved.append({k: v.clone() for k, v in obj["model"].items()})
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(OSError, match="No space"):
        train(tiny_model(), examples, config(steps=3, batch_size=4, checkpoint_every=1), tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir() if "checkpoint" in p.name) == ["checkpoint.pt"]  # no temp
    restored = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=1)
    assert load_checkpoint(tmp_path, restored, build_optimizers(restored, "adamw", 1e-2, 0.0)) == 1
    state = restored.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved[0].items())
    # A rerun resumes after the step the surviving checkpoint holds.
    history = train(tiny_model(), examples, config(steps=3, batch_size=4, checkpoint_every=1), tmp_path)
    assert [r["step"] for r in history] == [2, 3]


def test_the_progress_bar_shows_step_loss_speed_and_time_left(tmp_path, capsys):
    model = tiny_model()
    records = train(model, counting([10] * 8), config(steps=3, batch_size=4, progress=True), tmp_path)
    shown = capsys.readouterr().out
    assert "step 3/3" in shown and f"loss {records[-1]['loss']:.4f}" in shown and "tok/s" in shown
    assert "0:00:00" in shown  # the time left, at the end


def test_warmup_stable_decay_falls_over_the_decay_fraction_it_is_given(tmp_path):
    records = train(tiny_model(), counting([12] * 8), config(steps=10, schedule="wsd", decay_fraction=0.4,
                                                             min_lr_ratio=0.1, lr=1e-3), tmp_path)
    lrs = [r["lr"] for r in records]
    assert lrs[:6] == [1e-3] * 6  # no warmup: flat until the last 4 steps
    assert all(a > b for a, b in zip(lrs[5:], lrs[6:])) and lrs[-1] == pytest.approx(1e-4)


def test_pretraining_packs_plain_text_into_full_sequences_and_learns_it(tmp_path):
    texts = [f"The {animal} sat on the {thing}." for animal in ("cat", "dog", "fox") for thing in ("mat", "log")]
    tokenizer = Tokenizer.train(texts, 80, ["<|endoftext|>"], eos_token="<|endoftext|>")
    examples = pretraining_examples(texts, tokenizer, context=16)
    eos = tokenizer.eos_token_id
    stream = [t for e in examples for t in e.ids]
    assert all(len(e.ids) == 16 for e in examples[:-1]) and 2 <= len(examples[-1].ids) <= 16
    assert all(all(e.mask) for e in examples) and stream.count(eos) == len(texts)
    assert tokenizer.decode(stream).split("<|endoftext|>")[:-1] == texts
    model = init_weights(Transformer(ModelConfig.from_dict({**CONFIG, "vocab_size": tokenizer.vocab_size})), seed=0)
    records = train(model, examples, config(steps=40, batch_size=4, lr=1e-2), tmp_path)
    assert records[-1]["loss"] < 0.5 * records[0]["loss"]
    with pytest.raises(ValueError, match="end-of-text token"):
        pretraining_examples(texts, Tokenizer.train(texts, 80, []), context=16)
