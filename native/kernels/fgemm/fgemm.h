// anyprec kernels, fgemm family: float32 GEMM for the full-precision layers (a network's first
// and last). Scalar reference micro-kernel: fgemm_scalar.cc; per ISA: fgemm_avx2/_avx512/_neon.cc.
// Pure C++17 (no Node-API); used by the addon and by the native tests.
//
//   C[M x N] = A[M x K] . B[N x K]^T (+ bias[N]),   all row-major float32.
//
// B is the weight matrix: it is packed once into column panels (the layout below), the same
// layout for every ISA, so a packed B survives an ISA switch and can be prepared ahead of time.
//
// Exactness contract. Float sums depend on their order, and the order differs between ISAs
// (and between K blocks of one ISA), so results are NOT bit-identical across ISAs. What holds
// for every ISA: each output is the sum of its K products and the bias, formed with at most
// K + 2 roundings on any path (products fused or rounded once, partial sums per K block, the
// blocks and the bias added), hence
//   |C[i][j] - exact| <= (K + 2) * 2^-24 * (sum_t |A[i][t] * B[j][t]| + |bias[j]|)
// (to first order in 2^-24). The tests check every ISA against a float64 reference with twice
// that bound. For a given ISA, results do not depend on the number of threads: every output
// is computed by one task in a fixed order.
//
// Nor do they depend on M (a batch of 17 gives each sample's batch-1 bits): each output is
// summed the same way on every path, FMAs in K order within each K block of kFloatKBlock, the
// first block's sum plus the bias (plus 0 without one), then each later block's sum added.
//
// Two paths. GEMMs of at most kFloatDotMaxRows rows with B given raw (M = 1: a GEMV) use the
// table's `dot` kernel when it has one: B is read in place and transposed in registers, never
// packed in memory (packing would move B twice for one use of it). Every other GEMM packs B into
// panels and runs the register-tile kernel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/align.h"

namespace anyprec {

// ---- packed B layout ------------------------------------------------------------------------
// Columns (rows of B) are grouped in panels of kFloatPanel; panel p holds, for each k, the 16
// values B[p*16 + c][k] (c < 16) contiguously: packed[(p * K + k) * 16 + c]. The panel count is
// rounded up to an even number (N padded to a multiple of 32 with zero columns) so a
// micro-kernel may read two panels at once without a bounds check.
constexpr int kFloatPanel = 16;
constexpr size_t kFloatPanelAlign = 32;  // columns N is padded to
inline size_t floatPaddedCols(size_t n) { return (n + kFloatPanelAlign - 1) / kFloatPanelAlign * kFloatPanelAlign; }
inline size_t floatPackedSize(size_t n, size_t k) { return floatPaddedCols(n) * k; }

// Packs panels [panel0, panel1) of B (N x K row-major) into `out` (floatPackedSize(n, k) floats).
// Panels past N (the padding) are written as zeros.
void packFloatPanels(const float* b, size_t n, size_t k, float* out, size_t panel0, size_t panel1);

// ---- micro-kernel interface -------------------------------------------------------------------
// One call computes an MR x NR block of outputs over kc steps of K, where MR and NR are the
// table's. A is pre-packed by the driver: step k holds the MR values A[row0 + r][k0 + k]
// contiguously (a[k * MR + r]; rows past the matrix are zero), and the buffer has at least
// 8 spare floats after its end. B points at panel (col0 / 16), step k0; the next panel is
// bPanelStride floats further. The kernel stores only rows < `rows` and columns < `cols`:
//   bias != nullptr (first K block):  C[r][c]  = sum_k a*b + bias[c]
//   bias == nullptr (later K blocks): C[r][c] += sum_k a*b
struct FloatTileArgs {
  const float* a;
  const float* b;
  size_t bPanelStride;
  size_t kc;           // >= 1
  int rows;            // 1..MR
  int cols;            // 1..NR
  float* c;            // C[row0][col0]
  size_t ldc;
  const float* bias;   // at col0 (NR readable values), or nullptr to accumulate
};

// Kernel of the small-M path: C[r][j] = sum_k A[r][k] * B[j][k] (+ bias[j]) for r < rows,
// j < cols, over the whole of K, A and B raw row-major (leading dimension k), summed in the
// order stated at the top of this file (bit-identical to the tile path).
struct FloatDotArgs {
  const float* a;      // A[row0][0]
  int rows;            // 1..kFloatDotMaxRows
  const float* b;      // B[col0][0]
  size_t cols;         // >= 1
  size_t k;            // >= 1
  float* c;            // C[row0][col0]
  size_t ldc;
  const float* bias;   // at col0, or nullptr
};
constexpr size_t kFloatDotMaxRows = 4;

// Indirect micro-kernel (optional; a convolution's A read through pointers, never packed). Row r
// of A is `segs` segments of `len` contiguous floats: segment s starts at ind[s * mr + r] (mr the
// table's indirectMr for this width; rows past `rows` may point anywhere readable, e.g. zeros).
// One call sums K steps [k0, k0 + kc) (kc <= kFloatKBlock; step k is element k % len of segment
// k / len) for r < rows, j < cols, and stores like a tile kernel:
//   bias != nullptr (first K block):  C[r][j]  = sum + bias[j]
//   bias == nullptr (later K blocks): C[r][j] += sum
// with FMAs in K order from zero: called block by block as floatGemmBlock calls a tile, it gives
// each output the tile path's bits.
struct FloatIndirectArgs {
  const float* const* ind;
  size_t segs, len;    // >= 1 each
  size_t k0, kc;       // the K steps of this call, kc >= 1
  const float* b;      // packed B at panel col0 / 16, step k0
  size_t bPanelStride;
  int rows;            // 1..mr
  int cols;            // 1..kFloatIndirectCols
  float* c;            // C[row0][col0]
  size_t ldc;
  const float* bias;   // padded bias at col0 (kFloatIndirectCols readable), or nullptr
};
constexpr int kFloatIndirectCols = 64;

// Strided indirect micro-kernel (optional): the indirect kernel's sums, bit for bit, for rows whose
// segments are evenly spaced (consecutive outputs of one output row, or a zero-padded copy of
// their window rows): row r of segment s starts at base[s] + r * step[s] (step 0: every row reads
// base[s], e.g. zeros). One pointer per segment serves every row, so the register tile can hold
// more rows than the indirect kernel (whose row pointers occupy registers). Every one of the
// table's stridedMr rows is read (rows past `rows` too); only rows < `rows` are stored.
struct FloatStridedArgs {
  const float* const* base;  // segs pointers
  const size_t* step;        // segs row steps, in floats
  size_t segs, len;          // >= 1 each
  size_t k0, kc;             // the K steps of this call, kc >= 1
  const float* b;            // packed B at panel col0 / 16, step k0
  size_t bPanelStride;
  int rows;                  // 1..stridedMr for this width
  int cols;                  // 1..kFloatIndirectCols
  float* c;                  // C[row0][col0]
  size_t ldc;
  const float* bias;         // padded bias at col0 (kFloatIndirectCols readable), or nullptr
  // finish (the last K block): each stored value y then goes through the float epilogue row
  // loop's steps (eltwise floatAffine, the same float32 operations): y * scale[j] + shift[j]
  // (either null: skipped), then y < lo ? lo : y, then y > hi ? hi : y.
  bool finish;
  const float* scale;        // at col0, or nullptr
  const float* shift;        // at col0, or nullptr
  float lo, hi;
};
// K block of the packed path (the tests walk its edges).
constexpr size_t kFloatKBlock = 256;

struct FloatKernelTable {
  const char* name;   // the ISA (the Platform record holding it)
  int mr;             // rows per micro-kernel call
  int nr;             // columns per call: 16 or 32 (one or two panels)
  void (*tile)(const FloatTileArgs&);
  void (*dot)(const FloatDotArgs&);  // small-M path, or nullptr (always pack)
  // FMA ceiling: a register-only loop of independent vector FMAs, `iterations` rounds of
  // ceilingFlops flops each (2 per lane per FMA); returns a checksum to keep the work alive.
  float (*ceiling)(uint64_t iterations);
  int ceilingFlops;
  // Optional tile for GEMMs of N <= 16 (one panel, NR = 16) with mrNarrow rows, or nullptr.
  int mrNarrow = 0;
  void (*tileNarrow)(const FloatTileArgs&) = nullptr;
  // Optional A packing for the tile kernels: dst[kk * mr + r] = a[r * lda + kk] for r < rows,
  // zero for rows <= r < mr, kk < kc (the driver's scalar loop when nullptr). It may write up to
  // 15 floats past dst[kc * mr] (the driver leaves room; it packs panels in increasing order).
  void (*packA)(const float* a, size_t lda, size_t rows, size_t kc, int mr, float* dst) = nullptr;
  // Optional indirect kernel (above) and its rows per call for a block of `cols` columns (one
  // entry per 16 columns: indirectMr[(cols - 1) / 16]), or nullptr.
  void (*indirect)(const FloatIndirectArgs&) = nullptr;
  int indirectMr[4] = {0, 0, 0, 0};
  // Optional strided indirect kernel (above) and its rows per call by width, as indirectMr.
  void (*strided)(const FloatStridedArgs&) = nullptr;
  int stridedMr[4] = {0, 0, 0, 0};
};

extern const FloatKernelTable kScalarFloatTable;
#if defined(__x86_64__) || defined(_M_X64)
extern const FloatKernelTable kAvx2FloatTable;
extern const FloatKernelTable kAvx512FloatTable;
#endif
#if defined(__aarch64__)
extern const FloatKernelTable kNeonFloatTable;
#endif

// ---- the blocked loop every float GEMM task runs ------------------------------------------------
// A's rows reach the micro-kernels through a source that packs one micro-panel at a time:
// pack(ctx, row0, rows, k0, kc, mr, dst) writes dst[kk * mr + r] = A[row0 + r][k0 + kk] for
// r < rows (rows <= mr), zero for rows <= r < mr, kk < kc; it may write up to 15 floats past
// dst[kc * mr]. A raw row-major A is one source (floatGemm's); a convolution's input read
// through its window is another (fconv/fconv.h), so neither materialises more than a panel.
struct FloatPanelSource {
  void (*pack)(const void* ctx, size_t row0, size_t rows, size_t k0, size_t kc, int mr, float* dst);
  const void* ctx;
};

// The micro-kernel a GEMM of n columns uses: the table's, or its narrow one for n <= 16.
struct FloatTiling {
  int mr, nr;
  void (*tile)(const FloatTileArgs&);
};
FloatTiling floatTiling(const FloatKernelTable& isa, size_t n);

// Rows of C one task computes (a multiple of mr) and columns (a multiple of every nr).
size_t floatTaskRows(const FloatTiling& t);
constexpr size_t kFloatTaskCols = 256;

// C[row0..row1) x [col0..col1) over all of K (k >= 1), K blocks of kFloatKBlock in order: the
// first block's sum plus bias (biasPadded: floatPaddedCols(n) values, zeros if no bias), each
// later block's sum added. c points at C[row0][col0], rows ldc floats apart. bPacked is the
// whole packed B (panels of all n columns).
void floatGemmBlock(const FloatTiling& tiling, const FloatPanelSource& a, const float* bPacked, size_t k,
                    const float* biasPadded, size_t row0, size_t row1, size_t col0, size_t col1, float* c,
                    size_t ldc);

// ---- the GEMM -----------------------------------------------------------------------------------
struct FloatGemmSpec {
  const float* a;         // M x K
  size_t m, k;            // k >= 1
  const float* b;         // N x K raw, or nullptr when bPacked is given
  const float* bPacked;   // floatPackedSize(n, k) floats in the layout above, or nullptr
  size_t n;
  const float* bias;      // N values, or nullptr
};

// Returns a plan's packed-B buffer to the one-buffer cache in fgemm.cc (or frees it).
struct FloatPackBufferRelease {
  size_t floats = 0;
  void operator()(float* p) const;
};

// Two phases of independent tasks: pack(t) for every t < packTasks() (packs B, if it was given
// raw), then run(t) for every t < tasks() (output tiles), each phase in any order and on any
// threads, the second only after the first has finished. Buffers must outlive the plan.
class FloatGemmPlan {
 public:
  FloatGemmPlan(const FloatKernelTable& isa, const FloatGemmSpec& spec, float* c);
  size_t packTasks() const { return packTasks_; }
  void pack(size_t task) const;
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;

 private:
  const FloatKernelTable& isa_;
  FloatGemmSpec s_;
  float* c_;
  const float* b_;                               // packed B (owned or the caller's)
  // Packed B when the plan packs it. The buffer comes from a process-wide cache of one buffer
  // (the largest recently released, up to 128 MiB): a fresh allocation of B's size costs a page
  // fault per 4 KiB on first touch, which for a large B took longer than the whole GEMM.
  std::unique_ptr<float[], FloatPackBufferRelease> owned_;
  AlignedArray<float> bias_;   // bias padded to floatPaddedCols(n), zeros if none
  size_t panels_, packTasks_, panelsPerPackTask_;
  size_t taskRows_, taskCols_, tasksM_, tasksN_;
  FloatTiling tiling_;  // the tile in use (the table's, or its narrow one)
  bool dot_;  // small-M path: tasks are column blocks of the dot kernel, nothing packed
};

// Convenience: plan, pack and run on up to `threads` threads (the caller included).
void floatGemm(const FloatKernelTable& isa, const FloatGemmSpec& spec, float* c, int threads);

}  // namespace anyprec
