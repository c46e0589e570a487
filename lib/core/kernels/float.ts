// The float32 GEMM and convolution (full-precision layers).
import { checkBits, checkFloat32, checkInt, checkTypedArray } from '../check';
import { native } from '../native';
import { convArgs, convOutput, MAX_ELEMENTS } from './geometry';
import type { ConvArgs, ConvGeometry, ImageShape } from './geometry';

export interface FloatGemmOptions {
  /** N values added to every row of the result. */
  bias?: Float32Array | null;
}

type FloatGemmArgs = [Float32Array, number, number, Float32Array, number, Float32Array | null];

function floatGemmArgs(a: unknown, m: unknown, k: unknown, b: unknown, n: unknown, options: unknown): FloatGemmArgs {
  const fa = checkFloat32(a, 'a');
  const rows = checkInt(m, 'm', 0, 2 ** 31);
  const depth = checkInt(k, 'k', 1, 2 ** 31);
  const fb = checkFloat32(b, 'b');
  const cols = checkInt(n, 'n', 0, 2 ** 31);
  if (fa.length !== rows * depth) throw new RangeError(`a must hold m*k = ${rows * depth} values, got ${fa.length}`);
  if (fb.length !== cols * depth) throw new RangeError(`b must hold n*k = ${cols * depth} values, got ${fb.length}`);
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError('options must be an object { bias? }');
  }
  const raw = (options as FloatGemmOptions | undefined)?.bias;
  let bias: Float32Array | null = null;
  if (raw !== undefined && raw !== null) {
    bias = checkFloat32(raw, 'bias');
    if (bias.length !== cols) throw new RangeError(`bias must hold n = ${cols} values, got ${bias.length}`);
  }
  return [fa, rows, depth, fb, cols, bias];
}

/**
 * C = A . B^T (+ bias) in float32: a is M x K, b is N x K (the weights), both row-major; C is M x N.
 * Summation order depends on the ISA, so results agree across ISAs to within
 * (K + 2) * 2^-24 * (sum_t |a[i][t] * b[j][t]| + |bias[j]|), not bit for bit; for one ISA they do
 * not depend on the thread count.
 */
export function floatGemm(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                          options?: FloatGemmOptions): Float32Array {
  return native.floatGemm(...floatGemmArgs(a, m, k, b, n, options));
}

/** floatGemm on the kernel thread pool; the event loop keeps running. */
export function floatGemmAsync(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                               options?: FloatGemmOptions): Promise<Float32Array> {
  let args: FloatGemmArgs;
  try {
    args = floatGemmArgs(a, m, k, b, n, options);
  } catch (err) {
    return Promise.reject(err);
  }
  return native.floatGemmAsync(...args);
}


// ---- the float convolution: weights packed once, implicit GEMM, fused epilogue -------------------

/**
 * Float weights packed once (per layer) into the float micro-kernels' panel layout, for floatConv
 * and floatLinear: `outChannels` rows of `k` values (a conv's in [out][(ky, kx, c)] order).
 */
export class FloatWeights {
  /** @internal use packFloatWeights */
  constructor(readonly packed: Float32Array, readonly outChannels: number, readonly k: number) {}
}

/** Packs O x K row-major float weights once; reuse the result on every call of the layer. */
export function packFloatWeights(w: Float32Array, outChannels: number, k: number): FloatWeights {
  const fw = checkFloat32(w, 'w');
  const o = checkInt(outChannels, 'outChannels', 1, 2 ** 31), depth = checkInt(k, 'k', 1, 2 ** 31);
  if (fw.length !== o * depth) throw new RangeError(`w must hold outChannels*k = ${o * depth} values, got ${fw.length}`);
  return new FloatWeights(native.packFloatWeights(fw, o, depth), o, depth);
}

export interface FloatConvOptions {
  /** One value per output channel, added to each sum (as floatGemm's bias). */
  bias?: Float32Array | null;
  /** Epilogue, per output channel: y = sum * scale + shift (null: 1 and 0; a folded batch norm). */
  scale?: Float32Array | null;
  shift?: Float32Array | null;
  /** Clamp of y (float output): [min, max], default unbounded (min 0: ReLU). */
  min?: number;
  max?: number;
  /** Output the activation quantiser's codes of y instead: round(clamp(y, 0, 1) * (2^bits - 1)), as quantizeActivations. */
  bits?: number;
  /**
   * floatConv / floatLinear (sync) only: the array to write the result into instead of a fresh one
   * (Uint8Array with `bits`, else Float32Array), exactly rows x outChannels values, sharing no memory
   * with x, the weights or the epilogue's arrays (RangeError otherwise). The call returns it.
   */
  out?: Float32Array | Uint8Array;
  /**
   * floatConv / floatLinear (sync) only, float output only: rows x outChannels floats added to the
   * clamped output (a residual connection; addFloats' bits). It must not share memory with `out`.
   */
  residual?: Float32Array | null;
  /**
   * floatConv / floatLinear (sync) only, float output only: a second output computed from the stored
   * output in the same pass, e.g. the next block's batch norm + ReLU of a residual sum: per output
   * channel z = y * scale + shift, clamped to [min, max] (into a Float32Array), or with `bits` its
   * codes (into a Uint8Array) — channelAffine / quantizeActivations of the output, bit for bit.
   */
  next?: FloatConvNext;
}

/** The second output of floatConv (see FloatConvOptions.next). */
export interface FloatConvNext {
  /** rows x outChannels values, sharing no memory with the call's other arrays. */
  out: Float32Array | Uint8Array;
  scale?: Float32Array | null;
  shift?: Float32Array | null;
  min?: number;
  max?: number;
  bits?: number;
}

type FloatConvArgs = [Float32Array, ...ConvArgs, Float32Array, number, Float32Array | null, Float32Array | null,
  Float32Array | null, number, number, number];

function optionalChannels(v: unknown, name: string, channels: number): Float32Array | null {
  if (v === undefined || v === null) return null;
  const f = checkFloat32(v, name, ' or null');
  if (f.length !== channels) throw new RangeError(`${name} must hold one value per output channel (${channels}), got ${f.length}`);
  return f;
}

function floatConvArgs(x: unknown, shape: ImageShape, conv: ConvGeometry, weights: unknown, options: unknown): FloatConvArgs {
  const fx = checkFloat32(x, 'x');
  const args = convArgs(shape, conv, false);
  const [n, h, w, c, kh, kw] = args;
  if (fx.length !== n * h * w * c) throw new RangeError(`x must hold n*h*w*c = ${n * h * w * c} values, got ${fx.length}`);
  if (!(weights instanceof FloatWeights)) throw new TypeError('weights must be FloatWeights (from packFloatWeights)');
  if (weights.k !== kh * kw * c) {
    throw new RangeError(`weights have k = ${weights.k} values per output channel; the conv needs kh*kw*c = ${kh * kw * c}`);
  }
  const o = weights.outChannels;
  const [oh, ow] = convOutput(args);
  if (n * oh * ow * o > MAX_ELEMENTS) throw new RangeError(`conv output of ${n * oh * ow} x ${o} exceeds ${MAX_ELEMENTS} elements`);
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError('options must be an object { bias?, scale?, shift?, min?, max?, bits? }');
  }
  const opt = (options ?? {}) as FloatConvOptions;
  const lo = opt.min === undefined ? -Infinity : checkNumber(opt.min, 'min');
  const hi = opt.max === undefined ? Infinity : checkNumber(opt.max, 'max');
  if (!(lo <= hi)) throw new RangeError(`min (${lo}) must not exceed max (${hi})`);
  const bits = opt.bits === undefined ? 0 : checkBits(opt.bits, 'bits');
  if (bits > 0 && (opt.min !== undefined || opt.max !== undefined)) {
    throw new RangeError('min/max clamp float outputs; with bits the quantiser clamps to [0, 1] itself');
  }
  return [fx, ...args, weights.packed, o, optionalChannels(opt.bias, 'bias', o), optionalChannels(opt.scale, 'scale', o),
    optionalChannels(opt.shift, 'shift', o), lo, hi, bits];
}

function checkNumber(v: unknown, name: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number (not NaN)`);
  return v;
}

/**
 * A float convolution of NHWC x with packed weights, without a lowered matrix (the input is read
 * through each output's window), and its epilogue fused: per output channel
 * y = (sum + bias) * scale + shift, then clamped to [min, max] (float out, NHWC) or quantised to
 * `bits`-bit codes. The sums are floatGemm's on the lowered input, bit for bit (for one ISA), so the
 * result equals im2colFloat + floatGemm + channelAffine / quantizeActivations.
 */
export function floatConv(x: Float32Array, shape: ImageShape, conv: ConvGeometry, weights: FloatWeights,
                          options: FloatConvOptions & { bits: number }): Uint8Array;
export function floatConv(x: Float32Array, shape: ImageShape, conv: ConvGeometry, weights: FloatWeights,
                          options?: FloatConvOptions & { bits?: undefined }): Float32Array;
export function floatConv(x: Float32Array, shape: ImageShape, conv: ConvGeometry, weights: FloatWeights,
                          options?: FloatConvOptions): Float32Array | Uint8Array;
export function floatConv(x: Float32Array, shape: ImageShape, conv: ConvGeometry, weights: FloatWeights,
                          options?: FloatConvOptions): Float32Array | Uint8Array {
  const args = floatConvArgs(x, shape, conv, weights, options);
  const out = options?.out;
  const fused = (options?.residual !== undefined && options.residual !== null) || options?.next !== undefined;
  if ((out === undefined || out === null) && !fused) return native.floatConv(...args);
  const bits = args[args.length - 1];
  const type = bits ? 'Uint8Array' : 'Float32Array';
  const [oh, ow] = convOutput(args.slice(1, 13) as ConvArgs);
  const count = args[1] * oh * ow * weights.outChannels;
  if (out !== undefined && out !== null) {
    checkTypedArray(out, 'options.out', [type], `a ${type} (the ${type === 'Uint8Array' ? 'codes' : 'float'} output)`);
    if (out.length !== count) throw new RangeError(`options.out must hold n*outH*outW*outChannels = ${count} values, got ${out.length}`);
  }
  if (!fused) return native.floatConv(...args, out);
  if (bits) throw new RangeError('options.residual and options.next need float output (no bits)');
  const residual = options?.residual ?? null;
  if (residual !== null) {
    checkFloat32(residual, 'options.residual');
    if (residual.length !== count) throw new RangeError(`options.residual must hold n*outH*outW*outChannels = ${count} values, got ${residual.length}`);
  }
  const next = options?.next;
  if (next === undefined) return native.floatConv(...args, out ?? null, residual);
  if (next === null || typeof next !== 'object') throw new TypeError('options.next must be an object { out, scale?, shift?, min?, max?, bits? }');
  const o = weights.outChannels;
  const nextLo = next.min === undefined ? -Infinity : checkNumber(next.min, 'options.next.min');
  const nextHi = next.max === undefined ? Infinity : checkNumber(next.max, 'options.next.max');
  if (!(nextLo <= nextHi)) throw new RangeError(`options.next.min (${nextLo}) must not exceed options.next.max (${nextHi})`);
  const nextBits = next.bits === undefined ? 0 : checkBits(next.bits, 'options.next.bits');
  if (nextBits > 0 && (next.min !== undefined || next.max !== undefined)) {
    throw new RangeError('options.next.min/max clamp a float second output; with bits the quantiser clamps to [0, 1] itself');
  }
  const nextType = nextBits ? 'Uint8Array' : 'Float32Array';
  checkTypedArray(next.out, 'options.next.out', [nextType], `a ${nextType} (the second output${nextBits ? `'s codes` : ''})`);
  if (next.out.length !== count) throw new RangeError(`options.next.out must hold n*outH*outW*outChannels = ${count} values, got ${next.out.length}`);
  return native.floatConv(...args, out ?? null, residual, next.out, optionalChannels(next.scale, 'options.next.scale', o),
    optionalChannels(next.shift, 'options.next.shift', o), nextLo, nextHi, nextBits);
}

/** floatConv on the kernel thread pool; the event loop keeps running. */
export function floatConvAsync(x: Float32Array, shape: ImageShape, conv: ConvGeometry, weights: FloatWeights,
                               options?: FloatConvOptions): Promise<Float32Array | Uint8Array> {
  let args: FloatConvArgs;
  try {
    args = floatConvArgs(x, shape, conv, weights, options);
    for (const key of ['out', 'residual', 'next'] as const) {
      if (options?.[key] !== undefined) throw new TypeError(`options.${key} is for floatConv (sync) only`);
    }
  } catch (err) {
    return Promise.reject(err);
  }
  return native.floatConvAsync(...args);
}

/** A dense layer on packed weights: x is n x weights.k, the result n x outChannels, epilogue as floatConv. */
export function floatLinear(x: Float32Array, n: number, weights: FloatWeights,
                            options: FloatConvOptions & { bits: number }): Uint8Array;
export function floatLinear(x: Float32Array, n: number, weights: FloatWeights,
                            options?: FloatConvOptions & { bits?: undefined }): Float32Array;
export function floatLinear(x: Float32Array, n: number, weights: FloatWeights, options?: FloatConvOptions): Float32Array | Uint8Array;
export function floatLinear(x: Float32Array, n: number, weights: FloatWeights, options?: FloatConvOptions): Float32Array | Uint8Array {
  if (!(weights instanceof FloatWeights)) throw new TypeError('weights must be FloatWeights (from packFloatWeights)');
  const rows = checkInt(n, 'n', 1, 2 ** 31);
  return floatConv(x, { n: rows, h: 1, w: 1, c: weights.k }, { kernel: [1, 1] }, weights, options);
}
