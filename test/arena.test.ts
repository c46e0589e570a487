// Buffer reuse: the kernels' optional `out` arrays (and the dual-output epilogue's codes), and the
// plan's kept buffers — the same bits as fresh allocation across batch sizes, precisions,
// runSync / run interleaved; results never aliased to a kept buffer; the memory bound; the guard
// that keeps a nested run off a running plan's buffers.
import { describe, expect, it } from '@jest/globals';
import { kernels, Model, Tensor, zoo } from '../lib';
import { ArenaBudget, PlanArena } from '../lib/nn/arena';
import * as ops from '../lib/nn/ops';
import { Plan } from '../lib/nn/plan';
import type { Params } from '../lib/nn/params';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

function codes(n: number, bits: number, seed: number): Uint8Array {
  const r = rng(seed);
  return new Uint8Array(n).map(() => Math.floor(r() * (1 << bits)));
}

function floats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return new Float32Array(n).map(() => lo + (hi - lo) * r());
}

describe('kernel outputs written into the caller\'s arrays', () => {
  const m = 37, n = 19, k = 150;
  const a = kernels.pack(codes(m * k, 2, 1), m, k, 2);
  const b = kernels.pack(codes(n * k, 2, 2), n, k, 2);
  const base = { aBits: 2, bBits: 2, aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
  const scale = floats(n, 3, 0.001, 0.01), shift = floats(n, 4, -0.5, 0.5), residual = floats(m * n, 5);

  it('bitGemm: float, codes and int32 results into out, the same bits as fresh ones, out returned', () => {
    const epilogues = [
      { output: 'float', scale, shift, min: 0, residual },
      { output: 'codes', bits: 3, scale, shift },
      undefined,
    ] as const;
    for (const epilogue of epilogues) {
      const fresh = kernels.bitGemm(a, b, { ...base, epilogue } as kernels.GemmOptions);
      const out = new (fresh.constructor as new (len: number) => typeof fresh)(fresh.length).fill(77);
      const got = kernels.bitGemm(a, b, { ...base, epilogue, out } as kernels.GemmOptions);
      expect(got).toBe(out);
      expect(Array.from(got)).toEqual(Array.from(fresh));
      for (const path of ['bitserial', 'int8'] as const) {
        out.fill(3);
        kernels.bitGemm(a, b, { ...base, epilogue, out, path } as kernels.GemmOptions);
        expect(Array.from(out)).toEqual(Array.from(fresh));
      }
    }
  });

  it('bitGemm rejects an out of the wrong type, length or memory, and out on the async form', async () => {
    const epilogue = { output: 'float', scale, shift, residual } as const;
    expect(thrown(() => kernels.bitGemm(a, b, { ...base, epilogue, out: new Uint8Array(m * n) }))).toMatchObject({ name: 'TypeError', message: expect.stringContaining('options.out must be a Float32Array') });
    expect(thrown(() => kernels.bitGemm(a, b, { ...base, epilogue, out: new Float32Array(m * n - 1) }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining(`m*n = ${m * n}`) });
    // out over the residual's memory, over an operand's planes
    expect(thrown(() => kernels.bitGemm(a, b, { ...base, epilogue, out: residual }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    const c = kernels.pack(codes(m * 640, 1, 10), m, 640, 1), d = kernels.pack(codes(n * 640, 1, 11), n, 640, 1);
    const overA = new Int32Array(c.data.buffer, c.data.byteOffset, m * n);
    expect(thrown(() => kernels.bitGemm(c, d, { aBits: 1, bBits: 1, aEncoding: 'unsigned', bEncoding: 'bipolar', out: overA }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    await expect(kernels.bitGemmAsync(a, b, { ...base, epilogue, out: new Float32Array(m * n) })).rejects.toMatchObject({ name: 'TypeError' });
  });

  it('the dual epilogue writes the codes quantizeActivations gives over the floats, on both routes', () => {
    const bnScale = floats(n, 6, 0.5, 2), bnShift = floats(n, 7, -0.2, 0.6);
    for (const path of ['bitserial', 'int8'] as const) {
      for (const bits of [1, 2, 4, 8]) {
        const epilogue = { output: 'float', scale, shift, residual } as const;
        const plain = kernels.bitGemm(a, b, { ...base, epilogue, path });
        const want = kernels.quantizeActivations(plain, n, bnScale, bnShift, bits);
        const out = new Uint8Array(m * n).fill(255);
        const y = kernels.bitGemm(a, b, { ...base, path, epilogue: { ...epilogue, codes: { bits, scale: bnScale, shift: bnShift, out } } });
        expect(Array.from(y)).toEqual(Array.from(plain));
        expect(Array.from(out)).toEqual(Array.from(want));
        expect(new Set(out).size).toBeGreaterThan(1); // not a constant: the check could fail
      }
    }
  });

  it('the dual epilogue checks its codes: bits, lengths, memory, sync only', async () => {
    const epilogue = { output: 'float', scale, shift } as const;
    const dual = (codes: object) => () => kernels.bitGemm(a, b, { ...base, epilogue: { ...epilogue, codes } as kernels.Epilogue });
    const ok = { bits: 2, scale, shift, out: new Uint8Array(m * n) };
    expect(thrown(dual({ ...ok, bits: 9 }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('epilogue.codes.bits') });
    expect(thrown(dual({ ...ok, out: new Uint8Array(m * n + 1) }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('epilogue.codes.out') });
    expect(thrown(dual({ ...ok, out: new Float32Array(m * n) }))).toMatchObject({ name: 'TypeError', message: expect.stringContaining('epilogue.codes.out') });
    expect(thrown(dual({ ...ok, shift: new Float32Array(n - 1) }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('epilogue.codes.shift') });
    expect(thrown(dual({ ...ok, out: new Uint8Array(a.data.buffer, a.data.byteOffset, m * n) }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    const out = new Float32Array(m * n);
    const codesOverOut = new Uint8Array(out.buffer, 0, m * n);
    expect(thrown(() => kernels.bitGemm(a, b, { ...base, out, epilogue: { ...epilogue, codes: { ...ok, out: codesOverOut } } })))
      .toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    await expect(kernels.bitGemmAsync(a, b, { ...base, epilogue: { ...epilogue, codes: ok } })).rejects.toMatchObject({ name: 'TypeError' });
  });

  it('packConv, floatConv, quantizeActivations, channelAffine, codesToFloat: out reused, same bits, checked', () => {
    const shape = { n: 3, h: 7, w: 5, c: 6 }, conv = { kernel: [3, 3] as [number, number], padding: [1, 1] as [number, number] };
    const x = codes(3 * 7 * 5 * 6, 2, 12);
    const fresh = kernels.packConv(x, shape, conv, 2);
    const again = kernels.packConv(codes(x.length, 2, 13), shape, conv, 2);
    const got = kernels.packConv(x, shape, conv, 2, again);
    expect(got).toBe(again);
    expect(Array.from(got.data)).toEqual(Array.from(fresh.data));
    expect(Array.from(got.planePop)).toEqual(Array.from(fresh.planePop));
    expect(thrown(() => kernels.packConv(x, shape, conv, 3, again))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('out must be') });
    expect(thrown(() => kernels.packConv(x, shape, conv, 2, {} as kernels.Packed))).toMatchObject({ name: 'TypeError' });

    const xf = floats(3 * 7 * 5 * 6, 14);
    const w = kernels.packFloatWeights(floats(4 * 54, 15), 4, 54);
    for (const options of [{ scale: floats(4, 16), min: 0 }, { bits: 3 }]) {
      const y = kernels.floatConv(xf, shape, conv, w, options);
      const out = new (y.constructor as new (len: number) => typeof y)(y.length);
      expect(kernels.floatConv(xf, shape, conv, w, { ...options, out })).toBe(out);
      expect(Array.from(out)).toEqual(Array.from(y));
    }
    expect(thrown(() => kernels.floatConv(xf, shape, conv, w, { bits: 2, out: new Float32Array(3 * 35 * 4) }))).toMatchObject({ name: 'TypeError', message: expect.stringContaining('options.out') });
    expect(thrown(() => kernels.floatConv(xf, shape, conv, w, { out: new Float32Array(5) }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('options.out') });
    expect(thrown(() => kernels.floatConv(xf, shape, conv, w, { out: new Float32Array(xf.buffer, 0, 3 * 35 * 4) }))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });

    const s = floats(6, 17, 0.5, 2), t = floats(6, 18);
    const q = kernels.quantizeActivations(xf, 6, s, t, 4);
    const qOut = new Uint8Array(xf.length);
    expect(kernels.quantizeActivations(xf, 6, s, t, 4, qOut)).toBe(qOut);
    expect(Array.from(qOut)).toEqual(Array.from(q));
    expect(thrown(() => kernels.quantizeActivations(xf, 6, s, t, 4, new Uint8Array(xf.buffer, 0, xf.length)))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    expect(thrown(() => kernels.quantizeActivations(xf, 6, s, t, 4, new Uint8Array(3)))).toMatchObject({ name: 'RangeError' });
    const af = kernels.channelAffine(xf, 6, s, t, 0, 1);
    const aOut = new Float32Array(xf.length);
    expect(kernels.channelAffine(xf, 6, s, t, 0, 1, aOut)).toBe(aOut);
    expect(Array.from(aOut)).toEqual(Array.from(af));
    expect(thrown(() => kernels.channelAffine(xf, 6, s, t, 0, 1, xf))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    const table = floats(16, 19);
    const dec = kernels.codesToFloat(q, table);
    const dOut = new Float32Array(q.length);
    expect(kernels.codesToFloat(q, table, dOut)).toBe(dOut);
    expect(Array.from(dOut)).toEqual(Array.from(dec));
    expect(thrown(() => kernels.codesToFloat(q, table, new Float32Array(2)))).toMatchObject({ name: 'RangeError' });
    expect(thrown(() => kernels.codesToFloat(q, table, new Uint8Array(q.length) as unknown as Float32Array))).toMatchObject({ name: 'TypeError' });
  });
});

describe('native layout and pooling of the input and the head', () => {
  it.each([[1, 3, 32, 32], [3, 5, 7, 9], [2, 64, 8, 8], [1, 1, 1, 1], [4, 17, 3, 5], [2, 19, 33, 35]])('nchwToNhwc and globalAvgPool equal the JS loops bit for bit (%i x %i x %i x %i)', (n, c, h, w) => {
    const x = floats(n * c * h * w, n + c + h + w, -3, 3);
    const t = kernels.nchwToNhwc(x, n, c, h, w);
    expect(Array.from(t)).toEqual(Array.from(ops.nchwToNhwc(x, n, c, h, w)));
    const out = new Float32Array(n * c);
    expect(kernels.globalAvgPool(t, n, h, w, c, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(ops.globalAvgPool(t, n, h, w, c)));
  });

  it('rejects shapes that do not fit x and outs over x', () => {
    const x = floats(2 * 3 * 4 * 5, 1);
    expect(thrown(() => kernels.nchwToNhwc(x, 2, 3, 4, 4))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('n*c*h*w = 96') });
    expect(thrown(() => kernels.globalAvgPool(x, 2, 4, 5, 0))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('c must be') });
    expect(thrown(() => kernels.globalAvgPool(x, 2, 4, 5, 3, new Float32Array(x.buffer, 0, 6)))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('must not share memory') });
    expect(thrown(() => kernels.nchwToNhwc(x, 2, 3, 4, 5, new Float32Array(7)))).toMatchObject({ name: 'RangeError', message: expect.stringContaining('out must hold 120') });
  });
});

describe('a plan\'s kept buffers', () => {
  const graph = zoo.resnet20();
  const model = Model.build(graph, zoo.randomTensors(graph, 5));
  const params = (model as unknown as { params: Params }).params;
  // Plans that keep nothing (a budget of 0 bytes): every output freshly allocated, the reference.
  const freshPlans = new Map<number, Plan>();
  const fresh = (bits: number): Plan => {
    let p = freshPlans.get(bits);
    if (!p) {
      const prec = { weights: bits, activations: bits };
      freshPlans.set(bits, (p = new Plan(graph, params, prec, () => prec, new ArenaBudget(0))));
    }
    return p;
  };
  const input = (n: number, seed: number) => new Tensor(floats(n * 3 * 32 * 32, seed, -0.2, 1.2), [n, 3, 32, 32]);

  it('the same bits as fresh buffers across batch sizes and precisions, interleaved', () => {
    let calls = 0;
    const all = [1, 2, 4, 8, 32];
    const order: Array<[number, number[]]> = [[1, all], [3, all], [17, [1, 2, 32]], [64, [2]], [3, all], [1, [1, 2]], [17, [2]], [64, [2]]];
    for (const [n, precisions] of order) {
      for (const bits of precisions) {
        const x = input(n, 100 * n + bits + calls);
        const got = model.runSync(x, { bits });
        const want = fresh(bits).run(x, false).output;
        expect(Array.from(got.data)).toEqual(Array.from(want.data));
        calls++;
      }
    }
    expect(model.memory.keptBytes).toBeGreaterThan(0);
    for (const p of freshPlans.values()) expect(p.keptBytes).toBe(0);
  });

  it('results are never a kept buffer: an earlier result is unchanged by later calls', () => {
    const x1 = input(3, 1), x2 = input(3, 2);
    const y1 = model.runSync(x1, { bits: 2 });
    const copy = Array.from(y1.data);
    const y2 = model.runSync(x2, { bits: 2 });
    expect(y2.data.buffer).not.toBe(y1.data.buffer);
    expect(Array.from(y1.data)).toEqual(copy);
    expect(Array.from(y2.data)).not.toEqual(copy);
  });

  it('runSync and run() interleaved give the fresh bits', async () => {
    for (const [n, bits] of [[3, 2], [1, 1], [17, 2], [3, 4]]) {
      const x = input(n, 7 * n + bits);
      const [a, b] = [model.runSync(x, { bits }), await model.run(x, { bits })];
      const c = model.runSync(x, { bits });
      const want = Array.from(fresh(bits).run(x, false).output.data);
      expect(Array.from(a.data)).toEqual(want);
      expect(Array.from(b.data)).toEqual(want);
      expect(Array.from(c.data)).toEqual(want);
    }
    await model.close();
  });

  it('kept buffers stay within maxMemory less the parameters', () => {
    const per = model.memory.bytesPerSample, paramBytes = model.memory.paramBytes;
    const small = Model.build(graph, zoo.randomTensors(graph, 5), { maxMemory: paramBytes + 4 * per });
    const x = input(4, 3);
    const want = Array.from(fresh(2).run(x, false).output.data);
    for (const bits of [2, 1, 2]) {
      const y = small.runSync(x, { bits });
      if (bits === 2) expect(Array.from(y.data)).toEqual(want);
      expect(small.memory.keptBytes).toBeGreaterThan(0);
      expect(small.memory.keptBytes).toBeLessThanOrEqual(4 * per);
    }
  });

  it('a nested run on a running plan gets no buffers; the outer run keeps its own', () => {
    const budget = new ArenaBudget(1 << 20);
    const arena = new PlanArena(budget);
    const seen: Array<boolean> = [];
    arena.use(2, 0, (outer) => {
      seen.push(outer !== undefined);
      outer!.keep('a', new Float32Array(8));
      arena.use(2, 0, (inner) => seen.push(inner !== undefined));
    });
    expect(seen).toEqual([true, false]);
    expect(arena.bytes).toBe(32);
    // after the outer run, the buffers are there again; a throwing run releases the guard
    expect(() => arena.use(2, 0, () => { throw new Error('boom'); })).toThrow('boom');
    arena.use(2, 0, (b) => expect(b?.array('a', Float32Array, 8)).toBeInstanceOf(Float32Array));
    arena.release();
    expect(budget.bytes).toBe(0);
  });

  it('the budget evicts the least recently used plan\'s buffers first and never exceeds its limit', () => {
    const budget = new ArenaBudget(100);
    const p1 = new PlanArena(budget), p2 = new PlanArena(budget);
    p1.use(1, 0, (b) => b!.keep('x', new Uint8Array(60)));
    p2.use(1, 0, (b) => b!.keep('x', new Uint8Array(30)));
    expect(budget.bytes).toBe(90);
    p2.use(1, 0, (b) => b!.keep('y', new Uint8Array(50))); // evicts p1's 60
    expect(p1.bytes).toBe(0);
    expect(p2.bytes).toBe(80);
    p2.use(1, 0, (b) => b!.keep('z', new Uint8Array(50))); // cannot fit: not kept
    expect(p2.bytes).toBe(80);
    expect(budget.bytes).toBeLessThanOrEqual(100);
  });
});
