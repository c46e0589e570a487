// Epilogue row loops (epilogue.h) compiled for avx2 (the avx2 flags of sources.json: 8 float lanes).
#include "eltwise/epilogue_generic.h"

namespace anyprec {

const EpilogueTable kAvx2EpilogueTable = epilogue_generic::table("avx2");

}  // namespace anyprec
