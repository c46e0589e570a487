// anyprec kernels, self-test: the kernels a platform dispatches to, run on tiny cases and checked
// against the scalar reference platform's results, so that a CPU or a build that computes wrong
// answers fails loudly when the library loads instead of returning wrong numbers. Pure C++17 (no
// Node-API); the addon runs it for the platform in use (at load, and when another ISA is selected).
//
// Covered, each on small odd shapes with seeded random operands: bit-plane packing (words and
// plane popcounts), the bit-serial GEMM in each micro-kernel form (XOR for 1x1 bipolar, AND, two's
// complement top planes) and every encoding, the platform's int8 variants (both of them where a
// wide one such as AMX differs), the three epilogue outputs (int32, float with clamp and residual,
// codes), the conv lowering (packConvInput) and the int8 route from conv codes, the gated GEMM
// (results and mask) and the float GEMM and GEMV (small integers, so every sum is exact and must
// match bit for bit).
//
// The scalar reference's result of every case is stored as a 64-bit digest of its bytes (the
// operands are fixed), so a load runs only the platform's own kernels: the reference code and its
// arithmetic stay off the load path. referenceSelfTestError() recomputes every stored digest with
// the scalar reference (the conv case's int8 route from its bit-serial product), and the native
// test runs it on every build and architecture, so a stored digest cannot drift from the reference.
//
// Cost: in a fresh process most of it is first use, not arithmetic (~0.05 ms when repeated): each
// kernel's code and data pages are touched for the first time, and on a virtual machine every such
// first touch can cost microseconds (a guest page fault per 64 KiB of code, ~10-15 us each, plus
// host-side work for every fresh page); the first inference would pay the same for these kernels.
// `npm run bench:cold` reports it by family.
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

// "" when every stored reference digest equals the scalar reference's result of its case, else
// the first that does not (for the native test; not run at load).
std::string referenceSelfTestError();

}  // namespace anyprec
