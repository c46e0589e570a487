// AVX-512 VNNI int8 variant: VPDPBUSD zmm (u8 x s8 -> int32, 4 products per lane, wrap-around, no
// saturation). Register tile: MR <= 12 rows x 32 columns = 24 zmm accumulators, two 64-byte B
// rows per k4 step (16 columns x 4 k each, the prepared layout as is) and one broadcast dword of
// A per row. One row (GEMV) uses 64 columns, 4 independent chains, to hide VPDPBUSD latency.
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_x86.h"

namespace anyprec {
namespace {

inline int32_t load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR, int NB>
void block(const uint8_t* a, size_t lda, const int8_t* b, size_t blockBytes, size_t k4n, int32_t* c, size_t ldc) {
  __m512i acc[MR][NB];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NB; ++q) acc[r][q] = _mm512_setzero_si512();
  for (size_t k4 = 0; k4 < k4n; ++k4) {
    __m512i vb[NB];
    for (int q = 0; q < NB; ++q) vb[q] = _mm512_loadu_si512(b + q * blockBytes + k4 * 64);
    for (int r = 0; r < MR; ++r) {
      const __m512i va = _mm512_set1_epi32(load4(a + r * lda + k4 * 4));
      for (int q = 0; q < NB; ++q) acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], va, vb[q]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NB; ++q) _mm512_storeu_si512(c + r * ldc + q * 16, acc[r][q]);
}

template <int MR>
void rows(const I8TileArgs& t, int i0, int j0) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  block<MR, 2>(t.a + i0 * t.lda, t.lda, t.b + (j0 / kI8NBlock) * blockBytes, blockBytes, t.kPad / 4,
               t.c + i0 * t.ldc + j0, t.ldc);
}

using RowsFn = void (*)(const I8TileArgs&, int, int);
constexpr int kMr = 12;
const RowsFn kRows[kMr + 1] = {nullptr,  rows<1>, rows<2>, rows<3>, rows<4>,  rows<5>,  rows<6>,
                               rows<7>,  rows<8>, rows<9>, rows<10>, rows<11>, rows<12>};

void tileVnni(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  if (t.m == 1) {
    int j0 = 0;
    for (; j0 + 64 <= t.n; j0 += 64)
      block<1, 4>(t.a, t.lda, t.b + (j0 / kI8NBlock) * blockBytes, blockBytes, t.kPad / 4, t.c + j0, t.ldc);
    for (; j0 < t.n; j0 += 32)
      block<1, 2>(t.a, t.lda, t.b + (j0 / kI8NBlock) * blockBytes, blockBytes, t.kPad / 4, t.c + j0, t.ldc);
    return;
  }
  for (int j0 = 0; j0 < t.n; j0 += 32) {
    for (int i0 = 0; i0 < t.m; i0 += kMr) {
      const int mr = t.m - i0 < kMr ? t.m - i0 : kMr;
      kRows[mr](t, i0, j0);
    }
  }
}

}  // namespace

const I8Kernel kI8Avx512VnniOld = {"avx512-vnni-old", byteRowsAvx512, tileVnni, nullptr, 0};

}  // namespace anyprec
