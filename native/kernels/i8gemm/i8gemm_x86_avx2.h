// Shared AVX2 byte rebuilding for the avx2 and avx-vnni int8 variants. Included by files compiled
// with AVX2 enabled only; internal to each including file.
#pragma once
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace {

// 32 bits -> 32 bytes: each byte picks its source byte of the word (VPSHUFB), keeps its own bit
// and compares, giving 0xFF where the bit is set; that selects the plane's byte value.
[[maybe_unused]] void byteRowsAvx2(const ByteRowsArgs& a) {
  const size_t planeStride = a.kWords * kPanelRows;
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                        3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bitSel = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i xorv = _mm256_set1_epi8(static_cast<char>(a.xorValue));
  const __m256i index = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                         21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
  __m256i pv[8];
  for (int p = 0; p < 8; ++p) pv[p] = _mm256_set1_epi8(static_cast<char>(p < a.planes ? a.planeValue[p] : 0));
  for (int r = 0; r < a.rows; ++r) {
    uint8_t* out = a.out + static_cast<size_t>(r) * a.ldOut;
    const uint64_t* lane = a.panel + a.lane0 + r;
    for (size_t w = 0; w < a.kWords; ++w) {
      __m256i x[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      for (int p = 0; p < a.planes; ++p) {
        const uint64_t bits = lane[p * planeStride + w * kPanelRows];
        for (int h = 0; h < 2; ++h) {
          const __m256i src = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(bits >> (32 * h))));
          const __m256i sel = _mm256_and_si256(_mm256_shuffle_epi8(src, shuf), bitSel);
          const __m256i set = _mm256_cmpeq_epi8(sel, bitSel);
          x[h] = _mm256_or_si256(x[h], _mm256_and_si256(set, pv[p]));
        }
      }
      for (int h = 0; h < 2; ++h) {
        __m256i v = _mm256_xor_si256(x[h], xorv);
        const size_t t0 = w * 64 + h * 32;
        if (t0 + 32 > a.k) {
          const int valid = a.k > t0 ? static_cast<int>(a.k - t0) : 0;
          v = _mm256_and_si256(v, _mm256_cmpgt_epi8(_mm256_set1_epi8(static_cast<char>(valid)), index));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + t0), v);
      }
    }
    const size_t done = a.kWords * 64;
    if (a.kPad > done) std::memset(out + done, 0, a.kPad - done);
  }
}

inline int32_t load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace
}  // namespace anyprec
