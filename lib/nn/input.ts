// What a model takes at its boundary (graph version 2): the input's element type, its raw shape,
// and the preprocessing that turns it into the tensor the first node reads (graph.inputShape).
// The preprocessing runs in float32 arithmetic, op by op in the listed order, so a model file can
// carry the exact recipe its training used (e.g. MNIST: uint8 28x28 -> padded, scaled, normalised,
// replicated to 3x32x32) and callers hand it raw data.

/** Element type of a model's input: raw bytes (e.g. pixels) or float32. */
export type InputDtype = 'uint8' | 'float32';

export type PreprocessOp =
  /** Adds `padding[0]` rows above and below and `padding[1]` columns left and right, of `value`. */
  | { op: 'pad'; padding: [number, number]; value: number }
  /** x = float32(x / divisor) (e.g. 255: bytes to [0, 1]). */
  | { op: 'scale'; divisor: number }
  /** x = float32(float32(x - float32(mean)) / float32(std)). */
  | { op: 'normalize'; mean: number; std: number }
  /** A one-channel image copied into `channels` channels. */
  | { op: 'replicate'; channels: number };

export interface GraphInput {
  dtype: InputDtype;
  /** One raw sample: [C, H, W] or [F]. */
  shape: number[];
  /** Applied in order; the result has the graph's inputShape. May be empty. */
  preprocess: PreprocessOp[];
}

/** At most this many preprocessing ops. */
export const MAX_PREPROCESS_OPS = 16;

/** Bounds the graph applies to every size (graph.ts passes its own). */
export interface InputBounds {
  maxChannels: number;
  maxSpatial: number;
  maxElements: number;
}

const KEYS: Record<PreprocessOp['op'], string[]> = {
  pad: ['padding', 'value'], scale: ['divisor'], normalize: ['mean', 'std'], replicate: ['channels'],
};

function finite(v: unknown, where: string): number {
  if (typeof v !== 'number') throw new TypeError(`${where} must be a number, got ${v === null ? 'null' : typeof v}`);
  if (!Number.isFinite(v)) throw new RangeError(`${where} must be finite, got ${v}`);
  return v;
}

function count(v: unknown, where: string, min: number, max: number): number {
  if (typeof v !== 'number') throw new TypeError(`${where} must be a number, got ${v === null ? 'null' : typeof v}`);
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new RangeError(`${where} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

/** The sample shape after one op, or an Error naming the op's field at fault. */
function applyShape(op: PreprocessOp, shape: number[], where: string, b: InputBounds): number[] {
  switch (op.op) {
    case 'pad': {
      if (shape.length !== 3) throw new RangeError(`${where}: pad needs image input [C, H, W], the input is [${shape.join(', ')}]`);
      if (!Array.isArray(op.padding) || op.padding.length !== 2) throw new TypeError(`${where}.padding must be [rows, columns]`);
      const ph = count(op.padding[0], `${where}.padding[0]`, 0, b.maxSpatial), pw = count(op.padding[1], `${where}.padding[1]`, 0, b.maxSpatial);
      finite(op.value, `${where}.value`);
      const h = shape[1] + 2 * ph, w = shape[2] + 2 * pw;
      if (h > b.maxSpatial || w > b.maxSpatial) throw new RangeError(`${where}: padding makes a ${h}x${w} image, over ${b.maxSpatial}`);
      return [shape[0], h, w];
    }
    case 'scale':
      if (finite(op.divisor, `${where}.divisor`) <= 0) throw new RangeError(`${where}.divisor must be positive, got ${op.divisor}`);
      return shape;
    case 'normalize':
      finite(op.mean, `${where}.mean`);
      if (finite(op.std, `${where}.std`) <= 0) throw new RangeError(`${where}.std must be positive, got ${op.std}`);
      return shape;
    case 'replicate': {
      if (shape.length !== 3 || shape[0] !== 1) throw new RangeError(`${where}: replicate needs a one-channel image [1, H, W], the input is [${shape.join(', ')}]`);
      return [count(op.channels, `${where}.channels`, 1, b.maxChannels), shape[1], shape[2]];
    }
  }
}

/**
 * Checks graph.input (untrusted: it may come from a file): dtype, shape, every op and field in
 * range, and that the ops turn `shape` into `inputShape`. Throws a TypeError / RangeError naming
 * the field.
 */
export function checkGraphInput(input: unknown, inputShape: number[], b: InputBounds): GraphInput {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new TypeError('graph.input must be an object { dtype, shape, preprocess }');
  const g = input as Record<string, unknown>;
  for (const key of Object.keys(g)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'preprocess') throw new RangeError(`graph.input.${key} is not an input field (dtype, shape, preprocess)`);
  }
  if (g.dtype !== 'uint8' && g.dtype !== 'float32') throw new RangeError(`graph.input.dtype must be 'uint8' or 'float32', got ${JSON.stringify(g.dtype)}`);
  if (!Array.isArray(g.shape) || (g.shape.length !== 1 && g.shape.length !== 3)) throw new RangeError('graph.input.shape must be [C, H, W] or [F]');
  const limits = g.shape.length === 3 ? [b.maxChannels, b.maxSpatial, b.maxSpatial] : [b.maxChannels];
  g.shape.forEach((d, i) => count(d, `graph.input.shape[${i}]`, 1, limits[i]));
  if (!Array.isArray(g.preprocess)) throw new TypeError('graph.input.preprocess must be an array of ops (may be empty)');
  if (g.preprocess.length > MAX_PREPROCESS_OPS) throw new RangeError(`graph.input.preprocess must hold at most ${MAX_PREPROCESS_OPS} ops, got ${g.preprocess.length}`);
  let shape = (g.shape as number[]).slice();
  for (const [i, op] of (g.preprocess as unknown[]).entries()) {
    const where = `graph.input.preprocess[${i}]`;
    if (op === null || typeof op !== 'object' || Array.isArray(op)) throw new TypeError(`${where} must be an object { op, ... }`);
    const name = (op as { op?: unknown }).op;
    if (typeof name !== 'string' || !(name in KEYS)) throw new RangeError(`${where}.op must be one of ${Object.keys(KEYS).join(', ')}, got ${JSON.stringify(name)}`);
    for (const key of Object.keys(op)) {
      if (key !== 'op' && !KEYS[name as PreprocessOp['op']].includes(key)) {
        throw new RangeError(`${where}.${key} is not a field of ${name} (${KEYS[name as PreprocessOp['op']].join(', ')})`);
      }
    }
    shape = applyShape(op as PreprocessOp, shape, where, b);
  }
  if (shape.reduce((a, d) => a * d, 1) > b.maxElements) throw new RangeError(`graph.input: a sample holds more than ${b.maxElements} elements`);
  if (shape.join() !== inputShape.join()) {
    throw new RangeError(`graph.input: the preprocessing turns [${(g.shape as number[]).join(', ')}] into [${shape.join(', ')}], but graph.inputShape is [${inputShape.join(', ')}]`);
  }
  return input as GraphInput;
}
