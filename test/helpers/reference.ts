// Plain JS references the native kernels are checked against.
import type { EncodingName } from '../../lib/core/kernels';

/** Deterministic PRNG (mulberry32) so failures can be reproduced. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomCodes(rand: () => number, n: number, bits: number): Uint8Array {
  const c = new Uint8Array(n);
  for (let i = 0; i < n; i++) c[i] = Math.floor(rand() * (1 << bits));
  return c;
}

/** The value a `bits`-bit code takes in an encoding. */
export function codeValue(q: number, bits: number, enc: EncodingName): number {
  switch (enc) {
    case 'unsigned': return q;
    case 'bipolar': return 2 * q - ((1 << bits) - 1);
    case 'signed': return q >= 1 << (bits - 1) ? q - (1 << bits) : q;
  }
}

/** Values of codes stored with `stored` bits, used at `bits` bits (top planes: q >> (stored - bits)). */
export function values(codes: Uint8Array, stored: number, bits: number, enc: EncodingName): Int32Array {
  const v = new Int32Array(codes.length);
  const shift = stored - bits;
  for (let i = 0; i < codes.length; i++) v[i] = codeValue(codes[i] >> shift, bits, enc);
  return v;
}

/** C = A . B^T for A (m x k) and B (n x k) integer matrices. */
export function gemmRef(a: Int32Array, b: Int32Array, m: number, n: number, k: number): Int32Array {
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

/** Index of the first difference, or -1. */
export function firstDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
