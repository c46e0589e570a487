// AVX-512 (F/BW/VL/DQ + VPOPCNTDQ) bit-plane kernels: packing and the bit-serial micro-kernel.
// Bit-identical to bitplane_scalar.cc; compiled with the avx512 flags of sources.json.
//
// Micro-kernel. One zmm of B holds word k of the 8 rows of a B panel, so every 64-bit lane
// is one output column: for an A row r we broadcast its word, AND (XOR) it with the B vector,
// VPOPCNTQ, and add into a zmm whose 8 lanes are the 8 outputs (r, panel*8 .. panel*8+7).
// No horizontal sums anywhere.
//
// Plane pairs are walked by diagonal s = i + j (weight 2^(lastS - s)), highest weight first,
// Horner style: the accumulators are shifted left by one when s advances, so no per-pair
// scratch accumulators, no per-pair shift-and-add, and one read-modify-write of args.acc at
// the end. Pairs whose sign is negative (two's-complement top plane) negate the accumulators
// around the pair's loop (acc - P == -(-acc + P)), so one loop body serves both signs.
//
// Register tiles: MR A rows x NP B panels = MR*NP zmm accumulators; per word of K, NP B
// vectors are loaded and MR words broadcast (pure load uops), then MR*NP steps. The step is
// AND + VPOPCNTQ + ADD: on Intel (Sapphire/Emerald Rapids) all three run only on ports 0/5
// for zmm and VPOPCNTQ on port 5 alone, so 1.5 cycles per 512 bit-MACs is the bound the
// ceiling loop measures; loads and the one loop counter stay off those ports. The tiles hold
// ~16 accumulators: mr=8 -> 8x2 (x4 for np=8), 4 -> 4x4, 2 -> 2x8, 1 -> 1x8 (GEMV), 3 -> 3x5,
// 5 -> 5x3, 6/7 -> 6x2/7x2, remainders of np in their own exact instances, so no work is
// spent on padding rows or panels and nothing outside mr x np*8 outputs is written. 16 rather
// than 8: VPADDQ has 1-cycle latency here so 8 would do for latency (Zen 5 needs them), but
// 8x1 tiles (1.1 loads per step instead of 0.6) measured slower in the GEMM, 8x3 no faster.
// The shift intrinsics of GCC 12 start from _mm512_undefined_epi32(): silence its false
// -Wmaybe-uninitialized (as fgemm_avx512.cc and gated_avx512.cc do).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <vector>

#include "bitplane/bitplane.h"
#include "bitplane/pops.h"

namespace anyprec {
namespace {

#define AP_INLINE inline __attribute__((always_inline))

// ---- packing ---------------------------------------------------------------------------------

// bitOf[pl]: the byte mask of plane pl's bit in every code.
AP_INLINE void planeBitMasks(int planes, __m512i (&bitOf)[kMaxPlanes]) {
  for (int pl = 0; pl < planes; ++pl) bitOf[pl] = _mm512_set1_epi8(static_cast<char>(1u << (planes - 1 - pl)));
}

// Word w of plane pl of lane r is the 64-bit mask "bit (planes-1-pl) set" over codes
// [64w, 64w+64) of row r: one VPTESTMB per plane per 64 codes. Written word-major so the
// 8 lanes of one 64-byte output line are stored close together in time.
void packPanelAvx512(const PackPanelArgs& p) {
  const size_t kWords = p.kWords;
  const size_t planeWords = kWords * kPanelRows;
  const int planes = p.planes;
  const int rows = p.rows;
  const size_t fullWords = p.k / 64;
  const unsigned tail = static_cast<unsigned>(p.k % 64);
  const __mmask64 tailMask = tail ? ((__mmask64{1} << tail) - 1) : ~__mmask64{0};

  __m512i bitOf[kMaxPlanes];
  planeBitMasks(planes, bitOf);

  for (size_t w = 0; w < kWords; ++w) {
    uint64_t* line = p.out + w * kPanelRows;
    const bool full = w < fullWords;
    for (int r = 0; r < kPanelRows; ++r) {
      if (r >= rows) {
        for (int pl = 0; pl < planes; ++pl) line[pl * planeWords + r] = 0;
        continue;
      }
      const uint8_t* src = p.codes + static_cast<size_t>(r) * p.ldCodes + w * 64;
      // Masked load for the K tail: masked-out bytes are never read (no fault past the row).
      const __m512i v = full ? _mm512_loadu_si512(src) : _mm512_maskz_loadu_epi8(tailMask, src);
      for (int pl = 0; pl < planes; ++pl) {
        line[pl * planeWords + r] = static_cast<uint64_t>(_mm512_test_epi8_mask(v, bitOf[pl]));
      }
    }
  }
}

// Stream word w of every plane: one (masked) 64-code load and one VPTESTMB per plane.
void packStreamsAvx512(const PackStreamsArgs& a) {
  __m512i bitOf[kMaxPlanes];
  planeBitMasks(a.planes, bitOf);
  for (size_t w = a.word0; w < a.word1; ++w) {
    const size_t first = w * 64;
    const size_t n = first >= a.count ? 0 : (a.count - first < 64 ? a.count - first : 64);
    // masked load for the last codes: bytes past count are never read
    const __m512i v = n == 64  ? _mm512_loadu_si512(a.codes + first)
                      : n > 0 ? _mm512_maskz_loadu_epi8((__mmask64{1} << n) - 1, a.codes + first)
                              : _mm512_setzero_si512();
    for (int pl = 0; pl < a.planes; ++pl)
      a.streams[static_cast<size_t>(pl) * a.streamStride + w] = static_cast<uint64_t>(_mm512_test_epi8_mask(v, bitOf[pl]));
  }
}

// The 8 rows of the panel side by side, one per 64-bit lane, so a finished word of a plane is one
// 64-byte store into the panel and one VPOPCNTQ. Every lane has the same fill level (the rows
// share one run layout), so the placing shifts are by a scalar count. How a lane reads the next
// bits of its run (Read):
//   Shifted: a gather of 8 bytes at the bit's byte, shifted by the bit's offset in that byte: at
//            least 56 good bits, so runs go in chunks of 56 bits;
//   Bytes:   every row and run starts on a byte (C a multiple of 8): a gather of 8 bytes is 64
//            good bits;
//   Window:  also, row r starts r*step bits after row 0 with step a multiple of 16 up to 64 (the
//            8 positions of a stride-1 conv row with C = 16, 32, 48, 64): one 64-byte load at
//            row 0's byte and a VPERMW that hands lane r its 4 words from r*step/16 on, no gather.
// Missing rows (past `rows`) are masked off the reads and stay zero.
enum class Read { Shifted, Bytes, Window };

template <Read kRead>
void gatherLanes(const GatherPanelArgs& g, __m512i base, __m512i window) {
  constexpr unsigned kChunk = kRead == Read::Shifted ? 56 : 64;
  const size_t planeWords = g.kWords * kPanelRows;
  const __mmask8 live = static_cast<__mmask8>((1u << g.rows) - 1);
  const __m512i zero = _mm512_setzero_si512();
  for (int pl = 0; pl < g.planes; ++pl) {
    const uint8_t* stream = reinterpret_cast<const uint8_t*>(g.streams + static_cast<size_t>(pl) * g.streamStride);
    uint64_t* dst = g.out + static_cast<size_t>(pl) * planeWords;
    __m512i word = zero, ones = zero;
    unsigned fill = 0;  // bits of every lane's word in use (0..63)
    for (size_t j = 0; j < g.runs; ++j) {
      for (uint64_t at = 0; at < g.runBits;) {
        const unsigned n = g.runBits - at < kChunk ? static_cast<unsigned>(g.runBits - at) : kChunk;
        const uint64_t offset = g.runOffset[j] + at;
        __m512i bits;
        if constexpr (kRead == Read::Window) {
          const __m512i line = _mm512_loadu_si512(stream + ((g.rowBit[0] + offset) >> 3));
          bits = _mm512_maskz_permutexvar_epi16(live == 0xFF ? ~__mmask32{0} : _cvtu32_mask32((1u << (4 * g.rows)) - 1),
                                                window, line);
        } else {
          const __m512i bit = _mm512_add_epi64(base, _mm512_set1_epi64(static_cast<long long>(offset)));
          bits = _mm512_mask_i64gather_epi64(zero, live, _mm512_srli_epi64(bit, 3), stream, 1);
          if constexpr (kRead == Read::Shifted) bits = _mm512_srlv_epi64(bits, _mm512_and_si512(bit, _mm512_set1_epi64(7)));
        }
        if (n < 64) bits = _mm512_and_si512(bits, _mm512_set1_epi64(static_cast<long long>((uint64_t{1} << n) - 1)));
        word = _mm512_or_si512(word, _mm512_sll_epi64(bits, _mm_cvtsi32_si128(static_cast<int>(fill))));
        if (fill + n >= 64) {
          _mm512_storeu_si512(dst, word);
          dst += kPanelRows;
          ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(word));
          // what did not fit: bits >> (64 - fill), none when fill is 0 (a count of 64 gives 0)
          word = _mm512_srl_epi64(bits, _mm_cvtsi32_si128(static_cast<int>(64 - fill)));
          fill = fill + n - 64;
        } else {
          fill += n;
        }
        at += n;
      }
    }
    if (fill > 0) {
      _mm512_storeu_si512(dst, word);
      ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(word));
    }
    alignas(64) uint64_t count[kPanelRows];
    _mm512_store_si512(count, ones);
    for (int r = 0; r < g.rows; ++r) g.planePop[r * g.planes + pl] = static_cast<int32_t>(count[r]);
  }
}

void gatherPanelAvx512(const GatherPanelArgs& g) {
  alignas(64) uint64_t rowBit[kPanelRows] = {};
  uint64_t anyBit = 0;  // OR of every start: its low 3 bits say whether all are on bytes
  for (int r = 0; r < g.rows; ++r) anyBit |= rowBit[r] = g.rowBit[r];
  for (size_t j = 0; j < g.runs; ++j) anyBit |= g.runOffset[j];
  const __m512i base = _mm512_load_si512(rowBit);
  if ((anyBit & 7) != 0) return gatherLanes<Read::Shifted>(g, base, base);
  const uint64_t step = g.rows > 1 ? rowBit[1] - rowBit[0] : 16;
  bool even = step % 16 == 0 && step <= 64 && rowBit[1] >= rowBit[0];
  for (int r = 2; r < g.rows && even; ++r) even = rowBit[r] - rowBit[0] == r * step;
  if (!even) return gatherLanes<Read::Bytes>(g, base, base);
  alignas(64) uint16_t index[32];
  for (int r = 0; r < kPanelRows; ++r)
    for (int i = 0; i < 4; ++i) index[4 * r + i] = static_cast<uint16_t>(r * step / 16 + i);
  gatherLanes<Read::Window>(g, base, _mm512_load_si512(index));
}

// A band of even panels (GatherPanelsArgs). Where every start is on a byte and the rows are 16..64
// bits apart in steps of 16 (the Window read above), where each 64-bit read of a row lands in its
// output words is the same for every panel and plane: that walk is worked out once per call, and
// each panel and plane is then a straight pass over it (no per-panel set-up, no fill bookkeeping).
// Other layouts take gatherPanel per panel.
void gatherPanelsAvx512(const GatherPanelsArgs& g) {
  const size_t panelWords = static_cast<size_t>(g.planes) * g.kWords * kPanelRows;
  const size_t panelPops = static_cast<size_t>(kPanelRows) * g.planes;
  uint64_t anyBit = 0;
  for (size_t j = 0; j < g.runs; ++j) anyBit |= g.runOffset[j];
  for (size_t q = 0; q < g.panels; ++q) anyBit |= g.panelBit[q];
  if ((anyBit & 7) != 0 || g.rowStep % 16 != 0 || g.rowStep > 64) {
    uint64_t rowBit[kPanelRows];
    for (size_t q = 0; q < g.panels; ++q) {
      for (int r = 0; r < kPanelRows; ++r) rowBit[r] = g.panelBit[q] + static_cast<uint64_t>(r) * g.rowStep;
      gatherPanelAvx512({g.streams, g.streamStride, g.planes, rowBit, kPanelRows, g.runOffset, g.runs, g.runBits,
                         g.kWords, g.out + q * panelWords, g.planePop + q * panelPops});
    }
    return;
  }
  // One read: 64 bits at byte `byte` past the row's start, the low bits of `mask` kept, placed at
  // bit `fill` of the word being filled; `full`: that word is complete after it (stored, and the
  // bits that did not fit start the next one).
  struct Read64 {
    uint64_t byte, mask;
    int fill;
    bool full;
  };
  std::vector<Read64> reads;
  reads.reserve(g.runs * ((g.runBits + 63) / 64));
  unsigned fill = 0;
  for (size_t j = 0; j < g.runs; ++j) {
    for (uint64_t at = 0; at < g.runBits;) {
      const unsigned n = g.runBits - at < 64 ? static_cast<unsigned>(g.runBits - at) : 64u;
      reads.push_back({(g.runOffset[j] + at) >> 3, n < 64 ? (uint64_t{1} << n) - 1 : ~uint64_t{0},
                       static_cast<int>(fill), fill + n >= 64});
      fill = fill + n >= 64 ? fill + n - 64 : fill + n;
      at += n;
    }
  }
  const bool partial = fill > 0;  // the last word is not full: stored after the reads
  alignas(64) uint16_t index[32];
  for (int r = 0; r < kPanelRows; ++r)
    for (int i = 0; i < 4; ++i) index[4 * r + i] = static_cast<uint16_t>(r * g.rowStep / 16 + i);
  const __m512i window = _mm512_load_si512(index);
  const uint8_t* streams = reinterpret_cast<const uint8_t*>(g.streams);
  const size_t planeBytes = g.streamStride * sizeof(uint64_t);
  for (size_t q = 0; q < g.panels; ++q) {
    const uint8_t* row0 = streams + (g.panelBit[q] >> 3);
    int32_t* pops = g.planePop + q * panelPops;
    for (int pl = 0; pl < g.planes; ++pl) {
      const uint8_t* base = row0 + static_cast<size_t>(pl) * planeBytes;
      uint64_t* dst = g.out + q * panelWords + static_cast<size_t>(pl) * g.kWords * kPanelRows;
      __m512i word = _mm512_setzero_si512(), ones = _mm512_setzero_si512();
      for (const Read64& rd : reads) {
        __m512i bits = _mm512_permutexvar_epi16(window, _mm512_loadu_si512(base + rd.byte));
        bits = _mm512_and_si512(bits, _mm512_set1_epi64(static_cast<long long>(rd.mask)));
        word = _mm512_or_si512(word, _mm512_sll_epi64(bits, _mm_cvtsi32_si128(rd.fill)));
        if (rd.full) {
          _mm512_storeu_si512(dst, word);
          dst += kPanelRows;
          ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(word));
          word = _mm512_srl_epi64(bits, _mm_cvtsi32_si128(64 - rd.fill));  // 0 when fill is 0
        }
      }
      if (partial) {
        _mm512_storeu_si512(dst, word);
        ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(word));
      }
      if (g.planes == 1) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(pops), _mm512_cvtepi64_epi32(ones));
      } else {
        alignas(64) uint64_t count[kPanelRows];
        _mm512_store_si512(count, ones);
        for (int r = 0; r < kPanelRows; ++r) pops[r * g.planes + pl] = static_cast<int32_t>(count[r]);
      }
    }
  }
}

// ---- micro-kernel ------------------------------------------------------------------------------

// The inner step, acc += popcount(a & b) (or a ^ b): exactly the three instructions of the
// ceiling loop. Written as asm so GCC cannot rematerialise or shuffle the accumulators (with
// plain intrinsics it kept a second copy of every accumulator and spilled some in the loop).
template <bool Xor>
AP_INLINE void step(__m512i& acc, __m512i a, __m512i b) {
  __m512i t;
  if (Xor) {
    __asm__("vpxorq %[b], %[a], %[t]\n\tvpopcntq %[t], %[t]\n\tvpaddq %[t], %[acc], %[acc]"
            : [acc] "+v"(acc), [t] "=&v"(t) : [a] "v"(a), [b] "v"(b));
  } else {
    __asm__("vpandq %[b], %[a], %[t]\n\tvpopcntq %[t], %[t]\n\tvpaddq %[t], %[acc], %[acc]"
            : [acc] "+v"(acc), [t] "=&v"(t) : [a] "v"(a), [b] "v"(b));
  }
}

// acc[r][p] += sum_k popcount(op(A(k, r), B_p(k))) for one plane pair.
template <int MR, int NP, bool Xor>
AP_INLINE void pairLoop(__m512i (&acc)[MR][NP], const uint64_t* a, const uint64_t* b,
                        size_t bPanelStride, size_t kWords) {
  const uint64_t* bp[NP];
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p) bp[p] = b + p * bPanelStride;
  const size_t end = kWords * kPanelRows;
  size_t off = 0;
  do {  // kWords >= 1 (interface); a do-loop also spares GCC a zero-trip path with acc copies
    __m512i bv[NP];
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) bv[p] = _mm512_loadu_si512(bp[p] + off);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi64(static_cast<long long>(a[off + r]));
#pragma GCC unroll 8
      for (int p = 0; p < NP; ++p) {
        step<Xor>(acc[r][p], av, bv[p]);
      }
    }
    off += kPanelRows;
  } while (off < end);
}

template <int MR, int NP>
AP_INLINE void negate(__m512i (&acc)[MR][NP]) {
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_sub_epi64(_mm512_setzero_si512(), acc[r][p]);
  }
}

// One MR x NP register tile (all mr rows, panels panel0..) over every plane pair and kWords.
template <int MR, int NP, bool Xor>
void tile(const BitTileArgs& t, int panel0) {
  __m512i acc[MR][NP];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_si512();
  }
  const int aPlanes = t.aPlanes, bPlanes = t.bPlanes;
  const int lastS = aPlanes + bPlanes - 2;
  const uint64_t* a0 = t.a;
  const uint64_t* b0 = t.b + static_cast<size_t>(panel0) * t.bPanelStride;
  for (int s = 0; s <= lastS; ++s) {
    if (s > 0) {
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_add_epi64(acc[r][p], acc[r][p]);  // << 1
      }
    }
    const int iLo = s - (bPlanes - 1) > 0 ? s - (bPlanes - 1) : 0;
    const int iHi = s < aPlanes - 1 ? s : aPlanes - 1;
    for (int i = iLo; i <= iHi; ++i) {
      const int j = s - i;
      const bool neg = (t.aNegTop && i == 0) != (t.bNegTop && j == 0);
      const uint64_t* a = a0 + static_cast<size_t>(i) * t.aPlaneStride;
      const uint64_t* b = b0 + static_cast<size_t>(j) * t.bPlaneStride;
      // A negative pair subtracts: acc - P == -(-acc + P), so one loop body serves both signs.
      if (neg) negate(acc);
      pairLoop<MR, NP, Xor>(acc, a, b, t.bPanelStride, t.kWords);
      if (neg) negate(acc);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    int64_t* dst = t.acc + static_cast<size_t>(r) * t.ldAcc + static_cast<size_t>(panel0) * kPanelRows;
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      int64_t* d = dst + p * kPanelRows;
      _mm512_storeu_si512(d, t.overwrite ? acc[r][p] : _mm512_add_epi64(_mm512_loadu_si512(d), acc[r][p]));
    }
  }
}

// Accumulator budget per register tile (zmm registers: 32 = accumulators + NP B + temps).
constexpr int kTileAcc = 16;
constexpr int maxPanels(int mr) {
  return kTileAcc / mr >= 8 ? 8 : (kTileAcc / mr < 1 ? 1 : kTileAcc / mr);
}

// Calls tile<MR, n, Xor> for a runtime n in 1..NPMax.
template <int MR, int NPMax, bool Xor>
AP_INLINE void tileN(const BitTileArgs& t, int n, int panel0) {
  if constexpr (NPMax >= 1) {
    if (n == NPMax) {
      tile<MR, NPMax, Xor>(t, panel0);
    } else {
      tileN<MR, NPMax - 1, Xor>(t, n, panel0);
    }
  }
}

template <int MR, bool Xor>
void rowsTile(const BitTileArgs& t) {
  constexpr int kNP = maxPanels(MR);
  int p = 0;
  for (; p + kNP <= t.np; p += kNP) tile<MR, kNP, Xor>(t, p);
  if (p < t.np) tileN<MR, kNP - 1, Xor>(t, t.np - p, p);
}

template <bool Xor>
void bitTileOp(const BitTileArgs& t) {
  switch (t.mr) {
    case 1: rowsTile<1, Xor>(t); break;
    case 2: rowsTile<2, Xor>(t); break;
    case 3: rowsTile<3, Xor>(t); break;
    case 4: rowsTile<4, Xor>(t); break;
    case 5: rowsTile<5, Xor>(t); break;
    case 6: rowsTile<6, Xor>(t); break;
    case 7: rowsTile<7, Xor>(t); break;
    case 8: rowsTile<8, Xor>(t); break;
    default: break;
  }
}

void bitTileAvx512(const BitTileArgs& t) {
  if (t.kWords == 0) zeroTileAccIfOverwrite(t);  // else tile() stores its sums (t.overwrite)
  if (t.kWords == 0 || t.mr <= 0 || t.np <= 0) return;
  if (t.useXor) {
    bitTileOp<true>(t);
  } else {
    bitTileOp<false>(t);
  }
}

// ---- popcount ceiling ----------------------------------------------------------------------------

// The kernel's inner step with nothing else: a 4 x 4 register tile (4 "A" vectors, 4 "B"
// vectors, 16 independent accumulators), AND + VPOPCNTQ + ADD per accumulator. The empty asm
// makes the A vectors opaque each iteration (costs no instruction) so nothing can be hoisted.
constexpr int kCeilA = 4, kCeilB = 4;

uint64_t ceilingAvx512(uint64_t iters, uint64_t seed) {
  __m512i av[kCeilA], bv[kCeilB], acc[kCeilA][kCeilB];
  for (int r = 0; r < kCeilA; ++r)
    av[r] = _mm512_set1_epi64(static_cast<long long>(seed * (2 * r + 1) + 0x9E3779B97F4A7C15ull * r));
  for (int p = 0; p < kCeilB; ++p) {
    bv[p] = _mm512_set_epi64(static_cast<long long>(seed ^ (0xF0F0F0F0F0F0F0F0ull + p)), 1, 2, 3, 5, 8, 13,
                             static_cast<long long>(~seed + p));
  }
  for (int r = 0; r < kCeilA; ++r)
    for (int p = 0; p < kCeilB; ++p) acc[r][p] = _mm512_setzero_si512();
  for (uint64_t it = 0; it < iters; ++it) {
    __asm__ volatile("" : "+v"(av[0]), "+v"(av[1]), "+v"(av[2]), "+v"(av[3]));
#pragma GCC unroll 4
    for (int r = 0; r < kCeilA; ++r) {
#pragma GCC unroll 4
      for (int p = 0; p < kCeilB; ++p) {
        acc[r][p] = _mm512_add_epi64(acc[r][p], _mm512_popcnt_epi64(_mm512_and_si512(av[r], bv[p])));
      }
    }
  }
  __m512i s = _mm512_setzero_si512();
  for (int r = 0; r < kCeilA; ++r)
    for (int p = 0; p < kCeilB; ++p) s = _mm512_add_epi64(s, acc[r][p]);
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, s);
  uint64_t sum = 0;
  for (uint64_t x : lanes) sum += x;
  return sum;
}

}  // namespace

namespace {
void panelPopsAvx512(const uint64_t* panel, int rows, int planes, size_t kWords, int32_t* planePop) {
  panelPopsWith(panel, rows, planes, kWords, planePop, popcountBuiltin);
}

}  // namespace

const KernelTable kAvx512Table = {"avx512",        packPanelAvx512,   bitTileAvx512,    ceilingAvx512,
                                  uint64_t{kCeilA} * kCeilB * 512, panelPopsAvx512, packStreamsAvx512,
                                  gatherPanelAvx512, gatherPanelsAvx512};

}  // namespace anyprec
