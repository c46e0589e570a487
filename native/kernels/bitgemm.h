// anyprec kernels: public C++ interface of packing and the bit-serial GEMM.
// Pure C++17 (no Node-API); used by the addon and by the native tests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bitplane.h"

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

// Packs rows x k codes (row-major, each < 2^planes). `out` holds packedWords(rows, k, planes)
// words and planePop rows*planes ints. Splits panels over up to `threads` threads.
void pack(const KernelTable& isa, const uint8_t* codes, size_t rows, size_t k, int planes,
          uint64_t* out, int32_t* planePop, int threads);

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

// A GEMM split into independent output tiles; run(t) for every t < tasks() in any order and on
// any threads fills C (row-major M x N int32). The spec's buffers must outlive the plan.
class GemmPlan {
 public:
  GemmPlan(const KernelTable& isa, const GemmSpec& spec, int32_t* c);
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;

 private:
  const KernelTable& isa_;
  GemmSpec s_;
  int32_t* c_;
  size_t m_, n_, k_;
  size_t aPanels_, bPanels_, kWords_;
  size_t panelsPerTaskM_, panelsPerTaskN_, tasksM_, tasksN_, kBlockWords_;
  bool xor_;
  // value = alpha * core + beta per operand (core: unsigned or two's complement code)
  int64_t alphaA_, betaA_, alphaB_, betaB_;
  std::vector<int64_t> rowCoreA_, rowCoreB_;  // sum over K of each row's core value
};

// Convenience: plan and run on up to `threads` threads (the caller included).
void bitGemm(const KernelTable& isa, const GemmSpec& spec, int32_t* c, int threads);

}  // namespace anyprec
