// The direct "same" convolution (sameconv.h) at avx2 width: 8 floats per vector.
#include "ftrain/sameconv_impl.h"

namespace anyprec {
namespace ftrain {
bool sameConvAvx2(const SameConvSpec& s, int threads) { return sameConvDispatch<8>(s, threads); }
}  // namespace ftrain
}  // namespace anyprec
