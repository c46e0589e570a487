// safetensors (https://github.com/huggingface/safetensors): read and validate; writing is in
// safetensors-write.ts.
//
// Layout: u64 little-endian header length N | N bytes of UTF-8 JSON | data section.
// The JSON maps each tensor name to { dtype, shape, data_offsets: [begin, end] } (offsets relative
// to the data section) plus an optional "__metadata__": { string: string }. Tensors must tile the
// data section exactly: no overlaps, no holes, nothing after the last one.
//
// Every check on the header runs before anything sized from it is allocated (a hostile header
// cannot make it allocate); a file is read in two steps (header, then data) so a bad header never costs reading the data.
import { promises as fsp } from 'fs';
import * as fs from 'fs';
import { constants as bufferConstants } from 'buffer';
import { endianness } from 'os';
import { isUint8Array } from '../core/check';
import { decodeBF16, decodeF16 } from './half';

export type Dtype =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/** The JS array a dtype reads into (F16 and BF16 are decoded to Float32Array; BOOL is 0/1 bytes). */
export type TensorData =
  | Float64Array | Float32Array
  | BigInt64Array | Int32Array | Int16Array | Int8Array
  | BigUint64Array | Uint32Array | Uint16Array | Uint8Array;

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData };

interface DtypeInfo {
  size: number; // bytes per element
  ctor: ArrayCtor; // the array type `data` has (Float32Array for the decoded 16-bit floats)
  tag: string; // Object.prototype.toString of that array, for realm-safe type checks
}

/** @internal dtype table (shared with the writer). */
export const DTYPES: Record<Dtype, DtypeInfo> = {
  F64: { size: 8, ctor: Float64Array, tag: '[object Float64Array]' },
  F32: { size: 4, ctor: Float32Array, tag: '[object Float32Array]' },
  F16: { size: 2, ctor: Float32Array, tag: '[object Float32Array]' },
  BF16: { size: 2, ctor: Float32Array, tag: '[object Float32Array]' },
  I64: { size: 8, ctor: BigInt64Array, tag: '[object BigInt64Array]' },
  I32: { size: 4, ctor: Int32Array, tag: '[object Int32Array]' },
  I16: { size: 2, ctor: Int16Array, tag: '[object Int16Array]' },
  I8: { size: 1, ctor: Int8Array, tag: '[object Int8Array]' },
  U64: { size: 8, ctor: BigUint64Array, tag: '[object BigUint64Array]' },
  U32: { size: 4, ctor: Uint32Array, tag: '[object Uint32Array]' },
  U16: { size: 2, ctor: Uint16Array, tag: '[object Uint16Array]' },
  U8: { size: 1, ctor: Uint8Array, tag: '[object Uint8Array]' },
  BOOL: { size: 1, ctor: Uint8Array, tag: '[object Uint8Array]' },
};
export const DTYPE_NAMES = Object.keys(DTYPES) as readonly Dtype[];

/** The largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** @internal */
export const HOST_LE = endianness() === 'LE';

/** A tensor read from a file. */
export interface SafeTensor {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Values; a view into the file's bytes when aligned (shares memory), else a copy. */
  readonly data: TensorData;
  /** The stored little-endian bytes (a view into the file's bytes). */
  readonly bytes: Uint8Array;
}

export interface SafetensorsFile {
  /** Tensors in data-section order. */
  readonly tensors: Map<string, SafeTensor>;
  /** The `__metadata__` strings ({} when the file has none). */
  readonly metadata: Record<string, string>;
}

/** A malformed safetensors file; `tensor` names the entry at fault when there is one. */
export class SafetensorsError extends Error {
  readonly tensor?: string;
  constructor(message: string, tensor?: string) {
    super(message);
    this.name = 'SafetensorsError';
    this.tensor = tensor;
  }
}

// ---------------------------------------------------------------------------------------------
// Header validation

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

interface Plan {
  entries: Entry[]; // sorted by begin
  metadata: Record<string, string>;
}

/** @internal */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** @internal */
export const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
};

/** Reads the u64 header length; checks it against the file size and the cap. */
function headerLength(prefix: Uint8Array, fileSize: number, src: string): number {
  if (fileSize < 8) {
    throw new SafetensorsError(`${src}: file is ${fileSize} bytes, too short for the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${src}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (Number(n) > fileSize - 8) {
    throw new SafetensorsError(
      `${src}: header length ${n} runs past the end of the file (${fileSize - 8} bytes after the length)`);
  }
  return Number(n);
}

function checkEntry(name: string, v: unknown, dataSize: number, src: string): Entry {
  const bad = (what: string) => new SafetensorsError(`${src}: tensor '${name}': ${what}`, name);
  if (!isObject(v)) throw bad(`entry must be an object, got ${show(v)}`);
  const dtype = v.dtype;
  if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPES, dtype)) {
    throw bad(`unknown dtype ${show(dtype)} (expected one of ${DTYPE_NAMES.join(', ')})`);
  }
  const shape = v.shape;
  if (!Array.isArray(shape)) throw bad(`shape must be an array, got ${show(shape)}`);
  let numel = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw bad(`shape[${i}] must be a non-negative integer, got ${show(d)}`);
    }
  }
  // product without overflow: any zero dimension wins; past the data size it can only mismatch
  if (shape.includes(0)) numel = 0;
  else for (const d of shape as number[]) numel = Math.min(numel * d, Number.MAX_SAFE_INTEGER);
  const offs = v.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 ||
      !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    throw bad(`data_offsets must be two non-negative integers [begin, end], got ${show(offs)}`);
  }
  const [begin, end] = offs as number[];
  if (begin > end) throw bad(`data_offsets [${begin}, ${end}] begin after end`);
  if (end > dataSize) {
    throw bad(`data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes)`);
  }
  const size = DTYPES[dtype as Dtype].size;
  if (numel > dataSize || numel * size !== end - begin) {
    const needs = numel > dataSize ? `more than ${dataSize}` : `${numel * size}`;
    throw bad(`shape [${shape.join(', ')}] of ${dtype} needs ${needs} bytes ` +
      `but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype: dtype as Dtype, shape: shape as number[], begin, end };
}

function checkMetadata(v: unknown, src: string): Record<string, string> {
  if (!isObject(v)) throw new SafetensorsError(`${src}: __metadata__ must be an object, got ${show(v)}`);
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') {
      throw new SafetensorsError(`${src}: __metadata__['${k}'] must be a string, got ${show(s)}`);
    }
  }
  return Object.fromEntries(Object.entries(v)) as Record<string, string>;
}

/** Parses and validates the JSON header against a data section of `dataSize` bytes. */
function parseHeader(header: Uint8Array, dataSize: number, src: string): Plan {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(header);
  } catch {
    throw new SafetensorsError(`${src}: header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`${src}: header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) throw new SafetensorsError(`${src}: header must be a JSON object, got ${show(json)}`);

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  // (JSON.parse keeps the last of duplicate names; the tile check below catches the lost one
  // unless it was empty.)
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') metadata = checkMetadata(v, src);
    else entries.push(checkEntry(name, v, dataSize, src));
  }
  // Tile check: sorted by (begin, end), each tensor must start where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < cursor) {
      throw new SafetensorsError(`${src}: tensor '${e.name}' [${e.begin}, ${e.end}] overlaps tensor ` +
        `'${prev!.name}' [${prev!.begin}, ${prev!.end}]`, e.name);
    }
    if (e.begin > cursor) {
      throw new SafetensorsError(`${src}: tensor '${e.name}' starts at ${e.begin}, leaving a hole of ` +
        `${e.begin - cursor} bytes after ${prev ? `tensor '${prev.name}'` : 'the header'}`, e.name);
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataSize) {
    throw new SafetensorsError(`${src}: ${dataSize - cursor} bytes after the last tensor are not ` +
      `part of any tensor (data section is ${dataSize} bytes, tensors cover ${cursor})`);
  }
  return { entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// Building tensors over validated bytes

/** The values of one tensor: a view when aligned and the host is little-endian, else a copy. */
function values(dtype: Dtype, raw: Uint8Array): TensorData {
  if (dtype === 'F16') return decodeF16(raw);
  if (dtype === 'BF16') return decodeBF16(raw);
  const { size, ctor } = DTYPES[dtype];
  const n = raw.byteLength / size;
  if (HOST_LE && raw.byteOffset % size === 0) return new ctor(raw.buffer, raw.byteOffset, n);
  const copy = raw.slice(); // a fresh buffer at offset 0 is aligned
  if (!HOST_LE) for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return new ctor(copy.buffer, 0, n);
}

function build(plan: Plan, data: Uint8Array): SafetensorsFile {
  const tensors = new Map<string, SafeTensor>();
  for (const e of plan.entries) {
    const bytes = data.subarray(e.begin, e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: values(e.dtype, bytes), bytes });
  }
  return { tensors, metadata: plan.metadata };
}

/** @internal */
export function checkBytes(bytes: unknown, name = 'bytes'): Uint8Array {
  if (!isUint8Array(bytes)) throw new TypeError(`${name} must be a Uint8Array (or Buffer)`);
  return bytes;
}

/**
 * Parses a whole safetensors file held in memory. Tensor `data` and `bytes` may be views into
 * `bytes`: copy them before reusing that memory.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  const b = checkBytes(bytes);
  const src = 'safetensors';
  const n = headerLength(b, b.length, src);
  const plan = parseHeader(b.subarray(8, 8 + n), b.length - 8 - n, src);
  return build(plan, b.subarray(8 + n));
}

// ---------------------------------------------------------------------------------------------
// Files: header first, data only once the header is known to be good

/** A file path: a string, a Buffer / Uint8Array, or a file: URL (typed structurally, so that the
 *  package's types need neither @types/node nor the DOM library; a URL object is required at run time). */
export type FilePath = string | Uint8Array | { readonly href: string };

/** @internal */
export function checkPath(path: unknown): fs.PathLike {
  if (typeof path === 'string' || path instanceof URL || Buffer.isBuffer(path)) return path as fs.PathLike;
  throw new TypeError(`path must be a string, URL or Buffer, got ${path === null ? 'null' : typeof path}`);
}

const READ_CHUNK = 1 << 30; // one read() call moves at most this much

/** Fills `into` from `position`; a file that shrank since fstat is an error, not zeros. */
function readFullSync(fd: number, into: Uint8Array, position: number, src: string): void {
  for (let off = 0; off < into.length;) {
    const got = fs.readSync(fd, into, off, Math.min(READ_CHUNK, into.length - off), position + off);
    if (got === 0) throw new SafetensorsError(`${src}: file ended early (changed while being read?)`);
    off += got;
  }
}

async function readFull(fh: fsp.FileHandle, into: Uint8Array, position: number, src: string): Promise<void> {
  for (let off = 0; off < into.length;) {
    const { bytesRead } = await fh.read(into, off, Math.min(READ_CHUNK, into.length - off), position + off);
    if (bytesRead === 0) throw new SafetensorsError(`${src}: file ended early (changed while being read?)`);
    off += bytesRead;
  }
}

function dataBuffer(size: number, src: string): Uint8Array {
  if (size > bufferConstants.MAX_LENGTH) {
    throw new RangeError(`${src}: data section of ${size} bytes is larger than one buffer can hold`);
  }
  return new Uint8Array(size); // own ArrayBuffer at offset 0: aligned views
}

/** Reads and validates a safetensors file without blocking the event loop. */
export async function loadSafetensors(path: FilePath): Promise<SafetensorsFile> {
  const p = checkPath(path);
  const src = String(path);
  const fh = await fsp.open(p, 'r');
  try {
    const size = (await fh.stat()).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) await readFull(fh, prefix, 0, src);
    const n = headerLength(prefix, size, src);
    const header = new Uint8Array(n);
    await readFull(fh, header, 8, src);
    const plan = parseHeader(header, size - 8 - n, src);
    const data = dataBuffer(size - 8 - n, src);
    await readFull(fh, data, 8 + n, src);
    return build(plan, data);
  } finally {
    await fh.close();
  }
}

/** loadSafetensors for scripts: blocks until the file is read. */
export function loadSafetensorsSync(path: FilePath): SafetensorsFile {
  const p = checkPath(path);
  const src = String(path);
  const fd = fs.openSync(p, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) readFullSync(fd, prefix, 0, src);
    const n = headerLength(prefix, size, src);
    const header = new Uint8Array(n);
    readFullSync(fd, header, 8, src);
    const plan = parseHeader(header, size - 8 - n, src);
    const data = dataBuffer(size - 8 - n, src);
    readFullSync(fd, data, 8 + n, src);
    return build(plan, data);
  } finally {
    fs.closeSync(fd);
  }
}
