// The GEMM route: bit-serial or int8, and which int8 variant.
#include "gemm/gemm.h"

#include <chrono>
#include <mutex>
#include <vector>

#include "common/checked.h"
#include "common/threadpool.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

// Prepared weights are rebuilt by the platform's variant for a GEMM of this many rows (every
// variant writes the same bytes).
constexpr size_t kPrepareRows = 256;

}  // namespace

GemmPlan::GemmPlan(const Platform& isa, const GemmSpec& spec, void* c, const Epilogue& epi, const Int8Route& route) {
  if (route.kernel == nullptr && route.weights == nullptr) {
    bit_.reset(new BitGemmPlan(isa, spec, c, epi));
  } else {
    const I8Kernel& kern = route.kernel != nullptr ? *route.kernel : isa.int8For(spec.a.rows);
    i8_.reset(new I8GemmPlan(isa, kern, spec, c, epi, route.weights));
  }
}

GemmPlan::GemmPlan(const Platform& isa, const GemmSpec& spec, const I8Codes& codes, void* c, const Epilogue& epi,
                   const Int8Route& route) {
  const I8Kernel& kern = route.kernel != nullptr ? *route.kernel : isa.int8For(spec.a.rows);
  i8_.reset(new I8GemmPlan(isa, kern, spec, codes, c, epi, route.weights));
}

GemmPlan::~GemmPlan() = default;

void bitGemm(const Platform& isa, const GemmSpec& spec, void* c, const Epilogue& epi, int threads,
             const Int8Route& route) {
  runGemm(GemmPlan(isa, spec, c, epi, route), threads);
}

void runGemm(const GemmPlan& plan, int threads) {
  if (plan.prepareTasks() > 0) parallelRun(plan.prepareTasks(), threads, [&](size_t t) { plan.prepare(t); });
  parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
}

void bitGemm(const Platform& isa, const GemmSpec& spec, int32_t* c, int threads) {
  bitGemm(isa, spec, c, Epilogue(), threads);
}

size_t gemmOutputCount(size_t m, size_t n, size_t elemBytes) {
  return bufferOrThrow(mulOrThrow({m, n}, "GEMM output"), elemBytes, "GEMM output");
}

// ---- the ceiling rule (see gemm.h) ---------------------------------------------------------------
namespace {

// The rate (work per second) of `fn(iters)`, the best of at least 3 calls, with iters doubled from 2^10 until one call
// takes >= 0.3 ms (each loop then runs ~1-2 ms in all): the loops are register-only, so the best
// run is the machine's rate and a slow one is another process's time slice.
template <typename Fn>
double bestRate(Fn fn, double workPerIter) {
  using Clock = std::chrono::steady_clock;
  uint64_t iters = 1024;
  double best = 0;
  for (int tries = 0; tries < 24; ++tries) {
    const auto t0 = Clock::now();
    fn(iters);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 0) best = std::max(best, workPerIter * static_cast<double>(iters) / dt);
    if (dt < 3e-4) iters *= 2;
    else if (tries >= 2 && dt >= 3e-4) break;
  }
  return best;
}

volatile uint64_t gCeilingSink = 0;

struct RatioEntry {
  const KernelTable* bitplane;
  const I8Kernel* kernel;
  double ratio;
};

}  // namespace

double gemmCeilingRatio(const Platform& isa, const I8Kernel& kern) {
  static std::mutex mu;
  static std::vector<RatioEntry> cache;
  std::lock_guard<std::mutex> lock(mu);
  for (const RatioEntry& e : cache)
    if (e.bitplane == isa.bitplane && e.kernel == &kern) return e.ratio;
  // Interleaved rounds, so a slow phase of a shared machine hits both loops alike.
  double popRate = 0, i8Rate = 0;  // bit-MACs/s, byte MACs/s
  for (int round = 0; round < 2; ++round) {
    popRate = std::max(popRate, bestRate([&](uint64_t it) { gCeilingSink = gCeilingSink + popcountCeiling(isa, it).checksum; },
                                         popcountCeiling(isa, 1).bitMacs));
    i8Rate = std::max(i8Rate, bestRate([&](uint64_t it) { gCeilingSink = gCeilingSink + i8Ceiling(kern, it).checksum; },
                                       i8Ceiling(kern, 1).macs));
  }
  const double ratio = i8Rate > 0 ? popRate / i8Rate : 1e9;
  cache.push_back({isa.bitplane, &kern, ratio});
  return ratio;
}

namespace {
// e_bs(M) / e_i8(M) per row bucket (2-7, 8-15, 16-31, 32-127, >= 128): the fraction of its
// ceiling bit-serial reaches over the fraction the int8 kernel reaches. Fitted on an AMD Zen 5
// (AVX-512 VNNI, no AMX; 2 shared vCPUs, one thread), where R = P / V measured 5.33, from the
// smallest aBits * bBits at which int8 won in
//   build-native/i8gemm_bench --bits=1,2,3,4,6 --variants=avx512-vnni --reps=3
//     --shapes=256x1024x1024,64x1024x1024,16x1024x1024,4x1024x1024
// (bit-serial time / int8 time near 1 at: M=4 6x4 0.80, 4x6 0.81, 6x6 1.15; M=16 4x3 0.92,
// 4x4 1.19, 2x6 0.91, 3x6 1.29; M=64 3x2 0.95, 2x3 1.23, 1x6 1.16, 6x1 0.99; M=256 2x3 0.53-1.2
// and 3x3 0.70-1.5 (the int8 kernel ran 250-650 Gop/s there, the machine was shared): 8 kept).
// 8-15 rows: between the neighbours.
constexpr double kFitRatio = 5.33;
constexpr double kEffRatio[5] = {30 / kFitRatio, 20 / kFitRatio, 14 / kFitRatio, 6 / kFitRatio, 8 / kFitRatio};

int rowBucket(size_t m) { return m < 8 ? 0 : m < 16 ? 1 : m < 32 ? 2 : m < 128 ? 3 : 4; }

// Variants decided by their table row even with a ceiling loop: scalar, and avx2 (its kernel reaches
// a different fraction of its ceiling than the VNNI kernels the e ratios were fitted on).
bool keepsTableRow(const I8Kernel& kern) {
#if defined(__x86_64__) || defined(_M_X64)
  if (&kern == &kI8Avx2) return true;
#endif
  return &kern == &kI8Scalar;
}
}  // namespace

GemmPath gemmPath(const Platform& isa, int aBits, int bBits, size_t m, size_t n, size_t k) {
  (void)k;
  const I8Kernel& kern = isa.int8For(m);
  if (m == 0 || n == 0) return GemmPath::BitSerial;
  // GEMV (weights streamed once: bytes, not ceilings, decide) and variants without a ceiling
  // loop of their own (amx, neon, neon-dot, the ones of the fitted table): the table. avx2 has a
  // ceiling loop (VPMADDUBSW chains) but its kernel reaches a different fraction of it than the
  // VNNI kernels the e ratios were fitted on: it keeps its table row.
  if (m == 1 || kern.ceiling == nullptr || keepsTableRow(kern))
    return preferInt8(kern, aBits, bBits, m, n) ? GemmPath::Int8 : GemmPath::BitSerial;
  const double threshold = gemmCeilingRatio(isa, kern) * kEffRatio[rowBucket(m)];
  return aBits * bBits >= threshold ? GemmPath::Int8 : GemmPath::BitSerial;
}

double gemmPathRatio(const Platform& isa, int aBits, int bBits, size_t m, size_t n, size_t k) {
  (void)k;
  const I8Kernel& kern = isa.int8For(m);
  if (m == 0 || n == 0) return 0;
  if (m == 1 || kern.ceiling == nullptr || keepsTableRow(kern)) return int8TableRatio(kern, aBits, bBits, m, n);
  return aBits * bBits / (gemmCeilingRatio(isa, kern) * kEffRatio[rowBucket(m)]);
}

const char* gemmPathName(GemmPath p) { return p == GemmPath::Int8 ? "int8" : "bitserial"; }

const I8Kernel& int8KernelFor(const Platform& isa, size_t m) { return isa.int8For(m); }

size_t int8WeightBytesChecked(size_t n, size_t k) {
  const size_t nPad = addOrThrow(n, kI8NAlign - 1, "int8 weights") / kI8NAlign * kI8NAlign;
  const size_t kPad = addOrThrow(k, kI8KAlign - 1, "int8 weights") / kI8KAlign * kI8KAlign;
  return bufferOrThrow(mulOrThrow({nPad, kPad}, "int8 weights"), 1, "int8 weights");
}

size_t int8ColSumCount(size_t n) { return i8NPad(n); }

void prepareInt8(const Platform& isa, const PackedView& b, int bits, Encoding enc, int8_t* data, int32_t* colSum,
                 int threads) {
  prepareI8Weights(isa.int8For(kPrepareRows), b, bits, enc, data, colSum, threads);
}

size_t prepareInt8Tasks(size_t n) { return prepareI8WeightsTasks(n); }

void prepareInt8Task(const Platform& isa, const PackedView& b, int bits, Encoding enc, int8_t* data, int32_t* colSum,
                     size_t task) {
  prepareI8WeightsTask(isa.int8For(kPrepareRows), b, bits, enc, data, colSum, task);
}

}  // namespace anyprec
