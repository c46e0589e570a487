// Finite-difference checks of the SP / PG / LDP ops' backward (lib/train/ops-extra.ts).
// Smooth ops (PACT clip, the penalties) are checked against central differences of themselves;
// straight-through ops against central differences of the surrogate their estimator stands for
// (PACT quantiser -> PACT clip, sign -> hard tanh, the gate [O_hb > Δ] -> sigmoid(γ(O_hb − Δ)),
// the bit round -> K·θ), and the bit-width gradient of a quantiser against the difference of the
// loss over the integer bit lattice, (L(b + 1) − L(b − 1)) / 2.
import { describe, expect, it } from '@jest/globals';
import { Tape, Var } from '../lib/train/tape';
import { Rng } from '../lib/train/rng';
import * as X from '../lib/train/ops-extra';
import { quantizeActivations, quantizeWeights } from '../lib/train/quant';
import { Param } from '../lib/train/tape';
import { gradMismatches, uniformVar } from './helpers/grad-check';

const rng = new Rng(1307);
const scalar = (v: number) => new Var(Float32Array.of(v), [1], true);

/** Gradient of the op (tape seeded with r) for every input. */
function tapeGrads(f: (tape: Tape) => Var, inputs: Var[], r: Float32Array): Float32Array[] {
  for (const v of inputs) v.zeroGrad();
  const tape = new Tape();
  tape.backward(f(tape), r);
  return inputs.map((v) => (v.grad ?? new Float32Array(v.size)).slice());
}

/** Central differences of a scalar function of `v`'s values, every coordinate. */
function numeric(v: Var, loss: () => number, h = 1e-3): Float64Array {
  const g = new Float64Array(v.size);
  for (let j = 0; j < v.size; j++) {
    const x0 = v.data[j];
    v.data[j] = x0 + h; const lp = loss();
    v.data[j] = x0 - h; const lm = loss();
    v.data[j] = x0;
    g[j] = (lp - lm) / (2 * h);
  }
  return g;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, atol = 2e-3, rtol = 2e-2): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]))) throw new Error(`element ${i}: analytic ${a[i]} vs numeric ${b[i]}`);
  }
}

const seed = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
const dot = (a: ArrayLike<number>, r: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * r[i]; return s; };

describe('SP / PG / LDP ops: finite-difference gradient checks', () => {
  it('PACT clip: input and alpha', () => {
    const alpha = scalar(3.7);
    const x = uniformVar(rng, [6, 5], -2, 8, [0, 3.7]);
    expect(gradMismatches((t) => X.pactClip(t, x, alpha), [x, alpha], rng)).toEqual([]);
    // (every input above alpha contributes its seed to d/dalpha: a non-trivial check)
    expect(Array.from(x.data).some((v) => v > 3.7)).toBe(true);
  });

  it('PACT quantiser: gradients are those of the PACT clip (straight-through), values on the alpha/(2^b-1) grid', () => {
    const x = uniformVar(rng, [40], -1, 5, [0, 2.5]);
    for (const bits of [1, 2, 4, 8]) {
      const alpha = scalar(2.5), r = seed(40);
      const [gx, ga] = tapeGrads((t) => X.pactQuantize(t, x, alpha, bits), [x, alpha], r);
      const clipLoss = () => dot(X.pactClip(null, x, alpha).data, r);
      expectClose(gx, numeric(x, clipLoss));
      expectClose(ga, numeric(alpha, clipLoss));
      const y = X.pactQuantize(null, x, alpha, bits).data, n = 2 ** bits - 1;
      for (let i = 0; i < y.length; i++) {
        const k = (y[i] / 2.5) * n;
        expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-4);
        expect(Math.abs(y[i] - Math.min(2.5, Math.max(0, x.data[i])))).toBeLessThanOrEqual(2.5 / n / 2 + 1e-6);
      }
    }
    const alpha = scalar(2.5);
    expect(Array.from(X.pactQuantize(null, x, alpha, 32).data)).toEqual(Array.from(X.pactClip(null, x, alpha).data));
  });

  it('sign activation: +-1 forward, the gradient of hard tanh', () => {
    const x = uniformVar(rng, [50], -3, 3, [-1, 0, 1]);
    const r = seed(50);
    const [gx] = tapeGrads((t) => X.signActivation(t, x), [x], r);
    const hardTanh = () => dot(Array.from(x.data, (v) => Math.max(-1, Math.min(1, v))), r);
    expectClose(gx, numeric(x, hardTanh));
    expect(Array.from(X.signActivation(null, x).data)).toEqual(Array.from(x.data, (v) => (v >= 0 ? 1 : -1)));
  });

  for (const sparse of [false, true]) {
    it(`precision gate (${sparse ? 'sparse' : 'dense'} back-prop): O_hb and thresholds through the sigmoid STE, O_lb through the mask`, () => {
      const c = 3, gamma = 5;
      const delta = uniformVar(rng, [c], -0.5, 0.5);
      // keep O_hb more than the difference step away from its channel's threshold (the mask must not flip)
      const ohb = uniformVar(rng, [8, c], -1.5, 1.5);
      for (let i = 0; i < ohb.size; i++) if (Math.abs(ohb.data[i] - delta.data[i % c]) < 0.02) ohb.data[i] += 0.05;
      const olb = uniformVar(rng, [8, c], -1, 1);
      const r = seed(ohb.size);
      const res = X.gatedOutput(null, ohb, olb, delta, gamma, sparse);
      const mask = Array.from(ohb.data, (h, i) => (h > delta.data[i % c] ? 1 : 0));
      expect(res.on).toBe(mask.reduce((a, b) => a + b, 0));
      expect(res.on).toBeGreaterThan(0);
      expect(res.on).toBeLessThan(ohb.size);
      for (let i = 0; i < ohb.size; i++) expect(res.out.data[i]).toBeCloseTo(ohb.data[i] + mask[i] * olb.data[i], 6);
      const [gh, gl, gd] = tapeGrads((t) => X.gatedOutput(t, ohb, olb, delta, gamma, sparse).out, [ohb, olb, delta], r);
      // the surrogate: O_hb + s·O_lb with s = sigmoid(γ(O_hb − Δ)) where the STE passes (sparse: gate on only)
      const surrogate = () => {
        let s = 0;
        for (let i = 0; i < ohb.size; i++) {
          const z = 1 / (1 + Math.exp(-gamma * (ohb.data[i] - delta.data[i % c])));
          s += r[i] * (ohb.data[i] + (!sparse || mask[i] ? z : 0) * olb.data[i]);
        }
        return s;
      };
      expectClose(gh, numeric(ohb, surrogate));
      expectClose(gd, numeric(delta, surrogate));
      expect(Array.from(gl)).toEqual(Array.from(r, (v, i) => (mask[i] ? v : 0)));
    });
  }

  it('threshold penalty sigma * sum_l ||delta_l - target||', () => {
    const a = uniformVar(rng, [4], -1, 2), b = uniformVar(rng, [3], -1, 2);
    expect(gradMismatches((t) => X.thresholdPenalty(t, [a, b], 0.5, 0.3), [a, b], rng)).toEqual([]);
  });

  it('gate-fraction penalty lambda * (fraction on - f)^2: value from the gates, gradient of 2 lambda (f_on - f) * soft fraction', () => {
    const c = 2, gamma = 5, lambda = 2, target = 0.1;
    const ohb = uniformVar(rng, [5, c], -1, 1), delta = uniformVar(rng, [c], -0.3, 0.3);
    for (let i = 0; i < ohb.size; i++) if (Math.abs(ohb.data[i] - delta.data[i % c]) < 0.02) ohb.data[i] += 0.05;
    let on = 0;
    for (let i = 0; i < ohb.size; i++) if (ohb.data[i] > delta.data[i % c]) on++;
    const f = on / ohb.size;
    expect(X.gateFractionPenalty(null, ohb, delta, gamma, target, lambda).data[0]).toBeCloseTo(lambda * (f - target) ** 2, 6);
    const [gh, gd] = tapeGrads((t) => X.gateFractionPenalty(t, ohb, delta, gamma, target, lambda), [ohb, delta], Float32Array.of(1));
    const surrogate = () => {
      let soft = 0;
      for (let i = 0; i < ohb.size; i++) soft += 1 / (1 + Math.exp(-gamma * (ohb.data[i] - delta.data[i % c])));
      return 2 * lambda * (f - target) * (soft / ohb.size);
    };
    expectClose(gh, numeric(ohb, surrogate));
    expectClose(gd, numeric(delta, surrogate));
  });

  it('straight-through bit round: b = clamp(round(K theta), lo, hi), db/dtheta = K (the derivative of K theta)', () => {
    const theta = scalar(4.3 / 50);
    const [g] = tapeGrads((t) => X.roundBits(t, theta, 50, 1, 8), [theta], Float32Array.of(0.7));
    expectClose(g, numeric(theta, () => 0.7 * 50 * theta.data[0], 1e-4));
    expect(X.roundBits(null, theta, 50, 1, 8).data[0]).toBe(4);
    expect(X.bitsOf(20 / 50, 50, 1, 8)).toBe(8);
    expect(X.bitsOf(-1, 50, 2, 8)).toBe(2);
  });

  it('bit-op penalty lambda * max(0, sum MAC b_w b_a / sum MAC 64 - target): every bit-width', () => {
    const bits = [scalar(3.2), scalar(5.1), scalar(2.4), scalar(7.7)];
    const terms = () => [
      { macs: 1000, weightBits: bits[0], activationBits: bits[1] },
      { macs: 250, weightBits: bits[2], activationBits: bits[3] },
    ];
    expect(gradMismatches((t) => X.bitOpsPenalty(t, terms(), 0.05, 2), bits, rng)).toEqual([]);
    // below the target the penalty and its gradient vanish
    expect(X.bitOpsPenalty(null, terms(), 0.9, 2).data[0]).toBe(0);
    expect(gradMismatches((t) => X.bitOpsPenalty(t, terms(), 0.9, 2), bits, rng)).toEqual([]);
  });

  it('bit-width gradient of the activation and weight quantisers = the loss difference over the bit lattice', () => {
    const x = uniformVar(rng, [60], -0.3, 1.3);
    const w = new Param('w', uniformVar(rng, [60], -1, 1).data, [60]);
    const r = seed(60);
    const quantisers: Array<[string, (t: Tape | null, b: number) => Var]> = [
      ['activations', (t, b) => quantizeActivations(t, x, b)],
      ['weights', (t, b) => quantizeWeights(t, w, b)],
    ];
    for (const [, q] of quantisers) {
      for (const b of [1, 4, 8]) {
        const bv = scalar(b);
        const [gb] = tapeGrads((t) => X.withBitsGradient(t, q(t, b), bv, 1, 8, (k) => q(null, k).data), [bv], r);
        const L = (k: number) => dot(q(null, k).data, r);
        const up = Math.min(8, b + 1), down = Math.max(1, b - 1);
        expect(gb[0]).toBeCloseTo((L(up) - L(down)) / (up - down), 4);
        expect(gb[0]).not.toBe(0);
      }
    }
  });
});
