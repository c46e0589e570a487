// NEON (baseline ARMv8-A Advanced SIMD) packing and bit-serial micro-kernel.
// Bit-identical to bitplane_scalar.cc; see bitplane.h for the layout and the contract.
//
// Micro-kernel scheme. A q register holds word k of two consecutive rows of a B panel, so one
// panel is 4 q registers and every 64-bit lane is one output column. The word of A row r is
// broadcast (vld1q_dup_u64) and ANDed/XORed with the 4 B registers; vcntq_u8 gives per-byte popcounts
// that are summed with vaddq_u8 for at most 31 words (31 * 8 = 248 fits a byte). A block of
// 4 A rows x 1 B panel keeps 16 byte accumulators live (16 independent chains), plus 4 B
// registers, the broadcast A word and 4 wide accumulators: under the 32 q registers.
// After each byte chunk a pairwise-add tree (uaddlp, addp, addp) folds the 16 byte
// accumulators into one u16x8 per A row whose lanes are that row's 8 columns; those are
// summed in u16 (at most 64 per word, so up to 1023 words), then widened to int64, shifted
// by the plane pair's weight and added to (or subtracted from) acc in memory.
#include <arm_neon.h>

#include <cstring>

#include "bitplane/bitplane.h"
#include "bitplane/gather.h"
#include "bitplane/pops.h"

#if defined(__AARCH64EB__)
#error "bitplane_neon.cc assumes little-endian AArch64 (byte j of a word holds codes 8j..8j+7)"
#endif

// GCC's pre-register-allocation scheduler hoists all 16 AND/CNT of an inner step ahead of
// their adds and runs out of q registers (spills in the hot loop); the source order below is
// already a good schedule (4 independent and/cnt/add triples per broadcast A word).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

namespace anyprec {
namespace {

constexpr size_t kByteChunkWords = 31;   // vaddq_u8 steps before a byte count could overflow
constexpr size_t kWideBlockWords = 1023;  // words a u16 lane can sum (64 per word) without overflow
constexpr int kRowBlock = 4;              // A rows per inner block

// ---- packing ------------------------------------------------------------------------------

// Loads 64 codes starting at `src`, of which only `n` (1..64) exist; the rest read as zero.
inline void load64(const uint8_t* src, size_t n, uint8x16_t v[4]) {
  if (n == 64) {
    v[0] = vld1q_u8(src);
    v[1] = vld1q_u8(src + 16);
    v[2] = vld1q_u8(src + 32);
    v[3] = vld1q_u8(src + 48);
    return;
  }
  uint8_t tmp[64] = {};
  std::memcpy(tmp, src, n);
  v[0] = vld1q_u8(tmp);
  v[1] = vld1q_u8(tmp + 16);
  v[2] = vld1q_u8(tmp + 32);
  v[3] = vld1q_u8(tmp + 48);
}

// Bits of one plane of 64 codes, folded to 16 bytes: byte q holds the bits of codes 4q..4q+3
// at bit positions (t % 8). One more addp turns two of these into two 64-bit words.
inline uint8x16_t planeQuads(const uint8x16_t v[4], uint8x16_t mask, uint8x16_t weights) {
  const uint8x16_t b0 = vandq_u8(vtstq_u8(v[0], mask), weights);
  const uint8x16_t b1 = vandq_u8(vtstq_u8(v[1], mask), weights);
  const uint8x16_t b2 = vandq_u8(vtstq_u8(v[2], mask), weights);
  const uint8x16_t b3 = vandq_u8(vtstq_u8(v[3], mask), weights);
  return vpaddq_u8(vpaddq_u8(b0, b1), vpaddq_u8(b2, b3));
}

// Rows are handled in pairs (lanes r, r+1) so each plane word pair is one 128-bit store; a
// missing partner row (or both, past args.rows) packs as zero without touching its memory.
void packPanelNeon(const PackPanelArgs& p) {
  static const uint8_t kWeights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t weights = vld1q_u8(kWeights);
  const uint8x16_t zero = vdupq_n_u8(0);
  const size_t planeWords = p.kWords * kPanelRows;
  for (int r = 0; r < kPanelRows; r += 2) {
    uint64_t* dst = p.out + r;
    if (r >= p.rows) {
      for (int plane = 0; plane < p.planes; ++plane) {
        uint64_t* d = dst + static_cast<size_t>(plane) * planeWords;
        for (size_t w = 0; w < p.kWords; ++w) vst1q_u8(reinterpret_cast<uint8_t*>(d + w * kPanelRows), zero);
      }
      continue;
    }
    const bool second = r + 1 < p.rows;
    const uint8_t* row0 = p.codes + static_cast<size_t>(r) * p.ldCodes;
    const uint8_t* row1 = second ? row0 + p.ldCodes : nullptr;
    for (size_t w = 0; w < p.kWords; ++w) {
      const size_t t0 = w * 64;
      const size_t n = p.k - t0 < 64 ? p.k - t0 : 64;
      uint8x16_t x[4], y[4] = {zero, zero, zero, zero};
      load64(row0 + t0, n, x);
      if (second) load64(row1 + t0, n, y);
      uint64_t* d = dst + w * kPanelRows;
      for (int plane = 0; plane < p.planes; ++plane) {
        const uint8x16_t mask = vdupq_n_u8(static_cast<uint8_t>(1u << (p.planes - 1 - plane)));
        const uint8x16_t words = vpaddq_u8(planeQuads(x, mask, weights), planeQuads(y, mask, weights));
        vst1q_u8(reinterpret_cast<uint8_t*>(d + static_cast<size_t>(plane) * planeWords), words);
      }
    }
  }
}

// Stream words w and w+1 of every plane per step: 128 codes folded like a panel's two rows, so
// one vpaddq gives both words of a plane (lane 0: word w, lane 1: word w+1).
void packStreamsNeon(const PackStreamsArgs& a) {
  static const uint8_t kWeights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t weights = vld1q_u8(kWeights);
  const uint8x16_t zero = vdupq_n_u8(0);
  for (size_t w = a.word0; w < a.word1; w += 2) {
    const bool pair = w + 1 < a.word1;
    uint8x16_t x[4] = {zero, zero, zero, zero}, y[4] = {zero, zero, zero, zero};
    const size_t first = w * 64;
    if (first < a.count) load64(a.codes + first, a.count - first < 64 ? a.count - first : 64, x);
    if (pair && first + 64 < a.count) load64(a.codes + first + 64, a.count - first - 64 < 64 ? a.count - first - 64 : 64, y);
    for (int plane = 0; plane < a.planes; ++plane) {
      const uint8x16_t mask = vdupq_n_u8(static_cast<uint8_t>(1u << (a.planes - 1 - plane)));
      const uint64x2_t words = vreinterpretq_u64_u8(vpaddq_u8(planeQuads(x, mask, weights), planeQuads(y, mask, weights)));
      uint64_t* dst = a.streams + static_cast<size_t>(plane) * a.streamStride + w;
      dst[0] = vgetq_lane_u64(words, 0);
      if (pair) dst[1] = vgetq_lane_u64(words, 1);
    }
  }
}

// ---- bit-serial micro-kernel -------------------------------------------------------------------

template <bool Xor>
inline uint8x16_t popStep(uint64x2_t a, uint64x2_t b) {
  return vcntq_u8(vreinterpretq_u8_u64(Xor ? veorq_u64(a, b) : vandq_u64(a, b)));
}

// Adds sign * (wide[r] << shift) to the 8 int64 accumulators of each of the R rows.
template <int R>
inline void flushWide(const uint16x8_t (&wide)[R], int64_t* acc, size_t ldAcc, int shift, bool negative) {
  const int64x2_t sh = vdupq_n_s64(shift);
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const uint32x4_t lo = vmovl_u16(vget_low_u16(wide[r]));
    const uint32x4_t hi = vmovl_high_u16(wide[r]);
    int64x2_t v[4];
    v[0] = vreinterpretq_s64_u64(vmovl_u32(vget_low_u32(lo)));
    v[1] = vreinterpretq_s64_u64(vmovl_high_u32(lo));
    v[2] = vreinterpretq_s64_u64(vmovl_u32(vget_low_u32(hi)));
    v[3] = vreinterpretq_s64_u64(vmovl_high_u32(hi));
    int64_t* row = acc + static_cast<size_t>(r) * ldAcc;
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const int64x2_t s = vshlq_s64(v[c], sh);
      const int64x2_t old = vld1q_s64(row + 2 * c);
      vst1q_s64(row + 2 * c, negative ? vsubq_s64(old, s) : vaddq_s64(old, s));
    }
  }
}

// One plane pair for R rows (lanes 0..R-1 of `aw`) against one B panel plane `bw`, over
// kWords words; the result goes into acc (R rows x 8 columns, row stride ldAcc).
template <int R, bool Xor>
void planePair(const uint64_t* aw, const uint64_t* bw, size_t kWords, int64_t* acc, size_t ldAcc,
               int shift, bool negative) {
  const size_t chunks = (kWords + kByteChunkWords - 1) / kByteChunkWords;
  const size_t chunkWords = (kWords + chunks - 1) / chunks;  // balanced, <= 31
  uint16x8_t wide[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) wide[r] = vdupq_n_u16(0);
  size_t wideWords = 0;
  for (size_t k0 = 0; k0 < kWords; k0 += chunkWords) {
    const size_t k1 = k0 + chunkWords < kWords ? k0 + chunkWords : kWords;
    uint8x16_t cnt[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) cnt[r][c] = vdupq_n_u8(0);
    }
    for (size_t k = k0; k < k1; ++k) {
      const uint64_t* bk = bw + k * kPanelRows;
      const uint64x2_t b0 = vld1q_u64(bk), b1 = vld1q_u64(bk + 2);
      const uint64x2_t b2 = vld1q_u64(bk + 4), b3 = vld1q_u64(bk + 6);
      const uint64_t* ak = aw + k * kPanelRows;
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const uint64x2_t a = vld1q_dup_u64(ak + r);
        const uint8x16_t p0 = popStep<Xor>(a, b0), p1 = popStep<Xor>(a, b1);
        const uint8x16_t p2 = popStep<Xor>(a, b2), p3 = popStep<Xor>(a, b3);
        cnt[r][0] = vaddq_u8(cnt[r][0], p0);
        cnt[r][1] = vaddq_u8(cnt[r][1], p1);
        cnt[r][2] = vaddq_u8(cnt[r][2], p2);
        cnt[r][3] = vaddq_u8(cnt[r][3], p3);
      }
    }
    if (wideWords + (k1 - k0) > kWideBlockWords) {
      flushWide<R>(wide, acc, ldAcc, shift, negative);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) wide[r] = vdupq_n_u16(0);
      wideWords = 0;
    }
    wideWords += k1 - k0;
    // Fold: q register c of row r holds columns 2c (bytes 0-7) and 2c+1 (bytes 8-15).
    // uaddlp -> 4 u16 per column; addp(c0,c1), addp(c2,c3) -> 2 per column; addp -> lane n = column n.
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint16x8_t w01 = vpaddq_u16(vpaddlq_u8(cnt[r][0]), vpaddlq_u8(cnt[r][1]));
      const uint16x8_t w23 = vpaddq_u16(vpaddlq_u8(cnt[r][2]), vpaddlq_u8(cnt[r][3]));
      wide[r] = vaddq_u16(wide[r], vpaddq_u16(w01, w23));
    }
  }
  flushWide<R>(wide, acc, ldAcc, shift, negative);
}

template <int R, bool Xor>
void rowBlock(const BitTileArgs& t, int r0, const uint64_t* bPanel, int64_t* acc) {
  for (int i = 0; i < t.aPlanes; ++i) {
    const uint64_t* aw = t.a + static_cast<size_t>(i) * t.aPlaneStride + r0;
    for (int j = 0; j < t.bPlanes; ++j) {
      const uint64_t* bw = bPanel + static_cast<size_t>(j) * t.bPlaneStride;
      const int shift = (t.aPlanes - 1 - i) + (t.bPlanes - 1 - j);
      const bool negative = (t.aNegTop && i == 0) != (t.bNegTop && j == 0);
      planePair<R, Xor>(aw, bw, t.kWords, acc, t.ldAcc, shift, negative);
    }
  }
}

template <bool Xor>
void bitTileImpl(const BitTileArgs& t) {
  // Panel outer, row blocks inner: one B panel (its planes over this K block) is reused by
  // every row block while it is in L1; the A panel is small enough to stay there too.
  for (int p = 0; p < t.np; ++p) {
    const uint64_t* bPanel = t.b + static_cast<size_t>(p) * t.bPanelStride;
    for (int r0 = 0; r0 < t.mr; r0 += kRowBlock) {
      int64_t* acc = t.acc + static_cast<size_t>(r0) * t.ldAcc + static_cast<size_t>(p) * kPanelRows;
      switch (t.mr - r0 < kRowBlock ? t.mr - r0 : kRowBlock) {
        case 1: rowBlock<1, Xor>(t, r0, bPanel, acc); break;
        case 2: rowBlock<2, Xor>(t, r0, bPanel, acc); break;
        case 3: rowBlock<3, Xor>(t, r0, bPanel, acc); break;
        default: rowBlock<4, Xor>(t, r0, bPanel, acc); break;
      }
    }
  }
}

void bitTileNeon(const BitTileArgs& t) {
  zeroTileAccIfOverwrite(t);  // planePair adds into acc once per plane pair
  if (t.mr <= 0 || t.np <= 0 || t.kWords == 0) return;
  if (t.useXor) {
    bitTileImpl<true>(t);
  } else {
    bitTileImpl<false>(t);
  }
}

// ---- popcount ceiling ----------------------------------------------------------------------

// The micro-kernel's inner step on registers only: 4 broadcast A words x 4 B registers
// (16 x 128 bit-MACs per iteration) into 16 byte accumulators, folded every 31 iterations by
// the same pairwise-add tree. An empty asm marks the A registers as rewritten each iteration
// so the AND/popcount cannot be hoisted out of the loop.
uint64_t ceilingNeon(uint64_t iters, uint64_t seed) {
  uint64x2_t a[4], b[4];
  for (int i = 0; i < 4; ++i) {
    a[i] = vdupq_n_u64(seed * (2 * i + 1) + 0x9E3779B97F4A7C15ull * i);
    b[i] = vcombine_u64(vcreate_u64(seed ^ (0xF0F0F0F0F0F0F0F0ull >> i)),
                        vcreate_u64(~seed + 0x0123456789ABCDEFull * (i + 1)));
  }
  uint64x2_t total = vdupq_n_u64(0);
  uint64_t done = 0;
  while (done < iters) {
    const uint64_t n = iters - done < kByteChunkWords ? iters - done : kByteChunkWords;
    uint8x16_t cnt[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) cnt[r][c] = vdupq_n_u8(0);
    }
    uint64x2_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (uint64_t it = 0; it < n; ++it) {
      __asm__("" : "+w"(a0), "+w"(a1), "+w"(a2), "+w"(a3));
      const uint64x2_t ar[4] = {a0, a1, a2, a3};
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) cnt[r][c] = vaddq_u8(cnt[r][c], popStep<false>(ar[r], b[c]));
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const uint16x8_t w01 = vpaddq_u16(vpaddlq_u8(cnt[r][0]), vpaddlq_u8(cnt[r][1]));
      const uint16x8_t w23 = vpaddq_u16(vpaddlq_u8(cnt[r][2]), vpaddlq_u8(cnt[r][3]));
      total = vpadalq_u32(total, vpaddlq_u16(vpaddq_u16(w01, w23)));
    }
    done += n;
  }
  return vgetq_lane_u64(total, 0) * 3 + vgetq_lane_u64(total, 1);
}

}  // namespace

namespace {
void panelPopsNeon(const uint64_t* panel, int rows, int planes, size_t kWords, int32_t* planePop) {
  panelPopsWith(panel, rows, planes, kWords, planePop, popcountBuiltin);
}

void gatherPanelNeon(const GatherPanelArgs& g) { gatherPanelWith(g, [](uint64_t x) { return popcountBuiltin(x); }); }
}  // namespace

const KernelTable kNeonTable = {"neon",        packPanelNeon,   bitTileNeon,    ceilingNeon, 16 * 128,
                                panelPopsNeon, packStreamsNeon, gatherPanelNeon, nullptr};

}  // namespace anyprec
