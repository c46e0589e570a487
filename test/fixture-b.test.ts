// Fixture B: the Precision-Gating ResNet-20 of cornell-zhang/dnn-gating (8-bit sign-magnitude
// weights, 3-bit activations with a dynamic per-tensor scale, 2 predictor bits, PACT, option-A
// shortcuts), imported from its state_dict and checked against the reference's own outputs in the
// three gate modes, with the agreement expected.json's tolerance_guidance asks for.
import { beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as path from 'path';
import { loadSafetensorsSync, Model, Tensor } from '../lib';
import type { RunStats } from '../lib';
import { signMagnitudeWeights } from '../lib/core/signmag';
import type { GateMode } from '../lib/gating';
import { importPgResnet20 } from '../lib/io/pg-resnet20';

const FIXTURES = path.resolve(__dirname, '..', '..', 'shared', 'fixtures');

function need(...parts: string[]): string {
  const p = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(p)) {
    throw new Error(`fixture file ${p} is missing: this test needs the reference fixtures in ../shared/fixtures (B/ and mnist/) beside the repository`);
  }
  return p;
}

function readFloat32(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

type Counts = Record<string, number>;
interface ModeResult {
  logits: number[][];
  argmax: number[];
  gate_on_count_per_layer: Counts;
  gate_total_per_layer: Counts;
  act_scale_per_quantized_conv: Counts;
  test_accuracy: number;
  test_gate_on_fraction_per_layer: Counts;
  per_sample_N1: {
    logits: number[][];
    argmax: number[];
    gate_on_count_per_layer_per_sample: Record<string, number[]>;
    act_scale_per_quantized_conv_per_sample: Record<string, number[]>;
  };
}
interface Expected {
  pg_layers: string[];
  quantized_conv_layers: string[];
  results: Record<'pg' | 'all_on' | 'all_off', ModeResult>;
}

const MODES: Array<['pg' | 'all_on' | 'all_off', GateMode]> = [['pg', 'trained'], ['all_on', 'open'], ['all_off', 'closed']];
const SAMPLE = 3 * 32 * 32;

let expected: Expected;
let model: Model;
let inputs: Float32Array;

beforeAll(() => {
  expected = JSON.parse(fs.readFileSync(need('B', 'expected.json'), 'utf8'));
  inputs = readFloat32(need('B', 'inputs.bin'));
  model = importPgResnet20(loadSafetensorsSync(need('B', 'model.safetensors')).tensors);
});

/** Max |Δ| per sample between our [N, 10] logits and the reference's. */
function compare(ours: Float32Array, ref: number[][]) {
  let maxAbs = 0, argmaxAgree = 0;
  const perSample = ref.map((row, i) => {
    let d = 0, am = 0;
    for (let j = 0; j < row.length; j++) {
      d = Math.max(d, Math.abs(ours[i * row.length + j] - row[j]));
      if (ours[i * row.length + j] > ours[i * row.length + am]) am = j;
    }
    let ra = 0;
    for (let j = 0; j < row.length; j++) if (row[j] > row[ra]) ra = j;
    if (am === ra) argmaxAgree++;
    maxAbs = Math.max(maxAbs, d);
    return d;
  });
  return { maxAbs, argmaxAgree, within: (tol: number) => perSample.filter((d) => d <= tol).length };
}

function gateCounts(stats: RunStats): Map<string, { on: number; total: number }> {
  const m = new Map<string, { on: number; total: number }>();
  for (const l of stats.layers) if (l.gate) m.set(l.nodes[0], l.gate);
  return m;
}

function scales(stats: RunStats): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of stats.layers) if (l.activationScale !== undefined) m.set(l.nodes[0], l.activationScale);
  return m;
}

/** The 2,000 test digits (split.json "test" = perm[8000:]) preprocessed as inputs.json describes. */
function mnistTest(): { x: Float32Array; labels: Uint8Array; n: number } {
  const pixels = fs.readFileSync(need('mnist', 'mnist10k.bin'));
  const allLabels = fs.readFileSync(need('mnist', 'mnist10k-labels.bin'));
  const test: number[] = JSON.parse(fs.readFileSync(need('mnist', 'split.json'), 'utf8')).test;
  const fr = Math.fround, mean = fr(0.1307), std = fr(0.3081);
  const lut = new Float32Array(256).map((_, p) => fr(fr(fr(p / 255) - mean) / std));
  const x = new Float32Array(test.length * SAMPLE).fill(lut[0]);
  const labels = new Uint8Array(test.length);
  test.forEach((idx, i) => {
    labels[i] = allLabels[idx];
    for (let y = 0; y < 28; y++)
      for (let xx = 0; xx < 28; xx++)
        for (let c = 0; c < 3; c++) x[i * SAMPLE + c * 1024 + (y + 2) * 32 + xx + 2] = lut[pixels[idx * 784 + y * 28 + xx]];
  });
  return { x, labels, n: test.length };
}

describe('fixture B (dnn-gating PG ResNet-20, w8 a3 pb2, PACT)', () => {
  it('quantises every conv weight to the reference integer levels and scales exactly', () => {
    const st = loadSafetensorsSync(need('B', 'model.safetensors')).tensors;
    const ref = loadSafetensorsSync(need('B', 'wq_levels.safetensors')).tensors;
    expect(expected.quantized_conv_layers).toHaveLength(18);
    for (const name of expected.quantized_conv_layers) {
      const q = signMagnitudeWeights(st.get(`${name}.weight`)!.data as Float32Array, 8);
      expect(q.scale).toBe((ref.get(`${name}.scale`)!.data as Float32Array)[0]);
      const levels = ref.get(`${name}.levels`)!.data as Int32Array;
      let diff = 0;
      for (let i = 0; i < levels.length; i++) if (levels[i] !== q.levels[i]) diff++;
      expect({ name, diff }).toEqual({ name, diff: 0 });
    }
  });

  it('builds the graph from the state_dict: 9 PG convs, 9 sign-magnitude convs, option-A shortcuts', () => {
    const ops = (op: string) => model.graph.nodes.filter((n) => n.op === op).map((n) => n.name);
    expect(ops('pgconv2d')).toEqual(expected.pg_layers);
    expect(ops('smconv2d')).toHaveLength(9);
    expect(ops('subsample')).toEqual(['layer2.0.shortcut', 'layer3.0.shortcut']);
    expect(ops('pact')).toHaveLength(19);
    expect(model.graph.inputShape).toEqual([3, 32, 32]);
  });

  for (const [mode, gate] of MODES) {
    it(`${mode}: the 64 inputs as one batch match logits, gate counts and activation scales`, () => {
      const r = expected.results[mode];
      const { output, stats } = model.runSyncDetailed(new Tensor(inputs, [64, 3, 32, 32]), { gate });
      const c = compare(output.data, r.logits);
      console.log(`fixture B ${mode} N=64: max|Δlogit| ${c.maxAbs.toExponential(2)}, ${c.within(1e-3)}/64 within 1e-3, ` +
        `argmax ${c.argmaxAgree}/64`);
      expect(c.argmaxAgree).toBeGreaterThanOrEqual(63);
      if (mode === 'all_off') expect(c.within(1e-5)).toBe(64);
      else expect(c.within(1e-3)).toBeGreaterThanOrEqual(60);
      const gates = gateCounts(stats);
      expect([...gates.keys()]).toEqual(expected.pg_layers);
      for (const name of expected.pg_layers) {
        const g = gates.get(name)!;
        expect(g.total).toBe(r.gate_total_per_layer[name]);
        expect(Math.abs(g.on - r.gate_on_count_per_layer[name])).toBeLessThanOrEqual(0.001 * g.total);
      }
      // The dynamic scale is the max over the whole batch: a per-sample max would differ by percents.
      const s = scales(stats);
      expect([...s.keys()]).toEqual(expected.quantized_conv_layers);
      for (const name of expected.quantized_conv_layers) {
        expect(Math.abs(s.get(name)! - r.act_scale_per_quantized_conv[name])).toBeLessThanOrEqual(1e-5 * r.act_scale_per_quantized_conv[name]);
      }
    });

    it(`${mode}: each of the 64 inputs alone (N = 1) matches per_sample_N1`, () => {
      const r = expected.results[mode].per_sample_N1;
      const logits = new Float32Array(64 * 10);
      const on = new Map<string, number>(), refOn = new Map<string, number>();
      let scaleBad = 0;
      for (let i = 0; i < 64; i++) {
        const { output, stats } = model.runSyncDetailed(new Tensor(inputs.slice(i * SAMPLE, (i + 1) * SAMPLE), [1, 3, 32, 32]), { gate });
        logits.set(output.data, i * 10);
        for (const [name, g] of gateCounts(stats)) {
          on.set(name, (on.get(name) ?? 0) + g.on);
          refOn.set(name, (refOn.get(name) ?? 0) + r.gate_on_count_per_layer_per_sample[name][i]);
        }
        for (const [name, s] of scales(stats)) {
          const ref = r.act_scale_per_quantized_conv_per_sample[name][i];
          if (Math.abs(s - ref) > 1e-5 * ref) scaleBad++;
        }
      }
      const c = compare(logits, r.logits);
      console.log(`fixture B ${mode} N=1: max|Δlogit| ${c.maxAbs.toExponential(2)}, ${c.within(1e-3)}/64 within 1e-3, ` +
        `argmax ${c.argmaxAgree}/64, activation scales off: ${scaleBad}/${64 * 18}`);
      expect(c.argmaxAgree).toBeGreaterThanOrEqual(63);
      if (mode === 'all_off') expect(c.within(1e-5)).toBe(64);
      else expect(c.within(1e-3)).toBeGreaterThanOrEqual(60);
      expect(scaleBad).toBeLessThanOrEqual(64 * 18 * 0.05);
      const total = expected.results[mode].gate_total_per_layer;
      for (const name of expected.pg_layers) {
        expect(Math.abs(on.get(name)! - refOn.get(name)!)).toBeLessThanOrEqual(0.001 * total[name]);
      }
    });
  }

  it('preprocesses the test digits exactly as the fixture inputs were made', () => {
    const d = mnistTest();
    expect(d.n).toBe(2000);
    expect(Buffer.from(d.x.buffer, 0, 64 * SAMPLE * 4).equals(Buffer.from(inputs.buffer, 0, 64 * SAMPLE * 4))).toBe(true);
  });

  let digits: ReturnType<typeof mnistTest> | undefined;
  for (const [mode, gate] of MODES) {
    it(`${mode}: reaches the reference test accuracy and gate fractions (2,000 digits, batches of 128)`, () => {
      const d = (digits ??= mnistTest());
      const r = expected.results[mode];
      let correct = 0;
      const on = new Map<string, number>(), total = new Map<string, number>();
      for (let s = 0; s < d.n; s += 128) {
        const n = Math.min(128, d.n - s);
        const { output, stats } = model.runSyncDetailed(new Tensor(d.x.subarray(s * SAMPLE, (s + n) * SAMPLE), [n, 3, 32, 32]), { gate });
        for (let i = 0; i < n; i++) {
          let am = 0;
          for (let j = 1; j < 10; j++) if (output.data[i * 10 + j] > output.data[i * 10 + am]) am = j;
          if (am === d.labels[s + i]) correct++;
        }
        for (const [name, g] of gateCounts(stats)) {
          on.set(name, (on.get(name) ?? 0) + g.on);
          total.set(name, (total.get(name) ?? 0) + g.total);
        }
      }
      const acc = correct / d.n;
      const worst = Math.max(...expected.pg_layers.map((name) => Math.abs(on.get(name)! / total.get(name)! - r.test_gate_on_fraction_per_layer[name])));
      console.log(`fixture B ${mode} test accuracy ${(100 * acc).toFixed(2)}% (reference ${(100 * r.test_accuracy).toFixed(2)}%), ` +
        `largest per-layer gate fraction difference ${worst.toExponential(2)}`);
      expect(Math.abs(acc - r.test_accuracy)).toBeLessThanOrEqual(0.003 + 1e-9);
      expect(worst).toBeLessThanOrEqual(0.001);
    });
  }

  it('gate options: a threshold offset trades gated-on outputs for bit-ops; open/closed bound them', () => {
    const x = new Tensor(inputs.slice(0, 16 * SAMPLE), [16, 3, 32, 32]);
    const run = (opts: { gate?: GateMode; gateOffset?: number }) => model.runSyncDetailed(x, opts).stats;
    const sum = (s: RunStats) => [...gateCounts(s).values()].reduce((a, g) => a + g.on, 0);
    const bitOps = (s: RunStats) => s.layers.filter((l) => l.gate).reduce((a, l) => a + l.bitOps, 0);
    const trained = run({}), sparser = run({ gateOffset: 0.5 }), denser = run({ gateOffset: -0.5 });
    const open = run({ gate: 'open' }), closed = run({ gate: 'closed' });
    expect(sum(sparser)).toBeLessThan(sum(trained));
    expect(sum(denser)).toBeGreaterThan(sum(trained));
    expect(sum(closed)).toBe(0);
    expect(sum(open)).toBe([...gateCounts(open).values()].reduce((a, g) => a + g.total, 0));
    expect(bitOps(closed)).toBeLessThan(bitOps(sparser));
    expect(bitOps(sparser)).toBeLessThan(bitOps(trained));
    expect(bitOps(trained)).toBeLessThan(bitOps(denser));
    expect(bitOps(denser)).toBeLessThan(bitOps(open));
    // bit-ops = K * wbits * (outputs * Bhb + gated-on * (B - Bhb))
    const l = trained.layers.find((s) => s.nodes[0] === 'layer1.0.conv1')!;
    expect(l.bitOps).toBe((l.macs / l.gate!.total) * 8 * (l.gate!.total * 2 + l.gate!.on * 1));
    // A huge offset closes every gate, a huge negative one opens every gate.
    expect(model.runSync(x, { gateOffset: 1e30 }).data).toEqual(model.runSync(x, { gate: 'closed' }).data);
    expect(model.runSync(x, { gateOffset: -1e30 }).data).toEqual(model.runSync(x, { gate: 'open' }).data);
    expect(() => model.runSync(x, { gate: 'half' as GateMode })).toThrow(/gate must be/);
    expect(() => model.runSync(x, { gateOffset: NaN })).toThrow(/gateOffset/);
  });

  it('runs off the event loop too (run / runDetailed in a worker) with the same gate semantics', async () => {
    const x = new Tensor(inputs.slice(0, 4 * SAMPLE), [4, 3, 32, 32]);
    try {
      const a = await model.runDetailed(x, { gateOffset: 0.25 });
      const b = model.runSyncDetailed(x, { gateOffset: 0.25 });
      expect(a.output.data).toEqual(b.output.data);
      expect(a.stats.layers.map((l) => l.gate)).toEqual(b.stats.layers.map((l) => l.gate));
    } finally {
      await model.close();
    }
  });
});
