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
// fills the 16 ymm registers (R*V accumulators + lut + 2 temps + operands, see tileChunk):
// 1x8, 2x3, 3x2, 4x2 (4x1 for XOR), 5x1 .. 8x1; 2*np vectors that V does not divide end with a
// narrower tile. Latency is no issue: an accumulator takes one add per step while the step
// issues 6*R*V uops. The steps are small asm blocks because GCC, given intrinsics, hoisted the
// broadcasts and spilled accumulators of the 8-row tile.
//
// Plane pairs: the loop is chunk (<= 31 words of K) -> B plane j -> A plane i -> tiles, so the
// B chunk of one plane (<= 16 KiB) and the A masks of every plane (<= 32 KiB, built once per
// chunk) stay in L1 while all pairs use them. At the end of a chunk each accumulator is
// vpsadbw-folded, shifted by the pair's weight and added to (or subtracted from) args.acc.
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "bitplane/bitplane.h"
#include "bitplane/popstep_avx2.h"
#include "bitplane/pops.h"

namespace anyprec {
namespace {

#define AP_INLINE inline __attribute__((always_inline))
#define AP_LAMBDA_INLINE __attribute__((always_inline))

constexpr uint64_t kLowNibbles = 0x0F0F0F0F0F0F0F0Full;
constexpr size_t kChunkWords = 31;  // byte counters: <= 8 per step, 31 * 8 = 248 <= 255
constexpr size_t kMaskWords = 2 * kPanelRows;  // per word of K: lo nibbles of 8 rows, hi nibbles


// ---- packing ---------------------------------------------------------------------------------

// 32 codes -> 32 bits of one plane: move the wanted bit to bit 7 of each byte and vpmovmskb.
// The first shift is a 16-bit vpsllw by (8 - planes), which drags the top bits of each low
// byte into the low bits of the high byte; every later shift is a per-byte doubling (vpaddb).
// Plane p reads bit 7 - p >= 8 - planes of the shifted byte, above the dragged-in bits, so it
// is exactly bit (planes - 1 - p) of the code, whatever the code's bits above `planes` hold
// (the same bits the scalar reference reads).
// The plane words of 64 codes (v0: codes 0..31, v1: 32..63): word of plane pl to out[pl * stride].
// firstShift = 8 - planes moves plane 0's bit to each byte's top bit (movemask); each doubling
// brings up the next plane's.
inline void planeWordsOf(__m256i v0, __m256i v1, int planes, __m128i firstShift, uint64_t* out, size_t stride) {
  v0 = _mm256_sll_epi16(v0, firstShift);
  v1 = _mm256_sll_epi16(v1, firstShift);
  for (int pl = 0; pl < planes; ++pl) {
    const uint32_t lo = static_cast<uint32_t>(_mm256_movemask_epi8(v0));
    const uint32_t hi = static_cast<uint32_t>(_mm256_movemask_epi8(v1));
    out[static_cast<size_t>(pl) * stride] = lo | (uint64_t{hi} << 32);
    v0 = _mm256_add_epi8(v0, v0);
    v1 = _mm256_add_epi8(v1, v1);
  }
}

void packPanelAvx2(const PackPanelArgs& p) {
  const size_t kWords = p.kWords;
  const size_t planeWords = kWords * kPanelRows;
  const int planes = p.planes;
  const int rows = p.rows;
  const size_t fullWords = p.k / 64;
  const size_t tail = p.k % 64;
  const __m128i firstShift = _mm_cvtsi32_si128(8 - planes);

  alignas(32) uint8_t tailBuf[64];
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = p.codes + static_cast<size_t>(r) * p.ldCodes;
    uint64_t* out = p.out + r;
    for (size_t w = 0; w < kWords; ++w, out += kPanelRows) {
      const uint8_t* src = row + w * 64;
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
      planeWordsOf(v0, v1, planes, firstShift, out, planeWords);
    }
  }
  for (int r = rows; r < kPanelRows; ++r) {
    for (size_t w = 0; w < kWords * planes; ++w) p.out[w * kPanelRows + r] = 0;
  }
}

// Stream word w of every plane from 64 codes (the last codes through a zeroed copy).
void packStreamsAvx2(const PackStreamsArgs& a) {
  const __m128i firstShift = _mm_cvtsi32_si128(8 - a.planes);
  alignas(32) uint8_t tailBuf[64];
  for (size_t w = a.word0; w < a.word1; ++w) {
    const size_t first = w * 64;
    const size_t n = first >= a.count ? 0 : (a.count - first < 64 ? a.count - first : 64);
    const uint8_t* src = a.codes + (n ? first : 0);
    if (n < 64) {
      std::memset(tailBuf, 0, sizeof tailBuf);
      if (n) std::memcpy(tailBuf, src, n);
      src = tailBuf;
    }
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32));
    planeWordsOf(v0, v1, a.planes, firstShift, a.streams + w, a.streamStride);
  }
}

// ---- micro-kernel ----------------------------------------------------------------------------

// The same step for a single row (R = 1), with b >> 4 (and for XOR the masks of b) folded in
// and b read from memory: GCC otherwise loads b twice and adds register moves. The shift takes b
// from a register: VPSRLW with a memory source exists only in EVEX (AVX-512BW), and the assembler
// silently encoded it so, which raised SIGILL on AVX2-only CPUs (scripts/check-isa-objects.sh
// now refuses any EVEX instruction in a non-AVX-512 object).
template <bool X>
AP_INLINE void stepLoad(__m256i& c, __m256i al, __m256i ah, const void* bp, __m256i lut, __m256i nib) {
  const __m256i& b = *static_cast<const __m256i*>(bp);
  __m256i t0, t1;
  if (X) {
    __asm__("vmovdqu %[b], %[t1]\n\t"
            "vpsrlw $4, %[t1], %[t1]\n\t"
            "vpand %[b], %[nib], %[t0]\n\t"
            "vpand %[t1], %[nib], %[t1]\n\t"
            "vpxor %[t0], %[al], %[t0]\n\t"
            "vpxor %[t1], %[ah], %[t1]\n\t"
            "vpshufb %[t0], %[lut], %[t0]\n\t"
            "vpshufb %[t1], %[lut], %[t1]\n\t"
            "vpaddb %[t1], %[t0], %[t0]\n\t"
            "vpaddb %[t0], %[c], %[c]"
            : [c] "+x"(c), [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [al] "x"(al), [ah] "x"(ah), [b] "m"(b), [lut] "x"(lut), [nib] "x"(nib));
  } else {
    __asm__("vmovdqu %[b], %[t1]\n\t"
            "vpsrlw $4, %[t1], %[t1]\n\t"
            "vpand %[b], %[al], %[t0]\n\t"
            "vpand %[t1], %[ah], %[t1]\n\t"
            "vpshufb %[t0], %[lut], %[t0]\n\t"
            "vpshufb %[t1], %[lut], %[t1]\n\t"
            "vpaddb %[t1], %[t0], %[t0]\n\t"
            "vpaddb %[t0], %[c], %[c]"
            : [c] "+x"(c), [t0] "=&x"(t0), [t1] "=&x"(t1)
            : [al] "x"(al), [ah] "x"(ah), [b] "m"(b), [lut] "x"(lut));
  }
}

// One register tile over one chunk of K: R rows x V B vectors, L <= 31 words.
//   aMask: [L][16] words of one A plane: a & 0x0F.. of rows 0..7, then (a >> 4) & 0x0F..
//   bj:    B plane j at the chunk start, panel 0; vector v (0 .. 2*np-1) of it is at
//          bj + (v / 2) * bPanelStride + (v % 2) * 4; the tile covers vectors v0 .. v0+V-1
//   acc:   args.acc (row 0, column 0)
// Loop order inside a word (ymm registers besides the R*V accumulators, lut and 2 temps):
//   R == 1:          the row's 2 broadcasts; each B vector is read by the step itself (stepLoad).
//   R == 2:          the 2R row broadcasts live, B vectors streamed: b, b >> 4 (+ the nibble
//                    mask for XOR).
//   R >= 3, AND, V > 1: the V shifted B vectors live (b itself is a memory operand), rows
//                    streamed: V + 2.
//   otherwise:       b and b >> 4 (masked for XOR) of the V B vectors live, rows streamed:
//                    2V + 2 (+ mask). (With V = 1 GCC allocates this form without spills.)
template <int R, int V, bool X>
constexpr int tileRegs() {
  return R * V + 3 +
         (R == 1 ? 2 + X : R == 2 ? 2 * R + 2 + X : (!X && V > 1) ? V + 2 : 2 * V + 2 + X);
}

template <int R, int V, bool X>
AP_INLINE void tileChunk(const uint64_t* aMask, const uint64_t* bj, size_t bPanelStride, int v0,
                         size_t L, int64_t* acc, size_t ldAcc, int shift, bool negative, bool store) {
  static_assert(tileRegs<R, V, X>() <= 16, "tile does not fit 16 ymm");
  const __m256i lut = popLut();
  const __m256i nib = _mm256_set1_epi64x(static_cast<long long>(kLowNibbles));

  // One byte index i (64 bytes per word of K, from -64L up to 0) addresses B (end + i) and the
  // masks (end + 2i): one add and one fused add-branch of loop control per word.
  static_assert(kMaskWords == 2 * kPanelRows, "mask stride must be twice the B stride");
  const char* bEnd[V];
  for (int v = 0; v < V; ++v) {
    const int w = v0 + v;
    bEnd[v] = reinterpret_cast<const char*>(bj + (w / 2) * bPanelStride + (w % 2) * 4 + L * kPanelRows);
  }
  const char* mEnd = reinterpret_cast<const char*>(aMask + L * kMaskWords);

  __m256i c[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) c[r][v] = _mm256_setzero_si256();

  auto loadB = [&](int v, std::ptrdiff_t i, __m256i& bl, __m256i& bh) AP_LAMBDA_INLINE {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bEnd[v] + i));
    if (X) {  // XOR needs both nibbles of b clean
      bl = _mm256_and_si256(x, nib);
      bh = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
    } else {  // AND: the A masks clean the index
      bl = x;
      bh = _mm256_srli_epi16(x, 4);
    }
  };
  auto loadA = [&](int r, std::ptrdiff_t i, __m256i& al, __m256i& ah) AP_LAMBDA_INLINE {
    const uint64_t* am = reinterpret_cast<const uint64_t*>(mEnd + 2 * i);
    al = _mm256_set1_epi64x(static_cast<long long>(am[r]));  // vpbroadcastq m64: a load uop only
    ah = _mm256_set1_epi64x(static_cast<long long>(am[kPanelRows + r]));
    __asm__ volatile("" : "+x"(al), "+x"(ah));  // keep the broadcasts in program order
  };

  for (std::ptrdiff_t i = -static_cast<std::ptrdiff_t>(L * 64); i != 0; i += 64) {
    if (R == 1) {
      __m256i al, ah;
      loadA(0, i, al, ah);
      for (int v = 0; v < V; ++v) stepLoad<X>(c[0][v], al, ah, bEnd[v] + i, lut, nib);
    } else if (R == 2) {
      __m256i al[R], ah[R];
      for (int r = 0; r < R; ++r) loadA(r, i, al[r], ah[r]);
      for (int v = 0; v < V; ++v) {
        __m256i bl, bh;
        loadB(v, i, bl, bh);
        for (int r = 0; r < R; ++r) step<X>(c[r][v], al[r], ah[r], bl, bh, lut);
      }
    } else if (!X && V > 1) {
      __m256i bh[V];
      for (int v = 0; v < V; ++v)
        bh[v] = _mm256_srli_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bEnd[v] + i)), 4);
      for (int r = 0; r < R; ++r) {
        __m256i al, ah;
        loadA(r, i, al, ah);
        for (int v = 0; v < V; ++v) stepMemB(c[r][v], al, ah, bEnd[v] + i, bh[v], lut);
      }
    } else {
      __m256i bl[V], bh[V];
      for (int v = 0; v < V; ++v) loadB(v, i, bl[v], bh[v]);
      for (int r = 0; r < R; ++r) {
        __m256i al, ah;
        loadA(r, i, al, ah);
        for (int v = 0; v < V; ++v) step<X>(c[r][v], al, ah, bl[v], bh[v], lut);
      }
    }
  }

  const __m256i zero = _mm256_setzero_si256();
  const __m256i cnt = _mm256_set1_epi64x(shift);
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      const __m256i s = _mm256_sllv_epi64(_mm256_sad_epu8(c[r][v], zero), cnt);
      __m256i* dst = reinterpret_cast<__m256i*>(acc + r * ldAcc + 4 * (v0 + v));
      const __m256i t = store ? zero : _mm256_loadu_si256(dst);  // store: the call's first write
      _mm256_storeu_si256(dst, negative ? _mm256_sub_epi64(t, s) : _mm256_add_epi64(t, s));
    }
  }
}

// Vectors v0 .. nv-1 in tiles of V, then the remainder with one smaller tile.
template <int R, int V, bool X>
AP_INLINE void tileRow(const uint64_t* aMask, const uint64_t* bj, size_t bPanelStride, int v0, int nv,
                       size_t L, int64_t* acc, size_t ldAcc, int shift, bool negative, bool store) {
  int v = v0;
  for (; v + V <= nv; v += V) tileChunk<R, V, X>(aMask, bj, bPanelStride, v, L, acc, ldAcc, shift, negative, store);
  if constexpr (V > 1) {
    if (v < nv) tileRow<R, V - 1, X>(aMask, bj, bPanelStride, v, nv, L, acc, ldAcc, shift, negative, store);
  }
}

// Nibble masks of R rows of one A plane over L words, lanes >= R left unspecified. Masked loads
// never touch the words of lanes >= R (they may lie past the end of the operand).
template <int R>
AP_INLINE void maskChunk(const uint64_t* a, size_t L, uint64_t* m) {
  const __m256i nib = _mm256_set1_epi64x(static_cast<long long>(kLowNibbles));
  const __m256i lane = _mm256_setr_epi64x(0, 1, 2, 3);
  const __m256i m0 = _mm256_cmpgt_epi64(_mm256_set1_epi64x(R), lane);
  const __m256i m1 = _mm256_cmpgt_epi64(_mm256_set1_epi64x(R - 4), lane);
  for (size_t k = 0; k < L; ++k) {
    const long long* src = reinterpret_cast<const long long*>(a + k * kPanelRows);
    __m256i* dst = reinterpret_cast<__m256i*>(m + k * kMaskWords);
    const __m256i x0 = R == 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src))
                              : _mm256_maskload_epi64(src, m0);
    _mm256_store_si256(dst, _mm256_and_si256(x0, nib));
    _mm256_store_si256(dst + 2, _mm256_and_si256(_mm256_srli_epi64(x0, 4), nib));
    if (R > 4) {
      const __m256i x1 = R == 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 4))
                                : _mm256_maskload_epi64(src + 4, m1);
      _mm256_store_si256(dst + 1, _mm256_and_si256(x1, nib));
      _mm256_store_si256(dst + 3, _mm256_and_si256(_mm256_srli_epi64(x1, 4), nib));
    }
  }
}

template <int R, bool X>
void bitTileRows(const BitTileArgs& t) {
  // Widest tile that fits (see tileChunk): 1x8, 2x3, 3x2, 4x2 (AND) or 4x1 (XOR), 5x1 .. 8x1.
  constexpr int VB = R == 1 ? 8 : R == 2 ? 3 : R == 3 ? 2 : (R == 4 && !X) ? 2 : 1;
  // Nibble masks of every used A plane for one chunk: [plane][k][lo of rows 0..7, hi of 0..7].
  alignas(32) uint64_t aMask[kMaxPlanes * kChunkWords * kMaskWords];
  const size_t chunkStride = kChunkWords * kMaskWords;

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
      maskChunk<R>(a, L, m);
    }
    for (int j = 0; j < t.bPlanes; ++j) {
      const uint64_t* bj = t.b + j * t.bPlaneStride + k0 * kPanelRows;
      for (int i = 0; i < t.aPlanes; ++i) {
        const int shift = (t.aPlanes - 1 - i) + (t.bPlanes - 1 - j);
        const bool negative = (t.aNegTop && i == 0) != (t.bNegTop && j == 0);
        const uint64_t* m = aMask + i * chunkStride;
        // with overwrite the first pair of the first chunk stores (every accumulator of the call)
        const bool store = t.overwrite && ch == 0 && j == 0 && i == 0;
        tileRow<R, VB, X>(m, bj, t.bPanelStride, 0, nv, L, t.acc, t.ldAcc, shift, negative, store);
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
  // The kernels below add into acc once per plane pair and K chunk; with overwrite their first
  // pair stores instead (no zeroing pass: GCC made it a memset call per row, 2% of a ResNet-20
  // forward at 1 bit on the Zen 3).
  if (t.kWords == 0 || t.np <= 0) {
    zeroTileAccIfOverwrite(t);
    return;
  }
  if (t.useXor) {
    bitTileMode<true>(t);
  } else {
    bitTileMode<false>(t);
  }
}

// ---- ceiling ---------------------------------------------------------------------------------

// The micro-kernel's inner step -- the same step<false> asm, instruction for instruction -- with
// every operand already in a register: two vpand, two vpshufb, two vpaddb per accumulator and
// step = 256 bit-MACs, over 8 accumulators (the kernel's R = 8 tile); vpsadbw folds every 31
// steps as in the kernel. The asm carries each accumulator, so nothing can be hoisted or shared.
// The kernel's loads (B, A broadcasts), b >> 4, loop control and per-chunk stores are left out,
// so this is the best case of its instruction sequence. (An intrinsics version with six
// accumulators ran ~5% slower; the faster loop is the honest ceiling.)
constexpr int kCeilAcc = 8;

uint64_t ceilingAvx2(uint64_t iters, uint64_t seed) {
  const __m256i lut = popLut();
  const __m256i al = _mm256_set1_epi64x(static_cast<long long>(seed & kLowNibbles));
  const __m256i ah = _mm256_set1_epi64x(static_cast<long long>((seed >> 4) & kLowNibbles));
  const __m256i bl = _mm256_set1_epi64x(static_cast<long long>(seed * 0x9E3779B97F4A7C15ull));
  const __m256i bh = _mm256_srli_epi16(bl, 4);
  const __m256i zero = _mm256_setzero_si256();
  __m256i total = zero;

  uint64_t left = iters;
  while (left > 0) {
    const uint64_t n = left < kChunkWords ? left : kChunkWords;
    left -= n;
    __m256i c[kCeilAcc];
    for (int i = 0; i < kCeilAcc; ++i) c[i] = zero;
    for (uint64_t it = 0; it < n; ++it) {
      for (int i = 0; i < kCeilAcc; ++i) step<false>(c[i], al, ah, bl, bh, lut);
    }
    for (int i = 0; i < kCeilAcc; ++i) total = _mm256_add_epi64(total, _mm256_sad_epu8(c[i], zero));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace

namespace {
void panelPopsAvx2(const uint64_t* panel, int rows, int planes, size_t kWords, int32_t* planePop) {
  panelPopsWith(panel, rows, planes, kWords, planePop, popcountBuiltin);
}

// Four rows side by side per ymm (lanes 0..3, then 4..7), each lane reading its run bits with a
// gather of 8 bytes at the bit's byte shifted by the bit's offset in it (56-bit chunks); every
// lane has the same fill level, so the placing shifts are by a scalar count. Finished words are
// stored straight into the panel; the popcounts are taken from the panel at the end (L1).
void gatherPanelAvx2(const GatherPanelArgs& g) {
  constexpr unsigned kChunk = 56;
  const size_t planeWords = g.kWords * kPanelRows;
  alignas(32) uint64_t rowBit[kPanelRows] = {};
  alignas(32) int64_t live[kPanelRows] = {};
  for (int r = 0; r < g.rows; ++r) {
    rowBit[r] = g.rowBit[r];
    live[r] = -1;
  }
  const __m256i zero = _mm256_setzero_si256();
  const __m256i low3 = _mm256_set1_epi64x(7);
  for (int half = 0; half < kPanelRows; half += 4) {
    if (half >= g.rows) {  // no rows here: zero lanes
      for (size_t w = 0; w < g.kWords * static_cast<size_t>(g.planes); ++w)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(g.out + w * kPanelRows + half), zero);
      continue;
    }
    const __m256i base = _mm256_load_si256(reinterpret_cast<const __m256i*>(rowBit + half));
    const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(live + half));
    for (int pl = 0; pl < g.planes; ++pl) {
      const long long* stream =
          reinterpret_cast<const long long*>(g.streams + static_cast<size_t>(pl) * g.streamStride);
      uint64_t* dst = g.out + static_cast<size_t>(pl) * planeWords + half;
      __m256i word = zero;
      unsigned fill = 0;
      for (size_t j = 0; j < g.runs; ++j) {
        for (uint64_t at = 0; at < g.runBits;) {
          const unsigned n = g.runBits - at < kChunk ? static_cast<unsigned>(g.runBits - at) : kChunk;
          const __m256i bit = _mm256_add_epi64(base, _mm256_set1_epi64x(static_cast<long long>(g.runOffset[j] + at)));
          __m256i bits = _mm256_mask_i64gather_epi64(zero, stream, _mm256_srli_epi64(bit, 3), mask, 1);
          bits = _mm256_and_si256(_mm256_srlv_epi64(bits, _mm256_and_si256(bit, low3)),
                                  _mm256_set1_epi64x(static_cast<long long>((uint64_t{1} << n) - 1)));
          word = _mm256_or_si256(word, _mm256_sll_epi64(bits, _mm_cvtsi32_si128(static_cast<int>(fill))));
          if (fill + n >= 64) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), word);
            dst += kPanelRows;
            word = _mm256_srl_epi64(bits, _mm_cvtsi32_si128(static_cast<int>(64 - fill)));  // 0 when fill is 0
            fill = fill + n - 64;
          } else {
            fill += n;
          }
          at += n;
        }
      }
      if (fill > 0) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), word);
    }
  }
  panelPopsAvx2(g.out, g.rows, g.planes, g.kWords, g.planePop);
}

// Bands of panels whose 8 rows are evenly spaced (a convolution's 8 adjacent output positions).
// Where every read starts on a byte -- the panels' first rows, the row step and the run offsets
// all multiples of 8 bits (C a multiple of 8) -- row r's next 64 bits are the 8 bytes at its
// byte: no gather and no shift. Rows 0,1 | 2,3 (and 4,5 | 6,7) are read as two 16-byte loads
// into the two halves of a ymm and one vpshufb hands each 64-bit lane its row's 8 bytes (bytes
// 0..7 and sb..sb+7 of its half, sb = row step in bytes <= 8); a step above 8 bytes reads each
// row with its own 8-byte load. The 16-byte loads reach at most 8 bytes past the last row's
// 8-byte read (inside the streams' kGatherSlackWords). The two half-panels' words are built side
// by side (the same uniform fill level as gatherPanelAvx2) and stored straight into the panel;
// the popcounts are taken from the panel while it is in L1. Other layouts: gatherPanelAvx2 per
// panel.
template <bool kWindow>
AP_INLINE __m256i rowBytes(const uint8_t* p, size_t sb, __m256i pick) {
  if (kWindow) {
    const __m256i two = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(p + 2 * sb), reinterpret_cast<const __m128i*>(p));
    return _mm256_shuffle_epi8(two, pick);
  }
  long long v[4];
  for (int r = 0; r < 4; ++r) std::memcpy(&v[r], p + r * sb, 8);
  return _mm256_setr_epi64x(v[0], v[1], v[2], v[3]);
}

template <bool kWindow>
void gatherBandBytes(const GatherPanelsArgs& g) {
  const size_t planeWords = g.kWords * kPanelRows;
  const size_t panelWords = static_cast<size_t>(g.planes) * planeWords;
  const size_t sb = g.rowStep / 8;
  // lane 0 of each half: bytes 0..7, lane 1: bytes sb..sb+7 (vpshufb indexes within each half)
  alignas(32) int8_t idx[32];
  for (int h = 0; h < 2; ++h)
    for (int b = 0; b < 16; ++b) idx[16 * h + b] = static_cast<int8_t>(b < 8 ? b : sb + (b - 8));
  const __m256i pick = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
  const __m256i zero = _mm256_setzero_si256();
  for (size_t q = 0; q < g.panels; ++q) {
    uint64_t* panel = g.out + q * panelWords;
    for (int pl = 0; pl < g.planes; ++pl) {
      const uint8_t* stream = reinterpret_cast<const uint8_t*>(g.streams + static_cast<size_t>(pl) * g.streamStride);
      const uint8_t* row0 = stream + g.panelBit[q] / 8;
      uint64_t* dst = panel + static_cast<size_t>(pl) * planeWords;
      __m256i lo = zero, hi = zero;  // rows 0..3, rows 4..7
      unsigned fill = 0;
      for (size_t j = 0; j < g.runs; ++j) {
        const uint8_t* run = row0 + g.runOffset[j] / 8;
        for (uint64_t at = 0; at < g.runBits; at += 64) {
          const unsigned n = g.runBits - at < 64 ? static_cast<unsigned>(g.runBits - at) : 64u;
          __m256i a = rowBytes<kWindow>(run + at / 8, sb, pick);
          __m256i b = rowBytes<kWindow>(run + at / 8 + 4 * sb, sb, pick);
          if (n < 64) {
            const __m256i keep = _mm256_set1_epi64x(static_cast<long long>((uint64_t{1} << n) - 1));
            a = _mm256_and_si256(a, keep);
            b = _mm256_and_si256(b, keep);
          }
          const __m128i up = _mm_cvtsi32_si128(static_cast<int>(fill));
          lo = _mm256_or_si256(lo, _mm256_sll_epi64(a, up));
          hi = _mm256_or_si256(hi, _mm256_sll_epi64(b, up));
          if (fill + n >= 64) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), lo);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4), hi);
            dst += kPanelRows;
            const __m128i down = _mm_cvtsi32_si128(static_cast<int>(64 - fill));  // 64: all gone
            lo = _mm256_srl_epi64(a, down);
            hi = _mm256_srl_epi64(b, down);
            fill = fill + n - 64;
          } else {
            fill += n;
          }
        }
      }
      if (fill > 0) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 4), hi);
      }
    }
    panelPopsAvx2(panel, kPanelRows, g.planes, g.kWords, g.planePop + q * kPanelRows * g.planes);
  }
}

void gatherPanelsAvx2(const GatherPanelsArgs& g) {
  bool bytes = g.rowStep % 8 == 0;
  for (size_t j = 0; bytes && j < g.runs; ++j) bytes = g.runOffset[j] % 8 == 0;
  for (size_t q = 0; bytes && q < g.panels; ++q) bytes = g.panelBit[q] % 8 == 0;
  if (bytes && g.rowStep <= 64) {
    gatherBandBytes<true>(g);
  } else if (bytes) {
    gatherBandBytes<false>(g);
  } else {
    const size_t panelWords = static_cast<size_t>(g.planes) * g.kWords * kPanelRows;
    for (size_t q = 0; q < g.panels; ++q) {
      uint64_t rowBit[kPanelRows];
      for (int r = 0; r < kPanelRows; ++r) rowBit[r] = g.panelBit[q] + r * g.rowStep;
      gatherPanelAvx2({g.streams, g.streamStride, g.planes, rowBit, kPanelRows, g.runOffset, g.runs, g.runBits,
                       g.kWords, g.out + q * panelWords, g.planePop + q * kPanelRows * g.planes});
    }
  }
}
}  // namespace

const KernelTable kAvx2Table = {"avx2",        packPanelAvx2,   bitTileAvx2,    ceilingAvx2, kCeilAcc * 256,
                                panelPopsAvx2, packStreamsAvx2, gatherPanelAvx2, gatherPanelsAvx2};

}  // namespace anyprec
