// anyprec kernels, common floor: the types every kernel family shares (code encodings, packed
// operand views, the result of an argument check). Pure C++17; nothing here knows about Node.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace anyprec {

// Value of a b-bit code q:
//   Unsigned: q;  Bipolar: 2q - (2^b - 1) (every plane is +-1);  Signed: two's complement.
enum class Encoding { Unsigned = 0, Bipolar = 1, Signed = 2 };

// "unsigned", "bipolar" or "signed".
const char* encodingName(Encoding e);
// Largest |value| a b-bit code can take in an encoding.
int64_t maxAbsValue(Encoding enc, int bits);

// A packed operand (the panel-interleaved bit-plane layout of bitplane/bitplane.h), read-only.
struct PackedView {
  const uint64_t* data;     // packedWords(rows, cols, planes) words
  size_t rows, cols;        // cols = K
  int planes;               // stored planes 1..8
  const int32_t* planePop;  // [rows][planes]: popcount of each row's plane (for row sums)
};

// What a kernel-side argument check found: nothing, a wrong type, or a value out of range; the
// message names the argument and what was expected.
enum class ErrorKind { None, Type, Range };
struct CheckResult {
  ErrorKind kind = ErrorKind::None;
  std::string message;
};

}  // namespace anyprec
