// Element-wise, pooling and layout operations on NHWC activations (plain JS loops; the heavy
// work — GEMMs, conv lowering, activation quantisation, decoding codes, the input's layout and the
// global average pool of a plan — runs in the native kernels; nchwToNhwc and globalAvgPool stay
// here as the references those kernels are tested against).

import * as kernels from '../core/kernels';

const fr = Math.fround;

/** Activations between layers: float values, or unsigned/bipolar codes of `bits` bits. */
export type Act =
  | { kind: 'float'; data: Float32Array; shape: number[] }
  | { kind: 'codes'; codes: Uint8Array; bits: number; encoding: 'unsigned' | 'bipolar'; shape: number[];
      /**
       * Per-tensor scale: dynamic (from 'dynquantize') or a clipped quantiser's α (quantize with
       * `clip`): code p means fr(fr(p / (2^b - 1)) * scale).
       */
      scale?: number };

/** Float values of an activation (codes p -> p / (2^b - 1) [* scale], bipolar -> +-1). */
export function toFloat(a: Act, out?: Float32Array): Float32Array {
  if (a.kind === 'float') return a.data;
  // The value of every code, looked up natively (a JS loop took ~8 ns per code).
  const n = (1 << a.bits) - 1;
  const s = a.scale;
  const table = a.encoding === 'bipolar'
    ? new Float32Array(n + 1).map((_, p) => 2 * p - n)
    : new Float32Array(n + 1).map((_, p) => (s === undefined ? fr(p / n) : fr(fr(p / n) * s)));
  return kernels.codesToFloat(a.codes, table, out);
}

export function nchwToNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) {
        const src = ((i * c + ch) * h + y) * w;
        const dst = (i * h + y) * w * c + ch;
        for (let xx = 0; xx < w; xx++) out[dst + xx * c] = x[src + xx];
      }
  return out;
}

export function nhwcToNchw<T extends Float32Array | Uint8Array>(x: T, n: number, h: number, w: number, c: number): T {
  const out = new (x.constructor as new (len: number) => T)(x.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        const src = ((i * h + y) * w + xx) * c;
        for (let ch = 0; ch < c; ch++) out[((i * c + ch) * h + y) * w + xx] = x[src + ch];
      }
  return out;
}

/** y = x * alpha[c] + beta[c] for the last (channel) dimension, float32 steps. */
export function affine(x: Float32Array, channels: number, alpha: Float32Array, beta: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    out[i] = fr(fr(x[i] * alpha[c]) + beta[c]);
  }
  return out;
}

export function clamp(x: Float32Array, lo: number, hi: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
  return out;
}

/** NHWC x[:, 0::sh, 0::sw, :] with `front` zero channels before and `back` after (option-A shortcut). */
export function subsample(x: Float32Array, n: number, h: number, w: number, c: number,
                          stride: [number, number], front: number, back: number): Float32Array {
  const [sh, sw] = stride;
  const oh = Math.ceil(h / sh), ow = Math.ceil(w / sw), oc = front + c + back;
  const out = new Float32Array(n * oh * ow * oc);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++) {
        const src = ((i * h + y * sh) * w + xx * sw) * c;
        out.set(x.subarray(src, src + c), ((i * oh + y) * ow + xx) * oc + front);
      }
  return out;
}

export interface PoolGeom { n: number; h: number; w: number; c: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; oh: number; ow: number }

export function poolGeom(shape: number[], kernel: [number, number], stride: [number, number], padding: [number, number]): PoolGeom {
  const [n, h, w, c] = shape;
  const [kh, kw] = kernel, [sh, sw] = stride, [ph, pw] = padding;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow };
}

/** Average pooling; the divisor is kh*kw (padded taps count as zeros, like PyTorch's default). */
export function avgPool(x: Float32Array, g: PoolGeom): Float32Array {
  const out = new Float32Array(g.n * g.oh * g.ow * g.c);
  const div = g.kh * g.kw;
  for (let i = 0; i < g.n; i++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++)
        for (let ch = 0; ch < g.c; ch++) {
          let s = 0;
          for (let ky = 0; ky < g.kh; ky++) {
            const iy = oy * g.sh + ky - g.ph;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < g.kw; kx++) {
              const ix = ox * g.sw + kx - g.pw;
              if (ix < 0 || ix >= g.w) continue;
              s = fr(s + x[((i * g.h + iy) * g.w + ix) * g.c + ch]);
            }
          }
          out[((i * g.oh + oy) * g.ow + ox) * g.c + ch] = fr(s / div);
        }
  return out;
}

/** Mean over the H then the W positions of each channel (the reference's order): [N, C]. */
export function globalAvgPool(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(n * c);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++) {
      let total = 0;
      for (let xx = 0; xx < w; xx++) {
        let col = 0;
        for (let y = 0; y < h; y++) col = fr(col + x[((i * h + y) * w + xx) * c + ch]);
        total = fr(total + fr(col / h));
      }
      out[i * c + ch] = fr(total / w);
    }
  return out;
}

export function softmax(x: Float32Array, n: number, f: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < f; j++) m = Math.max(m, x[i * f + j]);
    let s = 0;
    for (let j = 0; j < f; j++) s += (out[i * f + j] = Math.exp(x[i * f + j] - m));
    for (let j = 0; j < f; j++) out[i * f + j] = fr(out[i * f + j] / s);
  }
  return out;
}

