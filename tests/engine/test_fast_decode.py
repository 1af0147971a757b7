"""The fast decode path: fused projections compute what the separate ones did, and decoding through
compiled steps (static cache: ahead of time, or torch.compile for large MoE batches) gives the eager
path's tokens."""

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
import torch

import openweight
from openweight.engine.aot import AOTStep, aot_step, cache_dir, package_key, prune_cache
from openweight.engine.compiled import decode_step
from openweight.engine.generate import generate_ids
from openweight.engine.kv_cache import KVCache
from openweight.errors import GenerationError
from openweight.model.fuse import fuse_projections, is_fused
from openweight.quant import kernels


def test_fused_projections_give_the_same_logits_and_refuse_saving(hf_checkpoint, tmp_path):
    _, folder = hf_checkpoint
    plain, fused = openweight.load(folder), openweight.load(folder)
    fuse_projections(fused.model)
    assert is_fused(fused.model) and not is_fused(plain.model)
    ids = torch.randint(0, plain.config.vocab_size, (2, 17))
    torch.testing.assert_close(fused.logits(ids), plain.logits(ids), rtol=1e-5, atol=1e-5)
    with pytest.raises(GenerationError, match="save the model loaded without"):
        fused.save(tmp_path / "out")


@pytest.mark.parametrize("family", ["llama", "gpt_oss"])
def test_compiled_decoding_gives_the_eager_tokens(hf_checkpoint):
    """Greedy, three prompts of different lengths (left padding), past gpt_oss's 8-token window; for
    gpt_oss, 3 tokens x top-2 = 6 (token, expert) pairs for 5 experts: the grouped loop, outside the
    graph."""
    _, folder = hf_checkpoint
    lm = openweight.load(folder, compile=True)
    prompts = [[5, 9, 13, 2, 7], [11, 3], [8, 1, 6]]
    eager = list(generate_ids(lm.model, prompts, 24))
    compiled = list(generate_ids(lm.model, prompts, 24, compile=True))
    assert compiled == eager
    again = list(generate_ids(lm.model, [[4, 4, 8]], 10, compile=True))  # another shape: compiles again
    assert again == list(generate_ids(lm.model, [[4, 4, 8]], 10))


def test_experts_routed_on_the_kernels_decode_a_batch_in_one_ahead_of_time_graph(make_hf_model, tmp_path):
    """int4 experts on openweight's kernels route any batch in one call: 3 tokens x top-2 = 6 pairs for 5
    experts, which would otherwise need the grouped loop, decode through the step compiled ahead of
    time, with the eager path's logits."""
    if not kernels.available():
        pytest.skip("experts route in one call on openweight's AVX2 kernels only")
    # two layers, one banded and one full, to keep the compile short
    make_hf_model("gpt_oss", intermediate_size=64, num_hidden_layers=2,
                  layer_types=["sliding_attention", "full_attention"]).save_pretrained(tmp_path)
    model = openweight.load(tmp_path, quantize="int4", compile=True).model
    assert isinstance(decode_step(model, 3, 256, 512), AOTStep)
    prompts = [[5, 9, 13, 2, 7], [11, 3, 40, 1, 2], [8, 1, 6, 60, 4]]
    logits = {}
    with torch.inference_mode():
        for compiled in (False, True):
            cache = KVCache(model.config, 3, 256, 512, model.dtype, static=True)
            model(torch.tensor(prompts), None, cache)
            steps = []
            for i, token in enumerate([4, 30, 2, 61, 17, 5, 9, 12]):
                tokens, pos = torch.full((3, 1), token), torch.full((3, 1), 5 + i)
                if compiled:
                    cache.advance(pos)
                    steps.append(decode_step(model, 3, 256, 512)(tokens, pos, cache))
                else:
                    steps.append(model(tokens, pos, cache))
            logits[compiled] = torch.cat(steps, 1)  # [3, steps, vocab]
    torch.testing.assert_close(logits[True], logits[False], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["llama"])
def test_a_float16_cache_decodes_as_its_eager_path_and_near_a_float32_cache(hf_checkpoint):
    """kv_cache_dtype='float16' on a float32 model: the compiled steps give the eager path's tokens
    with the same cache, which holds float16 (its logits differ from a float32 cache's, but little)."""
    _, folder = hf_checkpoint
    lm = openweight.load(folder, compile=True, kv_cache_dtype="float16")
    assert lm.model.dtype == torch.float32 and lm.model.cache_dtype == torch.float16
    prompts = [[5, 9, 13, 2, 7], [11, 3]]
    assert list(generate_ids(lm.model, prompts, 16, compile=True)) == list(generate_ids(lm.model, prompts, 16))
    ids = torch.randint(0, lm.config.vocab_size, (1, 12))
    logits = {}
    for dtype in (torch.float32, torch.float16):
        cache = KVCache(lm.config, 1, 12, 1, dtype)
        with torch.inference_mode():
            logits[dtype] = torch.cat([lm.model(ids[:, i:i + 1], cache=cache) for i in range(12)], 1)
        assert cache.layers[0].keys.dtype == dtype
    difference = float((logits[torch.float16] - logits[torch.float32]).abs().max())
    assert 0 < difference < 1e-2 * float(logits[torch.float32].abs().max())


@pytest.mark.parametrize("family", ["llama"])
def test_a_later_process_decodes_from_the_package_without_the_compiler(hf_checkpoint):
    """The first compiled generation of a shape builds its ahead-of-time package (engine.aot); another
    process loads it with PyTorch's C++ loader: the eager tokens, and no Dynamo or Inductor imported."""
    _, folder = hf_checkpoint
    lm = openweight.load(folder, compile=True)
    prompt = [[5, 9, 13, 2, 7]]
    eager = [step[0] for step in generate_ids(lm.model, prompt, 12)]
    list(generate_ids(lm.model, prompt, 12, compile=True))  # builds the package
    code = (f"import json, sys, openweight\n"
            f"from openweight.engine.generate import generate_ids\n"
            f"lm = openweight.load({str(folder)!r}, compile=True)\n"
            f"tokens = [step[0] for step in generate_ids(lm.model, {prompt}, 12, compile=True)]\n"
            f"print(json.dumps([tokens, [m for m in ('torch._dynamo', 'torch._inductor') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    tokens, compiler_modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert tokens == eager and compiler_modules == []


@pytest.mark.parametrize("family", ["llama"])
def test_the_package_holds_no_weights_and_runs_on_the_models_own(hf_checkpoint):
    """Weights stay out of the package; the step reads the model's tensors themselves, so a change made
    to them in place shows in its next logits."""
    _, folder = hf_checkpoint
    model = openweight.load(folder, compile=True).model  # as generate_ids(compile=True) had it: its package
    step = aot_step(model, 1, 256, 512)
    with zipfile.ZipFile(cache_dir() / f"{package_key(model, 1, 256, 512)}.pt2") as package:
        names = package.namelist()
        config = json.loads(package.read(next(n for n in names if n.endswith("weights_config.json"))))
    own = {f"model.{name}" for name in model.state_dict()}
    assert own & set(config)  # the step uses the model's tensors...
    assert not [fqn for fqn, (file, *_) in config.items() if fqn in own and any(n.endswith(f"/{file}") for n in names)]

    def last_logits(decode):
        with torch.inference_mode():
            cache = KVCache(model.config, 1, 256, 512, model.dtype, static=True)
            model(torch.tensor([[5, 9, 13]]), None, cache)
            pos = torch.tensor([[3]])
            if decode is None:
                return model(torch.tensor([[7]]), pos, cache)
            cache.advance(pos)
            return decode(torch.tensor([[7]]), pos, cache)

    before = last_logits(step)
    torch.testing.assert_close(before, last_logits(None), rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        model.model.norm.weight.mul_(-2.0)  # the final norm: every logit changes
    after = last_logits(step)
    assert not torch.allclose(after, before, atol=1e-3)
    torch.testing.assert_close(after, last_logits(None), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", ["gpt_oss"])
def test_compiled_quantized_experts_compute_the_eager_logits(hf_checkpoint):
    """int4 experts (4-bit gate/up, float down: too narrow for groups) picked by tensor index in the
    step compiled ahead of time. Logits, not greedy tokens: the int4 kernel's outputs are bfloat16,
    where this tiny random model has exact ties that either path may break its own way."""
    _, folder = hf_checkpoint
    model = openweight.load(folder, quantize="int4", compile=True).model
    tokens = [4, 4, 8, 30, 2, 61, 17, 5, 9, 12, 40]
    logits = {}
    with torch.inference_mode():
        for compiled in (False, True):
            cache = KVCache(model.config, 1, 256, 512, model.dtype, static=True)
            model(torch.tensor([tokens[:3]]), None, cache)
            steps = []
            for i, token in enumerate(tokens[3:]):
                pos = torch.tensor([[3 + i]])
                if compiled:
                    cache.advance(pos)
                    steps.append(decode_step(model, 1, 256, 512)(torch.tensor([[token]]), pos, cache))
                else:
                    steps.append(model(torch.tensor([[token]]), pos, cache))
            logits[compiled] = torch.cat(steps, 1)  # [1, steps, vocab]
    torch.testing.assert_close(logits[True], logits[False], rtol=0, atol=0.05)  # a few bfloat16 steps of ~3


def test_the_package_cache_keeps_the_most_recently_used_within_its_limit(tmp_path):
    """Packages beyond the size limit go, least recently used first; other files stay."""
    for i, age in enumerate([50, 10, 40, 20, 30]):  # seconds since last use
        path = tmp_path / f"p{i}.pt2"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - age, time.time() - age))
    (tmp_path / "notes.txt").write_bytes(b"y" * 5000)
    (tmp_path / ".p9.x1.full.pt2").write_bytes(b"z" * 9000)  # another process's build in progress
    deleted = prune_cache(tmp_path, limit=3500)
    assert sorted(p.name for p in deleted) == ["p0.pt2", "p2.pt2"]  # the two used longest ago
    assert sorted(p.name for p in tmp_path.iterdir()) == [".p9.x1.full.pt2", "notes.txt", "p1.pt2", "p3.pt2", "p4.pt2"]
    assert prune_cache(tmp_path, limit=3500) == []
    # the package just built stays, even the oldest, even past the limit on its own
    assert sorted(p.name for p in prune_cache(tmp_path, limit=500, keep=tmp_path / "p4.pt2")) == ["p1.pt2", "p3.pt2"]


@pytest.mark.parametrize("family", ["gpt_oss"])
def test_a_static_cache_gives_the_dynamic_caches_logits_over_chunks(hf_checkpoint):
    """A prompt in chunks past the sliding window (8), then decode steps: a static cache (every slot
    in decode steps, only the written ones in the prompt's chunks) computes what a dynamic one does."""
    _, folder = hf_checkpoint
    model = openweight.load(folder).model
    ids = torch.randint(0, model.config.vocab_size, (2, 19))
    positions = torch.arange(19).expand(2, -1)
    logits = {}
    for static in (False, True):
        cache = KVCache(model.config, 2, 32, 5, model.dtype, static=static)
        with torch.inference_mode():
            steps = [model(ids[:, s:s + 5], positions[:, s:s + 5], cache) for s in range(0, 15, 5)]
            for s in range(15, 19):
                steps.append(model(ids[:, s:s + 1], positions[:, s:s + 1], cache))
        logits[static] = torch.cat(steps, 1)
    torch.testing.assert_close(logits[True], logits[False], rtol=1e-5, atol=1e-5)
