// AVX-512 VNNI int8 variant: VPDPBUSD zmm (u8 x s8 -> int32, 4 products per lane, wrap-around, no
// saturation).
//
// Register tile: MR <= 6 rows x 64 columns = 24 zmm accumulators. Per k4 step (4 values of K) it
// loads four 64-byte B rows (16 columns x 4 k each: the prepared layout as is, so the packed B
// panel IS the weight cache, made once per weight) and broadcasts one dword of A per row: 10 loads
// for 24 VPDPBUSD, which keeps the loads off the critical port. 24 independent chains are
// several times VPDPBUSD's latency x throughput.
// K is blocked (kKc values per block): the B panel of one block (64 columns x kKc bytes = 32 KiB)
// stays in L1 while every row block of the tile walks it; A's rows come from L2. Partial sums of
// a block are added to C (first block: stored), so the tile keeps no other state.
// Column remainders of 32 use a 6 x 32 tile; one row (GEMV) uses 1 x 64 over all of K (its
// weights stream from memory once: blocking K gains nothing there).
#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_conv.h"
#include "i8gemm/i8gemm_x86_sums.h"
#include "i8gemm/i8gemm_x86.h"

namespace anyprec {
namespace {

constexpr size_t kKc = 512;  // K values per block (multiple of kI8KAlign)
constexpr int kMr = 6;

inline int32_t load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// c[r][q*16 .. q*16+15] (+)= sum over k4 < k4n of A's dword (row r, k4) . B block q's row k4.
// The accumulators are named variables, not an array: GCC keeps an array of 24 zmm on the stack
// and stores every accumulator back on each k4 step (that alone cost ~2.5x).
#define ANYPREC_I8_ROW(r)                                                  \
  if constexpr (MR > r) {                                                  \
    const __m512i va = _mm512_set1_epi32(load4(a + r * lda + k4 * 4));     \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, va, b0);                        \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, va, b1);                        \
    if constexpr (NB > 2) {                                                \
      c##r##2 = _mm512_dpbusd_epi32(c##r##2, va, b2);                      \
      c##r##3 = _mm512_dpbusd_epi32(c##r##3, va, b3);                      \
    }                                                                      \
  }
#define ANYPREC_I8_STORE1(r, q)                                            \
  {                                                                        \
    int32_t* p = c + r * ldc + q * 16;                                     \
    __m512i v = c##r##q;                                                   \
    if (add) v = _mm512_add_epi32(v, _mm512_loadu_si512(p));              \
    _mm512_storeu_si512(p, v);                                             \
  }
#define ANYPREC_I8_STORE(r)                                                \
  if constexpr (MR > r) {                                                  \
    ANYPREC_I8_STORE1(r, 0)                                                \
    ANYPREC_I8_STORE1(r, 1)                                                \
    if constexpr (NB > 2) {                                                \
      ANYPREC_I8_STORE1(r, 2)                                              \
      ANYPREC_I8_STORE1(r, 3)                                              \
    }                                                                      \
  }

template <int MR, int NB>
void block(const uint8_t* a, size_t lda, const int8_t* b, size_t blockBytes, size_t k4n, int32_t* c, size_t ldc,
           bool add) {
  static_assert(MR >= 1 && MR <= 6 && (NB == 2 || NB == 4), "tile shape");
  const __m512i z = _mm512_setzero_si512();
  __m512i c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z,
          c23 = z, c30 = z, c31 = z, c32 = z, c33 = z, c40 = z, c41 = z, c42 = z, c43 = z, c50 = z, c51 = z,
          c52 = z, c53 = z;
  const int8_t* b1p = b + blockBytes;
  const int8_t* b2p = b + 2 * blockBytes;
  const int8_t* b3p = b + 3 * blockBytes;
  for (size_t k4 = 0; k4 < k4n; ++k4) {
    const __m512i b0 = _mm512_loadu_si512(b + k4 * 64);
    const __m512i b1 = _mm512_loadu_si512(b1p + k4 * 64);
    __m512i b2 = z, b3 = z;
    if constexpr (NB > 2) {
      b2 = _mm512_loadu_si512(b2p + k4 * 64);
      b3 = _mm512_loadu_si512(b3p + k4 * 64);
    }
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
#undef ANYPREC_I8_STORE1

// One 16-column block (N = 16: a ResNet's first stage), up to 12 rows: 12 independent chains with
// one B load per k4 step (the 32-column tile would spend half its work on the zero columns).
#define ANYPREC_I8_ROW16(r)                                                 \
  if constexpr (MR > r) s##r = _mm512_dpbusd_epi32(s##r, _mm512_set1_epi32(load4(a + r * lda + k4 * 4)), bv);
#define ANYPREC_I8_STORE16(r)                                               \
  if constexpr (MR > r) {                                                   \
    int32_t* p = c + r * ldc;                                               \
    __m512i v = s##r;                                                       \
    if (add) v = _mm512_add_epi32(v, _mm512_loadu_si512(p));               \
    _mm512_storeu_si512(p, v);                                              \
  }
template <int MR>
void block16(const uint8_t* a, size_t lda, const int8_t* b, size_t k4n, int32_t* c, size_t ldc, bool add) {
  static_assert(MR >= 1 && MR <= 12, "tile shape");
  const __m512i z = _mm512_setzero_si512();
  __m512i s0 = z, s1 = z, s2 = z, s3 = z, s4 = z, s5 = z, s6 = z, s7 = z, s8 = z, s9 = z, s10 = z, s11 = z;
  for (size_t k4 = 0; k4 < k4n; ++k4) {
    const __m512i bv = _mm512_loadu_si512(b + k4 * 64);
    ANYPREC_I8_ROW16(0)
    ANYPREC_I8_ROW16(1)
    ANYPREC_I8_ROW16(2)
    ANYPREC_I8_ROW16(3)
    ANYPREC_I8_ROW16(4)
    ANYPREC_I8_ROW16(5)
    ANYPREC_I8_ROW16(6)
    ANYPREC_I8_ROW16(7)
    ANYPREC_I8_ROW16(8)
    ANYPREC_I8_ROW16(9)
    ANYPREC_I8_ROW16(10)
    ANYPREC_I8_ROW16(11)
  }
  ANYPREC_I8_STORE16(0)
  ANYPREC_I8_STORE16(1)
  ANYPREC_I8_STORE16(2)
  ANYPREC_I8_STORE16(3)
  ANYPREC_I8_STORE16(4)
  ANYPREC_I8_STORE16(5)
  ANYPREC_I8_STORE16(6)
  ANYPREC_I8_STORE16(7)
  ANYPREC_I8_STORE16(8)
  ANYPREC_I8_STORE16(9)
  ANYPREC_I8_STORE16(10)
  ANYPREC_I8_STORE16(11)
}
#undef ANYPREC_I8_ROW16
#undef ANYPREC_I8_STORE16
constexpr int kMr16 = 12;
using Block16Fn = void (*)(const uint8_t*, size_t, const int8_t*, size_t, int32_t*, size_t, bool);
const Block16Fn kBlock16[kMr16 + 1] = {nullptr,       block16<1>, block16<2>, block16<3>,  block16<4>,  block16<5>, block16<6>,
                                       block16<7>,    block16<8>, block16<9>, block16<10>, block16<11>, block16<12>};

using BlockFn = void (*)(const uint8_t*, size_t, const int8_t*, size_t, size_t, int32_t*, size_t, bool);
const BlockFn kBlock64[kMr + 1] = {nullptr, block<1, 4>, block<2, 4>, block<3, 4>, block<4, 4>, block<5, 4>, block<6, 4>};
const BlockFn kBlock32[kMr + 1] = {nullptr, block<1, 2>, block<2, 2>, block<3, 2>, block<4, 2>, block<5, 2>, block<6, 2>};

// ---- the indirect conv tile (I8ConvTileArgs) ----------------------------------------------------
// MR output rows x NB 16-column blocks, each row's window read at its pointer plus the tap's offset:
// per K step NB weight loads and one broadcast dword per row, as block().
// NB = 4 (64 columns) takes 6 rows; NB = 1 and 2 (N = 16 / 32: a ResNet's first stages) take 12
// rows, so 12 / 24 independent chains keep VPDPBUSD busy where block16 / block<., 2> had 12.
#define ANYPREC_CV_ACC(r) __m512i a##r##0 = z, a##r##1 = z, a##r##2 = z, a##r##3 = z;
#define ANYPREC_CV_BASE(r) const uint8_t* const p##r = MR > r ? rows[r] : nullptr;
#define ANYPREC_CV_ROW(r)                                                  \
  if constexpr (MR > r) {                                                  \
    const __m512i va = _mm512_set1_epi32(load4(p##r + o + s * 4));             \
    a##r##0 = _mm512_dpbusd_epi32(a##r##0, va, b0);                        \
    if constexpr (NB > 1) a##r##1 = _mm512_dpbusd_epi32(a##r##1, va, b1);  \
    if constexpr (NB > 2) {                                                \
      a##r##2 = _mm512_dpbusd_epi32(a##r##2, va, b2);                      \
      a##r##3 = _mm512_dpbusd_epi32(a##r##3, va, b3);                      \
    }                                                                      \
  }
#define ANYPREC_CV_STORE1(r, q)                                            \
  {                                                                        \
    int32_t* p = c + r * ldc + q * 16;                                     \
    __m512i v = a##r##q;                                                   \
    if (add) v = _mm512_add_epi32(v, _mm512_loadu_si512(p));              \
    if (fin != nullptr)                                                    \
      v = _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(v, mulv), _mm512_set1_epi32(rowC[r])), \
                           _mm512_loadu_si512(fin->colConst + q * 16));   \
    _mm512_storeu_si512(p, v);                                             \
  }
#define ANYPREC_CV_STORE(r)                                                \
  if constexpr (MR > r) {                                                  \
    ANYPREC_CV_STORE1(r, 0)                                                \
    if constexpr (NB > 1) ANYPREC_CV_STORE1(r, 1)                          \
    if constexpr (NB > 2) {                                                \
      ANYPREC_CV_STORE1(r, 2)                                              \
      ANYPREC_CV_STORE1(r, 3)                                              \
    }                                                                      \
  }

// K steps q0..q1-1 of rows 0..MR-1 (row r's tap t at rows[r] + off[t]) against NB column blocks.
template <int MR, int NB>
void convBlock(const uint8_t* const* rows, const ptrdiff_t* off, size_t c4, size_t q0, size_t q1, const int8_t* b,
               size_t blockBytes, int32_t* c, size_t ldc, bool add, const ConvFinish* fin) {
  static_assert(MR >= 1 && MR <= 12 && (NB == 1 || NB == 2 || NB == 4) && MR * NB <= 24, "tile shape");
  const __m512i z = _mm512_setzero_si512();
  ANYPREC_CV_ACC(0) ANYPREC_CV_ACC(1) ANYPREC_CV_ACC(2) ANYPREC_CV_ACC(3) ANYPREC_CV_ACC(4) ANYPREC_CV_ACC(5)
  ANYPREC_CV_ACC(6) ANYPREC_CV_ACC(7) ANYPREC_CV_ACC(8) ANYPREC_CV_ACC(9) ANYPREC_CV_ACC(10) ANYPREC_CV_ACC(11)
  ANYPREC_CV_BASE(0) ANYPREC_CV_BASE(1) ANYPREC_CV_BASE(2) ANYPREC_CV_BASE(3) ANYPREC_CV_BASE(4) ANYPREC_CV_BASE(5)
  ANYPREC_CV_BASE(6) ANYPREC_CV_BASE(7) ANYPREC_CV_BASE(8) ANYPREC_CV_BASE(9) ANYPREC_CV_BASE(10) ANYPREC_CV_BASE(11)
  forTapPieces(c4, q0, q1, [&](size_t t, size_t qa, size_t qb, size_t q) {
    const ptrdiff_t o = off[t] + static_cast<ptrdiff_t>(qa * 4);
    const int8_t* bq = b + q * 64;
    for (size_t s = 0; s < qb - qa; ++s, bq += 64) {
      const __m512i b0 = _mm512_loadu_si512(bq);
      __m512i b1 = z, b2 = z, b3 = z;
      if constexpr (NB > 1) b1 = _mm512_loadu_si512(bq + blockBytes);
      if constexpr (NB > 2) {
        b2 = _mm512_loadu_si512(bq + 2 * blockBytes);
        b3 = _mm512_loadu_si512(bq + 3 * blockBytes);
      }
      ANYPREC_CV_ROW(0) ANYPREC_CV_ROW(1) ANYPREC_CV_ROW(2) ANYPREC_CV_ROW(3) ANYPREC_CV_ROW(4) ANYPREC_CV_ROW(5)
      ANYPREC_CV_ROW(6) ANYPREC_CV_ROW(7) ANYPREC_CV_ROW(8) ANYPREC_CV_ROW(9) ANYPREC_CV_ROW(10) ANYPREC_CV_ROW(11)
    }
  });
  const __m512i mulv = _mm512_set1_epi32(fin != nullptr ? static_cast<int>(fin->mul) : 1);
  const int* rowC = fin != nullptr ? reinterpret_cast<const int*>(fin->rowConst) : nullptr;
  ANYPREC_CV_STORE(0) ANYPREC_CV_STORE(1) ANYPREC_CV_STORE(2) ANYPREC_CV_STORE(3) ANYPREC_CV_STORE(4) ANYPREC_CV_STORE(5)
  ANYPREC_CV_STORE(6) ANYPREC_CV_STORE(7) ANYPREC_CV_STORE(8) ANYPREC_CV_STORE(9) ANYPREC_CV_STORE(10) ANYPREC_CV_STORE(11)
}
#undef ANYPREC_CV_ACC
#undef ANYPREC_CV_BASE
#undef ANYPREC_CV_ROW
#undef ANYPREC_CV_STORE1
#undef ANYPREC_CV_STORE

using ConvBlockFn = void (*)(const uint8_t* const*, const ptrdiff_t*, size_t, size_t, size_t, const int8_t*, size_t, int32_t*,
                             size_t, bool, const ConvFinish*);
template <int NB, int... R>
constexpr std::array<ConvBlockFn, sizeof...(R) + 1> convBlocks(std::integer_sequence<int, R...>) {
  return {nullptr, convBlock<R + 1, NB>...};
}
constexpr auto kConv1 = convBlocks<1>(std::make_integer_sequence<int, 12>());
constexpr auto kConv2 = convBlocks<2>(std::make_integer_sequence<int, 12>());
constexpr auto kConv4 = convBlocks<4>(std::make_integer_sequence<int, 6>());

void convTileVnni(const I8ConvTileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock, c4 = t.tapBytes / 4, k4 = t.taps * c4;
  const size_t kc4 = t.m == 1 ? k4 : kConvKc4;  // one row streams its weights once: no K blocks
  for (size_t q0 = 0; q0 < k4; q0 += kc4) {
    const size_t q1 = k4 - q0 < kc4 ? k4 : q0 + kc4;
    const bool add = q0 > 0;
    for (int j0 = 0; j0 < t.nUsed;) {
      // 64 columns where the weights have them and more than 32 are used, else 32, the last 16 alone
      const int left = t.nUsed - j0;
      const ConvBlockFn* fns = left > 32 && t.n - j0 >= 64 ? kConv4.data() : left > 16 ? kConv2.data() : kConv1.data();
      const int width = fns == kConv4.data() ? 64 : fns == kConv2.data() ? 32 : 16;
      const int mr = fns == kConv4.data() ? 6 : 12;
      const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
      for (int i0 = 0; i0 < t.m; i0 += mr) {
        const ConvFinish fin{t.rowConst != nullptr ? t.rowConst + i0 : nullptr, t.colConst != nullptr ? t.colConst + j0 : nullptr, t.mul};
        fns[t.m - i0 < mr ? t.m - i0 : mr](t.rows + i0, t.tapOffset, c4, q0, q1, b, blockBytes, t.c + i0 * t.ldc + j0,
                                          t.ldc, add, q1 == k4 && t.rowConst != nullptr ? &fin : nullptr);
      }
      j0 += width;
    }
  }
}

void tileVnni(const I8TileArgs& t) {
  const size_t blockBytes = t.kPad * kI8NBlock;
  const size_t kUsed = t.kUsed != 0 ? t.kUsed : t.kPad;  // zeros past kUsed: not multiplied
  const int nUsed = t.nUsed != 0 ? t.nUsed : t.n;
  // Column blocks: 64 where the weights have them and more than 32 are used, else 32, the last 16
  // alone (n is a multiple of 16: a 32-column step must not run past it).
  auto width = [&](int j0) { return nUsed - j0 <= 16 ? 16 : nUsed - j0 > 32 && t.n - j0 >= 64 ? 64 : 32; };
  if (t.m == 1) {
    for (int j0 = 0; j0 < nUsed;) {
      const int w = width(j0);
      const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes;
      if (w == 16) kBlock16[1](t.a, t.lda, b, kUsed / 4, t.c + j0, t.ldc, false);
      else (w == 64 ? block<1, 4> : block<1, 2>)(t.a, t.lda, b, blockBytes, kUsed / 4, t.c + j0, t.ldc, false);
      j0 += w;
    }
    return;
  }
  for (size_t k0 = 0; k0 < kUsed; k0 += kKc) {
    const size_t kc = kUsed - k0 < kKc ? kUsed - k0 : kKc;
    const bool add = k0 > 0;
    for (int j0 = 0; j0 < nUsed;) {
      const int w = width(j0);
      const int8_t* b = t.b + (j0 / kI8NBlock) * blockBytes + k0 * kI8NBlock;
      if (w == 16) {
        for (int i0 = 0; i0 < t.m; i0 += kMr16) {
          const int mr = t.m - i0 < kMr16 ? t.m - i0 : kMr16;
          kBlock16[mr](t.a + i0 * t.lda + k0, t.lda, b, kc / 4, t.c + i0 * t.ldc + j0, t.ldc, add);
        }
      } else {
        const BlockFn* fns = w == 64 ? kBlock64 : kBlock32;
        for (int i0 = 0; i0 < t.m; i0 += kMr) {
          const int mr = t.m - i0 < kMr ? t.m - i0 : kMr;
          fns[mr](t.a + i0 * t.lda + k0, t.lda, b, blockBytes, kc / 4, t.c + i0 * t.ldc + j0, t.ldc, add);
        }
      }
      j0 += w;
    }
  }
}

// The VNNI ceiling: kCeilChains independent VPDPBUSD chains on registers only (no loads), the
// tile's inner step without its memory traffic.
constexpr int kCeilChains = 16;
uint64_t ceilingVnni(uint64_t iters, uint64_t seed) {
  if (iters == 0) return 0;
  const __m512i va = _mm512_set1_epi64(static_cast<long long>(seed | 0x0101010101010101ull));
  const __m512i vb = _mm512_set1_epi64(static_cast<long long>(seed * 0x9E3779B97F4A7C15ull));
  // Inline assembly with fixed registers: the compiler neither spills nor copies the chains.
  __m512i s;
  uint64_t n = iters;
  asm volatile(
      "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm1, %%zmm1, %%zmm1\n\t"
      "vpxord %%zmm2, %%zmm2, %%zmm2\n\t"
      "vpxord %%zmm3, %%zmm3, %%zmm3\n\t"
      "vpxord %%zmm4, %%zmm4, %%zmm4\n\t"
      "vpxord %%zmm5, %%zmm5, %%zmm5\n\t"
      "vpxord %%zmm6, %%zmm6, %%zmm6\n\t"
      "vpxord %%zmm7, %%zmm7, %%zmm7\n\t"
      "vpxord %%zmm8, %%zmm8, %%zmm8\n\t"
      "vpxord %%zmm9, %%zmm9, %%zmm9\n\t"
      "vpxord %%zmm10, %%zmm10, %%zmm10\n\t"
      "vpxord %%zmm11, %%zmm11, %%zmm11\n\t"
      "vpxord %%zmm12, %%zmm12, %%zmm12\n\t"
      "vpxord %%zmm13, %%zmm13, %%zmm13\n\t"
      "vpxord %%zmm14, %%zmm14, %%zmm14\n\t"
      "vpxord %%zmm15, %%zmm15, %%zmm15\n\t"
      "1:\n\t"
      "vpdpbusd %[b], %[a], %%zmm0\n\t"
      "vpdpbusd %[b], %[a], %%zmm1\n\t"
      "vpdpbusd %[b], %[a], %%zmm2\n\t"
      "vpdpbusd %[b], %[a], %%zmm3\n\t"
      "vpdpbusd %[b], %[a], %%zmm4\n\t"
      "vpdpbusd %[b], %[a], %%zmm5\n\t"
      "vpdpbusd %[b], %[a], %%zmm6\n\t"
      "vpdpbusd %[b], %[a], %%zmm7\n\t"
      "vpdpbusd %[b], %[a], %%zmm8\n\t"
      "vpdpbusd %[b], %[a], %%zmm9\n\t"
      "vpdpbusd %[b], %[a], %%zmm10\n\t"
      "vpdpbusd %[b], %[a], %%zmm11\n\t"
      "vpdpbusd %[b], %[a], %%zmm12\n\t"
      "vpdpbusd %[b], %[a], %%zmm13\n\t"
      "vpdpbusd %[b], %[a], %%zmm14\n\t"
      "vpdpbusd %[b], %[a], %%zmm15\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vpxord %%zmm1, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm2, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm3, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm4, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm5, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm6, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm7, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm8, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm9, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm10, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm11, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm12, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm13, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm14, %%zmm0, %%zmm0\n\t"
      "vpxord %%zmm15, %%zmm0, %%zmm0\n\t"
      "vmovdqa64 %%zmm0, %[s]\n\t"
      : [s] "=v"(s), [n] "+r"(n)
      : [a] "v"(va), [b] "v"(vb)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  alignas(64) uint64_t w[8];
  _mm512_store_si512(w, s);
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r += w[i];
  return r;
}

}  // namespace

const I8Kernel kI8Avx512Vnni = {"avx512-vnni", byteRowsAvx512, tileVnni, ceilingVnni, kCeilChains * 64, convTileVnni,
                                   pixelPrefixX86};

}  // namespace anyprec
