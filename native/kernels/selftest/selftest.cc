// The load-time self-test (selftest.h): every case runs on the platform under test and its output's
// digest is compared with the scalar reference's, stored below (referenceSelfTestError proves them).
#include "selftest/selftest.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bitplane/pack.h"
#include "conv/conv.h"
#include "fgemm/fgemm.h"
#include "gated/gated.h"
#include "gemm/gemm.h"
#include "i8gemm/i8gemm.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

struct Rand {
  uint32_t s;
  uint32_t next() { return s = s * 1664525u + 1013904223u; }
  uint8_t code(int bits) { return static_cast<uint8_t>((next() >> 24) & ((1u << bits) - 1)); }
};

std::vector<uint8_t> randomCodes(size_t n, int bits, uint32_t seed) {
  Rand r{seed};
  std::vector<uint8_t> v(n);
  for (auto& c : v) c = r.code(bits);
  return v;
}

// Codes packed by the platform under test (its packing has its own case, which runs first, so a
// packing fault is reported as one; a fault the pack case misses still changes the GEMM results).
struct Operand {
  std::vector<uint64_t> words;
  std::vector<int32_t> pops;
  PackedView view{};
  Operand(const Platform& isa, const std::vector<uint8_t>& codes, size_t rows, size_t k, int planes)
      : words(packedWords(rows, k, planes)), pops(rows * static_cast<size_t>(planes)) {
    pack(isa, codes.data(), rows, k, planes, words.data(), pops.data(), 1);
    view = PackedView{words.data(), rows, k, planes, pops.data()};
  }
};

// A digest of an output's bytes: 8-byte words, each folded in by a bijection of the running value
// (xor, multiply by an odd constant, rotate), so two outputs that differ in one word always differ
// in their digests; several wrong words collide with probability about 2^-64. Words are read in
// the machine's byte order: the stored digests hold on little-endian targets (x86-64, arm64); on
// another the self-test would fail, loudly.
uint64_t digest(const void* data, size_t bytes) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x243F6A8885A308D3ull ^ bytes;
  auto fold = [&h](uint64_t w) {
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    h = (h << 29) | (h >> 35);
  };
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    fold(w);
  }
  if (i < bytes) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, bytes - i);
    fold(w);
  }
  return h;
}

// "" when `got` has the scalar reference's digest, else what differs; `what` names the case and is
// only built on a mismatch (the passing run formats no strings).
template <typename T, typename Label>
std::string check(const std::vector<T>& got, uint64_t want, Label what) {
  const uint64_t d = digest(got.data(), got.size() * sizeof(T));
  if (d == want) return "";
  char hex[40];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(d));
  return what() + ": differs from the scalar reference (output digest " + hex + ")";
}

constexpr size_t kM = 11, kN = 13, kK = 67;  // odd everywhere: partial panels and a K tail

// A constant label for check().
struct Named {
  const char* name;
  std::string operator()() const { return name; }
};

std::string packCase(const Platform& isa, bool) {
  const int planes = 5;
  const auto codes = randomCodes(kM * kK, planes, 11);
  std::vector<uint64_t> w(packedWords(kM, kK, planes));
  std::vector<int32_t> p(kM * planes);
  pack(isa, codes.data(), kM, kK, planes, w.data(), p.data(), 1);
  std::string e = check(w, 0x1aa30a4f6a84e065ull, Named{"pack (planes)"});
  return e.empty() ? check(p, 0x89a7d812a0d91d4full, Named{"pack (plane popcounts)"}) : e;
}

// Output kinds a GEMM case is checked with.
enum : int { kInt32, kFloat, kCodes, kOutputKinds };

struct GemmCase {
  int aBits, bBits;
  Encoding aEnc, bEnc;
  uint64_t want[kOutputKinds];  // the scalar reference's digest of each output kind checked (0: not checked)
};

// The product of one case through `route` and `epi` on `isa`, as bytes of its output.
std::vector<uint8_t> product(const Platform& isa, const GemmSpec& spec, const Epilogue& epi, const Int8Route& route) {
  std::vector<uint8_t> c(kM * kN * outputElementBytes(epi.kind));
  bitGemm(isa, spec, c.data(), epi, 1, route);
  return c;
}

std::string gemmCases(const Platform& isa, bool) {
  // Three cases cover the micro-kernel's forms (XOR, AND, two's complement top planes), the int8
  // route's byte mappings of all three encodings, and each output kind once (float and codes on
  // the low-bit case).
  const GemmCase cases[] = {
      {1, 1, Encoding::Bipolar, Encoding::Bipolar, {0xb98b2484f96195beull, 0, 0}},  // the XOR form
      {2, 2, Encoding::Unsigned, Encoding::Bipolar, {0, 0xa0dca5f13c57c83bull, 0xd5effec25e8ed395ull}},  // a ResNet's low-bit conv
      {5, 4, Encoding::Signed, Encoding::Signed, {0x4159f49711602d1cull, 0, 0}},  // negative top planes, wide bytes
  };
  std::vector<float> scale(kN), shift(kN), residual(kM * kN);
  Rand r{7};
  for (size_t j = 0; j < kN; ++j) {
    scale[j] = static_cast<float>(static_cast<int>(r.next() % 200) - 100) / 997.0f;
    shift[j] = static_cast<float>(static_cast<int>(r.next() % 200) - 100) / 113.0f;
  }
  for (float& v : residual) v = static_cast<float>(static_cast<int>(r.next() % 2000) - 1000) / 311.0f;
  Epilogue epilogues[kOutputKinds]{};
  epilogues[kFloat].kind = OutputKind::Float32;
  epilogues[kFloat].scale = scale.data();
  epilogues[kFloat].shift = shift.data();
  epilogues[kFloat].lo = -2.0f;
  epilogues[kFloat].hi = 3.0f;
  epilogues[kFloat].residual = residual.data();
  epilogues[kCodes].kind = OutputKind::Codes;
  epilogues[kCodes].scale = scale.data();
  epilogues[kCodes].shift = shift.data();
  epilogues[kCodes].codeBits = 3;
  static const char* const kOutputNames[kOutputKinds] = {"int32", "float", "codes"};

  // Routes: bit-serial, and each int8 variant of the platform (the wide one where it differs).
  struct Route {
    const char* name;
    Int8Route route;
  } routes[3] = {{"bit-serial", Int8Route{}}};
  int routeCount = 1;
  if (isa.int8 != nullptr) routes[routeCount++] = Route{isa.int8->name, Int8Route{isa.int8, nullptr}};
  if (isa.int8Wide != nullptr && isa.int8Wide != isa.int8)
    routes[routeCount++] = Route{isa.int8Wide->name, Int8Route{isa.int8Wide, nullptr}};

  uint32_t seed = 100;
  for (const GemmCase& gc : cases) {
    const Operand a(isa, randomCodes(kM * kK, gc.aBits, seed++), kM, kK, gc.aBits);
    const Operand b(isa, randomCodes(kN * kK, gc.bBits, seed++), kN, kK, gc.bBits);
    const GemmSpec spec{a.view, b.view, gc.aBits, gc.bBits, gc.aEnc, gc.bEnc};
    if (checkGemm(spec).kind != ErrorKind::None) return "self-test case rejected by checkGemm";
    for (int o = 0; o < kOutputKinds; ++o) {
      if (gc.want[o] == 0) continue;
      for (int ri = 0; ri < routeCount; ++ri) {
        const Route& route = routes[ri];
        const std::string err = check(product(isa, spec, epilogues[o], route.route), gc.want[o], [&] {
          return "GEMM " + std::to_string(gc.aBits) + "x" + std::to_string(gc.bBits) + " " + encodingName(gc.aEnc) + "/" +
                 encodingName(gc.bEnc) + ", " + route.name + " path, " + kOutputNames[o] + " output";
        });
        if (!err.empty()) return err;
      }
    }
  }
  return "";
}

std::string convCase(const Platform& isa, bool reference) {
  ConvShape s{};
  s.n = 2, s.h = 5, s.w = 6, s.c = 3, s.kh = 3, s.kw = 3;
  s.strideH = 1, s.strideW = 2, s.padH = 1, s.padW = 1, s.dilH = 1, s.dilW = 1;
  if (!checkConvShape(s).empty()) return "self-test conv shape rejected";
  const int planes = 3;
  const auto codes = randomCodes(s.inputCount(), planes, 21);
  std::vector<uint64_t> w(packedWords(s.rows(), s.k(), planes));
  std::vector<int32_t> p(s.rows() * planes);
  packConvInput(isa, codes.data(), s, planes, w.data(), p.data(), 1);
  std::string e = check(w, 0xfa5ea70c9aba4280ull, Named{"conv lowering (planes)"});
  if (e.empty()) e = check(p, 0x2329e91ffa078a7dull, Named{"conv lowering (plane popcounts)"});
  if (!e.empty() || isa.int8 == nullptr) return e;
  // The int8 route from the same codes (lowered into byte rows, no planes). Its reference is the
  // scalar bit-serial product of the lowered planes checked above: that is what `reference` runs
  // (referenceSelfTestError) to prove the stored digest.
  const Operand b(isa, randomCodes(kN * s.k(), 5, 22), kN, s.k(), 5);
  GemmSpec spec{PackedView{w.data(), s.rows(), s.k(), planes, p.data()}, b.view, planes, 5, Encoding::Unsigned,
                Encoding::Bipolar};
  std::vector<int32_t> got(s.rows() * kN);
  if (reference) {
    bitGemm(scalarPlatform(), spec, got.data(), 1);
  } else {
    spec.a = PackedView{nullptr, s.rows(), s.k(), planes, nullptr};
    runGemm(GemmPlan(isa, spec, I8Codes{codes.data(), s}, got.data(), Epilogue(), Int8Route{&isa.int8For(s.rows()), nullptr}),
            1);
  }
  return check(got, 0x7ba9091a8d22b8afull, Named{"int8 route from conv codes"});
}

std::string gatedCase(const Platform& isa, bool) {
  const int aBits = 3, highBits = 2, bBits = 4;
  const Operand a(isa, randomCodes(kM * kK, aBits, 31), kM, kK, aBits);
  const Operand b(isa, randomCodes(kN * kK, bBits, 32), kN, kK, bBits);
  std::vector<float> thr(kN);
  Rand r{33};
  for (float& t : thr) t = static_cast<float>(static_cast<int>(r.next() % 600) - 300) + 0.5f;
  GatedSpec spec{};
  spec.a = a.view;
  spec.b = b.view;
  spec.aBits = aBits;
  spec.highBits = highBits;
  spec.bBits = bBits;
  spec.bEnc = Encoding::Bipolar;
  spec.thresholds = thr.data();
  if (checkGated(spec).kind != ErrorKind::None) return "self-test gated case rejected by checkGated";
  std::vector<int32_t> out(kM * kN);
  std::vector<uint8_t> mask(kM * kN);
  gatedGemm(isa, spec, out.data(), mask.data(), 1);
  std::string e = check(out, 0x29e0618565fe7671ull, Named{"gated GEMM (results)"});
  return e.empty() ? check(mask, 0xa9c78291c13a1921ull, Named{"gated GEMM (mask)"}) : e;
}

std::string floatCase(const Platform& isa, bool) {
  // Small integers: every product and partial sum is exact in float32, so any summation order
  // gives the same bits and the ISA's result must equal the reference's exactly.
  const size_t m = 9, n = 19, k = 37;
  Rand r{41};
  std::vector<float> a(m * k), b(n * k), bias(n);
  for (float& v : a) v = static_cast<float>(static_cast<int>(r.next() % 9) - 4);
  for (float& v : b) v = static_cast<float>(static_cast<int>(r.next() % 9) - 4);
  for (float& v : bias) v = static_cast<float>(static_cast<int>(r.next() % 21) - 10);
  const FloatGemmSpec spec{a.data(), m, k, b.data(), nullptr, n, bias.data()};
  // M = 1 takes the GEMV (dot) path where a table has one.
  const struct {
    size_t rows;
    uint64_t want;
    const char* name;
  } shapes[] = {{1, 0xcfb308b2fc226691ull, "float GEMV"}, {m, 0x8d41e8ac5b5f1fc7ull, "float GEMM"}};
  for (const auto& sh : shapes) {
    FloatGemmSpec sp = spec;
    sp.m = sh.rows;
    std::vector<float> c(sh.rows * n);
    floatGemm(*isa.fgemm, sp, c.data(), 1);
    std::string e = check(c, sh.want, Named{sh.name});
    if (!e.empty()) return e;
  }
  return "";
}

// The families in run order.
struct Family {
  const char* name;
  std::string (*run)(const Platform&, bool reference);
};
const Family kFamilies[] = {
    {"pack", packCase}, {"gemm", gemmCases}, {"conv", convCase}, {"gated", gatedCase}, {"float", floatCase}};
static_assert(sizeof(kFamilies) / sizeof(kFamilies[0]) <= sizeof(SelfTestReport::families) / sizeof(SelfTestReport::Family),
              "the report has room for every family");

SelfTestReport run(const Platform& isa, bool reference) {
  using Clock = std::chrono::steady_clock;
  const auto micros = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
  };
  SelfTestReport report;
  const auto start = Clock::now();
  auto t0 = start;
  for (const Family& f : kFamilies) {
    report.error = f.run(isa, reference);
    const auto t1 = Clock::now();
    report.families[report.familyCount++] = SelfTestReport::Family{f.name, micros(t0, t1)};
    t0 = t1;
    if (!report.error.empty()) break;
  }
  report.micros = micros(start, t0);
  return report;
}

}  // namespace

SelfTestReport runKernelSelfTest(const Platform& isa) { return run(isa, false); }

std::string kernelSelfTest(const Platform& isa) { return runKernelSelfTest(isa).error; }

std::string referenceSelfTestError() { return run(scalarPlatform(), true).error; }

}  // namespace anyprec
