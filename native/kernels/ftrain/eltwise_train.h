// anyprec training kernels, element-wise loops of a training step (float32, one call per tensor,
// split over the thread pool in fixed spans). Every output element is computed exactly as the
// scalar expression in its comment: results are bit-identical to a plain loop at any thread count.
#pragma once
#include <cstddef>

namespace anyprec {
namespace ftrain {

// y[i] = x[i] > 0 ? x[i] : 0
void reluForward(const float* x, float* y, size_t n, int threads);
// y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i])
void clampForward(const float* x, float* y, size_t n, float lo, float hi, int threads);
// gx[i] += g[i] where x[i] passes (lo < x <= hi when strictLo, else lo <= x <= hi): the
// gradient mask of ReLU, clamp and the activation quantisers' straight-through estimator.
// assign: gx's old contents are not read, the loop runs as if gx were all +0 (gx[i] = 0.0f + g[i]
// where x passes, else +0: the bits of zero-filling gx first, without that pass).
void maskedAccumulate(const float* x, const float* g, float* gx, size_t n, float lo, float hi, bool strictLo,
                      int threads, bool assign = false);
// y[i] = a[i] + b[i]
void addForward(const float* a, const float* b, float* y, size_t n, int threads);
// dst[i] += src[i]
void accumulate(float* dst, const float* src, size_t n, int threads);

}  // namespace ftrain
}  // namespace anyprec
