// Matrix products with weights in GGUF's Q4_1 and Q8_0 blocks, for x86 CPUs with AVX2 (quant.kernels).
//
// A block is 32 weights along the input axis:
//   Q4_1: d (fp16), m (fp16), 16 bytes whose low nibbles are weights 0-15 and high nibbles 16-31; w = d * q + m
//   Q8_0: d (fp16), 32 int8 codes; w = d * q
// A weight matrix [out, in] is its rows of blocks, bytes [out, in / 32 * block bytes], as a GGUF stores it.
//
// A few tokens (decode): the activations become 8-bit per block of 32 with one scale, as llama.cpp's
// do, and each block's dot product is integer arithmetic (AVX2's byte multiply-add), exact until the
// block's scales multiply it. Memory traffic is the weights' bytes, read once per call.
// Many tokens (prefill): the weights are decoded to float32 a slice of rows at a time and multiplied
// by ATen's matrix product; the decoding is then a small part of the work and activations stay exact.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace {

constexpr int64_t kBlock = 32;
// Up to this many tokens, the integer path; beyond, decoded weights and ATen's matrix product. The
// integer path's time grows with the tokens, the other's barely: at 16 tokens the integer path was
// 1.2-2.6x faster on SmolLM2's shapes, at 32 1.0-1.7x, at 48 0.8-1.6x. (quant.kernels.INTEGER_TOKENS)
constexpr int64_t kIntegerTokens = 32;
constexpr int64_t kDecodedRows = 1024;  // rows decoded to float32 at a time on the many-token path
constexpr int kTokenTile = 2;  // tokens that share an unpacked weight block

struct Q4_1 {
  static constexpr int64_t kBytes = 20;
  static constexpr bool kSigned = false, kOffset = true;  // codes unsigned; w = d * q + m
  // 32 unsigned codes (0..15) in weight order.
  static __m256i codes(const uint8_t* block) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 4));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
  }
  // sum over the block of code * activation, as 8 int32 partial sums.
  static __m256i dot(__m256i codes, __m256i activations) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, activations), _mm256_set1_epi16(1));
  }
  // (d, m, 0, 0): both fp16 values converted at once.
  static __m128 scales(const uint8_t* block) {
    uint32_t both;
    std::memcpy(&both, block, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(both)));
  }
};

struct Q8_0 {
  static constexpr int64_t kBytes = 34;
  static constexpr bool kSigned = true, kOffset = false;  // w = d * q
  static __m256i codes(const uint8_t* block) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2)); }
  static __m256i dot(__m256i codes, __m256i activations) {
    // The byte multiply-add takes one unsigned operand: |w| times the activation given w's sign.
    const __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(codes, codes), _mm256_sign_epi8(activations, codes));
    return _mm256_madd_epi16(products, _mm256_set1_epi16(1));
  }
  static __m128 scales(const uint8_t* block) {  // (d, 0, 0, 0)
    uint16_t d;
    std::memcpy(&d, block, 2);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(d));
  }
};

// Activations x float [tokens, in] as int8 codes per block of 32 with a scale s (x ~ s * q), and
// u = s * sum(q) per block, which carries a Q4_1 block's offset m.
struct Activations {
  at::Tensor codes, scales;  // int8 [tokens, in]; float [tokens, in / 32, 2]: (s, u) per block

  explicit Activations(const at::Tensor& x) {
    const int64_t tokens = x.size(0), in = x.size(1), blocks = in / kBlock;
    codes = at::empty({tokens, in}, x.options().dtype(at::kChar));
    scales = at::empty({tokens, blocks, 2}, x.options());
    const float* xp = x.data_ptr<float>();
    int8_t* qp = codes.data_ptr<int8_t>();
    float* sp = scales.data_ptr<float>();
    const __m256 sign_bit = _mm256_set1_ps(-0.f);
    for (int64_t i = 0; i < tokens * blocks; i++) {
      const float* v = xp + i * kBlock;
      __m256 amax = _mm256_setzero_ps();
      for (int k = 0; k < kBlock; k += 8) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(v + k)));
      __m128 top = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
      top = _mm_max_ps(top, _mm_movehl_ps(top, top));
      top = _mm_max_ss(top, _mm_movehdup_ps(top));
      const float s = _mm_cvtss_f32(top) / 127.f, inverse = s > 0.f ? 1.f / s : 0.f;
      // Round to nearest (even) in four lanes of 8, then pack 32-bit -> 16-bit -> 8-bit.
      __m256i q[4];
      for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * k), _mm256_set1_ps(inverse)));
      const __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      __m128i total = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
      total = _mm_hadd_epi32(total, total);
      total = _mm_hadd_epi32(total, total);
      // packs work within 128-bit lanes; the permute puts the 32 codes back in order.
      const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qp + i * kBlock),
                          _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
      sp[2 * i] = s;
      sp[2 * i + 1] = s * _mm_cvtsi128_si32(total);
    }
  }
};

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// A block's 32 weights as float32: out[k] = d * code[k] + m.
template <typename Format>
void decode(const uint8_t* block, float* out) {
  const __m256i codes = Format::codes(block);
  const __m128 dm = Format::scales(block);
  const __m256 d = _mm256_broadcastss_ps(dm), m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
  const __m128i halves[2] = {_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1)};
  for (int h = 0; h < 2; h++)
    for (int k = 0; k < 2; k++) {
      const __m128i eight = k ? _mm_unpackhi_epi64(halves[h], halves[h]) : halves[h];
      const __m256i wide = Format::kSigned ? _mm256_cvtepi8_epi32(eight) : _mm256_cvtepu8_epi32(eight);
      _mm256_storeu_ps(out + 16 * h + 8 * k, _mm256_fmadd_ps(_mm256_cvtepi32_ps(wide), d, m));
    }
}

// out[t..t+T, n..n+R): each weight block is unpacked once for T tokens, each activation block used by R rows.
template <typename Format, int R, int T>
void integer_tile(const uint8_t* weights, int64_t row_bytes, int64_t n, int64_t t, const Activations& a, float* out,
                  int64_t out_features) {
  const int64_t in = a.codes.size(1), blocks = in / kBlock;
  const int8_t* qp = a.codes.data_ptr<int8_t>() + t * in;
  const float* sp = a.scales.data_ptr<float>() + 2 * t * blocks;
  __m256 acc[T][R];
  __m128 offset[T][R];  // lane 1: the sum of m * u
  for (int i = 0; i < T; i++)
    for (int j = 0; j < R; j++) acc[i][j] = _mm256_setzero_ps(), offset[i][j] = _mm_setzero_ps();
  for (int64_t b = 0; b < blocks; b++) {
    __m256i codes[R];
    __m128 dm[R];
    for (int j = 0; j < R; j++) {
      const uint8_t* block = weights + (n + j) * row_bytes + b * Format::kBytes;
      // The same block of the next group of rows: a thread's rows are one stream through memory, and
      // this runs a group ahead of it. (A decode step's weights, 30 layers beyond the caches: 6-10%
      // faster than 256 bytes ahead in the row, which was 1.76x faster than no prefetch on the output
      // layer; two groups ahead, no different.)
      _mm_prefetch(reinterpret_cast<const char*>(block + R * row_bytes), _MM_HINT_T0);
      codes[j] = Format::codes(block), dm[j] = Format::scales(block);
    }
    for (int i = 0; i < T; i++) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qp + i * in + b * kBlock));
      const __m128 su = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(sp + 2 * (i * blocks + b))));
      for (int j = 0; j < R; j++) {
        const __m128 scale = _mm_mul_ps(dm[j], su);  // (d * s, m * u, 0, 0)
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Format::dot(codes[j], x)), _mm256_broadcastss_ps(scale), acc[i][j]);
        if constexpr (Format::kOffset) offset[i][j] = _mm_add_ps(offset[i][j], scale);
      }
    }
  }
  for (int i = 0; i < T; i++)
    for (int j = 0; j < R; j++)
      out[(t + i) * out_features + n + j] = horizontal_sum(acc[i][j]) + _mm_cvtss_f32(_mm_movehdup_ps(offset[i][j]));
}

// out[:, n..n+R) for every token, T tokens at a time.
template <typename Format, int R>
void integer_rows(const uint8_t* weights, int64_t row_bytes, int64_t n, const Activations& a, float* out,
                  int64_t out_features) {
  constexpr int T = kTokenTile;
  const int64_t tokens = a.codes.size(0);
  int64_t t = 0;
  // Half the rows at a time when several tokens share them: all accumulators then stay in registers.
  constexpr int H = R > 1 ? R / 2 : 1;
  for (; t + T <= tokens; t += T)
    for (int j = 0; j < R; j += H) integer_tile<Format, H, T>(weights, row_bytes, n + j, t, a, out, out_features);
  for (; t < tokens; t++) integer_tile<Format, R, 1>(weights, row_bytes, n, t, a, out, out_features);
}

template <typename Format>
at::Tensor integer_matmul(const at::Tensor& x, const uint8_t* weights, int64_t out_features, int64_t row_bytes) {
  const Activations a(x);
  auto out = at::empty({x.size(0), out_features}, x.options());
  float* op = out.data_ptr<float>();
  constexpr int R = 4;
  at::parallel_for(0, (out_features + R - 1) / R, 16, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; g++) {
      const int64_t n = g * R;
      if (n + R <= out_features) {
        integer_rows<Format, R>(weights, row_bytes, n, a, op, out_features);
      } else {
        for (int64_t row = n; row < out_features; row++) integer_rows<Format, 1>(weights, row_bytes, row, a, op, out_features);
      }
    }
  });
  return out;
}

template <typename Format>
at::Tensor decoded_matmul(const at::Tensor& x, const uint8_t* weights, int64_t out_features, int64_t row_bytes) {
  const int64_t in = x.size(1), blocks = in / kBlock;
  auto out = at::empty({x.size(0), out_features}, x.options());
  auto decoded = at::empty({std::min(kDecodedRows, out_features), in}, x.options());
  for (int64_t start = 0; start < out_features; start += kDecodedRows) {
    const int64_t rows = std::min(kDecodedRows, out_features - start);
    float* dp = decoded.data_ptr<float>();
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; r++)
        for (int64_t b = 0; b < blocks; b++)
          decode<Format>(weights + (start + r) * row_bytes + b * Format::kBytes, dp + r * in + b * kBlock);
    });
    out.narrow(1, start, rows).copy_(at::mm(x, decoded.narrow(0, 0, rows).t()));
  }
  return out;
}

// x [tokens, in] (float32 or bfloat16) @ the weights of `blocks` uint8 [out, in / 32 * Format::kBytes]
// -> float32 [tokens, out].
template <typename Format>
at::Tensor block_matmul(const at::Tensor& x, const at::Tensor& blocks, const char* name) {
  TORCH_CHECK(x.dim() == 2 && blocks.dim() == 2 && blocks.scalar_type() == at::kByte,
              name, ": expects x [tokens, in] and blocks uint8 [out, bytes], got ", x.sizes(), " and ", blocks.sizes(),
              " ", blocks.scalar_type());
  const int64_t row_bytes = blocks.size(1), in = x.size(1);
  TORCH_CHECK(row_bytes % Format::kBytes == 0 && row_bytes / Format::kBytes * kBlock == in, name, ": ", in,
              " input features do not match blocks of ", row_bytes, " bytes per row");
  const at::Tensor xf = x.to(at::kFloat).contiguous();
  const at::Tensor w = blocks.contiguous();
  if (xf.size(0) <= kIntegerTokens) return integer_matmul<Format>(xf, w.data_ptr<uint8_t>(), w.size(0), row_bytes);
  return decoded_matmul<Format>(xf, w.data_ptr<uint8_t>(), w.size(0), row_bytes);
}

at::Tensor q4_1_matmul(const at::Tensor& x, const at::Tensor& blocks) { return block_matmul<Q4_1>(x, blocks, "q4_1_matmul"); }
at::Tensor q8_0_matmul(const at::Tensor& x, const at::Tensor& blocks) { return block_matmul<Q8_0>(x, blocks, "q8_0_matmul"); }

}  // namespace

TORCH_LIBRARY(openweight, lib) {
  lib.def("q4_1_matmul(Tensor x, Tensor blocks) -> Tensor");
  lib.def("q8_0_matmul(Tensor x, Tensor blocks) -> Tensor");
}

TORCH_LIBRARY_IMPL(openweight, CPU, lib) {
  lib.impl("q4_1_matmul", &q4_1_matmul);
  lib.impl("q8_0_matmul", &q8_0_matmul);
}
