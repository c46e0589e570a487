// Convolution lowered onto the bit-serial GEMM without materialising the lowered matrix. The
// codes path splits the image into per-plane bit streams once and assembles every lowered row
// from runs of those streams, straight into its packed panel (packConvInput); the reference path
// gathers 8 output positions' receptive fields (NHWC codes, (kh, kw, c) order, zero padding) into
// a small buffer and packs it as one panel (packConvInputReference). Floats: im2colFloat.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "bitplane/bitplane.h"
#include "common/checked.h"
#include "common/threadpool.h"
#include "conv/conv.h"
#include "platform/platform.h"

namespace anyprec {

size_t ConvShape::rows() const { return mulOrThrow({n, outH(), outW()}, "conv output positions (n * outH * outW)"); }
size_t ConvShape::k() const { return mulOrThrow({kh, kw, c}, "conv patch size (kernel[0] * kernel[1] * c)"); }
size_t ConvShape::inputCount() const { return mulOrThrow({n, h, w, c}, "conv input size (n * h * w * c)"); }

namespace {
// Padded extent and dilated kernel span of one axis; false if either overflows (or the padded
// extent would not fit a signed index, which the gather uses).
bool axisSpan(size_t in, size_t pad, size_t kernel, size_t dil, size_t* padded, size_t* span) {
  size_t twoPad = 0, taps = 0;
  if (!checkedMul(pad, 2, &twoPad) || !checkedAdd(in, twoPad, padded)) return false;
  if (!checkedMul(dil, kernel - 1, &taps) || !checkedAdd(taps, 1, span)) return false;
  return *padded <= (SIZE_MAX >> 2);
}

bool productFits(std::initializer_list<size_t> f) {
  size_t r = 1;
  for (size_t v : f) {
    if (!checkedMul(r, v, &r)) return false;
  }
  return true;
}
}  // namespace

std::string checkConvShape(const ConvShape& s) {
  if (s.n == 0 || s.h == 0 || s.w == 0 || s.c == 0) return "input dimensions must be positive";
  if (s.kh == 0 || s.kw == 0) return "kernel size must be positive";
  if (s.strideH == 0 || s.strideW == 0) return "stride must be positive";
  if (s.dilH == 0 || s.dilW == 0) return "dilation must be positive";
  size_t paddedH, spanH, paddedW, spanW;
  if (!axisSpan(s.h, s.padH, s.kh, s.dilH, &paddedH, &spanH) || !axisSpan(s.w, s.padW, s.kw, s.dilW, &paddedW, &spanW))
    return "padded input or dilated kernel is too large (overflows the address space)";
  if (paddedH < spanH || paddedW < spanW) return "kernel (with dilation) is larger than the padded input";
  if (!productFits({s.n, s.h, s.w, s.c})) return "input size n*h*w*c is too large (overflows the address space)";
  if (!productFits({s.kh, s.kw, s.c})) return "patch size kernel[0]*kernel[1]*c is too large (overflows the address space)";
  if (!productFits({s.n, s.outH(), s.outW()}))
    return "output positions n*outH*outW are too many (overflows the address space)";
  if (!productFits({s.n, s.outH(), s.outW(), s.kh, s.kw, s.c}))
    return "lowered matrix (output positions x kernel[0]*kernel[1]*c) is too large (overflows the address space)";
  return "";
}

size_t im2colFloatCount(const ConvShape& s) {
  return bufferOrThrow(mulOrThrow({s.rows(), s.k()}, "im2col output"), sizeof(float), "im2col output");
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
  // Advances by k positions that stay in this output row or end it (x + k <= ow).
  void skipInRow(size_t k) {
    x += k - 1;
    step();
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

void packConvInputReference(const Platform& platform, const uint8_t* codes, const ConvShape& s, int planes,
                            uint64_t* out, int32_t* planePop, int threads) {
  const KernelTable& isa = *platform.bitplane;
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

namespace {
// The input as zero-padded bit streams (bitplane.h: PackStreamsArgs): padded row (img, py) holds
// the w + 2*padW pixels of that row (zeros for padding) and starts at a word boundary, rowWords
// words apart; pixel px's channels are its bits [px*c, px*c + c). A kernel row of adjacent taps
// is then one run of kw*c bits (one run of c bits per tap with dilation), the same for every
// output position: no position needs edge cases.
struct PaddedStreams {
  size_t paddedH = 0, rowWords = 0, rowBits = 0;
  size_t streamWords = 0;  // per plane: every padded row, then kGatherSlackWords of slack
  // false if the padded streams would overflow or dwarf the input and the output (a huge
  // padding with a large stride): the reference path handles such shapes.
  bool plan(const ConvShape& s, int planes, size_t outputWords) {
    size_t paddedW, rowCodes, rows, words, total, budget;
    if (!checkedAdd(s.h, 2 * s.padH, &paddedH) || !checkedAdd(s.w, 2 * s.padW, &paddedW) ||
        !checkedMul(paddedW, s.c, &rowCodes) || !checkedMul(s.n, paddedH, &rows))
      return false;
    rowWords = rowCodes / 64 + (rowCodes % 64 != 0);
    if (!checkedMul(rows, rowWords, &words) || !checkedAdd(words, kGatherSlackWords, &streamWords) ||
        !checkedMul(streamWords, static_cast<size_t>(planes), &total) || !checkedMul(rowWords, 64, &rowBits))
      return false;
    // the unpadded streams' words plus the output's, with room for the padding of small images
    budget = s.inputCount() / 64 * static_cast<size_t>(planes) + outputWords;
    return total / 4 <= budget + (size_t{1} << 14);
  }
};
}  // namespace

void packConvInput(const Platform& platform, const uint8_t* codes, const ConvShape& s, int planes, uint64_t* out,
                   int32_t* planePop, int threads) {
  const size_t rows = s.rows(), k = s.k(), c = s.c;
  const size_t kWords = kWordsFor(k);
  const size_t panelWords = static_cast<size_t>(planes) * kWords * kPanelRows;
  const size_t panels = panelsFor(rows);
  PaddedStreams ps;
  if (!ps.plan(s, planes, panels * panelWords)) {
    packConvInputReference(platform, codes, s, planes, out, planePop, threads);
    return;
  }
  const KernelTable& isa = *platform.bitplane;
  const size_t stride = ps.streamWords;
  std::unique_ptr<uint64_t[]> streams(new uint64_t[static_cast<size_t>(planes) * stride]);

  // 1. The padded streams, a group of padded rows per task (~64 KiB of codes).
  const size_t paddedRows = s.n * ps.paddedH, rowCodes = s.w * c, leftCodes = s.padW * c;
  const size_t rowsPerTask = std::max<size_t>(1, (size_t{1} << 16) / std::max<size_t>(1, ps.rowBits));
  parallelRun((paddedRows + rowsPerTask - 1) / rowsPerTask, threads, [&](size_t t) {
    std::vector<uint8_t> padded;  // one padded row of codes, zero around the image's (padW > 0)
    if (leftCodes > 0) padded.assign(ps.rowBits, 0);
    for (size_t pr = t * rowsPerTask; pr < std::min(paddedRows, (t + 1) * rowsPerTask); ++pr) {
      const size_t img = pr / ps.paddedH, py = pr % ps.paddedH;
      uint64_t* dst = streams.get() + pr * ps.rowWords;
      if (py < s.padH || py >= s.padH + s.h) {
        for (int pl = 0; pl < planes; ++pl) std::memset(dst + pl * stride, 0, ps.rowWords * sizeof(uint64_t));
        continue;
      }
      const uint8_t* src = codes + (img * s.h + (py - s.padH)) * rowCodes;
      if (leftCodes > 0) {
        std::memcpy(padded.data() + leftCodes, src, rowCodes);
        src = padded.data();
      }
      isa.packStreams({src, leftCodes > 0 ? ps.rowBits : rowCodes, planes, 0, ps.rowWords, dst, stride});
    }
  });
  for (int pl = 0; pl < planes; ++pl)
    std::memset(streams.get() + pl * stride + stride - kGatherSlackWords, 0, kGatherSlackWords * sizeof(uint64_t));

  // 2. The panels: every row is the same runs from its own start bit.
  std::vector<uint64_t> runOffset;
  uint64_t runBits = s.kw * c;
  for (size_t ky = 0; ky < s.kh; ++ky) {
    const uint64_t rowOffset = ky * s.dilH * ps.rowBits;
    if (s.dilW == 1) {
      runOffset.push_back(rowOffset);
      continue;
    }
    for (size_t kx = 0; kx < s.kw; ++kx) runOffset.push_back(rowOffset + kx * s.dilW * c);
    runBits = c;
  }
  // A panel whose 8 positions lie in one output row has its rows evenly spaced (strideW * c bits):
  // consecutive such panels go to gatherPanels in bands (where the ISA has it), the others (a
  // panel across the end of an output row, the last one) to gatherPanel one by one.
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 15) / std::max<size_t>(1, k * kPanelRows));
  const size_t outW = s.outW();
  constexpr size_t kBand = 64;
  parallelRun((panels + perTask - 1) / perTask, threads, [&](size_t t) {
    uint64_t rowBit[kPanelRows];
    uint64_t bandBit[kBand];
    size_t bandFirst = 0, bandCount = 0;
    auto flushBand = [&] {
      if (bandCount == 0) return;
      isa.gatherPanels({streams.get(), stride, planes, bandBit, bandCount, s.strideW * c, runOffset.data(),
                        runOffset.size(), runBits, kWords, out + bandFirst * panelWords,
                        planePop + bandFirst * kPanelRows * planes});
      bandCount = 0;
    };
    PositionWalk at(s, t * perTask * kPanelRows);  // one division per task, none per panel
    for (size_t p = t * perTask; p < std::min(panels, (t + 1) * perTask); ++p) {
      const size_t r0 = p * kPanelRows;
      const int nRows = static_cast<int>(std::min<size_t>(kPanelRows, rows - r0));
      if (isa.gatherPanels != nullptr && nRows == kPanelRows && at.x + kPanelRows <= outW) {
        if (bandCount == kBand) flushBand();
        if (bandCount == 0) bandFirst = p;
        bandBit[bandCount++] = (at.img * ps.paddedH + at.y * s.strideH) * ps.rowBits + at.x * s.strideW * c;
        at.skipInRow(kPanelRows);
        continue;
      }
      flushBand();
      for (int r = 0; r < nRows; ++r, at.step())
        rowBit[r] = (at.img * ps.paddedH + at.y * s.strideH) * ps.rowBits + at.x * s.strideW * c;
      isa.gatherPanel({streams.get(), stride, planes, rowBit, nRows, runOffset.data(), runOffset.size(), runBits,
                       kWords, out + p * panelWords, planePop + r0 * planes});
    }
    flushBand();
  });
}

}  // namespace anyprec
