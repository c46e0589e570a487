// anyprec kernels, common floor: overflow-checked size arithmetic. Every kernel entry that sizes a
// buffer or a loop from caller numbers (shapes, geometry) forms its sizes with these, so a hostile
// or careless shape gives a size error instead of a wrapped size_t (a small buffer written past
// its end). Pure C++17.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>

namespace anyprec {

// The largest single buffer (in bytes) a kernel entry agrees to size from caller numbers: 4 GiB,
// the largest typed array a JavaScript host makes on 64-bit Node 20. A larger request is a size
// error, reported before anything is allocated.
constexpr size_t kMaxBufferBytes = size_t{1} << 32;

// A size that cannot be formed (overflow) or may not be allocated (over kMaxBufferBytes). The
// binding reports it as a RangeError with this message.
class SizeError : public std::range_error {
 public:
  explicit SizeError(const std::string& what) : std::range_error(what) {}
};

// *out = a * b (resp. a + b); false, with *out untouched, if the result does not fit size_t.
inline bool checkedMul(size_t a, size_t b, size_t* out) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}
inline bool checkedAdd(size_t a, size_t b, size_t* out) {
  size_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

// The product of `factors`; throws SizeError naming `what` if it overflows size_t.
size_t mulOrThrow(std::initializer_list<size_t> factors, const char* what);
size_t addOrThrow(size_t a, size_t b, const char* what);

// Whether `count` elements of `elemBytes` bytes each form a buffer of at most kMaxBufferBytes.
inline bool fitsBuffer(size_t count, size_t elemBytes) {
  size_t bytes = 0;
  return checkedMul(count, elemBytes, &bytes) && bytes <= kMaxBufferBytes;
}
// `count` if fitsBuffer(count, elemBytes), else throws SizeError naming `what`.
size_t bufferOrThrow(size_t count, size_t elemBytes, const char* what);

}  // namespace anyprec
