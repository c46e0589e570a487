// Quantize nodes with a clip per bit-width (`clip: true`, PACT) and a 1-bit sign (`oneBit: 'sign'`),
// graph version 3. The runtime against an independent float64 reference of the documented
// semantics on a small graph that puts such a quantiser in every place a plan runs one: a plain
// step on the input, a quantised conv's and a quantised linear layer's codes epilogue, after a
// max pool (codes passed on), a residual sum's codes, a float conv's epilogue, a batch norm +
// quantize step, and the float clamps at 32 bits; read by quantised layers, a float conv, a
// global pool and a float linear layer. Each quantiser's codes exactly (the model's output set to
// it), the logits within float tolerance, on the JS steps and the native program, at batch 1 and 3.
// Then the format: save / load, and what validation refuses.
import { describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { deserializeModel, loadSync, Model, readSafetensors, Tensor, validateGraph, writeSafetensors } from '../lib';
import type { GraphSpec, NodeSpec, RunOptions } from '../lib';
import { roundHalfEven } from '../lib/core/quantize';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

// bound once (CONTRIBUTING.md: hot loops under jest)
const { abs, floor, fround, max, min, round, sin, sqrt, tanh } = Math;

const P = (v: number): [number, number] => [v, v];
const BITS = [1, 2, 8, 32];
const W_BITS = 2;
const C = 2, H = 6, W = 6;

type QuantizeOption = { clip: true } | { oneBit: 'sign' } | Record<string, never>;

/** The test graph; every quantize node gets `option`. */
function graphWith(option: QuantizeOption): GraphSpec {
  const q = (name: string, input: string): NodeSpec => ({ name, op: 'quantize', inputs: [input], ...option }) as NodeSpec;
  const bn = (name: string, input: string, channels: number): NodeSpec => ({ name, op: 'batchnorm', inputs: [input], channels, eps: 1e-5, switchable: true });
  const conv = (name: string, op: 'conv2d' | 'qconv2d', input: string, inC: number, outC: number, k: number, extra: object = {}): NodeSpec =>
    ({ name, op, inputs: [input], inChannels: inC, outChannels: outC, kernel: P(k), stride: P(1), padding: P(k >> 1), dilation: P(1), ...extra }) as NodeSpec;
  return {
    format: Object.keys(option).length ? 'anyprec-graph/3' : 'anyprec-graph/1', inputShape: [C, H, W], bitList: BITS, weightMode: 'requant',
    nodes: [
      q('q0', 'input'),                                         // plain step on the input
      conv('conv1', 'qconv2d', 'q0', C, 4, 3),                  // codes in (scaled), codes out:
      bn('bn1', 'conv1', 4), q('q1', 'bn1'),                     //   the layer's fused epilogue
      { name: 'pool1', op: 'maxpool2d', inputs: ['q1'], kernel: P(2), stride: P(2), padding: P(0) },
      conv('sc', 'conv2d', 'pool1', 4, 4, 1, { bias: true }),   // a float conv reading scaled codes
      conv('conv2', 'qconv2d', 'pool1', 4, 4, 3),               // codes through the pool
      { name: 'add2', op: 'add', inputs: ['conv2', 'sc'] },     // residual add in conv2's epilogue,
      bn('bn3', 'add2', 4), q('q3', 'bn3'),                      //   the sum's codes beside it
      conv('conv3', 'conv2d', 'q3', 4, 4, 3, { bias: true }),   // float conv + bn + quantize
      bn('bn4', 'conv3', 4), q('q4', 'bn4'),
      { name: 'gap', op: 'globalavgpool', inputs: ['q4'] },
      bn('bn5', 'gap', 4), q('q5', 'bn5'),                       // batch norm + quantize step
      { name: 'fc', op: 'qlinear', inputs: ['q5'], inFeatures: 4, outFeatures: 6, bias: true },
      bn('bn6', 'fc', 6), q('q6', 'bn6'),                        // quantised linear's codes epilogue
      { name: 'head', op: 'linear', inputs: ['q6'], inFeatures: 6, outFeatures: 5, bias: true },
    ],
  };
}
const QUANTIZERS = ['q0', 'q1', 'q3', 'q4', 'q5', 'q6'];

/** Hand-set clips: below and above 1, different per node and width. */
const ALPHA: Record<string, Record<number, number>> = {
  q0: { 1: 1.5, 2: 2.25, 8: 0.8, 32: 1.75 },
  q1: { 1: 0.7, 2: 1.3, 8: 2.1, 32: 0.9 },
  q3: { 1: 1.1, 2: 0.6, 8: 1.7, 32: 1.4 },
  q4: { 1: 2.4, 2: 1.9, 8: 0.55, 32: 0.85 },
  q5: { 1: 0.9, 2: 1.6, 8: 1.2, 32: 0.65 },
  q6: { 1: 1.35, 2: 0.75, 8: 2.6, 32: 1.05 },
};

/** Float tensors (Model.build's input) for the graph; the clips when `clips`. */
function tensorsFor(g: GraphSpec, seed: number, clips: boolean): Record<string, Float32Array> {
  const r = rng(seed);
  const fill = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const t: Record<string, Float32Array> = {};
  for (const n of g.nodes) {
    if (n.op === 'conv2d' || n.op === 'qconv2d') {
      const k = n.inChannels * n.kernel[0] * n.kernel[1];
      t[`${n.name}.weight`] = fill(n.outChannels * k, -1.2 / sqrt(k), 1.2 / sqrt(k));
      if (n.op === 'conv2d' && n.bias) t[`${n.name}.bias`] = fill(n.outChannels, -0.1, 0.3);
    } else if (n.op === 'linear' || n.op === 'qlinear') {
      t[`${n.name}.weight`] = fill(n.outFeatures * n.inFeatures, -1, 1);
      if (n.bias) t[`${n.name}.bias`] = fill(n.outFeatures, -0.2, 0.2);
    } else if (n.op === 'batchnorm') {
      for (const b of BITS) {
        t[`${n.name}.${b}.weight`] = fill(n.channels, 0.5, 1.5);
        t[`${n.name}.${b}.bias`] = fill(n.channels, 0.2, 0.9);
        t[`${n.name}.${b}.running_mean`] = fill(n.channels, -0.2, 0.2);
        t[`${n.name}.${b}.running_var`] = fill(n.channels, 0.5, 1.5);
      }
    } else if (n.op === 'quantize' && clips) {
      for (const b of BITS) t[`${n.name}.${b}.alpha`] = Float32Array.of(ALPHA[n.name][b]);
    }
  }
  return t;
}

// ---- the reference: float64, NCHW, one sample at a time, from the float tensors ----

/** One sample: [c, h, w] (a vector: h = w = 1). */
interface Img { d: Float64Array; c: number; h: number; w: number }
/**
 * A quantiser's output: values, codes (float outputs: none), and the least distance of a code's
 * pre-rounding value from a rounding tie (in code steps), or of a sign's input from 0.
 */
interface QOut { x: Img; codes?: number[]; margin: number }

function conv2d(x: Img, w: ArrayLike<number>, outC: number, k: number, bias?: ArrayLike<number>): Img {
  const pad = k >> 1, out = new Float64Array(outC * x.h * x.w);
  for (let o = 0; o < outC; o++)
    for (let y = 0; y < x.h; y++)
      for (let xx = 0; xx < x.w; xx++) {
        let s = bias ? bias[o] : 0;
        for (let c = 0; c < x.c; c++)
          for (let ky = 0; ky < k; ky++)
            for (let kx = 0; kx < k; kx++) {
              const iy = y + ky - pad, ix = xx + kx - pad;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              s += w[((o * x.c + c) * k + ky) * k + kx] * x.d[(c * x.h + iy) * x.w + ix];
            }
        out[(o * x.h + y) * x.w + xx] = s;
      }
  return { d: out, c: outC, h: x.h, w: x.w };
}

/** Quantised weights at `bits` (model-format.md): E = mean|w|, u = tanh(w)/(2·max|tanh w|) + 1/2, q = round(n·u), value E·(2q − n)/n. */
function quantWeights(w: Float32Array, bits: number): number[] {
  const n = 2 ** bits - 1;
  let e = 0, m = 0;
  for (const v of w) { e += abs(v); m = max(m, abs(tanh(v))); }
  e /= w.length;
  return Array.from(w, (v) => (e * (2 * roundHalfEven((tanh(v) / (2 * m) + 0.5) * n) - n)) / n);
}

function batchnorm(x: Img, t: Record<string, Float32Array>, name: string, bits: number): Img {
  const p = (k: string) => t[`${name}.${bits}.${k}`];
  const out = new Float64Array(x.d.length), hw = x.h * x.w;
  for (let i = 0; i < out.length; i++) {
    const c = floor(i / hw);
    out[i] = ((x.d[i] - p('running_mean')[c]) / sqrt(p('running_var')[c] + 1e-5)) * p('weight')[c] + p('bias')[c];
  }
  return { ...x, d: out };
}

/** The documented quantiser: clip α (or none) / sign at 1 bit / DoReFa; ReLU or clamp to α at 32. */
function quantize(x: Img, bits: number, alpha: number | undefined, sign: boolean): QOut {
  if (sign && bits === 1) {
    return { x: { ...x, d: x.d.map((v) => (v >= 0 ? 1 : -1)) }, codes: Array.from(x.d, (v) => (v >= 0 ? 1 : 0)), margin: min(...Array.from(x.d, abs)) };
  }
  if (bits === 32) return { x: { ...x, d: x.d.map((v) => min(max(v, 0), alpha ?? Infinity)) }, margin: Infinity };
  const n = 2 ** bits - 1, a = alpha ?? 1;
  let margin = Infinity;
  const codes = Array.from(x.d, (v) => {
    const c = min(max(v / a, 0), 1) * n;
    if (c > 0 && c < n) margin = min(margin, abs(c - floor(c) - 0.5));
    return roundHalfEven(c);
  });
  return { x: { ...x, d: Float64Array.from(codes, (q) => (q / n) * a) }, codes, margin };
}

function maxpool2(x: Img): Img {
  const h = x.h >> 1, w = x.w >> 1, out = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        let m = -Infinity;
        for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) m = max(m, x.d[(c * x.h + 2 * y + dy) * x.w + 2 * xx + dx]);
        out[(c * h + y) * w + xx] = m;
      }
  return { d: out, c: x.c, h, w };
}

function linear(x: Img, w: ArrayLike<number>, outF: number, bias: Float32Array): Img {
  const inF = x.d.length, out = new Float64Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = bias[o];
    for (let i = 0; i < inF; i++) s += w[o * inF + i] * x.d[i];
    out[o] = s;
  }
  return { d: out, c: outF, h: 1, w: 1 };
}

/** The reference run of one sample: the logits, every quantiser's output, and the least tie margin. */
function reference(t: Record<string, Float32Array>, sample: Float32Array, bits: number, clips: boolean, sign: boolean) {
  const qs: Record<string, QOut> = {};
  const q = (name: string, x: Img): Img => (qs[name] = quantize(x, bits, clips ? ALPHA[name][bits] : undefined, sign)).x;
  const qw = (name: string) => quantWeights(t[`${name}.weight`], W_BITS);
  const x0: Img = { d: Float64Array.from(sample), c: C, h: H, w: W };
  const a0 = q('q0', x0);
  const a1 = q('q1', batchnorm(conv2d(a0, qw('conv1'), 4, 3), t, 'bn1', bits));
  const p1 = maxpool2(a1);
  const sc = conv2d(p1, t['sc.weight'], 4, 1, t['sc.bias']);
  const c2 = conv2d(p1, qw('conv2'), 4, 3);
  const sum: Img = { ...c2, d: c2.d.map((v, i) => v + sc.d[i]) };
  const a3 = q('q3', batchnorm(sum, t, 'bn3', bits));
  const a4 = q('q4', batchnorm(conv2d(a3, t['conv3.weight'], 4, 3, t['conv3.bias']), t, 'bn4', bits));
  const gap: Img = { d: Float64Array.from({ length: 4 }, (_, c) => a4.d.subarray(c * 9, c * 9 + 9).reduce((s, v) => s + v, 0) / 9), c: 4, h: 1, w: 1 };
  const a5 = q('q5', batchnorm(gap, t, 'bn5', bits));
  const a6 = q('q6', batchnorm(linear(a5, quantWeights(t['fc.weight'], W_BITS), 6, t['fc.bias']), t, 'bn6', bits));
  const logits = linear(a6, t['head.weight'], 5, t['head.bias']);
  return { logits: logits.d, qs, margin: min(...Object.values(qs).map((o) => o.margin)) };
}

/**
 * The data keep every pre-rounding value (in code steps; a sign's input) at least 1e-5·(2^b − 1)
 * away from a tie: float32 rounding (~1e-6 relative) cannot flip a code, so the codes must match.
 */
function expectNoTies(refs: Array<{ margin: number }>, bits: number): void {
  if (bits !== 32) expect(min(...refs.map((r) => r.margin))).toBeGreaterThan(1e-5 * (2 ** bits - 1));
}

/** The codes of a runtime quantiser output (its values q/(2^b − 1)·α, or ±1 for signs), NCHW order. */
function runtimeCodes(v: Float32Array, bits: number, alpha: number, sign: boolean): number[] {
  if (sign && bits === 1) return Array.from(v, (x) => (x === 1 ? 1 : x === -1 ? 0 : NaN));
  const n = 2 ** bits - 1;
  return Array.from(v, (x) => {
    const q = round((x / alpha) * n);
    // the value is exactly the code's: fr(fr(q/n)·α)
    return fround(fround(q / n) * alpha) === x ? q : NaN;
  });
}

describe('quantize with a clip per bit-width (clip: true) against the float64 reference', () => {
  const g = graphWith({ clip: true });
  const t = tensorsFor(g, 11, true);
  const model = Model.build(g, t);
  const input = (n: number) => Float32Array.from({ length: n * C * H * W }, (_, i) => fround(-1 + 4 * ((i * 0.6180339887) % 1)));

  it('every width lowers to one native program (the clips fused, nothing left to the JS steps)', () => {
    for (const b of BITS) expect(model.runsNatively({ bits: { weights: W_BITS, activations: b } })).toBe(true);
  });

  for (const bits of BITS) {
    for (const n of [1, 3]) {
      it(`${bits}-bit activations, batch ${n}: every quantiser's codes exact, logits within 1e-4, JS steps and native program`, () => {
        const x = input(n), per = C * H * W;
        const refs = Array.from({ length: n }, (_, i) => reference(t, x.subarray(i * per, (i + 1) * per), bits, true, false));
        // the data keep every pre-rounding value away from a tie, so float32 rounding cannot flip a code
        expectNoTies(refs, bits);
        const opts: RunOptions = { bits: { weights: W_BITS, activations: bits } };
        const xt = new Tensor(x, [n, C, H, W]);
        const detailed = model.runSyncDetailed(xt, opts);
        // below 32 bits the quantised layers take the clipped codes as codes (a GEMM route), not as floats
        for (const l of detailed.stats.layers.filter((s) => s.op === 'qconv2d' || s.op === 'qlinear')) expect(l.route !== undefined).toBe(bits !== 32);
        const paths = { js: detailed.output.data, native: model.runSync(xt, opts).data };
        for (const out of Object.values(paths)) {
          let scale = 1, worst = 0;
          refs.forEach((r, i) => r.logits.forEach((v, j) => { scale = max(scale, abs(v)); worst = max(worst, abs(v - out[i * 5 + j])); }));
          expect(worst).toBeLessThanOrEqual(1e-4 * scale);
        }
        for (const name of QUANTIZERS) {
          if (bits === 32) {
            // float outputs, clamped to [0, α_32]: the values, some of them at α_32 exactly
            const m = Model.build({ ...g, output: name }, t);
            const want = refs.flatMap((r) => Array.from(r.qs[name].x.d));
            const alpha = fround(ALPHA[name][32]);
            for (const out of [m.runSyncDetailed(xt, opts).output.data, m.runSync(xt, opts).data]) {
              out.forEach((v, i) => expect(abs(v - want[i])).toBeLessThanOrEqual(1e-5 * max(1, abs(want[i]))));
              expect(max(...out)).toBeLessThanOrEqual(alpha);
              // the data make every clamp bite
              expect(want.some((v) => v === ALPHA[name][32])).toBe(true);
              expect(out.some((v) => v === alpha)).toBe(true);
            }
            continue;
          }
          const m = Model.build({ ...g, output: name }, t);
          const alpha = fround(ALPHA[name][bits]);
          const want = refs.flatMap((r) => r.qs[name].codes!);
          expect(runtimeCodes(m.runSyncDetailed(xt, opts).output.data, bits, alpha, false)).toEqual(want);
          expect(runtimeCodes(m.runSync(xt, opts).data, bits, alpha, false)).toEqual(want);
        }
      });
    }
  }

  it('every clip 1: below 32 bits the plain quantiser, bit for bit (the same codes, the same accumulator unit)', () => {
    const plain = graphWith({});
    const tp = tensorsFor(plain, 11, false);
    const ones = { ...tp };
    for (const name of QUANTIZERS) for (const b of BITS) ones[`${name}.${b}.alpha`] = Float32Array.of(1);
    const clipped = Model.build(g, ones), ref = Model.build(plain, tp);
    const xt = new Tensor(input(3), [3, C, H, W]);
    for (const b of [1, 2, 8]) {
      const opts: RunOptions = { bits: { weights: W_BITS, activations: b } };
      expect(Array.from(clipped.runSync(xt, opts).data)).toEqual(Array.from(ref.runSync(xt, opts).data));
      expect(Array.from(clipped.runSyncDetailed(xt, opts).output.data)).toEqual(Array.from(ref.runSyncDetailed(xt, opts).output.data));
    }
  });

  it('the bit-op count is the plain quantiser\'s (a clip changes no widths)', () => {
    const plain = Model.build(graphWith({}), tensorsFor(graphWith({}), 11, false));
    for (const b of BITS) {
      const opts = { bits: { weights: W_BITS, activations: b } };
      expect(model.bitOps(1, opts)).toEqual(plain.bitOps(1, opts));
    }
  });
});

describe("quantize with oneBit: 'sign' against the float64 reference", () => {
  const g = graphWith({ oneBit: 'sign' });
  const t = tensorsFor(g, 12, false);
  const model = Model.build(g, t);
  const input = (n: number) => Float32Array.from({ length: n * C * H * W }, (_, i) => fround(-1.5 + 3 * ((i * 0.7548776662) % 1)));

  for (const bits of [1, 2, 32]) {
    for (const n of [1, 3]) {
      it(`${bits}-bit activations, batch ${n}: ${bits === 1 ? 'signs (bipolar codes)' : 'as without the option'}; codes exact, logits within 1e-4`, () => {
        const x = input(n), per = C * H * W;
        const refs = Array.from({ length: n }, (_, i) => reference(t, x.subarray(i * per, (i + 1) * per), bits, false, true));
        expectNoTies(refs, bits);
        const opts: RunOptions = { bits: { weights: W_BITS, activations: bits } };
        // signs run as JS steps (no native op makes bipolar codes); the other widths natively
        expect(model.runsNatively(opts)).toBe(bits !== 1);
        const xt = new Tensor(x, [n, C, H, W]);
        for (const out of [model.runSyncDetailed(xt, opts).output.data, model.runSync(xt, opts).data]) {
          let scale = 1, worst = 0;
          refs.forEach((r, i) => r.logits.forEach((v, j) => { scale = max(scale, abs(v)); worst = max(worst, abs(v - out[i * 5 + j])); }));
          expect(worst).toBeLessThanOrEqual(1e-4 * scale);
        }
        if (bits === 32) return;
        for (const name of QUANTIZERS) {
          const m = Model.build({ ...g, output: name }, t);
          const want = refs.flatMap((r) => r.qs[name].codes!);
          expect(runtimeCodes(m.runSync(xt, opts).data, bits, 1, true)).toEqual(want);
        }
      });
    }
  }

  it('a 1-bit layer reading signs counts 1-bit activations in its bit-ops', () => {
    const { layers } = model.bitOps(1, { bits: { weights: W_BITS, activations: 1 } });
    for (const l of layers.filter((s) => s.op === 'qconv2d' || s.op === 'qlinear')) expect(l.activationBits).toBe(1);
  });
});

describe('the format: save / load and what is refused', () => {
  const g = graphWith({ clip: true });
  const t = tensorsFor(g, 11, true);
  const x = new Tensor(Float32Array.from({ length: 3 * C * H * W }, (_, i) => fround(sin(i * 0.37) * 1.5)), [3, C, H, W]);

  it('a graph with clip and one with oneBit round-trip through a model file: the same graph, the same outputs at every width', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-clip-'));
    for (const [graph, tensors] of [[g, t], [graphWith({ oneBit: 'sign' }), tensorsFor(g, 11, false)]] as const) {
      const m = Model.build(graph, tensors);
      const file = path.join(dir, 'm.anyprec');
      m.saveSync(file);
      for (const back of [loadSync(file), deserializeModel(m.serialize())]) {
        expect(back.graph).toEqual(graph);
        for (const b of BITS) {
          const opts = { bits: { weights: W_BITS, activations: b } };
          expect(Array.from(back.runSync(x, opts).data)).toEqual(Array.from(m.runSync(x, opts).data));
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const node = (edit: Record<string, unknown>, format: string = 'anyprec-graph/3'): GraphSpec =>
    ({ ...g, format, nodes: g.nodes.map((n) => (n.name === 'q1' ? { ...n, ...edit } : n)) }) as GraphSpec;
  it.each([
    ['clip not a boolean', node({ clip: 1 }), 'TypeError', /graph.nodes\[3\] \(q1\).clip must be a boolean .*got number 1/],
    ['oneBit not a string', node({ clip: undefined, oneBit: true }), 'TypeError', /\(q1\).oneBit must be the string 'sign' \(or absent\), got boolean true/],
    ['oneBit an unknown kind', node({ clip: undefined, oneBit: 'tanh' }), 'RangeError', /\(q1\).oneBit must be 'sign' \(or absent\), got "tanh"/],
    ['clip and oneBit together', node({ oneBit: 'sign' }), 'RangeError', /\(q1\): clip and oneBit cannot be combined/],
    ['clip in a version-2 graph', node({}, 'anyprec-graph/2'), 'RangeError', /\(q0\).clip needs graph.format 'anyprec-graph\/3' \(version 1 and 2 readers would ignore it\)/],
    ['oneBit in a version-1 graph', { ...graphWith({ oneBit: 'sign' }), format: 'anyprec-graph/1' }, 'RangeError', /\(q0\).oneBit needs graph.format 'anyprec-graph\/3'/],
  ])('validateGraph refuses %s', (_what, graph, name, message) => {
    expect(thrown(() => validateGraph(graph))).toMatchObject({ name, message: expect.stringMatching(message) });
  });

  const without = (name: string) => Object.fromEntries(Object.entries(t).filter(([k]) => k !== name));
  it.each([
    ['missing', without('q3.8.alpha'), /missing tensor 'q3.8.alpha' \(the clip α of quantize q3 at 8 bits, its field clip: true: one per bit-width of bitList\)/],
    ['of two values', { ...t, 'q3.8.alpha': Float32Array.of(1, 2) }, /tensor 'q3.8.alpha' \(the clip α of quantize q3 at 8 bits, its field clip: true\) must hold 1 value, got 2/],
    ['zero', { ...t, 'q3.8.alpha': Float32Array.of(0) }, /parameter 'q3.8.alpha' \(the clip α of quantize q3 at 8 bits, its field clip: true\) must be a finite number > 0, got 0/],
    ['negative', { ...t, 'q3.2.alpha': Float32Array.of(-1.5) }, /parameter 'q3.2.alpha' \(the clip α of quantize q3 at 2 bits, its field clip: true\) must be a finite number > 0, got -1.5/],
    ['NaN', { ...t, 'q3.32.alpha': Float32Array.of(NaN) }, /'q3.32.alpha' .* must be a finite number > 0, got NaN/],
    ['infinite', { ...t, 'q3.1.alpha': Float32Array.of(Infinity) }, /'q3.1.alpha' .* must be a finite number > 0, got Infinity/],
  ])('Model.build refuses a clip tensor %s (RangeError naming it)', (_what, tensors, message) => {
    expect(thrown(() => Model.build(g, tensors))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(message) });
  });

  // A model file is untrusted: its clip tensors are checked with every parameter, before anything is built.
  const saved = Model.build(g, t).serialize();
  const edited = (name: string, entry?: { dtype: 'F32' | 'I32'; shape: number[]; data: Float32Array | Int32Array }): Uint8Array => {
    const f = readSafetensors(saved);
    const tensors = new Map([...f.tensors].map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, bytes: v.bytes } as never]));
    if (entry) tensors.set(name, entry as never);
    else tensors.delete(name);
    return writeSafetensors(tensors, f.metadata);
  };
  it.each([
    ['missing', edited('q4.2.alpha'), 'RangeError', /model file \(bytes\): missing parameter 'q4.2.alpha' \(the clip α of quantize q4 at 2 bits, its field clip: true: one per bit-width of bitList\)/],
    ['of shape [2]', edited('q4.2.alpha', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 1) }), 'RangeError', /parameter 'q4.2.alpha' \(the clip α of quantize q4 at 2 bits.*\) must hold 1 values, got 2/],
    ['zero', edited('q4.2.alpha', { dtype: 'F32', shape: [1], data: Float32Array.of(0) }), 'RangeError', /model file \(bytes\): parameter 'q4.2.alpha' .* must be a finite number > 0, got 0/],
    ['negative', edited('q4.8.alpha', { dtype: 'F32', shape: [1], data: Float32Array.of(-2) }), 'RangeError', /'q4.8.alpha' .* must be a finite number > 0, got -2/],
    ['NaN', edited('q4.1.alpha', { dtype: 'F32', shape: [1], data: Float32Array.of(NaN) }), 'RangeError', /'q4.1.alpha' .* must be a finite number > 0, got NaN/],
    ['not F32', edited('q4.1.alpha', { dtype: 'I32', shape: [1], data: Int32Array.of(1) }), 'Error', /parameter 'q4.1.alpha' must be F32, is I32/],
  ])('loading refuses a file whose clip tensor is %s', (_what, bytes, name, message) => {
    expect(thrown(() => deserializeModel(bytes))).toMatchObject({ name, message: expect.stringMatching(message) });
  });

  it('a run at a width outside the bit list is refused for the clip it lacks', () => {
    const m = Model.build(g, t);
    expect(thrown(() => m.runSync(x, { bits: { weights: W_BITS, activations: 2 }, layers: { q0: { weights: W_BITS, activations: 4 } } })))
      .toMatchObject({ name: 'RangeError', message: 'quantize q0 has no clip for 4-bit activations (bit list: 1, 2, 8, 32)' });
  });
});
