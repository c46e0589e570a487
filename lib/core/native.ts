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

export interface NativeAddon {
  isa(): string;
  availableIsas(): string[];
  setIsa(name: string): void;
  setThreads(n: number): void;
  threads(): number;
  hardwareThreads(): number;
  pack(codes: Uint8Array, rows: number, cols: number, bits: number): NativePackedFields;
  bitGemm(a: NativePackedLike, b: NativePackedLike, aBits: number, bBits: number,
          aEncoding: EncodingName, bEncoding: EncodingName): Int32Array;
  bitGemmAsync(a: NativePackedLike, b: NativePackedLike, aBits: number, bBits: number,
               aEncoding: EncodingName, bEncoding: EncodingName): Promise<Int32Array>;
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
