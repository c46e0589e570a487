// The per-layer GEMM route of a native program (lib/nn/route.ts): measured when a program is built
// (or the rule, or forced by setGemmPath), bit-identical whichever route a layer takes, measured
// once per layer shape, reported per layer, and its settings checked.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  clearRouteCache, gemmRoutingSetting, importReference, kernels, Model, routeCacheStats, setGemmRouting, Tensor, zoo,
} from '../lib';
import type { LayerRoute } from '../lib';
import { fixturePath, readFloat32 } from './helpers/fixtures';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

function bytesOf(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const models: Model[] = [];
function keep(m: Model): Model {
  models.push(m);
  return m;
}

let resnet: Model;
let images: Float32Array;
beforeAll(() => {
  resnet = keep(importReference('resnet20q', fixturePath('A', 'model.safetensors')));
  images = readFloat32(fixturePath('A', 'inputs.bin'));
});
afterEach(() => {
  kernels.setGemmPath('auto');
  setGemmRouting('measure');
});
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
});
const batch = (n: number, from = 0) => new Tensor(images.slice(from * 3072, (from + n) * 3072), [n, 3, 32, 32]);
/** Another model of fixture A's network: its own plans and programs, nothing re-imported. */
const another = () => keep(Model.fromState(resnet.state()));

/** The routes of a model's quantised layers over codes at these bits and batch. */
function routesOf(m: Model, n: number, bits: number): LayerRoute[] {
  const layers = m.routes(n, { bits });
  expect(layers).toBeDefined();
  return layers!.flatMap((l) => (l.route ? [l.route] : []));
}

describe('the measured route', () => {
  it.each([1, 2, 4, 8])('fixture A at %i bits, batches 1 and 17: the same bits as both forced routes', (bits) => {
    for (const n of [1, 17]) {
      const x = batch(n, 3);
      const m = another();
      const measured = m.runSync(x, { bits });
      const routes = routesOf(m, n, bits);
      expect(routes.length).toBe(18); // every quantised conv (the stem, the two 1x1 shortcuts and the FC are float layers)
      for (const r of routes) {
        expect(['measured', 'estimate']).toContain(r.reason);
        if (r.reason === 'measured') {
          expect(r.bitserialMs).toBeGreaterThan(0);
          expect(r.int8Ms).toBeGreaterThan(0);
          expect(r.path).toBe(r.int8Ms! < r.bitserialMs! ? 'int8' : 'bitserial');
        }
      }
      for (const path of ['int8', 'bitserial'] as const) {
        kernels.setGemmPath(path);
        expect(routesOf(m, n, bits).every((r) => r.path === path && r.reason === 'forced')).toBe(true);
        expect(bytesOf(m.runSync(x, { bits })).equals(bytesOf(measured))).toBe(true);
      }
      kernels.setGemmPath('auto');
    }
  });

  it('each layer shape is measured once: a second model of the same network hits the cache', () => {
    clearRouteCache();
    const first = routesOf(another(), 5, 2);
    const after = routeCacheStats();
    const measured = first.filter((r) => r.reason === 'measured').length;
    // Layers of one shape share a trial (ResNet-20 repeats shapes within a stage).
    expect(after.trials).toBeLessThanOrEqual(measured);
    expect(after.trials + after.hits).toBe(measured);
    expect(after.entries).toBe(after.trials);
    const second = routesOf(another(), 5, 2);
    const again = routeCacheStats();
    expect(again.trials).toBe(after.trials);
    expect(again.hits).toBe(after.hits + measured);
    expect(second).toEqual(first);
    // A batch in the same power-of-two row bucket (4..7 samples) shares the trials as well.
    routesOf(another(), 6, 2);
    expect(routeCacheStats().trials).toBe(after.trials);
  });

  it('runDetailed names each layer\'s route, as model.routes does', async () => {
    const m = another();
    const { stats } = await m.runDetailed(batch(2), { bits: 2 });
    const reported = stats.layers.flatMap((l) => (l.route ? [l.route] : []));
    expect(reported).toEqual(routesOf(m, 2, 2));
    expect(stats.layers[0].route).toBeUndefined(); // the float stem
  });
});

describe('routing off: the rule', () => {
  it('every route is the rule\'s (kernels.gemmPath), no trial runs', () => {
    const mlp = zoo.mlp([300, 64, 10], { bitList: [1, 2, 4, 8] });
    const m = keep(Model.build(mlp, zoo.randomTensors(mlp, 9)));
    const r = rng(21);
    const x = new Tensor(Float32Array.from({ length: 33 * 300 }, () => r()), [33, 300]);
    const measured = m.runSync(x, { bits: 4 });
    setGemmRouting('rule');
    expect(gemmRoutingSetting()).toBe('rule');
    const before = routeCacheStats();
    for (const bits of [1, 2, 4, 8]) {
      const layers = m.routes(33, { bits })!;
      // Both layers over codes (the input is quantised): fc0 33 x 300 -> 64, fc1 33 x 64 -> 10.
      const routes = Object.fromEntries(layers.map((l) => [l.nodes[0], l.route]));
      expect(routes).toEqual({
        fc0: { path: kernels.gemmPath(bits, bits, 33, 64, 300), reason: 'rule' },
        fc1: { path: kernels.gemmPath(bits, bits, 33, 10, 64), reason: 'rule' },
      });
    }
    const a = another();
    expect(routesOf(a, 17, 2).every((rt) => rt.reason === 'rule')).toBe(true);
    expect(routeCacheStats()).toEqual(before);
    expect(bytesOf(m.runSync(x, { bits: 4 })).equals(bytesOf(measured))).toBe(true);
    setGemmRouting('measure');
    expect(routesOf(a, 17, 2).some((rt) => rt.reason === 'rule')).toBe(false); // a new program for the new setting
  });
});

describe('bad options are refused', () => {
  it('setGemmRouting, model.routes and kernels.gemmPathRatio', () => {
    expect(thrown(() => setGemmRouting('fast' as never))).toEqual({ name: 'RangeError', message: "routing must be one of measure, rule, got 'fast'" });
    expect(thrown(() => setGemmRouting(undefined as never))).toEqual({ name: 'TypeError', message: 'routing must be one of measure, rule, got undefined' });
    expect(thrown(() => setGemmRouting(null as never)).name).toBe('TypeError');
    expect(gemmRoutingSetting()).toBe('measure');
    expect(thrown(() => resnet.routes(0)).name).toBe('RangeError');
    expect(thrown(() => resnet.routes(1.5)).name).toBe('RangeError');
    expect(thrown(() => resnet.routes('2' as never)).name).toBe('TypeError');
    expect(thrown(() => resnet.routes(1, { bit: 2 } as never)).name).toBe('TypeError');
    expect(thrown(() => kernels.gemmPathRatio(0, 2, 4, 4, 4)).message).toMatch(/aBits/);
    expect(thrown(() => kernels.gemmPathRatio(2, 9, 4, 4, 4)).message).toMatch(/bBits/);
    expect(thrown(() => kernels.gemmPathRatio(2, 2, -1, 4, 4)).message).toMatch(/\bm\b/);
    expect(thrown(() => kernels.gemmPathRatio(2, 2, 4, 4, 0)).message).toMatch(/\bk\b/);
  });

  it('gemmPathRatio agrees with gemmPath (int8 exactly where the estimate is >= 1)', () => {
    for (const m of [1, 4, 16, 64, 256, 1024]) {
      for (let a = 1; a <= 8; a++) {
        for (const w of [1, 2, 4, 8]) {
          const ratio = kernels.gemmPathRatio(a, w, m, 64, 576);
          expect(ratio).toBeGreaterThanOrEqual(0);
          expect(kernels.gemmPath(a, w, m, 64, 576)).toBe(ratio >= 1 ? 'int8' : 'bitserial');
        }
      }
    }
  });
});

describe('threads', () => {
  // A program at more than one thread first measures, per op, whether splitting it pays (each op
  // run twice in a row, once per thread count: runner.h), then runs each op on the threads chosen.
  // Whatever is chosen, and during the measuring runs, the outputs are the one-thread bits.
  const runs = 22; // more than the measuring runs (Program::kMeasureRuns = 20)
  it('whole-model outputs at 2 and 3 threads are the 1-thread bits, while each op\'s threads are measured and after', async () => {
    const m = another();
    try {
      for (const [bits, path] of [[1, 'auto'], [2, 'bitserial'], [2, 'int8'], [8, 'auto'], [32, 'auto']] as const) {
        kernels.setGemmPath(path);
        for (const n of [1, 3]) {
          const x = batch(n, 2);
          kernels.setThreads(1);
          const want = bytesOf(m.runSync(x, { bits }));
          for (const threads of [2, 3]) {
            kernels.setThreads(threads);
            for (let r = 0; r < runs; r++) expect(bytesOf(m.runSync(x, { bits })).equals(want)).toBe(true);
            expect(bytesOf(await m.run(x, { bits })).equals(want)).toBe(true);
          }
        }
      }
    } finally {
      kernels.setThreads(1);
    }
  });
});
