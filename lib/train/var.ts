// The tape itself: tensors that carry gradients (Var, Param), the tape of backward steps, and the
// helpers every op uses to make its output and add into gradients.

import { accumulate } from './native';

/** Tensors at least this long go through the native element-wise loops (a call costs ~1 us). */
export const NATIVE_MIN = 1024;

/**
 * Buffer reuse within a training step. Between begin() and end(), buffer() hands out large
 * tensors from free lists instead of allocating (a fresh large Float32Array costs a page fault per
 * 4 KiB on first touch, and garbage collection later); end() takes every one of them back. The
 * caller guarantees that no tensor made in between is used after end() (Trainer.step: one width's
 * forward and backward, the logits copied out). Parameters' gradients never come from here.
 * Outside begin()/end() buffer() is a plain allocation.
 */
class StepBuffers {
  private readonly free = new Map<number, Float32Array[]>();
  private used: Float32Array[] = [];
  private active = false;
  begin(): void { this.active = true; }
  end(): void {
    for (const b of this.used) {
      const list = this.free.get(b.length);
      if (list) list.push(b);
      else this.free.set(b.length, [b]);
    }
    this.used = [];
    this.active = false;
  }
  /** A Float32Array of n values, zeroed unless `zero` is false (then its contents are arbitrary). */
  take(n: number, zero: boolean): Float32Array {
    if (!this.active || n < POOL_MIN) return new Float32Array(n);
    const b = this.free.get(n)?.pop();
    if (b && zero) b.fill(0);
    const r = b ?? new Float32Array(n);
    this.used.push(r);
    return r;
  }
}
/** Tensors shorter than this are allocated as usual (cheap, and the losses' small outputs escape). */
const POOL_MIN = 16384;
export const stepBuffers = new StepBuffers();
/** A tensor buffer for an op's output or a gradient: zeroed, or arbitrary when zero is false. */
export function buffer(n: number, zero = true): Float32Array { return stepBuffers.take(n, zero); }

export class Var {
  grad: Float32Array | null = null;
  /** Whether the gradient buffer may come from the step's buffers (not for parameters). */
  protected readonly pooledGrad: boolean = true;
  constructor(public data: Float32Array, public shape: number[], public requiresGrad = false) {
    let n = 1;
    for (const d of shape) n *= d;
    if (n !== data.length) throw new RangeError(`shape [${shape.join(', ')}] needs ${n} values, data holds ${data.length}`);
  }
  get size(): number { return this.data.length; }
  /** The gradient buffer (created zeroed on first use). */
  g(): Float32Array {
    return (this.grad ??= this.pooledGrad ? buffer(this.data.length) : new Float32Array(this.data.length));
  }
  zeroGrad(): void { this.grad = null; }
  /**
   * For an op that can write its gradient contribution instead of adding it: when this Var has no
   * gradient yet (and it may come from the step's buffers), a fresh uninitialised buffer that
   * becomes its gradient and must be overwritten whole; otherwise null (add into g() instead).
   */
  freshGrad(): Float32Array | null {
    if (this.grad !== null || !this.pooledGrad) return null;
    return (this.grad = buffer(this.data.length, false));
  }
}

/** A learnable tensor: a Var that always wants a gradient, with a name and a version for caches. */
export class Param extends Var {
  version = 0;
  protected override readonly pooledGrad = false;
  constructor(public name: string, data: Float32Array, shape: number[]) { super(data, shape, true); }
}

export class Tape {
  private readonly steps: Array<() => void> = [];
  record(fn: () => void): void { this.steps.push(fn); }
  /** Seeds d(loss)/d(loss) = 1 (or the given gradient) and runs every recorded step backwards. */
  backward(loss: Var, seed?: Float32Array): void {
    if (seed) loss.g().set(seed);
    else loss.g().fill(1);
    for (let i = this.steps.length - 1; i >= 0; i--) this.steps[i]();
    this.steps.length = 0;
  }
}

// Globals read once: inside a vm context (jest) every read of a global such as Math or Infinity
// goes through the context's interceptor, several times slower in hot loops.

export const needs = (...vs: Var[]) => vs.some((v) => v.requiresGrad);
export function out(tape: Tape | null, data: Float32Array, shape: number[], ...inputs: Var[]): Var {
  return new Var(data, shape, tape !== null && needs(...inputs));
}
/** dst += src (a native loop for large tensors; the same float32 adds either way). */
export function addInto(dst: Float32Array, src: Float32Array): void {
  if (dst.length >= NATIVE_MIN && src.length === dst.length) {
    accumulate(dst, src);
    return;
  }
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}
