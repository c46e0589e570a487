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

}  // namespace

const FloatKernelTable kScalarFloatTable = {"scalar", kMr, kNr, tileScalar};

}  // namespace anyprec
