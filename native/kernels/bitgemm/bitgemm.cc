// Bit-serial GEMM driver: blocking over K, tasks of output tiles, the ISA's micro-kernel, and the
// exact finish (eltwise/gemm_finish.h).
#include "bitgemm/bitgemm.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

// The code a 1-bit Codes epilogue gives the exact result e: the float32 steps of the epilogue row
// loops (epilogue_generic.h rows(): float(e) * scale + shift, each step rounded, then quantizeUnit).
bool code1Of(int32_t e, const float* s, const float* t) {
  const float v = static_cast<float>(e);
  float y;
  if (s != nullptr && t != nullptr) {
    y = v * *s + *t;
  } else if (s != nullptr) {
    y = v * *s;
  } else if (t != nullptr) {
    y = v + *t;
  } else {
    y = v;
  }
  return quantizeUnit(y, 1.0f) != 0;
}

// Integer bounds of a 1-bit Codes epilogue: for every column, the exact results whose code is 1
// form one interval of int32, because the code is a monotone function of e when no step can give
// NaN: float(e) is monotone in e, each IEEE rounding of * scale (a constant) and + shift is monotone
// (non-increasing for a negative scale), clamp and round-half-even are monotone. Finite scale and
// shift of bounded size (|float(e) * scale| <= 2^31 * 2^64, plus |shift| <= 2^100, far below
// FLT_MAX) exclude inf and NaN; otherwise (false) the float epilogue runs. The interval's end is
// found by bisection over int32 (32 evaluations per column, once per plan) and moved from e to
// x = e - colTerm[j] (int64, exact), so lo < x <= hi is code 1.
constexpr size_t kCodes1MinRows = 64;

bool codes1Bounds(const Epilogue& epi, const int64_t* colTerm, size_t n, std::vector<int64_t>* lo,
                  std::vector<int64_t>* hi) {
  if (epi.kind != OutputKind::Codes || epi.codeBits != 1) return false;
  for (size_t j = 0; j < n; ++j) {
    const float s = epi.scale != nullptr ? epi.scale[j] : 1.0f, t = epi.shift != nullptr ? epi.shift[j] : 0.0f;
    if (!std::isfinite(s) || !std::isfinite(t) || std::fabs(s) > 0x1p64f || std::fabs(t) > 0x1p100f) return false;
  }
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  lo->assign(n, kMax);
  hi->assign(n, kMax);
  for (size_t j = 0; j < n; ++j) {
    const float* s = epi.scale != nullptr ? epi.scale + j : nullptr;
    const float* t = epi.shift != nullptr ? epi.shift + j : nullptr;
    int32_t a = std::numeric_limits<int32_t>::min(), b = std::numeric_limits<int32_t>::max();
    const bool fa = code1Of(a, s, t), fb = code1Of(b, s, t);
    if (fa == fb) {  // constant: always 1 (lo = min) or never (lo = max)
      (*lo)[j] = fa ? kMin : kMax;
      continue;
    }
    // a and b keep codes fa and fb; bisect until adjacent. The plan is made per call, so first
    // try a narrow bracket around the real-valued crossing (scale * e + shift = 0.5): valid only
    // if its ends have codes fa and fb (checked), else the whole range is bisected.
    const double sd = s != nullptr ? *s : 1.0, td = t != nullptr ? *t : 0.0;
    const double guess = std::min(2147483647.0, std::max(-2147483648.0, (0.5 - td) / sd));
    const int64_t g = static_cast<int64_t>(guess), w = 64;
    const int32_t ga = static_cast<int32_t>(std::max<int64_t>(a, g - w)), gb = static_cast<int32_t>(std::min<int64_t>(b, g + w));
    if (ga < gb && code1Of(ga, s, t) == fa && code1Of(gb, s, t) == fb) {
      a = ga;
      b = gb;
    }
    while (static_cast<int64_t>(b) - a > 1) {
      const int32_t mid = static_cast<int32_t>(a + (static_cast<int64_t>(b) - a) / 2);
      if (code1Of(mid, s, t) == fa) {
        a = mid;
      } else {
        b = mid;
      }
    }
    if (fb) {  // increasing: code 1 iff e > a
      (*lo)[j] = a - colTerm[j];
    } else {  // decreasing: code 1 iff e <= a
      (*lo)[j] = kMin;
      (*hi)[j] = a - colTerm[j];
    }
  }
  return true;
}

}  // namespace

BitGemmPlan::BitGemmPlan(const Platform& platform, const GemmSpec& spec, void* c, const Epilogue& epi)
    : isa_(*platform.bitplane),
      s_(spec),
      finish_(*platform.epilogue, spec, c, epi, xorForm(spec)),
      epilogue_(*platform.epilogue) {
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
  // The bounds cost ~4-36 float evaluations per column, once per plan (a plan per call); the compare
  // finish saves a few instructions per output, m per column. Below kCodes1MinRows rows the search
  // costs more than it saves (a 1-row MLP layer: 3x the whole call), so small-m plans keep the float
  // finish (both forms give the same codes).
  if (m_ >= kCodes1MinRows && codes1Bounds(epi, finish_.colTerm(), n_, &codesLo_, &codesHi_)) {
    codesOut_ = static_cast<uint8_t*>(c);
  }
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
        if (!last) continue;
        const size_t row = ap * kPanelRows, col = col0 + c0;
        if (codesOut_ != nullptr) {
          int64_t rowTerm[kPanelRows];
          for (int r = 0; r < t.mr; ++r) rowTerm[r] = finish_.rowTerm(row + static_cast<size_t>(r));
          epilogue_.finishCodes1(t.acc, ldAcc, static_cast<size_t>(t.mr), finish_.mul(), rowTerm, codesLo_.data() + col,
                                 codesHi_.data() + col, codesOut_ + row * n_ + col, n_, cols);
        } else {
          finish_.finishTile(t.acc, ldAcc, row, static_cast<size_t>(t.mr), col, cols);
        }
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
