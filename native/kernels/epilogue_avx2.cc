// Epilogue row loops (epilogue.h) compiled for avx2 (the avx2 flags of sources.json: 8 float lanes).
#include "epilogue_generic.h"

namespace anyprec {

const EpilogueTable kAvx2EpilogueTable = {"avx2",
                                     epilogue_generic::combine,
                                     epilogue_generic::int32ToFloat,
                                     epilogue_generic::int32ToCodes,
                                     epilogue_generic::floatAffine,
                                     epilogue_generic::floatToCodes,
                                     epilogue_generic::codesToFloat};

}  // namespace anyprec
