// AVX-VNNI int8 variant (VEX VPDPBUSD on ymm: u8 x s8 -> int32, wrap-around, no saturation), for
// CPUs with AVX-VNNI but without AVX-512 (Alder Lake and later client cores) and for the avx2
// table on CPUs that have both. Register tile: MR <= 6 rows x 16 columns = 12 ymm accumulators,
// two 32-byte B loads (8 columns x 4 k each) per k4 step and one broadcast A dword per row.
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_x86_avx2.h"

namespace anyprec {
namespace {

template <int MR>
void block(const uint8_t* a, size_t lda, const int8_t* b, size_t k4n, int32_t* c, size_t ldc) {
  __m256i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (size_t k4 = 0; k4 < k4n; ++k4) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k4 * 64));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k4 * 64 + 32));
    for (int r = 0; r < MR; ++r) {
      const __m256i va = _mm256_set1_epi32(load4(a + r * lda + k4 * 4));
      acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], va, b0);
      acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], va, b1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc + 8), acc[r][1]);
  }
}

using BlockFn = void (*)(const uint8_t*, size_t, const int8_t*, size_t, int32_t*, size_t);
constexpr int kMr = 6;
const BlockFn kBlocks[kMr + 1] = {nullptr, block<1>, block<2>, block<3>, block<4>, block<5>, block<6>};

void tileAvxVnni(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  for (int j0 = 0; j0 < t.n; j0 += static_cast<int>(kI8NBlock)) {
    const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
    for (int i0 = 0; i0 < t.m; i0 += kMr) {
      const int mr = t.m - i0 < kMr ? t.m - i0 : kMr;
      kBlocks[mr](t.a + i0 * t.lda, t.lda, b, t.kPad / 4, t.c + i0 * t.ldc + j0, t.ldc);
    }
  }
}

}  // namespace

const I8Kernel kI8AvxVnni = {"avx-vnni", byteRowsAvx2, tileAvxVnni};

}  // namespace anyprec
