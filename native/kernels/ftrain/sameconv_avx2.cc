// The direct "same" convolution (sameconv.h) at avx2 width: 8 floats per vector; tiles of 6 pixels
// x 2 vectors or 12 pixels x 1 vector (12 accumulators: with the 2 weight vectors, the broadcast
// input and a product, AVX2's 16 registers; the 4 x 4 and 8 x 2 tiles spilled accumulators).
#include "ftrain/sameconv_impl.h"

namespace anyprec {
namespace ftrain {
bool sameConvAvx2(const SameConvSpec& s, int threads) { return sameConvDispatch<8, 0, 6, 12>(s, threads); }
}  // namespace ftrain
}  // namespace anyprec
