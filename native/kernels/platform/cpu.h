// anyprec kernels, platform floor: what this CPU (and its OS) lets the kernels run. The one place
// cpuid/xgetbv (x86-64) and HWCAP (arm64) are read; read once, on first use.
#pragma once

namespace anyprec {

struct CpuFeatures {
  // x86-64 (each level implies the ones it builds on; OS support for the register state included)
  bool avx2 = false;        // AVX2 + FMA + POPCNT + BMI2, ymm state enabled
  bool avx512 = false;      // + AVX-512 F/BW/VL/DQ + VPOPCNTDQ, zmm state enabled
  bool avxVnni = false;     // avx2 + AVX-VNNI (256-bit vpdpbusd)
  bool avx512Vnni = false;  // avx512 + AVX512-VNNI
  bool amx = false;         // avx512Vnni + AMX-TILE + AMX-INT8, tile state enabled and granted by Linux
  // arm64
  bool neon = false;        // Advanced SIMD (HWCAP_ASIMD)
  bool neonDot = false;     // + SDOT/UDOT (HWCAP_ASIMDDP)
};

// This machine's features (detected once; thread-safe).
const CpuFeatures& cpuFeatures();

}  // namespace anyprec
