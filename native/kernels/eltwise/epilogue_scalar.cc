// Epilogue row loops (epilogue.h) compiled for scalar (the reference, baseline ISA).
#include "eltwise/epilogue_generic.h"

namespace anyprec {

const EpilogueTable kScalarEpilogueTable = epilogue_generic::table("scalar");

}  // namespace anyprec
