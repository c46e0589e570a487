// The explicit-vector row loops of the GEMM finish (EpilogueTable::finishTile / storeTile, and the
// combine / int32ToFloat / int32ToCodes rows built on them), written once over a lane-set type V
// that each ISA file defines with its intrinsics (epilogue_avx512.cc: 16 lanes, epilogue_avx2.cc: 8,
// epilogue_neon.cc: 4). Included only by those files; internal linkage, like epilogue_generic.h.
//
// Why not the generic loops: GEMM outputs arrive one short row at a time (N = 16..64 conv channels),
// where GCC's auto-vectorised loops ran almost entirely in their scalar remainders. Here every row
// is whole vectors plus at most one masked (partial) vector: no scalar remainder at all.
//
// Exactness: per element the same float32 operations in the same order as epilogue_generic.h:
// float(int32), * scale, + shift as separate rounding steps (no FMA; the build has -ffp-contract=off),
// the clamps with the ternaries' exact semantics (V::clamp, V::quantize), and quantizeUnit's
// (v + 1.5 * 2^23) - 1.5 * 2^23 round-half-even step before a truncating conversion.
//
// What V provides (M is V::Full for a whole vector or V::Part for the first `rem` lanes):
//   kLanes; I (int32 lanes), F (float lanes), I64 (a broadcast int64), MulOp (a multiplier)
//   part(rem) -> Part;  set64(int64) -> I64;  mulOp(mul) -> MulOp
//   combine(core, colTerm, rowTerm, MulOp, M) -> I   int32(mul * core + rowTerm + colTerm), per lane
//   loadI(const int32_t*, M), loadF(const float*, M), storeI, storeF, storeCodes(uint8_t*, I, M)
//   cvt(I) -> F, mul, add, set1(float), clamp(y, lo, hi), quantize(y, levels) -> I (codes)
// A Part load reads only the first rem elements; a Part store writes only them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "eltwise/epilogue.h"
#include "eltwise/epilogue_generic.h"

namespace anyprec {
namespace epilogue_simd {
namespace {

struct Full {};

// What a vector of exact int32 results becomes: kind, which of scale / shift / residual exist, and
// (Float32) whether the codes of the stored value are written too (kDual).
template <class V, OutputKind kKind, bool kScale, bool kShift, bool kRes, bool kDual = false>
struct Emit {
  struct Consts {
    typename V::F lo, hi, levels;
  };
  static Consts consts(const TileFinish& f) { return {V::set1(f.lo), V::set1(f.hi), V::set1(f.levels)}; }

  template <class M>
  static void at(typename V::I v, const TileFinish& f, const Consts& c, size_t r, size_t j, const M& m) {
    const size_t at = r * f.ldOut + j;
    if constexpr (kKind == OutputKind::Int32) {
      V::storeI(static_cast<int32_t*>(f.out) + at, v, m);
    } else {
      typename V::F y = V::cvt(v);
      if constexpr (kScale) y = V::mul(y, V::loadF(f.scale + j, m));
      if constexpr (kShift) y = V::add(y, V::loadF(f.shift + j, m));
      if constexpr (kKind == OutputKind::Float32) {
        y = V::clamp(y, c.lo, c.hi);
        if constexpr (kRes) y = V::add(y, V::loadF(f.residual + at, m));
        V::storeF(static_cast<float*>(f.out) + at, y, m);
        if constexpr (kDual) {
          typename V::F z = V::mul(y, V::loadF(f.codeScale + j, m));
          z = V::add(z, V::loadF(f.codeShift + j, m));
          V::storeCodes(f.codes + at, V::quantize(z, c.levels), m);
        }
      } else {
        V::storeCodes(static_cast<uint8_t*>(f.out) + at, V::quantize(y, c.levels), m);
      }
    }
  }
};

// int64 core sums -> output.
template <class V, class E>
struct FromCore {
  static void run(const TileFinish& tile, const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul,
                  const int64_t* rowTerm, const int64_t* colTerm, size_t n) {
    const TileFinish f = tile;  // a local copy: the stores cannot alias its pointers (kept in registers)
    const typename V::MulOp mo = V::mulOp(mul);
    const typename E::Consts c = E::consts(f);
    const size_t whole = n - n % V::kLanes;
    const typename V::Part tail = V::part(n - whole);
    for (size_t r = 0; r < rows; ++r) {
      const int64_t* a = acc + r * ldAcc;
      const typename V::I64 rt = V::set64(rowTerm[r]);
      size_t j = 0;
      for (; j < whole; j += V::kLanes) E::at(V::combine(a + j, colTerm + j, rt, mo, Full{}), f, c, r, j, Full{});
      if (j < n) E::at(V::combine(a + j, colTerm + j, rt, mo, tail), f, c, r, j, tail);
    }
  }
};

// exact int32 results -> output.
template <class V, class E>
struct FromInt32 {
  static void run(const TileFinish& tile, const int32_t* v, size_t ldv, size_t rows, size_t n) {
    const TileFinish f = tile;
    const typename E::Consts c = E::consts(f);
    const size_t whole = n - n % V::kLanes;
    const typename V::Part tail = V::part(n - whole);
    for (size_t r = 0; r < rows; ++r) {
      const int32_t* row = v + r * ldv;
      size_t j = 0;
      for (; j < whole; j += V::kLanes) E::at(V::loadI(row + j, Full{}), f, c, r, j, Full{});
      if (j < n) E::at(V::loadI(row + j, tail), f, c, r, j, tail);
    }
  }
};

// Runs Loop<V, Emit<...>> for f's kind and its null pattern of scale / shift / residual.
template <class V, template <class, class> class Loop, OutputKind kKind, bool kRes, bool kDual = false, class... Args>
void withScaleShift(const TileFinish& f, Args... args) {
  if (f.scale != nullptr && f.shift != nullptr) Loop<V, Emit<V, kKind, true, true, kRes, kDual>>::run(f, args...);
  else if (f.scale != nullptr) Loop<V, Emit<V, kKind, true, false, kRes, kDual>>::run(f, args...);
  else if (f.shift != nullptr) Loop<V, Emit<V, kKind, false, true, kRes, kDual>>::run(f, args...);
  else Loop<V, Emit<V, kKind, false, false, kRes, kDual>>::run(f, args...);
}

template <class V, template <class, class> class Loop, class... Args>
void dispatch(const TileFinish& f, Args... args) {
  switch (f.kind) {
    case OutputKind::Int32: Loop<V, Emit<V, OutputKind::Int32, false, false, false>>::run(f, args...); break;
    case OutputKind::Codes: withScaleShift<V, Loop, OutputKind::Codes, false>(f, args...); break;
    case OutputKind::Float32:
      if (f.codes != nullptr) {
        if (f.residual != nullptr) withScaleShift<V, Loop, OutputKind::Float32, true, true>(f, args...);
        else withScaleShift<V, Loop, OutputKind::Float32, false, true>(f, args...);
      } else if (f.residual != nullptr) {
        withScaleShift<V, Loop, OutputKind::Float32, true>(f, args...);
      } else {
        withScaleShift<V, Loop, OutputKind::Float32, false>(f, args...);
      }
      break;
  }
}

template <class V>
void finishTile(const int64_t* acc, size_t ldAcc, size_t rows, int64_t mul, const int64_t* rowTerm,
                const int64_t* colTerm, const TileFinish& f, size_t n) {
  dispatch<V, FromCore>(f, acc, ldAcc, rows, mul, rowTerm, colTerm, n);
}

template <class V>
void storeTile(const int32_t* v, size_t ldv, size_t rows, const TileFinish& f, size_t n) {
  if (f.kind != OutputKind::Int32) dispatch<V, FromInt32>(f, v, ldv, rows, n);
}

// The row entries of EpilogueTable as one-row tiles.
template <class V>
void combine(const int64_t* core, int64_t mul, int64_t rowTerm, const int64_t* colTerm, int32_t* out, size_t n) {
  TileFinish f;
  f.out = out;
  FromCore<V, Emit<V, OutputKind::Int32, false, false, false>>::run(f, core, 0, 1, mul, &rowTerm, colTerm, n);
}

template <class V>
void int32ToFloat(const int32_t* v, const float* scale, const float* shift, float lo, float hi, float* out, size_t n) {
  TileFinish f;
  f.kind = OutputKind::Float32;
  f.scale = scale;
  f.shift = shift;
  f.lo = lo;
  f.hi = hi;
  f.out = out;
  withScaleShift<V, FromInt32, OutputKind::Float32, false>(f, v, size_t{0}, size_t{1}, n);
}

template <class V>
void int32ToCodes(const int32_t* v, const float* scale, const float* shift, float levels, uint8_t* out, size_t n) {
  TileFinish f;
  f.kind = OutputKind::Codes;
  f.scale = scale;
  f.shift = shift;
  f.levels = levels;
  f.out = out;
  withScaleShift<V, FromInt32, OutputKind::Codes, false>(f, v, size_t{0}, size_t{1}, n);
}

// f(std::bool_constant<scale != null>, std::bool_constant<shift != null>): a row loop's null pattern
// of scale / shift as compile-time flags (the four instantiations, chosen once per call).
template <class F>
inline void withAffineFlags(const float* scale, const float* shift, F&& f) {
  using Y = std::true_type;
  using N = std::false_type;
  if (scale != nullptr && shift != nullptr) f(Y{}, Y{});
  else if (scale != nullptr) f(Y{}, N{});
  else if (shift != nullptr) f(N{}, Y{});
  else f(N{}, N{});
}

// EpilogueTable::floatToCodes over V (the generic loop stays scalar under GCC): per element the
// generic loop's float steps in its order (x * scale, then + shift, separate roundings, no FMA;
// then V::quantize), whole vectors, then one Part for the tail. A table opts in (it is not in
// table<V> below: each ISA's switch was measured on its own CPU).
template <class V>
void floatToCodes(const float* x, const float* scale, const float* shift, float levels, uint8_t* out, size_t n) {
  withAffineFlags(scale, shift, [&](auto hasScale, auto hasShift) {
    const typename V::F lv = V::set1(levels);
    auto codes = [&](size_t i, auto m) {
      typename V::F y = V::loadF(x + i, m);
      if constexpr (decltype(hasScale)::value) y = V::mul(y, V::loadF(scale + i, m));
      if constexpr (decltype(hasShift)::value) y = V::add(y, V::loadF(shift + i, m));
      return V::quantize(y, lv);
    };
    size_t i = 0;
    for (; i + V::kLanes <= n; i += V::kLanes) V::storeCodes(out + i, codes(i, Full{}), Full{});
    if (i < n) {
      const typename V::Part tail = V::part(n - i);
      V::storeCodes(out + i, codes(i, tail), tail);
    }
  });
}

// This ISA's table: the explicit loops for the GEMM finish, the generic ones (compiled with this
// file's flags) for the rest.
template <class V>
constexpr EpilogueTable table(const char* name) {
  return {name,
          combine<V>,
          int32ToFloat<V>,
          int32ToCodes<V>,
          epilogue_generic::floatAffine,
          epilogue_generic::floatToCodes,
          epilogue_generic::codesToFloat,
          finishTile<V>,
          storeTile<V>,
          epilogue_generic::finishCodes1,
          epilogue_generic::transposeClamp};
}

}  // namespace
}  // namespace epilogue_simd
}  // namespace anyprec
