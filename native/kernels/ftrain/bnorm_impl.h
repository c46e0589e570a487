// anyprec training kernels, the body of batch norm's row loops (bnorm.h), per ISA file: plain
// loops over the channels that the ISA file's flags vectorise (bnorm_<isa>.cc). Internal linkage
// only: the ISA files' copies must never be merged by the linker.
#pragma once
#include <cstddef>

#include "ftrain/bnorm.h"

namespace anyprec {
namespace ftrain {
namespace {

void bnSum(const float* x, size_t r0, size_t r1, size_t c, double* __restrict acc) {
  for (size_t r = r0; r < r1; ++r) {
    const float* __restrict xr = x + r * c;
    for (size_t ch = 0; ch < c; ++ch) acc[ch] += static_cast<double>(xr[ch]);
  }
}

void bnSquaredDeviations(const float* x, size_t r0, size_t r1, size_t c, const double* __restrict mu,
                         double* __restrict acc) {
  for (size_t r = r0; r < r1; ++r) {
    const float* __restrict xr = x + r * c;
    for (size_t ch = 0; ch < c; ++ch) {
      const double d = static_cast<double>(xr[ch]) - mu[ch];
      acc[ch] += d * d;
    }
  }
}

void bnGradientSums(const float* g, const float* x, size_t r0, size_t r1, size_t c, const float* __restrict mean,
                    const float* __restrict invstd, double* __restrict acc) {
  double* __restrict accX = acc + c;
  for (size_t r = r0; r < r1; ++r) {
    const float* __restrict gr = g + r * c;
    const float* __restrict xr = x + r * c;
    for (size_t ch = 0; ch < c; ++ch) {
      const double gv = gr[ch];
      acc[ch] += gv;
      accX[ch] += gv * ((static_cast<double>(xr[ch]) - mean[ch]) * invstd[ch]);
    }
  }
}

void bnInputGradient(const float* g, const float* x, size_t r0, size_t r1, size_t c, const float* __restrict ka,
                     const float* __restrict kb, const float* __restrict kc, float* dx) {
  for (size_t r = r0; r < r1; ++r) {
    const float* __restrict gr = g + r * c;
    const float* __restrict xr = x + r * c;
    float* __restrict dr = dx + r * c;
    for (size_t ch = 0; ch < c; ++ch) dr[ch] = ka[ch] * gr[ch] + kb[ch] * xr[ch] + kc[ch];
  }
}

constexpr BnRows kBnRows{bnSum, bnSquaredDeviations, bnGradientSums, bnInputGradient};

}  // namespace
}  // namespace ftrain
}  // namespace anyprec
