// Worker threads that run a model off the main thread. Each worker holds the same model
// (weights in shared memory, not copied) and runs one call at a time; calls queue when all are busy.
import * as path from 'path';
import { Worker } from 'worker_threads';
import { Tensor } from '../../core/tensor';
import type { ModelState, RunOptions, RunStats } from '../types';

interface Pending {
  resolve(r: { output: Tensor; stats?: RunStats }): void;
  reject(e: Error): void;
}

interface Job extends Pending {
  msg: Record<string, unknown>;
  transfer: ArrayBuffer[];
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

class Slot {
  readonly worker: Worker;
  busy?: Pending;
  constructor(state: ModelState, onIdle: (s: Slot) => void, onDead: (s: Slot, e: Error) => void) {
    this.worker = new Worker(workerFile(), { workerData: state });
    this.worker.unref();
    this.worker.on('message', (m: { output?: Float32Array; shape?: number[]; stats?: RunStats; error?: { name: string; message: string } }) => {
      const p = this.busy!;
      this.busy = undefined;
      this.worker.unref();
      if (m.error) p.reject(rebuildError(m.error));
      else p.resolve({ output: new Tensor(m.output!, m.shape!), stats: m.stats });
      onIdle(this);
    });
    this.worker.on('error', (e) => onDead(this, e));
    this.worker.on('exit', (code) => { if (code !== 0) onDead(this, new Error(`model worker exited with code ${code}`)); });
  }
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(private readonly state: ModelState, private readonly size: number) {}

  run(x: Tensor, opts: RunOptions | undefined, collect: boolean, isa: string, threads: number,
      thresholds?: Array<[string, Float32Array]>): Promise<{ output: Tensor; stats?: RunStats }> {
    if (this.closed) return Promise.reject(new Error('model worker pool is closed'));
    // The input is copied once (structured clone); the output comes back transferred.
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject, transfer: [],
        msg: { data: x.data, shape: [...x.shape], opts, collect, isa, threads, thresholds } });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) {
        slot = new Slot(this.state, () => this.pump(), (s, e) => this.dead(s, e));
        this.slots.push(slot);
      }
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.busy = job;
      slot.worker.ref();
      slot.worker.postMessage(job.msg, job.transfer);
    }
  }

  private dead(slot: Slot, e: Error): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    slot.busy?.reject(e);
    slot.busy = undefined;
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('model worker pool closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
