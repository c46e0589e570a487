// anyprec training kernels, the row loops of batch norm (ftrain.h's channelMoments and
// batchNormBackward), one instance per ISA: the callers split the rows into fixed chunks and sum
// the chunks' partials themselves; these loops only walk rows [r0, r1) of an NHWC tensor (rows x c,
// channel fastest). Each channel's double accumulator takes the rows in increasing order, one
// rounding per operation, so every ISA gives the scalar instance's bits (vectors span channels,
// never rows; built with -ffp-contract=off, nothing is fused).
#pragma once
#include <cstddef>

namespace anyprec {
namespace ftrain {

struct BnRows {
  // acc[ch] += x[r][ch]
  void (*sum)(const float* x, size_t r0, size_t r1, size_t c, double* acc);
  // acc[ch] += d * d, d = x[r][ch] - mu[ch]
  void (*squaredDeviations)(const float* x, size_t r0, size_t r1, size_t c, const double* mu, double* acc);
  // acc[ch] += g[r][ch];  acc[c + ch] += g[r][ch] * ((x[r][ch] - mean[ch]) * invstd[ch])   (in double)
  void (*gradientSums)(const float* g, const float* x, size_t r0, size_t r1, size_t c, const float* mean,
                       const float* invstd, double* acc);
  // dx[r][ch] = ka[ch] * g[r][ch] + kb[ch] * x[r][ch] + kc[ch]   (float32, left to right)
  void (*inputGradient)(const float* g, const float* x, size_t r0, size_t r1, size_t c, const float* ka,
                        const float* kb, const float* kc, float* dx);
};

extern const BnRows bnRowsScalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const BnRows bnRowsAvx2;
extern const BnRows bnRowsAvx512;
#endif
#if defined(__aarch64__)
extern const BnRows bnRowsNeon;
#endif

// The instance for the float kernel table named `isa` ("avx512", "avx2", "neon"; else scalar).
const BnRows& bnRowsFor(const char* isa);

}  // namespace ftrain
}  // namespace anyprec
