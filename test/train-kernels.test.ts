// The float training kernels (native/kernels/ftrain) against plain JS references on odd shapes.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels } from '../lib';
import * as nk from '../lib/train/native';
import { Rng } from '../lib/train/rng';

const fr = Math.fround;
afterAll(() => kernels.setThreads(1));

function rand(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

// C = op(A) op(B) summed in increasing k, every product and every add rounded to float32: the
// kernel's documented order, so the comparison is bit for bit.
function gemmRef(tA: boolean, tB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c0?: Float32Array) {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = c0 ? c0[i * n + j] : 0;
      for (let t = 0; t < k; t++) {
        const av = tA ? a[t * m + i] : a[i * k + t];
        const bv = tB ? b[j * k + t] : b[t * n + j];
        s = fr(s + fr(av * bv));
      }
      c[i * n + j] = s;
    }
  return c;
}

describe('trainGemm', () => {
  const rng = new Rng(7);
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [3, 5, 7], [4, 4, 4], [5, 17, 3], [13, 300, 129], [66, 9, 260], [7, 513, 2]];
  for (const [m, n, k] of shapes) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        it(`m=${m} n=${n} k=${k} transA=${tA} transB=${tB}: bit-exact, accumulate too, any thread count`, () => {
          const a = rand(rng, m * k), b = rand(rng, k * n), c0 = rand(rng, m * n);
          kernels.setThreads(1);
          const c1 = nk.gemm(tA, tB, m, n, k, a, b, new Float32Array(m * n));
          expect(Array.from(c1)).toEqual(Array.from(gemmRef(tA, tB, m, n, k, a, b)));
          kernels.setThreads(2);
          const c2 = nk.gemm(tA, tB, m, n, k, a, b, c0.slice(), true);
          expect(Array.from(c2)).toEqual(Array.from(gemmRef(tA, tB, m, n, k, a, b, c0)));
          const c3 = nk.gemm(tA, tB, m, n, k, a, b, new Float32Array(m * n).fill(5));
          expect(Array.from(c3)).toEqual(Array.from(c1));
        });
      }
    }
  }
  it('rejects bad arguments with TypeError / RangeError naming them', () => {
    const a = new Float32Array(6), b = new Float32Array(6), c = new Float32Array(4);
    expect(() => nk.gemm(false, false, 2, 2, 3, a, b, new Float32Array(3))).toThrow(/c must hold 4 values/);
    expect(() => nk.gemm(false, false, 2, 2, 3, a, new Float64Array(6) as never, c)).toThrow(/b must be a Float32Array/);
    expect(() => nk.gemm(false, false, 0, 2, 3, a, b, c)).toThrow(/m must be an integer in 1\.\./);
    expect(() => nk.gemm(false, false, 2.5, 2, 3, a, b, c)).toThrow(/m must be an integer/);
    expect(() => nk.gemm(false, false, 2 ** 31 - 1, 2 ** 31 - 1, 3, a, b, c)).toThrow(/too large|must hold/);
    try { nk.gemm(false, false, 2, 2, 3, a, b, new Float32Array(3)); } catch (e) { expect((e as Error).name).toBe('RangeError'); }
    try { nk.gemm(false, false, 2, 2, 3, a, 'x' as never, c); } catch (e) { expect((e as Error).name).toBe('TypeError'); }
  });
});

interface Geo { n: number; h: number; w: number; c: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number }
const outHW = (g: Geo) => [Math.floor((g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh) + 1, Math.floor((g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw) + 1];

// Scatter-add in the kernel's order (per image: output rows, then kernel taps, then channels).
function col2imRef(cols: Float32Array, g: Geo, x0?: Float32Array): Float32Array {
  const [oh, ow] = outHW(g), k = g.kh * g.kw * g.c;
  const x = x0 ? x0.slice() : new Float32Array(g.n * g.h * g.w * g.c);
  for (let b = 0; b < g.n; b++)
    for (let y = 0; y < oh; y++)
      for (let xo = 0; xo < ow; xo++)
        for (let ky = 0; ky < g.kh; ky++)
          for (let kx = 0; kx < g.kw; kx++) {
            const iy = y * g.sh + ky * g.dh - g.ph, ix = xo * g.sw + kx * g.dw - g.pw;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            for (let ch = 0; ch < g.c; ch++) {
              const di = ((b * g.h + iy) * g.w + ix) * g.c + ch;
              x[di] = fr(x[di] + cols[((b * oh + y) * ow + xo) * k + (ky * g.kw + kx) * g.c + ch]);
            }
          }
  return x;
}

describe('col2im', () => {
  const rng = new Rng(11);
  const geos: Geo[] = [
    { n: 2, h: 5, w: 7, c: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1 },
    { n: 1, h: 9, w: 6, c: 5, kh: 3, kw: 2, sh: 2, sw: 3, ph: 1, pw: 0, dh: 1, dw: 1 },
    { n: 3, h: 8, w: 8, c: 1, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1 },
    { n: 2, h: 7, w: 9, c: 4, kh: 3, kw: 3, sh: 1, sw: 2, ph: 2, pw: 1, dh: 2, dw: 1 },
    { n: 1, h: 4, w: 4, c: 2, kh: 5, kw: 5, sh: 1, sw: 1, ph: 2, pw: 2, dh: 1, dw: 1 },
  ];
  for (const g of geos) {
    it(`${JSON.stringify(g)}: bit-exact, and the adjoint of im2colFloat`, () => {
      const [oh, ow] = outHW(g), k = g.kh * g.kw * g.c, rows = g.n * oh * ow;
      const cols = rand(rng, rows * k), x0 = rand(rng, g.n * g.h * g.w * g.c);
      kernels.setThreads(2);
      expect(Array.from(nk.col2im(cols, g, new Float32Array(x0.length)))).toEqual(Array.from(col2imRef(cols, g)));
      expect(Array.from(nk.col2im(cols, g, x0.slice(), true))).toEqual(Array.from(col2imRef(cols, g, x0)));
      // <im2col(x), cols> == <x, col2im(cols)> (float64 sums; both sides are sums of the same products)
      const lowered = kernels.im2colFloat(x0, { n: g.n, h: g.h, w: g.w, c: g.c },
        { kernel: [g.kh, g.kw], stride: [g.sh, g.sw], padding: [g.ph, g.pw], dilation: [g.dh, g.dw] });
      const back = nk.col2im(cols, g, new Float32Array(x0.length));
      let lhs = 0, rhs = 0, mag = 0;
      for (let i = 0; i < lowered.length; i++) { lhs += lowered[i] * cols[i]; mag += Math.abs(lowered[i] * cols[i]); }
      for (let i = 0; i < x0.length; i++) rhs += x0[i] * back[i];
      expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(mag * 2 ** -20);
    });
  }
  it('rejects a wrong x length and a kernel larger than the input', () => {
    const g = geos[0];
    expect(() => nk.col2im(new Float32Array(10), g, new Float32Array(1))).toThrow(/cols must hold/);
    expect(() => nk.col2im(new Float32Array(1), { ...g, kh: 9, ph: 0 }, new Float32Array(1))).toThrow(/conv shape/);
  });
});

describe('batch-norm reductions', () => {
  const rng = new Rng(3);
  for (const [rows, c] of [[1, 1], [7, 3], [1500, 5], [2100, 17]]) {
    it(`rows=${rows} c=${c}: moments and backward match float64 references`, () => {
      const x = rand(rng, rows * c).map((v, i) => v * 3 + (i % c));
      const g = rand(rng, rows * c);
      kernels.setThreads(2);
      const { mean, variance } = nk.channelMoments(x, rows, c);
      const gamma = rand(rng, c), invstd = new Float32Array(c);
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += x[r * c + ch];
        const mu = s / rows;
        let q = 0;
        for (let r = 0; r < rows; r++) q += (x[r * c + ch] - mu) ** 2;
        // float32 results of float64 sums: within one float32 ulp of the rounded reference
        expect(Math.abs(mean[ch] - mu)).toBeLessThanOrEqual(Math.abs(mu) * 2 ** -23 + 1e-12);
        expect(Math.abs(variance[ch] - q / rows)).toBeLessThanOrEqual((q / rows) * 2 ** -23 + 1e-12);
        invstd[ch] = 1 / Math.sqrt(variance[ch] + 1e-5);
      }
      const r = nk.batchNormBackward(g, x, rows, c, mean, invstd, gamma);
      let worst = 0;
      for (let ch = 0; ch < c; ch++) {
        let sg = 0, sgx = 0;
        for (let i = 0; i < rows; i++) { sg += g[i * c + ch]; sgx += g[i * c + ch] * (x[i * c + ch] - mean[ch]) * invstd[ch]; }
        expect(Math.abs(r.dbeta[ch] - sg)).toBeLessThanOrEqual(Math.abs(sg) * 2 ** -23 + 1e-12);
        expect(Math.abs(r.dgamma[ch] - sgx)).toBeLessThanOrEqual(Math.abs(sgx) * 2 ** -23 + 1e-12);
        for (let i = 0; i < rows; i++) {
          const xh = (x[i * c + ch] - mean[ch]) * invstd[ch];
          const want = gamma[ch] * invstd[ch] * (g[i * c + ch] - sg / rows - (xh * sgx) / rows);
          // dx = ka*g + kb*x + kc in float32: a few roundings of terms bounded by |gamma*invstd|*(|g| + |sg|/rows + |xh*sgx|/rows) and |x*kb|
          const bound = Math.abs(gamma[ch] * invstd[ch]) * (Math.abs(g[i * c + ch]) + Math.abs(sg) / rows + Math.abs(x[i * c + ch] - mean[ch]) * invstd[ch] * Math.abs(sgx) / rows + Math.abs(mean[ch] * invstd[ch] * sgx) / rows * 2);
          worst = Math.max(worst, Math.abs(r.dx![i * c + ch] - want) / (bound * 2 ** -20 + 1e-12));
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
    });
  }
  it('rejects mismatched lengths', () => {
    const one = new Float32Array(1);
    expect(() => nk.channelMoments(new Float32Array(5), 2, 3)).toThrow(/x must hold 6 values/);
    expect(() => nk.batchNormBackward(one, one, 1, 1, one, one, new Float32Array(2))).toThrow(/gamma must hold 1 values/);
  });
});

describe('write modes (a fresh gradient written without zero-filling it first)', () => {
  const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
  it('convBackward gxAssign: the bits of a zero-filled gx, whatever gx held', () => {
    const rng = new Rng(5);
    // a 3x3 "same" conv (direct kernel), a stride-2 3x3 (col2im) and a 1x1 (the copy)
    const shapes: nk.Conv2dGeometry[] = [
      { n: 2, h: 6, w: 5, c: 16, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1 },
      { n: 2, h: 7, w: 6, c: 8, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1 },
      { n: 1, h: 4, w: 5, c: 16, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 },
    ];
    for (const g of shapes) {
      const o = 16, oh = Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, ow = Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1;
      const x = rand(rng, g.n * g.h * g.w * g.c), w = rand(rng, o * g.kh * g.kw * g.c), gy = rand(rng, g.n * oh * ow * o);
      const gxZero = new Float32Array(x.length), gxNaN = new Float32Array(x.length).fill(NaN);
      nk.convBackward(x, g, w, o, gy, new Float32Array(w.length), gxZero);
      nk.convBackward(x, g, w, o, gy, new Float32Array(w.length), gxNaN, true);
      expect(same(gxNaN, gxZero)).toBe(true);
      expect(gxZero.some((v) => v !== 0)).toBe(true);
    }
  });
  it('maskedAccumulate assign: the bits of a zero-filled gx', () => {
    const rng = new Rng(6);
    const x = rand(rng, 3000), g = rand(rng, 3000);
    for (let i = 0; i < g.length; i += 7) g[i] = -0;
    const zero = new Float32Array(3000), nan = new Float32Array(3000).fill(NaN);
    nk.maskedAccumulate(x, g, zero, 0, 1, false);
    nk.maskedAccumulate(x, g, nan, 0, 1, false, true);
    expect(same(nan, zero)).toBe(true);
  });
});
