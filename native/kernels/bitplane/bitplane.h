// anyprec kernels, bitplane family: the bit-plane layout and the per-ISA micro-kernel interface
// (KernelTable). The scalar reference is bitplane_scalar.cc; bitplane_avx2/_avx512/_neon.cc are
// the same contract compiled each with its ISA's flags. Packing and unpacking (the drivers over
// panels) are in bitplane/pack.h. Pure C++17; nothing here knows about Node.
//
// Packed operand layout ("panel-interleaved bit planes"):
//   rows are grouped in panels of 8 (the last panel padded with zero rows);
//   K is split into 64-bit words (the last word padded with zero bits);
//   word (panel, plane, k, lane) lives at data[((panel * planes + plane) * kWords + k) * 8 + lane].
//   plane 0 is the most significant bit of the stored code. Using only the top b planes
//   (planes 0..b-1) is exactly code >> (stored - b): truncation needs no repacking.
// One 512-bit vector holds word k of 8 consecutive rows, so a vector kernel keeps one output
// per 64-bit lane (no horizontal sums), and K only needs padding to 64 bits.
// An int8 path can rebuild the bytes of one row from its planes (stride kWords*8 words).
#pragma once
#include <cstddef>
#include <cstdint>

namespace anyprec {

constexpr int kPanelRows = 8;  // rows per panel == 64-bit lanes per 512-bit vector
constexpr int kMaxPlanes = 8;

inline size_t kWordsFor(size_t k) { return (k + 63) / 64; }
inline size_t panelsFor(size_t rows) { return (rows + kPanelRows - 1) / kPanelRows; }
inline size_t packedWords(size_t rows, size_t k, int planes) {
  return panelsFor(rows) * static_cast<size_t>(planes) * kWordsFor(k) * kPanelRows;
}

// Pack up to 8 rows of codes (one panel). Lanes >= rows and bits >= K are written as zero.
struct PackPanelArgs {
  const uint8_t* codes;  // row r starts at codes + r * ldCodes; K codes each, each < 2^planes
  size_t ldCodes;
  int rows;              // 1..8
  size_t k;              // codes per row
  int planes;            // stored planes 1..8
  size_t kWords;         // kWordsFor(k)
  uint64_t* out;         // panel base: planes * kWords * 8 words
};

// One call of the bit-serial micro-kernel: an (mr x 8*np) block of outputs over kWords words
// of K and over every plane pair. It ADDS to acc (with overwrite set it stores instead, acc's
// previous contents ignored):
//   acc[r*ldAcc + n] += sum_{i<aPlanes, j<bPlanes} s(i,j) * 2^((aPlanes-1-i) + (bPlanes-1-j))
//                       * sum_{k<kWords} popcount( op( A(i,k,r), B(j,k,n) ) )
// where A(i,k,r) = a[i*aPlaneStride + k*8 + r], B(j,k,n) = b[(n/8)*bPanelStride + j*bPlaneStride + k*8 + n%8],
// op = AND (or XOR when useXor), s(i,j) = -1 if exactly one of (aNegTop && i==0), (bNegTop && j==0).
struct BitTileArgs {
  const uint64_t* a;     // first row of the tile: panel base + lane offset + k0*8
  size_t aPlaneStride;   // words between planes of A (kWords_A * 8)
  const uint64_t* b;     // first B panel of the tile, at word k0
  size_t bPanelStride;   // words between B panels (planes_B * kWords_B * 8)
  size_t bPlaneStride;   // words between planes of B (kWords_B * 8)
  int mr;                // A rows, 1..8 (lanes r of the same A panel, r + lane offset < 8)
  int np;                // B panels, 1..8 (8 outputs each)
  int aPlanes, bPlanes;  // planes used, 1..8 each
  bool aNegTop, bNegTop; // top plane weighs -2^(planes-1) (two's complement)
  bool useXor;           // popcount(a ^ b): only used for 1 x 1 bipolar
  size_t kWords;         // words of K in this call (>= 1)
  int64_t* acc;          // mr rows of np*8 accumulators
  size_t ldAcc;
  bool overwrite;        // acc holds anything: the kernel writes its sums instead of adding them
};

// For kernels that add into acc several times per call: zero the call's mr x np*8 accumulators
// first when t.overwrite is set (one tight loop instead of the caller's memset per row).
inline void zeroTileAccIfOverwrite(const BitTileArgs& t) {
  if (!t.overwrite) return;
  const size_t cols = static_cast<size_t>(t.np) * kPanelRows;
  for (int r = 0; r < t.mr; ++r) {
    int64_t* row = t.acc + static_cast<size_t>(r) * t.ldAcc;
    for (size_t c = 0; c < cols; ++c) row[c] = 0;
  }
}

// Bit streams: the codes of a flat array split into one bit string per plane. Bit i of plane p's
// stream is bit (planes-1-p) of codes[i]; word w of the stream holds codes [64w, 64w+64), code
// 64w+j at bit j. A convolution packs its input image once this way (every pixel's C channel bits
// are then C consecutive bits of each stream) and assembles its lowered rows from runs of them.
struct PackStreamsArgs {
  const uint8_t* codes;  // count codes, each < 2^planes
  size_t count;
  int planes;            // 1..8
  size_t word0, word1;   // write words [word0, word1) of every stream; codes at or past count read as 0
  uint64_t* streams;     // plane p's stream starts at streams + p * streamStride
  size_t streamStride;
};

// Assembles up to 8 rows of one panel from bit streams. Every row is `runs` runs of `runBits`
// bits each, run j of row r read from bit rowBit[r] + runOffset[j] of every plane's stream (a
// convolution's rows: one run per kernel row, or per tap, from a zero-padded image). The panel
// gets the packed layout above, k = runs * runBits bits per row (lanes >= rows zero), and
// planePop[r * planes + p] the popcount of plane p of row r. Reads may reach up to 8 words past
// the word that holds a run's last bit: the streams must extend that far (kGatherSlackWords).
constexpr size_t kGatherSlackWords = 8;
struct GatherPanelArgs {
  const uint64_t* streams;    // plane p's stream at streams + p * streamStride
  size_t streamStride;
  int planes;                 // 1..8
  const uint64_t* rowBit;     // rows entries
  int rows;                   // 1..8
  const uint64_t* runOffset;  // runs entries
  size_t runs;                // >= 1
  uint64_t runBits;           // >= 1
  size_t kWords;              // kWordsFor(runs * runBits)
  uint64_t* out;              // panel base: planes * kWords * 8 words
  int32_t* planePop;          // rows * planes counts
};

// Many panels whose 8 rows are evenly spaced, as a convolution's 8 adjacent output positions of one
// output row are: row r of panel q starts at bit panelBit[q] + r * rowStep of the streams; every
// row is present; runs, planes and kWords as in GatherPanelArgs. Panel q is written exactly as
// gatherPanel writes it, at out + q * planes * kWords * 8, its popcounts at planePop + q * 8 * planes.
// One call per band of panels lets a kernel set up its reads once (same slack as gatherPanel).
struct GatherPanelsArgs {
  const uint64_t* streams;    // plane p's stream at streams + p * streamStride
  size_t streamStride;
  int planes;                 // 1..8
  const uint64_t* panelBit;   // panels entries
  size_t panels;              // >= 1
  uint64_t rowStep;           // bits between consecutive rows of a panel
  const uint64_t* runOffset;  // runs entries
  size_t runs;                // >= 1
  uint64_t runBits;           // >= 1
  size_t kWords;              // kWordsFor(runs * runBits)
  uint64_t* out;              // panels * planes * kWords * 8 words
  int32_t* planePop;          // panels * 8 * planes counts
};

struct KernelTable {
  const char* name;
  void (*packPanel)(const PackPanelArgs&);
  void (*bitTile)(const BitTileArgs&);
  // The popcount ceiling of this ISA: a register-only loop of the micro-kernel's inner step
  // (AND, popcount, accumulate) over enough independent accumulators to hide latency.
  // Performs iters * ceilingBitsPerIter bit-MACs and returns a checksum (so it is not elided).
  uint64_t (*ceiling)(uint64_t iters, uint64_t seed);
  uint64_t ceilingBitsPerIter;
  // Per-row plane popcounts of one packed panel (of kWords words per plane):
  // planePop[r * planes + p] = popcount of plane p of row r, for r < rows.
  void (*panelPops)(const uint64_t* panel, int rows, int planes, size_t kWords, int32_t* planePop);
  void (*packStreams)(const PackStreamsArgs&);
  void (*gatherPanel)(const GatherPanelArgs&);
  // nullptr where the ISA has no faster form than gatherPanel once per panel (the caller loops).
  void (*gatherPanels)(const GatherPanelsArgs&);
};

// Per-ISA tables; each defined in its own translation unit compiled with its own flags.
extern const KernelTable kScalarTable;
#if defined(__x86_64__) || defined(_M_X64)
extern const KernelTable kAvx2Table;
extern const KernelTable kAvx512Table;
#endif
#if defined(__aarch64__)
extern const KernelTable kNeonTable;
#endif

}  // namespace anyprec
