// AVX2 bit-plane kernels: packing and the bit-serial micro-kernel (vpshufb nibble popcount).
// Bit-identical to bitplane_scalar.cc; compiled with the avx2 flags of sources.json
// (-mavx2 -mfma -mpopcnt -mbmi2, no AVX-512).
//
// Micro-kernel. One ymm of B holds word k of 4 rows of a B panel (a panel is two ymm), so every
// 64-bit lane is one output column: for an A row r we broadcast its word, AND (XOR) it with the
// B vector, count bits per byte with a 16-entry vpshufb table (Mula), and add the byte counts
// into a ymm accumulator whose 4 lanes are the outputs (r, 4v .. 4v+3). After at most 31 words
// (each step adds <= 8 to a byte, 31 * 8 = 248 < 256) vpsadbw against zero folds the bytes of
// each 64-bit lane into that lane: one output per lane, no horizontal sums.
//
// The inner step is 6 vector ALU uops per 256 bit-MACs and nothing else:
//     lo = b & aLo;  hi = (b >> 4) & aHi;  acc += lut[lo] + lut[hi]
// because the nibble masks are moved off the hot path: aLo = a & 0x0F.., aHi = (a >> 4) & 0x0F..
// are computed once per chunk of K into a small stack buffer and broadcast straight from memory
// (vpbroadcastq m64 is a load uop, no ALU), and b >> 4 (vpsrlw) is computed once per B vector
// and shared by every row of the tile. XOR (1 x 1 bipolar only) needs both nibbles of b masked
// (3 uops per B vector instead of 1), because the XOR of a clean and a dirty nibble is dirty.
//
// Register tiles: R A rows (all mr rows of the call, templated 1..8) x V B vectors. The per-B-
// vector overhead (vpsrlw) is shared by the R rows, so R is as large as the call allows; V then
// fills the 16 ymm registers: R*V accumulators + lut + b, b>>4 per vector + 2 broadcast temps.
// R >= 5 -> V = 1, R = 3..4 -> V = 2, R = 1..2 -> V = 4. Latency is no issue: an accumulator
// takes one add per step while the step issues 6*R*V uops.
//
// Plane pairs: the loop is chunk (<= 31 words of K) -> B plane j -> A plane i -> tiles, so the
// B chunk of one plane (<= 16 KiB) and the A masks of every plane (<= 32 KiB, built once per
// chunk) stay in L1 while all pairs use them. At the end of a chunk each accumulator is
// vpsadbw-folded, shifted by the pair's weight and added to (or subtracted from) args.acc.
#include <immintrin.h>

#include <cstring>

#include "bitplane.h"

namespace anyprec {
namespace {

#define AP_INLINE inline __attribute__((always_inline))

constexpr uint64_t kLowNibbles = 0x0F0F0F0F0F0F0F0Full;
constexpr size_t kChunkWords = 31;  // byte counters: <= 8 per step, 31 * 8 = 248 <= 255

AP_INLINE __m256i popLut() {
  return _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                          0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
}

// ---- packing ---------------------------------------------------------------------------------

// 32 codes -> 32 bits of one plane: move the wanted bit to bit 7 of each byte and vpmovmskb.
// The first shift is a 16-bit vpsllw by (8 - planes), which drags the top bits of each low
// byte into the low bits of the high byte; every later shift is a per-byte doubling (vpaddb).
// Plane p reads bit 7 - p >= 8 - planes of the shifted byte, above the dragged-in bits, so it
// is exactly bit (planes - 1 - p) of the code, whatever the code's bits above `planes` hold
// (the same bits the scalar reference reads).
void packPanelAvx2(const PackPanelArgs& p) {
  const size_t kWords = p.kWords;
  const size_t planeWords = kWords * kPanelRows;
  const int planes = p.planes;
  const int rows = p.rows;
  const size_t fullWords = p.k / 64;
  const size_t tail = p.k % 64;
  const __m128i firstShift = _mm_cvtsi32_si128(8 - planes);

  alignas(32) uint8_t tailBuf[64];
  for (size_t w = 0; w < kWords; ++w) {
    uint64_t* out = p.out + w * kPanelRows;
    for (int r = 0; r < rows; ++r) {
      const uint8_t* src = p.codes + static_cast<size_t>(r) * p.ldCodes + w * 64;
      __m256i v0, v1;
      if (w < fullWords) {
        v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
        v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32));
      } else {  // K tail: copy exactly the row's remaining codes, zeros after them
        std::memset(tailBuf, 0, sizeof tailBuf);
        std::memcpy(tailBuf, src, tail);
        v0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tailBuf));
        v1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tailBuf + 32));
      }
      v0 = _mm256_sll_epi16(v0, firstShift);
      v1 = _mm256_sll_epi16(v1, firstShift);
      for (int pl = 0; pl < planes; ++pl) {
        const uint32_t lo = static_cast<uint32_t>(_mm256_movemask_epi8(v0));
        const uint32_t hi = static_cast<uint32_t>(_mm256_movemask_epi8(v1));
        out[pl * planeWords + r] = lo | (uint64_t{hi} << 32);
        v0 = _mm256_add_epi8(v0, v0);
        v1 = _mm256_add_epi8(v1, v1);
      }
    }
    for (int r = rows; r < kPanelRows; ++r) {
      for (int pl = 0; pl < planes; ++pl) out[pl * planeWords + r] = 0;
    }
  }
}

// ---- micro-kernel ----------------------------------------------------------------------------

// One register tile over one chunk of K: R rows x V B vectors, L <= 31 words.
//   aMask: [L][R][2] words (a & 0x0F.., (a >> 4) & 0x0F..) of one A plane
//   b:     first B vector of the tile at the chunk start; vector v is at
//          b + (v / 2) * bPanelStride + (v % 2) * 4 (V == 1, or the tile starts at an even vector)
//   acc:   args.acc at row 0, column 4 * (first vector)
template <int R, int V, bool X>
AP_INLINE void tileChunk(const uint64_t* aMask, const uint64_t* b, size_t bPanelStride, size_t L,
                         int64_t* acc, size_t ldAcc, int shift, bool negative) {
  const __m256i lut = popLut();
  const __m256i nib = _mm256_set1_epi64x(static_cast<long long>(kLowNibbles));
  const uint64_t* bv[V];
  for (int v = 0; v < V; ++v) bv[v] = b + (v / 2) * bPanelStride + (v % 2) * 4;

  __m256i c[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) c[r][v] = _mm256_setzero_si256();

  for (size_t k = 0; k < L; ++k) {
    __m256i bl[V], bh[V];
    for (int v = 0; v < V; ++v) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bv[v] + k * kPanelRows));
      if (X) {
        bl[v] = _mm256_and_si256(x, nib);
        bh[v] = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
      } else {
        bl[v] = x;
        bh[v] = _mm256_srli_epi16(x, 4);
      }
    }
    const uint64_t* am = aMask + k * (2 * R);
    for (int r = 0; r < R; ++r) {
      const __m256i al = _mm256_set1_epi64x(static_cast<long long>(am[2 * r]));
      const __m256i ah = _mm256_set1_epi64x(static_cast<long long>(am[2 * r + 1]));
      for (int v = 0; v < V; ++v) {
        const __m256i lo = X ? _mm256_xor_si256(al, bl[v]) : _mm256_and_si256(al, bl[v]);
        const __m256i hi = X ? _mm256_xor_si256(ah, bh[v]) : _mm256_and_si256(ah, bh[v]);
        const __m256i s = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
        c[r][v] = _mm256_add_epi8(c[r][v], s);
      }
    }
  }

  const __m256i zero = _mm256_setzero_si256();
  const __m128i cnt = _mm_cvtsi32_si128(shift);
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      const __m256i s = _mm256_sll_epi64(_mm256_sad_epu8(c[r][v], zero), cnt);
      __m256i* dst = reinterpret_cast<__m256i*>(acc + r * ldAcc + 4 * v);
      const __m256i t = _mm256_loadu_si256(dst);
      _mm256_storeu_si256(dst, negative ? _mm256_sub_epi64(t, s) : _mm256_add_epi64(t, s));
    }
  }
}

template <int R, bool X>
void bitTileRows(const BitTileArgs& t) {
  constexpr int VB = R >= 5 ? 1 : (R >= 3 ? 2 : 4);
  // Nibble masks of every used A plane for one chunk: [plane][k][row][lo, hi].
  alignas(32) uint64_t aMask[kMaxPlanes * kChunkWords * R * 2];
  const size_t chunkStride = kChunkWords * R * 2;

  // Chunks of near-equal length (e.g. 32 words -> 16 + 16, not 31 + 1).
  const size_t nChunks = (t.kWords + kChunkWords - 1) / kChunkWords;
  const size_t baseLen = t.kWords / nChunks, longer = t.kWords % nChunks;
  const int nv = 2 * t.np;

  size_t k0 = 0;
  for (size_t ch = 0; ch < nChunks; ++ch) {
    const size_t L = baseLen + (ch < longer ? 1 : 0);
    for (int i = 0; i < t.aPlanes; ++i) {
      const uint64_t* a = t.a + i * t.aPlaneStride + k0 * kPanelRows;
      uint64_t* m = aMask + i * chunkStride;
      for (size_t k = 0; k < L; ++k) {
        for (int r = 0; r < R; ++r) {
          const uint64_t w = a[k * kPanelRows + r];
          m[(k * R + r) * 2] = w & kLowNibbles;
          m[(k * R + r) * 2 + 1] = (w >> 4) & kLowNibbles;
        }
      }
    }
    for (int j = 0; j < t.bPlanes; ++j) {
      const uint64_t* bj = t.b + j * t.bPlaneStride + k0 * kPanelRows;
      for (int i = 0; i < t.aPlanes; ++i) {
        const int shift = (t.aPlanes - 1 - i) + (t.bPlanes - 1 - j);
        const bool negative = (t.aNegTop && i == 0) != (t.bNegTop && j == 0);
        const uint64_t* m = aMask + i * chunkStride;
        int v = 0;
        for (; v + VB <= nv; v += VB) {
          tileChunk<R, VB, X>(m, bj + (v / 2) * t.bPanelStride + (v % 2) * 4, t.bPanelStride, L,
                              t.acc + 4 * v, t.ldAcc, shift, negative);
        }
        if (VB == 4 && v < nv) {  // odd np: one panel (2 vectors) left
          tileChunk<R, 2, X>(m, bj + (v / 2) * t.bPanelStride, t.bPanelStride, L, t.acc + 4 * v,
                             t.ldAcc, shift, negative);
        }
      }
    }
    k0 += L;
  }
}

template <bool X>
void bitTileMode(const BitTileArgs& t) {
  switch (t.mr) {
    case 1: bitTileRows<1, X>(t); break;
    case 2: bitTileRows<2, X>(t); break;
    case 3: bitTileRows<3, X>(t); break;
    case 4: bitTileRows<4, X>(t); break;
    case 5: bitTileRows<5, X>(t); break;
    case 6: bitTileRows<6, X>(t); break;
    case 7: bitTileRows<7, X>(t); break;
    case 8: bitTileRows<8, X>(t); break;
    default: break;
  }
}

void bitTileAvx2(const BitTileArgs& t) {
  if (t.kWords == 0 || t.np <= 0) return;
  if (t.useXor) {
    bitTileMode<true>(t);
  } else {
    bitTileMode<false>(t);
  }
}

// ---- ceiling ---------------------------------------------------------------------------------

// The micro-kernel's inner step with every operand already in a register: per accumulator and
// step two ANDs, two vpshufb, two vpaddb (lo + hi, then into the accumulator) = 256 bit-MACs;
// vpsadbw folds every 31 steps as in the kernel. Six accumulators fed by six input registers
// (12 distinct AND pairs, so nothing can be shared or hoisted); the empty asm marks the inputs
// as changed each step without emitting an instruction. The kernel's loads, b >> 4 and loop
// control are left out, so this is the best case of its instruction sequence.
constexpr int kCeilAcc = 6;

uint64_t ceilingAvx2(uint64_t iters, uint64_t seed) {
  const __m256i lut = popLut();
  __m256i x0 = _mm256_set1_epi64x(static_cast<long long>(seed & kLowNibbles));
  __m256i x1 = _mm256_set1_epi64x(static_cast<long long>((seed >> 4) & kLowNibbles));
  __m256i x2 = _mm256_set1_epi64x(static_cast<long long>((seed * 3) & kLowNibbles));
  __m256i x3 = _mm256_set1_epi64x(static_cast<long long>((seed * 5 + 1) & kLowNibbles));
  __m256i x4 = _mm256_set1_epi64x(static_cast<long long>((seed * 7 + 3) & kLowNibbles));
  __m256i x5 = _mm256_set1_epi64x(static_cast<long long>((seed * 11 + 5) & kLowNibbles));
  __m256i total = _mm256_setzero_si256();
  const __m256i zero = _mm256_setzero_si256();

  auto step = [&lut](__m256i acc, __m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i s = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(a, b)),
                                      _mm256_shuffle_epi8(lut, _mm256_and_si256(c, d)));
    return _mm256_add_epi8(acc, s);
  };

  uint64_t left = iters;
  while (left > 0) {
    const uint64_t n = left < kChunkWords ? left : kChunkWords;
    left -= n;
    __m256i c0 = zero, c1 = zero, c2 = zero, c3 = zero, c4 = zero, c5 = zero;
    for (uint64_t it = 0; it < n; ++it) {
      __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3), "+x"(x4), "+x"(x5));
      c0 = step(c0, x0, x1, x2, x3);
      c1 = step(c1, x0, x2, x1, x3);
      c2 = step(c2, x0, x3, x1, x2);
      c3 = step(c3, x0, x4, x1, x4);
      c4 = step(c4, x0, x5, x2, x4);
      c5 = step(c5, x1, x5, x2, x5);
    }
    total = _mm256_add_epi64(total, _mm256_sad_epu8(c0, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(c1, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(c2, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(c3, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(c4, zero));
    total = _mm256_add_epi64(total, _mm256_sad_epu8(c5, zero));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace

const KernelTable kAvx2Table = {"avx2", packPanelAvx2, bitTileAvx2, ceilingAvx2, kCeilAcc * 256};

}  // namespace anyprec
