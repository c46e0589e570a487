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

export type GatedStrategyName = 'auto' | 'compact' | 'tiles' | 'hybrid';

export interface NativeGatedResult {
  out: Int32Array;
  mask: Uint8Array;
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
          int8Weights?: NativeInt8Weights | null): Int32Array | Float32Array | Uint8Array;
  bitGemmAsync(a: NativePackedLike, b: NativePackedLike, aBits: number, bBits: number,
               aEncoding: EncodingName, bEncoding: EncodingName, epilogue?: NativeEpilogue,
               int8Weights?: NativeInt8Weights | null): Promise<Int32Array | Float32Array | Uint8Array>;
  prepareInt8(b: NativePackedLike, bBits: number, bEncoding: EncodingName): NativeInt8Weights;
  prepareInt8Async(b: NativePackedLike, bBits: number, bEncoding: EncodingName): Promise<NativeInt8Weights>;
  gemmPath(aBits: number, bBits: number, m: number, n: number, k: number): GemmPathName;
  int8Kernel(m?: number): string;
  availableInt8Kernels(): string[];
  gatedGemm(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
            bEncoding: EncodingName, thresholds: Float32Array, strategy?: GatedStrategyName,
            b2?: NativePackedLike, b2Bits?: number, b2Encoding?: EncodingName): NativeGatedResult;
  gatedGemmAsync(a: NativePackedLike, b: NativePackedLike, aBits: number, highBits: number, bBits: number,
                 bEncoding: EncodingName, thresholds: Float32Array, strategy?: GatedStrategyName,
                 b2?: NativePackedLike, b2Bits?: number, b2Encoding?: EncodingName): Promise<NativeGatedResult>;
  packConv(codes: Uint8Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
           strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
           bits: number): NativePackedFields & { rows: number; cols: number };
  im2colFloat(x: Float32Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
              strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number): Float32Array;
  maxPool<T extends Uint8Array | Float32Array>(x: T, n: number, h: number, w: number, c: number, kh: number, kw: number,
          strideH: number, strideW: number, padH: number, padW: number): T;
  channelAffine(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null, shift: Float32Array | null,
                lo: number, hi: number): Float32Array;
  quantizeActivations(x: Float32Array | Int32Array, channels: number, scale: Float32Array | null, shift: Float32Array | null,
                      bits: number): Uint8Array;
  codesToFloat(codes: Uint8Array, table: Float32Array): Float32Array;
  addFloats(a: Float32Array, b: Float32Array): Float32Array;
  unpack(p: NativePackedLike): Uint8Array;
  floatGemm(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
            bias?: Float32Array | null): Float32Array;
  floatGemmAsync(a: Float32Array, m: number, k: number, b: Float32Array, n: number,
                 bias?: Float32Array | null): Promise<Float32Array>;
  popcountCeiling(iterations: number): { checksum: number; bitMacs: number };
  isaFromEnvironment: string | null;
}

const root = path.resolve(__dirname, '..', '..');

function load(): NativeAddon {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as NativeAddon;
  } catch (err) {
    const where = `${process.platform}-${process.arch}`;
    const e = new Error(
      `anyprec: no native binary could be loaded for ${where} (Node ${process.version}).\n` +
        `Prebuilt binaries ship for linux-x64 and linux-arm64 (glibc). On other platforms build from ` +
        `source with a C++17 compiler, make and Python 3: run ` +
        `\`npm explore anyprec -- npm run build:native\` (in a checkout: \`npm run build:native\`).\nCause: ${(err as Error).message}`,
    );
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
