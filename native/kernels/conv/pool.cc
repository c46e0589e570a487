// Max pooling over NHWC tensors (codes or floats). Taps in the padding are skipped, as in
// PyTorch's MaxPool2d; for codes this equals pooling the values, since quantisation is monotone.
#include <algorithm>
#include <atomic>

#include "common/checked.h"
#include "common/threadpool.h"
#include "conv/conv.h"

namespace anyprec {
namespace {

// The element-wise max of a pixel's channels into dst (n values; pointers never overlap).
template <typename T>
inline void maxInto(T* __restrict dst, const T* __restrict src, size_t n) {
  for (size_t c = 0; c < n; ++c) dst[c] = dst[c] < src[c] ? src[c] : dst[c];
}

// Walks every output pixel's window over the taps inside the image only, in row-major tap order,
// calling tap(outPixel, inPixel, first) (pixel indices, NHW order; `first` for a window's first
// tap). Returns the number of taps stepped through, counted by the loops themselves: padding is
// never stepped through (a window of 2^31 taps over a tiny input, kernel 2^31 and padding 2^30,
// took minutes when it was), which a test checks by this count instead of by time.
template <typename Tap>
size_t walkPoolWindows(const PoolShape& s, int threads, const Tap& tap) {
  const size_t oh = s.outH(), ow = s.outW(), h = s.h, w = s.w, kh = s.kh, kw = s.kw;
  const size_t strideH = s.strideH, strideW = s.strideW, padH = s.padH, padW = s.padW;
  std::atomic<size_t> steps{0};
  parallelRun(s.n * oh, threads, [&, oh, ow, h, w, kh, kw, strideH, strideW, padH, padW](size_t t) {
    const size_t img = t / oh, oy = t % oh;
    size_t rowSteps = 0;
    const long baseY = static_cast<long>(oy * strideH) - static_cast<long>(padH);
    const long kyEnd = std::min(static_cast<long>(kh), static_cast<long>(h) - baseY);
    for (size_t ox = 0; ox < ow; ++ox) {
      const size_t outPixel = (img * oh + oy) * ow + ox;
      const long baseX = static_cast<long>(ox * strideW) - static_cast<long>(padW);
      const long kxEnd = std::min(static_cast<long>(kw), static_cast<long>(w) - baseX);
      bool first = true;
      for (long ky = std::max(0L, -baseY); ky < kyEnd; ++ky) {
        const size_t rowBase = (img * h + static_cast<size_t>(baseY + ky)) * w;
        for (long kx = std::max(0L, -baseX); kx < kxEnd; ++kx) {
          ++rowSteps;
          tap(outPixel, rowBase + static_cast<size_t>(baseX + kx), first);
          first = false;
        }
      }
    }
    steps.fetch_add(rowSteps, std::memory_order_relaxed);
  });
  return steps.load();
}

template <typename T>
void maxPoolImpl(const T* x, const PoolShape& s, T* out, int threads) {
  // The channel count in a local: T = uint8_t may alias anything, so a field read through s
  // inside the loop would be reloaded after every store (and the channel loop would not vectorise).
  const size_t channels = s.c;
  walkPoolWindows(s, threads, [=](size_t outPixel, size_t inPixel, bool first) {
    T* dst = out + outPixel * channels;
    const T* src = x + inPixel * channels;
    if (first) {
      for (size_t c = 0; c < channels; ++c) dst[c] = src[c];
    } else {
      maxInto(dst, src, channels);
    }
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
  return walkPoolWindows(s, 1, [](size_t, size_t, bool) {});
}

}  // namespace anyprec
