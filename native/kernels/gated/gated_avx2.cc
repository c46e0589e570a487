// AVX2 gated GEMM micro-kernels, compiled with the avx2 flags of sources.json.
//
//   lowGroup: the blocked list kernel of gated_generic.h (lowGroupBlocked: C listed outputs walk K
//             together, one accumulator per weight plane, scalar POPCNT). On Zen 3 POPCNT issues on
//             all four integer pipes, so AND + POPCNT + ADD per 64-bit plane pair runs beside
//             nothing else; a per-lane vpshufb form would need each lane's words gathered first.
//   gate:     gateAvx2 below, 16 columns per step.
//   highGate: none (measured slower than bitTile + gateAvx2; see the note at the end).
//
// Measured (gated_phases_bench, this Zen 3, 4/2 bits, 80% off; each phase as a share of the high
// planes' time in its own run, the machine being shared): the low-plane phase went from 1.92x to
// 0.75x of the high planes (M=2048 K=288 N=32, 1-bit weights), 0.88x to 0.50x (8-bit), 1.39x to
// 0.65x and 0.85x to 0.48x (M=512 K=576 N=64, 1- and 8-bit) against the one-output-at-a-time
// portable form; the gate phase (with the row terms) from 0.80x to 0.39x (K=288 N=32, 1-bit).

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "gated/gated_generic.h"

namespace anyprec {

namespace {

#define AP_INLINE inline __attribute__((always_inline))

// ---- the gate, 16 columns per step ---------------------------------------------------------------
//
// Per row and 16-column word: the 16 int64 sums narrowed to two ymm of int32 (VSHUFPS picks the
// low halves of two vectors, VPERMQ puts them in column order), then O_hb = (acc << shift) +
// rowTerm, two VPCMPGTD against the thresholds, out = O_hb + (rowLow & on), the mask bytes by
// two packs, the row's 16-bit on-mask by two VMOVMSKPS, and the list entries of each half word
// from a 256-entry table of 8 byte patterns (the set bits' columns << 4) OR'd with the row: one
// 8-byte store per half word, no loop over the set bits. A partial last word (cols % 16) goes
// through the portable form.

// kListLut[m]: the columns c of the set bits of m in increasing order as bytes c << 4, then zeros.
struct ListLut {
  uint64_t v[256];
  constexpr ListLut() : v() {
    for (unsigned m = 0; m < 256; ++m) {
      uint64_t x = 0;
      int n = 0;
      for (unsigned c = 0; c < 8; ++c)
        if ((m >> c) & 1u) x |= static_cast<uint64_t>(c << 4) << (8 * n++);
      v[m] = x;
    }
  }
};
constexpr ListLut kListLut{};

// kCompactLut[n0]: the PSHUFB control that keeps bytes 0 .. n0-1 and moves bytes 8 .. 15 to n0 ..
// n0+7 (the rest zero).
struct CompactLut {
  alignas(16) uint8_t v[9][16];
  constexpr CompactLut() : v() {
    for (int n0 = 0; n0 <= 8; ++n0)
      for (int b = 0; b < 16; ++b)
        v[n0][b] = static_cast<uint8_t>(b < n0 ? b : (b - n0 + 8 <= 15 ? b - n0 + 8 : 0x80));
  }
};
constexpr CompactLut kCompactLut{};

// The 8 int64 sums at p (two ymm) as 8 int32 lanes in column order (wrapping).
AP_INLINE __m256i narrow8(const int64_t* p) {
  const __m256 lo = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m256 hi = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4)));
  // [p0 p1 p4 p5 | p2 p3 p6 p7] in 32-bit lanes of the low halves -> VPERMQ 0xD8 -> p0..p7
  return _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8);
}

// Rows [r0, r1) of the full word at column j from their int64 sums (acc: row r0, column j; ldAcc
// apart): out, mask, on-mask word, list entries (all rows in one group: list and count given),
// tile counts. What is optional is a template argument, and the per-row pointers step by their
// strides, so the loop keeps everything in registers. Returns the number of outputs on.
template <bool Mask, bool Lists, bool Tiles>
AP_INLINE size_t gateRowsWord(const GateArgs& g, int r0, int r1, size_t j, const int64_t* acc, size_t ldAcc, __m256i thr0,
                              __m256i thr1, uint8_t* list, uint32_t& count) {
  const __m128i sh = _mm_cvtsi32_si128(g.shift);
  int32_t* dst = g.out + static_cast<size_t>(r0) * g.ldOut + j;
  uint8_t* mask = Mask ? g.mask + static_cast<size_t>(r0) * g.ldMask + j : nullptr;
  uint16_t* bits = g.bits + static_cast<size_t>(r0) * g.bitsStride + j / 16;
  const size_t ldOut = g.ldOut, ldMask = g.ldMask, bitsStride = g.bitsStride;
  const int32_t* rowTerm = g.rowTerm;
  const int32_t* rowLow = g.rowLow;
  uint32_t n = count;
  size_t on = 0;
  for (int r = r0; r < r1; ++r, acc += ldAcc, dst += ldOut, bits += bitsStride) {
    const __m256i term = _mm256_set1_epi32(rowTerm[r]), low = _mm256_set1_epi32(rowLow[r]);
    const __m256i v0 = _mm256_add_epi32(_mm256_sll_epi32(narrow8(acc), sh), term);
    const __m256i v1 = _mm256_add_epi32(_mm256_sll_epi32(narrow8(acc + 8), sh), term);
    const __m256i o0 = _mm256_cmpgt_epi32(v0, thr0), o1 = _mm256_cmpgt_epi32(v1, thr1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_add_epi32(v0, _mm256_and_si256(o0, low)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 8), _mm256_add_epi32(v1, _mm256_and_si256(o1, low)));
    if (Mask) {
      // packs keep 128-bit lanes apart: [o0 lo4, o1 lo4 | o0 hi4, o1 hi4]; VPERMQ restores the order
      const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(o0, o1), 0xD8);  // 16 int16 in column order
      const __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mask), _mm_and_si128(b, _mm_set1_epi8(1)));
      mask += ldMask;
    }
    const unsigned m0 = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(o0)));
    const unsigned m1 = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(o1)));
    *bits = static_cast<uint16_t>(m0 | m1 << 8);
    const unsigned n0 = static_cast<unsigned>(__builtin_popcount(m0)), n1 = static_cast<unsigned>(__builtin_popcount(m1));
    on += n0 + n1;
    if (Lists) {
      const uint64_t rr = 0x0101010101010101ull * static_cast<uint64_t>(r % 16);
      const uint64_t e0 = kListLut.v[m0] | rr;
      const uint64_t e1 = (kListLut.v[m1] + 0x8080808080808080ull) | rr;  // columns 8.. : c << 4 has bit 7 set
      // One 16-byte store at an address known a row ahead: the second half's entries moved down
      // next to the first's by PSHUFB. (Two 8-byte stores, the second at list + n + n0, cost
      // about as much as the rest of the gate: that address waits for the compare, and the next
      // rows' loads waited on it.)
      const __m128i x = _mm_shuffle_epi8(_mm_set_epi64x(static_cast<long long>(e1), static_cast<long long>(e0)),
                                         _mm_load_si128(reinterpret_cast<const __m128i*>(kCompactLut.v[n0])));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(list + n), x);
      n += n0 + n1;
    }
    if (Tiles) {
      uint8_t* t = g.tileOn + static_cast<size_t>(r / kPanelRows) * g.tileOnStride + j / 8;
      t[0] = static_cast<uint8_t>(t[0] + n0);
      t[1] = static_cast<uint8_t>(t[1] + n1);
    }
  }
  count = n;
  return on;
}

// Every row of the full word at column j, group (16 rows) by group: the group's list count stays
// in a register through its rows.
template <bool Mask, bool Lists, bool Tiles>
size_t gateWordAvx2(const GateArgs& gIn, size_t j) {
  const GateArgs g = gIn;  // a local copy: the stores through out, bits and lists cannot alias it
  const __m256i thr0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.thr + j));
  const __m256i thr1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.thr + j + 8));
  size_t on = 0;
  for (int r0 = 0; r0 < g.rows; r0 += 16) {
    const int r1 = g.rows - r0 < 16 ? g.rows : r0 + 16;
    uint8_t* list = nullptr;
    uint32_t count = 0;
    uint32_t* countAt = nullptr;
    if (Lists) {
      const size_t q = static_cast<size_t>(r0 / 16) * g.listGroupsPerRow + j / 16;
      list = g.lists + q * g.listStride;
      countAt = g.listCounts + q;
      count = *countAt;
    }
    on += gateRowsWord<Mask, Lists, Tiles>(g, r0, r1, j, g.acc + static_cast<size_t>(r0) * g.ldAcc + j, g.ldAcc, thr0, thr1,
                                           list, count);
    if (Lists) *countAt = count;
  }
  return on;
}

using GateWordFn = size_t (*)(const GateArgs&, size_t);
template <bool Mask, bool Lists>
GateWordFn gateWordFor(bool tiles) {
  return tiles ? gateWordAvx2<Mask, Lists, true> : gateWordAvx2<Mask, Lists, false>;
}

size_t gateAvx2(const GateArgs& g) {
  const bool tiles = g.tileOn != nullptr;
  const GateWordFn word = g.mask != nullptr ? (g.lists != nullptr ? gateWordFor<true, true>(tiles) : gateWordFor<true, false>(tiles))
                                            : (g.lists != nullptr ? gateWordFor<false, true>(tiles) : gateWordFor<false, false>(tiles));
  size_t on = 0, j = 0;
  for (; j + 16 <= g.cols; j += 16) on += word(g, j);
  if (j < g.cols) on += gated_generic::gateRows(g, g.acc + j, g.ldAcc, 0, g.rows, j / 16, j / 16 + 1);
  return on;
}

// Hybrid only (Auto = Compact). From the phase bench's low-plane / high-plane ratios with the
// blocked list kernel (K = 288..576, 20% on): the list costs ~2.5x the dense AVX2 kernel per
// output and plane pair with 8 pairs and more, ~3.7x with 2, so a micro-tile runs densely from
// about 64 / ratio outputs on (one pair: not measured, kept lower).
int denseTileMinOnAvx2(int lowPlanes, int bPlanes) {
  const int pairs = lowPlanes * bPlanes;
  return pairs == 1 ? 12 : (pairs == 2 ? 17 : 26);
}

// ---- no fused high planes + gate ----------------------------------------------------------------
//
// A fused form (one row x 16 columns at a time: 4 byte counters and the row's 4 int64 sums in
// ymm, b >> 4 and the A nibble masks prepared once per chunk and word in stack buffers, then
// gateRowWord straight from the registers) was built and is bit-exact, but measured slower than
// bitTile followed by gateAvx2 (gated_phases_bench --unfused, this Zen 3, 4/2 bits, one process,
// high + gate phases): 268 + 10 against 170 + 51 us at M=2048 K=288 N=32 with 1-bit weights,
// 1312 + 9 against 1423 + 53 us with 8-bit (the one even case); 167 + 3 against 118 + 22 and
// 1195 + 2 against 1070 + 23 at M=512 K=576 N=64. Two rows at a time (8 counters, the sums in L1
// between plane pairs) came out no better (203 + 6 against 113 + 37 us; 1098 + 6 against
// 869 + 38). bitTile's 8-row tile reads each B vector and its shift once for 8 rows; a gate word
// of one or two rows pays the per-pair loop, fold and nibble-mask set-up for few steps (K = 288 is
// 5 words). So the AVX2 table has no highGate: the driver runs bitTile, then gateAvx2.

}  // namespace

const GatedKernelTable kAvx2GatedTable = {"avx2", gated_generic::lowGroupBlocked, gateAvx2, denseTileMinOnAvx2,
                                          nullptr};

}  // namespace anyprec
