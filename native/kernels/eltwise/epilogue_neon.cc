// Epilogue row loops (epilogue.h) compiled for neon (AArch64 Advanced SIMD: 4 float lanes).
#include "eltwise/epilogue_generic.h"

namespace anyprec {

const EpilogueTable kNeonEpilogueTable = epilogue_generic::table("neon");

}  // namespace anyprec
