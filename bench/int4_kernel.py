"""A candidate 4-bit kernel for CPUs without AVX-512, side by side with PyTorch's own.

On an AVX2-only CPU, PyTorch's `_weight_int4pack_mm_for_cpu` is most of an int4 decode step, and
openweight decodes SmolLM2 at ~0.6x llama.cpp's speed there (README, "Speed"). llama.cpp multiplies
8-bit activations by 4-bit weights in integer arithmetic (AVX2's byte multiply-add); PyTorch ships no
such kernel for x86 without AVX-512, and the torchao wheel on PyPI carries CUDA kernels only. This
script builds one (C++ below, compiled on first use with torch.utils.cpp_extension, ~35 s) and
measures it against PyTorch's on SmolLM2's shapes, one token and eight, with the error of each
against the float product of the same 4-bit weights.

The weights are GGUF's Q4_1 blocks as they are (32 weights: 16 bytes whose low nibbles are weights
0-15 and high nibbles 16-31, w = d * q + m); activations become 8-bit per block of 32 with one scale.

    python bench/int4_kernel.py [--runs 300]      # needs a C++ compiler and ninja (the bench extra)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <cmath>

// x float [M, K]; codes uint8 [N, K/2] in Q4_1 order; d, m float [N, K/32] -> float [M, N].
torch::Tensor q4_1_matmul(torch::Tensor x, torch::Tensor codes, torch::Tensor d, torch::Tensor m) {
  const int64_t M = x.size(0), K = x.size(1), N = codes.size(0), B = K / 32;
  TORCH_CHECK(K % 32 == 0 && N % 4 == 0, "q4_1_matmul: K must be a multiple of 32 and N of 4");
  // Activations: int8 per block of 32 with scale s (x ~ s * q), and s * sum(q) for the m term.
  auto xq = torch::empty({M, K}, torch::kInt8);
  auto xs = torch::empty({M, B}, torch::kFloat), xsum = torch::empty({M, B}, torch::kFloat);
  const float* xp = x.data_ptr<float>();
  int8_t* qp = xq.data_ptr<int8_t>();
  float *sp = xs.data_ptr<float>(), *up = xsum.data_ptr<float>();
  for (int64_t i = 0; i < M * B; i++) {
    const float* v = xp + i * 32;
    float amax = 0.f;
    for (int k = 0; k < 32; k++) amax = std::max(amax, std::fabs(v[k]));
    const float s = amax / 127.f, inv = s > 0.f ? 1.f / s : 0.f;
    int total = 0;
    for (int k = 0; k < 32; k++) {
      const int q = (int)std::nearbyint(v[k] * inv);
      qp[i * 32 + k] = (int8_t)q;
      total += q;
    }
    sp[i] = s;
    up[i] = s * total;
  }
  auto out = torch::empty({M, N}, torch::kFloat);
  float* op = out.data_ptr<float>();
  const uint8_t* cp = codes.data_ptr<uint8_t>();
  const float *dp = d.data_ptr<float>(), *mp = m.data_ptr<float>();
  // Four output rows at a time share each block of activations.
  at::parallel_for(0, N / 4, 4, [&](int64_t g0, int64_t g1) {
    const __m256i nibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t n = g0 * 4; n < g1 * 4; n += 4) {
      for (int64_t r = 0; r < M; r++) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        float shift[4] = {0.f, 0.f, 0.f, 0.f};
        for (int64_t b = 0; b < B; b++) {
          const __m256i a = _mm256_loadu_si256((const __m256i*)(qp + r * K + b * 32));
          const float s = sp[r * B + b], u = up[r * B + b];
          for (int j = 0; j < 4; j++) {
            const __m128i raw = _mm_loadu_si128((const __m128i*)(cp + (n + j) * (K / 2) + b * 16));
            const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), nibble);
            // unsigned 4-bit x signed 8-bit, pairs summed to int16, then to int32: exact
            const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), ones);
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(dp[(n + j) * B + b] * s), acc[j]);
            shift[j] += mp[(n + j) * B + b] * u;
          }
        }
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
        const __m128 four = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(op + r * N + n, _mm_add_ps(four, _mm_loadu_ps(shift)));
      }
    }
  });
  return out;
}
"""

SHAPES = {"qkv": (576, 960), "o": (576, 576), "gate_up": (576, 3072), "down": (1536, 576), "output": (576, 49152)}


def q4_1(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """weight [N, K] -> Q4_1 codes uint8 [N, K/2], d and m float [N, K/32], and the weights they stand for."""
    n, k = weight.shape
    blocks = weight.view(n, k // 32, 32)
    m, top = blocks.amin(-1), blocks.amax(-1)
    d = (top - m) / 15
    q = torch.round((blocks - m[..., None]) / d.clamp(min=1e-12)[..., None]).clamp(0, 15).to(torch.uint8)
    codes = (q[..., :16] | (q[..., 16:] << 4)).reshape(n, k // 2).contiguous()
    return codes, d.contiguous(), m.contiguous(), (q.float() * d[..., None] + m[..., None]).view(n, k)


def relative_error(y: torch.Tensor, exact: torch.Tensor) -> float:
    return float((y.float() - exact).norm() / exact.norm())


def median_us(fn, runs: int) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    from torch.utils.cpp_extension import load_inline

    from openweight.quant.linear import Int4Linear, int4_matmul

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        print(f"bench/int4_kernel.py: skipped, the kernel is written for x86 with AVX2 "
              f"(this CPU: {torch.backends.cpu.get_cpu_capability()})")
        return
    start = time.perf_counter()
    ext = load_inline("openweight_q4_1_probe", cpp_sources=SOURCE, functions=["q4_1_matmul"],
                      extra_cflags=["-O3", "-mavx2", "-mfma", "-fopenmp"], extra_ldflags=["-fopenmp"])
    print(f"built in {time.perf_counter() - start:.1f} s; {torch.get_num_threads()} threads\n")
    print("| layer | K x N | tokens | this kernel us | PyTorch int4 us | ratio | error | PyTorch error |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    torch.manual_seed(0)
    for name, (k, n) in SHAPES.items():
        codes, d, m, weights = q4_1(torch.randn(n, k) * 0.05)
        torch_layer = Int4Linear.from_float(weights, group_size=32)  # the same 4-bit grid, PyTorch's packing
        runs = max(10, args.runs // 20) if n > 10_000 else args.runs
        for tokens in (1, 8):
            x = torch.randn(tokens, k)
            exact = x @ weights.t()
            ours = ext.q4_1_matmul(x, codes, d, m)
            xb = x.bfloat16()
            pytorch = lambda: int4_matmul(xb, torch_layer.packed, 32, torch_layer.scale_zero, n)  # noqa: E731
            t_ours = median_us(lambda: ext.q4_1_matmul(x, codes, d, m), runs)
            t_theirs = median_us(pytorch, runs)
            print(f"| {name} | {k} x {n} | {tokens} | {t_ours:.1f} | {t_theirs:.1f} | {t_theirs / t_ours:.2f}x "
                  f"| {relative_error(ours, exact):.4f} | {relative_error(pytorch(), exact):.4f} |")


if __name__ == "__main__":
    main()
