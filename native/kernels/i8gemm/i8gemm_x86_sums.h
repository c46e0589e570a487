// Per-pixel byte sums with PSADBW, shared by the x86 variants that have a conv tile (avx512-vnni,
// avx-vnni). Included by files compiled with AVX2 or more; internal to each including file.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace anyprec {
namespace {

// pre[0] = 0, pre[x + 1] = pre[x] + (sum of pixel x's c bytes), for `pixels` pixels of c bytes.
[[maybe_unused]] void pixelPrefixX86(const uint8_t* px, size_t pixels, size_t c, uint64_t* pre) {
  const __m128i z = _mm_setzero_si128();
  uint64_t run = 0;
  pre[0] = 0;
  for (size_t x = 0; x < pixels; ++x, px += c) {
    __m128i acc = z;
    size_t t = 0;
    for (; t + 16 <= c; t += 16)
      acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(px + t)), z));
    if (t + 8 <= c) {
      acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(px + t)), z));
      t += 8;
    }
    uint64_t s = static_cast<uint64_t>(_mm_cvtsi128_si64(acc)) +
                 static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc)));
    for (; t < c; ++t) s += px[t];
    run += s;
    pre[x + 1] = run;
  }
}

}  // namespace
}  // namespace anyprec
