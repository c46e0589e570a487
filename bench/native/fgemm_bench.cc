// Native micro-benchmark of the float32 GEMM (kernels.floatGemm: C = A.B^T + bias, B raw and
// packed inside every call, as the addon does). A tuning tool, not a test.
//
// For each ISA: an FMA-ceiling round (the table's register-only FMA loop), then every shape once
// per round; rounds are repeated (--reps) so a slow phase of the shared machine hits every case
// alike, and each case reports its median. Prints Gop/s = 2*M*N*K / time and the fraction of the
// ISA's ceiling (the median ceiling of the same run).
//
//   fgemm_bench [--shapes=MxKxN[,...]] [--reps=N] [--threads=N] [--isa=NAME[,NAME]]
//   Default shapes: the dense layers (M = 1, 64, 256 at K = N = 1024 and 4096) and conv-like
//   ones (M = positions 1024..65536, K = 27..576, N = 16..64).
//   With one thread the clock is the thread's CPU time, otherwise wall time.
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

bool gThreadClock = true;
double now() { return clockSeconds(gThreadClock); }

const char* kDefaultShapes =
    "1x1024x1024,64x1024x1024,256x1024x1024,1x4096x4096,64x4096x4096,256x4096x4096,"
    "1024x27x16,16384x27x16,4096x144x16,1024x144x32,4096x288x32,1024x288x64,1024x576x64,"
    "16384x144x16,65536x27x16";

}  // namespace

int main(int argc, char** argv) {
  std::string shapeList = kDefaultShapes, isaList;
  int reps = 7, threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--shapes=", 0) == 0) shapeList = a.substr(9);
    else if (a.rfind("--reps=", 0) == 0) reps = std::atoi(a.c_str() + 7);
    else if (a.rfind("--threads=", 0) == 0) threads = std::atoi(a.c_str() + 10);
    else if (a.rfind("--isa=", 0) == 0) isaList = a.substr(6);
    else {
      std::fprintf(stderr, "usage: fgemm_bench [--shapes=MxKxN,...] [--reps=N] [--threads=N] [--isa=a,b]\n");
      return 2;
    }
  }
  if (reps < 1 || threads < 1) {
    std::fprintf(stderr, "--reps and --threads must be >= 1\n");
    return 2;
  }
  gThreadClock = threads == 1;
  std::vector<Shape> shapes;
  if (!parseShapes(shapeList, shapes)) return 2;
  std::vector<const Platform*> isas;
  if (isaList.empty()) {
    isas.push_back(availablePlatforms().front());
  } else {
    for (const auto& name : split(isaList, ',')) {
      const Platform* p = findPlatform(name);
      if (p == nullptr) {
        std::fprintf(stderr, "ISA '%s' is not available here\n", name.c_str());
        return 2;
      }
      isas.push_back(p);
    }
  }

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  struct Case {
    std::vector<float> a, b, bias, c;
  };
  std::vector<Case> cases(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    cases[i].a.resize(s.m * s.k);
    cases[i].b.resize(s.n * s.k);
    cases[i].bias.resize(s.n);
    cases[i].c.resize(s.m * s.n);
    for (auto& v : cases[i].a) v = dist(rng);
    for (auto& v : cases[i].b) v = dist(rng);
    for (auto& v : cases[i].bias) v = dist(rng);
  }

  std::printf("fgemm_bench: %d thread(s), %d reps, medians\n", threads, reps);
  for (const Platform* p : isas) {
    const FloatKernelTable& isa = *p->fgemm;
    const double ceiling = floatCeilingGflops(isa, reps, gThreadClock);
    std::printf("[%s] FMA ceiling %.1f Gflop/s (tile %dx%d)\n", isa.name, ceiling, isa.mr, isa.nr);
    std::vector<std::vector<double>> times(shapes.size());
    for (int r = 0; r < reps; ++r) {
      for (size_t i = 0; i < shapes.size(); ++i) {
        const Shape& s = shapes[i];
        Case& c = cases[i];
        const FloatGemmSpec spec{c.a.data(), s.m, s.k, c.b.data(), nullptr, s.n, c.bias.data()};
        const double t0 = now();
        floatGemm(isa, spec, c.c.data(), threads);
        times[i].push_back(now() - t0);
      }
    }
    std::printf("  %-18s %10s %9s %8s\n", "MxKxN", "ms", "Gop/s", "ceiling");
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape& s = shapes[i];
      const double t = median(times[i]);
      const double gops = 2.0 * double(s.m) * double(s.n) * double(s.k) / t * 1e-9;
      char name[64];
      std::snprintf(name, sizeof name, "%zux%zux%zu", s.m, s.k, s.n);
      std::printf("  %-18s %10.3f %9.2f %7.1f%%\n", name, t * 1e3, gops, 100.0 * gops / ceiling);
    }
  }
  return 0;
}
