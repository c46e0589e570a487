// Epilogue row loops (epilogue.h) compiled for scalar (the reference, baseline ISA).
#include <cstring>

#include "epilogue_generic.h"

namespace anyprec {

const EpilogueTable kScalarEpilogueTable = epilogue_generic::table("scalar");

}  // namespace anyprec

namespace anyprec {

const EpilogueTable& epilogueTableFor(const KernelTable& isa) {
  static const EpilogueTable* const tables[] = {
#if defined(__x86_64__) || defined(_M_X64)
      &kAvx512EpilogueTable, &kAvx2EpilogueTable,
#endif
#if defined(__aarch64__)
      &kNeonEpilogueTable,
#endif
      &kScalarEpilogueTable,
  };
  for (const EpilogueTable* t : tables) {
    if (std::strcmp(t->name, isa.name) == 0) return *t;
  }
  return kScalarEpilogueTable;
}

}  // namespace anyprec
