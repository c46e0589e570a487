// The plan runner: a program (a list of kernel calls over numbered buffers in one arena, no model
// semantics) built once from a plain description, then run in one native call — sync, or on the
// kernel thread pool. The native side checks every field and every buffer size against what its
// op reads or writes (TypeError / RangeError naming the field); this face checks the handles and
// the input, and types the description.
import { checkFloat32 } from '../check';
import { native, EncodingName, NativeInt8Weights, NativeProgramHandle, NativeTimedRun } from '../native';

export type { NativeTimedRun as TimedRun } from '../native';
import { int8Weights } from './int8-cache';
import type { Packed } from './packed';

/** A buffer of the program: its index in ProgramDescription.buffers. */
export type BufferIndex = number;

/** [n, h, w, c, kh, kw, strideH, strideW, padH, padW, dilH, dilW] */
export type ConvShapeArray = [number, number, number, number, number, number, number, number, number, number, number, number];
/** [n, h, w, c, kh, kw, strideH, strideW, padH, padW] */
export type PoolShapeArray = [number, number, number, number, number, number, number, number, number, number];

/** A GEMM's epilogue (bitGemm's), its residual and dual codes output named as buffers. */
export type ProgramEpilogue =
  | { output: 'float'; scale: Float32Array; shift?: Float32Array | null; min?: number; max?: number; residual?: BufferIndex;
      codes?: { bits: number; scale: Float32Array; shift: Float32Array; out: BufferIndex } }
  | { output: 'codes'; bits: number; scale: Float32Array; shift?: Float32Array | null };

/** One kernel call. x / a / b: buffers read; out / data / pops: buffers written (one writer each). */
export type ProgramOp =
  | { op: 'nchwToNhwc'; x: BufferIndex; out: BufferIndex; n: number; c: number; h: number; w: number;
      /** Each value clamped to [min, max] on the way (an affine's clamp without scale and shift; default none). */
      min?: number; max?: number }
  | { op: 'transpose'; x: BufferIndex; out: BufferIndex; n: number; rows: number; cols: number; elemBytes: 1 | 4 }
  | { op: 'floatConv'; x: BufferIndex; out: BufferIndex; shape: ConvShapeArray; weights: Float32Array; outChannels: number;
      bias?: Float32Array | null; scale?: Float32Array | null; shift?: Float32Array | null; min?: number; max?: number; bits: number;
      /** Float output only: floats added to the output (floatConv's residual). */
      residual?: BufferIndex;
      /** Float output only: a second output of the sum, floats or codes (FloatConvNext, its `out` a buffer). */
      next?: { out: BufferIndex; scale?: Float32Array | null; shift?: Float32Array | null; min?: number; max?: number; bits?: number } }
  | { op: 'quantize'; x: BufferIndex; out: BufferIndex; count: number; channels: number; scale?: Float32Array | null;
      shift?: Float32Array | null; bits: number }
  | { op: 'affine'; x: BufferIndex; out: BufferIndex; count: number; channels: number; scale?: Float32Array | null;
      shift?: Float32Array | null; min?: number; max?: number }
  | { op: 'codesToFloat'; x: BufferIndex; out: BufferIndex; count: number; table: Float32Array }
  | { op: 'add'; a: BufferIndex; b: BufferIndex; out: BufferIndex; count: number }
  | { op: 'globalAvgPool'; x: BufferIndex; out: BufferIndex; n: number; h: number; w: number; c: number }
  | { op: 'maxPool'; x: BufferIndex; out: BufferIndex; shape: PoolShapeArray; elemBytes: 1 | 4 }
  | { op: 'pack'; x: BufferIndex; data: BufferIndex; pops: BufferIndex; rows: number; k: number; planes: number }
  | { op: 'packConv'; x: BufferIndex; data: BufferIndex; pops: BufferIndex; shape: ConvShapeArray; planes: number }
  | { op: 'gemm'; aData: BufferIndex; aPops: BufferIndex; aRows: number; aPlanes: number; aBits: number; aEncoding: EncodingName;
      b: Packed; bBits: number; bEncoding: EncodingName; int8Weights?: NativeInt8Weights; epilogue: ProgramEpilogue; out: BufferIndex }
  | { op: 'int8Codes'; x: BufferIndex; shape: ConvShapeArray; aBits: number; aEncoding: EncodingName; b: Packed; bBits: number;
      bEncoding: EncodingName; int8Weights: NativeInt8Weights; epilogue: ProgramEpilogue; out: BufferIndex };

/**
 * A program: `buffers` holds each buffer's size in bytes; `input` is filled with the call's floats
 * before the first op; `output` (floats) is what a run returns. Each buffer is written by one op
 * and read after it; the native side lays them out in one arena by their lifetimes.
 */
export interface ProgramDescription {
  buffers: number[];
  input: BufferIndex;
  output: BufferIndex;
  ops: ProgramOp[];
}

/** A built program: its input and output sizes (floats) and arena bytes. */
export class Program {
  readonly inputCount: number;
  readonly outputCount: number;
  /** Bytes of one arena (each concurrent run holds one). */
  readonly arenaBytes: number;
  readonly ops: number;
  /** @internal use buildProgram */
  constructor(readonly handle: NativeProgramHandle) {
    const info = native.programInfo(handle);
    this.inputCount = info.inputBytes / 4;
    this.outputCount = info.outputBytes / 4;
    this.arenaBytes = info.arenaBytes;
    this.ops = info.ops;
  }
}

/** Builds a program from its description (checked natively, field by field). */
export function buildProgram(description: ProgramDescription): Program {
  if (description === null || typeof description !== 'object' || Array.isArray(description)) {
    throw new TypeError('description must be an object { buffers, input, output, ops }');
  }
  return new Program(native.buildProgram(description));
}

function checkRun(program: unknown, input: unknown): [Program, Float32Array] {
  if (!(program instanceof Program)) throw new TypeError('program must be a Program (from buildProgram)');
  const x = checkFloat32(input, 'input');
  if (x.length !== program.inputCount) {
    throw new RangeError(`input must hold the program's ${program.inputCount} input values, got ${x.length}`);
  }
  return [program, x];
}

/**
 * Runs a program on the calling thread: the output floats (a fresh array, or `out`: a
 * Float32Array of outputCount values sharing no memory with the input, written in full and
 * returned). keep: the program keeps the run's arena (arenaBytes) for its next run, until
 * releaseArenas; otherwise it is freed.
 */
export function runProgram(program: Program, input: Float32Array, keep = false, out?: Float32Array): Float32Array {
  const [p, x] = checkRun(program, input);
  if (out === undefined) return native.runProgram(p.handle, x, keep === true) as Float32Array;
  const o = checkFloat32(out, 'out');
  if (o.length !== p.outputCount) throw new RangeError(`out must hold the program's ${p.outputCount} output values, got ${o.length}`);
  return native.runProgram(p.handle, x, keep === true, false, o) as Float32Array;
}

/** runProgram, also timing each op: times[i] is op i's wall time in milliseconds. */
export function runProgramTimed(program: Program, input: Float32Array, keep = false): NativeTimedRun {
  const [p, x] = checkRun(program, input);
  return native.runProgram(p.handle, x, keep === true, true) as NativeTimedRun;
}

/** Frees the arena a program keeps between runs (the next run allocates one). */
export function releaseArenas(program: Program): void {
  if (!(program instanceof Program)) throw new TypeError('program must be a Program (from buildProgram)');
  native.releaseArenas(program.handle);
}

/**
 * Runs a program on the kernel thread pool (the event loop keeps turning). The input is copied
 * when the call is made: the caller may reuse or detach it at once. Concurrent calls each run in
 * their own arena; keep as for runProgram (an arena is kept only if none is).
 */
export function runProgramAsync(program: Program, input: Float32Array, keep = false): Promise<Float32Array> {
  return startAsync(program, input, keep, false) as Promise<Float32Array>;
}

/** runProgramAsync, also timing each op (as runProgramTimed). */
export function runProgramTimedAsync(program: Program, input: Float32Array, keep = false): Promise<NativeTimedRun> {
  return startAsync(program, input, keep, true) as Promise<NativeTimedRun>;
}

function startAsync(program: Program, input: Float32Array, keep: boolean, timed: boolean): Promise<Float32Array | NativeTimedRun> {
  try {
    const [p, x] = checkRun(program, input);
    return native.runProgramAsync(p.handle, x, keep === true, timed);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The int8 path's prepared weights for b at bBits / encoding (made once, cached as for bitGemm). */
export function preparedInt8Weights(b: Packed, bBits: number, encoding: EncodingName): NativeInt8Weights {
  return int8Weights(b, bBits, encoding);
}
