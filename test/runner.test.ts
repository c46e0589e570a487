// The native plan runner: a plan whose every step lowers runs as one native program (runSync)
// or on the kernel thread pool (run()), bit-identical to the step-by-step path (runSyncDetailed
// keeps that path), and a bad program description is refused field by field.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'fs';
import * as path from 'path';
import { importReference, kernels, loadSync, Model, Tensor, Uint8Tensor, zoo } from '../lib';
import type { GraphSpec } from '../lib';
import { fixturePath, readFloat32 } from './helpers/fixtures';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

function same(a: Tensor, b: Tensor): boolean {
  return a.shape.join() === b.shape.join() && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
    .equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
}

function input(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  return new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r()), shape);
}

/** runSync on the native program equals the step path (runSyncDetailed), and the program was used. */
function expectNativeSame(m: Model, x: Tensor | Uint8Tensor, bits?: unknown): void {
  const opts = bits === undefined ? undefined : { bits: bits as number };
  expect(m.runsNatively(opts)).toBe(true);
  const native = m.runSync(x, opts);
  const steps = m.runSyncDetailed(x, opts).output;
  expect(same(native, steps)).toBe(true);
}

const models: Model[] = [];
function keep(m: Model): Model {
  models.push(m);
  return m;
}
afterAll(async () => {
  await Promise.all(models.map((m) => m.close()));
});

let resnet: Model;
let images: Float32Array;
beforeAll(() => {
  resnet = keep(importReference('resnet20q', fixturePath('A', 'model.safetensors')));
  images = readFloat32(fixturePath('A', 'inputs.bin'));
});
const batch = (n: number, from = 0) => new Tensor(images.slice(from * 3072, (from + n) * 3072), [n, 3, 32, 32]);
/** Another model of fixture A's network (weights shared, nothing re-imported). */
const another = () => keep(Model.fromState(resnet.state()));

describe('native programs are bit-identical to the step path', () => {
  it.each([1, 2, 4, 8, 32])('fixture A (resnet20q) at %i bits, batches of 1, 3 and 17', (bits) => {
    for (const n of [1, 3, 17]) expectNativeSame(resnet, batch(n, n), bits);
  });

  it('fixture A with per-layer precision (mixed weights and activations)', () => {
    const m = another();
    m.setPrecision(4).setLayerPrecision('layers.3.conv0', { weights: 2, activations: 8 }).setLayerPrecision('layers.7.conv1', 1);
    expectNativeSame(m, batch(3, 5));
    expectNativeSame(m, batch(2, 9), { weights: 8, activations: 2 });
  });

  it('a batch above the slice size runs slice by slice with the same bits', () => {
    const slice = (resnet as unknown as { plan(o: object): { sliceSamples: number } }).plan({ bits: 2 }).sliceSamples;
    expect(slice).toBeLessThan(60);
    const n = slice + 3;
    const y = resnet.runSync(batch(n), { bits: 2 });
    const parts = [resnet.runSync(batch(slice), { bits: 2 }), resnet.runSync(batch(3, slice), { bits: 2 })];
    expect(Buffer.from(y.data.buffer).equals(Buffer.concat(parts.map((p) => Buffer.from(p.data.buffer))))).toBe(true);
    expect(same(y, resnet.runSyncDetailed(batch(n), { bits: 2 }).output)).toBe(true);
  });

  it('zoo cnn (max pooling and flatten on codes) and mlp at every bit-width', () => {
    const cnn = zoo.cnn({ bitList: [1, 2, 3, 8, 32] });
    const c = keep(Model.build(cnn, zoo.randomTensors(cnn, 3)));
    const mlp = zoo.mlp([64, 48, 40, 10], { bitList: [1, 2, 3, 8, 32] });
    const p = keep(Model.build(mlp, zoo.randomTensors(mlp, 4)));
    for (const bits of [1, 2, 3, 8, 32, { weights: 2, activations: 8 }, { weights: 32, activations: 3 }]) {
      expectNativeSame(c, input([3, 1, 28, 28], 11), bits);
      expectNativeSame(p, input([7, 64], 12), bits);
    }
  });

  it('a quantiser on the input: at 32 bits its clamp is done by the input\'s layout change (one op), same bits', () => {
    const g: GraphSpec = {
      format: 'anyprec-graph/1', inputShape: [5, 7, 9], bitList: [2, 8, 32], weightMode: 'truncate',
      nodes: [
        { name: 'q0', op: 'quantize', inputs: ['input'] },
        { name: 'conv', op: 'qconv2d', inputs: ['q0'], inChannels: 5, outChannels: 6, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] },
        { name: 'bn', op: 'batchnorm', inputs: ['conv'], channels: 6, eps: 1e-5, switchable: true },
        { name: 'q1', op: 'quantize', inputs: ['bn'] },
      ],
    } as GraphSpec;
    const m = keep(Model.build(g, zoo.randomTensors(g, 6)));
    const lowered = (m as unknown as { plan(o: object): { lower(n: number): kernels.ProgramDescription } }).plan({ bits: 32 }).lower(3);
    expect(lowered.ops.map((o) => o.op)).not.toContain('affine');
    expect(lowered.ops[0]).toMatchObject({ op: 'nchwToNhwc', min: 0 });
    for (const n of [1, 3, 17]) {
      const r = rng(40 + n);
      // values below 0 and above 1 (clamped), -0 among them
      const x = new Tensor(Float32Array.from({ length: n * 5 * 7 * 9 }, (_, i) => (i % 97 === 0 ? -0 : 3 * r() - 1)), [n, 5, 7, 9]);
      for (const bits of [2, 8, 32]) expectNativeSame(m, x, bits);
    }
  });

  it('the bundled model on raw uint8 digits', () => {
    const m = keep(loadSync(path.join(__dirname, '..', 'models', 'mnist', 'resnet20-any.anyprec')));
    const digits = new Uint8Array(fs.readFileSync(path.join(__dirname, '..', 'models', 'mnist', 'test-digits.u8')).subarray(0, 6 * 784));
    for (const bits of m.graph.bitList) expectNativeSame(m, new Uint8Tensor(digits, [6, 1, 28, 28]), bits);
  });

  it('a gated model keeps the step path (and its answers)', () => {
    const g = zoo.withGates(zoo.mlp([64, 32, 10], { bitList: [4, 8, 32] }), {}, ['fc1']);
    const m = keep(Model.build(g, zoo.randomTensors(g, 5)));
    expect(m.runsNatively({ bits: 4 })).toBe(false);
    const x = input([2, 64], 13);
    expect(same(m.runSync(x, { bits: 4 }), m.runSyncDetailed(x, { bits: 4 }).output)).toBe(true);
  });

  it('follows the GEMM path setting: the forced int8 route gives the same bits', () => {
    const x = batch(3, 30);
    const auto = resnet.runSync(x, { bits: 2 });
    try {
      kernels.setGemmPath('int8');
      expect(same(resnet.runSync(x, { bits: 2 }), auto)).toBe(true);
      kernels.setGemmPath('bitserial');
      expect(same(resnet.runSync(x, { bits: 2 }), auto)).toBe(true);
    } finally {
      kernels.setGemmPath('auto');
    }
  });
});

describe('run() on the native program', () => {
  it('200 concurrent calls at mixed precisions equal runSync', async () => {
    const m = another().setWorkers(3);
    const precisions = [1, 2, 4, 8, 32, { weights: 2, activations: 4 }];
    const calls = Array.from({ length: 200 }, (_, i) => {
      const x = batch(1 + (i % 3), i % 20), bits = precisions[i % precisions.length];
      return m.run(x, { bits }).then((y) => same(y, m.runSync(x, { bits })));
    });
    expect((await Promise.all(calls)).every(Boolean)).toBe(true);
    expect((m as unknown as { pool?: unknown }).pool).toBeUndefined(); // no worker thread was started
  });

  it('runDetailed: the same output, and the step path\'s layer accounting with measured times', async () => {
    const m = another();
    for (const n of [1, 40]) { // 40: above the slice size (stats summed over slices)
      const x = batch(n);
      const native = await m.runDetailed(x, { bits: 2 });
      const steps = m.runSyncDetailed(x, { bits: 2 });
      expect(same(native.output, steps.output)).toBe(true);
      const strip = (l: { ms: number }) => ({ ...l, ms: 0 });
      expect(native.stats.layers.map(strip)).toEqual(steps.stats.layers.map(strip));
      expect({ ...native.stats, layers: [], ms: 0 }).toEqual({ ...steps.stats, layers: [], ms: 0 });
      const layerMs = native.stats.layers.reduce((a, l) => a + l.ms, 0);
      expect(native.stats.layers.every((l) => l.ms >= 0)).toBe(true);
      expect(layerMs).toBeGreaterThan(0);
      expect(layerMs).toBeLessThanOrEqual(native.stats.ms + 1e-9);
    }
    expect((m as unknown as { pool?: unknown }).pool).toBeUndefined();
  });

  it('a call aborted before it starts never computes', async () => {
    const m = another();
    const queue = (m as unknown as { nativeRuns: { started: number; waiting: number } }).nativeRuns;
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(m.run(batch(1), { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError', cause: { message: 'gone' } });
    expect(queue.started).toBe(0);
    const late = new AbortController();
    const first = m.run(batch(17), { bits: 8 });
    const second = m.run(batch(1), { bits: 2, signal: late.signal });
    expect(queue.waiting).toBe(1);
    late.abort();
    expect(queue.waiting).toBe(0);
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    await first;
    expect(queue.started).toBe(1);
  });

  it('detaching the input right after run() changes nothing (started or queued)', async () => {
    const m = another();
    const want = [m.runSync(batch(2, 3), { bits: 2 }), m.runSync(batch(1, 4), { bits: 4 })];
    const a = batch(2, 3), b = batch(1, 4);
    const calls = [m.run(a, { bits: 2 }), m.run(b, { bits: 4 })]; // the second waits in the queue
    structuredClone(a.data.buffer, { transfer: [a.data.buffer] });
    structuredClone(b.data.buffer, { transfer: [b.data.buffer] });
    expect(a.data.length).toBe(0);
    const got = await Promise.all(calls);
    expect(same(got[0], want[0]) && same(got[1], want[1])).toBe(true);
  });

  it('close() rejects the calls still waiting; the model runs again afterwards', async () => {
    const m = another();
    const first = m.run(batch(4), { bits: 8 });
    const waiting = m.run(batch(1), { bits: 2 });
    await m.close();
    await expect(waiting).rejects.toMatchObject({ message: expect.stringMatching(/closed/) });
    await first;
    expect(same(await m.run(batch(1), { bits: 2 }), m.runSync(batch(1), { bits: 2 }))).toBe(true);
  });
});

describe('program descriptions are checked field by field', () => {
  const f = (n: number) => new Float32Array(n);
  // input (8 floats) -> affine -> output: a minimal valid program
  const ok = () => ({ buffers: [32, 32], input: 0, output: 1, ops: [{ op: 'affine', x: 0, out: 1, count: 8, channels: 2, scale: f(2), shift: f(2) }] });
  const bad = (mutate: (d: ReturnType<typeof ok>) => unknown) => {
    const d = ok();
    const r = mutate(d);
    return thrown(() => kernels.buildProgram((r ?? d) as kernels.ProgramDescription));
  };

  it('builds and runs the minimal program', () => {
    const p = kernels.buildProgram(ok() as kernels.ProgramDescription);
    const y = kernels.runProgram(p, Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(Array.from(y)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(thrown(() => kernels.runProgram(p, f(7)))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/input must hold .* 8 input values, got 7/) });
    expect(thrown(() => kernels.runProgram({} as kernels.Program, f(8)))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/program must be a Program/) });
  });

  it('writes into a caller\'s out array (in place or copied out), which must fit and not share the input', () => {
    // affine alone (in place) and nchwToNhwc -> floatConv (the conv's plan holds its output: copied out)
    const p = kernels.buildProgram(ok() as kernels.ProgramDescription);
    const x = Float32Array.from([1, -2, 3, 4, 5, 6, 7, 8]);
    const big = new Float32Array(10).fill(-9), out = big.subarray(1, 9);
    expect(kernels.runProgram(p, x, false, out)).toBe(out);
    expect(Array.from(big)).toEqual([-9, 0, 0, 0, 0, 0, 0, 0, 0, -9]);
    const c = 3, h = 2, w = 5, o = 4;
    const xs = Float32Array.from({ length: 2 * c * h * w }, (_, i) => Math.sin(i));
    const conv = kernels.buildProgram({ buffers: [4 * xs.length, 4 * xs.length, 4 * 2 * h * w * o], input: 0, output: 2, ops: [
      { op: 'nchwToNhwc', x: 0, out: 1, n: 2, c, h, w },
      { op: 'floatConv', x: 1, out: 2, shape: [2, h, w, c, 3, 3, 1, 1, 1, 1, 1, 1], weights: kernels.packFloatWeights(Float32Array.from({ length: o * 9 * c }, (_, i) => Math.cos(i)), o, 9 * c).packed, outChannels: o, bits: 0 },
    ] });
    const want = kernels.runProgram(conv, xs);
    const into = new Float32Array(want.length).fill(NaN);
    expect(Array.from(kernels.runProgram(conv, xs, true, into))).toEqual(Array.from(want));
    expect(thrown(() => kernels.runProgram(p, x, false, f(7)))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/out must hold .* 8 output values, got 7/) });
    expect(thrown(() => kernels.runProgram(p, x, false, x))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/out must not share memory/) });
    expect(thrown(() => kernels.runProgram(p, x, false, [0] as unknown as Float32Array))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/out must be a Float32Array/) });
  });

  it.each([
    ['not an object', () => 5, 'TypeError', /description must be an object/],
    ['buffers missing', (d: ReturnType<typeof ok>) => { (d as { buffers?: unknown }).buffers = undefined; }, 'TypeError', /description\.buffers must be an array/],
    ['a buffer size of 0', (d: ReturnType<typeof ok>) => { d.buffers[1] = 0; }, 'RangeError', /description\.buffers\[1\] must be an integer/],
    ['an unknown op', (d: ReturnType<typeof ok>) => { d.ops[0].op = 'conv3d'; }, 'RangeError', /ops\[0\]\.op 'conv3d' is not a runner op/],
    ['a buffer index out of range', (d: ReturnType<typeof ok>) => { d.ops[0].out = 2; }, 'RangeError', /ops\[0\]\.out must be an integer in 0\.\.1/],
    ['a buffer index that is a string', (d: ReturnType<typeof ok>) => { (d.ops[0] as { x: unknown }).x = '0'; }, 'TypeError', /ops\[0\]\.x must be a number/],
    ['a scale of the wrong length', (d: ReturnType<typeof ok>) => { d.ops[0].scale = f(3); }, 'RangeError', /ops\[0\]\.scale must hold one value per channel \(2\), got 3/],
    ['a scale that is not a Float32Array', (d: ReturnType<typeof ok>) => { (d.ops[0] as { scale: unknown }).scale = [1, 2]; }, 'TypeError', /ops\[0\]\.scale must be a Float32Array/],
    ['a count the buffer cannot hold', (d: ReturnType<typeof ok>) => { d.ops[0].count = 16; }, 'RangeError', /op 0: buffer 0 holds 32 bytes; the op reads 64/],
    ['a buffer read before it is written', (d: ReturnType<typeof ok>) => { d.ops[0].x = 1; d.ops[0].out = 0; }, 'RangeError', /written a second time|read before any op writes it/],
    ['no op writing the output', (d: ReturnType<typeof ok>) => { d.ops = []; }, 'RangeError', /no op writes the output/],
    ['count not a multiple of channels', (d: ReturnType<typeof ok>) => { d.ops[0].count = 7; }, 'RangeError', /multiple of channels/],
    ['a hostile size', (d: ReturnType<typeof ok>) => ({ ...d, ops: [{ op: 'nchwToNhwc', x: 0, out: 1, n: 2 ** 31, c: 2 ** 31, h: 2 ** 31, w: 2 ** 31 }] }), 'RangeError', /nchwToNhwc/],
    ['a hostile conv shape', (d: ReturnType<typeof ok>) => ({ ...d, ops: [{ op: 'packConv', x: 0, data: 1, pops: 1, shape: [1, 4, 4, 2, 2 ** 31, 1, 1, 1, 0, 0, 1, 1], planes: 2 }] }), 'RangeError', /ops\[0\]\.shape/],
    ['a conv shape that is not an array of 12', (d: ReturnType<typeof ok>) => ({ ...d, ops: [{ op: 'packConv', x: 0, data: 1, pops: 1, shape: [1, 4], planes: 2 }] }), 'TypeError', /ops\[0\]\.shape must be an array/],
    ['weights that are not packed', (d: ReturnType<typeof ok>) => ({ ...d, ops: [{ op: 'gemm', aData: 0, aPops: 0, aRows: 1, aPlanes: 1, aBits: 1, aEncoding: 'unsigned', b: {}, bBits: 1, bEncoding: 'bipolar', epilogue: { output: 'float', scale: f(1) }, out: 1 }] }), 'TypeError', /ops\[0\]\.b\.rows must be a number/],
  ])('%s', (_, mutate, name, message) => {
    expect(bad(mutate as (d: ReturnType<typeof ok>) => unknown)).toMatchObject({ name, message: expect.stringMatching(message) });
  });
});

describe('floatConv with the residual and the second output in its epilogue', () => {
  // A 3x3 conv (stride 1, padding 1) over 2 images of 5x4x3 into 6 channels; its residual is another conv's output.
  const [n, h, w, c, oc] = [2, 5, 4, 3, 6];
  const r = rng(31);
  const x = Float32Array.from({ length: n * h * w * c }, () => r() - 0.5);
  const weights = kernels.packFloatWeights(Float32Array.from({ length: oc * 9 * c }, () => r() - 0.5), oc, 9 * c);
  const channels = () => Float32Array.from({ length: oc }, () => r() - 0.5);
  const [scale, shift, alpha, beta, rScale] = [channels(), channels(), channels(), channels(), channels()];
  const geometry = { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] } as const;
  const shape: kernels.ConvShapeArray = [n, h, w, c, 3, 3, 1, 1, 1, 1, 1, 1];
  const cells = n * h * w * oc;
  const conv = (extra: object, next: object | undefined, output: 'sum' | 'next', codes: boolean) => ({
    buffers: [4 * x.length, 4 * cells, 4 * cells, codes ? cells : 4 * cells, 4 * cells], input: 0, output: output === 'sum' ? 2 : 4,
    ops: [
      { op: 'floatConv', x: 0, out: 1, shape, weights: weights.packed, outChannels: oc, scale: rScale, bits: 0 },
      { op: 'floatConv', x: 0, out: 2, shape, weights: weights.packed, outChannels: oc, scale, shift, min: 0, bits: 0, residual: 1,
        next, ...extra },
      codes ? { op: 'codesToFloat', x: 3, out: 4, count: cells, table: new Float32Array(256).map((_, i) => i) }
        : { op: 'transpose', x: 3, out: 4, n: 1, rows: 1, cols: cells, elemBytes: 4 },
    ],
  } as kernels.ProgramDescription);

  it('gives the bits of kernels.floatConv with residual and next (float or codes second output)', () => {
    const res = kernels.floatConv(x, { n, h, w, c }, geometry, weights, { scale: rScale });
    for (const next of [{ min: 0, bits: 0 }, { bits: 2 }, { bits: 8 }]) {
      const codes = next.bits > 0;
      const want = codes ? new Uint8Array(cells) : new Float32Array(cells);
      const sum = kernels.floatConv(x, { n, h, w, c }, geometry, weights,
        { scale, shift, min: 0, residual: res, next: { out: want, scale: alpha, shift: beta, ...(codes ? next : { min: 0 }) } });
      const nx = { out: 3, scale: alpha, shift: beta, ...next };
      const gotSum = kernels.runProgram(kernels.buildProgram(conv({}, nx, 'sum', codes)), x);
      const gotNext = kernels.runProgram(kernels.buildProgram(conv({}, nx, 'next', codes)), x);
      expect(Buffer.from(gotSum.buffer).equals(Buffer.from(sum.buffer, sum.byteOffset, sum.byteLength))).toBe(true);
      const wantFloats = codes ? Float32Array.from(want) : (want as Float32Array);
      expect(Buffer.from(gotNext.buffer).equals(Buffer.from(wantFloats.buffer))).toBe(true);
    }
  });

  it.each([
    ['a second output after codes', { bits: 2 }, 'RangeError', /needs float output/],
    ['a residual buffer out of range', { residual: 9 }, 'RangeError', /ops\[1\]\.residual must be an integer in 0\.\.4/],
    ['next that is not an object', { next: 3 }, 'TypeError', /ops\[1\]\.next must be an object/],
    ['next.bits out of range', { next: { out: 3, bits: 9 } }, 'RangeError', /ops\[1\]\.next\.bits/],
    ['next.scale of the wrong length', { next: { out: 3, bits: 0, scale: new Float32Array(2) } }, 'RangeError', /ops\[1\]\.next\.scale must hold one value per output channel \(6\), got 2/],
  ])('refuses %s', (_, extra, name, message) => {
    const d = conv(extra, { out: 3, bits: 0 }, 'next', false);
    expect(thrown(() => kernels.buildProgram(d))).toMatchObject({ name, message: expect.stringMatching(message) });
  });
});
