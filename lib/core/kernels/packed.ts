// Bit-plane operands: the Packed type every bit-serial kernel reads, its encodings, packing and
// unpacking.
import { checkBits, checkEnum, checkInt, checkUint8 } from '../check';
import { native, EncodingName } from '../native';

export type { EncodingName } from '../native';
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

/** 64-bit words a Packed of rows x cols codes with `bits` planes holds (panels of 8 rows). */
export function packedWords(rows: number, cols: number, bits: number): number {
  checkInt(rows, 'rows', 0, 2 ** 31);
  checkInt(cols, 'cols', 1, 2 ** 31);
  checkBits(bits, 'bits');
  return Math.ceil(rows / 8) * bits * Math.ceil(cols / 64) * 8;
}

/** `p` as a Packed, or a TypeError naming it. */
export function checkPacked(p: unknown, name: string): Packed {
  if (!(p instanceof Packed)) throw new TypeError(`${name} must be a Packed (from kernels.pack())`);
  return p;
}

/** One of ENCODINGS. */
export function checkEncoding(e: unknown, name: string): EncodingName {
  return checkEnum(e, name, ENCODINGS);
}

/**
 * Packs a row-major `rows x cols` matrix of codes (each < 2^bits) into bit planes.
 */
export function pack(codes: Uint8Array, rows: number, cols: number, bits: number): Packed {
  checkUint8(codes, 'codes');
  checkInt(rows, 'rows', 0, 2 ** 31);
  checkInt(cols, 'cols', 1, 2 ** 31);
  checkBits(bits, 'bits');
  if (codes.length !== rows * cols) {
    throw new RangeError(`codes must hold rows*cols = ${rows * cols} codes, got ${codes.length}`);
  }
  const p = native.pack(codes, rows, cols, bits);
  return new Packed(rows, cols, bits, p.data, p.planePop);
}

/** Codes back from a Packed (rows x cols, row-major). */
export function unpack(p: Packed): Uint8Array {
  return native.unpack(checkPacked(p, 'packed'));
}

