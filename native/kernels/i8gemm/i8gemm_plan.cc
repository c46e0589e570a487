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
  // difference per kernel row (dilation 1) or per tap.
  const size_t count = cs.inputCount(), pixels = mulOrThrow({cs.n, cs.h, cs.w}, "conv input pixels");
  const uint8_t x = mapA_.xorValue;
  src_ = codes_.codes;
  if (x != 0) {
    mapped_.resize(count);
    for (size_t t = 0; t < count; ++t) mapped_[t] = codes_.codes[t] ^ x;
    src_ = mapped_.data();
  }
  const size_t sums = addOrThrow(pixels, pixels / cs.w, "conv input pixels");
  pixelSum_ = BytePool::instance().take(mulOrThrow({sums, sizeof(uint64_t)}, "conv input pixels"), &pixelSumCapacity_);
  for (size_t r = 0; r < pixels / cs.w; ++r) {
    uint64_t* pre = reinterpret_cast<uint64_t*>(pixelSum_.get()) + r * (cs.w + 1);
    const uint8_t* px = src_ + r * cs.w * cs.c;
    pre[0] = 0;
    for (size_t xi = 0; xi < cs.w; ++xi, px += cs.c) pre[xi + 1] = pre[xi] + sumBytes(px, cs.c);
  }
  prepareTasks_ = 0;
  tasksN_ = tasksM_ == 0 ? 0 : 1;  // a task lowers its rows once and runs every column block (runCodes)
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
  colConst_.resize(n_);
  for (size_t j = 0; j < n_; ++j)
    colConst_[j] = static_cast<uint32_t>(static_cast<uint64_t>(finish_.colTerm()[j] - mul * oa * w_->colSum[j]));
  // Output tiles of kI8TaskRows x kI8TaskCols.
  rowsPerTask_ = std::min(kI8TaskRows, mPad);
  colsPerTask_ = kI8TaskCols;
  tasksM_ = m_ == 0 || n_ == 0 ? 0 : (m_ + rowsPerTask_ - 1) / rowsPerTask_;
  tasksN_ = m_ == 0 || n_ == 0 ? 0 : (n_ + colsPerTask_ - 1) / colsPerTask_;
}

uint32_t I8GemmPlan::rowConstOf(int64_t sumA, int64_t rowTerm) const {
  const int64_t oa = mapA_.offset, ob = mapB_.offset, kk = static_cast<int64_t>(k_);
  return static_cast<uint32_t>(static_cast<uint64_t>(finish_.mul() * (ob * sumA - oa * ob * kk) + rowTerm));
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
}  // namespace

void I8GemmPlan::lowerCodes(size_t r0, size_t r1, uint8_t* rowsOut) const {
  const ConvShape& cs = codes_.shape;
  const size_t oh = cs.outH(), ow = cs.outW(), c = cs.c, kwc = cs.kw * c;
  const uint8_t pad = mapA_.xorValue;  // a' of code 0
  const int64_t oa = mapA_.offset, kk = static_cast<int64_t>(k_);
  const ptrdiff_t h = static_cast<ptrdiff_t>(cs.h), w = static_cast<ptrdiff_t>(cs.w);
  size_t img = r0 / (oh * ow), oy = (r0 / ow) % oh, ox = r0 % ow;
  for (size_t i = r0; i < r1; ++i) {
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
      const uint64_t* pre = prefix() + line * (cs.w + 1);
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
    const int64_t sumA = static_cast<int64_t>(sum + padTaps * c * pad);  // sum of a' over the row
    rowConst_[i] = rowConstOf(sumA, finish_.rowTermOf(sumA - oa * kk));
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        ++img;
      }
    }
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
  kern_.tile(t);
  // C = mul * core + rowTerm + colTerm with core = S + ob * sum a' - oa * sum b' - oa * ob * K
  // (i8gemm.h), all exact mod 2^32: C = mul * S + rowConst(i) + colConst(j) in uint32 arithmetic.
  // The exact results go to C (Int32) or back over S in cBuf, which one storeTile call then
  // takes through the epilogue.
  const size_t cols = col1 - col0;
  const uint32_t* colConst = colConst_.data() + col0;
  for (size_t r = 0; r < rows; ++r) {
    const size_t i = row0 + r;
    int32_t* cRow = cBuf.data() + r * colsPad;
    const uint32_t* sRow = reinterpret_cast<const uint32_t*>(cRow);
    int32_t* exact = finish_.exactRow(i, col0, cRow);
    const uint32_t rc = rowConst_[i];
    switch (finish_.mul()) {
      case 1: combineRowI8<1>(sRow, rc, colConst, exact, cols); break;
      case 2: combineRowI8<2>(sRow, rc, colConst, exact, cols); break;
      default: combineRowI8<4>(sRow, rc, colConst, exact, cols); break;
    }
  }
  finish_.storeTile(cBuf.data(), colsPad, row0, rows, col0, cols);
}

}  // namespace anyprec
