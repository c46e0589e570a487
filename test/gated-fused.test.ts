// The gated GEMM with the layer's epilogue fused into it (kernels.gatedGemmFused): on every ISA and
// skipping strategy, bit for bit the exact gated results (gatedGemm's out, itself checked against
// plain sums in gated.test.ts) put through a plain-JS float32 epilogue — floats with a clamp,
// floats plus a residual, next-layer codes — for B/Bhb 3/2, 4/2, 4/1, 8/4, weight bits 1/2/4/8,
// odd shapes, every output on, none and a mix. Then the gated layers' path choice (RunOptions
// gatePath): 'dense' is the network without its gates bit for bit, 'gated' (default) the gate's
// results, 'auto' measures both and says which it ran and why.
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { kernels, Model, Tensor, zoo } from '../lib';
import { GatePathChooser } from '../lib/gating';
import type { Epilogue } from '../lib/core/kernels';
import { randomCodes, rng } from './helpers/reference';

const fr = Math.fround;
const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
afterAll(() => kernels.setIsa(defaultIsa));

/** The epilogue's float32 steps on exact results (eltwise/epilogue.h), in plain JS. */
function finish(exact: Int32Array, e: Epilogue, n: number): Float32Array | Uint8Array {
  const out = e.output === 'codes' ? new Uint8Array(exact.length) : new Float32Array(exact.length);
  for (let x = 0; x < exact.length; x++) {
    const j = x % n;
    let y = fr(fr(exact[x]) * e.scale[j]);
    if (e.shift) y = fr(y + e.shift[j]);
    if (e.output === 'codes') {
      const levels = 2 ** e.bits - 1;
      const c = Math.min(Math.max(y, 0), 1); // NaN never arises: finite scale and shift
      out[x] = fr(fr(fr(c * levels) + 12582912) - 12582912);
    } else {
      y = Math.min(Math.max(y, e.min ?? -Infinity), e.max ?? Infinity);
      if (e.residual) y = fr(y + e.residual[x]);
      out[x] = y;
    }
  }
  return out;
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
};

describe('kernels.gatedGemmFused', () => {
  const splits = [[3, 2], [4, 2], [4, 1], [8, 4]];
  const shapes = [[13, 23, 65], [41, 130, 100]];
  it('equals the exact gated results through the float32 epilogue, every ISA, bit for bit', () => {
    const rand = rng(17);
    let cases = 0;
    for (const [m, n, k] of shapes) {
      for (const [B, hb] of splits) {
        for (const wb of [1, 2, 4, 8]) {
          const a = kernels.pack(randomCodes(rand, m * k, B), m, k, B);
          const b = kernels.pack(randomCodes(rand, n * k, wb), n, k, wb);
          const unit = 1 / (k * (2 ** B - 1) * (2 ** wb - 1));
          const scale = Float32Array.from({ length: n }, () => unit * (Math.floor(rand() * 7) - 2) * 0.75);
          const shift = Float32Array.from({ length: n }, () => (Math.floor(rand() * 9) - 4) / 8);
          const residual = Float32Array.from({ length: m * n }, () => (Math.floor(rand() * 17) - 8) / 16);
          const epilogues: Epilogue[] = [
            { output: 'float', scale, shift, min: 0 },
            { output: 'float', scale, residual },
            { output: 'codes', bits: 1 + ((m + B + wb) % 8), scale, shift },
          ];
          kernels.setIsa('scalar');
          const ohb = kernels.gatedGemm(a, b, { highBits: hb, bEncoding: 'bipolar', thresholds: new Float32Array(n).fill(Infinity) }).out;
          const thresholdSets = [
            new Float32Array(n).fill(-Infinity),
            new Float32Array(n).fill(Infinity),
            Float32Array.from({ length: n }, (_, j) => ohb[Math.floor(rand() * m) * n + j]),
          ];
          for (const thresholds of thresholdSets) {
            const want = kernels.gatedGemm(a, b, { highBits: hb, bEncoding: 'bipolar', thresholds });
            for (const epilogue of epilogues) {
              const ref = finish(want.out, epilogue, n);
              for (const isa of ISAS) {
                kernels.setIsa(isa);
                // 'auto' always, 'tiles' / 'hybrid' (the mask-free dense low planes) on a rotation
                for (const strategy of (['auto', 'tiles', 'hybrid'] as const).filter((st, i) => i === 0 || (cases + i) % 4 === 0)) {
                  const got = kernels.gatedGemmFused(a, b, { highBits: hb, bEncoding: 'bipolar', thresholds, strategy, epilogue });
                  const where = `${isa}/${strategy} ${m}x${k}x${n} B${B}/${hb} w${wb} ${epilogue.output}`;
                  expect([where, got.on, got.out.constructor.name === ref.constructor.name && same(got.out, ref)])
                    .toEqual([where, want.on, true]);
                  cases++;
                }
              }
            }
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(shapes.length * splits.length * 4 * 3 * 3 * ISAS.length);
  });

  it('the async form gives the same outputs; bad epilogues are refused, naming the argument', async () => {
    const rand = rng(5);
    const a = kernels.pack(randomCodes(rand, 9 * 40, 4), 9, 40, 4), b = kernels.pack(randomCodes(rand, 5 * 40, 2), 5, 40, 2);
    const options = { highBits: 2, bEncoding: 'bipolar' as const, thresholds: new Float32Array(5), epilogue: { output: 'codes' as const, bits: 3, scale: new Float32Array(5).fill(0.01) } };
    const sync = kernels.gatedGemmFused(a, b, options);
    const got = await kernels.gatedGemmFusedAsync(a, b, options);
    expect([got.on, same(got.out, sync.out)]).toEqual([sync.on, true]);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
      return 'no error';
    };
    expect(err(() => kernels.gatedGemmFused(a, b, { ...options, epilogue: undefined as unknown as Epilogue }))).toMatch(/^TypeError: epilogue must be/);
    expect(err(() => kernels.gatedGemmFused(a, b, { ...options, epilogue: { output: 'float', scale: new Float32Array(4) } })))
      .toMatch(/^RangeError: epilogue.scale must hold one value per output column \(5\)/);
    await expect(kernels.gatedGemmFusedAsync(a, b, { ...options, epilogue: { output: 'codes', bits: 9, scale: new Float32Array(5) } }))
      .rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/epilogue.bits/) });
  });
});

describe('GatePathChooser (the measured choice) on given times', () => {
  // Feeds the chooser the times of its own choices: ms per call for `rows` rows from `cost`.
  function drive(c: GatePathChooser, calls: number, cost: (path: 'gated' | 'dense') => number, offset = 0) {
    const seen: string[] = [];
    for (let i = 0; i < calls; i++) {
      const ch = c.choose('auto', offset);
      seen.push(`${ch.path}:${ch.reason}`);
      c.record(ch.path, cost(ch.path) * 100, 100);
    }
    return seen;
  }

  it('measures gated then dense (one warm-up each), then runs the faster and says by how much', () => {
    const c = new GatePathChooser(1000);
    const seen = drive(c, 7, (p) => (p === 'gated' ? 0.6 : 1.0));
    expect(seen).toEqual([
      'gated:measuring', 'gated:measuring', 'dense:measuring', 'dense:measuring',
      'gated:gated 0.60x the dense time', 'gated:gated 0.60x the dense time', 'gated:gated 0.60x the dense time',
    ]);
    const slow = drive(new GatePathChooser(1000), 6, (p) => (p === 'gated' ? 1.3 : 1.0));
    expect(slow.slice(4)).toEqual(['dense:gated 1.30x the dense time', 'dense:gated 1.30x the dense time']);
  });

  it('a new gate offset measures the gated path again; the path not chosen is rechecked; forced paths pass through', () => {
    const c = new GatePathChooser(8);
    drive(c, 5, (p) => (p === 'gated' ? 2 : 1));
    // New offset: the gated path's old samples are dropped (its on-fraction changed), one call measures it.
    expect(drive(c, 2, (p) => (p === 'gated' ? 0.5 : 1), 0.1)).toEqual(['gated:measuring', 'gated:gated 0.50x the dense time']);
    // Call 8 (a multiple of recheckEvery) runs the other path once.
    expect(drive(c, 1, () => 1, 0.1)).toEqual(['dense:recheck (gated 0.50x the dense time)']);
    expect(c.choose('dense', 0.1)).toEqual({ path: 'dense', reason: "gatePath 'dense'" });
    expect(c.choose('gated', 0.1)).toEqual({ path: 'gated', reason: "gatePath 'gated'" });
  });

  it('re-checks after recheckEvery calls, then at doubling intervals', () => {
    const c = new GatePathChooser(8);
    const seen = drive(c, 60, (p) => (p === 'gated' ? 2 : 1));
    const rechecks = seen.flatMap((r, i) => (r.includes('recheck') ? [i + 1] : []));
    expect(rechecks).toEqual([8, 24, 56]); // intervals 16, 32 after the first at 8
  });

  it('settledDense: only once compared, dense faster, at the same offset and with no re-check due; skip counts a call', () => {
    const c = new GatePathChooser(16);
    expect(c.settledDense(0)).toBe(false);
    drive(c, 4, (p) => (p === 'gated' ? 2 : 1)); // measuring calls
    expect(c.settledDense(0)).toBe(true);
    expect(c.settledDense(0.1)).toBe(false); // another offset: the gated path is not measured there
    // Calls 5-15 skipped (run natively); call 16 is a re-check: not settled.
    for (let call = 5; call < 16; call++) {
      expect([call, c.settledDense(0)]).toEqual([call, true]);
      c.skip();
    }
    expect(c.settledDense(0)).toBe(false);
    expect(drive(c, 1, (p) => (p === 'gated' ? 2 : 1))).toEqual(['gated:recheck (gated 2.00x the dense time)']); // call 16
    expect(c.settledDense(0)).toBe(true);
    // Gated faster: never settled dense.
    const g = new GatePathChooser(16);
    drive(g, 6, (p) => (p === 'gated' ? 0.5 : 1));
    expect(g.settledDense(0)).toBe(false);
  });
});

describe('gatePath: the gated layers\' gated or dense path', () => {
  function setup() {
    const graph = zoo.gatedPreactResnet({ widths: [4, 8, 8], blocks: 1, inputSize: 8 });
    const model = Model.build(graph, zoo.randomTensors(graph, 3));
    model.setPrecision({ weights: 2, activations: 4 });
    const r = rng(11);
    const x = new Tensor(Float32Array.from({ length: 4 * 3 * 64 }, () => r() * 2 - 1), [4, 3, 8, 8]);
    model.calibrateGates(x, 0.8);
    return { model, x };
  }

  it("'dense' is the network without its gates bit for bit, and says so; 'gated' is the default", () => {
    const { model, x } = setup();
    const open = model.runSync(x, { gate: 'open' }).data;
    const gated = model.runSyncDetailed(x);
    expect(same(gated.output.data, open)).toBe(false); // ~80% of the outputs gated off changes the result
    expect(gated.stats.gate!.layers.every((l) => gated.stats.layers.find((s) => s.nodes[0] === l)!.gate!.path === undefined)).toBe(true);
    const forced = model.runSyncDetailed(x, { gatePath: 'gated' });
    expect(same(forced.output.data, gated.output.data)).toBe(true);
    expect(forced.stats.gate!.dense).toBeUndefined(); // the default path is not reported
    const dense = model.runSyncDetailed(x, { gatePath: 'dense' });
    expect(same(dense.output.data, open)).toBe(true);
    const gatedLayers = dense.stats.layers.filter((l) => l.gate);
    expect(gatedLayers.length).toBe(model.gatedLayers.length);
    for (const l of gatedLayers) expect([l.gate!.path, l.gate!.pathReason, l.gate!.fraction]).toEqual(['dense', "gatePath 'dense'", 1]);
    expect(dense.stats.gate!.dense).toEqual(model.gatedLayers);
    expect(dense.stats.bitOps).toBe(dense.stats.denseBitOps);
  });

  it("'auto' measures both paths per layer, then runs the faster and reports the measured ratio", () => {
    const { model, x } = setup();
    const gatedOut = model.runSync(x).data, openOut = model.runSync(x, { gate: 'open' }).data;
    const runs = Array.from({ length: 8 }, () => model.runSyncDetailed(x, { gatePath: 'auto' }));
    for (const [i, r] of runs.entries()) {
      const layers = r.stats.layers.filter((l) => l.gate);
      const dense = layers.filter((l) => l.gate!.path === 'dense').map((l) => l.nodes[0]);
      expect(r.stats.gate!.dense).toEqual(dense);
      // Calls 1-2 measure the gated path, 3-4 the dense one (each: one warm-up, one measured).
      const want = i < 2 ? 'gated' : i < 4 ? 'dense' : undefined;
      for (const l of layers) {
        if (want) expect([i, l.gate!.path, l.gate!.pathReason]).toEqual([i, want, 'measuring']);
        else expect(l.gate!.pathReason).toMatch(/^gated \d+\.\d\dx the dense time$/);
      }
      // A call whose layers all ran one way gives that way's network output.
      if (dense.length === 0) expect(same(r.output.data, gatedOut)).toBe(true);
      if (dense.length === layers.length) expect(same(r.output.data, openOut)).toBe(true);
      // The choice follows the ratio it reports.
      for (const l of layers.filter(() => !want)) {
        const ratio = Number(/^gated (\S+)x/.exec(l.gate!.pathReason!)![1]);
        if (ratio < 0.995) expect(l.gate!.path).toBe('gated');
        if (ratio > 1.005) expect(l.gate!.path).toBe('dense');
      }
    }
    // A new gate offset: the gated path is measured again (its on-fraction changed).
    const moved = model.runSyncDetailed(x, { gatePath: 'auto', gateOffset: 0.01 });
    for (const l of moved.stats.layers.filter((s) => s.gate)) expect([l.gate!.path, l.gate!.pathReason]).toEqual(['gated', 'measuring']);
  });

  it("'auto' runSync with every gated layer settled on dense: the native program with those layers dense, the ungated network's bits", () => {
    const { model, x } = setup();
    const openOut = model.runSync(x, { gate: 'open' }).data, gatedOut = model.runSync(x).data;
    const settled = jest.spyOn(GatePathChooser.prototype, 'settledDense').mockReturnValue(true);
    const skip = jest.spyOn(GatePathChooser.prototype, 'skip');
    try {
      expect(same(model.runSync(x, { gatePath: 'auto' }).data, openOut)).toBe(true);
      expect(skip).toHaveBeenCalledTimes(model.gatedLayers.length);
      // Stats (runSyncDetailed) and other paths run the JS steps: no skip.
      skip.mockClear();
      model.runSyncDetailed(x, { gatePath: 'auto' });
      expect(same(model.runSync(x, { gatePath: 'gated' }).data, gatedOut)).toBe(true);
      expect(skip).not.toHaveBeenCalled();
      // One layer not settled: the JS steps.
      settled.mockReturnValueOnce(true).mockReturnValueOnce(false);
      model.runSync(x, { gatePath: 'auto' });
      expect(skip).not.toHaveBeenCalled();
    } finally {
      settled.mockRestore();
      skip.mockRestore();
    }
  });

  it('a bad gatePath is refused, naming it', () => {
    const { model, x } = setup();
    expect(() => model.runSync(x, { gatePath: 'fast' as 'auto' })).toThrow(/gatePath must be 'auto', 'gated' or 'dense', got "fast"/);
    expect(() => model.runSync(x, { gatePath: 1 as unknown as 'auto' })).toThrow(/gatePath must be 'auto', 'gated' or 'dense'/);
  });
});
