// The load-time self-test (selftest/selftest.h): every platform this CPU runs passes it, and it
// catches a wrong kernel — a platform record whose tables are the scalar ones except one broken
// entry must fail, with the family named.
#include <chrono>
#include <cstdio>
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

}  // namespace

int main() {
  for (const Platform* p : availablePlatforms()) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string e = kernelSelfTest(*p);
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    EXPECT(e.empty(), "%s: self-test failed: %s", p->name, e.c_str());
    std::printf("%s: self-test %s in %.0f us\n", p->name, e.empty() ? "passed" : "FAILED", us);
  }

  const Platform& scalar = scalarPlatform();
  gScalarBitplane = scalar.bitplane;
  gScalarEpilogue = scalar.epilogue;

  // The self-test's answer for the scalar platform with one table replaced by `table` (a copy of
  // the scalar one with one broken entry).
  auto withBroken = [&](auto Platform::*field, auto table) {
    Platform p = scalar;
    p.name = "broken";
    p.*field = &table;
    return kernelSelfTest(p);
  };
  KernelTable badBits = *scalar.bitplane;
  badBits.bitTile = brokenBitTile;
  const std::string e1 = withBroken(&Platform::bitplane, badBits);
  EXPECT(e1.find("GEMM") != std::string::npos && e1.find("bit-serial") != std::string::npos,
         "a broken bit-serial micro-kernel is caught, got '%s'", e1.c_str());
  EpilogueTable badEpi = *scalar.epilogue;
  badEpi.finishTile = brokenFinishTile;
  const std::string e2 = withBroken(&Platform::epilogue, badEpi);
  EXPECT(e2.find("codes output") != std::string::npos, "a broken codes epilogue is caught, got '%s'", e2.c_str());

  std::printf("selftest: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
