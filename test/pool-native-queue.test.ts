// NativeRunQueue, the queue in front of run() on native programs, driven with fake calls whose
// settling the test controls: at most `limit` compute at once and the others start in order; a
// failure (thrown or rejected) frees its slot; an abort rejects at once but the slot stays taken
// until the computation really ends; close() rejects only the waiting calls.
import { describe, expect, it } from '@jest/globals';
import { NativeRunQueue } from '../lib/nn/pool/native-queue';

interface Fake {
  id: number;
  resolve(v: number): void;
  reject(e: Error): void;
}

function harness(limit: number) {
  const q = new NativeRunQueue(limit);
  const computing: Fake[] = [];
  const started: number[] = [];
  let peak = 0;
  const call = (id: number, signal?: AbortSignal, throws = false): Promise<number> => q.run(() => {
    if (throws) throw new RangeError(`bad call ${id}`);
    started.push(id);
    return new Promise<number>((resolve, reject) => {
      const f: Fake = {
        id,
        resolve: (v) => { computing.splice(computing.indexOf(f), 1); resolve(v); },
        reject: (e) => { computing.splice(computing.indexOf(f), 1); reject(e); },
      };
      computing.push(f);
      peak = Math.max(peak, computing.length);
    });
  }, () => {}, signal);
  const find = (id: number) => computing.find((f) => f.id === id)!;
  const tick = () => new Promise((r) => setImmediate(r));
  return { q, call, started, computing, find, tick, peak: () => peak };
}

describe('NativeRunQueue', () => {
  it('runs at most `limit` calls at once, the others in order, with and without signals', async () => {
    const h = harness(2);
    const ac = new AbortController();
    const calls = [h.call(0), h.call(1, ac.signal), h.call(2), h.call(3, ac.signal), h.call(4)];
    expect(h.started).toEqual([0, 1]);
    expect(h.q.waiting).toBe(3);
    h.find(1).resolve(11);
    await h.tick();
    expect(h.started).toEqual([0, 1, 2]);
    for (const id of [0, 2, 3, 4]) {
      await h.tick();
      h.find(id).resolve(10 + id);
    }
    expect(await Promise.all(calls)).toEqual([10, 11, 12, 13, 14]);
    expect(h.peak()).toBe(2);
    expect(h.q.started).toBe(5);
  });

  it('a call that throws or rejects fails alone and frees its slot', async () => {
    const h = harness(1);
    await expect(h.call(0, undefined, true)).rejects.toMatchObject({ name: 'RangeError', message: 'bad call 0' });
    const ac = new AbortController();
    await expect(h.call(1, ac.signal, true)).rejects.toMatchObject({ name: 'RangeError', message: 'bad call 1' });
    const failing = h.call(2);
    const next = h.call(3, ac.signal);
    expect(h.started).toEqual([2]);
    h.find(2).reject(new Error('kernel failed'));
    await expect(failing).rejects.toMatchObject({ message: 'kernel failed' });
    await h.tick();
    expect(h.started).toEqual([2, 3]);
    h.find(3).resolve(3);
    expect(await next).toBe(3);
  });

  it('an abort while computing rejects at once; the slot frees when the computation ends', async () => {
    const h = harness(1);
    const ac = new AbortController();
    const first = h.call(0, ac.signal);
    const second = h.call(1);
    ac.abort(new Error('client gone'));
    await expect(first).rejects.toMatchObject({ name: 'AbortError', cause: { message: 'client gone' } });
    await h.tick();
    expect(h.started).toEqual([0]); // still computing: the second waits
    h.find(0).resolve(0);
    await h.tick();
    expect(h.started).toEqual([0, 1]);
    h.find(1).resolve(1);
    expect(await second).toBe(1);
  });

  it('close() rejects the waiting calls; the computing one finishes', async () => {
    const h = harness(1);
    const first = h.call(0);
    const waiting = [h.call(1), h.call(2, new AbortController().signal)];
    h.q.close();
    for (const w of waiting) await expect(w).rejects.toMatchObject({ message: expect.stringMatching(/closed before the call started/) });
    h.find(0).resolve(7);
    expect(await first).toBe(7);
    expect(h.started).toEqual([0]);
  });
});
