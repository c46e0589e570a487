// The direct "same" convolution (sameconv.h) at neon width: 4 floats per vector.
#include "ftrain/sameconv_impl.h"

namespace anyprec {
namespace ftrain {
bool sameConvNeon(const SameConvSpec& s, int threads) { return sameConvDispatch<4>(s, threads); }
}  // namespace ftrain
}  // namespace anyprec
