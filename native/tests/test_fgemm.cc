// Native tests of the float32 GEMM: every ISA this CPU runs (and the scalar reference) against a
// float64 reference within the error bound of fgemm.h, on shapes that walk every tile edge
// (micro-kernel rows and columns, task tiles, K blocks), with and without bias, raw and
// pre-packed B, and thread-count independence (bit-identical on 1 and 3 threads).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

struct Problem {
  size_t m, n, k;
  std::vector<float> a, b, bias;  // bias empty: none
  std::vector<double> ref, mag;   // float64 result and sum |a*b| + |bias|
};

Problem makeProblem(std::mt19937_64& rng, size_t m, size_t n, size_t k, bool withBias) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Problem p{m, n, k, std::vector<float>(m * k), std::vector<float>(n * k), {}, {}, {}};
  for (auto& x : p.a) x = u(rng);
  for (auto& x : p.b) x = u(rng);
  if (withBias) {
    p.bias.resize(n);
    for (auto& x : p.bias) x = 4.0f * u(rng);
  }
  p.ref.resize(m * n);
  p.mag.resize(m * n);
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      double s = withBias ? p.bias[j] : 0.0, g = withBias ? std::fabs(p.bias[j]) : 0.0;
      for (size_t t = 0; t < k; ++t) {
        const double prod = double(p.a[i * k + t]) * double(p.b[j * k + t]);
        s += prod;
        g += std::fabs(prod);
      }
      p.ref[i * n + j] = s;
      p.mag[i * n + j] = g;
    }
  }
  return p;
}

// The bound of fgemm.h, doubled; plus the smallest normal so exact zeros compare.
double tolerance(size_t k, double mag) {
  return 2.0 * double(k + 2) * std::ldexp(1.0, -24) * mag + std::numeric_limits<float>::min();
}

std::vector<float> run(const FloatKernelTable& isa, const Problem& p, int threads, bool prepacked) {
  std::vector<float> c(p.m * p.n, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> packed;
  FloatGemmSpec s{p.a.data(), p.m, p.k, p.b.data(), nullptr, p.n, p.bias.empty() ? nullptr : p.bias.data()};
  if (prepacked) {
    packed.assign(floatPackedSize(p.n, p.k), std::numeric_limits<float>::quiet_NaN());
    packFloatPanels(p.b.data(), p.n, p.k, packed.data(), 0, floatPaddedCols(p.n) / kFloatPanel);
    s.b = nullptr;
    s.bPacked = packed.data();
  }
  floatGemm(isa, s, c.data(), threads);
  return c;
}

// Number of outputs outside the bound (NaN counts: every output must be written).
size_t badVsRef(const Problem& p, const std::vector<float>& c, size_t* first) {
  size_t bad = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!(std::fabs(double(c[i]) - p.ref[i]) <= tolerance(p.k, p.mag[i]))) {
      if (bad++ == 0) *first = i;
    }
  }
  return bad;
}

}  // namespace

int main() {
  std::mt19937_64 rng(2024);
  const size_t dims[] = {1, 7, 8, 9, 15, 16, 17, 63, 64, 65};
  std::vector<Shape> shapes;
  for (size_t m : dims)
    for (size_t n : dims)
      for (size_t k : dims) shapes.push_back({m, n, k});
  // 257 in every position, and shapes that cross the task tiles (96-ish rows x 256 columns)
  // and several K blocks (256).
  const Shape big[] = {{257, 17, 65}, {9, 257, 63}, {15, 33, 257}, {257, 257, 17}, {65, 9, 257},
                       {200, 520, 300}, {97, 300, 513}, {1, 1000, 1}, {3, 7, 1025}};
  for (const Shape& s : big) shapes.push_back(s);

  std::printf("ISAs on this CPU:");
  for (const Platform* t : availablePlatforms()) std::printf(" %s", t->name);
  std::printf("\n");

  std::vector<Problem> problems;
  for (size_t i = 0; i < shapes.size(); ++i)
    problems.push_back(makeProblem(rng, shapes[i].m, shapes[i].n, shapes[i].k, i % 2 == 0));

  for (const Platform* t : availablePlatforms()) {
    const int before = failures;
    const FloatKernelTable& isa = *t->fgemm;
    EXPECT(std::string(isa.name) == t->name, "float table for %s is %s", t->name, isa.name);
    for (size_t i = 0; i < problems.size(); ++i) {
      const Problem& p = problems[i];
      const int threads = static_cast<int>(i % 3) + 1;
      const std::vector<float> got = run(isa, p, threads, i % 4 == 1);
      size_t first = 0;
      const size_t bad = badVsRef(p, got, &first);
      EXPECT(bad == 0, "[%s] m=%zu n=%zu k=%zu bias=%d: %zu outside the bound, first C[%zu] = %.9g, ref %.9g",
             isa.name, p.m, p.n, p.k, int(!p.bias.empty()), bad, bad ? first : 0, bad ? got[first] : 0.0,
             bad ? p.ref[first] : 0.0);
      // Against the scalar reference: both within the bound of the exact value, so within twice it.
      if (&isa != &kScalarFloatTable && p.m * p.n * p.k <= (size_t{1} << 18)) {
        const std::vector<float> ref = run(kScalarFloatTable, p, 1, false);
        size_t off = 0;
        for (size_t j = 0; j < ref.size(); ++j)
          off += !(std::fabs(double(got[j]) - double(ref[j])) <= 2.0 * tolerance(p.k, p.mag[j]));
        EXPECT(off == 0, "[%s] m=%zu n=%zu k=%zu: %zu outputs too far from the scalar kernel", isa.name, p.m,
               p.n, p.k, off);
      }
    }
    // Threads do not change a single bit; raw and pre-packed B agree bit for bit.
    {
      const Problem& p = problems[problems.size() - 4];  // {200, 520, 300}: several tasks and K blocks
      const std::vector<float> one = run(isa, p, 1, false), three = run(isa, p, 3, false), pre = run(isa, p, 2, true);
      EXPECT(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0,
             "[%s] 1 and 3 threads differ", isa.name);
      EXPECT(std::memcmp(one.data(), pre.data(), one.size() * sizeof(float)) == 0,
             "[%s] raw and pre-packed B differ", isa.name);
    }
    // Special values propagate: an infinity in A gives +-inf or NaN in its row, nowhere else.
    {
      Problem p = makeProblem(rng, 20, 40, 30, true);
      p.a[5 * 30 + 7] = std::numeric_limits<float>::infinity();
      const std::vector<float> got = run(isa, p, 1, false);
      size_t wrong = 0;
      for (size_t i = 0; i < 20; ++i)
        for (size_t j = 0; j < 40; ++j) wrong += (i == 5) == std::isfinite(got[i * 40 + j]);
      EXPECT(wrong == 0, "[%s] infinity in A row 5: %zu outputs wrong", isa.name, wrong);
    }
    // This ISA's own tile edges: M one below / at / one above its MR (and narrow MR), every row
    // count of the small-M dot path and one past it; N around 16 and its NR; K around the dot
    // kernels' vector widths and one and two K blocks. Raw and pre-packed B (the latter always
    // runs the packed path), against the float64 bound and the scalar kernel.
    {
      std::vector<size_t> ms = {1, 2, 3, 4, 5}, ns = {1, 15, 16, 17}, ks = {1, 7, 8, 9, 15, 16, 17};
      for (int mr : {isa.mr, isa.mrNarrow})
        if (mr > 0)
          for (int d = -1; d <= 1; ++d) ms.push_back(size_t(mr + d));
      for (int d = -1; d <= 1; ++d) ns.push_back(size_t(isa.nr + d));
      for (size_t kb : {kFloatKBlock, 2 * kFloatKBlock})
        for (int d = -1; d <= 1; ++d) ks.push_back(kb + d);
      size_t cases = 0, badCases = 0;
      for (size_t m : ms)
        for (size_t n : ns)
          for (size_t k : ks) {
            const Problem p = makeProblem(rng, m, n, k, (m + n + k) % 2 == 0);
            const bool pre = (m * 7 + n * 3 + k) % 3 == 0;
            const std::vector<float> got = run(isa, p, int(m % 2) + 1, pre);
            const std::vector<float> ref = run(kScalarFloatTable, p, 1, false);
            size_t first = 0, off = 0;
            const size_t bad = badVsRef(p, got, &first);
            for (size_t j = 0; j < ref.size(); ++j)
              off += !(std::fabs(double(got[j]) - double(ref[j])) <= 2.0 * tolerance(p.k, p.mag[j]));
            ++cases;
            if (bad != 0 || off != 0) {
              if (badCases++ < 5)
                std::printf("  [%s] edge m=%zu n=%zu k=%zu pre=%d: %zu outside the bound, %zu far from scalar\n",
                            isa.name, m, n, k, int(pre), bad, off);
            }
          }
      EXPECT(badCases == 0, "[%s] %zu of %zu tile-edge shapes wrong", isa.name, badCases, cases);
    }
    // Results do not depend on M: the first 1, 3 and 4 rows of a 17-row GEMM (the small-M path
    // and the tile path) give the 17-row result's bits, raw and pre-packed B alike.
    {
      const Problem full = makeProblem(rng, 17, 40, 600, true);
      const std::vector<float> all = run(isa, full, 1, false);
      for (size_t m : {size_t{1}, size_t{3}, size_t{4}, size_t{5}})
        for (bool pre : {false, true}) {
          Problem part = full;
          part.m = m;
          part.a.resize(m * full.k);
          const std::vector<float> got = run(isa, part, 2, pre);
          EXPECT(std::memcmp(got.data(), all.data(), got.size() * sizeof(float)) == 0,
                 "[%s] first %zu rows (pre-packed %d) differ from the 17-row GEMM", isa.name, m, int(pre));
        }
    }
    // M = 1 (the GEMV of a batch-1 dense layer) at a long K and wide N, 1 and 3 threads alike.
    {
      const Problem p = makeProblem(rng, 1, 300, 1100, true);
      const std::vector<float> one = run(isa, p, 1, false), three = run(isa, p, 3, false);
      size_t first = 0;
      const size_t bad = badVsRef(p, one, &first);
      EXPECT(bad == 0, "[%s] M=1 n=300 k=1100: %zu outside the bound", isa.name, bad);
      EXPECT(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0,
             "[%s] M=1: 1 and 3 threads differ", isa.name);
    }
    std::printf("%s: %s\n", isa.name, failures == before ? "ok" : "FAILED");
  }

  // Packing: panel layout and zero padding.
  {
    const size_t n = 18, k = 3;
    std::vector<float> b(n * k);
    for (size_t i = 0; i < b.size(); ++i) b[i] = float(i + 1);
    std::vector<float> out(floatPackedSize(n, k), -1.0f);
    EXPECT(out.size() == 32 * k, "floatPackedSize(18, 3) = %zu", out.size());
    packFloatPanels(b.data(), n, k, out.data(), 0, 2);
    size_t wrong = 0;
    for (size_t p = 0; p < 2; ++p)
      for (size_t t = 0; t < k; ++t)
        for (size_t c = 0; c < 16; ++c) {
          const size_t col = p * 16 + c;
          wrong += out[(p * k + t) * 16 + c] != (col < n ? b[col * k + t] : 0.0f);
        }
    EXPECT(wrong == 0, "packFloatPanels: %zu values misplaced", wrong);
  }

  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
