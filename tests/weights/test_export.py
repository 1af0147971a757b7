"""A GGUF model saved by openweight is a Hugging Face folder that transformers loads, tokenizer included."""

import pytest
import torch

import openweight


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    lm = openweight.load("smollm2-135m")
    folder = tmp_path_factory.mktemp("smollm2-hf")
    lm.save(folder)
    return lm, folder


def test_transformers_loads_the_export(exported):
    import transformers

    lm, folder = exported
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    assert ids == lm.chat_prompt(messages)
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits
    assert (lm.logits(torch.tensor([ids])) - expected).abs().max().item() < 5e-4
    assert tok.eos_token == "<|im_end|>"


def test_openweight_reloads_the_export_identically(exported):
    lm, folder = exported
    again = openweight.load(folder)
    text = "The quick brown fox jumps over the lazy dog. 1234567"
    assert again.tokenizer.encode(text) == lm.tokenizer.encode(text)
    ids = torch.tensor([lm.tokenizer.encode(text)])
    assert torch.equal(again.logits(ids), lm.logits(ids))
    assert again.chat("What is the capital of France?", max_new_tokens=16).content == \
        lm.chat("What is the capital of France?", max_new_tokens=16).content
