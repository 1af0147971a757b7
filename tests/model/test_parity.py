"""openweight computes what `transformers` computes, for every family, whole-sequence and cached."""

import pytest
import torch

import openweight
from openweight.engine.generate import generate_ids
from openweight.engine.kv_cache import KVCache

TOL = 1e-4  # max absolute logit difference, float32
SEQ = 40    # five times the gpt-oss test window of 8


def tokens(vocab: int, batch: int = 2, seq: int = SEQ, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, seq), generator=g)


def test_whole_sequence_logits_match(hf_checkpoint):
    hf, folder = hf_checkpoint
    lm = openweight.load(folder)
    ids = tokens(lm.config.vocab_size)
    with torch.no_grad():
        expected = hf(ids).logits
    got = lm.logits(ids)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < TOL


@pytest.mark.parametrize("chunk", [1, 5])
def test_cached_decoding_matches_whole_sequence(hf_checkpoint, chunk):
    """Feeding the sequence through the KV cache `chunk` tokens at a time, past the window."""
    hf, folder = hf_checkpoint
    lm = openweight.load(folder)
    ids = tokens(lm.config.vocab_size)
    with torch.no_grad():
        expected = hf(ids).logits
    cache = KVCache(lm.config, ids.shape[0], SEQ, chunk, torch.float32)
    with torch.inference_mode():
        got = torch.cat([lm.model(ids[:, s:s + chunk], cache=cache) for s in range(0, SEQ, chunk)], dim=1)
    assert (got - expected).abs().max().item() < TOL


def test_greedy_generation_matches(hf_checkpoint):
    hf, folder = hf_checkpoint
    lm = openweight.load(folder)
    prompt = tokens(lm.config.vocab_size, batch=1, seq=12)
    with torch.no_grad():
        expected = hf.generate(prompt, max_new_tokens=64, do_sample=False, min_new_tokens=64)[0, 12:].tolist()
    got = [step[0] for step in generate_ids(lm.model, [prompt[0].tolist()], 64)]
    assert got == expected


def test_openweight_checkpoint_loads_in_transformers(hf_checkpoint, tmp_path):
    import transformers

    hf, folder = hf_checkpoint
    lm = openweight.load(folder)
    lm.save(tmp_path / "ow")
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ow", attn_implementation="eager",
                                                             dtype=torch.float32).eval()
    ids = tokens(lm.config.vocab_size)
    with torch.no_grad():
        assert (back(ids).logits - lm.logits(ids)).abs().max().item() < TOL
        assert torch.equal(back(ids).logits, hf(ids).logits)
    for name, tensor in hf.state_dict().items():
        assert torch.equal(back.state_dict()[name], tensor), name


def test_config_json_round_trips_unchanged(hf_checkpoint, tmp_path):
    import json

    _, folder = hf_checkpoint
    openweight.load(folder).save(tmp_path / "ow")
    original = json.loads((folder / "config.json").read_text())
    saved = json.loads((tmp_path / "ow" / "config.json").read_text())
    for key, value in original.items():
        assert saved.get(key) == value, key


def test_sharded_checkpoints_round_trip(make_hf_model, tmp_path):
    hf = make_hf_model("gpt_oss")
    hf.save_pretrained(tmp_path / "hf", max_shard_size="50KB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").exists()
    lm = openweight.load(tmp_path / "hf")
    lm.save(tmp_path / "ow", max_shard_size="50KB")
    assert len(list((tmp_path / "ow").glob("model-*-of-*.safetensors"))) > 1
    again = openweight.load(tmp_path / "ow")
    ids = tokens(lm.config.vocab_size)
    assert torch.equal(again.logits(ids), lm.logits(ids))


def test_batched_generation_equals_one_by_one(hf_checkpoint):
    """Prompts of different lengths in one left-padded batch give what each gives alone (greedy)."""
    lm = openweight.load(hf_checkpoint[1])
    prompts = [tokens(lm.config.vocab_size, 1, n, seed=n)[0].tolist() for n in (3, 17, 30)]
    alone = [[step[0] for step in generate_ids(lm.model, [p], 24)] for p in prompts]
    steps = list(generate_ids(lm.model, prompts, 24))
    together = [[step[row] for step in steps] for row in range(len(prompts))]
    assert together == alone


def test_left_padding_leaves_no_nan_anywhere(hf_checkpoint):
    """Padded rows compute finite values, so nothing can leak NaN into real rows through 0 * NaN."""
    lm = openweight.load(hf_checkpoint[1])
    ids = tokens(lm.config.vocab_size, batch=2, seq=12)
    positions = torch.tensor([list(range(12)), [-1] * 7 + list(range(5))])
    with torch.inference_mode():
        logits = lm.model(ids, positions)
    assert torch.isfinite(logits).all()
    alone = lm.logits(ids[1:, 7:])
    assert (logits[1, 7:] - alone[0]).abs().max().item() < TOL
