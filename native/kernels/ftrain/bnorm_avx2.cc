// Batch norm's row loops (bnorm.h) built with the avx2 flags (4 doubles / 8 floats per vector).
#include "ftrain/bnorm_impl.h"

namespace anyprec {
namespace ftrain {
const BnRows bnRowsAvx2 = kBnRows;
}  // namespace ftrain
}  // namespace anyprec
