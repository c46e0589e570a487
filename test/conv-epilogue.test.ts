// Conv lowering, fused epilogues, activation quantiser and unpack, on every ISA, against JS.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels, Packed } from '../lib';
import { firstDiff, gemmRef, randomCodes, rng, values } from './helpers/reference';

const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
afterAll(() => kernels.setIsa(defaultIsa));
const fr = Math.fround;

/** round(clamp(y,0,1) * n) with ties to even, float32 steps (the reference activation quantiser). */
function quantRef(y: number, bits: number): number {
  const c = y < 0 ? 0 : y > 1 ? 1 : y;
  const v = fr(c * ((1 << bits) - 1));
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

function im2col(x: Uint8Array, n: number, h: number, w: number, c: number, kh: number, kw: number,
                sh: number, sw: number, ph: number, pw: number, dh: number, dw: number) {
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const k = kh * kw * c;
  const out = new Uint8Array(n * oh * ow * k);
  for (let i = 0; i < n; i++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++)
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) for (let ch = 0; ch < c; ch++) {
      const iy = y * sh + ky * dh - ph, ix = xx * sw + kx * dw - pw;
      if (iy >= 0 && ix >= 0 && iy < h && ix < w) {
        out[((i * oh + y) * ow + xx) * k + (ky * kw + kx) * c + ch] = x[((i * h + iy) * w + ix) * c + ch];
      }
    }
  return { out, rows: n * oh * ow, k };
}

describe.each(ISAS)('isa %s', (isa) => {
  it.each([
    [2, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3],
    [1, 8, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 3],
    [3, 5, 6, 70, 1, 1, 2, 2, 0, 0, 1, 1, 3],
    [1, 11, 10, 5, 3, 2, 1, 2, 2, 0, 2, 1, 3],
    // 8 channels and more: lowered from a packed image (channel strings across word edges)
    [17, 4, 3, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2],
    [2, 5, 5, 33, 3, 3, 2, 1, 1, 1, 1, 1, 1],
    [1, 6, 5, 65, 3, 2, 1, 2, 1, 0, 1, 1, 8],
    [3, 6, 6, 32, 3, 3, 1, 1, 1, 1, 1, 1, 4],
    // 16/32/64 channels with whole panels (8 positions) inside output rows: gathered in bands
    [3, 5, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1],
    [2, 6, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 2],
    [1, 4, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 8],
    [17, 3, 12, 16, 1, 1, 1, 1, 0, 0, 1, 1, 3],
  ])('packConv equals pack(im2col) for n,h,w,c,kh,kw,sh,sw,ph,pw,dh,dw,bits = %i,%i,%i,%i,%i,%i,%i,%i,%i,%i,%i,%i,%i',
    (n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, bits) => {
      kernels.setIsa(isa);
      const rand = rng(n * 100 + c);
      const x = randomCodes(rand, n * h * w * c, bits);
      const got = kernels.packConv(x, { n, h, w, c }, { kernel: [kh, kw], stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw] }, bits);
      const { out, rows, k } = im2col(x, n, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw);
      const want = kernels.pack(out, rows, k, bits);
      expect([got.rows, got.cols, got.bits]).toEqual([rows, k, bits]);
      expect(firstDiff(new Int32Array(got.data.buffer, got.data.byteOffset, got.data.length * 2),
        new Int32Array(want.data.buffer, want.data.byteOffset, want.data.length * 2))).toBe(-1);
      expect(Array.from(got.planePop)).toEqual(Array.from(want.planePop));
      expect(firstDiff(kernels.unpack(got), out)).toBe(-1);
    });

  it('float and code epilogues equal the same float32 steps on the int32 result', () => {
    kernels.setIsa(isa);
    const rand = rng(42);
    const m = 11, n = 19, k = 257;
    for (const [ab, bb] of [[1, 1], [2, 3], [4, 2], [8, 8]]) {
      const ac = randomCodes(rand, m * k, ab), bc = randomCodes(rand, n * k, bb);
      const A = kernels.pack(ac, m, k, ab), B = kernels.pack(bc, n, k, bb);
      const base = { aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
      const acc = kernels.bitGemm(A, B, base);
      expect(firstDiff(acc, gemmRef(values(ac, ab, ab, 'unsigned'), values(bc, bb, bb, 'bipolar'), m, n, k))).toBe(-1);
      const scale = new Float32Array(n).map(() => fr(rand() / 500));
      const shift = new Float32Array(n).map(() => fr(rand() - 0.5));
      const f = kernels.bitGemm(A, B, { ...base, epilogue: { output: 'float', scale, shift, min: -0.25, max: 2 } });
      const q = kernels.bitGemm(A, B, { ...base, epilogue: { output: 'codes', bits: 3, scale, shift } });
      for (let i = 0; i < m * n; i++) {
        const j = i % n;
        const y = fr(fr(acc[i] * scale[j]) + shift[j]);
        expect(f[i]).toBe(Math.min(2, Math.max(-0.25, y)));
        expect(q[i]).toBe(quantRef(y, 3));
      }
    }
  });

  it.each(['bitserial', 'int8'] as const)('a residual in the float epilogue adds after the clamp, bit for bit (%s path)', (path) => {
    kernels.setIsa(isa);
    const rand = rng(43);
    const m = 37, n = 21, k = 150;
    for (const [ab, bb] of [[1, 1], [2, 2], [3, 5], [8, 8]]) {
      const ac = randomCodes(rand, m * k, ab), bc = randomCodes(rand, n * k, bb);
      const A = kernels.pack(ac, m, k, ab), B = kernels.pack(bc, n, k, bb);
      const base = { aEncoding: 'unsigned', bEncoding: 'bipolar', path } as const;
      const acc = gemmRef(values(ac, ab, ab, 'unsigned'), values(bc, bb, bb, 'bipolar'), m, n, k);
      const scale = new Float32Array(n).map(() => fr(rand() / 300));
      const shift = new Float32Array(n).map(() => fr(rand() - 0.5));
      const residual = new Float32Array(m * n).map(() => fr((rand() - 0.5) * 2 ** Math.floor(rand() * 20 - 10)));
      const f = kernels.bitGemm(A, B, { ...base, epilogue: { output: 'float', scale, shift, min: 0, max: 3, residual } });
      let bad = -1;
      for (let i = 0; i < m * n && bad < 0; i++) {
        const j = i % n;
        const y = Math.min(3, Math.max(0, fr(fr(acc[i] * scale[j]) + shift[j])));
        if (!Object.is(f[i], fr(y + residual[i]))) bad = i;
      }
      expect(bad).toBe(-1);
    }
  });

  it('maxPool (codes and floats, with padding) and im2colFloat equal plain loops', () => {
    kernels.setIsa(isa);
    const rand = rng(8);
    const n = 2, h = 7, w = 6, c = 5;
    const codes = randomCodes(rand, n * h * w * c, 4);
    const floats = Float32Array.from(codes, (v) => v / 3 - 2);
    for (const [kh, kw, sh, sw, ph, pw] of [[2, 2, 2, 2, 0, 0], [3, 3, 2, 1, 1, 1], [3, 2, 1, 2, 1, 0]]) {
      const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
      const want = new Float32Array(n * oh * ow * c).fill(-Infinity);
      for (let i = 0; i < n; i++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) for (let ch = 0; ch < c; ch++)
        for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
          const iy = y * sh + ky - ph, ix = x * sw + kx - pw;
          if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
          const o = ((i * oh + y) * ow + x) * c + ch;
          want[o] = Math.max(want[o], codes[((i * h + iy) * w + ix) * c + ch]);
        }
      const pool = { kernel: [kh, kw] as [number, number], stride: [sh, sw] as [number, number], padding: [ph, pw] as [number, number] };
      expect(Array.from(kernels.maxPool(codes, { n, h, w, c }, pool))).toEqual(Array.from(want));
      expect(Array.from(kernels.maxPool(floats, { n, h, w, c }, pool))).toEqual(Array.from(want, (v) => fr(v / 3 - 2)));
    }
    const lowered = kernels.im2colFloat(floats, { n, h, w, c }, { kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 1] });
    // The reference lowers the floats themselves, so a padded tap (0) and a real tap whose value
    // is not 0 cannot be confused; NaN marks taps the loop never wrote (there must be none).
    const oh = Math.floor((h + 2 * 1 - 2 * (3 - 1) - 1) / 2) + 1, ow = Math.floor((w + 0 - 1 * (2 - 1) - 1) / 1) + 1;
    const k = 3 * 2 * c;
    const want = new Float32Array(n * oh * ow * k).fill(NaN);
    for (let i = 0; i < n; i++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++)
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 2; kx++) for (let ch = 0; ch < c; ch++) {
        const iy = y * 2 + ky * 2 - 1, ix = x * 1 + kx * 1 - 0;
        const inside = iy >= 0 && ix >= 0 && iy < h && ix < w;
        want[((i * oh + y) * ow + x) * k + (ky * 2 + kx) * c + ch] = inside ? floats[((i * h + iy) * w + ix) * c + ch] : 0;
      }
    expect(want.some((v) => Number.isNaN(v))).toBe(false);
    // the case must hold padded taps and real taps whose value is 0 (code 6), or it could not tell them apart
    expect(floats.some((v) => v === 0)).toBe(true);
    expect(lowered.length).toBe(want.length);
    expect(firstDiff(lowered, want)).toBe(-1);
  });

  it('int32 inputs (GEMM results) give what their float32 conversion gives, on every ISA', () => {
    const isa0 = kernels.isa();
    let seed = 5;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    // values past 2^24 too, where the conversion to float32 itself rounds
    const xi = Int32Array.from({ length: 7 * 37 }, (_, i) => (i % 5 === 0 ? (next() | 0) : (next() % 4001) - 2000));
    const scale = Float32Array.from({ length: 37 }, () => (next() % 1000) / 97000 - 0.004);
    const shift = Float32Array.from({ length: 37 }, () => (next() % 1000) / 1000 - 0.3);
    try {
      for (const isa of kernels.availableIsas()) {
        kernels.setIsa(isa);
        const xf = new Float32Array(xi);
        for (const [s, h] of [[scale, shift], [scale, null], [null, shift], [null, null]] as const) {
          expect(Array.from(kernels.quantizeActivations(xi, 37, s, h, 3))).toEqual(Array.from(kernels.quantizeActivations(xf, 37, s, h, 3)));
          expect(Array.from(kernels.channelAffine(xi, 37, s, h, -0.5, 2))).toEqual(Array.from(kernels.channelAffine(xf, 37, s, h, -0.5, 2)));
        }
      }
    } finally {
      kernels.setIsa(isa0);
    }
  });

  it('quantizeActivations rounds ties to even and clamps', () => {
    kernels.setIsa(isa);
    const x = new Float32Array([-1, 0, 1 / 6, 0.5, 5 / 6, 1, 7, NaN]);
    expect(Array.from(kernels.quantizeActivations(x, 1, null, null, 2))).toEqual([0, 0, 0, 2, 2, 3, 3, 0]);
    expect(Array.from(kernels.quantizeActivations(new Float32Array([0.5]), 1, null, null, 1))).toEqual([0]);
    const scale = new Float32Array([2, 0.5]), shift = new Float32Array([0, 0.25]);
    expect(Array.from(kernels.quantizeActivations(new Float32Array([0.25, 0.25, 0.1, 0.1]), 2, scale, shift, 8)))
      .toEqual([quantRef(0.5, 8), quantRef(fr(0.125 + 0.25), 8), quantRef(fr(0.1 * 2), 8), quantRef(fr(fr(fr(0.1) * 0.5) + 0.25), 8)]);
  });
});

describe('memory shared with workers', () => {
  it('accepts Packed operands and epilogue arrays over a SharedArrayBuffer', () => {
    const rand = rng(3);
    const ac = randomCodes(rand, 5 * 70, 2), bc = randomCodes(rand, 9 * 70, 2);
    const share = <T extends BigUint64Array | Int32Array | Float32Array>(t: T): T => {
      const s = new (t.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(t.byteLength));
      s.set(t as never);
      return s;
    };
    const A = kernels.pack(ac, 5, 70, 2), B = kernels.pack(bc, 9, 70, 2);
    const SA = new Packed(5, 70, 2, share(A.data), share(A.planePop));
    const SB = new Packed(9, 70, 2, share(B.data), share(B.planePop));
    const opts = { aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
    expect(firstDiff(kernels.bitGemm(SA, SB, opts), kernels.bitGemm(A, B, opts))).toBe(-1);
    const scale = share(new Float32Array(9).fill(0.5));
    expect(Array.from(kernels.bitGemm(SA, SB, { ...opts, epilogue: { output: 'float', scale } })))
      .toEqual(Array.from(kernels.bitGemm(A, B, opts)).map((v) => v * 0.5));
  });
});

describe('addFloats', () => {
  it('equals Math.fround(a + b) bit for bit, across thread chunks and on special values', () => {
    const rand = rng(11);
    const n = 70001;
    const a = new Float32Array(n), b = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = (rand() - 0.5) * 2 ** Math.floor(rand() * 60 - 30);
      b[i] = (rand() - 0.5) * 2 ** Math.floor(rand() * 60 - 30);
    }
    const special = [Infinity, -Infinity, NaN, -0, 0, 3.4e38, -3.4e38, 1e-45];
    special.forEach((v, i) => { a[i] = v; b[i] = special[(i + 3) % special.length]; a[i + 8] = v; b[i + 8] = -v; });
    const got = kernels.addFloats(a, b);
    expect(got.length).toBe(n);
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++) if (!Object.is(got[i], fr(a[i] + b[i]))) bad = i;
    expect(bad).toBe(-1);
    expect(kernels.addFloats(new Float32Array(0), new Float32Array(0)).length).toBe(0);
  });
});

describe('argument errors', () => {
  const A = kernels.pack(new Uint8Array(6), 2, 3, 2);
  const opts = { aEncoding: 'unsigned', bEncoding: 'unsigned' } as const;
  it.each([
    ['epilogue output', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'half' } as never }), 'RangeError', /epilogue.output/],
    ['epilogue scale length', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'float', scale: new Float32Array(3) } }), 'RangeError', /epilogue.scale must hold one value per output column \(2\)/],
    ['epilogue scale type', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'float', scale: [1, 2] as never } }), 'TypeError', /epilogue.scale/],
    ['epilogue bits', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'codes', bits: 9, scale: new Float32Array(2) } }), 'RangeError', /epilogue.bits/],
    ['epilogue min > max', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'float', scale: new Float32Array(2), min: 2, max: 1 } }), 'RangeError', /min/],
    ['packConv kernel too big', () => kernels.packConv(new Uint8Array(4), { n: 1, h: 2, w: 2, c: 1 }, { kernel: [3, 3] }, 1), 'RangeError', /larger than the padded input/],
    ['packConv codes length', () => kernels.packConv(new Uint8Array(5), { n: 1, h: 2, w: 2, c: 1 }, { kernel: [1, 1] }, 1), 'RangeError', /codes must hold n\*h\*w\*c = 4/],
    ['packConv stride 0', () => kernels.packConv(new Uint8Array(4), { n: 1, h: 2, w: 2, c: 1 }, { kernel: [1, 1], stride: [0, 1] }, 1), 'RangeError', /conv.stride\[0\]/],
    ['packConv code too big', () => kernels.packConv(new Uint8Array([0, 1, 2, 0]), { n: 1, h: 2, w: 2, c: 1 }, { kernel: [1, 1] }, 1), 'RangeError', /codes\[2\] = 2/],
    ['quantize channels', () => kernels.quantizeActivations(new Float32Array(5), 2, null, null, 2), 'RangeError', /multiple of channels/],
    ['quantize scale length', () => kernels.quantizeActivations(new Float32Array(4), 2, new Float32Array(3), null, 2), 'RangeError', /scale must hold one value per channel/],
    ['quantize x type', () => kernels.quantizeActivations(new Float64Array(4) as never, 2, null, null, 2), 'TypeError', /^x must be a Float32Array or an Int32Array/],
    ['affine x type', () => kernels.channelAffine(new Uint32Array(4) as never, 2, null, null), 'TypeError', /^x must be a Float32Array or an Int32Array/],
    ['quantize int32 channels', () => kernels.quantizeActivations(new Int32Array(5), 2, null, null, 2), 'RangeError', /multiple of channels/],
    ['unpack type', () => kernels.unpack({} as never), 'TypeError', /packed must be a Packed/],
    ['epilogue residual length', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'float', scale: new Float32Array(2), residual: new Float32Array(3) } }), 'RangeError', /epilogue.residual must hold m\*n = 4 values, got 3/],
    ['epilogue residual type', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'float', scale: new Float32Array(2), residual: new Float64Array(4) as never } }), 'TypeError', /^epilogue.residual must be a Float32Array/],
    ['epilogue residual with codes', () => kernels.bitGemm(A, A, { ...opts, epilogue: { output: 'codes', bits: 2, scale: new Float32Array(2), residual: new Float32Array(4) } as never }), 'RangeError', /epilogue.residual needs output 'float'/],
    ['addFloats a type', () => kernels.addFloats([1, 2] as never, new Float32Array(2)), 'TypeError', /^a must be a Float32Array/],
    ['addFloats b type', () => kernels.addFloats(new Float32Array(2), new Float64Array(2) as never), 'TypeError', /^b must be a Float32Array/],
    ['addFloats lengths', () => kernels.addFloats(new Float32Array(3), new Float32Array(2)), 'RangeError', /b must hold as many values as a \(3\), got 2/],
  ])('%s', (_l, fn, name, msg) => {
    let err: Error | undefined;
    try { fn(); } catch (e) { err = e as Error; }
    expect(err).toBeDefined();
    expect(err!.name).toBe(name);
    expect(err!.message).toMatch(msg);
  });
});
