#include "common/types.h"

namespace anyprec {

const char* encodingName(Encoding e) {
  switch (e) {
    case Encoding::Unsigned: return "unsigned";
    case Encoding::Bipolar: return "bipolar";
    case Encoding::Signed: return "signed";
  }
  return "?";
}

int64_t maxAbsValue(Encoding enc, int bits) {
  switch (enc) {
    case Encoding::Unsigned:
    case Encoding::Bipolar: return (int64_t{1} << bits) - 1;
    case Encoding::Signed: return int64_t{1} << (bits - 1);
  }
  return 0;
}

}  // namespace anyprec
