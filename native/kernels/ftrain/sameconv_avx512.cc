// The direct "same" convolution (sameconv.h) at avx512 width: 16 floats per vector.
#include "ftrain/sameconv_impl.h"

namespace anyprec {
namespace ftrain {
bool sameConvAvx512(const SameConvSpec& s, int threads) { return sameConvDispatch<16>(s, threads); }
}  // namespace ftrain
}  // namespace anyprec
