// The reference-order weight-gradient GEMM (wgrad.h) at avx2 width: 8 floats per vector,
// 6 x 2 vector register block (12 accumulators, 2 B vectors, the broadcast and a product: AVX2's
// 16 registers; a 4 x 3 block spilled an accumulator to the stack, a store and reload on its add
// chain). The convolution form: 6 x 2 vectors along a kernel row where its kw * c floats split
// so, else 4 x 2 where the channels split into 2-vector chunks, else 1 vector x 8 rows.
#include "ftrain/wgrad_impl.h"

namespace anyprec {
namespace ftrain {
void wgradAvx2(size_t m, size_t n, size_t k, const float* a, const float* b, float* c, bool accumulate, int threads) {
  wgradDispatch<8, 6, 2>(m, n, k, a, b, c, accumulate, threads);
}
bool wgradConvAvx2(const float* x, const ConvShape& s, size_t o, const float* gy, float* gw, bool accumulate,
                   int threads) {
  return wgradConvDispatch<8, 4, 6, 2>(x, s, o, gy, gw, accumulate, threads);
}
}  // namespace ftrain
}  // namespace anyprec
