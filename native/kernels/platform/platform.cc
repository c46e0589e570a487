// The Platform records, filled once from the CPU-feature read.
#include "platform/platform.h"

#include <cstdlib>

#include "bitplane/bitplane.h"
#include "eltwise/epilogue.h"
#include "fgemm/fgemm.h"
#include "gated/gated.h"
#include "i8gemm/i8gemm.h"
#include "platform/cpu.h"

namespace anyprec {
namespace {

// AMX pays for its tile setup only from this many rows (measured: i8gemm/i8gemm.cc).
constexpr size_t kAmxMinRows = 32;
constexpr size_t kNever = ~size_t{0};

struct Registry {
  std::vector<Platform> records;  // storage (never resized after construction)
  std::vector<const Platform*> available;
  std::vector<const I8Kernel*> int8;
};

Registry build() {
  Registry r;
  const CpuFeatures& f = cpuFeatures();
  (void)f;
  r.records.reserve(4);
#if defined(__x86_64__) || defined(_M_X64)
  if (f.avx512) {
    const I8Kernel* i8 = f.avx512Vnni ? &kI8Avx512Vnni : f.avxVnni ? &kI8AvxVnni : &kI8Avx2;
    r.records.push_back({"avx512", &kAvx512Table, &kAvx512EpilogueTable, &kAvx512GatedTable, &kAvx512FloatTable, i8,
                         f.amx ? &kI8Amx : i8, f.amx ? kAmxMinRows : kNever});
  }
  if (f.avx2) {
    const I8Kernel* i8 = f.avxVnni ? &kI8AvxVnni : &kI8Avx2;
    r.records.push_back({"avx2", &kAvx2Table, &kAvx2EpilogueTable, &kAvx2GatedTable, &kAvx2FloatTable, i8, i8, kNever});
  }
  if (f.amx) r.int8.push_back(&kI8Amx);
  if (f.avx512Vnni) r.int8.push_back(&kI8Avx512Vnni);
  if (f.avxVnni) r.int8.push_back(&kI8AvxVnni);
  if (f.avx2) r.int8.push_back(&kI8Avx2);
#endif
#if defined(__aarch64__)
  if (f.neon) {
    const I8Kernel* i8 = f.neonDot ? &kI8NeonDot : &kI8Neon;
    r.records.push_back({"neon", &kNeonTable, &kNeonEpilogueTable, &kNeonGatedTable, &kNeonFloatTable, i8, i8, kNever});
  }
  if (f.neonDot) r.int8.push_back(&kI8NeonDot);
  if (f.neon) r.int8.push_back(&kI8Neon);
#endif
  r.records.push_back({"scalar", &kScalarTable, &kScalarEpilogueTable, &kScalarGatedTable, &kScalarFloatTable,
                       &kI8Scalar, &kI8Scalar, kNever});
  r.int8.push_back(&kI8Scalar);
  for (const Platform& p : r.records) r.available.push_back(&p);
  return r;
}

const Registry& registry() {
  static const Registry r = build();
  return r;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

const std::vector<const Platform*>& availablePlatforms() { return registry().available; }

const Platform* findPlatform(const std::string& name) {
  for (const Platform* p : availablePlatforms()) {
    if (name == p->name) return p;
  }
  return nullptr;
}

const Platform& scalarPlatform() { return *availablePlatforms().back(); }

const Platform* defaultPlatform() {
  static const Platform* chosen = [] {
    const char* env = std::getenv("ANYPREC_ISA");
    if (env != nullptr && *env != '\0') {
      if (const Platform* p = findPlatform(env)) return p;
    }
    return availablePlatforms().front();
  }();
  return chosen;
}

std::string ignoredIsaFromEnvironment() {
  const char* env = std::getenv("ANYPREC_ISA");
  if (env == nullptr || *env == '\0' || findPlatform(env) != nullptr) return "";
  return env;
}

const std::vector<std::string>& knownIsaNames() {
  static const std::vector<std::string> names = {"avx512", "avx2", "neon", "scalar"};
  return names;
}

std::string isaChoiceError(const std::string& name) {
  if (findPlatform(name) != nullptr) return "";
  std::vector<std::string> available;
  for (const Platform* p : availablePlatforms()) available.push_back(p->name);
  for (const std::string& k : knownIsaNames()) {
    if (k == name) return "isa '" + name + "' is not supported on this CPU; available: " + joined(available);
  }
  return "isa must be one of " + joined(knownIsaNames()) + "; got '" + name + "'";
}

const std::vector<const I8Kernel*>& availableI8Kernels() { return registry().int8; }

const I8Kernel* findI8Kernel(const std::string& name) {
  for (const I8Kernel* k : availableI8Kernels()) {
    if (name == k->name) return k;
  }
  return nullptr;
}

}  // namespace anyprec
