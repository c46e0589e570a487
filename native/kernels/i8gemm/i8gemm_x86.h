// Shared AVX-512BW byte rebuilding for the avx512-vnni and amx int8 variants. Included by files
// compiled with AVX-512BW enabled only; everything is internal to each including file (no ODR
// sharing between translation units built with different flags).
#pragma once
#include <immintrin.h>

#include <cstring>

#include "i8gemm/i8gemm.h"

namespace anyprec {
namespace {

// One vector per 64-bit word of K: each plane's bits select its byte value (masked broadcast), the
// planes are OR-ed, the constant XOR-ed, and bytes past K cleared (they must stay 0).
[[maybe_unused]] void byteRowsAvx512(const ByteRowsArgs& a) {
  const size_t planeStride = a.kWords * kPanelRows;
  const __m512i xorv = _mm512_set1_epi8(static_cast<char>(a.xorValue));
  __m512i pv[8];
  for (int p = 0; p < 8; ++p) pv[p] = _mm512_set1_epi8(static_cast<char>(p < a.planes ? a.planeValue[p] : 0));
  const size_t tail = a.k % 64;
  const __mmask64 lastMask = tail == 0 ? ~__mmask64{0} : ((__mmask64{1} << tail) - 1);
  // Word-major: the 8 lanes of one (plane, word) share a cache line, so all rows of the panel
  // are done for a word before the next (row-major re-read every line once per row).
  for (size_t w = 0; w < a.kWords; ++w) {
    for (int r = 0; r < a.rows; ++r) {
      const uint64_t* lane = a.panel + a.lane0 + r + w * kPanelRows;
      __m512i x = _mm512_setzero_si512();
      for (int p = 0; p < a.planes; ++p) {
        const __mmask64 bits = lane[p * planeStride];
        x = _mm512_or_si512(x, _mm512_maskz_mov_epi8(bits, pv[p]));
      }
      x = _mm512_xor_si512(x, xorv);
      if (w + 1 == a.kWords) x = _mm512_maskz_mov_epi8(lastMask, x);
      _mm512_storeu_si512(a.out + static_cast<size_t>(r) * a.ldOut + w * 64, x);
    }
  }
  const size_t done = a.kWords * 64;
  if (a.kPad > done)
    for (int r = 0; r < a.rows; ++r) std::memset(a.out + static_cast<size_t>(r) * a.ldOut + done, 0, a.kPad - done);
}

}  // namespace
}  // namespace anyprec
