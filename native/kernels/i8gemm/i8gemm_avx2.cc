// AVX2 int8 variant (no VNNI). VPMADDUBSW is not used: it saturates to int16 (255*127*2 > 32767).
// Instead B bytes are sign-extended to int16 (VPMOVSXBW) and A bytes zero-extended, and VPMADDWD
// forms exact int32 sums of two products (|sum| <= 2*255*128 = 65280; it can only saturate for two
// -32768*-32768 products, impossible here), accumulated with VPADDD (wrap-around, see i8gemm.h).
// 32 bytes of B = 8 columns x 4 k become two int16 vectors (columns 0-3 and 4-7, 4 k each); A's
// 4 bytes, widened, repeat per 64-bit lane, so lanes 2c and 2c+1 hold column c's two half sums,
// added at the end with VPHADDD. Register tile: 2 rows x 16 columns.
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_x86_avx2.h"

namespace anyprec {
namespace {

inline __m256i widenA(const uint8_t* p) {
  // 4 bytes -> 4 uint16 in a 64-bit lane, repeated
  const uint64_t v = _pdep_u64(static_cast<uint32_t>(load4(p)), 0x00FF00FF00FF00FFull);
  return _mm256_set1_epi64x(static_cast<long long>(v));
}

// acc lanes (2 per column, columns 0-3) and (columns 4-7) -> 8 column sums in order
inline __m256i pairSums(__m256i lo, __m256i hi) {
  return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8);
}

template <int MR>
void block(const uint8_t* a, size_t lda, const int8_t* b, size_t k4n, int32_t* c, size_t ldc) {
  __m256i acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_setzero_si256();
  for (size_t k4 = 0; k4 < k4n; ++k4) {
    const __m256i raw0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k4 * 64));
    const __m256i raw1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k4 * 64 + 32));
    const __m256i w[4] = {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(raw0)),
                          _mm256_cvtepi8_epi16(_mm256_extracti128_si256(raw0, 1)),
                          _mm256_cvtepi8_epi16(_mm256_castsi256_si128(raw1)),
                          _mm256_cvtepi8_epi16(_mm256_extracti128_si256(raw1, 1))};
    for (int r = 0; r < MR; ++r) {
      const __m256i va = widenA(a + r * lda + k4 * 4);
      for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(w[q], va));
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc), pairSums(acc[r][0], acc[r][1]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc + 8), pairSums(acc[r][2], acc[r][3]));
  }
}

void tileAvx2(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  const size_t k4n = (t.kUsed != 0 ? t.kUsed : t.kPad) / 4;  // zeros past kUsed: not multiplied
  for (int j0 = 0; j0 < t.n; j0 += static_cast<int>(kI8NBlock)) {
    const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
    int i0 = 0;
    for (; i0 + 2 <= t.m; i0 += 2) block<2>(t.a + i0 * t.lda, t.lda, b, k4n, t.c + i0 * t.ldc + j0, t.ldc);
    if (i0 < t.m) block<1>(t.a + i0 * t.lda, t.lda, b, k4n, t.c + i0 * t.ldc + j0, t.ldc);
  }
}

}  // namespace

const I8Kernel kI8Avx2 = {"avx2", byteRowsAvx2, tileAvx2, nullptr, 0};

}  // namespace anyprec
