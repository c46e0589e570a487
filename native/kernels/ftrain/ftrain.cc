// anyprec training kernels: see ftrain.h.
#include "ftrain.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "conv/conv.h"
#include "common/threadpool.h"
#include "ftrain/bnorm.h"

namespace anyprec {
namespace ftrain {

namespace {
bool mulOverflows(size_t a, size_t b) { return a != 0 && b > std::numeric_limits<size_t>::max() / 4 / a; }

constexpr size_t kRowBlock = 8;    // rows of C updated together (each B row loaded once per 8)
constexpr size_t kColBlock = 256;  // columns of C per task (an 8 x 256 C block stays in L1)
constexpr size_t kDepthBlock = 128;  // K steps per pass over a C block (B block stays in L2)

// `R` rows of C (at c + r * n + c0, width w) += sum over t in [kb, ke) of op(A)[r][t] * Bk[t][c0..].
// Every output is updated in increasing t, one rounding per product and per add.
template <size_t R>
void rowsUpdate(const float* a, size_t aRowStride, size_t aColStride, size_t r, const float* bk, size_t n, float* c,
                size_t c0, size_t w, size_t kb, size_t ke) {
  for (size_t t = kb; t < ke; ++t) {
    float av[R];
    for (size_t i = 0; i < R; ++i) av[i] = a[(r + i) * aRowStride + t * aColStride];
    const float* __restrict brow = bk + t * n + c0;
    for (size_t i = 0; i < R; ++i) {
      float* __restrict cp = c + (r + i) * n + c0;
      const float ai = av[i];
      for (size_t j = 0; j < w; ++j) cp[j] += ai * brow[j];
    }
  }
}

// C[r0..r1) x [c0..c1) of op(A) . Bk, where Bk is op(B) as K x N row-major and the rows of op(A)
// are read through (row, column) strides.
void kernelBlock(const float* a, size_t aRowStride, size_t aColStride, const float* bk, size_t n,
                 size_t k, float* c, size_t r0, size_t r1, size_t c0, size_t c1, bool accumulate) {
  const size_t w = c1 - c0;
  if (!accumulate)
    for (size_t r = r0; r < r1; ++r) std::memset(c + r * n + c0, 0, w * sizeof(float));
  for (size_t kb = 0; kb < k; kb += kDepthBlock) {
    const size_t ke = std::min(k, kb + kDepthBlock);
    size_t r = r0;
    for (; r + kRowBlock <= r1; r += kRowBlock) rowsUpdate<kRowBlock>(a, aRowStride, aColStride, r, bk, n, c, c0, w, kb, ke);
    for (; r < r1; ++r) rowsUpdate<1>(a, aRowStride, aColStride, r, bk, n, c, c0, w, kb, ke);
  }
}
}  // namespace

std::string checkGemmT(const GemmTSpec& s) {
  if (s.m == 0 || s.n == 0 || s.k == 0) return "m, n and k must be positive";
  if (mulOverflows(s.m, s.n) || mulOverflows(s.m, s.k) || mulOverflows(s.k, s.n)) return "matrix sizes overflow";
  if (s.a == nullptr || s.b == nullptr || s.c == nullptr) return "null matrix";
  return "";
}

void gemmT(const GemmTSpec& s, int threads) {
  const size_t m = s.m, n = s.n, k = s.k;
  // op(B) as K x N row-major: B itself, or its transpose copied once (N x K -> K x N).
  std::vector<float> bt;
  const float* bk = s.b;
  if (s.transB) {
    bt.resize(k * n);
    const size_t tile = 32;
    const size_t colTasks = (k + tile - 1) / tile;
    parallelRun(colTasks, threads, [&](size_t t) {
      const size_t k0 = t * tile, k1 = std::min(k, k0 + tile);
      for (size_t j = 0; j < n; ++j) {
        const float* src = s.b + j * k;
        for (size_t kk = k0; kk < k1; ++kk) bt[kk * n + j] = src[kk];
      }
    });
    bk = bt.data();
  }
  // op(A) read in place through strides: row i, step t at a[i * rowStride + t * colStride].
  const size_t aRow = s.transA ? 1 : k, aCol = s.transA ? m : 1;
  // With a transposed A the strided reads a[t * m + i] for 4 rows are adjacent; fine either way.
  const size_t rowsPerTask = std::max<size_t>(kRowBlock, ((size_t{1} << 16) / std::max<size_t>(1, k * 4)) / kRowBlock * kRowBlock);
  // (a row task's B block (kDepthBlock x kColBlock) is reused by all its rows while in cache)
  const size_t rowTasks = (m + rowsPerTask - 1) / rowsPerTask;
  const size_t colTasks = (n + kColBlock - 1) / kColBlock;
  parallelRun(rowTasks * colTasks, threads, [&](size_t t) {
    const size_t rt = t / colTasks, ct = t % colTasks;
    const size_t r0 = rt * rowsPerTask, r1 = std::min(m, r0 + rowsPerTask);
    const size_t c0 = ct * kColBlock, c1 = std::min(n, c0 + kColBlock);
    kernelBlock(s.a, aRow, aCol, bk, n, k, s.c, r0, r1, c0, c1, s.accumulate);
  });
}

void col2im(const float* cols, const ConvShape& s, float* x, bool accumulate, int threads) {
  const size_t oh = s.outH(), ow = s.outW(), k = s.k(), c = s.c;
  const size_t imgSize = s.h * s.w * c;
  // One task per image: the images' input regions are disjoint, so no two tasks write one value.
  parallelRun(s.n, threads, [&](size_t img) {
    float* xi = x + img * imgSize;
    if (!accumulate) std::memset(xi, 0, imgSize * sizeof(float));
    for (size_t y = 0; y < oh; ++y) {
      for (size_t xo = 0; xo < ow; ++xo) {
        const float* row = cols + ((img * oh + y) * ow + xo) * k;
        for (size_t ky = 0; ky < s.kh; ++ky) {
          const long iy = static_cast<long>(y * s.strideH + ky * s.dilH) - static_cast<long>(s.padH);
          if (iy < 0 || iy >= static_cast<long>(s.h)) continue;
          for (size_t kx = 0; kx < s.kw; ++kx) {
            const long ix = static_cast<long>(xo * s.strideW + kx * s.dilW) - static_cast<long>(s.padW);
            if (ix < 0 || ix >= static_cast<long>(s.w)) continue;
            float* __restrict dst = xi + (static_cast<size_t>(iy) * s.w + static_cast<size_t>(ix)) * c;
            const float* __restrict src = row + (ky * s.kw + kx) * c;
            for (size_t ch = 0; ch < c; ++ch) dst[ch] += src[ch];
          }
        }
      }
    }
  });
}

namespace {
// Splits rows into chunks, runs body(r0, r1, partials) per chunk on the pool, then sums the
// chunks' double partials (parts values each) in chunk order, so the result does not depend
// on the thread count.
template <typename Body>
std::vector<double> reduceRows(size_t rows, size_t parts, int threads, Body body) {
  const size_t chunk = 1024;
  const size_t chunks = (rows + chunk - 1) / chunk;
  std::vector<double> partial(chunks * parts, 0.0);
  parallelRun(chunks, threads, [&](size_t t) {
    body(t * chunk, std::min(rows, (t + 1) * chunk), partial.data() + t * parts);
  });
  std::vector<double> total(parts, 0.0);
  for (size_t t = 0; t < chunks; ++t)
    for (size_t i = 0; i < parts; ++i) total[i] += partial[t * parts + i];
  return total;
}
}  // namespace

const BnRows& bnRowsFor(const char* isa) {
  const std::string name = isa != nullptr ? isa : "";
#if defined(__x86_64__) || defined(_M_X64)
  if (name == "avx512") return bnRowsAvx512;
  if (name == "avx2") return bnRowsAvx2;
#endif
#if defined(__aarch64__)
  if (name == "neon") return bnRowsNeon;
#endif
  return bnRowsScalar;
}

void channelMoments(const float* x, size_t rows, size_t c, float* mean, float* var, int threads, const char* isa) {
  const BnRows& k = bnRowsFor(isa);
  const std::vector<double> sum = reduceRows(rows, c, threads, [&](size_t r0, size_t r1, double* acc) {
    k.sum(x, r0, r1, c, acc);
  });
  std::vector<double> mu(c);
  for (size_t ch = 0; ch < c; ++ch) mu[ch] = sum[ch] / static_cast<double>(rows);
  const std::vector<double> sq = reduceRows(rows, c, threads, [&](size_t r0, size_t r1, double* acc) {
    k.squaredDeviations(x, r0, r1, c, mu.data(), acc);
  });
  for (size_t ch = 0; ch < c; ++ch) {
    mean[ch] = static_cast<float>(mu[ch]);
    var[ch] = static_cast<float>(sq[ch] / static_cast<double>(rows));
  }
}

void batchNormBackward(const float* g, const float* x, size_t rows, size_t c, const float* mean,
                       const float* invstd, const float* gamma, float* dx, float* dgamma,
                       float* dbeta, int threads, const char* isa) {
  const BnRows& k = bnRowsFor(isa);
  // parts: [0, c) sum g, [c, 2c) sum g * xhat
  const std::vector<double> s = reduceRows(rows, 2 * c, threads, [&](size_t r0, size_t r1, double* acc) {
    k.gradientSums(g, x, r0, r1, c, mean, invstd, acc);
  });
  for (size_t ch = 0; ch < c; ++ch) {
    dbeta[ch] = static_cast<float>(s[ch]);
    dgamma[ch] = static_cast<float>(s[c + ch]);
  }
  if (dx == nullptr) return;
  std::vector<float> ka(c), kb(c), kc(c);
  const double inv = 1.0 / static_cast<double>(rows);
  for (size_t ch = 0; ch < c; ++ch) {
    // dx = gamma*invstd*(g - sg/rows - (x-mean)*invstd * sgx/rows) = ka*g + kb*x + kc
    const double gi = static_cast<double>(gamma[ch]) * invstd[ch];
    const double slope = static_cast<double>(invstd[ch]) * s[c + ch] * inv;
    ka[ch] = static_cast<float>(gi);
    kb[ch] = static_cast<float>(-gi * slope);
    kc[ch] = static_cast<float>(gi * (-s[ch] * inv + mean[ch] * slope));
  }
  const size_t chunk = 1024;
  parallelRun((rows + chunk - 1) / chunk, threads, [&](size_t t) {
    k.inputGradient(g, x, t * chunk, std::min(rows, (t + 1) * chunk), c, ka.data(), kb.data(), kc.data(), dx);
  });
}

}  // namespace ftrain
}  // namespace anyprec
