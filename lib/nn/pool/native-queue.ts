// run() on a plan compiled to a native program: the program runs on the kernel thread pool
// (runProgramAsync), no JS worker thread and no message hop. This queue keeps what the worker
// pool promised: at most `limit` calls compute at once (Model.setWorkers), the others wait in
// order; a call aborted before it starts leaves the queue and never computes; one aborted while it
// computes rejects at once (its result is dropped); close() rejects the calls still waiting.
import type { AbortSignalLike } from '../types';
import { abortError, rejectOnAbort, settle } from './pool';
import type { Settling } from './pool';

interface Job extends Settling {
  start(): Promise<unknown>;
  resolve(t: unknown): void;
  reject(e: Error): void;
}

export class NativeRunQueue {
  private running = 0;
  private readonly queue: Job[] = [];
  /** Calls started so far (for tests and diagnostics). */
  started = 0;

  constructor(private limit: number) {}

  /** At most n calls compute at once (from now on). */
  setLimit(n: number): void {
    this.limit = n;
    this.pump();
  }

  /** Calls waiting to start. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs `start` when fewer than `limit` calls are computing. `own` is called when the call has to
   * wait: it must make the call's input its own (the caller may reuse or detach it meanwhile).
   */
  run<T>(start: () => Promise<T>, own: () => void, signal?: AbortSignalLike): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (!signal && this.running < this.limit && this.queue.length === 0) {
      // Nothing to watch and a free slot: the caller gets the call's own promise, and one
      // continuation frees the slot (no wrapper promise, no settle bookkeeping per call).
      const p = this.launch(start);
      p.then(this.release, this.release);
      return p;
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job = { start, resolve: resolve as (t: unknown) => void, reject, done: false, signal };
      rejectOnAbort(job, this.queue, reject); // a call aborted while queued never computes
      if (this.running < this.limit && this.queue.length === 0) {
        this.begin(job);
      } else {
        try {
          own();
        } catch (e) {
          settle(job, () => reject(e as Error));
          return;
        }
        this.queue.push(job);
      }
    });
  }

  /** A call finished (or failed): its slot goes to the next waiting call. */
  private readonly release = (): void => {
    this.running--;
    this.pump();
  };

  /** Takes a slot and starts the call; a throwing start becomes a rejected promise. */
  private launch<T>(start: () => Promise<T>): Promise<T> {
    this.running++;
    this.started++;
    try {
      return start();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private begin(job: Job): void {
    this.launch(job.start).then((t) => {
      this.release();
      settle(job, () => job.resolve(t));
    }, (e: Error) => {
      this.release();
      settle(job, () => job.reject(e));
    });
  }

  private pump(): void {
    while (this.running < this.limit && this.queue.length > 0) {
      const job = this.queue.shift()!;
      if (!job.done) this.begin(job);
    }
  }

  /** Rejects the calls still waiting (those computing finish). */
  close(): void {
    for (const job of this.queue.splice(0)) settle(job, () => job.reject(new Error('the model was closed before the call started')));
  }
}
