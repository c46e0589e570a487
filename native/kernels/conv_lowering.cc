// Convolution lowered onto the bit-serial GEMM: gather 8 output positions' receptive fields
// (NHWC codes, (kh, kw, c) order, zero padding) into a small buffer and pack it as one panel.
// The full lowered matrix is never materialised.
#include <algorithm>
#include <cstring>
#include <vector>

#include "bitgemm.h"
#include "threadpool.h"

namespace anyprec {

std::string checkConvShape(const ConvShape& s) {
  if (s.n == 0 || s.h == 0 || s.w == 0 || s.c == 0) return "input dimensions must be positive";
  if (s.kh == 0 || s.kw == 0) return "kernel size must be positive";
  if (s.strideH == 0 || s.strideW == 0) return "stride must be positive";
  if (s.dilH == 0 || s.dilW == 0) return "dilation must be positive";
  if (s.h + 2 * s.padH < s.dilH * (s.kh - 1) + 1 || s.w + 2 * s.padW < s.dilW * (s.kw - 1) + 1)
    return "kernel (with dilation) is larger than the padded input";
  return "";
}

namespace {
// Copies the receptive field of output position `pos` into dst (k() elements). With dilation 1 a
// kernel row's in-image taps are adjacent pixels, so each kernel row is one copy (kw * c values)
// plus the zeros of the taps in the padding: one memcpy per kernel row instead of one per tap
// (with c = 1..32 the call overhead per tap dominated the lowering).
// Output positions in order without a division per row (three 64-bit divisions per row were a
// quarter of the lowering's time): (img, y, x) of position `pos`, then step() to pos + 1.
struct PositionWalk {
  size_t oh, ow, img, y, x;
  PositionWalk(const ConvShape& s, size_t pos) : oh(s.outH()), ow(s.outW()) {
    img = pos / (oh * ow);
    y = (pos / ow) % oh;
    x = pos % ow;
  }
  void step() {
    if (++x < ow) return;
    x = 0;
    if (++y < oh) return;
    y = 0;
    ++img;
  }
};

template <typename T>
void gatherRow(const T* x, const ConvShape& s, const PositionWalk& at, T* dst) {
  const size_t c = s.c, kw = s.kw;
  const size_t img = at.img, y = at.y, xo = at.x;
  const long h = static_cast<long>(s.h), w = static_cast<long>(s.w);
  const long ix0 = static_cast<long>(xo * s.strideW) - static_cast<long>(s.padW);  // tap kx = 0
  for (size_t ky = 0; ky < s.kh; ++ky, dst += kw * c) {
    const long iy = static_cast<long>(y * s.strideH + ky * s.dilH) - static_cast<long>(s.padH);
    if (iy < 0 || iy >= h) {
      std::memset(dst, 0, kw * c * sizeof(T));
      continue;
    }
    const T* row = x + (img * s.h + static_cast<size_t>(iy)) * s.w * c;
    if (s.dilW == 1) {
      // taps kx in [first, last) are inside the image
      const long first = std::min<long>(static_cast<long>(kw), std::max<long>(0, -ix0));
      const long last = std::max<long>(first, std::min<long>(static_cast<long>(kw), w - ix0));
      if (first > 0) std::memset(dst, 0, static_cast<size_t>(first) * c * sizeof(T));
      if (last > first)
        std::memcpy(dst + static_cast<size_t>(first) * c, row + static_cast<size_t>(ix0 + first) * c,
                    static_cast<size_t>(last - first) * c * sizeof(T));
      if (static_cast<size_t>(last) < kw)
        std::memset(dst + static_cast<size_t>(last) * c, 0, (kw - static_cast<size_t>(last)) * c * sizeof(T));
      continue;
    }
    for (size_t kx = 0; kx < kw; ++kx) {
      const long ix = ix0 + static_cast<long>(kx * s.dilW);
      if (ix < 0 || ix >= w) {
        std::memset(dst + kx * c, 0, c * sizeof(T));
      } else {
        std::memcpy(dst + kx * c, row + static_cast<size_t>(ix) * c, c * sizeof(T));
      }
    }
  }
}
}  // namespace

void im2colFloat(const float* x, const ConvShape& s, float* out, int threads) {
  const size_t rows = s.rows(), k = s.k();
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 14) / std::max<size_t>(1, k));
  parallelRun((rows + perTask - 1) / perTask, threads, [&](size_t t) {
    const size_t r0 = t * perTask, r1 = std::min(rows, (t + 1) * perTask);
    PositionWalk at(s, r0);
    for (size_t r = r0; r < r1; ++r, at.step()) gatherRow(x, s, at, out + r * k);
  });
}

void packConvInput(const KernelTable& isa, const uint8_t* codes, const ConvShape& s, int planes,
                   uint64_t* out, int32_t* planePop, int threads) {
  const size_t rows = s.rows(), k = s.k();
  const size_t kWords = kWordsFor(k);
  const size_t panelWords = static_cast<size_t>(planes) * kWords * kPanelRows;
  const size_t panels = panelsFor(rows);
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 15) / std::max<size_t>(1, k * kPanelRows));
  parallelRun((panels + perTask - 1) / perTask, threads, [&](size_t t) {
    thread_local std::vector<uint8_t> buf;
    buf.resize(kPanelRows * k);
    for (size_t p = t * perTask; p < std::min(panels, (t + 1) * perTask); ++p) {
      const size_t r0 = p * kPanelRows;
      const int nRows = static_cast<int>(std::min<size_t>(kPanelRows, rows - r0));
      PositionWalk at(s, r0);
      for (int r = 0; r < nRows; ++r, at.step()) gatherRow(codes, s, at, buf.data() + static_cast<size_t>(r) * k);
      uint64_t* panel = out + p * panelWords;
      PackPanelArgs args{buf.data(), k, nRows, k, planes, kWords, panel};
      isa.packPanel(args);
      isa.panelPops(panel, nRows, planes, kWords, planePop + r0 * planes);
    }
  });
}

}  // namespace anyprec
