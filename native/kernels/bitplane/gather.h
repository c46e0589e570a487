// Panel rows assembled from bit streams (KernelTable::gatherPanel) one row at a time, for the
// ISAs without 64-bit gathers: included by bitplane_scalar.cc and bitplane_neon.cc, with internal
// linkage, each copy built with its own flags and given its own popcount (CNT on NEON, shifts and
// adds at the baseline x86 ISA). AVX2 and AVX-512 keep the 8 rows in vector lanes instead.
//
// Each run costs a funnel read of 64 stream bits, a mask, a shift and an OR per plane (per 64
// bits). A full word is stored straight into its panel slot (lane r of word w: 8 rows
// interleaved) and popcounted there and then, so the panel is written once and never read back.
// The popcount is passed as a lambda (a function pointer would not be inlined).
#pragma once
#include <cstddef>
#include <cstdint>

#include "bitplane/bitplane.h"

namespace anyprec {
namespace {

// The 64 bits of a stream that start at bit `at` (the word after may be its slack word).
inline uint64_t streamBitsAt(const uint64_t* stream, uint64_t at) {
  const uint64_t word = at >> 6;
  const unsigned shift = static_cast<unsigned>(at & 63);
  // (next << 1) << (63 - shift) is next << (64 - shift), and 0 when shift is 0
  return (stream[word] >> shift) | ((stream[word + 1] << 1) << (63 - shift));
}

// Row by row, plane by plane, run by run: the word being filled, its fill level, the output slot
// and the popcount stay in registers.
template <typename Pop>
inline void gatherPanelWith(const GatherPanelArgs& g, Pop pop) {
  const size_t planeWords = g.kWords * kPanelRows;
  for (int r = 0; r < g.rows; ++r) {
    for (int pl = 0; pl < g.planes; ++pl) {
      const uint64_t* stream = g.streams + static_cast<size_t>(pl) * g.streamStride;
      uint64_t* dst = g.out + static_cast<size_t>(pl) * planeWords + r;
      uint64_t word = 0, ones = 0;
      unsigned fill = 0;  // bits of `word` in use (0..63); the bits above them are zero
      for (size_t j = 0; j < g.runs; ++j) {
        for (uint64_t at = g.rowBit[r] + g.runOffset[j], left = g.runBits; left > 0;) {
          const unsigned n = left < 64 ? static_cast<unsigned>(left) : 64u;
          const uint64_t bits = streamBitsAt(stream, at) & (~uint64_t{0} >> (64 - n));
          word |= bits << fill;
          if (fill + n >= 64) {
            *dst = word;
            dst += kPanelRows;
            ones += pop(word);
            word = (bits >> (63 - fill)) >> 1;  // what did not fit: bits >> (64 - fill), none if fill is 0
            fill = fill + n - 64;
          } else {
            fill += n;
          }
          at += n;
          left -= n;
        }
      }
      if (fill > 0) {
        *dst = word;
        ones += pop(word);
      }
      g.planePop[r * g.planes + pl] = static_cast<int32_t>(ones);
    }
  }
  for (int r = g.rows; r < kPanelRows; ++r) {
    for (size_t w = 0; w < g.kWords * static_cast<size_t>(g.planes); ++w) g.out[w * kPanelRows + r] = 0;
  }
}

}  // namespace
}  // namespace anyprec
