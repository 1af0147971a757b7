"""openweight's AVX2 kernels for GGUF blocks (quant.blocks.cpp) against gguf's own decoding: exact
integer arithmetic on 8-bit activations for a few tokens, float products for many."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from openweight.quant import kernels
from openweight.quant.linear import decode_blocks

gguf = pytest.importorskip("gguf")

if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
    pytest.skip("the kernels are written for x86 CPUs with AVX2", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def built():
    kernels.build()


def activations_as_the_kernel_takes_them(x: torch.Tensor) -> torch.Tensor:
    """x [tokens, in] rounded to 8 bits per block of 32, one scale each (the block's largest magnitude / 127)."""
    blocks = x.view(x.shape[0], -1, 32)
    scale = blocks.abs().amax(-1, keepdim=True) / 127
    return (torch.round(blocks / torch.where(scale > 0, scale, 1)) * scale).view_as(x)


def relative_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float((y - ref).norm() / ref.norm())


@pytest.mark.parametrize("kind", ["Q4_1", "Q8_0"])
@pytest.mark.parametrize("out_features", [37, 256])  # 37: rows left over from the kernel's groups of 4
@pytest.mark.parametrize("tokens", [1, 2, 3, 32, 33, 40])  # up to 32 the integer path, then decoded weights
def test_block_products_match_gguf(kind, out_features, tokens):
    torch.manual_seed(tokens)
    quant_type = getattr(gguf.GGMLQuantizationType, kind)
    blocks = gguf.quants.quantize((torch.randn(out_features, 96) * 0.05).numpy(), quant_type)
    weights = torch.from_numpy(gguf.quants.dequantize(blocks, quant_type)).float()  # [out, in]
    assert torch.equal(decode_blocks(torch.from_numpy(blocks), kind.lower()), weights)
    x = torch.randn(tokens, 96)
    x[0, 32:64] = 0  # an all-zero block of activations has scale 0
    y = (kernels.q4_1_matmul if kind == "Q4_1" else kernels.q8_0_matmul)(x, torch.from_numpy(blocks))
    assert y.shape == (tokens, out_features) and y.dtype == torch.float32
    if tokens <= kernels.INTEGER_TOKENS:  # integer sums are exact: what is left is float32 rounding of the scales' products
        assert relative_error(y, activations_as_the_kernel_takes_them(x) @ weights.t()) < 1e-5
        assert relative_error(y, x @ weights.t()) < 2e-2  # 8-bit activations: ~0.5% typically
    else:
        assert relative_error(y, x @ weights.t()) < 1e-5


def test_bfloat16_input_and_shape_errors():
    blocks = torch.from_numpy(gguf.quants.quantize(np.ones((4, 64), np.float32), gguf.GGMLQuantizationType.Q8_0))
    x = torch.randn(2, 64)
    assert torch.allclose(kernels.q8_0_matmul(x.bfloat16(), blocks), x.bfloat16().float().sum(-1, keepdim=True)
                          .expand(2, 4), rtol=2e-2)
    with pytest.raises(RuntimeError, match="q8_0_matmul: 32 input features do not match blocks of 68 bytes"):
        kernels.q8_0_matmul(torch.randn(2, 32), blocks)
    with pytest.raises(RuntimeError, match="q4_1_matmul: 64 input features do not match blocks of 68 bytes"):
        kernels.q4_1_matmul(x, blocks)


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
