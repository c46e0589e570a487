// anyprec kernels, eltwise family: the element-wise row loops after a GEMM or between layers
// (scale, shift, clamp, quantise to codes), one table per ISA, and the description of what a GEMM
// does with each exact result (Epilogue). Pure C++17 (no Node-API). Drivers over whole tensors:
// eltwise/eltwise.h; the GEMM finish shared by the bit-serial and int8 paths: eltwise/gemm_finish.h.
//
// The arithmetic is written once (epilogue_generic.h) and compiled per ISA with that ISA's flags
// (epilogue_scalar.cc, _avx2.cc, _avx512.cc, _neon.cc), so the compiler vectorises each loop at
// the widest width the CPU has; at the baseline x86-64 ISA GCC does not vectorise the quantiser
// at all. Every form performs the same float32 operations in the same order (no contraction:
// -ffp-contract=off), so the results are bit-identical across ISAs.
#pragma once
#include <cstddef>
#include <cstdint>


namespace anyprec {

// Round half to even of clamp(y, 0, 1) * levels (levels = 2^bits - 1 <= 255); NaN gives code 0.
// Adding 1.5 * 2^23 leaves no fraction bits, so the FPU's round-to-nearest-even rounds (no libm).
inline uint8_t quantizeUnit(float y, float levels) {
  float c = y > 0.0f ? y : 0.0f;
  c = c < 1.0f ? c : 1.0f;
  const float v = c * levels;
  const float r = (v + 12582912.0f) - 12582912.0f;
  return static_cast<uint8_t>(static_cast<int32_t>(r));
}

struct TileFinish;

// Row loops over n elements; scale and shift may be null (1 and 0). Per element i:
//   float from int32:  y = float(v[i]) * scale[i] (+ shift[i])
//   float from float:  y = x[i] * scale[i] (+ shift[i])       (scale null: y = x[i] (+ shift[i]))
// then either out = min(max(y, lo), hi) (float) or out = quantizeUnit(y, levels) (codes).
// In the float-from-float forms out may equal x (in place).
struct EpilogueTable {
  const char* name;  // the ISA (the Platform record holding it)
  // The GEMM's exact result from its popcount sums: out[j] = int32(mul * core[j] + rowTerm +
  // colTerm[j]) with mul in {1, 2, 4, -2}, evaluated in int64 (the caller knows it fits int32).
  void (*combine)(const int64_t* core, int64_t mul, int64_t rowTerm, const int64_t* colTerm, int32_t* out, size_t n);
  void (*int32ToFloat)(const int32_t* v, const float* scale, const float* shift, float lo, float hi, float* out, size_t n);
  void (*int32ToCodes)(const int32_t* v, const float* scale, const float* shift, float levels, uint8_t* out, size_t n);
  void (*floatAffine)(const float* x, const float* scale, const float* shift, float lo, float hi, float* out, size_t n);
  void (*floatToCodes)(const float* x, const float* scale, const float* shift, float levels, uint8_t* out, size_t n);
  // out[i] = table[codes[i]] (the caller guarantees every code indexes the table).
  void (*codesToFloat)(const uint8_t* codes, const float* table, float* out, size_t n);
  // A rows x n tile of GEMM core sums (row r at acc + r * ldAcc) to its output in one call:
  // exact[r][j] = int32(mul * acc[r][j] + rowTerm[r] + colTerm[j]) (mul in {1, 2, 4, -2}, in int64),
  // then f's epilogue (TileFinish) — combine, convert and residual add without an int32 round trip.
  void (*finishTile)(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                     const int64_t* colTerm, const TileFinish& f, size_t n);
  // The same from exact int32 results (row r at v + r * ldv), for a Float32 or Codes f.
  void (*storeTile)(const int32_t* v, size_t ldv, size_t rows, const TileFinish& f, size_t n);
  // A Codes epilogue at 1 bit as integer comparisons (the bit-serial GEMM derives lo/hi from the
  // float epilogue where that is exact, bitgemm.cc): x = mul * acc[r][j] + rowTerm[r] in int64 (mul in {1, 2, 4, -2}),
  // out[r * ldOut + j] = (lo[j] < x && x <= hi[j]) ? 1 : 0.
  void (*finishCodes1)(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                       const int64_t* lo, const int64_t* hi, uint8_t* out, size_t ldOut, size_t n);
  // A layout change: x (rows x cols floats, row-major) to out (cols x rows), every value clamped
  // to [lo, hi] as floatAffine clamps without scale and shift (y < lo ? lo : y, then y > hi ? hi :
  // y: NaN and -0 pass unchanged; +-inf bounds make it a plain copy). out must not overlap x.
  void (*transposeClamp)(const float* x, size_t rows, size_t cols, float lo, float hi, float* out);
};

extern const EpilogueTable kScalarEpilogueTable;
#if defined(__x86_64__) || defined(_M_X64)
extern const EpilogueTable kAvx2EpilogueTable;
extern const EpilogueTable kAvx512EpilogueTable;
#endif
#if defined(__aarch64__)
extern const EpilogueTable kNeonEpilogueTable;
#endif

// What is done with each exact integer result acc = C[i][j] of a GEMM before it is stored.
//   Int32:   out = acc
//   Float32: y = float(acc) * scale[j] + shift[j] (float32, in that order), then clamped to [lo, hi],
//            then, with a residual, y + residual[i][j] (one float32 add: a residual connection)
//   Codes:   y as above, then q = round_half_even(clamp(y, 0, 1) * (2^codeBits - 1)) as uint8 —
//            the next layer's activation quantiser applied straight to the accumulators.
// A Float32 epilogue may also write codes of the value it stores (dual output): with `codes` set,
// codes[i][j] = quantizeUnit(out[i][j] * codeScale[j] + codeShift[j], 2^codeBits - 1) — e.g. a residual
// sum and the next block's batch norm + activation quantiser of it, in the same pass; the same bits as
// floatToCodes over the stored floats afterwards.
enum class OutputKind { Int32 = 0, Float32 = 1, Codes = 2 };
struct Epilogue {
  OutputKind kind = OutputKind::Int32;
  const float* scale = nullptr;  // N floats (Float32/Codes)
  const float* shift = nullptr;  // N floats or null (= 0)
  float lo = -__builtin_inff(), hi = __builtin_inff();
  int codeBits = 0;              // 1..8 (Codes, and Float32 with codes)
  const float* residual = nullptr;  // Float32 only: M x N floats (row-major, like C) or null
  uint8_t* codes = nullptr;         // Float32 only: M x N codes of the stored values (dual output), or null
  const float* codeScale = nullptr; // with codes: N floats (both required)
  const float* codeShift = nullptr; // with codes: N floats
};
// One GEMM tile's epilogue, every pointer already at the tile's first column (and row): per
// element y = float(exact) (* scale[j]) (+ shift[j]), then Int32: out = exact; Float32:
// out = min(max(y, lo), hi) (+ residual[r][j]), and with codes also
// codes[r][j] = quantizeUnit(out * codeScale[j] + codeShift[j], levels); Codes: out = quantizeUnit(y,
// levels) — the same float32 operations, in the same order, as the row loops above.

struct TileFinish {
  OutputKind kind = OutputKind::Int32;
  const float* scale = nullptr;     // n floats or null (= 1)
  const float* shift = nullptr;     // n floats or null (= 0)
  float lo = -__builtin_inff(), hi = __builtin_inff();
  float levels = 0.0f;              // Codes: 2^codeBits - 1
  const float* residual = nullptr;  // Float32: rows x n at leading dimension ldOut, or null
  void* out = nullptr;              // int32_t / float / uint8_t by kind
  size_t ldOut = 0;                 // elements between output rows
  uint8_t* codes = nullptr;         // Float32 dual output: rows x n codes at ldOut (levels: its 2^bits - 1), or null
  const float* codeScale = nullptr; // n floats (with codes)
  const float* codeShift = nullptr; // n floats (with codes)
};

// Bytes of one output element of an epilogue (4, 4 or 1).
inline size_t outputElementBytes(OutputKind k) { return k == OutputKind::Codes ? 1 : 4; }

}  // namespace anyprec
