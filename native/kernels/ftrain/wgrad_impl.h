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


// RI output rows x VJ vectors of W columns, columns j0.. (full vectors only), over all K.
template <int W, int RI, int VJ>
inline void block(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, size_t i0, int ri, size_t j0,
                  bool accumulate) {
  typedef float V __attribute__((vector_size(W * 4)));
  V acc[RI][VJ];
  for (int i = 0; i < RI; ++i)
    for (int v = 0; v < VJ; ++v) {
      if (accumulate && i < ri) std::memcpy(&acc[i][v], c + (i0 + i) * n + j0 + v * W, sizeof(V));
      else acc[i][v] = V{};
    }
  for (size_t t = 0; t < k; ++t) {
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

// Columns [j0, n) one at a time (the tail narrower than a vector).
inline void scalarColumns(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, size_t i0, size_t i1,
                          size_t j0, bool accumulate) {
  for (size_t i = i0; i < i1; ++i)
    for (size_t j = j0; j < n; ++j) {
      float s = accumulate ? c[i * n + j] : 0.0f;
      for (size_t t = 0; t < k; ++t) {
        const float p = a[t * m + i] * b[t * n + j];
        s = s + p;
      }
      c[i * n + j] = s;
    }
}


// The driver: tasks are (RI-row group, VJ*W-column group) blocks; a 4-wide pass and a scalar
// pass take the columns past the last full W-wide vector.
template <int W, int RI, int VJ>
void wgradExact(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads) {
  constexpr size_t kW = static_cast<size_t>(W);
  const size_t fullVec = n / kW;                       // W-wide vectors in a row
  const size_t jGroups = (fullVec + VJ - 1) / VJ;     // tasks along the columns
  const size_t iGroups = (m + RI - 1) / RI;
  const size_t wideEnd = fullVec * kW;
  const size_t narrowEnd = wideEnd + (n - wideEnd) / 4 * 4;
  parallelRun(iGroups * (jGroups + 1), threads, [&](size_t task) {
    const size_t ig = task / (jGroups + 1), jg = task % (jGroups + 1);
    const size_t i0 = ig * RI;
    const int ri = static_cast<int>(std::min<size_t>(RI, m - i0));
    if (jg == jGroups) {  // the tail columns of these rows
      if (W > 4)
        for (size_t j = wideEnd; j < narrowEnd; j += 4) block<4, RI, 1>(m, n, k, a, b, c, i0, ri, j, accumulate);
      scalarColumns(m, n, k, a, b, c, i0, i0 + static_cast<size_t>(ri), W > 4 ? narrowEnd : wideEnd, accumulate);
      return;
    }
    const size_t v0 = jg * VJ, vs = std::min<size_t>(VJ, fullVec - v0);
    size_t v = v0;
    if (vs == static_cast<size_t>(VJ)) {
      block<W, RI, VJ>(m, n, k, a, b, c, i0, ri, v * kW, accumulate);
      return;
    }
    for (; v < v0 + vs; ++v) block<W, RI, 1>(m, n, k, a, b, c, i0, ri, v * kW, accumulate);
  });
}

}  // namespace
}  // namespace ftrain
}  // namespace anyprec
