// Native micro-benchmark of the precision-gated GEMM (a tuning tool, not a test): for each ISA,
// shape, (B, Bhb) and weight bits, the time of the dense B-bit bitGemm, of the gated GEMM with
// every output off (+inf: high planes and gate only) and at each sparsity with each skipping
// strategy, and the ratio dense / gated next to the plane-pair theory
//   B / (Bhb + (1 - sparsity) * (B - Bhb))   (the weight bits cancel).
// Thresholds are set per column from the O_hb distribution so that the off fraction is the one
// asked for (up to ties, which are reported). Activation codes are uniform; the gate is therefore
// uncorrelated across rows and columns, the hard case for skipping (see gated.cc). --cluster gives
// only a quarter of the 8-row bands large codes, so the gated-on outputs cluster in micro-tiles.
//
// The machine may be shared: cases are measured in interleaved rounds and summarised by the
// median; the clock is the thread's CPU time (everything runs on the calling thread).
//
//   gated_bench [--isa=NAME[,NAME]] [--shapes=MxKxN,...] [--cases=B/Bhb,...] [--wbits=1,2]
//               [--enc=b|u|s] [--sparsity=0.5,0.8,0.9,0.95] [--rounds=N] [--strategies=auto,compact,tiles,hybrid]
//               [--cluster] [--only=CASE]   (--only: run the case whose name starts with CASE for
//               ~3 s, e.g. for perf: 'dense', 'gated +inf', 's=0.80 compact')
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels.h"

using namespace anyprec;

using namespace anyprec_bench;

namespace {

double now() { return clockSeconds(true); }  // everything runs on the calling thread

// Packed planes on a 64-byte boundary, as the addon allocates them (a 512-bit load of a panel
// word then never splits a cache line).
struct Operand {
  size_t rows, cols;
  int planes;
  std::shared_ptr<uint64_t> words;
  std::vector<int32_t> pop;
  PackedView view() const { return {words.get(), rows, cols, planes, pop.data()}; }
};

Operand makeOperand(const Platform& isa, const std::vector<uint8_t>& codes, size_t rows, size_t cols, int planes) {
  const size_t bytes = (packedWords(rows, cols, planes) * 8 + 127) / 64 * 64;
  Operand o{rows, cols, planes, std::shared_ptr<uint64_t>(static_cast<uint64_t*>(std::aligned_alloc(64, bytes)), std::free),
            std::vector<int32_t>(rows * planes)};
  pack(isa, codes.data(), rows, cols, planes, o.words.get(), o.pop.data(), 1);
  return o;
}

struct Timed {
  std::string name;
  std::function<void()> fn;
  std::vector<double> samples;
  double ms() const { return 1e3 * median(samples); }
};

const char* strategyName(GatedStrategy s) {
  switch (s) {
    case GatedStrategy::Auto: return "auto";
    case GatedStrategy::Compact: return "compact";
    case GatedStrategy::Tiles: return "tiles";
    case GatedStrategy::Hybrid: return "hybrid";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> isas;
  std::vector<std::string> shapes = {"4096x288x64", "4096x576x64"};
  std::vector<std::pair<int, int>> cases = {{4, 2}, {4, 1}, {3, 2}, {3, 1}};
  std::vector<int> wbits = {1};
  std::vector<double> sparsities = {0.5, 0.8, 0.9, 0.95};
  std::vector<GatedStrategy> strategies = {GatedStrategy::Compact, GatedStrategy::Tiles, GatedStrategy::Hybrid};
  Encoding enc = Encoding::Bipolar;
  int rounds = 7;
  bool cluster = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&](const char* key) { return optionValue(argv[i], key); };
    if (const char* v = val("--isa=")) isas = split(v, ',');
    else if (const char* v = val("--shapes=")) shapes = split(v, ',');
    else if (const char* v = val("--cases=")) {
      cases.clear();
      for (const auto& c : split(v, ',')) {
        const auto p = split(c, '/');
        cases.push_back({std::atoi(p[0].c_str()), std::atoi(p[1].c_str())});
      }
    } else if (const char* v = val("--wbits=")) {
      wbits.clear();
      for (const auto& w : split(v, ',')) wbits.push_back(std::atoi(w.c_str()));
    } else if (const char* v = val("--sparsity=")) {
      sparsities.clear();
      for (const auto& w : split(v, ',')) sparsities.push_back(std::atof(w.c_str()));
    } else if (const char* v = val("--strategies=")) {
      strategies.clear();
      for (const auto& w : split(v, ','))
        strategies.push_back(w == "auto" ? GatedStrategy::Auto : w == "compact" ? GatedStrategy::Compact
                             : w == "tiles" ? GatedStrategy::Tiles : GatedStrategy::Hybrid);
    } else if (const char* v = val("--enc=")) enc = v[0] == 'u' ? Encoding::Unsigned : v[0] == 's' ? Encoding::Signed : Encoding::Bipolar;
    else if (const char* v = val("--rounds=")) rounds = std::atoi(v);
    else if (a == "--cluster") cluster = true;
    else if (const char* v = val("--only=")) only = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  std::vector<const Platform*> tables;
  for (const Platform* t : availablePlatforms())
    if (isas.empty() || std::find(isas.begin(), isas.end(), t->name) != isas.end()) tables.push_back(t);

  std::mt19937_64 rng(7);
  for (const Platform* isa : tables) {
    for (const std::string& sh : shapes) {
      const auto d = split(sh, 'x');
      const size_t m = std::stoul(d[0]), k = std::stoul(d[1]), n = std::stoul(d[2]);
      for (auto [B, hb] : cases) {
        for (int w : wbits) {
          std::vector<uint8_t> ac(m * k), bc(n * k);
          // --cluster: a quarter of the 8-row bands (image regions) carry full-range codes, the
          // others codes below 2^(B-hb) (no high bits: O_hb is the row correction alone), so the
          // outputs the gate keeps sit in whole micro-tiles, as spatially correlated activations do.
          for (size_t i = 0; i < m; ++i) {
            const bool hot = !cluster || ((i / 8) * 2654435761u >> 7) % 4 == 0;
            const unsigned range = hot ? (1u << B) : (1u << (B - hb));
            for (size_t t = 0; t < k; ++t) ac[i * k + t] = static_cast<uint8_t>(rng() % range);
          }
          for (auto& c : bc) c = static_cast<uint8_t>(rng() & ((1u << w) - 1));
          Operand A = makeOperand(*isa, ac, m, k, B), Bw = makeOperand(*isa, bc, n, k, w);
          std::vector<int32_t> out(m * n);
          std::vector<uint8_t> mask(m * n);
          const float inf = std::numeric_limits<float>::infinity();
          // O_hb from the gated GEMM with every output off.
          std::vector<float> thrOff(n, inf), thrOn(n, -inf);
          GatedSpec off{A.view(), Bw.view(), B, hb, w, enc, thrOff.data(), GatedStrategy::Auto};
          gatedGemm(*isa, off, out.data(), mask.data(), 1);
          std::vector<int32_t> ohb = out;
          // Per sparsity, thresholds per column with that fraction off (or, clustered, per 8-row
          // band and column a coin with that bias: a random 8-row band is all on or all off).
          std::vector<std::vector<float>> thr(sparsities.size(), std::vector<float>(n));
          std::vector<double> actualOff(sparsities.size());
          for (size_t si = 0; si < sparsities.size(); ++si) {
            const double s = sparsities[si];
            for (size_t j = 0; j < n; ++j) {
              std::vector<int32_t> col(m);
              for (size_t i = 0; i < m; ++i) col[i] = ohb[i * n + j];
              std::sort(col.begin(), col.end());
              const size_t offCount = std::min(m, static_cast<size_t>(std::llround(s * static_cast<double>(m))));
              thr[si][j] = offCount == 0 ? -inf : static_cast<float>(col[offCount - 1]);
            }
          }
          std::vector<Timed> timed;
          GemmSpec dense{A.view(), Bw.view(), B, w, Encoding::Unsigned, enc};
          GemmSpec high{A.view(), Bw.view(), hb, w, Encoding::Unsigned, enc};
          timed.push_back({"dense", [&, dense] { bitGemm(*isa, dense, out.data(), 1); }, {}});
          timed.push_back({"bitGemm Bhb", [&, high] { bitGemm(*isa, high, out.data(), 1); }, {}});
          timed.push_back({"gated +inf", [&] {
            GatedSpec s{A.view(), Bw.view(), B, hb, w, enc, thrOff.data(), GatedStrategy::Auto};
            gatedGemm(*isa, s, out.data(), mask.data(), 1); }, {}});
          for (GatedStrategy st : strategies) {
            timed.push_back({std::string("gated -inf ") + strategyName(st), [&, st] {
              GatedSpec s{A.view(), Bw.view(), B, hb, w, enc, thrOn.data(), st};
              gatedGemm(*isa, s, out.data(), mask.data(), 1); }, {}});
          }
          for (size_t si = 0; si < sparsities.size(); ++si) {
            GatedSpec s0{A.view(), Bw.view(), B, hb, w, enc, thr[si].data(), GatedStrategy::Compact};
            const uint64_t on = gatedGemm(*isa, s0, out.data(), mask.data(), 1);
            actualOff[si] = 1.0 - static_cast<double>(on) / static_cast<double>(m * n);
            for (GatedStrategy st : strategies) {
              char name[64];
              std::snprintf(name, sizeof name, "s=%.2f %s", sparsities[si], strategyName(st));
              timed.push_back({name, [&, si, st] {
                GatedSpec s{A.view(), Bw.view(), B, hb, w, enc, thr[si].data(), st};
                gatedGemm(*isa, s, out.data(), mask.data(), 1); }, {}});
            }
          }
          if (!only.empty()) {  // profiling aid: run one case (by name prefix) for ~3 s and stop
            for (auto& t : timed) {
              if (t.name.compare(0, only.size(), only) != 0) continue;
              const double t0 = now();
              size_t calls = 0;
              while (now() - t0 < 3.0) { t.fn(); ++calls; }
              std::printf("%s: %.3f ms per call\n", t.name.c_str(), 1e3 * (now() - t0) / calls);
            }
            continue;
          }
          for (auto& t : timed) t.fn();  // warm-up
          std::mt19937_64 order(11);
          for (int r = 0; r < rounds; ++r) {
            std::vector<size_t> idx(timed.size());
            for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
            std::shuffle(idx.begin(), idx.end(), order);
            for (size_t i : idx) {
              const int reps = 5;
              const double t0 = now();
              for (int q = 0; q < reps; ++q) timed[i].fn();
              timed[i].samples.push_back((now() - t0) / reps);
            }
          }
          const double denseMs = timed[0].ms();
          std::printf("\n[%s] M=%zu K=%zu N=%zu  B=%d Bhb=%d  w=%d  dense %.3f ms, bitGemm(Bhb) %.3f, gated +inf %.3f (%.3f of dense)\n",
                      isa->name, m, k, n, B, hb, w, denseMs, timed[1].ms(), timed[2].ms(), timed[2].ms() / denseMs);
          size_t ti = 3;
          for (GatedStrategy st : strategies) {
            std::printf("  gated -inf %-8s %.3f ms (%.3f of dense)\n", strategyName(st), timed[ti].ms(), timed[ti].ms() / denseMs);
            ++ti;
          }
          std::printf("  %-8s %-8s %9s %10s %10s %9s %9s\n", "off", "strategy", "ms", "speedup", "theory", "of theory", "low ms");
          for (size_t si = 0; si < sparsities.size(); ++si) {
            const double theory = static_cast<double>(B) / (hb + (1.0 - actualOff[si]) * (B - hb));
            for (GatedStrategy st : strategies) {
              const double ms = timed[ti].ms();
              std::printf("  %-8.4f %-8s %9.3f %9.3fx %9.3fx %9.3f %9.3f\n", actualOff[si], strategyName(st), ms,
                          denseMs / ms, theory, denseMs / ms / theory, ms - timed[2].ms());
              ++ti;
            }
          }
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
