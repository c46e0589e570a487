// anyprec kernels, platform floor: one Platform record per ISA, holding every kernel family's
// table for that ISA. Records are filled once (the first time they are asked for) from the one
// CPU-feature read (platform/cpu.h). "The ISA in use" is a `const Platform*`: forcing an ISA
// (a test, ANYPREC_ISA, the addon's setIsa) swaps that one pointer and so switches every family
// at once; no family looks up another family's table by name.
//
// Adding an ISA: one file per family compiled with the ISA's flags (listed in sources.json), and
// one record in platform.cc. Adding a kernel family: a table type in its folder, one field here,
// and the field filled for every record. A low-bit convolution engine or a native plan runner (a
// compiled list of kernel calls over buffer offsets) takes a `const Platform&` like every family
// and reads its tables from it.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace anyprec {

struct KernelTable;       // bitplane/bitplane.h: panel packing, the bit-serial micro-kernel,
                          // per-row plane popcounts of a panel, the popcount ceiling loop
struct EpilogueTable;     // eltwise/epilogue.h: row loops after a GEMM and between layers
struct GatedKernelTable;  // gated/gated.h: gate and low-plane kernels of the gated GEMM
struct FloatKernelTable;  // fgemm/fgemm.h: float32 micro-kernel
struct I8Kernel;          // i8gemm/i8gemm.h: byte rebuilding and int8 dot-product tile

struct Platform {
  const char* name;                 // "avx512", "avx2", "neon", "scalar"
  const KernelTable* bitplane;
  const EpilogueTable* epilogue;
  const GatedKernelTable* gated;
  const FloatKernelTable* fgemm;
  // The int8 path at this ISA level: the best variant this CPU runs whose instructions the level
  // allows (avx512: avx512-vnni, else avx-vnni, else avx2; avx2: avx-vnni or avx2; neon: neon-dot
  // or neon; scalar: scalar). `int8Wide` replaces it for GEMMs of at least int8WideMinRows rows
  // (amx on avx512 where the OS grants it; otherwise the same as `int8`).
  const I8Kernel* int8;
  const I8Kernel* int8Wide;
  size_t int8WideMinRows;

  // The int8 variant for an m-row GEMM.
  const I8Kernel& int8For(size_t m) const { return m >= int8WideMinRows ? *int8Wide : *int8; }
};

// Platforms this build contains and this CPU can run, best first (the first is the default).
const std::vector<const Platform*>& availablePlatforms();
// The platform named `name` if it is built in and supported here, else nullptr.
const Platform* findPlatform(const std::string& name);
// The scalar reference platform (always available).
const Platform& scalarPlatform();
// Default: ANYPREC_ISA from the environment if set and supported, else the best one.
const Platform* defaultPlatform();
// ANYPREC_ISA when it is set but names no platform available here (so it was ignored), else "".
std::string ignoredIsaFromEnvironment();
// Every ISA name this library knows (supported here or not).
const std::vector<std::string>& knownIsaNames();
// Why `name` cannot be selected: "" if findPlatform(name) would find it, else a message naming
// the choices ("not supported on this CPU; available: ..." or "must be one of ...").
std::string isaChoiceError(const std::string& name);

// Every int8 variant this build contains and this CPU (and OS, for amx) can run, fastest first:
// a separate axis from the platforms (tests and benchmarks force each one).
const std::vector<const I8Kernel*>& availableI8Kernels();
const I8Kernel* findI8Kernel(const std::string& name);

}  // namespace anyprec
