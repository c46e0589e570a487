// The int8 route from activation codes (int8Conv / int8Linear: codes lowered straight into the
// int8 kernel's byte rows, no bit planes): bit-identical to the planes route (packConv + bitGemm
// on either path) and to an independent JS convolution on every ISA, for odd shapes, strides 1-2,
// padding 0-2, 1x1 and 3x3 kernels, batch 1/3/17, activation and weight bits 3..8; the fused
// epilogues; whole networks with the route forced either way; the argument errors.
import { afterAll, describe, expect, it } from '@jest/globals';
import { kernels, Model, Tensor, zoo } from '../lib';
import type { EncodingName } from '../lib';
import { firstDiff, gemmRef, randomCodes, rng, values } from './helpers/reference';
import { thrown } from './helpers/thrown';

const ISAS = kernels.availableIsas();
const defaultIsa = kernels.isa();
afterAll(() => {
  kernels.setIsa(defaultIsa);
  kernels.setGemmPath('auto');
});

interface ConvCase {
  n: number; h: number; w: number; c: number; kernel: [number, number]; stride: [number, number];
  padding: [number, number]; out: number; aBits: number; bBits: number; aEncoding: EncodingName;
}

/** The lowered matrix of a convolution, by definition (zero padding = value 0), as values. */
function lowerRef(x: Int32Array, cc: ConvCase): { rows: number; k: number; a: Int32Array } {
  const [kh, kw] = cc.kernel, [sh, sw] = cc.stride, [ph, pw] = cc.padding;
  const oh = Math.floor((cc.h + 2 * ph - kh) / sh) + 1, ow = Math.floor((cc.w + 2 * pw - kw) / sw) + 1;
  const k = kh * kw * cc.c, rows = cc.n * oh * ow;
  const a = new Int32Array(rows * k);
  let r = 0;
  for (let img = 0; img < cc.n; img++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, r++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const y = oy * sh - ph + ky, xx = ox * sw - pw + kx;
            if (y < 0 || y >= cc.h || xx < 0 || xx >= cc.w) continue;
            for (let ch = 0; ch < cc.c; ch++) a[r * k + (ky * kw + kx) * cc.c + ch] = x[((img * cc.h + y) * cc.w + xx) * cc.c + ch];
          }
        }
      }
    }
  }
  return { rows, k, a };
}

function randomCase(r: () => number, i: number): ConvCase {
  const k = i % 3 === 0 ? 1 : 3;
  const s = 1 + Math.floor(r() * 2), p = Math.floor(r() * 3);
  const bits = 3 + (i % 6);
  return {
    n: [1, 3, 17][i % 3], h: k + Math.floor(r() * 7), w: k + Math.floor(r() * 6), c: [1, 3, 5, 16, 17, 32][Math.floor(r() * 6)],
    kernel: [k, k], stride: [s, s], padding: [p, p], out: [1, 5, 16, 17, 32, 40, 64][Math.floor(r() * 7)],
    aBits: bits, bBits: 3 + Math.floor(r() * 6), aEncoding: i % 4 === 1 ? 'signed' : 'unsigned',
  };
}

const CASES = Array.from({ length: 24 }, (_, i) => randomCase(rng(900 + i), i));

describe.each(ISAS)('isa %s', (isa) => {
  it.each(CASES.map((c, i) => [i, c] as const))('int8Conv == planes route == JS convolution (case %i)', (_, cc) => {
    kernels.setIsa(isa);
    const r = rng(31 + cc.c);
    const shape = { n: cc.n, h: cc.h, w: cc.w, c: cc.c };
    const conv = { kernel: cc.kernel, stride: cc.stride, padding: cc.padding };
    const x = randomCodes(r, cc.n * cc.h * cc.w * cc.c, cc.aBits);
    const K = cc.kernel[0] * cc.kernel[1] * cc.c;
    const bc = randomCodes(r, cc.out * K, 8);
    const B = kernels.pack(bc, cc.out, K, 8);
    const o = { aBits: cc.aBits, bBits: cc.bBits, aEncoding: cc.aEncoding, bEncoding: 'bipolar' } as const;
    const got = kernels.int8Conv(x, shape, conv, B, o);
    // the JS definition
    const { rows, k, a } = lowerRef(values(x, cc.aBits, cc.aBits, cc.aEncoding), cc);
    expect(firstDiff(got, gemmRef(a, values(bc, 8, cc.bBits, 'bipolar'), rows, cc.out, k))).toBe(-1);
    // the planes route on both paths
    const A = kernels.packConv(x, shape, conv, cc.aBits);
    for (const path of ['bitserial', 'int8'] as const) expect(firstDiff(got, kernels.bitGemm(A, B, { ...o, path }))).toBe(-1);
    // fused epilogues: codes out, and float out with a residual add
    const scale = new Float32Array(cc.out).map((_, j) => 1 / (50 + 7 * j)), shift = new Float32Array(cc.out).map((_, j) => (j % 5) / 8);
    const codesEpi = { output: 'codes', bits: 4, scale, shift } as const;
    expect(firstDiff(kernels.int8Conv(x, shape, conv, B, { ...o, epilogue: codesEpi }),
      kernels.bitGemm(A, B, { ...o, epilogue: codesEpi, path: 'bitserial' }))).toBe(-1);
    const residual = new Float32Array(rows * cc.out).map((_, t) => ((t * 37) % 64) / 16 - 2);
    const floatEpi = { output: 'float', scale, shift, min: 0, residual } as const;
    expect(firstDiff(kernels.int8Conv(x, shape, conv, B, { ...o, epilogue: floatEpi }),
      kernels.bitGemm(A, B, { ...o, epilogue: floatEpi, path: 'bitserial' }))).toBe(-1);
  });

  it('int8Linear == planes route == JS, and bipolar codes without padding', () => {
    kernels.setIsa(isa);
    const r = rng(55);
    for (const [m, k, n, bits, enc] of [[1, 64, 10, 8, 'unsigned'], [3, 577, 17, 5, 'signed'], [17, 100, 33, 3, 'bipolar']] as const) {
      const codes = randomCodes(r, m * k, bits), bc = randomCodes(r, n * k, 8);
      const B = kernels.pack(bc, n, k, 8);
      const o = { aBits: bits, bBits: 6, aEncoding: enc, bEncoding: 'bipolar' } as const;
      const got = kernels.int8Linear(codes, m, B, o);
      expect(firstDiff(got, gemmRef(values(codes, bits, bits, enc), values(bc, 8, 6, 'bipolar'), m, n, k))).toBe(-1);
      expect(firstDiff(got, kernels.bitGemm(kernels.pack(codes, m, k, bits), B, { ...o, path: 'bitserial' }))).toBe(-1);
    }
    // a bipolar conv without padding (stride 2, 1x1)
    const x = randomCodes(r, 3 * 5 * 5 * 7, 2), B = kernels.pack(randomCodes(r, 9 * 7, 8), 9, 7, 8);
    const conv = { kernel: [1, 1], stride: [2, 2] } as { kernel: [number, number]; stride: [number, number] };
    const o = { aBits: 2, aEncoding: 'bipolar', bEncoding: 'bipolar' } as const;
    const A = kernels.packConv(x, { n: 3, h: 5, w: 5, c: 7 }, conv, 2);
    expect(firstDiff(kernels.int8Conv(x, { n: 3, h: 5, w: 5, c: 7 }, conv, B, o), kernels.bitGemm(A, B, { ...o, path: 'bitserial' }))).toBe(-1);
  });
});

describe('networks on the int8 route from codes', () => {
  it.each([4, 8])('ResNet-20 at %i bits gives the same outputs with the route forced to int8 or bit-serial (batch 1 and 3)', (bits) => {
    const g = zoo.resnet20();
    const model = Model.build(g, zoo.randomTensors(g, 11));
    for (const batch of [1, 3]) {
      const r = rng(bits * 10 + batch);
      const x = new Tensor(new Float32Array(batch * 3 * 32 * 32).map(() => r()), [batch, 3, 32, 32]);
      kernels.setGemmPath('bitserial');
      const want = model.runSync(x, { bits }).data;
      kernels.setGemmPath('int8');
      const got = model.runSync(x, { bits }).data;
      kernels.setGemmPath('auto');
      expect(firstDiff(got, want)).toBe(-1);
    }
  });
});

describe('int8Conv / int8Linear arguments', () => {
  const r = rng(3);
  const shape = { n: 1, h: 4, w: 4, c: 3 }, conv = { kernel: [3, 3] as [number, number], padding: [1, 1] as [number, number] };
  const x = randomCodes(r, 48, 4), B = kernels.pack(randomCodes(r, 5 * 27, 8), 5, 27, 8);
  const o = { aBits: 4, aEncoding: 'unsigned', bEncoding: 'bipolar' } as const;
  it.each([
    ['codes not a Uint8Array', () => kernels.int8Conv(new Float32Array(48) as never, shape, conv, B, o), 'TypeError', /codes/],
    ['codes of the wrong length', () => kernels.int8Conv(x.subarray(1), shape, conv, B, o), 'RangeError', /codes must hold n\*h\*w\*c = 48/],
    ['a code wider than aBits', () => kernels.int8Conv(x, shape, conv, B, { ...o, aBits: 2 }), 'RangeError', /codes\[\d+\] = \d+ does not fit in 2 bits/],
    ['no aBits', () => kernels.int8Conv(x, shape, conv, B, { aEncoding: 'unsigned', bEncoding: 'bipolar' } as never), 'TypeError', /aBits/],
    ['aBits 9', () => kernels.int8Conv(x, shape, conv, B, { ...o, aBits: 9 }), 'RangeError', /aBits/],
    ['bBits above the stored planes', () => kernels.int8Conv(x, shape, conv, kernels.pack(randomCodes(r, 135, 3), 5, 27, 3), { ...o, bBits: 4 }), 'RangeError', /bBits/],
    ['bipolar codes with padding', () => kernels.int8Conv(x, shape, conv, B, { ...o, aEncoding: 'bipolar' }), 'RangeError', /bipolar.*padded/],
    ['an unknown encoding', () => kernels.int8Conv(x, shape, conv, B, { ...o, aEncoding: 'ternary' as never }), 'RangeError', /aEncoding/],
    ['b with another K', () => kernels.int8Conv(x, shape, conv, kernels.pack(randomCodes(r, 50, 8), 5, 10, 8), o), 'RangeError', /K = kernel\[0\]\*kernel\[1\]\*c = 27/],
    ['b not packed', () => kernels.int8Conv(x, shape, conv, {} as never, o), 'TypeError', /\bb\b/],
    ['a kernel larger than the input', () => kernels.int8Conv(x, shape, { kernel: [7, 7] }, B, o), 'RangeError', /kernel/],
    ['options not an object', () => kernels.int8Conv(x, shape, conv, B, null as never), 'TypeError', /options/],
    ['a bad epilogue', () => kernels.int8Conv(x, shape, conv, B, { ...o, epilogue: { output: 'codes', bits: 4, scale: new Float32Array(2) } }), 'RangeError', /epilogue.scale/],
    ['linear: m not an integer', () => kernels.int8Linear(x, 1.5, B, o), 'RangeError', /\bm\b/],
    ['linear: codes not m x K', () => kernels.int8Linear(x, 2, B, o), 'RangeError', /codes must hold/],
  ])('%s', (_, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });
});
