// The int8 path's GEMM driver: A's bytes rebuilt from its planes (prepare phase), byte dot-product
// tiles with the chosen variant, and the exact finish shared with the bit-serial path.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "common/checked.h"
#include "i8gemm/i8gemm.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

constexpr size_t kI8TaskRows = 256;  // multiple of kI8MAlign; AMX reuses each B strip over the rows (i8gemm_amx.cc)
// A small M (a conv at batch 1) would give one to a few 256-row tasks, too few to split over
// threads: rows per task shrink (in steps of kI8MAlign) until there are kI8MinTasks row tasks.
// Each output's sum is exact (int32), so any split gives the same bits.
constexpr size_t kI8MinTasks = 8;
constexpr size_t kI8TaskCols = 64;   // multiple of kI8NAlign; the task's int32 block stays near L1 for the finish

// Exact results mod 2^32 (i8gemm.h), so plain uint32 arithmetic (vectorises).
template <uint32_t kMul>
void combineRowI8(const uint32_t* s, uint32_t rowConst, const uint32_t* colConst, int32_t* out, size_t n) {
  for (size_t j = 0; j < n; ++j) out[j] = static_cast<int32_t>(kMul * s[j] + rowConst + colConst[j]);
}

// Activation byte buffers (and the codes route's pixel sums) of finished plans, kept for the next
// one: every page of a fresh buffer is a page fault on first touch (4 KiB each, ~10-15 us apiece on a virtual machine), and a
// batch-64 ResNet-20 conv's buffer is 16 MiB; glibc hands such sizes back to the OS on free. At
// most kPoolBuffers buffers and kPoolBytes in all are kept; a buffer is reused for a request of
// at least half its size.
class BytePool {
 public:
  static BytePool& instance() {
    static BytePool pool;
    return pool;
  }
  AlignedArray<uint8_t> take(size_t bytes, size_t* capacity) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      size_t best = spare_.size();
      for (size_t i = 0; i < spare_.size(); ++i)
        if (spare_[i].capacity >= bytes && spare_[i].capacity / 2 <= bytes &&
            (best == spare_.size() || spare_[i].capacity < spare_[best].capacity))
          best = i;
      if (best < spare_.size()) {
        Spare s = std::move(spare_[best]);
        spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(best));
        held_ -= s.capacity;
        *capacity = s.capacity;
        return std::move(s.data);
      }
    }
    *capacity = bytes;
    return alignedArray<uint8_t>(bytes);
  }
  void give(AlignedArray<uint8_t> data, size_t capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.size() < kPoolBuffers && held_ + capacity <= kPoolBytes) {
      held_ += capacity;
      spare_.push_back(Spare{std::move(data), capacity});
    }
  }

 private:
  static constexpr size_t kPoolBuffers = 8;
  static constexpr size_t kPoolBytes = size_t{40} << 20;
  struct Spare {
    AlignedArray<uint8_t> data;
    size_t capacity;
  };
  std::mutex mu_;
  std::vector<Spare> spare_;
  size_t held_ = 0;
};

}  // namespace

I8GemmPlan::~I8GemmPlan() {
  if (aBytes_) BytePool::instance().give(std::move(aBytes_), aCapacity_);
  if (pixelSum_) BytePool::instance().give(std::move(pixelSum_), pixelSumCapacity_);
  if (padded_) BytePool::instance().give(std::move(padded_), paddedCapacity_);
}

std::string checkI8Weights(const GemmSpec& spec, const I8Weights& w) {
  if (w.n != spec.b.rows || w.k != spec.b.cols)
    return "prepared weights are " + std::to_string(w.n) + " x " + std::to_string(w.k) + ", b is " +
           std::to_string(spec.b.rows) + " x " + std::to_string(spec.b.cols);
  if (w.bits != spec.bBits || w.enc != spec.bEnc)
    return "prepared weights were made for " + std::to_string(w.bits) + "-bit " + encodingName(w.enc) + " b, not " +
           std::to_string(spec.bBits) + "-bit " + encodingName(spec.bEnc);
  return "";
}

I8GemmPlan::I8GemmPlan(const Platform& isa, const I8Kernel& kern, const GemmSpec& spec, void* c, const Epilogue& epi,
                       const I8Weights* weights)
    // The int8 path always uses the AND form (for 1x1 bipolar it equals the XOR form exactly).
    : kern_(kern), s_(spec), finish_(*isa.epilogue, spec, c, epi, false) {
  init(weights);
  const int64_t oa = mapA_.offset, kk = static_cast<int64_t>(k_);
  const bool negA = s_.aEnc == Encoding::Signed;
  for (size_t i = 0; i < m_; ++i) {
    const int64_t sumA = rowCoreSum(s_.a.planePop + i * s_.a.planes, s_.aBits, negA) + oa * kk;  // sum a'
    rowConst_[i] = rowConstOf(sumA, finish_.rowTerm(i));
  }
  panelsPerPrep_ = std::max<size_t>(1, (size_t{1} << 16) / (aLd_ * kPanelRows));
  prepareTasks_ = m_ == 0 || n_ == 0 ? 0 : (aPanels_ + panelsPerPrep_ - 1) / panelsPerPrep_;
}

namespace {
// A GemmSpec's A without planes (the codes route: only its shape and bits matter).
GemmSpec withoutPlanes(GemmSpec s) {
  s.a.data = nullptr;
  s.a.planePop = nullptr;
  return s;
}
}  // namespace

namespace {
// The sum of n bytes, 8 at a time: byte pairs into 16-bit lanes, the four lanes summed by one
// multiply (each lane <= 2 * 255, so a word's sum fits the top 16 bits).
uint64_t sumBytes(const uint8_t* p, size_t n) {
  constexpr uint64_t kLow = 0x00FF00FF00FF00FFull, kOnes = 0x0001000100010001ull;
  uint64_t sum = 0;
  size_t t = 0;
  for (; t + 8 <= n; t += 8) {
    uint64_t w;
    std::memcpy(&w, p + t, 8);
    sum += (((w & kLow) + ((w >> 8) & kLow)) * kOnes) >> 48;
  }
  for (; t < n; ++t) sum += p[t];
  return sum;
}
}  // namespace

I8Codes i8MatrixCodes(const uint8_t* codes, size_t m, size_t k) {
  return I8Codes{codes, ConvShape{m, 1, 1, k, 1, 1, 1, 1, 0, 0, 1, 1}};
}

I8GemmPlan::I8GemmPlan(const Platform& isa, const I8Kernel& kern, const GemmSpec& spec, const I8Codes& codes, void* c,
                       const Epilogue& epi, const I8Weights* weights)
    : kern_(kern), s_(withoutPlanes(spec)), finish_(*isa.epilogue, s_, c, epi, false), codes_(codes) {
  const ConvShape& cs = codes_.shape;
  if (cs.rows() != s_.a.rows || cs.k() != s_.a.cols)
    throw std::invalid_argument("the codes' lowered shape is " + std::to_string(cs.rows()) + " x " +
                                std::to_string(cs.k()) + ", the GEMM's a is " + std::to_string(s_.a.rows) + " x " +
                                std::to_string(s_.a.cols));
  init(weights);
  // The input as a' bytes (the map is the identity but for signed codes: a' = code XOR 2^(b-1)),
  // and per image row the prefix sums of its pixels' sums of a', so a lowered row's sum is one
  // difference per kernel row (dilation 1) or per tap. The indirect route (a variant with a conv
  // tile, c a multiple of 4: a tap is whole 4-byte K steps) reads a copy with the padding written
  // out (a' of code 0), where every tap of every window is inside; the input itself where it
  // neither pads nor maps.
  const uint8_t x = mapA_.xorValue;
  // A row's constant is affine in its sum of a' (rowConstOf of rowTermOf: sums and products only,
  // exact mod 2^64 and so mod 2^32): its value at 0 and its slope, in uint64 arithmetic.
  {
    const int64_t oa = mapA_.offset, kk = static_cast<int64_t>(k_);
    const uint64_t at0 = static_cast<uint64_t>(rowConstOf64(0, finish_.rowTermOf(-oa * kk)));
    rowSlope_ = static_cast<uint64_t>(rowConstOf64(1, finish_.rowTermOf(1 - oa * kk))) - at0;
    rowBase_ = at0;
    padTapSum_ = static_cast<uint64_t>(cs.c) * x;
  }
  indirect_ = kern_.convTile != nullptr && cs.c % 4 == 0;
  const size_t padH = indirect_ ? cs.padH : 0, padW = indirect_ ? cs.padW : 0;
  hp_ = addOrThrow(cs.h, 2 * padH, "conv input rows");
  wp_ = addOrThrow(cs.w, 2 * padW, "conv input columns");
  const size_t lines = mulOrThrow({cs.n, hp_}, "conv input rows"), lineBytes = mulOrThrow({wp_, cs.c}, "conv input row");
  src_ = codes_.codes;
  if (indirect_ && (padH > 0 || padW > 0 || x != 0)) {
    padded_ = BytePool::instance().take(mulOrThrow({lines, lineBytes}, "padded conv input"), &paddedCapacity_);
    const size_t edge = padW * cs.c, inner = cs.w * cs.c;
    for (size_t line = 0; line < lines; ++line) {
      uint8_t* out = padded_.get() + line * lineBytes;
      const size_t yp = line % hp_;
      if (yp < padH || yp >= padH + cs.h) {
        std::memset(out, x, lineBytes);
        continue;
      }
      const uint8_t* in = codes_.codes + ((line / hp_) * cs.h + (yp - padH)) * inner;
      std::memset(out, x, edge);
      if (x == 0) std::memcpy(out + edge, in, inner);
      else for (size_t t = 0; t < inner; ++t) out[edge + t] = in[t] ^ x;
      std::memset(out + edge + inner, x, edge);
    }
    src_ = padded_.get();
  } else if (x != 0) {
    mapped_.resize(cs.inputCount());
    for (size_t t = 0; t < mapped_.size(); ++t) mapped_[t] = codes_.codes[t] ^ x;
    src_ = mapped_.data();
  }
  const size_t sums = mulOrThrow({lines, wp_ + 1}, "conv input pixels");
  pixelSum_ = BytePool::instance().take(mulOrThrow({sums, sizeof(uint64_t)}, "conv input pixels"), &pixelSumCapacity_);
  for (size_t r = 0; r < lines; ++r) {
    uint64_t* pre = reinterpret_cast<uint64_t*>(pixelSum_.get()) + r * (wp_ + 1);
    const uint8_t* px = src_ + r * lineBytes;
    if (kern_.pixelPrefix != nullptr) {
      kern_.pixelPrefix(px, wp_, cs.c, pre);
      continue;
    }
    pre[0] = 0;
    for (size_t xi = 0; xi < wp_; ++xi, px += cs.c) pre[xi + 1] = pre[xi] + sumBytes(px, cs.c);
  }
  // The conv tile's taps: with dilation 1 across, a kernel row's kw pixels are adjacent in the
  // (padded) image and in K's (kh, kw, c) order, so each kernel row is one tap of kw * c bytes
  // (fewer, longer pieces of the tile's K walk: 3 of 12 k4-steps instead of 9 of 4 at c = 16).
  if (indirect_ && cs.dilW == 1) {
    tapBytes_ = cs.kw * cs.c;
    for (size_t ky = 0; ky < cs.kh; ++ky) tapOffset_.push_back(static_cast<ptrdiff_t>(ky * cs.dilH * wp_ * cs.c));
  } else if (indirect_) {
    tapBytes_ = cs.c;
    for (size_t ky = 0; ky < cs.kh; ++ky)
      for (size_t kx = 0; kx < cs.kw; ++kx)
        tapOffset_.push_back(static_cast<ptrdiff_t>((ky * cs.dilH * wp_ + kx * cs.dilW) * cs.c));
  }
  prepareTasks_ = 0;
  tasksN_ = tasksM_ == 0 ? 0 : 1;  // a task forms its rows once and runs every column block (runCodes)
}

void I8GemmPlan::init(const I8Weights* weights) {
  m_ = s_.a.rows;
  n_ = s_.b.rows;
  k_ = s_.a.cols;
  aPanels_ = panelsFor(m_);
  kWords_ = kWordsFor(k_);
  kPad_ = i8KPad(k_);
  mapA_ = byteMapA(s_.aEnc, s_.aBits);
  mapB_ = byteMapB(s_.bEnc, s_.bBits);
  maxProduct_ = i8MaxProduct(s_.aBits, s_.bBits, s_.bEnc);
  if (weights != nullptr) {
    const std::string bad = checkI8Weights(s_, *weights);
    if (!bad.empty()) throw std::invalid_argument(bad);
    w_ = weights;
  } else {
    ownWData_.resize(i8WeightBytes(n_, k_));
    ownWColSum_.resize(i8NPad(n_));
    prepareI8Weights(kern_, s_.b, s_.bBits, s_.bEnc, ownWData_.data(), ownWColSum_.data(), 1);
    ownW_ = I8Weights{ownWData_.data(), ownWColSum_.data(), n_, k_, s_.bBits, s_.bEnc};
    w_ = &ownW_;
  }
  const size_t mPad = i8MPad(m_);
  // Row stride kPad + 64: a power-of-two stride would put the 16 rows of an A tile load in one
  // L1 set (4 KiB aliasing), and the tile loads would thrash it.
  aLd_ = kPad_ + 64;
  // Not zero-initialised (that cost ~3% of a 256x1024x1024 GEMM): prepare() writes every byte a
  // kernel reads of rows < M, and only the padding rows are cleared here.
  if (codes_.codes == nullptr) {  // the codes route lowers per task (runCodes)
    aBytes_ = BytePool::instance().take(mPad * aLd_, &aCapacity_);
    if (mPad > m_) std::memset(aBytes_.get() + m_ * aLd_, 0, (mPad - m_) * aLd_);
  }
  rowConst_.resize(m_);
  // C = mul * S + rowConst(i) + colConst(j) (mod 2^32), see run().
  const int64_t oa = mapA_.offset, mul = finish_.mul();
  colConst_.assign(i8NPad(n_), 0);  // padded: a conv tile reads whole 16-column blocks
  for (size_t j = 0; j < n_; ++j)
    colConst_[j] = static_cast<uint32_t>(static_cast<uint64_t>(finish_.colTerm()[j] - mul * oa * w_->colSum[j]));
  // Output tiles of kI8TaskRows x kI8TaskCols.
  const size_t spread = (m_ + kI8MinTasks - 1) / kI8MinTasks;
  rowsPerTask_ = std::min({kI8TaskRows, mPad, std::max(kI8MAlign, (spread + kI8MAlign - 1) / kI8MAlign * kI8MAlign)});
  colsPerTask_ = kI8TaskCols;
  tasksM_ = m_ == 0 || n_ == 0 ? 0 : (m_ + rowsPerTask_ - 1) / rowsPerTask_;
  tasksN_ = m_ == 0 || n_ == 0 ? 0 : (n_ + colsPerTask_ - 1) / colsPerTask_;
}

int64_t I8GemmPlan::rowConstOf64(int64_t sumA, int64_t rowTerm) const {
  const int64_t oa = mapA_.offset, ob = mapB_.offset, kk = static_cast<int64_t>(k_);
  return finish_.mul() * (ob * sumA - oa * ob * kk) + rowTerm;
}

uint32_t I8GemmPlan::rowConstOf(int64_t sumA, int64_t rowTerm) const {
  return static_cast<uint32_t>(static_cast<uint64_t>(rowConstOf64(sumA, rowTerm)));
}

void I8GemmPlan::prepare(size_t task) const {
  const size_t p0 = task * panelsPerPrep_, p1 = std::min(aPanels_, p0 + panelsPerPrep_);
  const size_t panelWords = static_cast<size_t>(s_.a.planes) * kWords_ * kPanelRows;
  for (size_t p = p0; p < p1; ++p) {
    ByteRowsArgs args{};
    args.panel = s_.a.data + p * panelWords;
    args.kWords = kWords_;
    args.lane0 = 0;
    args.rows = static_cast<int>(std::min<size_t>(kPanelRows, m_ - p * kPanelRows));
    args.planes = s_.aBits;
    std::memcpy(args.planeValue, mapA_.planeValue, sizeof args.planeValue);
    args.xorValue = mapA_.xorValue;
    args.k = k_;
    args.kPad = kPad_;
    args.out = aBytes_.get() + p * kPanelRows * aLd_;
    args.ldOut = aLd_;
    kern_.byteRows(args);
  }
}

namespace {
// n bytes from src to dst, or n copies of `value`: 16-byte moves, then the rest, inline (the runs
// are kw*c or c bytes, usually a multiple of 16; a library call per run cost more than the copy).
inline void copyBytes(uint8_t* dst, const uint8_t* src, size_t n) {
  size_t t = 0;
  for (; t + 16 <= n; t += 16) std::memcpy(dst + t, src + t, 16);
  for (; t < n; ++t) dst[t] = src[t];
}
// A kernel row of a 3 x 3 convolution is 48 / 96 / 192 bytes at 16 / 32 / 64 channels: copies of
// a constant size compile to straight vector moves.
inline void copyRun(uint8_t* dst, const uint8_t* src, size_t n) {
  switch (n) {
    case 48: std::memcpy(dst, src, 48); return;
    case 96: std::memcpy(dst, src, 96); return;
    case 192: std::memcpy(dst, src, 192); return;
    case 64: std::memcpy(dst, src, 64); return;
    case 128: std::memcpy(dst, src, 128); return;
    default: copyBytes(dst, src, n);
  }
}
inline void fillBytes(uint8_t* dst, uint8_t value, size_t n) {
  uint8_t v[16];
  for (uint8_t& b : v) b = value;
  size_t t = 0;
  for (; t + 16 <= n; t += 16) std::memcpy(dst + t, v, 16);
  for (; t < n; ++t) dst[t] = value;
}
// The output position (image, row, column) of lowered row r, stepped a row at a time.
struct OutPos {
  size_t img, oy, ox;
  const size_t oh, ow;
  OutPos(const ConvShape& cs, size_t r)
      : img(r / (cs.outH() * cs.outW())), oy((r / cs.outW()) % cs.outH()), ox(r % cs.outW()), oh(cs.outH()),
        ow(cs.outW()) {}
  void next() {
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        ++img;
      }
    }
  }
};
}  // namespace

inline void I8GemmPlan::setRowConst(size_t i, uint64_t sum, uint64_t padTaps) const {
  const uint64_t sumA = sum + padTaps * padTapSum_;  // sum of a' over the row
  rowConst_[i] = static_cast<uint32_t>(rowSlope_ * sumA + rowBase_);
}

void I8GemmPlan::lowerCodes(size_t r0, size_t r1, uint8_t* rowsOut) const {
  const ConvShape& cs = codes_.shape;
  const size_t c = cs.c, kwc = cs.kw * c;
  const uint8_t pad = mapA_.xorValue;  // a' of code 0
  const ptrdiff_t h = static_cast<ptrdiff_t>(cs.h), w = static_cast<ptrdiff_t>(cs.w);
  OutPos pos(cs, r0);
  for (size_t i = r0; i < r1; ++i, pos.next()) {
    const size_t img = pos.img, oy = pos.oy, ox = pos.ox;
    uint8_t* const row = rowsOut + (i - r0) * aLd_;
    uint8_t* out = row;
    uint64_t sum = 0, padTaps = 0;
    const ptrdiff_t x0 = static_cast<ptrdiff_t>(ox * cs.strideW) - static_cast<ptrdiff_t>(cs.padW);
    // Most rows: every kernel row's taps are adjacent pixels inside the image, one copy each.
    const bool inside = cs.dilW == 1 && x0 >= 0 && x0 + static_cast<ptrdiff_t>(cs.kw) <= w;
    for (size_t ky = 0; ky < cs.kh; ++ky, out += kwc) {
      const ptrdiff_t y = static_cast<ptrdiff_t>(oy * cs.strideH + ky * cs.dilH) - static_cast<ptrdiff_t>(cs.padH);
      if (y < 0 || y >= h) {
        fillBytes(out, pad, kwc);
        padTaps += cs.kw;
        continue;
      }
      const size_t line = img * cs.h + static_cast<size_t>(y);
      const uint8_t* srcLine = src_ + line * cs.w * c;
      const uint64_t* pre = prefix() + line * (cs.w + 1);  // the copy route: hp_, wp_ are h, w
      if (inside) {
        copyRun(out, srcLine + x0 * c, kwc);
        sum += pre[x0 + static_cast<ptrdiff_t>(cs.kw)] - pre[x0];
      } else if (cs.dilW == 1) {
        // The taps inside the image are the adjacent pixels x0 + kxa .. x0 + kxb - 1: one copy.
        const ptrdiff_t kw = static_cast<ptrdiff_t>(cs.kw);
        const ptrdiff_t kxa = std::min(kw, std::max<ptrdiff_t>(0, -x0)), kxb = std::max(kxa, std::min(kw, w - x0));
        if (kxa > 0) fillBytes(out, pad, static_cast<size_t>(kxa) * c);
        if (kxb > kxa) {
          copyBytes(out + kxa * c, srcLine + (x0 + kxa) * c, static_cast<size_t>(kxb - kxa) * c);
          sum += pre[x0 + kxb] - pre[x0 + kxa];
        }
        if (kxb < kw) fillBytes(out + kxb * c, pad, static_cast<size_t>(kw - kxb) * c);
        padTaps += static_cast<uint64_t>(kw - (kxb - kxa));
      } else {
        for (size_t kx = 0; kx < cs.kw; ++kx) {
          const ptrdiff_t x = x0 + static_cast<ptrdiff_t>(kx * cs.dilW);
          if (x < 0 || x >= w) {
            fillBytes(out + kx * c, pad, c);
            ++padTaps;
          } else {
            copyBytes(out + kx * c, srcLine + x * c, c);
            sum += pre[x + 1] - pre[x];
          }
        }
      }
    }
    fillBytes(row + k_, 0, kPad_ - k_);
    setRowConst(i, sum, padTaps);
  }
}

void I8GemmPlan::rowPointers(size_t r0, size_t r1, const uint8_t** out) const {
  // Everything in locals: the stores through `out` could otherwise alias the plan's pointers.
  const ConvShape cs = codes_.shape;
  const size_t c = cs.c, wp = wp_, ow = cs.outW(), oh = cs.outH(), step = cs.strideW * c;
  const uint8_t* const src = src_;
  const uint64_t* const pre0 = prefix();
  const uint64_t slope = rowSlope_, base = rowBase_;
  uint32_t* const rowConst = rowConst_.data();
  // A run of rows along one output line at a time: window origins step by strideW pixels.
  for (size_t i = r0; i < r1;) {
    const size_t ox0 = i % ow, line = i / ow, run = std::min(r1 - i, ow - ox0);
    const size_t line0 = (line / oh) * hp_ + (line % oh) * cs.strideH;  // the window's first line
    const uint8_t* origin = src + (line0 * wp + ox0 * cs.strideW) * c;
    for (size_t r = 0; r < run; ++r, origin += step) out[r] = origin;
    if (cs.strideW == 1 && cs.dilW == 1) {
      // Consecutive windows: each kernel row's sums are one contiguous difference of prefixes,
      // taken for kChunk rows at a time in uint32 lanes (rowConst is mod 2^32 anyway) so the loops
      // vectorise (the row-at-a-time loop below was 7.7% of ResNet-20's 8-bit run at batch 64 on a Zen 4
      // in perf, this one 4.7%).
      constexpr size_t kChunk = 64;
      const uint32_t slope32 = static_cast<uint32_t>(slope), base32 = static_cast<uint32_t>(base);
      for (size_t q0 = 0; q0 < run; q0 += kChunk) {
        const size_t len = std::min(kChunk, run - q0);
        uint32_t sum[kChunk] = {};
        for (size_t ky = 0; ky < cs.kh; ++ky) {
          const uint64_t* pre = pre0 + (line0 + ky * cs.dilH) * (wp + 1) + ox0 + q0;
          const uint64_t* preEnd = pre + cs.kw;
          for (size_t r = 0; r < len; ++r) sum[r] += static_cast<uint32_t>(preEnd[r] - pre[r]);
        }
        uint32_t* rc = rowConst + i + q0;
        for (size_t r = 0; r < len; ++r) rc[r] = slope32 * sum[r] + base32;
      }
      out += run;
      i += run;
      continue;
    }
    for (size_t r = 0; r < run; ++r) {
      const size_t x0 = (ox0 + r) * cs.strideW;
      uint64_t sum = 0;
      for (size_t ky = 0; ky < cs.kh; ++ky) {
        const uint64_t* pre = pre0 + (line0 + ky * cs.dilH) * (wp + 1);
        if (cs.dilW == 1) {
          sum += pre[x0 + cs.kw] - pre[x0];
        } else {
          for (size_t kx = 0; kx < cs.kw; ++kx) sum += pre[x0 + kx * cs.dilW + 1] - pre[x0 + kx * cs.dilW];
        }
      }
      rowConst[i + r] = static_cast<uint32_t>(slope * sum + base);  // setRowConst with no padding taps
    }
    out += run;
    i += run;
  }
}

void I8GemmPlan::run(size_t task) const {
  if (codes_.codes != nullptr) return runCodes(task);
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t row0 = tm * rowsPerTask_, row1 = std::min(m_, row0 + rowsPerTask_);
  runBlock(aBytes_.get() + row0 * aLd_, row0, row1 - row0, tn * colsPerTask_);
}

void I8GemmPlan::runCodes(size_t task) const {
  // A task lowers its rows into a buffer of this thread (64 KiB at K = 144, 256 rows: it stays in
  // L2 for the tiles) and runs every column block on them: no M x K buffer, no pass over memory.
  const size_t row0 = task * rowsPerTask_, row1 = std::min(m_, row0 + rowsPerTask_), rows = row1 - row0;
  if (indirect_) return runIndirect(row0, rows);
  // The thread keeps its buffer up to kKeepBytes (a long-K linear layer's rows are allocated per task).
  constexpr size_t kKeepBytes = size_t{1} << 20;
  const size_t bytes = i8MPad(rows) * aLd_;
  thread_local AlignedArray<uint8_t> kept;
  thread_local size_t keptBytes = 0;
  AlignedArray<uint8_t> own;
  uint8_t* a = nullptr;
  if (bytes <= kKeepBytes) {
    if (keptBytes < bytes) {
      kept = alignedArray<uint8_t>(bytes);
      keptBytes = bytes;
    }
    a = kept.get();
  } else {
    own = alignedArray<uint8_t>(bytes);
    a = own.get();
  }
  lowerCodes(row0, row1, a);
  if (i8MPad(rows) > rows) std::memset(a + rows * aLd_, 0, (i8MPad(rows) - rows) * aLd_);
  for (size_t col0 = 0; col0 < n_; col0 += colsPerTask_) runBlock(a, row0, rows, col0);
}

void I8GemmPlan::runIndirect(size_t row0, size_t rows) const {
  // The task's row pointers, then every column block on them.
  thread_local std::vector<const uint8_t*> table;
  table.resize(rows);
  rowPointers(row0, row0 + rows, table.data());
  thread_local std::vector<int32_t> cBuf;
  for (size_t col0 = 0; col0 < n_; col0 += colsPerTask_) {
    const size_t col1 = std::min(n_, col0 + colsPerTask_);
    const size_t colsPad = std::min(i8NPad(n_), col0 + colsPerTask_) - col0;
    cBuf.resize(rows * colsPad);
    I8ConvTileArgs t{};
    t.rows = table.data();
    t.tapOffset = tapOffset_.data();
    t.taps = tapOffset_.size();
    t.tapBytes = tapBytes_;
    t.b = w_->data + (col0 / kI8NBlock) * kPad_ * kI8NBlock;
    t.kPad = kPad_;
    t.m = static_cast<int>(rows);
    t.n = static_cast<int>(colsPad);
    t.nUsed = static_cast<int>((col1 - col0 + kI8NBlock - 1) / kI8NBlock * kI8NBlock);
    t.c = cBuf.data();
    t.ldc = colsPad;
    t.rowConst = rowConst_.data() + row0;
    t.colConst = colConst_.data() + col0;
    t.mul = static_cast<uint32_t>(finish_.mul());
    t.maxProduct = maxProduct_;
    kern_.convTile(t);
    finishBlock(cBuf.data(), colsPad, row0, rows, col0, true);
  }
}

void I8GemmPlan::runBlock(const uint8_t* a, size_t row0, size_t rows, size_t col0) const {
  const size_t col1 = std::min(n_, col0 + colsPerTask_);
  const size_t colsPad = std::min(i8NPad(n_), col0 + colsPerTask_) - col0;
  thread_local std::vector<int32_t> cBuf;
  cBuf.resize(i8MPad(rows) * colsPad);
  I8TileArgs t{};
  t.a = a;
  t.lda = aLd_;
  t.b = w_->data + (col0 / kI8NBlock) * kPad_ * kI8NBlock;
  t.kPad = kPad_;
  t.colSum = w_->colSum + col0;
  t.m = static_cast<int>(rows);
  t.n = static_cast<int>(colsPad);
  t.c = cBuf.data();
  t.ldc = colsPad;
  t.kUsed = (k_ + 3) / 4 * 4;
  t.nUsed = static_cast<int>((col1 - col0 + kI8NBlock - 1) / kI8NBlock * kI8NBlock);
  t.maxProduct = maxProduct_;
  kern_.tile(t);
  finishBlock(cBuf.data(), colsPad, row0, rows, col0, false);
}

void I8GemmPlan::finishBlock(int32_t* cBuf, size_t colsPad, size_t row0, size_t rows, size_t col0,
                             bool combined) const {
  // C = mul * core + rowTerm + colTerm with core = S + ob * sum a' - oa * sum b' - oa * ob * K
  // (i8gemm.h), all exact mod 2^32: C = mul * S + rowConst(i) + colConst(j) in uint32 arithmetic.
  // The exact results go to C (Int32) or back over S in cBuf, which one storeTile call then
  // takes through the epilogue. `combined`: the conv tile has formed them in cBuf already.
  const size_t cols = std::min(n_, col0 + colsPerTask_) - col0;
  const uint32_t* colConst = colConst_.data() + col0;
  if (combined && !finish_.int32Output()) return finish_.storeTile(cBuf, colsPad, row0, rows, col0, cols);
  for (size_t r = 0; r < rows; ++r) {
    const size_t i = row0 + r;
    int32_t* cRow = cBuf + r * colsPad;
    const uint32_t* sRow = reinterpret_cast<const uint32_t*>(cRow);
    int32_t* exact = finish_.exactRow(i, col0, cRow);
    if (combined) {
      std::memcpy(exact, cRow, cols * sizeof(int32_t));
      continue;
    }
    const uint32_t rc = rowConst_[i];
    switch (finish_.mul()) {
      case 1: combineRowI8<1>(sRow, rc, colConst, exact, cols); break;
      case 2: combineRowI8<2>(sRow, rc, colConst, exact, cols); break;
      default: combineRowI8<4>(sRow, rc, colConst, exact, cols); break;
    }
  }
  finish_.storeTile(cBuf, colsPad, row0, rows, col0, cols);
}

}  // namespace anyprec
