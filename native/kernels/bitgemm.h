// anyprec kernels: public C++ interface of packing and the bit-serial GEMM.
// Pure C++17 (no Node-API); used by the addon and by the native tests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bitplane.h"
#include "epilogue.h"
#include "i8gemm.h"

namespace anyprec {

// Value of a b-bit code q:
//   Unsigned: q;  Bipolar: 2q - (2^b - 1) (every plane is +-1);  Signed: two's complement.
enum class Encoding { Unsigned = 0, Bipolar = 1, Signed = 2 };

// ---- ISA dispatch --------------------------------------------------------------------------
// Tables this build contains and this CPU can run, best first (the first one is the default).
const std::vector<const KernelTable*>& availableTables();
// The table named `name` if it is built in and supported here, else nullptr.
const KernelTable* findTable(const std::string& name);
// Default table: ANYPREC_ISA from the environment if set and supported, else the best one.
const KernelTable* defaultTable();
// Every ISA name this library knows (supported here or not).
const std::vector<std::string>& knownIsaNames();

// ---- Packed operands -------------------------------------------------------------------------
struct PackedView {
  const uint64_t* data;     // packedWords(rows, cols, planes) words, layout of bitplane.h
  size_t rows, cols;        // cols = K
  int planes;               // stored planes 1..8
  const int32_t* planePop;  // [rows][planes]: popcount of each row's plane (for row sums)
};


// Index of the first code >= 2^planes, or SIZE_MAX if every code fits.
size_t findBadCode(const uint8_t* codes, size_t n, int planes);
// The index of the first code >= limit (limit 0..256), or SIZE_MAX if none.
size_t findCodeAtLeast(const uint8_t* codes, size_t n, unsigned limit);

// Packs rows x k codes (row-major, each < 2^planes). `out` holds packedWords(rows, k, planes)
// words and planePop rows*planes ints. Splits panels over up to `threads` threads.
void pack(const KernelTable& isa, const uint8_t* codes, size_t rows, size_t k, int planes,
          uint64_t* out, int32_t* planePop, int threads);

// Codes back from planes (rows x cols, row-major): the inverse of pack().
void unpack(const PackedView& p, uint8_t* codes);

// ---- bit-serial GEMM --------------------------------------------------------------------------
// C[i][j] = sum_t value_A(A[i][t] >> (a.planes - aBits)) * value_B(B[j][t] >> (b.planes - bBits))
struct GemmSpec {
  PackedView a, b;
  int aBits, bBits;
  Encoding aEnc, bEnc;
};

enum class ErrorKind { None, Type, Range };
struct CheckResult {
  ErrorKind kind = ErrorKind::None;
  std::string message;
};

// Largest |value| a b-bit code can take in an encoding.
int64_t maxAbsValue(Encoding enc, int bits);
// Checks bit counts, matching K, and that no result can overflow int32.
CheckResult checkGemm(const GemmSpec& spec);

// What is done with each exact integer result acc = C[i][j] before it is stored.
//   Int32:   out = acc
//   Float32: y = float(acc) * scale[j] + shift[j] (float32, in that order), then clamped to [lo, hi]
//   Codes:   y as above, then q = round_half_even(clamp(y, 0, 1) * (2^codeBits - 1)) as uint8 —
//            the next layer's activation quantiser applied straight to the accumulators.
enum class OutputKind { Int32 = 0, Float32 = 1, Codes = 2 };
struct Epilogue {
  OutputKind kind = OutputKind::Int32;
  const float* scale = nullptr;  // N floats (Float32/Codes)
  const float* shift = nullptr;  // N floats or null (= 0)
  float lo = -__builtin_inff(), hi = __builtin_inff();
  int codeBits = 0;              // 1..8 (Codes)
};

// How a GEMM computes its core sums: bit-serial (kernel == nullptr, the default) or the int8 path
// with `kernel` (i8gemm.h) and prepared `weights` for spec.b at spec.bBits / spec.bEnc (made by
// prepareI8Weights; nullptr: the plan prepares its own copy, single-threaded, in its constructor).
struct Int8Route {
  const I8Kernel* kernel = nullptr;
  const I8Weights* weights = nullptr;
};

// Checks that prepared weights were made for this spec's b, bBits and bEncoding ("" if they were).
std::string checkI8Weights(const GemmSpec& spec, const I8Weights& w);

// A GEMM split into two phases of independent tasks: prepare(t) for every t < prepareTasks()
// (the int8 path's activation bytes; none for bit-serial), then run(t) for every t < tasks()
// (output tiles), each phase in any order and on any threads, the second only after the first
// has finished. The spec's buffers (and the route's weights) must outlive the plan.
class GemmPlan {
 public:
  // c: M x N elements of the epilogue's output type (int32_t, float or uint8_t), row-major.
  GemmPlan(const KernelTable& isa, const GemmSpec& spec, void* c, const Epilogue& epi = Epilogue(),
           const Int8Route& route = Int8Route());
  size_t prepareTasks() const { return prepareTasks_; }
  void prepare(size_t task) const;
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;
  // The int8 variant this plan runs, or nullptr for bit-serial.
  const I8Kernel* int8Kernel() const { return i8_; }

 private:
  void storeRow(const int32_t* values, size_t row, size_t col0, size_t col1) const;
  void finishRow(const int64_t* accRow, size_t row, size_t col, size_t n, int32_t* scratch) const;
  void setupInt8(const Int8Route& route);
  void runInt8(size_t task) const;
  const KernelTable& isa_;
  const EpilogueTable& epilogue_;
  GemmSpec s_;
  void* c_;
  Epilogue epi_;
  size_t m_, n_, k_;
  size_t aPanels_, bPanels_, kWords_;
  size_t panelsPerTaskM_, panelsPerTaskN_, tasksM_, tasksN_, kBlockWords_;
  bool xor_;
  // value = alpha * core + beta per operand (core: unsigned or two's complement code)
  int64_t alphaA_, betaA_, alphaB_, betaB_;
  std::vector<int64_t> rowCoreA_;  // sum over K of each row of A's core value
  std::vector<int64_t> colTerm_;   // per output column: constant + B row-sum correction
  int64_t mul_ = 1;                // multiplier of the AND/XOR popcount core
  size_t prepareTasks_ = 0;
  // int8 path (i8gemm.h): activation bytes (i8MPad(M) rows of kPad), sum of a' per row, weights.
  const I8Kernel* i8_ = nullptr;
  const I8Weights* w_ = nullptr;
  I8Weights ownW_{};
  std::vector<int8_t> ownWData_;
  std::vector<int32_t> ownWColSum_;
  std::unique_ptr<uint8_t[]> aStore_;
  uint8_t* aBytes_ = nullptr;
  size_t kPad_ = 0, aLd_ = 0, rowsPerTask_ = 0, colsPerTask_ = 0, panelsPerPrep_ = 0;
  std::vector<uint32_t> rowConstI8_, colConstI8_;
  ByteMap mapA_{}, mapB_{};
};

// Convenience: plan and run on up to `threads` threads (the caller included).
void bitGemm(const KernelTable& isa, const GemmSpec& spec, int32_t* c, int threads);
void bitGemm(const KernelTable& isa, const GemmSpec& spec, void* c, const Epilogue& epi, int threads,
             const Int8Route& route = Int8Route());

// Activation quantiser alone (for float tensors, e.g. after a residual add): per channel
// c = i % channels, y = x * scale[c] + shift[c] (scale/shift may be null: 1 and 0), then
// q = round_half_even(clamp(y, 0, 1) * (2^bits - 1)). Same float32 steps as the GEMM epilogue.
void quantizeActivations(const KernelTable& isa, const float* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads);
// The same over int32 values (e.g. a GEMM's results): y = float(x) * scale[c] + shift[c], ...
void quantizeActivations(const KernelTable& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads);

// out[i] = table[codes[i]] for n codes (every code < the table's length: the caller checks).
void codesToFloat(const KernelTable& isa, const uint8_t* codes, size_t n, const float* table, float* out, int threads);

// Per channel c = i % channels: y = x * scale[c] + shift[c] (null: 1 and 0), clamped to [lo, hi];
// float32 steps as the epilogue. In place is allowed (out == x).
void channelAffine(const KernelTable& isa, const float* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads);
// The same over int32 values: y = float(x) * scale[c] + shift[c], clamped (never in place).
void channelAffine(const KernelTable& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads);

// ---- convolution lowering -------------------------------------------------------------------
// Input codes NHWC (uint8); the lowered matrix has one row per output position (n, oh, ow) and
// K = KH*KW*C columns ordered (kh, kw, c); taps outside the image read code 0 (zero padding).
struct ConvShape {
  size_t n, h, w, c;       // input
  size_t kh, kw;           // kernel
  size_t strideH, strideW, padH, padW, dilH, dilW;
  size_t outH() const { return (h + 2 * padH - dilH * (kh - 1) - 1) / strideH + 1; }
  size_t outW() const { return (w + 2 * padW - dilW * (kw - 1) - 1) / strideW + 1; }
  size_t rows() const { return n * outH() * outW(); }
  size_t k() const { return kh * kw * c; }
};
// Float lowering for full-precision convolutions: out is rows() x k(), same order as above.
void im2colFloat(const float* x, const ConvShape& s, float* out, int threads);
// Empty string if the shape is valid, else what is wrong.
std::string checkConvShape(const ConvShape& s);
// Lowers and packs in one pass (8 output positions at a time; the lowered matrix is never
// materialised). out/planePop sized as pack() for rows() x k() with `planes` planes.
void packConvInput(const KernelTable& isa, const uint8_t* codes, const ConvShape& s, int planes,
                   uint64_t* out, int32_t* planePop, int threads);

// ---- pooling ---------------------------------------------------------------------------------
struct PoolShape {
  size_t n, h, w, c, kh, kw, strideH, strideW, padH, padW;
  size_t outH() const { return (h + 2 * padH - kh) / strideH + 1; }
  size_t outW() const { return (w + 2 * padW - kw) / strideW + 1; }
};
std::string checkPoolShape(const PoolShape& s);
// NHWC max pooling; padded taps are skipped (every window holds at least one real tap).
void maxPool(const uint8_t* x, const PoolShape& s, uint8_t* out, int threads);
void maxPool(const float* x, const PoolShape& s, float* out, int threads);

}  // namespace anyprec
