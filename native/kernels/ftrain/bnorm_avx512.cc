// Batch norm's row loops (bnorm.h) built with the avx512 flags (8 doubles / 16 floats per vector).
#include "ftrain/bnorm_impl.h"

namespace anyprec {
namespace ftrain {
const BnRows bnRowsAvx512 = kBnRows;
}  // namespace ftrain
}  // namespace anyprec
