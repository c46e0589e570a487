// The reference-order weight-gradient GEMM (wgrad.h) at avx512 width: 16 floats per vector,
// 8 x 2 vector register block.
#include "ftrain/wgrad_impl.h"

namespace anyprec {
namespace ftrain {
void wgradAvx512(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads) {
  wgradExact<16, 8, 2>(m, n, k, a, b, c, accumulate, threads);
}
}  // namespace ftrain
}  // namespace anyprec
