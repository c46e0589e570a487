// Batch norm's row loops (bnorm.h) built with the baseline flags (the reference the other instances must equal bit for bit).
#include "ftrain/bnorm_impl.h"

namespace anyprec {
namespace ftrain {
const BnRows bnRowsScalar = kBnRows;
}  // namespace ftrain
}  // namespace anyprec
