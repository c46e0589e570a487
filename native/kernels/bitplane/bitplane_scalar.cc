// Scalar reference: the plainest correct form of packing and of the bit-serial micro-kernel.
// Every SIMD kernel is tested bit-for-bit against this file.
#include <cstring>

#include "bitplane/bitplane.h"
#include "bitplane/gather.h"
#include "bitplane/pops.h"

namespace anyprec {
namespace {

inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }

void packPanelScalar(const PackPanelArgs& p) {
  const size_t planeWords = p.kWords * kPanelRows;
  std::memset(p.out, 0, sizeof(uint64_t) * planeWords * static_cast<size_t>(p.planes));
  for (int r = 0; r < p.rows; ++r) {
    const uint8_t* row = p.codes + static_cast<size_t>(r) * p.ldCodes;
    for (size_t t = 0; t < p.k; ++t) {
      const unsigned code = row[t];
      const size_t w = t / 64;
      const uint64_t bit = uint64_t{1} << (t % 64);
      for (int plane = 0; plane < p.planes; ++plane) {
        if ((code >> (p.planes - 1 - plane)) & 1u) {
          p.out[plane * planeWords + w * kPanelRows + r] |= bit;
        }
      }
    }
  }
}

void bitTileScalar(const BitTileArgs& t) {
  for (int r = 0; r < t.mr; ++r) {
    for (int n = 0; n < t.np * kPanelRows; ++n) {
      const uint64_t* bCol = t.b + (n / kPanelRows) * t.bPanelStride + (n % kPanelRows);
      int64_t sum = 0;
      for (int i = 0; i < t.aPlanes; ++i) {
        for (int j = 0; j < t.bPlanes; ++j) {
          const uint64_t* aw = t.a + i * t.aPlaneStride + r;
          const uint64_t* bw = bCol + j * t.bPlaneStride;
          int64_t pop = 0;
          for (size_t k = 0; k < t.kWords; ++k) {
            const uint64_t x = aw[k * kPanelRows], y = bw[k * kPanelRows];
            pop += popcount64(t.useXor ? (x ^ y) : (x & y));
          }
          const int shift = (t.aPlanes - 1 - i) + (t.bPlanes - 1 - j);
          const bool negative = (t.aNegTop && i == 0) != (t.bNegTop && j == 0);
          sum += negative ? -(pop << shift) : (pop << shift);
        }
      }
      int64_t& dst = t.acc[r * t.ldAcc + n];
      dst = t.overwrite ? sum : dst + sum;
    }
  }
}

// 8 independent 64-bit chains per iteration.
uint64_t ceilingScalar(uint64_t iters, uint64_t seed) {
  uint64_t x[8], acc[8] = {};
  for (int i = 0; i < 8; ++i) x[i] = seed * (2 * i + 1) + 0x9E3779B97F4A7C15ull * i;
  const uint64_t y = seed ^ 0xF0F0F0F0F0F0F0F0ull;
  for (uint64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 8; ++i) {
      acc[i] += popcount64(x[i] & y);
      x[i] += 1;  // keep the AND input changing so the loop cannot be hoisted
    }
  }
  uint64_t s = 0;
  for (int i = 0; i < 8; ++i) s += acc[i];
  return s;
}

}  // namespace

namespace {
// Shifts and adds: at the baseline x86-64 ISA __builtin_popcountll is a library call; the loop
// over a panel's 8 lanes vectorises this form.
inline uint64_t popcountSwar(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  x += x >> 8;
  x += x >> 16;
  x += x >> 32;
  return x & 0x7F;
}
}  // namespace

namespace {
void panelPopsScalar(const uint64_t* panel, int rows, int planes, size_t kWords, int32_t* planePop) {
  panelPopsWith(panel, rows, planes, kWords, planePop, popcountSwar);
}

// One code at a time, one bit per plane.
void packStreamsScalar(const PackStreamsArgs& a) {
  for (size_t w = a.word0; w < a.word1; ++w) {
    uint64_t word[kMaxPlanes] = {};
    const size_t first = w * 64;
    const size_t n = first >= a.count ? 0 : (a.count - first < 64 ? a.count - first : 64);
    for (size_t j = 0; j < n; ++j) {
      const unsigned code = a.codes[first + j];
      for (int pl = 0; pl < a.planes; ++pl) word[pl] |= uint64_t{(code >> (a.planes - 1 - pl)) & 1u} << j;
    }
    for (int pl = 0; pl < a.planes; ++pl) a.streams[static_cast<size_t>(pl) * a.streamStride + w] = word[pl];
  }
}

void gatherPanelScalar(const GatherPanelArgs& g) { gatherPanelWith(g, [](uint64_t x) { return popcountSwar(x); }); }
}  // namespace

const KernelTable kScalarTable = {"scalar",        packPanelScalar,   bitTileScalar,    ceilingScalar, 8 * 64,
                                  panelPopsScalar, packStreamsScalar, gatherPanelScalar, nullptr};

}  // namespace anyprec
