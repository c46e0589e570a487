// anyprec kernels, bitplane family: codes to packed bit planes and back (layout: bitplane.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "bitplane/bitplane.h"
#include "common/types.h"

namespace anyprec {

struct Platform;

// Index of the first code >= 2^planes, or SIZE_MAX if every code fits.
size_t findBadCode(const uint8_t* codes, size_t n, int planes);
// The index of the first code >= limit (limit 0..256), or SIZE_MAX if none.
size_t findCodeAtLeast(const uint8_t* codes, size_t n, unsigned limit);

// Words of packedWords(rows, k, planes) and counts of the plane popcounts (rows * planes), with
// overflow checks: throws SizeError (common/checked.h) when either cannot be allocated.
size_t packedWordsChecked(size_t rows, size_t k, int planes);
size_t planePopCountChecked(size_t rows, int planes);

// Packs rows x k codes (row-major, each < 2^planes). `out` holds packedWords(rows, k, planes)
// words and planePop rows*planes ints. Splits panels over up to `threads` threads.
void pack(const Platform& isa, const uint8_t* codes, size_t rows, size_t k, int planes, uint64_t* out,
          int32_t* planePop, int threads);

// Codes back from planes (rows x cols, row-major): the inverse of pack().
void unpack(const PackedView& p, uint8_t* codes);

}  // namespace anyprec
