// The one CPU-feature read. x86-64: cpuid leaves 1 and 7 (subleaves 0 and 1) and XCR0 through
// xgetbv (whether the OS saves ymm/zmm/tile state); for AMX, Linux must also grant the tile data
// state to the process (arch_prctl), asked once here. arm64: the HWCAP auxiliary vector.
#include "platform/cpu.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace anyprec {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
// Asks Linux for the AMX tile data state (process-wide, needed once before any tile instruction).
// Refused (old kernel, seccomp, no XFD support) means no AMX: the other int8 variants remain.
bool requestAmxPermission() {
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, popcnt = (c >> 23) & 1;
  if (!osxsave || __get_cpuid_max(0, nullptr) < 7) return f;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm = (xlo & 0x6) == 0x6, zmm = ymm && (xlo & 0xE0) == 0xE0;
  const bool tileState = ((xlo >> 17) & 3) == 3;  // XTILECFG + XTILEDATA enabled by the OS
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
  const bool f512 = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
  const bool vpopcntdq = (c >> 14) & 1, vnni512 = (c >> 11) & 1;
  const bool amxTile = (d >> 24) & 1, amxInt8 = (d >> 25) & 1;
  unsigned a1 = 0, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  const bool avxVnni = (a1 >> 4) & 1;
  f.avx2 = ymm && avx2 && fma && popcnt && bmi2;
  f.avx512 = f.avx2 && zmm && f512 && dq && bw && vl && vpopcntdq;
  f.avxVnni = f.avx2 && avxVnni;
  f.avx512Vnni = f.avx512 && vnni512;
  f.amx = f.avx512Vnni && amxTile && amxInt8 && tileState && requestAmxPermission();
#endif
#if defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory on AArch64; still honour HWCAP where present
#if defined(__linux__) && defined(HWCAP_ASIMD)
  const unsigned long hw = getauxval(AT_HWCAP);
  f.neon = (hw & HWCAP_ASIMD) != 0;
#if defined(HWCAP_ASIMDDP)
  f.neonDot = f.neon && (hw & HWCAP_ASIMDDP) != 0;
#endif
#endif
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace anyprec
