// anyprec training kernels, the body of the weight-gradient GEMM (wgrad.h), per ISA file:
//   C[i][j] (+)= sum over t = 0..K-1 of A[t][i] * B[t][j]     (A stored K x M, B stored K x N)
// every product rounded to float32, then added to the running sum, t increasing (the order of
// ftrain::gemmT with transA): bit-identical to the plain loop on every ISA and thread count.
// Each output block is held in registers over the whole of K; the ISA sets the vector width.
// The template is instantiated once per ISA file (wgrad_<isa>.cc), compiled with that ISA's
// flags and -ffp-contract=off (so no multiply-add is fused). Everything here has internal
// linkage: the ISA files' copies must never be merged by the linker.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstring>

#include <vector>

#include "common/threadpool.h"
#include "conv/conv.h"
#include "ftrain/common.h"
#include "ftrain/wgrad.h"

namespace anyprec {
namespace ftrain {
namespace {

// Output positions (t) per pass: a pass runs every row group of a task's columns over t0..t1,
// so the B rows of the pass (TB x the task's columns) are read from memory once and from L1/L2
// by the other row groups. Between passes an output block waits in C (stored and reloaded
// exactly): the order of every sum stays t = 0, 1, ..., K-1.
constexpr size_t kPassRows = 256;

// The in-place forms' pass (wgradInPlace): at most kPassRows and at least 32 output positions,
// sized so the pass's gy rows (pass x o floats, read again by every column unit) take about 8 KiB
// and stay in L1 beside the unit's input rows; 256 rows of o = 64 (64 KiB) were read from L2 by
// each unit (measured on Zen 3 AVX2: o = 64 at 8x8, 26 -> 34 GMAC/s; o = 16, 32 a little faster).
inline size_t inPlacePassRows(size_t o) {
  return std::max<size_t>(32, std::min<size_t>(kPassRows, 2048 / std::max<size_t>(o, 1)));
}

// s in every lane of v (not V{} + s, which turns -0 into +0 and so could change a zero's sign).
template <int W, typename V>
inline void splat(float s, V& v) {
  float lanes[W];
  for (int l = 0; l < W; ++l) lanes[l] = s;
  std::memcpy(&v, lanes, sizeof(V));
}

// RI output rows x VJ vectors of W columns of C (row stride ldc, at c), over t in [t0, t1):
// A row t is a + t * m (the RI values from i0), B row t is brow(t) (VJ * W values). Starts from C
// when `load`, else from zero.
template <int W, int RI, int VJ, typename BRow>
inline void block(size_t m, const float* a, BRow brow, float* c, size_t ldc, size_t i0, size_t t0, size_t t1, bool load) {
  typedef float V __attribute__((vector_size(W * 4)));
  V acc[RI][VJ];
  ANYPREC_FTRAIN_UNROLL
  for (int i = 0; i < RI; ++i) {
    ANYPREC_FTRAIN_UNROLL
    for (int v = 0; v < VJ; ++v) {
      if (load) std::memcpy(&acc[i][v], c + (i0 + i) * ldc + v * W, sizeof(V));
      else acc[i][v] = V{};
    }
  }
  ANYPREC_FTRAIN_UNROLL2
  for (size_t t = t0; t < t1; ++t) {
    const float* br = brow(t);
    const float* ar = a + t * m + i0;
    V bv[VJ];
    ANYPREC_FTRAIN_UNROLL
    for (int v = 0; v < VJ; ++v) std::memcpy(&bv[v], br + v * W, sizeof(V));
    ANYPREC_FTRAIN_UNROLL
    for (int i = 0; i < RI; ++i) {
      V av;
      splat<W>(ar[i], av);
      ANYPREC_FTRAIN_UNROLL
      for (int v = 0; v < VJ; ++v) {
        const V p = av * bv[v];
        acc[i][v] = acc[i][v] + p;
      }
    }
  }
  ANYPREC_FTRAIN_UNROLL
  for (int i = 0; i < RI; ++i) {
    ANYPREC_FTRAIN_UNROLL
    for (int v = 0; v < VJ; ++v) std::memcpy(c + (i0 + i) * ldc + v * W, &acc[i][v], sizeof(V));
  }
}

// The last `left` (< R) rows from i0 as one block of that many rows (R - 1, ..., 1), not one row
// at a time: a 1-row block's few accumulators are bound by the add latency.
template <int W, int R, int VJ, typename BRow>
inline void tailRows(size_t left, size_t m, const float* a, BRow brow, float* c, size_t ldc, size_t i0, size_t t0,
                     size_t t1, bool load) {
  if constexpr (R > 1) {
    if (left == R - 1) block<W, R - 1, VJ>(m, a, brow, c, ldc, i0, t0, t1, load);
    else tailRows<W, R - 1, VJ>(left, m, a, brow, c, ldc, i0, t0, t1, load);
  }
}

// Every row of C (m rows; full groups of RI, then the rest as one block) for one column block.
template <int W, int RI, int VJ, typename BRow>
inline void blockRows(size_t m, const float* a, BRow brow, float* c, size_t ldc, size_t t0, size_t t1, bool load) {
  size_t i0 = 0;
  for (; i0 + RI <= m; i0 += RI) block<W, RI, VJ>(m, a, brow, c, ldc, i0, t0, t1, load);
  if (i0 < m) tailRows<W, RI, VJ>(m - i0, m, a, brow, c, ldc, i0, t0, t1, load);
}

// Column j of rows [0, m) over t in [t0, t1), one value at a time (the tail narrower than 4).
inline void scalarColumn(size_t m, size_t n, const float* a, const float* b, float* c, size_t j, size_t t0, size_t t1,
                         bool load) {
  for (size_t i = 0; i < m; ++i) {
    float s = load ? c[i * n + j] : 0.0f;
    for (size_t t = t0; t < t1; ++t) {
      const float p = a[t * m + i] * b[t * n + j];
      s = s + p;
    }
    c[i * n + j] = s;
  }
}

// The driver. A task owns a column slice of C (VJ vectors of W floats; the last task the columns
// past the last such slice, in 4-wide vectors and then one at a time) and all its rows; it walks
// K in passes of kPassRows.
template <int W, int RI, int VJ>
void wgradExact(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads) {
  constexpr size_t kSlice = static_cast<size_t>(W) * VJ;
  const size_t slices = n / kSlice, sliceEnd = slices * kSlice;
  const size_t quadEnd = sliceEnd + (n - sliceEnd) / 4 * 4;
  const bool tail = sliceEnd < n;
  parallelRun(slices + (tail ? 1 : 0), threads, [&](size_t task) {
    for (size_t t0 = 0; t0 < k; t0 += kPassRows) {
      const size_t t1 = std::min(k, t0 + kPassRows);
      const bool load = accumulate || t0 > 0;
      if (task < slices) {
        const size_t j0 = task * kSlice;
        blockRows<W, RI, VJ>(m, a, [&](size_t t) { return b + t * n + j0; }, c + j0, n, t0, t1, load);
      } else {
        for (size_t j = sliceEnd; j < quadEnd; j += 4)
          blockRows<4, RI, 1>(m, a, [&](size_t t) { return b + t * n + j; }, c + j, n, t0, t1, load);
      }
      if (task == slices)
        for (size_t j = quadEnd; j < n; ++j) scalarColumn(m, n, a, b, c, j, t0, t1, load);
    }
  });
}

// The driver of the weight gradients whose lowering is read in place (wgradConvExact and
// wgradRowsExact below): gw's columns (o x k) are `lines` lines of `width` floats each (a tap's
// channels, or a kernel row's kw pixels), cut into column units of kChunk floats; fill(line, t0,
// t1, ptr) sets ptr[t - t0] to the B row of output position t in [t0, t1) for a line (ptr[t - t0]
// may point into a buffer of the calling thread that stays valid until its next fill). The units
// are split into contiguous groups, one task each; a task walks the output positions in passes of
// inPlacePassRows(o) and runs all its units over a pass, so the pass's input rows and gy rows are
// read from cache by every unit. Each output is summed over t = 0, 1, ..., rows-1: the same bits
// as wgradExact on the explicit lowering, whatever the grouping and thread count.
template <int W, int RI, int VJ, typename Fill>
void wgradInPlace(const ConvShape& s, size_t lines, size_t width, size_t o, const float* gy, float* gw,
                  bool accumulate, int threads, Fill fill) {
  constexpr size_t kChunk = static_cast<size_t>(W) * VJ;
  const size_t k = s.k(), rows = s.rows();
  const size_t chunks = width / kChunk, units = lines * chunks;
  const size_t groups = std::min<size_t>(units, static_cast<size_t>(std::max(threads, 1)));
  parallelRun(groups, threads, [&](size_t g) {
    const size_t u0 = units * g / groups, u1 = units * (g + 1) / groups;
    const size_t passRows = inPlacePassRows(o);
    std::vector<const float*> ptr(passRows);
    for (size_t t0 = 0; t0 < rows; t0 += passRows) {
      const size_t t1 = std::min(rows, t0 + passRows);
      const bool load = accumulate || t0 > 0;
      size_t lineNow = lines;  // the line whose rows `ptr` holds
      for (size_t u = u0; u < u1; ++u) {
        const size_t line = u / chunks, j0 = (u % chunks) * kChunk;
        if (line != lineNow) {
          lineNow = line;
          fill(line, t0, t1, ptr.data());
        }
        const float* const* pp = ptr.data();
        auto brow = [pp, t0, j0](size_t t) { return pp[t - t0] + j0; };
        blockRows<W, RI, VJ>(o, gy, brow, gw + line * width + j0, k, t0, t1, load);
      }
    }
  });
}

// The weight gradient of a convolution with its lowering read in place (wgrad.h, wgradConv):
// gw (o x k, columns [tap][channel]) (+)= gy^T . im2col(x). A line is one tap (c floats); its B
// row t is the input pixel tap (ky, kx) of output position t reads (or a row of zeros in the
// padding, multiplied as im2col's zeros are). Needs c % (W * VJ) == 0.
template <int W, int RI, int VJ>
void wgradConvExact(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                    int threads) {
  const size_t c = s.c, oh = s.outH(), ow = s.outW();
  const std::vector<float> zeros(c, 0.0f);  // the padding's row (a whole pixel: any chunk offset)
  auto fill = [&](size_t tap, size_t t0, size_t t1, const float** ptr) {
    size_t img = t0 / (oh * ow), oy = (t0 / ow) % oh, ox = t0 % ow;
    for (size_t t = t0; t < t1; ++t) {
      const long iy = static_cast<long>(oy * s.strideH + (tap / s.kw) * s.dilH) - static_cast<long>(s.padH);
      const long ix = static_cast<long>(ox * s.strideW + (tap % s.kw) * s.dilW) - static_cast<long>(s.padW);
      const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<long>(s.h) && ix < static_cast<long>(s.w);
      ptr[t - t0] = inside ? x + ((img * s.h + static_cast<size_t>(iy)) * s.w + static_cast<size_t>(ix)) * c : zeros.data();
      if (++ox == ow) {
        ox = 0;
        if (++oy == oh) { oy = 0; ++img; }
      }
    }
  };
  wgradInPlace<W, RI, VJ>(s, s.kh * s.kw, c, o, gy, gw, accumulate, threads, fill);
}

// The weight gradient of a convolution by kernel rows (dilation 1 along the width): the kw taps of
// one kernel row read kw adjacent input pixels, kw * c contiguous floats, so a line is a kernel
// row (a column unit may span taps) and the B row t is one pointer into x. Where the window's row
// lies in the padding above or below the image, B is a row of zeros; where it leaves the image
// at the sides, the row is built in the calling thread's border buffer (the pixels with zeros in
// place of the padding, exactly im2col's row). Positions are walked an output row at a time: the
// pointers of the positions whose window lies inside step by stride * c (the costs per position
// were a quarter of the time at 16 channels and 16 outputs). Needs (kw * c) % (W * VJ) == 0.
template <int W, int RI, int VJ>
void wgradRowsExact(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                    int threads) {
  const size_t c = s.c, span = s.kw * c, oh = s.outH(), ow = s.outW(), sw = s.strideW;
  const std::vector<float> zeros(span, 0.0f);
  // output columns [oxLo, oxHi) have their window inside the image's width
  const size_t oxLo = std::min(ow, (s.padW + sw - 1) / sw);
  const size_t oxHi = s.w + s.padW >= s.kw ? std::max(oxLo, std::min(ow, (s.w + s.padW - s.kw) / sw + 1)) : oxLo;
  thread_local Scratch borderScratch;
  auto fill = [&](size_t ky, size_t t0, size_t t1, const float** ptr) {
    float* border = borderScratch.get(kPassRows * span);
    size_t img = t0 / (oh * ow), oy = (t0 / ow) % oh, ox = t0 % ow;
    for (size_t t = t0; t < t1;) {
      const size_t end = std::min(t1, t + (ow - ox));  // this output row's positions in the pass
      const long iy = static_cast<long>(oy * s.strideH) + static_cast<long>(ky * s.dilH) - static_cast<long>(s.padH);
      if (iy < 0 || iy >= static_cast<long>(s.h)) {
        for (; t < end; ++t) ptr[t - t0] = zeros.data();
      } else {
        const float* rowBase = x + (img * s.h + static_cast<size_t>(iy)) * s.w * c;
        for (; t < end; ++t, ++ox) {
          const long ix0 = static_cast<long>(ox * sw) - static_cast<long>(s.padW);
          if (ox >= oxLo && ox < oxHi) {
            // the inside run: one pointer step per position
            const float* p = rowBase + static_cast<size_t>(ix0) * c;
            const size_t runEnd = std::min(end, t + (oxHi - ox));
            for (; t < runEnd; ++t, ++ox, p += sw * c) ptr[t - t0] = p;
            --t, --ox;  // (the outer loop's step)
            continue;
          }
          float* b = border + (t - t0) * span;
          for (size_t kx = 0; kx < s.kw; ++kx) {
            const long ix = ix0 + static_cast<long>(kx);
            if (ix >= 0 && ix < static_cast<long>(s.w))
              std::memcpy(b + kx * c, rowBase + static_cast<size_t>(ix) * c, c * sizeof(float));
            else
              std::memset(b + kx * c, 0, c * sizeof(float));
          }
          ptr[t - t0] = b;
        }
      }
      t = end;
      ox = 0;
      if (++oy == oh) { oy = 0; ++img; }
    }
  };
  wgradInPlace<W, RI, VJ>(s, s.kh, span, o, gy, gw, accumulate, threads, fill);
}

// The ISA's wgradConv (RI: the row count of its 2-vector tile): by kernel rows in chunks of VJRows
// vectors (RIRows rows) where a kernel row's kw * c floats split so (dilation 1 along the width),
// else per tap in chunks of 2 vectors or 1 vector (twice the rows); false, doing nothing, unless
// the channels split into single vectors (c % W == 0).
template <int W, int RI, int RIRows, int VJRows = 3>
bool wgradConvDispatch(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                       int threads) {
  if (s.c % W != 0) return false;
  if (s.dilW == 1 && (s.kw * s.c) % (VJRows * W) == 0)
    wgradRowsExact<W, RIRows, VJRows>(x, s, o, gy, gw, accumulate, threads);
  else if (s.c % (2 * W) == 0) wgradConvExact<W, RI, 2>(x, s, o, gy, gw, accumulate, threads);
  else wgradConvExact<W, 2 * RI, 1>(x, s, o, gy, gw, accumulate, threads);
  return true;
}

// The ISA's plain wgrad: as wgradExact<W, RI, VJ> (or <W, RI, 1> where the columns split into
// single vectors but not into slices of VJ), except where C's columns leave a remainder
// that is not a whole vector and its rows do not (n % W != 0, m % W == 0): then C^T = B^T A is
// computed (the same products, a * b = b * a exactly, summed in the same order) on C transposed,
// so most columns run in whole vectors (a convolution with few input channels, e.g. a network's
// first layer: k = 27 columns, o = 16 rows).
template <int W, int RI, int VJ>
void wgradDispatch(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate,
                   int threads) {
  // C (rows x cols) from A (K x rows) and B (K x cols): whole slices of VJ vectors where the
  // columns split so, else single vectors where they split into those
  auto run = [&](size_t rows, size_t cols, const float* ak, const float* bk, float* ck) {
    if (cols % (W * VJ) != 0 && cols % W == 0) wgradExact<W, RI, 1>(rows, cols, k, ak, bk, ck, accumulate, threads);
    else wgradExact<W, RI, VJ>(rows, cols, k, ak, bk, ck, accumulate, threads);
  };
  if (n % W == 0 || m % W != 0) {
    run(m, n, a, b, c);
    return;
  }
  thread_local Scratch transposed;
  float* ct = transposed.get(m * n);
  if (accumulate)
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) ct[j * m + i] = c[i * n + j];
  run(n, m, b, a, ct);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) c[i * n + j] = ct[j * m + i];
}

}  // namespace
}  // namespace ftrain
}  // namespace anyprec
