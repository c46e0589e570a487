// The typed face of the native kernels: ISA selection, threads, packing, bit-serial GEMM,
// float32 GEMM.
import { native, EncodingName } from './native';

export type { EncodingName } from './native';
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

export interface GemmOptions {
  /** Planes of `a` to use (1..a.bits); default all stored planes. */
  aBits?: number;
  /** Planes of `b` to use (1..b.bits); default all stored planes. */
  bBits?: number;
  aEncoding: EncodingName;
  bEncoding: EncodingName;
}

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

type GemmArgs = [Packed, Packed, number, number, EncodingName, EncodingName];

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
  return [pa, pb, aBits, bBits, aEnc, bEnc];
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
export function bitGemm(a: Packed, b: Packed, options: GemmOptions): Int32Array {
  return native.bitGemm(...gemmArgs(a, b, options));
}

/** bitGemm on the kernel thread pool; the event loop keeps running. */
export function bitGemmAsync(a: Packed, b: Packed, options: GemmOptions): Promise<Int32Array> {
  let args: GemmArgs;
  try {
    args = gemmArgs(a, b, options);
  } catch (err) {
    return Promise.reject(err);
  }
  return native.bitGemmAsync(...args);
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

/** Runs the register-only popcount loop of the current ISA (the kernels' speed ceiling). */
export function popcountCeiling(iterations: number): { checksum: number; bitMacs: number } {
  checkInt(iterations, 'iterations', 1, 2 ** 40);
  return native.popcountCeiling(iterations);
}
