// The async jobs' completion channel: one per environment, kept between calls. Many calls in
// flight at once each get their own answer; aborts and errors stay per call; the channel keeps the
// process alive exactly while a call is in flight (a process or worker whose work is done exits on
// its own, one whose call is pending does not exit before it settles).
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { kernels, loadSync, Uint8Tensor } from '../lib';
import type { Model, Tensor } from '../lib';
import { firstDiff, rng } from './helpers/reference';

const root = path.resolve(__dirname, '..');
const modelFile = path.join(root, 'models', 'mnist', 'resnet20-any.anyprec');

function same(a: Tensor, b: Tensor): boolean {
  return a.shape.join() === b.shape.join() && firstDiff(a.data, b.data) === -1;
}

function digits(n: number, seed: number): Uint8Tensor {
  const r = rng(seed);
  return new Uint8Tensor(Uint8Array.from({ length: n * 28 * 28 }, () => Math.floor(r() * 256)), [n, 1, 28, 28]);
}

describe('many calls in flight at once', () => {
  it('hundreds of concurrent kernel calls: each equals its sync twin', async () => {
    const r = rng(3);
    const calls = Array.from({ length: 300 }, (_, i) => {
      const m = 1 + (i % 5), k = 3 + (i % 7), n = 2 + (i % 4);
      const a = Float32Array.from({ length: m * k }, () => r() - 0.5), b = Float32Array.from({ length: k * n }, () => r() - 0.5);
      return { want: kernels.floatGemm(a, m, k, b, n), got: kernels.floatGemmAsync(a, m, k, b, n) };
    });
    const got = await Promise.all(calls.map((c) => c.got));
    got.forEach((g, i) => expect(firstDiff(g, calls[i].want)).toBe(-1));
  });

  it('failing and succeeding calls mixed: each settles its own way', async () => {
    const a = new Float32Array([1, 2]), b = new Float32Array([3, 4]);
    const calls = Array.from({ length: 40 }, (_, i) => (i % 3 === 0
      ? kernels.floatGemmAsync(a, 1, 3, b, 1) // a holds 2 values, not 1 x 3
      : kernels.floatGemmAsync(a, 1, 2, b, 1)));
    const settled = await Promise.allSettled(calls);
    settled.forEach((s, i) => {
      if (i % 3 === 0) expect(s).toMatchObject({ status: 'rejected', reason: { name: 'RangeError' } });
      else expect(s.status === 'fulfilled' && Array.from(s.value)).toEqual([11]);
    });
  });
});

describe('run() of the bundled model through the channel', () => {
  let model: Model;
  afterAll(async () => {
    await model?.close();
  });

  it('concurrent run() calls at mixed precisions and batches equal runSync', async () => {
    model = loadSync(modelFile);
    model.setWorkers(2);
    const cases = Array.from({ length: 24 }, (_, i) => ({ bits: [1, 2, 4, 8][i % 4], x: digits(1 + (i % 3), 100 + i) }));
    expect(cases.every((c) => model.runsNatively({ bits: c.bits }))).toBe(true);
    const got = await Promise.all(cases.map((c) => model.run(c.x, { bits: c.bits })));
    got.forEach((y, i) => expect(same(y, model.runSync(cases[i].x, { bits: cases[i].bits }))).toBe(true));
  });

  it('aborted calls reject with AbortError (queued or computing); the others still equal runSync', async () => {
    model ??= loadSync(modelFile);
    model.setWorkers(1);
    const cases = Array.from({ length: 12 }, (_, i) => ({ bits: [2, 8][i % 2], x: digits(2, 200 + i), ac: new AbortController() }));
    const calls = cases.map((c) => model.run(c.x, { bits: c.bits, signal: c.ac.signal }));
    cases[0].ac.abort(); // computing by now
    cases[5].ac.abort(); // still queued
    cases[11].ac.abort();
    const settled = await Promise.allSettled(calls);
    settled.forEach((s, i) => {
      if (i === 0 || i === 5 || i === 11) expect(s).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });
      else expect(s.status === 'fulfilled' && same(s.value, model.runSync(cases[i].x, { bits: cases[i].bits }))).toBe(true);
    });
    expect(same(await model.run(cases[0].x, { bits: 2 }), model.runSync(cases[0].x, { bits: 2 }))).toBe(true);
  });
});

describe('the channel holds the process open only while a call is in flight', () => {
  const entry = path.join(root, 'dist', 'index.js');
  const node = (src: string) => spawnSync(process.execPath, ['-e', src], { encoding: 'utf8', timeout: 30000 });

  it('a pending call keeps the process alive until it settles; an idle process exits', () => {
    // Nothing but the native call keeps the loop alive: without the channel's reference the
    // process would exit before printing. After it settles, a timer starts one more call (the
    // channel, idle meanwhile, is referenced again), then nothing is left and the process must exit.
    const r = node(`
      const { kernels } = require(${JSON.stringify(entry)});
      const a = new Float32Array([2]), b = new Float32Array([5]);
      kernels.floatGemmAsync(a, 1, 1, b, 1).then((y) => {
        console.log('first', y[0]);
        setTimeout(() => kernels.floatGemmAsync(a, 1, 1, b, 1).then((z) => console.log('second', z[0])), 20);
      });
      kernels.floatGemmAsync(a, 1, 9, b, 1).catch((e) => console.log('refused', e.name));`);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.stdout.trim().split('\n').sort()).toEqual(['first 10', 'refused RangeError', 'second 10']);
  });

  it('run() of a model in the main thread and in a worker: both finish and the process exits on its own', () => {
    const r = node(`
      const { Worker } = require('worker_threads');
      const src = ${JSON.stringify(`
        const { loadSync, Uint8Tensor } = require(${JSON.stringify(entry)});
        const m = loadSync(${JSON.stringify(modelFile)});
        const x = new Uint8Tensor(new Uint8Array(784).fill(77), [1, 1, 28, 28]);
        Promise.all([m.run(x, { bits: 2 }), m.run(x, { bits: 8 })]).then((ys) => {
          const want = [m.runSync(x, { bits: 2 }), m.runSync(x, { bits: 8 })];
          const ok = ys.every((y, i) => y.data.every((v, j) => v === want[i].data[j]));
          (require('worker_threads').parentPort ?? { postMessage: console.log }).postMessage((require('worker_threads').isMainThread ? 'main ' : 'worker ') + ok);
        });`)};
      eval(src);
      const w = new Worker(src, { eval: true });
      w.on('message', (m) => console.log(m));
      w.on('exit', (code) => console.log('worker exit', code));`);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.stdout.trim().split('\n').sort()).toEqual(['main true', 'worker exit 0', 'worker true']);
  });
});
