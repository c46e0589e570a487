// AVX2 int8 variant (no VNNI), for AVX2 CPUs and AVX-512 CPUs without VNNI. Every tile (the plain
// tile over byte rows and the indirect conv tile over row pointers and tap offsets) runs one of three
// inner loops, chosen per call from the caller's operand bound (I8TileArgs::maxProduct, P) and rows:
//
//  pairs (exact where 2 * P <= 32767, e.g. 4-bit activations with any weights, or 8-bit ones with
//  weights of up to 6 bits): VPMADDUBSW multiplies A's 4 bytes (u8, broadcast) by 8 columns x 4 k
//  of B (s8) and adds adjacent products into int16 lanes: lane 2c = a0 b0 + a1 b1, lane 2c+1 =
//  a2 b2 + a3 b3 of column c; |lane| <= 2P, so it never saturates. VPADDW (wrap-around) adds T
//  steps in int16, T * 2P <= 32767, so the int16 sums are exact too; then VPMADDWD with ones adds
//  each column's two lanes into int32 and VPADDD accumulates (wrap-around, see i8gemm.h).
//  Register tile: 6 rows x 16 columns = 12 int16 accumulators, two B loads per k4 step.
//
//  words (any bytes; P = 0 or too large, e.g. 8 x 8 bits): B sign-extended to int16 (VPMOVSXBW, 4
//  columns x 4 k per vector), A's 4 bytes zero-extended to int16 in every 64-bit lane (VPSHUFB of
//  a broadcast dword), VPMADDWD gives two int32 half sums per column (|sum| <= 2 * 255 * 128, no
//  saturation: only -32768 * -32768 twice could), VPADDD accumulates; VPHADDD adds the halves at
//  the end. Register tile: 5 rows x 8 columns = 10 accumulators. Used for one row (GEMV).
//
//  wide (any bytes, two or more rows): the words loop's arithmetic, but the 16-column block's K
//  block is sign-extended to int16 once into a scratch copy shared by all its row tiles, and each
//  row's zero-extended A feeds 16 columns (3 rows x 16 columns = 12 accumulators, B read from
//  memory by VPMADDWD): 5 vector uops per 32 MACs instead of the words loop's 6.4.
//  (Tried and dropped: splitting B' into two signed nibbles, b' = 16 bh + bl, for two exact
//  VPMADDUBSW passes with 8 k4 steps of int16 sums: same VPMADD count per MAC as words, plus the
//  int16 flushes; 1.03-1.12x the words loop's time on ResNet-20 / CNN at 8 bits, Zen 3.)
//  Where it stands (Zen 3, one thread, bench/native/i8conv_avx2_bench.cc): the conv tile runs at
//  0.85-0.89 of a register-only VPMADDWD + VPADDD loop (169 Gop/s = 26.5 MACs/cycle: the pair
//  issues ~1.65/cycle, not the 2 VPMADDWD alone reach; MLAS's VPMADDUBSW -> VPMADDWD -> VPADDD
//  chain, 3 uops per 32 MACs, reaches 200), the codes route at 0.78-0.85. Also tried and dropped
//  (Zen 3, 8 x 8 bits): A and B both widened to int16 pairs in scratch, 6 x 16 tile, one
//  VPBROADCASTD per row and k2 step (no VPSHUFB, no horizontal adds): the tile 1.00-1.04x faster
//  in the bench, the CNN 1.02-1.05x slower in compare-builds (3 runs); A and B as runs of 16 k,
//  3 x 4 tile, no broadcasts, horizontal adds per K block: 0.85-0.93x; this loop with A widened
//  per tile and VPBROADCASTQ instead of VPSHUFB: 0.85-0.9x; its instructions reordered in inline
//  assembly: same; extra FMA chains beside the VPMADDWD ones add no throughput (26.0 -> 26.9 MACs/cycle).
//
// VPMADDUBSW saturates to int16 (255 * 127 * 2 > 32767): it is used only under the bound above.
// The ceiling loop: VPMADDUBSW -> VPMADDWD -> VPADDD chains on registers (the instruction chain
// of an AVX2 int8 GEMM without VNNI, one byte MAC per byte of the ymm).
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"
#include "i8gemm/i8gemm_conv.h"
#include "i8gemm/i8gemm_x86_avx2.h"
#include "i8gemm/i8gemm_x86_sums.h"

namespace anyprec {
namespace {

constexpr int kMr = 6;   // rows of the pairs tile
constexpr int kMrW = 5;  // rows of the words tile (6 would need 17 ymm: GCC spilled an accumulator)

// k4 steps the pairs loop may add in int16 for products bounded by p (0: the words loop).
inline size_t pairSteps(uint32_t p) {
  if (p == 0 || 2 * static_cast<uint64_t>(p) > 32767) return 0;
  return 32767 / (2 * static_cast<size_t>(p));
}

// Stores (or adds, `add`) v to c, and applies the fused finish to the final values.
inline void storeFinal(int32_t* c, __m256i v, bool add, const ConvFinish* fin, int r, int q, __m256i mulv) {
  __m256i* p = reinterpret_cast<__m256i*>(c);
  if (add) v = _mm256_add_epi32(v, _mm256_loadu_si256(p));
  if (fin != nullptr)
    v = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(v, mulv), _mm256_set1_epi32(static_cast<int>(fin->rowConst[r]))),
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(fin->colConst + q * 8)));
  _mm256_storeu_si256(p, v);
}

// ---- pairs: 6 x 16, int16 sums of up to T steps -------------------------------------------------

#define ANYPREC_P_BASE(r) const uint8_t* const p##r = MR > r ? rows[r] : nullptr;
#define ANYPREC_P_ROW(r)                                                        \
  if constexpr (MR > r) {                                                       \
    const __m256i va = _mm256_set1_epi32(load4(p##r + o + s * 4));              \
    h##r##0 = _mm256_add_epi16(h##r##0, _mm256_maddubs_epi16(va, b0));          \
    h##r##1 = _mm256_add_epi16(h##r##1, _mm256_maddubs_epi16(va, b1));          \
  }
#define ANYPREC_P_FLUSH1(r, q)                                                  \
  {                                                                             \
    __m256i* p = reinterpret_cast<__m256i*>(acc + r * 16 + q * 8);              \
    const __m256i v = _mm256_madd_epi16(h##r##q, ones);                         \
    _mm256_store_si256(p, _mm256_add_epi32(v, _mm256_load_si256(p)));             \
    h##r##q = z;                                                                \
  }
#define ANYPREC_P_FLUSH(r)                                                      \
  if constexpr (MR > r) {                                                       \
    ANYPREC_P_FLUSH1(r, 0)                                                      \
    ANYPREC_P_FLUSH1(r, 1)                                                      \
  }

template <int MR>
void pairsBlock(const uint8_t* const* rows, const ptrdiff_t* off, size_t c4, size_t q0, size_t q1, const int8_t* b,
                int32_t* c, size_t ldc, bool add, const ConvFinish* fin, size_t steps) {
  static_assert(MR >= 1 && MR <= kMr, "tile rows");
  const __m256i z = _mm256_setzero_si256(), ones = _mm256_set1_epi16(1);
  __m256i h00 = z, h01 = z, h10 = z, h11 = z, h20 = z, h21 = z, h30 = z, h31 = z, h40 = z, h41 = z, h50 = z, h51 = z;
  alignas(32) int32_t acc[MR * 16] = {};
  size_t pending = 0;  // k4 steps in the int16 sums
  ANYPREC_P_BASE(0) ANYPREC_P_BASE(1) ANYPREC_P_BASE(2) ANYPREC_P_BASE(3) ANYPREC_P_BASE(4) ANYPREC_P_BASE(5)
  forTapPieces(c4, q0, q1, [&](size_t t, size_t qa, size_t qb, size_t q) {
    size_t s = 0;
    const size_t n = qb - qa;
    const ptrdiff_t o = off[t] + static_cast<ptrdiff_t>(qa * 4);
    const int8_t* bq = b + q * 64;
    while (s < n) {
      const size_t stop = n - s < steps - pending ? n : s + (steps - pending);
      pending += stop - s;
      for (; s < stop; ++s, bq += 64) {
        const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq));
        const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq + 32));
        ANYPREC_P_ROW(0) ANYPREC_P_ROW(1) ANYPREC_P_ROW(2) ANYPREC_P_ROW(3) ANYPREC_P_ROW(4) ANYPREC_P_ROW(5)
      }
      if (pending == steps) {
        ANYPREC_P_FLUSH(0) ANYPREC_P_FLUSH(1) ANYPREC_P_FLUSH(2) ANYPREC_P_FLUSH(3) ANYPREC_P_FLUSH(4) ANYPREC_P_FLUSH(5)
        pending = 0;
      }
    }
  });
  if (pending > 0) {
    ANYPREC_P_FLUSH(0) ANYPREC_P_FLUSH(1) ANYPREC_P_FLUSH(2) ANYPREC_P_FLUSH(3) ANYPREC_P_FLUSH(4) ANYPREC_P_FLUSH(5)
  }
  const __m256i mulv = _mm256_set1_epi32(fin != nullptr ? static_cast<int>(fin->mul) : 1);
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 2; ++q)
      storeFinal(c + r * ldc + q * 8, _mm256_load_si256(reinterpret_cast<const __m256i*>(acc + r * 16 + q * 8)), add, fin,
                 r, q, mulv);
}
#undef ANYPREC_P_BASE
#undef ANYPREC_P_ROW
#undef ANYPREC_P_FLUSH1
#undef ANYPREC_P_FLUSH

// ---- words: 5 x 8, int16 operands, int32 sums ------------------------------------------------------

// acc lanes (2 per column, columns 0-3) and (columns 4-7) -> 8 column sums in order
inline __m256i pairSums(__m256i lo, __m256i hi) {
  return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8);
}

#define ANYPREC_W_BASE(r) const uint8_t* const p##r = MR > r ? rows[r] : nullptr;
#define ANYPREC_W_ROW(r)                                                                      \
  if constexpr (MR > r) {                                                                     \
    const __m256i va = _mm256_shuffle_epi8(_mm256_set1_epi32(load4(p##r + o + s * 4)), zext); \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(w0, va));                           \
    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(w1, va));                           \
  }
#define ANYPREC_W_STORE(r) \
  if constexpr (MR > r) storeFinal(c + r * ldc, pairSums(c##r##0, c##r##1), add, fin, r, half, mulv);

// Columns 8 * half .. 8 * half + 7 of a 16-column block; c at the block's first column.
template <int MR>
void wordsBlock(const uint8_t* const* rows, const ptrdiff_t* off, size_t c4, size_t q0, size_t q1, const int8_t* b,
                int32_t* c, size_t ldc, bool add, const ConvFinish* fin, int half) {
  static_assert(MR >= 1 && MR <= kMrW, "tile rows");
  const __m256i z = _mm256_setzero_si256();
  // bytes 0..3 of each 128-bit lane's dword to words, twice per lane (0x80: a zero byte)
  const __m256i zext = _mm256_setr_epi8(0, -128, 1, -128, 2, -128, 3, -128, 0, -128, 1, -128, 2, -128, 3, -128, 0, -128, 1,
                                        -128, 2, -128, 3, -128, 0, -128, 1, -128, 2, -128, 3, -128);
  __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z;
  ANYPREC_W_BASE(0) ANYPREC_W_BASE(1) ANYPREC_W_BASE(2) ANYPREC_W_BASE(3) ANYPREC_W_BASE(4)
  forTapPieces(c4, q0, q1, [&](size_t t, size_t qa, size_t qb, size_t q) {
    const ptrdiff_t o = off[t] + static_cast<ptrdiff_t>(qa * 4);
    const int8_t* bq = b + q * 64 + half * 32;
    for (size_t s = 0; s < qb - qa; ++s, bq += 64) {
      const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bq)));
      const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bq + 16)));
      ANYPREC_W_ROW(0) ANYPREC_W_ROW(1) ANYPREC_W_ROW(2) ANYPREC_W_ROW(3) ANYPREC_W_ROW(4)
    }
  });
  const __m256i mulv = _mm256_set1_epi32(fin != nullptr ? static_cast<int>(fin->mul) : 1);
  c += half * 8;
  ANYPREC_W_STORE(0) ANYPREC_W_STORE(1) ANYPREC_W_STORE(2) ANYPREC_W_STORE(3) ANYPREC_W_STORE(4)
}
#undef ANYPREC_W_BASE
#undef ANYPREC_W_ROW
#undef ANYPREC_W_STORE

// ---- wide: 3 x 16, any bytes, B widened to int16 once per block ----------------------------------

// Like words, but B's 16-column block is sign-extended to int16 once per K block (128 bytes per k4
// step: columns 0-3, 4-7, 8-11, 12-15) for all the block's row tiles, and a row's zero-extended A
// serves 16 columns: per row and k4 step 1 broadcast + 1 VPSHUFB + 4 VPMADDWD (B from memory) +
// 4 VPADDD for 64 MACs. |each VPMADDWD sum| <= 2 * 255 * 128: no saturation; VPADDD wraps (exact mod 2^32).
constexpr int kMrD = 3;  // 3 rows x 4 accumulators

void widenWeights(const int8_t* b, size_t steps, int8_t* out) {
  for (size_t s = 0; s < steps; ++s)
    for (int g = 0; g < 4; ++g)
      _mm256_store_si256(reinterpret_cast<__m256i*>(out + s * 128 + g * 32),
                         _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + s * 64 + g * 16))));
}

#define ANYPREC_D_BASE(r) const uint8_t* const p##r = MR > r ? rows[r] : nullptr;
#define ANYPREC_D_ROW(r)                                                                      \
  if constexpr (MR > r) {                                                                     \
    const __m256i va = _mm256_shuffle_epi8(_mm256_set1_epi32(load4(p##r + o + s * 4)), zext); \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(va, _mm256_load_si256(bv)));       \
    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(va, _mm256_load_si256(bv + 1)));   \
    c##r##2 = _mm256_add_epi32(c##r##2, _mm256_madd_epi16(va, _mm256_load_si256(bv + 2)));   \
    c##r##3 = _mm256_add_epi32(c##r##3, _mm256_madd_epi16(va, _mm256_load_si256(bv + 3)));   \
  }
#define ANYPREC_D_STORE(r)                                                        \
  if constexpr (MR > r) {                                                         \
    storeFinal(c + r * ldc, pairSums(c##r##0, c##r##1), add, fin, r, 0, mulv);     \
    storeFinal(c + r * ldc + 8, pairSums(c##r##2, c##r##3), add, fin, r, 1, mulv); \
  }

// b: the widened block (widenWeights) of steps q0..q1-1.
template <int MR>
void wideBlock(const uint8_t* const* rows, const ptrdiff_t* off, size_t c4, size_t q0, size_t q1, const int8_t* b,
               int32_t* c, size_t ldc, bool add, const ConvFinish* fin) {
  static_assert(MR >= 1 && MR <= kMrD, "tile rows");
  const __m256i z = _mm256_setzero_si256();
  const __m256i zext = _mm256_setr_epi8(0, -128, 1, -128, 2, -128, 3, -128, 0, -128, 1, -128, 2, -128, 3, -128, 0, -128, 1,
                                        -128, 2, -128, 3, -128, 0, -128, 1, -128, 2, -128, 3, -128);
  __m256i c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z;
  ANYPREC_D_BASE(0) ANYPREC_D_BASE(1) ANYPREC_D_BASE(2)
  forTapPieces(c4, q0, q1, [&](size_t t, size_t qa, size_t qb, size_t q) {
    const ptrdiff_t o = off[t] + static_cast<ptrdiff_t>(qa * 4);
    const __m256i* bv = reinterpret_cast<const __m256i*>(b + (q - q0) * 128);
    for (size_t s = 0; s < qb - qa; ++s, bv += 4) {
      ANYPREC_D_ROW(0) ANYPREC_D_ROW(1) ANYPREC_D_ROW(2)
    }
  });
  const __m256i mulv = _mm256_set1_epi32(fin != nullptr ? static_cast<int>(fin->mul) : 1);
  ANYPREC_D_STORE(0) ANYPREC_D_STORE(1) ANYPREC_D_STORE(2)
}
#undef ANYPREC_D_BASE
#undef ANYPREC_D_ROW
#undef ANYPREC_D_STORE

using PairsFn = void (*)(const uint8_t* const*, const ptrdiff_t*, size_t, size_t, size_t, const int8_t*, int32_t*, size_t,
                         bool, const ConvFinish*, size_t);
using WordsFn = void (*)(const uint8_t* const*, const ptrdiff_t*, size_t, size_t, size_t, const int8_t*, int32_t*, size_t,
                         bool, const ConvFinish*, int);
const PairsFn kPairs[kMr + 1] = {nullptr, pairsBlock<1>, pairsBlock<2>, pairsBlock<3>, pairsBlock<4>, pairsBlock<5>, pairsBlock<6>};
const WordsFn kWords[kMrW + 1] = {nullptr, wordsBlock<1>, wordsBlock<2>, wordsBlock<3>, wordsBlock<4>, wordsBlock<5>};
using WideFn = void (*)(const uint8_t* const*, const ptrdiff_t*, size_t, size_t, size_t, const int8_t*, int32_t*, size_t,
                         bool, const ConvFinish*);
const WideFn kWide[kMrD + 1] = {nullptr, wideBlock<1>, wideBlock<2>, wideBlock<3>};

// The shared driver: K blocks of kConvKc4 steps (one block for a single row in the pairs loop),
// 16-column blocks, 6-row (pairs), 3-row (wide) or 5-row (words) register tiles.
void runTile(const uint8_t* const* rows, const ptrdiff_t* off, size_t taps, size_t tapBytes, const int8_t* bBase,
             size_t kPad, int m, int nUsed, int32_t* c, size_t ldc, const uint32_t* rowConst, const uint32_t* colConst,
             uint32_t mul, uint32_t maxProduct) {
  const size_t blockBytes = kPad * kI8NBlock, c4 = tapBytes / 4, k4 = taps * c4;
  const size_t steps = pairSteps(maxProduct);
  // One row streams its weights once (no K blocks), but for the words loop, which reads a 16-column
  // block in two 8-column passes: K blocks keep the block's bytes in L1 for the second pass
  // (without them a GEMV read its weights twice from memory: 1 x 4096 x 4096 at 8 bits ran 12% slower).
  const size_t kc4 = m == 1 && steps > 0 ? k4 : kConvKc4;
  // One row: the words loop widens B in registers as it goes (a widened copy would serve one row).
  const bool useWide = m > 1;
  alignas(32) int8_t wide[kConvKc4 * 128];  // a 16-column block's K block as int16 (wide loop)
  for (size_t q0 = 0; q0 < k4; q0 += kc4) {
    const size_t q1 = k4 - q0 < kc4 ? k4 : q0 + kc4;
    for (int j0 = 0; j0 < nUsed; j0 += static_cast<int>(kI8NBlock)) {
      const int8_t* b = bBase + (j0 / kI8NBlock) * blockBytes;
      if (steps == 0 && useWide) {
        // The block's weights widened once for all its row tiles.
        widenWeights(b + q0 * 64, q1 - q0, wide);
        for (int i0 = 0; i0 < m; i0 += kMrD) {
          const int mr = m - i0 < kMrD ? m - i0 : kMrD;
          const ConvFinish fin{rowConst != nullptr ? rowConst + i0 : nullptr, colConst != nullptr ? colConst + j0 : nullptr, mul};
          const ConvFinish* f = q1 == k4 && rowConst != nullptr ? &fin : nullptr;
          kWide[mr](rows + i0, off, c4, q0, q1, wide, c + i0 * ldc + j0, ldc, q0 > 0, f);
        }
        continue;
      }
      const int tr = steps > 0 ? kMr : kMrW;
      for (int i0 = 0; i0 < m; i0 += tr) {
        const int mr = m - i0 < tr ? m - i0 : tr;
        const ConvFinish fin{rowConst != nullptr ? rowConst + i0 : nullptr, colConst != nullptr ? colConst + j0 : nullptr, mul};
        const ConvFinish* f = q1 == k4 && rowConst != nullptr ? &fin : nullptr;
        int32_t* cb = c + i0 * ldc + j0;
        if (steps > 0) {
          kPairs[mr](rows + i0, off, c4, q0, q1, b, cb, ldc, q0 > 0, f, steps);
        } else {
          kWords[mr](rows + i0, off, c4, q0, q1, b, cb, ldc, q0 > 0, f, 0);
          kWords[mr](rows + i0, off, c4, q0, q1, b, cb, ldc, q0 > 0, f, 1);
        }
      }
    }
  }
}

void tileAvx2(const I8TileArgs& t) {
  // Byte rows as one tap of kUsed bytes (zeros past it: not multiplied).
  const size_t kUsed = t.kUsed != 0 ? t.kUsed : t.kPad;
  const ptrdiff_t off[1] = {0};
  constexpr int kChunk = 96;  // row pointers per call (a multiple of the 6-row tile)
  const uint8_t* rows[kChunk];
  const int nUsed = t.nUsed != 0 ? t.nUsed : t.n;
  for (int i0 = 0; i0 < t.m; i0 += kChunk) {
    const int m = t.m - i0 < kChunk ? t.m - i0 : kChunk;
    for (int i = 0; i < m; ++i) rows[i] = t.a + static_cast<size_t>(i0 + i) * t.lda;
    runTile(rows, off, 1, kUsed, t.b, t.kPad, m, nUsed, t.c + static_cast<size_t>(i0) * t.ldc, t.ldc, nullptr, nullptr, 1,
            t.maxProduct);
  }
}

void convTileAvx2(const I8ConvTileArgs& t) {
  runTile(t.rows, t.tapOffset, t.taps, t.tapBytes, t.b, t.kPad, t.m, t.nUsed, t.c, t.ldc, t.rowConst, t.colConst, t.mul,
          t.maxProduct);
}

// The ceiling: kCeilChains independent VPMADDUBSW -> VPMADDWD -> VPADDD chains on registers only
// (32 byte MACs per chain and iteration; only the VPADDD carries a dependency between iterations).
constexpr int kCeilChains = 4;
uint64_t ceilingAvx2(uint64_t iters, uint64_t seed) {
  if (iters == 0) return 0;
  const __m256i va = _mm256_set1_epi64x(static_cast<long long>((seed | 0x0101010101010101ull) & 0x0F0F0F0F0F0F0F0Full));
  const __m256i vb = _mm256_set1_epi64x(static_cast<long long>((seed * 0x9E3779B97F4A7C15ull) & 0x0707070707070707ull));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c0 = _mm256_set1_epi32(0), c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2), c3 = _mm256_set1_epi32(3);
  __m256i t0, t1, t2, t3;
  uint64_t n = iters;
  // Inline assembly: the compiler neither hoists the loop-invariant products nor spills.
  asm volatile(
      "1:\n\t"
      "vpmaddubsw %[b], %[a], %[t0]\n\t"
      "vpmaddubsw %[b], %[a], %[t1]\n\t"
      "vpmaddubsw %[b], %[a], %[t2]\n\t"
      "vpmaddubsw %[b], %[a], %[t3]\n\t"
      "vpmaddwd %[o], %[t0], %[t0]\n\t"
      "vpmaddwd %[o], %[t1], %[t1]\n\t"
      "vpmaddwd %[o], %[t2], %[t2]\n\t"
      "vpmaddwd %[o], %[t3], %[t3]\n\t"
      "vpaddd %[t0], %[c0], %[c0]\n\t"
      "vpaddd %[t1], %[c1], %[c1]\n\t"
      "vpaddd %[t2], %[c2], %[c2]\n\t"
      "vpaddd %[t3], %[c3], %[c3]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [t0] "=&x"(t0), [t1] "=&x"(t1), [t2] "=&x"(t2),
        [t3] "=&x"(t3), [n] "+r"(n)
      : [a] "x"(va), [b] "x"(vb), [o] "x"(ones)
      : "cc");
  const __m256i s = _mm256_xor_si256(_mm256_xor_si256(c0, c1), _mm256_xor_si256(c2, c3));
  alignas(32) uint64_t w[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(w), s);
  return w[0] + w[1] + w[2] + w[3];
}

}  // namespace

const I8Kernel kI8Avx2 = {"avx2", byteRowsAvx2, tileAvx2, ceilingAvx2, kCeilChains * 32, convTileAvx2, pixelPrefixX86};

}  // namespace anyprec
