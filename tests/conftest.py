"""Small random-weight reference models built with `transformers`, shared by the tests."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="transformers is the reference for parity tests")

# Families, each small but with every feature that matters switched on.
FAMILIES = {
    "llama": dict(
        model_type="llama", vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "llama3", "rope_theta": 5000.0, "factor": 4.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
    ),
    "qwen2": dict(
        model_type="qwen2", vocab_size=101, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=256, rms_norm_eps=1e-6,
        tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ),
    "gpt_oss": dict(
        model_type="gpt_oss", vocab_size=103, hidden_size=64, intermediate_size=48, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
        sliding_window=8, num_local_experts=5, num_experts_per_tok=2, swiglu_limit=1.5,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 8.0, "beta_fast": 32.0,
                         "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 64},
    ),
}


@pytest.fixture(autouse=True, scope="session")
def compiled_step_cache(tmp_path_factory):
    """Ahead-of-time compiled decode steps (engine.aot) go to a folder of this test run, not ~/.cache;
    processes the tests start inherit it."""
    patch = pytest.MonkeyPatch()
    patch.setenv("OPENWEIGHT_CACHE", str(tmp_path_factory.mktemp("openweight-cache")))
    yield
    patch.undo()


def hf_model(family: str, seed: int = 0, **overrides):
    """A random-weight `transformers` model of the family, every parameter non-trivial."""
    spec = {**FAMILIES[family], **overrides}
    config = transformers.AutoConfig.for_model(**spec, eos_token_id=None, bos_token_id=None, pad_token_id=None)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                                          dtype=torch.float32)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("sinks"):
                p.copy_(torch.randn_like(p))  # large enough that the sink takes real probability mass
            else:
                p.normal_(0.0, 0.15)
    return model.eval()


@pytest.fixture(params=list(FAMILIES))
def family(request) -> str:
    return request.param


@pytest.fixture
def hf_checkpoint(family, tmp_path):
    """(transformers model, folder it was saved to with save_pretrained)."""
    model = hf_model(family)
    model.save_pretrained(tmp_path / "hf")
    return model, tmp_path / "hf"


@pytest.fixture
def make_hf_model():
    """The hf_model builder, for tests that need other seeds or shard sizes."""
    return hf_model
