// Batch norm's row loops (bnorm.h) built with the arm64 neon (2 doubles / 4 floats per vector).
#include "ftrain/bnorm_impl.h"

namespace anyprec {
namespace ftrain {
const BnRows bnRowsNeon = kBnRows;
}  // namespace ftrain
}  // namespace anyprec
