// Epilogue row loops (epilogue.h) for avx512 (AVX-512 F/BW/VL/DQ: 16 lanes). The GEMM finish runs
// the explicit loops of epilogue_simd.h over the lane set below, every row tail one masked vector;
// the other entries are the generic loops compiled with these flags.
// GCC 12's AVX-512 intrinsics start many results from _mm512_undefined_*(), which -Wmaybe-uninitialized
// reports at every inlined use (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "eltwise/epilogue_simd.h"

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

}  // namespace

const EpilogueTable kAvx512EpilogueTable = epilogue_simd::table<Avx512>("avx512");

}  // namespace anyprec
