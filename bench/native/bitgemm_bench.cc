// Native micro-benchmark of the bit-serial GEMM, per ISA this CPU runs (a tuning tool, not a test).
//
// For each ISA: its popcount ceiling (the table's register-only loop of the micro-kernel's inner
// step), the micro-kernel alone on hot panels, then for each shape and each (aBits, bBits) the
// median time of anyprec::bitGemm, its bit-MAC rate (M*N*K*aBits*bBits / time), its fraction of
// the ceiling and the bit scaling time(a x b) / (a*b*time(1 x 1)).
//
// The machine may be shared (a 2-vCPU VM with other jobs), so every timed repetition is paired
// with a ceiling burst run just before it, and "/ceiling" is the median of the per-pair ratios:
// a slow phase of the machine slows both halves of a pair alike. With one thread the clock is the
// thread's CPU time (every kernel runs on the calling thread), otherwise wall time.
//
//   bitgemm_bench [--isa=NAME[,NAME]] [--shapes=MxKxN[,MxKxN]] [--bits=1,2,3,4,8] [--reps=N]
//                 [--enc=A,B] [--stored8] [--threads=N] [--no-micro] [--micro-kwords=N]
//                 [--stat=median|min]
//   --enc: A and B encodings, u=unsigned, b=bipolar, s=signed; default u,b (activations x weights).
//   --stored8: pack 8 planes and use the top bits (truncation mode) instead of exactly b planes.
//   --no-micro: skip the micro-kernel-alone table; --micro-kwords=N: its K words per call
//               (default: the driver's K block, 256 / max(aBits, bBits), at least 8).
//   --stat=min: best repetition instead of the median (times and ratios).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels.h"

using namespace anyprec;

using namespace anyprec_bench;

namespace {

bool gUseMin = false;
bool gThreadClock = true;

double now() { return clockSeconds(gThreadClock); }

// Median (or, with --stat=min, the smallest / the largest when `larger` is better).
double pick(std::vector<double> v, bool larger = false) {
  std::sort(v.begin(), v.end());
  if (gUseMin) return larger ? v.back() : v.front();
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

volatile uint64_t gSink;

// The ISA's ceiling loop, calibrated once; burst() runs it for about `seconds` and returns bit-MAC/s.
class Ceiling {
 public:
  explicit Ceiling(const KernelTable& isa) : isa_(isa) {
    uint64_t iters = 1 << 10;
    for (;;) {
      const double t0 = now();
      gSink = isa_.ceiling(iters, 12345);
      const double s = now() - t0;
      if (s > 0.01) {
        itersPerSecond_ = static_cast<double>(iters) / s;
        break;
      }
      iters *= s < 0.001 ? 8 : 2;
    }
  }
  double burst(double seconds) {
    const uint64_t iters = std::max<uint64_t>(1, static_cast<uint64_t>(itersPerSecond_ * seconds));
    const double t0 = now();
    gSink = isa_.ceiling(iters, ++seed_);
    return static_cast<double>(iters) * static_cast<double>(isa_.ceilingBitsPerIter) / (now() - t0);
  }
  // A standalone figure: the median (or best) of several 50 ms bursts.
  double rate(int reps) {
    std::vector<double> r;
    for (int i = 0; i < reps; ++i) r.push_back(burst(0.05));
    return pick(r, true);
  }

 private:
  const KernelTable& isa_;
  double itersPerSecond_ = 0;
  uint64_t seed_ = 777;
};

struct Timing {
  double seconds;      // median (or best) time of one run
  double ceilingFrac;  // median (or best) of rate_i / ceiling burst_i
  double rate;         // bit-MAC/s at `seconds`
};

// Times fn (which performs `bitMacs` bit-MACs) `reps` times, each run paired with a ceiling burst.
Timing timePaired(Ceiling& ceiling, const std::function<void()>& fn, double bitMacs, int reps) {
  double t0 = now();
  fn();  // warm-up (caches, first touch of outputs)
  const double first = now() - t0;
  int n = reps;
  if (first > 2.0) n = std::min(n, 3);
  if (first < 0.002) n = std::max(n, 15);
  const double burst = std::min(0.03, std::max(0.002, first));
  std::vector<double> times, fracs;
  for (int r = 0; r < n; ++r) {
    const double ceil = ceiling.burst(burst);
    t0 = now();
    fn();
    const double t = now() - t0;
    times.push_back(t);
    fracs.push_back(bitMacs / t / ceil);
  }
  const double t = pick(times);
  return {t, pick(fracs, true), bitMacs / t};
}

// 64-byte aligned storage for packed operands.
struct AlignedWords {
  uint64_t* p = nullptr;
  explicit AlignedWords(size_t n) {
    p = static_cast<uint64_t*>(std::aligned_alloc(64, std::max<size_t>(64, (n * 8 + 63) / 64 * 64)));
    if (p == nullptr) {
      std::fprintf(stderr, "out of memory\n");
      std::exit(1);
    }
  }
  ~AlignedWords() { std::free(p); }
  AlignedWords(const AlignedWords&) = delete;
  AlignedWords& operator=(const AlignedWords&) = delete;
};

struct Operand {
  size_t rows = 0, cols = 0;
  int planes = 0;
  std::unique_ptr<AlignedWords> words;
  std::vector<int32_t> pop;
  PackedView view() const { return {words->p, rows, cols, planes, pop.data()}; }
};

Operand makeOperand(const Platform& isa, std::mt19937_64& rng, size_t rows, size_t cols, int planes) {
  std::vector<uint8_t> codes(rows * cols);
  for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
  Operand o;
  o.rows = rows;
  o.cols = cols;
  o.planes = planes;
  o.words = std::make_unique<AlignedWords>(packedWords(rows, cols, planes));
  o.pop.resize(rows * planes);
  pack(isa, codes.data(), rows, cols, planes, o.words->p, o.pop.data(), 1);
  return o;
}

// The micro-kernel alone: one mr=8 x np=8 call (64 x 64 outputs, kWords words) on hot panels,
// repeated. Separates the kernel's own efficiency from the driver's.
Timing microKernel(const Platform& platform, Ceiling& ceiling, std::mt19937_64& rng, int aBits, int bBits,
                   size_t kWords, int reps) {
  const size_t k = kWords * 64;
  const KernelTable& isa = *platform.bitplane;
  Operand A = makeOperand(platform, rng, 8, k, aBits);
  Operand B = makeOperand(platform, rng, 64, k, bBits);
  std::vector<int64_t> acc(8 * 64, 0);
  BitTileArgs t{};
  t.a = A.words->p;
  t.aPlaneStride = kWords * kPanelRows;
  t.b = B.words->p;
  t.bPlaneStride = kWords * kPanelRows;
  t.bPanelStride = static_cast<size_t>(bBits) * kWords * kPanelRows;
  t.mr = 8;
  t.np = 8;
  t.aPlanes = aBits;
  t.bPlanes = bBits;
  t.kWords = kWords;
  t.acc = acc.data();
  t.ldAcc = 64;
  size_t calls = 1;
  for (;;) {  // ~10 ms per timed run
    const double t0 = now();
    for (size_t i = 0; i < calls; ++i) isa.bitTile(t);
    if (now() - t0 > 0.01) break;
    calls *= 2;
  }
  const double bitMacs = 8.0 * 64 * static_cast<double>(k) * aBits * bBits * static_cast<double>(calls);
  const Timing r = timePaired(
      ceiling, [&] { for (size_t i = 0; i < calls; ++i) isa.bitTile(t); }, bitMacs, reps);
  gSink = static_cast<uint64_t>(acc[0]);
  return r;
}

Encoding parseEnc(char c) {
  switch (c) {
    case 'b': return Encoding::Bipolar;
    case 's': return Encoding::Signed;
    default: return Encoding::Unsigned;
  }
}

const char* encName(Encoding e) {
  switch (e) {
    case Encoding::Bipolar: return "bipolar";
    case Encoding::Signed: return "signed";
    default: return "unsigned";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> isaFilter;
  std::vector<Shape> shapes = {{256, 4096, 4096}, {64, 1024, 1024}, {1, 4096, 4096}};
  std::vector<int> bits = {1, 2, 3, 4, 8};
  int reps = 7, threads = 1;
  bool stored8 = false, micro = true;
  size_t microKWords = 0;  // 0: the driver's K block
  Encoding aEnc = Encoding::Unsigned, bEnc = Encoding::Bipolar;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto val = [&](const char* key) -> const char* {
      const size_t n = std::strlen(key);
      return arg.compare(0, n, key) == 0 ? arg.c_str() + n : nullptr;
    };
    if (const char* v = val("--isa=")) {
      isaFilter = split(v, ',');
    } else if (const char* v = val("--shapes=")) {
      if (!parseShapes(v, shapes)) return 2;
    } else if (const char* v = val("--bits=")) {
      bits.clear();
      for (const auto& s : split(v, ',')) bits.push_back(std::atoi(s.c_str()));
    } else if (const char* v = val("--reps=")) {
      reps = std::max(1, std::atoi(v));
    } else if (const char* v = val("--threads=")) {
      threads = std::max(1, std::atoi(v));
    } else if (const char* v = val("--enc=")) {
      if (std::strlen(v) != 3 || v[1] != ',') {
        std::fprintf(stderr, "bad --enc (expected e.g. u,b)\n");
        return 2;
      }
      aEnc = parseEnc(v[0]);
      bEnc = parseEnc(v[2]);
    } else if (const char* v = val("--stat=")) {
      gUseMin = std::strcmp(v, "min") == 0;
    } else if (const char* v = val("--micro-kwords=")) {
      microKWords = static_cast<size_t>(std::max(1, std::atoi(v)));
    } else if (arg == "--no-micro") {
      micro = false;
    } else if (arg == "--stored8") {
      stored8 = true;
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n", arg.c_str());
      return 2;
    }
  }
  for (int b : bits) {
    if (b < 1 || b > 8) {
      std::fprintf(stderr, "bits must be in 1..8\n");
      return 2;
    }
  }
  gThreadClock = threads == 1;

  std::printf("bitgemm_bench: threads=%d, A %s x B %s, %s planes, %s of %d+ reps, clock=%s\n", threads,
              encName(aEnc), encName(bEnc), stored8 ? "8 stored (truncated)" : "exact", gUseMin ? "best" : "median",
              reps, gThreadClock ? "thread CPU time" : "wall");
  std::printf("bit-MAC = M*N*K*aBits*bBits; /ceiling = rate / the ISA's ceiling loop, paired per repetition\n");
  std::mt19937_64 rng(42);
  for (const Platform* isa : availablePlatforms()) {
    if (!isaFilter.empty() && std::find(isaFilter.begin(), isaFilter.end(), isa->name) == isaFilter.end()) continue;
    Ceiling ceiling(*isa->bitplane);
    const double ceil0 = ceiling.rate(5);
    std::printf("\n== %s: ceiling %.1f Gbit-MAC/s (%llu bit-MACs per iteration)\n", isa->name, ceil0 * 1e-9,
                static_cast<unsigned long long>(isa->bitplane->ceilingBitsPerIter));

    if (micro) {
      // One call of 8 rows x 8 panels with the driver's K block (256 / max(a, b) words, >= 8).
      std::printf("\n  micro-kernel alone (mr=8 x np=8 per call, hot panels)\n");
      std::printf("  %5s %7s %13s %9s\n", "a x b", "kWords", "Gbit-MAC/s", "/ceiling");
      for (int ab : bits) {
        for (int bb : bits) {
          if (ab != bb && ab != 1 && bb != 1) continue;
          const size_t kw = microKWords ? microKWords : std::max<size_t>(8, 256 / std::max(ab, bb));
          const Timing t = microKernel(*isa, ceiling, rng, ab, bb, kw, 5);
          std::printf("  %2dx%-2d %7zu %13.1f %9.3f\n", ab, bb, kw, t.rate * 1e-9, t.ceilingFrac);
          std::fflush(stdout);
        }
      }
    }

    for (const Shape& sh : shapes) {
      std::printf("\n  M=%zu K=%zu N=%zu\n", sh.m, sh.k, sh.n);
      std::printf("  %5s %11s %13s %9s %12s\n", "a x b", "time ms", "Gbit-MAC/s", "/ceiling", "t/(ab*t11)");
      // One pack per stored width; (a, b) uses exactly a and b planes, or the top of 8 stored.
      std::vector<Operand> as(9), bs(9);
      for (int p = 1; p <= 8; ++p) {
        const bool need = stored8 ? p == 8 : std::find(bits.begin(), bits.end(), p) != bits.end();
        if (!need) continue;
        as[p] = makeOperand(*isa, rng, sh.m, sh.k, p);
        bs[p] = makeOperand(*isa, rng, sh.n, sh.k, p);
      }
      std::vector<int32_t> c(sh.m * sh.n);
      double t11 = 0;
      for (int ab : bits) {
        for (int bb : bits) {
          const Operand& A = as[stored8 ? 8 : ab];
          const Operand& B = bs[stored8 ? 8 : bb];
          const GemmSpec spec{A.view(), B.view(), ab, bb, aEnc, bEnc};
          const CheckResult cr = checkGemm(spec);
          if (cr.kind != ErrorKind::None) {
            std::printf("  %2dx%-2d skipped: %s\n", ab, bb, cr.message.c_str());
            continue;
          }
          const double bitMacs = static_cast<double>(sh.m) * sh.n * sh.k * ab * bb;
          const Timing t = timePaired(ceiling, [&] { bitGemm(*isa, spec, c.data(), threads); }, bitMacs, reps);
          if (ab == 1 && bb == 1) t11 = t.seconds;
          char scale[32] = "-";
          if (t11 > 0) std::snprintf(scale, sizeof scale, "%.3f", t.seconds / (ab * bb * t11));
          std::printf("  %2dx%-2d %11.3f %13.1f %9.3f %12s\n", ab, bb, t.seconds * 1e3, t.rate * 1e-9,
                      t.ceilingFrac, scale);
          std::fflush(stdout);
        }
      }
    }
    std::printf("\n  %s ceiling: %.1f Gbit-MAC/s at start, %.1f at end\n", isa->name, ceil0 * 1e-9,
                ceiling.rate(5) * 1e-9);
  }
  return 0;
}
