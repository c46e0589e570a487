// The tape itself: tensors that carry gradients (Var, Param), the tape of backward steps, and the
// helpers every op uses to make its output and add into gradients.

import { accumulate } from './native';

/** Tensors at least this long go through the native element-wise loops (a call costs ~1 us). */
export const NATIVE_MIN = 1024;

export class Var {
  grad: Float32Array | null = null;
  constructor(public data: Float32Array, public shape: number[], public requiresGrad = false) {
    let n = 1;
    for (const d of shape) n *= d;
    if (n !== data.length) throw new RangeError(`shape [${shape.join(', ')}] needs ${n} values, data holds ${data.length}`);
  }
  get size(): number { return this.data.length; }
  /** The gradient buffer (created zeroed on first use). */
  g(): Float32Array {
    return (this.grad ??= new Float32Array(this.data.length));
  }
  zeroGrad(): void { this.grad = null; }
}

/** A learnable tensor: a Var that always wants a gradient, with a name and a version for caches. */
export class Param extends Var {
  version = 0;
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
