// Scalar reference of the gated GEMM's micro-kernels (the plainest correct form; every other ISA
// is tested bit for bit against it). Built for the baseline ISA like bitplane_scalar.cc.
#include "gated/gated_generic.h"

namespace anyprec {

namespace {
// The scalar bit-plane kernel also works one output at a time: the list costs no more per output,
// so the hybrid strategy never runs a micro-tile densely here.
int denseTileMinOnScalar(int, int) { return 65; }
}  // namespace

// The fused high planes + gate one output at a time, as the scalar bit-plane kernel works anyway:
// the reference the vector forms are tested against.
const GatedKernelTable kScalarGatedTable = {"scalar", gated_generic::lowGroup, gated_generic::gate, denseTileMinOnScalar,
                                            gated_generic::highGate, gated_generic::gate32};

}  // namespace anyprec
