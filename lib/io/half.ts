// 16-bit floats (IEEE half "F16" and bfloat16 "BF16") to and from float32.
// Inputs are raw little-endian bytes; every conversion is exact except float32 -> 16 bits,
// which rounds to nearest, ties to even (as torch's .half() / .bfloat16() do).

/** Decodes little-endian IEEE half floats into float32 (exact: every half is a float32). */
export function decodeF16(raw: Uint8Array): Float32Array {
  const n = raw.length >>> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const h = raw[2 * i] | (raw[2 * i + 1] << 8);
    const exp = (h >>> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24; // zero or subnormal
    else if (exp === 31) v = frac === 0 ? Infinity : NaN;
    else v = (1024 + frac) * 2 ** (exp - 25);
    out[i] = h & 0x8000 ? -v : v;
  }
  return out;
}

/** Decodes little-endian bfloat16 into float32: the 16 bits are the top half of a float32. */
export function decodeBF16(raw: Uint8Array): Float32Array {
  const n = raw.length >>> 1;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer); // same buffer, host order: bit patterns stay exact
  for (let i = 0; i < n; i++) bits[i] = ((raw[2 * i] | (raw[2 * i + 1] << 8)) << 16) >>> 0;
  return out;
}

/** The IEEE half bit pattern nearest to a float32 bit pattern (ties to even; NaN stays NaN). */
function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // half exponent field
  if (e >= 31) return sign | 0x7c00; // too big even before rounding
  if (e <= 0) {
    // half subnormal (or zero): value / 2^-24 = m >> (14 - e)
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h; // a carry makes the smallest normal, which is right
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry may reach infinity: right
  return sign | h;
}

/** The bfloat16 bit pattern nearest to a float32 bit pattern (ties to even; NaN stays NaN). */
function f32BitsToBF16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Writes float32 values as little-endian 16-bit floats of the given kind into `out`. */
export function encodeHalf(values: Float32Array, kind: 'F16' | 'BF16', out: Uint8Array): void {
  const bits = new Uint32Array(values.length);
  new Float32Array(bits.buffer).set(values);
  const conv = kind === 'F16' ? f32BitsToF16 : f32BitsToBF16;
  for (let i = 0; i < values.length; i++) {
    const h = conv(bits[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
}
