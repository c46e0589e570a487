// LDP's precision parameters: the bit-op penalty lowers the bits a short run chooses, and the
// precision step moves each layer's bits in proportion to its gradient (a layer with more
// multiply-accumulates falls faster under the penalty), where Adam's per-parameter step would move
// every layer by the same amount. Small CNN, seed 0, a few seconds.
import { describe, expect, it } from '@jest/globals';
import * as path from 'path';
import '../lib/train/methods';
import { precisionStep, PRECISION_STATE, weightBitsName, activationBitsName } from '../lib/train/methods/ldp';
import { Optimizer } from '../lib/train/optim';
import { Param } from '../lib/train/tape';
import { Trainer, defaultConfig } from '../lib/train/trainer';
import type { TrainConfig } from '../lib/train/trainer';
import { loadMnist, PLAIN_DIGITS, subset } from '../lib/train/data';
import { smallCnn } from './helpers/train-graphs';
import { fixturePath } from './helpers/fixtures';

const data = loadMnist(path.dirname(fixturePath('mnist', 'split.json')), PLAIN_DIGITS, 1000, { train: 200, test: 10 });
const first = (n: number) => subset(data.train, Array.from({ length: n }, (_, i) => i));

function ldp(options: Record<string, unknown>, c: Partial<TrainConfig> = {}): Trainer {
  return new Trainer(smallCnn(), defaultConfig({ method: 'ldp', bits: [8], epochs: 1, batch: 32, lr: 1e-2, seed: 0, options, ...c }));
}

const theta = (t: Trainer, name: string) => t.net.param(name).data[0];

describe('LDP precision parameters', () => {
  it('precisionStep: one shared second moment, so each parameter moves in proportion to its gradient (Adam: all alike)', () => {
    const grads = [0.5, -1.5, 3];
    const make = () => grads.map((_, i) => new Param(`p${i}`, Float32Array.of(1), [1]));
    const ours = make(), adams = make();
    const opt = new Optimizer([], { name: 'adam', lr: 0.01 });
    const adam = new Optimizer(adams, { name: 'adam', lr: 0.01 });
    for (let s = 0; s < 5; s++) {
      ours.forEach((p, i) => { p.g()[0] = grads[i]; });
      precisionStep(ours, opt);
      opt.steps++; // (the optimiser's step would count it)
      adams.forEach((p, i) => { p.g()[0] = grads[i]; });
      adam.step();
    }
    const moved = ours.map((p) => 1 - p.data[0]), adamMoved = adams.map((p) => 1 - p.data[0]);
    // a constant gradient: the first moment is the gradient, the shared second moment its mean square
    const rms = Math.sqrt(grads.reduce((a, g) => a + g * g, 0) / grads.length);
    moved.forEach((d, i) => expect(d).toBeCloseTo((5 * 0.01 * grads[i]) / rms, 5));
    adamMoved.forEach((d, i) => expect(Math.abs(d)).toBeCloseTo(5 * 0.01, 5));
    expect(adamMoved[2] / adamMoved[0]).toBeCloseTo(1, 5);
    expect(moved[2] / moved[0]).toBeCloseTo(6, 4);
    // the gradients are consumed (the optimiser skips the group) and the state is the optimiser's (checkpointed)
    for (const p of ours) expect(p.grad).toBeNull();
    const st = opt.state.get(PRECISION_STATE)!;
    expect(st[0].length).toBe(3);
    expect(st[1][0]).toBeCloseTo(((1 - 0.999 ** 5) * rms * rms), 5);
  });

  it('under a dominant penalty the layer with 9x the MACs drops its weight bits 9x faster (first step)', () => {
    // conv1: 14x14 outputs x 16 channels x 8x3x3 inputs; fc0: 32 outputs x 784 inputs
    const macs = { conv1: 14 * 14 * 16 * 72, fc0: 32 * 784 };
    const t = ldp({ penalty: 1e4, target: 0 });
    const names = [weightBitsName('conv1'), weightBitsName('fc0')];
    const before = names.map((n) => theta(t, n));
    const batch = first(32);
    t.step(batch.x, batch.labels, 32);
    const [dConv, dFc] = names.map((n, i) => before[i] - theta(t, n));
    expect(dConv).toBeGreaterThan(0);
    expect(dFc).toBeGreaterThan(0);
    // both read 8-bit activations: the penalty's gradient is in the ratio of the MACs (the loss's is ~1e-4 of it)
    expect(dConv / dFc).toBeCloseTo(macs.conv1 / macs.fc0, 1);
  });

  it('the penalty lowers the bit-ops a short run chooses (200 digits, one epoch)', () => {
    const runs = [0, 2].map((penalty) => {
      const t = ldp({ penalty, target: 0 });
      t.fit(first(200));
      return t.log[0].extra as { bitOps: number; layers: Record<string, { weights: number; activations: number }> };
    });
    // without a penalty the loss only ever asks for more bits: every layer stays at 8/8
    expect(runs[0].bitOps).toBe(1);
    // seven steps with the penalty: measured 0.79, conv1 below 8/8, fc0 (1/9 of the MACs) still at 8/8:
    // the costly layer gives up its bits first
    const product = (l: string) => runs[1].layers[l].weights * runs[1].layers[l].activations;
    expect(runs[1].bitOps).toBeLessThan(0.9);
    expect(product('conv1')).toBeLessThan(64);
    expect(product('conv1')).toBeLessThan(product('fc0'));
    expect(activationBitsName('q1')).toBe('ldp.q1.activation_bits');
  });
});
