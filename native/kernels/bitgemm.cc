// ISA-independent driver: packing over panels, GEMM blocking, threading, encoding corrections.
#include "bitgemm.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "threadpool.h"

namespace anyprec {
namespace {

// Output tile of one task: up to kTaskPanelsM A panels x kTaskPanelsN B panels.
constexpr size_t kTaskPanelsM = 8;   // 64 rows
constexpr size_t kTaskPanelsN = 16;  // 128 columns
constexpr size_t kTilePanelsN = 8;   // B panels handed to one micro-kernel call
// K block: planes * kBlock * 64 bytes of one panel stays near 16 KiB (L1-resident).
constexpr size_t kBlockBudgetWords = 256;


const char* encodingName(Encoding e) {
  switch (e) {
    case Encoding::Unsigned: return "unsigned";
    case Encoding::Bipolar: return "bipolar";
    case Encoding::Signed: return "signed";
  }
  return "?";
}

// value = alpha * core + beta; core is the unsigned code, or its two's-complement reading.
void affine(Encoding e, int bits, int64_t* alpha, int64_t* beta) {
  if (e == Encoding::Bipolar) {
    *alpha = 2;
    *beta = -((int64_t{1} << bits) - 1);
  } else {
    *alpha = 1;
    *beta = 0;
  }
}

// Sum over K of one row's core value, from the per-plane popcounts stored at pack time.
int64_t rowCore(const int32_t* pops, int bits, bool negTop) {
  int64_t s = 0;
  for (int p = 0; p < bits; ++p) {
    const int64_t w = int64_t{1} << (bits - 1 - p);
    s += (p == 0 && negTop ? -w : w) * pops[p];
  }
  return s;
}

// The int8 path's finish: exact results mod 2^32 (i8gemm.h), so plain uint32 arithmetic (vectorises).
template <uint32_t kMul>
void combineRowI8(const uint32_t* s, uint32_t rowConst, const uint32_t* colConst, int32_t* out, size_t n) {
  for (size_t j = 0; j < n; ++j) out[j] = static_cast<int32_t>(kMul * s[j] + rowConst + colConst[j]);
}

}  // namespace

size_t findBadCode(const uint8_t* codes, size_t n, int planes) {
  return planes >= 8 ? SIZE_MAX : findCodeAtLeast(codes, n, 1u << planes);
}

size_t findCodeAtLeast(const uint8_t* codes, size_t n, unsigned limitValue) {
  if (limitValue > 255) return SIZE_MAX;
  const uint8_t limit = static_cast<uint8_t>(limitValue);
  // Branch-free OR-reduction per block so the common (valid) case vectorises; locate on failure.
  constexpr size_t kBlock = 4096;
  for (size_t s = 0; s < n; s += kBlock) {
    const size_t e = std::min(n, s + kBlock);
    uint8_t bad = 0;
    for (size_t i = s; i < e; ++i) bad |= static_cast<uint8_t>(codes[i] >= limit);
    if (bad) {
      for (size_t i = s; i < e; ++i) {
        if (codes[i] >= limit) return i;
      }
    }
  }
  return SIZE_MAX;
}

void pack(const KernelTable& isa, const uint8_t* codes, size_t rows, size_t k, int planes,
          uint64_t* out, int32_t* planePop, int threads) {
  const size_t kWords = kWordsFor(k);
  const size_t panelWords = static_cast<size_t>(planes) * kWords * kPanelRows;
  const size_t panels = panelsFor(rows);
  // Group panels so each task packs at least ~64 KiB of codes.
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 16) / std::max<size_t>(1, k * kPanelRows));
  const size_t tasks = (panels + perTask - 1) / perTask;
  parallelRun(tasks, threads, [&](size_t t) {
    const size_t p0 = t * perTask, p1 = std::min(panels, p0 + perTask);
    for (size_t p = p0; p < p1; ++p) {
      const size_t r0 = p * kPanelRows;
      const int nRows = static_cast<int>(std::min<size_t>(kPanelRows, rows - r0));
      uint64_t* panel = out + p * panelWords;
      PackPanelArgs args{codes + r0 * k, k, nRows, k, planes, kWords, panel};
      isa.packPanel(args);
      isa.panelPops(panel, nRows, planes, kWords, planePop + r0 * planes);
    }
  });
}

void unpack(const PackedView& p, uint8_t* codes) {
  const size_t kWords = kWordsFor(p.cols);
  for (size_t r = 0; r < p.rows; ++r) {
    const uint64_t* panel = p.data + (r / kPanelRows) * static_cast<size_t>(p.planes) * kWords * kPanelRows;
    for (size_t t = 0; t < p.cols; ++t) {
      unsigned q = 0;
      for (int pl = 0; pl < p.planes; ++pl) {
        const uint64_t w = panel[(static_cast<size_t>(pl) * kWords + t / 64) * kPanelRows + r % kPanelRows];
        q = (q << 1) | static_cast<unsigned>((w >> (t % 64)) & 1u);
      }
      codes[r * p.cols + t] = static_cast<uint8_t>(q);
    }
  }
}

int64_t maxAbsValue(Encoding enc, int bits) {
  switch (enc) {
    case Encoding::Unsigned:
    case Encoding::Bipolar: return (int64_t{1} << bits) - 1;
    case Encoding::Signed: return int64_t{1} << (bits - 1);
  }
  return 0;
}

CheckResult checkGemm(const GemmSpec& s) {
  CheckResult r;
  auto fail = [&](ErrorKind k, std::string msg) {
    r.kind = k;
    r.message = std::move(msg);
    return r;
  };
  if (s.aBits < 1 || s.aBits > s.a.planes)
    return fail(ErrorKind::Range, "aBits must be an integer in 1.." + std::to_string(s.a.planes) +
                                      " (planes stored in a), got " + std::to_string(s.aBits));
  if (s.bBits < 1 || s.bBits > s.b.planes)
    return fail(ErrorKind::Range, "bBits must be an integer in 1.." + std::to_string(s.b.planes) +
                                      " (planes stored in b), got " + std::to_string(s.bBits));
  if (s.a.cols != s.b.cols)
    return fail(ErrorKind::Range, "a and b must have the same number of columns (K): a has " +
                                      std::to_string(s.a.cols) + ", b has " + std::to_string(s.b.cols));
  const long double worst = static_cast<long double>(s.a.cols) * maxAbsValue(s.aEnc, s.aBits) *
                            maxAbsValue(s.bEnc, s.bBits);
  if (worst > static_cast<long double>(INT32_MAX))
    return fail(ErrorKind::Range,
                "K=" + std::to_string(s.a.cols) + " with " + std::to_string(s.aBits) + "-bit " +
                    encodingName(s.aEnc) + " a and " + std::to_string(s.bBits) + "-bit " +
                    encodingName(s.bEnc) + " b could overflow int32 (worst case " +
                    std::to_string(static_cast<long long>(worst)) + ")");
  return r;
}

GemmPlan::GemmPlan(const KernelTable& isa, const GemmSpec& spec, void* c, const Epilogue& epi,
                   const Int8Route& route)
    : isa_(isa), epilogue_(epilogueTableFor(isa)), s_(spec), c_(c), epi_(epi) {
  m_ = s_.a.rows;
  n_ = s_.b.rows;
  k_ = s_.a.cols;
  aPanels_ = panelsFor(m_);
  bPanels_ = panelsFor(n_);
  kWords_ = kWordsFor(k_);
  // The int8 path always uses the AND form (for 1x1 bipolar it equals the XOR form exactly).
  xor_ = route.kernel == nullptr && s_.aBits == 1 && s_.bBits == 1 && s_.aEnc == Encoding::Bipolar &&
         s_.bEnc == Encoding::Bipolar;
  const int maxBits = std::max(s_.aBits, s_.bBits);
  kBlockWords_ = std::max<size_t>(8, kBlockBudgetWords / maxBits);
  panelsPerTaskM_ = std::min(kTaskPanelsM, std::max<size_t>(1, aPanels_));
  panelsPerTaskN_ = kTaskPanelsN;
  tasksM_ = (aPanels_ + panelsPerTaskM_ - 1) / panelsPerTaskM_;
  tasksN_ = (bPanels_ + panelsPerTaskN_ - 1) / panelsPerTaskN_;
  if (m_ == 0 || n_ == 0) tasksM_ = tasksN_ = 0;
  affine(s_.aEnc, s_.aBits, &alphaA_, &betaA_);
  affine(s_.bEnc, s_.bBits, &alphaB_, &betaB_);
  // C = mul * core + rowTerm(i) + colTerm(j): XOR form K - 2*pop; else the affine corrections.
  mul_ = xor_ ? -2 : alphaA_ * alphaB_;
  colTerm_.assign(n_, xor_ ? 0 : static_cast<int64_t>(k_) * betaA_ * betaB_);
  if (!xor_ && (betaA_ != 0 || betaB_ != 0)) {
    const bool negA = s_.aEnc == Encoding::Signed, negB = s_.bEnc == Encoding::Signed;
    if (betaB_ != 0) {
      rowCoreA_.resize(m_);
      for (size_t i = 0; i < m_; ++i)
        rowCoreA_[i] = rowCore(s_.a.planePop + i * s_.a.planes, s_.aBits, negA);
    }
    if (betaA_ != 0) {
      for (size_t j = 0; j < n_; ++j)
        colTerm_[j] += betaA_ * alphaB_ * rowCore(s_.b.planePop + j * s_.b.planes, s_.bBits, negB);
    }
  }
  if (route.kernel != nullptr) setupInt8(route);
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

namespace {
constexpr size_t kI8TaskRows = 256;  // multiple of kI8MAlign; AMX reuses each B strip over the rows (i8gemm_amx.cc)
constexpr size_t kI8TaskCols = 64;   // multiple of kI8NAlign; the task's int32 block stays near L1 for the finish
}  // namespace

void GemmPlan::setupInt8(const Int8Route& route) {
  i8_ = route.kernel;
  kPad_ = i8KPad(k_);
  mapA_ = byteMapA(s_.aEnc, s_.aBits);
  mapB_ = byteMapB(s_.bEnc, s_.bBits);
  if (route.weights != nullptr) {
    const std::string bad = checkI8Weights(s_, *route.weights);
    if (!bad.empty()) throw std::invalid_argument(bad);
    w_ = route.weights;
  } else {
    ownWData_.resize(i8WeightBytes(n_, k_));
    ownWColSum_.resize(i8NPad(n_));
    prepareI8Weights(*i8_, s_.b, s_.bBits, s_.bEnc, ownWData_.data(), ownWColSum_.data(), 1);
    ownW_ = I8Weights{ownWData_.data(), ownWColSum_.data(), n_, k_, s_.bBits, s_.bEnc};
    w_ = &ownW_;
  }
  // Activation bytes, 64-byte aligned; the padding rows (M..i8MPad(M)) stay zero.
  const size_t mPad = i8MPad(m_);
  // Row stride kPad + 64: a power-of-two stride would put the 16 rows of an A tile load in one
  // L1 set (4 KiB aliasing), and the tile loads would thrash it.
  aLd_ = kPad_ + 64;
  // Not zero-initialised (that cost ~3% of a 256x1024x1024 GEMM): prepare() writes every byte a
  // kernel reads of rows < M, and only the padding rows are cleared here.
  aStore_.reset(new uint8_t[mPad * aLd_ + 64]);
  const uintptr_t base = reinterpret_cast<uintptr_t>(aStore_.get());
  aBytes_ = aStore_.get() + (((base + 63) & ~uintptr_t{63}) - base);
  if (mPad > m_) std::memset(aBytes_ + m_ * aLd_, 0, (mPad - m_) * aLd_);
  // C = mul * S + rowConst(i) + colConst(j) (mod 2^32), see runInt8.
  const int64_t oa = mapA_.offset, ob = mapB_.offset, kk = static_cast<int64_t>(k_);
  const bool negA = s_.aEnc == Encoding::Signed;
  rowConstI8_.resize(m_);
  for (size_t i = 0; i < m_; ++i) {
    const int64_t sumA = rowCore(s_.a.planePop + i * s_.a.planes, s_.aBits, negA) + oa * kk;  // sum a'
    const int64_t rowTerm = rowCoreA_.empty() ? 0 : alphaA_ * betaB_ * rowCoreA_[i];
    rowConstI8_[i] = static_cast<uint32_t>(static_cast<uint64_t>(mul_ * (ob * sumA - oa * ob * kk) + rowTerm));
  }
  colConstI8_.resize(n_);
  for (size_t j = 0; j < n_; ++j)
    colConstI8_[j] = static_cast<uint32_t>(static_cast<uint64_t>(colTerm_[j] - mul_ * oa * w_->colSum[j]));
  // Prepare tasks of ~64 KiB of bytes each; output tiles of kI8TaskRows x kI8TaskCols.
  panelsPerPrep_ = std::max<size_t>(1, (size_t{1} << 16) / (aLd_ * kPanelRows));
  prepareTasks_ = m_ == 0 || n_ == 0 ? 0 : (aPanels_ + panelsPerPrep_ - 1) / panelsPerPrep_;
  rowsPerTask_ = std::min(kI8TaskRows, mPad);
  colsPerTask_ = kI8TaskCols;
  tasksM_ = m_ == 0 || n_ == 0 ? 0 : (m_ + rowsPerTask_ - 1) / rowsPerTask_;
  tasksN_ = m_ == 0 || n_ == 0 ? 0 : (n_ + colsPerTask_ - 1) / colsPerTask_;
}

void GemmPlan::prepare(size_t task) const {
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
    args.out = aBytes_ + p * kPanelRows * aLd_;
    args.ldOut = aLd_;
    i8_->byteRows(args);
  }
}

void GemmPlan::runInt8(size_t task) const {
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t row0 = tm * rowsPerTask_, row1 = std::min(m_, row0 + rowsPerTask_);
  const size_t col0 = tn * colsPerTask_, col1 = std::min(n_, col0 + colsPerTask_);
  const size_t colsPad = std::min(i8NPad(n_), col0 + colsPerTask_) - col0;
  const size_t rows = row1 - row0;
  thread_local std::vector<int32_t> cBuf;
  cBuf.resize(i8MPad(rows) * colsPad);
  thread_local std::vector<int32_t> rowBuf;
  rowBuf.resize(colsPad);
  I8TileArgs t{};
  t.a = aBytes_ + row0 * aLd_;
  t.lda = aLd_;
  t.b = w_->data + (col0 / kI8NBlock) * kPad_ * kI8NBlock;
  t.kPad = kPad_;
  t.colSum = w_->colSum + col0;
  t.m = static_cast<int>(rows);
  t.n = static_cast<int>(colsPad);
  t.c = cBuf.data();
  t.ldc = colsPad;
  i8_->tile(t);
  // C = mul * core + rowTerm + colTerm with core = S + ob * sum a' - oa * sum b' - oa * ob * K
  // (i8gemm.h), all exact mod 2^32: C = mul * S + rowConst(i) + colConst(j) in uint32 arithmetic.
  const size_t cols = col1 - col0;
  const uint32_t* colConst = colConstI8_.data() + col0;
  for (size_t r = 0; r < rows; ++r) {
    const size_t i = row0 + r;
    const uint32_t* sRow = reinterpret_cast<const uint32_t*>(cBuf.data() + r * colsPad);
    int32_t* exact = epi_.kind == OutputKind::Int32 ? static_cast<int32_t*>(c_) + i * n_ + col0 : rowBuf.data();
    const uint32_t rc = rowConstI8_[i];
    switch (mul_) {
      case 1: combineRowI8<1>(sRow, rc, colConst, exact, cols); break;
      case 2: combineRowI8<2>(sRow, rc, colConst, exact, cols); break;
      default: combineRowI8<4>(sRow, rc, colConst, exact, cols); break;
    }
    if (epi_.kind != OutputKind::Int32) storeRow(exact, i, col0, col1);
  }
}

void GemmPlan::run(size_t task) const {
  if (i8_ != nullptr) return runInt8(task);
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t ap0 = tm * panelsPerTaskM_, ap1 = std::min(aPanels_, ap0 + panelsPerTaskM_);
  const size_t bp0 = tn * panelsPerTaskN_, bp1 = std::min(bPanels_, bp0 + panelsPerTaskN_);
  const size_t row0 = ap0 * kPanelRows, row1 = std::min(m_, ap1 * kPanelRows);
  const size_t col0 = bp0 * kPanelRows, col1 = std::min(n_, bp1 * kPanelRows);
  const size_t ldAcc = (bp1 - bp0) * kPanelRows;

  thread_local std::vector<int64_t> accBuf;
  accBuf.resize((row1 - row0) * ldAcc);
  int64_t* acc = accBuf.data();
  thread_local std::vector<int32_t> rowBuf;
  rowBuf.resize(ldAcc);

  const size_t aPlaneStride = kWords_ * kPanelRows;
  const size_t aPanelStride = static_cast<size_t>(s_.a.planes) * aPlaneStride;
  const size_t bPlaneStride = kWords_ * kPanelRows;
  const size_t bPanelStride = static_cast<size_t>(s_.b.planes) * bPlaneStride;

  BitTileArgs t{};
  t.aPlaneStride = aPlaneStride;
  t.bPanelStride = bPanelStride;
  t.bPlaneStride = bPlaneStride;
  t.aPlanes = s_.aBits;
  t.bPlanes = s_.bBits;
  t.aNegTop = s_.aEnc == Encoding::Signed;
  t.bNegTop = s_.bEnc == Encoding::Signed;
  t.useXor = xor_;
  t.ldAcc = ldAcc;

  // Each micro-tile's accumulators are written by its first K block and finished just after its
  // last, while they are still in L1 (a separate pass over the task's buffer costs ~15% of a 1x1
  // GEMM; a memset per micro-tile row ~25% of a K=288 one).
  for (size_t k0 = 0; k0 < kWords_; k0 += kBlockWords_) {
    t.kWords = std::min(kBlockWords_, kWords_ - k0);
    const bool first = k0 == 0, last = k0 + kBlockWords_ >= kWords_;
    for (size_t bp = bp0; bp < bp1; bp += kTilePanelsN) {
      t.np = static_cast<int>(std::min(kTilePanelsN, bp1 - bp));
      t.b = s_.b.data + bp * bPanelStride + k0 * kPanelRows;
      const size_t c0 = (bp - bp0) * kPanelRows;
      const size_t cols = std::min<size_t>(static_cast<size_t>(t.np) * kPanelRows, (col1 - col0) - c0);
      for (size_t ap = ap0; ap < ap1; ++ap) {
        t.mr = static_cast<int>(std::min<size_t>(kPanelRows, m_ - ap * kPanelRows));
        t.a = s_.a.data + ap * aPanelStride + k0 * kPanelRows;
        t.acc = acc + (ap - ap0) * kPanelRows * ldAcc + c0;
        t.overwrite = first;  // the first K block writes the sums (no memset of the buffer)
        isa_.bitTile(t);
        if (last) {
          for (int r = 0; r < t.mr; ++r) finishRow(t.acc + r * ldAcc, ap * kPanelRows + r, col0 + c0, cols, rowBuf.data());
        }
      }
    }
  }
}

// Turns one row segment of accumulators (columns col..col+n) into the output.
void GemmPlan::finishRow(const int64_t* accRow, size_t i, size_t col, size_t n, int32_t* scratch) const {
  // Int32 results go straight to C; other outputs convert from the int32 row.
  int32_t* exact = epi_.kind == OutputKind::Int32 ? static_cast<int32_t*>(c_) + i * n_ + col : scratch;
  const int64_t rowTerm = (xor_ ? static_cast<int64_t>(k_) : 0) + (rowCoreA_.empty() ? 0 : alphaA_ * betaB_ * rowCoreA_[i]);
  const int64_t* colTerm = colTerm_.data() + col;
  epilogue_.combine(accRow, mul_, rowTerm, colTerm, exact, n);
  if (epi_.kind != OutputKind::Int32) storeRow(exact, i, col, col + n);
}

void GemmPlan::storeRow(const int32_t* v, size_t i, size_t col0, size_t col1) const {
  const size_t n = col1 - col0;
  const float* scale = epi_.scale + col0;
  const float* shift = epi_.shift ? epi_.shift + col0 : nullptr;
  if (epi_.kind == OutputKind::Float32) {
    epilogue_.int32ToFloat(v, scale, shift, epi_.lo, epi_.hi, static_cast<float*>(c_) + i * n_ + col0, n);
  } else {
    const float levels = static_cast<float>((1 << epi_.codeBits) - 1);
    epilogue_.int32ToCodes(v, scale, shift, levels, static_cast<uint8_t*>(c_) + i * n_ + col0, n);
  }
}


namespace {
// Per-channel vectors repeated over `rows` rows (null stays null), so a block of rows of a
// [rows, channels] tensor is one flat call of an epilogue row loop: with few channels (16 in the
// first stage of a ResNet) a call per row spent more in the call than in the arithmetic.
struct ChannelBlock {
  size_t rows;
  std::vector<float> scale, shift;
  ChannelBlock(size_t channels, const float* s, const float* h) {
    rows = std::max<size_t>(1, 256 / channels);
    if (s) scale = repeat(s, channels);
    if (h) shift = repeat(h, channels);
  }
  std::vector<float> repeat(const float* v, size_t channels) const {
    std::vector<float> out(rows * channels);
    for (size_t r = 0; r < rows; ++r) std::copy(v, v + channels, out.begin() + static_cast<ptrdiff_t>(r * channels));
    return out;
  }
  const float* scaleOr(const float* s) const { return s ? scale.data() : nullptr; }
  const float* shiftOr(const float* h) const { return h ? shift.data() : nullptr; }
};

// Runs blockFn(row0, rowCount) over the rows of a [rows, channels] tensor in blocks of
// `perBlock` rows, ~64 Ki values per task.
template <typename BlockFn>
void forRowBlocks(size_t n, size_t channels, size_t perBlock, int threads, const BlockFn& blockFn) {
  const size_t rows = n / channels;  // the callers guarantee n % channels == 0
  const size_t perTask = std::max<size_t>(1, (size_t{1} << 16) / channels);
  parallelRun((rows + perTask - 1) / perTask, threads, [&](size_t t) {
    const size_t r1 = std::min(rows, (t + 1) * perTask);
    for (size_t r = t * perTask; r < r1; r += perBlock) blockFn(r, std::min(perBlock, r1 - r));
  });
}
}  // namespace

void codesToFloat(const KernelTable& isa, const uint8_t* codes, size_t n, const float* table, float* out, int threads) {
  const EpilogueTable& e = epilogueTableFor(isa);
  constexpr size_t kChunk = size_t{1} << 16;
  parallelRun((n + kChunk - 1) / kChunk, threads, [&](size_t t) {
    const size_t i0 = t * kChunk;
    e.codesToFloat(codes + i0, table, out + i0, std::min(kChunk, n - i0));
  });
}

namespace {
// The row loops of one input type: float activations, or int32 GEMM results (converted to float
// first, as the GEMM epilogue does).
inline void affineRows(const EpilogueTable& e, const float* x, const float* s, const float* h, float lo, float hi,
                       float* out, size_t n) {
  e.floatAffine(x, s, h, lo, hi, out, n);
}
inline void affineRows(const EpilogueTable& e, const int32_t* x, const float* s, const float* h, float lo, float hi,
                       float* out, size_t n) {
  e.int32ToFloat(x, s, h, lo, hi, out, n);
}
inline void codeRows(const EpilogueTable& e, const float* x, const float* s, const float* h, float levels,
                     uint8_t* out, size_t n) {
  e.floatToCodes(x, s, h, levels, out, n);
}
inline void codeRows(const EpilogueTable& e, const int32_t* x, const float* s, const float* h, float levels,
                     uint8_t* out, size_t n) {
  e.int32ToCodes(x, s, h, levels, out, n);
}

template <typename T>
void channelAffineOf(const KernelTable& isa, const T* x, size_t n, size_t channels, const float* scale,
                     const float* shift, float lo, float hi, float* out, int threads) {
  const EpilogueTable& e = epilogueTableFor(isa);
  const ChannelBlock cb(channels, scale, shift);
  const float* bs = cb.scaleOr(scale);
  const float* bh = cb.shiftOr(shift);
  forRowBlocks(n, channels, cb.rows, threads, [&](size_t r, size_t count) {
    affineRows(e, x + r * channels, bs, bh, lo, hi, out + r * channels, count * channels);
  });
}

template <typename T>
void quantizeActivationsOf(const KernelTable& isa, const T* x, size_t n, size_t channels, const float* scale,
                           const float* shift, int bits, uint8_t* out, int threads) {
  const EpilogueTable& e = epilogueTableFor(isa);
  const float levels = static_cast<float>((1 << bits) - 1);
  const ChannelBlock cb(channels, scale, shift);
  const float* bs = cb.scaleOr(scale);
  const float* bh = cb.shiftOr(shift);
  forRowBlocks(n, channels, cb.rows, threads, [&](size_t r, size_t count) {
    codeRows(e, x + r * channels, bs, bh, levels, out + r * channels, count * channels);
  });
}
}  // namespace

void channelAffine(const KernelTable& isa, const float* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads) {
  channelAffineOf(isa, x, n, channels, scale, shift, lo, hi, out, threads);
}

void channelAffine(const KernelTable& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads) {
  channelAffineOf(isa, x, n, channels, scale, shift, lo, hi, out, threads);
}

void quantizeActivations(const KernelTable& isa, const float* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads) {
  quantizeActivationsOf(isa, x, n, channels, scale, shift, bits, out, threads);
}

void quantizeActivations(const KernelTable& isa, const int32_t* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads) {
  quantizeActivationsOf(isa, x, n, channels, scale, shift, bits, out, threads);
}

void bitGemm(const KernelTable& isa, const GemmSpec& spec, void* c, const Epilogue& epi, int threads,
             const Int8Route& route) {
  GemmPlan plan(isa, spec, c, epi, route);
  if (plan.prepareTasks() > 0) parallelRun(plan.prepareTasks(), threads, [&](size_t t) { plan.prepare(t); });
  parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
}

void bitGemm(const KernelTable& isa, const GemmSpec& spec, int32_t* c, int threads) {
  bitGemm(isa, spec, c, Epilogue(), threads);
}

}  // namespace anyprec
