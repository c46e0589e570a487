// anyprec kernels: the one GEMM entry over packed operands. It routes each product to the
// bit-serial path (bitgemm/) or the int8 dot-product path (i8gemm/) and owns that choice: which
// path automatic dispatch prefers for a shape and bit widths (gemmPath), which int8 variant runs
// a given platform's M-row GEMM, and which variant rebuilds prepared weights. Both paths give the
// same exact results. Pure C++17 (no Node-API).
//
// Room on this floor for what comes next: a low-bit convolution engine and a native plan runner
// (a compiled list of kernel calls over buffer offsets, no model semantics) would call GemmPlan
// and the other families' entries with a `const Platform&`, exactly as the binding does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "bitgemm/bitgemm.h"
#include "common/gemm_spec.h"
#include "eltwise/epilogue.h"
#include "i8gemm/i8gemm.h"

namespace anyprec {

struct Platform;

// How a GEMM computes its core sums. Both null: bit-serial. Otherwise the int8 path, with
// `kernel` (nullptr: the platform's variant for the GEMM's M) and prepared `weights` for spec.b
// at spec.bBits / spec.bEnc (nullptr: the plan prepares its own copy, single-threaded).
struct Int8Route {
  const I8Kernel* kernel = nullptr;
  const I8Weights* weights = nullptr;
};

// A GEMM split into two phases of independent tasks: prepare(t) for every t < prepareTasks()
// (the int8 path's activation bytes; none for bit-serial), then run(t) for every t < tasks()
// (output tiles), each phase in any order and on any threads, the second only after the first
// has finished. The spec's buffers (and the route's weights) must outlive the plan.
class GemmPlan {
 public:
  // c: M x N elements of the epilogue's output type (int32_t, float or uint8_t), row-major.
  GemmPlan(const Platform& isa, const GemmSpec& spec, void* c, const Epilogue& epi = Epilogue(),
           const Int8Route& route = Int8Route());
  // The int8 path with A from activation codes (i8gemm.h, I8Codes): no bit planes; spec.a gives
  // A's shape only (rows x cols = codes.shape.rows() x codes.shape.k(), planes = aBits). The
  // route's kernel and weights as above (a null kernel: the platform's variant for the rows).
  GemmPlan(const Platform& isa, const GemmSpec& spec, const I8Codes& codes, void* c, const Epilogue& epi,
           const Int8Route& route);
  ~GemmPlan();
  size_t prepareTasks() const { return i8_ ? i8_->prepareTasks() : 0; }
  void prepare(size_t task) const { i8_->prepare(task); }
  size_t tasks() const { return i8_ ? i8_->tasks() : bit_->tasks(); }
  void run(size_t task) const {
    if (i8_) i8_->run(task);
    else bit_->run(task);
  }
  // The int8 variant this plan runs, or nullptr for bit-serial.
  const I8Kernel* int8Kernel() const { return i8_ ? &i8_->kernel() : nullptr; }

 private:
  std::unique_ptr<BitGemmPlan> bit_;
  std::unique_ptr<I8GemmPlan> i8_;
};

// Runs both phases of a plan on up to `threads` threads (the caller included).
void runGemm(const GemmPlan& plan, int threads);
// Convenience: plan and run on up to `threads` threads (the caller included).
void bitGemm(const Platform& isa, const GemmSpec& spec, int32_t* c, int threads);
void bitGemm(const Platform& isa, const GemmSpec& spec, void* c, const Epilogue& epi, int threads,
             const Int8Route& route = Int8Route());

// Elements of an M x N output; throws SizeError (common/checked.h) if it cannot be allocated
// with elements of `elemBytes` bytes.
size_t gemmOutputCount(size_t m, size_t n, size_t elemBytes);

// ---- the route --------------------------------------------------------------------------------
enum class GemmPath { BitSerial = 0, Int8 = 1 };
// What automatic dispatch picks on this platform for an m x n x k GEMM at these bits: the int8
// path where the platform's variant should beat bit-serial. The choice changes speed only: both
// paths give the same exact results.
//
// The rule is not fitted to one machine. Bit-serial does aBits * bBits AND+popcount plane pairs
// per multiply-add, the int8 path one byte dot product, so at row count M
//   time(bit-serial) ~ aBits * bBits / (P * e_bs(M)),   time(int8) ~ 1 / (V * e_i8(M)),
// with P the popcount ceiling of the platform's bit-serial table (bit-MACs/s, popcountCeiling)
// and V the VNNI ceiling of its int8 variant (byte MACs/s, i8Ceiling): register-only loops,
// measured once per (table, variant) at first use, a few ms, best of several runs
// (gemmCeilingRatio). e_bs / e_i8 are the fractions of their ceilings the two kernels reach at M
// rows, a property of the code rather than of the machine (fitted once, on an AMD Zen 5, per
// row bucket 2-7 / 8-15 / 16-31 / 32-127 / >= 128). So the int8 path is taken when
//   aBits * bBits >= (P / V) * e_bs(M) / e_i8(M).
// A CPU whose VNNI is relatively faster (wider, more ports) moves the threshold down, one with a
// faster popcount moves it up, without a table per CPU. Not covered by the rule, the fitted
// table of i8gemm/i8gemm.cc (preferInt8): one row (GEMV: both paths stream the weights once, so
// the bytes read, not the ceilings, decide), and variants without a ceiling loop of their own
// (amx, avx2, neon, neon-dot, scalar).
GemmPath gemmPath(const Platform& isa, int aBits, int bBits, size_t m, size_t n, size_t k);
// P / V above for this platform's bit-serial table and int8 variant `kern` (measured at the
// first call for the pair, then cached; thread-safe).
double gemmCeilingRatio(const Platform& isa, const I8Kernel& kern);
// The rule's estimate behind gemmPath: time(bit-serial) / time(int8) for this GEMM (aBits * bBits
// over the threshold above, or the table's cost over its threshold; 0 where int8 is never taken).
// gemmPath picks int8 where it is >= 1; a caller that measures both routes (lib/nn) uses it only
// to skip a trial whose outcome the estimate makes clear.
double gemmPathRatio(const Platform& isa, int aBits, int bBits, size_t m, size_t n, size_t k);
const char* gemmPathName(GemmPath p);  // "bitserial" or "int8"

// The int8 variant the platform runs for an m-row GEMM.
const I8Kernel& int8KernelFor(const Platform& isa, size_t m);

// Prepared weights for the int8 path (layout i8gemm.h; it does not depend on the variant, so
// weights prepared on one platform serve every variant). Bytes and column sums, with overflow
// checks (throw SizeError), then the preparation itself, whole or as independent tasks.
size_t int8WeightBytesChecked(size_t n, size_t k);
size_t int8ColSumCount(size_t n);
void prepareInt8(const Platform& isa, const PackedView& b, int bits, Encoding enc, int8_t* data, int32_t* colSum,
                 int threads);
size_t prepareInt8Tasks(size_t n);
void prepareInt8Task(const Platform& isa, const PackedView& b, int bits, Encoding enc, int8_t* data, int32_t* colSum,
                     size_t task);

}  // namespace anyprec
