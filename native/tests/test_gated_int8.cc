// Native tests of the gated GEMM's int8 high route (GatedSpec::high = GatedHigh::Int8): on every
// ISA this CPU runs, its outputs, masks and gate counts equal the bit-serial high route's bit for
// bit, for every (B, Bhb) with 1 <= Bhb < B <= 8, weights of 1..8 bits in every encoding (stored
// with more planes than used on a rotation), odd M / N / K (K not a multiple of 64 nor of 32, K
// across the i8 pad and the task edges), thresholds -inf / +inf / NaN / random (some exactly at an
// O_hb value: the gate is strict), every skipping strategy on a rotation, 1-3 threads, with the
// caller's prepared weights and with the plan's own; the fused codes epilogue too; and a second
// weight operand (b2) is refused by checkGated.
// The high part given by the caller (GatedSpec::highSums: the value sums of p >> L, here from a
// naive reference), with A holding all B planes or only the L low ones (lowOnly): the same bits too.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

const char* encName(Encoding e) {
  return e == Encoding::Unsigned ? "unsigned" : e == Encoding::Bipolar ? "bipolar" : "signed";
}

struct Run {
  std::vector<int32_t> out;
  std::vector<uint8_t> mask;
  uint64_t on = 0;
};

}  // namespace

int main() {
  std::mt19937_64 rng(20261207);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Encoding encs[] = {Encoding::Bipolar, Encoding::Unsigned, Encoding::Signed};
  const GatedStrategy strategies[] = {GatedStrategy::Auto, GatedStrategy::Compact, GatedStrategy::Tiles, GatedStrategy::Hybrid};
  // M, N, K: single outputs, tile / task edges, K = 63, 65, 100 (not multiples of 32 or 64), 144, 200, 577.
  const Shape shapes[] = {{1, 1, 1}, {9, 17, 63}, {13, 23, 65}, {70, 9, 100}, {65, 130, 7}, {31, 47, 144}, {129, 33, 77},
                          {17, 16, 577}, {200, 40, 36}};
  std::printf("ISAs on this CPU:");
  for (const Platform* t : availablePlatforms()) std::printf(" %s (int8 %s)", t->name, t->int8->name);
  std::printf("\n");

  int combo = 0;
  size_t compared = 0;
  for (const Shape& s : shapes) {
    for (int aBits = 2; aBits <= 8; ++aBits) {
      for (int hb = 1; hb < aBits; ++hb) {
        for (int bBits = 1; bBits <= 8; ++bBits) {
          ++combo;
          // Long K or large shapes: a rotation of the cases only.
          if ((s.k > 500 || s.m * s.n > 4000) && combo % 3 != 0) continue;
          const Encoding bEnc = encs[combo % 3];
          const int aStored = combo % 4 == 0 ? 8 : aBits, bStored = combo % 5 == 0 ? 8 : bBits;
          auto ac = randomCodes(rng, s.m * s.k, aStored);
          auto bc = randomCodes(rng, s.n * s.k, bStored);
          Packed A = packWith(scalarPlatform(), ac, s.m, s.k, aStored, 1);
          Packed B = packWith(scalarPlatform(), bc, s.n, s.k, bStored, 1);
          // O_hb of every output (the bit-serial route, +inf) for thresholds at exact values.
          std::vector<float> never(s.n, inf);
          std::vector<int32_t> ohb(s.m * s.n);
          gatedGemm(scalarPlatform(), GatedSpec{A.view(), B.view(), aBits, hb, bBits, bEnc, never.data()}, ohb.data(), nullptr, 1);
          std::vector<std::vector<float>> thr;
          thr.push_back(std::vector<float>(s.n, -inf));
          thr.push_back(never);
          {
            std::vector<float> t(s.n);
            for (size_t j = 0; j < s.n; ++j) {
              const float pick = static_cast<float>(ohb[(rng() % s.m) * s.n + j]);
              const int kind = static_cast<int>(rng() % 5);
              t[j] = kind == 0 ? pick : kind == 1 ? pick + 0.5f : kind == 2 ? pick - 0.25f : kind == 3 ? nan
                   : pick + static_cast<float>(static_cast<int>(rng() % 41) - 20);
            }
            thr.push_back(t);
          }
          // The given high sums: V = sum_t (p >> L) * value(b), naive; and A's low codes alone.
          const int L = aBits - hb;
          std::vector<int32_t> hv(s.m * s.n, 0);
          for (size_t i = 0; i < s.m; ++i) {
            for (size_t j = 0; j < s.n; ++j) {
              int64_t v = 0;
              for (size_t t = 0; t < s.k; ++t) {
                const int p = ac[i * s.k + t] >> (aStored - aBits) >> L;
                const int c = bc[j * s.k + t] >> (bStored - bBits);
                const int w = bEnc == Encoding::Unsigned ? c : bEnc == Encoding::Bipolar ? 2 * c - ((1 << bBits) - 1)
                              : (c >= (1 << (bBits - 1)) ? c - (1 << bBits) : c);
                v += static_cast<int64_t>(p) * w;
              }
              hv[i * s.n + j] = static_cast<int32_t>(v);
            }
          }
          std::vector<uint8_t> lowCodes(s.m * s.k);
          for (size_t x = 0; x < lowCodes.size(); ++x) lowCodes[x] = static_cast<uint8_t>((ac[x] >> (aStored - aBits)) & ((1 << L) - 1));
          Packed Alow = packWith(scalarPlatform(), lowCodes, s.m, s.k, L, 1);
          for (const Platform* isa : availablePlatforms()) {
            // The caller's prepared weights (as the addon passes them) on even combos, else the plan's own.
            std::vector<int8_t> wData(i8WeightBytes(s.n, s.k));
            std::vector<int32_t> wSum(i8NPad(s.n));
            prepareI8Weights(*isa->int8, B.view(), bBits, bEnc, wData.data(), wSum.data(), 1);
            const I8Weights w{wData.data(), wSum.data(), s.n, s.k, bBits, bEnc};
            for (size_t ti = 0; ti < thr.size(); ++ti) {
              const GatedStrategy st = strategies[(combo + ti) % 4];
              const int threads = 1 + static_cast<int>((combo + ti) % 3);
              auto run = [&](GatedHigh high) {
                GatedSpec spec{A.view(), B.view(), aBits, hb, bBits, bEnc, thr[ti].data(), st};
                spec.high = high;
                if (high == GatedHigh::Int8 && combo % 2 == 0) spec.highWeights = &w;
                const CheckResult cr = checkGated(spec);
                EXPECT(cr.kind == ErrorKind::None, "unexpected check failure: %s", cr.message.c_str());
                Run r{std::vector<int32_t>(s.m * s.n, 0x7eadbeef), std::vector<uint8_t>(s.m * s.n, 0x5a), 0};
                r.on = gatedGemm(*isa, spec, r.out.data(), r.mask.data(), threads);
                return r;
              };
              // Given high sums: with A's B planes (even combos) or its low ones alone (odd).
              auto runGiven = [&](bool lowOnly) {
                GatedSpec spec{lowOnly ? Alow.view() : A.view(), B.view(), aBits, hb, bBits, bEnc, thr[ti].data(), st};
                spec.highSums = hv.data();
                spec.ldHighSums = s.n;
                spec.lowOnly = lowOnly;
                const CheckResult cr = checkGated(spec);
                EXPECT(cr.kind == ErrorKind::None, "unexpected check failure (given): %s", cr.message.c_str());
                Run r{std::vector<int32_t>(s.m * s.n, 0x7eadbeef), std::vector<uint8_t>(s.m * s.n, 0x5a), 0};
                r.on = gatedGemm(*isa, spec, r.out.data(), r.mask.data(), threads);
                return r;
              };
              const Run bs = run(GatedHigh::BitSerial), i8 = run(GatedHigh::Int8);
              const Run gv = runGiven((combo + ti) % 2 == 1);
              size_t bad = 0, first = SIZE_MAX, badGiven = 0;
              for (size_t x = 0; x < s.m * s.n; ++x) badGiven += bs.out[x] != gv.out[x] || bs.mask[x] != gv.mask[x];
              ++compared;
              EXPECT(badGiven == 0 && bs.on == gv.on,
                     "[%s] m=%zu n=%zu k=%zu B=%d Bhb=%d b=%d-bit %s (stored %d/%d) thr#%zu strategy %d threads %d: given high "
                     "sums (lowOnly %d): %zu outputs differ, on %llu vs %llu",
                     isa->name, s.m, s.n, s.k, aBits, hb, bBits, encName(bEnc), aStored, bStored, ti, static_cast<int>(st),
                     threads, (combo + ti) % 2 == 1 ? 1 : 0, badGiven, (unsigned long long)gv.on, (unsigned long long)bs.on);
              for (size_t x = 0; x < s.m * s.n; ++x) {
                if (bs.out[x] != i8.out[x] || bs.mask[x] != i8.mask[x]) {
                  ++bad;
                  if (first == SIZE_MAX) first = x;
                }
              }
              ++compared;
              EXPECT(bad == 0 && bs.on == i8.on,
                     "[%s] m=%zu n=%zu k=%zu B=%d Bhb=%d b=%d-bit %s (stored %d/%d) thr#%zu strategy %d threads %d: "
                     "%zu outputs differ (first at %zu: int8 %d, bit-serial %d), on %llu vs %llu",
                     isa->name, s.m, s.n, s.k, aBits, hb, bBits, encName(bEnc), aStored, bStored, ti,
                     static_cast<int>(st), threads, bad, first, first == SIZE_MAX ? 0 : i8.out[first],
                     first == SIZE_MAX ? 0 : bs.out[first], (unsigned long long)i8.on, (unsigned long long)bs.on);
            }
          }
        }
      }
    }
  }

  // The fused codes epilogue (a network layer's output): the same codes from both routes.
  for (const Platform* isa : availablePlatforms()) {
    const Shape sh[] = {{130, 16, 144}, {67, 32, 288}, {33, 64, 100}};
    for (const Shape& s : sh) {
      const int aBits = 4, hb = 2, bBits = 2;
      auto ac = randomCodes(rng, s.m * s.k, aBits);
      auto bc = randomCodes(rng, s.n * s.k, bBits);
      Packed A = packWith(scalarPlatform(), ac, s.m, s.k, aBits, 1), B = packWith(scalarPlatform(), bc, s.n, s.k, bBits, 1);
      std::vector<float> scale(s.n, 1.0f / static_cast<float>(s.k * 15 * 3)), shift(s.n, 0.1f), t(s.n);
      for (size_t j = 0; j < s.n; ++j) t[j] = static_cast<float>(static_cast<int>(rng() % 200) - 100);
      Epilogue epi;
      epi.kind = OutputKind::Codes;
      epi.scale = scale.data();
      epi.shift = shift.data();
      epi.codeBits = 4;
      std::vector<uint8_t> c1(s.m * s.n), c2(s.m * s.n);
      GatedSpec spec{A.view(), B.view(), aBits, hb, bBits, Encoding::Bipolar, t.data()};
      spec.epilogue = epi;
      const uint64_t on1 = gatedGemm(*isa, spec, c1.data(), nullptr, 2);
      spec.high = GatedHigh::Int8;
      const uint64_t on2 = gatedGemm(*isa, spec, c2.data(), nullptr, 2);
      EXPECT(c1 == c2 && on1 == on2, "[%s] fused codes epilogue m=%zu n=%zu k=%zu: int8 high differs", isa->name, s.m, s.n, s.k);
    }
  }

  // b2 is refused with the int8 high route (one operand only), with a message saying so.
  {
    std::vector<float> t(3, 0.0f);
    PackedView a{nullptr, 5, 99, 4, nullptr}, b{nullptr, 3, 99, 2, nullptr}, b2{nullptr, 3, 99, 1, nullptr};
    GatedSpec sp{a, b, 4, 2, 2, Encoding::Bipolar, t.data()};
    sp.high = GatedHigh::Int8;
    EXPECT(checkGated(sp).kind == ErrorKind::None, "one operand with int8 high passes the check");
    sp.b2 = b2;
    sp.b2Bits = 1;
    const CheckResult cr = checkGated(sp);
    EXPECT(cr.kind == ErrorKind::Range && cr.message.find("int8 high") != std::string::npos, "b2 with int8 high refused: %s",
           cr.message.c_str());
  }

  std::printf("%zu comparisons; %d checks, %d failed\n", compared, checks, failures);
  return failures == 0 ? 0 : 1;
}
