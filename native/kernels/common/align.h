// anyprec kernels, common floor: the one cache-line alignment helper. Packed planes, prepared int8
// weights, packed float panels and the int8 path's activation bytes all start on a 64-byte line
// (a vector load never splits a line; AMX tile rows are 64 bytes).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace anyprec {

constexpr size_t kCacheLine = 64;

// Bytes to add to `p` to reach the next 64-byte boundary (0..63). A buffer allocated with
// kCacheLine spare bytes always has room for this shift.
inline size_t alignPadding(const void* p) {
  const uintptr_t base = reinterpret_cast<uintptr_t>(p);
  return static_cast<size_t>(((base + kCacheLine - 1) & ~uintptr_t{kCacheLine - 1}) - base);
}

// `p` moved forward to the next 64-byte boundary.
template <typename T, typename U>
inline T* alignUp(U* p) {
  return reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(p) + alignPadding(p));
}

// Owned, uninitialised, 64-byte-aligned arrays of trivially constructible T.
struct AlignedDelete {
  void operator()(void* p) const { ::operator delete[](p, std::align_val_t(kCacheLine)); }
};
template <typename T>
using AlignedArray = std::unique_ptr<T[], AlignedDelete>;
template <typename T>
AlignedArray<T> alignedArray(size_t count) {
  void* p = ::operator new[]((count > 0 ? count : 1) * sizeof(T), std::align_val_t(kCacheLine));
  return AlignedArray<T>(static_cast<T*>(p));
}

}  // namespace anyprec
