// Shared harness of the native tests: the EXPECT macro and its counters, plus the helpers the
// GEMM tests build their operands with (packed operands, code values per encoding, random codes).
// Each test is its own executable, so the counters are per test program.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels.h"

namespace anyprec::test {

// The epilogue tables to check: every platform's, plus the AVX2 / AVX-512 epilogue tables wherever
// the CPU has their instructions even when no platform record uses them (the avx512 record also
// needs VPOPCNTDQ for its GEMM kernels; the epilogue needs only F/BW/VL/DQ).
inline std::vector<const EpilogueTable*> epilogueTablesToCheck() {
  std::vector<const EpilogueTable*> out;
  auto add = [&out](const EpilogueTable* t) {
    for (const EpilogueTable* have : out)
      if (have == t) return;
    out.push_back(t);
  };
  for (const Platform* p : availablePlatforms()) add(p->epilogue);
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) add(&kAvx2EpilogueTable);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    add(&kAvx512EpilogueTable);
#endif
  return out;
}

inline int failures = 0;
inline int checks = 0;

// Counts a check; on failure counts it and prints where (the first 20 only) with a printf message.
#define EXPECT(cond, ...)                                                        \
  do {                                                                           \
    ++::anyprec::test::checks;                                                   \
    if (!(cond)) {                                                               \
      ++::anyprec::test::failures;                                               \
      if (::anyprec::test::failures <= 20) {                                     \
        std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
        std::fprintf(stderr, __VA_ARGS__);                                       \
        std::fprintf(stderr, "\n");                                              \
      }                                                                          \
    }                                                                            \
  } while (0)

// The int8 variants a test checks: every one this CPU has, or only those named in
// ANYPREC_TEST_I8_VARIANTS (comma-separated). The arm64 CI run under QEMU_CPU=max names neon-dot:
// its neon and scalar siblings are the same code the cortex-a53 run checked in the same binaries.
// A named variant this CPU lacks is a failure, never a silent pass.
inline std::vector<const I8Kernel*> i8KernelsToCheck() {
  const char* env = std::getenv("ANYPREC_TEST_I8_VARIANTS");
  if (env == nullptr || *env == '\0') return availableI8Kernels();
  std::vector<const I8Kernel*> out;
  const char* p = env;
  while (*p != '\0') {
    const char* end = std::strchr(p, ',');
    const size_t len = end != nullptr ? static_cast<size_t>(end - p) : std::strlen(p);
    const I8Kernel* found = nullptr;
    for (const I8Kernel* k : availableI8Kernels())
      if (std::strlen(k->name) == len && std::strncmp(k->name, p, len) == 0) found = k;
    EXPECT(found != nullptr, "ANYPREC_TEST_I8_VARIANTS names %.*s, which this CPU does not have", static_cast<int>(len), p);
    if (found != nullptr) out.push_back(found);
    p += len;
    if (*p == ',') ++p;
  }
  for (const I8Kernel* k : availableI8Kernels()) {
    bool kept = false;
    for (const I8Kernel* o : out) kept = kept || o == k;
    if (!kept) std::printf("%s: not checked here (ANYPREC_TEST_I8_VARIANTS=%s)\n", k->name, env);
  }
  return out;
}

struct Shape { size_t m, n, k; };

// A packed operand with its own storage.
struct Packed {
  size_t rows, cols;
  int planes;
  std::vector<uint64_t> data;
  std::vector<int32_t> pop;
  PackedView view() const { return {data.data(), rows, cols, planes, pop.data()}; }
};

// pack() with the given ISA into storage pre-filled with garbage (every word and count must be written).
inline Packed packWith(const Platform& isa, const std::vector<uint8_t>& codes, size_t rows, size_t cols,
                       int planes, int threads) {
  Packed p{rows, cols, planes, std::vector<uint64_t>(packedWords(rows, cols, planes), ~uint64_t{0}),
           std::vector<int32_t>(rows * planes, -1)};
  pack(isa, codes.data(), rows, cols, planes, p.data.data(), p.pop.data(), threads);
  return p;
}

// The integer a bits-bit code stands for under encoding e.
inline int64_t valueOf(unsigned code, int bits, Encoding e) {
  switch (e) {
    case Encoding::Unsigned: return code;
    case Encoding::Bipolar: return 2 * int64_t(code) - ((int64_t{1} << bits) - 1);
    case Encoding::Signed: return (code >> (bits - 1)) ? int64_t(code) - (int64_t{1} << bits) : int64_t(code);
  }
  return 0;
}

inline std::vector<uint8_t> randomCodes(std::mt19937_64& rng, size_t n, int planes) {
  std::vector<uint8_t> c(n);
  for (auto& x : c) x = static_cast<uint8_t>(rng() & ((1u << planes) - 1));
  return c;
}

}  // namespace anyprec::test
