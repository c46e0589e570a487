// Sign-magnitude quantisers with a max-abs scale (cornell-zhang/dnn-gating's TorchRoundToBits and
// TorchTruncate), float32 step for step as the reference:
//
//   s = max|x| + 1e-7,  m = round(clamp(|x| / s, 0, 1) · (2^b − 1)),  value = ((m / n) · s) · sign(x)
//
// Weights use it once per tensor (levels sign·m in −n..n); activations use it per call with the
// scale taken over the whole batch tensor (a dynamic scale), so results depend on what shares a
// batch. Activation codes here are unsigned: the inputs of these layers are clip (PACT/ReLU)
// outputs, and a negative input is refused rather than silently mis-quantised.
import { checkBits, checkFloat32 } from './check';
import { roundHalfEven } from './quantize';

// bound once, not looked up per element (CONTRIBUTING.md: hot loops under jest)
const { abs, fround: fr } = Math;
const EPS = fr(1e-7);

/** The max-abs scale s = max|x| + 1e-7, in float32 as torch adds a Python float to a float32 tensor. */
export function maxAbsScale(x: Float32Array): number {
  checkFloat32(x, 'x');
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = abs(x[i]);
    if (a > m) m = a;
    else if (a !== a) throw new RangeError(`x[${i}] is NaN`);
  }
  return fr(m + EPS);
}

/** Magnitude code of |v| at scale s: round(clamp(fr(|v| / s), 0, 1) · n), ties to even. */
function code(v: number, s: number, n: number): number {
  let r = fr(abs(v) / s);
  if (r > 1) r = 1;
  return roundHalfEven(fr(r * n));
}

export interface SignMagnitudeWeights {
  bits: number;
  /** s = max|w| + 1e-7 (float32). */
  scale: number;
  /** sign(w)·m, m = round(clamp(|w|/s, 0, 1)·(2^bits − 1)); row-major like w. */
  levels: Int16Array;
}

/** Weight quantiser: integer levels in −(2^b−1)..2^b−1 and the tensor's scale. */
export function signMagnitudeWeights(w: Float32Array, bits = 8): SignMagnitudeWeights {
  checkFloat32(w, 'w');
  checkBits(bits, 'bits');
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) throw new RangeError(`w[${i}] = ${w[i]} is not finite`);
  const s = maxAbsScale(w);
  const n = 2 ** bits - 1;
  const levels = new Int16Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const m = code(w[i], s, n);
    levels[i] = w[i] < 0 ? -m : m;
  }
  return { bits, scale: s, levels };
}

/** Float32 value of a level: ((|l| / n) · s) · sign(l), the reference's quantised weight. */
export function signMagnitudeValue(level: number, bits: number, scale: number): number {
  const n = 2 ** bits - 1;
  const v = fr(fr(Math.abs(level) / n) * scale);
  return level < 0 ? -v : v;
}

/**
 * Smallest non-negative float32 x with code(x) >= k, for k = 0..n (edges[0] = 0). code() is
 * monotone in x, so a binary search over the float32 bit patterns (ordered like the values for
 * x >= 0) finds each edge exactly; quantising is then comparisons against the edges.
 */
function codeEdges(s: number, n: number): Float32Array {
  const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
  const valueOf = (b: number) => { bits[0] = b; return f[0]; };
  const edges = new Float32Array(n + 1);
  let from = 0;
  for (let k = 1; k <= n; k++) {
    let lo = from, hi = 0x7f800000; // +Infinity: code(+Inf) = n >= k
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (code(valueOf(mid), s, n) >= k) hi = mid;
      else lo = mid + 1;
    }
    edges[k] = valueOf(lo);
    from = lo;
  }
  return edges;
}

/**
 * Activation quantiser with a dynamic per-tensor scale over all of x (every sample of the batch):
 * unsigned codes m (x must be >= 0) and s. Value of code m: fr(fr(m / n) · s).
 */
export function quantizeDynamic(x: Float32Array, bits: number): { codes: Uint8Array; scale: number } {
  checkFloat32(x, 'x');
  checkBits(bits, 'bits');
  let m = 0, bad = -1;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v > m) m = v;
    else if (!(v >= 0)) bad = i; // negative or NaN
  }
  if (bad >= 0) {
    throw new RangeError(`dynamic activation quantiser got x[${bad}] = ${x[bad]}; it takes clip (PACT/ReLU) outputs >= 0, signed activations are not supported`);
  }
  const s = fr(m + EPS);
  const n = 2 ** bits - 1;
  const edges = new Float32Array(n + 2);
  edges.set(codeEdges(s, n));
  edges[n + 1] = Infinity;
  const guess = n / s;
  const codes = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    // A guess within one of the true code (v·n/s differs from fr(fr(v/s)·n) by far less than 1),
    // then exact comparisons against the edges.
    let q = (v * guess + 0.5) | 0;
    if (q > n) q = n;
    codes[i] = q + (v >= edges[q + 1] ? 1 : 0) - (v < edges[q] ? 1 : 0);
  }
  return { codes, scale: s };
}

/** The reference's element-wise form of quantizeDynamic (for checks): one division per element. */
export function quantizeDynamicReference(x: Float32Array, bits: number): { codes: Uint8Array; scale: number } {
  const s = maxAbsScale(x);
  const n = 2 ** bits - 1;
  return { codes: Uint8Array.from(x, (v) => code(v, s, n)), scale: s };
}
