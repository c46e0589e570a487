// safetensors: write the format (reading and the shared dtype table: safetensors.ts).
// Tensors are laid out in the order given, back to back; the header is padded with spaces to a
// multiple of 8 bytes, as the reference writer does. (The reference also sorts tensors by dtype
// size to keep them aligned; we keep the caller's order, and the reader copies unaligned ones.)
import { promises as fsp } from 'fs';
import * as fs from 'fs';
import { constants as bufferConstants } from 'buffer';
import { encodeHalf } from './half';
import {
  DTYPES, DTYPE_NAMES, Dtype, FilePath, HOST_LE, TensorData, checkBytes, checkPath, isObject, show,
} from './safetensors';

/** A tensor to write: `bytes` (raw little-endian, used as is) if given, else `data`. */
export interface TensorInput {
  dtype: Dtype;
  shape: readonly number[];
  data?: TensorData;
  bytes?: Uint8Array;
}

export type TensorsArg = Map<string, TensorInput> | Record<string, TensorInput>;

/** Checks one tensor to write and returns the number of data bytes it takes. */
function checkInput(name: string, t: TensorInput): number {
  const arg = `tensors['${name}']`;
  if (name === '__metadata__') throw new RangeError(`${arg}: the name __metadata__ is reserved`);
  if (!isObject(t)) throw new TypeError(`${arg} must be an object { dtype, shape, data | bytes }`);
  if (typeof t.dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPES, t.dtype)) {
    throw new RangeError(`${arg}.dtype must be one of ${DTYPE_NAMES.join(', ')}, got ${show(t.dtype)}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`${arg}.shape must be an array of non-negative integers, got ${show(t.shape)}`);
  }
  const info = DTYPES[t.dtype];
  const numel = t.shape.reduce((a, d) => a * d, 1);
  const nbytes = numel * info.size;
  if (!Number.isSafeInteger(nbytes)) throw new RangeError(`${arg}.shape [${t.shape}] is too large`);
  if (t.bytes !== undefined) {
    checkBytes(t.bytes, `${arg}.bytes`);
    if (t.bytes.length !== nbytes) {
      throw new RangeError(`${arg}.bytes must hold ${nbytes} bytes for shape [${t.shape}] of ${t.dtype}, ` +
        `got ${t.bytes.length}`);
    }
  } else {
    const tag = Object.prototype.toString.call(t.data);
    if (!ArrayBuffer.isView(t.data) || tag !== info.tag) {
      throw new TypeError(`${arg}.data must be a ${info.tag.slice(8, -1)} for ${t.dtype} ` +
        `(or give raw little-endian bytes), got ${t.data === undefined ? 'nothing' : tag.slice(8, -1)}`);
    }
    if (t.data.length !== numel) {
      throw new RangeError(`${arg}.data must hold ${numel} values for shape [${t.shape}], got ${t.data.length}`);
    }
  }
  return nbytes;
}

/** Copies a tensor's stored bytes into `out`. */
function emit(t: TensorInput, out: Uint8Array): void {
  if (t.bytes !== undefined) return out.set(t.bytes);
  if (t.dtype === 'F16' || t.dtype === 'BF16') return encodeHalf(t.data as Float32Array, t.dtype, out);
  const d = t.data!;
  out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  if (!HOST_LE) {
    const size = DTYPES[t.dtype].size;
    for (let i = 0; i < out.length; i += size) out.subarray(i, i + size).reverse();
  }
}

/**
 * Serialises tensors (in the order given, back to back) and optional string metadata.
 * The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
 */
export function writeSafetensors(tensors: TensorsArg, metadata?: Record<string, string>): Uint8Array {
  let list: [string, TensorInput][];
  if (tensors instanceof Map) list = [...tensors];
  else if (isObject(tensors)) list = Object.entries(tensors);
  else throw new TypeError('tensors must be a Map or an object of { dtype, shape, data | bytes }');
  if (metadata !== undefined) {
    if (!isObject(metadata)) throw new TypeError('metadata must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`metadata['${k}'] must be a string, got ${typeof v}`);
    }
  }
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const sizes = list.map(([name, t]) => checkInput(name, t));
  list.forEach(([name, t], i) => {
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + sizes[i]] };
    offset += sizes[i];
  });
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const total = 8 + n + offset;
  if (total > bufferConstants.MAX_LENGTH) {
    throw new RangeError(`tensors take ${total} bytes, more than one buffer can hold`);
  }
  const out = new Uint8Array(total);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let at = 8 + n;
  list.forEach(([, t], i) => {
    emit(t, out.subarray(at, at + sizes[i]));
    at += sizes[i];
  });
  return out;
}

/** Writes a safetensors file (see writeSafetensors). */
export async function saveSafetensors(
  path: FilePath, tensors: TensorsArg, metadata?: Record<string, string>): Promise<void> {
  const p = checkPath(path);
  await fsp.writeFile(p, writeSafetensors(tensors, metadata));
}

export function saveSafetensorsSync(
  path: FilePath, tensors: TensorsArg, metadata?: Record<string, string>): void {
  fs.writeFileSync(checkPath(path), writeSafetensors(tensors, metadata));
}
