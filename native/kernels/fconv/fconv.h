// anyprec kernels, fconv family: the float32 convolution (and dense layer) of a network's
// full-precision layers, without a lowered matrix. Pure C++17 (no Node-API); ISA-independent:
// it runs the fgemm family's micro-kernels and the eltwise family's row loops of the Platform
// it is given, so a new ISA needs nothing here.
//
//   out[m][o] = epilogue( sum_t window(x, m)[t] * W[o][t] (+ bias[o]) )
//
// m = (image, oy, ox) is an output position, t = (ky, kx, c) a tap of its window (conv/conv.h's
// ConvShape and column order; taps outside the image read 0), W the weights (O x K, row-major,
// K = kh * kw * c) packed once with packFloatPanels (fgemm/fgemm.h) and reused on every call.
// The rows of A are packed straight from the NHWC input into the micro-kernels' panels, one
// panel at a time (implicit GEMM): a 1x1 strided conv reads its strided pixels in place, a 3x3
// reads its window, and nothing the size of im2col is ever written. A dense layer is the 1x1
// conv of a 1x1 image with K channels.
//
// Exactness: the sums are floatGemm's, operation for operation (same micro-kernels, K blocks
// and bias step), so for one ISA the result is bit-identical to im2colFloat + floatGemm + the
// eltwise pass below, and it keeps floatGemm's contract (fgemm.h): within
// (K + 2) * 2^-24 * (sum_t |x * w| + |bias|) of the exact sum, independent of the thread count
// and of the batch (each output is summed the same way whatever rows share its task).
//
// The epilogue, per output channel o, the eltwise row loops (eltwise/epilogue.h) bit for bit:
//   y = acc * scale[o] + shift[o]        (scale / shift null: 1 / 0)
//   codeBits == 0:  out = min(max(y, lo), hi) as float          (channelAffine)
//   codeBits 1..8:  out = round_half_even(clamp(y, 0, 1) * (2^bits - 1)) as uint8 (quantizeActivations)
// Float output only, after that (a residual block's sum and the next block's input in one pass):
//   residual:       out += residual[m][o]                          (addFloats: one float32 add)
//   next:           next[m][o] = min(max(out * nextScale[o] + nextShift[o], nextLo), nextHi) as
//                   float (nextBits 0: channelAffine of out) or its codes (nextBits 1..8:
//                   quantizeActivations of out), from the stored out
// so the fused result has the bits of the separate passes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/align.h"
#include "conv/conv.h"
#include "fgemm/fgemm.h"

namespace anyprec {

struct Platform;

struct FloatConvSpec {
  const float* x = nullptr;        // NHWC input, shape.inputCount() floats
  ConvShape shape{};               // checkConvShape(shape) must have passed
  const float* wPacked = nullptr;  // floatPackedSize(outChannels, shape.k()) floats (packFloatPanels)
  size_t outChannels = 0;          // >= 1
  const float* bias = nullptr;     // outChannels values summed like floatGemm's bias, or nullptr
  const float* scale = nullptr;    // epilogue: outChannels values or nullptr
  const float* shift = nullptr;
  float lo = -__builtin_inff(), hi = __builtin_inff();
  int codeBits = 0;                // 0: float output; 1..8: uint8 codes
  // Float output only (codeBits 0), each optional:
  const float* residual = nullptr;  // shape.rows() x outChannels floats added to the output, or nullptr
  void* next = nullptr;             // a second output (floats, or bytes with nextBits), or nullptr
  const float* nextScale = nullptr;  // with next: outChannels values or nullptr (1)
  const float* nextShift = nullptr;  // with next: outChannels values or nullptr (0)
  float nextLo = -__builtin_inff(), nextHi = __builtin_inff();
  int nextBits = 0;                 // 0: float second output; 1..8: its codes
};

// Empty if the spec's own fields are consistent (output channels >= 1, code bits 0..8, lo <= hi
// or NaN-free bounds, a residual or second output only with float output), else what is wrong. The geometry is checkConvShape's.
std::string checkFloatConvSpec(const FloatConvSpec& s);

// Independent output-block tasks (any order, any threads). `out` holds shape.rows() x
// outChannels floats (codeBits 0) or bytes (codes), row-major (NHWC output).
class FloatConvPlan {
 public:
  FloatConvPlan(const Platform& isa, const FloatConvSpec& spec, void* out);
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;

 private:
  const Platform& isa_;
  FloatConvSpec s_;
  void* out_;
  size_t rows_, k_;
  FloatTiling tiling_;
  size_t taskRows_, tasksM_, tasksN_;
  bool epilogue_;              // false: the sums are the output (no scale, shift or clamp)
  bool indirect_;              // the ISA's indirect kernel (window rows read in place), no packing
  bool strided_;               // the ISA's strided kernel: tiles of one output row, one pointer per window row
  AlignedArray<float> bias_;   // bias padded to floatPaddedCols(outChannels), zeros if none
  AlignedArray<float> zeros_;  // kw * c zeros: a window row outside the image (indirect path)
  void indirectBlock(const void* window, size_t row0, size_t row1, float* c, size_t ldc) const;
  void stridedBlock(size_t row0, size_t row1, float* c, size_t ldc, bool finish) const;
};

void floatConv(const Platform& isa, const FloatConvSpec& spec, void* out, int threads);

}  // namespace anyprec
