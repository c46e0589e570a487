'use strict';
// The server's own queue in front of model.run() / runDetailed(): at most `concurrency` calls in flight
// (one per model worker thread), the rest wait here, where a request whose deadline passed or
// whose client went away is taken out and never computed. A call already handed to the model
// carries an AbortSignal: when its deadline passes or its client goes away it is aborted inside
// the model's worker pool (never computed if it still waits for a worker; its result discarded if
// a worker is computing it), the request is answered at once and the compute slot frees up.
//
// Optional micro-batching (maxBatch > 1): when a slot frees up, queued requests with the same
// settings (precision, gate, gate offset) are run as one call, up to maxBatch samples. It never
// waits for a batch to fill: it only merges requests that are already waiting, so it cannot add
// latency at low load. The server refuses it for models whose answers depend on the batch.


class HttpError extends Error {
  constructor(statusCode, code, message) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}

function sameSettings(a, b) {
  return a.precision.weights === b.precision.weights && a.precision.activations === b.precision.activations &&
    a.gate === b.gate && a.gateOffset === b.gateOffset;
}

class InferenceQueue {
  /**
   * @param {import('anyprec').Model} model
   * @param {object} o
   * @param {import('./governor').Governor} o.governor
   * @param {number} [o.concurrency]
   * @param {number} [o.maxBatch]
   * @param {() => number} [o.clock]
   * @param {(ev: object) => void} [o.onComputed]  called after each model call
   * @param {(reason: string) => void} [o.onDropped]   a queued request taken out (never computed)
   * @param {(reason: string) => void} [o.onAborted]   a request aborted after it was handed to the model
   * @param {boolean} [o.detailed] call model.runDetailed (per-call stats: a gated model's gate
   *        fraction and spent bit-ops); otherwise model.run, with the bit-ops counted once per
   *        precision and batch size (model.bitOps: they do not depend on the data without gates)
   * @param {(precision: object, samples: number) => boolean} [o.inline] whether a call may run
   *        inline (runSync on the event loop, no hand-off to the kernel thread pool); asked only
   *        when nothing else is queued or computing
   */
  constructor(model, o) {
    this.model = model;
    this.governor = o.governor;
    this.concurrency = o.concurrency ?? 1;
    this.maxBatch = o.maxBatch ?? 1;
    this.clock = o.clock ?? (() => performance.now());
    this.onComputed = o.onComputed ?? (() => {});
    this.onDropped = o.onDropped ?? (() => {});
    this.onAborted = o.onAborted ?? (() => {});
    this.detailed = o.detailed ?? true;
    this.inline = o.inline;
    /** calls computed inline (runSync on the event loop) */
    this.inlined = 0;
    /** 'w,a,n' -> { bitOps } of an ungated model's call (run() gives no stats) */
    this.plainStats = new Map();
    /** @type {any[]} */
    this.waiting = [];
    this.inflight = 0;
    this.computations = 0;
    this.idleWaiters = [];
    /** @type {AbortController | undefined} */
    this.spareController = undefined;
  }

  get depth() {
    return this.waiting.length;
  }

  /**
   * Queues one request. job: { x: Tensor, pinned?: Precision, gate?, gateOffset?, deadline?: ms on
   * the clock }. Resolves { output: Float32Array rows, n, features, precision, bitOps, gate, computeMs,
   * queueMs }; rejects with an HttpError (504 deadline, 499 client gone).
   * Returns { promise, cancel(reason), settled() }.
   */
  submit(job) {
    job.enqueuedAt = this.clock();
    job.state = 'queued';
    this.governor.arrive?.(); // the offered rate (a custom governor may not count it)
    const promise = new Promise((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    this.waiting.push(job);
    if (job.deadline !== undefined) {
      const wait = Math.max(0, job.deadline - job.enqueuedAt);
      job.timer = setTimeout(() => this.drop(job, 'deadline'), wait);
      job.timer.unref?.();
    }
    this.pump();
    // settled(): already answered (computed inline, or refused) by the time submit returns
    return { promise, cancel: (reason = 'disconnected') => this.drop(job, reason), settled: () => job.state === 'done' };
  }

  /**
   * Takes a still-queued request out (never computed), or aborts a running one: it is answered
   * now, and its model call is aborted once every request sharing it (a micro-batch) is gone.
   */
  drop(job, reason) {
    if (job.state === 'running') return this.abort(job, reason);
    if (job.state !== 'queued') return false;
    const i = this.waiting.indexOf(job);
    if (i >= 0) this.waiting.splice(i, 1);
    this.finish(job);
    this.onDropped(reason);
    job.reject(reason === 'deadline'
      ? new HttpError(504, 'DEADLINE_EXCEEDED', `the request's deadline (deadlineMs) passed before it was computed`)
      : new HttpError(499, 'CLIENT_CLOSED', 'the client went away before the request was computed'));
    this.checkIdle();
    return true;
  }

  abort(job, reason) {
    this.finish(job);
    this.onAborted(reason);
    job.reject(reason === 'deadline'
      ? new HttpError(504, 'DEADLINE_EXCEEDED', `the request's deadline (deadlineMs) passed while it was being computed; the computation was aborted`)
      : new HttpError(499, 'CLIENT_CLOSED', 'the client went away while the request was being computed; the computation was aborted'));
    const call = job.call;
    if (call && call.jobs.every((j) => j.state === 'done')) call.controller.abort(reason);
    return true;
  }

  finish(job) {
    job.state = 'done';
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
  }

  pump() {
    while (this.inflight < this.concurrency && this.waiting.length > 0) {
      const first = this.waiting.shift();
      const now = this.clock();
      if (first.deadline !== undefined && now >= first.deadline) {
        this.waiting.unshift(first);
        this.drop(first, 'deadline');
        continue;
      }
      const choice = this.governor.choose(this.inflight + this.waiting.length, first.pinned);
      first.precision = choice.precision;
      first.gateOffset = first.gateOffset ?? choice.gateOffset;
      first.pinnedChoice = choice.pinned;
      const batch = [first];
      let samples = first.x.shape[0];
      if (this.maxBatch > 1) {
        for (let i = 0; i < this.waiting.length && samples < this.maxBatch;) {
          const j = this.waiting[i];
          const p = j.pinned ?? choice.precision;
          const cand = { precision: p, gate: j.gate, gateOffset: j.gateOffset ?? (j.pinned ? undefined : choice.gateOffset) };
          const n = j.x.shape[0];
          if ((j.deadline === undefined || now < j.deadline) && samples + n <= this.maxBatch && sameSettings(first, cand)) {
            this.waiting.splice(i, 1);
            j.precision = p;
            j.gateOffset = cand.gateOffset;
            j.pinnedChoice = !!j.pinned;
            batch.push(j);
            samples += n;
          } else i++;
        }
      }
      // the deadline timers stay armed: a deadline that passes during the call aborts it
      const call = { jobs: batch, controller: this.spareController ?? new AbortController() };
      this.spareController = undefined;
      for (const j of batch) {
        j.state = 'running';
        j.startedAt = now;
        j.call = call;
      }
      this.inflight++;
      // Inline (opt-in, for calls that cost little): only when the event loop has nothing else to
      // hand to the model, so it blocks no queued request; the call is not abortable, but it had
      // not passed its deadline when it started and it is short.
      const inline = this.inline !== undefined && this.inflight === 1 && this.waiting.length === 0 && this.inline(first.precision, samples);
      void this.compute(batch, samples, inline);
    }
  }

  async compute(batch, samples, inline = false) {
    const first = batch[0];
    let x = first.x;
    if (batch.length > 1) {
      const sample = first.x.shape.slice(1);
      const per = x.data.length / x.shape[0];
      const data = new x.data.constructor(samples * per); // Float32Array, or Uint8Array for uint8 models
      let o = 0;
      for (const j of batch) { data.set(j.x.data, o); o += j.x.data.length; }
      x = new x.constructor(data, [samples, ...sample]); // Tensor or Uint8Tensor, as the requests were
    }
    const call = first.call;
    const opts = inline ? { bits: first.precision } : { bits: first.precision, signal: call.controller.signal };
    if (first.gate !== undefined) opts.gate = first.gate;
    if (first.gateOffset !== undefined) opts.gateOffset = first.gateOffset;
    this.computations++;
    const t0 = this.clock();
    try {
      let r;
      if (inline) {
        this.inlined++;
        r = this.detailed ? this.model.runSyncDetailed(x, opts) : { output: this.model.runSync(x, opts), stats: undefined };
      } else {
        r = this.detailed ? await this.model.runDetailed(x, opts) : { output: await this.model.run(x, opts), stats: undefined };
      }
      const output = r.output;
      const stats = r.stats ?? this.statsOf(first.precision, samples);
      const computeMs = this.clock() - t0;
      const features = output.data.length / samples;
      let row = 0;
      for (const j of batch) {
        const n = j.x.shape[0];
        const live = j.state === 'running'; // not aborted meanwhile (its answer was already sent)
        this.finish(j);
        if (live) j.resolve({
          output: output.data.subarray(row * features, (row + n) * features), n, features,
          precision: first.precision, pinned: j.pinnedChoice,
          bitOps: stats.bitOps * n / samples,
          gate: stats.gate, computeMs, queueMs: j.startedAt - j.enqueuedAt, batch: samples,
        });
        row += n;
      }
      this.onComputed({ precision: first.precision, computeMs, samples, requests: batch.length, stats });
    } catch (e) {
      const err = /** @type {Error} */ (e);
      const mapped = err.name === 'TypeError' || err.name === 'RangeError'
        ? new HttpError(400, 'BAD_REQUEST', err.message) : new HttpError(500, 'INFERENCE_FAILED', err.message);
      for (const j of batch) {
        if (j.state !== 'running') continue; // aborted: already answered
        this.finish(j);
        j.reject(mapped);
      }
    } finally {
      // A controller that was never aborted is as good as new (the pool removed its listener when
      // the call settled): the next call reuses it. Making one per request showed in the profile.
      if (!call.controller.signal.aborted) this.spareController = call.controller;
      this.inflight--;
      this.pump();
      this.checkIdle();
    }
  }

  /** The stats of an ungated model's call: its bit-ops (what runDetailed would report). */
  statsOf(precision, samples) {
    const k = `${precision.weights},${precision.activations},${samples}`;
    let st = this.plainStats.get(k);
    if (!st) {
      st = { bitOps: this.model.bitOps(samples, { bits: precision }).bitOps };
      this.plainStats.set(k, st);
    }
    return st;
  }

  checkIdle() {
    if (this.inflight === 0 && this.waiting.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves once nothing is queued or running. */
  idle() {
    if (this.inflight === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }
}

module.exports = { InferenceQueue, HttpError };
