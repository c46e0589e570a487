// anyprec kernels, bitgemm family: the bit-serial GEMM driver over packed bit planes. Pure C++17
// (no Node-API). The product and its check are common/gemm_spec.h; the micro-kernels it drives
// are the platform's bitplane table (bitplane/bitplane.h, one file per ISA, scalar reference in
// bitplane_scalar.cc); gemm/gemm.h is the entry that chooses between this path and the int8 one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "bitplane/bitplane.h"
#include "common/gemm_spec.h"
#include "eltwise/gemm_finish.h"

namespace anyprec {

struct Platform;

// A bit-serial GEMM split into independent output tiles: run(t) for every t < tasks(), in any
// order and on any threads. Every result is exact (int32, the AND/XOR-popcount sums over plane
// pairs plus the encodings' corrections), then goes through the epilogue. The spec's buffers
// must outlive the plan; checkGemm(spec) must have passed.
class BitGemmPlan {
 public:
  // c: M x N elements of the epilogue's output type (int32_t, float or uint8_t), row-major.
  BitGemmPlan(const Platform& isa, const GemmSpec& spec, void* c, const Epilogue& epi = Epilogue());
  size_t tasks() const { return tasksM_ * tasksN_; }
  void run(size_t task) const;

 private:
  const KernelTable& isa_;
  GemmSpec s_;
  GemmFinish finish_;
  size_t m_, n_, k_;
  size_t aPanels_, bPanels_, kWords_;
  size_t panelsPerTaskM_, panelsPerTaskN_, tasksM_, tasksN_, kBlockWords_;
  bool xor_;
  // A 1-bit Codes epilogue as integer bounds (EpilogueTable::finishCodes1), where they are exact:
  // code 1 iff codesLo_[j] < mul * core + rowTerm(i) <= codesHi_[j]. Empty: the float epilogue.
  const EpilogueTable& epilogue_;
  std::vector<int64_t> codesLo_, codesHi_;
  uint8_t* codesOut_ = nullptr;
};

// The popcount ceiling of the platform's micro-kernel (KernelTable::ceiling), one thread:
// the checksum (so the loop is not elided) and the bit-MACs it performed.
struct CeilingRun {
  uint64_t checksum = 0;
  double bitMacs = 0;
};
CeilingRun popcountCeiling(const Platform& isa, uint64_t iterations);

}  // namespace anyprec
