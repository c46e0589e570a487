// The input prologue of a graph with `input` (version 2): checks what the caller handed the model
// (element type, raw shape) and runs the preprocessing ops to make the float32 NCHW tensor the
// first node reads. The element-wise ops (scale, normalize) are folded into one map applied once
// per value (a 256-entry table for uint8 input); pad values go through the element-wise ops that
// follow their pad, so the result equals running the ops one by one in float32.
import { Tensor, Uint8Tensor } from '../../core/tensor';
import type { GraphSpec } from '../graph';
import type { GraphInput, PreprocessOp } from '../input';

const fr = Math.fround;

function elementwise(op: PreprocessOp, x: number): number {
  if (op.op === 'scale') return fr(x / fr(op.divisor));
  if (op.op === 'normalize') return fr(fr(x - fr(op.mean)) / fr(op.std));
  return x;
}

/** The element-wise ops from index `from` on, composed. */
function valueMap(ops: PreprocessOp[], from: number): ((x: number) => number) | undefined {
  const rest = ops.slice(from).filter((op) => op.op === 'scale' || op.op === 'normalize');
  if (rest.length === 0) return undefined;
  return (x) => rest.reduce((v, op) => elementwise(op, v), fr(x));
}

function pad(x: Float32Array, shape: number[], ph: number, pw: number, value: number): Float32Array {
  const [n, c, h, w] = shape, oh = h + 2 * ph, ow = w + 2 * pw;
  const out = new Float32Array(n * c * oh * ow).fill(value);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < h; y++) out.set(x.subarray((p * h + y) * w, (p * h + y + 1) * w), (p * oh + y + ph) * ow + pw);
  }
  shape[2] = oh;
  shape[3] = ow;
  return out;
}

function replicate(x: Float32Array, shape: number[], channels: number): Float32Array {
  const [n, , h, w] = shape, plane = h * w;
  const out = new Float32Array(n * channels * plane);
  for (let i = 0; i < n; i++) {
    const src = x.subarray(i * plane, (i + 1) * plane);
    for (let c = 0; c < channels; c++) out.set(src, (i * channels + c) * plane);
  }
  shape[1] = channels;
  return out;
}

/** Runs the preprocessing on n raw samples (NCHW or [N, F]); returns float32 of [n, ...inputShape]. */
export function preprocess(input: GraphInput, data: Float32Array | Uint8Array, n: number): Float32Array {
  const ops = input.preprocess;
  const map = valueMap(ops, 0);
  let x: Float32Array;
  if (input.dtype === 'uint8') {
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = map ? map(v) : v;
    x = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) x[i] = table[data[i]];
  } else if (map) {
    x = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) x[i] = map(data[i]);
  } else {
    x = data as Float32Array;
  }
  const shape = [n, ...input.shape];
  for (const [i, op] of ops.entries()) {
    if (op.op === 'pad') {
      const after = valueMap(ops, i + 1);
      x = pad(x, shape, op.padding[0], op.padding[1], after ? after(op.value) : fr(op.value));
    } else if (op.op === 'replicate') {
      x = replicate(x, shape, op.channels);
    }
  }
  return x;
}

function describe(x: unknown): string {
  if (x instanceof Uint8Tensor) return 'a uint8 Uint8Tensor';
  if (x instanceof Tensor) return 'a float32 Tensor';
  return x === null ? 'null' : typeof x;
}

/**
 * What a caller handed the model, checked: a Tensor (float32) or, for a graph whose input.dtype is
 * 'uint8', a Uint8Tensor, holding its data, of shape [N, ...raw sample shape] when the graph has
 * an input section (otherwise the plan checks the shape). A TypeError names the expected kind.
 */
export function checkModelInput(graph: GraphSpec, x: unknown): Tensor | Uint8Tensor {
  const dtype = graph.input?.dtype ?? 'float32';
  const raw = graph.input?.shape ?? graph.inputShape;
  const ok = dtype === 'uint8' ? x instanceof Uint8Tensor : x instanceof Tensor;
  if (!ok) {
    throw new TypeError(dtype === 'uint8'
      ? `x must be a Uint8Tensor (this model takes uint8 input of shape [N, ${raw.join(', ')}]), got ${describe(x)}`
      : `x must be a Tensor (this model takes float32 input of shape [N, ${raw.join(', ')}]), got ${describe(x)}`);
  }
  const t = x as Tensor | Uint8Tensor;
  // A buffer detached (transferred) after the tensor was made reads as length 0.
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== size) {
    throw new TypeError(`x.data must hold the ${size} values of shape [${t.shape.join(', ')}], got ${t.data.length} (was its buffer detached or transferred?)`);
  }
  if (graph.input) {
    if (t.shape.length !== raw.length + 1 || t.shape.slice(1).join() !== raw.join()) {
      throw new RangeError(`input must have shape [N, ${raw.join(', ')}], got [${t.shape.join(', ')}]`);
    }
    if (t.shape[0] === 0) throw new RangeError('input batch must hold at least one sample');
  }
  return t;
}

/** The tensor the graph's first node reads: checkModelInput, then the preprocessing if any. */
export function graphInput(graph: GraphSpec, x: unknown): Tensor {
  const t = checkModelInput(graph, x);
  if (!graph.input) return t as Tensor;
  const n = t.shape[0];
  return new Tensor(preprocess(graph.input, t.data, n), [n, ...graph.inputShape]);
}
