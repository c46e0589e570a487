// NEON micro-kernels of the gated GEMM; bit-identical to gated_scalar.cc.
//
// Compacted low-plane kernel: two listed outputs per q register (one per 64-bit lane; each lane's
// word is loaded on its own, since the two outputs have unrelated rows and columns), then the
// bit-plane kernel's step: AND, CNT per byte, byte adds for at most 31 words (31 * 8 = 248 fits a
// byte), folded to 64-bit lanes with pairwise widening adds. Plane pairs in blocks of 2 x 2 keep
// 4 byte accumulators, 4 wide ones and 4 operands live. The gate is the portable form, which
// GCC vectorises for AArch64.
#include <arm_neon.h>

#include "gated/gated_generic.h"

namespace anyprec {
namespace {

constexpr size_t kByteChunkWords = 31;

inline uint64x2_t loadPair(const uint64_t* p0, const uint64_t* p1) {
  return vld1q_lane_u64(p1, vcombine_u64(vld1_u64(p0), vdup_n_u64(0)), 1);
}

inline uint64x2_t widen(uint8x16_t x) { return vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(x))); }

template <int LA, int WB>
void pairBlock(const LowGroupArgs& t, int i0, int j0, const uint64_t* ar0, const uint64_t* ar1,
               const uint64_t* bc0, const uint64_t* bc1, int64_t* out0, int64_t* out1) {
  uint64x2_t wide[LA][WB];
  for (int i = 0; i < LA; ++i)
    for (int j = 0; j < WB; ++j) wide[i][j] = vdupq_n_u64(0);
  for (size_t k0 = 0; k0 < t.kWords; k0 += kByteChunkWords) {
    const size_t k1 = k0 + kByteChunkWords < t.kWords ? k0 + kByteChunkWords : t.kWords;
    uint8x16_t bytes[LA][WB];
    for (int i = 0; i < LA; ++i)
      for (int j = 0; j < WB; ++j) bytes[i][j] = vdupq_n_u8(0);
    for (size_t k = k0; k < k1; ++k) {
      const size_t off = k * kPanelRows;
      uint8x16_t av[LA], bv[WB];
      for (int i = 0; i < LA; ++i) {
        const size_t o = static_cast<size_t>(i0 + i) * t.aPlaneStride + off;
        av[i] = vreinterpretq_u8_u64(loadPair(ar0 + o, ar1 + o));
      }
      for (int j = 0; j < WB; ++j) {
        const size_t o = static_cast<size_t>(j0 + j) * t.bPlaneStride + off;
        bv[j] = vreinterpretq_u8_u64(loadPair(bc0 + o, bc1 + o));
      }
      for (int i = 0; i < LA; ++i)
        for (int j = 0; j < WB; ++j) bytes[i][j] = vaddq_u8(bytes[i][j], vcntq_u8(vandq_u8(av[i], bv[j])));
    }
    for (int i = 0; i < LA; ++i)
      for (int j = 0; j < WB; ++j) wide[i][j] = vaddq_u64(wide[i][j], widen(bytes[i][j]));
  }
  int64_t s0 = 0, s1 = 0;
  for (int i = 0; i < LA; ++i) {
    for (int j = 0; j < WB; ++j) {
      const int gi = i0 + i, gj = j0 + j;
      const int shift = (t.aPlanes - 1 - gi) + (t.bPlanes - 1 - gj);
      const bool neg = (t.aNegTop && gi == 0) != (t.bNegTop && gj == 0);
      const int64_t w0 = static_cast<int64_t>(vgetq_lane_u64(wide[i][j], 0)) * (int64_t{1} << shift);
      const int64_t w1 = static_cast<int64_t>(vgetq_lane_u64(wide[i][j], 1)) * (int64_t{1} << shift);
      s0 += neg ? -w0 : w0;
      s1 += neg ? -w1 : w1;
    }
  }
  *out0 += s0;
  *out1 += s1;
}

size_t lowGroupNeon(const LowGroupArgs& t) {
  size_t count = 0;
  for (int r = 0; r < t.rows; ++r) {
    for (unsigned w = t.onBits[static_cast<size_t>(r) * t.bitsStride]; w != 0; w &= w - 1) {
      const unsigned c = static_cast<unsigned>(__builtin_ctz(w));
      t.entries[count] = static_cast<uint32_t>(r) | (c << 8);
      t.offsets[count] = static_cast<uint32_t>(static_cast<size_t>(r) * t.ldOut + c);
      t.acc[count] = 0;
      ++count;
    }
  }
  if (count == 0) return 0;
  t.entries[count] = 0;  // an odd count: the second lane of the last pair computes output (0, 0)
  t.acc[count] = 0;
  for (size_t e = 0; e < count; e += 2) {
    const int r0 = t.entries[e] & 15, c0 = (t.entries[e] >> 8) & 15;
    const int r1 = t.entries[e + 1] & 15, c1 = (t.entries[e + 1] >> 8) & 15;
    const uint64_t* ar0 = t.a + static_cast<size_t>(r0 / kPanelRows) * t.aPanelStride + r0 % kPanelRows;
    const uint64_t* ar1 = t.a + static_cast<size_t>(r1 / kPanelRows) * t.aPanelStride + r1 % kPanelRows;
    const uint64_t* bc0 = t.b + static_cast<size_t>(c0 / kPanelRows) * t.bPanelStride + c0 % kPanelRows;
    const uint64_t* bc1 = t.b + static_cast<size_t>(c1 / kPanelRows) * t.bPanelStride + c1 % kPanelRows;
    for (int i0 = 0; i0 < t.aPlanes; i0 += 2) {
      const bool twoA = i0 + 1 < t.aPlanes;
      for (int j0 = 0; j0 < t.bPlanes; j0 += 2) {
        const bool twoB = j0 + 1 < t.bPlanes;
        if (twoA && twoB) pairBlock<2, 2>(t, i0, j0, ar0, ar1, bc0, bc1, &t.acc[e], &t.acc[e + 1]);
        else if (twoA) pairBlock<2, 1>(t, i0, j0, ar0, ar1, bc0, bc1, &t.acc[e], &t.acc[e + 1]);
        else if (twoB) pairBlock<1, 2>(t, i0, j0, ar0, ar1, bc0, bc1, &t.acc[e], &t.acc[e + 1]);
        else pairBlock<1, 1>(t, i0, j0, ar0, ar1, bc0, bc1, &t.acc[e], &t.acc[e + 1]);
      }
    }
  }
  uint32_t* out = reinterpret_cast<uint32_t*>(t.out);
  for (size_t e = 0; e < count; ++e) out[t.offsets[e]] += static_cast<uint32_t>(static_cast<uint64_t>(t.acc[e]) << t.alphaShift);
  return count;
}

// Not measured on arm64 hardware (the tests run under qemu): the AVX2 figures' shape, a list
// costing a few times the dense kernel per output.
int denseTileMinOnNeon(int lowPlanes, int bPlanes) { return lowPlanes * bPlanes == 1 ? 12 : 20; }

}  // namespace

// No fused high planes + gate (as for AVX2: the portable form would count one output and word at a
// time where the NEON bit-plane kernel counts 16 bytes of a register tile per CNT).
const GatedKernelTable kNeonGatedTable = {"neon", lowGroupNeon, gated_generic::gate, denseTileMinOnNeon, nullptr,
                                          gated_generic::gate32};

}  // namespace anyprec
