// AVX-512F float32 micro-kernel (see fgemm.h); compiled with the avx512 flags of sources.json.
// Register block: 14 rows x 32 columns (two B panels) = 28 zmm accumulators, 2 zmm of B per step;
// A values are broadcast straight from memory into the FMAs ({1to16} operands). Per step of K:
// 28 FMAs against 2 loads + 14 broadcasts, so both FMA ports stay busy and the load ports do not
// limit. Column edges use masked loads and stores.
#include <immintrin.h>

#include "fgemm/fgemm.h"

namespace anyprec {
namespace {

constexpr int kMr = 14;
constexpr int kNr = 32;

void tileAvx512(const FloatTileArgs& t) {
  __m512 c0[kMr], c1[kMr];
#pragma GCC unroll 14
  for (int r = 0; r < kMr; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  const float* a = t.a;
  const float* b0p = t.b;
  const float* b1p = t.b + t.bPanelStride;
  const size_t kc = t.kc;
  for (size_t k = 0; k < kc; ++k, a += kMr) {
    const __m512 b0 = _mm512_loadu_ps(b0p + k * kFloatPanel);
    const __m512 b1 = _mm512_loadu_ps(b1p + k * kFloatPanel);
#pragma GCC unroll 14
    for (int r = 0; r < kMr; ++r) {
      const __m512 x = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
    }
  }
  const int lo = t.cols < 16 ? t.cols : 16, hi = t.cols - lo;
  const __mmask16 m0 = static_cast<__mmask16>((1u << lo) - 1);
  const __mmask16 m1 = static_cast<__mmask16>((1u << hi) - 1);
  const __m512 bias0 = t.bias ? _mm512_loadu_ps(t.bias) : _mm512_setzero_ps();
  const __m512 bias1 = t.bias ? _mm512_loadu_ps(t.bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
  for (int r = 0; r < kMr; ++r) {
    if (r < t.rows) {
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
      const __m512 add0 = t.bias ? bias0 : _mm512_maskz_loadu_ps(m0, c);
      const __m512 add1 = t.bias ? bias1 : _mm512_maskz_loadu_ps(m1, c + 16);
      _mm512_mask_storeu_ps(c, m0, _mm512_add_ps(c0[r], add0));
      _mm512_mask_storeu_ps(c + 16, m1, _mm512_add_ps(c1[r], add1));
    }
  }
}

}  // namespace

const FloatKernelTable kAvx512FloatTable = {"avx512", kMr, kNr, tileAvx512};

}  // namespace anyprec
