// anyprec kernels, gated family: the precision-gated bit-serial GEMM (Precision Gating, Zhang et
// al. 2020). Scalar reference kernels: gated_scalar.cc; per ISA: gated_avx2/_avx512/_neon.cc.
// Pure C++17 (no Node-API); used by the addon and by the native tests.
//
// A holds B-bit unsigned activation codes p (the top aBits = B of its stored planes). Its top
// Bhb = highBits planes are the "high" part, the other L = B - Bhb planes the "low" part:
//   p = p_hb * 2^L + p_lo,   p_hb = p >> L,   p_lo = p & (2^L - 1).
// Every output C[i][j] = sum_t p[i][t] * value_B(B[j][t]) splits exactly into
//   O_hb[i][j] = sum_t (p_hb[i][t] * 2^L) * value_B(B[j][t])   (the high planes at full weight)
//   O_lb[i][j] = sum_t  p_lo[i][t]        * value_B(B[j][t])   (the low planes)
// and the gated GEMM returns
//   on[i][j]  = O_hb[i][j] > threshold[j]        (strict; per column j = per output channel)
//   out[i][j] = on ? O_hb + O_lb (== the dense B-bit bitGemm result, bit for bit) : O_hb
// with O_lb computed ONLY for the gated-on outputs.
//
// Threshold units: the exact integer units of `out` (the accumulator of the dense B-bit GEMM,
// sum_t p * value_B). A caller whose gate is in float units y = scale[j] * acc passes
// threshold[j] = delta[j] / scale[j] (scale > 0). Thresholds are float32; the comparison is the
// exact real one: O_hb > t  <=>  O_hb > floor(t) for the integer O_hb, so the kernel keeps the
// integer floor(t) (clamped to int64): t = -inf gates every output on (out == dense bitGemm),
// t = +inf none (out == O_hb == 2^L * bitGemm of the top Bhb planes), NaN none.
//
// Work: the high planes cost Bhb * bBits plane pairs for every output, the low planes
// L * bBits plane pairs for the gated-on outputs only (see "Skipping strategies" in gated.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bitplane/bitplane.h"
#include "common/types.h"
#include "eltwise/epilogue.h"

namespace anyprec {

struct Platform;
class GemmFinish;
struct GatedProfile;
struct I8Kernel;   // i8gemm/i8gemm.h
struct I8Weights;  // i8gemm/i8gemm.h

// ---- per-ISA micro-kernels of the gated GEMM ----------------------------------------------------

// Group of the low-plane kernel: up to 16 A rows (two A panels) x 16 B rows (two B panels).
constexpr int kGroupRows = 2 * kPanelRows;
constexpr size_t kGroupScratch = kGroupRows * kGroupRows + 16;  // elements of each scratch buffer

// The low planes of the gated-on outputs of one group, and only of those. For every output
// (r, c) of the group (r < rows, c < 16) whose bit c of onBits[r * bitsStride] is set:
//   out[r*ldOut + c] += sum << alphaShift      (int32, wrapping: the caller knows the total fits)
//   sum = sum_{i<aPlanes, j<bPlanes} s(i,j) * 2^((aPlanes-1-i) + (bPlanes-1-j))
//         * sum_{k<kWords} popcount( A(i,k,r) & B(j,k,c) )
// where A(i,k,r) = a[(r/8)*aPanelStride + i*aPlaneStride + k*8 + r%8],
//       B(j,k,c) = b[(c/8)*bPanelStride + j*bPlaneStride + k*8 + c%8],
// and s(i,j) = -1 if exactly one of (aNegTop && i==0), (bNegTop && j==0), else +1.
// Returns the number of outputs done. Kernels compact the on-set into a list (one output per SIMD
// lane) and may read both panels of a group whatever the list holds: a group with one real A (or
// B) panel passes panel stride 0 (the second panel aliases the first; its rows are never on).
// `entries`, `offsets` and `acc` are scratch of kGroupScratch elements each (contents unspecified).
struct LowGroupArgs {
  const uint64_t* a;     // first A panel of the group, first plane used (the top low plane), word 0
  size_t aPanelStride, aPlaneStride;
  const uint64_t* b;     // first B panel of the group, first plane used, word 0
  size_t bPanelStride, bPlaneStride;
  int aPlanes, bPlanes;  // 1..8 each
  bool aNegTop, bNegTop;
  size_t kWords;         // >= 1
  const uint16_t* onBits;
  size_t bitsStride;
  int rows;              // 1..16
  int32_t* out;          // output (0, 0) of the group
  size_t ldOut;
  int alphaShift;        // 0..1
  uint32_t* entries;
  uint32_t* offsets;
  int64_t* acc;
  // Optional (nullptr: the kernel lists the on-set from onBits itself): the group's gated-on
  // outputs, already listed by the gate (GateArgs::lists), listCount byte entries r | c << 4 in
  // row-major order, exactly the outputs onBits marks; readable (values arbitrary) up to entry
  // listCount + 7. A kernel may use it instead of building its own list; the result is the same.
  const uint8_t* list;
  size_t listCount;
};

// The gate over one tile of high-plane sums, for r < rows, j < cols:
//   v = (acc[r*ldAcc + j] << shift) + rowTerm[r]            (= O_hb)
//   on = v > thr[j]
//   out[r*ldOut + j] = on ? v + rowLow[r] : v;  mask[r*ldMask + j] = on   (mask: unless null)
//   bits[r*bitsStride + j/16] bit (j%16) = on          (words 0..(cols-1)/16 of each row written;
//                                                       bits of columns >= cols are 0)
//   tileOn[(r/8)*tileOnStride + j/8] += on              (if tileOn is not null: per 8 x 8 micro-tile)
// and returns the number of gated-on outputs. cols <= 16 * bitsStride.
// Domain (the driver's, from checkGated): v, v + rowLow, rowTerm and rowLow fit int32 with
// |v| < 2^31 - 1, and so does acc (shift >= 1); the sums may be formed in wrapping int32
// arithmetic. Thresholds are the integer ones clamped to int32, which changes no comparison
// (v > INT32_MIN always, v > INT32_MAX never).
struct GateArgs {
  const int64_t* acc;
  size_t ldAcc;
  int rows;
  size_t cols;
  int shift;               // 1..9
  const int32_t* rowTerm;  // rows values
  const int32_t* rowLow;   // rows values
  const int32_t* thr;      // cols values
  int32_t* out;
  size_t ldOut;
  uint8_t* mask;  // or nullptr: no mask bytes written
  size_t ldMask;
  uint16_t* bits;
  size_t bitsStride;
  uint8_t* tileOn;         // or nullptr
  size_t tileOnStride;
  // Optional (nullptr: no lists): the on-set listed per 16 x 16 group as a by-product of the
  // gate, for LowGroupArgs::list. Output (r, j) that is on appends the byte (r % 16) | (j % 16) << 4
  // to the list of group q = (r / 16) * listGroupsPerRow + j / 16, at lists[q * listStride +
  // listCounts[q]++], rows in increasing order and columns increasing within a row. The caller
  // zeroes listCounts; a kernel may write up to 16 entries past a list's end (listStride >=
  // kListStride), their values unspecified. (j / 16 < listGroupsPerRow.)
  uint8_t* lists;
  size_t listStride;
  size_t listGroupsPerRow;
  uint32_t* listCounts;
  // GatedKernelTable::gate32 only: the sums as int32 (ldAcc apart) instead of acc (not read).
  const int32_t* acc32;
};

// Bytes per group list (GateArgs::lists): 256 outputs and 16 written past the end by a vector append.
constexpr size_t kListStride = kGroupRows * kGroupRows + 16;

// The high planes and the gate of one A panel in one pass: the gate decides each output while its
// high-plane sum is still in a register (no int64 sums written and read back). For the panel's rows
// R = 8 * panel + r (r < mr) and every column j < gate.cols:
//   acc = sum_{i<aPlanes, j'<bPlanes} s(j') * 2^((aPlanes-1-i) + (bPlanes-1-j'))
//         * sum_{k<kWords} popcount( a[i*aPlaneStride + k*8 + r] & B(j', k, j) )
//         + (gate.acc ? gate.acc[R*gate.ldAcc + j] : 0)          (the earlier K blocks' sums)
//   with B(j', k, j) = b[(j/8)*bPanelStride + j'*bPlaneStride + k*8 + j%8] and s(j') = -1 for the
//   top weight plane when bNegTop (A is unsigned), else +1;
// then exactly what GatedKernelTable::gate does for row R with that acc: out, mask, the on-mask
// words, the micro-tile counts and the group lists of row R (gate.rows is not read: the rows are
// the panel's; a driver calls the panels of a group in increasing order, so its list stays in row
// order). Returns the number of gated-on outputs.
struct HighGateArgs {
  const uint64_t* a;     // the A panel's top plane at the block's first word (lane 0)
  size_t aPlaneStride;
  const uint64_t* b;     // the B panel of column 0, plane 0, at the same word
  size_t bPanelStride, bPlaneStride;
  int aPlanes, bPlanes;  // 1..8 each
  bool bNegTop;
  size_t kWords;         // >= 1
  int panel;             // the rows' A panel within the gate's rows
  int mr;                // 1..8
  GateArgs gate;
};

struct GatedKernelTable {
  const char* name;  // the ISA (the Platform record holding it)
  size_t (*lowGroup)(const LowGroupArgs&);
  size_t (*gate)(const GateArgs&);
  // Hybrid strategy: an 8x8 micro-tile with at least this many gated-on outputs (of 64) runs its
  // low planes densely through KernelTable::bitTile instead of through the compacted list; 65 =
  // never. Depends on the plane counts (the list kernel's cost per output relative to the dense
  // kernel's does); measured with bench/native/gated_bench.cc.
  int (*denseTileMinOn)(int lowPlanes, int bPlanes);
  // The fused high planes + gate (HighGateArgs), or nullptr: the driver then runs the high planes
  // through KernelTable::bitTile and the gate as a second pass over their int64 sums.
  size_t (*highGate)(const HighGateArgs&);
  // The gate reading int32 sums (GateArgs::acc32; otherwise exactly gate): the high part given
  // (GatedSpec::highSums) read in place.
  size_t (*gate32)(const GateArgs&);
};

extern const GatedKernelTable kScalarGatedTable;
#if defined(__x86_64__) || defined(_M_X64)
extern const GatedKernelTable kAvx2GatedTable;
extern const GatedKernelTable kAvx512GatedTable;
#endif
#if defined(__aarch64__)
extern const GatedKernelTable kNeonGatedTable;
#endif

// ---- the gated GEMM ---------------------------------------------------------------------------

// How the low planes skip the gated-off outputs (every strategy gives the same results).
//   Compact: every gated-on output goes through the compacted-list kernel (lowGroup).
//   Tiles:   8x8 micro-tiles with any gated-on output run their low planes densely (bitTile,
//            runs of adjacent micro-tiles in one call); all-off micro-tiles cost nothing.
//   Hybrid:  per micro-tile, Tiles when it has >= denseTileMinOn outputs on, else Compact.
//   Auto:    the measured best: Compact (see gated.cc).
enum class GatedStrategy { Auto = 0, Compact = 1, Tiles = 2, Hybrid = 3 };

// How the high part O_hb of every output is computed (both exact, the same bits):
//   BitSerial: the top Bhb planes of A against b's planes (KernelTable::bitTile, or the fused
//              GatedKernelTable::highGate);
//   Int8:      an int8 GEMM (the platform's I8Kernel tile) of the high codes p_hb = p >> L as
//              bytes, rebuilt per task from A's top Bhb planes (ByteRowsArgs), against b's
//              prepared int8 weights (i8gemm.h's byte map; S + ob * sum p_hb is the bit-serial
//              core sum); then the same gate and low planes. One weight operand only (no b2).
// Which is faster depends on the CPU, the bits and the shape: callers measure (lib/nn: per layer).
enum class GatedHigh { BitSerial = 0, Int8 = 1 };

struct GatedSpec {
  PackedView a, b;
  int aBits;       // B: planes of a used (2..a.planes)
  int highBits;    // Bhb: 1..aBits-1
  int bBits;       // planes of b used (1..b.planes)
  Encoding bEnc;   // a is always unsigned
  const float* thresholds;  // b.rows values, in out's integer units (see above)
  GatedStrategy strategy = GatedStrategy::Auto;
  // Optional second weight operand (b2Bits = 0: none). With it every product is the sum of the
  // two GEMMs, value_B(B[j][t]) + value_B2(B2[j][t]): O_hb and O_lb are the sums of the two
  // operands' parts, the gate compares the summed O_hb, and the low planes of both are done only
  // for the gated-on outputs (e.g. sign-magnitude weights split into two exact operands).
  // Same rows and columns as b; its own planes and encoding.
  PackedView b2{};
  int b2Bits = 0;  // planes of b2 used (1..b2.planes), 0 = no second operand
  Encoding b2Enc = Encoding::Unsigned;
  // What each exact result becomes (eltwise/epilogue.h): Int32 (default) stores it; Float32 /
  // Codes finish every task's tile straight from the per-thread int32 results to the layer's
  // output (scale, shift, clamp, residual, the next quantiser's codes) with the platform's
  // EpilogueTable::storeTile: the same float32 steps as bitGemm's fused epilogue, no M x N int32
  // buffer and no second pass.
  Epilogue epilogue{};
  // Optional phase timing (a tuning aid, bench/native/gated_phases_bench.cc): when set, the plan
  // adds the seconds each phase took to it. Not synchronised: use with one thread.
  GatedProfile* profile = nullptr;
  // Tuning aid (the benches' before / after in one process): false runs the high planes and the
  // gate as two passes even where the ISA has the fused kernel (GatedKernelTable::highGate).
  bool fuseGate = true;
  // The high part's route (GatedHigh). Int8 with highWeights = b prepared for the int8 path at
  // bBits / bEnc (prepareI8Weights; the dense int8 route's weights serve) or nullptr (the plan
  // prepares its own copy in its constructor, single-threaded). The plan copies the view: the
  // I8Weights struct may be a temporary, the arrays it points to must outlive the plan.
  GatedHigh high = GatedHigh::BitSerial;
  const I8Weights* highWeights = nullptr;
  // Optional (nullptr: the plan computes the high part itself, by `high`): the high part given,
  // computed by the caller before the call — V[i][j] = highSums[i * ldHighSums + j] =
  //   sum_t p_hb[i][t] * (value_B(B[j][t]) + value_B2(B2[j][t]))      (p_hb = p >> L)
  // i.e. the dense Bhb-bit product of the high codes (what the dense int8 route returns for the
  // codes p >> L, read in place by its indirect conv tile: no planes, no byte rows), so that
  // O_hb = V << L. With it `high` is ignored, only the L low planes of A are read (its top Bhb
  // planes may be anything: a caller may pack the low codes p & (2^L - 1) alone, see lowOnly), and
  // the results are the same bits as without it when V is that product (wrong V: wrong results).
  const int32_t* highSums = nullptr;
  size_t ldHighSums = 0;
  // With highSums: A stores the low codes p & (2^L - 1) in its top L planes (a.planes >= L, aBits
  // = L planes are read from plane 0) instead of all B planes; the gate's row sums then take the
  // low part from those planes. Ignored without highSums.
  bool lowOnly = false;
};

// Where a gated GEMM's time goes, summed over its strips (GatedSpec::profile), in ticks of a cheap
// clock (the time-stamp counter on x86-64, nanoseconds elsewhere): compare the phases as shares.
struct GatedProfile {
  bool gateLists = true;  // input: false = the low-plane kernel lists the on-outputs itself
  double high = 0;        // high planes (bitTile over every output), two operands summed; fused:
                          // the high planes and the gate decision (GatedKernelTable::highGate)
  double gate = 0;        // row terms, the gate decision, the mask and on-masks (and the lists);
                          // fused: the row terms only
  double low = 0;         // low planes of the gated-on outputs (and, without gateLists, the lists)
  double finish = 0;      // the fused epilogue (Float32 / Codes outputs)
  uint64_t strips = 0;
};

// Checks bit counts, matching K (and b2's rows) and that no result (nor partial sum, nor the sum
// of the two operands') can overflow int32.
CheckResult checkGated(const GatedSpec& spec);

// The integer threshold kept for a float one: on <=> O_hb > gateThreshold(t).
int64_t gateThreshold(float t);

// A gated GEMM split into independent output tiles; run(t) for every t < tasks() in any order and
// on any threads fills out (M x N elements of the epilogue's kind: int32 by default) and, unless
// mask is null, mask (M x N uint8, 1 = gated on); after all of them, onCount() is the number of
// gated-on outputs. The spec's buffers must outlive the plan.
class GatedPlan {
 public:
  GatedPlan(const Platform& isa, const GatedSpec& spec, void* out, uint8_t* mask);
  ~GatedPlan();
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;
  uint64_t onCount() const;

 private:
  struct Scratch;
  // One weight operand (b, or b2).
  struct Operand {
    PackedView b;
    int bits;
    Encoding enc;
    int64_t alpha, beta;           // value = alpha * code + beta
    size_t kBlockHigh, kBlockLow;
  };
  // Where a strip's exact int32 results go: out itself (Int32 epilogue) or the thread's scratch.
  struct Exact {
    int32_t* at;  // result (row0, col0) of the strip
    size_t ld;
  };
  uint64_t runStrip(Scratch& s, size_t ap0, size_t ap1, size_t bp0, size_t bp1) const;
  // GatedHigh::Int8: the raw high sums of a whole task (rows of A panels [ap0, ap1) x B panels
  // [bp0, bp1)) into s.acc, ldAcc = (bp1 - bp0) * 8.
  void highInt8(Scratch& s, size_t ap0, size_t ap1, size_t bp0, size_t bp1) const;
  void highPlanes(Scratch& s, const Operand& op, int64_t* acc, size_t ldAcc, size_t ap0, size_t ap1, size_t bp0,
                  size_t bp1, size_t kEnd) const;
  size_t highGate(const GateArgs& g, size_t kFrom, size_t ap0, size_t ap1, size_t bp0) const;
  void lowPlanes(Scratch& s, Exact o, size_t ap0, size_t ap1, size_t bp0, size_t bp1, bool hybrid, bool lists) const;
  void lowTiles(Scratch& s, const Operand& op, Exact o, size_t ap0, size_t ap1, size_t bp0, size_t bp1, bool hybrid,
                bool clear) const;
  void lowCompact(Scratch& s, const Operand& op, Exact o, size_t ap0, size_t ap1, size_t bp0, size_t bp1,
                  bool lists) const;
  const KernelTable& isa_;
  const GatedKernelTable& gated_;
  GatedSpec s_;
  void* out_;
  uint8_t* mask_;
  std::unique_ptr<GemmFinish> finish_;  // Float32 / Codes epilogues
  GatedStrategy strategy_;
  size_t m_, n_, k_, kWords_;
  size_t aPanels_, bPanels_, tasksM_, tasksN_;
  int lowBits_;
  int shift_;                      // O_hb = (core << shift) + rowTerm
  int minOn_;                      // hybrid: micro-tiles with this many outputs on run densely
  size_t stripPanels_;             // A panels per strip of a task (2 or the whole task)
  Operand ops_[2];
  int nOps_;                       // 1, or 2 with b2
  std::vector<int32_t> thr_;       // per column, clamped to int32 (see GateArgs)
  mutable std::vector<uint64_t> onPerTask_;
  // GatedHigh::Int8 (i8_ null: bit-serial high planes)
  const I8Kernel* i8_ = nullptr;
  const I8Weights* i8W_ = nullptr;
  std::unique_ptr<I8Weights> ownW_;
  std::vector<int8_t> ownWData_;
  std::vector<int32_t> ownWColSum_;
  size_t kPad_ = 0;
  uint8_t highPlaneValue_[8] = {};
  int64_t ob_ = 0;              // weight byte offset: core_b = b' + ob
  uint32_t maxProduct_ = 0;     // I8TileArgs::maxProduct of the high codes and the weights
  // GatedSpec::highSums (given_: no high phase; O_hb = V << L, no row term)
  bool given_ = false;
  size_t lowPlane0_ = 0;        // A's plane of the top low plane (highBits, or 0 with lowOnly)
};

// Convenience: plan and run on up to `threads` threads (the caller included); returns the number
// of gated-on outputs.
uint64_t gatedGemm(const Platform& isa, const GatedSpec& spec, void* out, uint8_t* mask, int threads);

}  // namespace anyprec
