// Max pooling over NHWC tensors (codes or floats). Taps in the padding are skipped, as in
// PyTorch's MaxPool2d; for codes this equals pooling the values, since quantisation is monotone.
#include <algorithm>

#include "bitgemm.h"
#include "threadpool.h"

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
      for (size_t ky = 0; ky < kh; ++ky) {
        const long iy = static_cast<long>(oy * strideH + ky) - static_cast<long>(padH);
        if (iy < 0 || iy >= static_cast<long>(h)) continue;
        for (size_t kx = 0; kx < kw; ++kx) {
          const long ix = static_cast<long>(ox * strideW + kx) - static_cast<long>(padW);
          if (ix < 0 || ix >= static_cast<long>(w)) continue;
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
  if (s.padH * 2 > s.kh || s.padW * 2 > s.kw) return "padding must be at most half the kernel";
  if (s.h + 2 * s.padH < s.kh || s.w + 2 * s.padW < s.kw) return "window is larger than the padded input";
  return "";
}

void maxPool(const uint8_t* x, const PoolShape& s, uint8_t* out, int threads) { maxPoolImpl(x, s, out, threads); }
void maxPool(const float* x, const PoolShape& s, float* out, int threads) { maxPoolImpl(x, s, out, threads); }

}  // namespace anyprec
