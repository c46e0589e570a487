// ISA-independent driver: packing over panels, GEMM blocking, threading, encoding corrections.
#include "bitgemm.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

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

GemmPlan::GemmPlan(const KernelTable& isa, const GemmSpec& spec, void* c, const Epilogue& epi)
    : isa_(isa), epilogue_(epilogueTableFor(isa)), s_(spec), c_(c), epi_(epi) {
  m_ = s_.a.rows;
  n_ = s_.b.rows;
  k_ = s_.a.cols;
  aPanels_ = panelsFor(m_);
  bPanels_ = panelsFor(n_);
  kWords_ = kWordsFor(k_);
  xor_ = s_.aBits == 1 && s_.bBits == 1 && s_.aEnc == Encoding::Bipolar && s_.bEnc == Encoding::Bipolar;
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
}

void GemmPlan::run(size_t task) const {
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

void channelAffine(const KernelTable& isa, const float* x, size_t n, size_t channels, const float* scale,
                   const float* shift, float lo, float hi, float* out, int threads) {
  const EpilogueTable& e = epilogueTableFor(isa);
  const ChannelBlock cb(channels, scale, shift);
  const float* bs = cb.scaleOr(scale);
  const float* bh = cb.shiftOr(shift);
  forRowBlocks(n, channels, cb.rows, threads, [&](size_t r, size_t count) {
    e.floatAffine(x + r * channels, bs, bh, lo, hi, out + r * channels, count * channels);
  });
}

void quantizeActivations(const KernelTable& isa, const float* x, size_t n, size_t channels, const float* scale,
                         const float* shift, int bits, uint8_t* out, int threads) {
  const EpilogueTable& e = epilogueTableFor(isa);
  const float levels = static_cast<float>((1 << bits) - 1);
  const ChannelBlock cb(channels, scale, shift);
  const float* bs = cb.scaleOr(scale);
  const float* bh = cb.shiftOr(shift);
  forRowBlocks(n, channels, cb.rows, threads, [&](size_t r, size_t count) {
    e.floatToCodes(x + r * channels, bs, bh, levels, out + r * channels, count * channels);
  });
}

void bitGemm(const KernelTable& isa, const GemmSpec& spec, void* c, const Epilogue& epi, int threads) {
  GemmPlan plan(isa, spec, c, epi);
  parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
}

void bitGemm(const KernelTable& isa, const GemmSpec& spec, int32_t* c, int threads) {
  bitGemm(isa, spec, c, Epilogue(), threads);
}

}  // namespace anyprec
