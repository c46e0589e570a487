// The async GEMM: same answers as sync, runs off the event loop, safe under concurrency
// and inside worker_threads.
import { describe, expect, it } from '@jest/globals';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { kernels } from '../lib';
import { firstDiff, gemmRef, randomCodes, rng, values } from './helpers/reference';

describe('bitGemmAsync', () => {
  it('equals the sync result for every encoding pair', async () => {
    const rand = rng(9);
    const m = 19, n = 37, k = 700;
    const ac = randomCodes(rand, m * k, 8), bc = randomCodes(rand, n * k, 8);
    const A = kernels.pack(ac, m, k, 8), B = kernels.pack(bc, n, k, 8);
    for (const aEncoding of ['unsigned', 'bipolar', 'signed'] as const) {
      for (const bEncoding of ['unsigned', 'bipolar', 'signed'] as const) {
        const opts = { aBits: 3, bBits: 2, aEncoding, bEncoding };
        const [sync, async] = [kernels.bitGemm(A, B, opts), await kernels.bitGemmAsync(A, B, opts)];
        expect(firstDiff(sync, async)).toBe(-1);
      }
    }
  });

  it('keeps the event loop ticking during a long call', async () => {
    const before = kernels.isa();
    kernels.setIsa('scalar'); // slowest kernel: the call spans many loop turns
    try {
      const rand = rng(10);
      const m = 64, n = 512, k = 4096;
      const A = kernels.pack(randomCodes(rand, m * k, 8), m, k, 8);
      const B = kernels.pack(randomCodes(rand, n * k, 8), n, k, 8);
      // bit-serial forced: on scalar, auto takes the (faster) int8 path for 8 x 8 bits
      const opts = { aEncoding: 'unsigned', bEncoding: 'bipolar', path: 'bitserial' } as const;
      const want = kernels.bitGemm(A, B, opts);
      // Counted, not timed: event-loop turns (a chain of setImmediate) while the call is pending.
      // A call that did its work on this thread would settle before the first turn (0 turns).
      let turns = 0, settled = false;
      const call = kernels.bitGemmAsync(A, B, opts).finally(() => { settled = true; });
      await new Promise<void>((resolve) => {
        const turn = () => { if (settled) resolve(); else { turns++; setImmediate(turn); } };
        setImmediate(turn);
      });
      const result = await call;
      expect(firstDiff(result, want)).toBe(-1);
      // ~1.3 G bit-ops on the scalar kernel: thousands of turns on any machine; a blocked loop gives 0
      expect(turns).toBeGreaterThan(20);
    } finally {
      kernels.setIsa(before);
    }
  });

  it('gives each concurrent call at a different precision its own correct answer', async () => {
    const rand = rng(11);
    const m = 9, n = 70, k = 333;
    const ac = randomCodes(rand, m * k, 8), bc = randomCodes(rand, n * k, 8);
    const A = kernels.pack(ac, m, k, 8), B = kernels.pack(bc, n, k, 8);
    kernels.setThreads(2);
    try {
      const bitsList = [1, 2, 3, 4, 5, 6, 7, 8];
      const results = await Promise.all(bitsList.flatMap((ab) => bitsList.map((bb) =>
        kernels.bitGemmAsync(A, B, { aBits: ab, bBits: bb, aEncoding: 'unsigned', bEncoding: 'bipolar' })
          .then((c) => ({ ab, bb, c })))));
      for (const { ab, bb, c } of results) {
        const want = gemmRef(values(ac, 8, ab, 'unsigned'), values(bc, 8, bb, 'bipolar'), m, n, k);
        expect(firstDiff(c, want)).toBe(-1);
      }
    } finally {
      kernels.setThreads(1);
    }
  });

  it('works inside worker_threads, each with its own ISA setting', async () => {
    const entry = path.resolve(__dirname, '..', 'dist', 'index.js');
    const src = `
      const { parentPort, workerData } = require('worker_threads');
      const { kernels } = require(workerData.entry);
      kernels.setIsa('scalar');
      const codes = new Uint8Array(64 * 3).map((_, i) => i % 4);
      const A = kernels.pack(codes, 3, 64, 2);
      kernels.bitGemmAsync(A, A, { aEncoding: 'unsigned', bEncoding: 'unsigned' })
        .then((c) => parentPort.postMessage({ isa: kernels.isa(), c: Array.from(c) }));`;
    const isaBefore = kernels.isa();
    const msgs = await Promise.all([0, 1].map(() => new Promise<{ isa: string; c: number[] }>((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: { entry } });
      w.once('message', (m) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    })));
    const codes = new Uint8Array(64 * 3).map((_, i) => i % 4);
    const want = gemmRef(values(codes, 2, 2, 'unsigned'), values(codes, 2, 2, 'unsigned'), 3, 3, 64);
    for (const m of msgs) {
      expect(m.isa).toBe('scalar');
      expect(m.c).toEqual(Array.from(want));
    }
    expect(kernels.isa()).toBe(isaBefore); // a worker's setIsa does not leak into this thread
  });
});
