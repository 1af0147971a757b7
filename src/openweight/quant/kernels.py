"""openweight's own CPU kernels for weights in GGUF's Q4_1 and Q8_0 blocks (blocks.cpp), built on first use.

Why by hand: on x86 CPUs with AVX2 but no AVX-512, PyTorch's 4-bit kernel (`_weight_int4pack_mm_for_cpu`)
takes ~70% of a decode step and openweight decoded at 0.6x llama.cpp's speed (README, "Speed"). PyTorch
ships no kernel that multiplies 8-bit activations by 4- or 8-bit weights in integer arithmetic on
these CPUs, and the torchao wheel on PyPI carries CUDA kernels only. Elsewhere PyTorch's kernel is kept:
on an AVX-512 machine openweight decoded at 1.35x llama.cpp's speed with it.

The C++ is compiled once by torch.utils.cpp_extension (a C++ compiler and ninja; ~15 s) into
$OPENWEIGHT_CACHE/kernels/<key of its path, text and torch's version> and loaded by later processes
as it is. The operators are registered with torch.library, with shape functions, so torch.export and
Inductor take them into compiled decode steps.

OPENWEIGHT_QUANT_KERNEL: "auto" (default: these kernels on AVX2 CPUs without AVX-512), "blocks"
(these kernels on any AVX2 CPU), "pytorch" (PyTorch's kernel).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import warnings
from pathlib import Path

import torch

from ..cache import cache_dir

SOURCE = Path(__file__).with_name("blocks.cpp")
CHOICES = ("auto", "blocks", "pytorch")
GROUP_ROWS = 8  # blocks.cpp's kGroupRows: the rows its kernels take together (quant.linear.interleave_rows)


@functools.cache
def available() -> bool:
    """Whether quantized layers store GGUF blocks and multiply with blocks.cpp (built here if needed)."""
    choice = os.environ.get("OPENWEIGHT_QUANT_KERNEL", "auto")
    if choice not in CHOICES:
        raise ValueError(f"OPENWEIGHT_QUANT_KERNEL must be one of {CHOICES}, got {choice!r}")
    capability = torch.backends.cpu.get_cpu_capability()
    if choice == "pytorch" or (choice == "auto" and capability != "AVX2"):
        return False
    if capability not in ("AVX2", "AVX512"):
        warnings.warn(f"OPENWEIGHT_QUANT_KERNEL=blocks needs an x86 CPU with AVX2 (this one: {capability}); "
                      "using PyTorch's kernel")
        return False
    try:
        build()
    except Exception as error:  # no compiler, no ninja, a failed build: PyTorch's kernel still works
        warnings.warn(f"openweight's AVX2 kernels could not be built ({type(error).__name__}: "
                      f"{str(error).strip().splitlines()[-1] if str(error).strip() else ''}); "
                      "using PyTorch's slower 4-bit kernel")
        return False
    return True


@functools.cache
def build() -> None:
    """Compile blocks.cpp where it is not yet built (or has changed), load it and register its operators."""
    from torch.utils.cpp_extension import load

    # One folder per source file, its text and torch's version: ninja rebuilds whatever its last build
    # in a folder came from another path, so two checkouts sharing one folder rebuilt each other's.
    key = hashlib.sha256(f"{SOURCE}\n{torch.__version__}\n".encode() + SOURCE.read_bytes()).hexdigest()[:16]
    folder = cache_dir("kernels") / key
    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.glob("**/openweight_blocks*.so")):
        print("openweight: building its AVX2 kernels for quantized weights (once, ~15 s)", file=sys.stderr)
    load("openweight_blocks", sources=[str(SOURCE)], build_directory=str(folder), is_python_module=False,
         extra_cflags=["-O3", "-mavx2", "-mfma", "-mf16c", "-fopenmp"], extra_ldflags=["-fopenmp"])
    _register_shapes()


def q4_1x8_matmul(x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """x [tokens, in] @ Q4_1 blocks, rows interleaved by eight (quant.linear.interleave_rows),
    uint8 [out / 8, in / 32 * 160] -> float32 [tokens, out]."""
    return torch.ops.openweight.q4_1x8_matmul(x, groups)


def q8_0x8_matmul(x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """x [tokens, in] @ Q8_0 blocks, rows interleaved by eight, uint8 [out / 8, in / 32 * 272]
    -> float32 [tokens, out]."""
    return torch.ops.openweight.q8_0x8_matmul(x, groups)


def q4_1x8_expert_matmul(x: torch.Tensor, stacked: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Row r of x [rows, in] @ expert experts[r]'s Q4_1 blocks, of the experts' interleaved rows stacked,
    uint8 [experts, out / 8, in / 32 * 160] -> float32 [rows, out]. Each expert's weights are read once
    for all the rows routed to it."""
    return torch.ops.openweight.q4_1x8_expert_matmul(x, stacked, experts)


def q8_0x8_expert_matmul(x: torch.Tensor, stacked: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """q4_1x8_expert_matmul for Q8_0 blocks, uint8 [experts, out / 8, in / 32 * 272]."""
    return torch.ops.openweight.q8_0x8_expert_matmul(x, stacked, experts)


def round_activations(x: torch.Tensor) -> torch.Tensor:
    """x [..., in] as the kernels take it, in PyTorch (to check them against): 8-bit codes per block of
    32 with one scale, the block's largest magnitude / 127, rounded to nearest even."""
    blocks = x.float().unflatten(-1, (-1, 32))
    scale = blocks.abs().amax(-1, keepdim=True) / 127
    return (torch.round(blocks / torch.where(scale > 0, scale, 1)) * scale).flatten(-2)


def _register_shapes() -> None:
    """What torch.export and Inductor need to trace the operators without running them."""
    for name in ("q4_1x8_matmul", "q8_0x8_matmul"):
        torch.library.register_fake(f"openweight::{name}")(
            lambda x, groups: x.new_empty((x.shape[0], groups.shape[0] * GROUP_ROWS), dtype=torch.float32))
    for name in ("q4_1x8_expert_matmul", "q8_0x8_expert_matmul"):
        torch.library.register_fake(f"openweight::{name}")(
            lambda x, stacked, experts: x.new_empty((x.shape[0], stacked.shape[1] * GROUP_ROWS), dtype=torch.float32))
