// The load-time self-test (selftest.h): every case runs on the platform under test and on the
// scalar reference platform with the same operands, and the outputs are compared byte for byte.
#include "selftest/selftest.h"

#include <chrono>
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

// Codes packed once (by the platform under test: its packing has its own case, and both sides of
// a comparison read the same operand, so a packing fault cannot hide a GEMM fault) and shared by
// the platform's run and the reference's.
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

template <typename T>
std::string compare(const char* what, const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return std::string(what) + ": output sizes differ";
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      return std::string(what) + ": element " + std::to_string(i) + " differs from the scalar reference";
    }
  }
  return "";
}

constexpr size_t kM = 11, kN = 13, kK = 67;  // odd everywhere: partial panels and a K tail

std::string packCase(const Platform& isa) {
  const int planes = 5;
  const auto codes = randomCodes(kM * kK, planes, 11);
  std::vector<uint64_t> w(packedWords(kM, kK, planes)), ws(w.size());
  std::vector<int32_t> p(kM * planes), ps(p.size());
  pack(isa, codes.data(), kM, kK, planes, w.data(), p.data(), 1);
  pack(scalarPlatform(), codes.data(), kM, kK, planes, ws.data(), ps.data(), 1);
  std::string e = compare("pack (planes)", w, ws);
  return e.empty() ? compare("pack (plane popcounts)", p, ps) : e;
}

// Output kinds a GEMM case is checked with (bit set: 1 << OutputKind).
constexpr unsigned kInt32 = 1u << static_cast<int>(OutputKind::Int32);
constexpr unsigned kFloat = 1u << static_cast<int>(OutputKind::Float32);
constexpr unsigned kCodes = 1u << static_cast<int>(OutputKind::Codes);

struct GemmCase {
  int aBits, bBits;
  Encoding aEnc, bEnc;
  unsigned outputs;
};

// The product of one case through `route` and `epi` on `isa`, as bytes of its output.
std::vector<uint8_t> product(const Platform& isa, const GemmSpec& spec, const Epilogue& epi, const Int8Route& route) {
  std::vector<uint8_t> c(kM * kN * outputElementBytes(epi.kind));
  bitGemm(isa, spec, c.data(), epi, 1, route);
  return c;
}

std::string gemmCases(const Platform& isa) {
  // The scalar reference's cost grows with aBits * bBits (its popcounts are library calls where
  // the baseline ISA has no popcount instruction): three cases cover the micro-kernel's forms
  // (XOR, AND, two's complement top planes), the int8 route's byte mappings of all three
  // encodings, and each output kind once (float and codes on the low-bit case).
  const GemmCase cases[] = {
      {1, 1, Encoding::Bipolar, Encoding::Bipolar, kInt32},           // the XOR form
      {2, 2, Encoding::Unsigned, Encoding::Bipolar, kFloat | kCodes},  // a ResNet's low-bit conv
      {5, 4, Encoding::Signed, Encoding::Signed, kInt32},             // negative top planes, wide bytes
  };
  std::vector<float> scale(kN), shift(kN), residual(kM * kN);
  Rand r{7};
  for (size_t j = 0; j < kN; ++j) {
    scale[j] = static_cast<float>(static_cast<int>(r.next() % 200) - 100) / 997.0f;
    shift[j] = static_cast<float>(static_cast<int>(r.next() % 200) - 100) / 113.0f;
  }
  for (float& v : residual) v = static_cast<float>(static_cast<int>(r.next() % 2000) - 1000) / 311.0f;
  Epilogue asInt{}, asFloat{}, asCodes{};
  asFloat.kind = OutputKind::Float32;
  asFloat.scale = scale.data();
  asFloat.shift = shift.data();
  asFloat.lo = -2.0f;
  asFloat.hi = 3.0f;
  asFloat.residual = residual.data();
  asCodes.kind = OutputKind::Codes;
  asCodes.scale = scale.data();
  asCodes.shift = shift.data();
  asCodes.codeBits = 3;
  const Epilogue* epilogues[] = {&asInt, &asFloat, &asCodes};
  const char* epiNames[] = {"int32", "float", "codes"};

  uint32_t seed = 100;
  for (const GemmCase& gc : cases) {
    const Operand a(isa, randomCodes(kM * kK, gc.aBits, seed++), kM, kK, gc.aBits);
    const Operand b(isa, randomCodes(kN * kK, gc.bBits, seed++), kN, kK, gc.bBits);
    const GemmSpec spec{a.view, b.view, gc.aBits, gc.bBits, gc.aEnc, gc.bEnc};
    if (checkGemm(spec).kind != ErrorKind::None) return "self-test case rejected by checkGemm";
    const std::string label = std::to_string(gc.aBits) + "x" + std::to_string(gc.bBits) + " " +
                              encodingName(gc.aEnc) + "/" + encodingName(gc.bEnc);
    // Routes: bit-serial, and each int8 variant of the platform (the wide one where it differs).
    std::vector<std::pair<std::string, Int8Route>> routes = {{"bit-serial", Int8Route{}}};
    if (isa.int8 != nullptr) routes.push_back({isa.int8->name, Int8Route{isa.int8, nullptr}});
    if (isa.int8Wide != nullptr && isa.int8Wide != isa.int8) routes.push_back({isa.int8Wide->name, Int8Route{isa.int8Wide, nullptr}});
    for (int e = 0; e < 3; ++e) {
      if ((gc.outputs & (1u << static_cast<int>(epilogues[e]->kind))) == 0) continue;
      const auto want = product(scalarPlatform(), spec, *epilogues[e], Int8Route{});
      for (const auto& route : routes) {
        const std::string what = "GEMM " + label + ", " + route.first + " path, " + epiNames[e] + " output";
        const std::string err = compare(what.c_str(), product(isa, spec, *epilogues[e], route.second), want);
        if (!err.empty()) return err;
      }
    }
  }
  return "";
}

std::string convCase(const Platform& isa) {
  ConvShape s{};
  s.n = 2, s.h = 5, s.w = 6, s.c = 3, s.kh = 3, s.kw = 3;
  s.strideH = 1, s.strideW = 2, s.padH = 1, s.padW = 1, s.dilH = 1, s.dilW = 1;
  if (!checkConvShape(s).empty()) return "self-test conv shape rejected";
  const int planes = 3;
  const auto codes = randomCodes(s.inputCount(), planes, 21);
  std::vector<uint64_t> w(packedWords(s.rows(), s.k(), planes)), ws(w.size());
  std::vector<int32_t> p(s.rows() * planes), ps(p.size());
  packConvInput(isa, codes.data(), s, planes, w.data(), p.data(), 1);
  packConvInput(scalarPlatform(), codes.data(), s, planes, ws.data(), ps.data(), 1);
  std::string e = compare("conv lowering (planes)", w, ws);
  if (e.empty()) e = compare("conv lowering (plane popcounts)", p, ps);
  if (!e.empty() || isa.int8 == nullptr) return e;
  // The int8 route from the same codes (lowered into byte rows, no planes) against the scalar
  // planes route.
  const Operand b(scalarPlatform(), randomCodes(kN * s.k(), 5, 22), kN, s.k(), 5);
  GemmSpec spec{PackedView{ws.data(), s.rows(), s.k(), planes, ps.data()}, b.view, planes, 5, Encoding::Unsigned,
                Encoding::Bipolar};
  std::vector<int32_t> want(s.rows() * kN), got(want.size());
  bitGemm(scalarPlatform(), spec, want.data(), 1);
  spec.a = PackedView{nullptr, s.rows(), s.k(), planes, nullptr};
  runGemm(GemmPlan(isa, spec, I8Codes{codes.data(), s}, got.data(), Epilogue(), Int8Route{&isa.int8For(s.rows()), nullptr}), 1);
  return compare("int8 route from conv codes", got, want);
}

std::string gatedCase(const Platform& isa) {
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
  std::vector<int32_t> out(kM * kN), outS(out.size());
  std::vector<uint8_t> mask(kM * kN), maskS(mask.size());
  gatedGemm(isa, spec, out.data(), mask.data(), 1);
  gatedGemm(scalarPlatform(), spec, outS.data(), maskS.data(), 1);
  std::string e = compare("gated GEMM (results)", out, outS);
  return e.empty() ? compare("gated GEMM (mask)", mask, maskS) : e;
}

std::string floatCase(const Platform& isa) {
  // Small integers: every product and partial sum is exact in float32, so any summation order
  // gives the same bits and the ISA's result must equal the reference's exactly.
  const size_t m = 9, n = 19, k = 37;
  Rand r{41};
  std::vector<float> a(m * k), b(n * k), bias(n);
  for (float& v : a) v = static_cast<float>(static_cast<int>(r.next() % 9) - 4);
  for (float& v : b) v = static_cast<float>(static_cast<int>(r.next() % 9) - 4);
  for (float& v : bias) v = static_cast<float>(static_cast<int>(r.next() % 21) - 10);
  const FloatGemmSpec spec{a.data(), m, k, b.data(), nullptr, n, bias.data()};
  for (size_t rows : {size_t{1}, m}) {  // M = 1 takes the GEMV (dot) path where a table has one
    FloatGemmSpec sp = spec;
    sp.m = rows;
    std::vector<float> c(rows * n), cs(c.size());
    floatGemm(*isa.fgemm, sp, c.data(), 1);
    floatGemm(*scalarPlatform().fgemm, sp, cs.data(), 1);
    std::string e = compare(rows == 1 ? "float GEMV" : "float GEMM", c, cs);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace

SelfTestReport runKernelSelfTest(const Platform& isa) {
  using Clock = std::chrono::steady_clock;
  const auto micros = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
  };
  struct Family {
    const char* name;
    std::string (*run)(const Platform&);
  };
  static const Family families[] = {
      {"pack", packCase}, {"gemm", gemmCases}, {"conv", convCase}, {"gated", gatedCase}, {"float", floatCase}};
  static_assert(sizeof(families) / sizeof(families[0]) <= sizeof(SelfTestReport::families) / sizeof(SelfTestReport::Family),
                "the report has room for every family");
  SelfTestReport report;
  const auto start = Clock::now();
  auto t0 = start;
  for (const Family& f : families) {
    report.error = f.run(isa);
    const auto t1 = Clock::now();
    report.families[report.familyCount++] = SelfTestReport::Family{f.name, micros(t0, t1)};
    t0 = t1;
    if (!report.error.empty()) break;
  }
  report.micros = micros(start, t0);
  return report;
}

std::string kernelSelfTest(const Platform& isa) { return runKernelSelfTest(isa).error; }

}  // namespace anyprec
