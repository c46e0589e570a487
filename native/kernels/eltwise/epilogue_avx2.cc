// Epilogue row loops (epilogue.h) for avx2 (8 lanes). The GEMM finish runs the explicit loops of
// epilogue_simd.h over the lane set below, every row tail one masked vector (vmaskmov loads and
// stores; codes through one 8-byte word, of which only the tail's bytes are copied out); the other
// entries are the generic loops compiled with these flags.
#include <immintrin.h>

#include <cstring>

#include "eltwise/epilogue_simd.h"
#include "eltwise/transpose_tile8.h"

namespace anyprec {
namespace {

#define AVX2_INLINE inline __attribute__((always_inline))

using epilogue_simd::Full;

struct Avx2 {
  static constexpr size_t kLanes = 8;
  using I = __m256i;
  using F = __m256;
  using I64 = __m256i;
  struct Part {
    __m256i m32;         // lanes 0..rem-1 all ones
    __m256i m64lo, m64hi;  // the same as int64 lanes 0..3 and 4..7
    size_t rem;
  };
  // x * mul for mul in {1, 2, 4, -2}: ((x << s) ^ neg) - neg, neg = 0 or -1 (two's complement negation).
  struct MulOp {
    __m128i shift;
    __m256i neg;
  };

  static Part part(size_t rem) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return {m, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m)), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1)), rem};
  }
  static I64 set64(int64_t v) { return _mm256_set1_epi64x(v); }
  static MulOp mulOp(int64_t mul) {
    const int s = mul == 1 ? 0 : mul == 4 ? 2 : 1;
    return {_mm_cvtsi32_si128(s), _mm256_set1_epi64x(mul < 0 ? -1 : 0)};
  }

  static __m256i load64(const int64_t* p, Full) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static __m256i load64(const int64_t* p, __m256i m) {
    return _mm256_maskload_epi64(reinterpret_cast<const long long*>(p), m);
  }
  static Full lowHalf(Full) { return {}; }
  static Full highHalf(Full) { return {}; }
  static __m256i lowHalf(const Part& p) { return p.m64lo; }
  static __m256i highHalf(const Part& p) { return p.m64hi; }

  template <class M>
  static __m256i combine4(const int64_t* core, const int64_t* col, I64 rt, const MulOp& mo, M m) {
    const __m256i x = _mm256_sub_epi64(_mm256_xor_si256(_mm256_sll_epi64(load64(core, m), mo.shift), mo.neg), mo.neg);
    return _mm256_add_epi64(_mm256_add_epi64(x, rt), load64(col, m));
  }
  template <class M>
  static I combine(const int64_t* core, const int64_t* col, I64 rt, const MulOp& mo, const M& m) {
    const __m256 lo = _mm256_castsi256_ps(combine4(core, col, rt, mo, lowHalf(m)));
    const __m256 hi = _mm256_castsi256_ps(combine4(core + 4, col + 4, rt, mo, highHalf(m)));
    // The low dword of each int64 (truncation): per 128-bit half [lo0 lo1 hi0 hi1 | lo2 lo3 hi2 hi3],
    // then the 64-bit pairs reordered to lo0..lo3 hi0..hi3.
    const __m256i packed = _mm256_castps_si256(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)));
    return _mm256_permute4x64_epi64(packed, _MM_SHUFFLE(3, 1, 2, 0));
  }

  static I loadI(const int32_t* p, Full) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I loadI(const int32_t* p, const Part& m) { return _mm256_maskload_epi32(p, m.m32); }
  static F loadF(const float* p, Full) { return _mm256_loadu_ps(p); }
  static F loadF(const float* p, const Part& m) { return _mm256_maskload_ps(p, m.m32); }
  static void storeI(int32_t* p, I v, Full) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static void storeI(int32_t* p, I v, const Part& m) { _mm256_maskstore_epi32(p, m.m32, v); }
  static void storeF(float* p, F v, Full) { _mm256_storeu_ps(p, v); }
  static void storeF(float* p, F v, const Part& m) { _mm256_maskstore_ps(p, m.m32, v); }
  // Codes 0..255 in int32 lanes -> 8 bytes: byte 0 of each dword gathered per 128-bit half, halves joined.
  static uint64_t codeBytes(I v) {
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i b = _mm256_shuffle_epi8(v, pick);
    const __m128i joined = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
    return static_cast<uint64_t>(_mm_cvtsi128_si64(joined));
  }
  static void storeCodes(uint8_t* p, I v, Full) {
    const uint64_t w = codeBytes(v);
    std::memcpy(p, &w, 8);
  }
  static void storeCodes(uint8_t* p, I v, const Part& m) {
    const uint64_t w = codeBytes(v);
    std::memcpy(p, &w, m.rem);
  }

  static F cvt(I v) { return _mm256_cvtepi32_ps(v); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  // max_ps(a, b) is a > b ? a : b and min_ps(a, b) is a < b ? a : b, NaN and signed zeros included:
  // max(lo, y) = (y < lo ? lo : y), min(hi, y) = (y > hi ? hi : y), as clampTo.
  static F clamp(F y, F lo, F hi) { return _mm256_min_ps(hi, _mm256_max_ps(lo, y)); }
  // quantizeUnit: max(y, 0) = (y > 0 ? y : 0) (NaN -> 0), min(c, 1) = (c < 1 ? c : 1).
  static I quantize(F y, F levels) {
    const F c = _mm256_min_ps(_mm256_max_ps(y, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
    const F magic = _mm256_set1_ps(12582912.0f);
    return _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(c, levels), magic), magic));
  }
};

// floatToCodes as explicit vectors: the generic loop (quantizeUnit's compares and the float ->
// uint8 narrowing) stayed scalar under GCC, and quantising a layer's float input was 14% of the
// 3x3 64->64 conv layer at 1 bit (batch 64) on an AVX2-only Zen 3. Per element the same float
// operations in the same order as the generic loop: x * scale, then + shift (separate roundings,
// no FMA), then V::quantize (quantizeUnit's exact semantics). 32 codes per step, then 8 at a
// time, then one masked vector for the tail.
template <bool kScale, bool kShift>
void floatToCodesRows(const float* x, const float* scale, const float* shift, float levels, uint8_t* out, size_t n) {
  const Avx2::F lv = Avx2::set1(levels);
  auto codes8 = [&](size_t i, auto m) {
    Avx2::F y = Avx2::loadF(x + i, m);
    if constexpr (kScale) y = Avx2::mul(y, Avx2::loadF(scale + i, m));
    if constexpr (kShift) y = Avx2::add(y, Avx2::loadF(shift + i, m));
    return Avx2::quantize(y, lv);
  };
  size_t i = 0;
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (; i + 32 <= n; i += 32) {
    // codes are 0..255: two saturating packs keep them; the packs work per 128-bit half, so
    // the dwords come out as [0 2 4 6 1 3 5 7] groups of 4 bytes and one permute restores order
    const __m256i a = codes8(i, Full{}), b = codes8(i + 8, Full{}), c = codes8(i + 16, Full{}), d = codes8(i + 24, Full{});
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), bytes);
  }
  for (; i + 8 <= n; i += 8) Avx2::storeCodes(out + i, codes8(i, Full{}), Full{});
  if (i < n) {
    const Avx2::Part tail = Avx2::part(n - i);
    Avx2::storeCodes(out + i, codes8(i, tail), tail);
  }
}

void floatToCodesAvx2(const float* x, const float* scale, const float* shift, float levels, uint8_t* out, size_t n) {
  epilogue_simd::withAffineFlags(scale, shift, [&](auto hasScale, auto hasShift) {
    floatToCodesRows<decltype(hasScale)::value, decltype(hasShift)::value>(x, scale, shift, levels, out, n);
  });
}

// 1-bit codes by integer bounds (EpilogueTable::finishCodes1): per 4 outputs, x = mul * acc + rowTerm
// (Avx2::MulOp) and two 64-bit compares; the 8 results of 8 columns become 8 sign bits (vmovmskpd)
// and one table load spreads them into 8 bytes of 0 / 1. Against the float form (convert, scale,
// shift, clamp, round, narrow) this is about half the instructions per output, which matters where
// the GEMM itself is cheap (1 bit, small K). Tails: the generic loop.
struct SpreadBits {
  uint64_t bytes[256];
  constexpr SpreadBits() : bytes() {
    for (int m = 0; m < 256; ++m) {
      uint64_t v = 0;
      for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>((m >> b) & 1) << (8 * b);
      bytes[m] = v;
    }
  }
};
constexpr SpreadBits kSpreadBits;

template <bool kNeg>
AVX2_INLINE unsigned codes1Mask4(const int64_t* a, __m256i rt, const Avx2::MulOp& mo, const int64_t* lo, const int64_t* hi) {
  __m256i x = _mm256_sll_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)), mo.shift);
  if (kNeg) x = _mm256_sub_epi64(_mm256_xor_si256(x, mo.neg), mo.neg);
  x = _mm256_add_epi64(x, rt);
  const __m256i above = _mm256_cmpgt_epi64(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo)));
  const __m256i over = _mm256_cmpgt_epi64(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi)));
  return static_cast<unsigned>(_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_andnot_si256(over, above))));
}

template <bool kNeg>
void finishCodes1Rows(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                      const int64_t* lo, const int64_t* hi, uint8_t* out, size_t ldOut, size_t n) {
  const Avx2::MulOp mo = Avx2::mulOp(mul);
  const size_t whole = n - n % 8;
  for (size_t r = 0; r < rows; ++r) {
    const int64_t* a = acc + r * ldAcc;
    uint8_t* o = out + r * ldOut;
    const __m256i rt = _mm256_set1_epi64x(rowTerm[r]);
    for (size_t j = 0; j < whole; j += 8) {
      const unsigned m = codes1Mask4<kNeg>(a + j, rt, mo, lo + j, hi + j) |
                         (codes1Mask4<kNeg>(a + j + 4, rt, mo, lo + j + 4, hi + j + 4) << 4);
      std::memcpy(o + j, &kSpreadBits.bytes[m], 8);
    }
  }
  if (whole < n) {
    epilogue_generic::finishCodes1(acc + whole, ldAcc, rows, mul, rowTerm, lo + whole, hi + whole, out + whole, ldOut,
                                   n - whole);
  }
}

void finishCodes1Avx2(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                      const int64_t* lo, const int64_t* hi, uint8_t* out, size_t ldOut, size_t n) {
  if (mul < 0) finishCodes1Rows<true>(acc, ldAcc, rows, mul, rowTerm, lo, hi, out, ldOut, n);
  else finishCodes1Rows<false>(acc, ldAcc, rows, mul, rowTerm, lo, hi, out, ldOut, n);
}

constexpr EpilogueTable avx2Table() {
  EpilogueTable t = epilogue_simd::table<Avx2>("avx2");
  t.floatToCodes = floatToCodesAvx2;
  t.finishCodes1 = finishCodes1Avx2;
  t.transposeClamp = x86_transpose::transposeClamp8x8;
  return t;
}

}  // namespace

const EpilogueTable kAvx2EpilogueTable = avx2Table();

}  // namespace anyprec
