// Max pooling over NHWC tensors (codes or floats). Taps in the padding are skipped, as in
// PyTorch's MaxPool2d; for codes this equals pooling the values, since quantisation is monotone.
#include <algorithm>
#include <atomic>

#include "common/checked.h"
#include "common/threadpool.h"
#include "conv/conv.h"

namespace anyprec {
namespace {

// Walks every output pixel's window over the taps inside the image only, calling
// window(outPixel, inPixel, rows, cols) once per output pixel: the taps are the rows x cols
// pixels from inPixel (NHW order), rows `w` pixels apart. Returns the number of taps stepped
// through, counted from the loops' own bounds: padding is never stepped through (a window of
// 2^31 taps over a tiny input, kernel 2^31 and padding 2^30, took minutes when it was), which a
// test checks by this count instead of by time.
template <typename Window>
size_t walkPoolWindows(const PoolShape& s, int threads, const Window& window) {
  const size_t oh = s.outH(), ow = s.outW(), h = s.h, w = s.w, kh = s.kh, kw = s.kw;
  const size_t strideH = s.strideH, strideW = s.strideW, padH = s.padH, padW = s.padW;
  std::atomic<size_t> steps{0};
  parallelRun(s.n * oh, threads, [&, oh, ow, h, w, kh, kw, strideH, strideW, padH, padW](size_t t) {
    const size_t img = t / oh, oy = t % oh;
    size_t rowSteps = 0;
    const long baseY = static_cast<long>(oy * strideH) - static_cast<long>(padH);
    const long kyBegin = std::max(0L, -baseY);
    const long kyEnd = std::min(static_cast<long>(kh), static_cast<long>(h) - baseY);
    const size_t rows = static_cast<size_t>(kyEnd - kyBegin);
    for (size_t ox = 0; ox < ow; ++ox) {
      const long baseX = static_cast<long>(ox * strideW) - static_cast<long>(padW);
      const long kxBegin = std::max(0L, -baseX);
      const long kxEnd = std::min(static_cast<long>(kw), static_cast<long>(w) - baseX);
      const size_t cols = static_cast<size_t>(kxEnd - kxBegin);
      rowSteps += rows * cols;
      window((img * oh + oy) * ow + ox, (img * h + static_cast<size_t>(baseY + kyBegin)) * w + static_cast<size_t>(baseX + kxBegin),
             rows, cols);
    }
    steps.fetch_add(rowSteps, std::memory_order_relaxed);
  });
  return steps.load();
}

// The max over a window's taps of n channels from `src` (taps `rows` x `cols`, pixel stride
// `channels`, row stride `rowStride` elements) into dst. N > 0: n == N, a constant the compiler
// unrolls, so the running maxima stay in vector registers and dst is written once (the loop
// that updated dst in memory tap by tap took 3.1x the time on the MNIST CNN's first pool at
// batch 64: 0.57 vs 0.18 ms on a Zen 4).
template <size_t N, typename T>
inline void windowMax(const T* __restrict src, size_t rows, size_t cols, size_t channels, size_t rowStride,
                      T* __restrict dst, size_t n) {
  const size_t count = N > 0 ? N : n;
  T acc[N > 0 ? N : 1];
  T* a = N > 0 ? acc : dst;
  for (size_t c = 0; c < count; ++c) a[c] = src[c];
  for (size_t r = 0; r < rows; ++r)
    for (size_t q = r == 0 ? 1 : 0; q < cols; ++q) {
      const T* p = src + r * rowStride + q * channels;
      for (size_t c = 0; c < count; ++c) a[c] = a[c] < p[c] ? p[c] : a[c];
    }
  if (N > 0)
    for (size_t c = 0; c < count; ++c) dst[c] = acc[c];
}

template <typename T>
void maxPoolImpl(const T* x, const PoolShape& s, T* out, int threads) {
  // The channel count in a local: T = uint8_t may alias anything, so a field read through s
  // inside the loop would be reloaded after every store (and the channel loop would not vectorise).
  const size_t channels = s.c, rowStride = s.w * s.c;
  // Codes: 64 channels per pass over the taps, their maxima in registers (3.1x faster on the MNIST
  // CNN's first pool, above). Floats: every channel of a tap in one run, the maxima in dst — the
  // chunked order measured slower there (1.56-1.70 vs 1.43 ms on that pool's float form, Zen 4):
  // a float pool moves 4x the bytes and is bound by memory, which favours whole-pixel runs.
  constexpr size_t kChunk = sizeof(T) == 1 ? 64 : 0;
  walkPoolWindows(s, threads, [=](size_t outPixel, size_t inPixel, size_t rows, size_t cols) {
    if (rows == 0 || cols == 0) return;  // no tap inside the image (a valid shape never has one)
    T* dst = out + outPixel * channels;
    const T* src = x + inPixel * channels;
    size_t c0 = 0;
    if constexpr (kChunk > 0)
      for (; c0 + kChunk <= channels; c0 += kChunk) windowMax<kChunk>(src + c0, rows, cols, channels, rowStride, dst + c0, kChunk);
    if (c0 < channels) windowMax<0>(src + c0, rows, cols, channels, rowStride, dst + c0, channels - c0);
  });
}

}  // namespace

std::string checkPoolShape(const PoolShape& s) {
  if (s.n == 0 || s.h == 0 || s.w == 0 || s.c == 0) return "input dimensions must be positive";
  if (s.kh == 0 || s.kw == 0 || s.strideH == 0 || s.strideW == 0) return "kernel and stride must be positive";
  if (s.padH > s.kh / 2 || s.padW > s.kw / 2) return "padding must be at most half the kernel";
  // padding <= kernel / 2 bounds the padded extent by h + kernel: overflow-free once both are.
  size_t paddedH = 0, paddedW = 0;
  if (!checkedAdd(s.h, s.kh, &paddedH) || !checkedAdd(s.w, s.kw, &paddedW) || paddedH > (SIZE_MAX >> 2) ||
      paddedW > (SIZE_MAX >> 2))
    return "input or window is too large (overflows the address space)";
  if (s.h + 2 * s.padH < s.kh || s.w + 2 * s.padW < s.kw) return "window is larger than the padded input";
  size_t count = 1;
  for (size_t f : {s.n, s.h, s.w, s.c}) {
    if (!checkedMul(count, f, &count)) return "input size n*h*w*c is too large (overflows the address space)";
  }
  count = 1;
  for (size_t f : {s.n, s.outH(), s.outW(), s.c}) {
    if (!checkedMul(count, f, &count)) return "output size is too large (overflows the address space)";
  }
  return "";
}

size_t PoolShape::inputCount() const { return mulOrThrow({n, h, w, c}, "pool input size (n * h * w * c)"); }
size_t PoolShape::outputCount() const { return mulOrThrow({n, outH(), outW(), c}, "pool output size"); }

void maxPool(const uint8_t* x, const PoolShape& s, uint8_t* out, int threads) { maxPoolImpl(x, s, out, threads); }
void maxPool(const float* x, const PoolShape& s, float* out, int threads) { maxPoolImpl(x, s, out, threads); }

size_t maxPoolSteps(const PoolShape& s) {
  return walkPoolWindows(s, 1, [](size_t, size_t, size_t, size_t) {});
}

}  // namespace anyprec
