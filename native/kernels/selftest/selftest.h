// anyprec kernels, self-test: the kernels a platform dispatches to, run on tiny cases and compared
// with the scalar reference platform, so that a CPU or a build that computes wrong answers fails
// loudly when the library loads instead of returning wrong numbers. Pure C++17 (no Node-API); the
// addon runs it for the platform in use (at load, and when another ISA is selected).
//
// Covered, each on small odd shapes with seeded random operands: bit-plane packing (words and
// plane popcounts), the bit-serial GEMM in each micro-kernel form (XOR for 1x1 bipolar, AND, two's
// complement top planes) and every encoding, the platform's int8 variants (both of them where a
// wide one such as AMX differs), the three epilogue outputs (int32, float with clamp and residual,
// codes), the conv lowering (packConvInput) and the int8 route from conv codes, the gated GEMM
// (results and mask) and the float GEMM and GEMV (small integers, so every sum is exact and must
// match bit for bit). It runs once per process and platform; the report times each family. In a
// fresh process on a Zen 5 core most of its cost is first use (each route's first call), not the
// arithmetic (~0.1 ms when repeated); `npm run bench:cold` reports it by family.
#pragma once
#include <string>

namespace anyprec {

struct Platform;

// One run of the self-test: its verdict and what each family's cases cost.
struct SelfTestReport {
  std::string error;  // "" when every case agrees with the scalar reference bit for bit, else
                      // what differs first (family, case and position)
  double micros = 0;  // the whole run (steady clock)
  // Each family's cases in run order (a failing family is the last one listed).
  struct Family {
    const char* name;
    double micros;
  };
  Family families[8];
  int familyCount = 0;
};

SelfTestReport runKernelSelfTest(const Platform& isa);

// runKernelSelfTest(isa).error.
std::string kernelSelfTest(const Platform& isa);

}  // namespace anyprec
