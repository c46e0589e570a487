#include "eltwise/gemm_finish.h"

namespace anyprec {

GemmFinish::GemmFinish(const EpilogueTable& e, const GemmSpec& s, void* c, const Epilogue& epi, bool xorForm)
    : epilogue_(e), c_(c), epi_(epi), n_(s.b.rows), k_(s.a.cols), xor_(xorForm) {
  const size_t m = s.a.rows;
  encodingAffine(s.aEnc, s.aBits, &alphaA_, &betaA_);
  encodingAffine(s.bEnc, s.bBits, &alphaB_, &betaB_);
  // C = mul * core + rowTerm(i) + colTerm(j): XOR form K - 2*pop; else the affine corrections.
  mul_ = xor_ ? -2 : alphaA_ * alphaB_;
  colTerm_.assign(n_, xor_ ? 0 : static_cast<int64_t>(k_) * betaA_ * betaB_);
  if (!xor_ && (betaA_ != 0 || betaB_ != 0)) {
    const bool negA = s.aEnc == Encoding::Signed, negB = s.bEnc == Encoding::Signed;
    if (betaB_ != 0) {
      rowCoreA_.resize(m);
      for (size_t i = 0; i < m; ++i) rowCoreA_[i] = rowCoreSum(s.a.planePop + i * s.a.planes, s.aBits, negA);
    }
    if (betaA_ != 0) {
      for (size_t j = 0; j < n_; ++j)
        colTerm_[j] += betaA_ * alphaB_ * rowCoreSum(s.b.planePop + j * s.b.planes, s.bBits, negB);
    }
  }
}

void GemmFinish::storeRow(const int32_t* v, size_t i, size_t col0, size_t col1) const {
  const size_t n = col1 - col0;
  const float* scale = epi_.scale + col0;
  const float* shift = epi_.shift ? epi_.shift + col0 : nullptr;
  if (epi_.kind == OutputKind::Float32) {
    float* out = static_cast<float*>(c_) + i * n_ + col0;
    epilogue_.int32ToFloat(v, scale, shift, epi_.lo, epi_.hi, out, n);
    if (epi_.residual != nullptr) {
      // The residual add fused: the row is still in L1, so no second pass over C.
      const float* r = epi_.residual + i * n_ + col0;
      for (size_t j = 0; j < n; ++j) out[j] = out[j] + r[j];
    }
  } else {
    const float levels = static_cast<float>((1 << epi_.codeBits) - 1);
    epilogue_.int32ToCodes(v, scale, shift, levels, static_cast<uint8_t*>(c_) + i * n_ + col0, n);
  }
}

}  // namespace anyprec
