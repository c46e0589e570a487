// Portable forms of the gated GEMM's micro-kernels (see gated.h for their contracts). Included by
// the per-ISA files, which compile them with their own flags: gated_scalar.cc (the reference,
// baseline ISA), gated_avx2.cc (-mpopcnt: one popcnt instruction per word; lowGroupBlocked, and
// gateRows for a partial last word) and gated_neon.cc
// (the gate only). Internal: nothing outside gated/gated_<isa>.cc includes it. Everything
// here has internal linkage (unnamed namespace): each file must keep its own copy, compiled with
// its own flags; shared inline definitions would let the linker pick one ISA's copy for all.
#pragma once
#include <cstddef>
#include <cstdint>

#include "gated/gated.h"

namespace anyprec {
namespace gated_generic {
namespace {

inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }

// The plane-pair sum of one output (r, c) of a group (LowGroupArgs) over planes [i0, i0+NA) of A
// and [j0, j0+NB) of B: per word of K the NA + NB words are loaded once and every pair is counted
// into one running sum (shifts and signs are compile-time or hoisted), so the loop is popcount-
// bound: one POPCNT per word pair where the ISA has it.
template <int NA, int NB>
inline int64_t blockSum(const LowGroupArgs& t, const uint64_t* ar, const uint64_t* bc, int i0, int j0) {
  int64_t pos = 0, neg = 0;  // pairs with s = +1 and s = -1
  const bool negA = t.aNegTop && i0 == 0, negB = t.bNegTop && j0 == 0;
  const uint64_t* a = ar + static_cast<size_t>(i0) * t.aPlaneStride;
  const uint64_t* b = bc + static_cast<size_t>(j0) * t.bPlaneStride;
  for (size_t k = 0; k < t.kWords; ++k) {
    uint64_t aw[NA], bw[NB];
    for (int i = 0; i < NA; ++i) aw[i] = a[i * t.aPlaneStride + k * kPanelRows];
    for (int j = 0; j < NB; ++j) bw[j] = b[j * t.bPlaneStride + k * kPanelRows];
    for (int i = 0; i < NA; ++i) {
      for (int j = 0; j < NB; ++j) {
        const int64_t p = static_cast<int64_t>(popcount64(aw[i] & bw[j])) << ((NA - 1 - i) + (NB - 1 - j));
        // s(i, j) = -1 for exactly one of the top planes of a signed operand (i == 0, j == 0 here)
        if (((negA && i == 0) != (negB && j == 0))) neg += p; else pos += p;
      }
    }
  }
  const int shift = (t.aPlanes - i0 - NA) + (t.bPlanes - j0 - NB);  // the block's place in the weights
  return (pos - neg) * (int64_t{1} << shift);
}

template <int NA>
inline int64_t blockSumB(const LowGroupArgs& t, const uint64_t* ar, const uint64_t* bc, int i0, int j0, int nb) {
  switch (nb) {
    case 1: return blockSum<NA, 1>(t, ar, bc, i0, j0);
    case 2: return blockSum<NA, 2>(t, ar, bc, i0, j0);
    case 3: return blockSum<NA, 3>(t, ar, bc, i0, j0);
    default: return blockSum<NA, 4>(t, ar, bc, i0, j0);
  }
}

// The full sum of one output: plane blocks of at most 4 x 4.
inline int64_t outputSum(const LowGroupArgs& t, int r, int c) {
  const uint64_t* ar = t.a + static_cast<size_t>(r / kPanelRows) * t.aPanelStride + r % kPanelRows;
  const uint64_t* bc = t.b + static_cast<size_t>(c / kPanelRows) * t.bPanelStride + c % kPanelRows;
  int64_t sum = 0;
  for (int i0 = 0; i0 < t.aPlanes; i0 += 4) {
    const int na = t.aPlanes - i0 < 4 ? t.aPlanes - i0 : 4;
    for (int j0 = 0; j0 < t.bPlanes; j0 += 4) {
      const int nb = t.bPlanes - j0 < 4 ? t.bPlanes - j0 : 4;
      switch (na) {
        case 1: sum += blockSumB<1>(t, ar, bc, i0, j0, nb); break;
        case 2: sum += blockSumB<2>(t, ar, bc, i0, j0, nb); break;
        case 3: sum += blockSumB<3>(t, ar, bc, i0, j0, nb); break;
        default: sum += blockSumB<4>(t, ar, bc, i0, j0, nb); break;
      }
    }
  }
  return sum;
}

// out += sum << alphaShift in int32 with wrap-around (the caller guarantees the total fits).
inline void addLow(int32_t* out, int64_t sum, int alphaShift) {
  *out = static_cast<int32_t>(static_cast<uint32_t>(*out) + static_cast<uint32_t>(static_cast<uint64_t>(sum) << alphaShift));
}

// One gated-on output at a time, from the gate's list when there is one, else straight from the
// on-masks.
inline size_t lowGroup(const LowGroupArgs& t) {
  if (t.list != nullptr) {
    for (size_t e = 0; e < t.listCount; ++e) {
      const int r = static_cast<int>(t.list[e] & 15u), c = static_cast<int>(t.list[e] >> 4);
      addLow(t.out + static_cast<size_t>(r) * t.ldOut + c, outputSum(t, r, c), t.alphaShift);
    }
    return t.listCount;
  }
  size_t done = 0;
  for (int r = 0; r < t.rows; ++r) {
    for (unsigned w = t.onBits[r * t.bitsStride]; w != 0; w &= w - 1) {
      const int c = __builtin_ctz(w);
      addLow(t.out + static_cast<size_t>(r) * t.ldOut + c, outputSum(t, r, c), t.alphaShift);
      ++done;
    }
  }
  return done;
}

// ---- the blocked list kernel (lowGroupBlocked) ----------------------------------------------
//
// lowGroup above walks the list one output at a time through outputSum: per output a dispatch on
// the plane counts, per plane block its own loop over K with the pair's sign decided inside, so
// with K = 288..576 (5..9 words) the fixed cost per output and block outweighs the popcounts.
// Here the dispatch is per group: C listed outputs (any rows and columns) walk K together, per
// word their NA + NB words loaded once into registers, and each weight plane j keeps one
// accumulator that takes the NA pairs of plane j at their A weights (acc_j += popcount(a_i & b_j)
// << (NA-1-i): AND, POPCNT and one ADD or LEA per pair, nothing else in the loop). The B weights
// and the sign of a signed top weight plane are applied once per output at the end. A planes go
// in blocks of at most 4 (the LEA scales), all B planes (<= 8) in one. Results are int32 in list
// order (wrapping: only the total over every block must fit, and does), added into out by one
// scalar read-modify-write each (straight from the chunk when there is one A block).
// A signed top activation plane (aNegTop: never from the driver, whose A is unsigned) takes the
// one-output-at-a-time form above.

constexpr int kBlockedMaxA = 4;

// Per group, looked up by each entry's row and column (an entry then costs two loads to find its
// operands, no multiplies): each row's A word 0 (top plane used) and output row, each column's B
// word 0.
struct BlockedGroup {
  const uint64_t* rowA[kGroupRows];
  uint32_t* rowOut[kGroupRows];
  const uint64_t* colB[kGroupRows];
};

template <int NA, int NB, int C>
inline void blockedChunk(const LowGroupArgs& t, const BlockedGroup& grp, int i0, const uint8_t* entries, int32_t* res,
                         int mode) {
  const size_t aps = t.aPlaneStride, bps = t.bPlaneStride;
  const uint64_t* ap[C];
  const uint64_t* bp[C];
  for (int q = 0; q < C; ++q) {
    ap[q] = grp.rowA[entries[q] & 15u] + static_cast<size_t>(i0) * aps;
    bp[q] = grp.colB[entries[q] >> 4];
  }
  uint64_t acc[C][NB] = {};
  const size_t end = t.kWords * kPanelRows;
  for (size_t off = 0; off < end; off += kPanelRows) {
    for (int q = 0; q < C; ++q) {
      uint64_t aw[NA];
      for (int i = 0; i < NA; ++i) aw[i] = ap[q][i * aps + off];
      for (int j = 0; j < NB; ++j) {
        const uint64_t bw = bp[q][j * bps + off];
        for (int i = 0; i < NA; ++i) acc[q][j] += static_cast<uint64_t>(popcount64(aw[i] & bw)) << (NA - 1 - i);
      }
    }
  }
  // The block's place in the A weights; a signed top weight plane counts -2^(NB-1), not +.
  const int aShift = t.aPlanes - i0 - NA;
  const uint64_t negTop = t.bNegTop ? ~uint64_t{0} : 0;
  for (int q = 0; q < C; ++q) {
    uint64_t total = 0;
    for (int j = 0; j < NB; ++j) total += acc[q][j] << (NB - 1 - j);
    total -= (acc[q][0] << NB) & negTop;
    const uint32_t v = static_cast<uint32_t>(total << aShift);
    if (mode == 2) {  // the only block: straight into out
      const unsigned e = entries[q];
      grp.rowOut[e & 15u][e >> 4] += v << t.alphaShift;
    } else {
      res[q] = static_cast<int32_t>(mode == 0 ? v : static_cast<uint32_t>(res[q]) + v);
    }
  }
}

// Entries per chunk: C * (NA + NB) words and C * NB accumulators in registers.
constexpr int blockedChunkFor(int nb) { return nb <= 2 ? 4 : (nb <= 4 ? 2 : 1); }

// mode: 0 = first of several A blocks (res =), 1 = a later one (res +=), 2 = the only one (out +=).
template <int NA, int NB>
inline void blockedBlock(const LowGroupArgs& t, const BlockedGroup& grp, int i0, const uint8_t* entries, size_t count,
                         int32_t* res, int mode) {
  constexpr int C = blockedChunkFor(NB);
  size_t e = 0;
  for (; e + C <= count; e += C) blockedChunk<NA, NB, C>(t, grp, i0, entries + e, res + e, mode);
  if (C >= 4 && e + 2 <= count) {
    blockedChunk<NA, NB, (C >= 4 ? 2 : 1)>(t, grp, i0, entries + e, res + e, mode);
    e += 2;
  }
  if (e < count) blockedChunk<NA, NB, 1>(t, grp, i0, entries + e, res + e, mode);
}

template <int NA>
inline void blockedBlockB(const LowGroupArgs& t, const BlockedGroup& grp, int i0, const uint8_t* entries, size_t count,
                          int32_t* res, int mode) {
  switch (t.bPlanes) {
    case 1: blockedBlock<NA, 1>(t, grp, i0, entries, count, res, mode); break;
    case 2: blockedBlock<NA, 2>(t, grp, i0, entries, count, res, mode); break;
    case 3: blockedBlock<NA, 3>(t, grp, i0, entries, count, res, mode); break;
    case 4: blockedBlock<NA, 4>(t, grp, i0, entries, count, res, mode); break;
    case 5: blockedBlock<NA, 5>(t, grp, i0, entries, count, res, mode); break;
    case 6: blockedBlock<NA, 6>(t, grp, i0, entries, count, res, mode); break;
    case 7: blockedBlock<NA, 7>(t, grp, i0, entries, count, res, mode); break;
    default: blockedBlock<NA, 8>(t, grp, i0, entries, count, res, mode); break;
  }
}

// The group's on-outputs as list entries (row | column << 4): the gate's list when it made one,
// else built from the on-bits into t.entries. count receives their number.
inline const uint8_t* onList(const LowGroupArgs& t, size_t& count) {
  count = t.listCount;
  if (t.list != nullptr) return t.list;
  uint8_t* own = reinterpret_cast<uint8_t*>(t.entries);
  count = 0;
  for (int r = 0; r < t.rows; ++r)
    for (unsigned w = t.onBits[static_cast<size_t>(r) * t.bitsStride]; w != 0; w &= w - 1)
      own[count++] = static_cast<uint8_t>(static_cast<unsigned>(r) | static_cast<unsigned>(__builtin_ctz(w)) << 4);
  return own;
}

inline size_t lowGroupBlocked(const LowGroupArgs& t) {
  if (t.aNegTop) return lowGroup(t);
  size_t count;
  const uint8_t* entries = onList(t, count);
  if (count == 0) return 0;
  BlockedGroup grp;
  for (int r = 0; r < kGroupRows; ++r) {  // rows >= t.rows are never listed (their pointers unused)
    grp.rowA[r] = t.a + static_cast<size_t>(r / kPanelRows) * t.aPanelStride + r % kPanelRows;
    grp.rowOut[r] = reinterpret_cast<uint32_t*>(t.out) + static_cast<size_t>(r) * t.ldOut;
    grp.colB[r] = t.b + static_cast<size_t>(r / kPanelRows) * t.bPanelStride + r % kPanelRows;
  }
  int32_t* res = reinterpret_cast<int32_t*>(t.acc);  // kGroupScratch int64: room for 2 x 256 int32
  const bool one = t.aPlanes <= kBlockedMaxA;
  for (int i0 = 0; i0 < t.aPlanes; i0 += kBlockedMaxA) {
    const int na = t.aPlanes - i0 < kBlockedMaxA ? t.aPlanes - i0 : kBlockedMaxA;
    const int mode = one ? 2 : (i0 == 0 ? 0 : 1);
    switch (na) {
      case 1: blockedBlockB<1>(t, grp, i0, entries, count, res, mode); break;
      case 2: blockedBlockB<2>(t, grp, i0, entries, count, res, mode); break;
      case 3: blockedBlockB<3>(t, grp, i0, entries, count, res, mode); break;
      default: blockedBlockB<4>(t, grp, i0, entries, count, res, mode); break;
    }
  }
  if (!one) {
    for (size_t e = 0; e < count; ++e) {
      const unsigned entry = entries[e];
      grp.rowOut[entry & 15u][entry >> 4] += static_cast<uint32_t>(res[e]) << t.alphaShift;
    }
  }
  return count;
}

// The gate over rows [r0, r0 + rows) and on-mask words [w0, w1) of g, from sums at acc (row r0,
// column 16 * w0; ldAcc apart), one row and 16 columns (one on-mask word) at a time: values,
// comparison, out, the mask byte (unless the mask is null), the word, the lists and the micro-tile
// counts, in wrapping int32 arithmetic (see GateArgs).
template <typename Acc>
inline size_t gateRows(const GateArgs& g, const Acc* acc, size_t ldAcc, int r0, int rows, size_t w0, size_t w1) {
  size_t on = 0;
  for (int r = r0; r < r0 + rows; ++r, acc += ldAcc) {
    const uint32_t rowTerm = static_cast<uint32_t>(g.rowTerm[r]), rowLow = static_cast<uint32_t>(g.rowLow[r]);
    int32_t* out = g.out + static_cast<size_t>(r) * g.ldOut;
    uint8_t* mask = g.mask == nullptr ? nullptr : g.mask + static_cast<size_t>(r) * g.ldMask;
    uint16_t* bits = g.bits + static_cast<size_t>(r) * g.bitsStride;
    const int32_t* thr = g.thr;
    const int shift = g.shift;
    for (size_t w = w0; w < w1; ++w) {
      const size_t j0 = 16 * w, j1 = j0 + 16 < g.cols ? j0 + 16 : g.cols;
      unsigned b = 0;
      for (size_t j = j0; j < j1; ++j) {
        const int32_t v = static_cast<int32_t>((static_cast<uint32_t>(acc[j - 16 * w0]) << shift) + rowTerm);
        const bool o = v > thr[j];
        out[j] = static_cast<int32_t>(static_cast<uint32_t>(v) + (o ? rowLow : 0u));
        b |= static_cast<unsigned>(o) << (j - j0);
      }
      if (mask != nullptr) {
        for (size_t j = j0; j < j1; ++j) mask[j] = static_cast<uint8_t>((b >> (j - j0)) & 1u);
      }
      bits[w] = static_cast<uint16_t>(b);
      on += static_cast<size_t>(popcount64(b));
      if (g.lists != nullptr) {
        const size_t q = static_cast<size_t>(r / 16) * g.listGroupsPerRow + w;
        uint8_t* list = g.lists + q * g.listStride;
        uint32_t& count = g.listCounts[q];
        for (unsigned x = b; x != 0; x &= x - 1)
          list[count++] = static_cast<uint8_t>(static_cast<unsigned>(r % 16) | static_cast<unsigned>(__builtin_ctz(x)) << 4);
      }
      if (g.tileOn != nullptr) {
        uint8_t* t = g.tileOn + static_cast<size_t>(r / kPanelRows) * g.tileOnStride + 2 * w;
        t[0] = static_cast<uint8_t>(t[0] + popcount64(b & 0xFFu));
        if (j1 - j0 > 8) t[1] = static_cast<uint8_t>(t[1] + popcount64(b >> 8));
      }
    }
  }
  return on;
}

inline size_t gate(const GateArgs& g) { return gateRows(g, g.acc, g.ldAcc, 0, g.rows, 0, (g.cols + 15) / 16); }
inline size_t gate32(const GateArgs& g) { return gateRows(g, g.acc32, g.ldAcc, 0, g.rows, 0, (g.cols + 15) / 16); }

// The fused high planes + gate in its plainest form: per 16-column word, each output's high-plane
// sum by outputSum (one output at a time), plus the earlier K blocks' sums, then the gate's rows.
inline size_t highGate(const HighGateArgs& h) {
  const GateArgs& g = h.gate;
  LowGroupArgs t{};  // outputSum's view of the panel: rows r < 8 of one A panel, columns of two B panels
  t.a = h.a;
  t.aPlaneStride = h.aPlaneStride;
  t.bPanelStride = h.bPanelStride;
  t.bPlaneStride = h.bPlaneStride;
  t.aPlanes = h.aPlanes;
  t.bPlanes = h.bPlanes;
  t.bNegTop = h.bNegTop;
  t.kWords = h.kWords;
  const int r0 = kPanelRows * h.panel;
  int64_t sums[kPanelRows * 16];
  size_t on = 0;
  for (size_t w = 0; 16 * w < g.cols; ++w) {
    const size_t cols = g.cols - 16 * w < 16 ? g.cols - 16 * w : 16;
    t.b = h.b + 2 * w * h.bPanelStride;
    for (int r = 0; r < h.mr; ++r) {
      const int64_t* before = g.acc == nullptr ? nullptr : g.acc + static_cast<size_t>(r0 + r) * g.ldAcc + 16 * w;
      for (size_t c = 0; c < cols; ++c)
        sums[r * 16 + c] = outputSum(t, r, static_cast<int>(c)) + (before == nullptr ? 0 : before[c]);
    }
    on += gateRows(g, sums, 16, r0, h.mr, w, w + 1);
  }
  return on;
}

}  // namespace
}  // namespace gated_generic
}  // namespace anyprec
