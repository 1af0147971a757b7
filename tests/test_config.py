"""config.json moves between transformers and openweight unchanged, in either RoPE spelling."""

import json

import pytest

from openweight import ConfigError, ModelConfig

LEGACY_LLAMA = {  # the spelling of transformers 4.x and most configs on the Hub
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 64, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009], "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
    "pretraining_tp": 1, "use_cache": True,
}


def test_legacy_spelling_round_trips_unchanged():
    config = ModelConfig.from_dict(LEGACY_LLAMA)
    assert config.rope_theta == 500000.0 and config.rope_type == "llama3"
    out = config.to_dict()
    for key, value in LEGACY_LLAMA.items():
        assert out[key] == value, key


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt_oss"])
def test_transformers_configs_read_and_write_back(make_hf_model, family, tmp_path):
    import transformers

    make_hf_model(family).config.save_pretrained(tmp_path)
    original = json.loads((tmp_path / "config.json").read_text())
    config = ModelConfig.from_file(tmp_path / "config.json")
    config.save(tmp_path / "again.json")
    again = json.loads((tmp_path / "again.json").read_text())
    assert {k: again.get(k) for k in original} == original
    reread = transformers.AutoConfig.from_pretrained(tmp_path)  # config.json, as written back is also read
    assert reread.to_dict()["rope_parameters"] == original["rope_parameters"]


def test_gpt_oss_defaults_are_those_of_transformers():
    import transformers

    raw = {"model_type": "gpt_oss", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 64,
           "num_hidden_layers": 4, "num_attention_heads": 16}
    ours = ModelConfig.from_dict(raw)
    theirs = transformers.GptOssConfig(**{k: v for k, v in raw.items() if k != "model_type"})
    assert ours.layer_types == theirs.layer_types
    assert ours.sliding_window == theirs.sliding_window
    assert {**ours.rope_scaling, "rope_theta": ours.rope_theta} == theirs.rope_parameters
    assert (ours.swiglu_alpha, ours.swiglu_limit) == (theirs.swiglu_alpha, theirs.swiglu_limit)
    assert ours.num_experts_per_tok == theirs.num_experts_per_tok
    assert ours.num_key_value_heads == theirs.num_key_value_heads


@pytest.mark.parametrize("field,value,message", [
    ("model_type", "bert", "model_type"),
    ("hidden_size", -4, "hidden_size"),
    ("layer_types", ["full_attention"], "layer_types"),
    ("rope_scaling", {"rope_type": "longrope"}, "rope_type"),
    ("hidden_act", "gelu", "hidden_act"),
])
def test_invalid_fields_are_named(field, value, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_dict({**LEGACY_LLAMA, field: value})


def test_missing_required_field_is_named():
    raw = dict(LEGACY_LLAMA)
    del raw["hidden_size"]
    with pytest.raises(ConfigError, match="'hidden_size' is missing"):
        ModelConfig.from_dict(raw)
