// Plain-JS references the benchmark checks its subjects against: the value of a code in each
// anyprec encoding, a full reference GEMM for small shapes, single output entries for big
// ones, and a small seeded PRNG so runs are reproducible.

/** Value of a `bits`-bit code q: unsigned q; bipolar 2q - (2^bits - 1); signed two's complement. */
export function codeValue(q, bits, encoding) {
  switch (encoding) {
    case 'unsigned':
      return q;
    case 'bipolar':
      return 2 * q - ((1 << bits) - 1);
    case 'signed':
      return q >= 1 << (bits - 1) ? q - (1 << bits) : q;
    default:
      throw new RangeError(`unknown encoding ${encoding}`);
  }
}

/**
 * One entry C[i][j] of the anyprec GEMM on codes stored with `stored` bits of which the top
 * aBits / bBits are used (code >> (stored - bits)), exactly like bitGemm on a truncated pack.
 * A is M x K and B is N x K, both row-major Uint8Array.
 */
export function bitGemmEntry(codesA, codesB, k, i, j, spec, stored = 8) {
  const { aBits, bBits, aEncoding, bEncoding } = spec;
  const sa = stored - aBits;
  const sb = stored - bBits;
  let sum = 0;
  for (let t = 0; t < k; t++) {
    sum += codeValue(codesA[i * k + t] >> sa, aBits, aEncoding) * codeValue(codesB[j * k + t] >> sb, bBits, bEncoding);
  }
  return sum;
}

/** Full reference C = A·Bᵀ (M x N) for small shapes, as Float64 (exact for these sizes). */
export function bitGemmReference(codesA, codesB, m, k, n, spec, stored = 8) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) c[i * n + j] = bitGemmEntry(codesA, codesB, k, i, j, spec, stored);
  }
  return c;
}

/** Y[i][j] = sum_t X[i][t] * W[t][j] for X M x K and W K x N (row-major), in float64. */
export function matMulEntry(x, w, k, n, i, j, xZero = 0, wZero = 0) {
  let sum = 0;
  for (let t = 0; t < k; t++) sum += (x[i * k + t] - xZero) * (w[t * n + j] - wZero);
  return sum;
}

/** mulberry32: a tiny seeded 32-bit PRNG; returns floats in [0, 1). */
export function makeRng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uint8Array of n random bytes. */
export function randomBytes(rng, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() * 256) | 0;
  return out;
}

/** Float32Array of n uniform values in [lo, hi). (Plain loops: Array-like .from() is ~10× slower.) */
export function randomFloats(rng, n, lo = 0, hi = 1) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

/** Int8Array of n uniform values in [-127, 127] (symmetric int8 weights). */
export function randomInt8(rng, n) {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng() * 255) - 127;
  return out;
}

/**
 * A few output positions to spot-check on big shapes: the corners plus random interior ones
 * (edges of panels and K blocks are where layout bugs show).
 */
export function probePositions(rng, m, n, count = 8) {
  const pos = [
    [0, 0],
    [m - 1, n - 1],
    [0, n - 1],
    [m - 1, 0],
  ];
  while (pos.length < count) pos.push([(rng() * m) | 0, (rng() * n) | 0]);
  return pos;
}
