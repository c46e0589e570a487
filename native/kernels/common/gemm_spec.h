// anyprec kernels, common floor: the integer product every GEMM path computes (bit-serial in
// bitgemm/, byte dot products in i8gemm/, routed by gemm/), and its argument check.
//   C[i][j] = sum_t value_A(A[i][t] >> (a.planes - aBits)) * value_B(B[j][t] >> (b.planes - bBits))
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/types.h"

namespace anyprec {

struct GemmSpec {
  PackedView a, b;
  int aBits, bBits;
  Encoding aEnc, bEnc;
};

// Checks bit counts, matching K, and that no result can overflow int32.
CheckResult checkGemm(const GemmSpec& spec);

// value = alpha * core + beta for a b-bit code; core is the unsigned code, or its two's-complement
// reading (Signed).
void encodingAffine(Encoding e, int bits, int64_t* alpha, int64_t* beta);
// Sum over K of one row's core value from its stored per-plane popcounts (top `bits` planes).
int64_t rowCoreSum(const int32_t* pops, int bits, bool negTop);

}  // namespace anyprec
