// AVX-512F float32 micro-kernel (see fgemm.h); compiled with the avx512 flags of sources.json.
// Register block: 14 rows x 32 columns (two B panels) = 28 zmm accumulators, 2 zmm of B per step;
// A values are broadcast straight from memory into the FMAs ({1to16} operands). Per step of K:
// 28 FMAs against 2 loads + 14 broadcasts, so both FMA ports stay busy and the load ports do not
// limit. Column edges use masked loads and stores.
// GCC 12's AVX-512 intrinsics start many results from _mm512_undefined_*(), which its
// -Wmaybe-uninitialized reports at every inlined use (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "fgemm/fgemm.h"

namespace anyprec {
namespace {

constexpr int kMr = 14;
constexpr int kNr = 32;

void tileAvx512(const FloatTileArgs& t) {
  __m512 c0[kMr], c1[kMr];
#pragma GCC unroll 14
  for (int r = 0; r < kMr; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  const float* a = t.a;
  const float* b0p = t.b;
  const float* b1p = t.b + t.bPanelStride;
  const size_t kc = t.kc;
  for (size_t k = 0; k < kc; ++k, a += kMr) {
    const __m512 b0 = _mm512_loadu_ps(b0p + k * kFloatPanel);
    const __m512 b1 = _mm512_loadu_ps(b1p + k * kFloatPanel);
#pragma GCC unroll 14
    for (int r = 0; r < kMr; ++r) {
      const __m512 x = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(x, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(x, b1, c1[r]);
    }
  }
  const int lo = t.cols < 16 ? t.cols : 16, hi = t.cols - lo;
  const __mmask16 m0 = static_cast<__mmask16>((1u << lo) - 1);
  const __mmask16 m1 = static_cast<__mmask16>((1u << hi) - 1);
  const __m512 bias0 = t.bias ? _mm512_loadu_ps(t.bias) : _mm512_setzero_ps();
  const __m512 bias1 = t.bias ? _mm512_loadu_ps(t.bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
  for (int r = 0; r < kMr; ++r) {
    if (r < t.rows) {
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
      const __m512 add0 = t.bias ? bias0 : _mm512_maskz_loadu_ps(m0, c);
      const __m512 add1 = t.bias ? bias1 : _mm512_maskz_loadu_ps(m1, c + 16);
      _mm512_mask_storeu_ps(c, m0, _mm512_add_ps(c0[r], add0));
      _mm512_mask_storeu_ps(c + 16, m1, _mm512_add_ps(c1[r], add1));
    }
  }
}

// Horizontal sum in a fixed order: a pairwise tree over the 16 lanes (through memory: GCC 12's
// lane-extract intrinsics warn about their undefined pass-through operand).
inline float hsum(__m512 v) {
  alignas(64) float l[16];
  _mm512_store_ps(l, v);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) l[i] += l[i + w];
  return l[0];
}

// 24 independent accumulator chains: enough to cover the FMA latency on every AVX-512 core.
constexpr int kCeilingChains = 24;
float ceilingAvx512(uint64_t iterations) {
  __m512 acc[kCeilingChains];
  for (int i = 0; i < kCeilingChains; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 x = _mm512_set1_ps(0.9999f), y = _mm512_set1_ps(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kCeilingChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 s = acc[0];
  for (int i = 1; i < kCeilingChains; ++i) s = _mm512_add_ps(s, acc[i]);
  return hsum(s);
}

// Narrow GEMMs (N <= 16, the conv layers' 16 channels): one panel wide, 28 rows = 28 zmm
// accumulators, so no FMA works on padding columns. Per step of K: 28 FMAs against 1 load + 28
// broadcasts from memory.
constexpr int kMrNarrow = 28;

void tileNarrowAvx512(const FloatTileArgs& t) {
  __m512 acc[kMrNarrow];
#pragma GCC unroll 28
  for (int r = 0; r < kMrNarrow; ++r) acc[r] = _mm512_setzero_ps();
  const float* a = t.a;
  const float* b = t.b;
  const size_t kc = t.kc;
  for (size_t k = 0; k < kc; ++k, a += kMrNarrow, b += kFloatPanel) {
    const __m512 y = _mm512_loadu_ps(b);
#pragma GCC unroll 28
    for (int r = 0; r < kMrNarrow; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r]), y, acc[r]);
  }
  const __mmask16 m = static_cast<__mmask16>((1u << t.cols) - 1);
  const __m512 bias = t.bias ? _mm512_maskz_loadu_ps(m, t.bias) : _mm512_setzero_ps();
#pragma GCC unroll 28
  for (int r = 0; r < kMrNarrow; ++r) {
    if (r < t.rows) {
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
      const __m512 add = t.bias ? bias : _mm512_maskz_loadu_ps(m, c);
      _mm512_mask_storeu_ps(c, m, _mm512_add_ps(acc[r], add));
    }
  }
}

// A micro-panel packing (see FloatKernelTable::packA): 16 rows x 16 steps of K at a time, loaded
// as rows, transposed in registers (unpack ps, unpack pd, two 128-bit lane shuffles), stored as
// the 16 K steps' row vectors. A scalar transpose stores one float per cycle; this moves 16.
void transpose16(__m512 (&v)[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  __m512 u[16];  // u[4g + j], 128-bit lane L: column 4L + j of rows 4g..4g+3
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    const __m512d a0 = _mm512_castps_pd(t[4 * g]), a1 = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d b0 = _mm512_castps_pd(t[4 * g + 2]), b1 = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, b0));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, b0));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, b1));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, b1));
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 y0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 y1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    v[j] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    v[8 + j] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
    v[4 + j] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    v[12 + j] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
  }
}

// Stores are whole vectors (masked 512-bit stores are slow on AMD cores): a group of fewer than
// 16 rows spills into the next K step's first rows, which a later store rewrites; hence groups
// run from the last down to the first, and K steps upwards. The last step may write up to 15
// floats past the panel (the driver keeps spare floats there, and the next panel follows).
void packAAvx512(const float* a, size_t lda, size_t rows, size_t kc, int mr, float* dst) {
  for (int r0 = (mr - 1) / 16 * 16; r0 >= 0; r0 -= 16) {
    const int lanes = mr - r0 < 16 ? mr - r0 : 16;
    const size_t valid = rows > static_cast<size_t>(r0) ? rows - r0 : 0;
    for (size_t k0 = 0; k0 < kc; k0 += 16) {
      const size_t steps = kc - k0 < 16 ? kc - k0 : 16;
      const __mmask16 kMask = static_cast<__mmask16>((1u << steps) - 1);
      __m512 v[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        v[i] = static_cast<size_t>(i) < valid && i < lanes
                   ? _mm512_maskz_loadu_ps(kMask, a + (r0 + i) * lda + k0)
                   : _mm512_setzero_ps();
      transpose16(v);
      for (size_t j = 0; j < steps; ++j) _mm512_storeu_ps(dst + (k0 + j) * mr + r0, v[j]);
    }
  }
}

// Small-M path (see fgemm.h): B read in place, 16 rows (output columns) x 16 steps of K at a
// time, transposed in registers into the panel layout, so every output is summed exactly as
// the tile kernels sum it (FMAs in K order within each K block of kFloatKBlock, the block's sum
// plus the bias, then each later block's sum added): the same bits at any M.
template <int R>
void dotRows(const FloatDotArgs& d) {
  for (size_t j0 = 0; j0 < d.cols; j0 += 16) {
    const size_t cols = d.cols - j0 < 16 ? d.cols - j0 : 16;
    const __mmask16 colMask = static_cast<__mmask16>((1u << cols) - 1);
    const float* b = d.b + j0 * d.k;
    __m512 res[R];
    for (size_t kb = 0; kb < d.k; kb += kFloatKBlock) {
      const size_t kEnd = d.k - kb < kFloatKBlock ? d.k : kb + kFloatKBlock;
      __m512 acc[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
      for (size_t k0 = kb; k0 < kEnd; k0 += 16) {
        const size_t steps = kEnd - k0 < 16 ? kEnd - k0 : 16;
        const __mmask16 kMask = static_cast<__mmask16>((1u << steps) - 1);
        __m512 v[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i)
          v[i] = static_cast<size_t>(i) < cols ? _mm512_maskz_loadu_ps(kMask, b + i * d.k + k0) : _mm512_setzero_ps();
        transpose16(v);
        for (size_t j = 0; j < steps; ++j)
#pragma GCC unroll 4
          for (int r = 0; r < R; ++r)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(d.a[r * d.k + k0 + j]), v[j], acc[r]);
      }
      if (kb == 0) {
        const __m512 bias = d.bias != nullptr ? _mm512_maskz_loadu_ps(colMask, d.bias + j0) : _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) res[r] = _mm512_add_ps(acc[r], bias);
      } else {
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) res[r] = _mm512_add_ps(acc[r], res[r]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(d.c + r * d.ldc + j0, colMask, res[r]);
  }
}

void dotAvx512(const FloatDotArgs& d) {
  switch (d.rows) {
    case 1: dotRows<1>(d); break;
    case 2: dotRows<2>(d); break;
    case 3: dotRows<3>(d); break;
    default: dotRows<4>(d); break;
  }
}

// Indirect kernel (see FloatIndirectArgs): R rows x V panels of accumulators, A broadcast from
// each row's segment pointer, B's V panel vectors loaded once per step of K. R * V >= 8 covers
// the FMA latency; R <= 8 keeps the row pointers in registers.
template <int R, int V>
void indirectTile(const FloatIndirectArgs& t) {
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* b = t.b;
  size_t s = t.k0 / t.len, j = t.k0 % t.len, left = t.kc;
  while (left > 0) {
    const float* p[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) p[r] = t.ind[s * R + r];
    const size_t end = t.len - j < left ? t.len : j + left;
    left -= end - j;
    for (; j < end; ++j, b += kFloatPanel) {
      __m512 w[V];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(b + v * t.bPanelStride);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(p[r][j]);
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, w[v], acc[r][v]);
      }
    }
    j = 0;
    ++s;
  }
  __mmask16 mask[V];
  __m512 bias[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const int left = t.cols - 16 * v, lanes = left < 0 ? 0 : left > 16 ? 16 : left;
    mask[v] = static_cast<__mmask16>((1u << lanes) - 1);
    bias[v] = t.bias != nullptr ? _mm512_loadu_ps(t.bias + 16 * v) : _mm512_setzero_ps();
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    if (r < t.rows) {
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512 add = t.bias != nullptr ? bias[v] : _mm512_maskz_loadu_ps(mask[v], c + 16 * v);
        _mm512_mask_storeu_ps(c + 16 * v, mask[v], _mm512_add_ps(acc[r][v], add));
      }
    }
  }
}

// Rows per call by column panels (8 x 1, 6 x 2, 4 x 3, 4 x 4): the table's indirectMr.
void indirectAvx512(const FloatIndirectArgs& t) {
  switch ((t.cols + 15) / 16) {
    case 1: indirectTile<8, 1>(t); break;
    case 2: indirectTile<6, 2>(t); break;
    case 3: indirectTile<4, 3>(t); break;
    default: indirectTile<4, 4>(t); break;
  }
}

// Strided indirect kernel (see FloatStridedArgs): R rows x V panels of accumulators, the same
// FMAs in the same order as indirectTile. Row r of a segment is read at p + r * step through
// x86 addressing: two bases (rows 0..7 and 8..15) and the offsets step, 3 step, 5 step and
// 7 step in registers give every row as base + offset * {1, 2, 4, 8}, so 16 rows need 6
// general registers instead of 16 pointers.
template <int R>
inline const float* stridedRow(const char* p0, const char* p8, ptrdiff_t o1, ptrdiff_t o3, ptrdiff_t o5, ptrdiff_t o7) {
  const char* p = R < 8 ? p0 : p8;
  constexpr int r = R % 8;
  const ptrdiff_t off = r == 0 ? 0 : r == 1 ? o1 : r == 2 ? 2 * o1 : r == 3 ? o3 : r == 4 ? 4 * o1 : r == 5 ? o5
                      : r == 6 ? 2 * o3 : o7;
  return reinterpret_cast<const float*>(p + off);
}

template <int R, int V, int I = 0>
inline void stridedStep(__m512 (&acc)[R][V], const __m512 (&w)[V], const char* p0, const char* p8, ptrdiff_t o1,
                        ptrdiff_t o3, ptrdiff_t o5, ptrdiff_t o7) {
  if constexpr (I < R) {
    const __m512 x = _mm512_set1_ps(*stridedRow<I>(p0, p8, o1, o3, o5, o7));
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[I][v] = _mm512_fmadd_ps(x, w[v], acc[I][v]);
    stridedStep<R, V, I + 1>(acc, w, p0, p8, o1, o3, o5, o7);
  }
}

template <int R, int V>
void stridedTile(const FloatStridedArgs& t) {
  static_assert(R <= 16, "two bases of 8 rows");
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* b = t.b;
  size_t s = t.k0 / t.len, j = t.k0 % t.len, left = t.kc;
  while (left > 0) {
    const size_t end = t.len - j < left ? t.len : j + left;
    left -= end - j;
    const ptrdiff_t o1 = static_cast<ptrdiff_t>(t.step[s] * sizeof(float));
    const ptrdiff_t o3 = 3 * o1, o5 = 5 * o1, o7 = 7 * o1;
    const char* p0 = reinterpret_cast<const char*>(t.base[s] + j);
    const char* p8 = p0 + 8 * o1;
    for (; j < end; ++j, b += kFloatPanel, p0 += sizeof(float), p8 += sizeof(float)) {
      __m512 w[V];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(b + v * t.bPanelStride);
      stridedStep<R, V>(acc, w, p0, p8, o1, o3, o5, o7);
    }
    j = 0;
    ++s;
  }
  __mmask16 mask[V];
  __m512 bias[V], scale[V], shift[V];
  const __m512 lo = _mm512_set1_ps(t.lo), hi = _mm512_set1_ps(t.hi);
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const int cleft = t.cols - 16 * v, lanes = cleft < 0 ? 0 : cleft > 16 ? 16 : cleft;
    mask[v] = static_cast<__mmask16>((1u << lanes) - 1);
    bias[v] = t.bias != nullptr ? _mm512_loadu_ps(t.bias + 16 * v) : _mm512_setzero_ps();
    // Padding lanes past cols are never stored: masked loads keep them finite and in bounds.
    scale[v] = t.scale != nullptr ? _mm512_maskz_loadu_ps(mask[v], t.scale + 16 * v) : _mm512_setzero_ps();
    shift[v] = t.shift != nullptr ? _mm512_maskz_loadu_ps(mask[v], t.shift + 16 * v) : _mm512_setzero_ps();
  }
  const bool hasScale = t.finish && t.scale != nullptr, hasShift = t.finish && t.shift != nullptr;
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    if (r < t.rows) {
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512 add = t.bias != nullptr ? bias[v] : _mm512_maskz_loadu_ps(mask[v], c + 16 * v);
        __m512 y = _mm512_add_ps(acc[r][v], add);
        if (t.finish) {
          // floatAffine's steps (no contraction: the build has -ffp-contract=off): max_ps(lo, y)
          // is y < lo ? lo : y (NaN keeps y), min_ps(hi, y) is y > hi ? hi : y.
          if (hasScale) y = _mm512_mul_ps(y, scale[v]);
          if (hasShift) y = _mm512_add_ps(y, shift[v]);
          y = _mm512_min_ps(hi, _mm512_max_ps(lo, y));
        }
        _mm512_mask_storeu_ps(c + 16 * v, mask[v], y);
      }
    }
  }
}

// Rows per call by column panels (16 x 1, 8 x 2, 8 x 3, 4 x 4): the table's stridedMr.
void stridedAvx512(const FloatStridedArgs& t) {
  switch ((t.cols + 15) / 16) {
    case 1: stridedTile<16, 1>(t); break;
    case 2: stridedTile<8, 2>(t); break;
    case 3: stridedTile<8, 3>(t); break;
    default: stridedTile<4, 4>(t); break;
  }
}

}  // namespace

const FloatKernelTable kAvx512FloatTable = {"avx512",   kMr,           kNr, tileAvx512, dotAvx512,
                                            ceilingAvx512, kCeilingChains * 32, kMrNarrow, tileNarrowAvx512, packAAvx512,
                                            indirectAvx512, {8, 6, 4, 4}, stridedAvx512, {16, 8, 8, 4}};

}  // namespace anyprec
