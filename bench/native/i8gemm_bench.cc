// Native micro-benchmark of the int8 path against the bit-serial GEMM (a tuning tool, not a test;
// the numbers behind the dispatch table in native/kernels/i8gemm/i8gemm.cc).
//
// For each shape: one round = every case once, in order, and the rounds are repeated (--reps), so
// a slow phase of the shared machine hits every case alike; each case reports the median time.
// Cases: bit-serial on the best table at each (aBits, bBits), and the int8 path with each variant
// (its time does not depend on the bit-widths, so one run per variant at 8x8 bits; weights
// prepared once beforehand, as the JS side caches them; activation bytes rebuilt in every call).
// Prints Gop/s = 2*M*N*K / time and, per bit pair, the ratio bit-serial time / int8 time of the
// variant auto dispatch would pick, next to what gemmPath() decides.
//
//   i8gemm_bench [--shapes=MxKxN[,...]] [--bits=1,2,3,4,8] [--reps=N] [--threads=N] [--enc=A,B]
//                [--isa=NAME] [--variants=amx,avx512-vnni,...] [--prep] [--all-ratios]
//   --isa: the bit-serial table to compare with (default: the best one here)
//   --all-ratios: the bit-serial / int8 time matrix for every variant, not only auto's
//   With one thread the clock is the thread's CPU time, otherwise wall time.
//   --enc: u=unsigned, b=bipolar, s=signed (default u,b); --prep: also time weight preparation.
//
//   i8gemm_bench --conv[=B] [--reps=N] [--variants=...]: ResNet-20's quantised 3x3 convs at batch B
//   (default 1), 8-bit codes (--conv-bits=N: N-bit codes and weights): per variant the tile alone (over pre-lowered bytes, the plan's 256 x 64
//   tasks), the indirect conv tile alone where the variant has one (over a padded input, window
//   origins and tap offsets built beforehand, no finish), the int8 route from codes (the conv tile
//   or the lowering + tile, finish, codes out) and the planes route (packConvInput + bytes rebuilt
//   from planes + tile + finish), as useful Gop/s (2*M*K*N / time) and as fractions of the
//   variant's VNNI ceiling measured in the same rounds.
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

using namespace anyprec_bench;

namespace {

bool gThreadClock = true;  // one thread: the thread's CPU time (time the kernels really ran)

double now() { return clockSeconds(gThreadClock); }

struct Operand {
  std::vector<uint64_t> data;
  std::vector<int32_t> pop;
  PackedView view;
};

Operand makeOperand(std::mt19937_64& rng, size_t rows, size_t k, int planes) {
  std::vector<uint8_t> codes(rows * k);
  for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
  Operand o;
  o.data.resize(packedWords(rows, k, planes));
  o.pop.resize(rows * planes);
  pack(*availablePlatforms().front(), codes.data(), rows, k, planes, o.data.data(), o.pop.data(), 1);
  o.view = {o.data.data(), rows, k, planes, o.pop.data()};
  return o;
}

Encoding encOf(char c) { return c == 's' ? Encoding::Signed : c == 'b' ? Encoding::Bipolar : Encoding::Unsigned; }

}  // namespace

// --conv: the ResNet-20 conv shapes (see the header comment).
int convBench(const std::vector<const I8Kernel*>& variants, size_t batch, int reps, int bits) {
  struct ConvCase { size_t h, c, n, stride; };
  const ConvCase convs[] = {{32, 16, 16, 1}, {32, 16, 32, 2}, {16, 32, 32, 1}, {16, 32, 64, 2}, {8, 64, 64, 1},
                            // the MNIST CNN's 32->64 on 28x28 and 64->64 on 14x14 (zoo.cnn)
                            {28, 32, 64, 1}, {14, 64, 64, 1}};
  const Platform& isa = *availablePlatforms().front();
  std::mt19937_64 rng(7);
  uint64_t sink = 0;
  std::printf("ResNet-20 convs (3x3, pad 1), batch %zu, %d-bit unsigned codes x %d-bit bipolar weights, one thread, "
              "%d interleaved rounds, medians; epilogue table %s\n",
              batch, bits, bits, reps, isa.name);
  const uint32_t maxProduct = i8MaxProduct(bits, bits, Encoding::Bipolar);
  for (const ConvCase& cc : convs) {
    const ConvShape s{batch, cc.h, cc.h, cc.c, 3, 3, cc.stride, cc.stride, 1, 1, 1, 1};
    const size_t m = s.rows(), k = s.k(), n = cc.n, kPad = i8KPad(k), ld = kPad + 64;
    std::vector<uint8_t> x(s.inputCount());
    for (auto& v : x) v = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
    Operand B = makeOperand(rng, n, k, bits);
    std::vector<uint64_t> planes(packedWords(m, k, bits));
    std::vector<int32_t> pops(m * bits);
    std::vector<float> scale(n, 1e-4f);
    Epilogue epi;
    epi.kind = OutputKind::Codes;
    epi.scale = scale.data();
    epi.codeBits = 8;
    std::vector<uint8_t> out(m * n);
    // pre-lowered bytes for the tile alone (the plan's layout: row stride kPad + 64, K zero-padded)
    std::vector<uint8_t> aBytes(i8MPad(m) * ld, 0);
    for (size_t i = 0; i < m; ++i) {
      const size_t img = i / (s.outH() * s.outW()), oy = (i / s.outW()) % s.outH(), ox = i % s.outW();
      for (size_t ky = 0; ky < 3; ++ky)
        for (size_t kx = 0; kx < 3; ++kx) {
          const ptrdiff_t y = static_cast<ptrdiff_t>(oy * cc.stride + ky) - 1, xx = static_cast<ptrdiff_t>(ox * cc.stride + kx) - 1;
          if (y < 0 || xx < 0 || y >= static_cast<ptrdiff_t>(cc.h) || xx >= static_cast<ptrdiff_t>(cc.h)) continue;
          std::memcpy(&aBytes[i * ld + (ky * 3 + kx) * cc.c], &x[((img * cc.h + y) * cc.h + xx) * cc.c], cc.c);
        }
    }
    // the conv tile's input: the image with its 1-pixel padding written out, a window origin per
    // output position and an offset per tap (what the codes route builds per call)
    const size_t hp = cc.h + 2, oh = s.outH();
    std::vector<uint8_t> padded(batch * hp * hp * cc.c, 0);
    for (size_t img = 0; img < batch; ++img)
      for (size_t y = 0; y < cc.h; ++y)
        std::memcpy(&padded[((img * hp + y + 1) * hp + 1) * cc.c], &x[((img * cc.h + y) * cc.h) * cc.c], cc.h * cc.c);
    std::vector<const uint8_t*> origins(m);
    for (size_t i = 0; i < m; ++i)
      origins[i] = &padded[((i / (oh * oh) * hp + (i / oh) % oh * cc.stride) * hp + i % oh * cc.stride) * cc.c];
    std::vector<ptrdiff_t> tapOffset;
    for (size_t ky = 0; ky < 3; ++ky)
      for (size_t kx = 0; kx < 3; ++kx) tapOffset.push_back(static_cast<ptrdiff_t>((ky * hp + kx) * cc.c));
    const double ops = 2.0 * m * k * n;
    struct Case { std::string name; std::function<void()> fn; std::vector<double> t; };
    std::vector<Case> cases;
    std::vector<std::vector<int8_t>> wData(variants.size());
    std::vector<std::vector<int32_t>> wSum(variants.size());
    std::vector<I8Weights> w(variants.size());
    std::vector<int32_t> cBuf(256 * 64);
    std::vector<double> ceilMacs(variants.size(), 0);
    for (size_t v = 0; v < variants.size(); ++v) {
      wData[v].resize(i8WeightBytes(n, k));
      wSum[v].resize(i8NPad(n));
      prepareI8Weights(*variants[v], B.view, bits, Encoding::Bipolar, wData[v].data(), wSum[v].data(), 1);
      w[v] = I8Weights{wData[v].data(), wSum[v].data(), n, k, bits, Encoding::Bipolar};
      const I8Kernel& kern = *variants[v];
      cases.push_back({std::string("tile ") + kern.name, [&, v] {
                         for (size_t r0 = 0; r0 < m; r0 += 256)
                           for (size_t c0 = 0; c0 < n; c0 += 64) {
                             I8TileArgs t{};
                             t.a = aBytes.data() + r0 * ld;
                             t.lda = ld;
                             t.b = wData[v].data() + (c0 / kI8NBlock) * kPad * kI8NBlock;
                             t.kPad = kPad;
                             t.colSum = wSum[v].data() + c0;
                             t.m = static_cast<int>(std::min<size_t>(256, m - r0));
                             t.n = static_cast<int>(std::min(i8NPad(n), c0 + 64) - c0);
                             t.c = cBuf.data();
                             t.ldc = static_cast<size_t>(t.n);
                             t.kUsed = (k + 3) / 4 * 4;
                             t.nUsed = static_cast<int>((std::min(n, c0 + 64) - c0 + 15) / 16 * 16);
                             t.maxProduct = maxProduct;
                             kern.tile(t);
                           }
                       }, {}});
      cases.push_back({std::string("conv tile ") + kern.name, [&, v] {
                         if (variants[v]->convTile == nullptr) return;
                         for (size_t r0 = 0; r0 < m; r0 += 256)
                           for (size_t c0 = 0; c0 < n; c0 += 64) {
                             I8ConvTileArgs t{};
                             t.rows = origins.data() + r0;
                             t.tapOffset = tapOffset.data();
                             t.taps = 9;
                             t.tapBytes = cc.c;
                             t.b = wData[v].data() + (c0 / kI8NBlock) * kPad * kI8NBlock;
                             t.kPad = kPad;
                             t.m = static_cast<int>(std::min<size_t>(256, m - r0));
                             t.n = static_cast<int>(std::min(i8NPad(n), c0 + 64) - c0);
                             t.nUsed = static_cast<int>((std::min(n, c0 + 64) - c0 + 15) / 16 * 16);
                             t.c = cBuf.data();
                             t.ldc = static_cast<size_t>(t.n);
                             t.maxProduct = maxProduct;
                             variants[v]->convTile(t);
                           }
                       }, {}});
      const GemmSpec codesSpec{PackedView{nullptr, m, k, bits, nullptr}, B.view, bits, bits, Encoding::Unsigned, Encoding::Bipolar};
      cases.push_back({std::string("codes ") + kern.name, [&, v, codesSpec] {
                         runGemm(GemmPlan(isa, codesSpec, I8Codes{x.data(), s}, out.data(), epi, Int8Route{variants[v], &w[v]}), 1);
                       }, {}});
      cases.push_back({std::string("planes ") + kern.name, [&, v] {
                         packConvInput(isa, x.data(), s, bits, planes.data(), pops.data(), 1);
                         const GemmSpec spec{PackedView{planes.data(), m, k, bits, pops.data()}, B.view, bits, bits, Encoding::Unsigned,
                                             Encoding::Bipolar};
                         runGemm(GemmPlan(isa, spec, out.data(), epi, Int8Route{variants[v], &w[v]}), 1);
                       }, {}});
      const uint64_t iters = 20000;
      cases.push_back({std::string("ceiling ") + kern.name, [&, v, iters] {
                         const I8CeilingRun r = i8Ceiling(*variants[v], iters);
                         sink ^= r.checksum;
                         ceilMacs[v] = r.macs;
                       }, {}});
    }
    for (auto& cs : cases) cs.fn();
    for (int r = 0; r < reps; ++r)
      for (auto& cs : cases) {
        const double t0 = now();
        cs.fn();
        cs.t.push_back(now() - t0);
      }
    std::printf("\n== %zux%zux%zu (MxKxN: %zux%zu input, %zu channels, stride %zu)\n", m, k, n, cc.h, cc.h, cc.c, cc.stride);
    for (size_t v = 0; v < variants.size(); ++v) {
      const double ceil = 2.0 * ceilMacs[v] / median(cases[v * 5 + 4].t) * 1e-9;
      const double tile = median(cases[v * 5].t), conv = median(cases[v * 5 + 1].t), codes = median(cases[v * 5 + 2].t),
                   planesT = median(cases[v * 5 + 3].t);
      char convText[64] = "conv tile    -       ";
      if (variants[v]->convTile != nullptr)
        std::snprintf(convText, sizeof convText, "conv tile %4.0f (%.2f)", ops / conv * 1e-9, ops / conv * 1e-9 / ceil);
      std::printf("  %-12s ceiling %4.0f Gop/s | tile %4.0f (%.2f of ceiling) | %s | codes route %4.0f (%.2f) %.1f us | "
                  "planes route %4.0f (%.2f) %.1f us\n",
                  variants[v]->name, ceil, ops / tile * 1e-9, ops / tile * 1e-9 / ceil, convText, ops / codes * 1e-9,
                  ops / codes * 1e-9 / ceil, codes * 1e6, ops / planesT * 1e-9, ops / planesT * 1e-9 / ceil, planesT * 1e6);
    }
  }
  return sink == 42 ? 1 : 0;
}

int main(int argc, char** argv) {
  std::vector<Shape> shapes = {{256, 4096, 4096}, {64, 4096, 4096}, {1, 4096, 4096}, {256, 1024, 1024}};
  std::vector<int> bits = {1, 2, 3, 4, 8};
  int reps = 5, threads = 1;
  Encoding aEnc = Encoding::Unsigned, bEnc = Encoding::Bipolar;
  std::vector<const I8Kernel*> variants = availableI8Kernels();
  bool timePrep = false, allRatios = false;
  size_t convBatch = 0;
  int convBits = 8;
  const Platform* bsTable = availablePlatforms().front();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto val = [&](const char* key) -> const char* {
      return arg.rfind(key, 0) == 0 ? argv[i] + std::strlen(key) : nullptr;
    };
    if (const char* v = val("--shapes=")) {
      if (!parseShapes(v, shapes)) return 2;
    } else if (const char* v = val("--bits=")) {
      bits.clear();
      if (std::strcmp(v, "none") != 0)
        for (const auto& s : split(v, ',')) bits.push_back(std::atoi(s.c_str()));
    } else if (const char* v = val("--reps=")) {
      reps = std::max(1, std::atoi(v));
    } else if (const char* v = val("--threads=")) {
      threads = std::max(1, std::atoi(v));
    } else if (const char* v = val("--enc=")) {
      if (std::strlen(v) != 3) return 2;
      aEnc = encOf(v[0]);
      bEnc = encOf(v[2]);
    } else if (const char* v = val("--variants=")) {
      variants.clear();
      for (const auto& s : split(v, ',')) {
        if (const I8Kernel* k = findI8Kernel(s)) variants.push_back(k);
        else std::fprintf(stderr, "variant %s not available here, skipped\n", s.c_str());
      }
    } else if (const char* v = val("--isa=")) {
      bsTable = findPlatform(v);
      if (bsTable == nullptr) {
        std::fprintf(stderr, "isa %s not available here\n", v);
        return 2;
      }
    } else if (const char* v = val("--conv-bits=")) {
      convBits = std::min(8, std::max(1, std::atoi(v)));
    } else if (arg == "--conv" || arg.rfind("--conv=", 0) == 0) {
      convBatch = arg == "--conv" ? 1 : static_cast<size_t>(std::max(1, std::atoi(argv[i] + 7)));
    } else if (arg == "--all-ratios") {
      allRatios = true;
    } else if (arg == "--prep") {
      timePrep = true;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  gThreadClock = threads == 1;
  if (convBatch > 0) return convBench(variants, convBatch, reps, convBits);
  const Platform& bs = *bsTable;
  std::printf("bit-serial table: %s; int8 variants:", bs.name);
  for (const I8Kernel* v : variants) std::printf(" %s", v->name);
  std::printf("; threads %d; %d interleaved rounds, medians\n", threads, reps);
  for (const I8Kernel* v : variants)
    if (v->ceiling != nullptr)
      std::printf("dispatch: popcount ceiling (%s) / VNNI ceiling (%s) = %.2f bit-MACs per byte MAC\n", bs.name, v->name,
                  gemmCeilingRatio(bs, *v));

  std::mt19937_64 rng(42);
  for (const Shape& s : shapes) {
    Operand A = makeOperand(rng, s.m, s.k, 8), B = makeOperand(rng, s.n, s.k, 8);
    const double ops = 2.0 * s.m * s.n * s.k;
    std::vector<int32_t> c(s.m * s.n);
    // prepared weights at 8 bits for each variant (the layout is shared, the rebuild is not)
    std::vector<std::vector<int8_t>> wData(variants.size());
    std::vector<std::vector<int32_t>> wSum(variants.size());
    std::vector<I8Weights> w(variants.size());
    std::vector<double> prepMs(variants.size(), 0);
    for (size_t v = 0; v < variants.size(); ++v) {
      wData[v].resize(i8WeightBytes(s.n, s.k));
      wSum[v].resize(i8NPad(s.n));
      const double t0 = now();
      prepareI8Weights(*variants[v], B.view, 8, bEnc, wData[v].data(), wSum[v].data(), threads);
      prepMs[v] = (now() - t0) * 1e3;
      w[v] = I8Weights{wData[v].data(), wSum[v].data(), s.n, s.k, 8, bEnc};
    }
    struct Case {
      std::string name;
      std::function<void()> fn;
      std::vector<double> t;
    };
    std::vector<Case> cases;
    for (int ab : bits)
      for (int bb : bits)
        cases.push_back({"bs " + std::to_string(ab) + "x" + std::to_string(bb), [&, ab, bb] {
                           bitGemm(bs, GemmSpec{A.view, B.view, ab, bb, aEnc, bEnc}, c.data(), Epilogue(), threads);
                         }, {}});
    for (size_t v = 0; v < variants.size(); ++v)
      cases.push_back({std::string("i8 ") + variants[v]->name, [&, v] {
                         bitGemm(bs, GemmSpec{A.view, B.view, 8, 8, aEnc, bEnc}, c.data(), Epilogue(), threads,
                                 Int8Route{variants[v], &w[v]});
                       }, {}});
    // each variant's VNNI ceiling (i8Ceiling), ~5 ms per sample, in the same rounds
    std::vector<double> ceilMacs(variants.size(), 0);
    std::vector<uint64_t> ceilSink(variants.size(), 0);
    const size_t firstCeil = cases.size();
    for (size_t v = 0; v < variants.size(); ++v) {
      const double t0 = now();
      const I8CeilingRun probe = i8Ceiling(*variants[v], 20000);
      const double dt = std::max(now() - t0, 1e-6);
      const uint64_t iters = std::max<uint64_t>(1000, static_cast<uint64_t>(20000 * 5e-3 / dt));
      ceilSink[v] ^= probe.checksum;
      cases.push_back({std::string("ceiling ") + variants[v]->name, [&, v, iters] {
                         const I8CeilingRun r = i8Ceiling(*variants[v], iters);
                         ceilSink[v] ^= r.checksum;
                         ceilMacs[v] = r.macs;
                       }, {}});
    }
    for (auto& cs : cases) cs.fn();  // warm-up
    for (int r = 0; r < reps; ++r) {
      for (auto& cs : cases) {
        // skip a slow case after its first sample when it would take long
        if (!cs.t.empty() && cs.t.front() > 2.0 && cs.t.size() >= 1) continue;
        const double t0 = now();
        cs.fn();
        cs.t.push_back(now() - t0);
      }
    }
    std::printf("\n== %zux%zux%zu (MxKxN)\n", s.m, s.k, s.n);
    std::printf("int8 path, Gop/s (ms):");
    double bestI8 = 1e30;
    std::string bestName;
    for (size_t v = 0; v < variants.size(); ++v) {
      const double t = median(cases[bits.size() * bits.size() + v].t);
      std::printf("  %s %.0f (%.3f)", variants[v]->name, ops / t * 1e-9, t * 1e3);
      if (t < bestI8) bestI8 = t, bestName = variants[v]->name;
    }
    std::printf("\n");
    std::printf("VNNI ceiling, Gop/s (2 x byte MACs / time), and the kernel's fraction of it:");
    for (size_t v = 0; v < variants.size(); ++v) {
      const double ct = median(cases[firstCeil + v].t);
      const double ceil = 2.0 * ceilMacs[v] / ct * 1e-9;
      const double kern = ops / median(cases[bits.size() * bits.size() + v].t) * 1e-9;
      std::printf("  %s %.0f (%.2f; sample spread %.0f..%.0f) [%llx]", variants[v]->name, ceil, kern / ceil,
                  2.0 * ceilMacs[v] / *std::max_element(cases[firstCeil + v].t.begin(), cases[firstCeil + v].t.end()) * 1e-9,
                  2.0 * ceilMacs[v] / *std::min_element(cases[firstCeil + v].t.begin(), cases[firstCeil + v].t.end()) * 1e-9,
                  static_cast<unsigned long long>(ceilSink[v] & 0xF));
    }
    std::printf("\n");
    std::printf("int8 sample spread (min..max Gop/s):");
    for (size_t v = 0; v < variants.size(); ++v) {
      const auto& ts = cases[bits.size() * bits.size() + v].t;
      std::printf("  %s %.0f..%.0f", variants[v]->name, ops / *std::max_element(ts.begin(), ts.end()) * 1e-9,
                  ops / *std::min_element(ts.begin(), ts.end()) * 1e-9);
    }
    std::printf("\n");
    if (timePrep) {
      std::printf("weight preparation ms:");
      for (size_t v = 0; v < variants.size(); ++v) std::printf("  %s %.2f", variants[v]->name, prepMs[v]);
      std::printf("\n");
    }
    const I8Kernel& autoK = int8KernelFor(bs, s.m);
    for (size_t v = 0; v < variants.size(); ++v) {
      if (bits.empty() || (!allRatios && variants[v] != &autoK)) continue;
      const double vt = median(cases[bits.size() * bits.size() + v].t);
      std::printf("bit-serial (%s) Gop/s, and bit-serial time / int8 (%s) time; * = gemmPath() picks int8%s\n", bs.name,
                  variants[v]->name, variants[v] == &autoK ? " (the variant auto uses)" : "");
      std::printf("a\\w ");
      for (int bb : bits) std::printf("%16d", bb);
      std::printf("\n");
      size_t ci = 0;
      for (int ab : bits) {
        std::printf("%-4d", ab);
        for (int bb : bits) {
          const double t = median(cases[ci++].t);
          const bool pick = gemmPath(bs, ab, bb, s.m, s.n, s.k) == GemmPath::Int8;
          std::printf("  %6.0f %6.2f%s", ops / t * 1e-9, t / vt, pick && variants[v] == &autoK ? "*" : " ");
        }
        std::printf("\n");
      }
    }
  }
  return 0;
}
