// The Platform records (platform/platform.h): one per ISA this CPU runs, each holding every
// family's table of that same ISA, so forcing an ISA forces every family; and the int8 axis.
#include <cstdio>
#include <set>
#include <string>

#include "kernels.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

int main() {
  const CpuFeatures& f = cpuFeatures();
  EXPECT(!f.avx512 || f.avx2, "avx512 implies avx2");
  EXPECT(!f.avxVnni || f.avx2, "avx-vnni implies avx2");
  EXPECT(!f.avx512Vnni || f.avx512, "avx512-vnni implies avx512");
  EXPECT(!f.amx || f.avx512Vnni, "amx implies avx512-vnni");
  EXPECT(!f.neonDot || f.neon, "neon-dot implies neon");

  const auto& platforms = availablePlatforms();
  EXPECT(!platforms.empty() && std::string(platforms.back()->name) == "scalar", "scalar is the last platform");
  EXPECT(&scalarPlatform() == platforms.back(), "scalarPlatform() is that record");
  EXPECT(defaultPlatform() != nullptr, "a default platform");
  std::set<std::string> names;
  std::set<const I8Kernel*> int8(availableI8Kernels().begin(), availableI8Kernels().end());
  for (const Platform* p : platforms) {
    const std::string name = p->name;
    names.insert(name);
    EXPECT(findPlatform(name) == p, "findPlatform(%s)", p->name);
    EXPECT(isaChoiceError(name).empty(), "%s may be chosen", p->name);
    EXPECT(p->bitplane && p->epilogue && p->gated && p->fgemm && p->int8 && p->int8Wide, "%s: every table set", p->name);
    if (!(p->bitplane && p->epilogue && p->gated && p->fgemm && p->int8 && p->int8Wide)) continue;
    // Every family's table is this ISA's (each table states the ISA it was compiled for).
    EXPECT(name == p->bitplane->name && name == p->epilogue->name && name == p->gated->name && name == p->fgemm->name,
           "%s: tables %s / %s / %s / %s", p->name, p->bitplane->name, p->epilogue->name, p->gated->name, p->fgemm->name);
    EXPECT(p->bitplane->panelPops != nullptr && p->bitplane->packPanel != nullptr && p->bitplane->bitTile != nullptr,
           "%s: bitplane entries", p->name);
    EXPECT(int8.count(p->int8) == 1 && int8.count(p->int8Wide) == 1, "%s: int8 variants run on this CPU", p->name);
    EXPECT(&p->int8For(0) == p->int8 && &p->int8For(1) == p->int8, "%s: small GEMMs use int8", p->name);
    EXPECT(&p->int8For(size_t{1} << 20) == p->int8Wide, "%s: large GEMMs use int8Wide", p->name);
    std::printf("%s: int8 %s, from %zu rows %s\n", p->name, p->int8->name,
                p->int8WideMinRows == ~size_t{0} ? size_t{0} : p->int8WideMinRows, p->int8Wide->name);
  }
  EXPECT(names.size() == platforms.size(), "platform names are distinct");
  // The int8 level each ISA allows (the variants' instruction sets).
  if (const Platform* p = findPlatform("avx512")) {
    EXPECT(std::string(p->int8->name) == (f.avx512Vnni ? "avx512-vnni" : f.avxVnni ? "avx-vnni" : "avx2"), "avx512 int8");
    EXPECT(std::string(p->int8Wide->name) == (f.amx ? "amx" : p->int8->name), "avx512 wide int8");
  }
  if (const Platform* p = findPlatform("avx2"))
    EXPECT(std::string(p->int8->name) == (f.avxVnni ? "avx-vnni" : "avx2") && p->int8Wide == p->int8, "avx2 int8");
  if (const Platform* p = findPlatform("neon")) EXPECT(std::string(p->int8->name) == (f.neonDot ? "neon-dot" : "neon"), "neon int8");
  EXPECT(std::string(scalarPlatform().int8->name) == "scalar", "scalar int8");
  // Platforms this CPU runs follow its features.
  EXPECT((findPlatform("avx512") != nullptr) == f.avx512, "avx512 listed iff supported");
  EXPECT((findPlatform("avx2") != nullptr) == f.avx2, "avx2 listed iff supported");
  EXPECT((findPlatform("neon") != nullptr) == f.neon, "neon listed iff supported");

  // The int8 axis: every variant this CPU runs, scalar last; found by name.
  const auto& variants = availableI8Kernels();
  EXPECT(!variants.empty() && std::string(variants.back()->name) == "scalar", "scalar int8 variant last");
  for (const I8Kernel* k : variants) EXPECT(findI8Kernel(k->name) == k, "findI8Kernel(%s)", k->name);
  EXPECT(findI8Kernel("avx-vnni") != nullptr || !f.avxVnni, "avx-vnni listed when supported");
  EXPECT(findI8Kernel("amx") != nullptr || !f.amx, "amx listed when supported");

  // Choosing an ISA by name: unknown names and known-but-unsupported ones get different messages.
  EXPECT(isaChoiceError("sse9").find("isa must be one of avx512, avx2, neon, scalar") == 0, "%s",
         isaChoiceError("sse9").c_str());
  for (const std::string& k : knownIsaNames()) {
    if (findPlatform(k) == nullptr)
      EXPECT(isaChoiceError(k).find("is not supported on this CPU; available:") != std::string::npos, "%s",
             isaChoiceError(k).c_str());
  }
  std::printf("platform: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
