// anyprec training kernels: what several ftrain files share.
#pragma once
#include <cstddef>
#include <memory>

// Fully unrolls the loop that follows (a register tile's rows or vectors: a small constant trip
// count). GCC and Clang leave a 16-row loop rolled and then keep its accumulators in memory,
// each add a load and a store (2.5x slower measured); unrolled they stay in registers.
// ANYPREC_FTRAIN_UNROLL2: unrolls the loop that follows by 2 (a tile's long loop over its inputs:
// half the loop overhead per product).
#if defined(__clang__)
#define ANYPREC_FTRAIN_UNROLL _Pragma("unroll")
#define ANYPREC_FTRAIN_UNROLL2 _Pragma("unroll 2")
#elif defined(__GNUC__)
#define ANYPREC_FTRAIN_UNROLL _Pragma("GCC unroll 32")
#define ANYPREC_FTRAIN_UNROLL2 _Pragma("GCC unroll 2")
#else
#define ANYPREC_FTRAIN_UNROLL
#define ANYPREC_FTRAIN_UNROLL2
#endif

namespace anyprec {
namespace ftrain {

// A growable float buffer whose contents are not initialised (std::vector would zero every new
// float). Used as thread_local scratch, sized by the largest request so far and kept across
// layers and steps.
struct Scratch {
  std::unique_ptr<float[]> data;
  size_t size = 0;
  // At least n floats, uninitialised; earlier contents are lost when it grows. Defined out of
  // line in conv_train.cc (baseline flags), so the per-ISA files that use it never compile an
  // inline copy with their own flags for the linker to merge.
  float* get(size_t n);
};

}  // namespace ftrain
}  // namespace anyprec
