// The typed face of the native kernels: ISA selection, threads, packing, bit-serial GEMM,
// float32 GEMM.
import { native, EncodingName, GatedStrategyName, GemmPathName, NativeInt8Weights } from './native';

export type { EncodingName, GatedStrategyName, GemmPathName } from './native';
export const ENCODINGS: readonly EncodingName[] = ['unsigned', 'bipolar', 'signed'];

/**
 * Codes packed into bit planes (most significant plane first), ready for bitGemm.
 * `bits` planes are stored; a GEMM may use only the top b of them (code >> (bits - b)).
 */
export class Packed {
  readonly rows: number;
  readonly cols: number;
  readonly bits: number;
  readonly data: BigUint64Array;
  readonly planePop: Int32Array;

  constructor(rows: number, cols: number, bits: number, data: BigUint64Array, planePop: Int32Array) {
    this.rows = rows;
    this.cols = cols;
    this.bits = bits;
    this.data = data;
    this.planePop = planePop;
  }

  /** Bytes held by the planes and row statistics. */
  get byteLength(): number {
    return this.data.byteLength + this.planePop.byteLength;
  }
}

/**
 * What happens to each exact int32 result `acc` of column j before it is stored:
 * - 'float': y = float32(acc) * scale[j] + shift[j], clamped to [min, max] (float32 steps);
 * - 'codes': y as above, then round_half_even(clamp(y, 0, 1) * (2^bits - 1)): the next layer's
 *   activation quantiser applied straight to the accumulators (uint8 codes out).
 */
export type Epilogue =
  | { output: 'float'; scale: Float32Array; shift?: Float32Array | null; min?: number; max?: number }
  | { output: 'codes'; bits: number; scale: Float32Array; shift?: Float32Array | null };

/** 64-bit words a Packed of rows x cols codes with `bits` planes holds (panels of 8 rows). */
export function packedWords(rows: number, cols: number, bits: number): number {
  return Math.ceil(rows / 8) * bits * Math.ceil(cols / 64) * 8;
}

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
}

/** A GEMM path option: 'auto' (measured dispatch), or force 'bitserial' or 'int8'. */
export type GemmPath = 'auto' | GemmPathName;
const GEMM_PATHS: readonly GemmPath[] = ['auto', 'bitserial', 'int8'];

function checkInt(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw new RangeError(`${name} must be an integer in ${lo}..${hi}, got ${value}`);
  }
  return value;
}

function checkPacked(p: unknown, name: string): Packed {
  if (!(p instanceof Packed)) throw new TypeError(`${name} must be a Packed (from kernels.pack())`);
  return p;
}

function checkEncoding(e: unknown, name: string): EncodingName {
  if (typeof e !== 'string') {
    throw new TypeError(`${name} must be one of ${ENCODINGS.join(', ')}, got ${e === undefined ? 'nothing' : typeof e}`);
  }
  if (!(ENCODINGS as readonly string[]).includes(e)) {
    throw new RangeError(`${name} must be one of ${ENCODINGS.join(', ')}, got '${e}'`);
  }
  return e as EncodingName;
}

type GemmArgs = [Packed, Packed, number, number, EncodingName, EncodingName, Epilogue | undefined];

function checkEpilogue(e: unknown, n: number): Epilogue | undefined {
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
  if (o.output === 'codes') checkInt(o.bits, 'epilogue.bits', 1, 8);
  else {
    for (const key of ['min', 'max'] as const) {
      const v = o[key];
      if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw new TypeError(`epilogue.${key} must be a number`);
    }
    if ((o.min ?? -Infinity) > (o.max ?? Infinity)) throw new RangeError('epilogue.min must not exceed epilogue.max');
  }
  return o;
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
  return [pa, pb, aBits, bBits, aEnc, bEnc, checkEpilogue(o.epilogue, pb.rows)];
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
  if (typeof p !== 'string') throw new TypeError(`path must be one of ${GEMM_PATHS.join(', ')}, got ${typeof p}`);
  if (!(GEMM_PATHS as readonly string[]).includes(p)) {
    throw new RangeError(`path must be one of ${GEMM_PATHS.join(', ')}, got '${p}'`);
  }
  return p as GemmPath;
}

// Prepared int8 weights, made once per (packed tensor, bBits, encoding) and kept as long as the
// Packed lives. The byte layout does not depend on the ISA, so setIsa() does not invalidate them.
const int8Cache = new WeakMap<Packed, Map<string, NativeInt8Weights>>();
const int8Pending = new WeakMap<Packed, Map<string, Promise<NativeInt8Weights>>>();

function cachedInt8(b: Packed, bBits: number, enc: EncodingName): NativeInt8Weights | undefined {
  return int8Cache.get(b)?.get(`${bBits}:${enc}`);
}

function storeInt8(b: Packed, bBits: number, enc: EncodingName, w: NativeInt8Weights): NativeInt8Weights {
  let m = int8Cache.get(b);
  if (m === undefined) int8Cache.set(b, (m = new Map()));
  m.set(`${bBits}:${enc}`, w);
  return w;
}

function int8Weights(b: Packed, bBits: number, enc: EncodingName): NativeInt8Weights {
  return cachedInt8(b, bBits, enc) ?? storeInt8(b, bBits, enc, native.prepareInt8(b, bBits, enc));
}

function int8WeightsAsync(b: Packed, bBits: number, enc: EncodingName): Promise<NativeInt8Weights> {
  const hit = cachedInt8(b, bBits, enc);
  if (hit !== undefined) return Promise.resolve(hit);
  const key = `${bBits}:${enc}`;
  let pending = int8Pending.get(b);
  if (pending === undefined) int8Pending.set(b, (pending = new Map()));
  let p = pending.get(key);
  if (p === undefined) {
    const map = pending;
    p = native.prepareInt8Async(b, bBits, enc).then(
      (w) => {
        map.delete(key);
        return cachedInt8(b, bBits, enc) ?? storeInt8(b, bBits, enc, w);
      },
      (err) => {
        map.delete(key);
        throw err;
      },
    );
    pending.set(key, p);
  }
  return p;
}

function useInt8(path: GemmPath, args: GemmArgs): boolean {
  if (path !== 'auto') return path === 'int8';
  const [a, b, aBits, bBits] = args;
  return native.gemmPath(aBits, bBits, a.rows, b.rows, a.cols) === 'int8';
}

/**
 * Which path a `bitGemm` call without its own `path` takes for an m x k by n x k GEMM at these
 * bit-widths ('int8' or 'bitserial'): the setGemmPath setting when it forces one, else the
 * measured dispatch of the current ISA.
 */
export function gemmPath(aBits: number, bBits: number, m: number, n: number, k: number): GemmPathName {
  checkInt(aBits, 'aBits', 1, 8);
  checkInt(bBits, 'bBits', 1, 8);
  checkInt(m, 'm', 0, 2 ** 31);
  checkInt(n, 'n', 0, 2 ** 31);
  checkInt(k, 'k', 1, 2 ** 31);
  return defaultPath !== 'auto' ? defaultPath : native.gemmPath(aBits, bBits, m, n, k);
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

/** The instruction set the kernels run on in this thread's environment. */
export function isa(): string {
  return native.isa();
}

/** Instruction sets this build contains and this CPU supports, best first. */
export function availableIsas(): string[] {
  return native.availableIsas();
}

/** Forces an instruction set (one of availableIsas()); affects this environment only. */
export function setIsa(name: string): void {
  native.setIsa(name);
}

/** Threads (the caller included) that one kernel call may use; 1 by default. */
export function setThreads(n: number): void {
  native.setThreads(n);
}

export function threads(): number {
  return native.threads();
}

export function hardwareThreads(): number {
  return native.hardwareThreads();
}

/**
 * Packs a row-major `rows x cols` matrix of codes (each < 2^bits) into bit planes.
 */
export function pack(codes: Uint8Array, rows: number, cols: number, bits: number): Packed {
  if (!ArrayBuffer.isView(codes) || Object.prototype.toString.call(codes) !== '[object Uint8Array]') {
    throw new TypeError('codes must be a Uint8Array');
  }
  checkInt(rows, 'rows', 0, 2 ** 31);
  checkInt(cols, 'cols', 1, 2 ** 31);
  checkInt(bits, 'bits', 1, 8);
  if (codes.length !== rows * cols) {
    throw new RangeError(`codes must hold rows*cols = ${rows * cols} codes, got ${codes.length}`);
  }
  const p = native.pack(codes, rows, cols, bits);
  return new Packed(rows, cols, bits, p.data, p.planePop);
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
  if (!useInt8(path, args)) return native.bitGemm(...args);
  return native.bitGemm(...args, int8Weights(args[1], args[3], args[5]));
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
    int8 = useInt8(checkPath((options as Partial<GemmOptions>).path), args);
  } catch (err) {
    return Promise.reject(err);
  }
  if (!int8) return native.bitGemmAsync(...args);
  const hit = cachedInt8(args[1], args[3], args[5]);
  if (hit !== undefined) return native.bitGemmAsync(...args, hit);
  return int8WeightsAsync(args[1], args[3], args[5]).then((w) => native.bitGemmAsync(...args, w));
}

export interface GatedGemmOptions {
  /** B: planes of `a` to use (2..a.bits); default all stored planes. `a` is unsigned. */
  aBits?: number;
  /** Bhb: the top planes every output gets (1..aBits-1); the other aBits - highBits are added only where gated on. */
  highBits: number;
  /** Planes of `b` to use (1..b.bits); default all stored planes. */
  bBits?: number;
  bEncoding: EncodingName;
  /**
   * One threshold per output column (b.rows values), in the integer units of `out` (the dense
   * GEMM's accumulator, sum_t a * value(b)): output (i, j) is gated on iff O_hb[i][j] > thresholds[j].
   * A gate in float units y = scale[j] * acc takes thresholds[j] = delta[j] / scale[j] (scale > 0).
   * -Infinity gates every output on, +Infinity none; NaN is refused.
   */
  thresholds: Float32Array;
  /** How the skipped outputs are skipped (results are identical); default 'auto' (tuning and benchmarks). */
  strategy?: GatedStrategyName;
  /**
   * Optional second weight operand (N x K like b, its own planes and encoding): every product uses
   * value(b) + value(b2), the gate compares the summed O_hb, and both operands' low planes are done
   * only where gated on (e.g. sign-magnitude weights split into two exact operands).
   */
  b2?: Packed;
  /** Planes of `b2` to use (1..b2.bits); default all stored planes. */
  b2Bits?: number;
  /** Encoding of `b2`; required with b2. */
  b2Encoding?: EncodingName;
}

export interface GatedGemmResult {
  /** M x N: O_hb + O_lb (== bitGemm at aBits) where gated on, O_hb (== 2^(aBits-highBits) * bitGemm at highBits) elsewhere. */
  out: Int32Array;
  /** M x N: 1 where gated on. */
  mask: Uint8Array;
  /** Number of gated-on outputs. */
  on: number;
}

const GATED_STRATEGIES: readonly GatedStrategyName[] = ['auto', 'compact', 'tiles', 'hybrid'];

type GatedArgs = [Packed, Packed, number, number, number, EncodingName, Float32Array, GatedStrategyName, Packed?, number?, EncodingName?];

function gatedArgs(a: unknown, b: unknown, options: unknown): GatedArgs {
  const pa = checkPacked(a, 'a');
  const pb = checkPacked(b, 'b');
  if (options === null || typeof options !== 'object') {
    throw new TypeError('options must be an object { aBits?, highBits, bBits?, bEncoding, thresholds }');
  }
  const o = options as Partial<GatedGemmOptions>;
  if (pa.bits < 2) throw new RangeError(`a must store at least 2 bit planes for gating (high and low), it stores ${pa.bits}`);
  const aBits = o.aBits === undefined ? pa.bits : checkInt(o.aBits, 'aBits', 2, pa.bits);
  if (o.highBits === undefined) throw new TypeError('highBits must be a number, got nothing');
  const highBits = checkInt(o.highBits, 'highBits', 1, aBits - 1);
  const bBits = o.bBits === undefined ? pb.bits : checkInt(o.bBits, 'bBits', 1, pb.bits);
  const bEnc = checkEncoding(o.bEncoding, 'bEncoding');
  if (pa.cols !== pb.cols) {
    throw new RangeError(`a and b must have the same number of columns (K): a has ${pa.cols}, b has ${pb.cols}`);
  }
  const thresholds = checkFloat32(o.thresholds, 'thresholds');
  if (thresholds.length !== pb.rows) {
    throw new RangeError(`thresholds must hold one value per output column (b.rows = ${pb.rows}), got ${thresholds.length}`);
  }
  const nan = thresholds.findIndex((t) => Number.isNaN(t));
  if (nan >= 0) throw new RangeError(`thresholds[${nan}] is NaN`);
  let strategy: GatedStrategyName = 'auto';
  if (o.strategy !== undefined) {
    if (typeof o.strategy !== 'string') throw new TypeError(`strategy must be one of ${GATED_STRATEGIES.join(', ')}`);
    if (!(GATED_STRATEGIES as readonly string[]).includes(o.strategy)) {
      throw new RangeError(`strategy must be one of ${GATED_STRATEGIES.join(', ')}, got '${o.strategy}'`);
    }
    strategy = o.strategy;
  }
  if (o.b2 === undefined) {
    if (o.b2Bits !== undefined || o.b2Encoding !== undefined) throw new TypeError('b2Bits and b2Encoding need b2');
    return [pa, pb, aBits, highBits, bBits, bEnc, thresholds, strategy];
  }
  const pb2 = checkPacked(o.b2, 'b2');
  const b2Bits = o.b2Bits === undefined ? pb2.bits : checkInt(o.b2Bits, 'b2Bits', 1, pb2.bits);
  const b2Enc = checkEncoding(o.b2Encoding, 'b2Encoding');
  if (pb2.rows !== pb.rows) throw new RangeError(`b2 must have the same number of rows (N) as b: b has ${pb.rows}, b2 has ${pb2.rows}`);
  if (pb2.cols !== pa.cols) {
    throw new RangeError(`a and b2 must have the same number of columns (K): a has ${pa.cols}, b2 has ${pb2.cols}`);
  }
  return [pa, pb, aBits, highBits, bBits, bEnc, thresholds, strategy, pb2, b2Bits, b2Enc];
}

/**
 * Precision-gated GEMM (Precision Gating, Zhang et al. 2020): `a` (M x K) holds unsigned aBits-bit
 * codes p, `b` (N x K) weights in any encoding. Every output gets the exact contribution of the top
 * highBits planes of p, O_hb = sum_t (p >> L << L) * value(b) with L = aBits - highBits; where
 * O_hb > thresholds[j] the low L planes are added too (O = the dense aBits result, bit for bit),
 * and only there is their work done.
 */
export function gatedGemm(a: Packed, b: Packed, options: GatedGemmOptions): GatedGemmResult {
  return native.gatedGemm(...gatedArgs(a, b, options));
}

/** gatedGemm on the kernel thread pool; the event loop keeps running. */
export function gatedGemmAsync(a: Packed, b: Packed, options: GatedGemmOptions): Promise<GatedGemmResult> {
  let args: GatedArgs;
  try {
    args = gatedArgs(a, b, options);
  } catch (err) {
    return Promise.reject(err);
  }
  return native.gatedGemmAsync(...args);
}

export interface FloatGemmOptions {
  /** N values added to every row of the result. */
  bias?: Float32Array | null;
}

type FloatGemmArgs = [Float32Array, number, number, Float32Array, number, Float32Array | null];

function checkFloat32(value: unknown, name: string): Float32Array {
  if (!ArrayBuffer.isView(value) || Object.prototype.toString.call(value) !== '[object Float32Array]') {
    throw new TypeError(`${name} must be a Float32Array`);
  }
  return value as Float32Array;
}

/** A Float32Array, or an Int32Array of integer results (converted to float32 as a GEMM epilogue does). */
function checkValues(value: unknown, name: string): Float32Array | Int32Array {
  const tag = ArrayBuffer.isView(value) ? Object.prototype.toString.call(value) : '';
  if (tag !== '[object Float32Array]' && tag !== '[object Int32Array]') {
    throw new TypeError(`${name} must be a Float32Array or an Int32Array`);
  }
  return value as Float32Array | Int32Array;
}

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

export interface ImageShape { n: number; h: number; w: number; c: number }
export interface ConvGeometry {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

function checkPair(v: unknown, name: string, min: number, dflt: [number, number]): [number, number] {
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.length !== 2) throw new TypeError(`${name} must be [h, w]`);
  return [checkInt(v[0], `${name}[0]`, min, 2 ** 31), checkInt(v[1], `${name}[1]`, min, 2 ** 31)];
}

/**
 * Lowers NHWC codes for a convolution and packs them in one pass: one row per output position
 * (n, oy, ox), K = kh*kw*c columns in (ky, kx, c) order, zero padding. Ready for bitGemm against
 * weights packed as [out][(ky, kx, c)].
 */
type ConvArgs = [number, number, number, number, number, number, number, number, number, number, number, number];

function convArgs(shape: ImageShape, conv: ConvGeometry): ConvArgs {
  if (shape === null || typeof shape !== 'object') throw new TypeError('shape must be { n, h, w, c }');
  if (conv === null || typeof conv !== 'object') throw new TypeError('conv must be { kernel, stride?, padding?, dilation? }');
  const n = checkInt(shape.n, 'shape.n', 1, 2 ** 31), h = checkInt(shape.h, 'shape.h', 1, 2 ** 31);
  const w = checkInt(shape.w, 'shape.w', 1, 2 ** 31), c = checkInt(shape.c, 'shape.c', 1, 2 ** 31);
  if (conv.kernel === undefined) throw new TypeError('conv.kernel must be [h, w]');
  const k = checkPair(conv.kernel, 'conv.kernel', 1, [1, 1]);
  const s = checkPair(conv.stride, 'conv.stride', 1, [1, 1]);
  const p = checkPair(conv.padding, 'conv.padding', 0, [0, 0]);
  const d = checkPair(conv.dilation, 'conv.dilation', 1, [1, 1]);
  return [n, h, w, c, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]];
}

/**
 * Lowers NHWC codes for a convolution and packs them in one pass: one row per output position
 * (n, oy, ox), K = kh*kw*c columns in (ky, kx, c) order, zero padding. Ready for bitGemm against
 * weights packed as [out][(ky, kx, c)].
 */
export function packConv(codes: Uint8Array, shape: ImageShape, conv: ConvGeometry, bits: number): Packed {
  if (!ArrayBuffer.isView(codes) || Object.prototype.toString.call(codes) !== '[object Uint8Array]') {
    throw new TypeError('codes must be a Uint8Array');
  }
  const args = convArgs(shape, conv);
  checkInt(bits, 'bits', 1, 8);
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
  const tag = Object.prototype.toString.call(x);
  if (tag !== '[object Uint8Array]' && tag !== '[object Float32Array]') throw new TypeError('x must be a Uint8Array or Float32Array');
  if (pool === null || typeof pool !== 'object' || pool.kernel === undefined) throw new TypeError('pool must be { kernel, stride?, padding? }');
  const [n, h, w, c, kh, kw, sh, sw, ph, pw] = convArgs(shape, { kernel: pool.kernel, stride: pool.stride ?? pool.kernel, padding: pool.padding });
  if (x.length !== n * h * w * c) throw new RangeError(`x must hold n*h*w*c = ${n * h * w * c} values, got ${x.length}`);
  return native.maxPool(x, n, h, w, c, kh, kw, sh, sw, ph, pw);
}

/** Codes back from a Packed (rows x cols, row-major). */
export function unpack(p: Packed): Uint8Array {
  return native.unpack(checkPacked(p, 'packed'));
}

/**
 * Per channel (the last dimension): y = x * scale[c] + shift[c], clamped to [lo, hi], float32
 * steps (scale/shift may be null: 1 and 0). Batch norm, ReLU and clamps on float activations;
 * x may be an Int32Array (integer GEMM results, converted to float32 first).
 */
export function channelAffine(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null,
                              shift: Float32Array | null, lo = -Infinity, hi = Infinity): Float32Array {
  checkValues(x, 'x');
  checkInt(channels, 'channels', 1, 2 ** 31);
  if (scale !== null && scale !== undefined) checkFloat32(scale, 'scale');
  if (shift !== null && shift !== undefined) checkFloat32(shift, 'shift');
  if (typeof lo !== 'number' || typeof hi !== 'number') throw new TypeError('lo and hi must be numbers');
  if (!(lo <= hi)) throw new RangeError(`lo (${lo}) must not exceed hi (${hi})`);
  return native.channelAffine(x, channels, scale ?? null, shift ?? null, lo, hi);
}

/**
 * Activation quantiser: per channel (the last dimension) y = x * scale[c] + shift[c], then
 * round_half_even(clamp(y, 0, 1) * (2^bits - 1)). scale/shift may be null (1 and 0). x may be an
 * Int32Array (a GEMM's integer results): float32(x) first, as the fused GEMM epilogue does.
 */
export function quantizeActivations(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null,
                                    shift: Float32Array | null, bits: number): Uint8Array {
  checkValues(x, 'x');
  checkInt(channels, 'channels', 1, 2 ** 31);
  if (scale !== null && scale !== undefined) checkFloat32(scale, 'scale');
  if (shift !== null && shift !== undefined) checkFloat32(shift, 'shift');
  checkInt(bits, 'bits', 1, 8);
  return native.quantizeActivations(x, channels, scale ?? null, shift ?? null, bits);
}

/**
 * Decodes codes through a table: out[i] = table[codes[i]] (e.g. a quantiser's levels, so codes
 * become the float values they stand for). Every code must index the table (1..256 entries).
 */
export function codesToFloat(codes: Uint8Array, table: Float32Array): Float32Array {
  if (!(codes instanceof Uint8Array)) throw new TypeError('codes must be a Uint8Array');
  checkFloat32(table, 'table');
  return native.codesToFloat(codes, table);
}

/** Runs the register-only popcount loop of the current ISA (the kernels' speed ceiling). */
export function popcountCeiling(iterations: number): { checksum: number; bitMacs: number } {
  checkInt(iterations, 'iterations', 1, 2 ** 40);
  return native.popcountCeiling(iterations);
}
