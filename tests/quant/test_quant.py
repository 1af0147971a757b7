"""Weight-only int8/int4 layers: the kernels compute what the stored weights say, the stored weights
are close to the float ones, GGUF Q4_1 blocks load exactly, and a quantized model stays close."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import openweight
from openweight.quant import Int4Linear, Int8Linear, kernels, quantize
from openweight.quant.embedding import Int8Embedding
from openweight.model.mlp import clamped_swiglu
from openweight.quant.model import QuantizedExperts, kept_as_codes
from openweight.registry import resolve


def relative_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y.float() - ref).norm().detach() / ref.norm())


@pytest.mark.parametrize("out_features", [48, 40])  # 40: the int4 packing pads to 48 rows and cuts them off
def test_int4_layer_computes_its_weights_and_they_are_close_to_float(out_features):
    torch.manual_seed(0)
    weight, bias, x = torch.randn(out_features, 128), torch.randn(out_features), torch.randn(3, 5, 128)
    layer = Int4Linear.from_float(weight, bias, group_size=32)
    w = layer.dequantized()
    assert w.shape == weight.shape
    # 4 bits over each group's range: at most half a step (range / 15 / 2) from the float weight.
    step = (weight.view(out_features, -1, 32).amax(-1) - weight.view(out_features, -1, 32).amin(-1)) / 15
    assert ((w - weight).abs().view(out_features, -1, 32) <= step[..., None] * 0.5 * 1.02 + 1e-2).all()
    y = layer(x)
    assert y.shape == (3, 5, out_features) and y.dtype == torch.float32
    # The kernel multiplies bfloat16 activations: 1e-2 is a few bfloat16 roundings, not a quantization error.
    assert relative_error(y, F.linear(x, w, bias)) < 1e-2


def test_int8_layer_computes_its_weights_and_they_are_close_to_float():
    torch.manual_seed(0)
    weight, bias, x = torch.randn(40, 96), torch.randn(40), torch.randn(7, 96)
    layer = Int8Linear.from_float(weight, bias, group_size=32)
    w = layer.dequantized()
    # Half a step (the group's largest magnitude / 127 / 2), plus the scale's bfloat16 rounding.
    step = weight.view(40, -1, 32).abs().amax(-1, keepdim=True) / 127
    assert ((w - weight).view(40, -1, 32).abs() <= step * 0.5 + step * 127 * 2 ** -8).all()
    assert relative_error(layer(x), F.linear(x, w, bias)) < 1e-2  # bfloat16 activations, as int4
    assert relative_error(layer(x), F.linear(x, weight, bias)) < 1e-2


def test_q8_0_blocks_load_exactly():
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(resolve("smollm2-135m"))
    tensor = next(t for t in reader.tensors if t.name == "token_embd.weight")
    assert tensor.tensor_type == gguf.GGMLQuantizationType.Q8_0
    blocks = np.asarray(tensor.data)[:512]  # the first 512 tokens' rows
    reference = torch.from_numpy(gguf.quants.dequantize(blocks, tensor.tensor_type)).float()
    layer = Int8Linear.from_q8_0(blocks)
    assert relative_error(layer.dequantized(), reference) < 1e-2  # exact, or scales in bfloat16 (PyTorch's kernel)
    x = torch.randn(3, reference.shape[1])
    assert relative_error(layer(x), x @ reference.t()) < 1e-2


def test_int4_rejects_what_it_cannot_hold():
    with pytest.raises(ValueError, match="group_size must be one of"):
        Int4Linear.from_float(torch.randn(16, 64), group_size=16)
    with pytest.raises(ValueError, match="divisible by group_size"):
        Int4Linear.from_float(torch.randn(16, 48), group_size=32)
    with pytest.raises(ValueError, match="divisible by group_size"):
        Int8Linear.from_float(torch.randn(16, 48), group_size=32)


def test_q4_1_blocks_load_exactly():
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(resolve("smollm2-135m"))
    tensor = next(t for t in reader.tensors if t.name == "blk.0.attn_q.weight")
    assert tensor.tensor_type == gguf.GGMLQuantizationType.Q4_1
    blocks = np.asarray(tensor.data)
    reference = torch.from_numpy(gguf.quants.dequantize(blocks, tensor.tensor_type)).float()  # [out, in]
    layer = Int4Linear.from_q4_1(blocks)
    assert (layer.out_features, layer.in_features) == reference.shape
    # The file's bytes (openweight's kernel), or scale = d and zero = m + 8d held in bfloat16 (PyTorch's):
    # within a few bfloat16 steps of the block's weights.
    assert relative_error(layer.dequantized(), reference) < 1e-2
    x = torch.randn(2, reference.shape[1])
    assert relative_error(layer(x), x @ reference.t()) < 1e-2


def with_dequantized_weights(float_model: torch.nn.Module, quantized: torch.nn.Module) -> None:
    """Give the float model the weights the quantized one holds, so that both should compute alike."""
    with torch.no_grad():
        for name, module in quantized.named_modules():
            if isinstance(module, QuantizedExperts):
                experts = float_model.get_submodule(name)
                for e in range(experts.gate_up_proj.shape[0]):
                    experts.gate_up_proj[e].copy_(module.gate_up.dequantized(e).t())
                    experts.down_proj[e].copy_(module.down.dequantized(e).t())
            elif isinstance(module, (Int4Linear, Int8Linear)) and ".experts." not in name \
                    and not name.endswith(".halves"):  # an Int8Linear's inner 4-bit halves
                # A new tensor, not a copy: a tied lm_head must not change the embeddings it shares.
                float_model.get_submodule(name).weight = torch.nn.Parameter(module.dequantized())


@pytest.mark.parametrize("family", ["llama", "gpt_oss"])
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_model_computes_what_its_weights_say(hf_checkpoint, family, mode):
    _, folder = hf_checkpoint
    reference, lm = openweight.load(folder), openweight.load(folder)
    quantize(lm.model, mode)
    # Only layers whose input features do not split into groups of 32 stay float (gpt_oss's experts here).
    assert all(m.in_features % 32 for m in lm.model.modules() if isinstance(m, torch.nn.Linear))
    assert any(isinstance(m, Int4Linear if mode == "int4" else Int8Linear) for m in lm.model.modules())
    with_dequantized_weights(reference.model, lm.model)
    ids = torch.randint(0, reference.config.vocab_size, (2, 24))
    if kernels.available():
        # openweight's kernels take activations as 8-bit codes per block of 32: the float model given
        # its linear layers' inputs rounded so computes the same, up to float32 rounding (which can
        # move a code by one step further on): a tenth of what the rounding itself changes at most.
        exact = reference.logits(ids)
        for name, module in lm.model.named_modules():
            if isinstance(module, (Int4Linear, Int8Linear)):
                reference.model.get_submodule(name).register_forward_pre_hook(
                    lambda _, args: (kernels.round_activations(args[0]),))
            elif isinstance(module, QuantizedExperts):  # gate_up quantized, down (48 inputs) float
                assert module.gate_up.group_size and not module.down.group_size
                experts = reference.model.get_submodule(name)
                experts.expert = lambda e, x, expert=experts.expert: expert(e, kernels.round_activations(x))
        rounded = reference.logits(ids)
        assert relative_error(lm.logits(ids), rounded) < relative_error(rounded, exact) / 10
    else:
        expected = reference.logits(ids)
        error = relative_error(lm.logits(ids), expected)
        # PyTorch's kernel multiplies bfloat16 activations: no further from float32 than the model run in bfloat16.
        floor = relative_error(reference.model.to(torch.bfloat16)(ids), expected)
        assert error <= floor


@pytest.mark.skipif(not kernels.available(), reason="experts route in one call on openweight's AVX2 kernels only")
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_experts_routed_in_one_kernel_call_compute_what_their_weights_say(make_hf_model, tmp_path, mode, monkeypatch):
    """gpt_oss experts 64 wide, so that gate/up and down both quantize: every (token, slot) pair goes
    through the experts in one kernel call a layer (QuantizedExperts.routed). It computes what the float
    experts do with the dequantized weights and each layer's input rounded as the kernels round it, and
    in a model, exactly what the grouped loop over experts computes."""
    make_hf_model("gpt_oss", intermediate_size=64).save_pretrained(tmp_path)
    reference, lm = openweight.load(tmp_path), openweight.load(tmp_path)
    quantize(lm.model, mode)
    with_dequantized_weights(reference.model, lm.model)
    experts, routed = (m.get_submodule("model.layers.0.mlp.experts") for m in (reference.model, lm.model))
    assert routed.routes_on_kernels
    torch.manual_seed(0)
    x = torch.randn(48, 64)
    chosen, weights = torch.randint(0, 5, (48, 2)), torch.rand(48, 2)
    chosen[:, 1] = (chosen[:, 0] + 1 + chosen[:, 1] % 4) % 5  # two different experts a token

    def mixed(round_input):
        gate_up = round_input(x)[:, None, None] @ experts.gate_up_proj[chosen] + experts.gate_up_proj_bias[chosen][:, :, None]
        inner = round_input(clamped_swiglu(gate_up, experts.alpha, experts.limit))  # [48, 2, 1, inner]
        y = (inner @ experts.down_proj[chosen] + experts.down_proj_bias[chosen][:, :, None])[:, :, 0]
        return (y * weights[..., None]).sum(1)  # [48, 64]
    exact, rounded = mixed(lambda t: t), mixed(kernels.round_activations)
    assert relative_error(routed.routed(x, chosen, weights), rounded) < relative_error(rounded, exact) / 10

    ids = torch.randint(0, reference.config.vocab_size, (2, 24))
    logits = lm.logits(ids)
    monkeypatch.setattr(QuantizedExperts, "routes_on_kernels", False)  # the grouped loop over experts
    assert torch.equal(logits, lm.logits(ids))


def test_int4_load_of_a_q4_1_gguf_keeps_the_files_4_bit_weights():
    """smollm2-135m is Q4_1: loaded with quantize='int4', its layers hold the file's 4-bit codes
    (scale and zero in bfloat16)."""
    gguf = pytest.importorskip("gguf")
    lm = openweight.load("smollm2-135m", quantize="int4")
    reader = gguf.GGUFReader(resolve("smollm2-135m"))
    tensor = next(t for t in reader.tensors if t.name == "blk.3.ffn_down.weight")
    reference = torch.from_numpy(gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type)).float()
    layer = lm.model.model.layers[3].mlp.down_proj
    assert isinstance(layer, Int4Linear)
    assert relative_error(layer.dequantized(), reference) < 1e-2
    # Q and K rows were reordered for llama.cpp; the blocks are put back in transformers' order.
    # Loading quantized fuses q/k/v into one layer: its rows are the three files' blocks, in order.
    float_attention = openweight.load("smollm2-135m").model.model.layers[0].self_attn
    float_qkv = torch.cat([float_attention.q_proj.weight, float_attention.k_proj.weight,
                           float_attention.v_proj.weight])
    assert relative_error(lm.model.model.layers[0].self_attn.qkv_proj.dequantized(), float_qkv) < 1e-2
    # The Q8_0 embedding keeps its codes and looks rows up to exactly the float model's values.
    embedding = lm.model.model.embed_tokens
    assert isinstance(embedding, Int8Embedding)
    ids = torch.tensor([[0, 1, 17, 4242, 49151]])
    assert torch.equal(embedding(ids), openweight.load("smollm2-135m").model.model.embed_tokens(ids))
    # The output layer is tied to the embedding: with openweight's kernels it multiplies those very bytes.
    if hasattr(lm.model.lm_head, "blocks"):
        assert lm.model.lm_head.blocks.data_ptr() == embedding.blocks.data_ptr()


@pytest.mark.parametrize("mode", ["int4", "int8"])
def test_a_quantized_gguf_load_decodes_only_what_it_does_not_take_as_codes(monkeypatch, mode):
    """SmolLM2's GGUF: Q4_1 layers, a Q8_0 embedding, F32 norms. In int4 the layers and the embedding
    take the file's codes, so only the norms are decoded to numbers; in int8 the Q4_1 layers are
    decoded and quantized again (and the embedding still is not)."""
    from openweight.weights import gguf_file

    decoded = []
    real = gguf_file._dequantize
    monkeypatch.setattr(gguf_file, "_dequantize", lambda f, t: decoded.append(t) or real(f, t))
    openweight.load("smollm2-135m", quantize=mode)
    types = {t.tensor_type.name for t in decoded}
    assert types == ({"F32"} if mode == "int4" else {"F32", "Q4_1"})
    assert not any(t.name == "token_embd.weight" for t in decoded)


def test_a_layer_fused_from_blocks_of_two_types_is_quantized_from_its_values():
    """q/k/v fuse into one layer; with parts of two types it cannot take any part's codes as they are."""
    attention = "model.layers.0.self_attn"
    blocks = {f"{attention}.q_proj.weight": ("Q4_1", None), f"{attention}.k_proj.weight": ("Q4_1", None),
              f"{attention}.v_proj.weight": ("Q8_0", None), f"{attention}.o_proj.weight": ("Q4_1", None),
              "lm_head.weight": ("Q8_0", None)}
    assert kept_as_codes(blocks, "int4") == {f"{attention}.o_proj.weight", "lm_head.weight"}
    assert kept_as_codes(blocks, "int8") == {"lm_head.weight"}


PEAK_PROBE = """
import sys
from openweight.memory import return_freed_memory
return_freed_memory()
import openweight
def status(key):
    return int(open('/proc/self/status').read().split(key + ':')[1].split()[0]) * 1024
before = status('VmRSS')
lm = openweight.load('smollm2-135m', quantize=sys.argv[1])
print(status('VmHWM') - before)
"""


@pytest.mark.parametrize("mode", ["int4", "int8"])
def test_quantized_gguf_load_never_holds_the_float32_model(mode):
    """A layer at a time: read, fuse, quantize, drop the floats. The whole float32 model (SmolLM2:
    135M parameters, 516 MiB) at once was how loading worked before, at 1.5 GiB of peak growth."""
    import subprocess
    import sys

    grown = int(subprocess.run([sys.executable, "-c", PEAK_PROBE, mode], capture_output=True, text=True,
                               check=True).stdout.split()[-1])
    float32_model = 134_515_008 * 4
    assert grown < float32_model, f"peak resident memory grew {grown / 2**20:.0f} MiB while loading"
