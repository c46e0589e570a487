// The load-time self-test (selftest/selftest.h): its stored reference digests are the scalar
// reference's results, every platform this CPU runs passes it, and it catches a wrong kernel in
// every family — a platform record whose tables are the scalar ones
// except one broken entry (packing, bit-serial micro-kernel, epilogue, int8 tile, gate or fused
// high-plane gate, float tile) must fail, with the family named.
#include <cstdio>
#include <initializer_list>
#include <string>

#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

const KernelTable* gScalarBitplane = nullptr;
// The scalar micro-kernel, then one accumulator off by one: a subtly wrong CPU or build.
void brokenBitTile(const BitTileArgs& t) {
  gScalarBitplane->bitTile(t);
  if (t.mr > 0 && t.np > 0) t.acc[0] += 1;
}

const EpilogueTable* gScalarEpilogue = nullptr;
// The scalar GEMM finish with the last code of every tile's first row rounded the other way.
void brokenFinishTile(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                      const int64_t* colTerm, const TileFinish& f, size_t n) {
  gScalarEpilogue->finishTile(acc, ldAcc, rows, mul, rowTerm, colTerm, f, n);
  if (f.kind == OutputKind::Codes && rows > 0 && n > 0) static_cast<uint8_t*>(f.out)[n - 1] ^= 1;
}

// The scalar packer with one bit of the first word flipped.
void brokenPackPanel(const PackPanelArgs& a) {
  gScalarBitplane->packPanel(a);
  a.out[0] ^= 1;
}

// The scalar int8 tile with its first sum off by one.
void brokenI8Tile(const I8TileArgs& t) {
  kI8Scalar.tile(t);
  t.c[0] += 1;
}

const GatedKernelTable* gScalarGated = nullptr;
// The scalar gate with its first output off by one.
size_t brokenGate(const GateArgs& g) {
  const size_t on = gScalarGated->gate(g);
  if (g.rows > 0 && g.cols > 0) g.out[0] += 1;
  return on;
}

// The scalar fused high planes + gate with the first output of its panel off by one.
size_t brokenHighGate(const HighGateArgs& h) {
  const size_t on = gScalarGated->highGate(h);
  if (h.mr > 0 && h.gate.cols > 0) h.gate.out[static_cast<size_t>(h.panel) * 8 * h.gate.ldOut] += 1;
  return on;
}

const FloatKernelTable* gScalarFloat = nullptr;
// The scalar float tile with its first sum off by one.
void brokenFloatTile(const FloatTileArgs& t) {
  gScalarFloat->tile(t);
  t.c[0] += 1.0f;
}

}  // namespace

int main() {
  for (const Platform* p : availablePlatforms()) {
    const SelfTestReport r = runKernelSelfTest(*p);
    EXPECT(r.error.empty(), "%s: self-test failed: %s", p->name, r.error.c_str());
    std::printf("%s: self-test %s in %.0f us (", p->name, r.error.empty() ? "passed" : "FAILED", r.micros);
    double sum = 0;
    for (int i = 0; i < r.familyCount; ++i) {
      std::printf("%s%s %.0f", i ? ", " : "", r.families[i].name, r.families[i].micros);
      sum += r.families[i].micros;
    }
    std::printf(")\n");
    EXPECT(r.familyCount == 5 && sum <= r.micros * 1.001 + 1, "%s: every family timed (%d), within the whole (%.1f of %.1f us)",
           p->name, r.familyCount, sum, r.micros);
  }

  // The stored reference digests are the scalar reference's results (recomputed here, the conv
  // case's int8 route from its bit-serial product).
  const std::string ref = referenceSelfTestError();
  EXPECT(ref.empty(), "the self-test's stored reference digests match the scalar reference: %s", ref.c_str());

  const Platform& scalar = scalarPlatform();
  gScalarBitplane = scalar.bitplane;
  gScalarEpilogue = scalar.epilogue;
  gScalarGated = scalar.gated;
  gScalarFloat = scalar.fgemm;

  // The self-test on a platform with one broken kernel must fail, naming every word of `words`:
  // the scalar platform with one table replaced by...
  auto expectCaught = [](const Platform& p, std::initializer_list<const char*> words, const char* what) {
    const std::string e = kernelSelfTest(p);
    bool named = !e.empty();
    for (const char* w : words) named = named && e.find(w) != std::string::npos;
    EXPECT(named, "%s is caught, got '%s'", what, e.c_str());
  };
  // ...`field` pointing at a copy of the scalar table that `breakIt` changed.
  auto expectBroken = [&](auto Platform::*field, auto breakIt, std::initializer_list<const char*> words, const char* what) {
    auto table = *(scalar.*field);
    breakIt(table);
    Platform p = scalar;
    p.name = "broken";
    p.*field = &table;
    expectCaught(p, words, what);
  };
  // Every family's kernels are checked: a fault in any one of them is caught and named.
  expectBroken(&Platform::bitplane, [](KernelTable& t) { t.bitTile = brokenBitTile; }, {"GEMM", "bit-serial"},
               "a broken bit-serial micro-kernel");
  expectBroken(&Platform::epilogue, [](EpilogueTable& t) { t.finishTile = brokenFinishTile; }, {"codes output"},
               "a broken codes epilogue");
  expectBroken(&Platform::bitplane, [](KernelTable& t) { t.packPanel = brokenPackPanel; }, {"pack"}, "a broken packer");
  // The gate runs as its own pass or fused into the high planes (GatedKernelTable::highGate, taken
  // where a table has it): each broken alone where it is the one that runs, and both together.
  expectBroken(&Platform::gated, [](GatedKernelTable& t) { t.gate = brokenGate; t.highGate = nullptr; }, {"gated"},
               "a broken gate kernel (two passes)");
  if (scalar.gated->highGate)
    expectBroken(&Platform::gated, [](GatedKernelTable& t) { t.highGate = brokenHighGate; }, {"gated"},
                 "a broken fused high-plane gate kernel");
  expectBroken(&Platform::gated, [](GatedKernelTable& t) { t.gate = brokenGate; t.highGate = brokenHighGate; }, {"gated"},
               "broken gate kernels (both routes)");
  expectBroken(&Platform::fgemm, [](FloatKernelTable& t) { t.tile = brokenFloatTile; }, {"float"}, "a broken float tile");
  // The int8 variants are two fields (the usual and the wide one): both broken.
  I8Kernel badI8 = kI8Scalar;
  badI8.tile = brokenI8Tile;
  Platform withBadI8 = scalar;
  withBadI8.name = "broken";
  withBadI8.int8 = withBadI8.int8Wide = &badI8;
  expectCaught(withBadI8, {"GEMM", kI8Scalar.name}, "a broken int8 tile (on the int8 route)");

  std::printf("selftest: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
