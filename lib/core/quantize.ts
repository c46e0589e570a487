// The Any-Precision quantisers (DoReFa style, as the Any-Precision reference implements them).
//
// Everything is float32 arithmetic, step for step as the PyTorch reference evaluates it: each
// operation is done in double and rounded with Math.fround, which gives the correctly rounded
// float32 result for +, -, *, / (double has more than 2·24+2 bits, so no double-rounding error).
//
// tanh is the one step that is not exact: torch's float32 tanh (SLEEF, ≤ 1 ulp) is not always
// correctly rounded, while fround(Math.tanh(x)) nearly always is. A 1-ulp difference in one tanh
// value (or in max|tanh w|) flips a code only if U·n sits within that ulp of a .5 boundary.
// Measured on fixture A (267,264 weights × b = 1, 2, 4, 8): torch's max|tanh w| differs from ours
// by 1 ulp in 1 of 18 layers, yet every code matches; a ±1-ulp change in one tanh value would flip
// 2 codes, a ±1-ulp change in the max 1 code, all at b = 8.

import { checkBits, checkFloat32, checkNoNaN, WeightMode } from './check';

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { abs, floor, fround: fr, max, tanh } = Math;
const { isFinite: finite } = Number;

/** Rounds to the nearest integer, ties to even (torch.round, numpy.round). */
export function roundHalfEven(x: number): number {
  const f = floor(x);
  const d = x - f; // exact
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

// ---------------------------------------------------------------------------------------------
// E = mean|w|, summed in the order of torch's CPU float32 sum

const ceilLog2 = (x: number): number => (x <= 2 ? 1 : Math.floor(Math.log2(x - 1)) + 1);

/**
 * The float32 sum of x in the order torch 1.x's CPU `sum` kernel uses (single thread, AVX2:
 * 8-lane vectors, 4 independent partial sums, a 4-level cascade of accumulators). Other orders
 * give a result within an ulp or so; this one reproduces the reference's E bit for bit.
 */
function torchSum(x: Float32Array): number {
  const LANES = x.length >= 8 ? 8 : 1; // shorter rows take torch's scalar path
  const ILP = 4;
  const LEVELS = 4;
  const W = ILP * LANES; // floats in one level of accumulators
  const nvec = Math.floor(x.length / LANES);
  const rows = Math.floor(nvec / ILP); // groups of ILP vectors
  const power = Math.max(4, Math.floor(ceilLog2(rows) / LEVELS));
  const step = 2 ** power;
  const acc = new Float32Array(LEVELS * W); // every += rounds to float32 on store
  let i = 0;
  while (i + step <= rows) {
    for (let j = 0; j < step; j++, i++) for (let t = 0; t < W; t++) acc[t] += x[i * W + t];
    for (let lv = 1; lv < LEVELS; lv++) { // carry up the cascade
      for (let t = 0; t < W; t++) {
        acc[lv * W + t] += acc[(lv - 1) * W + t];
        acc[(lv - 1) * W + t] = 0;
      }
      if (floor(i / 2 ** (lv * power)) % step !== 0) break;
    }
  }
  for (; i < rows; i++) for (let t = 0; t < W; t++) acc[t] += x[i * W + t];
  for (let lv = 1; lv < LEVELS; lv++) for (let t = 0; t < W; t++) acc[t] += acc[lv * W + t];
  for (let v = rows * ILP; v < nvec; v++) for (let l = 0; l < LANES; l++) acc[l] += x[v * LANES + l];
  for (let k = 1; k < ILP; k++) for (let l = 0; l < LANES; l++) acc[l] += acc[k * LANES + l];
  if (LANES === 1) return acc[0];
  let total = 0;
  for (let k = nvec * LANES; k < x.length; k++) total = fr(total + x[k]);
  for (let l = 0; l < LANES; l++) total = fr(total + acc[l]);
  return total;
}

/** The weight scale E = mean|w| as the reference computes it (float32). */
export function weightScale(w: Float32Array): number {
  checkFloat32(w, 'w');
  if (w.length === 0) throw new RangeError('w must not be empty');
  return fr(torchSum(w.map(abs)) / fr(w.length));
}

// ---------------------------------------------------------------------------------------------
// Weights

/** 'requant': codes at each b from the float weights (the reference); 'truncate': q8 >> (8 - b). */
export type { WeightMode };

/** Float32 value of each b-bit code: (2·(q/n) − 1)·E with n = 2^b − 1, as the reference rounds it. */
export function weightLevels(bits: number, scale: number): Float32Array {
  checkBits(bits, 'bits', false);
  if (typeof scale !== 'number') throw new TypeError(`scale must be a number, got ${typeof scale}`);
  if (!Number.isFinite(scale)) throw new RangeError(`scale must be finite, got ${scale}`);
  const n = 2 ** bits - 1;
  const out = new Float32Array(n + 1);
  for (let q = 0; q <= n; q++) out[q] = fr(fr(2 * fr(q / n) - 1) * scale);
  return out;
}

/** One weight tensor, ready to give codes and values at any bit-width. */
export class WeightQuantizer {
  readonly mode: WeightMode;
  /** E = mean|w| (float32). */
  readonly scale: number;
  /** M = max|tanh w| (float32). */
  readonly maxAbsTanh: number;
  private readonly t: Float32Array; // tanh(w)
  private readonly u: Float32Array; // U = tanh(w)/2/M + 0.5, in [0, 1]
  private q8?: Uint8Array;

  constructor(w: Float32Array, mode: WeightMode = 'requant') {
    checkFloat32(w, 'w');
    if (mode !== 'requant' && mode !== 'truncate') {
      throw new RangeError(`mode must be 'requant' or 'truncate', got ${String(mode)}`);
    }
    for (let i = 0; i < w.length; i++) {
      if (!finite(w[i])) throw new RangeError(`w[${i}] = ${w[i]} is not finite`);
    }
    this.mode = mode;
    this.scale = weightScale(w);
    this.t = w.map((x) => tanh(x)); // stored into a Float32Array: rounded to float32
    let m = 0;
    for (let i = 0; i < w.length; i++) m = max(m, abs(this.t[i]));
    if (m === 0) throw new RangeError('w must not be all zeros (max|tanh w| = 0 leaves the quantiser undefined)');
    this.maxAbsTanh = m;
    this.u = this.t.map((t) => fr(fr(t / 2) / m) + 0.5); // ((T/2)/M) + 0.5, each step float32
  }

  /** Codes 0..2^bits−1 (row-major like w). */
  codes(bits: number): Uint8Array {
    checkBits(bits, 'bits', false);
    if (this.mode === 'truncate') {
      this.q8 ??= this.requant(8);
      const shift = 8 - bits;
      return this.q8.map((q) => q >> shift);
    }
    return this.requant(bits);
  }

  private requant(bits: number): Uint8Array {
    const n = 2 ** bits - 1;
    const out = new Uint8Array(this.u.length);
    for (let i = 0; i < out.length; i++) out[i] = roundHalfEven(fr(this.u[i] * n));
    return out;
  }

  /** Value of each code at `bits` bits (see weightLevels). */
  levels(bits: number): Float32Array {
    return weightLevels(bits, this.scale);
  }

  /** The quantised weights at `bits` bits; bits = 32 gives the reference's (tanh(w)/M)·E. */
  values(bits: number): Float32Array {
    checkBits(bits, 'bits', true);
    if (bits === 32) return this.t.map((t) => fr(fr(t / this.maxAbsTanh) * this.scale));
    const lv = this.levels(bits);
    const q = this.codes(bits);
    const out = new Float32Array(q.length);
    for (let i = 0; i < q.length; i++) out[i] = lv[q[i]];
    return out;
  }
}

export interface QuantizedWeight {
  bits: number;
  mode: WeightMode;
  /** E: the value of code q is levels[q] = (2·(q/n) − 1)·E. */
  scale: number;
  codes: Uint8Array;
}

/** Codes and scale of `w` at one bit-width (1..8). */
export function quantizeWeight(w: Float32Array, bits: number, mode: WeightMode = 'requant'): QuantizedWeight {
  checkBits(bits, 'bits', false);
  const wq = new WeightQuantizer(w, mode);
  return { bits, mode, scale: wq.scale, codes: wq.codes(bits) };
}

// ---------------------------------------------------------------------------------------------
// Activations

/** Codes p = round(clamp(x, 0, 1)·(2^bits − 1)), ties to even (so at 1 bit 0.5 → 0). */
export function quantizeActivation(x: Float32Array, bits: number): Uint8Array {
  checkFloat32(x, 'x');
  checkBits(bits, 'bits', false);
  checkNoNaN(x, 'x');
  const n = 2 ** bits - 1;
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = x[i] < 0 ? 0 : x[i] > 1 ? 1 : x[i];
    out[i] = roundHalfEven(fr(c * n));
  }
  return out;
}

/** Float32 value of each activation code: p / (2^bits − 1). */
export function activationLevels(bits: number): Float32Array {
  checkBits(bits, 'bits', false);
  const n = 2 ** bits - 1;
  const out = new Float32Array(n + 1);
  for (let p = 0; p <= n; p++) out[p] = p / n; // stored as float32: fround(p / n)
  return out;
}

/** The activation unit's output: round(clamp(x,0,1)·n)/n, or max(x, 0) at bits = 32. */
export function activationValues(x: Float32Array, bits: number): Float32Array {
  checkFloat32(x, 'x');
  checkBits(bits, 'bits', true);
  if (bits === 32) {
    checkNoNaN(x, 'x');
    return x.map((v) => (v > 0 ? v : 0));
  }
  const lv = activationLevels(bits);
  const q = quantizeActivation(x, bits);
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = lv[q[i]];
  return out;
}

/** 1-bit sign activations (BNN): code 1 (+1) where x >= 0, including −0; code 0 (−1) where x < 0. */
export function signActivation(x: Float32Array): Uint8Array {
  checkFloat32(x, 'x');
  checkNoNaN(x, 'x');
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] >= 0 ? 1 : 0;
  return out;
}
