#include "common/gemm_spec.h"

#include <climits>
#include <string>

namespace anyprec {

CheckResult checkGemm(const GemmSpec& s) {
  CheckResult r;
  auto fail = [&](ErrorKind k, std::string msg) {
    r.kind = k;
    r.message = std::move(msg);
    return r;
  };
  if (s.aBits < 1 || s.aBits > s.a.planes)
    return fail(ErrorKind::Range, "aBits must be an integer in 1.." + std::to_string(s.a.planes) +
                                      " (planes stored in a), got " + std::to_string(s.aBits));
  if (s.bBits < 1 || s.bBits > s.b.planes)
    return fail(ErrorKind::Range, "bBits must be an integer in 1.." + std::to_string(s.b.planes) +
                                      " (planes stored in b), got " + std::to_string(s.bBits));
  if (s.a.cols != s.b.cols)
    return fail(ErrorKind::Range, "a and b must have the same number of columns (K): a has " +
                                      std::to_string(s.a.cols) + ", b has " + std::to_string(s.b.cols));
  const long double worst = static_cast<long double>(s.a.cols) * maxAbsValue(s.aEnc, s.aBits) *
                            maxAbsValue(s.bEnc, s.bBits);
  if (worst > static_cast<long double>(INT32_MAX))
    return fail(ErrorKind::Range,
                "K=" + std::to_string(s.a.cols) + " with " + std::to_string(s.aBits) + "-bit " +
                    encodingName(s.aEnc) + " a and " + std::to_string(s.bBits) + "-bit " +
                    encodingName(s.bEnc) + " b could overflow int32 (worst case " +
                    std::to_string(static_cast<long long>(worst)) + ")");
  return r;
}

void encodingAffine(Encoding e, int bits, int64_t* alpha, int64_t* beta) {
  if (e == Encoding::Bipolar) {
    *alpha = 2;
    *beta = -((int64_t{1} << bits) - 1);
  } else {
    *alpha = 1;
    *beta = 0;
  }
}

int64_t rowCoreSum(const int32_t* pops, int bits, bool negTop) {
  int64_t s = 0;
  for (int p = 0; p < bits; ++p) {
    const int64_t w = int64_t{1} << (bits - 1 - p);
    s += (p == 0 && negTop ? -w : w) * pops[p];
  }
  return s;
}

}  // namespace anyprec
