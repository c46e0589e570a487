// AVX2 gated GEMM micro-kernels: the portable forms of gated_generic.h compiled with the avx2 flags
// of sources.json, so every word of the compacted list costs one popcnt instruction.
//
// The compacted list is walked one output at a time with scalar popcnt (at best 64 bit-MACs per
// cycle; the AVX2 bit-plane kernel's vpshufb popcount manages ~128 over dense tiles), which still
// skips work per output: where a micro-tile has many of its outputs on, the hybrid strategy gives
// it to the dense kernel instead (denseTileMinOnAvx2 below).
#include "gated/gated_generic.h"

namespace anyprec {

namespace {
// Measured (bench/native/gated_bench.cc and the group kernel alone, this Xeon, K = 288..576, 1-bit
// weights): the list costs ~4.4x the dense AVX2 kernel per output and plane pair with 2+ pairs,
// ~9x with one pair (the per-output overhead dominates), so a micro-tile runs densely from about
// 64 / ratio outputs on.
int denseTileMinOnAvx2(int lowPlanes, int bPlanes) {
  const int pairs = lowPlanes * bPlanes;
  return pairs == 1 ? 8 : (pairs == 2 ? 15 : 20);
}
}  // namespace

// No fused high planes + gate: the portable form counts one output at a time with scalar popcnt
// (64 bit-MACs per cycle at best) where the AVX2 bit-plane kernel's vpshufb popcount over dense
// tiles manages ~128, so the high planes stay on bitTile and the gate is its own pass.
const GatedKernelTable kAvx2GatedTable = {"avx2", gated_generic::lowGroup, gated_generic::gate, denseTileMinOnAvx2,
                                          nullptr};

}  // namespace anyprec
