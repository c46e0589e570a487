// The 8 x 8 float transpose tile (256-bit unpacks, shuffles and lane swaps) behind the x86
// tables' transposeClamp: included by epilogue_avx2.cc and epilogue_avx512.cc, each compiling it
// with its own flags. Everything here has internal linkage (an unnamed namespace): two TUs built
// for different ISAs must never share one out-of-line copy, or the linker could hand the AVX2
// table a copy compiled for AVX-512.
#pragma once

#include <immintrin.h>

#include <cstddef>

#include "eltwise/epilogue_generic.h"

namespace anyprec {
namespace x86_transpose {
namespace {

// One 8 x 8 tile of a transpose: 8 rows of x (ldx apart) in registers, transposed by unpacks,
// shuffles and lane swaps, clamped and stored as 8 rows of out (ldo apart). max(lo, y) is
// lo > y ? lo : y and min(hi, y) is hi < y ? hi : y: clampTo's steps, NaN and -0 kept.
inline void transposeTile8(const float* x, size_t ldx, __m256 lo, __m256 hi, float* out, size_t ldo) {
  const __m256 r0 = _mm256_loadu_ps(x), r1 = _mm256_loadu_ps(x + ldx), r2 = _mm256_loadu_ps(x + 2 * ldx),
               r3 = _mm256_loadu_ps(x + 3 * ldx), r4 = _mm256_loadu_ps(x + 4 * ldx), r5 = _mm256_loadu_ps(x + 5 * ldx),
               r6 = _mm256_loadu_ps(x + 6 * ldx), r7 = _mm256_loadu_ps(x + 7 * ldx);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  auto store = [&](size_t k, __m256 v) { _mm256_storeu_ps(out + k * ldo, _mm256_min_ps(hi, _mm256_max_ps(lo, v))); };
  store(0, _mm256_permute2f128_ps(s0, s4, 0x20));
  store(1, _mm256_permute2f128_ps(s1, s5, 0x20));
  store(2, _mm256_permute2f128_ps(s2, s6, 0x20));
  store(3, _mm256_permute2f128_ps(s3, s7, 0x20));
  store(4, _mm256_permute2f128_ps(s0, s4, 0x31));
  store(5, _mm256_permute2f128_ps(s1, s5, 0x31));
  store(6, _mm256_permute2f128_ps(s2, s6, 0x31));
  store(7, _mm256_permute2f128_ps(s3, s7, 0x31));
}

// EpilogueTable::transposeClamp from 8 x 8 tiles (epilogue_generic's tile walk and tails).
void transposeClamp8x8(const float* x, size_t rows, size_t cols, float lo, float hi, float* out) {
  static_assert(epilogue_generic::kTransposeTile == 8, "one tile is 8 x 8");
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  epilogue_generic::transposeTiles(
      rows, cols, [&](size_t r0, size_t c0) { transposeTile8(x + r0 * cols + c0, cols, vlo, vhi, out + c0 * rows + r0, rows); },
      [&](size_t r, size_t c) { out[c * rows + r] = epilogue_generic::clampTo(x[r * cols + c], lo, hi); });
}

}  // namespace
}  // namespace x86_transpose
}  // namespace anyprec
