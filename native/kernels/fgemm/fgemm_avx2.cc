// AVX2 + FMA float32 micro-kernel (see fgemm.h); compiled with the avx2 flags of sources.json.
// Register block: 6 rows x 16 columns (one B panel) = 12 ymm accumulators, 2 ymm of B per step
// and one broadcast of A at a time: 15 of the 16 ymm registers. Per step of K: 12 FMAs against
// 2 loads + 6 broadcast loads, so the two FMA ports stay the bottleneck.
#include <immintrin.h>

#include "fgemm/fgemm.h"

namespace anyprec {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

void tileAvx2(const FloatTileArgs& t) {
  __m256 c0[kMr], c1[kMr];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  const float* a = t.a;
  const float* b = t.b;
  const size_t kc = t.kc;
  for (size_t k = 0; k < kc; ++k, a += kMr, b += kFloatPanel) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(x, b1, c1[r]);
    }
  }
  if (t.cols == kNr) {
    const __m256 bias0 = t.bias ? _mm256_loadu_ps(t.bias) : _mm256_setzero_ps();
    const __m256 bias1 = t.bias ? _mm256_loadu_ps(t.bias + 8) : _mm256_setzero_ps();
    // Compile-time row indices keep the accumulators in registers (no spill in the K loop).
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      if (r >= t.rows) break;
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
      const __m256 add0 = t.bias ? bias0 : _mm256_loadu_ps(c);
      const __m256 add1 = t.bias ? bias1 : _mm256_loadu_ps(c + 8);
      _mm256_storeu_ps(c, _mm256_add_ps(c0[r], add0));
      _mm256_storeu_ps(c + 8, _mm256_add_ps(c1[r], add1));
    }
    return;
  }
  // Column edge: spill the block and store the valid part.
  alignas(32) float buf[kMr][kNr];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    _mm256_store_ps(buf[r], c0[r]);
    _mm256_store_ps(buf[r] + 8, c1[r]);
  }
  for (int r = 0; r < t.rows; ++r) {
    float* c = t.c + static_cast<size_t>(r) * t.ldc;
    for (int j = 0; j < t.cols; ++j) c[j] = t.bias ? buf[r][j] + t.bias[j] : c[j] + buf[r][j];
  }
}

inline float hsum(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// 12 independent accumulator chains: enough to cover the FMA latency on every AVX2 core.
constexpr int kCeilingChains = 12;
float ceilingAvx2(uint64_t iterations) {
  __m256 acc[kCeilingChains];
  for (int i = 0; i < kCeilingChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 x = _mm256_set1_ps(0.9999f), y = _mm256_set1_ps(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kCeilingChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kCeilingChains; ++i) s = _mm256_add_ps(s, acc[i]);
  return hsum(s);
}

}  // namespace

const FloatKernelTable kAvx2FloatTable = {"avx2", kMr, kNr, tileAvx2, nullptr, ceilingAvx2, kCeilingChains * 16};

}  // namespace anyprec
