// Lowering a plan to a native program (core/kernels/runner.ts): each step that can emits the
// kernel calls its exec would make for a batch of n, over numbered buffers instead of arrays.
// What a step reads is named as in the plan's env (node names); its value is a buffer of floats
// or of unsigned codes. A step that cannot lower (gated layers, dynamic or sign activations, ops
// without a native kernel) makes the whole plan keep its JS path.
import * as kernels from '../core/kernels';
import type { LayerRoute } from './route';

const fr = Math.fround;

/**
 * A lowered activation: a buffer of n samples' floats or unsigned codes (with `scale`: code p is
 * worth fr(fr(p / (2^bits − 1)) · scale), a clipped quantiser's), and its NHWC/[n, F] shape.
 */
export type LoweredValue =
  | { kind: 'float'; buf: number; shape: number[] }
  | { kind: 'codes'; buf: number; bits: number; shape: number[]; scale?: number };

/** Thrown by a step that cannot lower after all (the plan keeps its JS path). */
export class NotLowerable extends Error {}

export class Lowering {
  readonly buffers: number[] = [];
  readonly ops: kernels.ProgramOp[] = [];
  private readonly env = new Map<string, LoweredValue>();
  /** Float buffers decoded from codes, per value name (decoded once). */
  private readonly decoded = new Map<string, number>();
  /** The GEMM route the step being lowered took (a quantised layer's lowering sets it; the plan collects it per step). */
  route?: LayerRoute;

  /**
   * `gatesDense`: gated layers lower as their dense layer (no gate: what gatePath 'dense' runs,
   * the same bits); without it a gated layer cannot lower.
   */
  constructor(readonly n: number, readonly gatesDense = false) {}

  /** A new buffer of `bytes` bytes. */
  buffer(bytes: number): number {
    this.buffers.push(Math.max(1, bytes));
    return this.buffers.length - 1;
  }

  op(o: kernels.ProgramOp): void {
    this.ops.push(o);
  }

  get(name: string): LoweredValue {
    const v = this.env.get(name);
    if (!v) throw new NotLowerable(`value ${name} was not lowered`);
    return v;
  }

  set(name: string, v: LoweredValue): LoweredValue {
    this.env.set(name, v);
    return v;
  }

  /** A new value of n samples of per-sample `shape`: floats, or codes of `bits` bits (worth `scale` at the top code). */
  value(shape: number[], bits = 32, scale?: number): LoweredValue {
    const count = this.n * shape.reduce((a, b) => a * b, 1);
    const full = [this.n, ...shape];
    if (bits === 32) return { kind: 'float', buf: this.buffer(4 * count), shape: full };
    const v: LoweredValue = { kind: 'codes', buf: this.buffer(count), bits, shape: full };
    if (scale !== undefined) v.scale = scale;
    return v;
  }

  /** The float buffer of a value (ops.toFloat: codes p -> p / (2^b - 1) [· scale], decoded once per value). */
  floats(name: string): number {
    const v = this.get(name);
    if (v.kind === 'float') return v.buf;
    let buf = this.decoded.get(name);
    if (buf === undefined) {
      const count = v.shape.reduce((a, b) => a * b, 1);
      const levels = (1 << v.bits) - 1;
      const s = v.scale;
      const table = new Float32Array(levels + 1).map((_, p) => (s === undefined ? fr(p / levels) : fr(fr(p / levels) * s)));
      buf = this.buffer(4 * count);
      this.op({ op: 'codesToFloat', x: v.buf, out: buf, count, table });
      this.decoded.set(name, buf);
    }
    return buf;
  }
}

/** The [n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw] of a conv over NHWC [h, w, c] (a dense layer: 1x1 of K channels). */
export function convShape(n: number, inShape: number[], conv?: { kernel: [number, number]; stride: [number, number];
  padding: [number, number]; dilation: [number, number] }): kernels.ConvShapeArray {
  if (!conv) return [n, 1, 1, inShape.reduce((a, b) => a * b, 1), 1, 1, 1, 1, 0, 0, 1, 1];
  const [h, w, c] = inShape;
  return [n, h, w, c, ...conv.kernel, ...conv.stride, ...conv.padding, ...conv.dilation];
}
