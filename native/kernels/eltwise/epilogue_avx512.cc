// Epilogue row loops (epilogue.h) for avx512 (AVX-512 F/BW/VL/DQ: 16 lanes). The GEMM finish runs
// the explicit loops of epilogue_simd.h over the lane set below, every row tail one masked vector;
// floatToCodes (epilogue_simd.h's), finishCodes1 and transposeClamp have vector loops too (below);
// the other entries are the generic loops compiled with these flags.
// GCC 12's AVX-512 intrinsics start many results from _mm512_undefined_*(), which -Wmaybe-uninitialized
// reports at every inlined use (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "eltwise/epilogue_simd.h"
#include "eltwise/transpose_tile8.h"

namespace anyprec {
namespace {

using epilogue_simd::Full;

struct Avx512 {
  static constexpr size_t kLanes = 16;
  using I = __m512i;
  using F = __m512;
  using I64 = __m512i;
  struct Part {
    __mmask16 m;
  };
  // x * mul for mul in {1, 2, 4, -2}: ((x << s) ^ neg) - neg, neg = 0 or -1 (two's complement negation).
  struct MulOp {
    __m128i shift;
    __m512i neg;
  };

  static Part part(size_t rem) { return {static_cast<__mmask16>((1u << rem) - 1u)}; }
  static I64 set64(int64_t v) { return _mm512_set1_epi64(v); }
  static MulOp mulOp(int64_t mul) {
    const int s = mul == 1 ? 0 : mul == 4 ? 2 : 1;
    return {_mm_cvtsi32_si128(s), _mm512_set1_epi64(mul < 0 ? -1 : 0)};
  }

  static __m512i load64(const int64_t* p, Full) { return _mm512_loadu_si512(p); }
  static __m512i load64(const int64_t* p, __mmask8 m) { return _mm512_maskz_loadu_epi64(m, p); }
  static Full lowHalf(Full) { return {}; }
  static Full highHalf(Full) { return {}; }
  static __mmask8 lowHalf(Part p) { return static_cast<__mmask8>(p.m & 0xFFu); }
  static __mmask8 highHalf(Part p) { return static_cast<__mmask8>(p.m >> 8); }

  template <class M>
  static __m256i combine8(const int64_t* core, const int64_t* col, I64 rt, const MulOp& mo, M m) {
    const __m512i x = _mm512_sub_epi64(_mm512_xor_si512(_mm512_sll_epi64(load64(core, m), mo.shift), mo.neg), mo.neg);
    return _mm512_cvtepi64_epi32(_mm512_add_epi64(_mm512_add_epi64(x, rt), load64(col, m)));  // truncates
  }
  template <class M>
  static I combine(const int64_t* core, const int64_t* col, I64 rt, const MulOp& mo, M m) {
    const __m256i lo = combine8(core, col, rt, mo, lowHalf(m));
    const __m256i hi = combine8(core + 8, col + 8, rt, mo, highHalf(m));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  }

  static I loadI(const int32_t* p, Full) { return _mm512_loadu_si512(p); }
  static I loadI(const int32_t* p, Part m) { return _mm512_maskz_loadu_epi32(m.m, p); }
  static F loadF(const float* p, Full) { return _mm512_loadu_ps(p); }
  static F loadF(const float* p, Part m) { return _mm512_maskz_loadu_ps(m.m, p); }
  static void storeI(int32_t* p, I v, Full) { _mm512_storeu_si512(p, v); }
  static void storeI(int32_t* p, I v, Part m) { _mm512_mask_storeu_epi32(p, m.m, v); }
  static void storeF(float* p, F v, Full) { _mm512_storeu_ps(p, v); }
  static void storeF(float* p, F v, Part m) { _mm512_mask_storeu_ps(p, m.m, v); }
  static void storeCodes(uint8_t* p, I v, Full) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(v)); }
  static void storeCodes(uint8_t* p, I v, Part m) { _mm512_mask_cvtepi32_storeu_epi8(p, m.m, v); }

  static F cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  // max_ps(a, b) is a > b ? a : b and min_ps(a, b) is a < b ? a : b, NaN and signed zeros included:
  // max(lo, y) = (y < lo ? lo : y), min(hi, y) = (y > hi ? hi : y), as clampTo.
  static F clamp(F y, F lo, F hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, y)); }
  // quantizeUnit: max(y, 0) = (y > 0 ? y : 0) (NaN -> 0), min(c, 1) = (c < 1 ? c : 1).
  static I quantize(F y, F levels) {
    const F c = _mm512_min_ps(_mm512_max_ps(y, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
    const F magic = _mm512_set1_ps(12582912.0f);
    return _mm512_cvttps_epi32(_mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(c, levels), magic), magic));
  }
};

// 1-bit codes by integer bounds (EpilogueTable::finishCodes1): per 8 outputs x = mul * acc + rowTerm
// (Avx512::MulOp), lo < x and x <= hi as two mask compares, and the mask's bits written as bytes
// 0 / 1 (vpmovm2b); the tail the same under a mask.
template <bool kNeg>
inline __mmask8 codes1Mask8(const int64_t* a, __m512i rt, const Avx512::MulOp& mo, const int64_t* lo, const int64_t* hi,
                            __mmask8 m) {
  __m512i x = _mm512_sll_epi64(_mm512_maskz_loadu_epi64(m, a), mo.shift);
  if (kNeg) x = _mm512_sub_epi64(_mm512_xor_si512(x, mo.neg), mo.neg);
  x = _mm512_add_epi64(x, rt);
  return _mm512_mask_cmpgt_epi64_mask(m, x, _mm512_maskz_loadu_epi64(m, lo)) &
         _mm512_mask_cmple_epi64_mask(m, x, _mm512_maskz_loadu_epi64(m, hi));
}

template <bool kNeg>
void finishCodes1Rows(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                      const int64_t* lo, const int64_t* hi, uint8_t* out, size_t ldOut, size_t n) {
  const Avx512::MulOp mo = Avx512::mulOp(mul);
  const __m128i one = _mm_set1_epi8(1);
  for (size_t r = 0; r < rows; ++r) {
    const int64_t* a = acc + r * ldAcc;
    uint8_t* o = out + r * ldOut;
    const __m512i rt = _mm512_set1_epi64(rowTerm[r]);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
      const __mmask16 m = static_cast<__mmask16>(codes1Mask8<kNeg>(a + j, rt, mo, lo + j, hi + j, 0xFF) |
                                                 (codes1Mask8<kNeg>(a + j + 8, rt, mo, lo + j + 8, hi + j + 8, 0xFF) << 8));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + j), _mm_maskz_mov_epi8(m, one));
    }
    for (; j < n; j += 8) {
      const size_t rem = n - j < 8 ? n - j : 8;
      const __mmask8 valid = static_cast<__mmask8>((1u << rem) - 1u);
      const __mmask8 m = codes1Mask8<kNeg>(a + j, rt, mo, lo + j, hi + j, valid);
      _mm_mask_storeu_epi8(o + j, valid, _mm_maskz_mov_epi8(m, one));
    }
  }
}

void finishCodes1Avx512(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                        const int64_t* lo, const int64_t* hi, uint8_t* out, size_t ldOut, size_t n) {
  if (mul < 0) finishCodes1Rows<true>(acc, ldAcc, rows, mul, rowTerm, lo, hi, out, ldOut, n);
  else finishCodes1Rows<false>(acc, ldAcc, rows, mul, rowTerm, lo, hi, out, ldOut, n);
}

// The explicit finish loops and floatToCodes of epilogue_simd.h over Avx512, the 1-bit finish above,
// and the x86 8 x 8 transpose tile (256-bit vectors; the generic transpose it replaces ran scalar:
// 0.09-0.16 ms for a 64 x 32 x 32 output at batch 1 on a Zen 4, ~40% of a 3x3 conv layer's 1-bit run).
constexpr EpilogueTable avx512Table() {
  EpilogueTable t = epilogue_simd::table<Avx512>("avx512");
  t.floatToCodes = epilogue_simd::floatToCodes<Avx512>;
  t.finishCodes1 = finishCodes1Avx512;
  t.transposeClamp = x86_transpose::transposeClamp8x8;
  return t;
}

}  // namespace

const EpilogueTable kAvx512EpilogueTable = avx512Table();

}  // namespace anyprec
