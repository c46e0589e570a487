#include "common/checked.h"

namespace anyprec {

size_t mulOrThrow(std::initializer_list<size_t> factors, const char* what) {
  size_t r = 1;
  for (size_t f : factors) {
    if (!checkedMul(r, f, &r)) throw SizeError(std::string(what) + " is too large (overflows the address space)");
  }
  return r;
}

size_t addOrThrow(size_t a, size_t b, const char* what) {
  size_t r = 0;
  if (!checkedAdd(a, b, &r)) throw SizeError(std::string(what) + " is too large (overflows the address space)");
  return r;
}

size_t bufferOrThrow(size_t count, size_t elemBytes, const char* what) {
  if (!fitsBuffer(count, elemBytes))
    throw SizeError(std::string(what) + " would need more than " + std::to_string(kMaxBufferBytes >> 30) +
                    " GiB (" + std::to_string(count) + " elements of " + std::to_string(elemBytes) + " bytes)");
  return count;
}

}  // namespace anyprec
