// Central-difference gradient checks for small ops: L(v) = Σ_i out_i · r_i with fixed random r,
// the tape's gradient (seeded with r) against (L(v + h·e_j) − L(v − h·e_j)) / 2h for EVERY
// coordinate j of every input (the inputs here are small). Tolerance |analytic − fd| <= atol +
// rtol·|fd|; callers keep inputs more than h away from the op's kinks.
import { Param, Tape, Var } from '../../lib/train/tape';
import { Rng } from '../../lib/train/rng';

export interface Mismatch { input: number; index: number; analytic: number; numeric: number }

export function gradMismatches(f: (tape: Tape | null) => Var, inputs: Var[], rng: Rng, h = 1e-3, atol = 2e-3, rtol = 2e-2): Mismatch[] {
  for (const v of inputs) v.zeroGrad();
  const tape = new Tape();
  const y = f(tape);
  const r = new Float64Array(y.size).map(() => rng.next() * 2 - 1);
  tape.backward(y, Float32Array.from(r));
  const loss = (): number => {
    const o = f(null).data;
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * r[i];
    return s;
  };
  const bad: Mismatch[] = [];
  inputs.forEach((v, k) => {
    const g = v.grad ?? new Float32Array(v.size);
    for (let j = 0; j < v.size; j++) {
      const x0 = v.data[j];
      const at = (x: number) => {
        v.data[j] = x;
        if (v instanceof Param) v.version++;
        return loss();
      };
      const numeric = (at(x0 + h) - at(x0 - h)) / (2 * h);
      at(x0);
      if (!(Math.abs(g[j] - numeric) <= atol + rtol * Math.abs(numeric))) bad.push({ input: k, index: j, analytic: g[j], numeric });
    }
  });
  return bad;
}

/** A Var of `n` values uniform in [lo, hi], none within `gap` of the points in `avoid`. */
export function uniformVar(rng: Rng, shape: number[], lo: number, hi: number, avoid: number[] = [], gap = 0.02): Var {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = lo + (hi - lo) * rng.next(); while (avoid.some((p) => Math.abs(v - p) < gap));
    d[i] = v;
  }
  return new Var(d, shape, true);
}
