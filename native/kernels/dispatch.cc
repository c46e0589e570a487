// CPU feature detection and the table of kernel implementations, filled once.
#include <cstdlib>
#include <string>
#include <vector>

#include "bitgemm.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace anyprec {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
struct X86Features {
  bool avx2 = false;
  bool avx512 = false;  // F + BW + VL + DQ + VPOPCNTDQ with OS support for zmm state
};

X86Features detectX86() {
  X86Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, popcnt = (c >> 23) & 1;
  if (!osxsave) return f;
  unsigned xcr0lo, xcr0hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0lo), "=d"(xcr0hi) : "c"(0));
  const bool ymmState = (xcr0lo & 0x6) == 0x6;
  const bool zmmState = ymmState && (xcr0lo & 0xE0) == 0xE0;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
  const bool f512 = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  const bool vpopcntdq = (c >> 14) & 1;
  f.avx2 = ymmState && avx2 && fma && popcnt && bmi2;
  f.avx512 = f.avx2 && zmmState && f512 && dq && bw && vl && vpopcntdq;
  return f;
}
#endif

std::vector<const KernelTable*> detect() {
  std::vector<const KernelTable*> t;
#if defined(__x86_64__) || defined(_M_X64)
  const X86Features f = detectX86();
  if (f.avx512) t.push_back(&kAvx512Table);
  if (f.avx2) t.push_back(&kAvx2Table);
#endif
#if defined(__aarch64__)
  bool neon = true;  // Advanced SIMD is mandatory on AArch64; still honour HWCAP if present
#if defined(__linux__) && defined(HWCAP_ASIMD)
  neon = (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#endif
  if (neon) t.push_back(&kNeonTable);
#endif
  t.push_back(&kScalarTable);
  return t;
}

}  // namespace

const std::vector<const KernelTable*>& availableTables() {
  static const std::vector<const KernelTable*> tables = detect();
  return tables;
}

const std::vector<std::string>& knownIsaNames() {
  static const std::vector<std::string> names = {"avx512", "avx2", "neon", "scalar"};
  return names;
}

const KernelTable* findTable(const std::string& name) {
  for (const KernelTable* t : availableTables()) {
    if (name == t->name) return t;
  }
  return nullptr;
}

const KernelTable* defaultTable() {
  static const KernelTable* chosen = [] {
    const char* env = std::getenv("ANYPREC_ISA");
    if (env != nullptr && *env != '\0') {
      if (const KernelTable* t = findTable(env)) return t;
    }
    return availableTables().front();
  }();
  return chosen;
}

}  // namespace anyprec
