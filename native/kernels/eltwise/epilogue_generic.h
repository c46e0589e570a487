// The portable row loops of epilogue.h. Included only by epilogue_<isa>.cc, each of which compiles
// them with its own flags; everything here has internal linkage (unnamed namespace) so every ISA
// keeps its own copy (shared inline definitions would let the linker pick one ISA's for all).
// The scale / shift null cases are separate loops, so no loop has a branch or a conditional load
// and each vectorises.
#pragma once
#include <cstddef>
#include <cstdint>

#include "eltwise/epilogue.h"

namespace anyprec {
namespace epilogue_generic {
namespace {

inline float clampTo(float y, float lo, float hi) {
  y = y < lo ? lo : y;
  return y > hi ? hi : y;
}

// out[i] = store(load(in[i]) * scale[i] + shift[i]) for the four null patterns of scale / shift.
template <typename In, typename Out, typename Load, typename Store>
inline void rows(const In* __restrict in, const float* __restrict scale, const float* __restrict shift,
                 Out* __restrict out, size_t n, Load load, Store store) {
  if (scale != nullptr && shift != nullptr) {
    for (size_t i = 0; i < n; ++i) out[i] = store(load(in[i]) * scale[i] + shift[i]);
  } else if (scale != nullptr) {
    for (size_t i = 0; i < n; ++i) out[i] = store(load(in[i]) * scale[i]);
  } else if (shift != nullptr) {
    for (size_t i = 0; i < n; ++i) out[i] = store(load(in[i]) + shift[i]);
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = store(load(in[i]));
  }
}

// The same with in == out allowed (no __restrict between them).
template <typename Store>
inline void rowsInPlace(const float* in, const float* __restrict scale, const float* __restrict shift, float* out,
                        size_t n, Store store) {
  if (scale != nullptr && shift != nullptr) {
    for (size_t i = 0; i < n; ++i) out[i] = store(in[i] * scale[i] + shift[i]);
  } else if (scale != nullptr) {
    for (size_t i = 0; i < n; ++i) out[i] = store(in[i] * scale[i]);
  } else if (shift != nullptr) {
    for (size_t i = 0; i < n; ++i) out[i] = store(in[i] + shift[i]);
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = store(in[i]);
  }
}

inline float toFloat(int32_t v) { return static_cast<float>(v); }

template <int kMul>
inline void combineMul(const int64_t* __restrict core, int64_t rowTerm, const int64_t* __restrict colTerm,
                       int32_t* __restrict out, size_t n) {
  for (size_t j = 0; j < n; ++j) out[j] = static_cast<int32_t>(kMul * core[j] + rowTerm + colTerm[j]);
}

void combine(const int64_t* core, int64_t mul, int64_t rowTerm, const int64_t* colTerm, int32_t* out, size_t n) {
  switch (mul) {
    case 1: combineMul<1>(core, rowTerm, colTerm, out, n); break;
    case 2: combineMul<2>(core, rowTerm, colTerm, out, n); break;
    case 4: combineMul<4>(core, rowTerm, colTerm, out, n); break;
    default: combineMul<-2>(core, rowTerm, colTerm, out, n); break;
  }
}

void int32ToFloat(const int32_t* v, const float* scale, const float* shift, float lo, float hi, float* out, size_t n) {
  rows(v, scale, shift, out, n, toFloat, [lo, hi](float y) { return clampTo(y, lo, hi); });
}

void int32ToCodes(const int32_t* v, const float* scale, const float* shift, float levels, uint8_t* out, size_t n) {
  rows(v, scale, shift, out, n, toFloat, [levels](float y) { return quantizeUnit(y, levels); });
}

void floatAffine(const float* x, const float* scale, const float* shift, float lo, float hi, float* out, size_t n) {
  rowsInPlace(x, scale, shift, out, n, [lo, hi](float y) { return clampTo(y, lo, hi); });
}

void floatToCodes(const float* x, const float* scale, const float* shift, float levels, uint8_t* out, size_t n) {
  rows(x, scale, shift, out, n, [](float y) { return y; }, [levels](float y) { return quantizeUnit(y, levels); });
}

void codesToFloat(const uint8_t* __restrict codes, const float* __restrict table, float* __restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = table[codes[i]];
}

// Exact int32 results of one row (n columns, f's pointers offset to row r) through a Float32 or
// Codes epilogue: the row loops above, then the residual add as its own pass.
void storeRow(const int32_t* v, const TileFinish& f, size_t r, size_t col, size_t n) {
  const float* scale = f.scale != nullptr ? f.scale + col : nullptr;
  const float* shift = f.shift != nullptr ? f.shift + col : nullptr;
  const size_t at = r * f.ldOut + col;
  if (f.kind == OutputKind::Codes) {
    int32ToCodes(v, scale, shift, f.levels, static_cast<uint8_t*>(f.out) + at, n);
    return;
  }
  float* out = static_cast<float*>(f.out) + at;
  int32ToFloat(v, scale, shift, f.lo, f.hi, out, n);
  if (f.residual != nullptr) {
    const float* res = f.residual + at;
    for (size_t j = 0; j < n; ++j) out[j] = out[j] + res[j];
  }
  // Dual output: the codes of the stored values, as floatToCodes over them.
  if (f.codes != nullptr) floatToCodes(out, f.codeScale + col, f.codeShift + col, f.levels, f.codes + at, n);
}

void storeTile(const int32_t* v, size_t ldv, size_t rows, const TileFinish& f, size_t n) {
  for (size_t r = 0; r < rows; ++r) storeRow(v + r * ldv, f, r, 0, n);
}

// The reference tile finish: per row, combine (into the output itself for Int32, else into a
// scratch chunk) and then store.
void finishTile(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                const int64_t* colTerm, const TileFinish& f, size_t n) {
  constexpr size_t kChunk = 64;
  int32_t scratch[kChunk];
  for (size_t r = 0; r < rows; ++r) {
    const int64_t* row = acc + r * ldAcc;
    if (f.kind == OutputKind::Int32) {
      combine(row, mul, rowTerm[r], colTerm, static_cast<int32_t*>(f.out) + r * f.ldOut, n);
      continue;
    }
    for (size_t j = 0; j < n; j += kChunk) {
      const size_t len = n - j < kChunk ? n - j : kChunk;
      combine(row + j, mul, rowTerm[r], colTerm + j, scratch, len);
      storeRow(scratch, f, r, j, len);
    }
  }
}

void finishCodes1(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm, const int64_t* lo,
                  const int64_t* hi, uint8_t* out, size_t ldOut, size_t n) {
  for (size_t r = 0; r < rows; ++r) {
    const int64_t* a = acc + r * ldAcc;
    uint8_t* o = out + r * ldOut;
    for (size_t j = 0; j < n; ++j) {
      const int64_t x = mul * a[j] + rowTerm[r];
      o[j] = static_cast<uint8_t>(lo[j] < x && x <= hi[j]);
    }
  }
}

// The tiles of a transpose of rows x cols (row-major) to cols x rows: full kTile x kTile tiles
// through tile(r0, c0), walked along the longer side so that the kTile rows of a tile on that side
// are long sequential runs while the short side's rows (short * 4 bytes apart) stay within a few
// pages; then the rows and columns left over, value by value through one(r, c).
constexpr size_t kTransposeTile = 8;
template <typename Tile, typename One>
inline void transposeTiles(size_t rows, size_t cols, Tile tile, One one) {
  constexpr size_t t = kTransposeTile;
  const size_t rows8 = rows / t * t, cols8 = cols / t * t;
  if (cols >= rows) {
    for (size_t r0 = 0; r0 < rows8; r0 += t)
      for (size_t c0 = 0; c0 < cols8; c0 += t) tile(r0, c0);
  } else {
    for (size_t c0 = 0; c0 < cols8; c0 += t)
      for (size_t r0 = 0; r0 < rows8; r0 += t) tile(r0, c0);
  }
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = cols8; c < cols; ++c) one(r, c);
  for (size_t r = rows8; r < rows; ++r)
    for (size_t c = 0; c < cols8; ++c) one(r, c);
}

void transposeClamp(const float* x, size_t rows, size_t cols, float lo, float hi, float* out) {
  auto one = [&](size_t r, size_t c) { out[c * rows + r] = clampTo(x[r * cols + c], lo, hi); };
  transposeTiles(rows, cols, [&](size_t r0, size_t c0) {
    for (size_t c = c0; c < c0 + kTransposeTile; ++c)
      for (size_t r = r0; r < r0 + kTransposeTile; ++r) one(r, c);
  }, one);
}

// The table of this file's copies (each ISA file: const EpilogueTable k... = table("isa")).
constexpr EpilogueTable table(const char* name) {
  return {name,         combine,      int32ToFloat, int32ToCodes, floatAffine,
          floatToCodes, codesToFloat, finishTile,   storeTile,    finishCodes1, transposeClamp};
}

}  // namespace
}  // namespace epilogue_generic
}  // namespace anyprec
