// Plain-JS references shared by the jest tests (test/helpers/*.ts re-export them) and the
// benchmarks (bench/lib/*.mjs load them with createRequire): one seeded PRNG, the value of a code
// in each anyprec encoding, reference GEMMs. CommonJS without a build step, so both can load it.
'use strict';

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { floor, imul } = Math;

/** mulberry32: a small deterministic 32-bit PRNG (failures and runs reproduce); floats in [0, 1). */
function makeRng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Value of a `bits`-bit code q: unsigned q; bipolar 2q − (2^bits − 1); signed two's complement. */
function codeValue(q, bits, encoding) {
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

/** n random `bits`-bit codes. */
function randomCodes(rand, n, bits) {
  const c = new Uint8Array(n);
  for (let i = 0; i < n; i++) c[i] = floor(rand() * (1 << bits));
  return c;
}

/** Uint8Array of n random bytes. */
function randomBytes(rand, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 256) | 0;
  return out;
}

/** Float32Array of n uniform values in [lo, hi). (Plain loops: Array-like .from() is ~10× slower.) */
function randomFloats(rand, n, lo = 0, hi = 1) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** Int8Array of n uniform values in [−127, 127] (symmetric int8 weights). */
function randomInt8(rand, n) {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = floor(rand() * 255) - 127;
  return out;
}

/** Values of codes stored with `stored` bits, used at `bits` bits (top planes: q >> (stored − bits)). */
function values(codes, stored, bits, encoding) {
  const v = new Int32Array(codes.length);
  const shift = stored - bits;
  for (let i = 0; i < codes.length; i++) v[i] = codeValue(codes[i] >> shift, bits, encoding);
  return v;
}

/** C = A·Bᵀ for A (m × k) and B (n × k) integer matrices, row-major. */
function gemmRef(a, b, m, n, k) {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      const ai = i * k, bj = j * k;
      for (let t = 0; t < k; t++) s += a[ai + t] * b[bj + t];
      c[i * n + j] = s;
    }
  }
  return c;
}

/**
 * One entry C[i][j] of the anyprec GEMM on codes stored with `stored` bits of which the top
 * aBits / bBits are used (code >> (stored − bits)), exactly like bitGemm on a truncated pack.
 * A is M × K and B is N × K, both row-major Uint8Array.
 */
function bitGemmEntry(codesA, codesB, k, i, j, spec, stored = 8) {
  const { aBits, bBits, aEncoding, bEncoding } = spec;
  const sa = stored - aBits;
  const sb = stored - bBits;
  let sum = 0;
  for (let t = 0; t < k; t++) {
    sum += codeValue(codesA[i * k + t] >> sa, aBits, aEncoding) * codeValue(codesB[j * k + t] >> sb, bBits, bEncoding);
  }
  return sum;
}

/** Full reference C = A·Bᵀ (M × N) of bitGemmEntry for small shapes, as Float64 (exact for these sizes). */
function bitGemmReference(codesA, codesB, m, k, n, spec, stored = 8) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) c[i * n + j] = bitGemmEntry(codesA, codesB, k, i, j, spec, stored);
  }
  return c;
}

/** Y[i][j] = Σ_t (X[i][t] − xZero)·(W[t][j] − wZero) for X M × K and W K × N (row-major), in float64. */
function matMulEntry(x, w, k, n, i, j, xZero = 0, wZero = 0) {
  let sum = 0;
  for (let t = 0; t < k; t++) sum += (x[i * k + t] - xZero) * (w[t * n + j] - wZero);
  return sum;
}

/**
 * A few output positions to spot-check on big shapes: the corners plus random interior ones
 * (edges of panels and K blocks are where layout bugs show).
 */
function probePositions(rand, m, n, count = 8) {
  const pos = [[0, 0], [m - 1, n - 1], [0, n - 1], [m - 1, 0]];
  while (pos.length < count) pos.push([(rand() * m) | 0, (rand() * n) | 0]);
  return pos;
}

/** Index of the first difference, or −1 (0 when the lengths differ). */
function firstDiff(x, y) {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** A GEMM shape {m, k, n} as 'M×K×N'. */
function shapeName(s) {
  return `${s.m}×${s.k}×${s.n}`;
}

module.exports = {
  makeRng, codeValue, randomCodes, randomBytes, randomFloats, randomInt8, values, gemmRef,
  bitGemmEntry, bitGemmReference, matMulEntry, probePositions, firstDiff, shapeName,
};
