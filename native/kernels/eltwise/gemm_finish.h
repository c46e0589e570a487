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
  // rowTerm for a row whose sum over K of A's core values is rowCore: for callers that form A's
  // row sums themselves (the int8 path from codes), which pass a spec whose a.planePop is null.
  int64_t rowTermOf(int64_t rowCore) const { return (xor_ ? static_cast<int64_t>(k_) : 0) + alphaA_ * betaB_ * rowCore; }
  const int64_t* colTerm() const { return colTerm_.data(); }
  bool int32Output() const { return epi_.kind == OutputKind::Int32; }
  // Where the exact int32 results of row i, from column col, go: C itself for an Int32 output,
  // else `scratch` (then storeTile converts them).
  int32_t* exactRow(size_t i, size_t col, int32_t* scratch) const {
    return int32Output() ? static_cast<int32_t*>(c_) + i * n_ + col : scratch;
  }

  // A micro-tile of int64 core sums (rows row0.., columns col..col+n; row r at acc + r * ldAcc) to
  // the output: one EpilogueTable::finishTile call per up-to-kTileRows rows.
  void finishTile(const int64_t* acc, size_t ldAcc, size_t row0, size_t rows, size_t col, size_t n) const;
  // Exact int32 results of rows row0.. (row r at v + r * ldv), columns col..col+n, through a Float32
  // or Codes epilogue (nothing to do for Int32: exactRow wrote them in place).
  void storeTile(const int32_t* v, size_t ldv, size_t row0, size_t rows, size_t col, size_t n) const;

 private:
  static constexpr size_t kTileRows = 16;
  // The epilogue of the tile at (row0, col): f_'s pointers moved there.
  TileFinish tileAt(size_t row0, size_t col) const;

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
  TileFinish f_;                   // the epilogue at output (0, 0)
};

}  // namespace anyprec
