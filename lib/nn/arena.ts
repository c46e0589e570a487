// The buffers a plan's steps write (packed conv inputs, codes, floats), kept between calls so a
// run reuses memory it has already touched instead of page-faulting fresh multi-MB outputs each
// call. One StepBuffers per (plan, batch size); the model's ArenaBudget bounds what all its plans
// keep together (maxMemory less the parameters), evicting the least recently used first.
//
// Contract: a plan runs on one thread at a time (runSync on the caller's thread; run() on pool
// workers, each with its own model and plans). A plan already running (a re-entrant call) gets no
// buffers and allocates afresh, so two runs never share one. The buffers never leave the plan:
// Plan.run copies the result out.
import { Packed } from '../core/kernels';

/** Memory held outside JS that a set accounts for (a native program's arena): its bytes, its owner, how to free it. */
export class HeldMemory {
  constructor(readonly byteLength: number, readonly owner: object, readonly release: () => void) {}
}

/** What a step may keep: a typed array its kernel wrote, a packed operand, or held native memory. */
export type Reusable = Float32Array | Uint8Array | Int32Array | Packed | HeldMemory;

function bytesOf(v: Reusable): number {
  return v.byteLength;
}

/** The kept buffers of one plan at one batch size, by key (step output name + role). */
export class StepBuffers {
  private readonly slots = new Map<string, Reusable>();
  private held = 0;

  constructor(private readonly budget: ArenaBudget) {}

  /** Bytes held. */
  get bytes(): number {
    return this.held;
  }

  /** The typed array kept under `key` if it is a `type` of `length` elements (else undefined). */
  array<T extends Float32Array | Uint8Array | Int32Array>(key: string, type: new (n: number) => T, length: number): T | undefined {
    const v = this.slots.get(key);
    return v instanceof type && v.length === length ? v : undefined;
  }

  /** The packed operand kept under `key` if it has this shape (else undefined). */
  packed(key: string, rows: number, cols: number, bits: number): Packed | undefined {
    const v = this.slots.get(key);
    return v instanceof Packed && v.rows === rows && v.cols === cols && v.bits === bits ? v : undefined;
  }

  /** Keeps `v` under `key` (replacing what was there) when the budget allows; returns v. */
  keep<T extends Reusable>(key: string, v: T): T {
    const old = this.slots.get(key);
    if (old === v) return v;
    const oldBytes = old === undefined ? 0 : bytesOf(old);
    const grow = bytesOf(v) - oldBytes;
    if (grow > 0 && !this.budget.claim(this, grow)) return v; // not kept: the next call allocates again
    if (grow <= 0) this.budget.release(-grow);
    if (old instanceof HeldMemory) old.release();
    this.slots.set(key, v);
    this.held += grow;
    return v;
  }

  /**
   * Accounts for `bytes` of native memory that `owner` keeps between calls (under `key`), freed by
   * `release` when this set is cleared or evicted: whether the budget holds it (if not, the owner
   * must not keep the memory).
   */
  hold(key: string, owner: object, bytes: number, release: () => void): boolean {
    const old = this.slots.get(key);
    if (old instanceof HeldMemory && old.owner === owner && old.byteLength === bytes) return true;
    const h = new HeldMemory(bytes, owner, release);
    return this.keep(key, h) === h && this.slots.get(key) === h;
  }

  /** Drops every buffer (returns their bytes to the budget; held native memory is freed). */
  clear(): void {
    for (const v of this.slots.values()) if (v instanceof HeldMemory) v.release();
    this.budget.release(this.held);
    this.slots.clear();
    this.held = 0;
  }
}

/**
 * The bound on the buffers a model's plans keep: `limit` bytes in all (maxMemory less the
 * parameters' bytes). Claims beyond it first evict other sets, least recently used first.
 */
export class ArenaBudget {
  private used = 0;
  /** Every set with buffers, least recently used first. */
  private readonly order: StepBuffers[] = [];

  constructor(readonly limit: number) {}

  /** Bytes kept by all plans. */
  get bytes(): number {
    return this.used;
  }

  /** Marks `s` most recently used. */
  touch(s: StepBuffers): void {
    const i = this.order.indexOf(s);
    if (i >= 0) this.order.splice(i, 1);
    this.order.push(s);
  }

  /**
   * Makes room for `bytes` more (kept or about to be allocated by a call) by evicting sets other
   * than `s`; whether `s` may then keep that much.
   */
  claim(s: StepBuffers, bytes: number, keep = true): boolean {
    for (let i = 0; this.used + bytes > this.limit && i < this.order.length;) {
      if (this.order[i] === s) i++;
      else this.order.splice(i, 1)[0].clear();
    }
    if (this.used + bytes > this.limit) return false;
    if (keep) this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
  }

  /** Forgets a set (its plan was dropped) and its bytes. */
  drop(s: StepBuffers): void {
    s.clear();
    const i = this.order.indexOf(s);
    if (i >= 0) this.order.splice(i, 1);
  }
}

/** Batch sizes a plan keeps buffers for (a sliced batch uses two: the slice and the rest). */
const SIZES_KEPT = 2;

/** A plan's buffers per batch size, with the guard that keeps re-entrant runs off them. */
export class PlanArena {
  private readonly sizes = new Map<number, StepBuffers>();
  private busy = false;

  constructor(private readonly budget: ArenaBudget) {}

  /** Bytes held at every batch size. */
  get bytes(): number {
    let b = 0;
    for (const s of this.sizes.values()) b += s.bytes;
    return b;
  }

  /**
   * Runs fn with the buffers for batch n (undefined when this plan is already running: a nested
   * call allocates its own). `estimate`: bytes the call may allocate, made room for first.
   */
  use<R>(n: number, estimate: number, fn: (buffers: StepBuffers | undefined) => R): R {
    if (this.busy) return fn(undefined);
    let set = this.sizes.get(n);
    if (!set) {
      if (this.sizes.size >= SIZES_KEPT) {
        const oldest = this.sizes.keys().next().value!;
        this.budget.drop(this.sizes.get(oldest)!);
        this.sizes.delete(oldest);
      }
      set = new StepBuffers(this.budget);
      this.sizes.set(n, set);
    } else {
      this.sizes.delete(n); // re-inserted: most recent last
      this.sizes.set(n, set);
    }
    this.budget.touch(set);
    // Room for what the call allocates beyond what this set keeps already (others' sets evicted).
    this.budget.claim(set, Math.max(0, estimate - set.bytes), false);
    this.busy = true;
    try {
      return fn(set);
    } finally {
      this.busy = false;
    }
  }

  /** Drops every buffer (the plan is no longer cached). */
  release(): void {
    for (const s of this.sizes.values()) this.budget.drop(s);
    this.sizes.clear();
  }
}
