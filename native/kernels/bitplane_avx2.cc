// TEMPORARY placeholder until the avx2 micro-kernels land: forwards to the scalar reference.
#include "bitplane.h"
namespace anyprec {
const KernelTable kAvx2Table = {"avx2", kScalarTable.packPanel, kScalarTable.bitTile, kScalarTable.ceiling,
                                kScalarTable.ceilingBitsPerIter};
}
