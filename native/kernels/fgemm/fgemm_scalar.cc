// Scalar reference of the float32 micro-kernel: the plainest correct form (see fgemm.h).
#include "fgemm/fgemm.h"

namespace anyprec {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 16;

void tileScalar(const FloatTileArgs& t) {
  float acc[kMr][kNr] = {};
  for (size_t k = 0; k < t.kc; ++k) {
    const float* a = t.a + k * kMr;
    const float* b = t.b + k * kFloatPanel;
    for (int r = 0; r < kMr; ++r) {
      for (int c = 0; c < kNr; ++c) acc[r][c] += a[r] * b[c];
    }
  }
  for (int r = 0; r < t.rows; ++r) {
    float* c = t.c + static_cast<size_t>(r) * t.ldc;
    for (int j = 0; j < t.cols; ++j) c[j] = t.bias != nullptr ? acc[r][j] + t.bias[j] : c[j] + acc[r][j];
  }
}

// Ceiling loop: 8 independent multiply-add chains (the compiler may fuse or vectorise them);
// the returned sum keeps them alive.
float ceilingScalar(uint64_t iterations) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (uint64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.9999f + 1e-7f;
  }
  float s = 0;
  for (int i = 0; i < 8; ++i) s += acc[i];
  return s;
}

}  // namespace

// No dot kernel: the reference always runs the packed path.
const FloatKernelTable kScalarFloatTable = {"scalar", kMr, kNr, tileScalar, nullptr, ceilingScalar, 16};

}  // namespace anyprec
