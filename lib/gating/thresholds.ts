// A gate as integer thresholds: the one search from a float gate to the edge on the integer
// high-part accumulators, and the one conversion to the float32 thresholds the gated kernel takes.
import type { GateRule } from './types';

const fr = Math.fround;

/**
 * The reference's gate: sigmoid(5·(O_hb − Δ)) > 0.5 in float32. Mathematically O_hb > Δ, but a
 * positive difference so small that the float32 sigmoid rounds to exactly 0.5 stays off.
 */
export function gateOn(ohb: number, delta: number): boolean {
  const d = fr(ohb - delta);
  if (!(d > 0)) return false;
  const t = fr(5 * d);
  if (t > 1e-5) return true; // far above the band where 1 / (1 + e^−t) can round to 0.5
  return fr(1 / fr(1 + fr(Math.exp(-t)))) > 0.5;
}

/**
 * The least integer acc in −bound..bound where the monotone predicate `on` holds (binary search);
 * bound + 1 when it holds nowhere (never on), −bound when everywhere (always on).
 */
export function gateEdge(on: (acc: number) => boolean, bound: number): number {
  let lo = -bound, hi = bound + 1; // invariant: on(hi) (hi = bound + 1 stands for never); on(lo) false
  if (on(lo)) return lo;
  if (!on(bound)) return hi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (on(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The predicate of `rule` on acc_hb for one channel (Δ = float32(threshold + offset)). */
function rulePredicate(rule: GateRule, delta: number, unit: number, low: number): (acc: number) => boolean {
  const scale = 2 ** low;
  if (rule === 'sigmoid') {
    const unitHb = unit * scale; // exact: a power of two
    return (acc) => gateOn(fr(acc * unitHb), delta);
  }
  return (acc) => fr(fr(acc * scale) * unit) > delta;
}

/**
 * Integer thresholds T on the high-part accumulators acc_hb (|acc_hb| <= bound): output (i, c) is
 * on iff acc_hb >= T[c], exactly where `rule` holds for float32(threshold[c] + offset).
 * T = bound + 1: never; T = −bound: always.
 */
export function integerThresholds(rule: GateRule, threshold: Float32Array, offset: number, unit: number, low: number,
                                  bound: number): Float64Array {
  if (!(unit > 0)) throw new RangeError(`unit must be > 0, got ${unit}`);
  const T = new Float64Array(threshold.length);
  for (let c = 0; c < threshold.length; c++) {
    T[c] = gateEdge(rulePredicate(rule, fr(threshold[c] + offset), unit, low), bound);
  }
  return T;
}

/**
 * The 'compare' gate of a layer whose float output is float32(float32(O) · unit) as integer
 * thresholds on acc_hb (O_hb = acc_hb · 2^low): on iff acc_hb >= T[c].
 */
export function gateIntThresholds(threshold: Float32Array, offset: number, unit: number, low: number, bound: number): Float64Array {
  return integerThresholds('compare', threshold, offset, unit, low, bound);
}

/**
 * The 'sigmoid' (PG reference) gate as integer thresholds: output j is on iff acc_hb >= T[j],
 * exactly where gateOn(fr(acc_hb · unitHb), fr(Δ_j + offset)) holds. bound + 1 = never.
 */
export function gateThresholds(threshold: Float32Array, offset: number, unitHb: number, bound: number): Int32Array {
  if (!(unitHb > 0)) throw new RangeError(`unitHb must be > 0, got ${unitHb}`);
  return Int32Array.from(integerThresholds('sigmoid', threshold, offset, unitHb, 0, bound));
}

/**
 * The float32 kernel thresholds t for integer ones T (the kernel: on iff O_hb > floor(t), O_hb =
 * acc_hb · 2^low): t = (T − 1)·2^low, exact in float32 while |T − 1|·2^low < 2^24; null past that
 * (the executor then selects from the high-only and the dense products). ±Infinity for never / always.
 */
export function kernelGateThresholds(T: ArrayLike<number>, low: number, bound: number): Float32Array | null {
  const t = new Float32Array(T.length);
  const scale = 2 ** low;
  for (let c = 0; c < T.length; c++) {
    if (T[c] > bound) t[c] = Infinity; // never on
    else if (T[c] <= -bound) t[c] = -Infinity; // always on (acc_hb >= −bound for every output)
    else {
      const v = (T[c] - 1) * scale;
      t[c] = v;
      if (t[c] !== v) return null;
    }
  }
  return t;
}
