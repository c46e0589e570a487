// anyprec kernels, conv family: convolution lowering onto the GEMMs (im2col for floats; for codes,
// lowering and packing in one pass so the lowered matrix is never materialised) and max pooling.
// Pure C++17 (no Node-API). Every size here is formed with overflow checks (common/checked.h):
// checkConvShape / checkPoolShape refuse a geometry whose sizes do not fit, and the size helpers
// throw SizeError, so a hostile geometry (kernel or stride 2^31, padding 2^30) is an error, never
// a wrapped size and a short buffer. A low-bit convolution engine (direct bit-serial convolution
// without lowering) belongs in this folder, on the same ConvShape and the same checks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace anyprec {

struct Platform;

// Input codes NHWC (uint8); the lowered matrix has one row per output position (n, oh, ow) and
// K = KH*KW*C columns ordered (kh, kw, c); taps outside the image read code 0 (zero padding).
// outH()/outW() are plain arithmetic, valid once checkConvShape() has passed; the products are
// checked (SizeError on overflow).
struct ConvShape {
  size_t n, h, w, c;       // input
  size_t kh, kw;           // kernel
  size_t strideH, strideW, padH, padW, dilH, dilW;
  size_t outH() const { return (h + 2 * padH - dilH * (kh - 1) - 1) / strideH + 1; }
  size_t outW() const { return (w + 2 * padW - dilW * (kw - 1) - 1) / strideW + 1; }
  size_t rows() const;        // n * outH * outW
  size_t k() const;           // kh * kw * c
  size_t inputCount() const;  // n * h * w * c
};
// Empty string if the shape is valid (positive sizes, the dilated kernel inside the padded input,
// and every size above representable), else what is wrong.
std::string checkConvShape(const ConvShape& s);
// Floats of im2colFloat's output, rows() * k(); throws SizeError if that buffer may not be allocated.
size_t im2colFloatCount(const ConvShape& s);

// Float lowering for full-precision convolutions: out is rows() x k(), same order as above.
void im2colFloat(const float* x, const ConvShape& s, float* out, int threads);
// Lowers and packs: out/planePop sized as pack() (bitplane/pack.h) for rows() x k() with `planes`
// planes, exactly pack() of the lowered matrix. The zero-padded input is first split into bit
// streams once (each pixel's C channel bits become C consecutive bits per plane); each lowered
// row is then assembled from runs of those streams (one run of kw*C bits per kernel row, or one
// of C bits per tap with dilation) straight into its panel, with its popcounts.
void packConvInput(const Platform& isa, const uint8_t* codes, const ConvShape& s, int planes, uint64_t* out,
                   int32_t* planePop, int threads);
// The reference form of packConvInput (same output): gathers 8 output positions' codes into a
// buffer and packs it as one panel with the ISA's packPanel. Tests compare the two.
void packConvInputReference(const Platform& isa, const uint8_t* codes, const ConvShape& s, int planes,
                            uint64_t* out, int32_t* planePop, int threads);

// ---- pooling ---------------------------------------------------------------------------------
struct PoolShape {
  size_t n, h, w, c, kh, kw, strideH, strideW, padH, padW;
  size_t outH() const { return (h + 2 * padH - kh) / strideH + 1; }
  size_t outW() const { return (w + 2 * padW - kw) / strideW + 1; }
  size_t inputCount() const;   // n * h * w * c (checked)
  size_t outputCount() const;  // n * outH * outW * c (checked)
};
std::string checkPoolShape(const PoolShape& s);
// NHWC max pooling; padded taps are skipped (every window holds at least one real tap).
void maxPool(const uint8_t* x, const PoolShape& s, uint8_t* out, int threads);
void maxPool(const float* x, const PoolShape& s, float* out, int threads);
// The number of taps maxPool's loops step through for this geometry (of a valid shape): the taps
// inside the image, never the padding. For tests: a hang check that counts instead of timing.
size_t maxPoolSteps(const PoolShape& s);

}  // namespace anyprec
