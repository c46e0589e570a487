// Bit-serial GEMM driver: blocking over K, tasks of output tiles, the ISA's micro-kernel, and the
// exact finish (eltwise/gemm_finish.h).
#include "bitgemm/bitgemm.h"

#include <algorithm>
#include <vector>

#include "eltwise/epilogue.h"
#include "platform/platform.h"

namespace anyprec {
namespace {

// Output tile of one task: up to kTaskPanelsM A panels x kTaskPanelsN B panels.
constexpr size_t kTaskPanelsM = 8;   // 64 rows
constexpr size_t kTaskPanelsN = 16;  // 128 columns
constexpr size_t kTilePanelsN = 8;   // B panels handed to one micro-kernel call
// A small M (a conv at batch 1: 64..1024 rows) would give one to a few 64-row tasks, too few to
// split over threads: rows per task shrink (to one panel at least) until there are kMinTasks
// tasks. Each output's sum is exact (int64), so any split gives the same bits.
constexpr size_t kMinTasks = 8;
// K block: planes * kBlock * 64 bytes of one panel stays near 16 KiB (L1-resident).
constexpr size_t kBlockBudgetWords = 256;

bool xorForm(const GemmSpec& s) {
  return s.aBits == 1 && s.bBits == 1 && s.aEnc == Encoding::Bipolar && s.bEnc == Encoding::Bipolar;
}

}  // namespace

BitGemmPlan::BitGemmPlan(const Platform& platform, const GemmSpec& spec, void* c, const Epilogue& epi)
    : isa_(*platform.bitplane), s_(spec), finish_(*platform.epilogue, spec, c, epi, xorForm(spec)) {
  m_ = s_.a.rows;
  n_ = s_.b.rows;
  k_ = s_.a.cols;
  aPanels_ = panelsFor(m_);
  bPanels_ = panelsFor(n_);
  kWords_ = kWordsFor(k_);
  xor_ = xorForm(s_);
  const int maxBits = std::max(s_.aBits, s_.bBits);
  kBlockWords_ = std::max<size_t>(8, kBlockBudgetWords / maxBits);
  panelsPerTaskN_ = kTaskPanelsN;
  tasksN_ = (bPanels_ + panelsPerTaskN_ - 1) / panelsPerTaskN_;
  const size_t wantM = (kMinTasks + std::max<size_t>(1, tasksN_) - 1) / std::max<size_t>(1, tasksN_);
  panelsPerTaskM_ = std::min(kTaskPanelsM, std::max<size_t>(1, (aPanels_ + wantM - 1) / wantM));
  tasksM_ = (aPanels_ + panelsPerTaskM_ - 1) / panelsPerTaskM_;
  if (m_ == 0 || n_ == 0) tasksM_ = tasksN_ = 0;
}

void BitGemmPlan::run(size_t task) const {
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t ap0 = tm * panelsPerTaskM_, ap1 = std::min(aPanels_, ap0 + panelsPerTaskM_);
  const size_t bp0 = tn * panelsPerTaskN_, bp1 = std::min(bPanels_, bp0 + panelsPerTaskN_);
  const size_t row0 = ap0 * kPanelRows, row1 = std::min(m_, ap1 * kPanelRows);
  const size_t col0 = bp0 * kPanelRows, col1 = std::min(n_, bp1 * kPanelRows);
  const size_t ldAcc = (bp1 - bp0) * kPanelRows;

  thread_local std::vector<int64_t> accBuf;
  accBuf.resize((row1 - row0) * ldAcc);
  int64_t* acc = accBuf.data();

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

  // Each micro-tile's accumulators are written by its first K block and finished (one epilogue call
  // per micro-tile) just after its last, while they are still in L1 (a separate pass over the task's buffer costs ~15% of a 1x1
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
        if (last) finish_.finishTile(t.acc, ldAcc, ap * kPanelRows, static_cast<size_t>(t.mr), col0 + c0, cols);
      }
    }
  }
}

CeilingRun popcountCeiling(const Platform& platform, uint64_t iterations) {
  const KernelTable& t = *platform.bitplane;
  CeilingRun r;
  r.checksum = t.ceiling(iterations, 0x1234567u + iterations);
  r.bitMacs = static_cast<double>(iterations) * static_cast<double>(t.ceilingBitsPerIter);
  return r;
}

}  // namespace anyprec
