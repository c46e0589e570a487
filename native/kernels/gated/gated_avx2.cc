// AVX2 gated GEMM micro-kernels, compiled with the avx2 flags of sources.json.
//
//   lowGroup: lowGroupAvx2 below: groups with many outputs on and 5..8 weight planes put each
//             output's plane pairs in vector lanes (vpshufb popcount over transposed B words);
//             the others take the blocked list kernel of gated_generic.h (lowGroupBlocked: C
//             listed outputs walk K together, one accumulator per weight plane, scalar POPCNT,
//             which on Zen 3 issues on all four integer pipes).
//   gate:     gateAvx2 below, 16 columns per step.
//   highGate: none (measured slower than bitTile + gateAvx2; see the note at the end).
//
// Measured (gated_phases_bench, this Zen 3, 4/2 bits, 80% off; each phase as a share of the high
// planes' time in its own run, the machine being shared), against the portable forms (one output
// at a time, a scalar gate with a loop per list entry): the low-plane phase 1.92x -> 0.68x of
// the high planes (M=2048 K=288 N=32, 1-bit weights), 1.06x -> 0.58x (2-bit), 0.89x -> 0.52x
// (4-bit), 0.88x -> 0.37x (8-bit, lanes); 1.39x -> 0.59x and 0.85x -> 0.40x at M=512 K=576 N=64
// (1- and 8-bit); the gate phase (with the driver's row terms) 0.80x -> 0.27x (K=288 N=32, 1-bit)
// and 0.37x -> 0.16x (K=576 N=64, 1-bit).

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "bitplane/popstep_avx2.h"
#include "gated/gated_generic.h"

namespace anyprec {

namespace {

#define AP_INLINE inline __attribute__((always_inline))
#define AP_LAMBDA_INLINE __attribute__((always_inline))

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

// 8 int32 sums (GateArgs::acc32) as they are.
AP_INLINE __m256i narrow8(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Rows [r0, r1) of the full word at column j from their int64 (or int32) sums (acc: row r0, column j; ldAcc
// apart): out, mask, on-mask word, list entries (all rows in one group: list and count given),
// tile counts. What is optional is a template argument, and the per-row pointers step by their
// strides, so the loop keeps everything in registers. Returns the number of outputs on.
template <bool Mask, bool Lists, bool Tiles, typename Acc>
AP_INLINE size_t gateRowsWord(const GateArgs& g, int r0, int r1, size_t j, const Acc* acc, size_t ldAcc, __m256i thr0,
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

// The gate's sums: acc (int64) or acc32 (int32).
template <typename Acc> AP_INLINE const Acc* accOf(const GateArgs& g);
template <> AP_INLINE const int64_t* accOf<int64_t>(const GateArgs& g) { return g.acc; }
template <> AP_INLINE const int32_t* accOf<int32_t>(const GateArgs& g) { return g.acc32; }

// Every row of the full word at column j, group (16 rows) by group: the group's list count stays
// in a register through its rows.
template <bool Mask, bool Lists, bool Tiles, typename Acc>
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
    const Acc* acc = accOf<Acc>(g);
    on += gateRowsWord<Mask, Lists, Tiles>(g, r0, r1, j, acc + static_cast<size_t>(r0) * g.ldAcc + j, g.ldAcc, thr0, thr1,
                                           list, count);
    if (Lists) *countAt = count;
  }
  return on;
}

using GateWordFn = size_t (*)(const GateArgs&, size_t);
template <bool Mask, bool Lists, typename Acc>
GateWordFn gateWordFor(bool tiles) {
  return tiles ? gateWordAvx2<Mask, Lists, true, Acc> : gateWordAvx2<Mask, Lists, false, Acc>;
}

template <typename Acc>
size_t gateAvx2T(const GateArgs& g) {
  const bool tiles = g.tileOn != nullptr;
  const GateWordFn word = g.mask != nullptr
      ? (g.lists != nullptr ? gateWordFor<true, true, Acc>(tiles) : gateWordFor<true, false, Acc>(tiles))
      : (g.lists != nullptr ? gateWordFor<false, true, Acc>(tiles) : gateWordFor<false, false, Acc>(tiles));
  size_t on = 0, j = 0;
  for (; j + 16 <= g.cols; j += 16) on += word(g, j);
  if (j < g.cols) on += gated_generic::gateRows(g, accOf<Acc>(g) + j, g.ldAcc, 0, g.rows, j / 16, j / 16 + 1);
  return on;
}

size_t gateAvx2(const GateArgs& g) { return gateAvx2T<int64_t>(g); }
// GateArgs::acc32: the same gate without the int64 sums (the high part given as int32, GatedSpec::highSums).
size_t gate32Avx2(const GateArgs& g) { return gateAvx2T<int32_t>(g); }

// ---- the low planes with many weight planes: lanes = weight planes --------------------------------
//
// With 5..8 weight planes an output's plane pairs fill vector lanes: per group and chunk of K the
// B words of its 16 columns are transposed so that one ymm holds word k of 4 weight planes of one
// column (and b >> 4 beside it), and the A rows' nibble masks are laid out for broadcasts; each
// listed output then runs the bit-plane kernel's vpshufb step, one per A plane and 4 weight
// planes, into byte counters whose lanes are its plane pairs; at the chunk's end VPSADBW, a
// per-lane VPSLLVQ by the pair's weight (a signed top weight plane negated) and a horizontal sum.
// Per output and word that is A planes x B vectors steps (8 at 2 x 8 planes) on the vector pipes,
// against 3 integer ops per plane pair (48) for the scalar list kernel. Chunks of 8 words keep the
// transposed B (b and b >> 4: 16 KiB) in L1; the byte counters take at most 8 x 8 per lane.

constexpr size_t kLaneChunk1 = 16, kLaneChunk2 = 8;  // words per chunk (V = 1, 2 B vectors; V = 2 used)

template <int NA, int V>
void lowLanes(const LowGroupArgs& t, const uint8_t* entries, size_t count) {
  constexpr size_t L0 = V == 1 ? kLaneChunk1 : kLaneChunk2;
  alignas(32) uint64_t bt[kGroupRows * L0 * V * 4];
  alignas(32) uint64_t bth[kGroupRows * L0 * V * 4];
  alignas(32) uint64_t am[kGroupRows * NA * L0 * 2];
  int32_t* res = reinterpret_cast<int32_t*>(t.acc);
  const uint64_t nib = 0x0F0F0F0F0F0F0F0Full;
  const __m256i lut = popLut();
  const int nb = t.bPlanes;
  // Per-lane weights of pair (i, 4v + p): 2^((NA-1-i) + (nb-1-j)); lanes past nb count nothing.
  __m256i shv[NA][V];
  for (int i = 0; i < NA; ++i)
    for (int v = 0; v < V; ++v) {
      long long sh[4];
      for (int p = 0; p < 4; ++p) {
        const int j = 4 * v + p;
        sh[p] = j < nb ? (NA - 1 - i) + (nb - 1 - j) : 0;
      }
      shv[i][v] = _mm256_setr_epi64x(sh[0], sh[1], sh[2], sh[3]);
    }
  // Lane 0 of vector 0 (weight plane 0) negated for a signed top weight plane: x ^ m - m.
  const __m256i negMask = t.bNegTop ? _mm256_setr_epi64x(-1, 0, 0, 0) : _mm256_setzero_si256();
  for (size_t k0 = 0; k0 < t.kWords; k0 += L0) {
    const size_t L = t.kWords - k0 < L0 ? t.kWords - k0 : L0;
    const bool first = k0 == 0, last = k0 + L >= t.kWords;
    // B transposed: bt[((c * L + k) * V + v) * 4 + p] = word k of plane 4v + p of column c.
    for (int c = 0; c < kGroupRows; ++c) {
      const uint64_t* bc = t.b + static_cast<size_t>(c / kPanelRows) * t.bPanelStride + c % kPanelRows + k0 * kPanelRows;
      for (size_t k = 0; k < L; ++k) {
        uint64_t* d = bt + (static_cast<size_t>(c) * L + k) * V * 4;
        for (int p = 0; p < 4 * V; ++p) d[p] = p < nb ? bc[static_cast<size_t>(p) * t.bPlaneStride + k * kPanelRows] : 0;
      }
    }
    for (size_t x = 0; x < kGroupRows * L * V * 4; x += 4)
      _mm256_store_si256(reinterpret_cast<__m256i*>(bth + x), _mm256_srli_epi64(_mm256_load_si256(reinterpret_cast<const __m256i*>(bt + x)), 4));
    // A nibble masks: am[((r * NA + i) * L + k) * 2 + {0, 1}].
    for (int r = 0; r < t.rows; ++r) {
      const uint64_t* ar = t.a + static_cast<size_t>(r / kPanelRows) * t.aPanelStride + r % kPanelRows + k0 * kPanelRows;
      for (int i = 0; i < NA; ++i)
        for (size_t k = 0; k < L; ++k) {
          const uint64_t w = ar[static_cast<size_t>(i) * t.aPlaneStride + k * kPanelRows];
          uint64_t* d = am + ((static_cast<size_t>(r) * NA + i) * L + k) * 2;
          d[0] = w & nib;
          d[1] = (w >> 4) & nib;
        }
    }
    // Results of one output over this chunk: summed over chunks in res, added into out at the last.
    auto finishOne = [&](size_t e, uint32_t sum) AP_LAMBDA_INLINE {
      const unsigned r = entries[e] & 15u, c = entries[e] >> 4;
      const uint32_t acc = first ? sum : static_cast<uint32_t>(res[e]) + sum;
      if (last) reinterpret_cast<uint32_t*>(t.out)[r * t.ldOut + c] += acc << t.alphaShift;
      else res[e] = static_cast<int32_t>(acc);
    };
    // The vector form's chunk sum of one output from its counters.
    auto foldVec = [&](__m256i (&cnt)[NA][V]) AP_LAMBDA_INLINE {
      const __m256i z = _mm256_setzero_si256();
      __m256i tot = z;
      for (int i = 0; i < NA; ++i)
        for (int v = 0; v < V; ++v) {
          __m256i x = _mm256_sllv_epi64(_mm256_sad_epu8(cnt[i][v], z), shv[i][v]);
          if (v == 0) x = _mm256_sub_epi64(_mm256_xor_si256(x, negMask), negMask);
          tot = _mm256_add_epi64(tot, x);
        }
      const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(tot), _mm256_extracti128_si256(tot, 1));
      return static_cast<uint32_t>(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1));
    };
    for (size_t e = 0; e < count; ++e) {
      const unsigned r = entries[e] & 15u, c = entries[e] >> 4;
      const uint64_t* bcol = bt + static_cast<size_t>(c) * L * V * 4;
      const uint64_t* bhcol = bth + static_cast<size_t>(c) * L * V * 4;
      const uint64_t* arow = am + static_cast<size_t>(r) * NA * L * 2;
      __m256i cnt[NA][V];
      for (int i = 0; i < NA; ++i)
        for (int v = 0; v < V; ++v) cnt[i][v] = _mm256_setzero_si256();
      for (size_t k = 0; k < L; ++k) {
#pragma GCC unroll 4
        for (int i = 0; i < NA; ++i) {
          const __m256i al = _mm256_set1_epi64x(static_cast<long long>(arow[(i * L + k) * 2]));
          const __m256i ah = _mm256_set1_epi64x(static_cast<long long>(arow[(i * L + k) * 2 + 1]));
#pragma GCC unroll 2
          for (int v = 0; v < V; ++v) stepMem(cnt[i][v], al, ah, bcol + (k * V + v) * 4, bhcol + (k * V + v) * 4, lut);
        }
      }
      finishOne(e, foldVec(cnt));
    }
  }
}

template <int NA>
void lowLanesV(const LowGroupArgs& t, const uint8_t* entries, size_t count) {
  lowLanes<NA, 2>(t, entries, count);  // 5..8 weight planes: two B vectors
}

// The weight planes in lanes for groups with at least kLanesMinOn outputs on, 5..8 weight planes
// and at most 4 (unsigned) A planes; the scalar blocked list kernel otherwise.
// Measured (gated_phases_bench, this Zen 3, 4/2 bits, low-plane phase / high-plane phase in the
// same run, two runs each): 8-bit weights at 80% off (~51 outputs per group) 0.36-0.41 against
// 0.50-0.51 for the scalar kernel (K = 288 and 576); at 95% off (~13) 0.20-0.22 against 0.14
// (the transposition, paid per group, is worth ~26 outputs' scalar work: hence the threshold).
// 4-bit weights (one B vector) gained little at 80% (0.44-0.54 against 0.51-0.57) and lost at
// 95%; a mixed form (two outputs in lanes beside one with scalar POPCNT on the same transposed
// words) came out no better than lanes alone.
constexpr size_t kLanesMinOn = 28;

size_t lowGroupAvx2(const LowGroupArgs& t) {
  if (t.bPlanes < 5 || t.aPlanes > 4 || t.aNegTop) return gated_generic::lowGroupBlocked(t);
  size_t count;
  const uint8_t* entries = gated_generic::onList(t, count);
  if (count < kLanesMinOn) {
    LowGroupArgs listed = t;  // the list just built, not rebuilt
    listed.list = entries;
    listed.listCount = count;
    return gated_generic::lowGroupBlocked(listed);
  }
  switch (t.aPlanes) {
    case 1: lowLanesV<1>(t, entries, count); break;
    case 2: lowLanesV<2>(t, entries, count); break;
    case 3: lowLanesV<3>(t, entries, count); break;
    default: lowLanesV<4>(t, entries, count); break;
  }
  return count;
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

const GatedKernelTable kAvx2GatedTable = {"avx2", lowGroupAvx2, gateAvx2, denseTileMinOnAvx2,
                                          nullptr, gate32Avx2};

}  // namespace anyprec
