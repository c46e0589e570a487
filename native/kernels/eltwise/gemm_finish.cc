#include "eltwise/gemm_finish.h"

#include <algorithm>

namespace anyprec {

GemmFinish::GemmFinish(const EpilogueTable& e, const GemmSpec& s, void* c, const Epilogue& epi, bool xorForm)
    : epilogue_(e), c_(c), epi_(epi), n_(s.b.rows), k_(s.a.cols), xor_(xorForm) {
  f_.kind = epi.kind;
  f_.ldOut = n_;
  if (epi.kind != OutputKind::Int32) {
    f_.scale = epi.scale;
    f_.shift = epi.shift;
  }
  if (epi.kind == OutputKind::Float32) {
    f_.lo = epi.lo;
    f_.hi = epi.hi;
    f_.residual = epi.residual;
    if (epi.codes != nullptr) {
      f_.codes = epi.codes;
      f_.codeScale = epi.codeScale;
      f_.codeShift = epi.codeShift;
      f_.levels = static_cast<float>((1 << epi.codeBits) - 1);
    }
  }
  if (epi.kind == OutputKind::Codes) f_.levels = static_cast<float>((1 << epi.codeBits) - 1);
  const size_t m = s.a.rows;
  encodingAffine(s.aEnc, s.aBits, &alphaA_, &betaA_);
  encodingAffine(s.bEnc, s.bBits, &alphaB_, &betaB_);
  // C = mul * core + rowTerm(i) + colTerm(j): XOR form K - 2*pop; else the affine corrections.
  mul_ = xor_ ? -2 : alphaA_ * alphaB_;
  colTerm_.assign(n_, xor_ ? 0 : static_cast<int64_t>(k_) * betaA_ * betaB_);
  if (!xor_ && (betaA_ != 0 || betaB_ != 0)) {
    const bool negA = s.aEnc == Encoding::Signed, negB = s.bEnc == Encoding::Signed;
    if (betaB_ != 0 && s.a.planePop != nullptr) {
      rowCoreA_.resize(m);
      // rowCoreSum of every row, Horner style and inlined (it runs each time a GEMM is planned:
      // a call per row was ~3% of a 1-bit ResNet-20 run); the same sums.
      const int bits = s.aBits;
      const size_t planes = static_cast<size_t>(s.a.planes);
      for (size_t i = 0; i < m; ++i) {
        const int32_t* pops = s.a.planePop + i * planes;
        int64_t sum = negA ? -int64_t{pops[0]} : int64_t{pops[0]};
        for (int p = 1; p < bits; ++p) sum = 2 * sum + pops[p];
        rowCoreA_[i] = sum;
      }
    }
    if (betaA_ != 0) {
      for (size_t j = 0; j < n_; ++j)
        colTerm_[j] += betaA_ * alphaB_ * rowCoreSum(s.b.planePop + j * s.b.planes, s.bBits, negB);
    }
  }
}

TileFinish GemmFinish::tileAt(size_t row0, size_t col) const {
  TileFinish f = f_;
  const size_t at = row0 * n_ + col;
  if (f.scale != nullptr) f.scale += col;
  if (f.shift != nullptr) f.shift += col;
  if (f.residual != nullptr) f.residual += at;
  if (f.codes != nullptr) {
    f.codes += at;
    f.codeScale += col;
    f.codeShift += col;
  }
  f.out = static_cast<char*>(c_) + at * outputElementBytes(f.kind);
  return f;
}

void GemmFinish::finishTile(const int64_t* acc, size_t ldAcc, size_t row0, size_t rows, size_t col, size_t n) const {
  int64_t rowTerms[kTileRows];
  for (size_t r0 = 0; r0 < rows; r0 += kTileRows) {
    const size_t count = std::min(kTileRows, rows - r0);
    for (size_t r = 0; r < count; ++r) rowTerms[r] = rowTerm(row0 + r0 + r);
    epilogue_.finishTile(acc + r0 * ldAcc, ldAcc, count, mul_, rowTerms, colTerm_.data() + col, tileAt(row0 + r0, col), n);
  }
}

void GemmFinish::storeTile(const int32_t* v, size_t ldv, size_t row0, size_t rows, size_t col, size_t n) const {
  if (!int32Output()) epilogue_.storeTile(v, ldv, rows, tileAt(row0, col), n);
}

}  // namespace anyprec
