"""Bad input gets an openweight error that names what is wrong, never a traceback from inside torch."""

import json
import pickle
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

import openweight
from openweight import CheckpointError, ConfigError, GenerationError


@pytest.fixture
def saved(make_hf_model, tmp_path):
    folder = tmp_path / "model"
    make_hf_model("qwen2").save_pretrained(folder)
    return folder


def edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_unknown_model_type(saved):
    edit_config(saved, model_type="mamba")
    with pytest.raises(ConfigError, match="model_type.*'mamba'"):
        openweight.load(saved)


def test_bad_config_field_is_named(saved):
    edit_config(saved, num_key_value_heads=3)
    with pytest.raises(ConfigError, match="num_key_value_heads"):
        openweight.load(saved)


def test_missing_tensor_is_named(saved):
    tensors = load_file(saved / "model.safetensors")
    del tensors["model.layers.1.self_attn.k_proj.bias"]
    save_file(tensors, saved / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"missing tensor 'model\.layers\.1\.self_attn\.k_proj\.bias'"):
        openweight.load(saved)


def test_misshaped_tensor_is_named(saved):
    tensors = load_file(saved / "model.safetensors")
    tensors["model.layers.2.mlp.up_proj.weight"] = torch.zeros(95, 64)
    save_file(tensors, saved / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"'model\.layers\.2\.mlp\.up_proj\.weight' has shape \(95, 64\), "
                                              r"expected \(96, 64\)"):
        openweight.load(saved)


def test_truncated_safetensors_file(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated or corrupt"):
        openweight.load(saved)


def test_pickle_file_is_refused_unopened(saved, tmp_path):
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="pickle.*safetensors"):
        openweight.load(path)
    (saved / "model.safetensors").unlink()
    (saved / "pytorch_model.bin").write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="pytorch_model.bin.*pickle.*safetensors"):
        openweight.load(saved)
    assert not sentinel.exists()


def test_missing_path_and_unknown_name():
    with pytest.raises(CheckpointError, match="no-such-model.*not a known model name"):
        openweight.load("no-such-model")


def test_empty_prompt(saved):
    lm = openweight.load(saved)
    with pytest.raises(GenerationError, match="prompt is empty"):
        lm.generate([], max_new_tokens=4)
    with pytest.raises(GenerationError, match="empty"):
        lm.logits(torch.zeros(1, 0, dtype=torch.long))


def test_prompt_longer_than_context(saved):
    lm = openweight.load(saved)
    context = lm.config.max_position_embeddings
    with pytest.raises(GenerationError, match=f"exceeds the model's context of {context}"):
        lm.generate([1] * context, max_new_tokens=1)
    with pytest.raises(GenerationError, match=f"exceeds the model's context of {context}"):
        lm.generate([1] * (context - 4), max_new_tokens=8)
    with pytest.raises(GenerationError, match="context"):
        lm.logits(torch.ones(1, context + 1, dtype=torch.long))


def test_token_outside_vocabulary(saved):
    lm = openweight.load(saved)
    with pytest.raises(GenerationError, match="token id 5000"):
        lm.generate([1, 5000], max_new_tokens=2)


@pytest.mark.parametrize("name,value", [("temperature", -1.0), ("top_p", 0.0), ("top_k", -3), ("min_p", 2.0),
                                        ("repetition_penalty", 0.0)])
def test_bad_sampling_parameter_is_named(saved, name, value):
    lm = openweight.load(saved)
    with pytest.raises(GenerationError, match=name):
        lm.generate([1, 2], max_new_tokens=2, **{name: value})


@pytest.mark.parametrize("name,value", [("dtype", "float64"), ("kv_cache_dtype", "int8")])
def test_bad_dtype_is_named(saved, name, value):
    with pytest.raises(GenerationError, match=f"{name} must be one of float32, bfloat16, float16, got '{value}'"):
        openweight.load(saved, **{name: value})


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"not a gguf file at all")
    with pytest.raises(CheckpointError, match="broken.gguf"):
        openweight.load(path)


@pytest.mark.parametrize("keep,message", [(1_000, "header ends early"), (-4096, "lies past the end of the file")],
                         ids=["in the header", "in a tensor"])
def test_gguf_file_cut_short(tmp_path, keep, message):
    from openweight.registry import resolve

    data = resolve("smollm2-135m").read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match=f"cut.gguf.*{message}"):
        openweight.load(path)


def _gguf(kvs: list[bytes] = (), tensors: list[bytes] = (), version: bytes = struct.pack("<I", 3)) -> bytes:
    return b"GGUF" + version + struct.pack("<QQ", len(tensors), len(kvs)) + b"".join(kvs) + b"".join(tensors)


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


@pytest.mark.parametrize("data,message", [
    (_gguf([struct.pack("<Q", 2**62) + b"key"]), "header ends early"),  # a corrupt length, not 4 EiB asked for
    (_gguf([_string("general.alignment") + struct.pack("<II", 4, 0)]), "general.alignment is 0"),
    (_gguf(tensors=[_string("w") + struct.pack("<I", 7)]), "tensor 'w' has 7 dimensions"),
    (_gguf(tensors=[_string("w") + struct.pack("<IQIQ", 1, 48, 8, 0)]), "Q8_0 blocks of 32 do not tile"),
    (_gguf(version=struct.pack(">I", 3)), "big-endian"),
], ids=["string length", "alignment", "dimensions", "blocks", "big-endian"])
def test_malformed_gguf_header(tmp_path, data, message):
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=f"bad.gguf.*{message}"):
        openweight.load(path)


def test_built_in_model_missing_says_how_to_make_it(monkeypatch, tmp_path):
    from openweight import registry

    monkeypatch.setitem(registry.BUILT_IN, "openweight-mini", tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="openweight train recipes/openweight_mini.py"):
        openweight.load()
