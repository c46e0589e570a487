// Native async calls against careless callers: an input buffer detached (transferred) while the
// job runs on the kernel pool, and a worker thread terminated in the middle of a native call.
// The async kernels read private copies of inputs over plain ArrayBuffers, so giving the buffer
// away mid-call (and overwriting its memory through its new owner) cannot change the result.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as path from 'path';
import { MessageChannel, Worker } from 'worker_threads';
import { kernels } from '../lib';
import { firstDiff, gemmRef, randomCodes, rng, values } from './helpers/reference';

// Detaches `buf` the way a caller giving it away does, and scribbles over the memory it had
// through the ArrayBuffer that now owns it (a job still reading the old memory would see this).
function giveAway(buf: ArrayBufferLike, how: 'structuredClone' | 'postMessage'): void {
  const ab = buf as ArrayBuffer;
  if (how === 'structuredClone') {
    const moved = structuredClone(ab, { transfer: [ab] });
    new Uint8Array(moved).fill(0xa5);
  } else {
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(ab, [ab]);
    port1.close();
    port2.close();
  }
  expect(ab.byteLength).toBe(0); // really detached
}

const floats = (rand: () => number, n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

describe('an input detached while an async kernel runs', () => {
  // The slowest kernels on one thread: each job lasts long enough that the inputs are given
  // away and overwritten while it still reads them (a job reading the caller's memory fails).
  let isaBefore = '', threadsBefore = 1;
  beforeAll(() => {
    isaBefore = kernels.isa();
    threadsBefore = kernels.threads();
    kernels.setIsa('scalar');
    kernels.setThreads(1);
  });
  afterAll(() => {
    kernels.setIsa(isaBefore);
    kernels.setThreads(threadsBefore);
  });

  it('floatGemmAsync: a and b given away mid-call, the result is the one for the original inputs', async () => {
    const rand = rng(1601);
    const m = 192, k = 384, n = 256;
    for (const how of ['structuredClone', 'postMessage'] as const) {
      const a = floats(rand, m * k), b = floats(rand, n * k), bias = floats(rand, n);
      const want = kernels.floatGemm(a, m, k, b, n, bias);
      const call = kernels.floatGemmAsync(a, m, k, b, n, bias);
      giveAway(a.buffer, how);
      giveAway(b.buffer, how);
      giveAway(bias.buffer, how);
      expect(firstDiff(await call, want)).toBe(-1);
    }
  });

  it('bitGemmAsync (bit-serial and int8 paths, with an epilogue): equals the integer reference', async () => {
    const rand = rng(1602);
    const m = 192, n = 256, k = 2048;
    const ac = randomCodes(rand, m * k, 4), bc = randomCodes(rand, n * k, 3);
    const want = gemmRef(values(ac, 4, 4, 'unsigned'), values(bc, 3, 3, 'signed'), m, n, k);
    for (const path of ['bitserial', 'int8'] as const) {
      const A = kernels.pack(ac, m, k, 4), B = kernels.pack(bc, n, k, 3);
      const opts = { aEncoding: 'unsigned', bEncoding: 'signed', path } as const;
      // The int8 path prepares B's weights first; a sync call leaves them cached, so the async
      // call below reaches the native job at once.
      if (path === 'int8') kernels.bitGemm(A, B, opts);
      const call = kernels.bitGemmAsync(A, B, opts);
      giveAway(A.data.buffer, 'structuredClone');
      giveAway(B.data.buffer, 'structuredClone');
      giveAway(B.planePop.buffer, 'postMessage');
      expect(firstDiff(await call, want)).toBe(-1);
    }
    // Weights not prepared yet: the native call happens after the (async) preparation, when a is
    // already gone, and is refused naming it.
    {
      const A = kernels.pack(ac, m, k, 4), B = kernels.pack(bc, n, k, 3);
      const call = kernels.bitGemmAsync(A, B, { aEncoding: 'unsigned', bEncoding: 'signed', path: 'int8' });
      giveAway(A.data.buffer, 'structuredClone');
      await expect(call).rejects.toMatchObject({ name: 'RangeError', message: expect.stringMatching(/^a\.data must hold \d+ words for its shape, got 0/) });
    }
    // The epilogue's scale is an input too.
    const A = kernels.pack(ac, m, k, 4), B = kernels.pack(bc, n, k, 3);
    const scale = Float32Array.from({ length: n }, (_, j) => 1 + j / 64);
    const call = kernels.bitGemmAsync(A, B, { aEncoding: 'unsigned', bEncoding: 'signed', path: 'bitserial', epilogue: { output: 'float', scale } });
    giveAway(scale.buffer, 'structuredClone');
    const got = await call;
    let wrong = 0;
    for (let i = 0; i < m * n; i++) if (got[i] !== Math.fround(Math.fround(want[i]) * Math.fround(1 + (i % n) / 64))) wrong++;
    expect(wrong).toBe(0);
  });

  it('gatedGemmAsync: a, b and thresholds given away mid-call, equals the sync result on the same inputs', async () => {
    const rand = rng(1603);
    const m = 256, n = 256, k = 2048;
    const ac = randomCodes(rand, m * k, 4), bc = randomCodes(rand, n * k, 2);
    const thresholds = Float32Array.from({ length: n }, () => (rand() - 0.5) * 200);
    const opts = { highBits: 2, bEncoding: 'bipolar', thresholds } as const;
    const want = kernels.gatedGemm(kernels.pack(ac, m, k, 4), kernels.pack(bc, n, k, 2), opts);
    const A = kernels.pack(ac, m, k, 4), B = kernels.pack(bc, n, k, 2);
    const call = kernels.gatedGemmAsync(A, B, { ...opts, thresholds: thresholds.slice() });
    giveAway(A.data.buffer, 'structuredClone');
    giveAway(B.data.buffer, 'postMessage');
    const got = await call;
    expect(firstDiff(got.out, want.out)).toBe(-1);
    expect(firstDiff(got.mask, want.mask)).toBe(-1);
    expect(got.on).toBe(want.on);
    expect(want.on).toBeGreaterThan(0);
    expect(want.on).toBeLessThan(m * n); // the gate did something either way
  });

  it('inputs over a SharedArrayBuffer (which cannot be detached) are still read in place, correctly', async () => {
    const rand = rng(1604);
    const m = 40, k = 64, n = 24;
    const a = new Float32Array(new SharedArrayBuffer(m * k * 4)), b = new Float32Array(new SharedArrayBuffer(n * k * 4));
    a.set(floats(rand, m * k));
    b.set(floats(rand, n * k));
    expect(firstDiff(await kernels.floatGemmAsync(a, m, k, b, n), kernels.floatGemm(a.slice(), m, k, b.slice(), n))).toBe(-1);
  });

  it('an input detached before the call is refused with an error naming it', async () => {
    const a = new Float32Array(16), b = new Float32Array(16);
    giveAway(a.buffer, 'structuredClone');
    await expect(kernels.floatGemmAsync(a, 4, 4, b, 4)).rejects.toMatchObject({ message: expect.stringMatching(/\ba\b/) });
  });
});

describe('a worker terminated in the middle of a native call', () => {
  const entry = path.resolve(__dirname, '..', 'dist', 'index.js');
  // The worker says 'busy' once it has started native work, then keeps at it until terminated
  // (async: each finished call starts the next, so the worker never runs out of work and exits on
  // its own — with a fixed number of calls a quiet machine finished them before terminate(), and
  // terminate() then resolved to undefined instead of the exit code 1 of a terminated worker).
  const source = (mode: 'async' | 'sync') => `
    const { parentPort, workerData } = require('worker_threads');
    const { kernels } = require(workerData.entry);
    const n = 512, a = new Float32Array(n * n).fill(0.5), b = new Float32Array(n * n).fill(0.25);
    if (${JSON.stringify(mode)} === 'async') {
      const again = () => kernels.floatGemmAsync(a, n, n, b, n).then(again);
      for (let i = 0; i < 4; i++) again();
      parentPort.postMessage('busy');
    } else {
      parentPort.postMessage('busy');
      for (;;) kernels.floatGemm(a, n, n, b, n);
    }`;

  for (const mode of ['async', 'sync'] as const) {
    it(`${mode} kernels: terminate() completes, and this thread's kernels (sync and async) still work`, async () => {
      const w = new Worker(source(mode), { eval: true, workerData: { entry } });
      const errors: Error[] = [];
      w.on('error', (e) => errors.push(e));
      await new Promise<void>((resolve) => w.once('message', () => resolve()));
      await new Promise((r) => setTimeout(r, 20)); // well inside the work
      const code = await w.terminate(); // a hang here fails the test by its timeout
      expect(code).toBe(1);
      expect(errors).toEqual([]);
      const a = Float32Array.from({ length: 12 }, (_, i) => i), b = Float32Array.from({ length: 8 }, (_, i) => 1 - i);
      const want = kernels.floatGemm(a, 3, 4, b, 2);
      expect(Array.from(want)).toEqual([-8, -32, -16, -104, -24, -176]);
      expect(firstDiff(await kernels.floatGemmAsync(a, 3, 4, b, 2), want)).toBe(-1);
    });
  }

  it('a new worker started after a terminated one runs async kernels', async () => {
    const src = `
      const { parentPort, workerData } = require('worker_threads');
      const { kernels } = require(workerData.entry);
      kernels.floatGemmAsync(new Float32Array([1, 2]), 1, 2, new Float32Array([3, 4]), 1).then((c) => parentPort.postMessage(c[0]));`;
    const first = new Worker(source('async'), { eval: true, workerData: { entry } });
    await new Promise<void>((resolve) => first.once('message', () => resolve()));
    await first.terminate();
    const second = new Worker(src, { eval: true, workerData: { entry } });
    const got = await new Promise<number>((resolve, reject) => { second.once('message', resolve); second.once('error', reject); });
    await second.terminate();
    expect(got).toBe(11);
  });
});
