// Epilogue row loops (epilogue.h) compiled for avx512 (the avx512 flags of sources.json: 16 float lanes).
#include "epilogue_generic.h"

namespace anyprec {

const EpilogueTable kAvx512EpilogueTable = {"avx512",
                                     epilogue_generic::combine,
                                     epilogue_generic::int32ToFloat,
                                     epilogue_generic::int32ToCodes,
                                     epilogue_generic::floatAffine,
                                     epilogue_generic::floatToCodes,
                                     epilogue_generic::codesToFloat};

}  // namespace anyprec
