// anyprec kernels, i8gemm family: the int8 dot-product path of the GEMM. Pure C++17; nothing
// here knows about Node. Per-variant files: i8gemm_scalar.cc (the reference), _avx2, _avxvnni,
// _avx512 (avx512-vnni), _amx, _neon, _neondot; the variants a CPU runs are listed by
// platform/platform.h (availableI8Kernels), and each Platform names the variant of its ISA level.
//
// Where bit-serial loses by arithmetic (a*b plane pairs against one int8 multiply), a GEMM can
// compute its core sums with byte dot products instead (I8GemmPlan; gemm/gemm.h chooses). The
// bytes are rebuilt from the stored planes: activations per call (inside the plan's prepare
// phase, cost M*K), weights once per (packed tensor, bBits, encoding) into a blocked layout
// (I8Weights) the caller caches.
//
// ---- byte mapping (exact) ------------------------------------------------------------------
// Every kernel computes S[i][j] = sum_k a'[i][k] * b'[j][k] with a' unsigned bytes (u8) and b'
// signed bytes (s8), where, for the b-bit code u (top b planes) and the bit-serial core value
// (the unsigned code, or its two's-complement reading for Signed):
//   A: Signed: a' = u XOR 2^(b-1) = core + 2^(b-1)   (oa = 2^(b-1));  else a' = u = core (oa = 0)
//   B: Signed: b' = core, sign-extended to 8 bits    (ob = 0)
//      Unsigned/Bipolar, b <= 7: b' = u              (ob = 0)
//      Unsigned/Bipolar, b == 8: b' = u XOR 0x80 = u - 128 as s8 (ob = 128)
// so a' in 0..255, b' in -128..127 and core_a = a' - oa, core_b = b' + ob:
//   sum core_a * core_b = S + ob * sum a' - oa * sum b' - oa * ob * K.
// sum a' comes from the stored plane popcounts, sum b' is stored with the prepared weights. The
// plan then finishes exactly like the bit-serial tiles (eltwise/gemm_finish.h: same corrections,
// same epilogue).
//
// ---- overflow ------------------------------------------------------------------------------
// S is accumulated in int32 lanes with two's-complement wrap-around (VPDPBUSD, TDPBUSD, VPMADDWD +
// VPADDD, NEON SDOT / SMLAL + ADD, the scalar kernel in uint32; avx2's pairs loop adds in int16
// first, only where the operand bound proves those sums exact, see I8TileArgs::maxProduct). Every other term is formed in
// int64 from exact integers, and the finish truncates the final value to int32. All of these are
// exact modulo 2^32, and checkGemm() has already proved that the true result lies in int32, so the
// result modulo 2^32 IS the result: a wrapped intermediate (possible only for K > 65793 with
// 8-bit operands, since |a' b'| <= 255 * 128) cannot change it. No instruction saturates on the
// values it gets: VPMADDUBSW (which saturates to int16: 255*127*2 > 32767) is used only by avx2,
// only when the caller's bound P on |a' b'| gives 2P <= 32767 (i8gemm_avx2.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bitplane/bitplane.h"
#include "common/align.h"
#include "common/gemm_spec.h"
#include "conv/conv.h"
#include "eltwise/gemm_finish.h"

namespace anyprec {

struct Platform;

constexpr size_t kI8KAlign = 64;     // K is padded with zero bytes to a multiple of this
constexpr size_t kI8NBlock = 16;     // weight columns per interleaved block
constexpr size_t kI8NAlign = 32;     // weight rows (N) padded with zeros to a multiple of this
constexpr size_t kI8MAlign = 32;     // activation rows a kernel may read/write (padded, zero)

inline size_t i8KPad(size_t k) { return (k + kI8KAlign - 1) / kI8KAlign * kI8KAlign; }
inline size_t i8NPad(size_t n) { return (n + kI8NAlign - 1) / kI8NAlign * kI8NAlign; }
inline size_t i8MPad(size_t m) { return (m + kI8MAlign - 1) / kI8MAlign * kI8MAlign; }
// Bytes of prepared weights for n x k: layout
//   byte (j, k) at ((j / 16) * kPad + (k / 4) * 4) * 16 + (j % 16) * 4 + k % 4
// i.e. blocks of 16 columns, each a sequence of 64-byte rows (4 consecutive k of 16 columns):
// one zmm load / one AMX tile row, the "VNNI" layout of B.
inline size_t i8WeightBytes(size_t n, size_t k) { return i8NPad(n) * i8KPad(k); }

// Rebuilding bytes from planes: for rows lane0..lane0+rows-1 of one panel,
//   out[r][t] = xorValue ^ OR_{p < planes, bit t of plane p set} planeValue[p]   (t < k)
//   out[r][t] = 0                                                                  (k <= t < kPad)
struct ByteRowsArgs {
  const uint64_t* panel;  // panel base (plane 0, word 0, lane 0)
  size_t kWords;          // words per plane of the packed operand (kWordsFor(k))
  int lane0, rows;        // lane0 + rows <= 8
  int planes;             // planes used (the top ones), 1..8
  uint8_t planeValue[8];
  uint8_t xorValue;
  size_t k, kPad;
  uint8_t* out;           // row r at out + r * ldOut, kPad bytes each
  size_t ldOut;
};

// One int8 tile: c[i][j] = sum_{t < kPad} a[i][t] * b'[j][t] (u8 x s8, int32 with wrap-around)
// for i < roundup(m, 32) and j < n.
struct I8TileArgs {
  const uint8_t* a;       // roundup(m, 32) rows of kPad bytes (rows >= m are zero), row i at a + i * lda
  size_t lda;
  const int8_t* b;        // prepared weights at the tile's first column (a 16-column block start)
  size_t kPad;            // multiple of 64; a 16-column block is kPad * 16 bytes
  const int32_t* colSum;  // sum of b' over K for each of the n columns (kernels that need it)
  int m;                  // >= 1
  int n;                  // multiple of 32
  int32_t* c;             // roundup(m, 32) rows of n values, row i at c + i * ldc
  size_t ldc;
  // 0, or a multiple of 4 <= kPad past which every byte of A and B is zero (K rounded up to 4): a
  // variant may stop its K loop there (avx512-vnni does; K = 144 is 192 padded).
  size_t kUsed;
  // 0, or a multiple of 16 <= n: the columns the caller reads (a variant may leave c's columns
  // past it unwritten; avx512-vnni then runs a last 16-column block on its own).
  int nUsed;
  // 0 (unknown: the full byte ranges), or a bound on |a'[i][t] * b'[j][t]| for every i, j, t that
  // the caller guarantees (i8MaxProduct of its bits): avx2 then adds products in int16 where no
  // sum can leave the int16 range (VPMADDUBSW; i8gemm_avx2.cc).
  uint32_t maxProduct = 0;
};

// The bound I8TileArgs::maxProduct of a' (aBits-bit codes, byteMapA: 0..2^aBits-1) times b'
// (byteMapB at bBits, encoding bEnc: |b'| <= 2^(bBits-1) signed, 2^bBits-1 unsigned/bipolar below 8
// bits, 128 at 8 bits).
inline uint32_t i8MaxProduct(int aBits, int bBits, Encoding bEnc) {
  const uint32_t maxA = (1u << aBits) - 1;
  const uint32_t maxB = bEnc == Encoding::Signed ? (1u << (bBits - 1)) : bBits == 8 ? 128u : (1u << bBits) - 1;
  return maxA * maxB;
}

// One int8 convolution tile read in place through row pointers and tap offsets (no lowered byte rows):
//   c[i][j] = sum_{t < taps} sum_{k < tapBytes} (rows[i] + tapOffset[t])[k] * b'[j][t * tapBytes + k]
// (u8 x s8, int32 with wrap-around) for i < m and j < nUsed, where b' is the prepared weights'
// layout with K = taps * tapBytes. For a convolution rows[i] is output position i's window origin
// in NHWC codes (padded, when the convolution pads, so every tap is inside) and the taps are the
// kh x kw window's pixels in (kh, kw) order, tapBytes = c (or, with dilation 1 across, its kh
// kernel rows, tapBytes = kw * c): K runs in (kh, kw, c) order exactly as the lowered rows of the
// codes route.
struct I8ConvTileArgs {
  const uint8_t* const* rows;  // m pointers
  const ptrdiff_t* tapOffset;  // taps byte offsets; every rows[i] + tapOffset[t] has tapBytes readable bytes
  size_t taps;                 // >= 1
  size_t tapBytes;             // a multiple of 4, >= 4
  const int8_t* b;             // prepared weights at the tile's first column (a 16-column block start)
  size_t kPad;                 // the weights' padded K (>= taps * tapBytes)
  int m;                       // >= 1; rows written: exactly m (no padding rows)
  int n;                       // multiple of 32: the weight columns present from b
  int nUsed;                   // multiple of 16 <= n: the columns written (those past it may not be)
  int32_t* c;                  // row i at c + i * ldc
  size_t ldc;
  // nullptr, or the codes route's exact finish fused into the store (i8gemm_plan.cc): c[i][j] =
  // mul * S + rowConst[i] + colConst[j] (mod 2^32); colConst has n readable values.
  const uint32_t* rowConst;
  const uint32_t* colConst;
  uint32_t mul;
  uint32_t maxProduct = 0;  // as I8TileArgs::maxProduct
};

struct I8Kernel {
  const char* name;       // "amx", "avx512-vnni", "avx-vnni", "avx2", "neon-dot", "neon", "scalar"
  void (*byteRows)(const ByteRowsArgs&);
  void (*tile)(const I8TileArgs&);
  // The VNNI ceiling of this variant: a register-only loop of its dot-product instruction over
  // enough independent accumulators to hide its latency (no loads, no stores). Performs
  // iters * ceilingMacsPerIter byte MACs and returns a checksum (so it is not elided). nullptr:
  // the variant has no loop of its own and i8Ceiling() runs the scalar one.
  uint64_t (*ceiling)(uint64_t iters, uint64_t seed);
  uint64_t ceilingMacsPerIter;
  // The indirect conv tile (avx512-vnni, avx-vnni), or nullptr: the codes route then lowers each
  // task's rows into byte rows for `tile` (the results are the same).
  void (*convTile)(const I8ConvTileArgs&) = nullptr;
  // nullptr, or this variant's per-line prefix sums of pixel byte sums for the codes route:
  // pre[0] = 0, pre[x + 1] = pre[x] + (sum of the c bytes of pixel x), x < pixels.
  void (*pixelPrefix)(const uint8_t* px, size_t pixels, size_t c, uint64_t* pre) = nullptr;
};

// Per-variant tables, each in its own translation unit with its own flags.
extern const I8Kernel kI8Scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const I8Kernel kI8Avx2;
extern const I8Kernel kI8AvxVnni;
extern const I8Kernel kI8Avx512Vnni;
extern const I8Kernel kI8Amx;
#endif
#if defined(__aarch64__)
extern const I8Kernel kI8Neon;
extern const I8Kernel kI8NeonDot;
#endif

// Runs `kern`'s ceiling loop for `iterations` (the scalar loop where the variant has none).
struct I8CeilingRun {
  uint64_t checksum = 0;
  double macs = 0;  // byte multiply-adds performed
};
I8CeilingRun i8Ceiling(const I8Kernel& kern, uint64_t iterations);
// Scalar ceiling loop (the portable stub of every variant without one).
uint64_t i8CeilingScalar(uint64_t iters, uint64_t seed);
constexpr uint64_t kI8CeilingScalarMacs = 16;

// Whether automatic dispatch takes the int8 path with variant `kern` for an m x n GEMM at these
// bits (the measured table in i8gemm.cc).
bool preferInt8(const I8Kernel& kern, int aBits, int bBits, size_t m, size_t n);
// The same table as an estimate of time(bit-serial) / time(int8): the bit-serial cost over the
// row's threshold (>= 1 exactly where preferInt8 holds; 0 where the table has no row for `kern`).
double int8TableRatio(const I8Kernel& kern, int aBits, int bBits, size_t m, size_t n);

// Byte mapping of an operand (see the header comment).
struct ByteMap {
  uint8_t planeValue[8];
  uint8_t xorValue;
  int64_t offset;  // oa (A) or ob (B)
};
ByteMap byteMapA(Encoding e, int bits);
ByteMap byteMapB(Encoding e, int bits);

// Prepared weights (read-only view).
struct I8Weights {
  const int8_t* data;     // i8WeightBytes(n, k) bytes, layout above
  const int32_t* colSum;  // i8NPad(n) values: sum over K of b' per column (0 for padding)
  size_t n, k;
  int bits;               // bBits they were made for
  Encoding enc;
};

// Rebuilds weight bytes from b's top `bits` planes. Work is split in column blocks:
// run prepareI8WeightsTask(t) for t < prepareI8WeightsTasks(n) (any order, any threads).
size_t prepareI8WeightsTasks(size_t n);
void prepareI8WeightsTask(const I8Kernel& kern, const PackedView& b, int bits, Encoding enc, int8_t* data,
                          int32_t* colSum, size_t task);
void prepareI8Weights(const I8Kernel& kern, const PackedView& b, int bits, Encoding enc, int8_t* data,
                      int32_t* colSum, int threads);

// Portable byte rebuilding (used by the scalar and NEON variants and as a reference).
void byteRowsGeneric(const ByteRowsArgs& a);

// Checks that prepared weights were made for this spec's b, bBits and bEncoding ("" if they were).
std::string checkI8Weights(const GemmSpec& spec, const I8Weights& w);

// Activation codes as the int8 path's A, without bit planes: NHWC codes (`shape.inputCount()`
// bytes, each a `spec.aBits`-bit code) lowered for a convolution, one row per output position
// (n, oh, ow) and K = kh*kw*c columns in (kh, kw, c) order, taps in the padding reading code 0.
// A linear layer's M x K codes are the 1 x 1 convolution of an M x 1 x 1 x K image.
struct I8Codes {
  const uint8_t* codes;
  ConvShape shape;  // checked (checkConvShape) by the caller
};
// The I8Codes of a row-major M x K matrix of codes.
I8Codes i8MatrixCodes(const uint8_t* codes, size_t m, size_t k);

// A GEMM whose core sums are byte dot products with variant `kern`, in two phases of independent
// tasks: prepare(t) for every t < prepareTasks() (A's bytes rebuilt from its planes), then run(t)
// for every t < tasks() (output tiles), each phase in any order and on any threads, the second
// only after the first has finished. Results equal the bit-serial path's exactly. `weights` are
// prepared for spec.b at spec.bBits / spec.bEnc (nullptr: the plan prepares its own copy,
// single-threaded, in its constructor). Buffers and weights must outlive the plan.
class I8GemmPlan {
 public:
  I8GemmPlan(const Platform& isa, const I8Kernel& kern, const GemmSpec& spec, void* c, const Epilogue& epi,
             const I8Weights* weights);
  // A from codes: spec.a gives only its shape (rows = codes.shape.rows(), cols = codes.shape.k(),
  // planes = aBits; data and planePop unused, may be null). No prepare phase: each output task
  // forms each of its rows' sum of a' and runs every column block on them. With a variant that
  // has a conv tile and c a multiple of 4, the tile reads the codes in place through a table of
  // tap pointers per row (padding taps: a shared row of a' of code 0); otherwise the task lowers
  // its rows of codes into the tile's byte rows (a' by the byte map, padding taps a' of code 0) in
  // a buffer of its thread. Codes of more than aBits bits give unspecified results (the caller
  // checks them).
  I8GemmPlan(const Platform& isa, const I8Kernel& kern, const GemmSpec& spec, const I8Codes& codes, void* c,
             const Epilogue& epi, const I8Weights* weights);
  ~I8GemmPlan();  // its activation byte buffer goes back to a small pool for the next plan
  I8GemmPlan(const I8GemmPlan&) = delete;
  I8GemmPlan& operator=(const I8GemmPlan&) = delete;
  size_t prepareTasks() const { return prepareTasks_; }
  void prepare(size_t task) const;
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;
  const I8Kernel& kernel() const { return kern_; }

 private:
  void init(const I8Weights* weights);
  // The codes route: rows r0..r1-1 of A lowered to rowsOut (row r0 first, stride aLd_), their
  // rowConst_ entries set.
  void lowerCodes(size_t r0, size_t r1, uint8_t* rowsOut) const;
  // The indirect codes route (kern_.convTile): the window origins of rows r0..r1-1 in the image
  // at src_ (row r0 first), their rowConst_ entries set.
  void rowPointers(size_t r0, size_t r1, const uint8_t** out) const;
  // rowConst_[i] of a lowered row whose bytes in the image sum to `sum` and that has padTaps
  // padding taps.
  void setRowConst(size_t i, uint64_t sum, uint64_t padTaps) const;
  void runCodes(size_t task) const;
  void runIndirect(size_t row0, size_t rows) const;
  // The tiles of rows row0..row0+rows-1 (bytes at a, stride aLd_; zero rows up to i8MPad(rows))
  // and one block of colsPerTask_ columns from col0, finished into C.
  void runBlock(const uint8_t* a, size_t row0, size_t rows, size_t col0) const;
  // The exact finish of a block's core sums S (rows x the block's columns at cBuf, stride colsPad;
  // overwritten) into C through the epilogue; `combined`: cBuf holds the exact values already.
  void finishBlock(int32_t* cBuf, size_t colsPad, size_t row0, size_t rows, size_t col0, bool combined) const;
  // C = mul * S + rowConst(i) + colConst(j) (mod 2^32) for a row whose sum of a' is sumA.
  uint32_t rowConstOf(int64_t sumA, int64_t rowCore) const;
  int64_t rowConstOf64(int64_t sumA, int64_t rowCore) const;

  const I8Kernel& kern_;
  GemmSpec s_;
  GemmFinish finish_;
  size_t m_, n_, k_, aPanels_, kWords_;
  const I8Weights* w_ = nullptr;
  I8Weights ownW_{};
  std::vector<int8_t> ownWData_;
  std::vector<int32_t> ownWColSum_;
  AlignedArray<uint8_t> aBytes_;   // activation bytes: i8MPad(M) rows of aLd_
  size_t aCapacity_ = 0;            // bytes allocated at aBytes_ (>= i8MPad(M) * aLd_)
  size_t kPad_ = 0, aLd_ = 0, rowsPerTask_ = 0, colsPerTask_ = 0, panelsPerPrep_ = 0;
  size_t prepareTasks_ = 0, tasksM_ = 0, tasksN_ = 0;
  std::vector<uint32_t> colConst_;
  // Per row of A; the codes route fills it in its prepare phase (each task its own rows).
  mutable std::vector<uint32_t> rowConst_;
  ByteMap mapA_{}, mapB_{};
  uint32_t maxProduct_ = 0;  // i8MaxProduct of the spec's bits, for the tiles
  // The codes route: its input (codes_.codes null: A comes from planes), the input bytes mapped to
  // a' when the map is not the identity, and each pixel's sum of a' over its c channels.
  I8Codes codes_{};
  const uint8_t* src_ = nullptr;
  std::vector<uint8_t> mapped_;
  // The indirect route: taken when the variant has a conv tile and c is a multiple of 4 (a tap is
  // whole 4-byte K steps). It reads src_ as images of hp_ x wp_ pixels: the input with its padding
  // written out (padded_, a' of code 0; from the same pool as aBytes_) when the convolution pads
  // (the copy route: hp_ x wp_ = h x w, the prefix sums per line of src_ either way).
  // The codes route: rowConst_[i] = rowSlope_ * (sum of a' over row i) + rowBase_ (mod 2^32);
  // a padding tap adds padTapSum_ (c bytes of a' of code 0) to that sum.
  uint64_t rowSlope_ = 0, rowBase_ = 0, padTapSum_ = 0;
  bool indirect_ = false;
  size_t hp_ = 0, wp_ = 0;
  AlignedArray<uint8_t> padded_;
  size_t paddedCapacity_ = 0;
  std::vector<ptrdiff_t> tapOffset_;  // per tap: its bytes from the window's first pixel
  size_t tapBytes_ = 0;                // bytes per tap: kw * c (dilation 1 across: a kernel row), else c
  // per line of src_: wp_ + 1 prefix sums (uint64), in a buffer from the same pool as aBytes_
  AlignedArray<uint8_t> pixelSum_;
  size_t pixelSumCapacity_ = 0;
  const uint64_t* prefix() const { return reinterpret_cast<const uint64_t*>(pixelSum_.get()); }
};

}  // namespace anyprec
