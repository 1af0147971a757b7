"""openweight's AVX2 kernels for GGUF blocks (quant.blocks.cpp) against gguf's own decoding: exact
integer arithmetic on 8-bit activations, rows interleaved by eight and back without a byte changed."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from openweight.quant import kernels
from openweight.quant.linear import decode_blocks, decode_groups, deinterleave_rows, interleave_rows

gguf = pytest.importorskip("gguf")

if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
    pytest.skip("the kernels are written for x86 CPUs with AVX2", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def built():
    kernels.build()


def relative_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y - ref).norm() / ref.norm())


def gguf_blocks(kind: str, out_features: int, in_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random weights quantized by gguf -> (blocks uint8 [out, bytes], their float32 weights [out, in])."""
    quant_type = getattr(gguf.GGMLQuantizationType, kind)
    blocks = gguf.quants.quantize((torch.randn(out_features, in_features) * 0.05).numpy(), quant_type)
    return torch.from_numpy(blocks), torch.from_numpy(gguf.quants.dequantize(blocks, quant_type)).float()


@pytest.mark.parametrize("kind", ["Q4_1", "Q8_0"])
# 37: the last group of 8 rows filled with zero rows; 4100: interleaved in slices of 2048 rows, the last one short
@pytest.mark.parametrize("out_features", [37, 256, 4100])
def test_rows_interleave_and_back_exactly(kind, out_features):
    torch.manual_seed(out_features)
    blocks, weights = gguf_blocks(kind, out_features, 96)
    assert torch.equal(decode_blocks(blocks, kind.lower()), weights)
    groups = interleave_rows(blocks, kind.lower())
    assert groups.shape == ((out_features + 7) // 8, blocks.shape[1] * 8)
    back = deinterleave_rows(groups, kind.lower())
    assert torch.equal(back[:out_features], blocks) and not back[out_features:].any()
    assert torch.equal(decode_groups(groups, kind.lower(), out_features), weights)
    # the layout the kernels read: row r's scale d is the r-th fp16 of a block's first 16 bytes
    assert torch.equal(groups[0, 2 * 5:2 * 5 + 2], blocks[5, :2])


@pytest.mark.parametrize("kind", ["Q4_1", "Q8_0"])
@pytest.mark.parametrize("out_features", [37, 256])
@pytest.mark.parametrize("tokens", [1, 2, 3, 7, 33])  # tiles of 4, 2 and 1 tokens
def test_block_products_match_gguf(kind, out_features, tokens):
    torch.manual_seed(tokens)
    blocks, weights = gguf_blocks(kind, out_features, 96)
    x = torch.randn(tokens, 96)
    x[0, 32:64] = 0  # an all-zero block of activations has scale 0
    matmul = kernels.q4_1x8_matmul if kind == "Q4_1" else kernels.q8_0x8_matmul
    y = matmul(x, interleave_rows(blocks, kind.lower()))
    assert y.shape == (tokens, (out_features + 7) // 8 * 8) and y.dtype == torch.float32
    assert not y[:, out_features:].any()  # the zero rows that fill the last group
    y = y[:, :out_features]
    # integer sums are exact: what is left is float32 rounding of the scales' products
    assert relative_error(y, kernels.round_activations(x) @ weights.t()) < 1e-5
    assert relative_error(y, x @ weights.t()) < 2e-2  # 8-bit activations: ~0.5% typically


def test_bfloat16_input_and_shape_errors():
    blocks = torch.from_numpy(gguf.quants.quantize(np.ones((8, 64), np.float32), gguf.GGMLQuantizationType.Q8_0))
    groups = interleave_rows(blocks, "q8_0")
    x = torch.randn(2, 64)
    assert torch.allclose(kernels.q8_0x8_matmul(x.bfloat16(), groups), x.bfloat16().float().sum(-1, keepdim=True)
                          .expand(2, 8), rtol=2e-2)
    with pytest.raises(RuntimeError, match="q8_0x8_matmul: 32 input features do not match groups of 544 bytes"):
        kernels.q8_0x8_matmul(torch.randn(2, 32), groups)
    with pytest.raises(RuntimeError, match="q4_1x8_matmul: 64 input features do not match groups of 544 bytes"):
        kernels.q4_1x8_matmul(x, groups)
    with pytest.raises(RuntimeError, match="q4_1x8_matmul: expects uint8 weight blocks, got Float"):
        kernels.q4_1x8_matmul(x, groups.float())
    with pytest.raises(RuntimeError, match=r"q4_1x8_matmul: expects groups uint8 \[out / 8, bytes\], got \[1, 1, 544\]"):
        kernels.q4_1x8_matmul(x, groups[None])


@pytest.mark.parametrize("kind", ["Q4_1", "Q8_0"])
def test_expert_matmul_runs_each_row_through_its_own_experts_weights(kind):
    """Rows routed to 3 experts, unevenly and out of order (one expert gets none, one gets 5 rows: tiles
    of 4 and 1), give the same values as each expert's own matmul on its rows."""
    torch.manual_seed(0)
    experts, out_features, in_features = 3, 24, 64
    layers = [interleave_rows(torch.from_numpy(gguf.quants.quantize(
        torch.randn(out_features, in_features).numpy(), getattr(gguf.GGMLQuantizationType, kind))), kind.lower())
        for _ in range(experts)]
    x = torch.randn(7, in_features)
    chosen = torch.tensor([2, 0, 2, 2, 0, 2, 2])
    routed = kernels.q4_1x8_expert_matmul if kind == "Q4_1" else kernels.q8_0x8_expert_matmul
    dense = kernels.q4_1x8_matmul if kind == "Q4_1" else kernels.q8_0x8_matmul
    y = routed(x, torch.stack(layers), chosen)
    assert y.shape == (7, out_features) and y.dtype == torch.float32
    for e in range(experts):
        rows = (chosen == e).nonzero()[:, 0]
        assert torch.equal(y[rows], dense(x[rows], layers[e]))
    with pytest.raises(RuntimeError, match=f"{kind.lower()}x8_expert_matmul: expert 3 of row 1 is not in 0..2"):
        routed(x[:2], torch.stack(layers), torch.tensor([0, 3]))
    with pytest.raises(RuntimeError, match=r"expects one expert per row of x \(7\), got experts of shape \[6\]"):
        routed(x, torch.stack(layers), chosen[:6])


def test_a_failed_build_falls_back_to_pytorchs_kernel_with_a_warning(tmp_path):
    """A machine without a working C++ compiler still quantizes: PyTorch's kernel, and a warning that says why."""
    script = ("import warnings, torch\n"
              "from openweight.quant import kernels, Int4Linear\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              "    layer = Int4Linear.from_float(torch.randn(8, 64))\n"
              "print(kernels.available(), hasattr(layer, 'packed'), [str(w.message) for w in caught])\n")
    env = {**os.environ, "CXX": "/bin/false", "OPENWEIGHT_CACHE": str(tmp_path), "OPENWEIGHT_QUANT_KERNEL": "blocks"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("False True [\"openweight's AVX2 kernels could not be built (")
    assert "using PyTorch's slower 4-bit kernel" in result.stdout
