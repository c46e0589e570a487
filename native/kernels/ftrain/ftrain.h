// anyprec training kernels (float32): the pieces a backward pass needs that inference does not.
// Plain C++17, no intrinsics, no Node-API; loops are written so the compiler can vectorise them.
//
//   gemmT:   C[M x N] (+)= op(A) . op(B),  op = identity or transpose, all row-major float32
//   col2im:  the adjoint of im2colFloat (same ConvShape, same NHWC input / (ky, kx, c) columns)
//   channelMoments / batchNormBackward: per-channel reductions over NHWC rows (C fastest)
//
// Summation order: every output of gemmT is the float32 sum of its K products in increasing k
// (one rounding per product and per add; -ffp-contract=off keeps them unfused), whatever the
// thread count — results do not depend on threads. The reductions accumulate in double.
#pragma once
#include <cstddef>
#include <string>

namespace anyprec {
struct ConvShape;

namespace ftrain {

struct GemmTSpec {
  bool transA, transB;
  size_t m, n, k;
  const float* a;  // op(A) is M x K: A is M x K (transA false) or K x M (true), row-major
  const float* b;  // op(B) is K x N: B is K x N (transB false) or N x K (true), row-major
  float* c;        // M x N row-major
  bool accumulate; // C += op(A) op(B) instead of C = op(A) op(B)
};

// Empty string if the spec is valid (sizes positive, M*N, M*K, K*N representable), else why not.
std::string checkGemmT(const GemmTSpec& s);
void gemmT(const GemmTSpec& s, int threads);

// x (n*h*w*c floats, NHWC) = sum over the lowered matrix `cols` (rows() x k(), as im2colFloat
// writes it) of each entry into the input element it was gathered from; padding taps are
// dropped. x is overwritten (accumulate = false) or added to (true).
void col2im(const float* cols, const ConvShape& s, float* x, bool accumulate, int threads);

// Per channel of x (rows x c, channel fastest): mean and biased variance (double accumulation,
// two passes), written as float32 to mean[c], var[c]. `isa` names the float kernel table whose
// row loops run (bnorm.h; nullptr: scalar): the same bits on every ISA and thread count.
void channelMoments(const float* x, size_t rows, size_t c, float* mean, float* var, int threads,
                    const char* isa = nullptr);

// Batch-norm backward with batch statistics. xhat = (x - mean) * invstd;
//   dbeta[c] = sum g, dgamma[c] = sum g * xhat,
//   dx = gamma * invstd * (g - dbeta/rows - xhat * dgamma/rows)      (if dx != nullptr)
void batchNormBackward(const float* g, const float* x, size_t rows, size_t c, const float* mean,
                       const float* invstd, const float* gamma, float* dx, float* dgamma,
                       float* dbeta, int threads, const char* isa = nullptr);

}  // namespace ftrain
}  // namespace anyprec
