// Plain JS references the native kernels are checked against. The bodies live in
// ./shared/reference.js, which the benchmarks load too (one PRNG, one reference).
import type { EncodingName } from '../../lib/core/kernels';
import * as shared from './shared/reference';

/** Deterministic PRNG (mulberry32) so failures can be reproduced. */
export const rng: (seed: number) => () => number = shared.makeRng;

export const randomCodes: (rand: () => number, n: number, bits: number) => Uint8Array = shared.randomCodes;

/** The value a `bits`-bit code takes in an encoding. */
export const codeValue: (q: number, bits: number, enc: EncodingName) => number = shared.codeValue;

/** Values of codes stored with `stored` bits, used at `bits` bits (top planes: q >> (stored - bits)). */
export const values: (codes: Uint8Array, stored: number, bits: number, enc: EncodingName) => Int32Array = shared.values;

/** C = A . B^T for A (m x k) and B (n x k) integer matrices. */
export const gemmRef: (a: Int32Array, b: Int32Array, m: number, n: number, k: number) => Int32Array = shared.gemmRef;

/** Index of the first difference, or -1. */
export const firstDiff: (x: ArrayLike<number>, y: ArrayLike<number>) => number = shared.firstDiff;
