// The float convolution (kernels.floatConv / floatLinear): on every ISA of this machine, forced in
// turn, at odd geometries against a float64 direct convolution within the fgemm bound; bit for bit
// the path it replaces (im2colFloat + floatGemm, then channelAffine or quantizeActivations); each
// sample of a batch gets its batch-1 bits; thread counts change nothing; a fused residual add and
// second output give the separate passes' bits; argument errors; async.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels, Model, Tensor, zoo } from '../lib';
import type { GraphSpec } from '../lib';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
afterAll(() => {
  kernels.setIsa(defaultIsa);
  kernels.setThreads(1);
});

function randomFloats(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * rand();
  return v;
}

interface Geometry { n: number; h: number; w: number; c: number; o: number; k: number; stride: number; pad: number }

const outSize = (size: number, g: Geometry) => Math.floor((size + 2 * g.pad - g.k) / g.stride) + 1;

/** Float64 direct convolution (+ bias) of NHWC x with [o][(ky, kx, c)] weights, and sum |x*w| + |bias| per output. */
function reference(g: Geometry, x: Float32Array, w: Float32Array, bias: Float32Array | null) {
  const oh = outSize(g.h, g), ow = outSize(g.w, g), kk = g.k * g.k * g.c;
  const ref = new Float64Array(g.n * oh * ow * g.o), mag = new Float64Array(ref.length);
  for (let i = 0; i < g.n; i++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let o = 0; o < g.o; o++) {
          let s = bias ? bias[o] : 0, m = bias ? Math.abs(bias[o]) : 0;
          for (let ky = 0; ky < g.k; ky++)
            for (let kx = 0; kx < g.k; kx++) {
              const iy = oy * g.stride + ky - g.pad, ix = ox * g.stride + kx - g.pad;
              if (iy < 0 || ix < 0 || iy >= g.h || ix >= g.w) continue;
              for (let c = 0; c < g.c; c++) {
                const p = x[((i * g.h + iy) * g.w + ix) * g.c + c] * w[o * kk + (ky * g.k + kx) * g.c + c];
                s += p;
                m += Math.abs(p);
              }
            }
          const at = ((i * oh + oy) * ow + ox) * g.o + o;
          ref[at] = s;
          mag[at] = m;
        }
  return { ref, mag, k: kk };
}

/** fgemm.h's bound, doubled, plus the smallest normal float. */
const tolerance = (k: number, mag: number) => 2 * (k + 2) * 2 ** -24 * mag + 2 ** -126;

const sameBits = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

// Input channels 1/3/5 (and 16/64: ResNet-20's shortcuts, several K blocks), output channels
// 1/10/16/17/33 (and 270/300), kernels 1/3/5/7, strides 1/2, padding 0/1/3, batches 1/2/3/17.
const GEOMETRIES: Geometry[] = [
  { n: 1, h: 32, w: 32, c: 3, o: 16, k: 3, stride: 1, pad: 1 },  // ResNet-20's stem
  { n: 3, h: 8, w: 8, c: 16, o: 32, k: 1, stride: 2, pad: 0 },   // its shortcuts
  { n: 17, h: 5, w: 6, c: 1, o: 10, k: 3, stride: 1, pad: 1 },
  { n: 3, h: 9, w: 7, c: 5, o: 17, k: 5, stride: 2, pad: 3 },
  { n: 1, h: 11, w: 10, c: 3, o: 33, k: 7, stride: 2, pad: 3 },
  { n: 3, h: 6, w: 7, c: 5, o: 1, k: 1, stride: 1, pad: 0 },
  { n: 1, h: 12, w: 9, c: 1, o: 16, k: 7, stride: 1, pad: 3 },
  { n: 17, h: 4, w: 4, c: 3, o: 17, k: 3, stride: 2, pad: 0 },
  { n: 1, h: 7, w: 7, c: 64, o: 10, k: 3, stride: 1, pad: 1 },   // K = 576: three K blocks
  // More than 256 output channels (kFloatTaskCols): the direct paths' one task per row block
  // finished only the first 256 columns and, for codes, overran its scratch (a heap corruption)
  { n: 2, h: 5, w: 6, c: 8, o: 300, k: 3, stride: 1, pad: 1 },
  // One output pixel per sample (a dense layer as a conv: the indirect kernel where a table has one)
  { n: 3, h: 1, w: 1, c: 40, o: 270, k: 1, stride: 1, pad: 0 },
  { n: 3, h: 7, w: 7, c: 8, o: 20, k: 7, stride: 1, pad: 0 },
];

describe.each(ISAS)('floatConv on isa %s', (isa) => {
  it.each(GEOMETRIES)('n=$n h=$h w=$w c=$c o=$o k=$k stride=$stride pad=$pad: bound, lowered bits, fused epilogues, batch', (g) => {
    kernels.setIsa(isa);
    const rand = rng(g.n * 7919 + g.c * 131 + g.o * 17 + g.k);
    const kk = g.k * g.k * g.c;
    const x = randomFloats(rand, g.n * g.h * g.w * g.c), w = randomFloats(rand, g.o * kk, -0.5, 0.5);
    const bias = randomFloats(rand, g.o), scale = randomFloats(rand, g.o, 0.2, 1.5), shift = randomFloats(rand, g.o, -0.2, 0.8);
    const shape = { n: g.n, h: g.h, w: g.w, c: g.c };
    const conv = { kernel: [g.k, g.k] as [number, number], stride: [g.stride, g.stride] as [number, number], padding: [g.pad, g.pad] as [number, number] };
    const packed = kernels.packFloatWeights(w, g.o, kk);
    const rows = g.n * outSize(g.h, g) * outSize(g.w, g);
    for (const b of [null, bias]) {
      const got = kernels.floatConv(x, shape, conv, packed, { bias: b });
      expect(Object.prototype.toString.call(got)).toBe('[object Float32Array]');
      const { ref, mag } = reference(g, x, w, b);
      for (let i = 0; i < got.length; i++) {
        if (!(Math.abs(got[i] - ref[i]) <= tolerance(kk, mag[i]))) {
          throw new Error(`${isa}: out[${i}] = ${got[i]}, reference ${ref[i]}, bound ${tolerance(kk, mag[i])}`);
        }
      }
      // The lowered path's bits: the sums, the affine + ReLU, the quantiser.
      const lowered = kernels.floatGemm(kernels.im2colFloat(x, shape, conv), rows, kk, w, g.o, { bias: b });
      expect(sameBits(got, lowered)).toBe(true);
      const relu = kernels.floatConv(x, shape, conv, packed, { bias: b, scale, shift, min: 0 });
      expect(sameBits(relu, kernels.channelAffine(lowered, g.o, scale, shift, 0))).toBe(true);
      const clamped = kernels.floatConv(x, shape, conv, packed, { bias: b, shift, min: -0.25, max: 0.5 });
      expect(sameBits(clamped, kernels.channelAffine(lowered, g.o, null, shift, -0.25, 0.5))).toBe(true);
      // A residual block's sum and the next block's input in the same call: the bits of
      // channelAffine, addFloats, then channelAffine / quantizeActivations of the sum.
      const residual = randomFloats(rand, relu.length);
      const sum = kernels.addFloats(kernels.channelAffine(lowered, g.o, scale, shift, 0), residual);
      const next = new Float32Array(sum.length);
      const fused = kernels.floatConv(x, shape, conv, packed, { bias: b, scale, shift, min: 0, residual, next: { out: next, scale: shift, shift: scale, min: 0 } });
      expect(sameBits(fused, sum)).toBe(true);
      expect(sameBits(next, kernels.channelAffine(sum, g.o, shift, scale, 0))).toBe(true);
      const nextCodes = new Uint8Array(sum.length);
      const out = new Float32Array(sum.length);
      expect(kernels.floatConv(x, shape, conv, packed, { bias: b, scale, shift, min: 0, residual, out, next: { out: nextCodes, scale: shift, bits: 3 } })).toBe(out);
      expect(sameBits(out, sum)).toBe(true);
      expect(sameBits(nextCodes, kernels.quantizeActivations(sum, g.o, shift, null, 3))).toBe(true);
      for (const bits of [1, 2, 4, 8]) {
        const codes = kernels.floatConv(x, shape, conv, packed, { bias: b, scale, shift, bits });
        expect(Object.prototype.toString.call(codes)).toBe('[object Uint8Array]');
        expect(sameBits(codes, kernels.quantizeActivations(lowered, g.o, scale, shift, bits))).toBe(true);
      }
    }
    // Each sample alone gives its bits in the batch.
    if (g.n > 1) {
      const all = kernels.floatConv(x, shape, conv, packed, { bias });
      const per = all.length / g.n, inPer = g.h * g.w * g.c;
      for (let i = 0; i < g.n; i++) {
        const one = kernels.floatConv(x.subarray(i * inPer, (i + 1) * inPer), { ...shape, n: 1 }, conv, packed, { bias });
        expect(sameBits(one, all.subarray(i * per, (i + 1) * per))).toBe(true);
      }
    }
  });

  it('floatLinear is floatGemm with the epilogue, at batch 1, 3 and 17', () => {
    kernels.setIsa(isa);
    const rand = rng(5);
    for (const [n, k, o] of [[1, 64, 10], [3, 300, 33], [17, 5, 16]]) {
      const x = randomFloats(rand, n * k), w = randomFloats(rand, o * k), bias = randomFloats(rand, o), shift = randomFloats(rand, o);
      const packed = kernels.packFloatWeights(w, o, k);
      const plain = kernels.floatGemm(x, n, k, w, o, { bias });
      expect(sameBits(kernels.floatLinear(x, n, packed, { bias }), plain)).toBe(true);
      expect(sameBits(kernels.floatLinear(x, n, packed, { bias, shift, min: 0 }), kernels.channelAffine(plain, o, null, shift, 0))).toBe(true);
    }
  });

  it('floatLinear with a per-channel scale past 512 outputs (the epilogue indexes every column block)', () => {
    // Regression: before 2026-12-06 the scale/shift of output columns at and beyond 512 were read
    // from the block's start (the zoo MLP's float path was wrong by up to 10 at 784 -> 1024).
    kernels.setIsa(isa);
    const rand = rng(9);
    for (const [n, k, o] of [[1, 100, 600], [2, 784, 1024], [3, 17, 513]]) {
      const x = randomFloats(rand, n * k), w = randomFloats(rand, o * k);
      const scale = randomFloats(rand, o), shift = randomFloats(rand, o);
      const packed = kernels.packFloatWeights(w, o, k);
      const plain = kernels.floatGemm(x, n, k, w, o);
      expect(sameBits(kernels.floatLinear(x, n, packed, { scale, shift, min: 0 }), kernels.channelAffine(plain, o, scale, shift, 0))).toBe(true);
      // and against float64 arithmetic, independent of both kernels
      const y = kernels.floatLinear(x, n, packed, { scale, shift });
      let worst = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < o; j++) {
          let sum = 0;
          for (let t = 0; t < k; t++) sum += x[i * k + t] * w[j * k + t];
          worst = Math.max(worst, Math.abs(y[i * o + j] - (sum * scale[j] + shift[j])));
        }
      }
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('gives the same bits on 1 and 3 threads, and async equals sync', async () => {
    kernels.setIsa(isa);
    const rand = rng(6);
    const g = { n: 5, h: 20, w: 20, c: 3, o: 16 };
    const x = randomFloats(rand, g.n * g.h * g.w * g.c), packed = kernels.packFloatWeights(randomFloats(rand, 16 * 27), 16, 27);
    const shape = { n: g.n, h: g.h, w: g.w, c: g.c }, conv = { kernel: [3, 3] as [number, number], padding: [1, 1] as [number, number] };
    try {
      kernels.setThreads(1);
      const one = kernels.floatConv(x, shape, conv, packed);
      kernels.setThreads(3);
      expect(sameBits(kernels.floatConv(x, shape, conv, packed), one)).toBe(true);
      expect(sameBits(await kernels.floatConvAsync(x, shape, conv, packed), one)).toBe(true);
      const codes = kernels.floatConv(x, shape, conv, packed, { bits: 3 });
      expect(sameBits(await kernels.floatConvAsync(x, shape, conv, packed, { bits: 3 }), codes)).toBe(true);
    } finally {
      kernels.setThreads(1);
    }
  });
});

describe('floatConvAsync inputs given away mid-call', () => {
  it('x, the packed weights and the epilogue arrays detached after the call: the result is the original inputs\' one', async () => {
    const rand = rng(7);
    const shape = { n: 6, h: 24, w: 24, c: 8 }, conv = { kernel: [3, 3] as [number, number], padding: [1, 1] as [number, number] };
    const x = randomFloats(rand, 6 * 24 * 24 * 8), packed = kernels.packFloatWeights(randomFloats(rand, 40 * 72), 40, 72);
    const scale = randomFloats(rand, 40), shift = randomFloats(rand, 40);
    const want = kernels.floatConv(x, shape, conv, packed, { scale, shift, bits: 4 });
    const call = kernels.floatConvAsync(x, shape, conv, packed, { scale, shift, bits: 4 });
    for (const a of [x, packed.packed, scale, shift]) structuredClone(a.buffer, { transfer: [a.buffer] });
    expect(x.length).toBe(0);
    expect(sameBits(await call, want)).toBe(true);
  });
});

describe('floatConv arguments', () => {
  const x = new Float32Array(2 * 4 * 4 * 3), shape = { n: 2, h: 4, w: 4, c: 3 };
  const conv = { kernel: [3, 3] as [number, number], padding: [1, 1] as [number, number] };
  const packed = kernels.packFloatWeights(new Float32Array(5 * 27), 5, 27);
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['x type', () => kernels.floatConv(new Float64Array(96) as never, shape, conv, packed), 'TypeError', /^x must be a Float32Array/],
    ['x length', () => kernels.floatConv(new Float32Array(95), shape, conv, packed), 'RangeError', /^x must hold n\*h\*w\*c = 96 values, got 95/],
    ['weights raw', () => kernels.floatConv(x, shape, conv, new Float32Array(135) as never), 'TypeError', /^weights must be FloatWeights/],
    ['weights k', () => kernels.floatConv(x, shape, { kernel: [1, 1] }, packed), 'RangeError', /^weights have k = 27 .* kh\*kw\*c = 3/],
    ['kernel too large', () => kernels.floatConv(x, shape, { kernel: [5, 5] }, packed), 'RangeError', /kernel/],
    ['options type', () => kernels.floatConv(x, shape, conv, packed, 3 as never), 'TypeError', /^options must be an object/],
    ['bias length', () => kernels.floatConv(x, shape, conv, packed, { bias: new Float32Array(4) }), 'RangeError', /^bias must hold one value per output channel \(5\), got 4/],
    ['scale type', () => kernels.floatConv(x, shape, conv, packed, { scale: [1, 2, 3, 4, 5] as never }), 'TypeError', /^scale must be a Float32Array or null/],
    ['min > max', () => kernels.floatConv(x, shape, conv, packed, { min: 1, max: 0 }), 'RangeError', /^min \(1\) must not exceed max \(0\)/],
    ['min NaN', () => kernels.floatConv(x, shape, conv, packed, { min: NaN }), 'TypeError', /^min must be a number/],
    ['bits 9', () => kernels.floatConv(x, shape, conv, packed, { bits: 9 }), 'RangeError', /^bits must be an integer in 1\.\.8/],
    ['bits with min', () => kernels.floatConv(x, shape, conv, packed, { bits: 2, min: 0 }), 'RangeError', /^min\/max clamp float outputs/],
    ['residual length', () => kernels.floatConv(x, shape, conv, packed, { residual: new Float32Array(3) }), 'RangeError', /^options\.residual must hold n\*outH\*outW\*outChannels = 160 values, got 3/],
    ['residual with bits', () => kernels.floatConv(x, shape, conv, packed, { bits: 2, residual: new Float32Array(160) }), 'RangeError', /^options\.residual and options\.next need float output/],
    ['next type', () => kernels.floatConv(x, shape, conv, packed, { next: 3 as never }), 'TypeError', /^options\.next must be an object/],
    ['next out type', () => kernels.floatConv(x, shape, conv, packed, { next: { out: new Float32Array(160), bits: 2 } }), 'TypeError', /^options\.next\.out must be/],
    ['next out length', () => kernels.floatConv(x, shape, conv, packed, { next: { out: new Float32Array(7) } }), 'RangeError', /^options\.next\.out must hold n\*outH\*outW\*outChannels = 160 values, got 7/],
    ['next scale length', () => kernels.floatConv(x, shape, conv, packed, { next: { out: new Float32Array(160), scale: new Float32Array(2) } }), 'RangeError', /^options\.next\.scale must hold one value per output channel \(5\), got 2/],
    ['next min > max', () => kernels.floatConv(x, shape, conv, packed, { next: { out: new Float32Array(160), min: 2, max: 1 } }), 'RangeError', /^options\.next\.min \(2\) must not exceed/],
    ['next shares the residual', () => {
      const r = new Float32Array(160);
      return kernels.floatConv(x, shape, conv, packed, { residual: r, next: { out: r } });
    }, 'RangeError', /^next must not share memory with an input of the call/],
    ['out shares the residual', () => {
      const r = new Float32Array(160);
      return kernels.floatConv(x, shape, conv, packed, { residual: r, out: r });
    }, 'RangeError', /^out must not share memory with an input of the call/],
    ['pack length', () => kernels.packFloatWeights(new Float32Array(10), 5, 3), 'RangeError', /^w must hold outChannels\*k = 15 values, got 10/],
    ['pack channels', () => kernels.packFloatWeights(new Float32Array(0), 0, 3), 'RangeError', /^outChannels must be an integer in 1\.\./],
    ['linear n', () => kernels.floatLinear(new Float32Array(27), 1.5, packed), 'RangeError', /^n must be an integer/],
  ];

  it.each(cases)('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('the addon validates too (it is reachable without the TypeScript checks)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { native } = require('../lib/core/native');
    const geo = [2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1];
    const call = (over: Record<number, unknown>) => {
      const args: unknown[] = [x, ...geo, packed.packed, 5, null, null, null, -Infinity, Infinity, 0];
      for (const [i, v] of Object.entries(over)) args[Number(i)] = v;
      return () => native.floatConv(...args);
    };
    const cases2: Array<[() => unknown, string, RegExp]> = [
      [() => native.floatConv(x), 'TypeError', /takes 21 arguments/],
      [call({ 0: new Int32Array(96) }), 'TypeError', /^x must be a Float32Array/],
      [call({ 1: 0 }), 'RangeError', /^n must be an integer/],
      [call({ 5: 9 }), 'RangeError', /^conv shape: /],
      [call({ 13: new Float32Array(10) }), 'RangeError', /^wPacked must hold/],
      [call({ 14: 33 }), 'RangeError', /^wPacked must hold/],
      [call({ 15: new Float32Array(4) }), 'RangeError', /^bias must hold one value per output channel/],
      [call({ 16: 'x' }), 'TypeError', /^scale must be a Float32Array or null/],
      [call({ 18: 'a' }), 'TypeError', /^lo must be a number/],
      [call({ 18: 2, 19: 1 }), 'RangeError', /lo <= hi/],
      [call({ 20: 9 }), 'RangeError', /^bits must be an integer in 0\.\.8/],
      [() => native.packFloatWeights(new Float32Array(3), 2, 2), 'RangeError', /^w must hold n\*k = 4 values, got 3/],
    ];
    for (const [fn, name, message] of cases2) {
      const e = thrown(fn);
      expect(e.name).toBe(name);
      expect(e.message).toMatch(message);
    }
    const e = await native.floatConvAsync(x).catch((err: Error) => err);
    expect(e.name).toBe('TypeError');
    // The residual and second output (sync only).
    const args = [x, ...geo, packed.packed, 5, null, null, null, -Infinity, Infinity, 0, null];
    const fusedCases: Array<[unknown[], string, RegExp]> = [
      [[...args, null, new Float32Array(160)], 'TypeError', /with a second output takes 29 arguments/],
      [[...args, new Float32Array(3), null, null, null, 0, 0, 0], 'RangeError', /^residual must hold/],
      [[...args, null, new Float32Array(160), null, null, 'a', 0, 0], 'TypeError', /^nextLo must be a number/],
      [[...args, null, new Float32Array(160), null, null, 0, 0, 9], 'RangeError', /^nextBits must be an integer in 0\.\.8/],
      [[...args, null, new Float32Array(160), null, null, 0, 0, 2], 'TypeError', /^next must be a Uint8Array/],
      [[...args, null, new Float32Array(160), null, null, 1, 0, 0], 'RangeError', /lo <= hi/],
      [[...args.slice(0, 20), 2, null, new Float32Array(160)], 'RangeError', /needs float output/],
    ];
    for (const [a, name, message] of fusedCases) {
      const err = thrown(() => native.floatConv(...a));
      expect(err.name).toBe(name);
      expect(err.message).toMatch(message);
    }
    const rejected = await kernels.floatConvAsync(x, shape, conv, packed, { residual: new Float32Array(160) }).catch((err: Error) => err);
    expect((rejected as Error).message).toMatch(/^options\.residual is for floatConv \(sync\) only/);
    expect(native.floatConv(...[x, ...geo, packed.packed, 5, null, null, null, -Infinity, Infinity, 0]).length).toBe(2 * 16 * 5);
  });
});

describe('float layers in a model', () => {
  type Node = Record<string, unknown> & { name: string };
  const conv: Node = { name: 'conv', op: 'conv2d', inputs: ['input'], inChannels: 3, outChannels: 5, kernel: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], bias: true };
  const fc: Node = { name: 'fc', op: 'linear', inputs: ['input'], inFeatures: 12, outFeatures: 7, bias: true };
  // The same graph twice: in the second the layer's output is also read by a dropout, so the plan
  // cannot fuse its batch norm and activation (separate steps: the lowered path).
  const graphs = (layer: Node, channels: number, act: Node, inputShape: number[]): [GraphSpec, GraphSpec] => {
    const bn = { name: 'bn', op: 'batchnorm', inputs: [layer.name], channels, eps: 1e-5, switchable: false };
    const base = { format: 'anyprec-graph/1', inputShape, bitList: [2, 32], weightMode: 'truncate' };
    const tap = { name: 'tap', op: 'dropout', inputs: [layer.name], p: 0 };
    return [{ ...base, nodes: [layer, bn, act] } as unknown as GraphSpec,
      { ...base, nodes: [layer, bn, act, tap], output: act.name } as unknown as GraphSpec];
  };
  it.each<[string, Node, number, Node, number[]]>([
    ['conv2d + batch norm + quantiser', conv, 5, { name: 'q', op: 'quantize', inputs: ['bn'] }, [3, 9, 7]],
    ['linear + batch norm + ReLU', fc, 7, { name: 'r', op: 'relu', inputs: ['bn'] }, [12]],
  ])('%s: one fused step, the bits of the unfused steps', (_label, layer, channels, act, inputShape) => {
    const [fused, split] = graphs(layer, channels, act, inputShape);
    const tensors = zoo.randomTensors(fused, 3);
    const a = Model.build(fused, tensors), b = Model.build(split, tensors);
    const n = 3, size = inputShape.reduce((p, q) => p * q, 1);
    const x = new Tensor(Float32Array.from({ length: n * size }, (_, i) => Math.sin(i * 0.7)), [n, ...inputShape]);
    for (const bits of [2, 32]) {
      const ra = a.runSyncDetailed(x, { bits }), rb = b.runSyncDetailed(x, { bits });
      expect(ra.stats.layers.map((l) => l.nodes)).toEqual([[layer.name, 'bn', act.name]]);
      expect(rb.stats.layers.map((l) => l.nodes)).toEqual([[layer.name]]);
      expect(sameBits(ra.output.data, rb.output.data)).toBe(true);
    }
  });
});
