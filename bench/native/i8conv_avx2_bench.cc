// Native micro-benchmark of the AVX2 int8 conv tile on the small conv nets' 8x8-bit layers (a tuning
// tool, not a test): per shape, the indirect conv tile alone (kI8Avx2.convTile over the padded input,
// window origins and per-kernel-row taps, tasks of 256 rows x 64 columns as the codes route runs them,
// no finish) and the whole codes route (GemmPlan from codes: padded copy, row sums, tile, finish,
// codes out), one thread, as Gop/s (2*M*K*N / time) and as fractions of two register-only ceilings
// measured in the same rounds: VPMADDWD + VPADDD (the exact int16 loop's instruction pair, 16 MACs
// each) and the variant's own ceiling (VPMADDUBSW -> VPMADDWD -> VPADDD, MLAS's chain).
//
//   i8conv_avx2_bench [--batch=B] [--reps=N] [--only=0|1 (conv tile / codes route alone, for a profiler)] [--best]
// Built by CMakeLists.txt on x86 (build-native/i8conv_avx2_bench); by hand:
//   g++ -O2 -mavx2 -std=c++17 -Inative/kernels bench/native/i8conv_avx2_bench.cc build-native/libanyprec_kernels.a -lpthread -o build-native/i8conv_avx2_bench
#include <immintrin.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels.h"

using namespace anyprec;
using anyprec_bench::median;

namespace {

double now() { return anyprec_bench::clockSeconds(true); }  // the thread's CPU clock

bool gBest = false;  // --best: the fastest round instead of the median (a machine shared with other work)
double pick(const std::vector<double>& v) { return gBest ? *std::min_element(v.begin(), v.end()) : median(v); }

// 8 independent VPMADDWD -> VPADDD chains on registers: 128 MACs per iteration.
__attribute__((target("avx2"), noinline)) uint64_t maddwdCeiling(uint64_t n) {
  __m256i a = _mm256_set1_epi16(3), b = _mm256_set1_epi16(5);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, t0, t1, t2, t3;
  asm volatile(
      "1:\n\t"
      "vpmaddwd %[b],%[a],%[t0]\n\t"
      "vpmaddwd %[b],%[a],%[t1]\n\t"
      "vpmaddwd %[b],%[a],%[t2]\n\t"
      "vpmaddwd %[b],%[a],%[t3]\n\t"
      "vpaddd %[t0],%[c0],%[c0]\n\t"
      "vpaddd %[t1],%[c1],%[c1]\n\t"
      "vpaddd %[t2],%[c2],%[c2]\n\t"
      "vpaddd %[t3],%[c3],%[c3]\n\t"
      "vpmaddwd %[b],%[a],%[t0]\n\t"
      "vpmaddwd %[b],%[a],%[t1]\n\t"
      "vpmaddwd %[b],%[a],%[t2]\n\t"
      "vpmaddwd %[b],%[a],%[t3]\n\t"
      "vpaddd %[t0],%[c4],%[c4]\n\t"
      "vpaddd %[t1],%[c5],%[c5]\n\t"
      "vpaddd %[t2],%[c6],%[c6]\n\t"
      "vpaddd %[t3],%[c7],%[c7]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3), [c4] "+x"(c4), [c5] "+x"(c5), [c6] "+x"(c6),
        [c7] "+x"(c7), [t0] "=&x"(t0), [t1] "=&x"(t1), [t2] "=&x"(t2), [t3] "=&x"(t3), [n] "+r"(n)
      : [a] "x"(a), [b] "x"(b)
      : "cc");
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                     _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0));
}

const I8Kernel* avx2Kernel() {
  for (const I8Kernel* k : availableI8Kernels())
    if (std::strcmp(k->name, "avx2") == 0) return k;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  size_t batch = 1;
  int reps = 9;
  int only = -1;  // --only=N: run case N of each shape alone (0 conv tile, 1 codes route), for a profiler
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--batch=", 8) == 0) batch = static_cast<size_t>(std::max(1, std::atoi(argv[i] + 8)));
    if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::max(1, std::atoi(argv[i] + 7));
    if (std::strncmp(argv[i], "--only=", 7) == 0) only = std::atoi(argv[i] + 7);
    if (std::strcmp(argv[i], "--best") == 0) gBest = true;
  }
  const I8Kernel* kern = avx2Kernel();
  if (kern == nullptr) {
    std::printf("no avx2 int8 variant here\n");
    return 0;
  }
  struct ConvCase { const char* name; size_t h, c, n; };
  const ConvCase convs[] = {{"cnn conv1", 28, 32, 64}, {"cnn conv2", 14, 64, 64}, {"conv layer", 32, 64, 64}, {"resnet20 l3", 8, 64, 64}};
  const Platform& isa = *availablePlatforms().front();
  std::mt19937_64 rng(7);
  uint64_t sink = 0;
  const int bits = 8;
  std::printf("3x3 pad-1 convs, batch %zu, 8-bit codes x 8-bit bipolar weights, avx2 int8, one thread, %d rounds, %s\n",
              batch, reps, gBest ? "fastest" : "medians");
  for (const ConvCase& cc : convs) {
    const ConvShape s{batch, cc.h, cc.h, cc.c, 3, 3, 1, 1, 1, 1, 1, 1};
    const size_t m = s.rows(), k = s.k(), n = cc.n, kPad = i8KPad(k);
    std::vector<uint8_t> x(s.inputCount());
    for (auto& v : x) v = static_cast<uint8_t>(rng());
    std::vector<uint8_t> codesB(n * k);
    for (auto& v : codesB) v = static_cast<uint8_t>(rng());
    std::vector<uint64_t> bData(packedWords(n, k, bits));
    std::vector<int32_t> bPop(n * bits);
    pack(isa, codesB.data(), n, k, bits, bData.data(), bPop.data(), 1);
    const PackedView bView{bData.data(), n, k, bits, bPop.data()};
    std::vector<int8_t> wData(i8WeightBytes(n, k));
    std::vector<int32_t> wSum(i8NPad(n));
    prepareI8Weights(*kern, bView, bits, Encoding::Bipolar, wData.data(), wSum.data(), 1);
    const I8Weights w{wData.data(), wSum.data(), n, k, bits, Encoding::Bipolar};
    std::vector<float> scale(n, 1e-4f);
    Epilogue epi;
    epi.kind = OutputKind::Codes;
    epi.scale = scale.data();
    epi.codeBits = 8;
    std::vector<uint8_t> out(m * n);
    const size_t hp = cc.h + 2;
    std::vector<uint8_t> padded(batch * hp * hp * cc.c, 0);
    for (size_t img = 0; img < batch; ++img)
      for (size_t y = 0; y < cc.h; ++y)
        std::memcpy(&padded[((img * hp + y + 1) * hp + 1) * cc.c], &x[((img * cc.h + y) * cc.h) * cc.c], cc.h * cc.c);
    std::vector<const uint8_t*> origins(m);
    for (size_t i = 0; i < m; ++i)
      origins[i] = &padded[((i / (cc.h * cc.h) * hp + (i / cc.h) % cc.h) * hp + i % cc.h) * cc.c];
    const ptrdiff_t tapOffset[3] = {0, static_cast<ptrdiff_t>(hp * cc.c), static_cast<ptrdiff_t>(2 * hp * cc.c)};
    std::vector<int32_t> cBuf(256 * 64);
    std::vector<uint32_t> rowConst(m, 1), colConst(64, 2);
    const double ops = 2.0 * m * k * n;
    struct Case { std::string name; std::function<void()> fn; std::vector<double> t; double ops; };
    std::vector<Case> cases;
    cases.push_back({"conv tile", [&] {
                       for (size_t r0 = 0; r0 < m; r0 += 256)
                         for (size_t c0 = 0; c0 < n; c0 += 64) {
                           I8ConvTileArgs t{};
                           t.rows = origins.data() + r0;
                           t.tapOffset = tapOffset;
                           t.taps = 3;
                           t.tapBytes = 3 * cc.c;
                           t.b = wData.data() + (c0 / kI8NBlock) * kPad * kI8NBlock;
                           t.kPad = kPad;
                           t.m = static_cast<int>(std::min<size_t>(256, m - r0));
                           t.n = 64;
                           t.nUsed = 64;
                           t.c = cBuf.data();
                           t.ldc = 64;
                           t.rowConst = rowConst.data() + r0;
                           t.colConst = colConst.data();
                           t.mul = 1;
                           t.maxProduct = i8MaxProduct(bits, bits, Encoding::Bipolar);
                           kern->convTile(t);
                         }
                     }, {}, ops});
    const GemmSpec codesSpec{PackedView{nullptr, m, k, bits, nullptr}, bView, bits, bits, Encoding::Unsigned, Encoding::Bipolar};
    cases.push_back({"codes route", [&] {
                       runGemm(GemmPlan(isa, codesSpec, I8Codes{x.data(), s}, out.data(), epi, Int8Route{kern, &w}), 1);
                     }, {}, ops});
    const uint64_t iters = 200000;
    cases.push_back({"maddwd ceiling", [&] { sink ^= maddwdCeiling(iters); }, {}, 2.0 * 128 * iters});
    cases.push_back({"avx2 ceiling", [&] { sink ^= i8Ceiling(*kern, iters / 2).checksum; }, {}, 2.0 * kern->ceilingMacsPerIter * (iters / 2)});
    if (only >= 0) {
      for (int r = 0; r < reps; ++r) cases[static_cast<size_t>(only)].fn();
      continue;
    }
    for (auto& cs : cases) cs.fn();
    for (int r = 0; r < reps; ++r)
      for (auto& cs : cases) {
        const double t0 = now();
        cs.fn();
        cs.t.push_back(now() - t0);
      }
    const double mw = cases[2].ops / pick(cases[2].t) * 1e-9, mb = cases[3].ops / pick(cases[3].t) * 1e-9;
    std::printf("%-11s %zux%zux%zu: ceilings maddwd %.0f, maddubsw %.0f Gop/s |", cc.name, m, k, n, mw, mb);
    for (size_t i = 0; i < 2; ++i) {
      const double g = cases[i].ops / pick(cases[i].t) * 1e-9;
      std::printf(" %s %.0f Gop/s %.2f ms (%.2f of maddwd) |", cases[i].name.c_str(), g, pick(cases[i].t) * 1e3, g / mw);
    }
    std::printf("\n");
  }
  return sink == 42 ? 1 : 0;
}
