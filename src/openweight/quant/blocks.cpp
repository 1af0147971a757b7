// Matrix products with weights in GGUF's Q4_1 and Q8_0 blocks, for x86 CPUs with AVX2 (quant.kernels).
//
// A block is 32 weights along the input axis:
//   Q4_1: d (fp16), m (fp16), 16 bytes whose low nibbles are weights 0-15 and high nibbles 16-31; w = d * q + m
//   Q8_0: d (fp16), 32 int8 codes; w = d * q
//
// The kernels take a weight matrix's rows eight at a time, interleaved (quant.linear.interleave_rows):
// for each group of 8 rows and each block position, the 8 rows' d (fp16 x 8), for Q4_1 their m
// (fp16 x 8), then their code bytes in chunks of 32 bytes, chunk c holding code bytes 4c..4c+3 of row
// 0, of row 1, ... of row 7. Q4_1: 160 bytes (4 chunks), Q8_0: 272 (8 chunks): the 8 rows' blocks,
// their bytes reordered. One 256-bit register then holds four codes of each of the 8 rows, and a row's dot product
// builds up in its own 32-bit lane: no horizontal sums, and one conversion and scale per block for
// all eight rows. (The same idea as llama.cpp's repacked Q4_0 for its AVX2 matrix-vector kernel.)
//
// The activations become 8-bit per block of 32 with one scale, as llama.cpp's do, and each block's dot
// product is integer arithmetic (AVX2's byte multiply-add), exact until the block's scales multiply it.
//
// The expert kernels take a mixture of experts' weights stacked [experts, out / 8, bytes] and an expert
// per row of x: rows are grouped by expert and each group multiplied as the dense kernels multiply,
// so each expert's weights are read once, in place.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kBlock = 32, kGroupRows = 8;

// Activations x float [tokens, in] as int8 codes per block of 32 with a scale s (x ~ s * q), and
// u = s * sum(q) per block, which carries a Q4_1 block's offset m.
struct Activations {
  at::Tensor codes_tensor, scales_tensor;
  int64_t in, blocks;
  int8_t* codes;  // [tokens, in]
  float* scales;  // [tokens, in / 32, 2]: (s, u) per block

  explicit Activations(const at::Tensor& x)
      : codes_tensor(at::empty({x.size(0), x.size(1)}, x.options().dtype(at::kChar))),
        scales_tensor(at::empty({x.size(0), x.size(1) / kBlock, 2}, x.options())),
        in(x.size(1)),
        blocks(x.size(1) / kBlock),
        codes(codes_tensor.data_ptr<int8_t>()),
        scales(scales_tensor.data_ptr<float>()) {
    const int64_t tokens = x.size(0);
    const float* xp = x.data_ptr<float>();
    int8_t* qp = codes;
    float* sp = scales;
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

// Four activation codes (x[0..3]) in every 32-bit lane.
__m256i broadcast4(const int8_t* x) {
  int32_t four;
  std::memcpy(&four, x, 4);
  return _mm256_set1_epi32(four);
}

struct Q4_1x8 {
  static constexpr int64_t kBytes = 160, kCodes = 32;  // a group's block; where its codes start
  static constexpr bool kOffset = true;                // m of the 8 rows follows their d
  // dots[i] = per row, the sum over the block of code * activation of token i (x[i]: its block's codes).
  template <int T>
  static void dots(const uint8_t* codes, const int8_t* const* x, __m256i* dots) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i pairs[T];  // int16 pairs per row: at most 8 x 2 x 15 x 127 = 30480, no overflow
    for (int i = 0; i < T; i++) pairs[i] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * c));
      const __m256i low = _mm256_and_si256(raw, nibble), high = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nibble);
      for (int i = 0; i < T; i++)  // low nibbles are weights 4c..4c+3 of each row, high ones 16 further
        pairs[i] = _mm256_add_epi16(pairs[i], _mm256_add_epi16(_mm256_maddubs_epi16(low, broadcast4(x[i] + 4 * c)),
                                                               _mm256_maddubs_epi16(high, broadcast4(x[i] + 16 + 4 * c))));
    }
    for (int i = 0; i < T; i++) dots[i] = _mm256_madd_epi16(pairs[i], _mm256_set1_epi16(1));
  }
};

struct Q8_0x8 {
  static constexpr int64_t kBytes = 272, kCodes = 16;
  static constexpr bool kOffset = false;
  template <int T>
  static void dots(const uint8_t* codes, const int8_t* const* x, __m256i* dots) {
    for (int i = 0; i < T; i++) dots[i] = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * c));
      // The byte multiply-add takes one unsigned operand: |w| times the activation given w's sign
      // (pairs at most 2 x 128 x 127: one product of pairs per chunk keeps them in int16).
      const __m256i magnitude = _mm256_abs_epi8(w);
      for (int i = 0; i < T; i++) {
        const __m256i products = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(broadcast4(x[i] + 4 * c), w));
        dots[i] = _mm256_add_epi32(dots[i], _mm256_madd_epi16(products, _mm256_set1_epi16(1)));
      }
    }
  }
};

// out[rows[i], n..n+8) for i < T (a row of out is out_features long) from the 8 interleaved weight
// rows at `group`, on activation rows rows[0..T).
template <typename Format, int T>
void group_tile(const uint8_t* group, const Activations& a, const int64_t* rows, float* out, int64_t out_features,
                int64_t n) {
  const int64_t in = a.in, blocks = a.blocks;
  const int8_t* qp[T];
  const float* sp[T];
  for (int i = 0; i < T; i++) {
    qp[i] = a.codes + rows[i] * in;
    sp[i] = a.scales + 2 * rows[i] * blocks;
  }
  __m256 acc[T];
  for (int i = 0; i < T; i++) acc[i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; b++) {
    const uint8_t* p = group + b * Format::kBytes;
    _mm_prefetch(reinterpret_cast<const char*>(p + 4 * Format::kBytes), _MM_HINT_T0);
    const int8_t* x[T];
    for (int i = 0; i < T; i++) x[i] = qp[i] + b * kBlock;
    __m256i dots[T];
    Format::template dots<T>(p + Format::kCodes, x, dots);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    for (int i = 0; i < T; i++) {
      const float* su = sp[i] + 2 * b;  // (s, u) of row rows[i]'s block b
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[i]), _mm256_mul_ps(d, _mm256_set1_ps(su[0])), acc[i]);
      if constexpr (Format::kOffset) {
        const __m256 m = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
        acc[i] = _mm256_fmadd_ps(m, _mm256_set1_ps(su[1]), acc[i]);
      }
    }
  }
  for (int i = 0; i < T; i++) _mm256_storeu_ps(out + rows[i] * out_features + n, acc[i]);
}

// The rows of x that one weight matrix multiplies: order[begin..end), all by matrix `matrix`.
struct Run {
  int64_t matrix, begin, end;
};

// x float32 [rows, in] by interleaved rows uint8 [matrices, out / 8, in / 32 * Format::kBytes], each
// run of rows (order[run.begin..run.end)) by its own matrix -> float32 [rows, out].
template <typename Format>
at::Tensor runs_matmul(const at::Tensor& x, const at::Tensor& matrices, const std::vector<int64_t>& order,
                       const std::vector<Run>& runs) {
  const Activations a(x);
  const int64_t groups = matrices.size(1), group_bytes = matrices.size(2), out_features = groups * kGroupRows;
  auto out = at::empty({x.size(0), out_features}, x.options());
  const uint8_t* wp = matrices.data_ptr<uint8_t>();
  float* op = out.data_ptr<float>();
  // Work items: (run, group of 8 output rows); a run's rows go four at a time, sharing each loaded block.
  at::parallel_for(0, static_cast<int64_t>(runs.size()) * groups, 4, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; item++) {
      const Run& run = runs[item / groups];
      const int64_t g = item % groups;
      const uint8_t* group = wp + (run.matrix * groups + g) * group_bytes;
      const int64_t* rows = order.data();
      int64_t r = run.begin;
      for (; r + 4 <= run.end; r += 4) group_tile<Format, 4>(group, a, rows + r, op, out_features, g * kGroupRows);
      for (; r + 2 <= run.end; r += 2) group_tile<Format, 2>(group, a, rows + r, op, out_features, g * kGroupRows);
      for (; r < run.end; r++) group_tile<Format, 1>(group, a, rows + r, op, out_features, g * kGroupRows);
    }
  });
  return out;
}

template <typename Format>
void check_weights(const at::Tensor& x, const at::Tensor& matrices, const char* name) {
  TORCH_CHECK(x.dim() == 2, name, ": expects x [tokens, in], got ", x.sizes());
  TORCH_CHECK(matrices.scalar_type() == at::kByte, name, ": expects uint8 weight blocks, got ", matrices.scalar_type());
  const int64_t group_bytes = matrices.size(-1), in = x.size(1);
  TORCH_CHECK(group_bytes % Format::kBytes == 0 && group_bytes / Format::kBytes * kBlock == in, name, ": ", in,
              " input features do not match groups of ", group_bytes, " bytes");
}

// x [tokens, in] (float32 or bfloat16) @ interleaved rows uint8 [out / 8, in / 32 * Format::kBytes]
// -> float32 [tokens, out].
template <typename Format>
at::Tensor group_matmul(const at::Tensor& x, const at::Tensor& groups, const char* name) {
  TORCH_CHECK(groups.dim() == 2, name, ": expects groups uint8 [out / 8, bytes], got ", groups.sizes());
  check_weights<Format>(x, groups, name);
  std::vector<int64_t> order(x.size(0));
  for (int64_t t = 0; t < x.size(0); t++) order[t] = t;
  return runs_matmul<Format>(x.to(at::kFloat).contiguous(), groups.contiguous().unsqueeze(0), order,
                             {Run{0, 0, x.size(0)}});
}

// Row r of x [rows, in] by expert experts[r]'s weights, of experts' interleaved rows uint8
// [experts, out / 8, bytes] -> float32 [rows, out]. Rows are grouped by expert (a counting sort, in
// row order within an expert), so each expert's weights are read once for all the rows routed to it.
template <typename Format>
at::Tensor expert_group_matmul(const at::Tensor& x, const at::Tensor& stacked, const at::Tensor& experts,
                               const char* name) {
  TORCH_CHECK(stacked.dim() == 3, name, ": expects weights uint8 [experts, out / 8, bytes], got ", stacked.sizes());
  check_weights<Format>(x, stacked, name);
  TORCH_CHECK(experts.dim() == 1 && experts.size(0) == x.size(0), name, ": expects one expert per row of x (",
              x.size(0), "), got experts of shape ", experts.sizes());
  const int64_t count = stacked.size(0), rows = x.size(0);
  const at::Tensor ids = experts.to(at::kLong).contiguous();
  const int64_t* e = ids.data_ptr<int64_t>();
  std::vector<int64_t> starts(count + 1, 0);
  for (int64_t r = 0; r < rows; r++) {
    TORCH_CHECK(e[r] >= 0 && e[r] < count, name, ": expert ", e[r], " of row ", r, " is not in 0..", count - 1);
    starts[e[r] + 1]++;
  }
  for (int64_t i = 0; i < count; i++) starts[i + 1] += starts[i];
  std::vector<int64_t> order(rows), next(starts.begin(), starts.end() - 1);
  for (int64_t r = 0; r < rows; r++) order[next[e[r]]++] = r;
  std::vector<Run> runs;
  for (int64_t i = 0; i < count; i++)
    if (starts[i + 1] > starts[i]) runs.push_back(Run{i, starts[i], starts[i + 1]});
  return runs_matmul<Format>(x.to(at::kFloat).contiguous(), stacked.contiguous(), order, runs);
}

at::Tensor q4_1x8_matmul(const at::Tensor& x, const at::Tensor& groups) { return group_matmul<Q4_1x8>(x, groups, "q4_1x8_matmul"); }
at::Tensor q8_0x8_matmul(const at::Tensor& x, const at::Tensor& groups) { return group_matmul<Q8_0x8>(x, groups, "q8_0x8_matmul"); }
at::Tensor q4_1x8_expert_matmul(const at::Tensor& x, const at::Tensor& stacked, const at::Tensor& experts) {
  return expert_group_matmul<Q4_1x8>(x, stacked, experts, "q4_1x8_expert_matmul");
}
at::Tensor q8_0x8_expert_matmul(const at::Tensor& x, const at::Tensor& stacked, const at::Tensor& experts) {
  return expert_group_matmul<Q8_0x8>(x, stacked, experts, "q8_0x8_expert_matmul");
}

}  // namespace

TORCH_LIBRARY(openweight, lib) {
  lib.def("q4_1x8_matmul(Tensor x, Tensor groups) -> Tensor");
  lib.def("q8_0x8_matmul(Tensor x, Tensor groups) -> Tensor");
  lib.def("q4_1x8_expert_matmul(Tensor x, Tensor stacked, Tensor experts) -> Tensor");
  lib.def("q8_0x8_expert_matmul(Tensor x, Tensor stacked, Tensor experts) -> Tensor");
}

TORCH_LIBRARY_IMPL(openweight, CPU, lib) {
  lib.impl("q4_1x8_matmul", &q4_1x8_matmul);
  lib.impl("q8_0x8_matmul", &q8_0x8_matmul);
  lib.impl("q4_1x8_expert_matmul", &q4_1x8_expert_matmul);
  lib.impl("q8_0x8_expert_matmul", &q8_0x8_expert_matmul);
}
