// Precision gates on qconv2d / qlinear graph nodes: the gated layers against an independent JS
// reference (high part, gate, low part, then scale / batch norm / quantiser in float32 steps) on
// random weights and inputs with odd shapes; the limits (−∞ = the ungated model bit for bit, +∞ =
// the high bits only); the offset knob; the per-call statistics against values computed here from
// the reference's masks; precision switching; thresholds set at run time (also on the worker
// threads); save / load; calibration; and every bad option.
import { afterAll, describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { kernels, loadSync, Model, Packed, Tensor, validateGraph, zoo } from '../lib';
import type { GraphSpec, NodeSpec, PrecisionGate, RunStats } from '../lib';
import { roundHalfEven } from '../lib/core/quantize';
import { gateIntThresholds, kernelGateThresholds } from '../lib/gating';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

const fr = Math.fround;

// ---- a small graph: quantize -> gated qconv2d (odd shape) -> batch norm -> [quantize] ----------

interface ConvCase { c: number; h: number; w: number; out: number; k: number; stride: [number, number]; pad: [number, number] }
const CONV: ConvCase = { c: 5, h: 9, w: 7, out: 13, k: 3, stride: [2, 1], pad: [1, 1] };
const LIN = { inF: 37, outF: 11 };

type Act = 'quantize' | 'none' | 'relu';

function convGraph(gate: PrecisionGate | undefined, act: Act, bitList = [2, 3, 4, 5, 6, 8, 32]): GraphSpec {
  const g = CONV;
  const conv: NodeSpec = {
    name: 'conv', op: 'qconv2d', inputs: ['q0'], inChannels: g.c, outChannels: g.out, kernel: [g.k, g.k], stride: g.stride,
    padding: g.pad, dilation: [1, 1], ...(gate ? { gate } : {}),
  };
  const nodes: NodeSpec[] = [
    { name: 'q0', op: 'quantize', inputs: ['input'] },
    conv,
    { name: 'bn', op: 'batchnorm', inputs: ['conv'], channels: g.out, eps: 1e-5, switchable: false },
  ];
  if (act === 'quantize') nodes.push({ name: 'q1', op: 'quantize', inputs: ['bn'] });
  if (act === 'relu') nodes.push({ name: 'r1', op: 'relu', inputs: ['bn'] });
  return { format: 'anyprec-graph/1', inputShape: [g.c, g.h, g.w], nodes, bitList, weightMode: 'truncate' };
}

function linearGraph(gate: PrecisionGate | undefined, act: Act, bitList = [2, 3, 4, 5, 6, 8, 32], inF = LIN.inF): GraphSpec {
  const nodes: NodeSpec[] = [
    { name: 'q0', op: 'quantize', inputs: ['input'] },
    { name: 'fc', op: 'qlinear', inputs: ['q0'], inFeatures: inF, outFeatures: LIN.outF, bias: true, ...(gate ? { gate } : {}) },
  ];
  if (act === 'quantize') nodes.push({ name: 'q1', op: 'quantize', inputs: ['fc'] });
  if (act === 'relu') nodes.push({ name: 'r1', op: 'relu', inputs: ['fc'] });
  return { format: 'anyprec-graph/1', inputShape: [inF], nodes, bitList, weightMode: 'truncate' };
}

function tensorsFor(g: GraphSpec, seed: number): Record<string, Float32Array> {
  const t = zoo.randomTensors(g, seed);
  const r = rng(seed + 100);
  // Thresholds are set per test; the tensor must exist for a gated layer.
  for (const n of g.nodes) {
    if ((n.op === 'qconv2d' || n.op === 'qlinear') && n.gate) {
      const ch = n.op === 'qconv2d' ? n.outChannels : n.outFeatures;
      t[n.gate.thresholds ?? `${n.name}.threshold`] = Float32Array.from({ length: ch }, () => (r() - 0.5) * 0.2);
    }
  }
  return t;
}

function param(model: Model, name: string): Float32Array | Packed {
  const p = model.state().params.find(([k]) => k === name);
  if (!p) throw new Error(`no param ${name}`);
  const v = p[1];
  return ArrayBuffer.isView(v) ? v : new Packed(v.rows, v.cols, v.bits, v.data, v.planePop);
}

/** Activation codes of x as the 'quantize' op makes them: round_half_even(fr(clamp(x, 0, 1)·n)). */
function codesOf(x: Float32Array, bits: number): Uint8Array {
  const n = 2 ** bits - 1;
  return Uint8Array.from(x, (v) => roundHalfEven(fr(Math.min(1, Math.max(0, v)) * n)));
}

/**
 * Independent reference of one gated layer: rows x K lowered codes `lowered` (unsigned B-bit),
 * weights (out x K bipolar values at wBits), returns the int accumulators and the mask.
 */
function gatedRef(lowered: Int32Array, rows: number, k: number, wv: Int32Array, out: number, B: number, hb: number,
                  unit: number, thresholds: Float32Array, offset: number, mode: 'trained' | 'open' | 'closed') {
  const L = B - hb;
  const acc = new Int32Array(rows * out), mask = new Uint8Array(rows * out);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < out; j++) {
      let hi = 0, lo = 0;
      for (let t = 0; t < k; t++) {
        const p = lowered[i * k + t], v = wv[j * k + t];
        hi += (p >> L) * v;
        lo += (p & ((1 << L) - 1)) * v;
      }
      const ohb = hi * 2 ** L;
      const on = mode === 'open' || (mode === 'trained' && fr(fr(ohb) * unit) > fr(thresholds[j] + offset));
      acc[i * out + j] = on ? ohb + lo : ohb;
      mask[i * out + j] = on ? 1 : 0;
    }
  }
  return { acc, mask };
}

/** Lowered conv codes (rows = (n, oy, ox), K = (ky, kx, c)) from NHWC codes; padded taps are 0. */
function lowerConv(codes: Uint8Array, n: number, g: ConvCase) {
  const oh = Math.floor((g.h + 2 * g.pad[0] - g.k) / g.stride[0]) + 1, ow = Math.floor((g.w + 2 * g.pad[1] - g.k) / g.stride[1]) + 1;
  const k = g.k * g.k * g.c, rows = n * oh * ow;
  const out = new Int32Array(rows * k);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const r = (i * oh + y) * ow + x;
        for (let ky = 0; ky < g.k; ky++)
          for (let kx = 0; kx < g.k; kx++) {
            const iy = y * g.stride[0] + ky - g.pad[0], ix = x * g.stride[1] + kx - g.pad[1];
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            for (let c = 0; c < g.c; c++) out[r * k + (ky * g.k + kx) * g.c + c] = codes[((i * g.h + iy) * g.w + ix) * g.c + c];
          }
      }
  return { lowered: out, rows, k, oh, ow };
}

/** Weight values (bipolar, wBits of the stored 8-bit truncate codes) and the float unit. */
function weightValues(model: Model, layer: string, wBits: number) {
  const q = param(model, `${layer}.q8`) as Packed;
  const codes = kernels.unpack(q);
  const nw = 2 ** wBits - 1;
  const wv = Int32Array.from(codes, (c) => 2 * (c >> (8 - wBits)) - nw);
  const E = (param(model, `${layer}.scale`) as Float32Array)[0];
  return { wv, E, nw };
}

/** Float32 epilogue: y = fr(fr(fr(acc)·s_c) + t_c), then the activation, as the model output (float). */
function epilogue(acc: Int32Array, channels: number, scale: Float32Array, shift: Float32Array, act: Act, actBits: number): Float32Array {
  const out = new Float32Array(acc.length);
  const n = 2 ** actBits - 1;
  for (let i = 0; i < acc.length; i++) {
    const c = i % channels;
    let y = fr(fr(fr(acc[i]) * scale[c]) + shift[c]);
    if (act === 'relu') y = y < 0 ? 0 : y;
    if (act === 'quantize') y = fr(roundHalfEven(fr(Math.min(1, Math.max(0, y)) * n)) / n);
    out[i] = y;
  }
  return out;
}

/** NHWC [n, oh, ow, c] -> NCHW. */
function toNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
    out[((i * c + ch) * h + y) * w + xx] = x[((i * h + y) * w + xx) * c + ch];
  }
  return out;
}

interface Setup {
  model: Model; plain: Model; x: Tensor; n: number; B: number; hb: number; wBits: number; act: Act;
  /** The reference output and on-count for thresholds / offset / mode. */
  ref(thresholds: Float32Array, offset: number, mode: 'trained' | 'open' | 'closed'): { out: Float32Array; on: number; total: number; mask: Uint8Array };
  macsPerOutput: number;
}

function convSetup(B: number, hb: number, wBits: number, act: Act, seed: number, n = 3): Setup {
  const g = CONV;
  const gate = { bits: B, highBits: hb };
  const graph = convGraph(gate, act);
  const tensors = tensorsFor(graph, seed);
  const model = Model.build(graph, tensors);
  const plain = Model.build(convGraph(undefined, act), tensors);
  model.setPrecision({ weights: wBits, activations: B });
  plain.setPrecision({ weights: wBits, activations: B });
  const r = rng(seed);
  const nA = 2 ** B - 1;
  // Inputs on the code grid with some zeros; NHWC codes and the NCHW float input.
  const codesNhwc = Uint8Array.from({ length: n * g.h * g.w * g.c }, () => (r() < 0.2 ? 0 : Math.floor(r() * (nA + 1))));
  const xNhwc = Float32Array.from(codesNhwc, (p) => fr(p / nA));
  const x = new Tensor(toNchw(xNhwc, n, g.h, g.w, g.c), [n, g.c, g.h, g.w]);
  const codes = codesOf(xNhwc, B);
  const { lowered, rows, k, oh, ow } = lowerConv(codes, n, g);
  const { wv, E, nw } = weightValues(model, 'conv', wBits);
  const unit = fr(E / (nw * nA));
  const alpha = param(model, 'bn.shared.alpha') as Float32Array, beta = param(model, 'bn.shared.beta') as Float32Array;
  const scale = Float32Array.from(alpha, (a) => fr(unit * a)), shift = beta;
  return {
    model, plain, x, n, B, hb, wBits, act, macsPerOutput: k,
    ref(thresholds, offset, mode) {
      const { acc, mask } = gatedRef(lowered, rows, k, wv, g.out, B, hb, unit, thresholds, offset, mode);
      const y = epilogue(acc, g.out, scale, shift, act, B);
      return { out: toNchw(y, n, oh, ow, g.out), on: mask.reduce((a, v) => a + v, 0), total: mask.length, mask };
    },
  };
}

function linearSetup(B: number, hb: number, wBits: number, act: Act, seed: number, n = 29, inF = LIN.inF): Setup {
  const gate = { bits: B, highBits: hb };
  const graph = linearGraph(gate, act, undefined, inF);
  const tensors = tensorsFor(graph, seed);
  const model = Model.build(graph, tensors);
  const plain = Model.build(linearGraph(undefined, act, undefined, inF), tensors);
  model.setPrecision({ weights: wBits, activations: B });
  plain.setPrecision({ weights: wBits, activations: B });
  const r = rng(seed);
  const nA = 2 ** B - 1;
  const codes0 = Uint8Array.from({ length: n * inF }, () => (r() < 0.2 ? 0 : Math.floor(r() * (nA + 1))));
  const xf = Float32Array.from(codes0, (p) => fr(p / nA));
  const x = new Tensor(xf, [n, inF]);
  const lowered = Int32Array.from(codesOf(xf, B));
  const { wv, E, nw } = weightValues(model, 'fc', wBits);
  const unit = fr(E / (nw * nA));
  const bias = tensors['fc.bias'];
  const scale = new Float32Array(LIN.outF).fill(unit), shift = Float32Array.from(bias);
  return {
    model, plain, x, n, B, hb, wBits, act, macsPerOutput: inF,
    ref(thresholds, offset, mode) {
      const { acc, mask } = gatedRef(lowered, n, inF, wv, LIN.outF, B, hb, unit, thresholds, offset, mode);
      return { out: epilogue(acc, LIN.outF, scale, shift, act, B), on: mask.reduce((a, v) => a + v, 0), total: mask.length, mask };
    },
  };
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Thresholds near the middle of each channel's high-part outputs (both sides occur). */
function midThresholds(s: Setup, layer: string): Float32Array {
  const cal = s.model.calibrateGates(s.x, 0.5);
  return cal[layer].thresholds;
}

const CASES: Array<[string, (B: number, hb: number, w: number, act: Act, seed: number) => Setup, string]> = [
  ['qconv2d', convSetup, 'conv'],
  ['qlinear', linearSetup, 'fc'],
];

for (const [op, setup, layer] of CASES) {
  describe(`gated ${op}`, () => {
    const combos: Array<[number, number, number, Act]> = [[4, 2, 1, 'quantize'], [3, 1, 2, 'none'], [5, 3, 4, 'relu'], [8, 4, 8, 'quantize'], [2, 1, 3, 'quantize']];
    for (const [B, hb, wBits, act] of combos) {
      it(`equals the JS reference (high part, gate, low part) — B ${B}, Bhb ${hb}, w${wBits}, then ${act}`, () => {
        const s = setup(B, hb, wBits, act, 10 * B + hb + wBits);
        const thr = midThresholds(s, layer);
        expect(s.model.getGateThresholds(layer)).toEqual(thr);
        const r = rng(B * 7 + wBits);
        for (const offset of [0, (r() - 0.5) * 0.05, 0.01]) {
          const ref = s.ref(thr, offset, 'trained');
          const got = s.model.runSyncDetailed(s.x, { gateOffset: offset });
          expect({ offset, same: same(got.output.data, ref.out) }).toEqual({ offset, same: true });
          const g = got.stats.layers.find((l) => l.nodes[0] === layer)!.gate!;
          expect({ on: g.on, total: g.total }).toEqual({ on: ref.on, total: ref.total });
          if (offset === 0) {
            expect(ref.on).toBeGreaterThan(0);
            expect(ref.on).toBeLessThan(ref.total);
          }
        }
        // Every ISA gives the same outputs and on-counts.
        const isa0 = kernels.isa();
        try {
          const ref = s.ref(thr, 0, 'trained');
          for (const isa of kernels.availableIsas()) {
            kernels.setIsa(isa);
            const got = s.model.runSyncDetailed(s.x);
            expect({ isa, same: same(got.output.data, ref.out), on: got.stats.layers[0].gate!.on }).toEqual({ isa, same: true, on: ref.on });
          }
        } finally {
          kernels.setIsa(isa0);
        }
        // Per-channel thresholds of all kinds, ±Infinity included.
        const mixed = Float32Array.from(thr, (t, c) => (c % 5 === 0 ? -Infinity : c % 5 === 1 ? Infinity : t * (c % 2 ? 1.5 : 0.5)));
        s.model.setGateThresholds(layer, mixed);
        expect(same(s.model.runSync(s.x).data, s.ref(mixed, 0, 'trained').out)).toBe(true);
        // 'closed' = +∞, and the reference with every output off (high bits only).
        expect(same(s.model.runSync(s.x, { gate: 'closed' }).data, s.ref(mixed, 0, 'closed').out)).toBe(true);
      });
    }

    it('thresholds −∞ (and gate open, and a huge negative offset) equal the same model without the gate, bit for bit', () => {
      for (const [B, hb, wBits, act] of [[4, 2, 2, 'quantize'], [3, 2, 1, 'none'], [6, 3, 8, 'relu']] as Array<[number, number, number, Act]>) {
        const s = setup(B, hb, wBits, act, 500 + B);
        const dense = s.plain.runSync(s.x).data;
        s.model.setGateThresholds(layer, new Float32Array(s.model.getGateThresholds(layer).length).fill(-Infinity));
        const a = s.model.runSyncDetailed(s.x);
        expect(same(a.output.data, dense)).toBe(true);
        const g = a.stats.layers.find((l) => l.nodes[0] === layer)!.gate!;
        expect(g.on).toBe(g.total);
        expect(same(s.model.runSync(s.x, { gate: 'open' }).data, dense)).toBe(true);
        s.model.setGateThresholds(layer, new Float32Array(s.model.getGateThresholds(layer).length).fill(0.01));
        expect(same(s.model.runSync(s.x, { gateOffset: -1e30 }).data, dense)).toBe(true);
        // …and the reference agrees with the ungated model (the gate's split is exact).
        expect(same(s.ref(new Float32Array(g.total).fill(0), 0, 'open').out, dense)).toBe(true);
      }
    });

    it('thresholds +∞ (and gate closed, and a huge positive offset) give the high-bit-only result', () => {
      const s = setup(4, 2, 2, 'none', 77);
      const ch = s.model.getGateThresholds(layer).length;
      const high = s.ref(new Float32Array(ch), 0, 'closed');
      expect(high.on).toBe(0);
      s.model.setGateThresholds(layer, new Float32Array(ch).fill(Infinity));
      const a = s.model.runSyncDetailed(s.x);
      expect(same(a.output.data, high.out)).toBe(true);
      expect(a.stats.layers.find((l) => l.nodes[0] === layer)!.gate!.on).toBe(0);
      s.model.setGateThresholds(layer, new Float32Array(ch));
      expect(same(s.model.runSync(s.x, { gate: 'closed' }).data, high.out)).toBe(true);
      expect(same(s.model.runSync(s.x, { gateOffset: 1e30 }).data, high.out)).toBe(true);
      // The high-only result is not the dense one here.
      expect(same(high.out, s.plain.runSync(s.x).data)).toBe(false);
    });

    it('a larger offset never gates more outputs on', () => {
      const s = setup(4, 1, 2, 'quantize', 31);
      midThresholds(s, layer);
      let last = Infinity, distinct = new Set<number>();
      for (let off = -0.2; off <= 0.2; off += 0.01) {
        const st = s.model.runSyncDetailed(s.x, { gateOffset: off }).stats;
        const on = st.layers.find((l) => l.nodes[0] === layer)!.gate!.on;
        expect(on).toBeLessThanOrEqual(last);
        last = on;
        distinct.add(on);
      }
      expect(distinct.size).toBeGreaterThan(5);
    });

    it('stats: fraction, B_avg, bit-ops spent and dense, network summary — from the reference mask counts', () => {
      const s = setup(4, 2, 3, 'quantize', 41);
      const thr = midThresholds(s, layer);
      for (const offset of [0, 0.02, -0.02]) {
        const ref = s.ref(thr, offset, 'trained');
        const { stats } = s.model.runSyncDetailed(s.x, { gateOffset: offset });
        const l = stats.layers.find((x) => x.nodes[0] === layer)!;
        const K = s.macsPerOutput, w = 3, B = 4, hb = 2;
        const frac = ref.on / ref.total;
        expect(l.macs).toBe(K * ref.total);
        expect(l.gate).toEqual({
          on: ref.on, total: ref.total, fraction: frac, bits: B, highBits: hb,
          bAvg: hb + frac * (B - hb),
          bitOps: K * w * (ref.total * hb + ref.on * (B - hb)),
          denseBitOps: K * w * ref.total * B,
          // The route the gated kernel's high part took (measured on the layer's first call; same results).
          high: expect.stringMatching(/^(bitserial|int8|codes)$/),
          highReason: expect.stringMatching(/^measured: int8 [0-9.]+x(, codes [0-9.]+x)? the bit-serial time$/),
        });
        expect(l.bitOps).toBe(l.gate!.bitOps);
        expect(l.bitOps).toBeCloseTo(l.macs * w * l.gate!.bAvg, 6);
        expect(stats.gate).toEqual({
          layers: [layer], inactive: [], macs: l.macs, fraction: frac, bAvg: hb + frac * (B - hb),
          bitOps: l.gate!.bitOps, denseBitOps: l.gate!.denseBitOps,
        });
        expect(stats.bitOps).toBe(l.gate!.bitOps);
        expect(stats.denseBitOps).toBe(K * w * ref.total * B);
        // model.bitOps() is the dense count, the same as the ungated model's.
        expect(s.model.bitOps(s.n).bitOps).toBe(stats.denseBitOps);
        expect(s.model.bitOps(s.n)).toEqual(s.plain.bitOps(s.n));
      }
    });

    it('at another activation bit-width the layer runs dense (as without the gate) and is reported inactive', () => {
      const s = setup(4, 2, 2, 'quantize', 51);
      midThresholds(s, layer);
      for (const bits of [3, 8, { weights: 2, activations: 5 }, 32] as const) {
        const a = s.model.runSyncDetailed(s.x, { bits });
        const b = s.plain.runSync(s.x, { bits });
        expect({ bits, same: same(a.output.data, b.data) }).toEqual({ bits, same: true });
        expect(a.stats.gate).toMatchObject({ layers: [], inactive: [layer], macs: 0, fraction: 0, bitOps: 0 });
        expect(a.stats.layers.every((l) => l.gate === undefined)).toBe(true);
        expect(a.stats.bitOps).toBe(a.stats.denseBitOps);
      }
      // Per-layer precision works the same way.
      const q = s.model.runSyncDetailed(s.x, { layers: { q0: 3 } });
      expect(q.stats.gate!.inactive).toEqual([layer]);
      const back = s.model.runSyncDetailed(s.x);
      expect(back.stats.gate!.layers).toEqual([layer]);
    });
  });
}

describe('gated networks', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-gate-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function cnnSetup() {
    const graph = zoo.gatedCnn({ bits: 4, highBits: 2 });
    const model = Model.build(graph, zoo.randomTensors(graph, 7));
    model.setPrecision({ weights: 2, activations: 4 });
    const r = rng(8);
    const x = new Tensor(Float32Array.from({ length: 6 * 784 }, () => (r() < 0.5 ? 0 : r())), [6, 1, 28, 28]);
    return { graph, model, x };
  }

  it('zoo.gatedCnn: three gated layers, calibrated per-channel quantiles give about the asked fraction off', () => {
    const { model, x } = cnnSetup();
    expect(model.gatedLayers).toEqual(['conv1', 'conv2', 'fc0']);
    for (const off of [0.5, 0.9]) {
      const cal = model.calibrateGates(x, off);
      expect(Object.keys(cal).sort()).toEqual(['conv1', 'conv2', 'fc0']);
      for (const c of Object.values(cal)) expect(Math.abs(c.off - off)).toBeLessThan(0.1);
      // Calibration ran with every gate open, so only the first gated layer sees the same inputs as
      // a gated run: its on-fraction matches exactly.
      const { stats } = model.runSyncDetailed(x);
      const first = stats.layers.find((l) => l.nodes[0] === 'conv1')!.gate!;
      expect(1 - first.fraction).toBeCloseTo(cal.conv1.off, 12);
      expect(stats.gate!.layers).toEqual(['conv1', 'conv2', 'fc0']);
      const macs = stats.layers.filter((l) => l.gate);
      const mw = macs.reduce((a, l) => a + l.macs * l.gate!.fraction, 0) / macs.reduce((a, l) => a + l.macs, 0);
      expect(stats.gate!.fraction).toBeCloseTo(mw, 12);
      expect(stats.gate!.bAvg).toBeCloseTo(2 + mw * 2, 12);
      expect(stats.bitOps).toBeLessThan(stats.denseBitOps);
    }
    expect(model.calibrateGates(x, 0).conv1.thresholds.every((t) => t === -Infinity)).toBe(true);
    const plain = Model.build(zoo.cnn(), zoo.randomTensors(zoo.gatedCnn(), 7));
    expect(same(model.runSync(x, { gate: 'open' }).data, plain.runSync(x, { bits: { weights: 2, activations: 4 } }).data)).toBe(true);
  });

  it('zoo.gatedPreactResnet gates every quantised conv; offsets trade on-fraction for bit-ops', () => {
    const graph = zoo.gatedPreactResnet({ widths: [4, 8, 8], blocks: 1, inputSize: 8 });
    expect(graph.nodes.filter((n) => n.op === 'qconv2d').every((n) => n.op === 'qconv2d' && n.gate?.bits === 4)).toBe(true);
    const model = Model.build(graph, zoo.randomTensors(graph, 3));
    model.setPrecision({ weights: 2, activations: 4 });
    const r = rng(9);
    const x = new Tensor(Float32Array.from({ length: 4 * 3 * 64 }, () => r() * 2 - 1), [4, 3, 8, 8]);
    model.calibrateGates(x, 0.5);
    const f = (o: number) => model.runSyncDetailed(x, { gateOffset: o }).stats;
    const a = f(-0.05), b = f(0), c = f(0.05);
    expect(a.gate!.fraction).toBeGreaterThanOrEqual(b.gate!.fraction);
    expect(b.gate!.fraction).toBeGreaterThanOrEqual(c.gate!.fraction);
    expect(c.bitOps).toBeLessThanOrEqual(b.bitOps);
    expect(b.bitOps).toBeLessThanOrEqual(a.bitOps);
    expect(a.denseBitOps).toBe(model.bitOps(4).bitOps);
  });

  it('save / load round-trips the gate options and the thresholds set at run time', () => {
    const { graph, model, x } = cnnSetup();
    model.calibrateGates(x, 0.8);
    const thr = model.getGateThresholds('conv2').map((t, i) => (i === 3 ? Infinity : i === 4 ? -Infinity : t));
    model.setGateThresholds('conv2', thr);
    const file = path.join(tmp, 'gated.anyprec');
    model.saveSync(file);
    const back = loadSync(file);
    expect(back.graph.nodes.map((n) => ('gate' in n ? n.gate : undefined))).toEqual(graph.nodes.map((n) => ('gate' in n ? n.gate : undefined)));
    for (const l of model.gatedLayers) expect(back.getGateThresholds(l)).toEqual(model.getGateThresholds(l));
    back.setPrecision({ weights: 2, activations: 4 });
    for (const opts of [{}, { gateOffset: 0.05 }, { gate: 'closed' as const }]) {
      const a = model.runSyncDetailed(x, opts), b = back.runSyncDetailed(x, opts);
      expect(same(a.output.data, b.output.data)).toBe(true);
      expect(b.stats.gate).toEqual(a.stats.gate);
    }
    // A named threshold tensor (gate.thresholds) is read from that name at build time.
    const g2: GraphSpec = { ...graph, nodes: graph.nodes.map((n) => (n.name === 'conv1' && n.op === 'qconv2d' ? { ...n, gate: { bits: 4, highBits: 2, thresholds: 'custom.delta' } } : n)) };
    const t2 = zoo.randomTensors(graph, 7);
    delete t2['conv1.threshold'];
    t2['custom.delta'] = new Float32Array(64).fill(0.125);
    const m2 = Model.build(g2, t2);
    expect(m2.getGateThresholds('conv1')).toEqual(new Float32Array(64).fill(0.125));
    const f2 = path.join(tmp, 'named.anyprec');
    m2.saveSync(f2);
    expect(loadSync(f2).getGateThresholds('conv1')).toEqual(new Float32Array(64).fill(0.125));
  });

  it('run() on a worker thread uses thresholds set on the calling thread, before and after the pool starts', async () => {
    const { model, x } = cnnSetup();
    try {
      model.calibrateGates(x, 0.5);
      const a = await model.runDetailed(x);
      expect(a.stats.gate).toEqual(model.runSyncDetailed(x).stats.gate);
      model.calibrateGates(x, 0.9);
      const b = await model.runDetailed(x);
      const s = model.runSyncDetailed(x);
      expect(same(b.output.data, s.output.data)).toBe(true);
      expect(b.stats.gate).toEqual(s.stats.gate);
      expect(b.stats.gate!.fraction).toBeLessThan(a.stats.gate!.fraction);
    } finally {
      await model.close();
    }
  });

  it('thresholds past float32\'s exact integers (huge K·levels) still gate exactly (the select fallback)', () => {
    // B 8, Bhb 7, 8-bit weights, K 600: |acc_hb| <= 127·255·600 > 2^24, so a threshold near
    // 2^24 high-part steps has no exact float32 kernel threshold.
    const s = linearSetup(8, 7, 8, 'none', 99, 5, 600);
    const unit = fr(fr((param(s.model, 'fc.scale') as Float32Array)[0] / (255 * 255)));
    const T = 2 ** 24 + 3;
    const big = new Float32Array(LIN.outF).fill(0);
    big[0] = fr(T * 2 * unit);
    big[1] = -fr(T * 2 * unit);
    expect(kernelGateThresholds(gateIntThresholds(big, 0, unit, 1, 127 * 255 * 600), 1, 127 * 255 * 600)).toBeNull();
    s.model.setGateThresholds('fc', big);
    const ref = s.ref(big, 0, 'trained');
    const got = s.model.runSyncDetailed(s.x);
    expect(same(got.output.data, ref.out)).toBe(true);
    expect(got.stats.layers[0].gate!.on).toBe(ref.on);
    expect(ref.on).toBeGreaterThan(0);
    expect(ref.on).toBeLessThan(ref.total);
  });

  it('the kernel threshold conversion is exact: acc_hb >= T iff the float32 gate holds', () => {
    const r = rng(12);
    for (let trial = 0; trial < 30; trial++) {
      const unit = fr(r() * 1e-3 + 1e-7), low = 1 + Math.floor(r() * 3), bound = 500;
      const th = Float32Array.from({ length: 6 }, () => (r() - 0.5) * bound * unit * 2 ** low * 2.2);
      th[0] = -Infinity;
      th[1] = Infinity;
      th[2] = fr(17 * 2 ** low * unit);
      const offset = trial % 2 ? 0 : (r() - 0.5) * unit * 50;
      const T = gateIntThresholds(th, offset, unit, low, bound);
      const t = kernelGateThresholds(T, low, bound)!;
      let bad = 0;
      for (let c = 0; c < th.length; c++) {
        for (let acc = -bound; acc <= bound; acc++) {
          const on = fr(fr(acc * 2 ** low) * unit) > fr(th[c] + offset);
          if ((acc >= T[c]) !== on) bad++;
          if ((acc * 2 ** low > Math.floor(t[c])) !== on) bad++; // the kernel's test
        }
      }
      expect({ trial, bad }).toEqual({ trial, bad: 0 });
    }
  });
});

describe('bad gate options are rejected, naming them', () => {
  const base = () => convGraph({ bits: 4, highBits: 2 }, 'quantize');
  const withGate = (gate: unknown, op?: string): GraphSpec => {
    const g = base();
    g.nodes = g.nodes.map((n) => (n.name === 'conv' ? { ...n, gate } : n)) as NodeSpec[];
    if (op) g.nodes = g.nodes.map((n) => (n.name === 'bn' ? { ...n, gate } : n)) as NodeSpec[];
    return g;
  };
  const expectErr = (fn: () => unknown, name: string, msg: RegExp) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(msg);
  };

  it('graph validation: gate object, bits, highBits, thresholds, unknown keys, ops without gates', () => {
    expectErr(() => validateGraph(withGate(5)), 'TypeError', /nodes\[1\] \(conv\)\.gate must be an object/);
    expectErr(() => validateGraph(withGate(null)), 'TypeError', /conv\)\.gate must be an object/);
    expectErr(() => validateGraph(withGate({ highBits: 1 })), 'TypeError', /conv\)\.gate\.bits must be a number/);
    expectErr(() => validateGraph(withGate({ bits: '4', highBits: 1 })), 'TypeError', /gate\.bits must be a number/);
    expectErr(() => validateGraph(withGate({ bits: 1, highBits: 1 })), 'RangeError', /gate\.bits must be an integer in 2\.\.8, got 1/);
    expectErr(() => validateGraph(withGate({ bits: 9, highBits: 1 })), 'RangeError', /gate\.bits must be an integer in 2\.\.8/);
    expectErr(() => validateGraph(withGate({ bits: 3.5, highBits: 1 })), 'RangeError', /gate\.bits/);
    expectErr(() => validateGraph(withGate({ bits: 7, highBits: 1 })), 'RangeError', /gate\.bits 7 must be one of the graph's bit-widths/);
    expectErr(() => validateGraph(withGate({ bits: 4 })), 'TypeError', /gate\.highBits must be a number/);
    expectErr(() => validateGraph(withGate({ bits: 4, highBits: 4 })), 'RangeError', /gate\.highBits must be an integer in 1\.\.3/);
    expectErr(() => validateGraph(withGate({ bits: 4, highBits: 0 })), 'RangeError', /gate\.highBits/);
    expectErr(() => validateGraph(withGate({ bits: 4, highBits: 2, thresholds: 3 })), 'TypeError', /gate\.thresholds must be the name of a tensor/);
    expectErr(() => validateGraph(withGate({ bits: 4, highBits: 2, thresholds: '' })), 'TypeError', /gate\.thresholds/);
    expectErr(() => validateGraph(withGate({ bits: 4, highBits: 2, offset: 1 })), 'RangeError', /gate\.offset is not a gate option/);
    expectErr(() => validateGraph(withGate({ bits: 4, highBits: 2 }, 'bn')), 'RangeError', /\(bn\)\.gate: only qconv2d and qlinear/);
    const conv2d = base();
    conv2d.nodes[1] = { ...conv2d.nodes[1], op: 'conv2d', bias: false } as NodeSpec;
    expectErr(() => validateGraph(conv2d), 'RangeError', /\(conv\)\.gate: only qconv2d and qlinear/);
    const lin = linearGraph({ bits: 4, highBits: 5 }, 'none');
    expectErr(() => validateGraph(lin), 'RangeError', /nodes\[1\] \(fc\)\.gate\.highBits/);
  });

  it('Model.build: missing, mis-sized and NaN threshold tensors', () => {
    const g = base();
    const t = tensorsFor(g, 1);
    const missing = { ...t };
    delete missing['conv.threshold'];
    expectErr(() => Model.build(g, missing), 'RangeError', /missing tensor 'conv\.threshold'/);
    expectErr(() => Model.build(g, { ...t, 'conv.threshold': new Float32Array(3) }), 'RangeError', /'conv\.threshold' must hold 13 values/);
    const nan = new Float32Array(13);
    nan[4] = NaN;
    expectErr(() => Model.build(g, { ...t, 'conv.threshold': nan }), 'RangeError', /thresholds of conv.*\[4\] is NaN/);
  });

  it('setGateThresholds / getGateThresholds / calibrateGates arguments', () => {
    const g = base();
    const m = Model.build(g, tensorsFor(g, 1));
    expectErr(() => m.setGateThresholds('bn', new Float32Array(13)), 'RangeError', /layer must be a precision-gated layer of this model \(conv\), got "bn"/);
    expectErr(() => m.setGateThresholds('nope', new Float32Array(13)), 'RangeError', /layer must be a precision-gated layer/);
    expectErr(() => m.setGateThresholds(3 as unknown as string, new Float32Array(13)), 'TypeError', /layer must be the name of a gated layer/);
    expectErr(() => m.getGateThresholds('q0'), 'RangeError', /layer must be a precision-gated layer/);
    expectErr(() => m.setGateThresholds('conv', [1, 2] as unknown as Float32Array), 'TypeError', /thresholds must be a Float32Array/);
    expectErr(() => m.setGateThresholds('conv', new Float64Array(13) as unknown as Float32Array), 'TypeError', /thresholds must be a Float32Array/);
    expectErr(() => m.setGateThresholds('conv', new Float32Array(12)), 'RangeError', /thresholds must hold one value per output channel of conv \(13\), got 12/);
    const nan = new Float32Array(13);
    nan[12] = NaN;
    expectErr(() => m.setGateThresholds('conv', nan), 'RangeError', /thresholds\[12\] is NaN/);
    const x = Tensor.zeros([1, CONV.c, CONV.h, CONV.w]);
    expectErr(() => m.calibrateGates(x, 1), 'RangeError', /off must be a fraction in \[0, 1\), got 1/);
    expectErr(() => m.calibrateGates(x, -0.1), 'RangeError', /off must be a fraction/);
    expectErr(() => m.calibrateGates(x, '0.5' as unknown as number), 'TypeError', /off must be a number/);
    expectErr(() => m.calibrateGates(x, 0.5, { bits: 3 }), 'RangeError', /calibrateGates: the gates of conv did not act/);
    expectErr(() => m.runSync(x, { gate: 'half' as 'open' }), 'RangeError', /gate must be 'trained', 'open' or 'closed'/);
    expectErr(() => m.runSync(x, { gateOffset: NaN }), 'RangeError', /gateOffset must be a finite number/);
    expectErr(() => m.runSync(x, { gateOffset: '1' as unknown as number }), 'TypeError', /gateOffset must be a number/);
    expectErr(() => m.runSync(x, { gate: 1 as unknown as 'open' }), 'TypeError', /gate must be 'trained', 'open' or 'closed'/);
    // A rejected set leaves the thresholds as they were.
    expect(m.getGateThresholds('conv')).toEqual(tensorsFor(g, 1)['conv.threshold']);
  });
});

// The stats types are part of the public surface.
export type _Stats = RunStats;
