// The GEMM route: bit-serial or int8, and which int8 variant.
#include "gemm/gemm.h"

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

GemmPath gemmPath(const Platform& isa, int aBits, int bBits, size_t m, size_t n, size_t k) {
  (void)k;
  return preferInt8(isa.int8For(m), aBits, bBits, m, n) ? GemmPath::Int8 : GemmPath::BitSerial;
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
