"""MXFP4 expert weights decode exactly as `transformers` decodes them, and load into a working model."""

import json

import pytest
import torch
from safetensors.torch import save_file

import openweight
from openweight.weights.mxfp4 import dequantize_mxfp4

E2M1 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def encode_mxfp4(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize w [experts, rows, cols] to (blocks [e, rows, cols/32, 16] uint8, scales [e, rows, cols/32] uint8).

    Each block of 32 values shares the power of two that brings its largest magnitude within E2M1's 6.0;
    each value becomes the nearest E2M1 code (sign bit 3), two codes a byte, low nibble first.
    """
    e, rows, cols = w.shape
    groups = w.reshape(e, rows, cols // 32, 32)
    amax = groups.abs().amax(-1).clamp(min=2.0 ** -126)
    exponent = (torch.floor(torch.log2(amax)) - 2).clamp(-127, 127)  # 6.0 = 1.5 * 2**2
    scaled = groups / torch.exp2(exponent)[..., None]
    magnitude = (scaled.abs()[..., None] - E2M1).abs().argmin(-1)  # nearest code 0..7
    codes = (magnitude | ((scaled < 0).long() << 3)).to(torch.uint8)  # [e, rows, groups, 32]
    blocks = codes[..., 0::2] | (codes[..., 1::2] << 4)
    return blocks, (exponent + 127).to(torch.uint8)


def test_decoding_is_bit_identical_to_transformers():
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    torch.manual_seed(0)
    w = torch.randn(3, 40, 96) * torch.logspace(-3, 2, 40)[None, :, None]  # many scales
    w[0, 0, :32] = 0.0  # an all-zero block
    blocks, scales = encode_mxfp4(w)
    ours = dequantize_mxfp4(blocks, scales, torch.float32)
    theirs = convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)
    assert ours.shape == theirs.shape == (3, 96, 40)
    assert torch.equal(ours, theirs)
    # and the encoder is a real quantizer: within E2M1's resolution of the original
    block_max = w.abs().reshape(3, 40, 3, 32).amax(-1).repeat_interleave(32, -1).clamp(min=1e-30)
    rel = (ours.transpose(1, 2) - w).abs() / block_max
    assert rel.max() <= 0.25


def test_mxfp4_checkpoint_loads_and_matches_dense(make_hf_model, tmp_path):
    """A gpt-oss checkpoint with MXFP4 experts, as released, gives the logits of its dequantized weights."""
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    hf = make_hf_model("gpt_oss", intermediate_size=64)
    hf.save_pretrained(tmp_path / "dense")
    state = dict(hf.state_dict())
    packed = {}
    for name in list(state):
        if name.endswith(("experts.gate_up_proj", "experts.down_proj")):
            blocks, scales = encode_mxfp4(state.pop(name).transpose(1, 2).contiguous())
            packed[name + "_blocks"], packed[name + "_scales"] = blocks, scales
            # the dense reference gets exactly the decoded values
            hf.state_dict()[name].copy_(convert_moe_packed_tensors(blocks, scales, dtype=torch.float32))
    state.pop("lm_head.weight", None) if hf.config.tie_word_embeddings else None
    folder = tmp_path / "mxfp4"
    folder.mkdir()
    save_file({**{k: v.contiguous() for k, v in state.items()}, **packed}, folder / "model.safetensors",
              metadata={"format": "pt"})
    config = json.loads((tmp_path / "dense" / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "mxfp4",
                                     "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                                "model.embed_tokens", "lm_head"]}
    (folder / "config.json").write_text(json.dumps(config))

    lm = openweight.load(folder)
    ids = torch.randint(0, lm.config.vocab_size, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = hf(ids).logits
    assert (lm.logits(ids) - expected).abs().max().item() < 1e-4


def test_mismatched_blocks_and_scales_are_named(tmp_path):
    with pytest.raises(ValueError, match="do not match"):
        dequantize_mxfp4(torch.zeros(1, 4, 2, 16, dtype=torch.uint8), torch.zeros(1, 4, 3, dtype=torch.uint8))
