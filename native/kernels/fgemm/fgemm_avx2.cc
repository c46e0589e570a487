// AVX2 + FMA float32 micro-kernel (see fgemm.h); compiled with the avx2 flags of sources.json.
// Register block: 6 rows x 16 columns (one B panel) = 12 ymm accumulators, 2 ymm of B per step
// and one broadcast of A at a time: 15 of the 16 ymm registers. Per step of K: 12 FMAs against
// 2 loads + 6 broadcast loads, so the two FMA ports stay the bottleneck.
#include <immintrin.h>

#include "fgemm/fgemm.h"

namespace anyprec {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

// R of the panel's kMr rows (R = the call's row count): a short tile (the last of a block, a
// one-row GEMV) runs only its rows' FMAs, each output's in the same K order as the full tile.
template <int R>
void tileRowsAvx2(const FloatTileArgs& t) {
  __m256 c0[R], c1[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
  const float* a = t.a;
  const float* b = t.b;
  const size_t kc = t.kc;
  for (size_t k = 0; k < kc; ++k, a += kMr, b += kFloatPanel) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(x, b1, c1[r]);
    }
  }
  if (t.cols == kNr) {
    const __m256 bias0 = t.bias ? _mm256_loadu_ps(t.bias) : _mm256_setzero_ps();
    const __m256 bias1 = t.bias ? _mm256_loadu_ps(t.bias + 8) : _mm256_setzero_ps();
    // Compile-time row indices keep the accumulators in registers (no spill in the K loop).
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
      const __m256 add0 = t.bias ? bias0 : _mm256_loadu_ps(c);
      const __m256 add1 = t.bias ? bias1 : _mm256_loadu_ps(c + 8);
      _mm256_storeu_ps(c, _mm256_add_ps(c0[r], add0));
      _mm256_storeu_ps(c + 8, _mm256_add_ps(c1[r], add1));
    }
    return;
  }
  // Column edge: spill the block and store the valid part.
  alignas(32) float buf[R][kNr];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(buf[r], c0[r]);
    _mm256_store_ps(buf[r] + 8, c1[r]);
  }
  for (int r = 0; r < R; ++r) {
    float* c = t.c + static_cast<size_t>(r) * t.ldc;
    for (int j = 0; j < t.cols; ++j) c[j] = t.bias ? buf[r][j] + t.bias[j] : c[j] + buf[r][j];
  }
}

void tileAvx2(const FloatTileArgs& t) {
  switch (t.rows) {
    case 1: tileRowsAvx2<1>(t); break;
    case 2: tileRowsAvx2<2>(t); break;
    case 3: tileRowsAvx2<3>(t); break;
    case 4: tileRowsAvx2<4>(t); break;
    case 5: tileRowsAvx2<5>(t); break;
    default: tileRowsAvx2<kMr>(t); break;
  }
}

inline float hsum(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// 12 independent accumulator chains: enough to cover the FMA latency on every AVX2 core.
constexpr int kCeilingChains = 12;
float ceilingAvx2(uint64_t iterations) {
  __m256 acc[kCeilingChains];
  for (int i = 0; i < kCeilingChains; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 x = _mm256_set1_ps(0.9999f), y = _mm256_set1_ps(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kCeilingChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 s = acc[0];
  for (int i = 1; i < kCeilingChains; ++i) s = _mm256_add_ps(s, acc[i]);
  return hsum(s);
}

// Strided indirect kernel (see FloatStridedArgs): the convolution's window read in place, one
// 16-column panel at a time with R rows x 2 ymm accumulators (R <= 6: 12 accumulators, 2 ymm of B
// and one broadcast, 15 of the 16 registers, as the tile kernel), the panels of a wider call one
// after the other (A re-read from L1). Each output's FMAs run in K order from zero, as in the tile
// kernel, so the sums have the tile path's bits. R is the call's row count (rows 1..6): a short
// tile (the balanced tiles of an output row, an 8-wide image's 4 + 4) computes only its rows.
// Row r of a segment is read at p + r * step through x86 addressing: base + {0, 1, 2, 4} * o1,
// base + o3, base + o5 (4 general registers for 6 rows).
template <int R>
inline const float* stridedRowAvx2(const char* p, ptrdiff_t o1, ptrdiff_t o3, ptrdiff_t o5) {
  const ptrdiff_t off = R == 0 ? 0 : R == 1 ? o1 : R == 2 ? 2 * o1 : R == 3 ? o3 : R == 4 ? 4 * o1 : o5;
  return reinterpret_cast<const float*>(p + off);
}

template <int R, int I = 0>
inline void stridedStepAvx2(__m256 (&acc)[R][2], __m256 w0, __m256 w1, const char* p, ptrdiff_t o1, ptrdiff_t o3,
                            ptrdiff_t o5) {
  if constexpr (I < R) {
    const __m256 x = _mm256_broadcast_ss(stridedRowAvx2<I>(p, o1, o3, o5));
    acc[I][0] = _mm256_fmadd_ps(x, w0, acc[I][0]);
    acc[I][1] = _mm256_fmadd_ps(x, w1, acc[I][1]);
    stridedStepAvx2<R, I + 1>(acc, w0, w1, p, o1, o3, o5);
  }
}

// Lanes [0, n) of a vector of 8 (n clamped to 0..8), as a vmaskmov mask.
inline __m256i laneMask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

template <int R>
void stridedTileAvx2(const FloatStridedArgs& t) {
  static_assert(R >= 1 && R <= 6, "6 rows of 2 ymm accumulators");
  const __m256 lo = _mm256_set1_ps(t.lo), hi = _mm256_set1_ps(t.hi);
  const bool hasScale = t.finish && t.scale != nullptr, hasShift = t.finish && t.shift != nullptr;
  for (int p0 = 0; p0 < t.cols; p0 += kFloatPanel) {
    __m256 acc[R][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    const float* b = t.b + static_cast<size_t>(p0 / kFloatPanel) * t.bPanelStride;
    size_t s = t.k0 / t.len, j = t.k0 % t.len, left = t.kc;
    while (left > 0) {
      const size_t end = t.len - j < left ? t.len : j + left;
      left -= end - j;
      const ptrdiff_t o1 = static_cast<ptrdiff_t>(t.step[s] * sizeof(float));
      const ptrdiff_t o3 = 3 * o1, o5 = 5 * o1;
      const char* p = reinterpret_cast<const char*>(t.base[s] + j);
      for (; j < end; ++j, b += kFloatPanel, p += sizeof(float))
        stridedStepAvx2<R>(acc, _mm256_loadu_ps(b), _mm256_loadu_ps(b + 8), p, o1, o3, o5);
      j = 0;
      ++s;
    }
    // This panel's columns: [p0, p0 + n), n = 1..16; a partial panel loads and stores through
    // lane masks (the padding lanes are never read from C, scale or shift, nor stored).
    const int n = t.cols - p0 < kFloatPanel ? t.cols - p0 : kFloatPanel;
    const bool full = n == kFloatPanel;
    const __m256i m0 = laneMask(n), m1 = laneMask(n - 8);
    const float* bias = t.bias != nullptr ? t.bias + p0 : nullptr;
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (bias != nullptr) {  // padded: 16 readable values
      bias0 = _mm256_loadu_ps(bias);
      bias1 = _mm256_loadu_ps(bias + 8);
    }
    __m256 scale0 = bias0, scale1 = bias1, shift0 = bias0, shift1 = bias1;
    if (hasScale) {
      scale0 = full ? _mm256_loadu_ps(t.scale + p0) : _mm256_maskload_ps(t.scale + p0, m0);
      scale1 = full ? _mm256_loadu_ps(t.scale + p0 + 8) : _mm256_maskload_ps(t.scale + p0 + 8, m1);
    }
    if (hasShift) {
      shift0 = full ? _mm256_loadu_ps(t.shift + p0) : _mm256_maskload_ps(t.shift + p0, m0);
      shift1 = full ? _mm256_loadu_ps(t.shift + p0 + 8) : _mm256_maskload_ps(t.shift + p0 + 8, m1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      if (r >= t.rows) break;
      float* c = t.c + static_cast<size_t>(r) * t.ldc + p0;
      __m256 y0, y1;
      if (bias != nullptr) {
        y0 = _mm256_add_ps(acc[r][0], bias0);
        y1 = _mm256_add_ps(acc[r][1], bias1);
      } else {
        y0 = _mm256_add_ps(acc[r][0], full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, m0));
        y1 = _mm256_add_ps(acc[r][1], full ? _mm256_loadu_ps(c + 8) : _mm256_maskload_ps(c + 8, m1));
      }
      if (t.finish) {
        // floatAffine's steps (no contraction: the build has -ffp-contract=off): max_ps(lo, y) is
        // y < lo ? lo : y (NaN keeps y), min_ps(hi, y) is y > hi ? hi : y.
        if (hasScale) {
          y0 = _mm256_mul_ps(y0, scale0);
          y1 = _mm256_mul_ps(y1, scale1);
        }
        if (hasShift) {
          y0 = _mm256_add_ps(y0, shift0);
          y1 = _mm256_add_ps(y1, shift1);
        }
        y0 = _mm256_min_ps(hi, _mm256_max_ps(lo, y0));
        y1 = _mm256_min_ps(hi, _mm256_max_ps(lo, y1));
      }
      if (full) {
        _mm256_storeu_ps(c, y0);
        _mm256_storeu_ps(c + 8, y1);
      } else {
        _mm256_maskstore_ps(c, m0, y0);
        _mm256_maskstore_ps(c + 8, m1, y1);
      }
    }
  }
}

// Rows per call: up to 6 at every width (the table's stridedMr); the call's own row count picks
// the register tile, so no FMA works on a row past `rows`.
void stridedAvx2(const FloatStridedArgs& t) {
  switch (t.rows) {
    case 1: stridedTileAvx2<1>(t); break;
    case 2: stridedTileAvx2<2>(t); break;
    case 3: stridedTileAvx2<3>(t); break;
    case 4: stridedTileAvx2<4>(t); break;
    case 5: stridedTileAvx2<5>(t); break;
    default: stridedTileAvx2<6>(t); break;
  }
}

}  // namespace

const FloatKernelTable kAvx2FloatTable = {"avx2",  kMr,     kNr,     tileAvx2,    nullptr, ceilingAvx2,
                                          kCeilingChains * 16, 0, nullptr, nullptr, nullptr, {0, 0, 0, 0},
                                          stridedAvx2, {6, 6, 6, 6}};

}  // namespace anyprec
