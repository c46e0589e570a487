// The precision-gated GEMM: the high planes for every output, the low planes only where an
// output's high part passes its threshold.
import { checkEnum, checkFloat32, checkInt, checkNoNaN, checkTypedArray } from '../check';
import { native, EncodingName, GatedStrategyName } from '../native';
import { checkEpilogue, Epilogue } from './bitgemm';
import { int8Weights } from './int8-cache';
import { checkEncoding, checkPacked, Packed } from './packed';

export type { GatedStrategyName } from '../native';

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
  /**
   * How the high part O_hb of every output is computed (gatedGemmFused and its async twin; the
   * results are the same bits either way): 'bitserial' (default: the top highBits planes against
   * b's planes) or 'int8' (an int8 GEMM of the high codes against b's int8 weights, prepared once
   * and cached as bitGemm's; one weight operand only, no b2). Which is faster depends on the CPU,
   * the bits and the shape: a network measures it per layer.
   */
  high?: GatedHighName;
  /**
   * The high part given instead of computed (M x N, row-major; `high` is then not used): the value
   * sums V[i][j] = sum_t (p[i][t] >> L) * value(b[j][t]) (+ value(b2[j][t])), L = aBits - highBits —
   * the dense highBits-bit product of the high codes, e.g. what the dense int8 route (int8Conv /
   * int8Linear without an epilogue) returns for the codes p >> L read in place. O_hb = V * 2^L; the
   * results are gatedGemm's bit for bit when V is that product.
   */
  highSums?: Int32Array;
  /**
   * With highSums: `a` holds only the L low planes (packed codes p & (2^L - 1), a.bits >= L) instead
   * of all aBits planes; aBits is then required. Default false.
   */
  lowOnly?: boolean;
}

/** The high part's route of a gated GEMM (GatedGemmOptions.high). */
export type GatedHighName = 'bitserial' | 'int8';

export interface GatedGemmResult {
  /** M x N: O_hb + O_lb (== bitGemm at aBits) where gated on, O_hb (== 2^(aBits-highBits) * bitGemm at highBits) elsewhere. */
  out: Int32Array;
  /** M x N: 1 where gated on. */
  mask: Uint8Array;
  /** Number of gated-on outputs. */
  on: number;
}

export interface GatedGemmFusedResult {
  /** M x N: the epilogue's output (floats or codes) of the exact results gatedGemm's `out` holds. */
  out: Float32Array | Uint8Array;
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
  const lowOnly = o.lowOnly === true && o.highSums !== undefined;
  if (o.lowOnly !== undefined && typeof o.lowOnly !== 'boolean') throw new TypeError('lowOnly must be a boolean');
  if (o.lowOnly === true && o.highSums === undefined) throw new TypeError('lowOnly needs highSums');
  if (lowOnly && o.aBits === undefined) throw new TypeError('aBits must be given with lowOnly');
  if (!lowOnly && pa.bits < 2) throw new RangeError(`a must store at least 2 bit planes for gating (high and low), it stores ${pa.bits}`);
  const aBits = o.aBits === undefined ? pa.bits : checkInt(o.aBits, 'aBits', 2, lowOnly ? 8 : pa.bits);
  if (o.highBits === undefined) throw new TypeError('highBits must be a number, got nothing');
  const highBits = checkInt(o.highBits, 'highBits', 1, aBits - 1);
  if (lowOnly && pa.bits < aBits - highBits) {
    throw new RangeError(`a must store the ${aBits - highBits} low planes (lowOnly), it stores ${pa.bits}`);
  }
  const bBits = o.bBits === undefined ? pb.bits : checkInt(o.bBits, 'bBits', 1, pb.bits);
  const bEnc = checkEncoding(o.bEncoding, 'bEncoding');
  if (pa.cols !== pb.cols) {
    throw new RangeError(`a and b must have the same number of columns (K): a has ${pa.cols}, b has ${pb.cols}`);
  }
  const thresholds = checkFloat32(o.thresholds, 'thresholds');
  if (thresholds.length !== pb.rows) {
    throw new RangeError(`thresholds must hold one value per output column (b.rows = ${pb.rows}), got ${thresholds.length}`);
  }
  checkNoNaN(thresholds, 'thresholds');
  const strategy = o.strategy === undefined ? 'auto' : checkEnum(o.strategy, 'strategy', GATED_STRATEGIES);
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
  const args = gatedArgs(a, b, options);
  const given = givenHigh(args, options);
  if (given === undefined) return native.gatedGemm(...args);
  const full: FullGatedArgs = [args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10]];
  return native.gatedGemm(...full, undefined, true, undefined, undefined, given[0], given[1]);
}

/** options.highSums checked (M x N int32) with lowOnly, or undefined. */
function givenHigh(args: GatedArgs | FullGatedArgs, options: GatedGemmOptions): [Int32Array, boolean] | undefined {
  if (options.highSums === undefined) return undefined;
  const sums = checkTypedArray<Int32Array>(options.highSums, 'highSums', ['Int32Array'], 'an Int32Array');
  const mn = args[0].rows * args[1].rows;
  if (sums.length !== mn) throw new RangeError(`highSums must hold M x N = ${mn} values, got ${sums.length}`);
  return [sums, options.lowOnly === true];
}

/**
 * gatedGemm with bitGemm's epilogue fused into it and no mask: each output tile goes from its exact
 * results (what gatedGemm's `out` holds) straight to floats or codes (the same float32 steps as
 * bitGemm's epilogue, bit for bit), with no M x N int32 buffer and no second pass. `out` (optional,
 * as bitGemm's): the caller's output array (Float32Array for 'float', Uint8Array for 'codes', M x N,
 * sharing no memory with the operands), written and returned instead of a new one.
 */
export function gatedGemmFused(a: Packed, b: Packed, options: GatedGemmOptions & { epilogue: Epilogue; out?: Float32Array | Uint8Array }): GatedGemmFusedResult {
  const [args, epilogue] = fusedArgs(a, b, options);
  const given = givenHigh(args, options);
  const r = given === undefined ? native.gatedGemm(...args, epilogue, false, options.out, highWeights(args, options))
    : native.gatedGemm(...args, epilogue, false, options.out, undefined, given[0], given[1]);
  return { out: r.out, on: r.on };
}

/** gatedGemmFused on the kernel thread pool. */
export function gatedGemmFusedAsync(a: Packed, b: Packed, options: GatedGemmOptions & { epilogue: Epilogue }): Promise<GatedGemmFusedResult> {
  let checked: ReturnType<typeof fusedArgs>;
  try {
    checked = fusedArgs(a, b, options);
  } catch (err) {
    return Promise.reject(err);
  }
  const [args, epilogue] = checked;
  let w: ReturnType<typeof highWeights>;
  let given: ReturnType<typeof givenHigh>;
  try {
    given = givenHigh(args, options);
    w = given === undefined ? highWeights(args, options) : undefined;
  } catch (err) {
    return Promise.reject(err);
  }
  return native.gatedGemmAsync(...args, epilogue, false, undefined, w, given?.[0], given?.[1]).then((r) => ({ out: r.out, on: r.on }));
}

type FullGatedArgs = [Packed, Packed, number, number, number, EncodingName, Float32Array, GatedStrategyName,
  Packed | undefined, number | undefined, EncodingName | undefined];

function fusedArgs(a: unknown, b: unknown, options: unknown): [FullGatedArgs, Epilogue] {
  const args = gatedArgs(a, b, options);
  const epilogue = checkEpilogue((options as { epilogue?: unknown }).epilogue, args[0].rows, args[1].rows);
  if (epilogue === undefined) throw new TypeError("epilogue must be an object { output: 'float' | 'codes', scale, ... }");
  const full: FullGatedArgs = [args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10]];
  return [full, epilogue];
}

/** The int8 weights for options.high 'int8' (cached per b, bits and encoding), else undefined. */
function highWeights(args: FullGatedArgs, options: GatedGemmOptions): ReturnType<typeof int8Weights> | undefined {
  const high = options.high === undefined ? 'bitserial' : checkEnum(options.high, 'high', GATED_HIGHS);
  if (high === 'bitserial') return undefined;
  if (args[8] !== undefined) throw new RangeError("high 'int8' takes one weight operand: b2 must be absent");
  return int8Weights(args[1], args[4], args[5]);
}

const GATED_HIGHS: readonly GatedHighName[] = ['bitserial', 'int8'];

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

