// Where a gated layer's time goes (a tuning tool, not a test: counters, no asserts). For each ISA,
// shape and weight bits: the dense B-bit bitGemm and the dense Bhb-bit one (the floor), both
// finishing to 4-bit codes like a network layer, then the fused gated GEMM (codes epilogue, no
// mask) with every output off and at each off fraction, its speedup over dense next to the
// plane-pair theory B / (Bhb + on * (B - Bhb)), and its time split into phases from
// GatedSpec::profile: high planes, gate (+ the on-lists), low planes, finish (the epilogue) and the
// rest (plan set-up, calls: the total less the phases). The phases are medians over separate
// profiled calls (the counters cost a few ns per strip; the clock is the time-stamp counter, so a
// preempted call counts its wait: hence medians). Where the ISA has the fused high planes + gate
// kernel, "high" is the fused pass and "gate" only the row terms. --unfused also times (in the
// same rounds) and profiles the two-pass route (GatedSpec::fuseGate = false: bitTile, then the
// gate over the stored sums); --old-lists the route where the low-plane kernel lists each group's
// on-outputs itself. --int8-high also times (in the same rounds) and profiles the high part on the
// int8 route (GatedSpec::high = GatedHigh::Int8: the high codes as bytes, one int8 tile per task,
// prepared weights made once), and the dense Bhb-bit and B-bit GEMMs on the int8 path (the codes
// rebuilt from the planes, as the gated route's are).
//
// Activation codes are uniform, thresholds per column from O_hb quantiles: the gate is
// uncorrelated (the hard case for skipping). The machine may be shared: interleaved rounds, the
// median, the thread's CPU time.
//
//   gated_phases_bench [--isa=NAME,...] [--shapes=MxKxN,...] [--wbits=1,2,4,8] [--cases=4/2,...]
//                      [--off=0.8,0.9,0.95] [--rounds=N] [--unfused] [--old-lists] [--int8-high]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "bench_util.h"
#include "kernels.h"

using namespace anyprec;
using namespace anyprec_bench;

namespace {

struct Operand {
  std::shared_ptr<uint64_t> words;
  std::vector<int32_t> pop;
  PackedView view;
};

Operand makeOperand(const Platform& isa, const std::vector<uint8_t>& codes, size_t rows, size_t cols, int planes) {
  const size_t bytes = (packedWords(rows, cols, planes) * 8 + 127) / 64 * 64;
  Operand o{std::shared_ptr<uint64_t>(static_cast<uint64_t*>(std::aligned_alloc(64, bytes)), std::free),
            std::vector<int32_t>(rows * planes), {}};
  pack(isa, codes.data(), rows, cols, planes, o.words.get(), o.pop.data(), 1);
  o.view = PackedView{o.words.get(), rows, cols, planes, o.pop.data()};
  return o;
}

std::vector<double> parseList(const char* v) {
  std::vector<double> r;
  for (const auto& x : split(v, ',')) r.push_back(std::atof(x.c_str()));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> isas;
  std::vector<std::string> shapes = {"8192x144x16", "2048x288x32", "512x576x64"};
  std::vector<double> wbits = {1, 2, 4, 8}, offs = {0.8, 0.9, 0.95};
  std::vector<std::pair<int, int>> cases = {{4, 2}};
  int rounds = 9;
  bool oldLists = false, unfused = false, int8High = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* key) { return optionValue(argv[i], key); };
    if (const char* v = val("--isa=")) isas = split(v, ',');
    else if (const char* v = val("--shapes=")) shapes = split(v, ',');
    else if (const char* v = val("--wbits=")) wbits = parseList(v);
    else if (const char* v = val("--off=")) offs = parseList(v);
    else if (const char* v = val("--rounds=")) rounds = std::atoi(v);
    else if (const char* v = val("--cases=")) {
      cases.clear();
      for (const auto& c : split(v, ',')) {
        const auto p = split(c, '/');
        cases.push_back({std::atoi(p[0].c_str()), std::atoi(p[1].c_str())});
      }
    } else if (a == "--old-lists") oldLists = true;
    else if (a == "--unfused") unfused = true;
    else if (a == "--int8-high") int8High = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  // GatedProfile's ticks per microsecond (the time-stamp counter on x86-64, else nanoseconds).
  double ticksPerUs = 1e3;
#if defined(__x86_64__)
  {
    const double t0 = clockSeconds(false);
    const uint64_t c0 = __rdtsc();
    while (clockSeconds(false) - t0 < 0.05) {
    }
    ticksPerUs = static_cast<double>(__rdtsc() - c0) / (1e6 * (clockSeconds(false) - t0));
  }
#endif
  std::mt19937_64 rng(7);
  const float inf = std::numeric_limits<float>::infinity();
  for (const Platform* isa : availablePlatforms()) {
    if (!isas.empty() && std::find(isas.begin(), isas.end(), isa->name) == isas.end()) continue;
    for (const std::string& sh : shapes) {
      const auto d = split(sh, 'x');
      const size_t m = std::stoul(d[0]), k = std::stoul(d[1]), n = std::stoul(d[2]);
      for (auto [B, hb] : cases) {
        for (double wd : wbits) {
          const int w = static_cast<int>(wd);
          std::vector<uint8_t> ac(m * k), bc(n * k);
          for (auto& c : ac) c = static_cast<uint8_t>(rng() % (1u << B));
          for (auto& c : bc) c = static_cast<uint8_t>(rng() % (1u << w));
          Operand A = makeOperand(*isa, ac, m, k, B), W = makeOperand(*isa, bc, n, k, w);
          // A layer's epilogue: scale to about [0, 1] and the next layer's B-bit codes.
          std::vector<float> scale(n, 1.0f / static_cast<float>(k * ((1 << B) - 1) * ((1 << w) - 1))), shift(n, 0.1f);
          Epilogue epi;
          epi.kind = OutputKind::Codes;
          epi.scale = scale.data();
          epi.shift = shift.data();
          epi.codeBits = B;
          std::vector<uint8_t> codes(m * n);
          std::vector<int32_t> ohb(m * n);
          std::vector<float> never(n, inf);
          GatedSpec probe{A.view, W.view, B, hb, w, Encoding::Bipolar, never.data()};
          gatedGemm(*isa, probe, ohb.data(), nullptr, 1);
          std::vector<std::vector<float>> thr(offs.size(), std::vector<float>(n));
          std::vector<int32_t> col(m);
          for (size_t si = 0; si < offs.size(); ++si) {
            for (size_t j = 0; j < n; ++j) {
              for (size_t i = 0; i < m; ++i) col[i] = ohb[i * n + j];
              std::sort(col.begin(), col.end());
              const size_t offCount = std::min(m, static_cast<size_t>(std::llround(offs[si] * static_cast<double>(m))));
              thr[si][j] = offCount == 0 ? -inf : static_cast<float>(col[offCount - 1]);
            }
          }
          // Prepared int8 weights (once, as a network layer's are).
          std::vector<int8_t> wData(int8WeightBytesChecked(n, k));
          std::vector<int32_t> wSum(int8ColSumCount(n));
          prepareInt8(*isa, W.view, w, Encoding::Bipolar, wData.data(), wSum.data(), 1);
          const I8Weights i8w{wData.data(), wSum.data(), n, k, w, Encoding::Bipolar};
          auto gatedSpec = [&](const float* t, GatedProfile* prof, bool fuse = true, bool int8 = false) {
            GatedSpec s{A.view, W.view, B, hb, w, Encoding::Bipolar, t};
            s.epilogue = epi;
            s.profile = prof;
            s.fuseGate = fuse;
            if (int8) {
              s.high = GatedHigh::Int8;
              s.highWeights = &i8w;
            }
            return s;
          };
          struct Case {
            std::string name;
            std::function<void()> fn;
            std::vector<double> samples;
          };
          std::vector<Case> timed;
          const GemmSpec dense{A.view, W.view, B, w, Encoding::Unsigned, Encoding::Bipolar};
          const GemmSpec floor{A.view, W.view, hb, w, Encoding::Unsigned, Encoding::Bipolar};
          timed.push_back({"dense", [&] { bitGemm(*isa, dense, codes.data(), epi, 1); }, {}});
          timed.push_back({"floor", [&] { bitGemm(*isa, floor, codes.data(), epi, 1); }, {}});
          timed.push_back({"all off", [&] { gatedGemm(*isa, gatedSpec(never.data(), nullptr), codes.data(), nullptr, 1); }, {}});
          for (size_t si = 0; si < offs.size(); ++si)
            timed.push_back({"off", [&, si] { gatedGemm(*isa, gatedSpec(thr[si].data(), nullptr), codes.data(), nullptr, 1); }, {}});
          const size_t firstUnfused = timed.size();
          for (size_t si = 0; si <= offs.size() && unfused; ++si) {  // all off, then each fraction
            const float* t = si == 0 ? never.data() : thr[si - 1].data();
            timed.push_back({"unfused", [&, t] { gatedGemm(*isa, gatedSpec(t, nullptr, false), codes.data(), nullptr, 1); }, {}});
          }
          const size_t firstOld = timed.size();
          std::vector<GatedProfile> oldProf(offs.size());
          for (size_t si = 0; si < offs.size() && oldLists; ++si) {
            oldProf[si].gateLists = false;
            timed.push_back({"old", [&, si] { gatedGemm(*isa, gatedSpec(thr[si].data(), &oldProf[si]), codes.data(), nullptr, 1); }, {}});
          }
          const size_t firstI8 = timed.size();
          const Int8Route i8route{&int8KernelFor(*isa, m), &i8w};
          for (size_t si = 0; si <= offs.size() + 1 && int8High; ++si) {  // dense int8 B and Bhb, all off, fractions
            if (si == 0) {
              timed.push_back({"dense i8", [&] { bitGemm(*isa, dense, codes.data(), epi, 1, i8route); }, {}});
              timed.push_back({"floor i8", [&] { bitGemm(*isa, floor, codes.data(), epi, 1, i8route); }, {}});
              continue;
            }
            const float* t = si == 1 ? never.data() : thr[si - 2].data();
            timed.push_back({"int8 high", [&, t] { gatedGemm(*isa, gatedSpec(t, nullptr, true, true), codes.data(), nullptr, 1); }, {}});
          }
          for (auto& c : timed) c.fn();
          std::mt19937_64 order(11);
          std::vector<size_t> idx(timed.size());
          for (int r = 0; r < rounds; ++r) {
            for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
            std::shuffle(idx.begin(), idx.end(), order);
            for (size_t i : idx) {
              const int reps = 5;
              const double t0 = clockSeconds(true);
              for (int q = 0; q < reps; ++q) timed[i].fn();
              timed[i].samples.push_back((clockSeconds(true) - t0) / reps);
            }
          }
          auto us = [&](size_t i) { return 1e6 * median(timed[i].samples); };
          const double denseUs = us(0);
          std::printf("\n[%s] M=%zu K=%zu N=%zu B/Bhb=%d/%d w=%d: dense %.1f us, floor (dense %d-bit) %.1f us = %.2fx\n",
                      isa->name, m, k, n, B, hb, w, denseUs, hb, us(1), denseUs / us(1));
          std::printf("  %-10s %8s %8s %8s %9s | %6s %6s %6s %6s %6s  (us per call)\n", "case", "us", "speedup",
                      "theory", "of theory", "high", "gate", "low", "finish", "rest");
          // One row: the total (unprofiled, interleaved above) and the phases of `calls` profiled calls.
          auto row = [&](const char* name, double total, double on, const float* t, bool gateLists, bool fuse = true,
                         bool int8 = false) {
            // Per phase the median over profiled calls (a preempted call inflates one of them).
            std::vector<double> hs, gs, ls, fs;
            for (int q = 0; q < 31; ++q) {
              GatedProfile p;
              p.gateLists = gateLists;
              gatedGemm(*isa, gatedSpec(t, &p, fuse, int8), codes.data(), nullptr, 1);
              hs.push_back(p.high / ticksPerUs);
              gs.push_back(p.gate / ticksPerUs);
              ls.push_back(p.low / ticksPerUs);
              fs.push_back(p.finish / ticksPerUs);
            }
            const double high = median(hs), gate = median(gs), low = median(ls), fin = median(fs);
            const double theory = static_cast<double>(B) / (hb + on * (B - hb));
            std::printf("  %-10s %8.1f %7.2fx %7.2fx %9.2f | %6.1f %6.1f %6.1f %6.1f %6.1f\n", name, total, denseUs / total,
                        theory, denseUs / total / theory, high, gate, low, fin, total - (high + gate + low + fin));
          };
          if (int8High)
            std::printf("  int8 path: dense %.1f us, floor (dense %d-bit) %.1f us; gated ÷ int8 floor below as 'i8fl'\n",
                        us(firstI8), hb, us(firstI8 + 1));
          row("all off", us(2), 0.0, never.data(), true);
          if (unfused) row("  unfused", us(firstUnfused), 0.0, never.data(), true, false);
          if (int8High) {
            row("  i8 high", us(firstI8 + 2), 0.0, never.data(), true, true, true);
            std::printf("  %-10s bit-serial high %.2fx / int8 high %.2fx the int8 floor\n", "", us(2) / us(firstI8 + 1),
                        us(firstI8 + 2) / us(firstI8 + 1));
          }
          for (size_t si = 0; si < offs.size(); ++si) {
            char name[32];
            std::snprintf(name, sizeof name, "%.0f%% off", 100 * offs[si]);
            row(name, us(3 + si), 1.0 - offs[si], thr[si].data(), true);
            // The earlier route (timed with its profile counters on, which the gate-list rows are not).
            if (unfused) row("  unfused", us(firstUnfused + 1 + si), 1.0 - offs[si], thr[si].data(), true, false);
            if (oldLists) row("  old list", us(firstOld + si), 1.0 - offs[si], thr[si].data(), false);
            if (int8High) {
              row("  i8 high", us(firstI8 + 3 + si), 1.0 - offs[si], thr[si].data(), true, true, true);
              std::printf("  %-10s bit-serial high %.2fx / int8 high %.2fx the int8 floor\n", "", us(3 + si) / us(firstI8 + 1),
                          us(firstI8 + 3 + si) / us(firstI8 + 1));
            }
          }
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
