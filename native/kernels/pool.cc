// Max pooling over NHWC tensors (codes or floats). Taps in the padding are skipped, as in
// PyTorch's MaxPool2d; for codes this equals pooling the values, since quantisation is monotone.
#include <algorithm>

#include "bitgemm.h"
#include "threadpool.h"

namespace anyprec {
namespace {

template <typename T>
void maxPoolImpl(const T* x, const PoolShape& s, T* out, int threads) {
  const size_t oh = s.outH(), ow = s.outW();
  parallelRun(s.n * oh, threads, [&](size_t t) {
    const size_t img = t / oh, oy = t % oh;
    for (size_t ox = 0; ox < ow; ++ox) {
      T* dst = out + ((img * oh + oy) * ow + ox) * s.c;
      bool first = true;
      for (size_t ky = 0; ky < s.kh; ++ky) {
        const long iy = static_cast<long>(oy * s.strideH + ky) - static_cast<long>(s.padH);
        if (iy < 0 || iy >= static_cast<long>(s.h)) continue;
        for (size_t kx = 0; kx < s.kw; ++kx) {
          const long ix = static_cast<long>(ox * s.strideW + kx) - static_cast<long>(s.padW);
          if (ix < 0 || ix >= static_cast<long>(s.w)) continue;
          const T* src = x + ((img * s.h + iy) * s.w + ix) * s.c;
          if (first) {
            std::copy(src, src + s.c, dst);
            first = false;
          } else {
            for (size_t c = 0; c < s.c; ++c) dst[c] = std::max(dst[c], src[c]);
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
