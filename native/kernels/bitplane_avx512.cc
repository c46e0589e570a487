// TEMPORARY placeholder until the avx512 micro-kernels land: forwards to the scalar reference.
#include "bitplane.h"
namespace anyprec {
const KernelTable kAvx512Table = {"avx512", kScalarTable.packPanel, kScalarTable.bitTile, kScalarTable.ceiling,
                                kScalarTable.ceilingBitsPerIter};
}
