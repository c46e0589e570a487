// Loads the native addon: the build in build/Release if present, else the prebuilt binary
// shipped for this platform. Nothing is compiled or downloaded at load time.
import * as path from 'path';

export type EncodingName = 'unsigned' | 'bipolar' | 'signed';

export interface NativePackedFields {
  data: BigUint64Array;
  planePop: Int32Array;
}

export interface NativePackedLike extends NativePackedFields {
  rows: number;
  cols: number;
  bits: number;
}

export interface NativeEpilogue {
  output: 'int32' | 'float' | 'codes';
  scale?: Float32Array;
  shift?: Float32Array | null;
  min?: number;
  max?: number;
  bits?: number;
}

/** Weights prepared for the int8 path of bitGemm (prepareInt8): blocked bytes + per-column sums. */
export interface NativeInt8Weights {
  data: Int8Array;
  colSum: Int32Array;
  rows: number;
  cols: number;
  bits: number;
  encoding: EncodingName;
}

export type GemmPathName = 'int8' | 'bitserial';

/** A native program (an opaque handle made by buildProgram). */
export interface NativeProgramHandle { readonly __brand: 'anyprec.program' }

/** A program run's output and each op's wall time in milliseconds. */
export interface NativeTimedRun { output: Float32Array; times: Float64Array }

export type GatedStrategyName = 'auto' | 'compact' | 'tiles' | 'hybrid';

export interface NativeGatedResult {
  out: Int32Array;
  mask: Uint8Array;
  on: number;
}

/** The gated GEMM with an epilogue and no mask. */
export interface NativeGatedFusedResult {
  out: Float32Array | Uint8Array;
  mask: null;
  on: number;
}

export interface NativeAddon {
  isa(): string;
  availableIsas(): string[];
  setIsa(name: string): void;
  setThreads(n: number): void;
  threads(): number;
  hardwareThreads(): number;
  pack(codes: Uint8Array, rows: number, cols: number, bits: number): NativePackedFields;
  bitGemm(a: NativePackedLike, b: NativePackedLike, aBits: number, bBits: number,
          aEncoding: EncodingName, bEncoding: EncodingName, epilogue?: NativeEpilogue,
          int8Weights?: NativeInt8Weights | null, out?: Int32Array | Float32Array | Uint8Array): Int32Array | Float32Array | Uint8Array;
  bitGemmAsync(a: NativePackedLike, b: NativePackedLike, aBits: number, bBits: number,
               aEncoding: EncodingName, bEncoding: EncodingName, epilogue?: NativeEpilogue,
               int8Weights?: NativeInt8Weights | null): Promise<Int32Array | Float32Array | Uint8Array>;
  int8Codes(codes: Uint8Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
            strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
            aBits: number, aEncoding: EncodingName, b: NativePackedLike, bBits: number, bEncoding: EncodingName,
            epilogue: NativeEpilogue | undefined, int8Weights: NativeInt8Weights,
            out?: Int32Array | Float32Array | Uint8Array): Int32Array | Float32Array | Uint8Array;
  prepareInt8(b: NativePackedLike, bBits: number, bEncoding: EncodingName): NativeInt8Weights;
  prepareInt8Async(b: NativePackedLike, bBits: number, bEncoding: EncodingName): Promise<NativeInt8Weights>;
  gemmPath(aBits: number, bBits: number, m: number, n: number, k: number): GemmPathName;
  gemmPathRatio(aBits: number, bBits: number, m: number, n: number, k: number): number;
  int8Kernel(m?: number): string;
  availableInt8Kernels(): string[];
  gatedGemm(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
            bEncoding: EncodingName, thresholds: Float32Array, strategy?: GatedStrategyName,
            b2?: NativePackedLike, b2Bits?: number, b2Encoding?: EncodingName): NativeGatedResult;
  gatedGemm(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
            bEncoding: EncodingName, thresholds: Float32Array, strategy: GatedStrategyName,
            b2: NativePackedLike | undefined, b2Bits: number | undefined, b2Encoding: EncodingName | undefined,
            epilogue: NativeEpilogue, mask: false, out?: Float32Array | Uint8Array,
            int8Weights?: NativeInt8Weights, highSums?: Int32Array, lowOnly?: boolean): NativeGatedFusedResult;
  gatedGemm(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
            bEncoding: EncodingName, thresholds: Float32Array, strategy: GatedStrategyName,
            b2: NativePackedLike | undefined, b2Bits: number | undefined, b2Encoding: EncodingName | undefined,
            epilogue: undefined, mask: true, out: undefined, int8Weights: undefined,
            highSums: Int32Array, lowOnly: boolean): NativeGatedResult;
  gatedGemmAsync(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
                 bEncoding: EncodingName, thresholds: Float32Array, strategy?: GatedStrategyName,
                 b2?: NativePackedLike, b2Bits?: number, b2Encoding?: EncodingName): Promise<NativeGatedResult>;
  gatedGemmAsync(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
                 bEncoding: EncodingName, thresholds: Float32Array, strategy: GatedStrategyName,
                 b2: NativePackedLike | undefined, b2Bits: number | undefined, b2Encoding: EncodingName | undefined,
                 epilogue: NativeEpilogue, mask: false, out?: undefined,
                 int8Weights?: NativeInt8Weights, highSums?: Int32Array, lowOnly?: boolean): Promise<NativeGatedFusedResult>;
  packConv(codes: Uint8Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
           strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
           bits: number, outData?: BigUint64Array, outPlanePop?: Int32Array): NativePackedFields & { rows: number; cols: number };
  im2colFloat(x: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
              strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number): Float32Array;
  maxPool<T extends Uint8Array | Float32Array>(x: T, n: number, h: number, w: number, c: number, kh: number, kw: number,
          strideH: number, strideW: number, padH: number, padW: number): T;
  channelAffine(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null, shift: Float32Array | null,
                lo: number, hi: number, out?: Float32Array): Float32Array;
  quantizeActivations(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null, shift: Float32Array | null,
                      bits: number, out?: Uint8Array): Uint8Array;
  codesToFloat(codes: Uint8Array, table: Float32Array, out?: Float32Array): Float32Array;
  addFloats(a: Float32Array, b: Float32Array): Float32Array;
  splitCodes(codes: Uint8Array, lowBits: number, hi: Uint8Array, lo: Uint8Array): void;
  nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number, out?: Float32Array): Float32Array;
  globalAvgPool(x: Float32Array, n: number, h: number, w: number, c: number, out?: Float32Array): Float32Array;
  unpack(p: NativePackedLike): Uint8Array;
  floatGemm(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
            bias?: Float32Array | null): Float32Array;
  floatGemmAsync(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                 bias?: Float32Array | null): Promise<Float32Array>;
  packFloatWeights(w: Float32Array, n: number, k: number): Float32Array;
  floatConv(x: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
            strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
            wPacked: Float32Array, outChannels: number, bias: Float32Array | null, scale: Float32Array | null,
            shift: Float32Array | null, lo: number, hi: number, bits: number, out?: Float32Array | Uint8Array | null,
            residual?: Float32Array | null, next?: Float32Array | Uint8Array | null, nextScale?: Float32Array | null,
            nextShift?: Float32Array | null, nextLo?: number, nextHi?: number, nextBits?: number): Float32Array | Uint8Array;
  floatConvAsync(x: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
                 strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
                 wPacked: Float32Array, outChannels: number, bias: Float32Array | null, scale: Float32Array | null,
                 shift: Float32Array | null, lo: number, hi: number, bits: number): Promise<Float32Array | Uint8Array>;
  popcountCeiling(iterations: number): { checksum: number; bitMacs: number };
  /** The plan runner (core/kernels/runner.ts): a program handle from a description. */
  buildProgram(description: object): NativeProgramHandle;
  programInfo(program: NativeProgramHandle): { arenaBytes: number; inputBytes: number; outputBytes: number; ops: number };
  runProgram(program: NativeProgramHandle, input: Float32Array, keep?: boolean, timed?: boolean, out?: Float32Array): Float32Array | NativeTimedRun;
  runProgramAsync(program: NativeProgramHandle, input: Float32Array, keep?: boolean, timed?: boolean): Promise<Float32Array | NativeTimedRun>;
  releaseArenas(program: NativeProgramHandle): void;
  selfTest(): LoadSelfTest;
  isaFromEnvironment: string | null;
}

/**
 * The load-time self-test of the ISA in use: its kernels (packing, bit-serial and int8 GEMM paths,
 * epilogues, conv lowering, gated and float GEMMs) checked against the scalar reference's results
 * (stored as digests, proven by the native tests) on tiny cases, run once per process and ISA when
 * the addon loads or setIsa selects it; a failure throws there.
 */
export interface LoadSelfTest {
  isa: string;
  ok: boolean;
  error: string | null;
  /** the whole test's wall time in microseconds */
  micros: number;
  /** each kernel family's cases, in the order they ran (up to the failing one): microseconds */
  families: Record<string, number>;
}

const root = path.resolve(__dirname, '..', '..');

/** What the loader knows about this process's platform: what a binary has to fit. */
export interface PlatformFacts {
  platform: string;
  arch: string;
  /** 'glibc <version>', 'musl' or 'unknown' */
  libc: string;
  node: string;
  /** Node's module ABI (process.versions.modules) */
  abi: string;
  napi: string;
}

export function platformFacts(): PlatformFacts {
  let libc = 'unknown';
  if (process.platform === 'linux') {
    const report = (process.report?.getReport() ?? {}) as { header?: { glibcVersionRuntime?: string } };
    libc = report.header?.glibcVersionRuntime ? `glibc ${report.header.glibcVersionRuntime}` : 'musl';
  }
  return { platform: process.platform, arch: process.arch, libc, node: process.version,
    abi: process.versions.modules, napi: process.versions.napi ?? 'none' };
}

/** The binaries the loader tries, in order, and whether each exists. */
export function binaryCandidates(dir = root): Array<{ path: string; exists: boolean }> {
  const fs = require('fs') as typeof import('fs'); // eslint-disable-line @typescript-eslint/no-require-imports
  const out = [{ path: path.join(dir, 'build', 'Release', 'anyprec.node'), exists: false }];
  const pre = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
  let files: string[] = [];
  try { files = fs.readdirSync(pre).filter((f) => f.endsWith('.node')); } catch { /* no prebuilds for this platform */ }
  if (files.length === 0) out.push({ path: path.join(pre, '*.node'), exists: false });
  for (const f of files) out.push({ path: path.join(pre, f), exists: true });
  out[0].exists = fs.existsSync(out[0].path);
  return out;
}

const BUILD_FROM_SOURCE = 'build it from source (a C++17 compiler, make and Python 3): ' +
  '`npm explore anyprec -- npm run build:native` in a project that installed anyprec, `npm run build:native` in a checkout';

/**
 * The error a failed addon load turns into: the platform facts, the files looked for, the cause,
 * and the fix for that cause (no binary for this platform, glibc older than the binary needs, a
 * binary for another architecture, a build for another Node).
 */
export function loadFailureMessage(cause: Error, facts: PlatformFacts = platformFacts(),
                                   candidates = binaryCandidates()): string {
  const msg = cause.message;
  let fix: string;
  const glibc = /GLIBC_(\d+\.\d+)/.exec(msg);
  const cxx = /(GLIBCXX|CXXABI)_([\d.]+)/.exec(msg);
  if (cxx) {
    fix = `the binary needs a C++ runtime (libstdc++) with ${cxx[1]}_${cxx[2]} (the prebuilds need GCC 11's or newer) and this system's is older: ` +
      `install a newer libstdc++6, or ${BUILD_FROM_SOURCE} (a build made here uses this system's own libstdc++)`;
  } else if (glibc) {
    fix = `the binary needs glibc >= ${glibc[1]} and this system has ${facts.libc}: upgrade the system, or ${BUILD_FROM_SOURCE} ` +
      '(a build made here needs only the glibc it was built against)';
  } else if (/wrong ELF class|invalid ELF header|ELF file|exec format error|cannot open shared object/i.test(msg)) {
    fix = `the binary found was built for another architecture or system than ${facts.platform}-${facts.arch}: ` +
      `delete it and ${BUILD_FROM_SOURCE}`;
  } else if (/NODE_MODULE_VERSION|napi|was compiled against a different Node/i.test(msg)) {
    fix = `the binary was built for another Node (this is ${facts.node}, ABI ${facts.abi}, N-API ${facts.napi}): ${BUILD_FROM_SOURCE}`;
  } else if (!candidates.some((c) => c.exists)) {
    fix = `no binary ships for ${facts.platform}-${facts.arch} (prebuilt: linux-x64 and linux-arm64 with glibc): ${BUILD_FROM_SOURCE}`;
  } else {
    fix = `the binary could not be loaded: reinstall anyprec, or ${BUILD_FROM_SOURCE}`;
  }
  return `anyprec: the native addon could not be loaded on ${facts.platform}-${facts.arch} (${facts.libc}, Node ${facts.node}, ` +
    `ABI ${facts.abi}, N-API ${facts.napi}).\n` +
    `Looked for:\n${candidates.map((c) => `  ${c.path}${c.exists ? '' : ' (not there)'}`).join('\n')}\n` +
    `Fix: ${fix}.\nCause: ${msg.trim()}`;
}

/** The file the addon was loaded from. */
export let addonPath = '';

function load(): NativeAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
  try {
    addonPath = gypBuild.resolve(root);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(addonPath) as NativeAddon;
  } catch (err) {
    // the binary loaded but its kernels failed the self-test: that message says what to do
    if (/load-time self-test/.test((err as Error).message ?? '')) throw err;
    const e = new Error(loadFailureMessage(err as Error));
    (e as Error & { cause?: unknown }).cause = err;
    throw e;
  }
}

export const native: NativeAddon = load();

if (native.isaFromEnvironment !== null) {
  process.emitWarning(
    `ANYPREC_ISA=${native.isaFromEnvironment} is not available on this CPU; using ` +
      `${native.isa()} (available: ${native.availableIsas().join(', ')})`,
    'AnyprecWarning',
  );
}
