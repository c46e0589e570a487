// ISA-independent driver of the precision-gated GEMM (contract in gated.h).
//
// One task = one output tile of up to 64 rows (8 A panels) x 128 columns (16 B panels):
//   1. high planes: KernelTable::bitTile over the tile with A's top highBits planes, into int64
//      sums (the dense GEMM's blocking: K blocks near L1, 8 B panels per call);
//   2. gate (GatedKernelTable::gate): O_hb, the comparison, out = O_hb (+ the low planes' row
//      correction where on), the mask, and 16-bit on-masks per row and 16 columns;
//   1+2 fused where the ISA has GatedKernelTable::highGate (and one weight operand): the last K
//      block of the high planes and the gate in one micro-kernel per A panel, which decides each
//      output while its high-plane sum is in a register (earlier K blocks, if any, through bitTile);
//   3. low planes, only for gated-on outputs (below), added to out.
//
// Skipping strategies (GatedStrategy; all bit-identical, each tested):
//   Tiles   — run the low planes with the dense bit-plane kernel on every 8 x 8 micro-tile that
//             has at least one output on (adjacent ones in one call) and skip the others;
//   Compact — list every gated-on output of each 16 x 16 group and run the compacted-list kernel
//             (lowGroup: one listed output per SIMD lane, operands permuted into the lanes);
//   Hybrid  — per micro-tile, Tiles when at least denseTileMinOn of its 64 outputs are on, else
//             Compact (for gates whose on-set clusters, e.g. by channel or image region).
// How sparse the on-set is per micro-tile decides: a micro-tile can be skipped only when all
// 64 of its outputs are off. With an uncorrelated gate at 80% of outputs off that happens for
// 0.8^64 ~ 1e-6 of them, at 95% off for 0.95^64 = 4%: Tiles then does nearly all the dense low-
// plane work. Compact does work per gated-on output, at a cost per output and plane pair of
// ~1.8-2.3x the dense kernel's with 2 low planes x 1 weight plane when a group is half full or
// more, ~3x at 20% on, ~5x at 5% on (permutes on the port VPOPCNTQ needs, lanes left empty, the
// list and the write-back; see gated_avx512.cc).
// Measured (bench/native/gated_bench.cc, this Xeon, avx512, M=4096 x N=64, 4-bit activations
// with 2 high planes x 1-bit weights, the low-plane phase alone = gated time - all-off time):
//   K=288: at 80% off Compact took 0.46x the time of Tiles, at 95% off 0.25x, at 50% off 0.56x;
//   K=576: 0.38x at 80%, 0.24x at 95%.
// Hybrid (dense micro-tiles from 26 outputs on) measured no faster than Compact with uncorrelated
// gates and slower at 50% off (its dense micro-tiles pay a scalar masked add per output), and
// with clustered gates (bench --cluster: a quarter of the 8-row bands carry the large codes)
// Compact and Tiles came out even and Hybrid behind. Auto = Compact.
#include "gated/gated.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "common/gemm_spec.h"
#include "common/threadpool.h"
#include "common/align.h"
#include "eltwise/gemm_finish.h"
#include "i8gemm/i8gemm.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

constexpr size_t kTaskPanelsM = 8;   // 64 rows
constexpr size_t kTaskPanelsN = 16;  // 128 columns
constexpr size_t kTilePanelsN = 8;   // B panels per bitTile call
constexpr size_t kBlockBudgetWords = 256;
constexpr size_t kStripMaxBData = 16 * 1024;  // bytes of a task's B data for 2-panel strips
constexpr size_t kStripAccBytes = 8 * 1024;   // bytes of high-plane sums per strip (small N)
constexpr size_t kTaskRows = kTaskPanelsM * kPanelRows;
constexpr size_t kTaskCols = kTaskPanelsN * kPanelRows;
constexpr size_t kBitsStride = kTaskCols / 16;  // 16-bit on-mask words per tile row
constexpr size_t kGroupsM = kTaskPanelsM / 2, kGroupsN = kTaskPanelsN / 2;

// GatedProfile's clock: the time-stamp counter where there is one (a few ns; a strip can take
// under a microsecond), else steady_clock nanoseconds.
uint64_t profileTicks() {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
#endif
}

}  // namespace

int64_t gateThreshold(float t) {
  if (std::isnan(t)) return INT64_MAX;  // NaN compares false: never on
  const double f = std::floor(static_cast<double>(t));
  if (f >= 9.0e18) return INT64_MAX;
  if (f <= -9.0e18) return INT64_MIN;
  return static_cast<int64_t>(f);
}

CheckResult checkGated(const GatedSpec& s) {
  CheckResult r;
  auto fail = [&](std::string msg) {
    r.kind = ErrorKind::Range;
    r.message = std::move(msg);
    return r;
  };
  const bool lowOnly = s.highSums != nullptr && s.lowOnly;
  if (lowOnly) {
    // Only the L low planes are stored (the high part is given): the checks below see a as if it
    // stored all B planes (the bounds are those of the B-bit product either way).
    if (s.aBits < 2 || s.aBits > 8 || s.highBits < 1 || s.highBits >= s.aBits)
      return fail("aBits must be in 2..8 and highBits in 1..aBits-1 (lowOnly), got " + std::to_string(s.aBits) + " / " +
                  std::to_string(s.highBits));
    if (s.a.planes < s.aBits - s.highBits)
      return fail("a must store the " + std::to_string(s.aBits - s.highBits) + " low planes (lowOnly), it stores " +
                  std::to_string(s.a.planes));
    GatedSpec full = s;
    full.lowOnly = false;
    full.a.planes = s.aBits;
    return checkGated(full);
  }
  if (s.highSums != nullptr && s.ldHighSums < s.b.rows)
    return fail("ldHighSums must be at least N = " + std::to_string(s.b.rows));
  if (s.a.planes < 2)
    return fail("a must store at least 2 bit planes for gating (high and low), it stores " + std::to_string(s.a.planes));
  if (s.aBits < 2 || s.aBits > s.a.planes)
    return fail("aBits must be an integer in 2.." + std::to_string(s.a.planes) +
                " (planes stored in a; gating needs a high and a low part), got " + std::to_string(s.aBits));
  if (s.highBits < 1 || s.highBits >= s.aBits)
    return fail("highBits must be an integer in 1.." + std::to_string(s.aBits - 1) + " (below aBits = " +
                std::to_string(s.aBits) + "), got " + std::to_string(s.highBits));
  if (s.high == GatedHigh::Int8 && s.b2Bits != 0 && s.highSums == nullptr)
    return fail("the int8 high route takes one weight operand: b2 must be absent (b2Bits = 0) with high = Int8");
  // Every partial sum the driver stores (O_hb, O_hb plus the low row correction) is bounded by
  // the dense GEMM's worst case, so the dense check covers them.
  GemmSpec dense{s.a, s.b, s.aBits, s.bBits, Encoding::Unsigned, s.bEnc};
  r = checkGemm(dense);
  if (r.kind != ErrorKind::None || s.b2Bits == 0) return r;
  // Second operand: its own dense check, matching rows, and the sum of both worst cases (the
  // driver adds the two operands' partial sums in int32).
  if (s.b2.rows != s.b.rows)
    return fail("b2 must have the same number of rows (N) as b: b has " + std::to_string(s.b.rows) + ", b2 has " +
                std::to_string(s.b2.rows));
  GemmSpec dense2{s.a, s.b2, s.aBits, s.b2Bits, Encoding::Unsigned, s.b2Enc};
  r = checkGemm(dense2);
  if (r.kind != ErrorKind::None) {
    if (r.message.rfind("bBits", 0) == 0) r.message = "b2Bits" + r.message.substr(5);
    if (r.message.rfind("a and b ", 0) == 0) r.message = "a and b2 " + r.message.substr(8);
    return r;
  }
  const long double worst = static_cast<long double>(s.a.cols) * maxAbsValue(Encoding::Unsigned, s.aBits) *
                            (static_cast<long double>(maxAbsValue(s.bEnc, s.bBits)) + maxAbsValue(s.b2Enc, s.b2Bits));
  if (worst > static_cast<long double>(INT32_MAX))
    return fail("K=" + std::to_string(s.a.cols) + " with " + std::to_string(s.aBits) +
                "-bit a and the sum of b and b2 could overflow int32 (worst case " +
                std::to_string(static_cast<long long>(worst)) + ")");
  return r;
}

struct GatedPlan::Scratch {
  std::vector<int64_t> acc;      // kTaskRows x ldAcc high-plane sums
  std::vector<int64_t> acc2;     // the same for b2 (two operands)
  std::vector<uint16_t> bits;    // kTaskRows x kBitsStride on-masks
  std::vector<uint32_t> entries; // one group's list and output offsets (lowGroup scratch)
  std::vector<int64_t> low;      // its low-plane sums
  std::vector<int64_t> tileAcc;  // 8 x 64 dense micro-tile sums
  std::vector<uint8_t> tileOn;   // kTaskPanelsM x kTaskPanelsN on-counts (hybrid)
  std::vector<int32_t> rowTerm;  // per tile row: beta_B * 2^L * high-plane row sum of A
  std::vector<int32_t> rowLow;   // per tile row: beta_B * low-plane row sum of A
  std::vector<int32_t> exact;    // kTaskRows x kTaskCols exact results (Float32 / Codes epilogues)
  std::vector<uint8_t> lists;    // per 16 x 16 group of a strip: its on-outputs (GateArgs::lists)
  std::vector<uint32_t> listCounts;
  AlignedArray<uint8_t> highBytes;  // GatedHigh::Int8: a task's high codes as bytes
  size_t highBytesCap = 0;
  std::vector<int32_t> highC;       // and their int8 tile's sums
};

GatedPlan::GatedPlan(const Platform& isa, const GatedSpec& spec, void* out, uint8_t* mask)
    : isa_(*isa.bitplane), gated_(*isa.gated), s_(spec), out_(out), mask_(mask) {
  if (s_.epilogue.kind != OutputKind::Int32) {
    // Only its storeTile is used (exact int32 results in, the epilogue's output out): the spec
    // gives the shape, and unsigned encodings spare it the encoding corrections (an O(M) pass)
    // that only its finishTile would apply.
    PackedView av = s_.a;
    if (s_.highSums != nullptr && s_.lowOnly) av.planes = s_.aBits;  // only the shape is read
    const GemmSpec dense{av, s_.b, s_.aBits, s_.bBits, Encoding::Unsigned, Encoding::Unsigned};
    finish_.reset(new GemmFinish(*isa.epilogue, dense, out, s_.epilogue, false));
  }
  m_ = s_.a.rows;
  n_ = s_.b.rows;
  k_ = s_.a.cols;
  kWords_ = kWordsFor(k_);
  aPanels_ = panelsFor(m_);
  bPanels_ = panelsFor(n_);
  tasksM_ = (aPanels_ + kTaskPanelsM - 1) / kTaskPanelsM;
  tasksN_ = (bPanels_ + kTaskPanelsN - 1) / kTaskPanelsN;
  if (m_ == 0 || n_ == 0) tasksM_ = tasksN_ = 0;
  strategy_ = s_.strategy == GatedStrategy::Auto ? GatedStrategy::Compact : s_.strategy;
  lowBits_ = s_.aBits - s_.highBits;
  nOps_ = s_.b2Bits > 0 ? 2 : 1;
  for (int o = 0; o < nOps_; ++o) {
    Operand& op = ops_[o];
    op.b = o == 0 ? s_.b : s_.b2;
    op.bits = o == 0 ? s_.bBits : s_.b2Bits;
    op.enc = o == 0 ? s_.bEnc : s_.b2Enc;
    op.kBlockHigh = std::max<size_t>(8, kBlockBudgetWords / std::max(s_.highBits, op.bits));
    op.kBlockLow = std::max<size_t>(8, kBlockBudgetWords / std::max(lowBits_, op.bits));
    op.alpha = op.enc == Encoding::Bipolar ? 2 : 1;
    op.beta = op.enc == Encoding::Bipolar ? -((int64_t{1} << op.bits) - 1) : 0;
  }
  // One operand: the gate shifts its raw sums by alpha too; two: the driver scales each operand's
  // sums by its alpha when it adds them, and the gate shifts by 2^L only.
  given_ = s_.highSums != nullptr;
  lowPlane0_ = given_ && s_.lowOnly ? 0 : static_cast<size_t>(s_.highBits);
  // Given high sums are value sums (alpha and beta applied): O_hb = V << L, no row term.
  shift_ = given_ ? lowBits_ : lowBits_ + (nOps_ == 1 && ops_[0].alpha == 2 ? 1 : 0);
  minOn_ = gated_.denseTileMinOn(lowBits_, s_.bBits);
  // Strips of two A panels (one row of 16 x 16 groups) keep a strip's sums, out rows and masks in
  // L1 from the high planes through the gate to the low planes, when the task's B data (re-read
  // once per strip) is small; else the whole task's 8 panels share each B block while it is hot.
  // Measured (gated_bench, this Xeon, M=4096, K=288, N=64, 4/2 bits): 1-bit weights (B data
  // 5 KB) 0.92x the time with +inf thresholds and 0.89x at 80% off; 8-bit weights (40 KB)
  // 1.07x with +inf, so those keep whole tasks.
  // With few columns (N < 64: the first convolutions of a network) a strip holds little work and
  // its fixed costs (calls, row terms, the epilogue) dominate: a strip takes as many A panels as
  // keep its sums within kStripAccBytes (2 at N >= 64, as measured above; 4 at N = 32; the whole
  // task at N = 16).
  size_t bBytes = 0;
  for (int o = 0; o < nOps_; ++o) bBytes += static_cast<size_t>(ops_[o].bits) * kWords_ * kTaskCols * sizeof(uint64_t);
  const size_t accPerPanel = kPanelRows * std::min(bPanels_, kTaskPanelsN) * kPanelRows * sizeof(int64_t);
  stripPanels_ = bBytes <= kStripMaxBData
                     ? std::min(kTaskPanelsM, std::max<size_t>(2, kStripAccBytes / std::max<size_t>(1, accPerPanel)))
                     : kTaskPanelsM;
  thr_.resize(n_);
  for (size_t j = 0; j < n_; ++j)
    thr_[j] = static_cast<int32_t>(std::min<int64_t>(INT32_MAX, std::max<int64_t>(INT32_MIN, gateThreshold(s_.thresholds[j]))));
  onPerTask_.assign(tasks(), 0);
  if (s_.high == GatedHigh::Int8 && nOps_ == 1 && !given_) {
    i8_ = isa.int8;
    const Operand& op = ops_[0];
    kPad_ = i8KPad(k_);
    const ByteMap ma = byteMapA(Encoding::Unsigned, s_.highBits), mb = byteMapB(op.enc, op.bits);
    std::memcpy(highPlaneValue_, ma.planeValue, sizeof highPlaneValue_);
    ob_ = mb.offset;
    maxProduct_ = i8MaxProduct(s_.highBits, op.bits, op.enc);
    if (s_.highWeights != nullptr) {
      // A copy of the view (the caller's I8Weights may be a temporary; its arrays must outlive the plan).
      ownW_.reset(new I8Weights(*s_.highWeights));
      i8W_ = ownW_.get();
    } else {
      ownWData_.resize(i8WeightBytes(n_, k_));
      ownWColSum_.resize(i8NPad(n_));
      prepareI8Weights(*i8_, op.b, op.bits, op.enc, ownWData_.data(), ownWColSum_.data(), 1);
      ownW_.reset(new I8Weights{ownWData_.data(), ownWColSum_.data(), n_, k_, op.bits, op.enc});
      i8W_ = ownW_.get();
    }
  }
}

GatedPlan::~GatedPlan() = default;

uint64_t GatedPlan::onCount() const {
  uint64_t s = 0;
  for (uint64_t c : onPerTask_) s += c;
  return s;
}

void GatedPlan::run(size_t task) const {
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t ap0 = tm * kTaskPanelsM, ap1 = std::min(aPanels_, ap0 + kTaskPanelsM);
  const size_t bp0 = tn * kTaskPanelsN, bp1 = std::min(bPanels_, bp0 + kTaskPanelsN);
  thread_local Scratch scratch;
  uint64_t on = 0;
  if (i8_ != nullptr) {
    GatedProfile* const prof = s_.profile;
    const uint64_t t0 = prof ? profileTicks() : 0;
    highInt8(scratch, ap0, ap1, bp0, bp1);
    if (prof) prof->high += static_cast<double>(profileTicks() - t0);
  }
  for (size_t sp = ap0; sp < ap1; sp += stripPanels_)
    on += runStrip(scratch, sp, std::min(ap1, sp + stripPanels_), bp0, bp1);
  onPerTask_[task] = on;
}

// GatedHigh::Int8: the task's high codes p_hb as bytes (from A's top highBits planes), one int8
// tile against the prepared weights, and the raw bit-serial core sums acc = S + ob * sum p_hb
// (i8gemm.h's byte map; A's offset is 0) into s.acc for the gate. acc fits int32 (checkGated), so
// the wrapping uint32 sum gives it exactly whatever S wrapped to.
void GatedPlan::highInt8(Scratch& s, size_t ap0, size_t ap1, size_t bp0, size_t bp1) const {
  const size_t row0 = ap0 * kPanelRows, row1 = std::min(m_, ap1 * kPanelRows), rows = row1 - row0;
  const size_t col0 = bp0 * kPanelRows, col1 = std::min(n_, bp1 * kPanelRows);
  const size_t mPad = i8MPad(rows);
  const size_t bytes = mPad * kPad_;
  if (s.highBytesCap < bytes) {
    s.highBytes = alignedArray<uint8_t>(bytes);
    s.highBytesCap = bytes;
  }
  uint8_t* a = s.highBytes.get();
  const size_t panelWords = static_cast<size_t>(s_.a.planes) * kWords_ * kPanelRows;
  ByteRowsArgs br{};
  br.kWords = kWords_;
  br.lane0 = 0;
  br.planes = s_.highBits;
  std::memcpy(br.planeValue, highPlaneValue_, sizeof br.planeValue);
  br.xorValue = 0;
  br.k = k_;
  br.kPad = kPad_;
  br.ldOut = kPad_;
  for (size_t ap = ap0; ap < ap1; ++ap) {
    br.panel = s_.a.data + ap * panelWords;
    br.rows = static_cast<int>(std::min<size_t>(kPanelRows, m_ - ap * kPanelRows));
    br.out = a + (ap - ap0) * kPanelRows * kPad_;
    i8_->byteRows(br);
  }
  if (mPad > rows) std::memset(a + rows * kPad_, 0, (mPad - rows) * kPad_);
  const size_t colsPad = std::min(i8NPad(n_), col0 + kTaskCols) - col0;
  s.highC.resize(mPad * colsPad);
  I8TileArgs t{};
  t.a = a;
  t.lda = kPad_;
  t.b = i8W_->data + (col0 / kI8NBlock) * kPad_ * kI8NBlock;
  t.kPad = kPad_;
  t.colSum = i8W_->colSum + col0;
  t.m = static_cast<int>(rows);
  t.n = static_cast<int>(colsPad);
  t.c = s.highC.data();
  t.ldc = colsPad;
  t.kUsed = (k_ + 3) / 4 * 4;
  t.nUsed = static_cast<int>((col1 - col0 + kI8NBlock - 1) / kI8NBlock * kI8NBlock);
  t.maxProduct = maxProduct_;
  i8_->tile(t);
  // acc = S + ob * (sum of p_hb over the row): Horner over the top planes' popcounts.
  const size_t ldAcc = (bp1 - bp0) * kPanelRows, cols = col1 - col0;
  s.acc.resize(kTaskRows * kTaskCols);
  const int planes = s_.a.planes, hb = s_.highBits;
  const uint32_t ob = static_cast<uint32_t>(ob_);
  for (size_t r = 0; r < rows; ++r) {
    const int32_t* pops = s_.a.planePop + (row0 + r) * static_cast<size_t>(planes);
    uint32_t h = 0;
    for (int p = 0; p < hb; ++p) h = 2 * h + static_cast<uint32_t>(pops[p]);
    const uint32_t add = ob * h;
    const int32_t* c = s.highC.data() + r * colsPad;
    int64_t* acc = s.acc.data() + r * ldAcc;
    for (size_t j = 0; j < cols; ++j) acc[j] = static_cast<int32_t>(static_cast<uint32_t>(c[j]) + add);
  }
}

// All three phases over A panels [ap0, ap1) x B panels [bp0, bp1) of one task; returns the number
// of gated-on outputs.
uint64_t GatedPlan::runStrip(Scratch& s, size_t ap0, size_t ap1, size_t bp0, size_t bp1) const {
  const size_t row0 = ap0 * kPanelRows, row1 = std::min(m_, ap1 * kPanelRows);
  const size_t col0 = bp0 * kPanelRows, col1 = std::min(n_, bp1 * kPanelRows);
  const size_t ldAcc = (bp1 - bp0) * kPanelRows;

  GatedProfile* const prof = s_.profile;
  uint64_t tick = prof ? profileTicks() : 0;
  auto lap = [&](double GatedProfile::*phase) {  // profiling only: adds the ticks since the last lap
    const uint64_t t = profileTicks();
    prof->*phase += static_cast<double>(t - tick);
    tick = t;
  };
  s.acc.resize(kTaskRows * kTaskCols);
  s.bits.resize(kTaskRows * kBitsStride);
  Exact o{static_cast<int32_t*>(out_) + row0 * n_ + col0, n_};
  if (finish_) {
    s.exact.resize(kTaskRows * kTaskCols);
    o = Exact{s.exact.data(), kTaskCols};
  }

  // 1. High planes of every output of the tile (two operands: summed, each times its alpha). With
  // one operand and a fused kernel only the K blocks before the last go through bitTile here: the
  // last one is done by highGate below, together with the gate.
  // GatedHigh::Int8: the task's sums are in s.acc already (run: highInt8), this strip's from row
  // (ap0 - the task's first panel) * 8.
  // GatedSpec::highSums: the caller's value sums V (O_hb = V << L), read in place by the ISA's
  // int32 gate (GatedKernelTable::gate32): no high phase here.
  const bool int8 = i8_ != nullptr;
  const bool fused = !int8 && !given_ && nOps_ == 1 && gated_.highGate != nullptr && s_.fuseGate;
  const size_t kLast = fused ? (kWords_ - 1) / ops_[0].kBlockHigh * ops_[0].kBlockHigh : kWords_;
  const int64_t* highAcc = s.acc.data();
  const bool gate32 = given_;  // the gate reads the given int32 sums in place (GatedKernelTable::gate32)
  if (int8) highAcc += (ap0 % kTaskPanelsM) * kPanelRows * ldAcc;
  else if (kLast > 0 && !given_) highPlanes(s, ops_[0], s.acc.data(), ldAcc, ap0, ap1, bp0, bp1, kLast);
  if (nOps_ == 2 && !given_) {
    s.acc2.resize(kTaskRows * kTaskCols);
    const size_t count = (row1 - row0) * ldAcc;
    highPlanes(s, ops_[1], s.acc2.data(), ldAcc, ap0, ap1, bp0, bp1, kWords_);
    const int64_t a0 = ops_[0].alpha, a1 = ops_[1].alpha;
    int64_t* acc = s.acc.data();
    const int64_t* acc2 = s.acc2.data();
    for (size_t i = 0; i < count; ++i) acc[i] = a0 * acc[i] + a1 * acc2[i];
  }

  if (prof) lap(&GatedProfile::high);

  // 2. The gate.
  const int64_t beta = ops_[0].beta + (nOps_ == 2 ? ops_[1].beta : 0);
  s.rowTerm.resize(kTaskRows);
  s.rowLow.resize(kTaskRows);
  int32_t* rowTerm = s.rowTerm.data();
  int32_t* rowLow = s.rowLow.data();
  if (beta == 0) {
    std::fill(rowTerm, rowTerm + (row1 - row0), 0);
    std::fill(rowLow, rowLow + (row1 - row0), 0);
  } else if (given_) {
    // The high part is given with its row term: only the low codes' sums (from plane lowPlane0_).
    const int lowBits = lowBits_, planes = s_.a.planes, p0 = static_cast<int>(lowPlane0_);
    const int32_t* pops = s_.a.planePop + row0 * static_cast<size_t>(planes);
    const uint32_t b = static_cast<uint32_t>(beta);
    std::fill(rowTerm, rowTerm + (row1 - row0), 0);
    for (size_t i = 0; i < row1 - row0; ++i, pops += planes) {
      uint32_t l = 0;
      for (int p = p0; p < p0 + lowBits; ++p) l = 2 * l + static_cast<uint32_t>(pops[p]);
      rowLow[i] = static_cast<int32_t>(b * l);
    }
  } else {
    // Locals: stores through the int32 rows may alias the plan's fields (the compiler reloaded
    // them every row, a cost the size of the gate itself at N = 16).
    const int hb = s_.highBits, lowBits = lowBits_, planes = s_.a.planes;
    const int32_t* pops = s_.a.planePop + row0 * static_cast<size_t>(planes);
    const uint32_t b = static_cast<uint32_t>(beta);
    for (size_t i = 0; i < row1 - row0; ++i, pops += planes) {
      // The high and the low code's sums over K (Horner over the planes, MSB first) times beta. Both
      // results fit int32: at most (2^bBits - 1) * K * (2^aBits - 1), the dense bound (checkGated;
      // with b2 the bound of the sum), so the wrapping uint32 steps give them exactly.
      uint32_t h = 0, l = 0;
      for (int p = 0; p < hb; ++p) h = 2 * h + static_cast<uint32_t>(pops[p]);
      for (int p = hb; p < hb + lowBits; ++p) l = 2 * l + static_cast<uint32_t>(pops[p]);
      rowTerm[i] = static_cast<int32_t>(b * (h << lowBits));
      rowLow[i] = static_cast<int32_t>(b * l);
    }
  }
  GateArgs g{};
  g.acc = kLast > 0 ? highAcc : nullptr;
  g.ldAcc = ldAcc;
  if (gate32) {
    g.acc = nullptr;
    g.acc32 = s_.highSums + row0 * s_.ldHighSums + col0;
    g.ldAcc = s_.ldHighSums;
  }
  g.rows = static_cast<int>(row1 - row0);
  g.cols = col1 - col0;
  g.shift = shift_;
  g.rowTerm = s.rowTerm.data();
  g.rowLow = s.rowLow.data();
  g.thr = thr_.data() + col0;
  g.out = o.at;
  g.ldOut = o.ld;
  g.mask = mask_ == nullptr ? nullptr : mask_ + row0 * n_ + col0;
  g.ldMask = n_;
  g.bits = s.bits.data();
  g.bitsStride = kBitsStride;
  const bool hybrid = strategy_ == GatedStrategy::Hybrid && minOn_ <= kPanelRows * kPanelRows;
  if (hybrid) {
    s.tileOn.assign(kTaskPanelsM * kTaskPanelsN, 0);
    g.tileOn = s.tileOn.data();
    g.tileOnStride = kTaskPanelsN;
  }
  // Compact: the gate lists each 16 x 16 group's on-outputs as it decides them (the low-plane
  // kernel then neither rebuilds the list nor visits a group with nothing on).
  const bool lists = strategy_ == GatedStrategy::Compact && (prof == nullptr || prof->gateLists);
  if (lists) {
    const size_t groups = (row1 - row0 + kGroupRows - 1) / kGroupRows * kGroupsN;
    s.lists.resize(kGroupsM * kGroupsN * kListStride);
    s.listCounts.resize(kGroupsM * kGroupsN);
    std::fill(s.listCounts.begin(), s.listCounts.begin() + static_cast<std::ptrdiff_t>(groups), 0u);
    g.lists = s.lists.data();
    g.listStride = kListStride;
    g.listGroupsPerRow = kGroupsN;
    g.listCounts = s.listCounts.data();
  }
  if (prof) lap(&GatedProfile::gate);
  const size_t on = fused ? highGate(g, kLast, ap0, ap1, bp0) : gate32 ? gated_.gate32(g) : gated_.gate(g);
  if (prof) lap(fused ? &GatedProfile::high : &GatedProfile::gate);
  // Columns past col1 in the last 16-bit word are already 0; rows past row1 never read.
  if (on > 0) lowPlanes(s, o, ap0, ap1, bp0, bp1, hybrid, lists);
  if (prof) lap(&GatedProfile::low);
  // 4. The epilogue, from the strip's exact results while they are in L1.
  if (finish_) finish_->storeTile(o.at, o.ld, row0, row1 - row0, col0, col1 - col0);
  if (prof) {
    lap(&GatedProfile::finish);
    ++prof->strips;
  }
  return on;
}

// 3. Low planes of the gated-on outputs of a strip, added to its exact results: each operand's in
// turn (hybrid: the on-masks of the micro-tiles done densely are cleared after the last operand's,
// so lowCompact skips them for both).
void GatedPlan::lowPlanes(Scratch& s, Exact o, size_t ap0, size_t ap1, size_t bp0, size_t bp1, bool hybrid,
                          bool lists) const {
  switch (strategy_) {
    case GatedStrategy::Tiles:
      for (int q = 0; q < nOps_; ++q) lowTiles(s, ops_[q], o, ap0, ap1, bp0, bp1, false, false);
      break;
    case GatedStrategy::Compact:
      for (int q = 0; q < nOps_; ++q) lowCompact(s, ops_[q], o, ap0, ap1, bp0, bp1, lists);
      break;
    default:
      if (hybrid) {
        for (int q = 0; q < nOps_; ++q) lowTiles(s, ops_[q], o, ap0, ap1, bp0, bp1, true, q == nOps_ - 1);
      }
      for (int q = 0; q < nOps_; ++q) lowCompact(s, ops_[q], o, ap0, ap1, bp0, bp1, false);
      break;
  }
}

// The last K block of the high planes (words [kFrom, kWords_)) and the gate, one A panel per call,
// added to the earlier blocks' sums in g.acc (if any); returns the number of gated-on outputs.
size_t GatedPlan::highGate(const GateArgs& g, size_t kFrom, size_t ap0, size_t ap1, size_t bp0) const {
  const Operand& op = ops_[0];
  const size_t planeStride = kWords_ * kPanelRows;
  HighGateArgs h{};
  h.aPlaneStride = planeStride;
  h.b = op.b.data + bp0 * static_cast<size_t>(op.b.planes) * planeStride + kFrom * kPanelRows;
  h.bPanelStride = static_cast<size_t>(op.b.planes) * planeStride;
  h.bPlaneStride = planeStride;
  h.aPlanes = s_.highBits;
  h.bPlanes = op.bits;
  h.bNegTop = op.enc == Encoding::Signed;
  h.kWords = kWords_ - kFrom;
  h.gate = g;
  size_t on = 0;
  for (size_t ap = ap0; ap < ap1; ++ap) {
    h.a = s_.a.data + ap * static_cast<size_t>(s_.a.planes) * planeStride + kFrom * kPanelRows;
    h.panel = static_cast<int>(ap - ap0);
    h.mr = static_cast<int>(std::min<size_t>(kPanelRows, m_ - ap * kPanelRows));
    on += gated_.highGate(h);
  }
  return on;
}

// One operand's high planes over the strip, K words [0, kEnd), written into acc (raw sums, not
// scaled by alpha).
void GatedPlan::highPlanes(Scratch&, const Operand& op, int64_t* acc, size_t ldAcc, size_t ap0, size_t ap1,
                           size_t bp0, size_t bp1, size_t kEnd) const {
  const size_t planeStride = kWords_ * kPanelRows;
  BitTileArgs t{};
  t.aPlaneStride = planeStride;
  t.bPanelStride = static_cast<size_t>(op.b.planes) * planeStride;
  t.bPlaneStride = planeStride;
  t.aPlanes = s_.highBits;
  t.bPlanes = op.bits;
  t.aNegTop = false;
  t.bNegTop = op.enc == Encoding::Signed;
  t.useXor = false;
  t.ldAcc = ldAcc;
  const size_t aPanelStride = static_cast<size_t>(s_.a.planes) * planeStride;
  for (size_t k0 = 0; k0 < kEnd; k0 += op.kBlockHigh) {
    t.kWords = std::min(op.kBlockHigh, kEnd - k0);
    t.overwrite = k0 == 0;  // the first K block writes the sums (acc is not cleared)
    for (size_t bp = bp0; bp < bp1; bp += kTilePanelsN) {
      t.np = static_cast<int>(std::min(kTilePanelsN, bp1 - bp));
      t.b = op.b.data + bp * t.bPanelStride + k0 * kPanelRows;
      for (size_t ap = ap0; ap < ap1; ++ap) {
        t.mr = static_cast<int>(std::min<size_t>(kPanelRows, m_ - ap * kPanelRows));
        t.a = s_.a.data + ap * aPanelStride + k0 * kPanelRows;
        t.acc = acc + (ap - ap0) * kPanelRows * ldAcc + (bp - bp0) * kPanelRows;
        isa_.bitTile(t);
      }
    }
  }
}

// Dense low planes on micro-tiles (A panel x B panel) selected by their on-count; in hybrid mode
// the outputs done here are cleared from the on-masks so lowCompact skips them.
void GatedPlan::lowTiles(Scratch& s, const Operand& op, Exact o, size_t ap0, size_t ap1, size_t bp0, size_t bp1,
                         bool hybrid, bool clear) const {
  const int minOn = minOn_;
  const size_t planeStride = kWords_ * kPanelRows;
  const size_t aPanelStride = static_cast<size_t>(s_.a.planes) * planeStride;
  BitTileArgs t{};
  t.aPlaneStride = planeStride;
  t.bPanelStride = static_cast<size_t>(op.b.planes) * planeStride;
  t.bPlaneStride = planeStride;
  t.aPlanes = lowBits_;
  t.bPlanes = op.bits;
  t.aNegTop = false;
  t.bNegTop = op.enc == Encoding::Signed;
  t.useXor = false;
  s.tileAcc.resize(kPanelRows * kTilePanelsN * kPanelRows);
  const int alphaShift = op.alpha == 2 ? 1 : 0;

  for (size_t ap = ap0; ap < ap1; ++ap) {
    const size_t rowA = ap * kPanelRows;
    const int mr = static_cast<int>(std::min<size_t>(kPanelRows, m_ - rowA));
    const uint16_t* rowBits = s.bits.data() + (ap - ap0) * kPanelRows * kBitsStride;
    // Byte (bp - bp0) of a row's on-masks is that row's 8 columns of panel bp.
    auto tileByte = [&](int r, size_t bpl) {
      return static_cast<unsigned>(rowBits[r * kBitsStride + bpl / 2] >> (8 * (bpl % 2))) & 0xFFu;
    };
    // Hybrid: the gate counted each micro-tile's on outputs; Tiles: any on (a zero byte test).
    auto selected = [&](size_t bpl) {
      if (hybrid) return s.tileOn[(ap - ap0) * kTaskPanelsN + bpl] >= minOn;
      unsigned any = 0;
      for (int r = 0; r < mr; ++r) any |= tileByte(r, bpl);
      return any != 0;
    };
    size_t bp = bp0;
    while (bp < bp1) {
      if (!selected(bp - bp0)) {
        ++bp;
        continue;
      }
      size_t runEnd = bp + 1;
      while (runEnd < bp1 && runEnd - bp < kTilePanelsN && selected(runEnd - bp0)) ++runEnd;
      const size_t np = runEnd - bp;
      const size_t ld = np * kPanelRows;
      t.mr = mr;
      t.np = static_cast<int>(np);
      t.acc = s.tileAcc.data();
      t.ldAcc = ld;
      for (size_t k0 = 0; k0 < kWords_; k0 += op.kBlockLow) {
        t.kWords = std::min(op.kBlockLow, kWords_ - k0);
        t.overwrite = k0 == 0;
        t.a = s_.a.data + ap * aPanelStride + lowPlane0_ * planeStride + k0 * kPanelRows;
        t.b = op.b.data + bp * t.bPanelStride + k0 * kPanelRows;
        isa_.bitTile(t);
      }
      for (int r = 0; r < mr; ++r) {
        int32_t* out = o.at + ((ap - ap0) * kPanelRows + r) * o.ld;
        for (size_t q = bp; q < runEnd; ++q) {
          const size_t bpl = q - bp0;
          const int64_t* sums = s.tileAcc.data() + r * ld + (q - bp) * kPanelRows;
          uint32_t* dst = reinterpret_cast<uint32_t*>(out + bpl * kPanelRows);
          // Wrapping int32 add (the total fits, checkGated), masked by the row's on-bits for these
          // 8 columns, without branches (a branch per output mispredicts: the bits are data).
          const unsigned on = tileByte(r, bpl);
          const size_t cEnd = std::min<size_t>(kPanelRows, n_ - q * kPanelRows);
          if (cEnd == kPanelRows) {  // a fixed count, so the loop vectorises
            for (int c = 0; c < kPanelRows; ++c)
              dst[c] += (static_cast<uint32_t>(sums[c]) << alphaShift) & (0u - ((on >> c) & 1u));
          } else {
            for (size_t c = 0; c < cEnd; ++c)
              dst[c] += (static_cast<uint32_t>(sums[c]) << alphaShift) & (0u - ((on >> c) & 1u));
          }
          if (clear) {
            uint16_t& word = s.bits[((ap - ap0) * kPanelRows + r) * kBitsStride + bpl / 2];
            word = static_cast<uint16_t>(word & ~(0xFFu << (8 * (bpl % 2))));
          }
        }
      }
      bp = runEnd;
    }
  }
}

// Compacted low planes: per 16 x 16 group, the gated-on outputs the gate listed (lists), or the
// kernel lists them from the on-masks, and does those.
void GatedPlan::lowCompact(Scratch& s, const Operand& op, Exact o, size_t ap0, size_t ap1, size_t bp0, size_t bp1,
                           bool lists) const {
  const size_t planeStride = kWords_ * kPanelRows;
  const size_t aPanelStride = static_cast<size_t>(s_.a.planes) * planeStride;
  const size_t bPanelStride = static_cast<size_t>(op.b.planes) * planeStride;
  s.entries.resize(2 * kGroupScratch);
  s.low.resize(kGroupScratch);

  LowGroupArgs t{};
  t.aPlaneStride = planeStride;
  t.bPlaneStride = planeStride;
  t.aPlanes = lowBits_;
  t.bPlanes = op.bits;
  t.aNegTop = false;
  t.bNegTop = op.enc == Encoding::Signed;
  t.kWords = kWords_;
  t.bitsStride = kBitsStride;
  t.ldOut = o.ld;
  t.alphaShift = op.alpha == 2 ? 1 : 0;
  t.entries = s.entries.data();
  t.offsets = s.entries.data() + kGroupScratch;
  t.acc = s.low.data();
  for (size_t ga = ap0; ga < ap1; ga += 2) {
    const size_t rowG = ga * kPanelRows;
    // A group with one panel (odd strips) has at most its 8 rows: the on-masks of the rows after
    // it belong to the next strip or task, not gated yet here (stale) or another thread's.
    const bool twoPanels = ga + 1 < ap1;
    t.rows = static_cast<int>(std::min<size_t>(twoPanels ? kGroupRows : kPanelRows, m_ - rowG));
    t.aPanelStride = twoPanels ? aPanelStride : 0;
    t.a = s_.a.data + ga * aPanelStride + lowPlane0_ * planeStride;
    for (size_t gb = bp0; gb < bp1; gb += 2) {
      if (lists) {
        const size_t q = (ga - ap0) / 2 * kGroupsN + (gb - bp0) / 2;
        t.listCount = s.listCounts[q];
        if (t.listCount == 0) continue;
        t.list = s.lists.data() + q * kListStride;
      }
      t.onBits = s.bits.data() + (ga - ap0) * kPanelRows * kBitsStride + (gb - bp0) / 2;
      t.bPanelStride = gb + 1 < bp1 ? bPanelStride : 0;
      t.b = op.b.data + gb * bPanelStride;
      t.out = o.at + (ga - ap0) * kPanelRows * o.ld + (gb - bp0) * kPanelRows;
      gated_.lowGroup(t);
    }
  }
}

uint64_t gatedGemm(const Platform& isa, const GatedSpec& spec, void* out, uint8_t* mask, int threads) {
  GatedPlan plan(isa, spec, out, mask);
  parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
  return plan.onCount();
}

}  // namespace anyprec
