// AVX-VNNI int8 variant (VEX VPDPBUSD on ymm: u8 x s8 -> int32, wrap-around, no saturation), for
// CPUs with AVX-VNNI but without AVX-512 (Alder Lake and later client cores) and for the avx2
// table on CPUs that have both. Register tile: MR <= 6 rows x 16 columns = 12 ymm accumulators,
// two 32-byte B loads (8 columns x 4 k each) per k4 step and one broadcast A dword per row.
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_conv.h"
#include "i8gemm/i8gemm_x86_sums.h"
#include "i8gemm/i8gemm_x86_avx2.h"

namespace anyprec {
namespace {

// The accumulators are named variables, not an array: GCC keeps an array of ymm on the stack and
// stores every accumulator back on each k4 step (the kernel ran at half its ceiling).
#define ANYPREC_I8_ROW(r)                                              \
  if constexpr (MR > r) {                                              \
    const __m256i va = _mm256_set1_epi32(load4(a + r * lda + k4 * 4)); \
    c##r##0 = _mm256_dpbusd_avx_epi32(c##r##0, va, b0);                \
    c##r##1 = _mm256_dpbusd_avx_epi32(c##r##1, va, b1);                \
  }
#define ANYPREC_I8_STORE(r)                                                         \
  if constexpr (MR > r) {                                                           \
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc), c##r##0);          \
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + r * ldc + 8), c##r##1);      \
  }

template <int MR>
void block(const uint8_t* a, size_t lda, const int8_t* b, size_t k4n, int32_t* c, size_t ldc) {
  static_assert(MR >= 1 && MR <= 6, "tile rows");
  const __m256i z = _mm256_setzero_si256();
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  for (size_t k4 = 0; k4 < k4n; ++k4) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k4 * 64));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k4 * 64 + 32));
    ANYPREC_I8_ROW(0)
    ANYPREC_I8_ROW(1)
    ANYPREC_I8_ROW(2)
    ANYPREC_I8_ROW(3)
    ANYPREC_I8_ROW(4)
    ANYPREC_I8_ROW(5)
  }
  ANYPREC_I8_STORE(0)
  ANYPREC_I8_STORE(1)
  ANYPREC_I8_STORE(2)
  ANYPREC_I8_STORE(3)
  ANYPREC_I8_STORE(4)
  ANYPREC_I8_STORE(5)
}
#undef ANYPREC_I8_ROW
#undef ANYPREC_I8_STORE

using BlockFn = void (*)(const uint8_t*, size_t, const int8_t*, size_t, int32_t*, size_t);
constexpr int kMr = 6;
const BlockFn kBlocks[kMr + 1] = {nullptr, block<1>, block<2>, block<3>, block<4>, block<5>, block<6>};

void tileAvxVnni(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  const size_t k4n = (t.kUsed != 0 ? t.kUsed : t.kPad) / 4;  // zeros past kUsed: not multiplied
  for (int j0 = 0; j0 < t.n; j0 += static_cast<int>(kI8NBlock)) {
    const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
    for (int i0 = 0; i0 < t.m; i0 += kMr) {
      const int mr = t.m - i0 < kMr ? t.m - i0 : kMr;
      kBlocks[mr](t.a + i0 * t.lda, t.lda, b, k4n, t.c + i0 * t.ldc + j0, t.ldc);
    }
  }
}

// The indirect conv tile (I8ConvTileArgs): the same 6 x 16 register tile, each row's window read at
// its pointer plus the tap's offset.
#define ANYPREC_CV_BASE(r) const uint8_t* const p##r = MR > r ? rows[r] : nullptr;
#define ANYPREC_CV_ROW(r)                                                  \
  if constexpr (MR > r) {                                                  \
    const __m256i va = _mm256_set1_epi32(load4(p##r + o + s * 4));             \
    c##r##0 = _mm256_dpbusd_avx_epi32(c##r##0, va, b0);                    \
    c##r##1 = _mm256_dpbusd_avx_epi32(c##r##1, va, b1);                    \
  }
#define ANYPREC_CV_STORE1(r, q)                                            \
  {                                                                        \
    __m256i* p = reinterpret_cast<__m256i*>(c + r * ldc + q * 8);          \
    __m256i v = c##r##q;                                                   \
    if (add) v = _mm256_add_epi32(v, _mm256_loadu_si256(p));               \
    if (fin != nullptr)                                                    \
      v = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(v, mulv), _mm256_set1_epi32(rowC[r])), \
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(fin->colConst + q * 8))); \
    _mm256_storeu_si256(p, v);                                             \
  }
#define ANYPREC_CV_STORE(r)                                                \
  if constexpr (MR > r) {                                                  \
    ANYPREC_CV_STORE1(r, 0)                                                \
    ANYPREC_CV_STORE1(r, 1)                                                \
  }

template <int MR>
void convBlock(const uint8_t* const* rows, const ptrdiff_t* off, size_t c4, size_t q0, size_t q1, const int8_t* b, int32_t* c,
               size_t ldc, bool add, const ConvFinish* fin) {
  static_assert(MR >= 1 && MR <= 6, "tile rows");
  const __m256i z = _mm256_setzero_si256();
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
  ANYPREC_CV_BASE(0) ANYPREC_CV_BASE(1) ANYPREC_CV_BASE(2) ANYPREC_CV_BASE(3) ANYPREC_CV_BASE(4) ANYPREC_CV_BASE(5)
  forTapPieces(c4, q0, q1, [&](size_t t, size_t qa, size_t qb, size_t q) {
    const ptrdiff_t o = off[t] + static_cast<ptrdiff_t>(qa * 4);
    const int8_t* bq = b + q * 64;
    for (size_t s = 0; s < qb - qa; ++s, bq += 64) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq + 32));
      ANYPREC_CV_ROW(0) ANYPREC_CV_ROW(1) ANYPREC_CV_ROW(2) ANYPREC_CV_ROW(3) ANYPREC_CV_ROW(4) ANYPREC_CV_ROW(5)
    }
  });
  const __m256i mulv = _mm256_set1_epi32(fin != nullptr ? static_cast<int>(fin->mul) : 1);
  const int* rowC = fin != nullptr ? reinterpret_cast<const int*>(fin->rowConst) : nullptr;
  ANYPREC_CV_STORE(0) ANYPREC_CV_STORE(1) ANYPREC_CV_STORE(2) ANYPREC_CV_STORE(3) ANYPREC_CV_STORE(4) ANYPREC_CV_STORE(5)
}
#undef ANYPREC_CV_BASE
#undef ANYPREC_CV_ROW
#undef ANYPREC_CV_STORE1
#undef ANYPREC_CV_STORE

using ConvBlockFn = void (*)(const uint8_t* const*, const ptrdiff_t*, size_t, size_t, size_t, const int8_t*, int32_t*, size_t,
                             bool, const ConvFinish*);
const ConvBlockFn kConvBlocks[kMr + 1] = {nullptr,        convBlock<1>, convBlock<2>, convBlock<3>,
                                          convBlock<4>,   convBlock<5>, convBlock<6>};

void convTileAvxVnni(const I8ConvTileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock, c4 = t.tapBytes / 4, k4 = t.taps * c4;
  const size_t kc4 = t.m == 1 ? k4 : kConvKc4;  // one row streams its weights once: no K blocks
  for (size_t q0 = 0; q0 < k4; q0 += kc4) {
    const size_t q1 = k4 - q0 < kc4 ? k4 : q0 + kc4;
    for (int j0 = 0; j0 < t.nUsed; j0 += static_cast<int>(kI8NBlock)) {
      const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
      for (int i0 = 0; i0 < t.m; i0 += kMr) {
        const ConvFinish fin{t.rowConst != nullptr ? t.rowConst + i0 : nullptr, t.colConst != nullptr ? t.colConst + j0 : nullptr, t.mul};
        kConvBlocks[t.m - i0 < kMr ? t.m - i0 : kMr](t.rows + i0, t.tapOffset, c4, q0, q1, b, t.c + i0 * t.ldc + j0,
                                                      t.ldc, q0 > 0, q1 == k4 && t.rowConst != nullptr ? &fin : nullptr);
      }
    }
  }
}

// The VNNI ceiling on ymm: kCeilChains independent VPDPBUSD chains on registers only.
constexpr int kCeilChains = 12;
uint64_t ceilingAvxVnni(uint64_t iters, uint64_t seed) {
  if (iters == 0) return 0;
  const __m256i va = _mm256_set1_epi64x(static_cast<long long>(seed | 0x0101010101010101ull));
  const __m256i vb = _mm256_set1_epi64x(static_cast<long long>(seed * 0x9E3779B97F4A7C15ull));
  __m256i c0 = _mm256_set1_epi32(0);
  __m256i c1 = _mm256_set1_epi32(1);
  __m256i c2 = _mm256_set1_epi32(2);
  __m256i c3 = _mm256_set1_epi32(3);
  __m256i c4 = _mm256_set1_epi32(4);
  __m256i c5 = _mm256_set1_epi32(5);
  __m256i c6 = _mm256_set1_epi32(6);
  __m256i c7 = _mm256_set1_epi32(7);
  __m256i c8 = _mm256_set1_epi32(8);
  __m256i c9 = _mm256_set1_epi32(9);
  __m256i c10 = _mm256_set1_epi32(10);
  __m256i c11 = _mm256_set1_epi32(11);
  // Inline assembly: the compiler neither spills nor copies these registers inside the loop.
  uint64_t n = iters;
  asm volatile(
      "1:\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c0]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c1]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c2]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c3]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c4]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c5]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c6]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c7]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c8]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c9]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c10]\n\t"
      "%{vex%} vpdpbusd %[b], %[a], %[c11]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [c0] "+v"(c0), [c1] "+v"(c1), [c2] "+v"(c2), [c3] "+v"(c3), [c4] "+v"(c4), [c5] "+v"(c5), [c6] "+v"(c6), [c7] "+v"(c7), [c8] "+v"(c8), [c9] "+v"(c9), [c10] "+v"(c10), [c11] "+v"(c11), [n] "+r"(n)
      : [a] "v"(va), [b] "v"(vb)
      : "cc");
  __m256i s = c0;
  s = _mm256_xor_si256(s, c1); s = _mm256_xor_si256(s, c2); s = _mm256_xor_si256(s, c3); s = _mm256_xor_si256(s, c4); s = _mm256_xor_si256(s, c5); s = _mm256_xor_si256(s, c6); s = _mm256_xor_si256(s, c7); s = _mm256_xor_si256(s, c8); s = _mm256_xor_si256(s, c9); s = _mm256_xor_si256(s, c10); s = _mm256_xor_si256(s, c11);
  alignas(32) uint64_t w[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(w), s);
  uint64_t r = 0;
  for (int i = 0; i < 4; ++i) r += w[i];
  return r;
}

}  // namespace

const I8Kernel kI8AvxVnni = {"avx-vnni", byteRowsAvx2, tileAvxVnni, ceilingAvxVnni, kCeilChains * 32,
                              convTileAvxVnni, pixelPrefixX86};

}  // namespace anyprec
