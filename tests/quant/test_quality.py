"""Quality guard for weight-only quantization on a real model: SmolLM2-135M-Instruct's perplexity on
a fixed English text, int8 within 1% and int4 within 5% of float32, with top-1 agreement reported.
Measured twice: the text in one pass (as prefill computes it), and one token at a time through the KV
cache (as decoding does). On AVX2 CPUs openweight's kernels (quant.kernels) take activations as 8 bits
per block of 32 in both. A float16 KV cache (llama.cpp's default) is held to 0.1%."""

import copy

import pytest
import torch

import openweight
from openweight.engine.kv_cache import KVCache
from openweight.model.fuse import fuse_projections
from openweight.quant import quantize

TEXT = (
    "The lighthouse stood at the end of a long stone pier, and every evening the keeper climbed its "
    "spiral stairs to light the lamp. Ships that passed in the night could see the beam sweep across "
    "the water, a slow and steady signal that the rocks were near. In the winter the storms came from "
    "the north, and waves broke over the pier so hard that the keeper could not leave the tower for "
    "days. He kept a logbook of every ship he saw, the weather of each day, and the oil he burned. "
    "When the first electric lamp arrived, the village gathered to watch it switched on. It was "
    "brighter than anything they had seen, and it no longer needed a keeper to tend it through the "
    "night. The keeper stayed on anyway, writing in his logbook, because someone ought to watch the "
    "sea. Years later his notes were used by scientists who studied how the coast had changed, how "
    "the storms had grown, and how the fish had moved further out as the water warmed."
)


def perplexity_and_top1(model, ids: torch.Tensor, one_token_at_a_time: bool = False,
                        cache_dtype: torch.dtype | None = None) -> tuple[float, torch.Tensor]:
    with torch.inference_mode():
        if one_token_at_a_time:
            cache = KVCache(model.config, 1, ids.shape[1], 1, cache_dtype or model.dtype)
            logits = torch.cat([model(ids[:, i:i + 1], cache=cache)[0] for i in range(ids.shape[1] - 1)])
        else:
            logits = model(ids)[0, :-1].float()  # [seq-1, vocab]
    loss = torch.nn.functional.cross_entropy(logits, ids[0, 1:])
    return float(loss.exp()), logits.argmax(-1)


@pytest.fixture(scope="module")
def reference():
    lm = openweight.load("smollm2-135m")  # the GGUF's weights decoded to float32
    ids = torch.tensor([lm.tokenizer.encode(TEXT)])
    return lm, ids, *perplexity_and_top1(lm.model, ids)


@pytest.mark.parametrize("one_token_at_a_time", [False, True], ids=["prefill", "decode"])
@pytest.mark.parametrize("mode,bound", [("int8", 0.01), ("int4", 0.05)])
def test_quantized_perplexity_stays_close_to_float32(reference, mode, bound, one_token_at_a_time):
    lm, ids, ppl, top1 = reference
    model = fuse_projections_copy(lm.model)
    quantize(model, mode)  # int4 from the float32 weights: groups of 32, as a user's float checkpoint gets
    quantized_ppl, quantized_top1 = perplexity_and_top1(model, ids, one_token_at_a_time)
    agreement = float((quantized_top1 == top1).float().mean())
    print(f"\n{mode}, {'decode' if one_token_at_a_time else 'prefill'}: perplexity {quantized_ppl:.3f} vs float32 {ppl:.3f} "
          f"({quantized_ppl / ppl - 1:+.2%}), top-1 agreement {agreement:.1%} over {top1.numel()} tokens")
    assert 5 < ppl < 40  # the reference itself reads the text as English
    assert abs(quantized_ppl / ppl - 1) < bound
    assert agreement > 0.85


def test_a_float16_kv_cache_keeps_perplexity(reference):
    """Keys and values kept at half precision, as llama.cpp's default cache: the float32 model decoding
    one token at a time reads the text as the float32 model does (measured against a float32 cache:
    -0.001% perplexity, every top-1 the same; bfloat16's shorter mantissa: +0.02%)."""
    lm, ids, ppl, top1 = reference
    half_ppl, half_top1 = perplexity_and_top1(lm.model, ids, one_token_at_a_time=True, cache_dtype=torch.float16)
    agreement = float((half_top1 == top1).float().mean())
    print(f"\nfloat16 cache: perplexity {half_ppl:.4f} vs {ppl:.4f} ({half_ppl / ppl - 1:+.4%}), top-1 agreement {agreement:.1%}")
    assert abs(half_ppl / ppl - 1) < 1e-3
    assert agreement > 0.99


def fuse_projections_copy(model):
    model = copy.deepcopy(model)
    fuse_projections(model)
    return model
