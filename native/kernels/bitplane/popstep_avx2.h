// The AVX2 nibble-table popcount steps (Mula: a 16-entry vpshufb table per nibble) shared by the
// AVX2 bit-plane micro-kernel (bitplane_avx2.cc) and the AVX2 gated low-plane lanes
// (gated_avx2.cc). Include ONLY from files compiled with the avx2 flags of sources.json; the
// definitions have internal linkage so every including file keeps its own copy.
//
// Each step is   c += lut[al op b] + lut[ah op (b >> 4)]   on bytes, as one asm statement: with
// intrinsics GCC hoisted broadcasts and spilled accumulators of the larger tiles. The nibble masks
// al = a & 0x0F.., ah = (a >> 4) & 0x0F.. are the caller's (made once per chunk of K).
#pragma once
#include <immintrin.h>

namespace anyprec {
namespace {

inline __attribute__((always_inline)) __m256i popLut() {
  return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                          0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
}

// c += lut[al op bl] + lut[ah op bh], op = XOR (X) or AND; bl and bh in registers.
template <bool X>
inline __attribute__((always_inline)) void step(__m256i& c, __m256i al, __m256i ah, __m256i bl, __m256i bh, __m256i lut) {
  __m256i t0, t1;
  if (X) {
    __asm__("vpxor %[bl], %[al], %[t0]\n\t"
            "vpxor %[bh], %[ah], %[t1]\n\t"
            "vpshufb %[t0], %[lut], %[t0]\n\t"
            "vpshufb %[t1], %[lut], %[t1]\n\t"
            "vpaddb %[t1], %[t0], %[t0]\n\t"
            "vpaddb %[t0], %[c], %[c]"
            : [c] "+x"(c), [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [al] "x"(al), [ah] "x"(ah), [bl] "x"(bl), [bh] "x"(bh), [lut] "x"(lut));
  } else {
    __asm__("vpand %[bl], %[al], %[t0]\n\t"
            "vpand %[bh], %[ah], %[t1]\n\t"
            "vpshufb %[t0], %[lut], %[t0]\n\t"
            "vpshufb %[t1], %[lut], %[t1]\n\t"
            "vpaddb %[t1], %[t0], %[t0]\n\t"
            "vpaddb %[t0], %[c], %[c]"
            : [c] "+x"(c), [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [al] "x"(al), [ah] "x"(ah), [bl] "x"(bl), [bh] "x"(bh), [lut] "x"(lut));
  }
}

// AND step with b read from memory (a micro-fused load) and b >> 4 in a register: an R-row tile
// then holds only b >> 4 per B vector, which lets the bit-plane kernel's 4 x 2 tile fit.
inline __attribute__((always_inline)) void stepMemB(__m256i& c, __m256i al, __m256i ah, const void* bp, __m256i bh, __m256i lut) {
  const __m256i& b = *static_cast<const __m256i*>(bp);
  __m256i t0, t1;
  __asm__("vpand %[b], %[al], %[t0]\n\t"
          "vpand %[bh], %[ah], %[t1]\n\t"
          "vpshufb %[t0], %[lut], %[t0]\n\t"
          "vpshufb %[t1], %[lut], %[t1]\n\t"
          "vpaddb %[t1], %[t0], %[t0]\n\t"
          "vpaddb %[t0], %[c], %[c]"
          : [c] "+x"(c), [t0] "=&x"(t0), [t1] "=&x"(t1)
          : [al] "x"(al), [ah] "x"(ah), [b] "m"(b), [bh] "x"(bh), [lut] "x"(lut));
}

// AND step with both b and b >> 4 read from memory (made once and stored beside b, as the gated
// lanes do): two micro-fused loads, no register held per B vector.
inline __attribute__((always_inline)) void stepMem(__m256i& c, __m256i al, __m256i ah, const void* bp, const void* bhp, __m256i lut) {
  const __m256i& b = *static_cast<const __m256i*>(bp);
  const __m256i& bh = *static_cast<const __m256i*>(bhp);
  __m256i t0, t1;
  __asm__("vpand %[b], %[al], %[t0]\n\t"
          "vpand %[bh], %[ah], %[t1]\n\t"
          "vpshufb %[t0], %[lut], %[t0]\n\t"
          "vpshufb %[t1], %[lut], %[t1]\n\t"
          "vpaddb %[t1], %[t0], %[t0]\n\t"
          "vpaddb %[t0], %[c], %[c]"
          : [c] "+x"(c), [t0] "=&x"(t0), [t1] "=&x"(t1)
          : [al] "x"(al), [ah] "x"(ah), [b] "m"(b), [bh] "m"(bh), [lut] "x"(lut));
}

}  // namespace
}  // namespace anyprec
