// Epilogue row loops (epilogue.h) compiled for avx512 (the avx512 flags of sources.json: 16 float lanes).
#include "eltwise/epilogue_generic.h"

namespace anyprec {

const EpilogueTable kAvx512EpilogueTable = epilogue_generic::table("avx512");

}  // namespace anyprec
