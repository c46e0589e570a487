// The bit-serial GEMM and its settings: options, the fused epilogue, the path choice between the
// bit-serial kernels and the int8 route (setGemmPath / gemmPath), and the int8 kernel variants.
import { checkBits, checkEnum, checkFloat32, checkInt, checkTypedArray, checkUint8 } from '../check';
import { native, EncodingName, GemmPathName } from '../native';
import { cachedInt8, int8Weights, int8WeightsAsync } from './int8-cache';
import { convArgs, convOutput } from './geometry';
import type { ConvArgs, ConvGeometry, ImageShape } from './geometry';
import { checkEncoding, checkPacked, Packed } from './packed';

export type { GemmPathName } from '../native';

/**
 * What happens to each exact int32 result `acc` of column j before it is stored:
 * - 'float': y = float32(acc) * scale[j] + shift[j], clamped to [min, max] (float32 steps), then
 *   plus residual[i][j] when a residual (M x N floats, like the result) is given: a residual
 *   connection's add fused into the GEMM (one float32 add, the same as adding afterwards);
 * - 'codes': y as above, then round_half_even(clamp(y, 0, 1) * (2^bits - 1)): the next layer's
 *   activation quantiser applied straight to the accumulators (uint8 codes out).
 * A 'float' epilogue may also write the codes of every value it stores (`codes`, sync bitGemm
 * only): codes.out[i][j] = round_half_even(clamp(out[i][j] * codes.scale[j] + codes.shift[j], 0, 1)
 * * (2^codes.bits - 1)) — e.g. a residual sum and the next block's batch norm and activation
 * quantiser in one pass; the same bits as quantizeActivations over the floats afterwards.
 */
export type Epilogue =
  | { output: 'float'; scale: Float32Array; shift?: Float32Array | null; min?: number; max?: number; residual?: Float32Array | null;
      codes?: DualCodes | null }
  | { output: 'codes'; bits: number; scale: Float32Array; shift?: Float32Array | null };

/** The second output of a 'float' epilogue: codes of the stored values, written into `out` (M x N). */
export interface DualCodes { bits: number; scale: Float32Array; shift: Float32Array; out: Uint8Array }

export interface GemmOptions {
  /** Planes of `a` to use (1..a.bits); default all stored planes. */
  aBits?: number;
  /** Planes of `b` to use (1..b.bits); default all stored planes. */
  bBits?: number;
  aEncoding: EncodingName;
  bEncoding: EncodingName;
  /** Fused per-column scale/shift and output conversion; default: raw int32. */
  epilogue?: Epilogue;
  /**
   * How the core sums are computed (the results are bit-identical either way):
   * 'bitserial' (AND/XOR-popcount over plane pairs), 'int8' (byte dot products on bytes rebuilt
   * from the planes; the weight bytes are prepared once per (b, bBits, bEncoding) and cached), or
   * 'auto' (default): whichever a measured per-ISA table says is faster for these bit-widths and
   * this shape (see gemmPath()). The int8 path keeps about N x K bytes of prepared weights per
   * (bBits, bEncoding) it was used with, for as long as `b` is alive (a WeakMap keyed by b).
   */
  path?: GemmPath;
  /**
   * Sync bitGemm only: the array to write the result into instead of a fresh one (reused between
   * calls, e.g. by a model's plan): the epilogue's type (Float32Array for 'float', Uint8Array for
   * 'codes', Int32Array without one), exactly M x N elements, sharing no memory with a, b or the
   * epilogue's arrays (a RangeError otherwise). Every element is written; the call returns `out`.
   */
  out?: Int32Array | Float32Array | Uint8Array;
}

/** A GEMM path option: 'auto' (measured dispatch), or force 'bitserial' or 'int8'. */
export type GemmPath = 'auto' | GemmPathName;
const GEMM_PATHS: readonly GemmPath[] = ['auto', 'bitserial', 'int8'];

type GemmArgs = [Packed, Packed, number, number, EncodingName, EncodingName, Epilogue | undefined];

/** An epilogue option checked against an M x N product (undefined / null: none). @internal */
export function checkEpilogue(e: unknown, m: number, n: number): Epilogue | undefined {
  if (e === undefined || e === null) return undefined;
  if (typeof e !== 'object') throw new TypeError('epilogue must be an object { output, scale, ... }');
  const o = e as Epilogue;
  const kind: unknown = o.output;
  if (kind !== 'float' && kind !== 'codes') {
    throw new RangeError(`epilogue.output must be 'float' or 'codes', got ${JSON.stringify(kind)}`);
  }
  const scale = checkFloat32(o.scale, 'epilogue.scale');
  if (scale.length !== n) throw new RangeError(`epilogue.scale must hold one value per output column (${n}), got ${scale.length}`);
  if (o.shift !== undefined && o.shift !== null) {
    const shift = checkFloat32(o.shift, 'epilogue.shift');
    if (shift.length !== n) throw new RangeError(`epilogue.shift must hold one value per output column (${n}), got ${shift.length}`);
  }
  const residual = (o as { residual?: unknown }).residual;
  if (residual !== undefined && residual !== null) {
    if (o.output !== 'float') throw new RangeError("epilogue.residual needs output 'float'");
    const r = checkFloat32(residual, 'epilogue.residual');
    if (r.length !== m * n) throw new RangeError(`epilogue.residual must hold m*n = ${m * n} values, got ${r.length}`);
  }
  if (o.output === 'codes') checkInt(o.bits, 'epilogue.bits', 1, 8);
  else {
    const codes = (o as { codes?: unknown }).codes;
    if (codes !== undefined && codes !== null) checkDualCodes(codes, m, n);
    for (const key of ['min', 'max'] as const) {
      const v = o[key];
      if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw new TypeError(`epilogue.${key} must be a number`);
    }
    if ((o.min ?? -Infinity) > (o.max ?? Infinity)) throw new RangeError('epilogue.min must not exceed epilogue.max');
  }
  return o;
}

function checkDualCodes(codes: unknown, m: number, n: number): void {
  if (typeof codes !== 'object') throw new TypeError('epilogue.codes must be an object { bits, scale, shift, out }');
  const c = codes as DualCodes;
  checkInt(c.bits, 'epilogue.codes.bits', 1, 8);
  for (const key of ['scale', 'shift'] as const) {
    const v = checkFloat32(c[key], `epilogue.codes.${key}`);
    if (v.length !== n) throw new RangeError(`epilogue.codes.${key} must hold one value per output column (${n}), got ${v.length}`);
  }
  const out = checkTypedArray<Uint8Array>(c.out, 'epilogue.codes.out', ['Uint8Array'], 'a Uint8Array (where the codes go)');
  if (out.length !== m * n) throw new RangeError(`epilogue.codes.out must hold m*n = ${m * n} codes, got ${out.length}`);
}

function gemmArgs(a: unknown, b: unknown, options: unknown): GemmArgs {
  const pa = checkPacked(a, 'a');
  const pb = checkPacked(b, 'b');
  if (options === null || typeof options !== 'object') {
    throw new TypeError('options must be an object { aBits?, bBits?, aEncoding, bEncoding }');
  }
  const o = options as Partial<GemmOptions>;
  const aBits = o.aBits === undefined ? pa.bits : checkInt(o.aBits, 'aBits', 1, pa.bits);
  const bBits = o.bBits === undefined ? pb.bits : checkInt(o.bBits, 'bBits', 1, pb.bits);
  const aEnc = checkEncoding(o.aEncoding, 'aEncoding');
  const bEnc = checkEncoding(o.bEncoding, 'bEncoding');
  if (pa.cols !== pb.cols) {
    throw new RangeError(`a and b must have the same number of columns (K): a has ${pa.cols}, b has ${pb.cols}`);
  }
  return [pa, pb, aBits, bBits, aEnc, bEnc, checkEpilogue(o.epilogue, pa.rows, pb.rows)];
}

// The path of calls that give none (setGemmPath); per JS environment, like setIsa.
let defaultPath: GemmPath = 'auto';

/**
 * The GEMM path of every bitGemm call in this thread that does not pass its own `path` (models
 * included): 'auto' (default: the measured dispatch), 'bitserial' (never the int8 path — e.g. to
 * compare against bit-serial work, or to avoid the int8 weight cache's memory) or 'int8'.
 * Like setIsa it applies to the calling thread (worker) only.
 */
export function setGemmPath(path: GemmPath): void {
  if (path === undefined) throw new TypeError(`path must be one of ${GEMM_PATHS.join(', ')}, got undefined`);
  defaultPath = checkPath(path);
}

/** The path set by setGemmPath ('auto' unless changed). */
export function gemmPathSetting(): GemmPath {
  return defaultPath;
}

function checkPath(p: unknown): GemmPath {
  if (p === undefined) return defaultPath;
  return checkEnum(p, 'path', GEMM_PATHS);
}

function useInt8(path: GemmPath, args: GemmArgs): boolean {
  if (path !== 'auto') return path === 'int8';
  const [a, b, aBits, bBits] = args;
  return native.gemmPath(aBits, bBits, a.rows, b.rows, a.cols) === 'int8';
}

/** The (aBits, bBits, m, n, k) of gemmPath / gemmPathRatio (TypeError / RangeError naming the bad one). */
function checkRouteArgs(aBits: number, bBits: number, m: number, n: number, k: number): void {
  checkInt(aBits, 'aBits', 1, 8);
  checkInt(bBits, 'bBits', 1, 8);
  checkInt(m, 'm', 0, 2 ** 31);
  checkInt(n, 'n', 0, 2 ** 31);
  checkInt(k, 'k', 1, 2 ** 31);
}

/**
 * Which path a `bitGemm` call without its own `path` takes for an m x k by n x k GEMM at these
 * bit-widths ('int8' or 'bitserial'): the setGemmPath setting when it forces one, else the
 * measured dispatch of the current ISA.
 */
export function gemmPath(aBits: number, bBits: number, m: number, n: number, k: number): GemmPathName {
  checkRouteArgs(aBits, bBits, m, n, k);
  return defaultPath !== 'auto' ? defaultPath : native.gemmPath(aBits, bBits, m, n, k);
}

/**
 * The dispatch rule's estimate of time(bit-serial) / time(int8) for an m x k by n x k GEMM at
 * these bit-widths on the current ISA (>= 1 where the rule, gemmPath under 'auto', picks int8;
 * 0 where int8 is never taken). An estimate, not a measurement: callers that time both routes use
 * it only to skip trials whose outcome it makes clear.
 */
export function gemmPathRatio(aBits: number, bBits: number, m: number, n: number, k: number): number {
  checkRouteArgs(aBits, bBits, m, n, k);
  return native.gemmPathRatio(aBits, bBits, m, n, k);
}

/**
 * The int8 kernel variant the int8 path runs on the current ISA for an m-row GEMM (default 256):
 * 'amx', 'avx512-vnni', 'avx-vnni', 'avx2', 'neon-dot', 'neon' or 'scalar'.
 */
export function int8Kernel(m = 256): string {
  checkInt(m, 'm', 0, 2 ** 31);
  return native.int8Kernel(m);
}

/** int8 kernel variants this build contains and this CPU (and OS) can run, fastest first. */
export function availableInt8Kernels(): string[] {
  return native.availableInt8Kernels();
}

/**
 * C[i][j] = sum_t value(a[i][t]) * value(b[j][t]) as int32, exact; a is M x K, b is N x K.
 * Values: unsigned q; bipolar 2q - (2^bits - 1); signed two's complement.
 */
export function bitGemm(a: Packed, b: Packed, options: GemmOptions & { epilogue: { output: 'float' } }): Float32Array;
export function bitGemm(a: Packed, b: Packed, options: GemmOptions & { epilogue: { output: 'codes' } }): Uint8Array;
export function bitGemm(a: Packed, b: Packed, options: GemmOptions & { epilogue?: undefined }): Int32Array;
export function bitGemm(a: Packed, b: Packed, options: GemmOptions): Int32Array | Float32Array | Uint8Array;
export function bitGemm(a: Packed, b: Packed, options: GemmOptions): Int32Array | Float32Array | Uint8Array {
  const args = gemmArgs(a, b, options);
  const path = checkPath((options as Partial<GemmOptions>).path);
  const out = checkOut((options as Partial<GemmOptions>).out, args[6], args[0].rows * args[1].rows);
  if (!useInt8(path, args)) return out ? native.bitGemm(...args, null, out) : native.bitGemm(...args);
  return native.bitGemm(...args, int8Weights(args[1], args[3], args[5]), out);
}

const OUT_TYPES = { float: 'Float32Array', codes: 'Uint8Array', int32: 'Int32Array' } as const;

/** options.out checked against the epilogue's output type and the M x N result (memory overlap: natively). */
function checkOut(out: unknown, epilogue: Epilogue | undefined, count: number): GemmOptions['out'] {
  if (out === undefined || out === null) return undefined;
  const type = OUT_TYPES[epilogue?.output ?? 'int32'];
  const o = checkTypedArray(out, 'options.out', [type], `a ${type} (the epilogue's output type)`) as GemmOptions['out'];
  if (o!.length !== count) throw new RangeError(`options.out must hold m*n = ${count} values, got ${o!.length}`);
  return o;
}

/** bitGemm on the kernel thread pool; the event loop keeps running. */
export function bitGemmAsync(a: Packed, b: Packed, options: GemmOptions & { epilogue: { output: 'float' } }): Promise<Float32Array>;
export function bitGemmAsync(a: Packed, b: Packed, options: GemmOptions & { epilogue: { output: 'codes' } }): Promise<Uint8Array>;
export function bitGemmAsync(a: Packed, b: Packed, options: GemmOptions & { epilogue?: undefined }): Promise<Int32Array>;
export function bitGemmAsync(a: Packed, b: Packed, options: GemmOptions): Promise<Int32Array | Float32Array | Uint8Array>;
export function bitGemmAsync(a: Packed, b: Packed, options: GemmOptions): Promise<Int32Array | Float32Array | Uint8Array> {
  let args: GemmArgs;
  let int8: boolean;
  try {
    args = gemmArgs(a, b, options);
    if ((options as Partial<GemmOptions>).out !== undefined) throw new TypeError('options.out is for bitGemm (sync) only');
    const e = args[6] as { codes?: unknown } | undefined;
    if (e?.codes !== undefined && e.codes !== null) throw new TypeError('epilogue.codes is for bitGemm (sync) only');
    int8 = useInt8(checkPath((options as Partial<GemmOptions>).path), args);
  } catch (err) {
    return Promise.reject(err);
  }
  if (!int8) return native.bitGemmAsync(...args);
  const hit = cachedInt8(args[1], args[3], args[5]);
  if (hit !== undefined) return native.bitGemmAsync(...args, hit);
  return int8WeightsAsync(args[1], args[3], args[5]).then((w) => native.bitGemmAsync(...args, w));
}


/** Options of the int8 route from activation codes (int8Conv, int8Linear). */
export interface CodesGemmOptions {
  /** Bits of every activation code (1..8); the codes must fit. */
  aBits: number;
  /** 'unsigned', or 'signed' (two's complement aBits-bit codes); 'bipolar' only without zero padding. */
  aEncoding: EncodingName;
  /** Planes of `b` to use (1..b.bits); default all stored planes. */
  bBits?: number;
  bEncoding: EncodingName;
  /** Fused per-column scale/shift and output conversion, as bitGemm's; default: raw int32. */
  epilogue?: Epilogue;
  /** The array to write the result into instead of a fresh one, as bitGemm's `out`. */
  out?: Int32Array | Float32Array | Uint8Array;
}

type Result = Int32Array | Float32Array | Uint8Array;

function codesGemm(codes: unknown, args: ConvArgs, padded: boolean, b: unknown, options: unknown): Result {
  checkUint8(codes, 'codes');
  const pb = checkPacked(b, 'b');
  if (options === null || typeof options !== 'object') {
    throw new TypeError('options must be an object { aBits, aEncoding, bBits?, bEncoding }');
  }
  const o = options as Partial<CodesGemmOptions>;
  if (o.aBits === undefined) throw new TypeError('options.aBits must be the bits of the codes (1..8)');
  const aBits = checkBits(o.aBits, 'aBits');
  const aEnc = checkEncoding(o.aEncoding, 'aEncoding');
  const bBits = o.bBits === undefined ? pb.bits : checkInt(o.bBits, 'bBits', 1, pb.bits);
  const bEnc = checkEncoding(o.bEncoding, 'bEncoding');
  // Bipolar codes have no zero: a padded tap (code 0) would count as -(2^bits - 1).
  if (padded && aEnc === 'bipolar') {
    throw new RangeError("aEncoding 'bipolar' cannot be zero-padded (pass the codes as signed codes one bit wider)");
  }
  const [n, h, w, c, kh, kw] = args;
  const [oh, ow] = convOutput(args);
  const k = kh * kw * c, m = n * oh * ow;
  if (pb.cols !== k) throw new RangeError(`b must have K = kernel[0]*kernel[1]*c = ${k} columns, got ${pb.cols}`);
  const count = n * h * w * c;
  if ((codes as Uint8Array).length !== count) {
    throw new RangeError(`codes must hold n*h*w*c = ${count} codes, got ${(codes as Uint8Array).length}`);
  }
  const epilogue = checkEpilogue(o.epilogue, m, pb.rows);
  const out = checkOut(o.out, epilogue, m * pb.rows);
  return native.int8Codes(codes as Uint8Array, ...args, aBits, aEnc, pb, bBits, bEnc, epilogue, int8Weights(pb, bBits, bEnc), out);
}

/**
 * A convolution on the int8 path straight from NHWC activation codes (no bit planes): the codes
 * are lowered into the int8 kernel's byte rows (one row per output position (n, oy, ox), K =
 * kh*kw*c in (ky, kx, c) order, zero padding = code 0) and multiplied by `b` (N x K packed weights,
 * their int8 bytes prepared once and cached as for bitGemm's int8 path). Results are bit-identical
 * to bitGemm(packConv(codes, ...), b, ...) on either path.
 */
export function int8Conv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, b: Packed,
                         options: CodesGemmOptions & { epilogue: { output: 'float' } }): Float32Array;
export function int8Conv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, b: Packed,
                         options: CodesGemmOptions & { epilogue: { output: 'codes' } }): Uint8Array;
export function int8Conv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, b: Packed,
                         options: CodesGemmOptions & { epilogue?: undefined }): Int32Array;
export function int8Conv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, b: Packed, options: CodesGemmOptions): Result;
export function int8Conv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, b: Packed, options: CodesGemmOptions): Result {
  const args = convArgs(shape, conv);
  return codesGemm(codes, args, args[8] > 0 || args[9] > 0, b, options);
}

/**
 * A linear layer on the int8 path straight from activation codes: `codes` is M x K row-major
 * (one row per sample), `b` N x K packed weights. Bit-identical to bitGemm(pack(codes, ...), b, ...).
 */
export function int8Linear(codes: Uint8Array, m: number, b: Packed,
                           options: CodesGemmOptions & { epilogue: { output: 'float' } }): Float32Array;
export function int8Linear(codes: Uint8Array, m: number, b: Packed,
                           options: CodesGemmOptions & { epilogue: { output: 'codes' } }): Uint8Array;
export function int8Linear(codes: Uint8Array, m: number, b: Packed, options: CodesGemmOptions & { epilogue?: undefined }): Int32Array;
export function int8Linear(codes: Uint8Array, m: number, b: Packed, options: CodesGemmOptions): Result;
export function int8Linear(codes: Uint8Array, m: number, b: Packed, options: CodesGemmOptions): Result {
  checkInt(m, 'm', 1, 2 ** 31 - 1);
  const k = checkPacked(b, 'b').cols;
  return codesGemm(codes, convArgs({ n: m, h: 1, w: 1, c: k }, { kernel: [1, 1] }), false, b, options);
}
