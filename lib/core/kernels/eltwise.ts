// Element-wise kernels on activations: per-channel affine with clamps, the activation quantiser,
// codes decoded through a table, the residual add.
import { checkBits, checkFloat32, checkInt, checkTypedArray, checkUint8 } from '../check';
import { native } from '../native';

/**
 * Per channel (the last dimension): y = x * scale[c] + shift[c], clamped to [lo, hi], float32
 * steps (scale/shift may be null: 1 and 0). Batch norm, ReLU and clamps on float activations;
 * x may be an Int32Array (integer GEMM results, converted to float32 first).
 */
export function channelAffine(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null,
                              shift: Float32Array | null, lo = -Infinity, hi = Infinity, out?: Float32Array): Float32Array {
  checkTypedArray(x, 'x', ['Float32Array', 'Int32Array'], 'a Float32Array or an Int32Array');
  checkInt(channels, 'channels', 1, 2 ** 31);
  if (scale !== null && scale !== undefined) checkFloat32(scale, 'scale');
  if (shift !== null && shift !== undefined) checkFloat32(shift, 'shift');
  if (typeof lo !== 'number' || typeof hi !== 'number') throw new TypeError('lo and hi must be numbers');
  if (!(lo <= hi)) throw new RangeError(`lo (${lo}) must not exceed hi (${hi})`);
  return native.channelAffine(x, channels, scale ?? null, shift ?? null, lo, hi, checkOut(out, 'Float32Array', x.length));
}

/**
 * Activation quantiser: per channel (the last dimension) y = x * scale[c] + shift[c], then
 * round_half_even(clamp(y, 0, 1) * (2^bits - 1)). scale/shift may be null (1 and 0). x may be an
 * Int32Array (a GEMM's integer results): float32(x) first, as the fused GEMM epilogue does.
 */
export function quantizeActivations(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null,
                                    shift: Float32Array | null, bits: number, out?: Uint8Array): Uint8Array {
  checkTypedArray(x, 'x', ['Float32Array', 'Int32Array'], 'a Float32Array or an Int32Array');
  checkInt(channels, 'channels', 1, 2 ** 31);
  if (scale !== null && scale !== undefined) checkFloat32(scale, 'scale');
  if (shift !== null && shift !== undefined) checkFloat32(shift, 'shift');
  checkBits(bits, 'bits');
  return native.quantizeActivations(x, channels, scale ?? null, shift ?? null, bits, checkOut(out, 'Uint8Array', x.length));
}

/**
 * Decodes codes through a table: out[i] = table[codes[i]] (e.g. a quantiser's levels, so codes
 * become the float values they stand for). Every code must index the table (1..256 entries).
 */
export function codesToFloat(codes: Uint8Array, table: Float32Array, out?: Float32Array): Float32Array {
  checkUint8(codes, 'codes');
  checkFloat32(table, 'table');
  return native.codesToFloat(codes, table, checkOut(out, 'Float32Array', codes.length));
}


/**
 * Codes split at bit `lowBits` (1..7), into the caller's arrays: hi[i] = codes[i] >> lowBits and
 * lo[i] = codes[i] & (2^lowBits - 1) (a gated layer's high and low codes); hi and lo as long as
 * codes, the three arrays distinct.
 */
export function splitCodes(codes: Uint8Array, lowBits: number, hi: Uint8Array, lo: Uint8Array): void {
  checkUint8(codes, 'codes');
  checkInt(lowBits, 'lowBits', 1, 7);
  checkUint8(hi, 'hi');
  checkUint8(lo, 'lo');
  native.splitCodes(codes, lowBits, hi, lo);
}

/** a + b element-wise in float32 (a residual add): the same values as Math.fround(a[i] + b[i]). */
export function addFloats(a: Float32Array, b: Float32Array): Float32Array {
  checkFloat32(a, 'a');
  checkFloat32(b, 'b');
  if (b.length !== a.length) throw new RangeError(`b must hold as many values as a (${a.length}), got ${b.length}`);
  return native.addFloats(a, b);
}

/** NCHW floats (n images of c x h x w) to NHWC (n x h x w x c), the layout the convolutions read. */
export function nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number, out?: Float32Array): Float32Array {
  checkFloat32(x, 'x');
  const dims = [checkInt(n, 'n', 1, 2 ** 31), checkInt(c, 'c', 1, 2 ** 31), checkInt(h, 'h', 1, 2 ** 31), checkInt(w, 'w', 1, 2 ** 31)];
  const count = dims.reduce((a, b) => a * b, 1);
  if (x.length !== count) throw new RangeError(`x must hold n*c*h*w = ${count} values, got ${x.length}`);
  return native.nchwToNhwc(x, n, c, h, w, checkOut(out, 'Float32Array', count));
}

/**
 * Global average pooling of NHWC floats [n, h, w, c] to [n, c], in float32 steps and the reference's
 * order: per channel, each column's sum over the h rows divided by h, those summed over the w
 * columns, divided by w.
 */
export function globalAvgPool(x: Float32Array, n: number, h: number, w: number, c: number, out?: Float32Array): Float32Array {
  checkFloat32(x, 'x');
  const dims = [checkInt(n, 'n', 1, 2 ** 31), checkInt(h, 'h', 1, 2 ** 31), checkInt(w, 'w', 1, 2 ** 31), checkInt(c, 'c', 1, 2 ** 31)];
  const count = dims.reduce((a, b) => a * b, 1);
  if (x.length !== count) throw new RangeError(`x must hold n*h*w*c = ${count} values, got ${x.length}`);
  return native.globalAvgPool(x, n, h, w, c, checkOut(out, 'Float32Array', n * c));
}

/**
 * An optional output array (`out` of the element-wise kernels): the result is written there and
 * returned instead of a fresh array. Its type and length are checked here; the kernels check that
 * it shares no memory with the inputs (RangeError).
 */
function checkOut<T extends Float32Array | Uint8Array>(out: T | undefined, type: 'Float32Array' | 'Uint8Array', length: number): T | undefined {
  if (out === undefined || out === null) return undefined;
  checkTypedArray(out, 'out', [type], `a ${type}`);
  if (out.length !== length) throw new RangeError(`out must hold ${length} values, got ${out.length}`);
  return out;
}
