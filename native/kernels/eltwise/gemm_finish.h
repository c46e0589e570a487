// anyprec kernels, eltwise family: the finish of an integer GEMM, shared by the bit-serial
// (bitgemm/) and int8 (i8gemm/) paths. Both compute core sums (popcounts of plane pairs, or byte
// dot products) and turn them into the exact result
//   C[i][j] = mul * core[i][j] + rowTerm(i) + colTerm(j)
// (the encodings' affine corrections, common/gemm_spec.h), then apply the Epilogue through the
// platform's EpilogueTable row loops.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/gemm_spec.h"
#include "eltwise/epilogue.h"

namespace anyprec {

class GemmFinish {
 public:
  // xorForm: the core is popcount(a XOR b) (1 x 1 bipolar only): C = K - 2 * core.
  GemmFinish(const EpilogueTable& e, const GemmSpec& s, void* c, const Epilogue& epi, bool xorForm);

  int64_t mul() const { return mul_; }
  int64_t rowTerm(size_t i) const {
    return (xor_ ? static_cast<int64_t>(k_) : 0) + (rowCoreA_.empty() ? 0 : alphaA_ * betaB_ * rowCoreA_[i]);
  }
  const int64_t* colTerm() const { return colTerm_.data(); }
  bool int32Output() const { return epi_.kind == OutputKind::Int32; }
  // Where the exact int32 results of row i, from column col, go: C itself for an Int32 output,
  // else `scratch` (then storeRow converts them).
  int32_t* exactRow(size_t i, size_t col, int32_t* scratch) const {
    return int32Output() ? static_cast<int32_t*>(c_) + i * n_ + col : scratch;
  }

  // One row segment of int64 core sums (columns col..col+n) to the output.
  void finishRow(const int64_t* accRow, size_t i, size_t col, size_t n, int32_t* scratch) const {
    int32_t* exact = exactRow(i, col, scratch);
    epilogue_.combine(accRow, mul_, rowTerm(i), colTerm_.data() + col, exact, n);
    if (!int32Output()) storeRow(exact, i, col, col + n);
  }
  // Exact int32 results of row i, columns col0..col1, through a Float32 or Codes epilogue.
  void storeRow(const int32_t* v, size_t i, size_t col0, size_t col1) const;

 private:
  const EpilogueTable& epilogue_;
  void* c_;
  Epilogue epi_;
  size_t n_, k_;
  bool xor_;
  // value = alpha * core + beta per operand (core: unsigned or two's complement code)
  int64_t alphaA_, betaA_, alphaB_, betaB_;
  std::vector<int64_t> rowCoreA_;  // sum over K of each row of A's core value
  std::vector<int64_t> colTerm_;   // per output column: constant + B row-sum correction
  int64_t mul_ = 1;                // multiplier of the AND/XOR popcount core
};

}  // namespace anyprec
