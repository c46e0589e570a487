// anyprec kernels, eltwise family: whole-tensor element-wise entries (activation quantiser,
// codes to float, per-channel affine, residual add), split over threads; each row loop is the platform's
// EpilogueTable (eltwise/epilogue.h), so every ISA gives bit-identical results.
#pragma once
#include <cstddef>
#include <cstdint>

namespace anyprec {

struct Platform;

// Activation quantiser alone (for float tensors, e.g. after a residual add): per channel
// c = i % channels, y = x * scale[c] + shift[c] (scale/shift may be null: 1 and 0), then
// q = round_half_even(clamp(y, 0, 1) * (2^bits - 1)). Same float32 steps as the GEMM epilogue.
// n must be a multiple of channels (channels >= 1).
void quantizeActivations(const Platform& isa, const float* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads);
// The same over int32 values (e.g. a GEMM's results): y = float(x) * scale[c] + shift[c], ...
void quantizeActivations(const Platform& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads);

// out[i] = table[codes[i]] for n codes (every code < the table's length: the caller checks).
void codesToFloat(const Platform& isa, const uint8_t* codes, size_t n, const float* table, float* out, int threads);

// Per channel c = i % channels: y = x * scale[c] + shift[c] (null: 1 and 0), clamped to [lo, hi];
// float32 steps as the epilogue. In place is allowed (out == x).
void channelAffine(const Platform& isa, const float* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads);
// The same over int32 values: y = float(x) * scale[c] + shift[c], clamped (never in place).
void channelAffine(const Platform& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads);

// Codes split at bit `lowBits` (1..7): hi[i] = codes[i] >> lowBits, lo[i] = codes[i] & (2^lowBits - 1)
// (a gated layer's high and low codes). hi and lo must not overlap codes or each other.
void splitCodes(const uint8_t* codes, size_t n, int lowBits, uint8_t* hi, uint8_t* lo, int threads);

// out[i] = a[i] + b[i] in float32 (a residual add), n values; out may be a or b.
void addFloats(const float* a, const float* b, size_t n, float* out, int threads);

// Layout: n images of c x h x w floats (NCHW) copied to n x h x w x c (NHWC, what the convolutions
// read): transposeFloats below with rows = c, cols = h * w and no clamp. out must not overlap x.
void nchwToNhwc(const Platform& isa, const float* x, size_t n, size_t c, size_t h, size_t w, float* out, int threads);
// Per image, rows x cols floats (row-major) to cols x rows, every value clamped to [lo, hi] as
// channelAffine clamps without scale and shift (+-inf: a plain copy), through the platform's
// transposeClamp: NCHW -> NHWC is rows = c, cols = h * w; NHWC -> NCHW rows = h * w, cols = c.
// out must not overlap x.
void transposeFloats(const Platform& isa, const float* x, size_t n, size_t rows, size_t cols, float lo, float hi,
                     float* out, int threads);
// Global average pool of NHWC [n, h, w, c] floats to [n, c], in the reference's order and float32
// steps: per channel, each column's sum over y = 0..h-1 divided by h, those summed over x = 0..w-1,
// then divided by w. out must not overlap x.
void globalAvgPool(const float* x, size_t n, size_t h, size_t w, size_t c, float* out, int threads);

}  // namespace anyprec
