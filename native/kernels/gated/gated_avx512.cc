// AVX-512 (F/BW/VL/DQ + VPOPCNTDQ) micro-kernels of the gated GEMM; bit-identical to
// gated_scalar.cc, compiled with the avx512 flags of sources.json.
//
// Compacted low-plane kernel. The bit-plane kernel keeps one output per 64-bit lane with the A
// word broadcast and 8 B columns in the lanes, so it can only skip work in blocks of 8 outputs;
// with a gate that keeps 5-20% of the outputs on, nearly every such block holds one. Here every
// lane is an arbitrary gated-on output (r_e, c_e) of a 16 x 16 group (two A panels x two B
// panels): per word k and plane, the word of the 16 A rows is two zmm (the panel layout keeps a
// panel's 8 rows of one word contiguous) and VPERMT2Q picks each lane's row out of them; the
// same for B with the lanes' columns. Then the bit-plane kernel's step: AND, VPOPCNTQ, ADD.
// One output per lane, no horizontal sums, no gathers (VPGATHERQQ measured 2.6x the cost of a
// dense step here, VPERMT2Q 1 cycle); a 16 x 16 group holds ~51 gated-on outputs at 80% of
// them off, so the lanes stay ~94% full.
//
// Cost per word and chunk of 8 outputs: (aPlanes + bPlanes) permutes + aPlanes*bPlanes steps,
// against aPlanes*bPlanes steps per 8 outputs for the dense kernel. On Intel VPERMT2Q and VPOPCNTQ
// both issue on port 5 only, so 2 low planes x 1 weight plane cost ~1.7-1.9x a dense step per
// output; the work skipped is 5-20x, so compaction wins at every sparsity above ~50%.
// Chunks sharing a group are processed C at a time so the loads of a word are shared.
//
// Plane pairs keep separate accumulators (weights applied once per chunk), so a call covers at
// most 4 A planes x 4 B planes per pass; more planes take several passes.
// GCC 12's AVX-512 intrinsics start many results from _mm512_undefined_*(), which its
// -Wmaybe-uninitialized reports at every inlined use (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "gated/gated.h"
#include "gated/gated_generic.h"

namespace anyprec {
namespace {

#define AP_INLINE inline __attribute__((always_inline))

constexpr int kMaxBlock = 4;

// The lanes' words of one plane: VPERMT2Q picks lane l's word out of the group's two panels
// (idx bits 0-2: the row or column within a panel, bit 3: which panel). As asm with memory
// operands so the compiler neither keeps the panel words across chunks (each VPERMT2Q destroys
// one table and it added a register copy per permute) nor reorders them.
AP_INLINE __m512i loadPermute(const uint64_t* p0, const uint64_t* p1, __m512i idx) {
  __m512i t;
  __asm__("vmovdqu64 %[p0], %[t]\n\tvpermt2q %[p1], %[idx], %[t]"
          : [t] "=&v"(t)
          : [p0] "m"(*reinterpret_cast<const __m512i*>(p0)), [p1] "m"(*reinterpret_cast<const __m512i*>(p1)), [idx] "v"(idx));
  return t;
}

// acc += popcount(a & b): the bit-plane kernel's step.
AP_INLINE void step(__m512i& acc, __m512i a, __m512i b) {
  __m512i t;
  __asm__("vpandq %[b], %[a], %[t]\n\tvpopcntq %[t], %[t]\n\tvpaddq %[t], %[acc], %[acc]"
          : [acc] "+v"(acc), [t] "=&v"(t) : [a] "v"(a), [b] "v"(b));
}

// C chunks (8 entries each) over planes [i0, i0+LA) of A and [j0, j0+WB) of B.
template <int LA, int WB, int C>
AP_INLINE void chunks(const LowGroupArgs& t, int i0, int j0, const uint8_t* entries, int32_t* res, bool first) {
  __m512i idxA[C], idxB[C];
#pragma GCC unroll 4
  for (int q = 0; q < C; ++q) {
    const __m512i e = _mm512_cvtepu8_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(entries + 8 * q)));
    idxA[q] = e;                        // VPERMT2Q reads bits 0-3: the row
    idxB[q] = _mm512_srli_epi64(e, 4);  // the column
  }
  __m512i sum[C][LA][WB];
#pragma GCC unroll 4
  for (int q = 0; q < C; ++q)
#pragma GCC unroll 4
    for (int i = 0; i < LA; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < WB; ++j) sum[q][i][j] = _mm512_setzero_si512();

  const uint64_t* a0 = t.a + static_cast<size_t>(i0) * t.aPlaneStride;
  const uint64_t* a1 = a0 + t.aPanelStride;
  const uint64_t* b0 = t.b + static_cast<size_t>(j0) * t.bPlaneStride;
  const uint64_t* b1 = b0 + t.bPanelStride;
  const size_t end = t.kWords * kPanelRows;
  for (size_t off = 0; off < end; off += kPanelRows) {
#pragma GCC unroll 4
    for (int q = 0; q < C; ++q) {
      __m512i av[LA], bv[WB];
#pragma GCC unroll 4
      for (int i = 0; i < LA; ++i) {
        const size_t o = i * t.aPlaneStride + off;
        av[i] = loadPermute(a0 + o, a1 + o, idxA[q]);
      }
#pragma GCC unroll 4
      for (int j = 0; j < WB; ++j) {
        const size_t o = j * t.bPlaneStride + off;
        bv[j] = loadPermute(b0 + o, b1 + o, idxB[q]);
      }
#pragma GCC unroll 4
      for (int i = 0; i < LA; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < WB; ++j) step(sum[q][i][j], av[i], bv[j]);
    }
  }

  const int lastA = t.aPlanes - 1, lastB = t.bPlanes - 1;
#pragma GCC unroll 4
  for (int q = 0; q < C; ++q) {
    __m512i total = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < LA; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < WB; ++j) {
        const int gi = i0 + i, gj = j0 + j;
        const __m512i w = _mm512_sll_epi64(sum[q][i][j], _mm_cvtsi32_si128((lastA - gi) + (lastB - gj)));
        const bool neg = (t.aNegTop && gi == 0) != (t.bNegTop && gj == 0);
        total = neg ? _mm512_sub_epi64(total, w) : _mm512_add_epi64(total, w);
      }
    }
    // Narrowed to int32 (wrapping: only the total over every plane block must fit, and does).
    __m256i* dst = reinterpret_cast<__m256i*>(res + 8 * q);
    const __m256i v = _mm512_cvtepi64_epi32(total);
    _mm256_storeu_si256(dst, first ? v : _mm256_add_epi32(_mm256_loadu_si256(dst), v));
  }
}

// Chunks per pass: C * LA * WB accumulators stay at most 12 (of 32 zmm; plus 2C indexes and
// LA + WB permuted operands).
constexpr int chunksFor(int la, int wb) {
  return la * wb <= 3 ? 4 : (la * wb <= 4 ? 3 : (la * wb <= 6 ? 2 : 1));
}

template <int LA, int WB>
void block(const LowGroupArgs& t, int i0, int j0, const uint8_t* entries, size_t count, int32_t* res) {
  constexpr int C = chunksFor(LA, WB);
  const bool first = i0 == 0 && j0 == 0;
  const size_t nChunks = (count + 7) / 8;
  size_t q = 0;
  for (; q + C <= nChunks; q += C) chunks<LA, WB, C>(t, i0, j0, entries + 8 * q, res + 8 * q, first);
  switch (nChunks - q) {  // 0 .. C-1 chunks left
    case 1: chunks<LA, WB, 1>(t, i0, j0, entries + 8 * q, res + 8 * q, first); break;
    case 2: if constexpr (C > 2) chunks<LA, WB, 2>(t, i0, j0, entries + 8 * q, res + 8 * q, first); break;
    case 3: if constexpr (C > 3) chunks<LA, WB, 3>(t, i0, j0, entries + 8 * q, res + 8 * q, first); break;
    default: break;
  }
}

template <int LA>
void blockB(const LowGroupArgs& t, int i0, int j0, int wb, const uint8_t* entries, size_t count, int32_t* res) {
  switch (wb) {
    case 1: block<LA, 1>(t, i0, j0, entries, count, res); break;
    case 2: block<LA, 2>(t, i0, j0, entries, count, res); break;
    case 3: block<LA, 3>(t, i0, j0, entries, count, res); break;
    default: block<LA, 4>(t, i0, j0, entries, count, res); break;
  }
}

// The list: the gate's (LowGroupArgs::list), or one VPCOMPRESSD per row of the on-masks: entry =
// r | c << 4 (the permute indexes), row-major, one byte each. Then the chunks over every plane
// block into int32 results in list order, added into out by one scalar read-modify-write per
// listed output when the group is sparse, or per row by one VPEXPANDD (the row's results back into
// its 16 column lanes) and a masked add when it is not. Measured on a Zen 5 (gated_phases_bench,
// K = 288..576, 4/2 bits, 1- and 8-bit weights, shared machine): VPEXPANDD for every group made
// the low-plane phase up to 1.5x as long at 95% off (its cost is per row, not per output); in
// place of the scalar writes, a VPGATHERDD / VPSCATTERDD per 16 outputs came out no faster
// (within the noise of a loaded machine) and needed its own path for offsets past int32. With the
// list built here instead of in the gate, the low-plane phase took ~1.4-1.8x as long at 90-95% off
// (likely: its loads of the list waited for the overlapping row stores just made), against a gate
// ~1.2-1.3x as long with the lists.
constexpr size_t kScalarWriteBack = 56;

size_t lowGroupAvx512(const LowGroupArgs& t) {
  const uint8_t* entries = t.list;
  size_t count = t.listCount;
  if (entries == nullptr) {
    const __m512i colEntry = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
    uint8_t* own = reinterpret_cast<uint8_t*>(t.entries);
    count = 0;
    for (int r = 0; r < t.rows; ++r) {
      const __mmask16 m = t.onBits[static_cast<size_t>(r) * t.bitsStride];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(own + count),
                       _mm512_cvtepi32_epi8(_mm512_maskz_compress_epi32(m, _mm512_or_si512(colEntry, _mm512_set1_epi32(r)))));
      count += static_cast<size_t>(__builtin_popcount(m));
    }
    // Lanes past count compute output (0, 0); their results are never added into out.
    _mm_storel_epi64(reinterpret_cast<__m128i*>(own + count), _mm_setzero_si128());
    entries = own;
  }
  if (count == 0) return 0;
  int32_t* res = reinterpret_cast<int32_t*>(t.acc);  // kGroupScratch int64 hold twice the int32 needed
  for (int i0 = 0; i0 < t.aPlanes; i0 += kMaxBlock) {
    const int la = t.aPlanes - i0 < kMaxBlock ? t.aPlanes - i0 : kMaxBlock;
    for (int j0 = 0; j0 < t.bPlanes; j0 += kMaxBlock) {
      const int wb = t.bPlanes - j0 < kMaxBlock ? t.bPlanes - j0 : kMaxBlock;
      switch (la) {
        case 1: blockB<1>(t, i0, j0, wb, entries, count, res); break;
        case 2: blockB<2>(t, i0, j0, wb, entries, count, res); break;
        case 3: blockB<3>(t, i0, j0, wb, entries, count, res); break;
        default: blockB<4>(t, i0, j0, wb, entries, count, res); break;
      }
    }
  }
  if (count <= kScalarWriteBack) {
    // Sparse group: one scalar read-modify-write per listed output.
    uint32_t* out = reinterpret_cast<uint32_t*>(t.out);
    const size_t ld = t.ldOut;
    const int alphaShift = t.alphaShift;
    for (size_t e = 0; e < count; ++e) {
      const uint32_t entry = entries[e];
      out[(entry & 15) * ld + (entry >> 4)] += static_cast<uint32_t>(res[e]) << alphaShift;
    }
  } else {
    // Per row (no branch on its mask: data), VPEXPANDD puts the row's results back into its 16
    // column lanes for one masked add.
    const __m128i sh = _mm_cvtsi32_si128(t.alphaShift);
    size_t pos = 0;
    for (int r = 0; r < t.rows; ++r) {
      const __mmask16 m = t.onBits[static_cast<size_t>(r) * t.bitsStride];
      int32_t* out = t.out + static_cast<size_t>(r) * t.ldOut;
      const __m512i low = _mm512_sll_epi32(_mm512_maskz_expandloadu_epi32(m, res + pos), sh);
      _mm512_mask_storeu_epi32(out, m, _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, out), low));
      pos += static_cast<size_t>(__builtin_popcount(m));
    }
  }
  return count;
}

// The gate, 16 columns per step, in int32 lanes (wrapping; see GateArgs): the 16 int64 sums are
// narrowed by one VPERMT2D (two VPMOVQD cost twice as much here), then O_hb = (acc << shift) +
// rowTerm, one compare into a 16-bit mask register, out = O_hb (+ rowLow where on), the mask
// bytes (when asked) by a zero-masked move of ones and the row's 16-bit on-mask straight from the
// register; with lists, one VPCOMPRESSD of the row's entries appended to its group's list.
// Column words outside, rows inside: the thresholds stay in a register and a group's list count
// in a general register (row-major with 16-bit words per row, the count went through memory from
// row to row: a store-forwarding chain that cost as much as the rest of the gate at N = 16).
// What one 16-column word of the gate keeps in registers across its rows.
struct GateWord {
  size_t j;          // first column
  __mmask16 live;    // columns j.. that exist
  __m512i thr;
  uint8_t* list;     // the current group's list (with lists) and its count
  uint32_t count;
};

template <bool Full>
AP_INLINE GateWord startWord(const GateArgs& g, size_t j) {
  GateWord w{};
  w.j = j;
  w.live = Full ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (g.cols - j)) - 1);
  w.thr = Full ? _mm512_loadu_si512(g.thr + j) : _mm512_maskz_loadu_epi32(w.live, g.thr + j);
  return w;
}

// The 16 (live) int64 sums at p as int32 lanes (wrapping).
template <bool Full>
AP_INLINE __m512i narrowSums(const int64_t* p, __mmask16 live) {
  // (A constant here, not at namespace scope: a static initialiser would run AVX-512 code at load
  // on every CPU.)
  const __m512i kEven = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  if (Full) return _mm512_permutex2var_epi32(_mm512_loadu_si512(p), kEven, _mm512_loadu_si512(p + 8));
  return _mm512_permutex2var_epi32(_mm512_maskz_loadu_epi64(static_cast<__mmask8>(live), p), kEven,
                                   _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live >> 8), p + 8));
}

// Row r of the word from its 16 sums a (int32 lanes): out, mask, on-mask word, list, tile counts.
// Returns the row's on-mask.
template <bool Full, bool Lists>
AP_INLINE unsigned gateRow(const GateArgs& g, GateWord& w, int r, __m512i a) {
  const __m512i colEntry = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
  const size_t row = static_cast<size_t>(r);
  const __m512i v = _mm512_add_epi32(_mm512_sll_epi32(a, _mm_cvtsi32_si128(g.shift)), _mm512_set1_epi32(g.rowTerm[r]));
  const __mmask16 o = Full ? _mm512_cmpgt_epi32_mask(v, w.thr) : _mm512_mask_cmpgt_epi32_mask(w.live, v, w.thr);
  const __m512i res = _mm512_mask_add_epi32(v, o, v, _mm512_set1_epi32(g.rowLow[r]));
  int32_t* dst = g.out + row * g.ldOut + w.j;
  if (Full) _mm512_storeu_si512(dst, res); else _mm512_mask_storeu_epi32(dst, w.live, res);
  if (g.mask != nullptr) _mm_mask_storeu_epi8(g.mask + row * g.ldMask + w.j, w.live, _mm_maskz_mov_epi8(o, _mm_set1_epi8(1)));
  const unsigned m = o;
  g.bits[row * g.bitsStride + w.j / 16] = static_cast<uint16_t>(m);
  if (Lists) {
    // As bytes: a 16-byte store crosses a cache line a quarter of the time, a 64-byte one always.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w.list + w.count),
                     _mm512_cvtepi32_epi8(_mm512_maskz_compress_epi32(o, _mm512_or_si512(colEntry, _mm512_set1_epi32(r % 16)))));
    w.count += static_cast<uint32_t>(__builtin_popcount(m));
  }
  if (g.tileOn != nullptr) {
    uint8_t* t = g.tileOn + (row / kPanelRows) * g.tileOnStride + w.j / 8;
    t[0] = static_cast<uint8_t>(t[0] + __builtin_popcount(m & 0xFFu));
    if (g.cols - w.j > 8) t[1] = static_cast<uint8_t>(t[1] + __builtin_popcount(m >> 8));
  }
  return m;
}

// The list count of group row q of word w: where it lives between calls.
AP_INLINE uint32_t& listCount(const GateArgs& g, size_t groupRow, size_t j) {
  return g.listCounts[groupRow * g.listGroupsPerRow + j / 16];
}
AP_INLINE uint8_t* listOf(const GateArgs& g, size_t groupRow, size_t j) {
  return g.lists + (groupRow * g.listGroupsPerRow + j / 16) * g.listStride;
}

template <bool Full, bool Lists>
AP_INLINE size_t gateWord(const GateArgs& g, size_t j) {
  GateWord w = startWord<Full>(g, j);
  size_t on = 0;
  for (int r = 0; r < g.rows; ++r) {
    if (Lists && r % 16 == 0) {
      if (r > 0) listCount(g, static_cast<size_t>(r / 16 - 1), j) = w.count;
      w.count = 0;
      w.list = listOf(g, static_cast<size_t>(r / 16), j);
    }
    const __m512i a = narrowSums<Full>(g.acc + static_cast<size_t>(r) * g.ldAcc + j, w.live);
    on += static_cast<size_t>(__builtin_popcount(gateRow<Full, Lists>(g, w, r, a)));
  }
  if (Lists && g.rows > 0) listCount(g, static_cast<size_t>((g.rows - 1) / 16), j) = w.count;
  return on;
}

size_t gateAvx512(const GateArgs& g) {
  size_t on = 0;
  for (size_t j = 0; j < g.cols; j += 16) {
    const bool full = g.cols - j >= 16;
    if (g.lists != nullptr) on += full ? gateWord<true, true>(g, j) : gateWord<false, true>(g, j);
    else on += full ? gateWord<true, false>(g, j) : gateWord<false, false>(g, j);
  }
  return on;
}

// ---- the fused high planes + gate (HighGateArgs) ------------------------------------------------
//
// One call covers one A panel (mr rows) and every column of the strip, 16 columns (one gate word,
// two B panels) at a time: an mr x 2 register tile of int64 lanes (one output per lane, as in the
// bit-plane kernel: per word of K, 2 B vectors loaded and mr A words broadcast, AND + VPOPCNTQ +
// ADD per accumulator; at mr = 8 that is 16 accumulators), the plane pairs walked by diagonal
// d = i + j from the heaviest, doubling the accumulators between diagonals. Then, still in
// registers, each row's two vectors become the gate word's 16 int32 lanes (one VPERMT2D) and go
// through gateRow: the int64 sums are never stored, the gate never reads them back.

// acc[r][p] += (or -=) popcount(a(word, r) & b_p(word)) over the block's words: one plane pair.
template <int MR, int NP, bool Sub>
AP_INLINE void addPair(__m512i (&acc)[MR][NP], const uint64_t* a, const uint64_t* b, size_t bPanelStride, size_t kWords) {
  for (size_t k = 0; k < kWords; ++k) {
    const size_t off = k * kPanelRows;
    __m512i bv[NP];
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) bv[p] = _mm512_loadu_si512(b + p * bPanelStride + off);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi64(static_cast<long long>(a[off + r]));
#pragma GCC unroll 2
      for (int p = 0; p < NP; ++p) {
        __m512i t;
        if (Sub) {
          __asm__("vpandq %[b], %[a], %[t]\n\tvpopcntq %[t], %[t]\n\tvpsubq %[t], %[acc], %[acc]"
                  : [acc] "+v"(acc[r][p]), [t] "=&v"(t) : [a] "v"(av), [b] "v"(bv[p]));
        } else {
          step(acc[r][p], av, bv[p]);
        }
      }
    }
  }
}

// One gate word (columns j .. j + 8 * NP - 1, Full = all 16 live) of the panel's MR rows.
template <int MR, int NP, bool Full, bool Lists>
AP_INLINE size_t highGateWord(const HighGateArgs& h, size_t j) {
  const GateArgs& g = h.gate;
  __m512i acc[MR][NP];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_si512();
  const uint64_t* b0 = h.b + (j / kPanelRows) * h.bPanelStride;
  const int lastD = h.aPlanes + h.bPlanes - 2;
  for (int d = 0; d <= lastD; ++d) {
    if (d > 0) {
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_add_epi64(acc[r][p], acc[r][p]);
    }
    for (int i = d < h.bPlanes ? 0 : d - h.bPlanes + 1; i <= d && i < h.aPlanes; ++i) {
      const uint64_t* a = h.a + static_cast<size_t>(i) * h.aPlaneStride;
      const uint64_t* b = b0 + static_cast<size_t>(d - i) * h.bPlaneStride;
      if (h.bNegTop && d == i) addPair<MR, NP, true>(acc, a, b, h.bPanelStride, h.kWords);
      else addPair<MR, NP, false>(acc, a, b, h.bPanelStride, h.kWords);
    }
  }
  GateWord w = startWord<Full>(g, j);
  const int r0 = kPanelRows * h.panel;
  if (Lists) {
    w.list = listOf(g, static_cast<size_t>(r0 / 16), j);
    w.count = listCount(g, static_cast<size_t>(r0 / 16), j);
  }
  const __m512i kEven = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  size_t on = 0;
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    __m512i a = _mm512_permutex2var_epi32(acc[r][0], kEven, NP == 2 ? acc[r][NP - 1] : _mm512_setzero_si512());
    if (g.acc != nullptr) a = _mm512_add_epi32(a, narrowSums<Full>(g.acc + static_cast<size_t>(r0 + r) * g.ldAcc + j, w.live));
    on += static_cast<size_t>(__builtin_popcount(gateRow<Full, Lists>(g, w, r0 + r, a)));
  }
  if (Lists) listCount(g, static_cast<size_t>(r0 / 16), j) = w.count;
  return on;
}

template <int MR, bool Lists>
size_t highGateRows(const HighGateArgs& h) {
  const size_t cols = h.gate.cols;
  size_t on = 0, j = 0;
  for (; j + 16 <= cols; j += 16) on += highGateWord<MR, 2, true, Lists>(h, j);
  if (j + 8 < cols) on += highGateWord<MR, 2, false, Lists>(h, j);
  else if (j < cols) on += highGateWord<MR, 1, false, Lists>(h, j);
  return on;
}

template <bool Lists>
size_t highGateLists(const HighGateArgs& h) {
  switch (h.mr) {
    case 1: return highGateRows<1, Lists>(h);
    case 2: return highGateRows<2, Lists>(h);
    case 3: return highGateRows<3, Lists>(h);
    case 4: return highGateRows<4, Lists>(h);
    case 5: return highGateRows<5, Lists>(h);
    case 6: return highGateRows<6, Lists>(h);
    case 7: return highGateRows<7, Lists>(h);
    default: return highGateRows<8, Lists>(h);
  }
}

size_t highGateAvx512(const HighGateArgs& h) {
  return h.gate.lists != nullptr ? highGateLists<true>(h) : highGateLists<false>(h);
}

// Measured with the group kernel alone against bitTile (this Xeon, K = 288..576, 1-bit weights):
// per output and plane pair the list costs ~2.3-2.6x the dense kernel with 2+ plane pairs and
// ~4x with one (two permutes per popcount), so a micro-tile runs densely from ~64 / ratio on.
int denseTileMinOnAvx512(int lowPlanes, int bPlanes) { return lowPlanes * bPlanes == 1 ? 16 : 26; }

}  // namespace

const GatedKernelTable kAvx512GatedTable = {"avx512", lowGroupAvx512, gateAvx512, denseTileMinOnAvx512,
                                            highGateAvx512, gated_generic::gate32};

}  // namespace anyprec
