// Every layer type at every precision, run through Model.build(...).runSync(...) and checked
// against plain JS references written here: NCHW, direct loops, integer or float64 arithmetic.
// Only the weight codes and the scale E come from lib/core/quantize.ts (WeightQuantizer, checked
// against the PyTorch fixture in quantize.test.ts); nothing of lib/nn or the kernels computes an
// expected value.
//
// Two kinds of reference:
// - float64 ("what the maths says"): floats agree to 1e-5 relative (plus 1e-6 of the sum of the
//   absolute terms, for values near 0); codes may differ by one level where float64 and float32
//   round a knife-edge value differently — at most 0.5% of them, never by more than one level;
// - float32 ("the same steps the runtime documents"): integer accumulators are exact, so
//   y = fround(fround(acc * scale) + shift) with scale = fround(fround(E/(nw*na)) * alpha) and
//   shift = beta is reproduced bit for bit, and so are the codes quantised from it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Model, Tensor, kernels, zoo } from '../lib';
import type { GraphSpec, NodeSpec, PrecisionInput } from '../lib';
import { WeightQuantizer, roundHalfEven } from '../lib/core/quantize';
import { rng } from './helpers/reference';

type Pair = [number, number];
type Mode = 'truncate' | 'requant';
// Math.* looked up once: globals inside jest's vm context are slow to reach from hot loops.
const { abs, max, min, floor, round, fround: fr } = Math;
const BITS = [1, 2, 3, 4, 5, 6, 7, 8];
const ALL_BITS = [...BITS, 32];
const MODES: Mode[] = ['truncate', 'requant'];

// ---------------------------------------------------------------------------------------------
// Graphs

interface ConvGeom { kernel: Pair; stride: Pair; padding: Pair; dilation: Pair }
const geom = (kernel: Pair, stride: Pair = [1, 1], padding: Pair = [0, 0], dilation: Pair = [1, 1]): ConvGeom =>
  ({ kernel, stride, padding, dilation });

function graph(inputShape: number[], nodes: NodeSpec[], o: Partial<GraphSpec> = {}): GraphSpec {
  return { format: 'anyprec-graph/1', inputShape, nodes, bitList: ALL_BITS, weightMode: 'truncate', ...o };
}
const qconvN = (name: string, input: string, inC: number, outC: number, g: ConvGeom): NodeSpec =>
  ({ name, op: 'qconv2d', inputs: [input], inChannels: inC, outChannels: outC, ...g });
const convN = (name: string, input: string, inC: number, outC: number, g: ConvGeom, bias: boolean): NodeSpec =>
  ({ name, op: 'conv2d', inputs: [input], inChannels: inC, outChannels: outC, bias, ...g });
const qlinearN = (name: string, input: string, inF: number, outF: number, bias: boolean): NodeSpec =>
  ({ name, op: 'qlinear', inputs: [input], inFeatures: inF, outFeatures: outF, bias });
const linearN = (name: string, input: string, inF: number, outF: number, bias: boolean): NodeSpec =>
  ({ name, op: 'linear', inputs: [input], inFeatures: inF, outFeatures: outF, bias });
const bnN = (name: string, input: string, channels: number, switchable = true): NodeSpec =>
  ({ name, op: 'batchnorm', inputs: [input], channels, eps: 1e-5, switchable });
const opN = (name: string, op: 'quantize' | 'relu' | 'sign' | 'globalavgpool' | 'flatten' | 'softmax', input: string): NodeSpec =>
  ({ name, op, inputs: [input] } as NodeSpec);
const poolN = (name: string, op: 'maxpool2d' | 'avgpool2d', input: string, kernel: Pair, stride: Pair, padding: Pair): NodeSpec =>
  ({ name, op, inputs: [input], kernel, stride, padding });

// ---------------------------------------------------------------------------------------------
// Data

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
const uniformArray = (rand: () => number, n: number, lo: number, hi: number) =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
const normalArray = (rand: () => number, n: number, std = 1) => Float32Array.from({ length: n }, () => std * normal(rand));
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Activation-quantiser input: spread over [-0.2, 1.2] so that both clamps are exercised. */
function quantInput(seed: number, shape: number[]): Tensor {
  return new Tensor(uniformArray(rng(seed), size(shape), -0.2, 1.2), shape);
}

// ---------------------------------------------------------------------------------------------
// References (NCHW; integer-exact when fed integers)

interface Sum { y: Float64Array; mag: Float64Array; shape: number[] }

function convRef(xIn: ArrayLike<number>, xs: number[], wIn: ArrayLike<number>, o: number, g: ConvGeom, bias?: ArrayLike<number>): Sum {
  const x = Float64Array.from(xIn), w = Float64Array.from(wIn); // one element type: keeps the loop monomorphic
  const [n, c, h, wd] = xs;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const oh = floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const y = new Float64Array(n * o * oh * ow), mag = new Float64Array(y.length);
  for (let i = 0; i < n; i++)
    for (let oc = 0; oc < o; oc++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = bias ? bias[oc] : 0, m = abs(s);
          for (let ic = 0; ic < c; ic++)
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh + ky * dh - ph;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw + kx * dw - pw;
                if (ix < 0 || ix >= wd) continue;
                const t = x[((i * c + ic) * h + iy) * wd + ix] * w[((oc * c + ic) * kh + ky) * kw + kx];
                s += t;
                m += abs(t);
              }
            }
          const at = ((i * o + oc) * oh + oy) * ow + ox;
          y[at] = s;
          mag[at] = m;
        }
  return { y, mag, shape: [n, o, oh, ow] };
}

function linearRef(xIn: ArrayLike<number>, n: number, f: number, wIn: ArrayLike<number>, o: number, bias?: ArrayLike<number>): Sum {
  const x = Float64Array.from(xIn), w = Float64Array.from(wIn);
  const y = new Float64Array(n * o), mag = new Float64Array(n * o);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < o; j++) {
      let s = bias ? bias[j] : 0, m = abs(s);
      for (let k = 0; k < f; k++) {
        const t = x[i * f + k] * w[j * f + k];
        s += t;
        m += abs(t);
      }
      y[i * o + j] = s;
      mag[i * o + j] = m;
    }
  return { y, mag, shape: [n, o] };
}

/** round(clamp(x, 0, 1) * (2^b - 1)), ties to even, the product in float32 (ARCH.md: float32 tensors). */
function actCode(x: number, bits: number): number {
  const c = x < 0 ? 0 : x > 1 ? 1 : x;
  return roundHalfEven(fr(c * (2 ** bits - 1)));
}
/** The same in float64 throughout (the maths, without float32 rounding). */
function actCode64(x: number, bits: number): number {
  const c = x < 0 ? 0 : x > 1 ? 1 : x;
  return roundHalfEven(c * (2 ** bits - 1));
}

/** What enters a quantised layer: codes p with n = 2^b - 1, ±1 with n = 1 (bipolar), or floats (n = 0). */
interface RefActs { v: ArrayLike<number>; n: number }
function refActs(x: ArrayLike<number>, bits: number): RefActs {
  if (bits === 32) return { v: Float64Array.from(x, (t) => max(t, 0)), n: 0 };
  return { v: Float64Array.from(x, (t) => actCode(t, bits)), n: 2 ** bits - 1 };
}

/** Weights of a quantised layer: odd levels c = 2q - n (n = 2^b - 1) or, at 32 bits, tanh(w)/max|tanh w| * E. */
interface RefWeights { v: Float64Array; n: number; E: number }
const quantizers = new WeakMap<Float32Array, WeightQuantizer>();
function refWeights(w: Float32Array, bits: number, mode: Mode): RefWeights {
  let wq = quantizers.get(w);
  if (!wq) quantizers.set(w, (wq = new WeightQuantizer(w, 'requant')));
  const E = wq.scale;
  if (bits === 32) {
    let m = 0;
    for (const t of w) m = max(m, abs(Math.tanh(t)));
    return { v: Float64Array.from(w, (t) => (Math.tanh(t) / m) * E), n: 0, E };
  }
  // truncate: the 8-bit code's top planes; requant: the code re-derived at this width
  const q = mode === 'truncate' ? wq.codes(8).map((c) => c >> (8 - bits)) : wq.codes(bits);
  const n = 2 ** bits - 1;
  return { v: Float64Array.from(q, (c) => 2 * c - n), n, E };
}

/** A quantised layer's sums: exact integers Σ c·p when both sides are codes, else float64. */
interface QSum extends Sum {
  /** Value of one unit of y: E/(nw·na) (E/nw, 1/na or 1 on the float sides). */
  unit: number;
  ints: boolean;
  /** float32 accumulator scale the runtime documents: fround(E / (nw * na)). */
  fscale: number;
}
function qsum(a: RefActs, w: RefWeights, lower: (x: ArrayLike<number>, w: ArrayLike<number>) => Sum): QSum {
  const r = lower(a.v, w.v);
  const ints = a.n > 0 && w.n > 0;
  if (ints) for (const v of r.y) if (!Number.isSafeInteger(v)) throw new Error('reference sum is not an integer');
  return { ...r, unit: (w.n ? w.E / w.n : 1) / (a.n || 1), ints, fscale: ints ? fr(w.E / (w.n * a.n)) : NaN };
}

interface BnRef { a64: Float64Array; b64: Float64Array; a32: Float64Array; b32: Float64Array }
/** BN as x·alpha + beta: float64 maths, and float32 folded as PyTorch's CPU kernel does it. */
function bnRef(t: Record<string, Float32Array>, name: string, switchable: boolean, key: number | string, eps = 1e-5): BnRef {
  const p = switchable ? `${name}.${key}` : name;
  const g = t[`${p}.weight`], b = t[`${p}.bias`], m = t[`${p}.running_mean`], v = t[`${p}.running_var`];
  if (!g) throw new Error(`no BN tensors ${p}`);
  const c = g.length;
  const r = { a64: new Float64Array(c), b64: new Float64Array(c), a32: new Float64Array(c), b32: new Float64Array(c) };
  for (let i = 0; i < c; i++) {
    r.a64[i] = g[i] / Math.sqrt(v[i] + eps);
    r.b64[i] = b[i] - m[i] * r.a64[i];
    const invstd = fr(1 / fr(Math.sqrt(fr(v[i] + fr(eps)))));
    r.a32[i] = fr(g[i] * invstd);
    r.b32[i] = fr(b[i] - fr(m[i] * r.a32[i]));
  }
  return r;
}

/** NCHW channel of flat index i for an [N, C, ...spatial] shape. */
const channelOf = (shape: number[]) => {
  const c = shape[1], s = size(shape.slice(2));
  return (i: number) => floor(i / s) % c;
};

interface Epi { bias?: ArrayLike<number>; bn?: BnRef; act?: 'relu' | 'quantize'; bits?: number }
interface EpiOut {
  shape: number[];
  /** Output codes (act quantize below 32 bits) or floats, from float64 maths. */
  f64: Float64Array;
  mag: Float64Array;
  /** The same through the runtime's documented float32 steps (integer path only). */
  f32?: Float64Array;
  codeBits?: number;
}
/** A quantised layer's epilogue: + bias, batch norm, ReLU or the activation quantiser. */
function epilogueRef(s: QSum, e: Epi): EpiOut {
  const ch = channelOf(s.shape);
  const codeBits = e.act === 'quantize' && e.bits !== 32 ? e.bits! : undefined;
  const relu = e.act === 'relu' || (e.act === 'quantize' && e.bits === 32);
  const f64 = new Float64Array(s.y.length), mag = new Float64Array(s.y.length);
  const f32 = s.ints ? new Float64Array(s.y.length) : undefined;
  for (let i = 0; i < s.y.length; i++) {
    const c = ch(i);
    const bias = e.bias ? e.bias[c] : 0;
    let y = s.y[i] * s.unit + bias, m = s.mag[i] * s.unit + abs(bias);
    if (e.bn) {
      y = y * e.bn.a64[c] + e.bn.b64[c];
      m = m * abs(e.bn.a64[c]) + abs(e.bn.b64[c]);
    }
    if (relu) y = max(y, 0);
    f64[i] = codeBits ? actCode64(y, codeBits) : y;
    mag[i] = m;
    if (f32) {
      let scale = s.fscale, shift = bias;
      if (e.bn) {
        shift = fr(fr(shift * e.bn.a32[c]) + e.bn.b32[c]);
        scale = fr(scale * e.bn.a32[c]);
      }
      let z = fr(fr(s.y[i] * scale) + shift);
      if (relu && z < 0) z = 0;
      f32[i] = codeBits ? actCode(z, codeBits) : z;
    }
  }
  return { shape: s.shape, f64, mag, f32, codeBits };
}

// ---------------------------------------------------------------------------------------------
// Comparisons (each returns '' or a description of the first problem)

function closeTo(got: ArrayLike<number>, want: ArrayLike<number>, mag?: ArrayLike<number>, rel = 1e-5, absRel = 1e-6): string {
  if (got.length !== want.length) return `length ${got.length}, want ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    const tol = rel * abs(want[i]) + absRel * (mag ? mag[i] : 1) + 1e-30;
    if (!(abs(got[i] - want[i]) <= tol)) return `[${i}] got ${got[i]}, want ${want[i]} (tolerance ${tol})`;
  }
  return '';
}

function exactly(got: ArrayLike<number>, want: ArrayLike<number>): string {
  if (got.length !== want.length) return `length ${got.length}, want ${want.length}`;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return `[${i}] got ${got[i]}, want ${want[i]}`;
  return '';
}

/** Codes from the model's float output p/(2^b - 1). */
function codesOf(out: ArrayLike<number>, bits: number): Float64Array {
  const n = 2 ** bits - 1;
  return Float64Array.from(out, (v) => round(v * n));
}

/** Knife-edge bookkeeping: codes that differ from the float64 reference by one level. */
class KnifeEdge {
  total = 0;
  off = 0;
  worse: string[] = [];
  add(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
    for (let i = 0; i < want.length; i++) {
      const d = abs(got[i] - want[i]);
      if (d === 1) this.off++;
      else if (d !== 0 && this.worse.length < 5) this.worse.push(`${what} [${i}] got ${got[i]}, want ${want[i]}`);
    }
    this.total += want.length;
  }
  check() {
    expect(this.worse).toEqual([]);
    expect(this.total).toBeGreaterThan(0);
    expect(this.off / this.total).toBeLessThanOrEqual(0.005);
  }
}

/** Compares a model output with an epilogue reference; failures go to `fails`. */
function checkOut(got: Tensor, ref: EpiOut, what: string, fails: string[], edge: KnifeEdge) {
  if (got.shape.join() !== ref.shape.join()) {
    fails.push(`${what}: shape [${got.shape}] want [${ref.shape}]`);
    return;
  }
  if (ref.codeBits) {
    const codes = codesOf(got.data, ref.codeBits);
    const n = 2 ** ref.codeBits - 1;
    const lv = exactly(got.data, Array.from(codes, (p) => fr(p / n)));
    if (lv) fails.push(`${what}: output is not p/(2^b-1): ${lv}`);
    if (ref.f32) {
      const d = exactly(codes, ref.f32);
      if (d) fails.push(`${what}: codes vs float32 steps ${d}`);
    }
    edge.add(codes, ref.f64, what);
  } else {
    if (ref.f32) {
      const d = exactly(got.data, ref.f32);
      if (d) fails.push(`${what}: vs float32 steps ${d}`);
    }
    const d = closeTo(got.data, ref.f64, ref.mag);
    if (d) fails.push(`${what}: vs float64 ${d}`);
  }
}

const precisions = (): Array<[number, number]> => ALL_BITS.flatMap((w) => ALL_BITS.map((a): [number, number] => [w, a]));
const label = (wb: number, ab: number) => `w${wb}a${ab}`;

// =============================================================================================
// 1. Quantised conv and linear layers, raw output (no BN after them): exact integer accumulators

const CONV_CASES: Array<[string, number[], number, ConvGeom]> = [
  ['3x3 s1 p1, 3 -> 5 channels', [2, 3, 7, 6], 5, geom([3, 3], [1, 1], [1, 1])],
  ['1x1 s2 p0, 70 -> 6 (K crosses a 64-bit word)', [2, 70, 5, 5], 6, geom([1, 1], [2, 2])],
  ['3x2 s(2,1) p(1,0) d(2,1), 5 -> 7', [1, 5, 9, 8], 7, geom([3, 2], [2, 1], [1, 0], [2, 1])],
  ['3x3 s1 p1 d2, 70 -> 3 (K = 630)', [2, 70, 6, 6], 3, geom([3, 3], [1, 1], [1, 1], [2, 2])],
  ['2x5 s(1,2) p(0,2), 13 -> 65', [1, 13, 4, 11], 65, geom([2, 5], [1, 2], [0, 2])],
  ['4x1 s2 p(2,1), 64 -> 2 (K = 256, whole words)', [1, 64, 7, 3], 2, geom([4, 1], [2, 2], [2, 1])],
];

describe('quantised conv: raw accumulators x E/((2^wb-1)(2^ab-1)), every weight x activation precision', () => {
  describe.each(MODES)('%s weights', (mode) => {
    it.each(CONV_CASES)('%s', (_l, xs, o, g) => {
      const spec = graph(xs.slice(1), [opN('q0', 'quantize', 'input'), qconvN('c', 'q0', xs[1], o, g)], { weightMode: mode });
      const t = zoo.randomTensors(spec, xs[1] * 31 + o);
      const model = Model.build(spec, t);
      const x = quantInput(o * 7 + xs[1], xs);
      const fails: string[] = [], edge = new KnifeEdge();
      for (const [wb, ab] of precisions()) {
        const got = model.runSync(x, { bits: { weights: wb, activations: ab } });
        const s = qsum(refActs(x.data, ab), refWeights(t['c.weight'], wb, mode), (a, w) => convRef(a, xs, w, o, g));
        checkOut(got, epilogueRef(s, {}), label(wb, ab), fails, edge);
      }
      expect(fails).toEqual([]);
    });
  });
});

describe.each(kernels.availableIsas())('isa %s: all 81 precision pairs of a small conv and linear', (isa) => {
  const before = kernels.isa();
  beforeAll(() => kernels.setIsa(isa));
  afterAll(() => kernels.setIsa(before));
  it.each(MODES)('%s weights', (mode) => {
    const [, xs, o, g] = CONV_CASES[1];
    const spec = graph(xs.slice(1), [opN('q0', 'quantize', 'input'), qconvN('c', 'q0', xs[1], o, g), opN('f', 'flatten', 'c'),
      qlinearN('fc', 'f', o * 3 * 3, 5, true)], { weightMode: mode });
    const t = zoo.randomTensors(spec, 101);
    const model = Model.build(spec, t);
    const convOnly = Model.build({ ...spec, output: 'c' }, t);
    const x = quantInput(102, xs);
    const fails: string[] = [], edge = new KnifeEdge();
    for (const [wb, ab] of precisions()) {
      const bits = { weights: wb, activations: ab };
      const s = qsum(refActs(x.data, ab), refWeights(t['c.weight'], wb, mode), (a, w) => convRef(a, xs, w, o, g));
      const c = epilogueRef(s, {});
      checkOut(convOnly.runSync(x, { bits }), c, `${label(wb, ab)} conv`, fails, edge);
      // the raw conv output is float: the qlinear after it takes its float path (dequantised weights)
      const fc = qsum({ v: c.f32 ?? c.f64, n: 0 }, refWeights(t['fc.weight'], wb, mode), (a, w) => linearRef(a, 2, o * 9, w, 5));
      checkOut(model.runSync(x, { bits }), epilogueRef(fc, { bias: t['fc.bias'] }), `${label(wb, ab)} conv -> flatten -> qlinear`, fails, edge);
    }
    expect(fails).toEqual([]);
  });
});

describe('quantised linear, every weight x activation precision', () => {
  describe.each(MODES)('%s weights', (mode) => {
    it.each([
      [3, 70, 9, false],
      [3, 70, 9, true],
      [2, 130, 65, true],
      [1, 5, 3, false],
    ])('batch %i, %i -> %i features, bias %s', (n, f, o, bias) => {
      const spec = graph([f], [opN('q0', 'quantize', 'input'), qlinearN('fc', 'q0', f, o, bias)], { weightMode: mode });
      const t = zoo.randomTensors(spec, f + o);
      const model = Model.build(spec, t);
      const x = quantInput(f * 3 + o, [n, f]);
      const fails: string[] = [], edge = new KnifeEdge();
      for (const [wb, ab] of precisions()) {
        const got = model.runSync(x, { bits: { weights: wb, activations: ab } });
        const s = qsum(refActs(x.data, ab), refWeights(t['fc.weight'], wb, mode), (a, w) => linearRef(a, n, f, w, o));
        checkOut(got, epilogueRef(s, { bias: bias ? t['fc.bias'] : undefined }), label(wb, ab), fails, edge);
      }
      expect(fails).toEqual([]);
    });
  });

  it('truncate and requant agree at 8 bits and (usually) differ below', () => {
    const nodes = [opN('q0', 'quantize', 'input'), qlinearN('fc', 'q0', 70, 9, false)];
    const t = zoo.randomTensors(graph([70], nodes), 5);
    const tr = Model.build(graph([70], nodes, { weightMode: 'truncate' }), t);
    const rq = Model.build(graph([70], nodes, { weightMode: 'requant' }), t);
    const x = quantInput(9, [2, 70]);
    expect(Array.from(tr.runSync(x, { bits: 8 }).data)).toEqual(Array.from(rq.runSync(x, { bits: 8 }).data));
    const differs = BITS.slice(0, 7).filter((b) => exactly(tr.runSync(x, { bits: b }).data, rq.runSync(x, { bits: b }).data) !== '');
    expect(differs.length).toBeGreaterThan(0);
  });
});

// =============================================================================================
// 2. Fused chains: qconv/qlinear -> batchnorm -> quantize | relu, and the 32-bit float path

const CHAIN_PRECISIONS: PrecisionInput[] = [
  ...ALL_BITS,
  { weights: 2, activations: 5 }, { weights: 8, activations: 1 }, { weights: 1, activations: 8 },
  { weights: 32, activations: 4 }, { weights: 3, activations: 32 },
];
const precOf = (p: PrecisionInput) => (typeof p === 'number' ? { weights: p, activations: p } : p as { weights: number; activations: number });

describe('fused epilogues', () => {
  const XS = [2, 5, 7, 6];
  const G1 = geom([3, 3], [1, 1], [1, 1]);

  describe.each(MODES)('%s weights', (mode) => {
    it.each([
      ['qconv -> bn -> quantize (codes out)', 'quantize', true],
      ['qconv -> bn -> relu', 'relu', true],
      ['qconv -> bn (no activation)', undefined, true],
      ['qconv -> quantize (no bn)', 'quantize', false],
      ['qconv -> relu (no bn)', 'relu', false],
    ] as const)('%s', (_l, act, withBn) => {
      const nodes = [opN('q0', 'quantize', 'input'), qconvN('c1', 'q0', 5, 6, G1)];
      if (withBn) nodes.push(bnN('bn1', 'c1', 6));
      if (act) nodes.push(opN('a1', act, nodes[nodes.length - 1].name));
      const spec = graph(XS.slice(1), nodes, { weightMode: mode });
      const t = zoo.randomTensors(spec, 11);
      const model = Model.build(spec, t);
      const x = quantInput(12, XS);
      const fails: string[] = [], edge = new KnifeEdge();
      for (const p of CHAIN_PRECISIONS) {
        const { weights: wb, activations: ab } = precOf(p);
        const got = model.runSync(x, { bits: p });
        const s = qsum(refActs(x.data, ab), refWeights(t['c1.weight'], wb, mode), (a, w) => convRef(a, XS, w, 6, G1));
        const ref = epilogueRef(s, { bn: withBn ? bnRef(t, 'bn1', true, ab) : undefined, act, bits: ab });
        checkOut(got, ref, label(wb, ab), fails, edge);
      }
      expect(fails).toEqual([]);
      if (act === 'quantize') edge.check();
    });
  });

  it('qconv -> add: the residual add fused into the epilogue gives the unfused sum bit for bit', () => {
    // The add's other operand computed before the conv (fused), or after it (a separate add step).
    const before = [opN('q0', 'quantize', 'input'), opN('r', 'relu', 'input'), qconvN('c1', 'q0', 5, 5, G1),
      { name: 'sum', op: 'add', inputs: ['c1', 'r'] } as NodeSpec];
    const after = [before[0], before[2], before[1], { name: 'sum', op: 'add', inputs: ['r', 'c1'] } as NodeSpec];
    const fails: string[] = [];
    for (const mode of MODES) {
      for (const [order, nodes] of [['before', before], ['after', after]] as const) {
        const spec = graph(XS.slice(1), nodes, { weightMode: mode });
        const t = zoo.randomTensors(spec, 31);
        const model = Model.build(spec, t);
        const x = quantInput(32, XS);
        const conv = Model.build({ ...spec, output: 'c1' }, t), relu = Model.build({ ...spec, output: 'r' }, t);
        for (const p of CHAIN_PRECISIONS) {
          const got = model.runSyncDetailed(x, { bits: p });
          const c = conv.runSync(x, { bits: p }).data, r = relu.runSync(x, { bits: p }).data;
          const d = exactly(got.output.data, Array.from(c, (v, i) => fr(v + r[i])));
          if (d) fails.push(`${mode} ${order} ${label(precOf(p).weights, precOf(p).activations)}: ${d}`);
          const step = got.stats.layers.find((l) => l.nodes.includes('c1'))!;
          if (step.nodes.includes('sum') !== (order === 'before')) fails.push(`${mode} ${order}: fused nodes ${step.nodes}`);
        }
      }
    }
    expect(fails).toEqual([]);
  });

  it('the codes a fused epilogue hands on give the next layer exact accumulators (conv -> conv, through maxpool and flatten)', () => {
    // q0 -> c1 -> bn1 -> q1 -> c2 -> bn2 -> q2 -> maxpool (padded) -> flatten -> fc (raw)
    const G2 = geom([3, 3], [2, 2], [1, 1]);
    const nodes = [
      opN('q0', 'quantize', 'input'), qconvN('c1', 'q0', 5, 6, G1), bnN('bn1', 'c1', 6), opN('q1', 'quantize', 'bn1'),
      qconvN('c2', 'q1', 6, 70, G2), bnN('bn2', 'c2', 70), opN('q2', 'quantize', 'bn2'),
      poolN('mp', 'maxpool2d', 'q2', [3, 2], [2, 2], [1, 1]), opN('flat', 'flatten', 'mp'), qlinearN('fc', 'flat', 70 * 2 * 2, 9, true),
    ];
    for (const mode of MODES) {
      const spec = graph(XS.slice(1), nodes, { weightMode: mode });
      const t = zoo.randomTensors(spec, 21);
      const model = Model.build(spec, t);
      const x = quantInput(22, XS);
      const fails: string[] = [];
      for (const p of [...BITS, { weights: 2, activations: 6 }, { weights: 7, activations: 3 }]) {
        const { weights: wb, activations: ab } = precOf(p);
        const n = 2 ** ab - 1;
        const s1 = qsum(refActs(x.data, ab), refWeights(t['c1.weight'], wb, mode), (a, w) => convRef(a, XS, w, 6, G1));
        const e1 = epilogueRef(s1, { bn: bnRef(t, 'bn1', true, ab), act: 'quantize', bits: ab });
        const s2 = qsum({ v: e1.f32!, n }, refWeights(t['c2.weight'], wb, mode), (a, w) => convRef(a, e1.shape, w, 70, G2));
        const e2 = epilogueRef(s2, { bn: bnRef(t, 'bn2', true, ab), act: 'quantize', bits: ab });
        const pooled = maxPoolRef(e2.f32!, e2.shape, [3, 2], [2, 2], [1, 1]);
        const s3 = qsum({ v: pooled.y, n }, refWeights(t['fc.weight'], wb, mode),
          (a, w) => linearRef(a, 2, 70 * 2 * 2, w, 9));
        expect(pooled.shape).toEqual([2, 70, 2, 2]);
        const want = epilogueRef(s3, { bias: t['fc.bias'] });
        const got = model.runSync(x, { bits: p });
        checkOut(got, want, `${mode} ${label(wb, ab)}`, fails, new KnifeEdge());
        // the intermediate codes, read as graph outputs (no fusion into the output node)
        const q1 = Model.build({ ...spec, output: 'q1' }, t).runSync(x, { bits: p });
        const d = exactly(codesOf(q1.data, ab), e1.f32!);
        if (d) fails.push(`${mode} ${label(wb, ab)} q1 ${d}`);
      }
      expect(fails).toEqual([]);
    }
  });

  it('qlinear with bias -> bn -> quantize -> qlinear; the zoo MLP', () => {
    for (const mode of MODES) {
      const spec = zoo.mlp([30, 70, 20, 9], { weightMode: mode });
      const t = zoo.randomTensors(spec, 31);
      // the zoo's hidden layers have no bias; give the first one a bias too
      const nodes = spec.nodes.map((nd) => (nd.name === 'fc0' ? { ...nd, bias: true } : nd));
      const withBias = { ...spec, nodes };
      const tb: Record<string, Float32Array> = { ...t, 'fc0.bias': normalArray(rng(32), 70, 0.2) };
      const fails: string[] = [], edge = new KnifeEdge();
      for (const [g, tensors] of [[spec, t], [withBias, tb]] as const) {
        const model = Model.build(g, tensors);
        const x = quantInput(33, [3, 30]);
        for (const p of [...ALL_BITS, { weights: 4, activations: 2 }]) {
          const { weights: wb, activations: ab } = precOf(p);
          const bias0 = g === withBias ? tb['fc0.bias'] : undefined;
          const s0 = qsum(refActs(x.data, ab), refWeights(tensors['fc0.weight'], wb, mode), (a, w) => linearRef(a, 3, 30, w, 70));
          const e0 = epilogueRef(s0, { bias: bias0, bn: bnRef(tensors, 'bn0', true, ab), act: 'quantize', bits: ab });
          const got0 = Model.build({ ...g, output: 'q1' }, tensors).runSync(x, { bits: p });
          checkOut(got0, e0, `${mode} ${label(wb, ab)} q1`, fails, edge);
          if (!e0.f32) continue; // the float path's codes are compared above with the knife-edge allowance
          const s1 = qsum({ v: e0.f32, n: 2 ** ab - 1 }, refWeights(tensors['fc1.weight'], wb, mode), (a, w) => linearRef(a, 3, 70, w, 20));
          const e1 = epilogueRef(s1, { bn: bnRef(tensors, 'bn1', true, ab), act: 'quantize', bits: ab });
          const s2 = qsum({ v: e1.f32!, n: 2 ** ab - 1 }, refWeights(tensors['fc2.weight'], wb, mode), (a, w) => linearRef(a, 3, 20, w, 9));
          checkOut(model.runSync(x, { bits: p }), epilogueRef(s2, { bias: tensors['fc2.bias'] }), `${mode} ${label(wb, ab)}`, fails, edge);
        }
      }
      expect(fails).toEqual([]);
      edge.check();
    }
  });

  it('the whole chain at 32 bits (float path: relu in place of the quantiser, tanh-normalised weights)', () => {
    const nodes = [
      opN('q0', 'quantize', 'input'), qconvN('c1', 'q0', 5, 6, G1), bnN('bn1', 'c1', 6), opN('q1', 'quantize', 'bn1'),
      qconvN('c2', 'q1', 6, 4, geom([2, 3], [2, 1], [0, 1])), bnN('bn2', 'c2', 4), opN('r2', 'relu', 'bn2'),
    ];
    const spec = graph(XS.slice(1), nodes, { weightMode: 'requant' });
    const t = zoo.randomTensors(spec, 41);
    const x = quantInput(42, XS);
    const got = Model.build(spec, t).runSync(x, { bits: 32 });
    const s1 = qsum(refActs(x.data, 32), refWeights(t['c1.weight'], 32, 'requant'), (a, w) => convRef(a, XS, w, 6, G1));
    const e1 = epilogueRef(s1, { bn: bnRef(t, 'bn1', true, 32), act: 'quantize', bits: 32 });
    const s2 = qsum({ v: e1.f64, n: 0 }, refWeights(t['c2.weight'], 32, 'requant'),
      (a, w) => convRef(a, e1.shape, w, 4, geom([2, 3], [2, 1], [0, 1])));
    const e2 = epilogueRef(s2, { bn: bnRef(t, 'bn2', true, 32), act: 'relu' });
    expect(closeTo(got.data, e2.f64, e2.mag)).toBe('');
    expect(got.shape).toEqual(e2.shape);
  });

  it('per-layer precisions: each layer uses its own weight bits, each quantiser its own activation bits', () => {
    const nodes = [
      opN('q0', 'quantize', 'input'), qconvN('c1', 'q0', 5, 6, G1), bnN('bn1', 'c1', 6, false), opN('q1', 'quantize', 'bn1'),
      qconvN('c2', 'q1', 6, 3, G1),
    ];
    const spec = graph(XS.slice(1), nodes, { weightMode: 'truncate' });
    const t = zoo.randomTensors(spec, 51);
    const model = Model.build(spec, t);
    const x = quantInput(52, XS);
    const layers = { q0: { activations: 3 }, c1: { weights: 5 }, q1: { activations: 2 }, c2: { weights: 7 } };
    const got = model.runSync(x, { bits: 4, layers });
    const s1 = qsum(refActs(x.data, 3), refWeights(t['c1.weight'], 5, 'truncate'), (a, w) => convRef(a, XS, w, 6, G1));
    const e1 = epilogueRef(s1, { bn: bnRef(t, 'bn1', false, ''), act: 'quantize', bits: 2 });
    const s2 = qsum({ v: e1.f32!, n: 3 }, refWeights(t['c2.weight'], 7, 'truncate'), (a, w) => convRef(a, e1.shape, w, 3, G1));
    const fails: string[] = [];
    checkOut(got, epilogueRef(s2, {}), 'mixed', fails, new KnifeEdge());
    expect(fails).toEqual([]);
  });

  it('batchnorm -> quantize after a float layer (fused into the activation quantiser)', () => {
    // exact: input -> bn -> quantize (float32 steps: x·alpha + beta, clamp, round)
    // float64: conv2d (float GEMM, its own summation order) -> bn -> quantize, with the knife-edge allowance
    const nodes = [bnN('bn0', 'input', 5), opN('a0', 'quantize', 'bn0')];
    const spec = graph(XS.slice(1), nodes);
    const t = zoo.randomTensors(spec, 61);
    const x = new Tensor(normalArray(rng(62), size(XS), 1.5), XS);
    const model = Model.build(spec, t);
    const fails: string[] = [], edge = new KnifeEdge();
    const ch = channelOf(XS);
    for (const b of ALL_BITS) {
      const r = bnRef(t, 'bn0', true, b);
      const f64 = Float64Array.from(x.data, (v, i) => {
        const y = v * r.a64[ch(i)] + r.b64[ch(i)];
        return b === 32 ? max(0, y) : actCode64(y, b);
      });
      const f32 = b === 32 ? undefined : Float64Array.from(x.data, (v, i) => actCode(fr(fr(v * r.a32[ch(i)]) + r.b32[ch(i)]), b));
      checkOut(model.runSync(x, { bits: b }), { shape: XS, f64, mag: Float64Array.from(x.data, (v) => abs(v) + 1), f32, codeBits: b === 32 ? undefined : b },
        `bits ${b}`, fails, edge);
    }
    expect(fails).toEqual([]);
    edge.check();

    const nodes2 = [convN('c0', 'input', 5, 8, G1, true), bnN('bn0', 'c0', 8), opN('a0', 'quantize', 'bn0')];
    const spec2 = graph(XS.slice(1), nodes2);
    const t2 = zoo.randomTensors(spec2, 63);
    const model2 = Model.build(spec2, t2);
    const edge2 = new KnifeEdge();
    for (const b of ALL_BITS) {
      const c = convRef(x.data, XS, t2['c0.weight'], 8, G1, t2['c0.bias']);
      const want = epilogueRef({ ...c, unit: 1, ints: false, fscale: NaN }, { bn: bnRef(t2, 'bn0', true, b), act: 'quantize', bits: b });
      checkOut(model2.runSync(x, { bits: b }), want, `conv2d bits ${b}`, fails, edge2);
    }
    expect(fails).toEqual([]);
    edge2.check();
  });
});

// =============================================================================================
// 3. Float layers and the rest

function maxPoolRef(x: ArrayLike<number>, xs: number[], k: Pair, s: Pair, p: Pair): Sum {
  const [n, c, h, w] = xs;
  const oh = floor((h + 2 * p[0] - k[0]) / s[0]) + 1, ow = floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  const y = new Float64Array(n * c * oh * ow);
  for (let i = 0; i < n * c; i++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let m = -Infinity;
        for (let ky = 0; ky < k[0]; ky++)
          for (let kx = 0; kx < k[1]; kx++) {
            const iy = oy * s[0] + ky - p[0], ix = ox * s[1] + kx - p[1];
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) m = max(m, x[(i * h + iy) * w + ix]);
          }
        y[(i * oh + oy) * ow + ox] = m;
      }
  return { y, mag: Float64Array.from(y, abs), shape: [n, c, oh, ow] };
}

/** count_include_pad: padded taps are zeros and count in the divisor kh·kw. */
function avgPoolRef(x: ArrayLike<number>, xs: number[], k: Pair, s: Pair, p: Pair): Sum {
  const [n, c, h, w] = xs;
  const oh = floor((h + 2 * p[0] - k[0]) / s[0]) + 1, ow = floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  const y = new Float64Array(n * c * oh * ow), mag = new Float64Array(y.length);
  for (let i = 0; i < n * c; i++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let sum = 0, m = 0;
        for (let ky = 0; ky < k[0]; ky++)
          for (let kx = 0; kx < k[1]; kx++) {
            const iy = oy * s[0] + ky - p[0], ix = ox * s[1] + kx - p[1];
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
              sum += x[(i * h + iy) * w + ix];
              m += abs(x[(i * h + iy) * w + ix]);
            }
          }
        y[(i * oh + oy) * ow + ox] = sum / (k[0] * k[1]);
        mag[(i * oh + oy) * ow + ox] = m / (k[0] * k[1]);
      }
  return { y, mag, shape: [n, c, oh, ow] };
}

function bnApply(x: ArrayLike<number>, shape: number[], r: BnRef): Sum {
  const ch = channelOf(shape);
  const y = Float64Array.from(x, (v, i) => v * r.a64[ch(i)] + r.b64[ch(i)]);
  const mag = Float64Array.from(x, (v, i) => abs(v * r.a64[ch(i)]) + abs(r.b64[ch(i)]));
  return { y, mag, shape };
}

/** Runs a one-input graph and compares with a float64 reference within 1e-5 relative. */
function runFloat(spec: GraphSpec, t: Record<string, Float32Array>, x: Tensor, want: Sum, bits: PrecisionInput = 32) {
  const got = Model.build(spec, t).runSync(x, { bits });
  expect(got.shape).toEqual(want.shape);
  expect(closeTo(got.data, want.y, want.mag)).toBe('');
  return got;
}

describe('float layers', () => {
  const XS = [2, 3, 8, 7];
  const x = new Tensor(normalArray(rng(71), size(XS)), XS);

  it.each([
    ['3x3 s1 p1, bias', 3, 5, geom([3, 3], [1, 1], [1, 1]), true],
    ['2x3 s2 p(1,0) d(1,2), no bias', 3, 4, geom([2, 3], [2, 2], [1, 0], [1, 2]), false],
    ['1x1, 3 -> 70, bias', 3, 70, geom([1, 1]), true],
  ] as const)('conv2d %s', (_l, inC, o, g, bias) => {
    const spec = graph(XS.slice(1), [convN('c', 'input', inC, o, g, bias)]);
    const t = zoo.randomTensors(spec, o);
    for (const b of [1, 4, 32]) runFloat(spec, t, x, convRef(x.data, XS, t['c.weight'], o, g, bias ? t['c.bias'] : undefined), b);
  });

  it.each([[true], [false]])('linear (bias %s)', (bias) => {
    const spec = graph([37], [linearN('fc', 'input', 37, 11, bias)]);
    const t = zoo.randomTensors(spec, 3);
    const xf = new Tensor(normalArray(rng(72), 3 * 37), [3, 37]);
    runFloat(spec, t, xf, linearRef(xf.data, 3, 37, t['fc.weight'], 11, bias ? t['fc.bias'] : undefined));
  });

  it('switchable batchnorm: the parameter set follows the activation bit-width', () => {
    const spec = graph(XS.slice(1), [bnN('bn', 'input', 3)]);
    const t = zoo.randomTensors(spec, 4);
    const outs = new Set<string>();
    for (const b of ALL_BITS) {
      outs.add(Array.from(runFloat(spec, t, x, bnApply(x.data, XS, bnRef(t, 'bn', true, b)), { weights: 8, activations: b }).data).join());
    }
    expect(outs.size).toBe(ALL_BITS.length); // nine distinct parameter sets were used
    runFloat(spec, t, x, bnApply(x.data, XS, bnRef(t, 'bn', true, 5)), { weights: 3, activations: 5 });
    runFloat(spec, t, x, bnApply(x.data, XS, bnRef(t, 'bn', true, 32)), { weights: 1, activations: 32 });
  });

  it('plain batchnorm (one parameter set at every bit-width), on images and on features', () => {
    const spec = graph(XS.slice(1), [bnN('bn', 'input', 3, false)]);
    const t = zoo.randomTensors(spec, 5);
    expect(Object.keys(t).sort()).toEqual(['bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.weight']);
    for (const b of [1, 3, 32]) runFloat(spec, t, x, bnApply(x.data, XS, bnRef(t, 'bn', false, '')), b);
    const specF = graph([10], [bnN('bn', 'input', 10, false)]);
    const tf = zoo.randomTensors(specF, 6);
    const xf = new Tensor(normalArray(rng(73), 40), [4, 10]);
    runFloat(specF, tf, xf, bnApply(xf.data, [4, 10], bnRef(tf, 'bn', false, '')));
  });

  it('relu, clamp, dropout (identity)', () => {
    const ident = { y: Float64Array.from(x.data), mag: Float64Array.from(x.data, abs), shape: XS };
    runFloat(graph(XS.slice(1), [opN('r', 'relu', 'input')]), {}, x, { ...ident, y: ident.y.map((v) => max(v, 0)) });
    runFloat(graph(XS.slice(1), [{ name: 'c', op: 'clamp', inputs: ['input'], min: -0.3, max: 0.7 }]), {}, x,
      { ...ident, y: ident.y.map((v) => min(0.7, max(-0.3, v))) });
    const got = runFloat(graph(XS.slice(1), [{ name: 'd', op: 'dropout', inputs: ['input'], p: 0.5 }]), {}, x, ident);
    expect(Array.from(got.data)).toEqual(Array.from(x.data));
  });

  it.each([
    [[3, 3], [2, 2], [1, 1]],
    [[2, 3], [1, 2], [1, 1]],
    [[2, 2], [2, 2], [0, 0]],
  ] as Array<[Pair, Pair, Pair]>)('maxpool2d and avgpool2d (count_include_pad) k%j s%j p%j', (k, s, p) => {
    const neg = new Tensor(x.data.map((v) => -abs(v) - 0.1), XS); // all negative: padding must not act as 0
    for (const input of [x, neg]) {
      runFloat(graph(XS.slice(1), [poolN('mp', 'maxpool2d', 'input', k, s, p)]), {}, input, maxPoolRef(input.data, XS, k, s, p));
      runFloat(graph(XS.slice(1), [poolN('ap', 'avgpool2d', 'input', k, s, p)]), {}, input, avgPoolRef(input.data, XS, k, s, p));
    }
  });

  it('maxpool on activation codes (padded) equals the pooled quantised values', () => {
    const spec = graph(XS.slice(1), [opN('q', 'quantize', 'input'), poolN('mp', 'maxpool2d', 'q', [3, 3], [2, 2], [1, 1])]);
    const xq = quantInput(74, XS);
    for (const b of BITS) {
      const n = 2 ** b - 1;
      const want = maxPoolRef(Float64Array.from(xq.data, (v) => fr(actCode(v, b) / n)), XS, [3, 3], [2, 2], [1, 1]);
      const got = Model.build(spec, {}).runSync(xq, { bits: b });
      expect(exactly(got.data, want.y)).toBe('');
    }
  });

  it('globalavgpool', () => {
    const [n, c, h, w] = XS;
    const y = new Float64Array(n * c), mag = new Float64Array(n * c);
    for (let i = 0; i < n * c; i++)
      for (let j = 0; j < h * w; j++) {
        y[i] += x.data[i * h * w + j] / (h * w);
        mag[i] += abs(x.data[i * h * w + j]) / (h * w);
      }
    runFloat(graph(XS.slice(1), [opN('g', 'globalavgpool', 'input')]), {}, x, { y, mag, shape: [n, c] });
  });

  it('flatten is NCHW order (as PyTorch), into linear and as the output', () => {
    const g = geom([3, 3], [1, 1], [1, 1]);
    const spec = graph(XS.slice(1), [convN('c', 'input', 3, 4, g, true), opN('f', 'flatten', 'c'), linearN('fc', 'f', 4 * 8 * 7, 6, true)]);
    const t = zoo.randomTensors(spec, 7);
    const c = convRef(x.data, XS, t['c.weight'], 4, g, t['c.bias']);
    runFloat({ ...spec, output: 'f' }, t, x, { ...c, shape: [2, 4 * 8 * 7] });
    const fc = linearRef(c.y, 2, 4 * 8 * 7, t['fc.weight'], 6, t['fc.bias']);
    const fcMag = linearRef(c.mag, 2, 4 * 8 * 7, t['fc.weight'].map(abs), 6, t['fc.bias'].map(abs));
    runFloat(spec, t, x, { ...fc, mag: fcMag.y });
    // flatten of activation codes (kept as codes) into a quantised linear
    const specQ = graph(XS.slice(1), [opN('q', 'quantize', 'input'), opN('f', 'flatten', 'q'), qlinearN('fc', 'f', 3 * 8 * 7, 5, false)]);
    const tq = zoo.randomTensors(specQ, 8);
    const xq = quantInput(75, XS);
    const fails: string[] = [];
    for (const b of [1, 3, 8]) {
      const s = qsum(refActs(xq.data, b), refWeights(tq['fc.weight'], b, 'truncate'), (a, w) => linearRef(a, 2, 3 * 8 * 7, w, 5));
      checkOut(Model.build(specQ, tq).runSync(xq, { bits: b }), epilogueRef(s, {}), `bits ${b}`, fails, new KnifeEdge());
    }
    expect(fails).toEqual([]);
  });

  it('add (residual) then relu', () => {
    const g = geom([3, 3], [1, 1], [1, 1]);
    const spec = graph(XS.slice(1), [convN('c', 'input', 3, 3, g, true), { name: 'sum', op: 'add', inputs: ['c', 'input'] }, opN('r', 'relu', 'sum')]);
    const t = zoo.randomTensors(spec, 9);
    const c = convRef(x.data, XS, t['c.weight'], 3, g, t['c.bias']);
    const y = c.y.map((v, i) => max(0, v + x.data[i]));
    runFloat(spec, t, x, { y, mag: c.mag.map((m, i) => m + abs(x.data[i])), shape: XS });
  });

  it('softmax after linear', () => {
    const spec = graph([12], [linearN('fc', 'input', 12, 6, true), opN('s', 'softmax', 'fc')]);
    const t = zoo.randomTensors(spec, 10);
    const xf = new Tensor(normalArray(rng(76), 36, 2), [3, 12]);
    const l = linearRef(xf.data, 3, 12, t['fc.weight'], 6, t['fc.bias']);
    const y = new Float64Array(18);
    for (let i = 0; i < 3; i++) {
      const row = l.y.subarray(i * 6, i * 6 + 6), m = max(...row);
      const e = row.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
      e.forEach((v, j) => (y[i * 6 + j] = v / s));
    }
    const got = runFloat(spec, t, xf, { y, mag: y, shape: [3, 6] });
    for (let i = 0; i < 3; i++) expect(abs(got.data.slice(i * 6, i * 6 + 6).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
  });

  it('sign: bipolar activations (+1 for x >= 0) feeding a qlinear, every weight precision', () => {
    const xf = new Tensor(normalArray(rng(77), 3 * 70), [3, 70]);
    xf.data[5] = 0;
    xf.data[6] = -0;
    const sgn = Float64Array.from(xf.data, (v) => (v >= 0 ? 1 : -1));
    expect(exactly(Model.build(graph([70], [opN('s', 'sign', 'input')]), {}).runSync(xf).data, sgn)).toBe('');
    for (const mode of MODES) {
      for (const bias of [false, true]) {
        const spec = graph([70], [opN('s', 'sign', 'input'), qlinearN('fc', 's', 70, 9, bias)], { weightMode: mode });
        const t = zoo.randomTensors(spec, 78);
        const model = Model.build(spec, t);
        const fails: string[] = [];
        for (const [wb, ab] of precisions()) {
          const s = qsum({ v: sgn, n: 1 }, refWeights(t['fc.weight'], wb, mode), (a, w) => linearRef(a, 3, 70, w, 9));
          checkOut(model.runSync(xf, { bits: { weights: wb, activations: ab } }), epilogueRef(s, { bias: bias ? t['fc.bias'] : undefined }),
            `${mode} bias ${bias} ${label(wb, ab)}`, fails, new KnifeEdge());
        }
        expect(fails).toEqual([]);
      }
    }
  });

  it.each([
    ['no padding', geom([3, 3], [1, 1], [0, 0])],
    ['zero padding (padded taps are 0, not -1)', geom([3, 3], [2, 1], [1, 1])],
    ['zero padding on one axis, dilation 2', geom([2, 3], [1, 1], [0, 2], [1, 2])],
  ])('sign -> qconv2d, %s; raw and fused with bn -> quantize', (_l, g) => {
    const xs = [2, 5, 6, 7];
    const xi = new Tensor(normalArray(rng(79), size(xs)), xs);
    const sgn = Float64Array.from(xi.data, (v) => (v >= 0 ? 1 : -1));
    const raw = graph(xs.slice(1), [opN('s', 'sign', 'input'), qconvN('c', 's', 5, 4, g)]);
    const fused = graph(xs.slice(1), [...raw.nodes, bnN('bn', 'c', 4), opN('q', 'quantize', 'bn')]);
    const t = zoo.randomTensors(fused, 80);
    const fails: string[] = [], edge = new KnifeEdge();
    for (const wb of ALL_BITS) {
      const s = qsum({ v: sgn, n: 1 }, refWeights(t['c.weight'], wb, 'truncate'), (a, w) => convRef(a, xs, w, 4, g));
      checkOut(Model.build(raw, t).runSync(xi, { bits: wb }), epilogueRef(s, {}), `w${wb}`, fails, edge);
      const bits = { weights: wb, activations: 3 };
      checkOut(Model.build(fused, t).runSync(xi, { bits }), epilogueRef(s, { bn: bnRef(t, 'bn', true, 3), act: 'quantize', bits: 3 }),
        `w${wb} fused`, fails, edge);
    }
    expect(fails).toEqual([]);
    edge.check();
  });
});

// =============================================================================================
// 4. Batches: per-sample results do not depend on the batch

describe('batches of 1, 3 and 17 give the per-sample results bit for bit', () => {
  const cnn = (): GraphSpec => graph([3, 9, 8], [
    convN('c0', 'input', 3, 8, geom([3, 3], [1, 1], [1, 1]), true), bnN('bn0', 'c0', 8), opN('q0', 'quantize', 'bn0'),
    qconvN('c1', 'q0', 8, 70, geom([3, 3], [1, 1], [1, 1])), bnN('bn1', 'c1', 70), opN('q1', 'quantize', 'bn1'),
    poolN('mp', 'maxpool2d', 'q1', [3, 3], [2, 2], [1, 1]),
    qconvN('c2', 'mp', 70, 6, geom([3, 2], [1, 1], [1, 0], [1, 2])), bnN('bn2', 'c2', 6), opN('r2', 'relu', 'bn2'),
    poolN('ap', 'avgpool2d', 'r2', [2, 2], [1, 1], [1, 1]), opN('gap', 'globalavgpool', 'ap'),
    linearN('fc', 'gap', 6, 5, true), opN('sm', 'softmax', 'fc'),
  ]);
  it.each([
    ['cnn (truncate)', cnn(), [3, 9, 8]],
    ['cnn (requant)', { ...cnn(), weightMode: 'requant' as const }, [3, 9, 8]],
    ['zoo mlp', zoo.mlp([40, 70, 20, 10]), [40]],
  ])('%s', (_l, spec, shape) => {
    const t = zoo.randomTensors(spec, 91);
    const model = Model.build(spec, t);
    const per = size(shape);
    const x = new Tensor(uniformArray(rng(92), 17 * per, -1, 2), [17, ...shape]);
    for (const bits of [1, 2, 4, 8, 32, { weights: 3, activations: 6 }, { weights: 32, activations: 2 }, { weights: 5, activations: 32 }]) {
      const one = Array.from({ length: 17 }, (_, i) => model.runSync(new Tensor(x.data.slice(i * per, (i + 1) * per), [1, ...shape]), { bits }));
      const outPer = one[0].size;
      const all = model.runSync(x, { bits });
      expect(all.shape).toEqual([17, ...one[0].shape.slice(1)]);
      const three = model.runSync(new Tensor(x.data.slice(5 * per, 8 * per), [3, ...shape]), { bits });
      const fails: string[] = [];
      for (let i = 0; i < 17; i++) {
        const d = exactly(all.data.subarray(i * outPer, (i + 1) * outPer), one[i].data);
        if (d) fails.push(`bits ${JSON.stringify(bits)} sample ${i} of 17: ${d}`);
      }
      for (let i = 0; i < 3; i++) {
        const d = exactly(three.data.subarray(i * outPer, (i + 1) * outPer), one[5 + i].data);
        if (d) fails.push(`bits ${JSON.stringify(bits)} sample ${i} of 3: ${d}`);
      }
      expect(fails).toEqual([]);
    }
  });
});

// =============================================================================================
// 5. Errors

function thrown(fn: () => unknown): { name: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  return { name: 'none', message: 'nothing was thrown' };
}

describe('errors', () => {
  const XS = [3, 5, 5];
  const G = geom([3, 3], [1, 1], [1, 1]);
  const base = (o: Partial<GraphSpec> = {}) =>
    graph(XS, [opN('q0', 'quantize', 'input'), qconvN('c1', 'q0', 3, 4, G), bnN('bn1', 'c1', 4), opN('q1', 'quantize', 'bn1')], o);
  const x = quantInput(1, [2, ...XS]);
  const build = (spec: GraphSpec) => Model.build(spec, zoo.randomTensors(spec, 1));
  const requant = build(base({ weightMode: 'requant', bitList: [2, 4, 32] }));
  const truncate = build(base({ weightMode: 'truncate', bitList: [2, 4] }));
  const noBn = build(graph(XS, [opN('q0', 'quantize', 'input'), qconvN('c1', 'q0', 3, 4, G)], { weightMode: 'requant', bitList: [2, 4] }));
  const bad = (nodes: unknown[], o: Partial<GraphSpec> = {}) => () => {
    const spec = graph(XS, nodes as NodeSpec[], o);
    Model.build(spec, zoo.randomTensors(spec, 1)).runSync(x);
  };
  const missingBn = zoo.randomTensors(base({ bitList: [2, 4] }), 1);
  delete missingBn['bn1.4.running_var'];

  it.each([
    ['input shape', () => requant.runSync(quantInput(1, [2, 3, 5, 4]), { bits: 2 }), 'RangeError', /input must have shape \[N, 3, 5, 5\], got \[2, 3, 5, 4\]/],
    ['input rank', () => requant.runSync(quantInput(1, [75]), { bits: 2 }), 'RangeError', /input must have shape \[N, 3, 5, 5\]/],
    ['empty batch', () => requant.runSync(new Tensor(new Float32Array(0), [0, 3, 5, 5]), { bits: 2 }), 'RangeError', /at least one sample/],
    ['input not a Tensor', () => requant.runSync(x.data as never), 'TypeError', /x must be a Tensor/],
    ['requant: weight bits not in the bit list', () => noBn.runSync(x, { bits: 3 }), 'RangeError', /layer c1 has no 3-bit weights \(bit list: 2, 4\)/],
    ['requant: 32 not in the bit list', () => noBn.runSync(x, { bits: 32 }), 'RangeError', /layer c1 has no float weights/],
    ['requant: mixed pair outside the bit list', () => requant.runSync(x, { bits: { weights: 8, activations: 4 } }), 'RangeError', /c1 has no 8-bit weights/],
    ['switchable BN: activation bits not in the bit list', () => requant.runSync(x, { bits: { weights: 2, activations: 3 } }), 'RangeError', /batch norm bn1 has no parameters for 3-bit activations \(bit list: 2, 4, 32\)/],
    ['switchable BN (truncate model)', () => truncate.runSync(x, { bits: 6 }), 'RangeError', /batch norm bn1 has no parameters for 6-bit activations/],
    ['BN tensors missing for one bit-width', () => Model.build(base({ bitList: [2, 4] }), missingBn), 'RangeError', /missing tensor 'bn1\.4\.running_var'/],
    ['weight tensor of the wrong size', () => Model.build(base(), { ...zoo.randomTensors(base(), 1), 'c1.weight': new Float32Array(5) }), 'RangeError', /tensor 'c1\.weight' must hold 108 values, got 5/],
    ['bits out of range', () => truncate.runSync(x, { bits: 9 }), 'RangeError', /bits must be an integer in 1\.\.8 or 32, got 9/],
    ['bits of the wrong type', () => truncate.runSync(x, { bits: '4' as never }), 'TypeError', /bits must be a bit-width or \{ weights, activations \}/],
    ['unknown layer in layers', () => truncate.runSync(x, { bits: 2, layers: { nope: 2 } }), 'RangeError', /layers\.nope is not a layer/],
    ['unknown op', bad([{ name: 'a', op: 'gelu', inputs: ['input'] }]), 'RangeError', /graph\.nodes\[0\] \(a\)\.op must be one of .*got "gelu"/],
    ['reading a later node', bad([opN('a', 'relu', 'b'), opN('b', 'relu', 'input')]), 'RangeError', /graph\.nodes\[0\] \(a\) reads 'b', which is not 'input' or an earlier node/],
    ['reading a missing node', bad([opN('a', 'relu', 'input'), opN('b', 'relu', 'zz')]), 'RangeError', /nodes\[1\] \(b\) reads 'zz'/],
    ['duplicate name', bad([opN('a', 'relu', 'input'), opN('a', 'relu', 'input')]), 'RangeError', /'a' is used twice/],
    ['add with one input', bad([{ name: 'a', op: 'add', inputs: ['input'] }]), 'RangeError', /inputs must name 2 input/],
    ['kernel [0, 3]', bad([qconvN('c', 'input', 3, 4, geom([0, 3]))]), 'RangeError', /nodes\[0\] \(c\) needs kernel, stride, dilation as \[h, w\] positive/],
    ['kernel [3]', bad([qconvN('c', 'input', 3, 4, { ...G, kernel: [3] as never })]), 'RangeError', /\(c\) needs kernel/],
    ['kernel 1.5', bad([convN('c', 'input', 3, 4, geom([1.5, 1]), false)]), 'RangeError', /\(c\) needs kernel/],
    ['negative padding', bad([qconvN('c', 'input', 3, 4, geom([3, 3], [1, 1], [-1, 0]))]), 'RangeError', /padding as \[h, w\] >= 0/],
    ['kernel larger than the input', bad([convN('c', 'input', 3, 4, geom([7, 3]), false)], { bitList: [32] }), 'RangeError', /node c \(conv2d\): kernel larger than its padded 5x5 input/],
    ['pool window larger than the input', bad([poolN('p', 'maxpool2d', 'input', [6, 6], [1, 1], [0, 0])]), 'RangeError', /window larger than its input/],
    ['channel mismatch', () => { const s = graph(XS, [convN('c', 'input', 4, 2, G, false)]); Model.build(s, zoo.randomTensors(s)).runSync(x); }, 'RangeError', /node c \(conv2d\) expects 4 input channels, gets 3/],
    ['linear on an image', () => { const s = graph(XS, [linearN('fc', 'input', 75, 2, false)]); Model.build(s, zoo.randomTensors(s)).runSync(x); }, 'RangeError', /expects \[75\] features, gets \[5, 5, 3\] \(flatten first\?\)/],
    ['add of different shapes', bad([poolN('p', 'maxpool2d', 'input', [2, 2], [2, 2], [0, 0]), { name: 'a', op: 'add', inputs: ['p', 'input'] }]), 'RangeError', /node a \(add\) adds shapes/],
    ['bad bit list', bad([opN('a', 'relu', 'input')], { bitList: [0] }), 'RangeError', /graph\.bitList/],
    ['bad weight mode', bad([opN('a', 'relu', 'input')], { weightMode: 'round' as never }), 'RangeError', /graph\.weightMode must be 'truncate' or 'requant'/],
    ['graph not an object', () => Model.build(null as never, {}), 'TypeError', /graph must be an object/],
  ])('%s', (_l, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });
});
