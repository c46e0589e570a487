// NEON float32 micro-kernel (see fgemm.h); baseline ARMv8-A Advanced SIMD.
// Register block: 6 rows x 16 columns (one B panel) = 24 q accumulators, 4 q of B per step and
// the step's 6 A values in 2 q registers (the last 2 lanes unused; the driver leaves spare
// floats after the packed A), used through vfmaq_laneq_f32: 30 of the 32 q registers.
#include <arm_neon.h>

#include "fgemm/fgemm.h"

namespace anyprec {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

template <int R>
inline void fmaRow(float32x4_t (&acc)[kMr][4], const float32x4_t (&b)[4], float32x4_t a) {
  constexpr int lane = R % 4;
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) acc[R][j] = vfmaq_laneq_f32(acc[R][j], b[j], a, lane);
}

void tileNeon(const FloatTileArgs& t) {
  float32x4_t acc[kMr][4];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) acc[r][j] = vdupq_n_f32(0.0f);
  const float* a = t.a;
  const float* bp = t.b;
  const size_t kc = t.kc;
  for (size_t k = 0; k < kc; ++k, a += kMr, bp += kFloatPanel) {
    const float32x4_t b[4] = {vld1q_f32(bp), vld1q_f32(bp + 4), vld1q_f32(bp + 8), vld1q_f32(bp + 12)};
    const float32x4_t a03 = vld1q_f32(a), a47 = vld1q_f32(a + 4);
    fmaRow<0>(acc, b, a03);
    fmaRow<1>(acc, b, a03);
    fmaRow<2>(acc, b, a03);
    fmaRow<3>(acc, b, a03);
    fmaRow<4>(acc, b, a47);
    fmaRow<5>(acc, b, a47);
  }
  const float* bias = t.bias;
  if (t.cols == kNr) {
    // Compile-time row indices keep the accumulators in registers (no spill in the K loop).
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      if (r >= t.rows) break;
      float* c = t.c + static_cast<size_t>(r) * t.ldc;
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const float32x4_t add = bias ? vld1q_f32(bias + 4 * j) : vld1q_f32(c + 4 * j);
        vst1q_f32(c + 4 * j, vaddq_f32(acc[r][j], add));
      }
    }
    return;
  }
  float buf[kMr][kNr];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) vst1q_f32(buf[r] + 4 * j, acc[r][j]);
  for (int r = 0; r < t.rows; ++r) {
    float* c = t.c + static_cast<size_t>(r) * t.ldc;
    for (int j = 0; j < t.cols; ++j) c[j] = bias ? buf[r][j] + bias[j] : c[j] + buf[r][j];
  }
}

// 16 independent q-register FMA chains: enough to cover the FMA latency on common cores.
constexpr int kCeilingChains = 16;
float ceilingNeon(uint64_t iterations) {
  float32x4_t acc[kCeilingChains];
  for (int i = 0; i < kCeilingChains; ++i) acc[i] = vdupq_n_f32(0.001f * static_cast<float>(i));
  const float32x4_t x = vdupq_n_f32(0.9999f), y = vdupq_n_f32(1e-7f);
  for (uint64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kCeilingChains; ++i) acc[i] = vfmaq_f32(y, acc[i], x);
  }
  float32x4_t s = acc[0];
  for (int i = 1; i < kCeilingChains; ++i) s = vaddq_f32(s, acc[i]);
  return vaddvq_f32(s);
}

}  // namespace

// No dot kernel yet: small-M GEMMs run the packed path on NEON.
const FloatKernelTable kNeonFloatTable = {"neon", kMr, kNr, tileNeon, nullptr, ceilingNeon, kCeilingChains * 8};

}  // namespace anyprec
