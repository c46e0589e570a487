// Max pooling over NHWC tensors (codes or floats). Taps in the padding are skipped, as in
// PyTorch's MaxPool2d; for codes this equals pooling the values, since quantisation is monotone.
#include <algorithm>

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

template <typename T>
void maxPoolImpl(const T* x, const PoolShape& s, T* out, int threads) {
  // Every size in a local: T = uint8_t may alias anything, so fields read through s inside the
  // loops would be reloaded after every store (and the channel loops would not vectorise).
  const size_t oh = s.outH(), ow = s.outW(), channels = s.c, h = s.h, w = s.w, kh = s.kh, kw = s.kw;
  const size_t strideH = s.strideH, strideW = s.strideW, padH = s.padH, padW = s.padW;
  parallelRun(s.n * oh, threads, [=](size_t t) {
    const size_t img = t / oh, oy = t % oh;
    for (size_t ox = 0; ox < ow; ++ox) {
      T* dst = out + ((img * oh + oy) * ow + ox) * channels;
      bool first = true;
      // Only the taps inside the image, in the same order: a window of 2^31 taps over a tiny
      // input (kernel 2^31, padding 2^30) took minutes stepping through its padding.
      const long baseY = static_cast<long>(oy * strideH) - static_cast<long>(padH);
      const long baseX = static_cast<long>(ox * strideW) - static_cast<long>(padW);
      const long kyEnd = std::min(static_cast<long>(kh), static_cast<long>(h) - baseY);
      const long kxEnd = std::min(static_cast<long>(kw), static_cast<long>(w) - baseX);
      for (long ky = std::max(0L, -baseY); ky < kyEnd; ++ky) {
        const long iy = baseY + ky;
        for (long kx = std::max(0L, -baseX); kx < kxEnd; ++kx) {
          const long ix = baseX + kx;
          const T* src = x + ((img * h + static_cast<size_t>(iy)) * w + static_cast<size_t>(ix)) * channels;
          if (first) {
            for (size_t c = 0; c < channels; ++c) dst[c] = src[c];
            first = false;
          } else {
            maxInto(dst, src, channels);
          }
        }
      }
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

}  // namespace anyprec
