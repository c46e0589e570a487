// anyprec training kernels, element-wise loops: see eltwise_train.h.
#include "ftrain/eltwise_train.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/threadpool.h"

namespace anyprec {
namespace ftrain {

namespace {
constexpr size_t kSpan = size_t{1} << 16;  // elements per task (256 KiB of floats)

template <typename Body>
void spans(size_t n, int threads, Body body) {
  if (n <= kSpan) {
    body(size_t{0}, n);
    return;
  }
  parallelRun((n + kSpan - 1) / kSpan, threads, [&](size_t t) { body(t * kSpan, std::min(n, (t + 1) * kSpan)); });
}

// acc + g where both conditions hold, else acc (bit for bit), without a branch.
inline float select(bool above, bool below, float acc, float g) {
  const float sum = acc + g;
  uint32_t a, b;
  std::memcpy(&a, &acc, 4);
  std::memcpy(&b, &sum, 4);
  const uint32_t keep = 0u - static_cast<uint32_t>(above & below);
  const uint32_t r = (b & keep) | (a & ~keep);
  float out;
  std::memcpy(&out, &r, 4);
  return out;
}
}  // namespace

void reluForward(const float* x, float* y, size_t n, int threads) {
  spans(n, threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  });
}

void clampForward(const float* x, float* y, size_t n, float lo, float hi, int threads) {
  spans(n, threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const float v = x[i];
      y[i] = v < lo ? lo : (v > hi ? hi : v);
    }
  });
}

void maskedAccumulate(const float* x, const float* g, float* gx, size_t n, float lo, float hi, bool strictLo,
                      int threads, bool assign) {
  // Branch-free so that it vectorises (a conditional load of g[i] kept the loop scalar and
  // branchy: ~7 ns per element on a random mask): the sum acc + g[i] is formed for every element
  // and its bits kept where x passes, acc's bits elsewhere -- the same single float32 add where x
  // passes, the value untouched where it does not.
  spans(n, threads, [&](size_t i0, size_t i1) {
    if (assign && strictLo) {
      for (size_t i = i0; i < i1; ++i) gx[i] = select(x[i] > lo, x[i] <= hi, 0.0f, g[i]);
    } else if (assign) {
      for (size_t i = i0; i < i1; ++i) gx[i] = select(x[i] >= lo, x[i] <= hi, 0.0f, g[i]);
    } else if (strictLo) {
      for (size_t i = i0; i < i1; ++i) gx[i] = select(x[i] > lo, x[i] <= hi, gx[i], g[i]);
    } else {
      for (size_t i = i0; i < i1; ++i) gx[i] = select(x[i] >= lo, x[i] <= hi, gx[i], g[i]);
    }
  });
}

void addForward(const float* a, const float* b, float* y, size_t n, int threads) {
  spans(n, threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) y[i] = a[i] + b[i];
  });
}

void accumulate(float* dst, const float* src, size_t n, int threads) {
  spans(n, threads, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) dst[i] += src[i];
  });
}

}  // namespace ftrain
}  // namespace anyprec
