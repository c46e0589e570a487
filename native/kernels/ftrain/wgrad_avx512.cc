// The reference-order weight-gradient GEMM (wgrad.h) at avx512 width: 16 floats per vector,
// 8 x 2 vector register block
// (the convolution form: 8 x 3 vectors along a kernel row where its kw * c floats split
// so, else that block where the channels split into 2-vector chunks, else 1 vector x twice
// the rows).
#include "ftrain/wgrad_impl.h"

namespace anyprec {
namespace ftrain {
void wgradAvx512(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads) {
  wgradDispatch<16, 8, 2>(m, n, k, a, b, c, accumulate, threads);
}
bool wgradConvAvx512(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                     int threads) {
  return wgradConvDispatch<16, 8, 8>(x, s, o, gy, gw, accumulate, threads);
}
}  // namespace ftrain
}  // namespace anyprec
