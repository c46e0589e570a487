// The float32 convolution driver (see fconv.h): output blocks over fgemm's blocked loop, with A's
// micro-panels packed from the convolution window and the eltwise row loops as the epilogue.
#include "fconv/fconv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/threadpool.h"
#include "eltwise/epilogue.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

// The K blocks of one indirect or strided tile, in order, as floatGemmBlock runs them (so the
// sums have the same bits): sets the block fields of `t` (FloatIndirectArgs or FloatStridedArgs)
// and calls `kernel(last)`, last being true on the final block. `bias` (padded, at the tile's
// first column) is added by the first block only.
template <typename Args, typename Kernel>
inline void forEachKBlock(Args& t, size_t k, const float* panel, const float* bias, Kernel&& kernel) {
  for (size_t k0 = 0; k0 < k; k0 += kFloatKBlock) {
    t.k0 = k0;
    t.kc = std::min(kFloatKBlock, k - k0);
    t.b = panel + k0 * kFloatPanel;
    t.bias = k0 == 0 ? bias : nullptr;
    kernel(k0 + t.kc == k);
  }
}

// A's rows are output positions; row m reads the window of (image, oy, ox) in (ky, kx, c) order.
struct Window {
  const float* x;
  ConvShape s;
  size_t outH, outW;
};

// One micro-panel of A (see FloatPanelSource): for each row, the taps overlapping K steps
// [k0, k0 + kc), each tap's channels copied from its input pixel, or zeros outside the image.
void packWindow(const void* ctx, size_t row0, size_t rows, size_t k0, size_t kc, int mr, float* dst) {
  const Window& w = *static_cast<const Window*>(ctx);
  const ConvShape& s = w.s;
  const size_t m = static_cast<size_t>(mr), c = s.c;
  if (rows < m) std::fill(dst, dst + kc * m, 0.0f);
  const size_t tap0 = k0 / c, tap1 = (k0 + kc + c - 1) / c;
  const size_t plane = w.outH * w.outW;
  size_t img = row0 / plane, oy = row0 % plane / w.outW, ox = row0 % w.outW;
  const auto h = static_cast<std::ptrdiff_t>(s.h), wd = static_cast<std::ptrdiff_t>(s.w);
  for (size_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t iy0 = static_cast<std::ptrdiff_t>(oy * s.strideH) - static_cast<std::ptrdiff_t>(s.padH);
    const std::ptrdiff_t ix0 = static_cast<std::ptrdiff_t>(ox * s.strideW) - static_cast<std::ptrdiff_t>(s.padW);
    const float* image = w.x + img * s.h * s.w * c;
    for (size_t tap = tap0; tap < tap1; ++tap) {
      const size_t ky = tap / s.kw, kx = tap % s.kw;
      const std::ptrdiff_t iy = iy0 + static_cast<std::ptrdiff_t>(ky * s.dilH);
      const std::ptrdiff_t ix = ix0 + static_cast<std::ptrdiff_t>(kx * s.dilW);
      const size_t first = tap * c, cBegin = first < k0 ? k0 - first : 0;
      const size_t cEnd = std::min(c, k0 + kc - first);
      float* d = dst + (first + cBegin - k0) * m + r;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) {
        for (size_t ch = cBegin; ch < cEnd; ++ch, d += m) *d = 0.0f;
        continue;
      }
      const float* src = image + (static_cast<size_t>(iy) * s.w + static_cast<size_t>(ix)) * c;
      for (size_t ch = cBegin; ch < cEnd; ++ch, d += m) *d = src[ch];
    }
    if (++ox == w.outW) {
      ox = 0;
      if (++oy == w.outH) {
        oy = 0;
        ++img;
      }
    }
  }
}

// Rows per task of the indirect path: a multiple of every indirectMr (8, 6, 4).
constexpr size_t kIndirectTaskRows = 96;
// A small conv (batch 1: 64..1024 output pixels) would give one to a few 96-row tasks, too few to
// split over threads: the direct paths' rows per task shrink, in steps of 24 (a multiple of every
// indirectMr), until there are kMinDirectTasks tasks.
constexpr size_t kDirectTaskStep = 24;
constexpr size_t kMinDirectTasks = 8;

// The indirection of `tile` rows from row0 (rows past `valid` read zeros), one segment per window
// row (ky): ind[ky * tile + r] points at the kw * c floats (kw taps, channels fastest) that row r
// reads at that ky: in the image itself when the whole window row lies inside it, `zeros`
// (kw * c floats) when the window row lies above or below the image, else a copy in `edge`
// (room for tile * kh * kw * c floats) with the taps outside the image zeroed. Needs dilW == 1
// (a window row's taps contiguous in the input).
void buildIndirection(const Window& w, const float* zeros, float* edge, size_t row0, size_t valid, size_t tile,
                      const float** ind) {
  const ConvShape& s = w.s;
  const size_t plane = w.outH * w.outW, len = s.kw * s.c;
  size_t img = row0 / plane, oy = row0 % plane / w.outW, ox = row0 % w.outW;
  const auto h = static_cast<std::ptrdiff_t>(s.h), wd = static_cast<std::ptrdiff_t>(s.w);
  const auto kw = static_cast<std::ptrdiff_t>(s.kw);
  // Fast path: every row of the tile in one output row with its whole window inside the image
  // horizontally: each segment's pointers are one base and a constant step (sW * c floats).
  const std::ptrdiff_t firstX = static_cast<std::ptrdiff_t>(ox * s.strideW) - static_cast<std::ptrdiff_t>(s.padW);
  const std::ptrdiff_t lastX = firstX + static_cast<std::ptrdiff_t>((tile - 1) * s.strideW);
  if (valid == tile && ox + tile <= w.outW && firstX >= 0 && lastX + kw <= wd) {
    const std::ptrdiff_t iy0 = static_cast<std::ptrdiff_t>(oy * s.strideH) - static_cast<std::ptrdiff_t>(s.padH);
    const float* image = w.x + img * s.h * s.w * s.c;
    const size_t step = s.strideW * s.c;
    for (size_t ky = 0; ky < s.kh; ++ky) {
      const std::ptrdiff_t iy = iy0 + static_cast<std::ptrdiff_t>(ky * s.dilH);
      const float** seg = ind + ky * tile;
      if (iy < 0 || iy >= h) {
        for (size_t r = 0; r < tile; ++r) seg[r] = zeros;
        continue;
      }
      const float* base = image + (static_cast<size_t>(iy) * s.w + static_cast<size_t>(firstX)) * s.c;
      for (size_t r = 0; r < tile; ++r) seg[r] = base + r * step;
    }
    return;
  }
  for (size_t r = 0; r < tile; ++r) {
    if (r >= valid) {
      for (size_t ky = 0; ky < s.kh; ++ky) ind[ky * tile + r] = zeros;
      continue;
    }
    const std::ptrdiff_t iy0 = static_cast<std::ptrdiff_t>(oy * s.strideH) - static_cast<std::ptrdiff_t>(s.padH);
    const std::ptrdiff_t ix0 = static_cast<std::ptrdiff_t>(ox * s.strideW) - static_cast<std::ptrdiff_t>(s.padW);
    const float* image = w.x + img * s.h * s.w * s.c;
    const bool inside = ix0 >= 0 && ix0 + kw <= wd;
    for (size_t ky = 0; ky < s.kh; ++ky) {
      const std::ptrdiff_t iy = iy0 + static_cast<std::ptrdiff_t>(ky * s.dilH);
      const float* row = image + static_cast<size_t>(iy) * s.w * s.c;
      if (iy < 0 || iy >= h) {
        ind[ky * tile + r] = zeros;
      } else if (inside) {
        ind[ky * tile + r] = row + static_cast<size_t>(ix0) * s.c;
      } else {
        float* copy = edge + (r * s.kh + ky) * len;
        for (std::ptrdiff_t kx = 0; kx < kw; ++kx) {
          const std::ptrdiff_t ix = ix0 + kx;
          float* d = copy + static_cast<size_t>(kx) * s.c;
          if (ix < 0 || ix >= wd) std::fill(d, d + s.c, 0.0f);
          else std::copy(row + static_cast<size_t>(ix) * s.c, row + static_cast<size_t>(ix + 1) * s.c, d);
        }
        ind[ky * tile + r] = copy;
      }
    }
    if (++ox == w.outW) {
      ox = 0;
      if (++oy == w.outH) {
        oy = 0;
        ++img;
      }
    }
  }
}

// The end of the strided tile holding output column ox: an output row of outW columns is cut into
// the fewest tiles of at most mr columns, of balanced sizes (the longer ones first), so a row of
// 32 at mr 6 runs 6 6 5 5 5 5 rather than 6 6 6 6 6 2, and a row of 8 runs 4 4 rather than 6 2.
// The tile count is the greedy cut's; only the sizes move (a kernel that computes its whole mr
// rows at any count does the same work; one that computes only its rows keeps its chains full).
size_t balancedTileEnd(size_t ox, size_t outW, size_t mr) {
  const size_t tiles = (outW + mr - 1) / mr, base = outW / tiles, extra = outW % tiles;
  const size_t longSpan = extra * (base + 1);  // the first `extra` tiles hold base + 1 columns
  if (ox < longSpan) return (ox / (base + 1) + 1) * (base + 1);
  return longSpan + ((ox - longSpan) / base + 1) * base;
}

}  // namespace

std::string checkFloatConvSpec(const FloatConvSpec& s) {
  if (s.outChannels < 1) return "output channels must be at least 1";
  if (s.codeBits < 0 || s.codeBits > 8) return "code bits must be 0 (float output) or 1..8";
  if (std::isnan(s.lo) || std::isnan(s.hi) || s.lo > s.hi) return "the clamp bounds must satisfy lo <= hi";
  if (s.codeBits > 0 && (s.residual != nullptr || s.next != nullptr))
    return "a residual or a second output needs float output (code bits 0)";
  if (s.nextBits < 0 || s.nextBits > 8) return "the second output's code bits must be 0 (float) or 1..8";
  if (std::isnan(s.nextLo) || std::isnan(s.nextHi) || s.nextLo > s.nextHi)
    return "the second output's clamp bounds must satisfy lo <= hi";
  return "";
}

FloatConvPlan::FloatConvPlan(const Platform& isa, const FloatConvSpec& spec, void* out)
    : isa_(isa), s_(spec), out_(out) {
  rows_ = s_.shape.rows();
  k_ = s_.shape.k();
  tiling_ = floatTiling(*isa_.fgemm, s_.outChannels);
  // The indirect kernel needs each window row's taps contiguous (else: the packed-window path).
  const FloatKernelTable& fk = *isa_.fgemm;
  indirect_ = fk.indirect != nullptr && s_.shape.dilW == 1;
  // The strided kernel's tiles lie in one output row: an output one pixel wide (a dense layer)
  // would get one-row tiles, so such layers take the indirect kernel, whose tiles span rows, or,
  // in a table without one (AVX2), the packed tiles. (The strided path there had made the MNIST
  // CNN's float 3136 -> 256 layer at batch 64 take 4.2 ms on a Zen 4's AVX-512 table; the
  // indirect kernel 1.2 ms, the packed tiles 1.5 ms.)
  strided_ = fk.strided != nullptr && s_.shape.dilW == 1 && s_.shape.outW() > 1;
  const bool direct = indirect_ || strided_;
  if (direct) {
    const size_t spread = (rows_ + kMinDirectTasks - 1) / kMinDirectTasks;
    taskRows_ = std::min(kIndirectTaskRows,
                         std::max(kDirectTaskStep, (spread + kDirectTaskStep - 1) / kDirectTaskStep * kDirectTaskStep));
  } else {
    taskRows_ = floatTaskRows(tiling_);
  }
  tasksM_ = (rows_ + taskRows_ - 1) / taskRows_;
  tasksN_ = direct ? 1 : (s_.outChannels + kFloatTaskCols - 1) / kFloatTaskCols;
  if (direct) {
    const size_t len = s_.shape.kw * s_.shape.c;
    zeros_ = alignedArray<float>(len);
    std::fill(zeros_.get(), zeros_.get() + len, 0.0f);
  }
  epilogue_ = s_.codeBits > 0 || s_.scale != nullptr || s_.shift != nullptr || s_.lo != -__builtin_inff() ||
              s_.hi != __builtin_inff();
  const size_t padded = floatPaddedCols(s_.outChannels);
  bias_ = alignedArray<float>(padded);
  std::fill(bias_.get(), bias_.get() + padded, 0.0f);
  if (s_.bias != nullptr) std::copy(s_.bias, s_.bias + s_.outChannels, bias_.get());
}

void FloatConvPlan::run(size_t task) const {
  const size_t n = s_.outChannels;
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t row0 = tm * taskRows_, row1 = std::min(rows_, row0 + taskRows_);
  // The direct paths (one task per row block) write every column; the packed tiles a kFloatTaskCols block.
  const size_t col0 = tn * kFloatTaskCols, col1 = tasksN_ == 1 ? n : std::min(n, col0 + kFloatTaskCols), cols = col1 - col0;
  const Window window{s_.x, s_.shape, s_.shape.outH(), s_.shape.outW()};
  const FloatPanelSource source{packWindow, &window};
  const bool codes = s_.codeBits > 0;
  // Codes: the block's sums go to a per-thread scratch block, then through the quantiser.
  thread_local std::vector<float> scratch;
  float* c;
  size_t ldc;
  if (codes) {
    scratch.resize((row1 - row0) * cols);
    c = scratch.data();
    ldc = cols;
  } else {
    c = static_cast<float*>(out_) + row0 * n + col0;
    ldc = n;
  }
  // The strided kernel finishes float outputs itself (the affine and clamp of the row loop).
  const bool finished = strided_ && !codes && epilogue_;
  if (strided_) stridedBlock(row0, row1, c, ldc, finished);
  else if (indirect_) indirectBlock(&window, row0, row1, c, ldc);
  else floatGemmBlock(tiling_, source, s_.wPacked, k_, bias_.get(), row0, row1, col0, col1, c, ldc);
  const EpilogueTable& ep = *isa_.epilogue;
  const float* scale = s_.scale != nullptr ? s_.scale + col0 : nullptr;
  const float* shift = s_.shift != nullptr ? s_.shift + col0 : nullptr;
  if (codes) {
    const float levels = static_cast<float>((1 << s_.codeBits) - 1);
    uint8_t* q = static_cast<uint8_t*>(out_) + row0 * n + col0;
    for (size_t r = 0; r < row1 - row0; ++r) ep.floatToCodes(c + r * ldc, scale, shift, levels, q + r * n, cols);
    return;
  }
  // Row by row while the row is in L1: the affine and clamp, the residual add, the second output.
  const float* nextScale = s_.nextScale != nullptr ? s_.nextScale + col0 : nullptr;
  const float* nextShift = s_.nextShift != nullptr ? s_.nextShift + col0 : nullptr;
  const float levels = static_cast<float>((1 << s_.nextBits) - 1);
  for (size_t r = 0; r < row1 - row0; ++r) {
    float* y = c + r * ldc;
    const size_t at = (row0 + r) * n + col0;
    if (epilogue_ && !finished) ep.floatAffine(y, scale, shift, s_.lo, s_.hi, y, cols);
    if (s_.residual != nullptr) {
      const float* add = s_.residual + at;
      for (size_t j = 0; j < cols; ++j) y[j] += add[j];
    }
    if (s_.next == nullptr) continue;
    if (s_.nextBits > 0) ep.floatToCodes(y, nextScale, nextShift, levels, static_cast<uint8_t*>(s_.next) + at, cols);
    else ep.floatAffine(y, nextScale, nextShift, s_.nextLo, s_.nextHi, static_cast<float*>(s_.next) + at, cols);
  }
}

void FloatConvPlan::indirectBlock(const void* windowPtr, size_t row0, size_t row1, float* c, size_t ldc) const {
  const Window& window = *static_cast<const Window*>(windowPtr);
  const FloatKernelTable& fk = *isa_.fgemm;
  const size_t n = s_.outChannels, segs = s_.shape.kh;
  thread_local std::vector<const float*> ind;
  thread_local std::vector<float> edge;
  FloatIndirectArgs t{};
  t.segs = segs;
  t.len = s_.shape.kw * s_.shape.c;
  t.bPanelStride = k_ * kFloatPanel;
  t.ldc = ldc;
  for (size_t col0 = 0; col0 < n; col0 += kFloatIndirectCols) {
    t.cols = static_cast<int>(std::min<size_t>(kFloatIndirectCols, n - col0));
    const size_t mr = static_cast<size_t>(fk.indirectMr[(t.cols - 1) / kFloatPanel]);
    ind.resize(segs * mr);
    edge.resize(segs * mr * t.len);
    const float* panel = s_.wPacked + (col0 / kFloatPanel) * t.bPanelStride;
    for (size_t r0 = row0; r0 < row1; r0 += mr) {
      const size_t rows = std::min(mr, row1 - r0);
      buildIndirection(window, zeros_.get(), edge.data(), r0, rows, mr, ind.data());
      t.ind = ind.data();
      t.rows = static_cast<int>(rows);
      t.c = c + (r0 - row0) * ldc + col0;
      forEachKBlock(t, k_, panel, bias_.get() + col0, [&](bool) { fk.indirect(t); });
    }
  }
}

// Tiles of at most mr consecutive outputs of one output row. A window row (ky) of such a tile is
// evenly spaced in the input (strideW * c floats from one output to the next): read in place when
// every row's taps lie inside the image, else from a zero-padded copy of that input row (each
// input row copied once per task, in a small cache of rows; the kernel reads all mr rows, so a
// short tile reads the copy too), and the zeros above and below the image. The FMAs are the
// indirect kernel's, so the bits are the tile path's.
void FloatConvPlan::stridedBlock(size_t row0, size_t row1, float* c, size_t ldc, bool finish) const {
  const ConvShape& sh = s_.shape;
  const FloatKernelTable& fk = *isa_.fgemm;
  const size_t n = s_.outChannels, segs = sh.kh, ch = sh.c;
  const size_t outH = sh.outH(), outW = sh.outW(), plane = outH * outW;
  const size_t stepX = sh.strideW * ch;
  const auto h = static_cast<std::ptrdiff_t>(sh.h), wd = static_cast<std::ptrdiff_t>(sh.w);
  const auto padW = static_cast<std::ptrdiff_t>(sh.padW);
  // Padded rows: pixel p holds input pixel p - padW, zeros outside the image, long enough for
  // any tile's span (a tile starts at most at the last output's window, (outW - 1) * strideW
  // <= w + 2 * padW - kw, and reads (mr - 1) * strideW + kw pixels from there).
  int mrMax = 0;
  for (int m : fk.stridedMr) mrMax = std::max(mrMax, m);
  const size_t pixels = 2 * sh.padW + sh.w + static_cast<size_t>(mrMax) * sh.strideW + sh.kw;
  const size_t rowLen = pixels * ch;
  // Slots: a tile's kh rows never share one (rows span (kh - 1) * dilH + 1 < slots).
  const size_t slots = (sh.kh - 1) * sh.dilH + 1 + sh.strideH;
  struct Key {
    size_t img;
    std::ptrdiff_t iy;
  };
  thread_local std::vector<float> padded;
  thread_local std::vector<Key> keys;
  thread_local std::vector<const float*> base;
  thread_local std::vector<size_t> step;
  // The zeros right of the image are written when the layout changes; row copies never touch them.
  thread_local size_t layout[3] = {0, 0, 0};
  const size_t right = (sh.padW + sh.w) * ch;
  if (layout[0] != rowLen || layout[1] != right || layout[2] != slots) {
    padded.assign(slots * rowLen, 0.0f);
    layout[0] = rowLen;
    layout[1] = right;
    layout[2] = slots;
  }
  keys.assign(slots, Key{SIZE_MAX, 0});
  base.resize(segs);
  step.resize(segs);
  // The padded copy of input row iy of image img (copied on first use in this task).
  const auto paddedRow = [&](size_t img, std::ptrdiff_t iy) -> const float* {
    const size_t slot = static_cast<size_t>(iy) % slots;
    float* dst = padded.data() + slot * rowLen;
    if (keys[slot].img != img || keys[slot].iy != iy) {
      keys[slot] = Key{img, iy};
      const float* src = s_.x + ((img * sh.h + static_cast<size_t>(iy)) * sh.w) * ch;
      std::fill(dst, dst + sh.padW * ch, 0.0f);
      std::memcpy(dst + sh.padW * ch, src, sh.w * ch * sizeof(float));
    }
    return dst;
  };
  FloatStridedArgs t{};
  t.base = base.data();
  t.step = step.data();
  t.segs = segs;
  t.len = sh.kw * ch;
  t.bPanelStride = k_ * kFloatPanel;
  t.ldc = ldc;
  t.lo = s_.lo;
  t.hi = s_.hi;
  for (size_t col0 = 0; col0 < n; col0 += kFloatIndirectCols) {
    t.cols = static_cast<int>(std::min<size_t>(kFloatIndirectCols, n - col0));
    t.scale = s_.scale != nullptr ? s_.scale + col0 : nullptr;
    t.shift = s_.shift != nullptr ? s_.shift + col0 : nullptr;
    const size_t mr = static_cast<size_t>(fk.stridedMr[(t.cols - 1) / kFloatPanel]);
    const auto span = static_cast<std::ptrdiff_t>((mr - 1) * sh.strideW + sh.kw);  // pixels a tile reads per row
    const float* panel = s_.wPacked + (col0 / kFloatPanel) * t.bPanelStride;
    for (size_t r0 = row0; r0 < row1;) {
      const size_t img = r0 / plane, oy = r0 % plane / outW, ox = r0 % outW;
      const size_t rows = std::min(row1 - r0, balancedTileEnd(ox, outW, mr) - ox);
      const std::ptrdiff_t ix0 = static_cast<std::ptrdiff_t>(ox * sh.strideW) - padW;
      const bool inside = rows == mr && ix0 >= 0 && ix0 + span <= wd;
      for (size_t ky = 0; ky < segs; ++ky) {
        const std::ptrdiff_t iy = static_cast<std::ptrdiff_t>(oy * sh.strideH + ky * sh.dilH) -
                                  static_cast<std::ptrdiff_t>(sh.padH);
        step[ky] = stepX;
        if (iy < 0 || iy >= h) {
          base[ky] = zeros_.get();
          step[ky] = 0;
        } else if (inside) {
          base[ky] = s_.x + ((img * sh.h + static_cast<size_t>(iy)) * sh.w + static_cast<size_t>(ix0)) * ch;
        } else {
          base[ky] = paddedRow(img, iy) + static_cast<size_t>(ix0 + padW) * ch;
        }
      }
      t.rows = static_cast<int>(rows);
      t.c = c + (r0 - row0) * ldc + col0;
      forEachKBlock(t, k_, panel, bias_.get() + col0, [&](bool last) {
        t.finish = finish && last;
        fk.strided(t);
      });
      r0 += rows;
    }
  }
}

void floatConv(const Platform& isa, const FloatConvSpec& spec, void* out, int threads) {
  FloatConvPlan plan(isa, spec, out);
  parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
}

}  // namespace anyprec
