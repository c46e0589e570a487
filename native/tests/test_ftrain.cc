// The training kernels of the conv hot path and the element-wise loops (native/kernels/ftrain)
// against plain scalar references, on every ISA this CPU runs, on odd shapes:
//   wgrad (weight gradient): bit-exact against the sequential float32 sum (the documented order);
//   convForward / convBackward's input gradient: within a float64-reference error bound;
//   convBackward's weight gradient: bit-exact; all of them independent of the thread count;
//   the element-wise loops: bit-exact against the scalar expressions;
//   batch norm's moments and backward: every ISA's row loops bit-exact against the scalar
//   instance at any thread count, and the scalar within a float64-reference error bound.
#include <cmath>
#include <cstring>
#include <string>

#include "ftrain/conv_train.h"
#include "ftrain/ftrain.h"
#include "ftrain/sameconv.h"
#include "ftrain/eltwise_train.h"
#include "ftrain/wgrad.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

std::vector<float> randoms(std::mt19937_64& rng, size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// C (m x n) starting from c0: for t = 0..k-1, C[i][j] = C[i][j] + A[t][i] * B[t][j], float32.
std::vector<float> wgradRef(size_t m, size_t n, size_t k, const std::vector<float>& a, const std::vector<float>& b,
                            std::vector<float> c) {
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      float s = c[i * n + j];
      for (size_t t = 0; t < k; ++t) {
        const float p = a[t * m + i] * b[t * n + j];
        s = s + p;
      }
      c[i * n + j] = s;
    }
  return c;
}

// Input element (img, y, x, ch) feeding output row r, tap (ky, kx), or -1 in the padding.
long tapIndex(const ConvShape& s, size_t r, size_t ky, size_t kx, size_t ch) {
  const size_t oh = s.outH(), ow = s.outW();
  const size_t img = r / (oh * ow), y = (r / ow) % oh, xo = r % ow;
  const long iy = long(y * s.strideH + ky * s.dilH) - long(s.padH), ix = long(xo * s.strideW + kx * s.dilW) - long(s.padW);
  if (iy < 0 || ix < 0 || iy >= long(s.h) || ix >= long(s.w)) return -1;
  return long(((img * s.h + size_t(iy)) * s.w + size_t(ix)) * s.c + ch);
}

struct Case { ConvShape s; size_t o; bool bias; };

}  // namespace

int main() {
  std::mt19937_64 rng(77);
  const double eps = std::ldexp(1.0, -24);
  const std::vector<Case> cases = {
      {{2, 7, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1}, 5, true},    // 3x3, padded
      {{3, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1}, 17, false},  // stride 2
      {{2, 6, 7, 16, 1, 1, 1, 1, 0, 0, 1, 1}, 9, false},  // 1x1: the lowering is the input
      {{2, 8, 8, 6, 1, 1, 2, 2, 0, 0, 1, 1}, 33, false},  // 1x1 stride 2 (the ResNet shortcut)
      {{1, 9, 9, 5, 3, 2, 1, 2, 2, 1, 2, 1}, 7, true},    // dilation, uneven kernel and strides
      {{4, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 16, false},  // 576 rows x 144: several passes of K
      // the weight gradient read from x in place (wgradConv): 1/2/4-vector channel chunks, the
      // fallback to the lowering where the channels do not split, odd output counts (row tails),
      // batch 1/3/17, stride 1/2, pad 0/1, passes that end inside an image row
      {{1, 7, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 17, false},
      {{3, 6, 5, 32, 3, 3, 2, 2, 1, 1, 1, 1}, 9, false},
      {{17, 5, 4, 8, 3, 3, 1, 1, 0, 0, 1, 1}, 16, false},
      {{2, 9, 7, 48, 3, 3, 1, 1, 1, 1, 1, 1}, 5, false},
      {{3, 6, 6, 12, 3, 2, 2, 1, 1, 0, 2, 1}, 7, false},
      {{2, 8, 8, 64, 1, 1, 2, 2, 0, 0, 1, 1}, 32, false},
      {{1, 23, 23, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 16, false},
      // the direct kernel (sameConv): 4-vector channel tiles, a 5x5 "same" kernel, 16 and 32
      // output channels on 3x3 "same" shapes (the forward's direct route)
      {{2, 5, 11, 64, 3, 3, 1, 1, 1, 1, 1, 1}, 3, false},
      {{1, 6, 7, 8, 5, 5, 1, 1, 2, 2, 1, 1}, 4, false},
      {{1, 6, 7, 8, 5, 5, 1, 1, 2, 2, 1, 1}, 16, true},
      {{3, 5, 19, 3, 3, 3, 1, 1, 1, 1, 1, 1}, 32, true},
      {{2, 4, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 64, false},
      // the direct kernel's strided forward (a ResNet block's downsampling 3x3; odd sizes, a 5x3
      // kernel with strides 2 x 1), and the weight gradient by kernel rows at its borders
      {{2, 9, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1}, 32, true},
      {{1, 7, 10, 8, 5, 3, 2, 1, 2, 1, 1, 1}, 16, false},
      {{3, 11, 6, 32, 3, 3, 2, 2, 1, 1, 1, 1}, 64, false},
      // the weight gradient by kernel rows with a 1-row tail after the 6-row blocks (o % 6 == 1)
      {{2, 5, 6, 16, 3, 3, 1, 1, 1, 1, 1, 1}, 13, false},
      // by kernel rows, the pointer walk's edges: a 5x5 stride-2 window padded 2, no padding with
      // stride 2 along the width, no output column whose window lies inside the width (only
      // built rows), dilation along the height
      {{2, 7, 9, 16, 5, 5, 2, 2, 2, 2, 1, 1}, 7, false},
      {{2, 6, 11, 16, 3, 3, 1, 2, 0, 0, 1, 1}, 10, false},
      {{2, 4, 2, 16, 3, 5, 1, 1, 1, 2, 1, 1}, 6, false},
      {{1, 5, 7, 32, 3, 3, 2, 1, 1, 1, 2, 1}, 5, true},
  };
  const size_t wShapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 300}, {16, 144, 1000}, {9, 27, 513}, {64, 66, 257}, {5, 3, 2},
                              {16, 27, 700}, {32, 45, 300}};  // (the last two: computed transposed)

  for (const Platform* p : availablePlatforms()) {
    const FloatKernelTable& isa = *p->fgemm;
    const ftrain::WgradFn wgrad = ftrain::wgradFor(isa.name);
    // ---- wgrad: bit-exact, accumulate and not, any thread count
    for (const auto& sh : wShapes) {
      const size_t m = sh[0], n = sh[1], k = sh[2];
      const auto a = randoms(rng, k * m), b = randoms(rng, k * n), c0 = randoms(rng, m * n);
      std::vector<float> c1(m * n, 7.0f), c2 = c0;
      wgrad(m, n, k, a.data(), b.data(), c1.data(), false, 1);
      wgrad(m, n, k, a.data(), b.data(), c2.data(), true, 3);
      EXPECT(same(c1, wgradRef(m, n, k, a, b, std::vector<float>(m * n, 0.0f))), "[%s] wgrad m=%zu n=%zu k=%zu", p->name, m, n, k);
      EXPECT(same(c2, wgradRef(m, n, k, a, b, c0)), "[%s] wgrad accumulate m=%zu n=%zu k=%zu", p->name, m, n, k);
    }
    // ---- the direct kernel against the scalar instance, bit for bit (its order is documented:
    // taps, then inputs, increasing; the tile shape must not change it): output widths 1..25 (every
    // tail of every ISA's pixel tiles), 1/2/4/8 output vectors, stride 1 and 2, assign or add
    for (size_t cout : {4, 8, 16, 24, 32, 64})
      for (size_t cin : {3, 16})
        for (size_t st : {1, 2})
          for (size_t w = 1; w <= 25; w += (w < 14 ? 1 : 11)) {
            const size_t h = 3, n = 2, oh = (h - 1) / st + 1, ow = (w - 1) / st + 1;
            const auto in = randoms(rng, n * h * w * cin), wt = randoms(rng, 9 * cin * cout);
            const auto out0 = randoms(rng, n * oh * ow * cout);
            for (bool assign : {false, true}) {
              std::vector<float> got = out0, want = out0;
              ftrain::SameConvSpec spec{n, h, w, 3, 3, cin, cout, in.data(), wt.data(), got.data(), st, st};
              spec.assign = assign;
              const bool took = ftrain::sameConvFor(isa.name)(spec, 2);
              spec.out = want.data();
              ftrain::sameConvScalar(spec, 1);
              if (took)
                EXPECT(same(got, want), "[%s] sameConv cin=%zu cout=%zu w=%zu stride=%zu assign=%d: not the scalar bits",
                       p->name, cin, cout, w, st, int(assign));
            }
          }
    // ---- convolution forward and backward
    for (const Case& cs : cases) {
      const ConvShape& s = cs.s;
      const size_t rows = s.rows(), k = s.k(), o = cs.o, in = s.inputCount();
      const auto x = randoms(rng, in), w = randoms(rng, o * k), bias = randoms(rng, o), gy = randoms(rng, rows * o);
      const auto gw0 = randoms(rng, o * k), gx0 = randoms(rng, in);
      // forward: y[r][oc] = sum over taps of x * w (+ bias), float64 reference with its bound
      std::vector<float> y(rows * o, std::nanf(""));  // y's contents must not be read (written whole)
      ftrain::convForward(isa, x.data(), s, w.data(), o, cs.bias ? bias.data() : nullptr, y.data(), 2);
      size_t bad = 0;
      std::vector<float> cols(rows * k, 0.0f);  // the lowering, for the weight-gradient reference
      for (size_t r = 0; r < rows; ++r)
        for (size_t ky = 0; ky < s.kh; ++ky)
          for (size_t kx = 0; kx < s.kw; ++kx)
            for (size_t ch = 0; ch < s.c; ++ch) {
              const long xi = tapIndex(s, r, ky, kx, ch);
              cols[r * k + (ky * s.kw + kx) * s.c + ch] = xi < 0 ? 0.0f : x[size_t(xi)];
            }
      for (size_t r = 0; r < rows; ++r)
        for (size_t oc = 0; oc < o; ++oc) {
          double sum = cs.bias ? bias[oc] : 0.0, mag = cs.bias ? std::fabs(bias[oc]) : 0.0;
          for (size_t t = 0; t < k; ++t) {
            const double pr = double(cols[r * k + t]) * w[oc * k + t];
            sum += pr;
            mag += std::fabs(pr);
          }
          if (std::fabs(y[r * o + oc] - sum) > 2.0 * double(k + 2) * eps * mag) ++bad;
        }
      EXPECT(bad == 0, "[%s] convForward case c=%zu o=%zu: %zu outputs outside the bound", p->name, s.c, o, bad);
      // backward at 1 and 3 threads: identical; gw bit-exact; gx within the bound
      std::vector<float> gw1 = gw0, gx1 = gx0, gw3 = gw0, gx3 = gx0, gwOnly = gw0;
      ftrain::convBackward(isa, x.data(), s, w.data(), o, gy.data(), gw1.data(), gx1.data(), 1);
      ftrain::convBackward(isa, x.data(), s, w.data(), o, gy.data(), gw3.data(), gx3.data(), 3);
      ftrain::convBackward(isa, x.data(), s, w.data(), o, gy.data(), gwOnly.data(), nullptr, 2);
      EXPECT(same(gw1, gw3) && same(gx1, gx3), "[%s] convBackward c=%zu o=%zu depends on the thread count", p->name, s.c, o);
      EXPECT(same(gw1, gwOnly), "[%s] convBackward c=%zu o=%zu: gw differs without gx", p->name, s.c, o);
      // gxAssign: gx (NaN here) unread, the bits of accumulating into a zero-filled gx
      std::vector<float> gwZ = gw0, gxZ(in, 0.0f), gwA = gw0, gxA(in, std::nanf(""));
      ftrain::convBackward(isa, x.data(), s, w.data(), o, gy.data(), gwZ.data(), gxZ.data(), 2);
      ftrain::convBackward(isa, x.data(), s, w.data(), o, gy.data(), gwA.data(), gxA.data(), 2, true);
      EXPECT(same(gxA, gxZ) && same(gwA, gwZ), "[%s] convBackward c=%zu o=%zu: gxAssign differs from a zero-filled gx",
             p->name, s.c, o);
      EXPECT(same(gw1, wgradRef(o, k, rows, gy, cols, gw0)), "[%s] convBackward c=%zu o=%zu: gw not bit-exact", p->name, s.c, o);
      // the in-place form on its own, overwriting (accumulate false); it takes exactly the shapes
      // whose channels split into the ISA's vectors
      const std::string name = isa.name;
      const size_t width = name == "avx512" ? 16 : name == "avx2" ? 8 : 4;
      std::vector<float> gwIn(o * k, 7.0f);
      const bool took = ftrain::wgradConvFor(isa.name)(x.data(), s, o, gy.data(), gwIn.data(), false, 3);
      EXPECT(took == (s.c % width == 0), "[%s] wgradConv c=%zu: took %d", p->name, s.c, int(took));
      if (took)
        EXPECT(same(gwIn, wgradRef(o, k, rows, gy, cols, std::vector<float>(o * k, 0.0f))),
               "[%s] wgradConv c=%zu o=%zu: not bit-exact", p->name, s.c, o);
      std::vector<double> gxRef(in, 0.0), gxMag(in, 0.0);
      for (size_t r = 0; r < rows; ++r)
        for (size_t ky = 0; ky < s.kh; ++ky)
          for (size_t kx = 0; kx < s.kw; ++kx)
            for (size_t ch = 0; ch < s.c; ++ch) {
              const long xi = tapIndex(s, r, ky, kx, ch);
              if (xi < 0) continue;
              for (size_t oc = 0; oc < o; ++oc) {
                const double pr = double(gy[r * o + oc]) * w[oc * k + (ky * s.kw + kx) * s.c + ch];
                gxRef[size_t(xi)] += pr;
                gxMag[size_t(xi)] += std::fabs(pr);
              }
            }
      bad = 0;
      const double terms = double(o + s.kh * s.kw + 2);
      for (size_t i = 0; i < in; ++i) {
        const double want = gx0[i] + gxRef[i];
        if (std::fabs(gx1[i] - want) > 2.0 * terms * eps * (gxMag[i] + std::fabs(gx0[i]))) ++bad;
      }
      EXPECT(bad == 0, "[%s] convBackward c=%zu o=%zu: %zu input gradients outside the bound", p->name, s.c, o, bad);
      // the direct kernel (forward and input gradient of stride-1 "same" convolutions; the
      // checks above covered it where it ran) takes exactly the odd kernels whose output
      // channels split into the ISA's vectors
      float one = 1.0f, sink[64] = {};
      const std::vector<float> zeroW(s.kh * s.kw * o, 0.0f);
      const ftrain::SameConvSpec probe{1, 1, 1, s.kh, s.kw, 1, o, &one, zeroW.data(), sink};
      const bool direct = o <= 64 && ftrain::sameConvFor(isa.name)(probe, 1);
      EXPECT(o > 64 || direct == (s.kh % 2 == 1 && s.kw % 2 == 1 && o % width == 0), "[%s] sameConv k=%zux%zu o=%zu: took %d",
             p->name, s.kh, s.kw, o, int(direct));
    }
  }

  // ---- batch norm: moments and backward (rows: inside one chunk, several with a tail; channels:
  // below, at and past the vector widths)
  for (const auto& rc : {std::pair<size_t, size_t>{5, 3}, {1500, 16}, {3001, 35}, {2100, 64}}) {
    const size_t rows = rc.first, c = rc.second, n = rows * c;
    auto x = randoms(rng, n), g = randoms(rng, n), gamma = randoms(rng, c);
    for (size_t i = 0; i < n; ++i) x[i] = 3.0f * x[i] + 0.5f * float(i % c);  // per-channel offsets
    std::vector<float> mean(c), var(c), invstd(c);
    ftrain::channelMoments(x.data(), rows, c, mean.data(), var.data(), 1);
    // float64 reference: each moment within a few roundings of the exact value
    size_t bad = 0;
    for (size_t ch = 0; ch < c; ++ch) {
      double m = 0, v = 0, mag = 0;
      for (size_t r = 0; r < rows; ++r) m += x[r * c + ch], mag += std::fabs(x[r * c + ch]);
      m /= double(rows);
      for (size_t r = 0; r < rows; ++r) v += (x[r * c + ch] - m) * (x[r * c + ch] - m);
      v /= double(rows);
      if (std::fabs(mean[ch] - m) > 2 * eps * (mag / double(rows)) || std::fabs(var[ch] - v) > 2 * eps * v) ++bad;
      invstd[ch] = float(1.0 / std::sqrt(double(var[ch]) + 1e-5));
    }
    EXPECT(bad == 0, "channelMoments rows=%zu c=%zu: %zu channels outside the bound", rows, c, bad);
    std::vector<float> dx(n), dgamma(c), dbeta(c);
    ftrain::batchNormBackward(g.data(), x.data(), rows, c, mean.data(), invstd.data(), gamma.data(), dx.data(),
                              dgamma.data(), dbeta.data(), 1);
    bad = 0;
    std::vector<double> sg(c, 0.0), sgx(c, 0.0), magG(c, 0.0), magGx(c, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t ch = 0; ch < c; ++ch) {
        const double gv = g[r * c + ch], xh = (double(x[r * c + ch]) - mean[ch]) * invstd[ch];
        sg[ch] += gv, sgx[ch] += gv * xh, magG[ch] += std::fabs(gv), magGx[ch] += std::fabs(gv * xh);
      }
    for (size_t ch = 0; ch < c; ++ch)
      if (std::fabs(dbeta[ch] - sg[ch]) > 2 * eps * magG[ch] || std::fabs(dgamma[ch] - sgx[ch]) > 2 * eps * magGx[ch]) ++bad;
    for (size_t r = 0; r < rows; ++r)
      for (size_t ch = 0; ch < c; ++ch) {
        // dx = gamma * invstd * (g - sg/rows - xhat * sgx/rows), three float32 coefficients
        // (each within 2 roundings) then two products and two sums: within 8 roundings of the
        // terms' magnitude
        const double gi = double(gamma[ch]) * invstd[ch], xh = (double(x[r * c + ch]) - mean[ch]) * invstd[ch];
        const double want = gi * (g[r * c + ch] - sg[ch] / double(rows) - xh * sgx[ch] / double(rows));
        const double mag = std::fabs(gi) * (std::fabs(g[r * c + ch]) + magG[ch] / double(rows) +
                                            (std::fabs(x[r * c + ch]) + std::fabs(mean[ch])) * invstd[ch] * magGx[ch] / double(rows));
        if (std::fabs(dx[r * c + ch] - want) > 8 * eps * mag) ++bad;
      }
    EXPECT(bad == 0, "batchNormBackward rows=%zu c=%zu: %zu values outside the bound", rows, c, bad);
    // every ISA's row loops: the scalar instance's bits, 1 and 3 threads
    for (const Platform* p : availablePlatforms())
      for (int threads : {1, 3}) {
        const char* name = p->fgemm->name;
        std::vector<float> m2(c), v2(c), dx2(n), dg2(c), db2(c);
        ftrain::channelMoments(x.data(), rows, c, m2.data(), v2.data(), threads, name);
        EXPECT(same(m2, mean) && same(v2, var), "[%s] channelMoments rows=%zu c=%zu threads=%d: not the scalar's bits", name,
               rows, c, threads);
        ftrain::batchNormBackward(g.data(), x.data(), rows, c, mean.data(), invstd.data(), gamma.data(), dx2.data(),
                                  dg2.data(), db2.data(), threads, name);
        EXPECT(same(dx2, dx) && same(dg2, dgamma) && same(db2, dbeta),
               "[%s] batchNormBackward rows=%zu c=%zu threads=%d: not the scalar's bits", name, rows, c, threads);
      }
  }

  // ---- element-wise loops: bit-exact, any thread count (one span and several)
  for (size_t n : {size_t{1}, size_t{1000}, size_t{200001}}) {
    auto x = randoms(rng, n), g = randoms(rng, n), gx0 = randoms(rng, n);
    for (size_t i = 0; i < n; i += 97) x[i] = (i % 3 == 0) ? 0.0f : 1.0f;  // the mask's edges
    for (size_t i = 5; i < n; i += 89) g[i] = -0.0f;  // a zero gradient of either sign
    for (int threads : {1, 3}) {
      std::vector<float> y(n), ref(n);
      ftrain::reluForward(x.data(), y.data(), n, threads);
      for (size_t i = 0; i < n; ++i) ref[i] = x[i] > 0.0f ? x[i] : 0.0f;
      EXPECT(same(y, ref), "relu n=%zu threads=%d", n, threads);
      ftrain::clampForward(x.data(), y.data(), n, -0.25f, 0.5f, threads);
      for (size_t i = 0; i < n; ++i) ref[i] = x[i] < -0.25f ? -0.25f : (x[i] > 0.5f ? 0.5f : x[i]);
      EXPECT(same(y, ref), "clamp n=%zu threads=%d", n, threads);
      for (bool strict : {false, true}) {
        std::vector<float> gx = gx0, want = gx0;
        ftrain::maskedAccumulate(x.data(), g.data(), gx.data(), n, 0.0f, 1.0f, strict, threads);
        for (size_t i = 0; i < n; ++i)
          if ((strict ? x[i] > 0.0f : x[i] >= 0.0f) && x[i] <= 1.0f) want[i] = want[i] + g[i];
        EXPECT(same(gx, want), "maskedAccumulate n=%zu strict=%d threads=%d", n, int(strict), threads);
        // assign: gx's old contents (here NaN) unread; the bits of a zero-filled gx
        std::vector<float> gxA(n, std::nanf("")), wantA(n, 0.0f);
        ftrain::maskedAccumulate(x.data(), g.data(), gxA.data(), n, 0.0f, 1.0f, strict, threads, true);
        for (size_t i = 0; i < n; ++i)
          if ((strict ? x[i] > 0.0f : x[i] >= 0.0f) && x[i] <= 1.0f) wantA[i] = wantA[i] + g[i];
        EXPECT(same(gxA, wantA), "maskedAccumulate assign n=%zu strict=%d threads=%d", n, int(strict), threads);
      }
      ftrain::addForward(x.data(), g.data(), y.data(), n, threads);
      for (size_t i = 0; i < n; ++i) ref[i] = x[i] + g[i];
      EXPECT(same(y, ref), "add n=%zu threads=%d", n, threads);
      std::vector<float> acc = gx0;
      ftrain::accumulate(acc.data(), g.data(), n, threads);
      for (size_t i = 0; i < n; ++i) ref[i] = gx0[i] + g[i];
      EXPECT(same(acc, ref), "accumulate n=%zu threads=%d", n, threads);
    }
  }

  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
