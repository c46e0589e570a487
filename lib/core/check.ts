// Argument validators: every public entry point checks its arguments with these, so each kind of
// check is written once and fails the same way (TypeError for the wrong kind of value, RangeError
// for a value out of range), naming the argument and what was expected.
//
// Typed arrays are recognised by their tag (ArrayBuffer.isView + Object.prototype.toString), never
// by instanceof: arrays made by the native addon, a worker or another vm context belong to another
// realm, where instanceof fails.

/** The toString tag of a typed array ('Float32Array', ...), or '' for anything else. */
export function typedArrayTag(value: unknown): string {
  if (!ArrayBuffer.isView(value)) return '';
  const tag = Object.prototype.toString.call(value);
  return tag.slice(8, -1);
}

export function isFloat32Array(value: unknown): value is Float32Array {
  return typedArrayTag(value) === 'Float32Array';
}

export function isUint8Array(value: unknown): value is Uint8Array {
  return typedArrayTag(value) === 'Uint8Array';
}

/** `value` as a Float32Array, or a TypeError `${name} must be a Float32Array${what}`. */
export function checkFloat32(value: unknown, name: string, what = ''): Float32Array {
  if (!isFloat32Array(value)) throw new TypeError(`${name} must be a Float32Array${what}`);
  return value;
}

/** `value` as a Uint8Array, or a TypeError naming it. */
export function checkUint8(value: unknown, name: string): Uint8Array {
  if (!isUint8Array(value)) throw new TypeError(`${name} must be a Uint8Array`);
  return value;
}

/** A typed array of one of the given kinds (tags such as 'Float32Array'); `expected` is the message's tail. */
export function checkTypedArray<T extends ArrayBufferView>(value: unknown, name: string, kinds: readonly string[], expected: string): T {
  if (!kinds.includes(typedArrayTag(value))) throw new TypeError(`${name} must be ${expected}`);
  return value as T;
}

/** An integer number in lo..hi. */
export function checkInt(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < lo || value > hi) {
    throw new RangeError(`${name} must be an integer in ${lo}..${hi}, got ${value}`);
  }
  return value;
}

/** A positive safe integer (sizes, counts). */
export function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/**
 * A bit-width: an integer in 1..8, or also 32 (float) with allow32. The TypeError says what is
 * allowed when 32 is ('must be a number (1..8 or 32)').
 */
export function checkBits(value: unknown, name: string, allow32 = false): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number${allow32 ? ' (1..8 or 32)' : ''}, got ${typeof value}`);
  }
  if (!(Number.isInteger(value) && value >= 1 && value <= 8) && !(allow32 && value === 32)) {
    throw new RangeError(`${name} must be an integer in 1..8${allow32 ? ' or 32' : ''}, got ${value}`);
  }
  return value;
}

/** A bit-width predicate (no throw): an integer in 1..8. */
export function isBits(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 8;
}

/**
 * One of `allowed` (strings): a TypeError when not a string, a RangeError when not listed.
 * `missing` is what the TypeError says for undefined ('nothing' by default).
 */
export function checkEnum<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string') {
    throw new TypeError(`${name} must be one of ${allowed.join(', ')}, got ${value === undefined ? 'nothing' : typeof value}`);
  }
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RangeError(`${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}

/** A pair of integers >= min ([h, w]); undefined gives `dflt`. */
export function checkPair(v: unknown, name: string, min: number, dflt: [number, number]): [number, number] {
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.length !== 2) throw new TypeError(`${name} must be [h, w]`);
  return [checkInt(v[0], `${name}[0]`, min, 2 ** 31), checkInt(v[1], `${name}[1]`, min, 2 ** 31)];
}

/** A shape: a non-empty array of non-negative safe integers (a copy). */
export function checkShape(shape: unknown, name: string): number[] {
  if (!Array.isArray(shape) || shape.length === 0) {
    throw new TypeError(`${name} must be a non-empty array of dimensions`);
  }
  for (const d of shape) {
    if (typeof d !== 'number') {
      throw new TypeError(`${name} must hold numbers, got ${d === null ? 'null' : typeof d} in [${shape.map(String).join(', ')}]`);
    }
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${name} must hold non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  return shape.slice();
}

/** No NaN in x (±Infinity allowed); `why` is appended to the message. */
export function checkNoNaN(x: ArrayLike<number>, name: string, why = ''): void {
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) throw new RangeError(`${name}[${i}] is NaN${why}`);
  }
}

/** A finite number. */
export function checkFinite(value: unknown, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${String(value)}`);
  return value;
}

/**
 * How a quantised layer's weights are coded for b bits: 'truncate' keeps the 8-bit codes and
 * takes their top b planes; 'requant' quantises the float weights again at b bits.
 */
export type WeightMode = 'truncate' | 'requant';
