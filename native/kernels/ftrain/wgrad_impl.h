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

#include "common/threadpool.h"
#include "ftrain/wgrad.h"

namespace anyprec {
namespace ftrain {
namespace {


// Output positions (t) per pass: a pass runs every row group of a task's columns over t0..t1,
// so the B rows of the pass (TB x the task's columns) are read from memory once and from L1/L2
// by the other row groups. Between passes an output block waits in C (stored and reloaded
// exactly): the order of every sum stays t = 0, 1, ..., K-1.
constexpr size_t kPassRows = 256;

// RI output rows x VJ vectors of W columns at (i0, j0), over t in [t0, t1); starts from C when
// `load`, else from zero.
template <int W, int RI, int VJ>
inline void block(size_t m, size_t n, const float* a, const float* b, float* c, size_t i0, int ri, size_t j0, size_t t0,
                  size_t t1, bool load) {
  typedef float V __attribute__((vector_size(W * 4)));
  V acc[RI][VJ];
  for (int i = 0; i < RI; ++i)
    for (int v = 0; v < VJ; ++v) {
      if (load && i < ri) std::memcpy(&acc[i][v], c + (i0 + i) * n + j0 + v * W, sizeof(V));
      else acc[i][v] = V{};
    }
  for (size_t t = t0; t < t1; ++t) {
    const float* br = b + t * n + j0;
    const float* ar = a + t * m + i0;
    V bv[VJ];
    for (int v = 0; v < VJ; ++v) std::memcpy(&bv[v], br + v * W, sizeof(V));
    for (int i = 0; i < RI; ++i) {
      const float s = i < ri ? ar[i] : 0.0f;
      const V av = V{} + s;
      for (int v = 0; v < VJ; ++v) {
        const V p = av * bv[v];
        acc[i][v] = acc[i][v] + p;
      }
    }
  }
  for (int i = 0; i < ri; ++i)
    for (int v = 0; v < VJ; ++v) std::memcpy(c + (i0 + i) * n + j0 + v * W, &acc[i][v], sizeof(V));
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
      for (size_t i0 = 0; i0 < m; i0 += RI) {
        const int ri = static_cast<int>(std::min<size_t>(RI, m - i0));
        if (task < slices) {
          block<W, RI, VJ>(m, n, a, b, c, i0, ri, task * kSlice, t0, t1, load);
          continue;
        }
        for (size_t j = sliceEnd; j < quadEnd; j += 4) block<4, RI, 1>(m, n, a, b, c, i0, ri, j, t0, t1, load);
      }
      if (task == slices)
        for (size_t j = quadEnd; j < n; ++j) scalarColumn(m, n, a, b, c, j, t0, t1, load);
    }
  });
}

}  // namespace
}  // namespace ftrain
}  // namespace anyprec
