// The reference-order weight-gradient GEMM (wgrad.h) at avx2 width: 8 floats per vector,
// 4 x 2 vector register block.
#include "ftrain/wgrad_impl.h"

namespace anyprec {
namespace ftrain {
void wgradAvx2(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads) {
  wgradExact<8, 4, 2>(m, n, k, a, b, c, accumulate, threads);
}
}  // namespace ftrain
}  // namespace anyprec
