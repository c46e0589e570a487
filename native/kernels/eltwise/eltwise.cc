// Element-wise drivers: blocks of rows through the platform's epilogue row loops.
#include "eltwise/eltwise.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "common/threadpool.h"
#include "eltwise/epilogue.h"
#include "platform/platform.h"

namespace anyprec {

namespace {
// Per-channel vectors repeated over `rows` rows (null stays null), so a block of rows of a
// [rows, channels] tensor is one flat call of an epilogue row loop: with few channels (16 in the
// first stage of a ResNet) a call per row spent more in the call than in the arithmetic.
struct ChannelBlock {
  size_t rows;
  std::vector<float> scale, shift;
  ChannelBlock(size_t channels, const float* s, const float* h) {
    rows = std::max<size_t>(1, 256 / channels);
    if (s) scale = repeat(s, channels);
    if (h) shift = repeat(h, channels);
  }
  std::vector<float> repeat(const float* v, size_t channels) const {
    std::vector<float> out(rows * channels);
    for (size_t r = 0; r < rows; ++r) std::copy(v, v + channels, out.begin() + static_cast<ptrdiff_t>(r * channels));
    return out;
  }
  const float* scaleOr(const float* s) const { return s ? scale.data() : nullptr; }
  const float* shiftOr(const float* h) const { return h ? shift.data() : nullptr; }
};

// Runs blockFn(row0, rowCount) over the rows of a [rows, channels] tensor in blocks of
// `perBlock` rows, ~64 Ki values per task.
template <typename BlockFn>
void forRowBlocks(size_t n, size_t channels, size_t perBlock, int threads, const BlockFn& blockFn) {
  const size_t rows = n / channels;  // the callers guarantee n % channels == 0
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 16) / channels);
  parallelRun((rows + perTask - 1) / perTask, threads, [&](size_t t) {
    const size_t r1 = std::min(rows, (t + 1) * perTask);
    for (size_t r = t * perTask; r < r1; r += perBlock) blockFn(r, std::min(perBlock, r1 - r));
  });
}
}  // namespace

void codesToFloat(const Platform& isa, const uint8_t* codes, size_t n, const float* table, float* out, int threads) {
  const EpilogueTable& e = *isa.epilogue;
  constexpr size_t kChunk = size_t{1} << 16;
  parallelRun((n + kChunk - 1) / kChunk, threads, [&](size_t t) {
    const size_t i0 = t * kChunk;
    e.codesToFloat(codes + i0, table, out + i0, std::min(kChunk, n - i0));
  });
}

namespace {
// The row loops of one input type: float activations, or int32 GEMM results (converted to float
// first, as the GEMM epilogue does).
inline void affineRows(const EpilogueTable& e, const float* x, const float* s, const float* h, float lo, float hi,
                       float* out, size_t n) {
  e.floatAffine(x, s, h, lo, hi, out, n);
}
inline void affineRows(const EpilogueTable& e, const int32_t* x, const float* s, const float* h, float lo, float hi,
                       float* out, size_t n) {
  e.int32ToFloat(x, s, h, lo, hi, out, n);
}
inline void codeRows(const EpilogueTable& e, const float* x, const float* s, const float* h, float levels,
                     uint8_t* out, size_t n) {
  e.floatToCodes(x, s, h, levels, out, n);
}
inline void codeRows(const EpilogueTable& e, const int32_t* x, const float* s, const float* h, float levels,
                     uint8_t* out, size_t n) {
  e.int32ToCodes(x, s, h, levels, out, n);
}

template <typename T>
void channelAffineOf(const Platform& isa, const T* x, size_t n, size_t channels, const float* scale,
                     const float* shift, float lo, float hi, float* out, int threads) {
  const EpilogueTable& e = *isa.epilogue;
  const ChannelBlock cb(channels, scale, shift);
  const float* bs = cb.scaleOr(scale);
  const float* bh = cb.shiftOr(shift);
  forRowBlocks(n, channels, cb.rows, threads, [&](size_t r, size_t count) {
    affineRows(e, x + r * channels, bs, bh, lo, hi, out + r * channels, count * channels);
  });
}

template <typename T>
void quantizeActivationsOf(const Platform& isa, const T* x, size_t n, size_t channels, const float* scale,
                           const float* shift, int bits, uint8_t* out, int threads) {
  const EpilogueTable& e = *isa.epilogue;
  const float levels = static_cast<float>((1 << bits) - 1);
  const ChannelBlock cb(channels, scale, shift);
  const float* bs = cb.scaleOr(scale);
  const float* bh = cb.shiftOr(shift);
  forRowBlocks(n, channels, cb.rows, threads, [&](size_t r, size_t count) {
    codeRows(e, x + r * channels, bs, bh, levels, out + r * channels, count * channels);
  });
}
}  // namespace

void channelAffine(const Platform& isa, const float* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads) {
  channelAffineOf(isa, x, n, channels, scale, shift, lo, hi, out, threads);
}

void channelAffine(const Platform& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads) {
  channelAffineOf(isa, x, n, channels, scale, shift, lo, hi, out, threads);
}

void quantizeActivations(const Platform& isa, const float* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads) {
  quantizeActivationsOf(isa, x, n, channels, scale, shift, bits, out, threads);
}

void quantizeActivations(const Platform& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads) {
  quantizeActivationsOf(isa, x, n, channels, scale, shift, bits, out, threads);
}

void splitCodes(const uint8_t* codes, size_t n, int lowBits, uint8_t* hi, uint8_t* lo, int threads) {
  // Byte shifts and masks, memory-bound. Everything the loop reads is a local restrict copy: byte
  // stores may alias anything, and through the lambda's captured references every store made the
  // compiler reload the pointers and the shift (scalar, ~4 ns a code; measured).
  const uint8_t mask = static_cast<uint8_t>((1u << lowBits) - 1);
  constexpr size_t kChunk = size_t{1} << 16;
  parallelRun((n + kChunk - 1) / kChunk, threads, [=](size_t t) {
    const size_t i0 = t * kChunk, i1 = std::min(n, i0 + kChunk);
    const uint8_t* __restrict src = codes + i0;
    uint8_t* __restrict h = hi + i0;
    uint8_t* __restrict l = lo + i0;
    const unsigned sh = static_cast<unsigned>(lowBits);
    const uint8_t m = mask;
    for (size_t i = 0; i < i1 - i0; ++i) {
      const unsigned c = src[i];
      h[i] = static_cast<uint8_t>(c >> sh);
      l[i] = static_cast<uint8_t>(c & m);
    }
  });
}

void addFloats(const float* a, const float* b, size_t n, float* out, int threads) {
  // One float32 rounding of the exact sum, like Math.fround(a + b): the loop vectorises as is.
  constexpr size_t kChunk = size_t{1} << 16;
  parallelRun((n + kChunk - 1) / kChunk, threads, [&](size_t t) {
    const size_t i1 = std::min(n, (t + 1) * kChunk);
    for (size_t i = t * kChunk; i < i1; ++i) out[i] = a[i] + b[i];
  });
}

void nchwToNhwc(const Platform& isa, const float* x, size_t n, size_t c, size_t h, size_t w, float* out, int threads) {
  // +-inf bounds: transposeClamp's clamp keeps every value (NaN and -0 too), a plain copy.
  transposeFloats(isa, x, n, c, h * w, -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity(),
                  out, threads);
}

void transposeFloats(const Platform& isa, const float* x, size_t n, size_t rows, size_t cols, float lo, float hi,
                     float* out, int threads) {
  const size_t per = rows * cols;
  const EpilogueTable& e = *isa.epilogue;
  parallelRun(n, threads, [&](size_t i) { e.transposeClamp(x + i * per, rows, cols, lo, hi, out + i * per); });
}

void globalAvgPool(const float* x, size_t n, size_t h, size_t w, size_t c, float* out, int threads) {
  const float fh = static_cast<float>(h), fw = static_cast<float>(w);
  parallelRun(n, threads, [&](size_t i) {
    // Every channel's sums side by side (contiguous in NHWC), each in its own fixed order.
    std::vector<float> col(c), total(c, 0.0f);
    for (size_t xx = 0; xx < w; ++xx) {
      std::fill(col.begin(), col.end(), 0.0f);
      for (size_t y = 0; y < h; ++y) {
        const float* row = x + ((i * h + y) * w + xx) * c;
        for (size_t ch = 0; ch < c; ++ch) col[ch] = col[ch] + row[ch];
      }
      for (size_t ch = 0; ch < c; ++ch) total[ch] = total[ch] + col[ch] / fh;
    }
    for (size_t ch = 0; ch < c; ++ch) out[i * c + ch] = total[ch] / fw;
  });
}

}  // namespace anyprec
