// Finite-difference checks of every op's backward (lib/train/tape.ts, quant.ts).
//
// Method: L = Σ_i out_i · R_i for a fixed random R (float64 sum of the float32 outputs); the tape's
// gradient (seeded with R) is compared with central differences (L(v + h) − L(v − h)) / 2h on a
// sample of coordinates of every input, plus one random direction over all coordinates.
// Tolerance: the forward is float32, so L carries a rounding error of about
// sqrt(#terms) · 2^-24 · max|out_i R_i| and the difference quotient that error / h; the
// truncation error is O(h²) (zero for the linear ops). Each check uses
//   |analytic − fd| <= atol + 2e-2 · |fd|
// with atol = 2e-3 (h = 1e-2 for the linear ops, 1e-3 for the rest): well above the rounding noise
// computed above for these sizes (< 1e-3) and far below any error of a wrong formula (O(|grad|)).
// Inputs are kept away from kinks (ReLU/clamp at 0 and 1, max-pool ties) by more than h; inside a
// whole network a perturbation can still cross an activation's kink, so a failed comparison is
// retried once at h/10 (a kink at distance d affects only steps h > d) and fails only if that
// fails too.
import { describe, expect, it } from '@jest/globals';
import { Param, Tape, Var } from '../lib/train/tape';
import * as T from '../lib/train/tape';
import { quantizeActivations, quantizeWeights, weightBackward } from '../lib/train/quant';
import { Rng } from '../lib/train/rng';
import { TrainNet } from '../lib/train/net';
import { zoo } from '../lib';
import { activationValues } from '../lib/core/quantize';

const rng = new Rng(2024);
function randVar(shape: number[], scale = 1, grad = true, avoid?: number[]): Var {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = (rng.next() * 2 - 1) * scale; while (avoid && avoid.some((k) => Math.abs(v - k) < 0.02));
    d[i] = v;
  }
  return new Var(d, shape, grad);
}

function lossOf(out: Var, r: Float64Array): number {
  let s = 0;
  for (let i = 0; i < out.size; i++) s += out.data[i] * r[i];
  return s;
}

function gradCheck(name: string, f: (tape: Tape | null) => Var, inputs: Var[], h = 1e-3, atol = 2e-3): void {
  for (const v of inputs) v.zeroGrad();
  const tape = new Tape();
  const out = f(tape);
  const r = new Float64Array(out.size);
  for (let i = 0; i < r.length; i++) r[i] = rng.next() * 2 - 1;
  tape.backward(out, Float32Array.from(r));
  const evalAt = (): number => lossOf(f(null), r);
  let checked = 0;
  inputs.forEach((v, vi) => {
    const g = v.grad ?? new Float32Array(v.size);
    const bump = () => { if (v instanceof Param) v.version++; };
    const idx = new Set<number>();
    while (idx.size < Math.min(12, v.size)) idx.add(Math.floor(rng.next() * v.size));
    const coord = (i: number, step: number): number => {
      const x0 = v.data[i];
      v.data[i] = x0 + step; bump();
      const lp = evalAt();
      v.data[i] = x0 - step; bump();
      const lm = evalAt();
      v.data[i] = x0; bump();
      return (lp - lm) / (2 * step);
    };
    for (const i of idx) {
      let fd = coord(i, h);
      if (!(Math.abs(g[i] - fd) <= atol + 2e-2 * Math.abs(fd))) fd = coord(i, h / 10);
      if (!(Math.abs(g[i] - fd) <= atol + 2e-2 * Math.abs(fd))) {
        throw new Error(`${name}: input ${vi} element ${i}: analytic ${g[i]} vs finite difference ${fd}`);
      }
      checked++;
    }
    // one random direction over every coordinate
    const dir = new Float32Array(v.size).map(() => rng.next() * 2 - 1);
    const x0 = v.data.slice();
    let dot = 0;
    for (let i = 0; i < v.size; i++) dot += g[i] * dir[i];
    const along = (step: number): number => {
      for (let i = 0; i < v.size; i++) v.data[i] = x0[i] + step * dir[i];
      bump();
      const lp = evalAt();
      for (let i = 0; i < v.size; i++) v.data[i] = x0[i] - step * dir[i];
      bump();
      const lm = evalAt();
      v.data.set(x0); bump();
      return (lp - lm) / (2 * step);
    };
    const ok = (fd: number) => Math.abs(dot - fd) <= atol * Math.sqrt(v.size) + 2e-2 * Math.abs(fd);
    let fd = along(h);
    if (!ok(fd)) fd = along(h / 10);
    if (!ok(fd)) {
      throw new Error(`${name}: input ${vi} direction: analytic ${dot} vs finite difference ${fd}`);
    }
  });
  expect(checked).toBeGreaterThan(0);
}

describe('finite-difference gradient checks', () => {
  const convCases: Array<[string, T.ConvSpec, number[]]> = [
    ['3x3 s1 p1', { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] }, [2, 5, 6, 3]],
    ['3x2 s2x1 p1x0 d1x2', { kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [1, 2] }, [2, 7, 6, 2]],
    ['1x1 s2 (shortcut)', { kernel: [1, 1], stride: [2, 2], padding: [0, 0], dilation: [1, 1] }, [3, 5, 5, 4]],
    ['1x1 s1 (no lowering)', { kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1] }, [2, 3, 3, 5]],
  ];
  for (const [label, spec, xs] of convCases) {
    it(`conv2d ${label}: input, weight and bias`, () => {
      const x = randVar(xs), w = randVar([4, xs[3], ...spec.kernel], 0.5), b = randVar([4]);
      gradCheck(`conv2d ${label}`, (t) => T.conv2d(t, x, w, spec, b), [x, w, b], 1e-2);
    });
  }
  it('linear: input, weight and bias', () => {
    const x = randVar([5, 7]), w = randVar([3, 7]), b = randVar([3]);
    gradCheck('linear', (t) => T.linear(t, x, w, b), [x, w, b], 1e-2);
  });
  it('batch norm, training (batch statistics): input, weight and bias', () => {
    const x = randVar([3, 2, 2, 4], 2), gw = randVar([4]), gb = randVar([4]);
    const bn = () => ({ weight: gw, bias: gb, runningMean: new Float32Array(4), runningVar: new Float32Array(4).fill(1), eps: 1e-5, momentum: 0.1 });
    gradCheck('bn train', (t) => T.batchNorm(t, x, bn(), true), [x, gw, gb]);
  });
  it('batch norm, eval (running statistics): input, weight and bias', () => {
    const x = randVar([6, 3], 2), gw = randVar([3]), gb = randVar([3]);
    const st = { weight: gw, bias: gb, runningMean: Float32Array.of(0.1, -0.3, 0.5), runningVar: Float32Array.of(0.5, 2, 1.5), eps: 1e-5, momentum: 0.1 };
    gradCheck('bn eval', (t) => T.batchNorm(t, x, st, false), [x, gw, gb]);
  });
  it('relu and clamp(0, 1)', () => {
    const x = randVar([40], 2, true, [0, 1]);
    gradCheck('relu', (t) => T.relu(t, x), [x]);
    gradCheck('clamp', (t) => T.clamp(t, x, 0, 1), [x]);
  });
  it('activation quantiser: b = 32 is ReLU (checked); b < 32 passes the gradient exactly where clamp(0,1) does (STE)', () => {
    const x = randVar([50], 2, true, [0, 1]);
    gradCheck('act32', (t) => quantizeActivations(t, x, 32), [x]);
    for (const bits of [1, 2, 4, 8]) {
      const t1 = new Tape(), y = quantizeActivations(t1, x, bits);
      x.zeroGrad();
      const seed = new Float32Array(50).map(() => rng.next() * 2 - 1);
      t1.backward(y, seed);
      const ste = x.g().slice();
      x.zeroGrad();
      const t2 = new Tape(), c = T.clamp(t2, x, 0, 1);
      t2.backward(c, seed);
      expect(Array.from(ste)).toEqual(Array.from(x.g()));
    }
  });
  it('weight quantiser: its gradient is that of (tanh W / max|tanh W|)·E with E = mean|W| held fixed (float64 reference), at every width', () => {
    const n = 30;
    const w = new Float32Array(n).map(() => (rng.next() * 2 - 1) * 0.8);
    const e0 = w.reduce((a, v) => a + Math.abs(v), 0) / n;
    const r = Float64Array.from({ length: n }, () => rng.next() * 2 - 1);
    const surrogate = (v: Float64Array) => {
      const t = v.map(Math.tanh);
      const m = Math.max(...t.map(Math.abs));
      let s = 0;
      for (let i = 0; i < n; i++) s += (t[i] / m) * e0 * r[i];
      return s;
    };
    const wd = Float64Array.from(w);
    const h = 1e-6;
    const fd = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const p = wd.slice(), q = wd.slice();
      p[i] += h; q[i] -= h;
      fd[i] = (surrogate(p) - surrogate(q)) / (2 * h);
    }
    for (const bits of [32, 8, 4, 2, 1]) {
      const param = new Param('w', w.slice(), [n]);
      const tape = new Tape();
      const q = quantizeWeights(tape, param, bits);
      tape.backward(q, Float32Array.from(r));
      // float32 tanh/E in the analytic path: relative 1e-5 of the largest component
      const scale = Math.max(...fd.map(Math.abs));
      for (let i = 0; i < n; i++) expect(Math.abs(param.g()[i] - fd[i])).toBeLessThanOrEqual(1e-5 * scale + 1e-7);
    }
    // and the helper on its own, with an argmax of negative sign
    const t = Float32Array.of(0.1, -0.9, 0.3), g = Float32Array.of(1, 2, 3), gw = new Float32Array(3);
    weightBackward(new Float32Array(3), t, 0.5, 0.9, g, gw);
    const dot = 0.1 * 1 - 0.9 * 2 + 0.3 * 3;
    expect(gw[1]).toBeCloseTo((0.5 * 2 / 0.9 + (0.5 * dot) / 0.81) * (1 - 0.81), 6);
    expect(gw[0]).toBeCloseTo((0.5 / 0.9) * (1 - 0.01), 6);
  });
  it('max pool (distinct values), avg pool with padding, global average pool', () => {
    const n = 2 * 5 * 6 * 3;
    const perm = new Rng(5).permutation(n);
    const x = new Var(Float32Array.from(perm, (p) => p * 0.05 - 2), [2, 5, 6, 3], true);
    gradCheck('maxpool', (t) => T.maxPool(t, x, { kernel: [2, 3], stride: [2, 2], padding: [1, 1] }), [x], 1e-2);
    const y = randVar([2, 5, 6, 3]);
    gradCheck('avgpool', (t) => T.avgPool(t, y, { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }), [y], 1e-2);
    gradCheck('gap', (t) => T.globalAvgPool(t, y), [y], 1e-2);
  });
  it('residual add and flatten (NHWC -> NCHW order)', () => {
    const a = randVar([2, 3, 2, 4]), b = randVar([2, 3, 2, 4]);
    gradCheck('add', (t) => T.add(t, a, b), [a, b], 1e-2);
    gradCheck('flatten', (t) => T.flatten(t, a), [a], 1e-2);
    // flatten's order: element (n, c, h, w) of NCHW
    const f = T.flatten(null, a);
    expect(f.data[1 * 24 + 3 * 6 + 2 * 2 + 1]).toBe(a.data[((1 * 3 + 2) * 2 + 1) * 4 + 3]);
  });
  it('softmax cross-entropy, soft-target cross-entropy and the distillation loss (T = 1 and 4; teacher detached)', () => {
    const z = randVar([4, 5], 3);
    gradCheck('ce', (t) => T.crossEntropy(t, z, [0, 4, 2, 2]), [z]);
    const teacher = randVar([4, 5], 3, false);
    for (const temp of [1, 4]) gradCheck(`kd T=${temp}`, (t) => T.distillationLoss(t, z, teacher.data, temp), [z]);
    expect(teacher.grad).toBeNull();
    // value: CE of softmax(teacher) against log softmax(student), mean over rows
    const p = T.softmax(teacher.data, 4, 5), ls = T.softmax(z.data, 4, 5);
    let want = 0;
    for (let i = 0; i < 20; i++) want -= p[i] * Math.log(ls[i]);
    expect(T.distillationLoss(null, z, teacher.data).data[0]).toBeCloseTo(want / 4, 5);
  });
  it('a whole quantised network at b = 32 (float path, training-mode BN), through TrainNet', () => {
    const g = zoo.preactResnet({ widths: [3, 4, 6], blocks: 1, classes: 3, inChannels: 2, inputSize: 6, bitList: [4, 32] });
    const net = new TrainNet(g, 3);
    const x = randVar([3, 2, 6, 6], 1, false);
    // (quantised conv weights are left out here: their forward depends on E = mean|W|, which the
    // quantiser's gradient treats as a constant, as the reference does; checked on its own above)
    const ps = ['conv0.weight', 'layers.1.skip_conv.weight', 'layers.0.bn1.bn_dict.32.bias', 'layers.2.bn0.bn_dict.32.weight', 'fc.bias'].map((k) => net.param(k));
    gradCheck('net', (t) => T.crossEntropy(t, net.forward(x.data, 3, { bits: 32, training: true, tape: t }), [0, 2, 1]), ps, 1e-3, 3e-3);
  });
});

describe('activation quantiser forward', () => {
  it('equals lib/core/quantize activationValues at every width, ties and out-of-range values included', () => {
    const vals: number[] = [-1, -0, 0, 0.5, 1, 1.5, 2, 1 / 6, 1 / 30, 0.5 / 255, 1.5 / 255, 127.5 / 255];
    const r = new Rng(77);
    for (let i = 0; i < 5000; i++) vals.push(r.next() * 1.4 - 0.2);
    const x = new Var(Float32Array.from(vals), [vals.length]);
    for (const bits of [1, 2, 3, 4, 8, 32]) {
      expect(Array.from(quantizeActivations(null, x, bits).data)).toEqual(Array.from(activationValues(x.data, bits)));
    }
  });
});
