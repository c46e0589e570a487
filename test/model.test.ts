// Model-level behaviour: precision switching, per-layer and per-call precision, concurrency,
// running off the event loop, bit-op accounting, JSON graphs, argument errors.
import { afterAll, describe, expect, it } from '@jest/globals';
import { Model, Tensor, zoo } from '../lib';
import type { GraphSpec } from '../lib';
import { rng } from './helpers/reference';

function input(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  return new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r()), shape);
}

function same(a: Tensor, b: Tensor): boolean {
  return a.shape.join() === b.shape.join() && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
    .equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
}

const cnnGraph = zoo.cnn({ bitList: [1, 2, 3, 4, 5, 6, 7, 8, 32] });
const cnnTensors = zoo.randomTensors(cnnGraph, 5);
const mlpGraph = zoo.mlp([64, 48, 40, 10]);
const mlpTensors = zoo.randomTensors(mlpGraph, 6);
const models: Model[] = [];
function build(g: GraphSpec, t: Record<string, Float32Array>): Model {
  const m = Model.build(g, t);
  models.push(m);
  return m;
}
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
});

describe('precision switching', () => {
  it('switching back and forth equals a model freshly set to that precision', () => {
    const m = build(cnnGraph, cnnTensors);
    const x = input([3, 1, 28, 28], 1);
    const outputs = new Map<number, Tensor>();
    for (const b of [8, 2, 32, 1, 4, 2, 8, 3, 32, 1]) {
      m.setPrecision(b);
      const y = m.runSync(x);
      const fresh = build(cnnGraph, cnnTensors).setPrecision(b).runSync(x);
      expect(same(y, fresh)).toBe(true);
      if (outputs.has(b)) expect(same(y, outputs.get(b)!)).toBe(true);
      outputs.set(b, y);
    }
    // different precisions really give different answers (the switch is not a no-op)
    expect(same(outputs.get(1)!, outputs.get(8)!)).toBe(false);
    expect(same(outputs.get(2)!, outputs.get(32)!)).toBe(false);
  });

  it('a per-call precision equals setPrecision and leaves the model setting alone', () => {
    const m = build(mlpGraph, mlpTensors).setPrecision(8);
    const x = input([5, 64], 2);
    const perCall = m.runSync(x, { bits: 2 });
    expect(m.getPrecision().model).toEqual({ weights: 8, activations: 8 });
    expect(same(perCall, build(mlpGraph, mlpTensors).setPrecision(2).runSync(x))).toBe(true);
    expect(same(m.runSync(x), build(mlpGraph, mlpTensors).setPrecision(8).runSync(x))).toBe(true);
  });

  it('weights and activations can differ, and per-layer overrides give mixed precision', () => {
    const m = build(mlpGraph, mlpTensors);
    const x = input([4, 64], 3);
    const w2a4 = m.runSync(x, { bits: { weights: 2, activations: 4 } });
    const w4a2 = m.runSync(x, { bits: { weights: 4, activations: 2 } });
    expect(same(w2a4, w4a2)).toBe(false);
    const mixedCall = m.runSync(x, { bits: 4, layers: { fc1: 2 } });
    expect(same(mixedCall, m.runSync(x, { bits: 4 }))).toBe(false);
    m.setPrecision(4).setLayerPrecision('fc1', 2);
    expect(same(m.runSync(x), mixedCall)).toBe(true);
    m.setLayerPrecision('fc1', null);
    expect(same(m.runSync(x), m.runSync(x, { bits: 4 }))).toBe(true);
  });
});

describe('run() off the event loop', () => {
  it('gives each concurrent call at a different precision its own answer', async () => {
    const m = build(cnnGraph, cnnTensors).setWorkers(2);
    const x = input([2, 1, 28, 28], 4);
    const bits = [1, 2, 3, 4, 5, 6, 7, 8, 32, 2, 1, 8];
    const results = await Promise.all(bits.map((b) => m.run(x, { bits: b })));
    bits.forEach((b, i) => expect(same(results[i], m.runSync(x, { bits: b }))).toBe(true));
  });

  it('keeps the event loop turning during a call (counted, not timed)', async () => {
    const m = build(cnnGraph, cnnTensors);
    const x = input([64, 1, 28, 28], 5);
    await m.run(x, { bits: 8 }); // start the worker
    // A chain of setImmediate callbacks counts event-loop turns. runSync blocks the loop: no turn
    // can happen inside it. run() computes on the worker: the loop turns while the call is pending.
    let turns = 0, spinning = true;
    const spin = () => { turns++; if (spinning) setImmediate(spin); };
    setImmediate(spin);
    const before = turns;
    m.runSync(x, { bits: 32 });
    expect(turns).toBe(before);
    const pending = m.run(x, { bits: 32 });
    const atStart = turns;
    const out = await pending;
    spinning = false;
    expect(turns).toBeGreaterThan(atStart);
    expect(same(out, m.runSync(x, { bits: 32 }))).toBe(true);
  });

  it('returns per-layer stats and rejects bad input without crashing', async () => {
    const m = build(mlpGraph, mlpTensors);
    const { output, stats } = await m.runDetailed(input([2, 64], 6), { bits: 3 });
    expect(output.shape).toEqual([2, 10]);
    expect(stats.layers.map((l) => l.nodes[0])).toEqual(['fc0', 'fc1', 'fc2']);
    await expect(m.run(input([2, 63], 7))).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/input must have shape \[N, 64\]/) });
    await expect(m.run(input([2, 64], 7), { bits: 9 })).rejects.toMatchObject({ name: 'RangeError' });
  });
});

describe('bit-op accounting', () => {
  it('counts MACs x weight bits x activation bits per layer', () => {
    const m = build(mlpGraph, mlpTensors);
    const macs = [64 * 48, 48 * 40, 40 * 10];
    const r = m.bitOps(3, { bits: { weights: 2, activations: 4 } });
    expect(r.layers.map((l) => l.macs)).toEqual(macs.map((v) => 3 * v));
    expect(r.bitOps).toBe(3 * (macs[0] + macs[1] + macs[2]) * 2 * 4);
    const mixed = m.bitOps(1, { bits: 8, layers: { fc1: { weights: 1 }, q1: { activations: 3 } } });
    // fc1 reads q1's 3-bit codes with 1-bit weights; fc2 reads q2 (8 bits)
    expect(mixed.layers.map((l) => [l.weightBits, l.activationBits])).toEqual([[8, 8], [1, 3], [8, 8]]);
    expect(m.bitOps(1, { bits: 32 }).bitOps).toBe((macs[0] + macs[1] + macs[2]) * 32 * 32);
  });

  it('runSyncDetailed reports the same accounting as bitOps', () => {
    const m = build(cnnGraph, cnnTensors);
    const x = input([2, 1, 28, 28], 8);
    const { stats } = m.runSyncDetailed(x, { bits: 3 });
    const acc = m.bitOps(2, { bits: 3 });
    expect(stats.bitOps).toBe(acc.bitOps);
    expect(stats.layers.map((l) => l.bitOps)).toEqual(acc.layers.map((l) => l.bitOps));
  });
});

describe('graphs and errors', () => {
  it('builds the same model from a JSON description', () => {
    const fromJson = build(JSON.parse(JSON.stringify(cnnGraph)) as GraphSpec, cnnTensors);
    const x = input([2, 1, 28, 28], 9);
    expect(same(fromJson.runSync(x, { bits: 2 }), build(cnnGraph, cnnTensors).runSync(x, { bits: 2 }))).toBe(true);
  });

  it.each([
    ['bits 0', (m: Model) => m.setPrecision(0), 'RangeError', /precision must be an integer in 1..8 or 32/],
    ['bits 3.5', (m: Model) => m.runSync(input([1, 64], 1), { bits: 3.5 }), 'RangeError', /bits/],
    ['bits string', (m: Model) => m.setPrecision('4' as never), 'TypeError', /precision/],
    ['unknown layer', (m: Model) => m.setLayerPrecision('nope', 2), 'RangeError', /name must be a layer/],
    ['unknown layer per call', (m: Model) => m.runSync(input([1, 64], 1), { layers: { nope: 2 } }), 'RangeError', /layers.nope/],
    ['not a tensor', (m: Model) => m.runSync(new Float32Array(64) as never), 'TypeError', /x must be a Tensor/],
    ['wrong shape', (m: Model) => m.runSync(input([1, 65], 1)), 'RangeError', /input must have shape/],
    ['empty batch', (m: Model) => m.runSync(new Tensor(new Float32Array(0), [0, 64])), 'RangeError', /at least one sample/],
  ])('%s', (_l, fn, name, msg) => {
    const m = build(mlpGraph, mlpTensors);
    let err: Error | undefined;
    try { fn(m); } catch (e) { err = e as Error; }
    expect(err?.name).toBe(name);
    expect(err?.message).toMatch(msg);
  });

  it('refuses a requant model at a bit-width it has no codes for', () => {
    const g = zoo.mlp([16, 8, 4], { weightMode: 'requant', bitList: [2, 4, 32] });
    const m = build(g, zoo.randomTensors(g, 1));
    expect(() => m.runSync(input([1, 16], 1), { bits: 3 })).toThrow(/no 3-bit weights|no parameters for 3-bit/);
    expect(m.runSync(input([1, 16], 1), { bits: 4 }).shape).toEqual([1, 4]);
  });
});
