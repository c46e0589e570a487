// Types of reference.js (plain CommonJS shared by test/ and bench/).
export type Encoding = 'unsigned' | 'bipolar' | 'signed';
export interface BitGemmSpec { aBits: number; bBits: number; aEncoding: Encoding; bEncoding: Encoding }
export function makeRng(seed: number): () => number;
export function codeValue(q: number, bits: number, encoding: Encoding): number;
export function randomCodes(rand: () => number, n: number, bits: number): Uint8Array;
export function randomBytes(rand: () => number, n: number): Uint8Array;
export function randomFloats(rand: () => number, n: number, lo?: number, hi?: number): Float32Array;
export function randomInt8(rand: () => number, n: number): Int8Array;
export function values(codes: Uint8Array, stored: number, bits: number, encoding: Encoding): Int32Array;
export function gemmRef(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number): Int32Array;
export function bitGemmEntry(codesA: Uint8Array, codesB: Uint8Array, k: number, i: number, j: number, spec: BitGemmSpec, stored?: number): number;
export function bitGemmReference(codesA: Uint8Array, codesB: Uint8Array, m: number, k: number, n: number, spec: BitGemmSpec, stored?: number): Float64Array;
export function matMulEntry(x: ArrayLike<number>, w: ArrayLike<number>, k: number, n: number, i: number, j: number, xZero?: number, wZero?: number): number;
export function probePositions(rand: () => number, m: number, n: number, count?: number): [number, number][];
export function firstDiff(x: ArrayLike<number>, y: ArrayLike<number>): number;
export function shapeName(s: { m: number; k: number; n: number }): string;
