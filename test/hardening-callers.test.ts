// Careless callers: values of the wrong kind are refused with a TypeError (never silently read as
// "keep the current setting"), and the worker pool turns every failure into that call's rejection,
// leaving the model usable for the next call.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels, Model, Tensor, zoo } from '../lib';
import { rng } from './helpers/reference';
import { thrown } from './helpers/thrown';

const g = zoo.mlp([64, 32, 10], { bitList: [1, 2, 3, 4, 8, 32] });
const tensors = zoo.randomTensors(g, 5);

function input(n: number, seed: number): Tensor {
  const r = rng(seed);
  return new Tensor(Float32Array.from({ length: n * 64 }, () => r()), [n, 64]);
}

function same(a: Tensor, b: Tensor): boolean {
  return a.shape.join() === b.shape.join() && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
    .equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
}

const models: Model[] = [];
function fresh(): Model {
  const m = Model.build(g, tensors);
  models.push(m);
  return m;
}
afterAll(async () => { await Promise.all(models.map((m) => m.close())); });

describe('kernels.packedWords validates its arguments', () => {
  it('computes the word count of 8-row panels x 64-column words x planes', () => {
    // 9 rows -> 2 panels of 8; 65 columns -> 2 words; 3 planes: 2 x 3 x 2 x 8 words
    expect(kernels.packedWords(9, 65, 3)).toBe(96);
    expect(kernels.packedWords(0, 1, 1)).toBe(0);
  });

  it.each([
    ['rows as a string', ['8', 64, 1], 'TypeError', /rows must be a number/],
    ['rows negative', [-1, 64, 1], 'RangeError', /rows must be an integer in 0\.\.2147483648, got -1/],
    ['rows fractional', [1.5, 64, 1], 'RangeError', /rows must be an integer/],
    ['rows 2^53', [2 ** 53, 64, 1], 'RangeError', /rows must be an integer/],
    ['cols 0', [8, 0, 1], 'RangeError', /cols must be an integer in 1\.\./],
    ['cols NaN', [8, NaN, 1], 'RangeError', /cols must be an integer/],
    ['bits 9', [8, 64, 9], 'RangeError', /bits must be an integer in 1\.\.8, got 9/],
    ['bits boxed', [8, 64, new Number(3)], 'TypeError', /bits must be a number/],
    ['bits as an array', [8, 64, [3]], 'TypeError', /bits must be a number/],
  ])('refuses %s', (_label, args, name, message) => {
    const e = thrown(() => (kernels.packedWords as (...a: unknown[]) => number)(...(args as unknown[])));
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });
});

describe('kernel conv entries refuse geometry whose sizes overflow, before the native call', () => {
  const shape = { n: 1, h: 4, w: 4, c: 2 };
  const codes = new Uint8Array(32), floats = new Float32Array(32);
  it.each([
    ['kernel and stride 2^31, padding 2^30', { kernel: [2 ** 31, 2 ** 31], stride: [2 ** 31, 2 ** 31], padding: [2 ** 30, 2 ** 30] }, /conv geometry out of range|larger than the padded input/],
    ['padding 2^31 - 1', { kernel: [1, 1], padding: [2 ** 31 - 1, 2 ** 31 - 1] }, /conv geometry out of range/],
    ['padding 2^30 (the lowering would hold 2^62 elements)', { kernel: [3, 3], padding: [2 ** 30, 2 ** 30] }, /conv geometry out of range|exceeds 2147483647 elements/],
    ['padding 20000 (4e8 rows x 18 columns)', { kernel: [3, 3], padding: [20000, 20000] }, /conv lowering of \d+ rows x 18 columns exceeds 2147483647 elements/],
    ['dilation 2^31', { kernel: [2, 2], dilation: [2 ** 31, 1] }, /conv geometry out of range|larger than the padded input/],
  ])('%s', (_label, conv, message) => {
    for (const f of [() => kernels.packConv(codes, shape, conv as never, 2), () => kernels.im2colFloat(floats, shape, conv as never)]) {
      const e = thrown(f);
      expect(e.name).toBe('RangeError');
      expect(e.message).toMatch(message);
    }
  });

  // Found by scripts/fuzz.mjs: a pooling window of 2^30 taps over a 1 x 3 image (valid: padding is
  // half the kernel) stepped through every padded tap, 43 s for 32 outputs; only the taps inside
  // the image are stepped through now. That is checked by counting the loops' steps (ctest
  // `checked`: maxPoolSteps), not by timing this call; here the answer is checked.
  it('pools a 2^30-tap window padded by 2^29 over a tiny image, from its real taps only', () => {
    const x = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 7) % 11);
    const out = kernels.maxPool(x, { n: 2, h: 1, w: 3, c: 4 }, { kernel: [3, 2 ** 30], stride: [2 ** 30, 1], padding: [1, 2 ** 29] });
    // Output 1 x 4 per image; every window covers the whole row: the row's max per channel.
    const want: number[] = [];
    for (let img = 0; img < 2; img++) {
      const rowMax = [0, 1, 2, 3].map((ch) => Math.max(...[0, 1, 2].map((px) => x[(img * 3 + px) * 4 + ch])));
      for (let ox = 0; ox < 4; ox++) want.push(...rowMax);
    }
    expect(Array.from(out)).toEqual(want);
  });

  it('still lowers a valid geometry', () => {
    expect(kernels.im2colFloat(floats, shape, { kernel: [3, 3], padding: [1, 1] }).length).toBe(16 * 18);
    expect(kernels.maxPool(floats, shape, { kernel: [2, 2], padding: [1, 1] }).length).toBe(9 * 2);
  });
});

describe('precisions must be numbers or { weights, activations }', () => {
  const m = fresh();
  const x = input(2, 1);
  it.each([
    ['an array', [3]],
    ['a boxed number', new Number(3)],
    ['a string', '3'],
    ['null', null],
    ['an object with a misspelt field', { weight: 3 }],
  ])('setPrecision refuses %s with a TypeError, and the setting is unchanged', (_label, p) => {
    const before = m.getPrecision();
    const e = thrown(() => m.setPrecision(p as never));
    expect(e.name).toBe('TypeError');
    expect(e.message).toMatch(/^precision/);
    expect(m.getPrecision()).toEqual(before);
  });

  it('run options refuse arrays, boxed numbers and unknown options', async () => {
    expect(thrown(() => m.runSync(x, { bits: [3] as never }))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/^bits must be a bit-width .* got an array/) });
    expect(thrown(() => m.runSync(x, { bits: new Number(3) as never }))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/got a boxed Number/) });
    expect(thrown(() => m.runSync(x, { bits: { weights: [3] } as never }))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/bits\.weights must be a number/) });
    expect(thrown(() => m.runSync(x, { layers: { fc0: [2] } as never }))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/^layers\.fc0 must be a bit-width/) });
    expect(thrown(() => m.runSync(x, { bit: 2 } as never))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/options\.bit is not a run option/) });
    expect(thrown(() => m.runSync(x, [] as never))).toMatchObject({ name: 'TypeError' });
    expect(thrown(() => m.setLayerPrecision('fc0', [2] as never))).toMatchObject({ name: 'TypeError' });
    await expect(m.run(x, { bits: [3] as never })).rejects.toMatchObject({ name: 'TypeError' });
    // a good call afterwards gives the same answer as before
    expect(same(m.runSync(x, { bits: 3 }), fresh().runSync(x, { bits: 3 }))).toBe(true);
  });

  it('setWorkers and bitOps refuse values of the wrong kind with a TypeError', () => {
    expect(thrown(() => m.setWorkers('2' as never)).name).toBe('TypeError');
    expect(thrown(() => m.setWorkers(new Number(2) as never)).name).toBe('TypeError');
    expect(thrown(() => m.bitOps(new Number(2) as never)).name).toBe('TypeError');
    expect(thrown(() => m.bitOps(2 ** 60)).name).toBe('RangeError');
  });
});

describe('other entry points', () => {
  it('Model.build refuses tensors that are not an object; Tensor refuses boxed dimensions', () => {
    expect(thrown(() => Model.build(g, null as never))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/tensors must be an object/) });
    expect(thrown(() => Model.build(g, [] as never))).toMatchObject({ name: 'TypeError' });
    expect(thrown(() => new Tensor(new Float32Array(2), [new Number(2)] as never))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/shape must hold numbers, got object/) });
    expect(thrown(() => new Tensor(new Float32Array(2), [-2] as never))).toMatchObject({ name: 'RangeError' });
  });
});

describe('inputs whose buffer was detached', () => {
  it('runSync and run refuse them with a TypeError instead of reading freed memory', async () => {
    const m = fresh();
    const x = input(2, 2);
    structuredClone(x.data.buffer, { transfer: [x.data.buffer as ArrayBuffer] }); // detaches x.data
    expect(thrown(() => m.runSync(x))).toMatchObject({ name: 'TypeError', message: expect.stringMatching(/x\.data must hold the 128 values .* got 0 \(was its buffer detached/) });
    await expect(m.run(x)).rejects.toMatchObject({ name: 'TypeError', message: expect.stringMatching(/detached/) });
    const y = input(2, 3);
    expect(same(await m.run(y, { bits: 4 }), m.runSync(y, { bits: 4 }))).toBe(true);
  });
});

// run() uses the JS worker pool where a plan keeps its step path (a native program runs on the
// kernel thread pool instead, test/runner.test.ts): a gated layer keeps it.
const gatedG = zoo.withGates(g, {}, ['fc1']);
const gatedTensors = zoo.randomTensors(gatedG, 5);
function pooled(): Model {
  const m = Model.build(gatedG, gatedTensors);
  models.push(m);
  expect(m.runsNatively()).toBe(false);
  return m;
}

describe('the worker pool', () => {
  it('rejects a queued call whose input was transferred before it could be posted, and serves the next', async () => {
    const m = pooled();
    const a = input(64, 4), b = input(2, 5), c = input(2, 6);
    const first = m.run(a, { bits: 8 }); // takes the one worker
    const second = m.run(b, { bits: 8 }); // queued behind it
    structuredClone(b.data.buffer, { transfer: [b.data.buffer as ArrayBuffer] }); // the caller gives b's buffer away
    const third = m.run(c, { bits: 2 });
    const settled = await Promise.allSettled([first, second, third]);
    expect(settled[0]).toMatchObject({ status: 'fulfilled' });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { name: 'TypeError', message: expect.stringMatching(/cannot be sent to the model worker/) } });
    expect(settled[2]).toMatchObject({ status: 'fulfilled' });
    expect(same((settled[2] as PromiseFulfilledResult<Tensor>).value, m.runSync(c, { bits: 2 }))).toBe(true);
    expect(same(await m.run(c, { bits: 4 }), m.runSync(c, { bits: 4 }))).toBe(true);
  });

  // A call long enough (a CNN over 64 images in float) that a terminate issued right after posting
  // lands while the worker computes.
  const cg = zoo.withGates(zoo.cnn({ bitList: [8, 32] }), { bits: 8, highBits: 4 }, ['fc0']);
  const cnnTensors = zoo.randomTensors(cg, 6);
  const images = (n: number, seed: number) => {
    const r = rng(seed);
    return new Tensor(Float32Array.from({ length: n * 784 }, () => r()), [n, 1, 28, 28]);
  };
  type PoolView = { workers: Array<{ terminate(): Promise<number>; once(e: 'exit', f: () => void): void }>; started: number };

  it('rejects the call that is running when its worker is terminated, and replaces the worker', async () => {
    const m = Model.build(cg, cnnTensors);
    models.push(m);
    const x = images(64, 8), small = images(2, 9);
    await m.run(small); // the worker is up
    const pool = (m as unknown as { pool: PoolView }).pool;
    expect(pool.started).toBe(1);
    const call = m.run(x, { bits: 32 });
    await pool.workers[0].terminate();
    await expect(call).rejects.toMatchObject({ message: expect.stringMatching(/model worker exited with code 1 during the call/) });
    expect(same(await m.run(small, { bits: 8 }), m.runSync(small, { bits: 8 }))).toBe(true);
    expect(pool.started).toBe(2);
  });

  it('a call aborted while its worker computes rejects at once; the worker finishes and serves the next call', async () => {
    const m = Model.build(cg, cnnTensors);
    models.push(m);
    const x = images(64, 12), small = images(2, 13);
    await m.run(small);
    const ac = new AbortController();
    const call = m.run(x, { bits: 32, signal: ac.signal });
    const next = m.run(small, { bits: 8 });
    ac.abort();
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(same(await next, m.runSync(small, { bits: 8 }))).toBe(true);
    expect((m as unknown as { pool: PoolView }).pool.started).toBe(1);
  });

  it('a call queued behind a dying worker runs on its replacement', async () => {
    const m = Model.build(cg, cnnTensors);
    models.push(m);
    const x = images(64, 10), small = images(2, 11);
    await m.run(small);
    const pool = (m as unknown as { pool: PoolView }).pool;
    const call = m.run(x, { bits: 32 });
    const queued = m.run(small, { bits: 8 });
    const worker = pool.workers[0];
    await worker.terminate();
    await expect(call).rejects.toMatchObject({ message: expect.stringMatching(/model worker exited/) });
    expect(same(await queued, m.runSync(small, { bits: 8 }))).toBe(true);
    expect(pool.started).toBe(2);
  });
});

describe('run() with an AbortSignal', () => {
  it('rejects a call aborted before it starts with an AbortError, without computing it', async () => {
    const m = fresh();
    const x = input(2, 9);
    const ac = new AbortController();
    ac.abort(new Error('user went away'));
    await expect(m.run(x, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError', cause: { message: 'user went away' } });
    // nothing was started for it: no worker pool exists yet
    expect((m as unknown as { pool?: unknown }).pool).toBeUndefined();
    expect(same(await m.run(x, { bits: 4, signal: new AbortController().signal }), m.runSync(x, { bits: 4 }))).toBe(true);
  });

  it('takes a queued call off the queue when aborted: the worker never sees it', async () => {
    const m = pooled();
    const big = input(256, 10), x = input(2, 11);
    await m.run(x); // start the worker
    const pool = (m as unknown as { pool: { queue: unknown[] } }).pool;
    const ac = new AbortController();
    const first = m.run(big, { bits: 32 });
    const second = m.run(x, { bits: 2, signal: ac.signal });
    expect(pool.queue.length).toBe(1); // the second waits for the worker
    ac.abort();
    expect(pool.queue.length).toBe(0);
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    await first;
    expect(same(await m.run(x, { bits: 2 }), m.runSync(x, { bits: 2 }))).toBe(true);
  });

  it('refuses a signal that is not an AbortSignal', async () => {
    const m = fresh();
    await expect(m.run(input(1, 12), { signal: {} as never })).rejects.toMatchObject({ name: 'TypeError', message: expect.stringMatching(/options\.signal must be an AbortSignal/) });
  });
});

describe('1,000 concurrent async calls at mixed precisions', () => {
  it('each equals the synchronous result at its precision', async () => {
    const m = fresh().setWorkers(2);
    const precisions = [1, 2, 3, 4, 8, 32, { weights: 2, activations: 8 }, { weights: 8, activations: 4 }];
    const xs = [0, 1, 2, 3].map((i) => input(3, 100 + i));
    const expected = precisions.map((p) => xs.map((x) => m.runSync(x, { bits: p as never })));
    const calls = Array.from({ length: 1000 }, (_, i) => ({ p: i % precisions.length, x: (i >> 3) % xs.length }));
    const results = await Promise.all(calls.map(({ p, x }) => m.run(xs[x], { bits: precisions[p] as never })));
    let wrong = 0;
    results.forEach((r, i) => { if (!same(r, expected[calls[i].p][calls[i].x])) wrong++; });
    expect(wrong).toBe(0);
  });
});
