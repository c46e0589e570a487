// Epilogue row loops (epilogue.h) compiled for neon (AArch64 Advanced SIMD: 4 float lanes).
#include "epilogue_generic.h"

namespace anyprec {

const EpilogueTable kNeonEpilogueTable = {"neon",
                                     epilogue_generic::combine,
                                     epilogue_generic::int32ToFloat,
                                     epilogue_generic::int32ToCodes,
                                     epilogue_generic::floatAffine,
                                     epilogue_generic::floatToCodes,
                                     epilogue_generic::codesToFloat};

}  // namespace anyprec
