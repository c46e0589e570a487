// Training engine: determinism, checkpoints and resume, optimisers, schedules, data.
import { describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { kernels, zoo } from '../lib';
import { Trainer, defaultConfig } from '../lib/train/trainer';
import { loadMnist, preprocessDigits, RESNET_DIGITS, PLAIN_DIGITS, checkDataset } from '../lib/train/data';
import { Optimizer, scheduledRate } from '../lib/train/optim';
import { Param, Tape, distillationLoss } from '../lib/train/tape';
import { Rng } from '../lib/train/rng';
import { fixturePath, readFloat32 } from './helpers/fixtures';

kernels.setThreads(2);
const MNIST = path.dirname(fixturePath('mnist', 'split.json'));
const data = loadMnist(MNIST, PLAIN_DIGITS, 1000, { train: 160, test: 32 });
const graph = zoo.preactResnet({ widths: [4, 4, 8], blocks: 1, inChannels: 1, inputSize: 28 });
const cfg = (o = {}) => defaultConfig({ bits: [2, 8, 32], epochs: 2, batch: 32, lr: 3e-3, seed: 5, ...o });
const weights = (t: Trainer) => Object.entries(t.net.tensors()).map(([k, v]) => [k, Array.from(v)]);

describe('determinism', () => {
  it('same seed, same weights; another seed, other weights', () => {
    const a = new Trainer(graph, cfg({ epochs: 1 })), b = new Trainer(graph, cfg({ epochs: 1 })), c = new Trainer(graph, cfg({ epochs: 1, seed: 6 }));
    for (const t of [a, b, c]) t.fit(data.train);
    expect(weights(a)).toEqual(weights(b));
    expect(weights(a)).not.toEqual(weights(c));
  });
  it('Rng: a stored state continues the same sequence', () => {
    const r = new Rng(9);
    r.u32(); r.u32();
    const copy = new Rng(Uint32Array.from(r.s));
    expect([r.u32(), r.u32(), r.next()]).toEqual([copy.u32(), copy.u32(), copy.next()]);
    expect(() => new Rng(-1)).toThrow(RangeError);
  });
});

describe('checkpoints', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-ckpt-'));
  it('resume after an epoch or mid-epoch gives the uninterrupted run, bit for bit (weights, optimiser, log)', () => {
    const full = new Trainer(graph, cfg());
    full.fit(data.train);
    // stop after epoch 1
    const a = new Trainer(graph, cfg());
    a.fit(data.train, undefined, undefined, () => a.requestStop());
    const f1 = path.join(dir, 'a.ckpt');
    a.saveCheckpoint(f1);
    const ra = Trainer.loadCheckpoint(f1);
    expect(ra.epoch).toBe(1);
    ra.fit(data.train);
    expect(weights(ra)).toEqual(weights(full));
    // stop mid-epoch (as SIGINT does): after step 2 of epoch 2
    const b = new Trainer(graph, cfg());
    b.fit(data.train, undefined, (p) => { if (p.epoch === 1 && p.step === 2) b.requestStop(); });
    expect(b.epoch).toBe(1);
    expect(b.stepInEpoch).toBe(2);
    const f2 = path.join(dir, 'b.ckpt');
    b.saveCheckpoint(f2);
    const rb = Trainer.loadCheckpoint(f2);
    rb.fit(data.train);
    expect(weights(rb)).toEqual(weights(full));
    expect([...rb.opt.state.keys()].sort()).toEqual([...full.opt.state.keys()].sort());
    for (const [k, v] of full.opt.state) expect(rb.opt.state.get(k)!.map((x) => Array.from(x))).toEqual(v.map((x) => Array.from(x)));
    expect(rb.log.map((r) => r.epoch)).toEqual([1, 2]);
    expect(rb.log[0].loss).toBe(full.log[0].loss);
  });
  it('rejects a file that is not a checkpoint', () => {
    const f = path.join(dir, 'm.anyprec');
    new Trainer(graph, cfg()).net.toModel().saveSync(f);
    expect(() => Trainer.loadCheckpoint(f)).toThrow(/not an anyprec training checkpoint/);
  });
});

describe('optimisers and schedules', () => {
  it('SGD with momentum and weight decay: PyTorch update rule', () => {
    const p = new Param('w', Float32Array.of(1, -2), [1, 2]);
    const o = new Optimizer([p], { name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    p.g().set([0.5, 0.25]);
    o.step();
    // buf = g + wd*w; w -= lr*buf
    const b1 = [0.5 + 0.01 * 1, 0.25 + 0.01 * -2];
    const w1 = [1 - 0.1 * b1[0], -2 - 0.1 * b1[1]];
    expect(Array.from(p.data)).toEqual(w1.map(Math.fround));
    p.g().set([0.5, 0.25]);
    o.step();
    const b2 = [0.9 * Math.fround(b1[0]) + 0.5 + 0.01 * Math.fround(w1[0]), 0.9 * Math.fround(b1[1]) + 0.25 + 0.01 * Math.fround(w1[1])];
    expect(p.data[0]).toBeCloseTo(w1[0] - 0.1 * b2[0], 6);
    expect(p.data[1]).toBeCloseTo(w1[1] - 0.1 * b2[1], 6);
  });
  it('Adam: bias-corrected moments; decay only on rank >= 2 tensors by default', () => {
    const w = new Param('w', Float32Array.of(0.5), [1, 1]), b = new Param('b', Float32Array.of(0.5), [1]);
    const o = new Optimizer([w, b], { name: 'adam', lr: 0.01, weightDecay: 0.1 });
    w.g()[0] = 0.2; b.g()[0] = 0.2;
    o.step();
    // first step: m^ = g', v^ = g'^2 -> w -= lr * g'/(|g'| + eps) = lr * sign(g')
    expect(w.data[0]).toBeCloseTo(0.5 - 0.01, 6);
    expect(b.data[0]).toBeCloseTo(0.5 - 0.01, 6);
    w.g()[0] = -0.1; b.g()[0] = -0.1;
    o.step();
    const adam2 = (w1: number, g1: number, g2: number) => {
      const m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
      return w1 - (0.01 * m / (1 - 0.81)) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
    };
    expect(w.data[0]).toBeCloseTo(adam2(0.49, 0.2 + 0.1 * 0.5, -0.1 + 0.1 * 0.49), 5);
    expect(b.data[0]).toBeCloseTo(adam2(0.49, 0.2, -0.1), 5);
  });
  it('cosine and step schedules', () => {
    expect(scheduledRate({ name: 'cosine' }, 1, 0, 10)).toBe(1);
    expect(scheduledRate({ name: 'cosine' }, 1, 5, 10)).toBeCloseTo(0.5, 12);
    expect(scheduledRate({ name: 'cosine' }, 1, 10, 10)).toBeCloseTo(0, 12);
    expect(scheduledRate({ name: 'step', milestones: [3, 6], gamma: 0.5 }, 1, 2.9, 10)).toBe(1);
    expect(scheduledRate({ name: 'step', milestones: [3, 6], gamma: 0.5 }, 1, 3, 10)).toBe(0.5);
    expect(scheduledRate({ name: 'step', milestones: [3, 6], gamma: 0.5 }, 1, 7, 10)).toBe(0.25);
    expect(() => scheduledRate({ name: 'linear' as never }, 1, 0, 1)).toThrow(RangeError);
  });
});

describe('data and configuration', () => {
  it('digit preprocessing reproduces fixture A inputs.bin exactly (pad to 32, normalise, 3 channels)', () => {
    const info = JSON.parse(fs.readFileSync(fixturePath('A', 'inputs.json'), 'utf8')) as { sample_indices: number[] };
    const pixels = fs.readFileSync(fixturePath('mnist', 'mnist10k.bin'));
    const u8 = new Uint8Array(info.sample_indices.length * 784);
    info.sample_indices.forEach((s, i) => u8.set(pixels.subarray(s * 784, (s + 1) * 784), i * 784));
    const want = readFloat32(fixturePath('A', 'inputs.bin'));
    expect(Array.from(preprocessDigits(u8, info.sample_indices.length, RESNET_DIGITS))).toEqual(Array.from(want));
  });
  it('the split: 7,000 train + 1,000 validation (the last of the 8,000) + 2,000 test', () => {
    const full = loadMnist(MNIST, PLAIN_DIGITS, 1000);
    expect([full.train.n, full.validation.n, full.test.n]).toEqual([7000, 1000, 2000]);
    const split = JSON.parse(fs.readFileSync(path.join(MNIST, 'split.json'), 'utf8')) as { train: number[] };
    const labels = fs.readFileSync(path.join(MNIST, 'mnist10k-labels.bin'));
    expect(Array.from(full.validation.labels)).toEqual(split.train.slice(7000).map((i) => labels[i]));
  });
  it('bad datasets and configurations are rejected with the argument named', () => {
    expect(() => checkDataset({ x: new Float32Array(3), labels: new Uint8Array(1), n: 1, sampleShape: [2] }, 10)).toThrow(/x must hold/);
    expect(() => checkDataset({ x: new Float32Array(2), labels: Uint8Array.of(10), n: 1, sampleShape: [2] }, 10)).toThrow(/labels\[0\]/);
    expect(() => new Trainer(graph, cfg({ method: 'fixed', bits: [2, 4] }))).toThrow(/exactly one/);
    expect(() => new Trainer(graph, cfg({ batch: 1 }))).toThrow(/batch/);
    expect(() => new Trainer(graph, cfg({ bits: [33] }))).toThrow(/bits/);
    // truncation-consistent training: methods any and fixed only
    expect(new Trainer(zoo.preactResnet({ weightMode: 'truncate' }), cfg()).graph.weightMode).toBe('truncate');
    expect(() => new Trainer(zoo.preactResnet({ weightMode: 'truncate' }), cfg({ method: 'sp', bits: [32, 2] }))).toThrow(/truncation-consistent training .* not sp/);
  });
});

describe('per-width loss weights (lossWeights)', () => {
  // One step from the same start; the step's gradients, read before anything else runs.
  const grads = (lossWeights?: Record<string, number>, extra: Record<string, unknown> = {}) => {
    const t = new Trainer(graph, cfg({ optimizer: 'sgd', lr: 1e-9, ...(lossWeights ? { lossWeights } : {}), ...extra }));
    t.step(data.train.x.subarray(0, 32 * 784), data.train.labels.subarray(0, 32), 32);
    return [...t.net.params.values()].filter((p) => p.grad).map((p) => Float64Array.from(p.grad!));
  };
  it('scale each width\'s share of the summed gradient (the shares add up to the unweighted gradient)', () => {
    const plain = grads(), doubled = grads({ 2: 2, 8: 2, 32: 2 }), top = grads({ 32: 3 }), low = grads({ 2: 3, 8: 3 });
    let worst = 0, size = 0;
    plain.forEach((g, i) => g.forEach((v, j) => {
      expect(doubled[i][j]).toBe(2 * v); // a power-of-two seed scales every backward step exactly
      // share of the top width: (top - plain) / 2; of the lower ones: (low - plain) / 2; together: plain
      const sum = (top[i][j] - v) / 2 + (low[i][j] - v) / 2;
      worst = Math.max(worst, Math.abs(sum - v));
      size = Math.max(size, Math.abs(v));
    }));
    expect(size).toBeGreaterThan(0);
    expect(worst).toBeLessThan(1e-4 * size);
    // and the shares differ from the whole: the weights did move the gradient
    expect(top.some((g, i) => g.some((v, j) => Math.abs(v - 3 * plain[i][j]) > 1e-3 * size))).toBe(true);
  });
  it('teacher top: every lower width learns from the top width\'s soft targets', () => {
    const x = data.train.x.subarray(0, 32 * 784);
    const named = (extra: Record<string, unknown>, lossWeights?: Record<string, number>) => {
      const t = new Trainer(graph, cfg({ optimizer: 'sgd', lr: 1e-9, ...(lossWeights ? { lossWeights } : {}), ...extra }));
      t.step(x, data.train.labels.subarray(0, 32), 32);
      return new Map([...t.net.params.values()].filter((p) => p.grad).map((p) => [p.name, Float64Array.from(p.grad!)]));
    };
    // a width's share of the step's gradient, isolated by weighting it 3 (3g - g = 2 shares)
    const share = (bits: number, teacher: 'next' | 'top') => {
      const base = named({ teacher }), w = named({ teacher }, { [bits]: 3 });
      return new Map([...base].map(([k, g]) => [k, g.map((v, j) => (w.get(k)![j] - v) / 2)]));
    };
    // the 2-bit width's gradient computed directly: its soft cross-entropy against the float logits
    const t = new Trainer(graph, cfg({ optimizer: 'sgd', lr: 1e-9 }));
    const top = t.net.forward(x, 32, { bits: 32, training: true, tape: new Tape() }).data.slice();
    const tape = new Tape();
    tape.backward(distillationLoss(tape, t.net.forward(x, 32, { bits: 2, training: true, tape }), top));
    const direct = [...t.net.params.values()].filter((p) => p.grad);
    const viaTop = share(2, 'top'), viaNext = share(2, 'next');
    let worst = 0, size = 0, differs = 0;
    expect(direct.length).toBeGreaterThan(10);
    for (const p of direct) {
      p.grad!.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(viaTop.get(p.name)![j] - v));
        size = Math.max(size, Math.abs(v));
        differs = Math.max(differs, Math.abs(viaNext.get(p.name)![j] - v));
      });
    }
    expect(size).toBeGreaterThan(0);
    expect(worst).toBeLessThan(2e-4 * size);
    expect(differs).toBeGreaterThan(1e-2 * size); // 'next' (the 8-bit teacher) is another gradient
    // two widths: the next one is the top one
    expect(named({ bits: [2, 32], teacher: 'top' })).toEqual(named({ bits: [2, 32] }));
    expect(() => new Trainer(graph, cfg({ teacher: 'best' as 'top' }))).toThrow(/teacher must be 'next' or 'top'/);
  });
  it('are checked: known widths, positive weights, method any only', () => {
    expect(() => new Trainer(graph, cfg({ lossWeights: { 4: 2 } }))).toThrow(/lossWeights: 4 is not one of bits/);
    expect(() => new Trainer(graph, cfg({ lossWeights: { 32: 0 } }))).toThrow(/lossWeights\[32\] must be a number/);
    expect(() => new Trainer(graph, cfg({ lossWeights: [2] as unknown as Record<string, number> }))).toThrow(TypeError);
    expect(() => new Trainer(graph, cfg({ method: 'fixed', bits: [32], lossWeights: { 32: 2 } }))).toThrow(/method any/);
  });
});

describe('user datasets', () => {
  it('fit checks a dataset against the model (shape, labels) before training', () => {
    const t = new Trainer(graph, cfg({ epochs: 1 }));
    const x = new Float32Array(4 * 784);
    expect(() => t.fit({ x, labels: Uint8Array.of(0, 1, 2, 10), n: 4, sampleShape: [1, 28, 28] })).toThrow(/train.labels\[3\] = 10/);
    expect(() => t.fit({ x, labels: Uint8Array.of(0, 1, 2, 3), n: 4, sampleShape: [784] })).toThrow(/sampleShape/);
    // a valid user dataset (typed arrays) trains
    const r = new Rng(1);
    const ok = { x: x.map(() => r.next()), labels: Uint8Array.of(0, 1, 2, 3), n: 4, sampleShape: [1, 28, 28] };
    expect(new Trainer(graph, cfg({ epochs: 1, batch: 2 })).fit(ok)).toHaveLength(1);
  });
});

describe('batch-norm re-estimation (calibrateBatchNorm)', () => {
  // input [6] -> fc0 (float) -> bn0 (one copy per width) -> bn1 (shared) -> relu -> fc1
  const g = {
    format: 'anyprec-graph/1' as const, inputShape: [6], bitList: [2, 32], weightMode: 'requant' as const,
    nodes: [
      { name: 'fc0', op: 'linear' as const, inputs: ['input'], inFeatures: 6, outFeatures: 5, bias: false },
      { name: 'bn0', op: 'batchnorm' as const, inputs: ['fc0'], channels: 5, eps: 1e-5, switchable: true },
      { name: 'bn1', op: 'batchnorm' as const, inputs: ['bn0'], channels: 5, eps: 1e-5, switchable: false },
      { name: 'r', op: 'relu' as const, inputs: ['bn1'] },
      { name: 'fc1', op: 'linear' as const, inputs: ['r'], inFeatures: 5, outFeatures: 3, bias: true },
    ],
  };
  const n = 10, m = 7;
  const x = Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(i * 1.7) * 2 + (i % 6) * 0.3);
  const d = { x, labels: Uint8Array.from({ length: n }, (_, i) => i % 3), n, sampleShape: [6] };

  it('each width gets the mean and unbiased variance of its inputs over the first N samples; shared norms keep theirs', () => {
    const t = new Trainer(g, defaultConfig({ bits: [2, 32], epochs: 1, batch: 5, seed: 3, bnCalibration: m }));
    const buf = (k: string) => t.net.buffers.get(k)!;
    buf('bn1.running_mean').set([0.5, -1, 2, 0, 3]);
    const sharedBefore = [Array.from(buf('bn1.running_mean')), Array.from(buf('bn1.running_var'))];
    t.calibrateBatchNorm(d);
    // fc0's outputs over the first m samples, in float64 (an independent reference)
    const w = t.net.param('fc0.weight').data;
    for (const key of ['2', '32']) {
      const mean = Array.from(buf(`bn0.${key}.running_mean`)), variance = Array.from(buf(`bn0.${key}.running_var`));
      for (let c = 0; c < 5; c++) {
        const v = Array.from({ length: m }, (_, s) => {
          let acc = 0;
          for (let f = 0; f < 6; f++) acc += x[s * 6 + f] * w[c * 6 + f];
          return acc;
        });
        const mu = v.reduce((a, b) => a + b, 0) / m;
        const unbiased = v.reduce((a, b) => a + (b - mu) ** 2, 0) / (m - 1);
        expect(mean[c]).toBeCloseTo(mu, 4);
        expect(variance[c] / unbiased).toBeCloseTo(1, 4);
      }
    }
    expect([Array.from(buf('bn1.running_mean')), Array.from(buf('bn1.running_var'))]).toEqual(sharedBefore);
    // repeating it changes nothing; 0 samples turns it off
    const once = Array.from(buf('bn0.2.running_var'));
    t.calibrateBatchNorm(d);
    expect(Array.from(buf('bn0.2.running_var'))).toEqual(once);
    const off = new Trainer(g, defaultConfig({ bits: [2, 32], epochs: 1, batch: 5, seed: 3, bnCalibration: 0 }));
    off.calibrateBatchNorm(d);
    expect(Array.from(off.net.buffers.get('bn0.2.running_var')!)).toEqual([1, 1, 1, 1, 1]);
    expect(() => new Trainer(g, defaultConfig({ bits: [2, 32], bnCalibration: -1 }))).toThrow(/bnCalibration/);
  });
});
