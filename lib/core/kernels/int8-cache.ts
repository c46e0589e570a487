// The int8 GEMM path's prepared weights: bytes rebuilt from a Packed's planes once per
// (packed tensor, bBits, encoding), cached for as long as the Packed lives.
import { native, EncodingName, NativeInt8Weights } from '../native';
import type { Packed } from './packed';

// Prepared int8 weights, made once per (packed tensor, bBits, encoding) and kept as long as the
// Packed lives. The byte layout does not depend on the ISA, so setIsa() does not invalidate them.
const int8Cache = new WeakMap<Packed, Map<string, NativeInt8Weights>>();
const int8Pending = new WeakMap<Packed, Map<string, Promise<NativeInt8Weights>>>();

export function cachedInt8(b: Packed, bBits: number, enc: EncodingName): NativeInt8Weights | undefined {
  return int8Cache.get(b)?.get(`${bBits}:${enc}`);
}

function storeInt8(b: Packed, bBits: number, enc: EncodingName, w: NativeInt8Weights): NativeInt8Weights {
  let m = int8Cache.get(b);
  if (m === undefined) int8Cache.set(b, (m = new Map()));
  m.set(`${bBits}:${enc}`, w);
  return w;
}

export function int8Weights(b: Packed, bBits: number, enc: EncodingName): NativeInt8Weights {
  return cachedInt8(b, bBits, enc) ?? storeInt8(b, bBits, enc, native.prepareInt8(b, bBits, enc));
}

export function int8WeightsAsync(b: Packed, bBits: number, enc: EncodingName): Promise<NativeInt8Weights> {
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

