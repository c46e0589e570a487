// Convolution lowering (codes packed straight into planes, or floats) and pooling, NHWC.
import { checkBits, checkFloat32, checkTypedArray, checkUint8 } from '../check';
import { native } from '../native';
import { convArgs, convOutput } from './geometry';
import type { ConvGeometry, ImageShape } from './geometry';
import { Packed } from './packed';

export type { ConvGeometry, ImageShape } from './geometry';

/**
 * Lowers NHWC codes for a convolution and packs them in one pass: one row per output position
 * (n, oy, ox), K = kh*kw*c columns in (ky, kx, c) order, zero padding. Ready for bitGemm against
 * weights packed as [out][(ky, kx, c)].
 */
export function packConv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, bits: number, out?: Packed): Packed {
  checkUint8(codes, 'codes');
  const args = convArgs(shape, conv);
  checkBits(bits, 'bits');
  const count = args[0] * args[1] * args[2] * args[3];
  if (codes.length !== count) throw new RangeError(`codes must hold n*h*w*c = ${count} codes, got ${codes.length}`);
  if (out === undefined || out === null) {
    const r = native.packConv(codes, ...args, bits);
    return new Packed(r.rows, r.cols, bits, r.data, r.planePop);
  }
  // `out`: a Packed of this lowering's shape whose planes are overwritten (its memory reused).
  if (!(out instanceof Packed)) throw new TypeError('out must be a Packed (from an earlier packConv of the same shape)');
  const [rows, cols] = [args[0] * convOutput(args).reduce((a, b) => a * b, 1), args[4] * args[5] * args[3]];
  if (out.rows !== rows || out.cols !== cols || out.bits !== bits) {
    throw new RangeError(`out must be ${rows}x${cols} at ${bits} bits (this lowering), got ${out.rows}x${out.cols} at ${out.bits} bits`);
  }
  native.packConv(codes, ...args, bits, out.data, out.planePop);
  return out;
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

