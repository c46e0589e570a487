// Native micro-benchmark of the float32 convolution (floatConv, weights packed once, batch norm +
// ReLU in the epilogue) on ResNet-20's float-network layers. A tuning tool, not a test.
//
// Per round, for each ISA (and, where it has one, the same ISA without its strided conv kernel):
// the table's FMA ceiling, then every layer once (rounds repeated so a slow phase of the shared
// machine hits every case alike); each case reports its median.
// Prints Gflop/s = 2 * MACs / time and the fraction of the ceiling of the same run. One thread;
// the clock is the thread's CPU time.
//
//   fconv_bench [--batch=N] [--reps=N] [--isa=NAME[,NAME]] [--only=SUBSTRING] [--no-plain]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels.h"

using namespace anyprec;
using namespace anyprec_bench;

namespace {

double now() { return clockSeconds(true); }

struct Layer {
  const char* name;
  size_t h, w, c, o, k, stride, pad;
};

const Layer kLayers[] = {
    {"stem 3->16 3x3 32x32", 32, 32, 3, 16, 3, 1, 1},
    {"16->16 3x3 32x32", 32, 32, 16, 16, 3, 1, 1},
    {"16->32 3x3/2 32x32", 32, 32, 16, 32, 3, 2, 1},
    {"32->32 3x3 16x16", 16, 16, 32, 32, 3, 1, 1},
    {"32->64 3x3/2 16x16", 16, 16, 32, 64, 3, 2, 1},
    {"64->64 3x3 8x8", 8, 8, 64, 64, 3, 1, 1},
    {"16->32 1x1/2 32x32", 32, 32, 16, 32, 1, 2, 0},
    {"32->64 1x1/2 16x16", 16, 16, 32, 64, 1, 2, 0},
    // bench/model.mjs's conv layer and MNIST CNN.
    {"64->64 3x3 32x32", 32, 32, 64, 64, 3, 1, 1},
    {"cnn 1->32 3x3 28x28", 28, 28, 1, 32, 3, 1, 1},
    {"cnn 32->64 3x3 28x28", 28, 28, 32, 64, 3, 1, 1},
    {"cnn 64->64 3x3 14x14", 14, 14, 64, 64, 3, 1, 1},
};

struct Case {
  Layer l;
  ConvShape shape;
  std::vector<float> x, packed, scale, shift, out;
  double macs;
};

}  // namespace

int main(int argc, char** argv) {
  size_t batch = 64;
  int reps = 7;
  std::string isaList, only;
  bool plain = true;  // also each ISA without its strided kernel
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--batch=", 8) == 0) batch = std::strtoul(argv[i] + 8, nullptr, 10);
    else if (std::strncmp(argv[i], "--reps=", 7) == 0) reps = std::atoi(argv[i] + 7);
    else if (std::strncmp(argv[i], "--isa=", 6) == 0) isaList = argv[i] + 6;
    else if (std::strncmp(argv[i], "--only=", 7) == 0) only = argv[i] + 7;
    else if (std::strcmp(argv[i], "--no-plain") == 0) plain = false;
    else {
      std::fprintf(stderr, "usage: fconv_bench [--batch=N] [--reps=N] [--isa=NAME[,NAME]]\n");
      return 2;
    }
  }
  if (batch == 0 || reps < 1) {
    std::fprintf(stderr, "--batch and --reps must be positive\n");
    return 2;
  }
  std::vector<const Platform*> isas;
  if (isaList.empty()) isas = availablePlatforms();
  for (const auto& name : split(isaList, ',')) {
    if (name.empty()) continue;
    const Platform* p = findPlatform(name);
    if (p == nullptr) {
      std::fprintf(stderr, "unknown or unavailable ISA '%s'\n", name.c_str());
      return 2;
    }
    isas.push_back(p);
  }
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<Case> cases;
  for (const Layer& l : kLayers) {
    if (!only.empty() && std::strstr(l.name, only.c_str()) == nullptr) continue;
    Case c;
    c.l = l;
    c.shape = ConvShape{batch, l.h, l.w, l.c, l.k, l.k, l.stride, l.stride, l.pad, l.pad, 1, 1};
    const size_t k = c.shape.k();
    c.x.resize(c.shape.inputCount());
    for (auto& v : c.x) v = u(rng);
    std::vector<float> w(l.o * k);
    for (auto& v : w) v = u(rng);
    c.packed.resize(floatPackedSize(l.o, k));
    packFloatPanels(w.data(), l.o, k, c.packed.data(), 0, floatPaddedCols(l.o) / kFloatPanel);
    c.scale.assign(l.o, 0.5f);
    c.shift.assign(l.o, 0.1f);
    c.out.resize(c.shape.rows() * l.o);
    c.macs = double(c.shape.rows()) * double(k) * double(l.o);
    cases.push_back(std::move(c));
  }
  // Variants: each ISA, and where its table has the strided kernel, the same ISA without it
  // (the plain indirect kernel), run interleaved with it.
  struct Variant {
    std::string name;
    Platform platform;
    FloatKernelTable table;
    std::vector<std::vector<double>> seconds;
    std::vector<double> ceilings;
  };
  std::vector<Variant> variants;
  for (const Platform* isa : isas) {
    variants.push_back({isa->name, *isa, *isa->fgemm, {}, {}});
    if (plain && isa->fgemm->strided != nullptr) {
      variants.push_back({std::string(isa->name) + " (no strided)", *isa, *isa->fgemm, {}, {}});
      variants.back().table.strided = nullptr;
    }
  }
  for (auto& v : variants) {
    v.platform.fgemm = &v.table;
    v.seconds.assign(cases.size(), {});
  }
  std::printf("batch %zu, %d rounds, one thread, thread CPU time\n", batch, reps);
  for (int r = 0; r < reps; ++r) {
    for (auto& v : variants) {
      const Platform* isa = &v.platform;
      v.ceilings.push_back(floatCeilingGflops(v.table, 1, true));
      for (size_t ci = 0; ci < cases.size(); ++ci) {
        Case& c = cases[ci];
        FloatConvSpec s;
        s.x = c.x.data();
        s.shape = c.shape;
        s.wPacked = c.packed.data();
        s.outChannels = c.l.o;
        s.scale = c.scale.data();
        s.shift = c.shift.data();
        s.lo = 0.0f;
        // Repeat small cases to ~2 ms per sample.
        const int calls = std::max(1, int(4e6 / c.macs));
        const double t0 = now();
        for (int i = 0; i < calls; ++i) floatConv(*isa, s, c.out.data(), 1);
        v.seconds[ci].push_back((now() - t0) / calls);
      }
    }
  }
  for (const auto& v : variants) {
    const double ceiling = median(v.ceilings);
    std::printf("%s: FMA ceiling %.1f Gflop/s\n", v.name.c_str(), ceiling);
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const double t = median(v.seconds[ci]), gf = 2.0 * cases[ci].macs / t * 1e-9;
      std::printf("  %-22s %9.3f ms %7.1f Gflop/s %5.1f%% of ceiling\n", cases[ci].l.name, t * 1e3, gf, 100.0 * gf / ceiling);
    }
  }
  return 0;
}
