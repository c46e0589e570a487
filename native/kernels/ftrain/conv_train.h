// anyprec training kernels, the convolution hot path: forward and backward of a float
// convolution (NHWC input, weights in the lowered column order [out][kh][kw][in]) on the
// platform's per-ISA float micro-kernels (fgemm), with the lowered input kept in a per-thread
// scratch buffer reused across calls instead of a fresh allocation per layer and step.
//
// Summation order. A "same"-padded convolution (3x3 pad 1, ...) whose output channels split into
// the ISA's vectors runs its forward on the direct kernel (sameconv.h: bias, then the taps and
// input channels in increasing order), and at stride 1 its input gradient too; any other's forward is floatGemm's
// (im2colFloat, then C = cols . W^T + bias), bit for bit, and its input gradient floatGemm's
// (gy . wCol) then col2im's; the weight gradient is summed over the output
// positions in increasing order, one rounding per product and per add (wgrad.h), as ftrain::gemmT
// does: bit-identical on every ISA and thread count, the lowering read in place from x where the
// channels fit the ISA's vectors (wgradConv), else lowered into the scratch.
#pragma once
#include <cstddef>

namespace anyprec {
struct ConvShape;
struct FloatKernelTable;

namespace ftrain {

// y (rows x o) = im2col(x) . wCol^T (+ bias[o] if bias != nullptr).
void convForward(const FloatKernelTable& isa, const float* x, const ConvShape& s, const float* wCol, size_t o,
                 const float* bias, float* y, int threads);

// Given gy (rows x o): gwCol (o x k) += gy^T . im2col(x); gx (NHWC, like x) += col2im(gy . wCol)
// when gx != nullptr (gxAssign: gx's contents unread, the result and its bits those of a
// zero-filled gx). x's lowering is read in place or recomputed, never kept from the forward.
void convBackward(const FloatKernelTable& isa, const float* x, const ConvShape& s, const float* wCol, size_t o,
                  const float* gy, float* gwCol, float* gx, int threads, bool gxAssign = false);

}  // namespace ftrain
}  // namespace anyprec
