// Convolution lowering (codes packed straight into planes, or floats) and pooling, NHWC.
import { checkBits, checkFloat32, checkInt, checkPair, checkTypedArray, checkUint8 } from '../check';
import { native } from '../native';
import { Packed } from './packed';

export interface ImageShape { n: number; h: number; w: number; c: number }
export interface ConvGeometry {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

type ConvArgs = [number, number, number, number, number, number, number, number, number, number, number, number];

function convArgs(shape: ImageShape, conv: ConvGeometry, lowering = true): ConvArgs {
  if (shape === null || typeof shape !== 'object') throw new TypeError('shape must be { n, h, w, c }');
  if (conv === null || typeof conv !== 'object') throw new TypeError('conv must be { kernel, stride?, padding?, dilation? }');
  const n = checkInt(shape.n, 'shape.n', 1, 2 ** 31), h = checkInt(shape.h, 'shape.h', 1, 2 ** 31);
  const w = checkInt(shape.w, 'shape.w', 1, 2 ** 31), c = checkInt(shape.c, 'shape.c', 1, 2 ** 31);
  if (conv.kernel === undefined) throw new TypeError('conv.kernel must be [h, w]');
  const k = checkPair(conv.kernel, 'conv.kernel', 1, [1, 1]);
  const s = checkPair(conv.stride, 'conv.stride', 1, [1, 1]);
  const p = checkPair(conv.padding, 'conv.padding', 0, [0, 0]);
  const d = checkPair(conv.dilation, 'conv.dilation', 1, [1, 1]);
  checkGeometry(n, h, w, c, k, s, p, d, lowering);
  return [n, h, w, c, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]];
}

/** Elements one kernel operand or result may hold: the kernels index with 32-bit integers. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/**
 * The lowering's sizes, each product overflow-checked before the native call: the padded image
 * and the dilated kernel in 32-bit range, out rows (n x outH x outW) x K (kh x kw x c) within
 * MAX_ELEMENTS, so a geometry of 2^31 kernels or 2^30 padding is refused, not lowered.
 */
function checkGeometry(n: number, h: number, w: number, c: number, k: number[], s: number[], p: number[], d: number[], lowering: boolean): void {
  const input = n * h * w * c;
  if (!(input <= MAX_ELEMENTS)) throw new RangeError(`shape n*h*w*c = ${input} exceeds ${MAX_ELEMENTS} elements`);
  const out: number[] = [];
  for (const [i, size] of [h, w].entries()) {
    const padded = size + 2 * p[i], extent = d[i] * (k[i] - 1) + 1;
    if (padded > MAX_ELEMENTS || extent > MAX_ELEMENTS) {
      throw new RangeError(`conv geometry out of range: padded input ${padded} and dilated kernel ${extent} must be at most ${MAX_ELEMENTS}`);
    }
    if (extent > padded) throw new RangeError(`conv.kernel (dilated extent ${extent}) is larger than the padded input (${padded})`);
    out.push(Math.floor((padded - extent) / s[i]) + 1);
  }
  const rows = n * out[0] * out[1], cols = lowering ? k[0] * k[1] * c : c;
  if (rows > MAX_ELEMENTS || cols > MAX_ELEMENTS || rows * cols > MAX_ELEMENTS) {
    throw new RangeError(`conv lowering of ${rows} rows x ${cols} columns exceeds ${MAX_ELEMENTS} elements`);
  }
}

/**
 * Lowers NHWC codes for a convolution and packs them in one pass: one row per output position
 * (n, oy, ox), K = kh*kw*c columns in (ky, kx, c) order, zero padding. Ready for bitGemm against
 * weights packed as [out][(ky, kx, c)].
 */
export function packConv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, bits: number): Packed {
  checkUint8(codes, 'codes');
  const args = convArgs(shape, conv);
  checkBits(bits, 'bits');
  const count = args[0] * args[1] * args[2] * args[3];
  if (codes.length !== count) throw new RangeError(`codes must hold n*h*w*c = ${count} codes, got ${codes.length}`);
  const r = native.packConv(codes, ...args, bits);
  return new Packed(r.rows, r.cols, bits, r.data, r.planePop);
}

/** The same lowering for NHWC floats (full-precision convolutions): rows x (kh*kw*c), row-major. */
export function im2colFloat(x: Float32Array, shape: ImageShape, conv: ConvGeometry): Float32Array {
  checkFloat32(x, 'x');
  const args = convArgs(shape, conv);
  const count = args[0] * args[1] * args[2] * args[3];
  if (x.length !== count) throw new RangeError(`x must hold n*h*w*c = ${count} values, got ${x.length}`);
  return native.im2colFloat(x, ...args);
}

export interface PoolGeometry {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
}

/** NHWC max pooling of codes or floats; padded taps are skipped (PyTorch's MaxPool2d). */
export function maxPool<T extends Uint8Array | Float32Array>(x: T, shape: ImageShape, pool: PoolGeometry): T {
  checkTypedArray(x, 'x', ['Uint8Array', 'Float32Array'], 'a Uint8Array or Float32Array');
  if (pool === null || typeof pool !== 'object' || pool.kernel === undefined) throw new TypeError('pool must be { kernel, stride?, padding? }');
  const [n, h, w, c, kh, kw, sh, sw, ph, pw] = convArgs(shape, { kernel: pool.kernel, stride: pool.stride ?? pool.kernel, padding: pool.padding }, false);
  if (x.length !== n * h * w * c) throw new RangeError(`x must hold n*h*w*c = ${n * h * w * c} values, got ${x.length}`);
  return native.maxPool(x, n, h, w, c, kh, kw, sh, sw, ph, pw);
}

