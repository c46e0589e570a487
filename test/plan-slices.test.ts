// A large batch runs in slices (Plan.sliceSamples): every sample's output must be the bits it gets
// when it runs alone, and the stats of a sliced call must be the sums of its samples' stats.
import { describe, expect, it } from '@jest/globals';
import { Model, Tensor, zoo } from '../lib';
import type { Plan } from '../lib/nn/plan';
import { rng } from './helpers/reference';

function input(n: number, seed: number): Tensor {
  const r = rng(seed);
  return new Tensor(new Float32Array(n * 3 * 32 * 32).map(() => r()), [n, 3, 32, 32]);
}

function sample(x: Tensor, i: number): Tensor {
  const per = x.data.length / x.shape[0];
  return new Tensor(x.data.slice(i * per, (i + 1) * per), [1, ...x.shape.slice(1)]);
}

describe('sliced batches', () => {
  const graph = zoo.resnet20([16, 32, 64], 10, { weightMode: 'truncate' });
  const model = Model.build(graph, zoo.randomTensors(graph, 3));
  // the plan the model runs (Model.plan is private: reached through a cast)
  const slice = (model as unknown as { plan(o: object): Plan }).plan({ bits: 2 }).sliceSamples;

  it('a ResNet-20 batch is sliced (the test would prove nothing otherwise)', () => {
    expect(slice).toBeGreaterThanOrEqual(1);
    expect(slice).toBeLessThan(40);
  });

  it.each([2, 4, 32])('each sample of a sliced batch equals that sample alone, bit for bit (%i bits)', (bits) => {
    const n = 2 * slice + 3;
    const x = input(n, bits);
    const y = model.runSync(x, { bits });
    expect(y.shape).toEqual([n, 10]);
    for (let i = 0; i < n; i++) {
      const alone = model.runSync(sample(x, i), { bits }).data;
      expect(Array.from(y.data.subarray(i * 10, (i + 1) * 10))).toEqual(Array.from(alone));
    }
  });

  it('stats of a sliced call are the sums over its samples, gate counts included', () => {
    const g = zoo.gatedPreactResnet({ widths: [16, 32, 64], blocks: 1, inputSize: 32, inChannels: 3, weightMode: 'truncate', bits: 4, highBits: 2 });
    const m = Model.build(g, zoo.randomTensors(g, 5));
    const n = 2 * slice + 1;
    const x = input(n, 9);
    const { stats } = m.runSyncDetailed(x, { bits: { weights: 2, activations: 4 } });
    let macs = 0, on = 0, total = 0, bitOps = 0;
    for (let i = 0; i < n; i++) {
      const s = m.runSyncDetailed(sample(x, i), { bits: { weights: 2, activations: 4 } }).stats;
      macs += s.macs;
      bitOps += s.bitOps;
      on += s.layers.reduce((a, l) => a + (l.gate?.on ?? 0), 0);
      total += s.layers.reduce((a, l) => a + (l.gate?.total ?? 0), 0);
    }
    expect(stats.macs).toBe(macs);
    expect(stats.bitOps).toBe(bitOps);
    expect(stats.layers.reduce((a, l) => a + (l.gate?.on ?? 0), 0)).toBe(on);
    expect(stats.layers.reduce((a, l) => a + (l.gate?.total ?? 0), 0)).toBe(total);
    expect(total).toBeGreaterThan(0);
  });
});
