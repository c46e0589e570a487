// Worker threads that run a model off the main thread. Each worker holds the same model
// (weights in shared memory, not copied) and runs one call at a time; calls queue when all are busy.
//
// Every failure is that call's: a message that cannot be posted (an input or option that cannot
// be cloned) rejects the call with a TypeError and leaves its worker free; a worker that dies
// rejects the call it was running and is replaced on the next call; an aborted call leaves the queue.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { Tensor, Uint8Tensor } from '../../core/tensor';
import type { AbortSignalLike, ModelState, RunOptions, RunStats } from '../types';

type Result = { output: Tensor; stats?: RunStats };

/** A call that settles once (resolved, rejected or aborted): later outcomes are ignored. */
export interface Settling {
  done: boolean;
  signal?: AbortSignalLike;
  onAbort?: () => void;
}

interface Job extends Settling {
  msg: Record<string, unknown>;
  resolve(r: Result): void;
  reject(e: Error): void;
}

/** The error an aborted run() rejects with: name 'AbortError', the signal's reason as its cause. */
export function abortError(signal: AbortSignalLike): Error {
  const e = new Error('the run was aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

export function settle(job: Settling, f: () => void): void {
  if (job.done) return;
  job.done = true;
  if (job.onAbort) job.signal!.removeEventListener('abort', job.onAbort);
  f();
}

/** When job's signal aborts: off `queue` if still there (never computed), rejected with an AbortError. */
export function rejectOnAbort<J extends Settling>(job: J, queue: J[], reject: (e: Error) => void): void {
  const signal = job.signal;
  if (!signal) return;
  job.onAbort = () => {
    const i = queue.indexOf(job);
    if (i >= 0) queue.splice(i, 1);
    settle(job, () => reject(abortError(signal)));
  };
  signal.addEventListener('abort', job.onAbort, { once: true });
}

/** The compiled worker script (tests run the TypeScript sources, the worker runs dist/). */
function workerFile(): string {
  return __filename.endsWith('.ts')
    ? path.resolve(__dirname, '..', '..', '..', 'dist', 'nn', 'pool', 'worker.js')
    : path.join(__dirname, 'worker.js');
}

function rebuildError(e: { name: string; message: string }): Error {
  const Ctor = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : Error;
  return new Ctor(e.message);
}

type Reply = { output?: Float32Array; shape?: number[]; stats?: RunStats; error?: { name: string; message: string } };

class Slot {
  readonly worker: Worker;
  busy?: Job;
  dead = false;
  constructor(state: ModelState, onIdle: (s: Slot) => void, onDead: (s: Slot, e: Error) => void) {
    this.worker = new Worker(workerFile(), { workerData: state });
    this.worker.unref();
    this.worker.on('message', (m: Reply) => {
      const job = this.busy;
      this.busy = undefined;
      this.worker.unref();
      if (job) {
        if (m && m.error) settle(job, () => job.reject(rebuildError(m.error!)));
        else if (m && m.output && m.shape) settle(job, () => job.resolve({ output: new Tensor(m.output!, m.shape!), stats: m.stats }));
        else settle(job, () => job.reject(new Error('model worker sent a malformed reply')));
      }
      onIdle(this);
    });
    this.worker.on('messageerror', (e) => {
      const job = this.busy;
      this.busy = undefined;
      if (job) settle(job, () => job.reject(new Error(`model worker reply could not be read: ${e.message}`)));
      onIdle(this);
    });
    this.worker.on('error', (e) => onDead(this, e));
    this.worker.on('exit', (code) => onDead(this, new Error(`model worker exited with code ${code} during the call`)));
  }
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;
  /** Workers started so far (replacements included); for tests and diagnostics. */
  started = 0;

  constructor(private readonly state: ModelState, private readonly size: number) {}

  run(x: Tensor | Uint8Tensor, opts: RunOptions | undefined, collect: boolean, isa: string, threads: number,
      thresholds?: Array<[string, Float32Array]>, signal?: AbortSignalLike): Promise<Result> {
    if (this.closed) return Promise.reject(new Error('model worker pool is closed'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // The input is copied once (structured clone); the output comes back transferred.
    return new Promise((resolve, reject) => {
      const job: Job = { resolve, reject, done: false, signal,
        msg: { data: x.data, shape: [...x.shape], opts, collect, isa, threads, thresholds } };
      rejectOnAbort(job, this.queue, reject);
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((s) => !s.busy && !s.dead);
      if (!slot && this.slots.length < this.size) {
        try {
          slot = new Slot(this.state, () => this.pump(), (s, e) => this.dead(s, e));
        } catch (e) {
          // A worker that cannot start fails the call waiting for it, not the process.
          const job = this.queue.shift()!;
          settle(job, () => job.reject(new Error(`model worker could not start: ${(e as Error).message}`)));
          continue;
        }
        this.started++;
        this.slots.push(slot);
      }
      if (!slot) return;
      const job = this.queue.shift()!;
      if (job.done) continue;
      try {
        slot.worker.postMessage(job.msg);
      } catch (e) {
        // Nothing was sent (structured clone fails before posting): the worker stays free.
        const err = e as Error;
        settle(job, () => job.reject(new TypeError(`run() input or options cannot be sent to the model worker: ${err.message} ` +
          '(a detached or transferred buffer, or an option holding a function?)')));
        continue;
      }
      slot.busy = job;
      slot.worker.ref();
    }
  }

  private dead(slot: Slot, e: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    const job = slot.busy;
    slot.busy = undefined;
    if (job) settle(job, () => job.reject(e));
    this.pump(); // a replacement starts for the calls still queued
  }

  /** @internal Tests: the workers now running (to terminate one mid-call). */
  get workers(): Worker[] {
    return this.slots.map((s) => s.worker);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) settle(job, () => job.reject(new Error('model worker pool closed')));
    const slots = this.slots.splice(0);
    for (const s of slots) s.dead = true;
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const s of slots) if (s.busy) { const job = s.busy; settle(job, () => job.reject(new Error('model worker pool closed'))); }
  }
}
