"""openweight's kernels for GGUF blocks (quant.kernels) beside PyTorch's 4-bit kernel, one product at a time.

On SmolLM2's shapes, at 1, 8, 64 and 512 tokens: the Q4_1 product (openweight's, rows interleaved by
eight) against PyTorch's `_weight_int4pack_mm_for_cpu` on the same 4-bit weights (bfloat16
activations, as openweight runs it), each with its error against the float product of those weights;
and the Q8_0 output layer, whose bytes per microsecond show how near memory bandwidth a decode step's
largest product runs.

    python bench/block_kernels.py [--runs 200]     # needs a C++ compiler and ninja, and an x86 CPU with AVX2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

SHAPES = {"qkv": (576, 960), "o": (576, 576), "gate_up": (576, 3072), "down": (1536, 576), "output": (576, 49152)}


def median_us(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def relative_error(y: torch.Tensor, exact: torch.Tensor) -> float:
    return float((y.float() - exact).norm() / exact.norm())


def main() -> None:
    import gguf

    from openweight.quant import kernels
    from openweight.quant.linear import decode_blocks, int4_matmul, interleave_rows, pytorch_int4, q4_1_fields, q8_0_codes

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        print(f"bench/block_kernels.py: skipped, the kernels are written for x86 with AVX2 "
              f"(this CPU: {torch.backends.cpu.get_cpu_capability()})")
        return
    start = time.perf_counter()
    kernels.build()
    print(f"kernels ready in {time.perf_counter() - start:.1f} s; {torch.get_num_threads()} threads; "
          f"used by default here: {kernels.available()}\n")
    print("| layer | K x N | tokens | openweight Q4_1 us | PyTorch int4 us | ratio | error | PyTorch error |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    torch.manual_seed(0)
    for name, (k, n) in SHAPES.items():
        blocks = torch.from_numpy(gguf.quants.quantize((torch.randn(n, k) * 0.05).numpy(),
                                                       gguf.GGMLQuantizationType.Q4_1))
        weights = decode_blocks(blocks, "q4_1")  # [n, k]
        codes, d, m = q4_1_fields(blocks)
        theirs = pytorch_int4(k, lambda lo, hi: codes[lo:hi], d, m + 8 * d)  # the same weights, PyTorch's packing
        groups = interleave_rows(blocks, "q4_1")
        for tokens in (1, 8, 64, 512):
            if n > 10_000 and tokens > 8:
                continue  # a decode step's output layer: prefill computes it for the last token only
            x = torch.randn(tokens, k)
            exact = x @ weights.t()
            xb = x.bfloat16()
            ours = lambda: kernels.q4_1x8_matmul(x, groups)  # noqa: E731
            pytorch = lambda: int4_matmul(xb, theirs["packed"], 32, theirs["scale_zero"], n)  # noqa: E731
            runs = max(10, args.runs // (20 if n > 10_000 else 1) // max(1, tokens // 16))
            t_ours, t_theirs = median_us(ours, runs), median_us(pytorch, runs)
            print(f"| {name} | {k} x {n} | {tokens} | {t_ours:.1f} | {t_theirs:.1f} | {t_theirs / t_ours:.2f}x "
                  f"| {relative_error(ours(), exact):.4f} | {relative_error(pytorch(), exact):.4f} |", flush=True)
    k, n = SHAPES["output"]
    q8 = torch.from_numpy(gguf.quants.quantize((torch.randn(n, k) * 0.05).numpy(), gguf.GGMLQuantizationType.Q8_0))
    codes, scale = q8_0_codes(q8)
    x, groups = torch.randn(1, k), interleave_rows(q8, "q8_0")
    t = median_us(lambda: kernels.q8_0x8_matmul(x, groups), max(10, args.runs // 20))
    exact = x @ (codes.float().view(n, -1, 32) * scale[..., None]).view(n, k).t()
    print(f"\nQ8_0 output layer ({k} x {n}, {q8.numel() / 2**20:.1f} MiB), one token: {t:.0f} us, "
          f"{q8.numel() / t / 1e3:.1f} GB/s, error {relative_error(kernels.q8_0x8_matmul(x, groups), exact):.4f}")


if __name__ == "__main__":
    main()
