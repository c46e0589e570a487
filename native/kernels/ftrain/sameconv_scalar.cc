// The direct "same" convolution (sameconv.h) at baseline width (the compiler's generic 4-float vectors).
#include "ftrain/sameconv_impl.h"

namespace anyprec {
namespace ftrain {
bool sameConvScalar(const SameConvSpec& s, int threads) { return sameConvDispatch<4>(s, threads); }
}  // namespace ftrain
}  // namespace anyprec
